#include "helpers.h"

#include <doctest/doctest.h>

using namespace portolan;
using portolan::test::codes;
using portolan::test::parse;

TEST_CASE("parser: error table (code@line:col)") {
  struct Case {
    const char* name;
    const char* text;
    const char* expected;
  };
  const Case cases[] = {
      {"empty file is fine", "", ""},
      {"comments only", "// a\n# b\n/* c\n d */\n", ""},
      {"missing semicolon", "zone a\nzone b;", "syntax@2:1"},
      {"stray character", "zone a; @", "syntax@1:9"},
      {"unterminated string", "zone a \"open;\n", "syntax@1:8"},
      {"unterminated comment", "zone a; /* never closed", "syntax@1:9"},
      {"bad escape", "zone a \"x\\qy\";", "syntax@1:10"},
      {"port zero", "service s = tcp 0;", "port-range@1:17"},
      {"port too big", "service s = udp 65536;", "port-range@1:17"},
      {"reversed range", "service s = tcp 90-80;", "reversed-range@1:17"},
      {"icmp code without type", "service s = icmp code 3;", "icmp-code-without-type@1:18"},
      {"icmp type too big", "service s = icmp type 256;", "out-of-range@1:23"},
      {"protocol too big", "service s = proto 300;", "out-of-range@1:19"},
      {"invalid date", "flow a -> b via c { expires 2013-02-30; }", "invalid-date@1:29"},
      {"month 13", "flow a -> b via c { expires 2013-13-01; }", "invalid-date@1:29"},
      {"leap day ok", "flow a -> b via c { expires 2024-02-29; }", ""},
      {"suppress without reason", "suppress expired;", "suppression-reason@1:10"},
      {"suppress with empty reason", "suppress broad \"  \";", "suppression-reason@1:10"},
      {"flow without via", "flow a -> b c;", "syntax@1:13"},
      {"arrow typo", "flow a => b via c;", "syntax@1:8"},
      {"invalid utf-8", "zone a;\nzone \xc3\xa9 \xff;", "encoding@2:8"},
      {"overlong utf-8", "zone \xc0\xaf;", "encoding@1:6"},
  };
  for (const Case& c : cases) {
    std::string case_name = c.name;
    CAPTURE(case_name);
    auto p = parse(c.text);
    CHECK(codes(p.diags) == c.expected);
  }
}

TEST_CASE("parser: syntax messages are ours, not ANTLR's") {
  auto p = parse("zone a\nzone b;");
  REQUIRE(p.diags.all().size() == 1);
  const auto& d = p.diags.all()[0];
  CHECK(d.message == "unexpected 'zone'; expected ';' or a string");
  CHECK(d.message.find("mismatched") == std::string::npos);
  auto q = parse("zone a \"open;\n");
  REQUIRE(q.diags.all().size() == 1);
  CHECK(q.diags.all()[0].message == "unterminated string: missing closing '\"' on this line");
}

TEST_CASE("parser: the sketch from the brief builds the expected model") {
  auto p = parse(R"P(
policy lync2013.public_im "Lync" { reference "JJ618376"; }
zone internet;
zone perimeter;
role pic_partner "Public IM connectivity partners" in internet;
role edge "Edge Server" {
  interface access "Access Edge external interface" in perimeter;
}
service sip_mtls "SIP (MTLS)" = tcp 5061;
service rtp "RTP" = tcp 50000-59999, udp 3478 sport 1024-65535;
service ping = icmp type 8 code 0, icmpv6, proto 47, any;
feature av "A/V";
flow access: pic_partner <-> edge.access via sip_mtls "federation";
flow deny av: edge.access -> pic_partner via rtp, ping when av {
  required; expires 2013-03-15; tags a, b; note "more"; suppress expired "kept for the record";
}
)P");
  REQUIRE(p.diags.all().empty());
  const PolicyFile& f = p.file;
  REQUIRE(f.headers.size() == 1);
  CHECK(f.headers[0].name == "lync2013.public_im");
  CHECK(f.headers[0].references == std::vector<std::string>{"JJ618376"});
  REQUIRE(f.roles.size() == 2);
  CHECK(f.roles[0].zone == "internet");
  REQUIRE(f.roles[1].interfaces.size() == 1);
  CHECK(f.roles[1].interfaces[0].zone == "perimeter");
  REQUIRE(f.services.size() == 3);
  CHECK(f.services[0].label == "SIP (MTLS)");
  const auto& rtp = f.services[1];
  REQUIRE(rtp.specs.size() == 2);
  auto tcp = std::get<PortMatch>(rtp.specs[0]);
  CHECK(tcp.proto == kProtoTcp);
  CHECK(tcp.dports == std::vector<PortRange>{{50000, 59999}});
  auto udp = std::get<PortMatch>(rtp.specs[1]);
  CHECK(udp.sports == std::vector<PortRange>{{1024, 65535}});
  const auto& ping = f.services[2];
  REQUIRE(ping.specs.size() == 4);
  CHECK(std::get<IcmpMatch>(ping.specs[0]).type == 8);
  CHECK(std::get<IcmpMatch>(ping.specs[0]).code == 0);
  CHECK(std::get<IcmpMatch>(ping.specs[1]).proto == kProtoIcmpV6);
  CHECK(!std::get<IcmpMatch>(ping.specs[1]).type);
  CHECK(std::get<ProtoMatch>(ping.specs[2]).number == 47);
  CHECK(std::holds_alternative<AnyMatch>(ping.specs[3]));
  REQUIRE(f.flows.size() == 2);
  const Flow& a = f.flows[0];
  CHECK(a.group == "access");
  CHECK(a.bidirectional);
  CHECK(a.action == Action::Allow);
  CHECK(a.dst.role == "edge");
  CHECK(a.dst.iface == "access");
  CHECK(a.note == "federation");
  CHECK(a.loc.line == 13);
  const Flow& b = f.flows[1];
  CHECK(b.action == Action::Deny);
  CHECK(!b.bidirectional);
  CHECK(b.services.size() == 2);
  REQUIRE(b.when);
  CHECK(b.when->str() == "av");
  CHECK(b.required);
  CHECK(b.expires == Date{2013, 3, 15});
  CHECK(b.tags == std::vector<std::string>{"a", "b"});
  CHECK(b.note == "more");
  REQUIRE(b.suppressions.size() == 1);
  CHECK(b.suppressions[0].code == "expired");
  CHECK(b.suppressions[0].reason == "kept for the record");
  CHECK(b.summary() == "deny av: edge.access -> pic_partner via rtp, ping");
}

TEST_CASE("parser: kebab-case check codes and escapes") {
  auto p = parse("suppress required-missing \"we know\";\nzone z \"a \\\"q\\\" b\\nc\";");
  REQUIRE(p.diags.all().empty());
  CHECK(p.file.suppressions.at(0).code == "required-missing");
  CHECK(p.file.zones.at(0).desc == "a \"q\" b\nc");
}

TEST_CASE("parser: keyword-like names are allowed where unambiguous") {
  auto p = parse("role type; role code; flow type -> code via proto;");
  CHECK(p.diags.all().empty());
  CHECK(p.file.flows.at(0).services.at(0).name == "proto");
}

TEST_CASE("parser: many errors are capped, not a flood") {
  std::string text;
  for (int i = 0; i < 100; ++i)
    text += "zone @;\n";
  auto p = parse(text);
  CHECK(p.diags.count(Severity::Error) <= 21);
  CHECK(p.diags.count(Severity::Error) >= 20);
}
