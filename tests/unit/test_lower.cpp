#include "helpers.h"

#include "common/text.h"
#include "names.h"
#include "session.h"

#include <doctest/doctest.h>

#include <fstream>
#include <random>
#include <set>
#include <sstream>

using namespace portolan;
using portolan::test::codes;
using portolan::test::TempDir;

namespace {

const char* kPolicy = R"(
zone out; zone dmz;
role client in out;
role partner in out;
role bad in out;
role web in dmz { interface pub; interface adm in out; }
service https = tcp 443;
service mgmt = tcp 22, icmp type 8;
feature beta;
flow deny b: bad -> web.pub via https;
flow a: client -> web.pub via https;
flow p: partner <-> web.pub via mgmt when beta;
flow old: client -> web.pub via mgmt { expires 2020-01-01; }
)";

/// A project in a temporary folder, opened by the driver like `portolan check` opens one.
struct World : Session {
  TempDir dir;

  explicit World(const std::string& bind_extra = "", const std::string& features = "[\"beta\"]") {
    dir.write("p.policy", kPolicy);
    auto m = dir.write("m.toml", std::string(R"(
policies = ["p.policy"]
[environments.e]
today = 2026-01-01
features = )") + features + R"(
[environments.e.bind]
client = "any"
partner = ["2001:db8:1::/48"]
bad = ["192.0.2.0/28"]
"web.pub" = ["198.51.100.1", "2001:db8::1"]
)" + bind_extra + R"(
[[targets]]
name = "host"
backend = "nftables"
host = "web"
output = "h.nft"
[[targets]]
name = "edge"
backend = "iptables"
between = ["out", "dmz"]
output = "e/rules"
)");
    REQUIRE(open(m));
    REQUIRE(loaded.ok);
  }

  RuleSet lower(const std::string& target) {
    for (const Target& t : manifest->targets)
      if (t.name == target)
        return compile_target(t, Want{false, false}).rules;
    FAIL("no target");
    return {};
  }
};

std::string describe(const RuleSet& rs) {
  std::string s;
  for (const Rule& r : rs.rules) {
    s += chain_name(r.chain);
    s += r.action == Action::Allow ? " allow " : " deny ";
    s += (r.src.any() ? std::string("any") : rs.sets[r.src.set].endpoint) + ">" +
         (r.dst.any() ? std::string("any") : rs.sets[r.dst.set].endpoint) + " " + r.l4.service +
         (r.v4 ? " v4" : "") + (r.v6 ? " v6" : "") + "\n";
  }
  return s;
}

} // namespace

TEST_CASE("lower: host target takes inbound and outbound flows, denies first") {
  World w;
  RuleSet rs = w.lower("host");
  CHECK(describe(rs) == "input deny bad>web.pub https v4\n"
                        "input allow any>web.pub https v4 v6\n"
                        "input allow partner>web.pub mgmt v6\n"
                        "output allow web.pub>partner mgmt v6\n");
  // icmp (IPv4 only) between partner (IPv6 only) and web is impossible: said, not dropped silently.
  CHECK(codes(w.diags).find("no-family") != std::string::npos);
  CHECK(codes(w.diags).find("expired") != std::string::npos);
  CHECK(rs.loopback);
  CHECK(rs.chains.size() == 3);
}

TEST_CASE("lower: perimeter target takes flows crossing its two zones only") {
  World w;
  RuleSet rs = w.lower("edge");
  CHECK(describe(rs) == "forward deny bad>web.pub https v4\n"
                        "forward allow any>web.pub https v4 v6\n"
                        "forward allow partner>web.pub mgmt v6\n"
                        "forward allow web.pub>partner mgmt v6\n");
  CHECK(rs.chains == std::vector<Chain>{Chain::Forward});
}

TEST_CASE("lower: a feature that is off removes its flows") {
  World w("", "[]");
  RuleSet rs = w.lower("edge");
  CHECK(describe(rs) == "forward deny bad>web.pub https v4\n"
                        "forward allow any>web.pub https v4 v6\n");
}

TEST_CASE("lower: an unbound endpoint of an enforced flow is an error at the endpoint") {
  World w;
  w.manifest->environments.at("e").bind.erase("partner");
  w.lower("edge");
  w.diags.normalize();
  CHECK(codes(w.diags).find("unbound@12:9") != std::string::npos);
}

TEST_CASE("lower: expiry uses the environment's today, or --today") {
  Environment env;
  env.name = "e";
  Flow f;
  f.expires = Date{2013, 3, 15};
  env.today = Date{2013, 3, 14};
  CHECK(flow_active(f, env, std::nullopt, nullptr));
  env.today = Date{2013, 3, 15};
  CHECK(!flow_active(f, env, std::nullopt, nullptr)); // expires on the day
  CHECK(flow_active(f, env, Date{2013, 1, 1}, nullptr));
  env.today.reset();
  Diagnostics d;
  CHECK(!flow_active(f, env, std::nullopt, &d));
  CHECK(d.all().at(0).code == "no-today");
}

