// `build --depfile`: the files a build read, as a Make/Ninja depfile, so that a build tool
// reruns the build when a policy, an import or the manifest changes. docs/ci.md describes it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace portolan {

/// One path as Make and Ninja read it in a depfile (the escaping GCC's -MD uses): a space or
/// tab becomes "\ " (backslashes just before it doubled), '#' "\#", '$' "$$". nullopt for a
/// path no depfile can name (empty, a newline or carriage return in it, a trailing backslash).
std::optional<std::string> depfile_escape(const std::string& path);

/// "t1 t2: d1 d2\n" with one dependency per continued line, then an empty rule per dependency
/// (as -MP does), so that a deleted or renamed policy does not break the next build. nullopt,
/// with `bad` set to the path, when a path cannot be escaped.
std::optional<std::string> depfile_text(const std::vector<std::string>& targets,
                                        const std::vector<std::string>& deps, std::string& bad);

/// Writes `text` to `path` atomically (a temporary file beside it, fsync, rename). False, with
/// `err` set, when it could not; the old file is then untouched.
bool write_file_atomic(const std::filesystem::path& path, const std::string& text,
                       std::string& err);

} // namespace portolan
