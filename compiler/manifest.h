// portolan.toml: which policy files, how roles bind to addresses per environment, and which
// configs to generate. Read with toml++; every value keeps its location for diagnostics.
#pragma once

#include "diagnostic.h"
#include "lower/schema.h"
#include "model.h"
#include "net.h"
#include "vocab.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace portolan {

/// What one role or role.interface is bound to in an environment.
struct Binding {
  bool any = false;
  std::vector<Prefix> prefixes; ///< sorted, unique
  SourceLoc loc;
};

struct Environment {
  std::string name;
  std::map<std::string, Binding> bind; ///< key: "role" or "role.interface"
  std::map<std::string, SourceLoc> features;
  std::optional<Date> today;
  SourceLoc loc;
};

struct Target {
  std::string name, backend, env;
  Scope scope = Scope::Host;
  std::vector<std::string> hosts; ///< Scope::Host: the roles this machine holds (one or more)
  std::vector<SourceLoc> host_locs;
  std::vector<std::string> between; ///< Scope::Between: two zones
  std::vector<SourceLoc> between_locs;
  std::string output; ///< as written in the manifest
  std::map<std::string, OptionValue> options;
  SourceLoc loc, backend_loc, env_loc, scope_loc, output_loc;
  /// Whether this is the host firewall of `role` (one of the machine's roles).
  bool hosts_role(const std::string& role) const {
    return scope == Scope::Host && std::find(hosts.begin(), hosts.end(), role) != hosts.end();
  }
  /// "fe", or "fe, cms" for a machine with several roles.
  std::string host_str() const;
};

struct Manifest {
  std::filesystem::path path, dir;
  std::vector<std::string> policies;
  std::vector<SourceLoc> policy_locs;
  std::map<std::string, Environment> environments;
  std::vector<Target> targets;
  std::map<std::string, std::string> checks; ///< code -> error|warning|note|off
  std::map<std::string, SourceLoc> check_locs;
  SourceLoc loc;
};

/// Reads and validates the manifest's structure. Semantic checks against the policy (unknown
/// roles, zones, features) are `validate_manifest`'s job. nullopt when the file is unreadable.
std::optional<Manifest> read_manifest(const std::filesystem::path& path, SourceManager& sm,
                                      Diagnostics& diags);

/// The same for a manifest given as text (no file is read); `path` names it in diagnostics and
/// is the folder policies and outputs are relative to.
Manifest read_manifest_text(const std::filesystem::path& path, const std::string& text,
                            SourceManager& sm, Diagnostics& diags);

/// A target as validation left it: its options checked against its backend's schema.
struct ValidTarget {
  TargetOptions options;
  std::vector<Diagnostic> findings; ///< what validation said about this target's backend part
};

/// Checks bindings, features, targets against the loaded policy and the backend specs (the
/// backend's name, the scope it can enforce, its options). Returns, by target name, the targets
/// that can be compiled: a known backend that enforces the target's scope.
std::map<std::string, ValidTarget> validate_manifest(const Manifest& m, const Policy& p,
                                                     const std::vector<BackendSpec>& backends,
                                                     Diagnostics& diags);

} // namespace portolan
