// required-missing: a `required` flow that an environment switches off or lets expire.
#include "check.h"

namespace portolan {
namespace {

class RequiredCheck : public Check {
public:
  const char* name() const override { return "required"; }
  std::vector<std::string> codes() const override { return {"required-missing"}; }
  bool needs_targets() const override { return true; }

  void run(AnalysisContext& ctx) const override {
    for (const Environment* env : ctx.environments()) {
      std::optional<Date> today = ctx.today_override ? ctx.today_override : env->today;
      for (const Flow& f : ctx.policy.flows) {
        if (!f.required)
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
