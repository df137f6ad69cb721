// Target options against the backend's schema: the one place they are checked.
#pragma once

#include "diagnostic.h"
#include "lower/schema.h"
#include "manifest.h"

namespace portolan {

/// The target as the IR names it (identity, scope, zones).
TargetInfo target_info(const Target& t);

/// The options every host target takes, consumed by lowering: loopback, icmpv6_nd.
const std::vector<OptionSpec>& host_options();

/// Checks a target against its backend: the scope (unsupported-scope), unknown options (with
/// the nearest name), each option's type and value. Returns every schema option's value.
TargetOptions validate_target(const Target& t, const BackendSpec& spec, Diagnostics& diags);

} // namespace portolan
