#include "session.h"

#include "checks/check.h"
#include "lower/lower.h"
#include "lower/options.h"
#include "pmodel.h"

#include <iostream>
#include <set>
#include <variant>

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
  opened_ = diags.all();
  return true;
}

void Session::open_model(const fs::path& path) {
  packets_.clear();
  ids_.reset();
  slice_target.reset();
  last_ = std::chrono::steady_clock::now();
  last_cpu_ = timings ? cpu_ms() : 0;
  std::string why;
  auto bytes = read_file(path, &why);
  std::optional<DecodedModel> m;
  std::vector<std::string> ids;
  std::vector<Diagnostic> sliced;
  bool slice = bytes && bytes->starts_with(kSliceMagic);
  if (bytes)
    if (auto payload = unseal(slice ? kSliceMagic : kModelMagic, *bytes, &why)) {
      if (!slice) {
        m = decode_model(*payload);
      } else if (auto sl = decode_slice(*payload)) {
        m = std::move(sl->model);
        ids = std::move(sl->ids);
        sliced = std::move(sl->said);
        slice_target = std::move(sl->target);
      }
      if (!m)
        why = "corrupt (its contents do not decode)";
    }
  if (!m) {
    diags.error("unreadable", SourceLoc{},
                "cannot use model '" + path.string() + "'" + (why.empty() ? "" : ": " + why));
    unreadable = true;
    return;
  }
  // A slice holds only what its target's build reads: reading and validating it again would
  // report its missing declarations. What reading the whole manifest and policy said is in the
  // slice; this reading must say nothing worse (an error here: a slice not written by us).
  std::optional<Diagnostics> quiet;
  if (slice)
    quiet.emplace();
  Diagnostics& said = slice ? *quiet : diags;
  manifest = read_manifest_text(m->files[0].first, m->files[0].second, sm, said);
  for (size_t i = 1; i < m->files.size(); ++i)
    sm.add(std::move(m->files[i].first), std::move(m->files[i].second));
  mark("read-manifest");
  if (slice && (!manifest || targets("", {*slice_target}).empty() || said.has_errors())) {
    diags.error("unreadable", SourceLoc{},
                "cannot use model '" + path.string() +
                    "': corrupt (a slice of a target its manifest does not have)");
    unreadable = true;
    return;
  }
  std::vector<PolicyFile> files;
  files.push_back(std::move(m->decls));
  loaded = load_parsed(std::move(files), said);
  mark("load-policy");
  if (slice) {
    if (!loaded.ok || said.has_errors()) {
      diags.error("unreadable", SourceLoc{},
                  "cannot use model '" + path.string() +
                      "': corrupt (its declarations do not load)");
      unreadable = true;
      loaded.ok = false;
      return;
    }
    for (Diagnostic& x : sliced)
      diags.add(x.severity, x.code, x.loc, x.message) = std::move(x);
    // validate_manifest's per-target part for the one target (the rest is in `sliced`).
    for (const Target* t : targets("", {*slice_target}))
      for (const BackendSpec& b : backend_specs())
        if (b.name == t->backend && !valid_.count(t->name)) {
          Diagnostics found;
          ValidTarget v{validate_target(*t, b, found), found.all()};
          if (std::find(b.scopes.begin(), b.scopes.end(), t->scope) != b.scopes.end())
            valid_.emplace(t->name, std::move(v));
        }
    mark("validate-manifest");
    ids_ = std::move(ids); // the whole policy's ids: flow_ids of the slice would differ
    return;
  }
  if (loaded.ok && manifest) {
    valid_ = validate_manifest(*manifest, loaded.policy, backend_specs(), diags);
    mark("validate-manifest");
  }
}

std::string Session::model_file() const {
  return seal(kModelMagic, encode_model(sm, loaded.policy));
}

