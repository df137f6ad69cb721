// `portolan diff`: what a policy change opens and closes, exactly, from the packet engine. Two
// sides (old and new), each a loaded policy and manifest with every target's view; per target
// and chain, the set difference of the allowed packets, partitioned by the flows that decide
// them on each side, decomposed into a few disjoint regions, each with a witness packet. Never a
// textual diff of generated configs. The git and folder side of the command is driver/diff.cpp;
// the renderings (text, JSON, SARIF, Markdown) are compiler/diff_report.cpp.
#pragma once

#include "manifest.h"
#include "packetspace.h"
#include "semantics.h"

#include <array>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace portolan {

/// A product of interval lists, one list per dimension (src, dst, proto, sport, dport), all in
/// one family: the packets whose every field lies in its dimension's list. Lists are sorted,
/// disjoint and not adjacent.
struct Region {
  Family family = Family::V4;
  std::array<std::vector<Interval>, PacketBox::kDims> dims;

  /// The addresses of one address dimension as prefixes (each interval split into CIDR blocks).
  std::vector<Prefix> prefixes(int dim) const;
  /// The protocols, "tcp", "udp", "47", "0-5" (ranges of numbers as written).
  std::vector<std::string> protocols() const;
  /// Whether every protocol of the region is ICMP (ports are then type and code).
  bool icmp() const;
  /// A port dimension as "N" / "LO-HI" strings; empty when it is every value (no constraint).
  std::vector<std::string> ports(int dim) const;
  /// "src 192.0.2.0/25 dst 198.51.100.10/32 tcp dport 5061" (full dimensions omitted).
  std::string str() const;
  /// A concrete packet of the region: the lowest, but source port 49152 where the region has it
  /// and the address after a prefix's first where there is one (as the checks' witnesses).
  Packet witness() const;
  PacketSet packets() const;
  bool operator==(const Region&) const = default;
};

/// A set of packets as a few disjoint regions: its canonical boxes, then regions that differ in
/// one dimension only merged into one (their lists united), until none can be. Deterministic:
/// equal sets give equal lists, IPv4 first, ordered by their lowest values.
std::vector<Region> decompose(const PacketSet& s);

/// Interval (of a family's addresses) to the fewest prefixes covering exactly it, in order.
std::vector<Prefix> interval_prefixes(Family f, const Interval& iv);

/// A flow as one side sees it (paths are as that side's SourceManager shows them: relative to
/// the side's tree).
struct DiffFlow {
  std::string file;
  uint32_t line = 0, col = 0;
  std::string name; ///< the flow's summary: "access: pic_partner <-> edge.access via sip_mtls"
  Action action = Action::Allow;
  SourceLoc loc; ///< in the side's SourceManager
};

/// One region of packets newly allowed (opened) or newly denied (closed) in one chain.
struct DiffRegion {
  bool opened = true;
  Chain chain = Chain::Input;
  Region region;
  Packet witness;
  std::optional<DiffFlow> old_flow; ///< the old side's deciding flow; nullopt: default deny
  std::optional<DiffFlow> new_flow; ///< the new side's deciding flow; nullopt: default deny
};

struct TargetDiff {
  enum class Status { Unchanged, Changed, Added, Removed, Retargeted };
  std::string name, env, old_env;
  Status status = Status::Unchanged;
  std::string old_desc, new_desc;      ///< "nftables, host edge" / "iptables, between a b"
  std::vector<std::string> retargeted; ///< "backend: nftables -> iptables", ...
  SourceLoc old_loc, new_loc;          ///< the [[targets]] entry on each side
  std::string old_file, new_file;
  uint32_t old_line = 0, new_line = 0;
  std::vector<DiffRegion> regions;
  size_t opened() const;
  size_t closed() const;
};

/// A flow or service whose packets did not change but whose text did (note, tags, label...); or
/// a flow added or removed without changing any packet a target allows.
struct TextChange {
  std::string kind; ///< "flow" or "service"
  std::string name;
  std::optional<DiffFlow> old_flow, new_flow;
  std::vector<std::string> changed; ///< "note", "tags", "group", "label", "added", "removed"...
};

struct DiffResult {
  std::vector<TargetDiff> targets; ///< new manifest order, then the removed ones in old order
  std::vector<TextChange> text_only;
  std::vector<std::string> envs_added, envs_removed;
  size_t opened() const;
  size_t closed() const;
  size_t targets_with(TargetDiff::Status s) const;
};

/// One side of a diff: its policy, manifest and sources, and the views of the targets to
/// compare (any subset of the manifest's, by the caller's filters).
struct DiffSide {
  const Policy* policy = nullptr;
  const Manifest* manifest = nullptr;
  const SourceManager* sm = nullptr;
  std::vector<TargetView> views;
  /// What each view allows (allowed_packets), parallel to `views`; computed when left empty.
  std::vector<TargetPackets> allowed;
};

DiffResult compute_diff(const DiffSide& old_side, const DiffSide& new_side);

/// What `--fail-on` asks: opened, closed, any (opened, closed or a target added, removed or
/// retargeted), never.
bool diff_fails(const DiffResult& r, const std::string& fail_on);

/// How to name the two sides in the outputs.
struct DiffLabels {
  std::string old_label, new_label;   ///< as given: "main", "HEAD", "old-folder/", "work tree"
  std::string old_commit, new_commit; ///< full hashes of revisions ("" for folders)
  std::string manifest;               ///< the manifest's path inside each side
};

void render_diff_text(std::ostream& out, const DiffResult& r, const DiffLabels& l);
std::string render_diff_json(const DiffResult& r, const DiffLabels& l);
std::string render_diff_sarif(const DiffResult& r, const DiffLabels& l);
std::string render_diff_markdown(const DiffResult& r, const DiffLabels& l);

} // namespace portolan
