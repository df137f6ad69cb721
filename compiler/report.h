// Machine-readable findings: JSON (schema in docs/checks.md) and SARIF 2.1.0 for code scanning.
#pragma once

#include "diagnostic.h"

#include <string>

namespace portolan {

/// {"version":1,"tool":...,"summary":{...},"findings":[...]}; stable key order.
std::string render_json(const Diagnostics& d, const SourceManager& sm);
/// What a SARIF log says beyond the findings.
struct SarifOptions {
  /// The file a finding without a location is placed at (GitHub code scanning needs a location
  /// on every result): the manifest or the first policy; empty: the first file read.
  std::string fallback_file;
  /// Where the rules are documented (docs/checks.md as the repository serves it): each rule's
  /// helpUri is this plus "#" and its code. Empty: no helpUri (a placeholder would mislead).
  std::string help_uri;
};

/// A SARIF 2.1.0 log with one run; rules come from the check catalogue. File locations are
/// relative to %SRCROOT%, the folder `portolan` runs in (the repository root in CI), except for
/// files outside it, which get absolute file: URIs.
std::string render_sarif(const Diagnostics& d, const SourceManager& sm,
                         const SarifOptions& opts = {});

/// "file:" URI reference of a path: relative (no scheme) when the path is inside `base`, else
/// absolute; every byte but unreserved characters and '/' percent-encoded (RFC 3986).
std::string file_uri(const std::string& path, const std::string& base, bool* relative);
/// The code's rule name for SARIF: PascalCase ("one-way" -> "OneWay").
std::string rule_name(const std::string& code);

/// "2 errors, 1 warning, 0 notes (codes: broad 2, one-way 1)": the counts, then each code with
/// its count, most frequent first, ties by name. The last line of `check`'s text output.
std::string summary_line(const Diagnostics& d);

} // namespace portolan
