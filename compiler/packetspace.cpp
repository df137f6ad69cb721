#include "packetspace.h"

#include <algorithm>
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

/// The order boxes are stored in: lexicographic on (lo, hi) per dimension, src first. Sorting
/// by src.lo first is what the BoxList scans rely on.
bool canonical_less(const PacketBox& a, const PacketBox& b) {
  for (int d = 0; d < kDims; ++d) {
    if (a.iv[d].lo != b.iv[d].lo)
      return a.iv[d].lo < b.iv[d].lo;
    if (a.iv[d].hi != b.iv[d].hi)
      return a.iv[d].hi < b.iv[d].hi;
  }
  return false;
}

/// Merges, in one pass, boxes that agree on every dimension but `m` and touch along `m`.
/// Returns whether anything merged. Boxes are disjoint, so equal neighbours never overlap.
bool merge_along(std::vector<PacketBox>& v, int m) {
  auto less = [m](const PacketBox& a, const PacketBox& b) {
    for (int d = 0; d < kDims; ++d) {
      if (d == m)
        continue;
      if (a.iv[d].lo != b.iv[d].lo)
        return a.iv[d].lo < b.iv[d].lo;
      if (a.iv[d].hi != b.iv[d].hi)
        return a.iv[d].hi < b.iv[d].hi;
    }
    return a.iv[m].lo < b.iv[m].lo;
  };
  std::sort(v.begin(), v.end(), less);
  size_t w = 0;
  bool merged = false;
  for (size_t r = 1; r < v.size(); ++r) {
    PacketBox& prev = v[w];
    const PacketBox& cur = v[r];
    bool same = true;
    for (int d = 0; d < kDims && same; ++d)
      if (d != m && !(prev.iv[d] == cur.iv[d]))
        same = false;
    if (same && prev.iv[m].hi != kAllOnes && prev.iv[m].hi + 1 == cur.iv[m].lo) {
      prev.iv[m].hi = cur.iv[m].hi;
      merged = true;
    } else {
      v[++w] = cur;
    }
  }
  v.resize(w + 1);
  return merged;
}

/// Merges touching boxes until no single-dimension merge applies, then sorts canonically.
/// Not a minimal cover, but cheap and enough to stop the usual fragment build-up.
void normalise(std::vector<PacketBox>& v) {
  if (v.size() > 1) {
    int quiet = 0;
    int d = kDims - 1;
    while (quiet < kDims) {
      // After merging along d, nothing more merges along d until another dimension changes.
      quiet = merge_along(v, d) ? 1 : quiet + 1;
      d = (d + kDims - 1) % kDims;
      if (v.size() == 1)
        break;
    }
  }
  std::sort(v.begin(), v.end(), canonical_less);
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

/// b grown by one in every dimension (saturating), to find the boxes that touch b.
PacketBox grown(PacketBox b) {
  for (Interval& i : b.iv) {
    if (i.lo > 0)
      --i.lo;
    if (i.hi != kAllOnes)
      ++i.hi;
  }
  return b;
}

/// Whether a and b (disjoint) are equal on all dimensions but one, along which they touch;
/// sets dim to that dimension.
bool mergeable(const PacketBox& a, const PacketBox& b, int& dim) {
  dim = -1;
  for (int d = 0; d < kDims; ++d) {
    if (a.iv[d] == b.iv[d])
      continue;
    if (dim >= 0)
      return false;
    dim = d;
  }
  if (dim < 0)
    return false;
  const Interval &x = a.iv[dim], &y = b.iv[dim];
  return (x.hi != kAllOnes && x.hi + 1 == y.lo) || (y.hi != kAllOnes && y.hi + 1 == x.lo);
}

/// Appends b minus every box of `others` (disjoint pieces).
void subtract_all(const PacketBox& b, const std::vector<PacketBox>& others,
                  std::vector<PacketBox>& out) {
  std::vector<PacketBox> frags{b}, next;
  for (const PacketBox& o : others) {
    next.clear();
    for (const PacketBox& f : frags) {
      if (f.overlaps(o))
        subtract_box(f, o, next);
      else
        next.push_back(f);
    }
    std::swap(frags, next);
    if (frags.empty())
      return;
  }
  out.insert(out.end(), frags.begin(), frags.end());
}

using detail::BoxList;

/// a := a - b.
void remove_list(BoxList& a, const BoxList& b) {
  if (a.empty() || b.empty() || !a.bound().overlaps(b.bound()))
    return;
  std::vector<PacketBox> hits, frags;
  if (b.size() <= a.size()) {
    // Cut each box of b out of a, editing only the boxes it hits.
    for (const PacketBox& bb : b.flat()) {
      hits.clear();
      a.extract_overlapping(bb, hits);
      for (const PacketBox& h : hits) {
        frags.clear();
        subtract_box(h, bb, frags);
        for (const PacketBox& f : frags)
          a.insert_merge(f);
      }
    }
    return;
  }
  // a is the smaller one: rebuild it.
  std::vector<PacketBox> out;
  for (const PacketBox& ab : a.flat()) {
    hits.clear();
    b.collect_overlapping(ab, hits);
    subtract_all(ab, hits, out);
  }
  normalise(out);
  a = BoxList::from_sorted(out);
}

/// a := a | b.
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
  for (const PacketBox& bb : b.flat()) {
    // Pieces of bb inserted earlier never overlap later boxes of b, so hits are parts of a.
    hits.clear();
    a.collect_overlapping(bb, hits);
    frags.clear();
    subtract_all(bb, hits, frags);
    for (const PacketBox& f : frags)
      a.insert_merge(f);
  }
}

