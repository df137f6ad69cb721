// `portolan diff OLD [NEW]`: the two sides (git revisions read into a private temporary tree, or
// folders), each opened as a Session, every target's view compiled, then compiler/diff.h. The
// work tree and the index are never touched.
#pragma once

#include "model.h"

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace portolan {

struct DiffOptions {
  std::string manifest = "portolan.toml"; ///< inside each side (relative to its root)
  std::string format = "text";            ///< text, json, sarif, markdown
  std::string fail_on = "never";          ///< opened, closed, any, never
  std::vector<std::string> targets, envs; ///< filters (empty: all)
  std::optional<Date> today;              ///< judge expiry as of this date, on both sides
  std::string old_side, new_side;         ///< new_side empty: the work tree
};

/// Runs the diff; the report goes to `out`, problems to `err`. Exit code: 0, 1 when --fail-on
/// matches a change, 2 on errors (bad revision, missing manifest, errors on either side).
int run_diff(const DiffOptions& o, std::ostream& out, std::ostream& err);

} // namespace portolan