TEST_CASE("backends: both print the same rule set deterministically") {
  World w;
  for (const char* t : {"host", "edge"}) {
    RuleSet rs = w.lower(t);
    for (const auto& name : backend_names()) {
      auto b = make_backend(name);
      Diagnostics d1, d2;
      auto a = b->emit(rs, d1);
      auto c = b->emit(rs, d2);
      REQUIRE(a.size() == c.size());
      for (size_t i = 0; i < a.size(); ++i)
        CHECK(a[i].content == c[i].content);
    }
  }
}

TEST_CASE("backends: check's findings-only emit reports what the full emit reports") {
  // `check` asks for the emitter's diagnostics only (EmitText::Diagnostics); it must see
  // exactly what `build` sees, refusals and warnings alike, and the same files.
  auto render = [](const Diagnostics& d) {
    std::string s;
    for (const Diagnostic& x : d.all())
      s += std::to_string(static_cast<int>(x.severity)) + " " + x.code + " " +
           std::to_string(x.loc.line) + ":" + std::to_string(x.loc.col) + " " + x.message + " " +
           x.witness.value_or("") + "\n";
    return s;
  };
  World w;
  size_t refusals = 0;
  for (std::string t : {"host", "edge"})
    for (int variant = 0; variant < 4; ++variant) {
      RuleSet rs = w.lower(t);
      REQUIRE(!rs.rules.empty());
      if (variant == 1) // AH over IPv6: nftables, iptables and pf refuse it
        for (Rule& r : rs.rules)
          if (r.v6) {
            r.l4 = L4Match{};
            r.l4.proto = 51;
            r.l4.service = "ah";
          }
      if (variant == 2) // windows and aws refuse it
        rs.loopback = false;
      if (variant == 3) // source ports: aws refuses them
        for (Rule& r : rs.rules)
          if (r.l4.proto == kProtoTcp)
            r.l4.sports = {PortRange{1024, 65535}};
      for (const auto& name : backend_names()) {
        CAPTURE(t);
        CAPTURE(variant);
        CAPTURE(name);
        auto b = make_backend(name);
        Diagnostics full, only;
        auto a = b->emit(rs, full, EmitText::Full);
        auto c = b->emit(rs, only, EmitText::Diagnostics);
        CHECK(render(full) == render(only));
        REQUIRE(a.size() == c.size());
        for (size_t i = 0; i < a.size(); ++i)
          CHECK(a[i].suffix == c[i].suffix);
        refusals += full.count(Severity::Error);
      }
    }
  CHECK(refusals > 0); // the variants do reach the refusals
}

TEST_CASE("text: policy text can never start a new line or close a quote") {
  const char* hostile[] = {
      "a\"; flush ruleset; \"",     "line\nCOMMIT\n*nat",           "x\r\n-A INPUT -j ACCEPT",
      "$(reboot) `id` \\\" # -- ;", "caf\xc3\xa9 \xe2\x80\xae rtl", "\x01\x02\x7f end",
  };
  for (const char* h : hostile) {
    CAPTURE(h);
    std::string s = plain_text(h, "\"\\");
    CHECK(s.find('\n') == std::string::npos);
    CHECK(s.find('\r') == std::string::npos);
    CHECK(s.find('"') == std::string::npos);
    CHECK(s.find('\\') == std::string::npos);
    for (char c : s)
      CHECK((c >= 0x20 && c < 0x7f));
  }
  CHECK(plain_text("caf\xc3\xa9") == "caf?");
  CHECK(plain_text("a\n\n  b") == "a b");
  CHECK(plain_text(std::string(300, 'x'), "", '\'', 10) == "xxxxxxx...");
}

TEST_CASE("backends: a hostile note stays one comment line in every backend") {
  World w;
  w.loaded.policy.flows[1].note = "pwn\"\n-A INPUT -j ACCEPT\nflush ruleset\n\"";
  w.loaded.policy.flows[1].group = "a";
  for (const char* t : {"host", "edge"}) {
    RuleSet rs = w.lower(t);
    for (const auto& name : backend_names()) {
      Diagnostics d;
      for (const auto& f : make_backend(name)->emit(rs, d)) {
        CAPTURE(name);
        CHECK(f.content.find("\n-A INPUT -j ACCEPT") == std::string::npos);
        CHECK(f.content.find("\nflush ruleset") == std::string::npos);
        CHECK(f.content.find("#   pwn' -A INPUT -j ACCEPT flush ruleset '") == std::string::npos);
      }
    }
  }
}

