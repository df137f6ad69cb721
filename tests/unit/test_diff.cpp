// Tests for the region decomposition of `portolan diff` (compiler/diff.h): interval to prefixes,
// merging of boxes into regions, witnesses; then seeded properties (the regions are disjoint,
// give back exactly the set, and do not depend on how the set was built).
#include "diff.h"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

using namespace portolan;

namespace {

Prefix P(const char* text) {
  auto r = parse_prefix(text);
  REQUIRE_MESSAGE(r.prefix.has_value(), text);
  return *r.prefix;
}

IpAddr A(const char* text) {
  auto a = parse_ip(text);
  REQUIRE_MESSAGE(a.has_value(), text);
  return *a;
}

std::string prefixes(Family f, const char* lo, const char* hi) {
  std::string s;
  for (const Prefix& p : interval_prefixes(f, {addr_to_u128(A(lo)), addr_to_u128(A(hi))}))
    s += (s.empty() ? "" : " ") + p.str_with_len();
  return s;
}

std::vector<std::string> strs(const PacketSet& s) {
  std::vector<std::string> v;
  for (const Region& r : decompose(s))
    v.push_back(r.str());
  return v;
}

PacketSet tcp(const char* src, const char* dst, uint16_t lo, uint16_t hi) {
  return PacketSet::box(P(src), P(dst), ipproto::tcp, ipproto::tcp, 0, 65535, lo, hi);
}

} // namespace

TEST_CASE("diff: an address interval as the fewest prefixes") {
  CHECK(prefixes(Family::V4, "192.0.2.0", "192.0.2.255") == "192.0.2.0/24");
  CHECK(prefixes(Family::V4, "10.0.0.1", "10.0.0.6") ==
        "10.0.0.1/32 10.0.0.2/31 10.0.0.4/31 10.0.0.6/32");
  CHECK(prefixes(Family::V4, "0.0.0.0", "255.255.255.255") == "0.0.0.0/0");
  CHECK(prefixes(Family::V4, "255.255.255.254", "255.255.255.255") == "255.255.255.254/31");
  CHECK(prefixes(Family::V4, "255.255.255.255", "255.255.255.255") == "255.255.255.255/32");
  CHECK(prefixes(Family::V6, "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") == "::/0");
  CHECK(prefixes(Family::V6, "2001:db8::", "2001:db8::1:0") == "2001:db8::/112 2001:db8::1:0/128");
}

TEST_CASE("diff: boxes that differ in one dimension become one region") {
  // A prefix less one host: one region whose source is the rest of the prefix.
  PacketSet s = tcp("192.0.2.0/24", "198.51.100.10/32", 443, 443)
                    .subtract(tcp("192.0.2.66/32", "198.51.100.10/32", 443, 443));
  CHECK(strs(s) == std::vector<std::string>{
                       "src 192.0.2.0/26,192.0.2.64/31,192.0.2.67/32,192.0.2.68/30,192.0.2.72/29,"
                       "192.0.2.80/28,192.0.2.96/27,192.0.2.128/25 dst 198.51.100.10/32 proto tcp "
                       "dport 443"});
  // Port lists, and adjacent ranges joined.
  PacketSet ports = tcp("192.0.2.0/24", "198.51.100.10/32", 22, 22)
                        .unite(tcp("192.0.2.0/24", "198.51.100.10/32", 80, 81))
                        .unite(tcp("192.0.2.0/24", "198.51.100.10/32", 82, 90));
  CHECK(strs(ports) ==
        std::vector<std::string>{"src 192.0.2.0/24 dst 198.51.100.10/32 proto tcp dport 22,80-90"});
  // tcp and udp to the same port: one region, two protocols.
  PacketSet both = tcp("0.0.0.0/0", "198.51.100.10/32", 53, 53)
                       .unite(PacketSet::box(P("0.0.0.0/0"), P("198.51.100.10/32"), ipproto::udp,
                                             ipproto::udp, 0, 65535, 53, 53));
  CHECK(strs(both) ==
        std::vector<std::string>{"src 0.0.0.0/0 dst 198.51.100.10/32 proto tcp,udp dport 53"});
  // ICMP type 8 and tcp port 8 do not merge: the port dimensions mean different things.
  PacketSet mixed = tcp("0.0.0.0/0", "198.51.100.10/32", 8, 8)
                        .unite(PacketSet::box(P("0.0.0.0/0"), P("198.51.100.10/32"), ipproto::icmp,
                                              ipproto::icmp, 8, 8, 0, 65535));
  CHECK(strs(mixed) ==
        std::vector<std::string>{"src 0.0.0.0/0 dst 198.51.100.10/32 proto icmp type 8",
                                 "src 0.0.0.0/0 dst 198.51.100.10/32 proto tcp dport 8"});
  // Two destinations with the same service: one region, IPv4 before IPv6.
  PacketSet dual = tcp("::/0", "2001:db8::10/128", 443, 443)
                       .unite(tcp("0.0.0.0/0", "198.51.100.10/32", 443, 443))
                       .unite(tcp("0.0.0.0/0", "198.51.100.12/32", 443, 443));
  CHECK(strs(dual) == std::vector<std::string>{
                          "src 0.0.0.0/0 dst 198.51.100.10/32,198.51.100.12/32 proto tcp dport 443",
                          "src ::/0 dst 2001:db8::10/128 proto tcp dport 443"});
  CHECK(decompose(PacketSet::empty()).empty());
  CHECK(strs(PacketSet::all_of(Family::V4)) ==
        std::vector<std::string>{"src 0.0.0.0/0 dst 0.0.0.0/0"});
}

