// The four classic anomalies, judged per target and chain in evaluation order over exact packet
// sets (so a flow hidden by the union of several earlier rules is found too), plus
// address-overlap: a disagreement caused by one address bound to two roles.
#include "check.h"
#include "overlap_index.h"

#include <algorithm>
#include <set>
#include <unordered_map>

namespace portolan {
namespace {

constexpr size_t kMaxNotes = 8;

SourceLoc flow_loc(const Flow& f) {
  SourceLoc l = f.loc;
  l.len = 4; // the `flow` keyword
  return l;
}

std::string describe(const Flow& f) {
  return "'" + f.summary() + "'";
}

std::string where(const TargetView& v, Chain c) {
  return "in target '" + v.target->name + "' (" + chain_name(c) + ")";
}

/// Adds notes naming the given flows (capped), then the target.
void name_flows(Diagnostic& d, const Policy& p, const std::vector<size_t>& flows,
                const std::string& verb, const TargetView& v, Chain c) {
  size_t shown = 0;
  for (size_t fi : flows) {
    if (shown++ == kMaxNotes) {
      d.notes.push_back({SourceLoc{}, "and " + std::to_string(flows.size() - kMaxNotes) +
                                          " more flows " + where(v, c)});
      break;
    }
    d.notes.push_back({flow_loc(p.flows[fi]), verb + " " + describe(p.flows[fi])});
  }
  d.notes.push_back({SourceLoc{}, "judged " + where(v, c)});
}

/// Whether the endpoints on one side of two flows are different roles with overlapping,
/// specific (not `any`) bindings: the disagreement then comes from the bindings.
bool bindings_overlap(const Policy& p, const Environment& env, const Endpoint& a,
                      const Endpoint& b) {
  if (a.is_any() || b.is_any())
    return false;
  for (const Endpoint* x : a.concrete()) // a group that holds the other side's role
    for (const Endpoint* y : b.concrete())
      if (x->role == y->role)
        return false;
  auto ba = bind_endpoint(p, env, a), bb = bind_endpoint(p, env, b);
  if (!ba || !bb || ba->any || bb->any)
    return false;
  for (const auto* fam : {&ba->v4, &ba->v6})
    for (const Prefix& x : *fam)
      for (const auto* fam2 : {&bb->v4, &bb->v6})
        for (const Prefix& y : *fam2)
          if (x.contains(y) || y.contains(x))
            return true;
  return false;
}

/// What evaluation order does to one flow in one chain.
struct Status {
  enum Kind { None, Redundant, Shadowed } kind = None;
  std::vector<size_t> blockers; ///< flow indices
  std::optional<std::string> witness;
  std::optional<size_t> later; ///< covered by this later same-action flow (order-free block)
  std::vector<size_t> denies;  ///< overlapping earlier denies (allows only), for the pairs
};

class AnomalyCheck : public Check {
public:
  const char* name() const override { return "anomalies"; }
  std::vector<std::string> codes() const override {
    return {"shadowed", "redundant", "generalization", "correlation", "address-overlap"};
  }
  bool needs_targets() const override { return true; }

  void run(AnalysisContext& ctx) const override {
    // A flow is shadowed or redundant only where every target that enforces it agrees:
    // covered in one firewall but needed in another, it cannot be removed.
    std::map<size_t, std::vector<Covered>> covered;
    std::vector<uint8_t> needed(ctx.policy.flows.size(), 0); // by flow: needed somewhere
    for (const TargetView& v : ctx.targets)
      run_target(ctx, v, covered, needed);
    // ... and in every environment in which it is in force: a copy under another feature may
    // be the only one somewhere else, where it is needed (or enforced by nothing: unenforced).
    std::vector<const Environment*> envs;
    for (const TargetView& v : ctx.targets)
      if (std::find(envs.begin(), envs.end(), v.env) == envs.end())
        envs.push_back(v.env);
    for (auto& [fi, list] : covered) {
      if (needed[fi])
        continue;
      std::vector<std::string> names;
      bool everywhere = true;
      for (const Environment* e : envs) {
        if (!flow_active(ctx.policy.flows[fi], *e, ctx.today_override, nullptr))
          continue;
        bool here = std::any_of(list.begin(), list.end(),
                                [&](const Covered& c) { return c.view->env == e; });
        everywhere = everywhere && here;
        names.push_back(e->name);
      }
      if (everywhere)
        report_covered(ctx, fi, list, names);
    }
  }

private:
  struct ChainResult {
    Chain chain;
    Status status;
  };
  struct Covered {
    const TargetView* view;
    std::vector<ChainResult> results;
  };

