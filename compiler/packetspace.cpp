#include "packetspace.h"

#include <algorithm>
#include <array>
#include <utility>

namespace portolan {

namespace {

constexpr int kDims = PacketBox::kDims;
constexpr u128 kAllOnes = ~u128(0);
constexpr u128 kProtoMax = 255;
constexpr u128 kPortMax = 65535;
constexpr u128 kIcmpMax = 255;

u128 addr_max(Family f) {
  return f == Family::V4 ? u128(0xffffffffu) : kAllOnes;
}

u128 dim_max(Family f, int d) {
  if (d < PacketBox::kProto)
    return addr_max(f);
  return d == PacketBox::kProto ? kProtoMax : kPortMax;
}

bool has_ports(u128 proto) {
  return proto == ipproto::tcp || proto == ipproto::udp || proto == ipproto::sctp;
}

bool is_icmp(u128 proto) {
  return proto == ipproto::icmp || proto == ipproto::icmpv6;
}

PacketBox full_box(Family f) {
  PacketBox b;
  for (int d = 0; d < kDims; ++d)
    b.iv[d] = {0, dim_max(f, d)};
  return b;
}

PacketBox intersection(const PacketBox& a, const PacketBox& b) {
  PacketBox r;
  for (int d = 0; d < kDims; ++d)
    r.iv[d] = {std::max(a.iv[d].lo, b.iv[d].lo), std::min(a.iv[d].hi, b.iv[d].hi)};
  return r;
}

/// Appends the disjoint pieces of a - b (at most two per dimension). Requires a.overlaps(b).
void subtract_box(PacketBox a, const PacketBox& b, std::vector<PacketBox>& out) {
  for (int d = 0; d < kDims; ++d) {
    Interval& ai = a.iv[d];
    const Interval& bi = b.iv[d];
    if (ai.lo < bi.lo) {
      PacketBox piece = a;
      piece.iv[d].hi = bi.lo - 1;
      out.push_back(piece);
      ai.lo = bi.lo;
    }
    if (ai.hi > bi.hi) {
      PacketBox piece = a;
      piece.iv[d].lo = bi.hi + 1;
      out.push_back(piece);
      ai.hi = bi.hi;
    }
  }
}

/// Canonical box order, for output: lexicographic on (lo, hi) per dimension, src first.
bool canonical_less(const PacketBox& a, const PacketBox& b) {
  for (int d = 0; d < kDims; ++d) {
    if (a.iv[d].lo != b.iv[d].lo)
      return a.iv[d].lo < b.iv[d].lo;
    if (a.iv[d].hi != b.iv[d].hi)
      return a.iv[d].hi < b.iv[d].hi;
  }
  return false;
}

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/// Hash of a box's intervals on every dimension but m.
uint64_t hash_except(const PacketBox& b, int m) {
  uint64_t h = static_cast<uint64_t>(m);
  for (int d = 0; d < kDims; ++d) {
    if (d == m)
      continue;
    for (u128 x : {b.iv[d].lo, b.iv[d].hi})
      h = mix(h ^ mix(static_cast<uint64_t>(x) ^ mix(static_cast<uint64_t>(x >> 64))));
  }
  return h;
}

/// Merges, in one pass, boxes that agree on every dimension but `m` and touch along `m`.
/// Returns whether anything merged. Sorts small keys (a hash of the other dimensions, then the
/// start along m) rather than the boxes; every merge is checked on the boxes themselves, so a
/// hash collision can only cost a missed merge.
bool merge_along(std::vector<PacketBox>& v, int m) {
  struct Key {
    uint64_t hash;
    u128 lo;
    size_t index;
  };
  std::vector<Key> keys(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    keys[i] = {hash_except(v[i], m), v[i].iv[m].lo, i};
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.lo < b.lo;
  });
  std::vector<char> dead(v.size(), 0);
  bool merged = false;
  size_t w = 0;
  for (size_t r = 1; r < keys.size(); ++r) {
    PacketBox& prev = v[keys[w].index];
    const PacketBox& cur = v[keys[r].index];
    bool same = keys[r].hash == keys[w].hash;
    for (int d = 0; d < kDims && same; ++d)
      if (d != m && !(prev.iv[d] == cur.iv[d]))
        same = false;
    if (same && prev.iv[m].hi != kAllOnes && prev.iv[m].hi + 1 == cur.iv[m].lo) {
      prev.iv[m].hi = cur.iv[m].hi;
      dead[keys[r].index] = 1;
      merged = true;
    } else {
      w = r;
    }
  }
  if (merged) {
    size_t out = 0;
    for (size_t i = 0; i < v.size(); ++i)
      if (!dead[i])
        v[out++] = v[i];
    v.resize(out);
  }
  return merged;
}

/// Merges touching boxes until no single-dimension merge applies. Not a minimal cover, but
/// cheap and enough to stop the usual fragment build-up. Leaves the order unspecified.
void normalise(std::vector<PacketBox>& v) {
  int quiet = 0;
  int d = kDims - 1;
  while (v.size() > 1 && quiet < kDims) {
    // After merging along d, nothing more merges along d until another dimension changes.
    quiet = merge_along(v, d) ? 1 : quiet + 1;
    d = (d + kDims - 1) % kDims;
  }
}

PacketBox bounding(const PacketBox* v, size_t n) {
  PacketBox b = v[0];
  for (size_t i = 1; i < n; ++i)
    for (int d = 0; d < kDims; ++d) {
      b.iv[d].lo = std::min(b.iv[d].lo, v[i].iv[d].lo);
      b.iv[d].hi = std::max(b.iv[d].hi, v[i].iv[d].hi);
    }
  return b;
}

/// An exact packet count: a box holds up to 2^(129+129+9+17+17) = 2^301 packets (IPv6), so five
/// 64-bit limbs, least significant first. Disjoint boxes make counting exact: a box is covered
/// by disjoint pieces exactly when their overlaps with it add up to its own count, which avoids
/// cutting it into the (combinatorially many) pieces of the difference.
struct Count {
  std::array<uint64_t, 5> limb{};