BoxList intersect_list(const BoxList& a, const BoxList& b) {
  if (a.empty() || b.empty() || !a.bound().overlaps(b.bound()))
    return {};
  const BoxList& small = a.size() <= b.size() ? a : b;
  const BoxList& large = a.size() <= b.size() ? b : a;
  std::vector<PacketBox> out, hits;
  for (const PacketBox& s : small.flat()) {
    hits.clear();
    large.collect_overlapping(s, hits);
    for (const PacketBox& h : hits)
      out.push_back(intersection(s, h));
  }
  normalise(out);
  return BoxList::from_sorted(out);
}

bool subset_list(const BoxList& a, const BoxList& b) {
  if (a.empty())
    return true;
  if (b.empty() || !b.bound().covers(a.bound()))
    return false;
  std::vector<PacketBox> hits, rest;
  for (const PacketBox& ab : a.flat()) {
    hits.clear();
    b.collect_overlapping(ab, hits);
    if (std::any_of(hits.begin(), hits.end(), [&](const PacketBox& h) { return h.covers(ab); }))
      continue;
    rest.clear();
    subtract_all(ab, hits, rest);
    if (!rest.empty())
      return false;
  }
  return true;
}

bool overlap_list(const BoxList& a, const BoxList& b) {
  if (a.empty() || b.empty() || !a.bound().overlaps(b.bound()))
    return false;
  const BoxList& small = a.size() <= b.size() ? a : b;
  const BoxList& large = a.size() <= b.size() ? b : a;
  for (const PacketBox& s : small.flat())
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
/// Chunks are split when they reach twice this size.
constexpr size_t kChunk = 32;
} // namespace

std::vector<PacketBox> BoxList::flat() const {
  std::vector<PacketBox> out;
  out.reserve(size_);
  for (const Chunk& c : chunks_)
    out.insert(out.end(), c.boxes.begin(), c.boxes.end());
  return out;
}

BoxList BoxList::from_sorted(const std::vector<PacketBox>& v) {
  BoxList l;
  for (size_t i = 0; i < v.size(); i += kChunk) {
    size_t n = std::min(kChunk, v.size() - i);
    Chunk c;
    c.boxes.assign(v.begin() + static_cast<std::ptrdiff_t>(i),
                   v.begin() + static_cast<std::ptrdiff_t>(i + n));
    c.bound = bounding(c.boxes.data(), n);
    l.chunks_.push_back(std::move(c));
  }
  l.size_ = v.size();
  return l;
}

// The scans below stop at the first chunk whose lowest src start lies past the query: chunks
// are in canonical order, which sorts by src.lo first.

void BoxList::collect_overlapping(const PacketBox& q, std::vector<PacketBox>& out) const {
  for (const Chunk& c : chunks_) {
    if (c.boxes.front().iv[0].lo > q.iv[0].hi)
      break;
    if (!c.bound.overlaps(q))
      continue;
    for (const PacketBox& b : c.boxes)
      if (b.overlaps(q))
        out.push_back(b);
  }
}

void BoxList::extract_overlapping(const PacketBox& q, std::vector<PacketBox>& out) {
  for (size_t c = 0; c < chunks_.size();) {
    Chunk& ch = chunks_[c];
    if (ch.boxes.front().iv[0].lo > q.iv[0].hi)
      break;
    if (!ch.bound.overlaps(q)) {
      ++c;
      continue;
    }
    size_t before = ch.boxes.size();
    std::erase_if(ch.boxes, [&](const PacketBox& b) {
      if (!b.overlaps(q))
        return false;
      out.push_back(b);
      return true;
    });
    if (ch.boxes.size() == before) {
      ++c;
      continue;
    }
    size_ -= before - ch.boxes.size();
    bool dropped = ch.boxes.empty();
    refresh(c);
    if (!dropped)
      ++c;
  }
}

bool BoxList::any_overlap(const PacketBox& q) const {
  for (const Chunk& c : chunks_) {
    if (c.boxes.front().iv[0].lo > q.iv[0].hi)
      break;
    if (!c.bound.overlaps(q))
      continue;
    for (const PacketBox& b : c.boxes)
      if (b.overlaps(q))
        return true;
  }
  return false;
}

