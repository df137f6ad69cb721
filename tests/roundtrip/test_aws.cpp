// The aws backend: its Terraform JSON, read back with security-group semantics (union of allow
// rules, default deny), must allow exactly what the engine says the target allows; what groups
// cannot say (a deny that removes allowed packets, a source port) must be an error at the flow;
// and no policy text can break the JSON or smuggle in a Terraform template.
#include "aws_reader.h"
#include "helpers.h"
#include "project.h"
#include "random_policy.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>

using namespace portolan;
using namespace portolan::roundtrip;

namespace {

std::filesystem::path source(const std::string& rel) {
  return std::filesystem::path(PORTOLAN_SOURCE_DIR) / rel;
}

std::string errors(const Diagnostics& d) {
  std::string s;
  for (const auto& x : d.all())
    if (x.severity == Severity::Error)
      s += x.code + "@" + std::to_string(x.loc.line) + ": " + x.message + "\n";
  return s;
}

AwsRead read_checked(const std::string& text, const std::string& label) {
  try {
    return read_aws(text);
  } catch (const ReadError& e) {
    FAIL(label << ": unreadable output: " << std::string(e.what()));
  }
  return {};
}

/// Compares input, output and forward of an emitted target with the engine.
void compare(const Project& p, const Target& t, const AwsRead& r, const std::string& label) {
  TargetPackets want = p.expected(t);
  for (Chain c : {Chain::Input, Chain::Output, Chain::Forward}) {
    std::string diff = difference(r.allowed.at(c), want.of(c));
    CHECK_MESSAGE(diff.empty(), label << " chain " << chain_name(c) << ": " << diff);
  }
}

AwsRead check_aws(const Project& p, const Target& t, const std::string& label) {
  Diagnostics d;
  auto files = p.build(t, d);
  REQUIRE_MESSAGE(!d.has_errors(), label << ": " << errors(d));
  REQUIRE(files.size() == 1);
  AwsRead r = read_checked(files[0].content, label);
  compare(p, t, r, label);
  return r;
}

bool has_source_ports(const RuleSet& rs) {
  return std::any_of(rs.rules.begin(), rs.rules.end(), [](const Rule& r) {
    return r.action == Action::Allow && !r.l4.sports.empty();
  });
}

} // namespace

TEST_CASE("roundtrip aws: shipped policy and the aws example policy") {
  int targets = 0;
  for (const char* m : {"policies/lync2013-public-im.toml", "tests/golden/aws/aws.toml"}) {
    auto p = Project::open(source(m));
    for (const Target& t : p->manifest->targets)
      if (t.backend == "aws") {
        AwsRead r = check_aws(*p, t, std::string(m) + " " + t.name);
        CHECK(r.rules > 0);
        CHECK(r.nd_rules > 0);
        ++targets;
      }
  }
  CHECK(targets == 2);
}

TEST_CASE("roundtrip aws: the example policy gets one group per local address set") {
  auto p = Project::open(source("tests/golden/aws/aws.toml"));
  Diagnostics d;
  auto files = p->build(p->target("app-aws"), d);
  REQUIRE(!d.has_errors());
  AwsRead r = read_aws(files[0].content);
  CHECK(r.groups == 3);   // app.pub, app.mgmt, and app (both interfaces)
  CHECK(!r.vpc_variable); // the target sets option vpc_id
  // Both harmless denies are said, not emitted.
  auto root = parse_json(files[0].content);
  int notes = 0;
  for (const auto& c : root.at("//")) {
    const auto& text = c.get_ref<const std::string&>();
    notes += text.find("deny block") != std::string::npos &&
             text.find("nothing emitted") != std::string::npos;
  }
  CHECK(notes == 2);
}