namespace {

/// The roles and groups a host target's slice keeps: every one its kept flows, every
/// expectation (all are kept: loading resolves them) and the target's own roles name, through
/// lists, groups and VIPs (their nodes and SNAT source), to the end. A host target's build reads
/// no other role: it binds the endpoints of its flows and its own roles (a perimeter's NAT reads
/// every role of the outside zone, so perimeters keep all). Zones, services, features, headers,
/// suppressions and expectations are kept whole; the manifest too (its bindings of dropped
/// roles are not validated again: the slice carries what validation said).
void host_closure(const Policy& p, const Target& t, const std::vector<size_t>& kept,
                  std::vector<uint8_t>& roles, std::vector<uint8_t>& groups) {
  roles.assign(p.roles.size(), 0);
  groups.assign(p.groups.size(), 0);
  std::vector<const Endpoint*> work;
  auto name = [&](const std::string& n) {
    if (auto it = p.role_index.find(n); it != p.role_index.end() && !roles[it->second]) {
      roles[it->second] = 1;
      if (const auto& v = p.roles[it->second].vip) {
        for (const Endpoint& e : v->nodes)
          work.push_back(&e);
        if (v->snat_from)
          work.push_back(&*v->snat_from);
      }
    }
    if (auto it = p.group_index.find(n); it != p.group_index.end() && !groups[it->second]) {
      groups[it->second] = 1;
      for (const Endpoint& e : p.groups[it->second].items)
        work.push_back(&e);
    }
  };
  for (const std::string& h : t.hosts)
    name(h);
  for (size_t i : kept) {
    const Flow& f = p.flows[i];
    work.push_back(&f.src);
    work.push_back(&f.dst);
    if (f.maps)
      work.push_back(&f.maps->dst);
  }
  for (const Expectation& e : p.expectations)
    for (const ExpectSide* side : {&e.src, &e.dst})
      if (side->kind == ExpectSide::Kind::Endpoint)
        work.push_back(&side->endpoint);
  while (!work.empty()) {
    const Endpoint* e = work.back();
    work.pop_back();
    if (!e->role.empty())
      name(e->role);
    for (const Endpoint& x : e->items)
      work.push_back(&x);
    for (const Endpoint& x : e->members)
      work.push_back(&x);
  }
}

std::string where(const SourceLoc& l) {
  return std::to_string(l.file) + ":" + std::to_string(l.line) + ":" + std::to_string(l.col) + ":" +
         std::to_string(l.len) + ";";
}

/// Everything a manifest holds but the bindings `drop` names, as text: two manifests that print
/// the same are the same for every build that reads none of those bindings.
std::string manifest_print(const Manifest& m, const std::set<std::string>& drop) {
  std::string o = m.path.generic_string() + "|" + m.dir.generic_string() + "|" + where(m.loc);
  for (size_t i = 0; i < m.policies.size(); ++i)
    o += "p " + m.policies[i] + (i < m.policy_locs.size() ? where(m.policy_locs[i]) : "");
  for (const auto& [name, e] : m.environments) {
    o += "\ne " + name + "|" + e.name + where(e.loc) + (e.today ? e.today->str() : "-");
    for (const auto& [f, l] : e.features)
      o += " f " + f + where(l);
    for (const auto& [k, b] : e.bind) {
      if (drop.count(k))
        continue;
      o += "\n b " + k + where(b.loc) + (b.any ? "any" : "");
      for (const Prefix& pr : b.prefixes)
        o += " " + pr.str();
      if (const auto& n = b.nat)
        o += " nat " + std::to_string(static_cast<int>(n->kind)) + n->real.str() + n->pub.str() +
             n->outside + where(n->loc) + where(n->public_loc) + where(n->kind_loc) +
             where(n->outside_loc);
    }
  }
  for (const Target& t : m.targets) {
    o += "\nt " + t.name + "|" + t.backend + "|" + t.env + "|" +
         std::to_string(static_cast<int>(t.scope)) + "|" + t.output + where(t.loc) +
         where(t.backend_loc) + where(t.env_loc) + where(t.scope_loc) + where(t.output_loc);
    for (size_t i = 0; i < t.hosts.size(); ++i)
      o += " h " + t.hosts[i] + (i < t.host_locs.size() ? where(t.host_locs[i]) : "");
    for (size_t i = 0; i < t.between.size(); ++i)
      o += " z " + t.between[i] + (i < t.between_locs.size() ? where(t.between_locs[i]) : "");
    for (const auto& [k, v] : t.options) {
      o += " o " + k + where(v.loc) + std::to_string(v.value.index()) + "=";
      std::visit(
          [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, bool>)
              o += x ? "1" : "0";
            else if constexpr (std::is_same_v<T, int64_t>)
              o += std::to_string(x);
            else if constexpr (std::is_same_v<T, std::string>)
              o += x;
            else
              for (const std::string& y : x)
                o += y + ",";
          },
          v.value);
    }
  }
  for (const auto& [c, v] : m.checks)
    o += "\nc " + c + "=" + v;
  for (const auto& [c, l] : m.check_locs)
    o += "\nl " + c + where(l);
  return o;
}