void BoxList::insert_merge(PacketBox b) {
  for (;;) {
    PacketBox g = grown(b);
    bool merged = false;
    for (size_t c = 0; c < chunks_.size() && !merged; ++c) {
      Chunk& ch = chunks_[c];
      if (ch.boxes.front().iv[0].lo > g.iv[0].hi)
        break;
      if (!ch.bound.overlaps(g))
        continue;
      for (size_t i = 0; i < ch.boxes.size(); ++i) {
        int d;
        if (!mergeable(b, ch.boxes[i], d))
          continue;
        b.iv[d] = {std::min(b.iv[d].lo, ch.boxes[i].iv[d].lo),
                   std::max(b.iv[d].hi, ch.boxes[i].iv[d].hi)};
        ch.boxes.erase(ch.boxes.begin() + static_cast<std::ptrdiff_t>(i));
        --size_;
        refresh(c);
        merged = true;
        break;
      }
    }
    if (!merged) {
      insert_plain(b);
      return;
    }
  }
}

void BoxList::insert_plain(const PacketBox& b) {
  ++size_;
  if (chunks_.empty()) {
    chunks_.push_back(Chunk{b, {b}});
    return;
  }
  auto it =
      std::upper_bound(chunks_.begin(), chunks_.end(), b, [](const PacketBox& x, const Chunk& c) {
        return canonical_less(x, c.boxes.front());
      });
  size_t c = it == chunks_.begin() ? 0 : static_cast<size_t>(it - chunks_.begin()) - 1;
  Chunk& ch = chunks_[c];
  ch.boxes.insert(std::upper_bound(ch.boxes.begin(), ch.boxes.end(), b, canonical_less), b);
  for (int d = 0; d < kDims; ++d) {
    ch.bound.iv[d].lo = std::min(ch.bound.iv[d].lo, b.iv[d].lo);
    ch.bound.iv[d].hi = std::max(ch.bound.iv[d].hi, b.iv[d].hi);
  }
  if (ch.boxes.size() < 2 * kChunk)
    return;
  Chunk upper;
  upper.boxes.assign(ch.boxes.begin() + kChunk, ch.boxes.end());
  ch.boxes.resize(kChunk);
  upper.bound = bounding(upper.boxes.data(), upper.boxes.size());
  refresh(c);
  chunks_.insert(chunks_.begin() + static_cast<std::ptrdiff_t>(c + 1), std::move(upper));
}

void BoxList::refresh(size_t c) {
  Chunk& ch = chunks_[c];
  if (ch.boxes.empty())
    chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(c));
  else
    ch.bound = bounding(ch.boxes.data(), ch.boxes.size());
}

PacketBox BoxList::bound() const {
  PacketBox b = chunks_.front().bound;
  for (const Chunk& c : chunks_)
    for (int d = 0; d < kDims; ++d) {
      b.iv[d].lo = std::min(b.iv[d].lo, c.bound.iv[d].lo);
      b.iv[d].hi = std::max(b.iv[d].hi, c.bound.iv[d].hi);
    }
  return b;
}

std::string BoxList::check_chunks() const {
  size_t n = 0;
  for (size_t c = 0; c < chunks_.size(); ++c) {
    const Chunk& ch = chunks_[c];
    if (ch.boxes.empty())
      return "empty chunk " + std::to_string(c);
    for (const PacketBox& b : ch.boxes)
      if (!ch.bound.covers(b))
        return "chunk " + std::to_string(c) + " bound misses a box";
    n += ch.boxes.size();
  }
  return n == size_ ? "" : "box count out of date";
}

} // namespace detail

PacketSet PacketSet::all() {
  PacketSet s;
  s.v4_ = BoxList::from_sorted({full_box(Family::V4)});
  s.v6_ = BoxList::from_sorted({full_box(Family::V6)});
  return s;
}

PacketSet PacketSet::all_of(Family f) {
  PacketSet s;
  s.list(f) = BoxList::from_sorted({full_box(f)});
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
  out.list(f) = BoxList::from_sorted(v);
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
  if (v4_ == o.v4_ && v6_ == o.v6_)
    return true;
  return subset_of(o) && o.subset_of(*this);
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
    r.v4_ = BoxList::from_sorted(canon(v4_.flat(), 0));
  if (!v6_.empty())
    r.v6_ = BoxList::from_sorted(canon(v6_.flat(), 0));
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
    std::string chunks = list(f).check_chunks();
    if (!chunks.empty())
      return fam + chunks;
    std::vector<PacketBox> v = list(f).flat();
    for (size_t i = 0; i < v.size(); ++i) {
      for (int d = 0; d < kDims; ++d)
        if (v[i].iv[d].lo > v[i].iv[d].hi || v[i].iv[d].hi > dim_max(f, d))
          return fam + "box " + std::to_string(i) + " dimension " + std::to_string(d) +
                 " out of bounds";
      if (i > 0 && !canonical_less(v[i - 1], v[i]))
        return fam + "boxes not sorted at " + std::to_string(i);
      for (size_t j = 0; j < i; ++j)
        if (v[i].overlaps(v[j]))
          return fam + "boxes " + std::to_string(j) + " and " + std::to_string(i) + " overlap";
    }
  }
  return {};
}

} // namespace portolan
