// The analysis pipeline: checks are small units behind one interface, run in one visible list
// (pipeline.cpp) over a context built once: the policy, the manifest, and for every target the
// flows it enforces as exact packet sets in its evaluation order.
#pragma once

#include "bind.h"
#include "catalog.h"
#include "packetspace.h"
#include "semantics.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace portolan {

struct AnalysisContext {
  const Policy& policy;
  const Manifest* manifest = nullptr; ///< null: a policy checked without bindings
  const SourceManager& sm;
  std::optional<Date> today_override;
  std::vector<TargetView> targets;
  Diagnostics& out;
  bool timings = false; ///< print each check's wall and CPU time on stderr

  /// Reports a finding with the catalogue's default severity.
  Diagnostic& report(const std::string& code, SourceLoc loc, std::string message);
  /// Environments that at least one target builds for (all of them when there are no targets).
  std::vector<const Environment*> environments() const;
};

class Check {
public:
  virtual ~Check() = default;
  /// A name for the pipeline listing (`portolan check --list-checks`).
  virtual const char* name() const = 0;
  /// The codes it can report.
  virtual std::vector<std::string> codes() const = 0;
  /// Whether it needs bound targets (a manifest).
  virtual bool needs_targets() const { return false; }
  virtual void run(AnalysisContext& ctx) const = 0;
};

/// A readable member of a non-empty set: the engine's lowest packet, moved to an ephemeral
/// source port and to host addresses (not the network address) where the set allows.
std::optional<std::string> witness(const PacketSet& s);
/// The packet witness() prints.
std::optional<Packet> witness_packet(const PacketSet& s);

/// The CPU time this process has used so far, in milliseconds (`--timings` prints it next to
/// the wall time: on a shared machine the wall time is mostly the other processes').
double cpu_ms();

/// The pipeline, in order.
const std::vector<std::unique_ptr<Check>>& all_checks();

/// Runs every check whose codes are not all "off" in `severities`.
void run_checks(AnalysisContext& ctx, const std::map<std::string, std::string>& severities);

/// Drops findings matched by a suppression (file level: same file; flow level: inside the
/// flow's text) and reports suppressions that matched nothing — only for codes in `judged`,
/// since a suppression of a check that did not run cannot be called unused.
void apply_suppressions(const Policy& p, Diagnostics& diags, const std::set<std::string>& judged);

/// The codes a run judged: the front end's always; the manifest's own when there was one; binding,
/// backend and target-analysis codes only when the run compiled every target of it (a finding
/// may arise in a target the run left out: `check --env`, `build --target`, a slice, `compile`),
/// and analysis codes only when the analysis ran.
std::set<std::string> judged_codes(bool with_manifest, bool every_target, bool analysis_ran,
                                   const std::map<std::string, std::string>& severities);

// Factories, one per check file.
std::unique_ptr<Check> make_anomaly_check();
std::unique_ptr<Check> make_unused_check();
std::unique_ptr<Check> make_one_way_check();
std::unique_ptr<Check> make_required_check();
std::unique_ptr<Check> make_condition_check();
std::unique_ptr<Check> make_unenforced_check();
std::unique_ptr<Check> make_broad_check();
std::unique_ptr<Check> make_service_clash_check();
std::unique_ptr<Check> make_path_check();
std::unique_ptr<Check> make_zone_binding_check();
std::unique_ptr<Check> make_outlier_check();
std::unique_ptr<Check> make_expect_check();
std::unique_ptr<Check> make_mapping_check();

} // namespace portolan
