// Every diagnostic code Portolan can report, with its default severity and the texts that JSON
// and SARIF output and docs/checks.md show. One table, so codes stay stable and documented.
#pragma once

#include "diagnostic.h"

#include <string_view>
#include <vector>

namespace portolan {

struct CheckInfo {
  const char* code;
  Severity severity;           ///< default; [checks] in the manifest may change non-errors
  const char* stage;           ///< "syntax", "names", "manifest", "bind", "analysis", "backend"
  const char* title;           ///< short description
  const char* details;         ///< full description
  const char* help;            ///< what to do about it
  bool off_by_default = false; ///< runs only when [checks] gives it a severity
};

const std::vector<CheckInfo>& check_catalog();
/// nullptr for a code not in the catalogue.
const CheckInfo* find_check(std::string_view code);

} // namespace portolan
