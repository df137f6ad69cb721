// unenforced: an active flow that no target of its environment enforces.
#include "check.h"

#include <map>

namespace portolan {
namespace {

class UnenforcedCheck : public Check {
public:
  const char* name() const override { return "unenforced"; }
  std::vector<std::string> codes() const override { return {"unenforced"}; }
  bool needs_targets() const override { return true; }

  void run(AnalysisContext& ctx) const override {
    if (ctx.manifest->targets.empty())
      return;
    LowerContext lc{ctx.policy, *ctx.manifest, ctx.sm, ctx.today_override};
    // One finding per flow, naming every environment where it is in force and unenforced.
    std::vector<std::vector<std::string>> where(ctx.policy.flows.size());
    // The driver's views already hold what each target enforces; a target without a view
    // (another environment than --env) is bound here.
    std::map<const Target*, const TargetView*> views;
    for (const TargetView& v : ctx.targets)
      views[v.target] = &v;
    for (const Environment* env : ctx.environments()) {
      std::vector<bool> enforced(ctx.policy.flows.size(), false);
      std::optional<EnvPackets> packets;
      for (const Target& t : ctx.manifest->targets) {
        if (t.env != env->name)
          continue;
        if (auto v = views.find(&t); v != views.end()) {
          for (size_t flow : v->second->enforced)
            enforced[flow] = true;
          continue;
        }
        if (!packets)
          packets.emplace(ctx.policy, *env);
        for (const Term& term : enforced_terms(lc, t, *env, nullptr, &*packets))
          enforced[term.flow] = true;
      }
      for (size_t i = 0; i < ctx.policy.flows.size(); ++i)
        if (!enforced[i] && flow_active(ctx.policy.flows[i], *env, ctx.today_override, nullptr))
          where[i].push_back(env->name);
    }
    for (size_t i = 0; i < ctx.policy.flows.size(); ++i) {
      if (where[i].empty())
        continue;
      std::string names;
      for (const std::string& n : where[i])
        names += (names.empty() ? "'" : ", '") + n + "'";
      SourceLoc l = ctx.policy.flows[i].loc;
      l.len = 4;
      ctx.report("unenforced", l,
                 std::string("no target of environment") + (where[i].size() > 1 ? "s " : " ") +
                     names +
                     " enforces this flow: none is on its roles' hosts or between their zones");
    }
  }
};

} // namespace

std::unique_ptr<Check> make_unenforced_check() {
  return std::make_unique<UnenforcedCheck>();
}

} // namespace portolan
