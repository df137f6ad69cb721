// Source files and locations. Every model element carries a SourceLoc so any finding can point
// at the text that caused it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portolan {

/// A span of one line of one file: 1-based line and column (columns count characters), and a
/// length in characters for the underline. file == 0 means "no location".
struct SourceLoc {
  uint32_t file = 0;
  uint32_t line = 0;
  uint32_t col = 0;
  uint32_t len = 0;

  bool valid() const { return file != 0; }
  auto operator<=>(const SourceLoc&) const = default;
};

struct SourceFile {
  std::string path; ///< as shown in diagnostics (what the user typed, or relative to it)
  std::string text; ///< full contents
  std::vector<size_t> line_starts;
};

/// Owns the text of every file read, so diagnostics can quote the offending line.
class SourceManager {
public:
  /// Registers a file's text and returns its id (1-based).
  uint32_t add(std::string path, std::string text);
  const SourceFile& file(uint32_t id) const { return files_.at(id - 1); }
  size_t size() const { return files_.size(); }
  /// The text of one line without its newline ("" if out of range).
  std::string_view line(uint32_t file, uint32_t line) const;
  /// "path:line:col" for messages.
  std::string where(const SourceLoc& loc) const;

private:
  std::vector<SourceFile> files_;
};

} // namespace portolan