/// The manifest's text with the lines of the bindings of roles the slice dropped emptied (a
/// host target's build looks up no other role's binding), when that provably changes nothing
/// else: the emptied text must read as the same manifest without those bindings, or the whole
/// text is kept. Lines a carried diagnostic quotes stay.
std::optional<std::string> slim_manifest(const Manifest& m, const SourceManager& sm,
                                         const Policy& p, const std::vector<uint8_t>& roles,
                                         const std::vector<Diagnostic>& said) {
  uint32_t id = m.loc.file;
  if (id != 1 || id > sm.size() || roles.empty())
    return std::nullopt;
  std::set<std::string> drop;
  std::set<uint32_t> lines, busy;
  for (const auto& [name, e] : m.environments)
    for (const auto& [k, b] : e.bind) {
      auto it = p.role_index.find(key_endpoint(k).role);
      if (it != p.role_index.end() && !roles[it->second] && b.loc.file == id) {
        drop.insert(k);
        lines.insert(b.loc.line);
      } else {
        busy.insert(b.loc.line);
      }
    }
  for (const Diagnostic& x : said) {
    if (x.loc.file == id)
      busy.insert(x.loc.line);
    for (const Related& r : x.notes)
      if (r.loc.file == id)
        busy.insert(r.loc.line);
  }
  if (drop.empty())
    return std::nullopt;
  const std::string& text = sm.file(id).text;
  std::string out;
  out.reserve(text.size());
  uint32_t line = 1;
  for (size_t pos = 0; pos < text.size(); ++line) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string::npos ? text.size() : nl + 1;
    if (lines.count(line) && !busy.count(line))
      out += nl == std::string::npos ? "" : "\n";
    else
      out.append(text, pos, end - pos);
    pos = end;
  }
  // Read again as the build from the slice will: it must be the same manifest but the
  // bindings whose lines went (a binding whose line stayed is not dropped).
  SourceManager tsm;
  Diagnostics quiet;
  Manifest slim = read_manifest_text(m.path, out, tsm, quiet);
  std::set<std::string> gone = drop;
  for (const auto& [name, e] : slim.environments)
    for (const auto& [k, b] : e.bind)
      gone.erase(k);
  if (quiet.has_errors() || manifest_print(slim, {}) != manifest_print(m, gone))
    return std::nullopt;
  return out;
}

} // namespace

std::vector<std::pair<const Target*, std::string>> Session::slice_files() {
  std::vector<std::pair<const Target*, std::string>> out;
  if (!manifest || !loaded.ok)
    return out;
  const Policy& p = loaded.policy;
  if (!ids_)
    ids_ = flow_ids(p);
  // Which flows a build of the target can touch, whatever --today it is given: the selection
  // with no flow expired (an earlier day than any), a superset of the selection on any day
  // (an allow's chains are its own; a deny's grow with the allows kept). Every flow with an
  // expiry (reported by every target's build, expired or not judged) or a suppression (judged
  // by every build, and `unused` if nothing matches) is kept too.
  LowerContext ctx = lower_context();
  ctx.today_override = Date{0, 0, 0};
  std::vector<uint8_t> always(p.flows.size(), 0);
  for (size_t i = 0; i < p.flows.size(); ++i)
    always[i] = p.flows[i].expires || !p.flows[i].suppressions.empty();
  for (const Target& t : manifest->targets) {
    std::vector<uint8_t> keep = always;
    auto env = manifest->environments.find(t.env);
    if (env == manifest->environments.end() || !valid_.count(t.name)) {
      std::fill(keep.begin(), keep.end(), 1); // not buildable: a build reports it, keep all
    } else {
      auto& slot = packets_[t.env];
      if (!slot)
        slot = std::make_unique<EnvPackets>(p, env->second);
      for (const Term& term : enforced_terms(ctx, t, env->second, nullptr, slot.get()))
        keep[term.flow] = 1;
    }
    std::vector<size_t> kept;
    std::vector<std::string> ids;
    for (size_t i = 0; i < keep.size(); ++i)
      if (keep[i]) {
        kept.push_back(i);
        ids.push_back((*ids_)[i]);
      }
    std::vector<uint8_t> roles, groups;
    if (t.scope == Scope::Host && valid_.count(t.name))
      host_closure(p, t, kept, roles, groups);
    std::optional<std::string> slim = slim_manifest(*manifest, sm, p, roles, opened_);
    out.emplace_back(&t, seal(kSliceMagic, encode_slice(sm, p, t.name, kept, ids, opened_, roles,
                                                        groups, slim ? &*slim : nullptr)));
  }
  packets_.clear();
  mark("slice");
  return out;
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
    c.files = backend->emit(c.rules, d, want.text ? EmitText::Full : EmitText::Diagnostics);
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

void Session::report(Judged judged) {
  last_ = std::chrono::steady_clock::now();
  last_cpu_ = timings ? cpu_ms() : 0;
  if (loaded.ok)
    apply_suppressions(
        loaded.policy, diags,
        judged == Judged::nothing
            ? std::set<std::string>{}
            : judged_codes(manifest.has_value(), judged == Judged::every_target, analysis_ran_,
                           manifest ? manifest->checks : std::map<std::string, std::string>{}));
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
