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
#include "vocab.h"

#include <array>
#include <cstdint>
#include <memory>
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
/// A 128-bit number in decimal, and a protocol number as a name where it has one ("tcp",
/// "icmpv6", ...) or in decimal.
std::string u128_dec(u128 v);
std::string proto_name(u128 p);
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

/// An R-tree of disjoint boxes, nodes in an index-addressed arena. Internal to BoxList.
class RTree {
public:
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  /// Bounding box of everything; requires !empty().
  const PacketBox& bound() const {
    return root_ < 0 ? one_.front() : nodes_[static_cast<size_t>(root_)].bound;
  }
  /// A tree over pairwise-disjoint boxes, packed top-down (much cheaper and tighter than
  /// inserting them one by one).
  static RTree bulk_load(std::vector<PacketBox> v);
  /// Inserts a box disjoint from the others.
  void insert(const PacketBox& b);
  /// Appends copies of the boxes overlapping q.
  void collect_overlapping(const PacketBox& q, std::vector<PacketBox>& out) const;
  bool any_overlap(const PacketBox& q) const;
  /// Removes the boxes overlapping q, appending them to out.
  void extract_overlapping(const PacketBox& q, std::vector<PacketBox>& out);
  /// Appends all boxes, in tree order.
  void append_to(std::vector<PacketBox>& out) const;
  /// Empty if the tree is consistent (tight bounds, fill, uniform depth, count), else why not.
  std::string check_tree() const;

private:
  struct Node {
    PacketBox bound;
    bool leaf = true;
    std::vector<PacketBox> boxes; // leaf entries
    std::vector<int> kids;        // inner-node entries
  };
  int new_node(bool leaf);
  void free_node(int n);
  void recompute(int n);
  int choose_kid(int n, const PacketBox& b) const;
  int split(int n);
  void collect(int n, const PacketBox& q, std::vector<PacketBox>& out) const;
  bool any(int n, const PacketBox& q) const;
  bool extract(int n, const PacketBox& q, std::vector<PacketBox>& out,
               std::vector<PacketBox>& orphans);
  void drop_underfull_kids(int n, std::vector<PacketBox>& orphans);
  void fix_root();
  void reinsert(const std::vector<PacketBox>& orphans);
  void append(int n, std::vector<PacketBox>& out) const;
  std::string check(int n, int depth, int& leaf_depth, size_t& count) const;
  void pack_leaves(std::vector<PacketBox>& v, size_t lo, size_t hi, size_t leaves,
                   std::vector<int>& out);

  std::vector<Node> nodes_;
  std::vector<int> free_;
  int root_ = -1;
  size_t size_ = 0;
  /// A tree of one box holds no node (most of a policy's per-flow sets are one box a family):
  /// the box is here, root_ < 0 and size_ 1; a second box makes it the root leaf's first.
  std::vector<PacketBox> one_;
};

/// The boxes of one family, pairwise disjoint, in an R-tree: queries and edits cost about
/// log(size) plus what they touch, so sets built from tens of thousands of rules stay workable.
/// Touching boxes are merged in batches (see settle()). Internal to PacketSet.
///
/// A value type that shares its tree: a copy holds the same immutable tree until one side is
/// edited, which then copies it (copy on write). So a target's view, its checks and the
/// environment's packet cache hold one tree per flow between them instead of one each, and
/// copying a set to edit it later costs nothing until the edit. An empty list holds no tree.
class BoxList {
public:
  bool empty() const { return !rep_ || rep_->tree.empty(); }
  size_t size() const { return rep_ ? rep_->tree.size() : 0; }
  /// All boxes, in canonical order (lexicographic on (lo, hi) per dimension).
  std::vector<PacketBox> flat() const;
  /// Appends all boxes, in storage order (cheaper than flat() when order does not matter).
  void append_to(std::vector<PacketBox>& out) const {
    if (rep_)
      rep_->tree.append_to(out);
  }
  /// Builds from pairwise-disjoint boxes (any order), as they are.
  static BoxList from_boxes(std::vector<PacketBox> v);
  /// Appends copies of the boxes overlapping q.
  void collect_overlapping(const PacketBox& q, std::vector<PacketBox>& out) const {
    if (rep_)
      rep_->tree.collect_overlapping(q, out);
  }
  /// Removes the boxes overlapping q, appending them to out.
  void extract_overlapping(const PacketBox& q, std::vector<PacketBox>& out) {
    // A shared tree is copied only when something is taken out of it.
    if (!rep_ || (rep_.use_count() > 1 && !rep_->tree.any_overlap(q)))
      return;
    own().tree.extract_overlapping(q, out);
  }
  bool any_overlap(const PacketBox& q) const { return rep_ && rep_->tree.any_overlap(q); }
  /// Inserts a box disjoint from all others.
  void insert(const PacketBox& b) {
    Rep& r = own();
    r.tree.insert(b);
    ++r.fresh;
  }
  /// Merges touching boxes once enough pieces arrived since the last time. Batched because a
  /// merge needs the box's neighbours, and neighbour searches are what these sets make
  /// expensive; a sort-based pass over the whole list, amortised, is cheaper.
  void settle();
  /// Bounding box of everything; requires !empty().
  const PacketBox& bound() const { return rep_->tree.bound(); }
  bool operator==(const BoxList& o) const {
    return size() == o.size() && (rep_ == o.rep_ || flat() == o.flat());
  }
  /// Empty if the tree is consistent, else why not.
  std::string check_tree() const { return rep_ ? rep_->tree.check_tree() : ""; }
  /// Whether both hold the one same tree (or none). For tests.
  bool shares(const BoxList& o) const { return rep_ == o.rep_; }

private:
  struct Rep {
    RTree tree;
    size_t fresh = 0; // boxes inserted since the last merge pass
  };
  /// The tree, made this list's own (created, or copied while another list shares it).
  Rep& own();

