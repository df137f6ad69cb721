// Tests for the packet-space engine: table-driven cases for the conventions, then seeded
// property tests checking the set algebra against brute-force membership of sampled packets.
#include "packetspace.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <tuple>
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

Packet pkt(const char* src, const char* dst, uint8_t proto, uint16_t sport = 0,
           uint16_t dport = 0) {
  return Packet{A(src), A(dst), proto, sport, dport};
}

PacketSet tcp_to(const char* dst, uint16_t dlo, uint16_t dhi) {
  Prefix d = P(dst);
  Prefix any = d.family() == Family::V4 ? any_v4() : any_v6();
  return PacketSet::box(any, d, ipproto::tcp, ipproto::tcp, 0, 65535, dlo, dhi);
}

} // namespace

TEST_CASE("packetspace: empty and all") {
  PacketSet e = PacketSet::empty();
  PacketSet all = PacketSet::all();
  CHECK(e.is_empty());
  CHECK_FALSE(all.is_empty());
  CHECK(e.str() == "{}");
  CHECK_FALSE(e.pick().has_value());
  CHECK(all.str() == "{src 0.0.0.0/0 dst 0.0.0.0/0 | src ::/0 dst ::/0}");
  CHECK(all.contains(pkt("1.2.3.4", "5.6.7.8", ipproto::tcp, 1, 2)));
  CHECK(all.contains(pkt("::1", "2001:db8::1", ipproto::udp, 53, 53)));
  CHECK(e.subset_of(all));
  CHECK_FALSE(all.subset_of(e));
  CHECK(all.complement().is_empty());
  CHECK(e.complement() == all);
  CHECK(e == PacketSet::box(P("10.0.0.0/8"), P("10.0.0.0/8"), 6, 5)); // inverted proto range
  CHECK(PacketSet::all_of(Family::V4).unite(PacketSet::all_of(Family::V6)) == all);
}

TEST_CASE("packetspace: box membership table") {
  PacketSet web = PacketSet::box(P("10.0.0.0/24"), P("192.168.1.0/28"), ipproto::tcp, ipproto::tcp,
                                 0, 65535, 80, 443);
  PacketSet dns6 = PacketSet::box(P("2001:db8::/64"), P("2001:db8:1::53"), ipproto::udp,
                                  ipproto::udp, 1024, 65535, 53, 53);
  struct Row {
    const PacketSet* set;
    Packet p;
    bool in;
  };
  const Row rows[] = {
      {&web, pkt("10.0.0.1", "192.168.1.1", ipproto::tcp, 5555, 80), true},
      {&web, pkt("10.0.0.255", "192.168.1.15", ipproto::tcp, 0, 443), true},
      {&web, pkt("10.0.0.0", "192.168.1.0", ipproto::tcp, 65535, 200), true},
      {&web, pkt("10.0.0.1", "192.168.1.1", ipproto::tcp, 5555, 79), false},
      {&web, pkt("10.0.0.1", "192.168.1.1", ipproto::tcp, 5555, 444), false},
      {&web, pkt("10.0.1.0", "192.168.1.1", ipproto::tcp, 5555, 80), false},
      {&web, pkt("9.255.255.255", "192.168.1.1", ipproto::tcp, 5555, 80), false},
      {&web, pkt("10.0.0.1", "192.168.1.16", ipproto::tcp, 5555, 80), false},
      {&web, pkt("10.0.0.1", "192.168.1.1", ipproto::udp, 5555, 80), false},
      {&web, pkt("::a00:1", "::c0a8:101", ipproto::tcp, 5555, 80), false},
      {&dns6, pkt("2001:db8::1", "2001:db8:1::53", ipproto::udp, 40000, 53), true},
      {&dns6, pkt("2001:db8::ffff", "2001:db8:1::53", ipproto::udp, 1024, 53), true},
      {&dns6, pkt("2001:db8::1", "2001:db8:1::53", ipproto::udp, 1023, 53), false},
      {&dns6, pkt("2001:db8:0:1::1", "2001:db8:1::53", ipproto::udp, 40000, 53), false},
      {&dns6, pkt("2001:db8::1", "2001:db8:1::54", ipproto::udp, 40000, 53), false},
      {&dns6, pkt("2001:db8::1", "2001:db8:1::53", ipproto::tcp, 40000, 53), false},
  };
  for (const Row& r : rows) {
    INFO(r.p.str());
    CHECK(r.set->contains(r.p) == r.in);
    CHECK(PacketSet::of(r.p).subset_of(*r.set) == r.in);
    CHECK(PacketSet::of(r.p).overlaps(*r.set) == r.in);
  }
}

