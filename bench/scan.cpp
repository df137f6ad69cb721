// portolan-bench-scan FILE [REPEATS]: the tokenize floor of issue 15. A trivial hand-written
// scanner reads the bytes of a policy file and splits them into the tokens the grammar has
// (words, numbers, strings, comments, arrows, punctuation), tracking line and column, and
// prints the token count and the in-process median time of REPEATS scans (default 5). It is
// what reading and tokenizing the text costs at the least, to compare the parse stage with
// (bench/README.md, "Front end"). It builds no tree and checks nothing.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Counts {
  size_t tokens = 0, lines = 1;
  uint64_t hash = 0; // keeps the loop from being optimised away
};

bool word(unsigned char c) {
  return std::isalnum(c) || c == '_';
}

Counts scan(const std::string& s) {
  Counts n;
  size_t i = 0, line_start = 0;
  const size_t e = s.size();
  while (i < e) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t b = i;
    if (c == '\n') {
      ++n.lines;
      line_start = ++i;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
      ++i;
      continue;
    }
    if (c == '#' || (c == '/' && i + 1 < e && s[i + 1] == '/')) {
      while (i < e && s[i] != '\n')
        ++i;
    } else if (c == '/' && i + 1 < e && s[i + 1] == '*') {
      i += 2;
      while (i + 1 < e && !(s[i] == '*' && s[i + 1] == '/')) {
        if (s[i] == '\n')
          ++n.lines;
        ++i;
      }
      i = std::min(e, i + 2);
    } else if (c == '"') {
      ++i;
      while (i < e && s[i] != '"' && s[i] != '\n')
        i += (s[i] == '\\' && i + 1 < e) ? 2 : 1;
      if (i < e && s[i] == '"')
        ++i;
    } else if (word(c)) {
      while (i < e &&
             (word(static_cast<unsigned char>(s[i])) || s[i] == '.' || s[i] == ':' || s[i] == '/'))
        ++i;
    } else if (c == '-' && i + 1 < e && s[i + 1] == '>') {
      i += 2;
    } else if (c == '<' && i + 2 < e && s[i + 1] == '-' && s[i + 2] == '>') {
      i += 3;
    } else {
      ++i;
    }
    ++n.tokens;
    n.hash = n.hash * 31 + (i - b) + (b - line_start);
  }
  return n;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: portolan-bench-scan FILE [REPEATS]\n");
    return 2;
  }
  int repeats = argc > 2 ? std::max(1, std::atoi(argv[2])) : 5;
  auto t0 = std::chrono::steady_clock::now();
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", argv[1]);
    return 2;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  double read_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::vector<double> ms;
  Counts n;
  for (int r = 0; r < repeats; ++r) {
    auto a = std::chrono::steady_clock::now();
    n = scan(text);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("bytes %zu lines %zu tokens %zu read_ms %.3f scan_ms %.3f (hash %llu)\n", text.size(),
              n.lines, n.tokens, read_ms, ms[ms.size() / 2],
              static_cast<unsigned long long>(n.hash));
  return 0;
}
