// required-missing: a `required` flow that lets expire in an environment where it is required.
// A required flow is required where its `when` holds (`required when federation`: wherever
// federation is on); elsewhere it is simply not in force.
// required-never: a `required` flow whose condition holds in no environment of the manifest,
// so it can never be in force.
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
        somewhere = somewhere || f.when->holds(env.features);
      if (somewhere)
        continue;
      never.insert(i);
      ctx.report("required-never", f.when_loc,
                 f.when->op == Condition::Op::Feature
                     ? "required flow can never be in force: no environment turns on feature '" +
                           f.when->str() + "'"
                     : "required flow can never be in force: '" + f.when->str() +
                           "' holds in no environment");
    }
    for (const Environment* env : ctx.environments()) {
      std::optional<Date> today = ctx.today_override ? ctx.today_override : env->today;
      for (size_t i = 0; i < ctx.policy.flows.size(); ++i) {
        const Flow& f = ctx.policy.flows[i];
        if (!f.required || never.count(i))
          continue;
        if (f.when && !f.when->holds(env->features))
          continue; // not required here
        if (f.expires && today && *f.expires <= *today)
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
