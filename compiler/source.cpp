#include "source.h"

namespace portolan {

uint32_t SourceManager::add(std::string path, std::string text) {
  SourceFile f{std::move(path), std::move(text), {0}};
  for (size_t i = 0; i < f.text.size(); ++i)
    if (f.text[i] == '\n')
      f.line_starts.push_back(i + 1);
  files_.push_back(std::move(f));
  return static_cast<uint32_t>(files_.size());
}

std::string_view SourceManager::line(uint32_t file_id, uint32_t line) const {
  if (file_id == 0 || file_id > files_.size())
    return {};
  const SourceFile& f = files_[file_id - 1];
  if (line == 0 || line > f.line_starts.size())
    return {};
  size_t b = f.line_starts[line - 1];
  size_t e = line < f.line_starts.size() ? f.line_starts[line] - 1 : f.text.size();
  if (e > b && f.text[e - 1] == '\r')
    --e;
  return std::string_view(f.text).substr(b, e - b);
}

std::string SourceManager::where(const SourceLoc& loc) const {
  if (!loc.valid() || loc.file > files_.size())
    return "<unknown>";
  std::string out = files_[loc.file - 1].path;
  if (loc.line > 0) {
    out += ":" + std::to_string(loc.line);
    if (loc.col > 0)
      out += ":" + std::to_string(loc.col);
  }
  return out;
}

} // namespace portolan
