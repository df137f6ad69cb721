// The readers' tables of vendor special values (see the table at the top of each reader): each
// reader must interpret them as the vendor documents, not as our writer means them, so that a
// writer that emits one by mistake shows up as a permissive difference in the round trip.
#include "asa_reader.h"
#include "iptables_reader.h"
#include "nft_reader.h"
#include "pf_reader.h"

#include <doctest/doctest.h>

#include <string>

using namespace portolan;
using namespace portolan::roundtrip;

namespace {

Packet pkt(const char* src, const char* dst, uint8_t proto, uint16_t sport, uint16_t dport) {
  Packet p;
  p.src = *parse_ip(src);
  p.dst = *parse_ip(dst);
  p.proto = proto;
  p.sport = sport;
  p.dport = dport;
  return p;
}

const Packet kTcp22 = pkt("10.0.0.1", "10.0.0.2", 6, 40000, 22);
const Packet kEcho = pkt("10.0.0.1", "10.0.0.2", 1, 8, 0);
const Packet kTimestamp = pkt("10.0.0.1", "10.0.0.2", 1, 13, 0);
const Packet kType255 = pkt("10.0.0.1", "10.0.0.2", 1, 255, 0);
const Packet kEcho6 = pkt("2001:db8::1", "2001:db8::2", 58, 128, 0);
const Packet kType255v6 = pkt("2001:db8::1", "2001:db8::2", 58, 255, 0);
const Packet kNs6 = pkt("2001:db8::1", "2001:db8::2", 58, 135, 0);

PacketSet ipt(const std::string& rule, Family f = Family::V4) {
  IptRead r;
  read_iptables("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\n-A FORWARD " +
                    rule + " -j ACCEPT\nCOMMIT\n",
                f, r);
  return r.allowed.at(Chain::Forward);
}

PacketSet nft(const std::string& sets, const std::string& rule) {
  auto r =
      read_nft("table inet t {\n" + sets +
               "\tchain forward {\n\t\ttype filter hook forward priority 0; policy drop;\n\t\t" +
               rule + "\n\t}\n}\n");
  return r.allowed.at(Chain::Forward);
}

PacketSet pf(const std::string& rule) {
  return read_pf("block all\n" + rule + "\n").allowed.at(Chain::Forward);
}

} // namespace

TEST_CASE("iptables reader: the vendor's special values") {
  // iptables(8) -p: "The number zero is equivalent to all".
  CHECK(ipt("-s 10.0.0.1/32 -p 0").contains(kTcp22));
  CHECK(ipt("-p all").contains(kTcp22));
  CHECK(!ipt("-p 47").contains(kTcp22));
  CHECK(ipt("-p esp").contains(pkt("10.0.0.1", "10.0.0.2", 50, 0, 0)));
  // xt_icmp (ip_tables.c icmp_type_code_match): type 0xFF matches every type; "any" likewise.
  CHECK(ipt("-p icmp -m icmp --icmp-type 255").contains(kEcho));
  CHECK(ipt("-p icmp -m icmp --icmp-type 255").contains(kTimestamp));
  CHECK(ipt("-p icmp -m icmp --icmp-type any").contains(kTimestamp));
  // A type without a code matches every code; type/code only that code; names are types.
  CHECK(ipt("-p icmp -m icmp --icmp-type 8").contains(pkt("10.0.0.1", "10.0.0.2", 1, 8, 5)));
  CHECK(!ipt("-p icmp -m icmp --icmp-type 8/0").contains(pkt("10.0.0.1", "10.0.0.2", 1, 8, 5)));
  CHECK(!ipt("-p icmp -m icmp --icmp-type 8").contains(kTimestamp));
  CHECK(ipt("-p icmp -m icmp --icmp-type echo-request").contains(kEcho));
  // ip6_tables.c icmp6_type_code_match has no wildcard: 255 is type 255 only.
  PacketSet v6 = ipt("-p ipv6-icmp -m icmp6 --icmpv6-type 255", Family::V6);
  CHECK(v6.contains(kType255v6));
  CHECK(!v6.contains(kEcho6));
  // iptables-extensions(8) tcp: a missing first port is 0, a missing last one 65535.
  CHECK(ipt("-p tcp -m tcp --dport :22").contains(kTcp22));
  CHECK(ipt("-p tcp -m tcp --dport 22:").contains(pkt("10.0.0.1", "10.0.0.2", 6, 1, 65535)));
  CHECK(!ipt("-p tcp -m tcp --dport 23:").contains(kTcp22));
  // An inverted match is outside what the reader models: it refuses rather than guess.
  CHECK_THROWS_AS(ipt("! -s 10.0.0.1/32 -p tcp"), ReadError);
}

TEST_CASE("nft reader: the vendor's special values") {
  const std::string set_a = "\tset a {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = { "
                            "10.0.0.1 }\n\t}\n";
  const std::string set_a_again = "\tset a {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\t"
                                  "elements = { 10.0.0.9 }\n\t}\n";
  // meta l4proto 0 is protocol 0 only (nft has no "all" number).
  PacketSet p0 = nft(set_a, "ip saddr @a meta l4proto 0 accept");
  CHECK(!p0.contains(kTcp22));
  CHECK(p0.contains(pkt("10.0.0.1", "10.0.0.2", 0, 0, 0)));
  // A set declared twice is one set with both element lists (names that collide after
  // mangling give each role the other's addresses).
  PacketSet merged = nft(set_a + set_a_again, "ip saddr @a accept");
  CHECK(merged.contains(kTcp22));
  CHECK(merged.contains(pkt("10.0.0.9", "10.0.0.2", 6, 40000, 22)));
  // icmp type 255 is type 255 only; names and anonymous sets of types.
  PacketSet t255 = nft("", "icmp type 255 accept");
  CHECK(t255.contains(kType255));
  CHECK(!t255.contains(kEcho));
  CHECK(nft("", "icmp type echo-request accept").contains(kEcho));
  PacketSet nd = nft("", "icmpv6 type { nd-router-solicit, nd-neighbor-solicit } accept");
  CHECK(nd.contains(kNs6));
  CHECK(!nd.contains(kEcho6));
  CHECK(nft("", "meta l4proto esp accept").contains(pkt("10.0.0.1", "10.0.0.2", 50, 0, 0)));
}