TEST_CASE("packetspace: port ranges split and merge") {
  PacketSet a = tcp_to("10.0.0.1", 0, 1023);
  PacketSet b = tcp_to("10.0.0.1", 1024, 65535);
  PacketSet whole = tcp_to("10.0.0.1", 0, 65535);
  CHECK(a.unite(b) == whole);
  CHECK(a.unite(b).box_count() == 1);
  CHECK(whole.subtract(a) == b);
  CHECK(whole.subtract(tcp_to("10.0.0.1", 100, 200)).box_count() == 2);
  CHECK(whole.subtract(tcp_to("10.0.0.1", 100, 200)).unite(tcp_to("10.0.0.1", 100, 200)) == whole);
  CHECK(a.intersect(b).is_empty());
  CHECK_FALSE(a.overlaps(b));
  CHECK(tcp_to("10.0.0.1", 80, 80).subset_of(a));
  CHECK_FALSE(a.subset_of(tcp_to("10.0.0.1", 80, 80)));
  // Address halves merge back into the prefix.
  PacketSet lo = tcp_to("10.0.0.0/25", 80, 80), hi = tcp_to("10.0.0.128/25", 80, 80);
  CHECK(lo.unite(hi).box_count() == 1);
  CHECK(lo.unite(hi) == tcp_to("10.0.0.0/24", 80, 80));
  // Subtracting a hole then filling it gives back one box.
  PacketSet v4 = PacketSet::all_of(Family::V4);
  PacketSet holed =
      v4.subtract(PacketSet::box(P("10.0.0.0/8"), P("192.168.0.0/16"), 6, 6, 0, 65535, 22, 22));
  CHECK(holed.check_invariants().empty());
  CHECK(holed.box_count() > 1);
  CHECK(holed.unite(v4.subtract(holed)).box_count() == 1);
  CHECK(holed != v4);
}

TEST_CASE("packetspace: IPv4 and IPv6 never mix") {
  CHECK(PacketSet::box(P("10.0.0.0/8"), P("2001:db8::/32")).is_empty());
  CHECK(PacketSet::box(P("2001:db8::/32"), P("10.0.0.0/8")).is_empty());
  PacketSet v4 = PacketSet::all_of(Family::V4), v6 = PacketSet::all_of(Family::V6);
  CHECK(v4.intersect(v6).is_empty());
  CHECK(v4.subtract(v6) == v4);
  CHECK_FALSE(v4.overlaps(v6));
  CHECK_FALSE(v4 == v6);
  // Same integer values, different family.
  PacketSet lowv4 = PacketSet::box(P("0.0.0.0/24"), P("0.0.0.0/24"));
  PacketSet lowv6 = PacketSet::box(P("::/120"), P("::/120"));
  CHECK(lowv4.intersect(lowv6).is_empty());
  CHECK_FALSE(lowv4.contains(pkt("::1", "::1", 6, 1, 1)));
  CHECK(lowv6.contains(pkt("::1", "::1", 6, 1, 1)));
  // A packet with mixed families is in no set.
  CHECK_FALSE(PacketSet::all().contains(pkt("10.0.0.1", "::1", 6, 1, 1)));
  CHECK(PacketSet::all().pick()->src.family == Family::V4);
  CHECK(v6.pick()->src.family == Family::V6);
}

TEST_CASE("packetspace: ICMP type/code live in the port dimensions") {
  Prefix any = any_v4();
  PacketSet echo = PacketSet::box(any, any, ipproto::icmp, ipproto::icmp, 8, 8, 0, 0);
  CHECK(echo.contains(pkt("1.1.1.1", "2.2.2.2", ipproto::icmp, 8, 0)));
  CHECK_FALSE(echo.contains(pkt("1.1.1.1", "2.2.2.2", ipproto::icmp, 0, 0)));
  CHECK_FALSE(echo.contains(pkt("1.1.1.1", "2.2.2.2", ipproto::icmp, 8, 1)));
  CHECK(echo.str() == "{src 0.0.0.0/0 dst 0.0.0.0/0 proto icmp type 8 code 0}");
  CHECK(echo.pick()->str() == "icmp 0.0.0.0 -> 0.0.0.0 type 8 code 0");
  // Type/code above 255 do not exist: "0-255" and "any" are the same set.
  PacketSet all_icmp = PacketSet::box(any, any, ipproto::icmp, ipproto::icmp);
  CHECK(PacketSet::box(any, any, ipproto::icmp, ipproto::icmp, 0, 255, 0, 255) == all_icmp);
  CHECK(PacketSet::box(any, any, ipproto::icmp, ipproto::icmp, 300, 400).is_empty());
  CHECK(PacketSet::box(any, any, ipproto::icmp, ipproto::icmp, 200, 400) ==
        PacketSet::box(any, any, ipproto::icmp, ipproto::icmp, 200, 255));
  CHECK(all_icmp.str() == "{src 0.0.0.0/0 dst 0.0.0.0/0 proto icmp}");
  CHECK(all_icmp.subtract(echo).str() ==
        "{src 0.0.0.0/0 dst 0.0.0.0/0 proto icmp type 0-7 | "
        "src 0.0.0.0/0 dst 0.0.0.0/0 proto icmp type 8 code 1-255 | "
        "src 0.0.0.0/0 dst 0.0.0.0/0 proto icmp type 9-255}");
  PacketSet echo6 = PacketSet::box(any_v6(), any_v6(), ipproto::icmpv6, ipproto::icmpv6, 128, 128);
  CHECK(echo6.contains(pkt("::1", "::2", ipproto::icmpv6, 128, 0)));
  CHECK(echo6.contains(pkt("::1", "::2", ipproto::icmpv6, 128, 255)));
  CHECK_FALSE(echo6.contains(pkt("::1", "::2", ipproto::icmpv6, 129, 0)));
}

