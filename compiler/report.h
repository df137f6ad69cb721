// Machine-readable findings: JSON (schema in docs/checks.md) and SARIF 2.1.0 for code scanning.
#pragma once

#include "diagnostic.h"

#include <string>

namespace portolan {

/// {"version":1,"tool":...,"summary":{...},"findings":[...]}; stable key order.
std::string render_json(const Diagnostics& d, const SourceManager& sm);
/// A SARIF 2.1.0 log with one run; rules come from the check catalogue.
std::string render_sarif(const Diagnostics& d, const SourceManager& sm);

} // namespace portolan
