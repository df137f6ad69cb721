// The windows backend: its script, read back with Windows Defender Firewall's semantics (block
// overrides allow, default block), must allow exactly what the engine says the target allows;
// and no policy text can add a command to the script.
#include "common/text.h"
#include "helpers.h"
#include "project.h"
#include "random_policy.h"
#include "windows_reader.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>

using namespace portolan;
using namespace portolan::roundtrip;

namespace {

std::filesystem::path source(const std::string& rel) {
  return std::filesystem::path(PORTOLAN_SOURCE_DIR) / rel;
}

std::string first_error(const Diagnostics& d) {
  for (const auto& x : d.all())
    if (x.severity == Severity::Error)
      return x.code + ": " + x.message;
  return "";
}

/// Builds one windows target and compares input, output and forward with the engine.
WinRead check_windows(const Project& p, const Target& t, const std::string& label) {
  Diagnostics d;
  RuleSet rs;
  auto files = p.build(t, d, &rs);
  REQUIRE_MESSAGE(!d.has_errors(), label << ": " << first_error(d));
  REQUIRE(files.size() == 1);
  WinRead r;
  try {
    r = read_windows(files[0].content);
  } catch (const ReadError& e) {
    FAIL(label << ": unreadable script: " << std::string(e.what()));
  }
  CHECK_MESSAGE((r.stop_on_error && r.removes_group && r.default_block), label);
  CHECK(r.nd_rules == (rs.icmpv6_nd ? 2 : 0));
  TargetPackets want = p.expected(t);
  for (Chain c : {Chain::Input, Chain::Output, Chain::Forward}) {
    const PacketSet& a = r.allowed.at(c);
    const PacketSet& b = want.of(c);
    std::string witness = difference(a, b);
    CHECK_MESSAGE(witness.empty(), label << " chain " << chain_name(c) << ": " << witness);
  }
  return r;
}

} // namespace

TEST_CASE("roundtrip windows: shipped policy and feature policy") {
  int targets = 0;
  for (const char* m :
       {"policies/lync2013-public-im.toml", "tests/golden/features/features.toml"}) {
    auto p = Project::open(source(m));
    for (const Target& t : p->manifest->targets)
      if (t.backend == "windows") {
        WinRead r = check_windows(*p, t, std::string(m) + " " + t.name);
        CHECK(r.rules > 0);
        CHECK(r.exclusive);
        ++targets;
      }
  }
  CHECK(targets == 2);
}

TEST_CASE("roundtrip windows: randomized policies") {
  const uint64_t first = 5000;
  const int count = 150;
  MESSAGE("seeds " << first << ".." << first + count - 1
                   << " (replay one: PORTOLAN_SEED=N unit_tests -tc='*windows*randomized*')");
  uint64_t only = 0;
  if (const char* s = std::getenv("PORTOLAN_SEED"))
    only = std::stoull(s);
  test::TempDir dir;
  int compared = 0, with_deny = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    if (only && seed != only)
      continue;
    test::GenOptions opt;
    opt.backends = {"windows"};
    opt.perimeter_targets = false;
    auto g = test::random_policy(seed, opt);
    auto path = write_generated(dir.path / std::to_string(seed), g.policy, g.manifest);
    std::unique_ptr<Project> p;
    try {
      p = Project::open(path);
    } catch (const std::exception& e) {
      FAIL("seed " << seed << ": " << std::string(e.what()));
    }
    for (const Target& t : p->manifest->targets) {
      WinRead r = check_windows(*p, t, "seed " + std::to_string(seed) + " " + t.name);
      with_deny +=
          std::any_of(r.parsed.begin(), r.parsed.end(), [](const WinRule& w) { return !w.allow; });
      ++compared;
    }
  }
  CHECK(compared == (only ? 1 : count));
  if (!only)
    CHECK(with_deny > 10); // block rules really are exercised
}

TEST_CASE("roundtrip windows: the reader catches a widened or narrowed script") {
  auto p = Project::open(source("policies/lync2013-public-im.toml"));
  const Target& t = p->target("edge-host-windows");
  Diagnostics d;
  std::string text = p->build(t, d)[0].content;
  TargetPackets want = p->expected(t);
  // An extra allow is a widening.
  std::string wide = text + "New-NetFirewallRule -DisplayName 'x' -Group $Group -Profile Any "
                            "-Direction Inbound -Action Allow -Protocol UDP -LocalPort '53' | "
                            "Out-Null\n";
  auto extra = read_windows(wide).allowed.at(Chain::Input).subtract(want.of(Chain::Input)).pick();
  REQUIRE(extra);
  CHECK(extra->dport == 53);
  // A block rule overrides an allow wherever it sits in the file.
  std::string narrow = text;
  narrow.insert(narrow.find("\nNew-NetFirewallRule -DisplayName 'f"), // before the first flow rule
                "\nNew-NetFirewallRule -DisplayName 'y' -Group $Group -Profile Any -Direction "
                "Inbound -Action Block -Protocol TCP -LocalPort '443' | Out-Null");
  auto missing =
      want.of(Chain::Input).subtract(read_windows(narrow).allowed.at(Chain::Input)).pick();
  REQUIRE(missing);
  CHECK(missing->dport == 443);
}

