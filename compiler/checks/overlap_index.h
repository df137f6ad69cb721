// Finds which flows' packet sets may overlap a query without comparing all pairs. Every box of
// every flow is indexed on its own (a two-way flow's bounding box would span from one role's
// addresses to the other's and match nearly everything), sorted by the start of the
// destination range, with a segment tree of range ends to skip what ends too early.
#pragma once

#include "packetspace.h"

#include <algorithm>
#include <vector>

namespace portolan {

struct Bounds {
  bool has[2] = {false, false};
  PacketBox box[2];
};

inline Bounds bounds_of(const PacketSet& s) {
  Bounds b;
  for (int f = 0; f < 2; ++f) {
    auto boxes = s.boxes(f == 0 ? Family::V4 : Family::V6);
    if (boxes.empty())
      continue;
    b.has[f] = true;
    b.box[f] = boxes[0];
    for (const PacketBox& x : boxes)
      for (int d = 0; d < PacketBox::kDims; ++d) {
        b.box[f].iv[d].lo = std::min(b.box[f].iv[d].lo, x.iv[d].lo);
        b.box[f].iv[d].hi = std::max(b.box[f].iv[d].hi, x.iv[d].hi);
      }
  }
  return b;
}

class OverlapIndex {
public:
  void add(size_t id, const PacketSet& s) {
    for (int f = 0; f < 2; ++f)
      for (const PacketBox& b : s.boxes(f == 0 ? Family::V4 : Family::V6))
        entries_[f].push_back({b, id});
  }

  void build() {
    for (int f = 0; f < 2; ++f) {
      auto& e = entries_[f];
      std::sort(e.begin(), e.end(), [](const Entry& a, const Entry& b) {
        return a.box.iv[PacketBox::kDst].lo < b.box.iv[PacketBox::kDst].lo ||
               (a.box.iv[PacketBox::kDst].lo == b.box.iv[PacketBox::kDst].lo && a.id < b.id);
      });
      // A segment tree of the largest destination end in each range of entries.
      size_t n = 1;
      while (n < e.size())
        n <<= 1;
      size_[f] = n;
      max_hi_[f].assign(2 * n, 0);
      for (size_t i = 0; i < e.size(); ++i)
        max_hi_[f][n + i] = e[i].box.iv[PacketBox::kDst].hi;
      for (size_t i = n - 1; i > 0; --i)
        max_hi_[f][i] = std::max(max_hi_[f][2 * i], max_hi_[f][2 * i + 1]);
    }
  }

  /// Ids whose bounding box overlaps `q` in some family, ascending and unique. Entries are
  /// sorted by destination start, so only a prefix can overlap; within it the tree skips every
  /// range whose destinations all end before the query starts: O(log n + matches).
  std::vector<size_t> query(const PacketSet& q) const {
    std::vector<size_t> out;
    for (int f = 0; f < 2; ++f) {
      if (entries_[f].empty())
        continue;
      const auto& e = entries_[f];
      for (const PacketBox& qb : q.boxes(f == 0 ? Family::V4 : Family::V6)) {
        u128 qlo = qb.iv[PacketBox::kDst].lo, qhi = qb.iv[PacketBox::kDst].hi;
        size_t end = static_cast<size_t>(std::upper_bound(e.begin(), e.end(), qhi,
                                                          [](u128 v, const Entry& x) {
                                                            return v < x.box.iv[PacketBox::kDst].lo;
                                                          }) -
                                         e.begin());
        visit(f, 1, 0, size_[f], end, qlo, qb, out);
      }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

private:
  struct Entry {
    PacketBox box;
    size_t id;
  };

  void visit(int f, size_t node, size_t lo, size_t hi, size_t end, u128 qlo, const PacketBox& qb,
             std::vector<size_t>& out) const {
    if (lo >= end || max_hi_[f][node] < qlo)
      return;
    if (hi - lo == 1) {
      const Entry& x = entries_[f][lo];
      if (x.box.overlaps(qb))
        out.push_back(x.id);
      return;
    }
    size_t mid = (lo + hi) / 2;
    visit(f, 2 * node, lo, mid, end, qlo, qb, out);
    visit(f, 2 * node + 1, mid, hi, end, qlo, qb, out);
  }

  std::vector<Entry> entries_[2];
  std::vector<u128> max_hi_[2];
  size_t size_[2] = {0, 0};
};

} // namespace portolan
