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

/// Network address translation of one bound host (issue 12 item 4): the host's real address
/// (`Binding::prefixes`, one host) is reached from the outside zone on `public`. Destination
/// NAT rewrites only the destination of connections from the outside; symmetric NAT also
/// rewrites the source of the host's own connections to the outside. The perimeter targets
/// between the binding's zone and `outside` translate; every filter sees the real address.
struct NatBinding {
  enum class Kind { Destination, Symmetric };
  Kind kind = Kind::Destination;
  Prefix real, pub;    ///< host prefixes of one family
  std::string outside; ///< the zone on the outside as written ("": the only one; nat_outside)
  SourceLoc loc, public_loc, kind_loc, outside_loc;
};

/// What one role or role.interface is bound to in an environment.
struct Binding {
  bool any = false;
  std::vector<Prefix> prefixes; ///< sorted, unique
  std::optional<NatBinding> nat;
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

/// The endpoint a binding key names ("role" or "role.iface"), for zone lookups.
Endpoint key_endpoint(const std::string& key);

/// The zone a NAT binding faces: its `outside`, else the other zone of the one perimeter target
/// of `env` that has the binding's zone. "" when that is not exactly one zone (validate_manifest
/// reports it).
std::string nat_outside(const Manifest& m, const Policy& p, const std::string& env,
                        const std::string& key, const NatBinding& nat);

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