TEST_CASE("roundtrip aws: randomized policies without deny") {
  const uint64_t first = 6000;
  const int count = 200; // about a third need source ports: well over 100 are compared
  MESSAGE("seeds " << first << ".." << first + count - 1
                   << " (replay one: PORTOLAN_SEED=N unit_tests -tc='*aws*randomized*')");
  uint64_t only = 0;
  if (const char* s = std::getenv("PORTOLAN_SEED"))
    only = std::stoull(s);
  test::TempDir dir;
  int compared = 0, source_port_seeds = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    if (only && seed != only)
      continue;
    test::GenOptions opt;
    opt.backends = {"aws"};
    opt.perimeter_targets = false;
    opt.deny_ratio = 0;
    auto g = test::random_policy(seed, opt);
    auto path = write_generated(dir.path / std::to_string(seed), g.policy, g.manifest);
    auto p = Project::open(path);
    const Target& t = p->manifest->targets.at(0);
    std::string label = "seed " + std::to_string(seed);
    Diagnostics d;
    RuleSet rs;
    auto files = p->build(t, d, &rs);
    if (has_source_ports(rs)) {
      // The generator's `udp N sport 1024-65535` cannot be said by a security group.
      ++source_port_seeds;
      CHECK_MESSAGE(errors(d).find("unrealizable") != std::string::npos, label);
      CHECK_MESSAGE(files.empty(), label);
      continue;
    }
    REQUIRE_MESSAGE(!d.has_errors(), label << ": " << errors(d));
    compare(*p, t, read_checked(files.at(0).content, label), label);
    ++compared;
  }
  MESSAGE(compared << " seeds compared, " << source_port_seeds
                   << " expected unrealizable (source ports)");
  if (!only)
    CHECK(compared >= 120);
}

TEST_CASE("roundtrip aws: randomized policies with deny are exact or refused for a reason") {
  // A deny is accepted only when default deny already drops all of its packets; the reference
  // for that is the engine: the policy with and without its deny flows must allow the same.
  const uint64_t first = 7000;
  const int count = 120;
  MESSAGE("seeds " << first << ".." << first + count - 1);
  test::TempDir dir;
  int exact = 0, refused = 0, harmless_deny = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    test::GenOptions opt;
    opt.backends = {"aws"};
    opt.perimeter_targets = false;
    opt.deny_ratio = 0.3;
    auto g = test::random_policy(seed, opt);
    auto path = write_generated(dir.path / std::to_string(seed), g.policy, g.manifest);
    auto p = Project::open(path), allow_only = Project::open(path);
    auto& flows = allow_only->loaded.policy.flows;
    flows.erase(std::remove_if(flows.begin(), flows.end(),
                               [](const Flow& f) { return f.action == Action::Deny; }),
                flows.end());
    const Target& t = p->manifest->targets.at(0);
    TargetPackets full = p->expected(t);
    TargetPackets loose = allow_only->expected(allow_only->target(t.name));
    bool deny_matters = false;
    for (Chain c : {Chain::Input, Chain::Output})
      deny_matters = deny_matters || !(full.of(c) == loose.of(c));
    std::string label = "seed " + std::to_string(seed);
    Diagnostics d;
    RuleSet rs;
    auto files = p->build(t, d, &rs);
    bool has_deny = std::any_of(rs.rules.begin(), rs.rules.end(),
                                [](const Rule& r) { return r.action == Action::Deny; });
    if (d.has_errors()) {
      CHECK_MESSAGE((deny_matters || has_source_ports(rs)),
                    label << ": refused without reason: " << errors(d));
      ++refused;
      continue;
    }
    CHECK_MESSAGE(!deny_matters, label << ": a deny that matters was accepted");
    compare(*p, t, read_checked(files.at(0).content, label), label);
    harmless_deny += has_deny;
    ++exact;
  }
  MESSAGE(exact << " exact (" << harmless_deny << " with a harmless deny), " << refused
                << " refused");
  CHECK(exact > 20);
  CHECK(refused > 20);
  CHECK(harmless_deny > 5);
}

