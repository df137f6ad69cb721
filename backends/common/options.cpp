#include "options.h"

namespace portolan {

bool bool_option(const Target& t, const std::string& key, bool def, Diagnostics& diags) {
  auto it = t.options.find(key);
  if (it == t.options.end())
    return def;
  if (auto* b = std::get_if<bool>(&it->second.value))
    return *b;
  diags.error("manifest", it->second.loc, "option '" + key + "' must be true or false");
  return def;
}

} // namespace portolan
