// outlier: a documentation error across roles. In a group of flows (the vendor table's
// "Access", "A/V" rows), every flow but one gives a side to one interface of a role and that
// one flow to another interface of the same role: for example outbound media from the Access
// interface where every other media row uses the A/V interface. A suspicion, not a fact, so
// it is off unless [checks] gives `outlier` a severity.
#include "check.h"

namespace portolan {
namespace {

class OutlierCheck : public Check {
public:
  const char* name() const override { return "outlier"; }
  std::vector<std::string> codes() const override { return {"outlier"}; }

  void run(AnalysisContext& ctx) const override {
    if (!ctx.manifest)
      return;
    auto on = ctx.manifest->checks.find("outlier");
    if (on == ctx.manifest->checks.end() || on->second == "off")
      return;
    const Policy& p = ctx.policy;
    // (group, side, role) -> interface -> flows using it on that side.
    std::map<std::tuple<std::string, int, std::string>, std::map<std::string, std::vector<size_t>>>
        uses;
    for (size_t i = 0; i < p.flows.size(); ++i) {
      const Flow& f = p.flows[i];
      if (f.group.empty())
        continue;
      for (int side = 0; side < 2; ++side) {
        const Endpoint& e = side == 0 ? f.src : f.dst;
        if (!e.iface.empty())
          uses[{f.group, side, e.role}][e.iface].push_back(i);
      }
    }
    for (const auto& [key, by_iface] : uses) {
      if (by_iface.size() != 2)
        continue;
      auto a = by_iface.begin(), b = std::next(a);
      const auto* odd = a->second.size() == 1 && b->second.size() >= 2   ? &*a
                        : b->second.size() == 1 && a->second.size() >= 2 ? &*b
                                                                         : nullptr;
      if (!odd)
        continue;
      const auto& usual = odd == &*a ? *b : *a;
      const auto& [group, side, role] = key;
      const Flow& f = p.flows[odd->second.front()];
      const Endpoint& e = side == 0 ? f.src : f.dst;
      auto& d = ctx.report("outlier", e.loc,
                           std::string("every other '") + group + "' flow " +
                               (side == 0 ? "from" : "to") + " '" + role + "' uses interface '" +
                               role + "." + usual.first + "'; this one uses '" + e.str() +
                               "': a documentation error?");
      d.notes.push_back(
          {p.flows[usual.second.front()].loc,
           "for example this flow (" + std::to_string(usual.second.size()) + " in all)"});
    }
  }
};

} // namespace

std::unique_ptr<Check> make_outlier_check() {
  return std::make_unique<OutlierCheck>();
}

} // namespace portolan