TEST_CASE("diff: a region's witness") {
  auto w = [](const PacketSet& s) { return decompose(s).at(0).witness().str(); };
  CHECK(w(tcp("192.0.2.0/24", "198.51.100.10/32", 443, 443)) ==
        "tcp 192.0.2.1 port 49152 -> 198.51.100.10 port 443");
  CHECK(w(PacketSet::box(P("192.0.2.7/32"), P("198.51.100.0/24"), ipproto::tcp, ipproto::tcp, 1,
                         1023, 22, 22)) == "tcp 192.0.2.7 port 1 -> 198.51.100.1 port 22");
  CHECK(w(PacketSet::box(P("192.0.2.7/32"), P("198.51.100.1/32"), ipproto::icmp, ipproto::icmp, 8,
                         8, 0, 65535)) == "icmp 192.0.2.7 -> 198.51.100.1 type 8 code 0");
  CHECK(w(PacketSet::box(P("192.0.2.7/32"), P("198.51.100.1/32"), 47, 47)) ==
        "proto 47 192.0.2.7 -> 198.51.100.1");
}

TEST_CASE("diff: regions are disjoint, give back the set, and do not depend on how it was built") {
  std::mt19937 rng(20261201);
  auto pick = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
  for (int round = 0; round < 200; ++round) {
    std::vector<PacketSet> parts;
    int n = 1 + static_cast<int>(pick(6));
    for (int i = 0; i < n; ++i) {
      IpAddr s = A("10.0.0.0"), d = A("10.0.1.0");
      s.bytes[3] = static_cast<uint8_t>(pick(16) * 16);
      d.bytes[3] = static_cast<uint8_t>(pick(4) * 64);
      uint8_t sl = static_cast<uint8_t>(28 + pick(5)), dl = static_cast<uint8_t>(26 + pick(7));
      Prefix sp = P((s.str() + "/" + std::to_string(sl)).c_str());
      Prefix dp = P((d.str() + "/" + std::to_string(dl)).c_str());
      uint8_t proto = pick(3) == 0 ? ipproto::udp : pick(2) ? ipproto::tcp : ipproto::icmp;
      uint16_t lo = static_cast<uint16_t>(pick(40)), hi = static_cast<uint16_t>(lo + pick(20));
      parts.push_back(proto == ipproto::icmp
                          ? PacketSet::box(sp, dp, proto, proto, lo, hi, 0, 65535)
                          : PacketSet::box(sp, dp, proto, proto, 0, 65535, lo, hi));
    }
    PacketSet fwd, rev;
    for (const PacketSet& p : parts)
      fwd.add(p);
    for (auto it = parts.rbegin(); it != parts.rend(); ++it)
      rev = rev.unite(*it);
    if (pick(2)) // and a hole, so that not every set is a plain union
      fwd = fwd.subtract(PacketSet::box(P("10.0.0.64/28"), P("10.0.1.0/24")));
    if (fwd != rev)
      rev = fwd.canonical(); // the same set, built another way
    auto rs = decompose(fwd);
    CHECK(rs == decompose(rev));
    PacketSet back;
    for (size_t i = 0; i < rs.size(); ++i) {
      PacketSet ri = rs[i].packets();
      CHECK_FALSE(ri.is_empty());
      CHECK(back.overlaps(ri) == false);
      CHECK(ri.contains(rs[i].witness()));
      back.add(ri);
    }
    CHECK(back == fwd);
    CHECK(rs.size() <= fwd.canonical().box_count());
  }
}