TEST_CASE("packetspace: protocols without ports match any port") {
  Prefix any = any_v4();
  PacketSet gre = PacketSet::box(any, any, 47, 47);
  CHECK(PacketSet::box(any, any, 47, 47, 0, 0, 0, 0) == gre);
  CHECK(PacketSet::box(any, any, 47, 47, 0, 10, 0, 10) == gre);
  CHECK(PacketSet::box(any, any, 47, 47, 1, 10).is_empty());
  CHECK(gre.contains(pkt("1.1.1.1", "2.2.2.2", 47)));
  CHECK(gre.contains(pkt("1.1.1.1", "2.2.2.2", 47, 1234, 80)));
  CHECK(gre.str() == "{src 0.0.0.0/0 dst 0.0.0.0/0 proto 47}");
  // "Any protocol, destination port 80": ports for tcp/udp/sctp, code 80 for ICMP, no GRE.
  PacketSet port80 = PacketSet::box(any, any, 0, 255, 0, 65535, 80, 80);
  CHECK(port80.contains(pkt("1.1.1.1", "2.2.2.2", ipproto::tcp, 9, 80)));
  CHECK(port80.contains(pkt("1.1.1.1", "2.2.2.2", ipproto::udp, 9, 80)));
  CHECK(port80.contains(pkt("1.1.1.1", "2.2.2.2", ipproto::sctp, 9, 80)));
  CHECK(port80.contains(pkt("1.1.1.1", "2.2.2.2", ipproto::icmp, 3, 80)));
  CHECK_FALSE(port80.contains(pkt("1.1.1.1", "2.2.2.2", 47, 9, 80)));
  CHECK_FALSE(port80.contains(pkt("1.1.1.1", "2.2.2.2", 0)));
  CHECK(port80.pick()->str() == "icmp 0.0.0.0 -> 0.0.0.0 type 0 code 80");
  CHECK(port80.unite(port80.complement()) == PacketSet::all());
  // Port 0 only, over all protocols: every portless protocol, and nothing above port 0.
  PacketSet zero = PacketSet::box(any, any, 0, 255, 0, 0, 0, 0);
  CHECK(zero.contains(pkt("1.1.1.1", "2.2.2.2", 47, 5, 5)));
  CHECK(zero.contains(pkt("1.1.1.1", "2.2.2.2", ipproto::tcp, 0, 0)));
  CHECK_FALSE(zero.contains(pkt("1.1.1.1", "2.2.2.2", ipproto::tcp, 0, 1)));
  CHECK(zero.unite(PacketSet::box(any, any, 0, 255, 1, 65535))
            .unite(PacketSet::box(any, any, 0, 255, 0, 0, 1, 65535)) ==
        PacketSet::all_of(Family::V4));
}

TEST_CASE("packetspace: pick is the lowest member") {
  PacketSet s = PacketSet::box(P("10.0.0.0/24"), P("10.0.1.0/24"), ipproto::tcp, ipproto::tcp, 0,
                               65535, 80, 90);
  REQUIRE(s.pick().has_value());
  CHECK(*s.pick() == pkt("10.0.0.0", "10.0.1.0", ipproto::tcp, 0, 80));
  CHECK(s.contains(*s.pick()));
  PacketSet t = s.subtract(PacketSet::of(*s.pick()));
  CHECK(*t.pick() == pkt("10.0.0.0", "10.0.1.0", ipproto::tcp, 0, 81));
  PacketSet first_sport =
      PacketSet::box(P("10.0.0.0"), P("10.0.1.0"), ipproto::tcp, ipproto::tcp, 0, 0, 0, 65535);
  CHECK(*t.subtract(first_sport).pick() == pkt("10.0.0.0", "10.0.1.0", ipproto::tcp, 1, 80));
  CHECK(*PacketSet::all().pick() == pkt("0.0.0.0", "0.0.0.0", 0));
  PacketSet mixed = PacketSet::box(P("2001:db8::/32"), P("::/0")).unite(s);
  CHECK(mixed.pick()->src.family == Family::V4);
  CHECK(mixed.subtract(s).pick()->str() == "proto 0 2001:db8:: -> ::");
}

