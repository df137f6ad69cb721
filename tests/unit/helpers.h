// Small helpers shared by the unit tests: parse or load policy text without touching the disk
// more than needed.
#pragma once

#include "load.h"
#include "manifest.h"
#include "parse.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

namespace portolan::test {

struct Parsed {
  SourceManager sm;
  Diagnostics diags;
  PolicyFile file;
};

inline Parsed parse(const std::string& text) {
  Parsed p;
  uint32_t id = p.sm.add("t.policy", text);
  p.file = parse_policy_file(p.sm, id, p.diags);
  p.diags.normalize();
  return p;
}

/// A scratch folder removed at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("portolan-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    auto p = path / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p;
  }
  static int& counter() {
    static int c = 0;
    return c;
  }
};

/// "code@line:col" for each diagnostic, to compare whole reports in one CHECK.
inline std::string codes(const Diagnostics& d) {
  std::string s;
  for (const auto& x : d.all())
    s += (s.empty() ? "" : " ") + x.code + "@" + std::to_string(x.loc.line) + ":" +
         std::to_string(x.loc.col);
  return s;
}

} // namespace portolan::test
