// Expectations in the parser and loader, and `portolan fmt`: exact layouts, and the round trip
// over every policy of the repository (same model, comments kept, idempotent).
#include "fmt.h"
#include "helpers.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

using namespace portolan;
using portolan::test::codes;
using portolan::test::parse;

namespace {

std::string ports(const std::vector<PortRange>& v) {
  std::string s;
  for (const auto& r : v)
    s += std::to_string(r.lo) + "-" + std::to_string(r.hi) + ",";
  return s;
}

std::string spec(const ServiceSpec& sp) {
  if (auto* p = std::get_if<PortMatch>(&sp))
    return "port(" + std::to_string(p->proto) + " d" + ports(p->dports) + " s" + ports(p->sports) +
           ")";
  if (auto* i = std::get_if<IcmpMatch>(&sp))
    return "icmp(" + std::to_string(i->proto) + " " + (i->type ? std::to_string(*i->type) : "-") +
           " " + (i->code ? std::to_string(*i->code) : "-") + ")";
  if (auto* p = std::get_if<ProtoMatch>(&sp))
    return "proto(" + std::to_string(p->number) + ")";
  return "any";
}

std::string list(const std::vector<std::string>& v) {
  std::string s = "[";
  for (const auto& x : v)
    s += x + "|";
  return s + "]";
}

/// Every field of the parsed model, source locations left out.
std::string dump(const PolicyFile& f) {
  std::ostringstream o;
  for (const auto& h : f.headers)
    o << "policy " << h.name << " '" << h.title << "' " << list(h.references) << "\n";
  for (const auto& i : f.imports)
    o << "import " << i.path << "\n";
  for (const auto& z : f.zones)
    o << "zone " << z.name << " '" << z.desc << "'\n";
  for (const auto& r : f.roles) {
    o << "role " << r.name << " '" << r.desc << "' " << r.zone << "\n";
    for (const auto& i : r.interfaces)
      o << "  iface " << i.name << " '" << i.desc << "' " << i.zone << "\n";
  }
  for (const auto& s : f.services) {
    o << "service " << s.name << " '" << s.label << "'";
    for (const auto& sp : s.specs)
      o << " " << spec(sp);
    o << "\n";
  }
  for (const auto& ft : f.features)
    o << "feature " << ft.name << " '" << ft.desc << "'\n";
  for (const auto& fl : f.flows) {
    o << "flow " << (fl.action == Action::Deny ? "deny " : "") << fl.group << ":" << fl.src.str()
      << (fl.bidirectional ? "<->" : "->") << fl.dst.str() << " via";
    for (const auto& s : fl.services)
      o << " " << s.name;
    o << " '" << fl.note << "' req=" << fl.required << " when=" << (fl.when ? fl.when->str() : "-")
      << " exp=" << (fl.expires ? fl.expires->str() : "-") << " tags=" << list(fl.tags);
    for (const auto& s : fl.suppressions)
      o << " suppress(" << s.code << " '" << s.reason << "')";
    o << "\n";
  }
  for (const auto& s : f.suppressions)
    o << "suppress " << s.code << " '" << s.reason << "'\n";
  for (const auto& e : f.expectations) {
    o << "expect " << e.summary() << " '" << e.note << "' in" << list(e.envs) << " on"
      << list(e.targets);
    for (const auto& sp : e.specs)
      o << " " << spec(sp);
    o << "\n";
  }
  return o.str();
}

std::vector<std::string> comments(const std::string& text) {
  std::vector<std::string> out;
  for (const LexToken& t : lex_policy(text))
    if (t.comment()) {
      std::string s = t.text;
      if (t.kind == LexToken::Kind::LineComment)
        s.erase(s.find_last_not_of(" \t") + 1);
      out.push_back(s);
    }
  return out;
}

std::optional<std::string> fmt(const std::string& text) {
  SourceManager sm;
  Diagnostics d;
  return format_policy(sm, "t.policy", text, d);
}

} // namespace

