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

/// The addresses bound to an endpoint in one environment.
struct BoundAddrs {
  bool any = false;
  std::vector<Prefix> v4, v6; ///< sorted, unique
};

/// Addresses of an endpoint: an interface's own binding, else its role's; a whole role is the
/// union of the role's and all its interfaces' bindings. nullopt: nothing is bound.
std::optional<BoundAddrs> bind_endpoint(const Policy& p, const Environment& env, const Endpoint& e);

/// One direction of one active flow that a target enforces, and the chains it lands in.
struct Term {
  size_t flow = 0;
  const Endpoint* src = nullptr;
  const Endpoint* dst = nullptr;
  bool reverse = false;
  std::vector<Chain> chains;
};

/// The flow selection every target shares: active flows (feature on, not expired), each
/// direction, kept where the target enforces it (host: to or from the role; perimeter: crossing
/// its two zones). Policy order. Expiry findings go to `diags` when given.
std::vector<Term> enforced_terms(const LowerContext& ctx, const Target& target,
                                 const Environment& env, Diagnostics* diags);

/// Builds the rule set of one target. Unbound endpoints of enforced flows are errors.
/// Options the shared lowering understands are consumed here; `backend_options` lists the ones
/// the backend itself accepts, and anything else is reported.
RuleSet lower_target(const LowerContext& ctx, const Target& target,
                     const std::vector<std::string>& backend_options, Diagnostics& diags);

/// The file:line a flow is traced to in generated configs (path relative to the manifest).
std::string trace_of(const LowerContext& ctx, const SourceLoc& loc);

} // namespace portolan
