// Lowering: turns what a target enforces (bind.h) into a vendor-neutral RuleSet.
#pragma once

#include "bind.h"
#include "ruleset.h"

#include "diagnostic.h"

namespace portolan {

/// Builds the rule set of one target. Unbound endpoints of enforced flows are errors.
/// Options the shared lowering understands are consumed here; `backend_options` lists the ones
/// the backend itself accepts, and anything else is reported.
RuleSet lower_target(const LowerContext& ctx, const Target& target,
                     const std::vector<std::string>& backend_options, Diagnostics& diags);

} // namespace portolan
