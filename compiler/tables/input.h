// What `doc` and `graph` read: policy files and/or a manifest, and an optional environment.
#pragma once

#include "diagnostic.h"
#include "load.h"
#include "manifest.h"

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

struct LoadedInput {
  std::optional<Manifest> manifest;
  LoadResult loaded;
  const Environment* env = nullptr; ///< the --env environment
  std::optional<Date> today;        ///< --today, else the environment's today
  int exit_code = 0;                ///< non-zero: stop with this code (diagnostics say why)
  std::string usage_error;          ///< a bad-usage message (exit code 2)
};

/// Loads the policy (and the manifest and environment); errors go to `diags`.
LoadedInput load_input(const PolicyInput& in, SourceManager& sm, Diagnostics& diags);

} // namespace portolan::tables
