// Lowering: turns what a target enforces (bind.h) into a vendor-neutral RuleSet.
#pragma once

#include "bind.h"
#include "diagnostic.h"
#include "lower/ruleset.h"
#include "packetspace.h"

namespace portolan {

/// Builds the rule set of one target from its enforced terms (enforced_terms), its endpoints'
/// bindings and its validated options (lower/options.h). Unbound endpoints of enforced flows
/// are errors. With `judge_denies`, every deny rule learns whether an allow rule of its chain
/// matches some of its packets (Rule::overlaps_allow).
RuleSet lower_target(const LowerContext& ctx, const Target& target, const Environment& env,
                     const std::vector<Term>& terms, BindCache& bound, TargetOptions options,
                     bool judge_denies, Diagnostics& diags);

/// The packets one rule of `rs` matches (its sets' prefixes, families and L4 match).
PacketSet rule_packets(const RuleSet& rs, const Rule& r);

} // namespace portolan
