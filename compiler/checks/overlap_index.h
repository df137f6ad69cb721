// Finds which flows' packet sets may overlap a query without comparing all pairs: flows are
// indexed by their per-family bounding box, sorted by the start of the destination range, with
// the maximum end per block so whole blocks that end too early are skipped.
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
  void add(size_t id, const Bounds& b) {
    for (int f = 0; f < 2; ++f)
      if (b.has[f])
        entries_[f].push_back({b.box[f], id});
  }

  void build() {
    for (int f = 0; f < 2; ++f) {
      auto& e = entries_[f];
      std::sort(e.begin(), e.end(), [](const Entry& a, const Entry& b) {
        return a.box.iv[PacketBox::kDst].lo < b.box.iv[PacketBox::kDst].lo ||
               (a.box.iv[PacketBox::kDst].lo == b.box.iv[PacketBox::kDst].lo && a.id < b.id);
      });
      block_max_[f].clear();
      for (size_t i = 0; i < e.size(); i += kBlock) {
        u128 m = 0;
        for (size_t j = i; j < std::min(e.size(), i + kBlock); ++j)
          m = std::max(m, e[j].box.iv[PacketBox::kDst].hi);
        block_max_[f].push_back(m);
      }
    }
  }

  /// Ids whose bounding box overlaps `q` in some family, ascending and unique.
  std::vector<size_t> query(const Bounds& q) const {
    std::vector<size_t> out;
    for (int f = 0; f < 2; ++f) {
      if (!q.has[f])
        continue;
      const auto& e = entries_[f];
      const PacketBox& qb = q.box[f];
      u128 qlo = qb.iv[PacketBox::kDst].lo, qhi = qb.iv[PacketBox::kDst].hi;
      size_t end = static_cast<size_t>(std::upper_bound(e.begin(), e.end(), qhi,
                                                        [](u128 v, const Entry& x) {
                                                          return v < x.box.iv[PacketBox::kDst].lo;
                                                        }) -
                                       e.begin());
      for (size_t blk = 0; blk * kBlock < end; ++blk) {
        if (block_max_[f][blk] < qlo)
          continue;
        for (size_t j = blk * kBlock; j < std::min(end, (blk + 1) * kBlock); ++j)
          if (e[j].box.overlaps(qb))
            out.push_back(e[j].id);
      }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

private:
  static constexpr size_t kBlock = 32;
  struct Entry {
    PacketBox box;
    size_t id;
  };
  std::vector<Entry> entries_[2];
  std::vector<u128> block_max_[2];
};

} // namespace portolan
