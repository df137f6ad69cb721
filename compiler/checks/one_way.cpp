// one-way: both directions of a service between two endpoints are written as two one-way
// flows (as the seed's table does), but an environment has only one of them in force.
#include "check.h"

namespace portolan {
namespace {

bool share_service(const Flow& a, const Flow& b) {
  for (const ServiceRef& x : a.services)
    for (const ServiceRef& y : b.services)
      if (x.name == y.name)
        return true;
  return false;
}

class OneWayCheck : public Check {
public:
  const char* name() const override { return "one-way"; }
  std::vector<std::string> codes() const override { return {"one-way"}; }
  bool needs_targets() const override { return true; }

  void run(AnalysisContext& ctx) const override {
    const auto& flows = ctx.policy.flows;
    // Index one-way allow flows by (src, dst) so the reverse is a lookup, not a scan.
    std::map<std::pair<std::string, std::string>, std::vector<size_t>> by_pair;
    for (size_t i = 0; i < flows.size(); ++i)
      if (!flows[i].bidirectional && flows[i].action == Action::Allow)
        by_pair[{flows[i].src.str(), flows[i].dst.str()}].push_back(i);
    for (const Environment* env : ctx.environments()) {
      for (const auto& [key, list] : by_pair) {
        auto rev = by_pair.find({key.second, key.first});
        if (rev == by_pair.end())
          continue;
        for (size_t i : list)
          for (size_t j : rev->second) {
            if (!share_service(flows[i], flows[j]))
              continue;
            bool ai = flow_active(flows[i], *env, ctx.today_override, nullptr);
            bool aj = flow_active(flows[j], *env, ctx.today_override, nullptr);
            if (ai && !aj) {
              SourceLoc l = flows[j].loc;
              l.len = 4;
              ctx.report("one-way", l,
                         "this direction is not in force in environment '" + env->name +
                             "', but its reverse is")
                  .notes.push_back({flows[i].loc, "the reverse direction, in force"});
            }
          }
      }
    }
  }
};

} // namespace

std::unique_ptr<Check> make_one_way_check() {
  return std::make_unique<OneWayCheck>();
}

} // namespace portolan
