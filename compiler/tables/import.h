// `portolan import TABLE.md`: a vendor port table (Markdown with HTML tables, or pipe tables)
// to a policy draft. Every row is read or reported: a row it cannot read becomes a comment with
// the reason, never a guess. docs/tables.md describes the rules.
#pragma once

#include "diagnostic.h"

#include <filesystem>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace portolan::tables {

/// `--roles MAP.toml`: a team's own names for the table's labels.
///   [roles]        "label as in the table" = "role" or "role.interface"
///   [zones]        "role" or "role.interface" = "zone"
///   [descriptions] "role" or "role.interface" = "description"
struct RolesMap {
  std::vector<std::pair<std::string, std::string>> labels; ///< folded label -> endpoint
  std::map<std::string, std::string> zones, descriptions;
};

/// Reads a roles map; errors (file:line:col) go to `diags`. nullopt when unreadable or invalid.
std::optional<RolesMap> read_roles_map(const std::filesystem::path& path, SourceManager& sm,
                                       Diagnostics& diags);

struct ImportSummary {
  size_t rows_read = 0, flows_written = 0, rows_not_read = 0;
  size_t tables_read = 0, tables_skipped = 0;
};

struct ImportResult {
  std::string policy; ///< the draft (empty when !ok)
  ImportSummary summary;
  bool ok = false; ///< false: no port table in the document
};

/// Imports the document registered as `file` in `sm`. Unread rows are warnings
/// ("import-row"), a document without a port table an error ("import-no-table").
ImportResult import_document(const SourceManager& sm, uint32_t file, const RolesMap& roles,
                             Diagnostics& diags);

inline constexpr const char* kImportHelp =
    R"(usage: portolan import [--roles MAP.toml] TABLE.md > draft.policy

Reads a vendor port table (Markdown with HTML tables, or Markdown pipe tables) and writes a
policy draft to stdout: roles and interfaces from the source and destination labels, services
from the protocol cells, mirrored rows merged into two-way flows, grouped by the role cell,
notes kept. What a table cannot say (features, expiry, required, zones) is marked TODO; each
row it cannot read becomes a comment with the reason. The summary goes to stderr.

  --roles MAP.toml   the team's own names: [roles] "label" = "role" or "role.interface",
                     [zones] "role" = "zone", [descriptions] "role" = "text"

exit codes: 0 written, 1 no port table or a bad roles map, 2 bad usage or unreadable input
)";

struct ImportOptions {
  std::filesystem::path input;
  std::optional<std::filesystem::path> roles; ///< --roles MAP.toml
};

/// The command: reads the files, writes the draft to `out` and the summary line to `err`.
/// Diagnostics are left in `diags` for the caller to render. Returns the exit code: 0 written,
/// 1 no port table or a bad roles map, 2 unreadable input.
int run_import(const ImportOptions& opts, SourceManager& sm, Diagnostics& diags, std::ostream& out,
               std::ostream& err);

} // namespace portolan::tables
