// One interface for every firewall backend, and the name -> factory table that picks one.
#pragma once

#include "common/ruleset.h"

#include "diagnostic.h"
#include "manifest.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace portolan {

/// One file a backend writes: `suffix` is appended to the target's output path.
struct OutputFile {
  std::string suffix;
  std::string content;
};

class Backend {
public:
  virtual ~Backend() = default;
  /// The name used in the manifest's `backend = "..."`.
  virtual std::string name() const = 0;
  /// The kinds of target this vendor can enforce (a host firewall, a perimeter, or both).
  virtual std::vector<Scope> scopes() const { return {Scope::Host, Scope::Between}; }
  /// What emit() appends to the target's output path, one per file (iptables: .v4 and .v6), so
  /// the manifest check sees every file a target writes.
  virtual std::vector<std::string> suffixes() const { return {""}; }
  /// Backend-specific option keys accepted in [targets.options].
  virtual std::vector<std::string> options() const { return {}; }
  /// Prints the rule set. Whatever the vendor cannot express is reported as an error at the
  /// flow's location, never widened or dropped.
  virtual std::vector<OutputFile> emit(const RuleSet& rs, Diagnostics& diags) const = 0;
};

/// Every backend, in a fixed order.
std::vector<std::string> backend_names();
/// Every backend's suffixes(), by name (for validate_manifest).
std::map<std::string, std::vector<std::string>> backend_suffixes();
/// nullptr for an unknown name.
std::unique_ptr<Backend> make_backend(const std::string& name);

} // namespace portolan
