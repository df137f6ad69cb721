// condition-constant: a flow's `when` that decides nothing. Either by its logic (`a or not a` is
// always true, `a and not a` never), or, for an expression of several features, in the
// manifest: it holds in no environment (the flow is never in force), or, with two or more
// environments, in all of them. A required flow whose condition holds nowhere is
// `required-never` instead (one finding per mistake).
#include "check.h"

namespace portolan {
namespace {

constexpr size_t kMaxTruthTable = 12; ///< features; 4096 rows

/// Whether the condition is a tautology (1), a contradiction (0), or neither (-1).
int logical_constant(const Condition& c) {
  std::vector<std::string> names = c.features();
  if (names.size() > kMaxTruthTable)
    return -1;
  bool some_true = false, some_false = false;
  for (uint32_t row = 0; row < (1u << names.size()); ++row) {
    std::set<std::string> on;
    for (size_t i = 0; i < names.size(); ++i)
      if (row & (1u << i))
        on.insert(names[i]);
    (c.holds(on) ? some_true : some_false) = true;
    if (some_true && some_false)
      return -1;
  }
  return some_true ? 1 : 0;
}

class ConditionCheck : public Check {
public:
  const char* name() const override { return "condition"; }
  std::vector<std::string> codes() const override { return {"condition-constant"}; }

  void run(AnalysisContext& ctx) const override {
    const Policy& p = ctx.policy;
    for (const Flow& f : p.flows) {
      if (!f.when)
        continue;
      const std::string text = f.when->str();
      if (int k = logical_constant(*f.when); k >= 0) {
        ctx.report("condition-constant", f.when_loc,
                   k ? "condition '" + text + "' is always true, whatever the features: the " +
                           "'when' decides nothing"
                     : "condition '" + text + "' can never be true, whatever the features: " +
                           "the flow is never in force");
        continue;
      }
      // A single feature constant over the manifest is a fact about the feature (the manifest
      // turns it on nowhere, or everywhere), not about this flow: the per-flow finding is for
      // expressions, whose parts the manifest never lets vary the way the expression assumes.
      if (!ctx.manifest || ctx.manifest->environments.empty() ||
          f.when->op == Condition::Op::Feature)
        continue;
      size_t holds = 0, n = ctx.manifest->environments.size();
      std::string names;
      for (const auto& [name, env] : ctx.manifest->environments) {
        holds += f.when->holds(env.features) ? 1 : 0;
        names += (names.empty() ? "'" : ", '") + name + "'";
      }
      if (holds == 0 && !f.required)
        ctx.report("condition-constant", f.when_loc,
                   "condition '" + text + "' holds in no environment of the manifest (" + names +
                       "): the flow is never in force");
      else if (holds == n && n >= 2)
        ctx.report("condition-constant", f.when_loc,
                   "condition '" + text + "' holds in every environment of the manifest (" + names +
                       "): the 'when' decides nothing");
    }
  }
};

} // namespace

std::unique_ptr<Check> make_condition_check() {
  return std::make_unique<ConditionCheck>();
}

} // namespace portolan
