// Lowering: chooses the flows a target enforces and turns them into a RuleSet, after binding
// addresses and judging features and expiry in the target's environment.
#pragma once

#include "ruleset.h"

#include "diagnostic.h"

#include <optional>

namespace portolan {

struct LowerContext {
  const Policy& policy;
  const Manifest& manifest;
  const SourceManager& sm;
  std::optional<Date> today_override; ///< --today
};

/// Whether a flow is in force in `env`: its feature is on and it has not expired.
/// Reports expired flows (warning) and undecidable expiry (error) to `diags`.
bool flow_active(const Flow& f, const Environment& env, const std::optional<Date>& today,
                 Diagnostics* diags);

/// Builds the rule set of one target. Unbound endpoints of enforced flows are errors.
/// Options the shared lowering understands are consumed here; `backend_options` lists the ones
/// the backend itself accepts, and anything else is reported.
RuleSet lower_target(const LowerContext& ctx, const Target& target,
                     const std::vector<std::string>& backend_options, Diagnostics& diags);

/// The file:line a flow is traced to in generated configs (path relative to the manifest).
std::string trace_of(const LowerContext& ctx, const SourceLoc& loc);

} // namespace portolan
