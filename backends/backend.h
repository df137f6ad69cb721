// One interface for every firewall backend, and the name -> factory table that picks one.
// A backend sees only the IR (lower/ruleset.h) and declares what it accepts (lower/schema.h).
#pragma once

#include "diagnostic.h"
#include "lower/ruleset.h"
#include "lower/schema.h"

#include <memory>
#include <string>
#include <vector>

namespace portolan {

/// One file a backend writes: `suffix` is appended to the target's output path.
struct OutputFile {
  std::string suffix;
  std::string content;
};

/// The files of one `emit`, moved into the vector: `return {OutputFile{...}}` copies each file
/// (an initializer list's elements are const), twice the largest output at the peak of a build.
template <class... F>
std::vector<OutputFile> output_files(F&&... files) {
  std::vector<OutputFile> out;
  out.reserve(sizeof...(files));
  (out.push_back(std::forward<F>(files)), ...);
  return out;
}

/// What `Backend::emit` is asked for: the files' text, or only its diagnostics.
enum class EmitText { Full, Diagnostics };

class Backend {
public:
  virtual ~Backend() = default;
  /// Its name (`backend = "..."` in the manifest), the kinds of target it can enforce and its
  /// [targets.options], each with type and default: the one place they are declared.
  virtual BackendSpec spec() const = 0;
  /// Prints the rule set. Whatever the vendor cannot express is reported as an error at the
  /// flow's location, never widened or dropped.
  std::vector<OutputFile> emit(const RuleSet& rs, Diagnostics& diags) const {
    return emit(rs, diags, EmitText::Full);
  }
  /// With `EmitText::Diagnostics` (`check`, which throws the text away): the same diagnostics
  /// and the same files, whose content may be left empty. The same function runs in both modes;
  /// a backend stops before printing only where what follows cannot report anything (its text
  /// is built by functions that take no `Diagnostics`), and otherwise prints as usual.
  virtual std::vector<OutputFile> emit(const RuleSet& rs, Diagnostics& diags,
                                       EmitText want) const = 0;
};

/// Every backend, in a fixed order.
std::vector<std::string> backend_names();
/// Every backend's spec, in the same order (for manifest validation).
std::vector<BackendSpec> backend_specs();
/// nullptr for an unknown name.
std::unique_ptr<Backend> make_backend(const std::string& name);

} // namespace portolan
