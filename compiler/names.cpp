#include "names.h"

#include <cstdint>

namespace portolan {

std::string name_hash(std::string_view s) {
  uint32_t h = 2166136261u;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  static const char* hex = "0123456789abcdef";
  std::string out(8, '0');
  for (int i = 7; i >= 0; --i, h >>= 4)
    out[static_cast<size_t>(i)] = hex[h & 15];
  return out;
}

std::string fit_name(std::string_view name, std::string_view key, std::string_view suffix,
                     size_t max) {
  if (name.size() + suffix.size() <= max)
    return std::string(name) + std::string(suffix);
  std::string tail = "--" + name_hash(key) + std::string(suffix);
  size_t keep = max > tail.size() ? max - tail.size() : 0;
  std::string head(name.substr(0, keep));
  while (!head.empty() && (head.back() == '-' || head.back() == '.'))
    head.pop_back(); // no "---" run that could read as part of the marker
  return head + tail;
}

} // namespace portolan
