#include "check.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>

namespace portolan {

Diagnostic& AnalysisContext::report(const std::string& code, SourceLoc loc, std::string message) {
  const CheckInfo* info = find_check(code);
  return out.add(info ? info->severity : Severity::Warning, code, loc, std::move(message));
}

std::vector<const Environment*> AnalysisContext::environments() const {
  std::vector<const Environment*> envs;
  if (!manifest)
    return envs;
  for (const auto& [name, env] : manifest->environments) {
    bool used = manifest->targets.empty();
    for (const Target& t : manifest->targets)
      used = used || t.env == name;
    if (used)
      envs.push_back(&env);
  }
  return envs;
}

std::optional<std::string> witness(const PacketSet& s) {
  auto p = witness_packet(s);
  return p ? std::optional<std::string>(p->str()) : std::nullopt;
}

std::optional<Packet> witness_packet(const PacketSet& s) {
  auto p = s.pick();
  if (!p)
    return std::nullopt;
  Packet best = *p;
  auto bump = [](IpAddr a) {
    for (int i = a.family == Family::V4 ? 3 : 15; i >= 0; --i)
      if (++a.bytes[static_cast<size_t>(i)] != 0)
        break;
    return a;
  };
  auto try_set = [&](Packet cand) {
    if (s.contains(cand))
      best = cand;
  };
  if (best.proto == kProtoTcp || best.proto == kProtoUdp) {
    Packet c = best;
    c.sport = 49152;
    try_set(c);
  }
  Packet c = best;
  c.src = bump(best.src);
  try_set(c);
  c = best;
  c.dst = bump(best.dst);
  try_set(c);
  return best;
}

double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

const std::vector<std::unique_ptr<Check>>& all_checks() {
  static const std::vector<std::unique_ptr<Check>> list = [] {
    std::vector<std::unique_ptr<Check>> v;
    v.push_back(make_unused_check());
    v.push_back(make_required_check());
    v.push_back(make_condition_check());
    v.push_back(make_one_way_check());
    v.push_back(make_unenforced_check());
    v.push_back(make_broad_check());
    v.push_back(make_service_clash_check());
    v.push_back(make_anomaly_check());
    v.push_back(make_path_check());
    v.push_back(make_zone_binding_check());
    v.push_back(make_outlier_check());
    v.push_back(make_expect_check());
    v.push_back(make_mapping_check());
    return v;
  }();
  return list;
}

void run_checks(AnalysisContext& ctx, const std::map<std::string, std::string>& severities) {
  for (const auto& check : all_checks()) {
    if (check->needs_targets() && !ctx.manifest)
      continue;
    auto codes = check->codes();
    // "off" silences a code only where [checks] may change it: never for an error.
    // A check that is off by default runs only when [checks] gives one of its codes a severity.
    bool all_off = std::all_of(codes.begin(), codes.end(), [&](const std::string& c) {
      auto it = severities.find(c);
      const CheckInfo* info = find_check(c);
      if (info && info->off_by_default)
        return it == severities.end() || it->second == "off";
      return it != severities.end() && it->second == "off" && info &&
             info->severity != Severity::Error;
    });
    if (all_off)
      continue;
    auto start = std::chrono::steady_clock::now();
    double cpu = ctx.timings ? cpu_ms() : 0;
    check->run(ctx);
    if (ctx.timings)
      std::cerr << "timing:   check " << check->name() << " "
                << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                             start)
                       .count()
                << " ms (cpu " << cpu_ms() - cpu << " ms)\n";
  }
}

namespace {
/// The text span of a flow: from its keyword to the line before the next flow (or end of file).
struct Span {
  uint32_t file, first, last;
};
} // namespace

std::set<std::string> judged_codes(bool with_manifest, bool every_target, bool analysis_ran,
                                   const std::map<std::string, std::string>& severities) {
  std::set<std::string> out;
  for (const CheckInfo& c : check_catalog()) {
    if (auto it = severities.find(c.code);
        it != severities.end() && it->second == "off" && c.severity != Severity::Error)
      continue; // turned off here; another manifest sharing the policy may run it
    if (c.off_by_default && !severities.count(c.code))
      continue; // not turned on: its suppressions are not judged
    std::string_view stage = c.stage;
    bool needs_targets = stage == "bind" || stage == "backend";
    if (stage == "analysis") {
      if (!analysis_ran)
        continue;
      for (const auto& check : all_checks())
        for (const auto& code : check->codes())
          if (code == c.code)
            needs_targets = check->needs_targets();
    }
    if (needs_targets && !(with_manifest && every_target))
      continue;
    if (stage == "manifest" && !with_manifest)
      continue;
    out.insert(c.code);
  }
  return out;
}

void apply_suppressions(const Policy& p, Diagnostics& diags, const std::set<std::string>& judged) {
  struct Matcher {
    const Suppression* s;
    Span span;
    bool used = false;
  };
  std::vector<Matcher> rules;
  for (size_t i = 0; i < p.flows.size(); ++i) {
    const Flow& f = p.flows[i];
    uint32_t last = f.end_line ? f.end_line : f.loc.line;
    for (const Suppression& s : f.suppressions)
      rules.push_back({&s, {f.loc.file, f.loc.line, last}});
  }
  for (const Suppression& s : p.suppressions)
    rules.push_back({&s, {s.loc.file, 0, UINT32_MAX}});
  if (rules.empty())
    return;
  // An error outside the analysis stage stops a backend from emitting: suppressing it would let
  // a build succeed without the target's file or without the rules it cannot express. The
  // suppression itself is the error.
  std::vector<Diagnostic> refused;
  std::erase_if(rules, [&](const Matcher& r) {
    const CheckInfo* c = find_check(r.s->code);
    if (!c || c->severity != Severity::Error || std::string_view(c->stage) == "analysis")
      return false;
    Diagnostic d;
    d.severity = Severity::Error;
    d.code = "unsuppressible";
    d.loc = r.s->loc;
    d.message = "'" + r.s->code +
                "' cannot be suppressed: it is an error that stops the build (only analysis "
                "findings can be suppressed); fix what it reports instead";
    refused.push_back(std::move(d));
    return true;
  });
  std::vector<Diagnostic> kept = std::move(refused);
  for (const Diagnostic& d : diags.all()) {
    bool dropped = false;
    for (Matcher& r : rules) {
      if (r.s->code != d.code || d.loc.file != r.span.file || d.loc.line < r.span.first ||
          d.loc.line > r.span.last || r.s->reason.empty())
        continue;
      r.used = true;
      dropped = true;
    }
    if (!dropped)
      kept.push_back(d);
  }
  Diagnostics fresh;
  for (Diagnostic& d : kept)
    fresh.add(d.severity, d.code, d.loc, d.message) = d;
  for (const Matcher& r : rules)
    if (!r.used && !r.s->reason.empty() && (judged.count(r.s->code) || !find_check(r.s->code)))
      fresh.add(find_check("unused-suppression")->severity, "unused-suppression", r.s->loc,
                "suppression of '" + r.s->code + "' matches no finding" +
                    (find_check(r.s->code) ? "" : " ('" + r.s->code + "' is not a known code)"));
  diags = std::move(fresh);
}

} // namespace portolan
