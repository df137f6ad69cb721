#include "session.h"

#include "checks/check.h"
#include "lower/lower.h"
#include "pmodel.h"

#include <iostream>

namespace portolan {

namespace fs = std::filesystem;

const std::vector<Stage>& stages() {
  static const std::vector<Stage> list{
      {"read-manifest", "compiler/manifest.cpp",
       "portolan.toml with toml++: policies, environments, targets, [checks]"},
      {"load-policy", "compiler/parse/, compiler/load.cpp",
       "parse every .policy file, follow imports, merge, resolve names"},
      {"validate-manifest", "compiler/manifest.cpp, compiler/lower/options.cpp",
       "bindings, features and targets against the policy; each target's scope and options "
       "against its backend's spec"},
      {"bind", "compiler/bind.cpp",
       "per target: the active flows it enforces, each direction, and their addresses"},
      {"lower", "compiler/lower/lower.cpp", "per target: the vendor-neutral RuleSet"},
      {"emit", "backends/<vendor>/", "per target: the RuleSet printed in the vendor's syntax"},
      {"view", "compiler/semantics.cpp",
       "per target: each flow's exact packet set per chain, and what the target allows"},
      {"analyse", "compiler/checks/", "the checks over the policy and the target views"},
      {"report", "compiler/checks/pipeline.cpp, compiler/diagnostic.cpp, compiler/report.cpp",
       "suppressions, [checks] severities, sorted diagnostics as text, JSON or SARIF"},
      {"write", "driver/write.cpp", "the output files of a build, all or none"},
  };
  return list;
}

void print_stages(std::ostream& out) {
  for (const Stage& s : stages())
    out << s.name << " (" << s.where << "): " << s.what << "\n";
}

void print_checks(std::ostream& out) {
  out << "pipeline:\n";
  for (const auto& c : all_checks()) {
    out << "  " << c->name() << ":";
    for (const auto& code : c->codes())
      out << " " << code;
    out << "\n";
  }
  out << "codes:\n";
  for (const CheckInfo& c : check_catalog())
    out << "  " << c.code << " (" << (c.off_by_default ? "off" : severity_name(c.severity)) << ", "
        << c.stage << "): " << c.title << "\n";
}

bool Session::open(const std::optional<fs::path>& manifest_path,
                   const std::vector<fs::path>& extra) {
  packets_.clear();
  ids_.reset();
  last_ = std::chrono::steady_clock::now();
  last_cpu_ = timings ? cpu_ms() : 0;
  std::vector<fs::path> files;
  std::vector<SourceLoc> locs;
  if (manifest_path) {
    manifest = read_manifest(*manifest_path, sm, diags);
    mark("read-manifest");
    if (!manifest) {
      unreadable = true;
      return true;
    }
    if (diags.has_errors())
      return true; // manifest structure errors: do not guess further
    for (size_t i = 0; i < manifest->policies.size(); ++i) {
      files.push_back((manifest->dir / manifest->policies[i]).lexically_normal());
      locs.push_back(manifest->policy_locs[i]);
    }
  }
  for (const fs::path& p : extra) {
    files.push_back(p);
    locs.push_back(SourceLoc{});
  }
  if (files.empty())
    return false;
  std::optional<ParseCache> cache;
  if (cache_dir)
    cache.emplace(*cache_dir);
  loaded = load_policy(files, sm, diags, locs, cache ? &*cache : nullptr);
  unreadable = unreadable || loaded.unreadable;
  mark("load-policy");
  if (loaded.ok && manifest) {
    valid_ = validate_manifest(*manifest, loaded.policy, backend_specs(), diags);
    mark("validate-manifest");
  }
  return true;
}

void Session::open_model(const fs::path& path) {
  packets_.clear();
  ids_.reset();
  last_ = std::chrono::steady_clock::now();
  std::string why;
  auto bytes = read_file(path, &why);
  std::optional<DecodedModel> m;
  if (bytes)
    if (auto payload = unseal(kModelMagic, *bytes, &why)) {
      m = decode_model(*payload);
      if (!m)
        why = "corrupt (its contents do not decode)";
    }
  if (!m) {
    diags.error("unreadable", SourceLoc{},
                "cannot use model '" + path.string() + "'" + (why.empty() ? "" : ": " + why));
    unreadable = true;
    return;
  }
  manifest = read_manifest_text(m->files[0].first, m->files[0].second, sm, diags);
  for (size_t i = 1; i < m->files.size(); ++i)
    sm.add(std::move(m->files[i].first), std::move(m->files[i].second));
  mark("read-manifest");
  std::vector<PolicyFile> files;
  files.push_back(std::move(m->decls));
  loaded = load_parsed(std::move(files), diags);
  mark("load-policy");
  if (loaded.ok && manifest) {
    valid_ = validate_manifest(*manifest, loaded.policy, backend_specs(), diags);
    mark("validate-manifest");
  }
}

std::string Session::model_file() const {
  return seal(kModelMagic, encode_model(sm, loaded.policy));
}

void Session::adopt(Manifest m, LoadResult policy) {
  packets_.clear();
  ids_.reset();
  last_ = std::chrono::steady_clock::now();
  last_cpu_ = timings ? cpu_ms() : 0;
  manifest = std::move(m);
  loaded = std::move(policy);
  if (loaded.ok && !diags.has_errors()) {
    valid_ = validate_manifest(*manifest, loaded.policy, backend_specs(), diags);
    mark("validate-manifest");
  }
}

LowerContext Session::lower_context() const {
  return LowerContext{loaded.policy, *manifest, sm, today, ids_ ? &*ids_ : nullptr};
}

std::vector<const Target*> Session::targets(const std::string& env,
                                            const std::vector<std::string>& names) const {
  std::vector<const Target*> out;
  if (!manifest)
    return out;
  for (const Target& t : manifest->targets)
    if ((env.empty() || t.env == env) &&
        (names.empty() || std::find(names.begin(), names.end(), t.name) != names.end()))
      out.push_back(&t);
  return out;
}

CompiledTarget Session::compile_target(const Target& t, Want want) {
  EnvPackets* shared = nullptr;
  if (manifest && loaded.ok)
    if (auto env = manifest->environments.find(t.env); env != manifest->environments.end()) {
      auto& slot = packets_[t.env];
      if (!slot)
        slot = std::make_unique<EnvPackets>(loaded.policy, env->second);
      shared = slot.get();
    }
  if (loaded.ok && !ids_)
    ids_ = flow_ids(loaded.policy); // once for every target, not once per target
  return compile_into(t, want, diags, false, shared);
}

CompiledTarget Session::compile_target(const Target& t, Want want, Diagnostics& out) const {
  return compile_into(t, want, out, true, nullptr);
}

CompiledTarget Session::compile_into(const Target& t, Want want, Diagnostics& d, bool replay,
                                     EnvPackets* shared) const {
  if (timings) {
    last_ = std::chrono::steady_clock::now();
    last_cpu_ = cpu_ms();
  }
  CompiledTarget c;
  c.target = &t;
  auto valid = valid_.find(t.name);
  if (replay && valid != valid_.end())
    for (const Diagnostic& x : valid->second.findings)
      d.add(x.severity, x.code, x.loc, x.message) = x;
  auto env = manifest->environments.find(t.env);
  auto backend = make_backend(t.backend);
  if (valid == valid_.end() || env == manifest->environments.end() || !backend)
    return c; // reported by validate-manifest
  const LowerContext ctx = lower_context();
  // The const overload may run on several threads: it shares nothing.
  std::optional<EnvPackets> local;
  EnvPackets& packets = shared ? *shared : local.emplace(loaded.policy, env->second);
  c.terms = enforced_terms(ctx, t, env->second, &d, &packets);
  mark("bind");
  c.rules = lower_target(ctx, t, env->second, c.terms, packets.bound(), valid->second.options,
                         backend->spec().judges_denies, d);
  mark("lower");
  if (want.emit) {
    c.files = backend->emit(c.rules, d);
    if (c.files.empty() && !d.has_errors()) // a skipped target must fail the build
      d.error("internal", t.loc,
              "backend '" + t.backend + "' wrote no file for target '" + t.name + "'");
    mark("emit");
  }
  if (want.view) {
    c.view = target_view(loaded.policy, t, env->second, c.terms, packets);
    if (want.expected)
      c.expected = allowed_packets(c.view);
    mark("view");
  }
  return c;
}

std::vector<OutputFile> Session::emit(const Target& t, const RuleSet& rs, Diagnostics& out) const {
  auto backend = make_backend(t.backend);
  return backend ? backend->emit(rs, out) : std::vector<OutputFile>{};
}

void Session::analyse(std::vector<TargetView> views) {
  packets_.clear(); // the views hold what the checks need
  last_ = std::chrono::steady_clock::now();
  last_cpu_ = timings ? cpu_ms() : 0;
  AnalysisContext ctx{
      loaded.policy, manifest ? &*manifest : nullptr, sm, today, std::move(views), diags, timings};
  run_checks(ctx, manifest ? manifest->checks : std::map<std::string, std::string>{});
  analysis_ran_ = true;
  mark("analyse");
}

void Session::report(bool judges) {
  last_ = std::chrono::steady_clock::now();
  last_cpu_ = timings ? cpu_ms() : 0;
  if (loaded.ok)
    apply_suppressions(
        loaded.policy, diags,
        judges ? judged_codes(manifest.has_value(), analysis_ran_,
                              manifest ? manifest->checks : std::map<std::string, std::string>{})
               : std::set<std::string>{});
  if (manifest)
    diags.apply_severities(manifest->checks);
  diags.normalize();
  diags.merge_environments();
  mark("report");
}

void Session::mark(const char* stage) const {
  if (!timings)
    return; // nothing shared is touched: compile_target may run on several threads
  auto now = std::chrono::steady_clock::now();
  double cpu = cpu_ms();
  ms_[stage] += std::chrono::duration<double, std::milli>(now - last_).count();
  cpu_ms_[stage] += cpu - last_cpu_;
  last_ = now;
  last_cpu_ = cpu;
}

void Session::print_timings() const {
  if (!timings)
    return;
  for (const Stage& s : stages())
    if (auto it = ms_.find(s.name); it != ms_.end())
      std::cerr << "timing: " << s.name << " " << it->second << " ms (cpu " << cpu_ms_.at(s.name)
                << " ms)\n";
}

} // namespace portolan