  static Count of(u128 v) {
    Count c;
    c.limb[0] = static_cast<uint64_t>(v);
    c.limb[1] = static_cast<uint64_t>(v >> 64);
    return c;
  }
  Count& operator+=(const Count& o) {
    u128 carry = 0;
    for (size_t i = 0; i < limb.size(); ++i) {
      u128 sum = static_cast<u128>(limb[i]) + o.limb[i] + carry;
      limb[i] = static_cast<uint64_t>(sum);
      carry = sum >> 64;
    }
    return *this;
  }
  Count operator*(const Count& o) const {
    Count r;
    for (size_t i = 0; i < limb.size(); ++i) {
      u128 carry = 0;
      for (size_t j = 0; i + j < limb.size(); ++j) {
        u128 cur = static_cast<u128>(limb[i]) * o.limb[j] + r.limb[i + j] + carry;
        r.limb[i + j] = static_cast<uint64_t>(cur);
        carry = cur >> 64;
      }
    }
    return r;
  }
  bool operator==(const Count&) const = default;
};

/// Number of packets (points) in a box.
Count count_of(const PacketBox& b) {
  Count c = Count::of(1);
  for (const Interval& i : b.iv) {
    Count len = Count::of(i.hi - i.lo);
    len += Count::of(1); // hi - lo + 1 can be 2^128
    c = c * len;
  }
  return c;
}

using detail::BoxList;

/// The boxes of a list in tree order, for loops where order does not matter.
std::vector<PacketBox> items(const BoxList& l) {
  std::vector<PacketBox> v;
  v.reserve(l.size());
  l.append_to(v);
  return v;
}

Count count_of(const BoxList& l) {
  Count c;
  for (const PacketBox& b : items(l))
    c += count_of(b);
  return c;
}

/// Cuts `cut` out of a: each box it hits is replaced by its at most ten pieces outside `cut`,
/// so the work is linear in the boxes hit.
void cut_out(BoxList& a, const PacketBox& cut, std::vector<PacketBox>& hits,
             std::vector<PacketBox>& frags) {
  hits.clear();
  a.extract_overlapping(cut, hits);
  for (const PacketBox& h : hits) {
    frags.clear();
    subtract_box(h, cut, frags);
    for (const PacketBox& f : frags)
      a.insert(f);
  }
}

/// a := a - b.
void remove_list(BoxList& a, const BoxList& b) {
  if (a.empty() || b.empty() || !a.bound().overlaps(b.bound()))
    return;
  std::vector<PacketBox> cutters, hits, frags;
  if (b.size() <= a.size())
    cutters = items(b);
  else
    b.collect_overlapping(a.bound(), cutters);
  for (const PacketBox& c : cutters)
    cut_out(a, c, hits, frags);
  a.settle();
}

/// a := a | b, as (a - box) + box for each box of b, which stays linear in the boxes hit.
void add_list(BoxList& a, const BoxList& b) {
  if (b.empty())
    return;
  if (b.size() > a.size()) {
    BoxList t = b;
    add_list(t, a);
    a = std::move(t);
    return;
  }
  std::vector<PacketBox> hits, frags;
  for (const PacketBox& bb : items(b)) {
    cut_out(a, bb, hits, frags);
    a.insert(bb);
  }
  a.settle();
}

BoxList intersect_list(const BoxList& a, const BoxList& b) {
  if (a.empty() || b.empty() || !a.bound().overlaps(b.bound()))
    return {};
  const BoxList& small = a.size() <= b.size() ? a : b;
  const BoxList& large = a.size() <= b.size() ? b : a;
  std::vector<PacketBox> out, hits;
  for (const PacketBox& s : items(small)) {
    hits.clear();
    large.collect_overlapping(s, hits);
    for (const PacketBox& h : hits)
      out.push_back(intersection(s, h));
  }
  normalise(out);
  return BoxList::from_boxes(out);
}

bool subset_list(const BoxList& a, const BoxList& b) {
  if (a.empty())
    return true;
  if (b.empty() || !b.bound().covers(a.bound()))
    return false;
  std::vector<PacketBox> hits;
  for (const PacketBox& ab : items(a)) {
    hits.clear();
    b.collect_overlapping(ab, hits);
    if (std::any_of(hits.begin(), hits.end(), [&](const PacketBox& h) { return h.covers(ab); }))
      continue;
    Count covered;
    for (const PacketBox& h : hits)
      covered += count_of(intersection(ab, h));
    if (!(covered == count_of(ab)))
      return false;
  }
  return true;
}

/// Same packets: equal counts, and one side inside the other.
bool equal_list(const BoxList& a, const BoxList& b) {
  if (a.size() == b.size() && a == b)
    return true;
  if (a.empty() || b.empty())
    return a.empty() && b.empty();
  return count_of(a) == count_of(b) && subset_list(a, b);
}

bool overlap_list(const BoxList& a, const BoxList& b) {
  if (a.empty() || b.empty() || !a.bound().overlaps(b.bound()))
    return false;
  const BoxList& small = a.size() <= b.size() ? a : b;
  const BoxList& large = a.size() <= b.size() ? b : a;
  for (const PacketBox& s : items(small))
    if (large.any_overlap(s))
      return true;
  return false;
}

/// The unique decomposition of the disjoint boxes `in` over dimensions k.. (dimensions below k
/// are zeroed in the result): sweep dimension k, cut it where any box starts or ends, take the
/// canonical form of each slice and join neighbouring slices whose forms are equal.
std::vector<PacketBox> canon(std::vector<PacketBox> in, int k) {
  if (k == kDims)
    return {PacketBox{}};
  std::vector<u128> cuts;
  cuts.reserve(in.size() * 2);
  for (const PacketBox& b : in) {
    cuts.push_back(b.iv[k].lo);
    if (b.iv[k].hi != kAllOnes)
      cuts.push_back(b.iv[k].hi + 1);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  std::sort(in.begin(), in.end(),
            [k](const PacketBox& a, const PacketBox& b) { return a.iv[k].lo < b.iv[k].lo; });

  std::vector<PacketBox> out, active, run_form;
  Interval run;
  bool have_run = false;
  auto flush = [&] {
    if (!have_run)
      return;
    for (PacketBox b : run_form) {
      b.iv[k] = run;
      out.push_back(b);
    }
    have_run = false;
  };
  size_t next_in = 0;
  for (size_t i = 0; i < cuts.size(); ++i) {
    u128 lo = cuts[i];
    u128 hi = i + 1 < cuts.size() ? cuts[i + 1] - 1 : kAllOnes;
    std::erase_if(active, [lo, k](const PacketBox& b) { return b.iv[k].hi < lo; });
    while (next_in < in.size() && in[next_in].iv[k].lo <= lo)
      active.push_back(in[next_in++]);
    if (active.empty()) {
      flush();
      continue;
    }
    std::vector<PacketBox> form = canon(active, k + 1);
    if (have_run && run.hi + 1 == lo && form == run_form) {
      run.hi = hi;
      continue;
    }
    flush();
    run = {lo, hi};
    run_form = std::move(form);
    have_run = true;
  }
  flush();
  return out;
}

std::string addr_interval_str(Family f, const Interval& iv) {
  u128 size_minus_1 = iv.hi - iv.lo;
  // A prefix when the size is a power of two and lo is aligned to it.
  if ((size_minus_1 & (size_minus_1 + 1)) == 0 && (iv.lo & size_minus_1) == 0) {
    int host_bits = 0;
    for (u128 s = size_minus_1; s; s >>= 1)
      ++host_bits;
    int bits = f == Family::V4 ? 32 : 128;
    return Prefix{u128_to_addr(f, iv.lo), static_cast<uint8_t>(bits - host_bits)}.str_with_len();
  }
  return u128_to_addr(f, iv.lo).str() + "-" + u128_to_addr(f, iv.hi).str();
}

std::string num_interval_str(u128 lo, u128 hi) {
  return lo == hi ? u128_dec(lo) : u128_dec(lo) + "-" + u128_dec(hi);
}

} // namespace

std::string u128_dec(u128 v) {
  if (v == 0)
    return "0";
  std::string s;
  while (v) {
    s.push_back(static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  return {s.rbegin(), s.rend()};
}

std::string proto_name(u128 p) {
  switch (static_cast<int>(p)) {
  case ipproto::icmp:
    return "icmp";
  case ipproto::tcp:
    return "tcp";
  case ipproto::udp:
    return "udp";
  case ipproto::icmpv6:
    return "icmpv6";
  case ipproto::sctp:
    return "sctp";
  default:
    return u128_dec(p);
  }
}

u128 addr_to_u128(const IpAddr& a) {
  u128 v = 0;
  int n = a.family == Family::V4 ? 4 : 16;
  for (int i = 0; i < n; ++i)
    v = (v << 8) | a.bytes[i];
  return v;
}

IpAddr u128_to_addr(Family f, u128 v) {
  IpAddr a;
  a.family = f;
  int n = f == Family::V4 ? 4 : 16;
  for (int i = n - 1; i >= 0; --i) {
    a.bytes[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
  return a;
}

Prefix any_v4() {
  return Prefix{IpAddr{Family::V4, {}}, 0};
}
Prefix any_v6() {
  return Prefix{IpAddr{Family::V6, {}}, 0};
}

bool PacketBox::overlaps(const PacketBox& o) const {
  for (int d = 0; d < kDims; ++d)
    if (!iv[d].overlaps(o.iv[d]))
      return false;
  return true;
}

bool PacketBox::covers(const PacketBox& o) const {
  for (int d = 0; d < kDims; ++d)
    if (!iv[d].covers(o.iv[d]))
      return false;
  return true;
}

std::string PacketBox::str(Family f) const {
  std::string s =
      "src " + addr_interval_str(f, iv[kSrc]) + " dst " + addr_interval_str(f, iv[kDst]);
  const Interval& p = iv[kProto];
  if (!(p.lo == 0 && p.hi == kProtoMax))
    s += " proto " + (p.lo == p.hi ? proto_name(p.lo) : num_interval_str(p.lo, p.hi));
  bool icmp = p.lo == p.hi && is_icmp(p.lo);
  const char* names[2][2] = {{" sport ", " dport "}, {" type ", " code "}};
  for (int d = kSport; d <= kDport; ++d) {
    const Interval& i = iv[d];
    if (i.lo == 0 && i.hi == kPortMax)
      continue;
    u128 hi = icmp ? std::min(i.hi, kIcmpMax) : i.hi;
    s += names[icmp ? 1 : 0][d - kSport] + num_interval_str(i.lo, hi);
  }
  return s;
}

std::string Packet::str() const {
  if (is_icmp(proto))
    return proto_name(proto) + " " + src.str() + " -> " + dst.str() + " type " +
           std::to_string(sport) + " code " + std::to_string(dport);
  if (has_ports(proto))
    return proto_name(proto) + " " + src.str() + " port " + std::to_string(sport) + " -> " +
           dst.str() + " port " + std::to_string(dport);
  return "proto " + std::to_string(proto) + " " + src.str() + " -> " + dst.str();
}

namespace detail {

namespace {

/// Node capacity. An inner node that falls below kMinFill entries after a removal (or a leaf
/// that does) is dissolved and its boxes reinserted.
constexpr size_t kMaxFill = 16;
constexpr size_t kMinFill = 5;

/// Number of bits needed for x: a cheap integer stand-in for log2 of an interval's size.
int bit_width(u128 x) {
  uint64_t hi = static_cast<uint64_t>(x >> 64), lo = static_cast<uint64_t>(x);
  if (hi)
    return 128 - __builtin_clzll(hi);
  return lo ? 64 - __builtin_clzll(lo) : 0;
}

/// Log-volume of a box: sum of per-dimension log sizes. Keeps 2^128-wide addresses and
/// 256-wide protocols comparable, which raw volume would not.
int log_volume(const PacketBox& b) {
  int v = 0;
  for (const Interval& i : b.iv)
    v += bit_width(i.hi - i.lo);
  return v;
}

void expand(PacketBox& into, const PacketBox& b) {
  for (int d = 0; d < kDims; ++d) {
    into.iv[d].lo = std::min(into.iv[d].lo, b.iv[d].lo);
    into.iv[d].hi = std::max(into.iv[d].hi, b.iv[d].hi);
  }
}

PacketBox joined(PacketBox a, const PacketBox& b) {
  expand(a, b);
  return a;
}

/// The dimension along which boxes are most spread out relative to their own size: the one a
/// cut separates best. Shared by node splits and bulk loading.
int spread_dim(const PacketBox* v, size_t n) {
  PacketBox bound = bounding(v, n);
  int best = 0;
  double best_spread = -1;
  for (int d = 0; d < kDims; ++d) {
    double size = 0;
    for (size_t i = 0; i < n; ++i)
      size += bit_width(v[i].iv[d].hi - v[i].iv[d].lo);
    double spread = bit_width(bound.iv[d].hi - bound.iv[d].lo) - size / static_cast<double>(n);
    if (spread > best_spread) {
      best_spread = spread;
      best = d;
    }
  }
  return best;
}

/// Midpoint of a box along d, without overflow.
u128 centre(const PacketBox& b, int d) {
  const Interval& i = b.iv[d];
  return i.lo / 2 + i.hi / 2 + (i.lo & i.hi & 1);
}

} // namespace

int RTree::new_node(bool leaf) {
  int n;
  if (!free_.empty()) {
    n = free_.back();
    free_.pop_back();
  } else {
    n = static_cast<int>(nodes_.size());
    nodes_.emplace_back();
  }
  Node& nd = nodes_[static_cast<size_t>(n)];
  nd.leaf = leaf;
  nd.boxes.clear();
  nd.kids.clear();
  return n;
}

void RTree::free_node(int n) {
  Node& nd = nodes_[static_cast<size_t>(n)];
  nd.boxes.clear();
  nd.kids.clear();
  free_.push_back(n);
}

void RTree::recompute(int n) {
  Node& nd = nodes_[static_cast<size_t>(n)];
  if (nd.leaf) {
    if (!nd.boxes.empty())
      nd.bound = bounding(nd.boxes.data(), nd.boxes.size());
    return;
  }
  if (nd.kids.empty())
    return;
  nd.bound = nodes_[static_cast<size_t>(nd.kids[0])].bound;
  for (int k : nd.kids)
    expand(nd.bound, nodes_[static_cast<size_t>(k)].bound);
}

int RTree::choose_kid(int n, const PacketBox& b) const {
  int best = -1, best_growth = 0, best_volume = 0;
  for (int k : nodes_[static_cast<size_t>(n)].kids) {
    const PacketBox& kb = nodes_[static_cast<size_t>(k)].bound;
    int volume = log_volume(kb);
    int growth = log_volume(joined(kb, b)) - volume;
    if (best < 0 || growth < best_growth || (growth == best_growth && volume < best_volume)) {
      best = k;
      best_growth = growth;
      best_volume = volume;
    }
  }
  return best;
}

/// Splits an overfull node in two halves at the median centre along spread_dim. Returns the
/// new sibling, holding the upper half.
int RTree::split(int n) {
  bool leaf = nodes_[static_cast<size_t>(n)].leaf;
  std::vector<PacketBox> rects;
  if (leaf) {
    rects = nodes_[static_cast<size_t>(n)].boxes;
  } else {
    for (int k : nodes_[static_cast<size_t>(n)].kids)
      rects.push_back(nodes_[static_cast<size_t>(k)].bound);
  }
  size_t count = rects.size(), half = count / 2;
  int d = spread_dim(rects.data(), count);
  std::vector<size_t> order(count);
  for (size_t i = 0; i < count; ++i)
    order[i] = i;
  std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(half), order.end(),
                   [&](size_t x, size_t y) { return centre(rects[x], d) < centre(rects[y], d); });
  int sib = new_node(leaf);
  Node& a = nodes_[static_cast<size_t>(n)];
  Node& b = nodes_[static_cast<size_t>(sib)];
  if (leaf) {
    std::vector<PacketBox> all = std::move(a.boxes);
    a.boxes.clear();
    for (size_t i = 0; i < count; ++i)
      (i < half ? a.boxes : b.boxes).push_back(all[order[i]]);
  } else {
    std::vector<int> all = std::move(a.kids);
    a.kids.clear();
    for (size_t i = 0; i < count; ++i)
      (i < half ? a.kids : b.kids).push_back(all[order[i]]);
  }
  recompute(n);
  recompute(sib);
  return sib;
}

/// Splits v[lo, hi) into `leaves` leaves of near-equal size, appending them to out in
/// spatially coherent order: recursively halve along the dimension where the boxes are most
/// spread out relative to their own size.
void RTree::pack_leaves(std::vector<PacketBox>& v, size_t lo, size_t hi, size_t leaves,
                        std::vector<int>& out) {
  if (leaves <= 1) {
    int n = new_node(true);
    Node& nd = nodes_[static_cast<size_t>(n)];
    nd.boxes.assign(v.begin() + static_cast<std::ptrdiff_t>(lo),
                    v.begin() + static_cast<std::ptrdiff_t>(hi));
    recompute(n);
    out.push_back(n);
    return;
  }
  size_t left_leaves = leaves / 2;
  size_t mid = lo + (hi - lo) * left_leaves / leaves;
  int d = spread_dim(v.data() + lo, hi - lo);
  std::nth_element(
      v.begin() + static_cast<std::ptrdiff_t>(lo), v.begin() + static_cast<std::ptrdiff_t>(mid),
      v.begin() + static_cast<std::ptrdiff_t>(hi),
      [d](const PacketBox& a, const PacketBox& b) { return centre(a, d) < centre(b, d); });
  pack_leaves(v, lo, mid, left_leaves, out);
  pack_leaves(v, mid, hi, leaves - left_leaves, out);
}

RTree RTree::bulk_load(std::vector<PacketBox> v) {
  RTree t;
  if (v.empty())
    return t;
  if (v.size() == 1) {
    t.one_.assign(v.begin(), v.end());
    t.size_ = 1;
    return t;
  }
  // Leave a quarter of each node free so the next inserts do not split at once.
  constexpr size_t kPackFill = kMaxFill * 3 / 4;
  // Every node at once: grown one by one, the arena kept up to half of it unused.
  size_t nodes = 0;
  for (size_t at = v.size(); nodes == 0 || at > 1;) {
    at = (at + kPackFill - 1) / kPackFill;
    nodes += at;
  }
  t.nodes_.reserve(nodes);
  std::vector<int> level;
  t.pack_leaves(v, 0, v.size(), (v.size() + kPackFill - 1) / kPackFill, level);
  while (level.size() > 1) {
    size_t parents = (level.size() + kPackFill - 1) / kPackFill;
    std::vector<int> up;
    for (size_t p = 0; p < parents; ++p) {
      int n = t.new_node(false);
      size_t from = level.size() * p / parents, to = level.size() * (p + 1) / parents;
      t.nodes_[static_cast<size_t>(n)].kids.assign(level.begin() +
                                                       static_cast<std::ptrdiff_t>(from),
                                                   level.begin() + static_cast<std::ptrdiff_t>(to));
      t.recompute(n);
      up.push_back(n);
    }
    level = std::move(up);
  }
  t.root_ = level[0];
  t.size_ = v.size();
  return t;
}

void RTree::insert(const PacketBox& b) {
  if (root_ < 0 && size_ == 0) {
    one_.assign(1, b);
    size_ = 1;
    return;
  }
  if (root_ < 0) { // the second box: the first becomes the root leaf's, as it would have been
    root_ = new_node(true);
    Node& r = nodes_[static_cast<size_t>(root_)];
    r.bound = one_.front();
    r.boxes.push_back(one_.front());
    std::vector<PacketBox>().swap(one_);
  }
  ++size_;
  std::vector<int> path;
  int n = root_;
  while (!nodes_[static_cast<size_t>(n)].leaf) {
    path.push_back(n);
    expand(nodes_[static_cast<size_t>(n)].bound, b);
    n = choose_kid(n, b);
  }
  Node& leaf = nodes_[static_cast<size_t>(n)];
  expand(leaf.bound, b);
  leaf.boxes.push_back(b);
  if (leaf.boxes.size() <= kMaxFill)
    return;
  int child = n, sib = split(n);
  // Ancestors' bounds already include b, which is all the split's halves add up to.
  while (!path.empty()) {
    int parent = path.back();
    path.pop_back();
    nodes_[static_cast<size_t>(parent)].kids.push_back(sib);
    if (nodes_[static_cast<size_t>(parent)].kids.size() <= kMaxFill)
      return;
    child = parent;
    sib = split(parent);
  }
  int root = new_node(false);
  nodes_[static_cast<size_t>(root)].kids = {child, sib};
  recompute(root);
  root_ = root;
}

/// Dissolves the kids of n that fell below kMinFill; their boxes are handed back as orphans
/// to be reinserted from the top (the R-tree "condense" step).
void RTree::drop_underfull_kids(int n, std::vector<PacketBox>& orphans) {
  std::vector<int>& kids = nodes_[static_cast<size_t>(n)].kids;
  for (size_t i = 0; i < kids.size();) {
    int k = kids[i];
    const Node& kn = nodes_[static_cast<size_t>(k)];
    size_t fill = kn.leaf ? kn.boxes.size() : kn.kids.size();
    if (fill >= kMinFill) {
      ++i;
      continue;
    }
    size_t before = orphans.size();
    append(k, orphans);
    size_ -= orphans.size() - before;
    std::vector<int> stack{k};
    while (!stack.empty()) {
      int m = stack.back();
      stack.pop_back();
      for (int c : nodes_[static_cast<size_t>(m)].kids)
        stack.push_back(c);
      free_node(m);
    }
    kids.erase(kids.begin() + static_cast<std::ptrdiff_t>(i));
  }
}

void RTree::fix_root() {
  while (root_ >= 0) {
    Node& r = nodes_[static_cast<size_t>(root_)];
    if (r.leaf) {
      if (r.boxes.empty()) {
        free_node(root_);
        root_ = -1;
      }
      return;
    }
    if (r.kids.size() > 1)
      return;
    int next = r.kids.empty() ? -1 : r.kids[0];
    free_node(root_);
    root_ = next;
  }
}

void RTree::reinsert(const std::vector<PacketBox>& orphans) {
  for (const PacketBox& o : orphans)
    insert(o);
}

bool RTree::extract(int n, const PacketBox& q, std::vector<PacketBox>& out,
                    std::vector<PacketBox>& orphans) {
  Node& nd = nodes_[static_cast<size_t>(n)];
  if (!nd.bound.overlaps(q))
    return false;
  bool changed = false;
  if (nd.leaf) {
    size_t before = nd.boxes.size();
    std::erase_if(nd.boxes, [&](const PacketBox& b) {
      if (!b.overlaps(q))
        return false;
      out.push_back(b);
      return true;
    });
    size_ -= before - nd.boxes.size();
    changed = nd.boxes.size() != before;
  } else {
    for (size_t i = 0; i < nodes_[static_cast<size_t>(n)].kids.size(); ++i)
      changed |= extract(nodes_[static_cast<size_t>(n)].kids[i], q, out, orphans);
    if (changed)
      drop_underfull_kids(n, orphans);
  }
  if (changed)
    recompute(n);
  return changed;
}

void RTree::extract_overlapping(const PacketBox& q, std::vector<PacketBox>& out) {
  if (root_ < 0) {
    if (size_ == 1 && one_.front().overlaps(q)) {
      out.push_back(one_.front());
      one_.clear();
      size_ = 0;
    }
    return;
  }
  std::vector<PacketBox> orphans;
  extract(root_, q, out, orphans);
  fix_root();
  reinsert(orphans);
}

void RTree::collect(int n, const PacketBox& q, std::vector<PacketBox>& out) const {
  const Node& nd = nodes_[static_cast<size_t>(n)];
  if (!nd.bound.overlaps(q))
    return;
  if (nd.leaf) {
    for (const PacketBox& b : nd.boxes)
      if (b.overlaps(q))
        out.push_back(b);
    return;
  }
  for (int k : nd.kids)
    collect(k, q, out);
}

void RTree::collect_overlapping(const PacketBox& q, std::vector<PacketBox>& out) const {
  if (root_ >= 0)
    collect(root_, q, out);
  else if (size_ == 1 && one_.front().overlaps(q))
    out.push_back(one_.front());
}

bool RTree::any(int n, const PacketBox& q) const {
  const Node& nd = nodes_[static_cast<size_t>(n)];
  if (!nd.bound.overlaps(q))
    return false;
  if (nd.leaf)
    return std::any_of(nd.boxes.begin(), nd.boxes.end(),
                       [&](const PacketBox& b) { return b.overlaps(q); });
  return std::any_of(nd.kids.begin(), nd.kids.end(), [&](int k) { return any(k, q); });
}

bool RTree::any_overlap(const PacketBox& q) const {
  return root_ >= 0 ? any(root_, q) : size_ == 1 && one_.front().overlaps(q);
}

void RTree::append(int n, std::vector<PacketBox>& out) const {
  const Node& nd = nodes_[static_cast<size_t>(n)];
  if (nd.leaf) {
    out.insert(out.end(), nd.boxes.begin(), nd.boxes.end());
    return;
  }
  for (int k : nd.kids)
    append(k, out);
}

void RTree::append_to(std::vector<PacketBox>& out) const {
  if (root_ >= 0)
    append(root_, out);
  else if (size_ == 1)
    out.push_back(one_.front());
}

std::string RTree::check(int n, int depth, int& leaf_depth, size_t& count) const {
  const Node& nd = nodes_[static_cast<size_t>(n)];
  std::string where = "node " + std::to_string(n) + ": ";
  size_t fill = nd.leaf ? nd.boxes.size() : nd.kids.size();
  if (fill == 0 || fill > kMaxFill || (n != root_ && fill < kMinFill && !nd.leaf))
    return where + "fill " + std::to_string(fill);
  PacketBox tight;
  if (nd.leaf) {
    if (leaf_depth >= 0 && leaf_depth != depth)
      return where + "leaves at different depths";
    leaf_depth = depth;
    count += fill;
    tight = bounding(nd.boxes.data(), fill);
  } else {
    tight = nodes_[static_cast<size_t>(nd.kids[0])].bound;
    for (int k : nd.kids) {
      std::string e = check(k, depth + 1, leaf_depth, count);
      if (!e.empty())
        return e;
      expand(tight, nodes_[static_cast<size_t>(k)].bound);
    }
  }
  return tight == nd.bound ? "" : where + "bound not tight";
}

std::string RTree::check_tree() const {
  if (root_ < 0)
    return size_ == one_.size() && size_ <= 1 ? "" : "a tree without nodes holds one box or none";
  int leaf_depth = -1;
  size_t count = 0;
  std::string e = check(root_, 0, leaf_depth, count);
  if (!e.empty())
    return e;
  return count == size_ ? "" : "box count out of date";
}

BoxList::Rep& BoxList::own() {
  if (!rep_)
    rep_ = std::make_shared<Rep>();
  else if (rep_.use_count() > 1)
    rep_ = std::make_shared<Rep>(*rep_);
  return *rep_;
}

void BoxList::settle() {
  // Small lists are cheap to merge every time; large ones once fresh pieces make up half.
  if (!rep_ || rep_->fresh == 0 || (size() > 64 && rep_->fresh * 2 < size()))
    return;
  std::vector<PacketBox> v;
  v.reserve(size());
  append_to(v);
  normalise(v);
  if (rep_.use_count() > 1) {
    *this = from_boxes(std::move(v));
    return;
  }
  rep_->tree = RTree::bulk_load(std::move(v)); // the list's own tree: rebuilt in place
  rep_->fresh = 0;
}

std::vector<PacketBox> BoxList::flat() const {
  std::vector<PacketBox> out;
  out.reserve(size());
  append_to(out);
  std::sort(out.begin(), out.end(), canonical_less);
  return out;
}

BoxList BoxList::from_boxes(std::vector<PacketBox> v) {
  BoxList l;
  if (!v.empty()) {
    l.rep_ = std::make_shared<Rep>();
    l.rep_->tree = RTree::bulk_load(std::move(v));
  }
  return l;
}

} // namespace detail

PacketSet PacketSet::all() {
  PacketSet s;
  s.v4_ = BoxList::from_boxes({full_box(Family::V4)});
  s.v6_ = BoxList::from_boxes({full_box(Family::V6)});
  return s;
}

PacketSet PacketSet::all_of(Family f) {
  PacketSet s;
  s.list(f) = BoxList::from_boxes({full_box(f)});
  return s;
}

PacketSet PacketSet::box(const Prefix& src, const Prefix& dst, uint8_t proto_lo, uint8_t proto_hi,
                         uint16_t sport_lo, uint16_t sport_hi, uint16_t dport_lo,
                         uint16_t dport_hi) {
  return box(AddrRange::of(src), AddrRange::of(dst), proto_lo, proto_hi, sport_lo, sport_hi,
             dport_lo, dport_hi);
}

PacketSet PacketSet::box(const AddrRange& src, const AddrRange& dst, uint8_t proto_lo,
                         uint8_t proto_hi, uint16_t sport_lo, uint16_t sport_hi, uint16_t dport_lo,
                         uint16_t dport_hi) {
  PacketSet out;
  Family f = src.lo.family;
  if (src.hi.family != f || dst.lo.family != f || dst.hi.family != f)
    return out;
  PacketBox base;
  base.iv[PacketBox::kSrc] = {addr_to_u128(src.lo), addr_to_u128(src.hi)};
  base.iv[PacketBox::kDst] = {addr_to_u128(dst.lo), addr_to_u128(dst.hi)};
  base.iv[PacketBox::kSport] = {sport_lo, sport_hi};
  base.iv[PacketBox::kDport] = {dport_lo, dport_hi};
  for (const Interval& i : base.iv)
    if (i.lo > i.hi)
      return out;
  if (proto_lo > proto_hi)
    return out;

  std::vector<PacketBox> v;
  bool port_zero = sport_lo == 0 && dport_lo == 0;
  // Walk the protocol range in runs of the same port convention.
  for (int p = proto_lo; p <= proto_hi;) {
    PacketBox b = base;
    u128 up = static_cast<u128>(p);
    if (has_ports(up)) {
      b.iv[PacketBox::kProto] = {up, up};
      v.push_back(b);
      ++p;
      continue;
    }
    if (is_icmp(up)) {
      b.iv[PacketBox::kProto] = {up, up};
      bool ok = true;
      for (int d = PacketBox::kSport; d <= PacketBox::kDport; ++d) {
        Interval& i = b.iv[d];
        ok = ok && i.lo <= kIcmpMax;
        if (i.hi >= kIcmpMax)
          i.hi = kPortMax;
      }
      if (ok)
        v.push_back(b);
      ++p;
      continue;
    }
    int end = p;
    while (end < proto_hi && !has_ports(static_cast<u128>(end + 1)) &&
           !is_icmp(static_cast<u128>(end + 1)))
      ++end;
    if (port_zero) {
      b.iv[PacketBox::kProto] = {up, static_cast<u128>(end)};
      b.iv[PacketBox::kSport] = {0, kPortMax};
      b.iv[PacketBox::kDport] = {0, kPortMax};
      v.push_back(b);
    }
    p = end + 1;
  }
  normalise(v);
  out.list(f) = BoxList::from_boxes(v);
  return out;
}

PacketSet PacketSet::of(const Packet& p) {
  return box(AddrRange::host(p.src), AddrRange::host(p.dst), p.proto, p.proto, p.sport, p.sport,
             p.dport, p.dport);
}

PacketSet PacketSet::unite(const PacketSet& o) const {
  PacketSet r = *this;
  return r.add(o);
}

PacketSet PacketSet::intersect(const PacketSet& o) const {
  PacketSet r;
  r.v4_ = intersect_list(v4_, o.v4_);
  r.v6_ = intersect_list(v6_, o.v6_);
  return r;
}

PacketSet PacketSet::subtract(const PacketSet& o) const {
  PacketSet r = *this;
  return r.remove(o);
}

PacketSet& PacketSet::add(const PacketSet& o) {
  add_list(v4_, o.v4_);
  add_list(v6_, o.v6_);
  return *this;
}

PacketSet& PacketSet::remove(const PacketSet& o) {
  remove_list(v4_, o.v4_);
  remove_list(v6_, o.v6_);
  return *this;
}

bool PacketSet::contains(const Packet& p) const {
  if (p.src.family != p.dst.family)
    return false;
  PacketBox q;
  u128 point[kDims] = {addr_to_u128(p.src), addr_to_u128(p.dst), p.proto, p.sport, p.dport};
  if (!has_ports(p.proto) && !is_icmp(p.proto))
    point[PacketBox::kSport] = point[PacketBox::kDport] = 0;
  for (int d = 0; d < kDims; ++d)
    q.iv[d] = {point[d], point[d]};
  return list(p.src.family).any_overlap(q);
}

bool PacketSet::subset_of(const PacketSet& o) const {
  return subset_list(v4_, o.v4_) && subset_list(v6_, o.v6_);
}

bool PacketSet::overlaps(const PacketSet& o) const {
  return overlap_list(v4_, o.v4_) || overlap_list(v6_, o.v6_);
}

bool PacketSet::operator==(const PacketSet& o) const {
  return equal_list(v4_, o.v4_) && equal_list(v6_, o.v6_);
}

std::optional<Packet> PacketSet::pick() const {
  for (Family f : {Family::V4, Family::V6}) {
    if (list(f).empty())
      continue;
    std::vector<PacketBox> v = list(f).flat();
    // The lowest corner has the lowest src start, and those boxes come first.
    const PacketBox* best = &v[0];
    for (const PacketBox& b : v) {
      if (b.iv[0].lo != v[0].iv[0].lo)
        break;
      for (int d = 1; d < kDims; ++d)
        if (b.iv[d].lo != best->iv[d].lo) {
          if (b.iv[d].lo < best->iv[d].lo)
            best = &b;
          break;
        }
    }
    Packet p;
    p.src = u128_to_addr(f, best->iv[PacketBox::kSrc].lo);
    p.dst = u128_to_addr(f, best->iv[PacketBox::kDst].lo);
    p.proto = static_cast<uint8_t>(best->iv[PacketBox::kProto].lo);
    // The lowest corner is always a concrete packet: a portless protocol present with some
    // ports is present with port 0, and an ICMP type above 255 implies type 255.
    p.sport = static_cast<uint16_t>(best->iv[PacketBox::kSport].lo);
    p.dport = static_cast<uint16_t>(best->iv[PacketBox::kDport].lo);
    return p;
  }
  return std::nullopt;
}

PacketSet PacketSet::canonical() const {
  PacketSet r;
  if (!v4_.empty())
    r.v4_ = BoxList::from_boxes(canon(v4_.flat(), 0));
  if (!v6_.empty())
    r.v6_ = BoxList::from_boxes(canon(v6_.flat(), 0));
  return r;
}

std::string PacketSet::str() const {
  if (is_empty())
    return "{}";
  PacketSet c = canonical();
  std::string s = "{";
  bool first = true;
  for (Family f : {Family::V4, Family::V6})
    for (const PacketBox& b : c.boxes(f)) {
      if (!first)
        s += " | ";
      first = false;
      s += b.str(f);
    }
  return s + "}";
}

std::string PacketSet::check_invariants() const {
  for (Family f : {Family::V4, Family::V6}) {
    std::string fam = f == Family::V4 ? "v4: " : "v6: ";
    std::string tree = list(f).check_tree();
    if (!tree.empty())
      return fam + tree;
    std::vector<PacketBox> v = list(f).flat(), hits;
    for (size_t i = 0; i < v.size(); ++i) {
      for (int d = 0; d < kDims; ++d)
        if (v[i].iv[d].lo > v[i].iv[d].hi || v[i].iv[d].hi > dim_max(f, d))
          return fam + "box " + std::to_string(i) + " dimension " + std::to_string(d) +
                 " out of bounds";
      if (i > 0 && !canonical_less(v[i - 1], v[i]))
        return fam + "boxes " + std::to_string(i - 1) + " and " + std::to_string(i) + " equal";
      // The tree's bounds were just checked, so a query finds every box overlapping v[i].
      hits.clear();
      list(f).collect_overlapping(v[i], hits);
      if (hits.size() != 1)
        return fam + "box " + v[i].str(f) + " overlaps " + std::to_string(hits.size() - 1) +
               " other(s)";
    }
  }
  return {};
}

PacketSet product(const PacketDims& d) {
  PacketSet out;
  for (Family f : {Family::V4, Family::V6}) {
    if ((f == Family::V4 && !d.v4) || (f == Family::V6 && !d.v6))
      continue;
    auto side = [f](const std::optional<std::vector<AddrRange>>& list) {
      std::vector<AddrRange> v;
      if (!list)
        v.push_back(AddrRange::of(Prefix{IpAddr{f, {}}, 0}));
      else
        for (const AddrRange& r : *list)
          if (r.lo.family == f)
            v.push_back(r);
      return v;
    };
    const std::vector<AddrRange> src = side(d.src), dst = side(d.dst);
    for (const AddrRange& a : src)
      for (const AddrRange& b : dst)
        for (auto [plo, phi] : d.protos)
          for (const PortRange& x : d.sports)
            for (const PortRange& y : d.dports)
              out.add(PacketSet::box(a, b, plo, phi, x.lo, x.hi, y.lo, y.hi));
  }
  return out;
}

} // namespace portolan
