// The write stage: a build's output files, all or none. The one function that writes them.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace portolan {

/// path -> content, in the order the targets were compiled.
using OutputSet = std::vector<std::pair<std::filesystem::path, std::string>>;

/// Writes every file atomically (temporary file in the same folder, fsync, rename), printing
/// "wrote PATH" for each on `log`. False, with `err` set, at the first file that fails.
bool write_outputs(const OutputSet& files, std::ostream& log, std::string& err);

} // namespace portolan