TEST_CASE("packetspace: str is canonical and readable") {
  PacketSet a = tcp_to("10.0.0.0/24", 80, 80);
  PacketSet b = tcp_to("10.0.0.0/25", 80, 80).unite(tcp_to("10.0.0.128/25", 80, 80));
  PacketSet c = tcp_to("10.0.0.0/24", 0, 65535)
                    .subtract(tcp_to("10.0.0.0/24", 0, 79))
                    .subtract(tcp_to("10.0.0.0/24", 81, 65535));
  CHECK(a.str() == "{src 0.0.0.0/0 dst 10.0.0.0/24 proto tcp dport 80}");
  CHECK(b.str() == a.str());
  CHECK(c.str() == a.str());
  PacketSet r = PacketSet::box(AddrRange{A("10.0.0.3"), A("10.0.0.9")}, AddrRange::of(P("::/0")));
  CHECK(r.is_empty()); // families differ
  r = PacketSet::box(AddrRange{A("10.0.0.3"), A("10.0.0.9")}, AddrRange::host(A("10.1.1.1")), 17,
                     17, 5, 6);
  CHECK(r.str() == "{src 10.0.0.3-10.0.0.9 dst 10.1.1.1/32 proto udp sport 5-6}");
  CHECK(PacketSet::box(any_v6(), P("2001:db8::1"), 0, 5).str() ==
        "{src ::/0 dst 2001:db8::1/128 proto 0-5}");
  CHECK(pkt("10.0.0.1", "10.0.0.2", ipproto::tcp, 1234, 80).str() ==
        "tcp 10.0.0.1 port 1234 -> 10.0.0.2 port 80");
  CHECK(pkt("::1", "::2", 50).str() == "proto 50 ::1 -> ::2");
  CHECK(pkt("::1", "::2", ipproto::icmpv6, 128, 0).str() == "icmpv6 ::1 -> ::2 type 128 code 0");
}

// ---------------------------------------------------------------------------------------------
// Property tests over a small universe, checked against brute-force membership.

namespace {

uint64_t test_seed() {
  if (const char* s = std::getenv("PORTOLAN_SEED"))
    return std::strtoull(s, nullptr, 0);
  return 20240601;
}

/// One generating box, kept as plain numbers so membership can be checked without the engine.
struct Spec {
  Family fam;
  u128 slo, shi, dlo, dhi;
  int plo, phi, splo, sphi, dplo, dphi;
};

struct Model {
  std::vector<Spec> boxes;
  PacketSet set;
};

class Gen {
public:
  explicit Gen(uint64_t seed) : rng_(seed) {}

  int pick_int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  template <class T>
  T choose(const std::vector<T>& v) {
    return v[static_cast<size_t>(pick_int(0, static_cast<int>(v.size()) - 1))];
  }

  /// Addresses near the interesting spots: two /28s, their /24, and the family's edges.
  u128 addr(Family f) {
    u128 base1 = f == Family::V4 ? addr_to_u128(A("10.0.0.0")) : addr_to_u128(A("2001:db8::"));
    u128 base2 = f == Family::V4 ? addr_to_u128(A("10.0.1.0")) : addr_to_u128(A("2001:db8::1:0"));
    u128 max = f == Family::V4 ? u128(0xffffffffu) : ~u128(0);
    switch (pick_int(0, 9)) {
    case 0:
      return 0;
    case 1:
      return max;
    case 2:
      return base1 + static_cast<u128>(pick_int(16, 255));
    case 3:
    case 4:
    case 5:
      return base2 + static_cast<u128>(pick_int(0, 15));
    default:
      return base1 + static_cast<u128>(pick_int(0, 15));
    }
  }

  Interval addr_range(Family f) {
    int bits = f == Family::V4 ? 32 : 128;
    if (pick_int(0, 1) == 0) { // a prefix
      int len = choose(std::vector<int>{0, 0, 8, 23, 24, 24, 26, 28, 28, 29, 30, 31, bits});
      if (f == Family::V6 && len > 0 && len < 24)
        len += 96;
      u128 a = addr(f);
      u128 host = len >= bits ? 0 : (len == 0 ? ~u128(0) : ((u128(1) << (bits - len)) - 1));
      if (f == Family::V4 && len == 0)
        host = 0xffffffffu;
      return {a & ~host, (a & ~host) | host};
    }
    u128 x = addr(f), y = addr(f);
    return {std::min(x, y), std::max(x, y)};
  }

  std::pair<int, int> range(const std::vector<int>& pool, int full_hi) {
    if (pick_int(0, 4) <= 1)
      return {0, full_hi};
    int x = choose(pool), y = choose(pool);
    if (pick_int(0, 1) == 0)
      y = x;
    return {std::min(x, y), std::max(x, y)};
  }

