// The packet-space engine: exact sets of packets, so that reachability, shadowing, redundancy and
// policy-vs-ruleset equivalence can be decided precisely rather than approximated.
//
// A packet is a point in five dimensions: (source address, destination address, IP protocol,
// source port, destination port). Both addresses are of the same family; IPv4 and IPv6 packets
// never mix, and a set keeps the two families apart.
//
// Port conventions (they make every concrete packet a single point):
//   * tcp (6), udp (17), sctp (132): the port dimensions are the real ports, 0-65535.
//   * icmp (1) and icmpv6 (58), in either family: source port = ICMP type (0-255),
//     destination port = ICMP code (0-255).
//   * every other protocol has no ports: a concrete packet has sport = dport = 0.
// Sets are "port-agnostic" where ports do not exist: a set contains, for a portless protocol,
// either every port value or none, and for ICMP the values 256-65535 of type/code are present
// exactly when 255 is. So `box(any, any, proto 47, ports any)` and a box asking for GRE with
// port 0 are the same set, "proto any, dport 80" contains tcp/udp/sctp port 80 and ICMP code 80
// but no GRE, and contains() ignores the port fields of a portless packet. This keeps equality
// semantic over concrete packets.
#pragma once

#include "net.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace portolan {

/// Unsigned 128-bit integer, wide enough for an IPv6 address (IPv4 uses the low 32 bits).
__extension__ typedef unsigned __int128 u128;

/// IP protocol numbers whose packets carry something in the "port" dimensions.
namespace ipproto {
inline constexpr uint8_t icmp = 1;
inline constexpr uint8_t tcp = 6;
inline constexpr uint8_t udp = 17;
inline constexpr uint8_t icmpv6 = 58;
inline constexpr uint8_t sctp = 132;
} // namespace ipproto

/// An address as an integer of its family's width, so address ranges are integer intervals.
u128 addr_to_u128(const IpAddr& a);
/// Inverse of addr_to_u128 (for V4 only the low 32 bits are used).
IpAddr u128_to_addr(Family f, u128 v);

/// Inclusive interval lo..hi of one dimension; every stored interval is non-empty.
struct Interval {
  u128 lo = 0;
  u128 hi = 0;

  bool contains(u128 v) const { return lo <= v && v <= hi; }
  bool overlaps(const Interval& o) const { return lo <= o.hi && o.lo <= hi; }
  bool covers(const Interval& o) const { return lo <= o.lo && o.hi <= hi; }
  bool operator==(const Interval&) const = default;
};

/// An inclusive address range within one family (a prefix is one, so is an arbitrary range).
struct AddrRange {
  IpAddr lo;
  IpAddr hi;

  static AddrRange of(const Prefix& p) { return {p.first(), p.last()}; }
  static AddrRange host(const IpAddr& a) { return {a, a}; }
};

/// "Any address" of each family, for building boxes that do not constrain an address.
Prefix any_v4();
Prefix any_v6();

/// One hyper-rectangle: an interval per dimension. The family is that of the owning list.
struct PacketBox {
  enum Dim : int { kSrc = 0, kDst = 1, kProto = 2, kSport = 3, kDport = 4 };
  static constexpr int kDims = 5;

  std::array<Interval, kDims> iv;

  bool overlaps(const PacketBox& o) const;
  bool covers(const PacketBox& o) const;
  /// Readable text: "src 10.0.0.0/24 dst 0.0.0.0/0 proto tcp dport 80"; full port ranges are
  /// omitted, ICMP ports print as "type"/"code".
  std::string str(Family f) const;
  bool operator==(const PacketBox&) const = default;
};

/// A concrete packet (see the port conventions at the top of this file).
struct Packet {
  IpAddr src;
  IpAddr dst;
  uint8_t proto = 0;
  uint16_t sport = 0;
  uint16_t dport = 0;

  /// e.g. "tcp 10.0.0.1 port 1234 -> 10.0.0.2 port 80", "icmp a -> b type 8 code 0".
  std::string str() const;
  auto operator<=>(const Packet&) const = default;
};

