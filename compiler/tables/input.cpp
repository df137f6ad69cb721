#include "tables/input.h"

#include "backend.h"

namespace portolan::tables {

LoadedInput load_input(const PolicyInput& in, SourceManager& sm, Diagnostics& diags) {
  LoadedInput r;
  std::vector<std::filesystem::path> files;
  std::vector<SourceLoc> locs;
  if (in.env && !in.manifest) {
    r.usage_error = "--env needs --manifest";
    r.exit_code = 2;
    return r;
  }
  if (in.manifest) {
    r.manifest = read_manifest(*in.manifest, sm, diags);
    if (!r.manifest) {
      r.exit_code = 2;
      return r;
    }
    if (diags.has_errors()) {
      r.exit_code = 1;
      return r;
    }
    for (size_t i = 0; i < r.manifest->policies.size(); ++i) {
      files.push_back((r.manifest->dir / r.manifest->policies[i]).lexically_normal());
      locs.push_back(r.manifest->policy_locs[i]);
    }
  }
  for (const auto& f : in.files) {
    files.push_back(f);
    locs.push_back(SourceLoc{});
  }
  if (files.empty()) {
    r.usage_error = "no policy files: name some, or a --manifest that lists them";
    r.exit_code = 2;
    return r;
  }
  r.loaded = load_policy(files, sm, diags, locs);
  if (r.loaded.unreadable) {
    r.exit_code = 2;
    return r;
  }
  if (!r.loaded.ok) {
    r.exit_code = 1;
    return r;
  }
  if (r.manifest)
    validate_manifest(*r.manifest, r.loaded.policy, backend_names(), diags);
  if (diags.has_errors()) {
    r.exit_code = 1;
    return r;
  }
  if (in.env) {
    auto it = r.manifest->environments.find(*in.env);
    if (it == r.manifest->environments.end()) {
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
