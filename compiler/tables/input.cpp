#include "tables/input.h"

namespace portolan::tables {

LoadedInput load_input(const PolicyInput& in, Session& s) {
  LoadedInput r;
  if (in.env && !in.manifest) {
    r.usage_error = "--env needs --manifest";
    r.exit_code = 2;
    return r;
  }
  if (!s.open(in.manifest, in.files)) {
    r.usage_error = "no policy files: name some, or a --manifest that lists them";
    r.exit_code = 2;
    return r;
  }
  if (s.unreadable) {
    r.exit_code = 2;
    return r;
  }
  if (!s.clean()) {
    r.exit_code = 1;
    return r;
  }
  if (in.env) {
    auto it = s.manifest->environments.find(*in.env);
    if (it == s.manifest->environments.end()) {
      r.usage_error = "the manifest has no environment '" + *in.env + "'";
      r.exit_code = 2;
      return r;
    }
    r.env = &it->second;
  }
  r.today = in.today ? in.today : r.env ? r.env->today : std::nullopt;
  return r;
}

} // namespace portolan::tables