namespace detail {

/// The boxes of one family: pairwise disjoint, in canonical order, held in chunks that carry a
/// bounding box, so an overlap query skips far-away chunks and an edit rewrites one chunk
/// instead of the whole list. Internal to PacketSet.
class BoxList {
public:
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  /// All boxes, in order.
  std::vector<PacketBox> flat() const;
  /// Builds from boxes already disjoint and sorted canonically.
  static BoxList from_sorted(const std::vector<PacketBox>& v);
  /// Appends copies of the boxes overlapping q.
  void collect_overlapping(const PacketBox& q, std::vector<PacketBox>& out) const;
  /// Removes the boxes overlapping q, appending them to out.
  void extract_overlapping(const PacketBox& q, std::vector<PacketBox>& out);
  bool any_overlap(const PacketBox& q) const;
  /// Inserts a box disjoint from all others, first merging it with any box it extends along a
  /// single dimension (repeatedly), so adjacent pieces do not pile up.
  void insert_merge(PacketBox b);
  /// Bounding box of everything; requires !empty().
  PacketBox bound() const;
  bool operator==(const BoxList& o) const { return size_ == o.size_ && flat() == o.flat(); }
  /// Empty if chunk bounds and order are consistent, else why not.
  std::string check_chunks() const;

private:
  struct Chunk {
    PacketBox bound;
    std::vector<PacketBox> boxes;
  };
  void insert_plain(const PacketBox& b);
  /// Recomputes the bound of chunk c, dropping it if empty.
  void refresh(size_t c);

  std::vector<Chunk> chunks_;
  size_t size_ = 0;
};

} // namespace detail

/// An exact set of packets: per family, a list of pairwise-disjoint boxes. Value type; the
/// algebra returns new sets, and add()/remove() edit in place for long sequential scans (first-
/// match residues), touching only the boxes involved. The box decomposition is not unique
/// (equality is semantic), but str() and canonical() are.
class PacketSet {
public:
  /// The empty set.
  static PacketSet empty() { return {}; }
  /// Every packet of both families.
  static PacketSet all();
  /// Every packet of one family.
  static PacketSet all_of(Family f);
  /// A single box. Empty if the addresses are of different families or any range is inverted.
  /// Port ranges are adjusted per protocol as described at the top of this file.
  static PacketSet box(const Prefix& src, const Prefix& dst, uint8_t proto_lo = 0,
                       uint8_t proto_hi = 255, uint16_t sport_lo = 0, uint16_t sport_hi = 65535,
                       uint16_t dport_lo = 0, uint16_t dport_hi = 65535);
  /// Same, with arbitrary address ranges instead of prefixes.
  static PacketSet box(const AddrRange& src, const AddrRange& dst, uint8_t proto_lo = 0,
                       uint8_t proto_hi = 255, uint16_t sport_lo = 0, uint16_t sport_hi = 65535,
                       uint16_t dport_lo = 0, uint16_t dport_hi = 65535);
  /// The set holding just this packet (plus all port values if its protocol has no ports).
  static PacketSet of(const Packet& p);

  PacketSet unite(const PacketSet& o) const;
  PacketSet intersect(const PacketSet& o) const;
  PacketSet subtract(const PacketSet& o) const;
  /// all() minus this set.
  PacketSet complement() const { return all().subtract(*this); }
  /// In-place union; cost follows o's size and the boxes it touches, not this set's size.
  PacketSet& add(const PacketSet& o);
  /// In-place difference; cost follows o's size and the boxes it touches.
  PacketSet& remove(const PacketSet& o);

  bool is_empty() const { return v4_.empty() && v6_.empty(); }
  /// Membership; port fields of a portless protocol are ignored.
  bool contains(const Packet& p) const;
  bool subset_of(const PacketSet& o) const;
  bool overlaps(const PacketSet& o) const;
  /// Semantic equality: the same packets, whatever the box decomposition.
  bool operator==(const PacketSet& o) const;

  /// The lowest member (IPv4 before IPv6, then src, dst, proto, sport, dport), so diagnostics
  /// give the same witness whatever operations built the set. nullopt if empty.
  std::optional<Packet> pick() const;

  /// The unique decomposition of this set (sweep src, then dst, proto, sport, dport, merging
  /// equal neighbouring slices). Costlier than the working form; meant for output and tests.
  PacketSet canonical() const;
  /// Readable and canonical: equal sets print the same. "{}" when empty, else
  /// "{box | box | ...}" with IPv4 boxes first.
  std::string str() const;

  /// The disjoint boxes of one family, sorted; for backends and analyses that emit rules.
  std::vector<PacketBox> boxes(Family f) const { return list(f).flat(); }
  size_t box_count() const { return v4_.size() + v6_.size(); }
  /// Empty if the representation invariants hold (bounds, order, disjointness, chunk bounds),
  /// else why not. Quadratic; for tests.
  std::string check_invariants() const;

private:
  const detail::BoxList& list(Family f) const { return f == Family::V4 ? v4_ : v6_; }
  detail::BoxList& list(Family f) { return f == Family::V4 ? v4_ : v6_; }

  detail::BoxList v4_;
  detail::BoxList v6_;
};

} // namespace portolan
