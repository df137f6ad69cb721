// OverlapIndex (compiler/checks/overlap_index.h): what the R-tree finds is exactly what a scan
// of every indexed set finds, on seeded random sets of nested prefixes and port ranges.
#include "checks/overlap_index.h"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

using namespace portolan;

namespace {

/// A random set: one to three boxes of nested IPv4 or IPv6 prefixes (a /16, a /24 in it, or a
/// host), a protocol and a port range, so sets overlap often but not always.
PacketSet random_set(std::mt19937& g) {
  auto in = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); };
  auto prefix = [&](bool v6) {
    int a = in(0, 3), b = in(0, 3), c = in(1, 4);
    std::string t;
    switch (in(0, 2)) {
    case 0:
      t = v6 ? "2001:db8:" + std::to_string(a) + "::/48" : "10." + std::to_string(a) + ".0.0/16";
      break;
    case 1:
      t = v6 ? "2001:db8:" + std::to_string(a) + ":" + std::to_string(b) + "::/64"
             : "10." + std::to_string(a) + "." + std::to_string(b) + ".0/24";
      break;
    default:
      t = v6 ? "2001:db8:" + std::to_string(a) + ":" + std::to_string(b) +
                   "::" + std::to_string(c) + "/128"
             : "10." + std::to_string(a) + "." + std::to_string(b) + "." + std::to_string(c) +
                   "/32";
    }
    return *parse_prefix(t).prefix;
  };
  PacketSet s;
  for (int n = in(1, 3); n-- > 0;) {
    bool v6 = in(0, 3) == 0;
    auto lo = static_cast<uint16_t>(in(0, 3) * 100);
    auto hi = static_cast<uint16_t>(lo + in(0, 2) * 100);
    auto proto = static_cast<uint8_t>(in(0, 1) ? 6 : 17);
    s.add(PacketSet::box(prefix(v6), prefix(v6), proto, proto, 0, 65535, lo, hi));
  }
  return s;
}

} // namespace

TEST_CASE("overlap index: query and any agree with a scan of every set") {
  for (unsigned seed = 1; seed <= 5; ++seed) {
    std::mt19937 g(seed);
    std::vector<PacketSet> sets;
    OverlapIndex index;
    // Several sets per id, as a chain's index holds every allow of the chain under one id.
    const size_t ids = 40;
    for (size_t k = 0; k < 300; ++k) {
      sets.push_back(random_set(g));
      index.add(k % ids, sets.back());
    }
    index.build();
    for (int q = 0; q < 200; ++q) {
      PacketSet query = random_set(g);
      std::vector<size_t> want;
      for (size_t id = 0; id < ids; ++id)
        for (size_t k = id; k < sets.size(); k += ids)
          if (sets[k].overlaps(query)) {
            want.push_back(id);
            break;
          }
      CHECK(index.query(query) == want);
      CHECK(index.any(query) == !want.empty());
    }
  }
}

TEST_CASE("overlap index: empty index and empty query") {
  OverlapIndex none;
  none.build();
  PacketSet q = PacketSet::all();
  CHECK(none.query(q).empty());
  CHECK_FALSE(none.any(q));
  OverlapIndex one;
  one.add(7, PacketSet::all_of(Family::V6));
  one.build();
  CHECK(one.query(PacketSet::all_of(Family::V4)).empty());
  CHECK(one.query(q) == std::vector<size_t>{7});
  CHECK(one.any(q));
  CHECK_FALSE(one.any(PacketSet{}));
}
