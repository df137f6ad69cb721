// unenforced: an active flow that no target of its environment enforces.
#include "check.h"

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
    for (const Environment* env : ctx.environments()) {
      std::vector<bool> enforced(ctx.policy.flows.size(), false);
      for (const Target& t : ctx.manifest->targets)
        if (t.env == env->name)
          for (const Term& term : enforced_terms(lc, t, *env, nullptr))
            enforced[term.flow] = true;
      for (size_t i = 0; i < ctx.policy.flows.size(); ++i) {
        const Flow& f = ctx.policy.flows[i];
        if (enforced[i] || !flow_active(f, *env, ctx.today_override, nullptr))
          continue;
        SourceLoc l = f.loc;
        l.len = 4;
        ctx.report("unenforced", l,
                   "no target of environment '" + env->name +
                       "' enforces this flow: none is on its roles' hosts or between their "
                       "zones");
      }
    }
  }
};

} // namespace

std::unique_ptr<Check> make_unenforced_check() {
  return std::make_unique<UnenforcedCheck>();
}

} // namespace portolan