TEST_CASE("roundtrip aws: the reader catches a widened group") {
  auto p = Project::open(source("policies/lync2013-public-im.toml"));
  const Target& t = p->target("edge-host-aws");
  Diagnostics d;
  std::string text = p->build(t, d)[0].content;
  std::string rule = R"("extra": {
        "security_group_id": "${aws_security_group.edge_host_aws_edge-access.id}",
        "description": "x",
        "ip_protocol": "udp",
        "from_port": 53,
        "to_port": 53,
        "cidr_ipv4": "0.0.0.0/0"
      },
      )";
  auto at = text.find("\"aws_vpc_security_group_ingress_rule\": {\n");
  REQUIRE(at != std::string::npos);
  text.insert(text.find('"', at + 40), rule);
  AwsRead r = read_aws(text);
  auto extra = r.allowed.at(Chain::Input).subtract(p->expected(t).of(Chain::Input)).pick();
  REQUIRE(extra);
  CHECK(extra->dport == 53);
}

TEST_CASE("aws: hostile policy text keeps the JSON valid and the resources exact") {
  // Quotes, backslashes, line breaks, `$(...)`, backticks, '#', '--', Terraform template
  // sequences and non-ASCII, in a note, a target name and a policy file name.
  const std::string hostile = "it's \\\"}, \\\"x\\\": {\\\"y\\\": 1} \\\\ $(reboot) `id` # -- ; "
                              "\\n\\t${var.vpc_id} %{ if true } caf\xc3\xa9 \xe2\x80\xae @";
  test::TempDir dir;
  std::string policy = R"P(policy t "title \"}]" { reference "${file(\"/etc/passwd\")}"; }
zone a; zone b;
role c in a;
role h in b;
service web = tcp 80, 443;
flow x: c -> h via web "NOTE";
flow deny y: c -> h via web "NOTE" when off;
feature off;
)P";
  for (size_t at; (at = policy.find("NOTE")) != std::string::npos;)
    policy.replace(at, 4, hostile);
  dir.write("p\"${x}'.policy", policy);
  auto path = dir.write("m.toml", R"P(policies = ["p\"${x}'.policy"]
[environments.e.bind]
c = ["192.0.2.0/24", "2001:db8::/32"]
h = "198.51.100.1"
[[targets]]
name = "h\"}, {\"${var.vpc_id}%{ x }\\ é"
backend = "aws"
host = "h"
output = "h.tf.json"
)P");
  auto p = Project::open(path);
  const Target& t = p->manifest->targets.at(0);
  AwsRead r = check_aws(*p, t, "hostile");
  // h has only IPv4, so web from c is IPv4 only: two ports, one prefix; no IPv6 so no ND.
  CHECK(r.resources == std::map<std::string, int>{{"aws_security_group", 1},
                                                  {"aws_vpc_security_group_ingress_rule", 2}});
  CHECK(r.rules == 2);
  CHECK(r.nd_rules == 0);
  // Every name and description is plain EC2 text with no template left in it (the reader
  // checks the character set; here: nothing of the hostile syntax survives as syntax).
  for (const auto& s : r.descriptions) {
    CHECK(s.find('"') == std::string::npos);
    CHECK(s.find('\\') == std::string::npos);
    CHECK(s.size() <= 255);
  }
  // The reader has checked every field Terraform evaluates as a template (names, descriptions,
  // tags, references); only "//" comments and variable/output descriptions, which Terraform
  // takes literally, are left. The target name's "${var.vpc_id}" is there, escaped.
  Diagnostics d;
  std::string text = p->build(t, d)[0].content;
  // The group name holds a hash of it (it is not a plain name); the description keeps it.
  CHECK(text.find("\"name\": \"portolan-hvarvpcidx--") != std::string::npos);
  CHECK(text.find("$${var.vpc_id} { x }") != std::string::npos);
  CHECK(std::any_of(r.descriptions.begin(), r.descriptions.end(), [](const std::string& x) {
    return x.find("h }, { ${var.vpc_id} { x }") != std::string::npos;
  }));
}