  Spec spec() {
    Spec s;
    s.fam = pick_int(0, 3) == 0 ? Family::V6 : Family::V4;
    Interval src = addr_range(s.fam), dst = addr_range(s.fam);
    s.slo = src.lo, s.shi = src.hi, s.dlo = dst.lo, s.dhi = dst.hi;
    std::tie(s.plo, s.phi) = range(protos_, 255);
    std::tie(s.splo, s.sphi) = range(ports_, 65535);
    std::tie(s.dplo, s.dphi) = range(ports_, 65535);
    return s;
  }

  static PacketSet box_of(const Spec& s) {
    return PacketSet::box(AddrRange{u128_to_addr(s.fam, s.slo), u128_to_addr(s.fam, s.shi)},
                          AddrRange{u128_to_addr(s.fam, s.dlo), u128_to_addr(s.fam, s.dhi)},
                          static_cast<uint8_t>(s.plo), static_cast<uint8_t>(s.phi),
                          static_cast<uint16_t>(s.splo), static_cast<uint16_t>(s.sphi),
                          static_cast<uint16_t>(s.dplo), static_cast<uint16_t>(s.dphi));
  }

  static Model build(std::vector<Spec> specs) {
    Model m;
    m.boxes = std::move(specs);
    for (const Spec& s : m.boxes)
      m.set = m.set.unite(box_of(s));
    return m;
  }

  Model model() {
    std::vector<Spec> specs;
    int n = pick_int(0, 4);
    for (int i = 0; i < n; ++i)
      specs.push_back(spec());
    return build(specs);
  }

  /// A model related to `base`, so that subsets and equal sets come up often: a shrunk copy
  /// (subset, or partly overlapping), an extended copy (superset), the same boxes cut in two
  /// (equal, built differently), or an unrelated model.
  Model related(const Model& base) {
    std::vector<Spec> specs;
    switch (pick_int(0, 3)) {
    case 0:
      for (Spec s : base.boxes) {
        if (pick_int(0, 3) == 0)
          continue;
        shrink(s);
        specs.push_back(s);
      }
      if (pick_int(0, 1) == 0) // no longer a subset, but overlapping
        specs.push_back(spec());
      break;
    case 1:
      specs = base.boxes;
      specs.push_back(spec());
      break;
    case 2:
      for (const Spec& s : base.boxes) {
        Spec lo = s, hi = s;
        if (split(lo, hi)) {
          specs.push_back(hi);
          specs.push_back(lo);
        } else {
          specs.push_back(s);
        }
      }
      break;
    default:
      return model();
    }
    return build(specs);
  }

  /// Narrows lo..hi to a random non-empty middle part.
  template <class T>
  void narrow(T& lo, T& hi) {
    T span = hi - lo;
    T a = lo + span / static_cast<T>(pick_int(2, 5));
    T b = hi - span / static_cast<T>(pick_int(2, 5));
    if (a <= b)
      lo = a, hi = b;
  }

  void shrink(Spec& s) {
    switch (pick_int(0, 4)) {
    case 0:
      return narrow(s.slo, s.shi);
    case 1:
      return narrow(s.dlo, s.dhi);
    case 2:
      return narrow(s.plo, s.phi);
    case 3:
      return narrow(s.splo, s.sphi);
    default:
      return narrow(s.dplo, s.dphi);
    }
  }

  /// Cuts a box in two along a random dimension: lo keeps the lower part, hi the upper.
  bool split(Spec& lo, Spec& hi) {
    auto cut = [](auto& lo_lo, auto& lo_hi, auto& hi_lo) {
      if (lo_lo == lo_hi)
        return false;
      lo_hi = lo_lo + (lo_hi - lo_lo) / 2;
      hi_lo = lo_hi + 1;
      return true;
    };
    switch (pick_int(0, 4)) {
    case 0:
      return cut(lo.slo, lo.shi, hi.slo);
    case 1:
      return cut(lo.dlo, lo.dhi, hi.dlo);
    case 2:
      return cut(lo.plo, lo.phi, hi.plo);
    case 3:
      return cut(lo.splo, lo.sphi, hi.splo);
    default:
      return cut(lo.dplo, lo.dphi, hi.dplo);
    }
  }

  /// A concrete packet: ports only for tcp/udp/sctp, type/code <= 255 for ICMP, else zero.
  Packet packet() {
    Packet p;
    Family f = pick_int(0, 3) == 0 ? Family::V6 : Family::V4;
    p.src = u128_to_addr(f, addr(f));
    p.dst = u128_to_addr(f, addr(f));
    p.proto = static_cast<uint8_t>(choose(protos_));
    if (p.proto == ipproto::tcp || p.proto == ipproto::udp || p.proto == ipproto::sctp) {
      p.sport = static_cast<uint16_t>(choose(ports_));
      p.dport = static_cast<uint16_t>(choose(ports_));
    } else if (p.proto == ipproto::icmp || p.proto == ipproto::icmpv6) {
      p.sport = static_cast<uint16_t>(choose(icmp_values_));
      p.dport = static_cast<uint16_t>(choose(icmp_values_));
    }
    return p;
  }