  std::shared_ptr<Rep> rep_;
};

} // namespace detail

/// An exact set of packets: per family, pairwise-disjoint boxes indexed by an R-tree. Value type;
/// the algebra returns new sets, and add()/remove() edit in place for long sequential scans
/// (first-match residues), touching only the boxes involved. Operations cost roughly (boxes of
/// the smaller operand) x (log of the larger + boxes hit); nothing cuts one box by many others
/// (subset and equality count packets exactly instead), so there is no combinatorial blow-up.
/// The box decomposition is not unique (equality is semantic), but str() and canonical() are.
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
  /// In-place union. When o is the smaller set, the cost follows o and the boxes it touches,
  /// not this set's size.
  PacketSet& add(const PacketSet& o);
  /// In-place difference; the cost follows the boxes of o within this set's bounds.
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
  /// equal neighbouring slices). Can be far costlier than the algebra on large sets (and have
  /// more boxes); meant for output and tests.
  PacketSet canonical() const;
  /// Readable and canonical: equal sets print the same. "{}" when empty, else
  /// "{box | box | ...}" with IPv4 boxes first. Built from canonical(), so mind the cost.
  std::string str() const;

  /// The disjoint boxes of one family, sorted; for backends and analyses that emit rules.
  std::vector<PacketBox> boxes(Family f) const { return list(f).flat(); }
  /// The same boxes appended in storage order: no sort, for analyses where order does not matter.
  void append_boxes(Family f, std::vector<PacketBox>& out) const { list(f).append_to(out); }
  size_t box_count() const { return v4_.size() + v6_.size(); }
  /// Empty if the representation invariants hold (bounds, disjointness, index consistency),
  /// else why not. For tests.
  std::string check_invariants() const;
  /// Whether this set and `o` hold the same stored boxes (a copy neither side edited since;
  /// copies share their trees until one is edited). For tests.
  bool shares_boxes_with(const PacketSet& o) const {
    return v4_.shares(o.v4_) && v6_.shares(o.v6_);
  }

private:
  const detail::BoxList& list(Family f) const { return f == Family::V4 ? v4_ : v6_; }
  detail::BoxList& list(Family f) { return f == Family::V4 ? v4_ : v6_; }

  detail::BoxList v4_;
  detail::BoxList v6_;
};

/// The five dimensions of a set of packets, each a list of ranges: the set is their product
/// (src x dst x proto x sport x dport, each family apart). The one place such a product is
/// built: the reference semantics, lowering's rule packets and the readers all go through it.
struct PacketDims {
  std::optional<std::vector<AddrRange>> src, dst;                ///< nullopt: every address
  std::vector<std::pair<uint8_t, uint8_t>> protos{{0, 255}};     ///< inclusive ranges
  std::vector<PortRange> sports{{0, 65535}}, dports{{0, 65535}}; ///< ICMP: type and code
  bool v4 = true, v6 = true;                                     ///< families kept
};
PacketSet product(const PacketDims& d);

} // namespace portolan