TEST_CASE("expect: the statement builds the expected model") {
  auto p = parse(R"P(role client; role edge { interface access; }
service sip_tls = tcp 443;
expect allow client -> edge.access via sip_tls "sign in";
expect deny any <-> edge.access tcp 22, udp 53-54 in lab, "prod-eu" on edge-host-nftables, "x/y";
expect allow 198.51.100.7 -> 2001:db8:1::/48 icmp type 8;
expect deny 192.0.2.0/25 -> edge any;
)P");
  REQUIRE(p.diags.all().empty());
  const auto& e = p.file.expectations;
  REQUIRE(e.size() == 4);
  CHECK(e[0].action == Action::Allow);
  CHECK(e[0].src.kind == ExpectSide::Kind::Endpoint);
  CHECK(e[0].dst.endpoint.str() == "edge.access");
  CHECK(e[0].services.at(0).name == "sip_tls");
  CHECK(e[0].note == "sign in");
  CHECK(e[0].loc.line == 3);
  CHECK(e[0].loc.col == 1);
  CHECK(e[1].action == Action::Deny);
  CHECK(e[1].bidirectional);
  CHECK(e[1].src.kind == ExpectSide::Kind::Any);
  CHECK(e[1].envs == std::vector<std::string>{"lab", "prod-eu"});
  CHECK(e[1].targets == std::vector<std::string>{"edge-host-nftables", "x/y"});
  CHECK(e[1].summary() == "deny any <-> edge.access tcp 22, udp 53-54");
  CHECK(e[2].src.prefix.str() == "198.51.100.7");
  CHECK(e[2].dst.prefix.str() == "2001:db8:1::/48");
  CHECK(e[2].summary() == "allow 198.51.100.7 -> 2001:db8:1::/48 icmp type 8");
  CHECK(e[3].src.prefix.str() == "192.0.2.0/25");
  CHECK(std::holds_alternative<AnyMatch>(e[3].specs.at(0)));
}

TEST_CASE("expect: error table (code@line:col)") {
  struct Case {
    const char* name;
    const char* text;
    const char* expected;
  };
  const Case cases[] = {
      {"no services", "expect allow a -> b;", "syntax@1:20"},
      {"bad verdict", "expect maybe a -> b tcp 1;", "syntax@1:8 syntax@1:14"},
      {"host bits", "expect allow 10.0.0.1/8 -> b tcp 1;", "invalid-address@1:14"},
      {"octet too big", "expect allow 10.0.0.256 -> b tcp 1;", "invalid-address@1:14"},
      {"bad ipv6", "expect allow 1::2::3 -> b tcp 1;", "invalid-address@1:14"},
      {"port out of range inline", "expect allow a -> b tcp 0;", "port-range@1:25"},
      {"spaced name", "expect allow a -> b tcp 1 on x - y;", "syntax@1:32"},
      {"names as before", "role expect; role on; flow expect -> on via s;", ""},
      {"group colon stays", "flow ab:cd -> x via s;", ""},
  };
  for (const Case& c : cases) {
    std::string case_name = c.name;
    CAPTURE(case_name);
    CHECK(codes(parse(c.text).diags) == c.expected);
  }
}

TEST_CASE("expect: the loader resolves and merges expectations") {
  test::TempDir dir;
  auto f = dir.write("p.policy", "role a; role b { interface i; }\nservice s = tcp 1;\n"
                                 "expect allow a -> b.i via s;\nexpect deny a -> b.j via t;\n");
  SourceManager sm;
  Diagnostics diags;
  auto r = load_policy({f}, sm, diags);
  diags.normalize();
  CHECK(codes(diags) == "unknown-interface@4:20 unknown-service@4:26");
  auto g =
      dir.write("q.policy", "role a; role b;\nservice s = tcp 1;\nexpect allow a -> b via s;\n");
  Diagnostics d2;
  auto r2 = load_policy({g}, sm, d2);
  REQUIRE(r2.ok);
  REQUIRE(r2.policy.expectations.size() == 1);
  CHECK(r2.policy.expectations[0].services[0].service_id == 0);
  CHECK(r2.policy.endpoint_id(r2.policy.expectations[0].dst.endpoint) >= 0);
}