  uint16_t any_port() { return static_cast<uint16_t>(choose(ports_)); }

private:
  std::mt19937_64 rng_;
  std::vector<int> protos_{0, 1, 2, 5, 6, 7, 17, 47, 58, 132, 254, 255};
  std::vector<int> ports_{0, 1, 2, 3, 7, 8, 254, 255, 256, 1023, 65534, 65535};
  std::vector<int> icmp_values_{0, 1, 2, 3, 7, 8, 254, 255};
};

bool in_spec(const Spec& s, const Packet& p) {
  if (p.src.family != s.fam || p.dst.family != s.fam)
    return false;
  u128 src = addr_to_u128(p.src), dst = addr_to_u128(p.dst);
  return s.slo <= src && src <= s.shi && s.dlo <= dst && dst <= s.dhi && s.plo <= p.proto &&
         p.proto <= s.phi && s.splo <= p.sport && p.sport <= s.sphi && s.dplo <= p.dport &&
         p.dport <= s.dphi;
}

bool in_model(const Model& m, const Packet& p) {
  for (const Spec& s : m.boxes)
    if (in_spec(s, p))
      return true;
  return false;
}

} // namespace

TEST_CASE("packetspace: algebraic laws and brute-force membership (seeded)") {
  const uint64_t seed = test_seed();
  MESSAGE("packetspace property seed: PORTOLAN_SEED=" << seed);
  Gen g(seed);
  const PacketSet all = PacketSet::all();
  const int kCases = 300, kSamples = 48;
  for (int iter = 0; iter < kCases; ++iter) {
    Model ma = g.model();
    Model mb = g.related(ma);
    Model mc = g.pick_int(0, 1) ? g.related(ma) : g.related(mb);
    const PacketSet &a = ma.set, &b = mb.set, &c = mc.set;
    INFO("seed " << seed << " case " << iter);
    INFO("A = " << a.str());
    INFO("B = " << b.str());
    INFO("C = " << c.str());

    PacketSet u = a.unite(b), i = a.intersect(b), d = a.subtract(b), na = a.complement();
    for (const PacketSet* s : std::initializer_list<const PacketSet*>{&a, &b, &c, &u, &i, &d, &na})
      REQUIRE(s->check_invariants() == "");

    // Brute force on sampled concrete packets.
    for (int k = 0; k < kSamples; ++k) {
      Packet p = g.packet();
      bool in_a = in_model(ma, p), in_b = in_model(mb, p);
      INFO("packet " << p.str());
      REQUIRE(a.contains(p) == in_a);
      REQUIRE(b.contains(p) == in_b);
      REQUIRE(u.contains(p) == (in_a || in_b));
      REQUIRE(i.contains(p) == (in_a && in_b));
      REQUIRE(d.contains(p) == (in_a && !in_b));
      REQUIRE(na.contains(p) == !in_a);
      if (in_a) {
        REQUIRE(*a.pick() <= p);
        REQUIRE(PacketSet::of(p).subset_of(a));
      } else {
        REQUIRE_FALSE(a.unite(PacketSet::of(p)) == a);
      }
      if (p.proto != ipproto::tcp && p.proto != ipproto::udp && p.proto != ipproto::sctp &&
          p.proto != ipproto::icmp && p.proto != ipproto::icmpv6) {
        Packet q = p;
        q.sport = g.any_port();
        q.dport = g.any_port();
        REQUIRE(a.contains(q) == in_a);
      }
    }

    // pick() is a concrete member, and nullopt exactly for the empty set.
    REQUIRE(a.pick().has_value() == !a.is_empty());
    if (auto p = a.pick()) {
      REQUIRE(a.contains(*p));
      REQUIRE(in_model(ma, *p));
    }

    // Commutativity, associativity, distributivity.
    CHECK(u == b.unite(a));
    CHECK(i == b.intersect(a));
    CHECK(u.unite(c) == a.unite(b.unite(c)));
    CHECK(i.intersect(c) == a.intersect(b.intersect(c)));
    CHECK(a.intersect(b.unite(c)) == i.unite(a.intersect(c)));
    CHECK(a.unite(b.intersect(c)) == u.intersect(a.unite(c)));
    // De Morgan via complement.
    CHECK(u.complement() == na.intersect(b.complement()));
    CHECK(i.complement() == na.unite(b.complement()));
    CHECK(na.complement() == a);
    CHECK(a.unite(na) == all);
    CHECK(a.intersect(na).is_empty());
    // Difference.
    CHECK(d.unite(i) == a);
    CHECK(d.intersect(b).is_empty());
    CHECK(d == a.intersect(b.complement()));
    CHECK(a.subtract(a).is_empty());
    CHECK(a.unite(a) == a);
    CHECK(a.intersect(a) == a);
    // Order relations.
    CHECK(a.subset_of(u));
    CHECK(i.subset_of(a));
    bool sub = a.subset_of(b);
    CHECK(sub == (u == b));
    CHECK(sub == d.is_empty());
    CHECK(sub == (i == a));
    CHECK(a.overlaps(b) == !i.is_empty());
    // In-place forms agree with the value forms.
    PacketSet e = a;
    e.add(b);
    CHECK(e.check_invariants() == "");
    CHECK(e == u);
    e.remove(c);
    CHECK(e.check_invariants() == "");
    CHECK(e == u.subtract(c));
    CHECK((a == b) == (sub && b.subset_of(a)));
    // Canonical form: same set, unique text.
    PacketSet ca = a.canonical();
    CHECK(ca.check_invariants() == "");
    CHECK(ca == a);
    CHECK(u.str() == b.unite(a).str());
    CHECK(d.unite(i).str() == a.str());
    CHECK(na.complement().str() == a.str());
  }
}

