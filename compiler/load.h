// Reads policy files and their imports, merges them and resolves every name.
#pragma once

#include "diagnostic.h"
#include "model.h"

#include <filesystem>
#include <optional>
#include <vector>

namespace portolan {

struct LoadResult {
  Policy policy;
  bool ok = false;         ///< no errors: the policy is complete and resolved
  bool unreadable = false; ///< a file named by the caller could not be read (exit code 2)
};

/// Loads the given files (in order) and everything they import. Imported files come before the
/// file that imports them, each file once. Diagnostics go to `diags`. `named_at` (parallel to
/// `files`, may be shorter) says where each file was named, e.g. in a manifest, so an
/// unreadable one is reported there.
LoadResult load_policy(const std::vector<std::filesystem::path>& files, SourceManager& sm,
                       Diagnostics& diags, const std::vector<SourceLoc>& named_at = {});

/// Loads one policy given as text, shown as `display` in diagnostics. No file is read: an
/// import is reported as missing (fuzzing and in-memory tests).
LoadResult load_policy_text(const std::string& display, std::string text, SourceManager& sm,
                            Diagnostics& diags);

/// Reads a whole file; nullopt when it cannot be read.
std::optional<std::string> read_file(const std::filesystem::path& p);

} // namespace portolan
