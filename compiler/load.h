// Reads policy files and their imports, merges them and resolves every name.
#pragma once

#include "diagnostic.h"
#include "model.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

namespace portolan {

class ParseCache;

struct LoadResult {
  Policy policy;
  bool ok = false;         ///< no errors: the policy is complete and resolved
  bool unreadable = false; ///< a file named by the caller could not be read (exit code 2)
};

/// Loads the given files (in order) and everything they import. Imported files come before the
/// file that imports them, each file once. Diagnostics go to `diags`. `named_at` (parallel to
/// `files`, may be shorter) says where each file was named, e.g. in a manifest, so an
/// unreadable one is reported there.
/// `cache`: the parse cache (compiler/pmodel.h), or none.
LoadResult load_policy(const std::vector<std::filesystem::path>& files, SourceManager& sm,
                       Diagnostics& diags, const std::vector<SourceLoc>& named_at = {},
                       const ParseCache* cache = nullptr);

/// Merges and resolves files parsed some other way (a `.pmodel`), as load_policy does.
LoadResult load_parsed(std::vector<PolicyFile> files, Diagnostics& diags);

/// Input files larger than this are refused (a policy or manifest is text of a few MB at most;
/// the cap stops /dev/zero-like inputs from eating memory).
inline constexpr uint64_t kMaxInputBytes = 64ull << 20;
/// How deep imports may nest (each level is a frame of the import walk).
inline constexpr size_t kMaxImportDepth = 256;

/// Reads a whole regular file of at most kMaxInputBytes; nullopt when it cannot be read, with
/// the reason in `why` when it is one of ours (not a regular file, too large).
std::optional<std::string> read_file(const std::filesystem::path& p, std::string* why = nullptr);

/// Loads one policy given as text, shown as `display` in diagnostics. No file is read: an
/// import is reported as missing (fuzzing and in-memory tests).
LoadResult load_policy_text(const std::string& display, std::string text, SourceManager& sm,
                            Diagnostics& diags);

} // namespace portolan
