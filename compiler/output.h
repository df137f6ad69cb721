// Writing a build's files as one set: `--out` holds the complete old set or the complete new set,
// whatever happens (an error, kill -9, a second build at the same time). docs/manifest.md
// ("How outputs are written") describes the behaviour.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace portolan {

struct BuildFile {
  std::string rel;     ///< path below the output folder, already validated ("a/b.nft")
  std::string content; ///< the exact bytes
};

/// The list of files Portolan owns in an output folder, one relative path a line.
inline constexpr const char* kOwnedList = ".portolan-outputs";

/// Replaces the files of `out_dir` that an earlier build wrote with `files`, in one step:
/// builds the new folder next to `out_dir` (files Portolan did not write are carried over by
/// hard link, unchanged outputs keep their inode and mtime), then swaps it in with one atomic
/// rename. A lock file beside `out_dir` serialises concurrent builds; leftovers of a killed
/// build are removed first. Returns false with `err` set when nothing was changed.
bool write_output_set(const std::filesystem::path& out_dir, const std::vector<BuildFile>& files,
                      std::string& err);

} // namespace portolan