TEST_CASE("robustness: mutated policies never crash the front end") {
  std::string base;
  {
    std::ifstream in(std::string(PORTOLAN_SOURCE_DIR) + "/policies/lync2013-public-im.policy");
    base.assign(std::istreambuf_iterator<char>(in), {});
  }
  REQUIRE(!base.empty());
  const unsigned seed = 20261120;
  MESSAGE("mutation seed " << seed);
  std::mt19937 rng(seed);
  const std::string alphabet = "{};:,.=-<>\"/*#@ \n\tabz019\\\xc3\xa9";
  int with_errors = 0;
  for (int i = 0; i < 400; ++i) {
    std::string text = base;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t pos = rng() % (text.size() + 1);
      switch (rng() % 3) {
      case 0:
        if (pos < text.size())
          text.erase(pos, 1 + rng() % 8);
        break;
      case 1:
        text.insert(pos, 1, alphabet[rng() % alphabet.size()]);
        break;
      default:
        if (pos < text.size())
          text[pos] = alphabet[rng() % alphabet.size()];
      }
    }
    TempDir d;
    SourceManager sm;
    Diagnostics diags;
    CHECK_NOTHROW(load_policy({d.write("m.policy", text)}, sm, diags));
    for (const auto& diag : diags.all()) {
      CHECK_MESSAGE(diag.code != "internal", diag.message);
      CHECK(!diag.message.empty());
    }
    with_errors += diags.has_errors();
  }
  CHECK(with_errors > 100); // the mutations really do break things
}

TEST_CASE("diagnostics: [checks] severities change findings but never hide errors") {
  Diagnostics d;
  d.warning("expired", {1, 1, 1, 1}, "a");
  d.warning("no-family", {1, 2, 1, 1}, "b");
  d.error("unbound", {1, 3, 1, 1}, "c");
  d.apply_severities({{"expired", "error"}, {"no-family", "off"}, {"unbound", "off"}});
  d.normalize();
  CHECK(codes(d) == "expired@1:1 unbound@3:1");
  CHECK(d.all()[0].severity == Severity::Error);
  CHECK(d.all()[1].severity == Severity::Error);
}

TEST_CASE("lower: nested prefixes of one endpoint become one interval (nft rejects overlaps)") {
  World w("", "[\"beta\"]");
  auto& bind = w.manifest->environments.at("e").bind;
  bind.at("bad").prefixes = {*parse_prefix("192.0.2.0/24").prefix,
                             *parse_prefix("192.0.2.0/28").prefix,
                             *parse_prefix("192.0.2.64/26").prefix};
  RuleSet rs = w.lower("edge");
  const AddrSet* bad = nullptr;
  for (const AddrSet& s : rs.sets)
    if (s.endpoint == "bad")
      bad = &s;
  REQUIRE(bad);
  REQUIRE(bad->v4.size() == 1);
  CHECK(bad->v4[0].str() == "192.0.2.0/24");
}

TEST_CASE("lower: a deny naming other roles cuts an allow whose addresses it meets") {
  // issue 10 case 4: dmz_hosts' prefix holds web's address, and the scanner sits in a third
  // zone; the deny must reach web's host firewall and the internet/dmz perimeter, and the
  // reference semantics must agree.
  TempDir dir;
  dir.write("p.policy", R"(
zone internet; zone dmz; zone quarantine;
role anyone in internet;
role scanner in quarantine;
role dmz_hosts in dmz;
role web in dmz;
role other in internet;
service https = tcp 443;
flow deny quarantine: scanner -> dmz_hosts via https;
flow deny elsewhere: other -> dmz_hosts via https;
flow public: anyone -> web via https;
)");
  auto m = dir.write("m.toml", R"(
policies = ["p.policy"]
[environments.e]
[environments.e.bind]
anyone = "any"
scanner = "203.0.113.7"
other = "2001:db8:9::1"
dmz_hosts = "198.51.100.0/24"
web = "198.51.100.10"
[[targets]]
name = "host"
backend = "nftables"
host = "web"
output = "h.nft"
[[targets]]
name = "edge"
backend = "nftables"
between = ["internet", "dmz"]
output = "e.nft"
)");
  Session s;
  REQUIRE(s.open(m));
  REQUIRE(s.clean());
  const Target& host = s.manifest->targets.at(0);
  const Target& edge = s.manifest->targets.at(1);
  // 'other' is IPv6 only and dmz_hosts IPv4 only: that deny meets nothing and stays out.
  CHECK(describe(s.compile_target(host).rules) == "input deny scanner>dmz_hosts https v4\n"
                                                  "input allow any>web https v4\n");
  CHECK(describe(s.compile_target(edge).rules) == "forward deny scanner>dmz_hosts https v4\n"
                                                  "forward allow any>web https v4\n");
  Packet p;
  p.src = *parse_ip("203.0.113.7");
  p.dst = *parse_ip("198.51.100.10");
  p.proto = kProtoTcp;
  p.sport = 40000;
  p.dport = 443;
  for (const Target* t : {&host, &edge}) {
    TargetPackets tp = s.compile_target(*t).expected;
    Chain c = t == &host ? Chain::Input : Chain::Forward;
    CHECK(!tp.of(c).contains(p));
    Packet q = p;
    q.src = *parse_ip("203.0.113.8");
    CHECK(tp.of(c).contains(q));
  }
}

