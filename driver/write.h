// The write stage: a build's output files, replaced as one set (compiler/output.h). The one
// function the command line calls to write them.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace portolan {

/// Path below the output folder -> content, in the order the targets were compiled.
using OutputSet = std::vector<std::pair<std::filesystem::path, std::string>>;

/// Replaces the set of files in `out_dir` with `files` in one step (write_output_set), then
/// prints "wrote PATH" for each on `log`. False, with `err` set, when nothing was changed.
bool write_outputs(const std::filesystem::path& out_dir, const OutputSet& files, std::ostream& log,
                   std::string& err);

} // namespace portolan
