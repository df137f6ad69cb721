// `portolan doc`: the policy as a vendor-like port table, in Markdown or standalone HTML. One
// table per flow group; columns group/protocol/transport/port, source, destination, notes,
// conditions; with --manifest --env the bound addresses and whether each flow is in force.
// `portolan import` reads the Markdown (and the HTML) back to an equivalent policy.
#pragma once

#include "tables/input.h"

#include <iosfwd>
#include <string>

namespace portolan::tables {

enum class DocFormat { Markdown, Html };

inline constexpr const char* kDocHelp =
    R"(usage: portolan doc [--format md|html] [--manifest FILE [--env NAME]] [--today DATE] [FILE.policy...]

Writes the policy as a port table like a vendor's, to stdout: the roles and interfaces, the
features, then one table per flow group (group/protocol/transport/port, source, destination,
notes, conditions). With --env, the addresses the manifest binds and whether each flow is in
force. 'portolan import' reads the Markdown back.

  --format md|html  Markdown (default) or a standalone HTML page
  --manifest FILE   portolan.toml: its policies, and environments for --env
  --env NAME        add bound addresses and in-force columns for this environment
  --today DATE      judge expiry as of DATE (YYYY-MM-DD) instead of the environment's 'today'

exit codes: 0 written, 1 errors in the policy or manifest, 2 bad usage or unreadable input
)";

struct DocOptions {
  PolicyInput input;
  DocFormat format = DocFormat::Markdown;
};

/// Renders a loaded policy; `env` (may be null) adds addresses and in-force columns.
std::string render_doc(const Policy& p, const Environment* env, const std::optional<Date>& today,
                       DocFormat format);

/// The command: loads, renders to `out`. Diagnostics are left in `diags`; a usage problem is
/// written to `err`. Returns the exit code (0, 1 errors in the input, 2 usage/unreadable).
int run_doc(const DocOptions& opts, Session& s, std::ostream& out, std::ostream& err);

} // namespace portolan::tables
