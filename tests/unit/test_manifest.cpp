#include "helpers.h"

#include <doctest/doctest.h>

using namespace portolan;
using portolan::test::codes;
using portolan::test::TempDir;

TEST_CASE("net: prefixes parse, print and reject host bits") {
  CHECK(parse_prefix("192.0.2.0/24").prefix->str() == "192.0.2.0/24");
  CHECK(parse_prefix("192.0.2.7").prefix->str() == "192.0.2.7");
  CHECK(parse_prefix("192.0.2.7").prefix->str_with_len() == "192.0.2.7/32");
  CHECK(parse_prefix("2001:DB8::/32").prefix->str() == "2001:db8::/32");
  CHECK(parse_prefix("192.0.2.1/24").error ==
        "'192.0.2.1/24' has host bits set; the network is 192.0.2.0/24");
  CHECK(parse_prefix("192.0.2.0/33").error == "'33' is not a prefix length for IPv4 (0-32)");
  CHECK(parse_prefix("300.1.1.1").error == "'300.1.1.1' is not an IPv4 or IPv6 address");
  CHECK(parse_prefix("10.0.0.0/8").prefix->contains(*parse_ip("10.255.0.1")));
  CHECK(!parse_prefix("10.0.0.0/8").prefix->contains(*parse_ip("11.0.0.1")));
  CHECK(parse_prefix("10.0.0.0/8").prefix->last().str() == "10.255.255.255");
}

TEST_CASE("manifest: a complete manifest reads") {
  TempDir d;
  auto path = d.write("p.toml", R"(
policies = ["a.policy"]
[environments.prod]
today = 2026-01-02
features = ["av"]
[environments.prod.bind]
edge = ["192.0.2.1", "2001:db8::1"]
"edge.access" = "198.51.100.0/24"
client = "any"
[[targets]]
name = "t"
backend = "nftables"
host = "edge"
output = "x.nft"
[targets.options]
table = "fw"
[checks]
expired = "error"
)");
  SourceManager sm;
  Diagnostics diags;
  auto m = read_manifest(path, sm, diags);
  REQUIRE(m);
  CHECK(codes(diags) == "");
  CHECK(m->policies == std::vector<std::string>{"a.policy"});
  const auto& env = m->environments.at("prod");
  CHECK(env.today == Date{2026, 1, 2});
  CHECK(env.features.count("av") == 1);
  CHECK(env.bind.at("edge").prefixes.size() == 2);
  CHECK(env.bind.at("client").any);
  REQUIRE(m->targets.size() == 1);
  CHECK(m->targets[0].env == "prod"); // the only environment is the default
  CHECK(m->targets[0].scope == Scope::Host);
  CHECK(std::get<std::string>(m->targets[0].options.at("table").value) == "fw");
  CHECK(m->checks.at("expired") == "error");
}

TEST_CASE("manifest: errors name the file, line and key") {
  struct Case {
    const char* name;
    const char* text;
    const char* codes;
    const char* message;
  };
  const Case cases[] = {
      {"bad toml", "policies = [\"a\"\n", "manifest@1:17", nullptr},
      {"unknown top key", "policies = []\ntarget = 1\n", "manifest@2:1",
       "unknown key 'target' in the manifest; did you mean 'targets'?"},
      {"host bits", "policies = []\n[environments.e.bind]\na = \"10.0.0.1/8\"\n", "manifest@3:5",
       "in binding of 'a': '10.0.0.1/8' has host bits set; the network is 10.0.0.0/8"},
      {"any mixed", "policies = []\n[environments.e.bind]\na = [\"any\", \"10.0.0.0/8\"]\n",
       "manifest@3:1", "binding of 'a' mixes \"any\" with addresses; \"any\" already covers them"},
      {"both scopes",
       "policies = "
       "[]\n[[targets]]\nname=\"t\"\nbackend=\"nftables\"\noutput=\"o\"\nhost=\"a\"\nbetween=["
       "\"x\",\"y\"]\n",
       "manifest@7:9", "targets[0] has both 'host' and 'between'; a target enforces one"},
      {"same zone twice",
       "policies = "
       "[]\n[[targets]]\nname=\"t\"\nbackend=\"nftables\"\noutput=\"o\"\nbetween=[\"x\",\"x\"]\n",
       "manifest@6:9", "'between' must name two different zones"},
      {"bad severity", "policies = []\n[checks]\nexpired = \"fatal\"\n", "manifest@3:11",
       "severity of 'expired' must be \"error\", \"warning\", \"note\" or \"off\""},
      {"bad today", "policies = []\n[environments.e]\ntoday = \"soon\"\n", "manifest@3:9",
       "'today' must be a date (YYYY-MM-DD)"},
  };
  for (const Case& c : cases) {
    std::string case_name = c.name;
    CAPTURE(case_name);
    TempDir d;
    SourceManager sm;
    Diagnostics diags;
    auto m = read_manifest(d.write("m.toml", c.text), sm, diags);
    diags.normalize();
    CHECK(codes(diags) == c.codes);
    if (c.message) {
      REQUIRE(!diags.all().empty());
      CHECK(diags.all()[0].message == c.message);
    }
  }
}