TEST_CASE("packetspace: long add/remove sequences agree with replaying them (seeded)") {
  // Large sets exercise the index (node splits, several levels, dissolving underfull nodes)
  // and the batched merging; the oracle replays the operations for each sampled packet.
  const uint64_t seed = test_seed() + 2;
  INFO("seed " << seed);
  Gen g(seed);
  struct Op {
    Spec box;
    bool add;
  };
  std::vector<Op> ops;
  PacketSet s;
  size_t most = 0;
  const int kOps = 150;
  for (int k = 0; k < kOps; ++k) {
    Op op{g.spec(), g.pick_int(0, 2) != 0};
    ops.push_back(op);
    PacketSet b = Gen::box_of(op.box);
    if (op.add)
      s.add(b);
    else
      s.remove(b);
    most = std::max(most, s.box_count());
    if (k % 50 == 49) {
      INFO("after op " << k);
      REQUIRE(s.check_invariants() == "");
      for (int n = 0; n < 200; ++n) {
        Packet p = g.packet();
        bool in = false;
        for (const Op& o : ops)
          if (in_spec(o.box, p))
            in = o.add;
        INFO("packet " << p.str());
        REQUIRE(s.contains(p) == in);
      }
    }
  }
  MESSAGE("largest set: " << most << " boxes");
  CHECK(most > 300);
  // The value forms and the in-place forms agree on large sets too.
  PacketSet t = PacketSet::empty();
  for (const Op& o : ops)
    t = o.add ? t.unite(Gen::box_of(o.box)) : t.subtract(Gen::box_of(o.box));
  CHECK(t == s);
  CHECK(s.complement().complement() == s);
  CHECK(s.unite(s.complement()) == PacketSet::all());
  CHECK(s.canonical() == s);
  CHECK(s.canonical().str() == t.str());
}

TEST_CASE("packetspace: first-match residue over many rules stays small and fast") {
  // Rules like a real policy: host/subnet pairs with a protocol and a port.
  Gen g(test_seed() + 1);
  PacketSet remaining = PacketSet::all();
  PacketSet matched;
  const int kRules = 2000;
  for (int r = 0; r < kRules; ++r) {
    uint32_t net = 0x0a000000u | static_cast<uint32_t>(g.pick_int(0, 255) << 8);
    Prefix src{u128_to_addr(Family::V4, net), 24};
    Prefix dst{u128_to_addr(Family::V4, 0xc0a80000u | static_cast<uint32_t>(g.pick_int(0, 63))),
               32};
    uint8_t proto = g.pick_int(0, 1) ? ipproto::tcp : ipproto::udp;
    uint16_t port = static_cast<uint16_t>(g.pick_int(1, 1024));
    PacketSet rule = PacketSet::box(src, dst, proto, proto, 0, 65535, port, port);
    matched.add(rule.intersect(remaining));
    remaining.remove(rule);
  }
  CHECK(matched.check_invariants() == "");
  CHECK(matched.unite(remaining) == PacketSet::all());
  CHECK_FALSE(matched.overlaps(remaining));
  MESSAGE("boxes after " << kRules << " rules: matched " << matched.box_count() << ", remaining "
                         << remaining.box_count());
}

