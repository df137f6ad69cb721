// `portolan graph`: who talks to whom. Roles and interfaces are nodes, clustered by zone (and
// by role inside a zone); flows are edges labelled by group and service; deny flows, expired
// flows and flows whose feature is off are styled apart. Graphviz DOT, or SVG through `dot`.
#pragma once

#include "tables/input.h"

#include <iosfwd>
#include <string>

namespace portolan::tables {

enum class GraphFormat { Dot, Svg };

inline constexpr const char* kGraphHelp =
    R"(usage: portolan graph [--format dot|svg] [--manifest FILE [--env NAME]] [--today DATE] [FILE.policy...]

Writes who talks to whom, to stdout: roles and interfaces as nodes clustered by zone, flows as
edges labelled by group and service. Deny flows are red with a bar head, expired flows dashed,
flows whose feature is off (with --env) dotted. DOT by default; --format svg runs Graphviz's
'dot -Tsvg' (Debian package graphviz).

  --format dot|svg  Graphviz DOT (default) or SVG
  --manifest FILE   portolan.toml: its policies, and environments for --env
  --env NAME        judge features and expiry in this environment
  --today DATE      judge expiry as of DATE (YYYY-MM-DD)

exit codes: 0 written, 1 errors in the policy or manifest, 2 bad usage, unreadable input, or
dot missing or failing
)";

struct GraphOptions {
  PolicyInput input;
  GraphFormat format = GraphFormat::Dot;
  std::string dot_program = "dot"; ///< for --format svg
};

/// The DOT text. `env` (may be null) decides which features are on; `today` which flows expired.
std::string render_dot(const Policy& p, const Environment* env, const std::optional<Date>& today);

/// Text quoted for DOT: "..." with '"' and '\' escaped, line breaks as \n, controls dropped.
std::string dot_quote(std::string_view s);

/// The command: loads, renders DOT (or SVG through `dot -Tsvg`) to `out`. Returns the exit code:
/// 0, 1 errors in the input, 2 usage/unreadable input or `dot` missing or failing.
int run_graph(const GraphOptions& opts, Session& s, std::ostream& out, std::ostream& err);

} // namespace portolan::tables
