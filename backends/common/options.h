// Reading target options, shared by lowering and every backend.
#pragma once

#include "diagnostic.h"
#include "manifest.h"

#include <string>

namespace portolan {

/// A boolean option of a target: `def` when absent; a non-boolean value is a manifest error at
/// the option (and `def` is used so the run can go on reporting).
bool bool_option(const Target& t, const std::string& key, bool def, Diagnostics& diags);

} // namespace portolan