TEST_CASE("packetspace: copies share their boxes until one side is edited (seeded)") {
  // A set's copies (the views of a target hold the environment's sets this way) share one
  // tree; an edit of either side copies it first, so no copy ever sees another's edits. Each
  // snapshot of a long add/remove sequence is checked against the same operations replayed
  // into a set of its own, after the original and the other copies went on being edited.
  const uint64_t seed = test_seed() + 3;
  INFO("seed " << seed);
  Gen g(seed);
  struct Op {
    Spec box;
    bool add;
  };
  std::vector<Op> ops;
  auto replay = [&](size_t n) {
    PacketSet r;
    for (size_t k = 0; k < n; ++k)
      r = ops[k].add ? r.unite(Gen::box_of(ops[k].box)) : r.subtract(Gen::box_of(ops[k].box));
    return r;
  };
  struct Snap {
    PacketSet copy;
    size_t ops;
  };
  std::vector<Snap> snaps;
  PacketSet s;
  for (int k = 0; k < 120; ++k) {
    Op op{g.spec(), g.pick_int(0, 2) != 0};
    ops.push_back(op);
    PacketSet b = Gen::box_of(op.box);
    op.add ? s.add(b) : s.remove(b);
    if (k % 15 == 14) {
      snaps.push_back({s, ops.size()});
      REQUIRE(snaps.back().copy.shares_boxes_with(s));
    }
  }
  for (Snap& sn : snaps) {
    INFO("snapshot after " << sn.ops << " operations");
    REQUIRE(sn.copy.check_invariants() == "");
    CHECK(sn.copy == replay(sn.ops));
  }
  // Editing a copy leaves the original and the other copies as they were.
  PacketSet before = replay(ops.size());
  for (Snap& sn : snaps) {
    sn.copy.remove(Gen::box_of(g.spec()));
    sn.copy.add(Gen::box_of(g.spec()));
    REQUIRE(sn.copy.check_invariants() == "");
  }
  CHECK(s == before);
  CHECK(s.check_invariants() == "");

  // Adding to an empty set shares the other set's boxes; a remove that cuts nothing keeps
  // sharing; the first edit that changes something copies, and the source stays whole.
  PacketSet src = tcp_to("10.1.0.0/16", 80, 80).unite(tcp_to("2001:db8::/32", 443, 443));
  const std::string text = src.str();
  PacketSet view;
  view.add(src);
  CHECK(view.shares_boxes_with(src));
  view.remove(tcp_to("192.168.0.0/16", 80, 80));
  CHECK(view.shares_boxes_with(src));
  view.remove(tcp_to("10.1.2.0/24", 80, 80));
  CHECK_FALSE(view.shares_boxes_with(src));
  CHECK(src.str() == text);
  CHECK(view.str() != text);
  CHECK(view.check_invariants() == "");
  PacketSet other = src;
  other.add(tcp_to("10.2.0.0/16", 22, 22));
  CHECK(src.str() == text);
  CHECK(other.contains(pkt("1.2.3.4", "10.2.0.1", ipproto::tcp, 1000, 22)));
  CHECK_FALSE(src.contains(pkt("1.2.3.4", "10.2.0.1", ipproto::tcp, 1000, 22)));
}

TEST_CASE("packetspace: a one-box list holds no node and grows into a tree as before") {
  // One box a family is stored without an R-tree node; a second box makes it the root leaf's
  // first, as inserting both into a tree did. Every step keeps the invariants and the packets.
  PacketSet one = tcp_to("10.1.0.0/16", 80, 80);
  CHECK(one.check_invariants() == "");
  CHECK(one.box_count() == 1);
  CHECK(one.contains(pkt("1.2.3.4", "10.1.2.3", ipproto::tcp, 999, 80)));
  CHECK(one.overlaps(tcp_to("10.1.2.0/24", 0, 65535)));
  CHECK_FALSE(one.overlaps(tcp_to("10.2.0.0/16", 80, 80)));
  CHECK(one.subset_of(tcp_to("10.0.0.0/8", 80, 80)));
  CHECK(one.intersect(tcp_to("10.1.2.0/24", 0, 65535)) == tcp_to("10.1.2.0/24", 80, 80));
  // Removed whole, then added again: empty, then one box.
  PacketSet s = one;
  s.remove(tcp_to("10.0.0.0/8", 0, 65535));
  CHECK(s.is_empty());
  CHECK(s.check_invariants() == "");
  s.add(one);
  CHECK(s == one);
  // Grown past one box and one node (kMaxFill 16), then cut back, against a set built at once.
  PacketSet grown = one, same;
  std::vector<PacketSet> parts;
  for (int k = 0; k < 40; ++k) {
    PacketSet part = tcp_to(("10.2." + std::to_string(k) + ".0/24").c_str(), 22, 22);
    grown.add(part);
    parts.push_back(part);
    REQUIRE(grown.check_invariants() == "");
  }
  for (const PacketSet& part : parts)
    same = same.unite(part);
  CHECK(grown == same.unite(one));
  CHECK(grown.box_count() >= 2);
  grown.remove(tcp_to("10.2.0.0/16", 0, 65535));
  CHECK(grown.check_invariants() == "");
  CHECK(grown == one);
  CHECK(grown.str() == one.str());
}
