// The write stage: a build's output files, replaced as one set (compiler/output.h). The one
// function the command line calls to write them.
#pragma once

#include "output.h"

#include <filesystem>
#include <ostream>
#include <string>

namespace portolan {

/// Swaps in the set `files` holds (each file was written into its staging folder as its target
/// was compiled: OutputSetWriter::add), then prints "wrote PATH" for each, in the order they
/// were added, on `log`. False, with `err` set, when nothing was changed.
bool write_outputs(const std::filesystem::path& out_dir, OutputSetWriter& files, std::ostream& log,
                   std::string& err);

} // namespace portolan
