// What `doc` and `graph` read: policy files and/or a manifest, and an optional environment.
#pragma once

#include "session.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace portolan::tables {

struct PolicyInput {
  std::vector<std::filesystem::path> files;      ///< policy files named on the command line
  std::optional<std::filesystem::path> manifest; ///< --manifest: its policies, environments
  std::optional<std::string> env;                ///< --env (needs --manifest)
  std::optional<Date> today;                     ///< --today: judge expiry as of this day
};

/// What load_input resolved beyond the session's policy and manifest.
struct LoadedInput {
  const Environment* env = nullptr; ///< the --env environment
  std::optional<Date> today;        ///< --today, else the environment's today
  int exit_code = 0;                ///< non-zero: stop with this code (diagnostics say why)
  std::string usage_error;          ///< a bad-usage message (exit code 2)
};

/// Opens the session on the policy (and the manifest and environment): the driver's
/// read-manifest, load-policy and validate-manifest stages; errors go to the session.
LoadedInput load_input(const PolicyInput& in, Session& s);

} // namespace portolan::tables