TEST_CASE("aws: what security groups cannot say is an error at the flow") {
  test::TempDir dir;
  dir.write("p.policy", R"(zone a; zone b;
role c in a; role bad in a; role h in b;
service web = tcp 80, 443;
service ntp = udp 123 sport 123;
flow deny x: bad -> h via web;
flow c -> h via web;
flow h -> c via ntp;
)");
  auto path = dir.write("m.toml", R"(policies = ["p.policy"]
[environments.e.bind]
c = "any"
bad = "192.0.2.0/24"
h = "198.51.100.1"
[[targets]]
name = "h"
backend = "aws"
host = "h"
output = "h.tf.json"
)");
  auto p = Project::open(path);
  Diagnostics d;
  auto files = p->build(p->target("h"), d);
  d.normalize();
  CHECK(test::codes(d) == "unrealizable@5:1 unrealizable@7:1");
  CHECK(files.empty());
  REQUIRE(d.all().size() == 2);
  REQUIRE(d.all()[0].witness);
  CHECK(*d.all()[0].witness == "tcp 192.0.2.0 port 0 -> 198.51.100.1 port 80");
}

TEST_CASE("aws: options") {
  test::TempDir dir;
  auto build = [&](const std::string& options) {
    return build_host_with_options(dir, "aws", options);
  };
  CHECK(build("vpc_id = \"vpc-XYZ\"\n").second == "manifest@11:1");
  CHECK(build("vpc_id = \"${var.x}\"\n").second == "manifest@11:1");
  CHECK(build("loopback = false\n").second == "unrealizable@11:1");
  auto [files, codes] = build("vpc_id = \"vpc-0a1b2c3d\"\n");
  CHECK(codes.empty());
  REQUIRE(files.size() == 1);
  AwsRead r = read_aws(files[0].content);
  CHECK(!r.vpc_variable);
  CHECK(files[0].content.find("\"vpc_id\": \"vpc-0a1b2c3d\"") != std::string::npos);
}

TEST_CASE("aws: more rules than the default quota is a warning, not a failure") {
  std::string ports;
  for (int p = 1; p <= 61; ++p)
    ports += (p > 1 ? ", " : "") + std::to_string(p * 2);
  test::TempDir dir;
  dir.write("p.policy", "zone a; zone b; role c in a; role h in b;\nservice many = tcp " + ports +
                            ";\nflow c -> h via many;\n");
  auto path = dir.write("m.toml", R"(policies = ["p.policy"]
[environments.e.bind]
c = "any"
h = "192.0.2.1"
[[targets]]
name = "h"
backend = "aws"
host = "h"
output = "h.tf.json"
)");
  auto p = Project::open(path);
  Diagnostics d;
  auto files = p->build(p->target("h"), d);
  d.normalize();
  CHECK(test::codes(d) == "quota@5:1"); // at the target: 61 inbound IPv4 rules in one group
  REQUIRE(files.size() == 1);
  CHECK(read_aws(files[0].content).rules == 61);
}

TEST_CASE("roundtrip aws: the JSON reader is strict") {
  CHECK_THROWS_AS(parse_json(R"({"a": 1, "a": 2})"), ReadError);
  CHECK_THROWS_AS(parse_json(R"({"a": {"b": 1, "b": 1}})"), ReadError);
  CHECK_NOTHROW(parse_json(R"({"a": {"b": 1}, "c": {"b": 1}, "b": [{"b": 1}, {"b": 2}]})"));
  CHECK_THROWS_AS(parse_json(R"({"a": 1,})"), ReadError);
  CHECK_THROWS_AS(parse_json(R"({"a": 1} x)"), ReadError);
  CHECK_THROWS_AS(parse_json("{\"a\": \"\xff\"}"), ReadError);
  CHECK(parse_json(R"({"z": 1, "a": 2})").begin().key() == "z"); // file order is kept
}
