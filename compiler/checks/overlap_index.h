// Finds which flows' packet sets may overlap a query without comparing all pairs. Every box of
// every flow is indexed on its own (a two-way flow's bounding box would span from one role's
// addresses to the other's and match nearly everything), in a static R-tree packed by
// destination, then source: a query descends only into nodes whose bounds overlap it in all
// five dimensions. An index on destinations alone visited every box whose destinations
// overlap the query, and past 100,000 flows a /16 holds the destinations of more and more
// roles, so each query cost grew with N.
#pragma once

#include "packetspace.h"

#include <algorithm>
#include <array>
#include <vector>

namespace portolan {

struct Bounds {
  bool has[2] = {false, false};
  PacketBox box[2];
};

/// The boxes of one family of `s`, in storage order, in a buffer of the calling thread that the
/// next call reuses (the sorted copy `boxes()` makes was a fifth of the anomalies check; every
/// use here is order-free: bounds, and ids that query() sorts).
inline const std::vector<PacketBox>& boxes_of(const PacketSet& s, int f) {
  thread_local std::vector<PacketBox> buf;
  buf.clear();
  s.append_boxes(f == 0 ? Family::V4 : Family::V6, buf);
  return buf;
}

inline Bounds bounds_of(const PacketSet& s) {
  Bounds b;
  for (int f = 0; f < 2; ++f) {
    const auto& boxes = boxes_of(s, f);
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
      for (const PacketBox& b : boxes_of(s, f))
        entries_[f].push_back({b, id});
  }

  void build() {
    for (int f = 0; f < 2; ++f)
      pack(f);
  }

  /// Ids whose boxes overlap `q` in some family, ascending and unique.
  std::vector<size_t> query(const PacketSet& q) const {
    std::vector<size_t> out;
    for (int f = 0; f < 2; ++f) {
      if (entries_[f].empty())
        continue;
      for (const PacketBox& qb : boxes_of(q, f))
        search(f, qb, [&](size_t id) {
          out.push_back(id);
          return false;
        });
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  /// Whether query(q) would be non-empty; stops at the first overlapping box.
  bool any(const PacketSet& q) const {
    for (int f = 0; f < 2; ++f) {
      if (entries_[f].empty())
        continue;
      for (const PacketBox& qb : boxes_of(q, f))
        if (search(f, qb, [](size_t) { return true; }))
          return true;
    }
    return false;
  }

private:
  static constexpr size_t kFan = 16;

  struct Entry {
    PacketBox box;
    size_t id;
  };
  /// A node covers entries (leaf level) or nodes of the level below [first, first + count).
  struct Node {
    PacketBox bound;
    uint32_t first = 0, count = 0;
  };

  static bool meets(const PacketBox& a, const PacketBox& b) {
    for (int d = 0; d < PacketBox::kDims; ++d)
      if (a.iv[d].hi < b.iv[d].lo || b.iv[d].hi < a.iv[d].lo)
        return false;
    return true;
  }

  static void widen(PacketBox& into, const PacketBox& b) {
    for (int d = 0; d < PacketBox::kDims; ++d) {
      into.iv[d].lo = std::min(into.iv[d].lo, b.iv[d].lo);
      into.iv[d].hi = std::max(into.iv[d].hi, b.iv[d].hi);
    }
  }

  /// Sort-tile-recursive packing: sort by destination start, cut into vertical slices of
  /// about sqrt(leaves) leaves each, sort each slice by source start, cut into leaves; the
  /// levels above group kFan consecutive nodes.
  void pack(int f) {
    auto& e = entries_[f];
    levels_[f].clear();
    if (e.empty())
      return;
    auto key = [](const Entry& x, int d) { return x.box.iv[d].lo; };
    std::sort(e.begin(), e.end(), [&](const Entry& a, const Entry& b) {
      return key(a, PacketBox::kDst) < key(b, PacketBox::kDst) ||
             (key(a, PacketBox::kDst) == key(b, PacketBox::kDst) && a.id < b.id);
    });
    size_t leaves = (e.size() + kFan - 1) / kFan;
    size_t slices = 1;
    while (slices * slices < leaves)
      ++slices;
    size_t per_slice = ((leaves + slices - 1) / slices) * kFan;
    for (size_t lo = 0; lo < e.size(); lo += per_slice) {
      auto first = e.begin() + static_cast<long>(lo);
      auto last = e.begin() + static_cast<long>(std::min(e.size(), lo + per_slice));
      std::sort(first, last, [&](const Entry& a, const Entry& b) {
        return key(a, PacketBox::kSrc) < key(b, PacketBox::kSrc) ||
               (key(a, PacketBox::kSrc) == key(b, PacketBox::kSrc) &&
                (key(a, PacketBox::kDst) < key(b, PacketBox::kDst) ||
                 (key(a, PacketBox::kDst) == key(b, PacketBox::kDst) && a.id < b.id)));
      });
    }
    levels_[f].push_back(pack(e.size(), [&](size_t i) -> const PacketBox& { return e[i].box; }));
    while (levels_[f].back().size() > 1) {
      std::vector<Node> up = pack(levels_[f].back().size(), [&](size_t i) -> const PacketBox& {
        return levels_[f].back()[i].bound;
      });
      levels_[f].push_back(std::move(up));
    }
  }

  /// The level above `count` items: a node per kFan of them (in order), bounding their boxes.
  template <class BoundOf>
  static std::vector<Node> pack(size_t count, BoundOf bound_of) {
    std::vector<Node> level;
    for (size_t lo = 0; lo < count; lo += kFan) {
      Node n{bound_of(lo), static_cast<uint32_t>(lo),
             static_cast<uint32_t>(std::min(kFan, count - lo))};
      for (size_t i = lo + 1; i < lo + n.count; ++i)
        widen(n.bound, bound_of(i));
      level.push_back(n);
    }
    return level;
  }

  /// Calls hit(id) for every entry overlapping qb until it returns true; true if one did.
  template <class Hit>
  bool search(int f, const PacketBox& qb, Hit&& hit) const {
    const auto& levels = levels_[f];
    const auto& e = entries_[f];
    // (level, node) pairs still to visit; the root is the one node of the top level. At most
    // kFan - 1 siblings wait per level, so a fixed array holds them (no allocation per query
    // box: most of the check's malloc calls); 16 levels of 16 is 2^64 entries.
    std::array<std::pair<uint32_t, uint32_t>, kFan * 16> stack;
    size_t top = 0;
    stack[top++] = {static_cast<uint32_t>(levels.size() - 1), 0};
    while (top > 0) {
      auto [lv, i] = stack[--top];
      const Node& n = levels[lv][i];
      if (!meets(n.bound, qb))
        continue;
      if (lv == 0) {
        for (uint32_t k = n.first; k < n.first + n.count; ++k)
          if (meets(e[k].box, qb) && hit(e[k].id))
            return true;
        continue;
      }
      for (uint32_t k = n.first + n.count; k-- > n.first;)
        stack[top++] = {lv - 1, k};
    }
    return false;
  }

  std::vector<Entry> entries_[2];
  std::vector<std::vector<Node>> levels_[2]; ///< leaves first; the last holds the root
};

} // namespace portolan
