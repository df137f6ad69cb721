// What both fuzz harnesses run on one input, in memory (no file is read or written): the
// stages of `portolan check` and `portolan build` through the driver's Session — manifest
// validation, lowering and emit of every target with its backend, the target views and every
// check, suppressions and the three report formats. Anything that escapes as an exception or
// trips a sanitizer is a finding: bad input must end in diagnostics, never in a crash.
#pragma once

#include "report.h"
#include "session.h"

#include <sstream>

namespace portolan::fuzz {

/// Keeps the optimiser from dropping work whose result nothing reads.
inline size_t g_sink = 0;

/// Adopts the manifest and policy read from text, then compiles every target and checks.
inline void compile_and_check(Session& s, Manifest m, LoadResult loaded) {
  s.adopt(std::move(m), std::move(loaded));
  if (s.clean()) {
    std::vector<TargetView> views;
    for (const Target* t : s.targets()) {
      CompiledTarget c = s.compile_target(*t);
      for (const OutputFile& f : c.files)
        g_sink += f.content.size() + f.suffix.size();
      views.push_back(std::move(c.view));
    }
    if (s.clean())
      s.analyse(std::move(views));
  }
  s.report();
}

/// The three report formats of whatever was found.
inline void render(Diagnostics& diags, const SourceManager& sm) {
  diags.normalize();
  std::ostringstream text;
  diags.render_text(text, sm);
  g_sink += text.str().size() + render_json(diags, sm).size() + render_sarif(diags, sm).size();
}

} // namespace portolan::fuzz