TEST_CASE("lower: flow ids depend on the flow's summary only, never on its line or neighbours") {
  auto flow = [](const std::string& group, const std::string& src, const std::string& svc) {
    Flow f;
    f.group = group;
    f.src.role = src;
    f.dst.role = "web";
    f.dst.iface = "pub";
    f.services.push_back(ServiceRef{svc, {}, -1});
    return f;
  };
  Policy before;
  before.flows = {flow("a", "client", "https"), flow("b", "partner", "https")};
  std::vector<std::string> ids = flow_ids(before);
  // The documented formula: "f" and name_hash of the summary.
  CHECK(ids[0] == "f" + name_hash("a: client -> web.pub via https"));
  CHECK(ids[0] != ids[1]);
  // A flow inserted above the others, and a moved location, change no other flow's id.
  Policy after;
  after.flows = {flow("new", "bad", "mgmt"), flow("a", "client", "https"),
                 flow("b", "partner", "https")};
  after.flows[1].loc.line = 99;
  std::vector<std::string> ids2 = flow_ids(after);
  CHECK(ids2[1] == ids[0]);
  CHECK(ids2[2] == ids[1]);
  // A repeated summary gets its own id, by repetition, not by position.
  after.flows.push_back(flow("a", "client", "https"));
  std::vector<std::string> ids3 = flow_ids(after);
  CHECK(ids3[3] == "f" + name_hash("a: client -> web.pub via https #2"));
  CHECK(ids3[3] != ids3[1]);
  std::set<std::string> unique(ids3.begin(), ids3.end());
  CHECK(unique.size() == ids3.size());
  // Comments carry the id and summary (nftables folded sets: the id in each element's comment,
  // the summary on the `#` line above, docs/backends.md "Folded sets"); the location only
  // reaches the trace table.
  World w;
  RuleSet rs = w.lower("host");
  std::string text = make_backend("nftables")->emit(rs, w.diags).at(0).content;
  const std::string& id = rs.rules[0].origin.id;
  CHECK(text.find("p.policy:") == std::string::npos);
  CHECK(text.find("#   " + id + " p.policy\n") != std::string::npos);
  CHECK(text.find("# " + id + " deny b: bad -> web.pub via https\n") != std::string::npos);
  CHECK(text.find("comment \"" + id + "\"") != std::string::npos);
}

TEST_CASE("lower: a machine with several roles, one of them a VIP's node, gets the balanced leg") {
  // Merge of vip and lang: a host target naming its roles in a list takes the leg the
  // balancer hands to any of them (before, balanced_terms compared one role only).
  TempDir dir;
  dir.write("p.policy", R"(
zone internet; zone perimeter;
role client in internet;
role edge in perimeter;
role cms in perimeter;
role pool in perimeter {
  vip for edge;
  balance keeps-source;
}
service https = tcp 443;
flow web: client -> pool via https;
)");
  auto m = dir.write("m.toml", R"(
policies = ["p.policy"]
[environments.e]
[environments.e.bind]
client = "198.51.100.0/24"
edge = "203.0.113.21"
cms = "203.0.113.22"
pool = "203.0.113.10"
[[targets]]
name = "host"
backend = "nftables"
host = ["cms", "edge"]
output = "h.nft"
)");
  Session s;
  REQUIRE(s.open(m));
  REQUIRE(s.clean());
  CHECK(describe(s.compile_target(s.manifest->targets.at(0)).rules) ==
        "input allow client>edge https v4\n");
}

TEST_CASE("manifest: a VIP among a multi-role host's roles is an error at that role") {
  TempDir dir;
  dir.write("p.policy", R"(
zone perimeter;
role edge in perimeter;
role pool in perimeter {
  vip for edge;
  balance keeps-source;
}
)");
  auto m = dir.write("m.toml", R"(
policies = ["p.policy"]
[environments.e]
[[targets]]
name = "host"
backend = "nftables"
host = ["edge", "pool"]
output = "h.nft"
)");
  Session s;
  s.open(m);
  bool found = false;
  for (const Diagnostic& d : s.diags.all())
    found = found || (d.code == "vip" && d.message.find("role 'pool' is a VIP") == 0);
  CHECK(found);
}
