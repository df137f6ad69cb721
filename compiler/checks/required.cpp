// required-missing: a `required` flow that an environment switches off or lets expire.
// required-never: a `required` flow whose condition no environment of the manifest turns on,
// so it can never be in force (one finding, instead of one required-missing per environment).
#include "check.h"

namespace portolan {
namespace {

class RequiredCheck : public Check {
public:
  const char* name() const override { return "required"; }
  std::vector<std::string> codes() const override { return {"required-missing", "required-never"}; }
  bool needs_targets() const override { return true; }

  void run(AnalysisContext& ctx) const override {
    std::set<size_t> never;
    for (size_t i = 0; i < ctx.policy.flows.size(); ++i) {
      const Flow& f = ctx.policy.flows[i];
      if (!f.required || !f.when || ctx.manifest->environments.empty())
        continue;
      bool somewhere = false;
      for (const auto& [name, env] : ctx.manifest->environments)
        somewhere = somewhere || env.features.count(*f.when);
      if (somewhere)
        continue;
      never.insert(i);
      ctx.report("required-never", f.when_loc,
                 "required flow can never be in force: no environment turns on feature '" +
                     *f.when + "'");
    }
    for (const Environment* env : ctx.environments()) {
      std::optional<Date> today = ctx.today_override ? ctx.today_override : env->today;
      for (size_t i = 0; i < ctx.policy.flows.size(); ++i) {
        const Flow& f = ctx.policy.flows[i];
        if (!f.required || never.count(i))
          continue;
        if (f.when && !env->features.count(*f.when))
          ctx.report("required-missing", f.when_loc,
                     "required flow is switched off in environment '" + env->name + "': feature '" +
                         *f.when + "' is not on");
        else if (f.expires && today && *f.expires <= *today)
          ctx.report("required-missing", f.expires_loc,
                     "required flow has expired in environment '" + env->name + "' (on " +
                         f.expires->str() + ", today is " + today->str() + ")");
      }
    }
  }
};

} // namespace

std::unique_ptr<Check> make_required_check() {
  return std::make_unique<RequiredCheck>();
}

} // namespace portolan
