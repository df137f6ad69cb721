// What both fuzz harnesses run on one input, in memory (no file is read or written): the
// stages of `portolan check` and `portolan build` — manifest validation, lowering and emit of
// every target with its backend, the target views and every check, suppressions and the three
// report formats. Anything that escapes as an exception or trips a sanitizer is a finding:
// bad input must end in diagnostics, never in a crash.
#pragma once

#include "backend.h"
#include "checks/check.h"
#include "common/lower.h"
#include "load.h"
#include "manifest.h"
#include "report.h"

#include <algorithm>
#include <sstream>

namespace portolan::fuzz {

/// Keeps the optimiser from dropping work whose result nothing reads.
inline size_t g_sink = 0;

inline void compile_and_check(const LoadResult& loaded, const Manifest& m, SourceManager& sm,
                              Diagnostics& diags) {
  validate_manifest(m, loaded.policy, backend_names(), diags);
  bool analysis_ran = false;
  if (!diags.has_errors()) {
    LowerContext ctx{loaded.policy, m, sm, std::nullopt};
    for (const Target& t : m.targets) {
      auto backend = make_backend(t.backend);
      if (!backend)
        continue;
      auto scopes = backend->scopes();
      if (std::find(scopes.begin(), scopes.end(), t.scope) == scopes.end())
        continue; // the CLI reports unsupported-scope here
      RuleSet rs = lower_target(ctx, t, backend->options(), diags);
      for (const OutputFile& f : backend->emit(rs, diags))
        g_sink += f.content.size() + f.suffix.size();
    }
  }
  if (!diags.has_errors()) {
    AnalysisContext ctx{loaded.policy, &m, sm, std::nullopt, {}, diags, false};
    ctx.targets = build_views(loaded.policy, m, sm, std::nullopt);
    run_checks(ctx, m.checks);
    analysis_ran = true;
  }
  apply_suppressions(loaded.policy, diags, judged_codes(true, analysis_ran, m.checks));
  diags.apply_severities(m.checks);
}

/// The three report formats of whatever was found.
inline void render(Diagnostics& diags, const SourceManager& sm) {
  diags.normalize();
  std::ostringstream text;
  diags.render_text(text, sm);
  g_sink += text.str().size() + render_json(diags, sm).size() + render_sarif(diags, sm).size();
}

} // namespace portolan::fuzz