TEST_CASE("pf reader: the vendor's special values") {
  // pf stores the protocol number; a rule with proto 0 matches every protocol.
  CHECK(pf("pass quick proto 0 from any to any").contains(kTcp22));
  // pfctl stores icmp-type as type + 1 in a byte: 255 wraps to 0, "any type"; code 255 too.
  PacketSet t255 = pf("pass quick inet proto icmp from any to any icmp-type 255 keep state");
  CHECK(t255.contains(kEcho));
  CHECK(t255.contains(kTimestamp));
  PacketSet c255 = pf("pass quick inet proto icmp from any to any icmp-type 8 code 255");
  CHECK(c255.contains(pkt("10.0.0.1", "10.0.0.2", 1, 8, 7)));
  CHECK(!c255.contains(kTimestamp));
  // A rule without in/out applies in both directions: the ND pass of host targets also lets
  // routed neighbour discovery through (issue 10 case 7), and no from/to means from any to any.
  PacketSet nd = pf(std::string(kPfNdRule));
  CHECK(nd.contains(kNs6));
  CHECK(!nd.contains(kEcho6));
  CHECK(!pf("pass in quick proto tcp from any to any").contains(kTcp22)); // in only: not routed
  CHECK(pf("pass quick proto tcp from any to any").contains(kTcp22));
}

TEST_CASE("asa reader: the vendor's special values") {
  auto acl = [](const std::string& ace) {
    AsaRead r =
        read_asa("access-list a_in extended " + ace + "\naccess-group a_in in interface a\n");
    return r.per_acl.at("a_in");
  };
  // ip is every protocol; 0 is read the same way (permissively: see the reader's table).
  CHECK(acl("permit ip any any").contains(kTcp22));
  CHECK(acl("permit 0 any any").contains(kTcp22));
  // icmp without a type: every type; a type without a code: every code; names are types.
  CHECK(acl("permit icmp any any").contains(kTimestamp));
  CHECK(acl("permit icmp any any 8").contains(pkt("10.0.0.1", "10.0.0.2", 1, 8, 3)));
  CHECK(!acl("permit icmp any any 8").contains(kTimestamp));
  CHECK(acl("permit icmp any any echo").contains(kEcho));
  CHECK(!acl("permit icmp any any echo-reply").contains(kEcho));
  CHECK(acl("permit icmp6 any any neighbor-solicitation").contains(kNs6));
}

TEST_CASE("nft reader: concatenated sets (wiki Concatenations, Intervals; nft(8) SETS)") {
  // An element matches when every field does; fields are prefixes or ranges in an interval
  // set, and one element comment has no effect.
  const std::string iv = "\tset s {\n\t\ttype ipv4_addr . ipv4_addr . inet_proto . inet_service\n"
                         "\t\tflags interval\n\t\telements = {\n"
                         "\t\t\t# a comment line\n"
                         "\t\t\t10.0.0.0/24 . 10.0.0.2 . tcp . 20-22 comment \"f1\",\n"
                         "\t\t\t10.9.0.1 . 10.0.0.2 . udp . 53 comment \"f2\"\n\t\t}\n\t}\n";
  PacketSet a = nft(iv, "ip saddr . ip daddr . meta l4proto . th dport @s accept");
  CHECK(a.contains(kTcp22));
  CHECK(!a.contains(pkt("10.0.0.1", "10.0.0.2", 6, 1, 23)));
  CHECK(!a.contains(pkt("10.0.0.1", "10.0.0.2", 17, 1, 22))); // tcp . 20-22 only
  CHECK(a.contains(pkt("10.9.0.1", "10.0.0.2", 17, 1, 53)));
  CHECK(!a.contains(pkt("10.9.0.1", "10.0.0.2", 17, 1, 22))); // no cross product of elements
  // A set without `flags interval` holds single values: a prefix there is refused.
  const std::string exact = "\tset s {\n\t\ttype ipv4_addr . inet_proto\n"
                            "\t\telements = { 10.0.0.0/24 . tcp }\n\t}\n";
  CHECK_THROWS_AS(nft(exact, "ip daddr . meta l4proto @s accept"), ReadError);
  // nft(8) RAW PAYLOAD EXPRESSION: th dport has no protocol dependency, so beside a protocol
  // without ports it is not a port: refused, never guessed.
  const std::string gre = "\tset s {\n\t\ttype ipv4_addr . inet_proto . inet_service\n"
                          "\t\telements = { 10.0.0.2 . 47 . 22 }\n\t}\n";
  CHECK_THROWS_AS(nft(gre, "ip daddr . meta l4proto . th dport @s accept"), ReadError);
  // The selectors must fit the set's field types.
  CHECK_THROWS_AS(nft(iv, "ip6 saddr . ip daddr . meta l4proto . th dport @s accept"), ReadError);
  CHECK_THROWS_AS(nft(iv, "ip saddr . ip daddr . meta l4proto @s accept"), ReadError);
}