TEST_CASE("fmt: the canonical layout") {
  const char* in = R"P(


// head comment
zone   a ;   zone bb "B zone";
zone c "C";

role x   "X" in a;   // trailing
role yy "Y" in bb;
role e "E" {
interface  i "I";


   # inside
interface jj "J" in c;
}
service s = tcp 1 , 2-3 sport 5;
flow deny g : x -> e . i via s "a note that is long enough to push this flow well over the limit" when f {
   expires 2013-03-15 ; /* why */
  suppress required-missing "r";

}
flow x -> /* inline */ e via s; flow x
// between
-> e via s;
expect allow x -> e tcp 1 in lab on "t-1";
)P";
  const char* want = R"P(// head comment
zone a;
zone bb "B zone";
zone c  "C";

role x  "X" in a; // trailing
role yy "Y" in bb;
role e "E" {
  interface i "I";

  # inside
  interface jj "J" in c;
}
service s = tcp 1, 2-3 sport 5;
flow deny g: x -> e.i via s
  "a note that is long enough to push this flow well over the limit"
  when f {
  expires 2013-03-15; /* why */
  suppress required-missing "r";
}
flow x -> /* inline */ e via s;
flow x
  // between
  -> e via s;
expect allow x -> e tcp 1 in lab on "t-1";
)P";
  auto out = fmt(in);
  REQUIRE(out);
  CHECK(*out == want);
  CHECK(fmt(*out) == out);
  CHECK(fmt("") == std::string());
  CHECK(fmt("zone a;") == std::string("zone a;\n"));
}

TEST_CASE("fmt: text that does not parse is refused") {
  SourceManager sm;
  Diagnostics d;
  CHECK(!format_policy(sm, "t.policy", "zone a\nzone b;", d));
  CHECK(codes(d) == "syntax@2:1");
}

TEST_CASE("fmt: unified diff") {
  CHECK(unified_diff("a\nb\n", "a\nb\n", "x", "y").empty());
  CHECK(
      unified_diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n", "a/f", "b/f") ==
      "--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
  CHECK(unified_diff("x", "x\n", "a", "b") ==
        "--- a\n+++ b\n@@ -1,1 +1,1 @@\n-x\n\\ No newline at end of file\n+x\n");
  CHECK(unified_diff("", "a\n", "a", "b") == "--- a\n+++ b\n@@ -0,0 +1,1 @@\n+a\n");
}

TEST_CASE("fmt: every policy of the repository round-trips") {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (const char* dir : {"tests", "policies"})
    for (const auto& e : fs::recursive_directory_iterator(fs::path(PORTOLAN_SOURCE_DIR) / dir))
      if (e.is_regular_file() && e.path().extension() == ".policy")
        files.push_back(e.path());
  std::sort(files.begin(), files.end());
  size_t formatted = 0, skipped = 0, comment_count = 0;
  for (const auto& path : files) {
    auto text = read_file(path);
    REQUIRE(text);
    std::string name = path.string();
    CAPTURE(name);
    auto before = parse(*text);
    bool syntax_ok =
        std::none_of(before.diags.all().begin(), before.diags.all().end(), [](const Diagnostic& d) {
          return d.code == "syntax" || d.code == "encoding" || d.code == "port-token";
        });
    auto out = fmt(*text);
    CHECK(out.has_value() == syntax_ok);
    if (!out) {
      ++skipped;
      continue;
    }
    ++formatted;
    auto after = parse(*out);
    CHECK(dump(after.file) == dump(before.file));
    CHECK(codes(after.diags).size() == codes(before.diags).size()); // same literal errors
    CHECK(comments(*out) == comments(*text));
    comment_count += comments(*text).size();
    CHECK(fmt(*out) == out);
  }
  MESSAGE("fmt round trip: " << formatted << " files formatted, " << skipped
                             << " skipped (syntax errors), " << comment_count << " comments kept");
  CHECK(formatted >= 90);
}