  void run_target(AnalysisContext& ctx, const TargetView& v,
                  std::map<size_t, std::vector<Covered>>& covered,
                  std::vector<uint8_t>& needed) const {
    const Policy& p = ctx.policy;
    // Per flow, in flow order: a hashed position and a sort, not a tree of every flow.
    std::vector<std::pair<size_t, std::vector<ChainResult>>> by_flow;
    std::unordered_map<size_t, size_t> at;
    for (const auto& [chain, list] : v.chains) {
      auto statuses = analyse_chain(list);
      at.reserve(at.size() + list.size());
      for (size_t k = 0; k < list.size(); ++k) {
        auto [it, fresh] = at.try_emplace(list[k].flow, by_flow.size());
        if (fresh)
          by_flow.emplace_back(list[k].flow, std::vector<ChainResult>{});
        by_flow[it->second].second.push_back({chain, std::move(statuses[k])});
      }
    }
    std::sort(by_flow.begin(), by_flow.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    // A flow never takes effect only if that holds in every chain it reaches; a direction
    // that is cut off while another still works is an exception, judged as a pair below.
    std::map<std::pair<size_t, size_t>, Chain> pairs; // (deny flow, allow flow) -> first chain
    for (const auto& [fi, results] : by_flow) {
      bool all_covered = std::all_of(results.begin(), results.end(), [](const ChainResult& r) {
        return r.status.kind != Status::None;
      });
      if (all_covered) {
        covered[fi].push_back({&v, results});
        continue;
      }
      needed[fi] = 1;
      if (p.flows[fi].action != Action::Allow)
        continue;
      for (const ChainResult& r : results)
        for (size_t d : r.status.denies)
          pairs.emplace(std::make_pair(d, fi), r.chain);
    }
    if (pairs.empty())
      return;
    // A flow's packets across all chains, for the flows of a pair only (a copy of every
    // flow's set was most of this check's allocation).
    std::unordered_map<size_t, PacketSet> combined;
    for (const auto& [pair, chain] : pairs)
      for (size_t fi : {pair.first, pair.second})
        combined.try_emplace(fi);
    for (const auto& [chain, list] : v.chains)
      for (const FlowPackets& fp : list)
        if (auto it = combined.find(fp.flow); it != combined.end())
          it->second.add(fp.packets);
    for (const auto& [pair, chain] : pairs)
      report_pair(ctx, v, chain, pair.first, pair.second, combined.at(pair.first),
                  combined.at(pair.second));
  }

  /// A minimal set of the blocking flows whose union still covers `packets`: one earlier
  /// overlapping flow alone when one suffices, else the blockers in order with every flow the
  /// others make unnecessary dropped (allows before denies, so a shadowed flow keeps a deny that
  /// decides it). `blockers` holds positions in `list`; the result holds flow indices.
  static std::vector<size_t> minimal_cover(const std::vector<FlowPackets>& list,
                                           const PacketSet& packets,
                                           const std::vector<size_t>& blockers, bool need_deny,
                                           const std::vector<size_t>& denies,
                                           const std::vector<size_t>& allows) {
    auto flows_of = [&](const std::vector<size_t>& pos) {
      std::vector<size_t> out;
      for (size_t j : pos)
        out.push_back(list[j].flow);
      return out;
    };
    if (blockers.size() <= 1)
      return flows_of(blockers);
    // Every earlier overlapping flow may be the one that covers alone, not only the blockers
    // the in-order scan happened to use.
    for (const auto* cands : {&denies, &allows})
      for (size_t j : *cands)
        if ((!need_deny || list[j].action == Action::Deny) && packets.subset_of(list[j].packets))
          return flows_of({j});
    if (blockers.size() > 64)
      return flows_of(blockers); // pruning is quadratic; keep the in-order set
    std::vector<size_t> keep = blockers;
    auto covered_without = [&](size_t drop) {
      PacketSet rest = packets;
      for (size_t j : keep)
        if (j != drop && !rest.is_empty())
          rest = rest.subtract(list[j].packets);
      return rest.is_empty();
    };
    for (Action pass : {Action::Allow, Action::Deny})
      for (size_t n = keep.size(); n-- > 0;) {
        size_t j = keep[n];
        if (list[j].action != pass)
          continue;
        if (need_deny && pass == Action::Deny &&
            std::count_if(keep.begin(), keep.end(),
                          [&](size_t x) { return list[x].action == Action::Deny; }) == 1)
          continue;
        if (covered_without(j))
          keep.erase(keep.begin() + static_cast<long>(n));
      }
    return flows_of(keep);
  }

  /// Pass 1: coverage by earlier flows in evaluation order (denies first, so an allow's
  /// packets inside a deny are decided by that deny). Pass 2: a flow not covered so far but
  /// inside one later same-action flow that is itself not covered (so duplicates and mutual
  /// covers name one culprit, not each other).
  static std::vector<Status> analyse_chain(const std::vector<FlowPackets>& list) {
    std::vector<Bounds> bounds;
    bounds.reserve(list.size());
    OverlapIndex index;
    for (size_t k = 0; k < list.size(); ++k) {
      bounds.push_back(bounds_of(list[k].packets));
      index.add(k, list[k].packets);
    }
    index.build();
    std::vector<Status> out(list.size());
    std::vector<std::vector<size_t>> later_of(list.size());
    for (size_t k = 0; k < list.size(); ++k) {
      const FlowPackets& fp = list[k];
      if (fp.packets.is_empty())
        continue;
      std::vector<size_t> denies, allows; // earlier, exactly overlapping
      for (size_t j : index.query(list[k].packets)) {
        if (j == k)
          continue;
        if (j > k) {
          later_of[k].push_back(j);
          continue;
        }
        if (!list[j].packets.overlaps(fp.packets))
          continue;
        (list[j].action == Action::Deny ? denies : allows).push_back(j);
      }
      Status& st = out[k];
      if (denies.empty() && allows.empty())
        continue;
      // Subtract what earlier rules decide from the flow's own (shrinking) remainder: no
      // union of the earlier flows is ever built.
      PacketSet rest = fp.packets;
      std::vector<size_t> blockers;
      for (size_t j : denies) {
        if (rest.is_empty())
          break;
        if (rest.overlaps(list[j].packets)) {
          blockers.push_back(j);
          rest = rest.subtract(list[j].packets);
        }
      }
      bool denied_part = fp.action == Action::Allow && !blockers.empty();
      for (size_t j : allows) {
        if (rest.is_empty())
          break;
        if (rest.overlaps(list[j].packets)) {
          blockers.push_back(j);
          rest = rest.subtract(list[j].packets);
        }
      }
      if (fp.action == Action::Allow)
        for (size_t j : denies)
          st.denies.push_back(list[j].flow);
      if (!rest.is_empty())
        continue;
      st.blockers = minimal_cover(list, fp.packets, blockers, denied_part, denies, allows);
      if (denied_part) {
        st.kind = Status::Shadowed;
        PacketSet hit;
        for (size_t j : denies)
          hit.add(list[j].packets.intersect(fp.packets));
        st.witness = witness(hit);
      } else {
        st.kind = Status::Redundant;
        st.witness = witness(fp.packets);
      }
    }
    for (size_t k = 0; k < list.size(); ++k) {
      if (out[k].kind != Status::None || list[k].packets.is_empty())
        continue;
      for (size_t j : later_of[k]) {
        if (list[j].action != list[k].action || out[j].kind != Status::None)
          continue;
        bool box_covers = true;
        for (int f = 0; f < 2; ++f)
          if (bounds[k].has[f])
            box_covers =
                box_covers && bounds[j].has[f] && bounds[j].box[f].covers(bounds[k].box[f]);
        if (box_covers && list[k].packets.subset_of(list[j].packets)) {
          out[k].kind = Status::Redundant;
          out[k].later = list[j].flow;
          out[k].blockers = {list[j].flow};
          out[k].witness = witness(list[k].packets);
          break;
        }
      }
    }
    return out;
  }

  static void report_covered(AnalysisContext& ctx, size_t fi, const std::vector<Covered>& where,
                             const std::vector<std::string>& envs) {
    const Policy& p = ctx.policy;
    const Flow& f = p.flows[fi];
    const TargetView& v = *where.front().view;
    const std::vector<ChainResult>& results = where.front().results;
    bool shadowed = std::any_of(results.begin(), results.end(), [](const ChainResult& r) {
      return r.status.kind == Status::Shadowed;
    });
    const ChainResult& lead =
        *std::find_if(results.begin(), results.end(), [&](const ChainResult& r) {
          return !shadowed || r.status.kind == Status::Shadowed;
        });
    const char* action = f.action == Action::Deny ? "deny" : "allow";
    Diagnostic* d = nullptr;
    if (shadowed)
      d = &ctx.report("shadowed", flow_loc(f),
                      "flow never takes effect as written: deny flows evaluated before it "
                      "decide all its packets");
    else if (lead.status.later)
      d = &ctx.report("redundant", flow_loc(f),
                      std::string("flow is redundant: a later ") + action +
                          " flow decides all its packets the same way, and order among " + action +
                          "s does not matter");
    else
      d = &ctx.report("redundant", flow_loc(f),
                      std::string("flow is redundant: earlier ") + action +
                          " flows already decide all its packets the same way");
    for (const ChainResult& r : results)
      name_flows(*d, p, r.status.blockers, shadowed ? "decided by" : "covered by", v, r.chain);
    if (where.size() > 1)
      d->notes.push_back({SourceLoc{}, "and likewise in " + std::to_string(where.size() - 1) +
                                           " more target(s) enforcing it"});
    if (envs.size() > 1) {
      std::string list;
      for (const std::string& e : envs)
        list += (list.empty() ? "'" : ", '") + e + "'";
      d->notes.push_back({SourceLoc{}, std::string(shadowed ? "shadowed" : "redundant") +
                                           " in every environment where it is in force: " + list});
    }
    d->witness = lead.status.witness;
  }

  static void report_pair(AnalysisContext& ctx, const TargetView& v, Chain chain, size_t deny,
                          size_t allow, const PacketSet& dset, const PacketSet& aset) {
    const Policy& p = ctx.policy;
    const Flow& df = p.flows[deny];
    const Flow& af = p.flows[allow];
    PacketSet both = dset.intersect(aset);
    if (both.is_empty())
      return;
    auto add_notes = [&](Diagnostic& d, size_t other, const std::string& verb) {
      d.notes.push_back({flow_loc(p.flows[other]), verb + " " + describe(p.flows[other])});
      d.notes.push_back({SourceLoc{}, "judged " + where(v, chain)});
      d.witness = witness(both);
    };
    if (bindings_overlap(p, *v.env, df.src, af.src) ||
        bindings_overlap(p, *v.env, df.dst, af.dst)) {
      auto& d = ctx.report("address-overlap", flow_loc(af),
                           "flow disagrees with deny flow " + describe(df) +
                               " because their roles are bound to overlapping addresses in "
                               "environment '" +
                               v.env->name + "'");
      add_notes(d, deny, "denied by");
    } else if (dset.subset_of(aset)) {
      auto& d =
          ctx.report("generalization", flow_loc(df),
                     "deny flow is an exception inside the broader allow flow " + describe(af));
      add_notes(d, allow, "generalized by");
    } else {
      auto& d = ctx.report("correlation", flow_loc(af),
                           "flow partially overlaps deny flow " + describe(df) +
                               "; the overlap is denied because denies come first");
      add_notes(d, deny, "overlaps");
    }
  }
};

} // namespace

std::unique_ptr<Check> make_anomaly_check() {
  return std::make_unique<AnomalyCheck>();
}

} // namespace portolan