TEST_CASE("windows: hostile policy text cannot add a command or leave its quotes") {
  // In policy syntax \" \n \t are escapes of the language; the rest is literal text.
  const std::string note = "it's'; Remove-NetFirewallRule -All; '\\\" $(Stop-Computer) "
                           "`whoami` # -- ; & | \\n New-NetFirewallRule -Action Allow "
                           "\\t\\n caf\xc3\xa9 \xe2\x80\x99smart\xe2\x80\x98 ${env:x} @'";
  test::TempDir dir;
  std::string policy = R"P(policy t "title '; $(x)" { reference "ref `r` \"q\" $(y)"; }
zone a; zone b;
role c in a;
role h in b;
service web = tcp 80, 443;
service ping = icmp type 8;
flow deny bad: c -> h via ping "NOTE";
flow x: c <-> h via web, ping "NOTE";
)P";
  for (size_t at; (at = policy.find("NOTE")) != std::string::npos;)
    policy.replace(at, 4, note);
  dir.write("o'hara $(x) `y`.policy", policy);
  auto path = dir.write("m.toml", R"P(policies = ["o'hara $(x) `y`.policy"]
[environments.e.bind]
c = ["192.0.2.0/24", "2001:db8::/32"]
h = ["198.51.100.1", "2001:db8:1::1"]
[[targets]]
name = "h'; $(Stop-Computer) `x` \"q\" \u00e9"
backend = "windows"
host = "h"
output = "h.ps1"
)P");
  auto p = Project::open(path);
  const Target& t = p->manifest->targets.at(0);
  WinRead r = check_windows(*p, t, "hostile");
  // Every line parsed as one of the emitted shapes, and the rules are exactly the expected
  // ones: the deny of ping in, then web and ping both ways (ping is IPv4 only).
  CHECK(r.rules == 1 + 2 * 2);
  CHECK(r.group.rfind("Portolan h_", 0) == 0);
  // Only letters, digits, spaces and ._- (the hashed default group of a non-plain name).
  CHECK(r.group.find_first_not_of("Portolan h_Stop-Computerxq 0123456789abcdef") ==
        std::string::npos);
  // Each description holds the policy text made plain, UTF-8 kept (the typographic single
  // quotes arrive as ASCII quotes): nothing was lost to quoting.
  const std::string& parsed_note = p->loaded.policy.flows.at(1).note;
  REQUIRE(parsed_note.find('\n') != std::string::npos);
  std::string plain_note = utf8_text(parsed_note);
  for (const char* q : {"\xe2\x80\x98", "\xe2\x80\x99", "\xe2\x80\x9a", "\xe2\x80\x9b"})
    for (size_t at; (at = plain_note.find(q)) != std::string::npos;)
      plain_note.replace(at, 3, "'");
  CHECK(plain_note.find("caf\xc3\xa9") != std::string::npos);
  int with_note = 0;
  for (const WinRule& w : r.parsed)
    with_note += w.description.find(plain_note) != std::string::npos;
  CHECK(with_note == 5);
  Diagnostics d;
  std::string text = p->build(t, d)[0].content;
  // The reader is strict, so its success above means something: one quote left undoubled,
  // or an expanding double-quoted string, is refused.
  std::string broken = text;
  broken.replace(broken.find("it''s"), 5, "it's");
  CHECK_THROWS_AS(read_windows(broken), ReadError);
  std::string expanding = text;
  expanding.replace(expanding.find("-DisplayName '"), 14, "-DisplayName \"$(Stop-Computer)\" '");
  CHECK_THROWS_AS(read_windows(expanding), ReadError);
}

TEST_CASE("windows: a protocol alone is pinned to its IP family between unbounded endpoints") {
  // icmp between two 'any' endpoints is IPv4 only; Windows' protocol number alone would also
  // match IPv6 packets whose next header is 1.
  test::TempDir dir;
  auto path = write_generated(dir.path, R"(
zone a; zone b;
role x in a; role y in b;
service ping = icmp;
service ping6 = icmpv6 type 128 code 0;
service gre = proto 47;
flow x -> y via ping, ping6, gre;
flow y -> x via ping;
)",
                              R"(
policies = ["gen.policy"]
[environments.e.bind]
x = "any"
y = "any"
[[targets]]
name = "w"
backend = "windows"
host = "y"
output = "w"
[targets.options]
exclusive = false
icmpv6_nd = false
)");
  auto p = Project::open(path);
  WinRead r = check_windows(*p, p->target("w"), "pinned");
  CHECK(r.rules == 4);
  CHECK(!r.exclusive);
}

TEST_CASE("windows: options and what cannot be enforced") {
  test::TempDir dir;
  auto build = [&](const std::string& options) {
    return build_host_with_options(dir, "windows", options);
  };
  CHECK(build("loopback = false\n").second == "unrealizable@11:1");
  // The one flow is TCP 1, so every exclusive build also warns that RDP and WinRM are closed.
  const std::string rm = "no-remote-management@5:1 ";
  CHECK(build("group = \"@FirewallAPI.dll,-1\"\n").second == rm + "manifest@11:1");
  CHECK(build("group = \"a*\"\n").second == rm + "manifest@11:1");
  CHECK(build("exclusive = 1\n").second == rm + "manifest@11:1");
  auto [files, codes] = build("group = \"Web tier\"\n");
  CHECK(codes == "no-remote-management@5:1");
  REQUIRE(files.size() == 1);
  CHECK(read_windows(files[0].content).group == "Web tier");
}
