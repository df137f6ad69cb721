// The driver: one Session owns the sources, the diagnostics, the loaded policy and manifest,
// and runs the compiler's stages in the order `stages()` lists them. Every caller that
// compiles a target (the command line, the round-trip tests, the kernel harness, the unit
// tests, bench/) goes through `compile_target`; none assembles the pipeline by hand.
#pragma once

#include "backend.h"
#include "bind.h"
#include "load.h"
#include "manifest.h"
#include "semantics.h"

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace portolan {

/// One stage of the pipeline: its name (as `--timings` and `--list-stages` print it), where
/// its code lives, and what it does.
struct Stage {
  const char* name;
  const char* where;
  const char* what;
};

/// The pipeline, top to bottom.
const std::vector<Stage>& stages();

/// `portolan --list-stages`: one line per stage, in order.
void print_stages(std::ostream& out);
/// `portolan check --list-checks`: the check pipeline with each check's codes, then every code.
void print_checks(std::ostream& out);

/// A target compiled: its bound flows, its rule set, its view (each flow's packets per chain)
/// and what it allows (the reference every backend's output is compared with), its files.
struct CompiledTarget {
  const Target* target = nullptr;
  std::vector<Term> terms;       ///< the flows it enforces, each direction (bind)
  RuleSet rules;                 ///< lowered (empty when the target cannot be compiled)
  TargetView view;               ///< with `want.view`
  TargetPackets expected;        ///< with `want.view` and `want.expected`: allowed per chain
  std::vector<OutputFile> files; ///< with `want.emit`
};

/// What compile_target computes beyond binding and lowering.
struct Want {
  bool emit = true;     ///< print it with its backend
  bool view = true;     ///< the packet sets (analysis, reference)
  bool expected = true; ///< with `view`: what it allows (the reference; `check` needs none)
  bool text = true;     ///< with `emit`: the files' text; false: the emitter's findings only
};

class Session {
public:
  SourceManager sm;
  Diagnostics diags;
  std::optional<Manifest> manifest;
  LoadResult loaded;
  std::optional<Date> today; ///< --today: judge expiry as of this date
  bool unreadable = false;   ///< an input could not be read (exit 2)
  bool timings = false;      ///< report each stage's wall and CPU time on stderr (`--timings`)
  /// `--cache DIR`: the parse cache's folder (compiler/pmodel.h); none: no cache.
  std::optional<std::filesystem::path> cache_dir;

  /// Stages read-manifest, load-policy and validate-manifest. `manifest` may be empty (a policy
  /// checked alone); `extra` policy files come after the manifest's. False when there is
  /// nothing to load (no policy file at all): a usage problem the caller reports.
  bool open(const std::optional<std::filesystem::path>& manifest,
            const std::vector<std::filesystem::path>& extra = {});

  /// The same stages from a `.pmodel` that `portolan compile` wrote: the manifest and every
  /// source are read from it, the policy is not parsed again. A file that is not a model of
  /// this version, or is corrupt, is refused (an error, `unreadable`).
  void open_model(const std::filesystem::path& model);
  /// What `portolan compile` writes: the sources and the loaded policy, sealed (needs a
  /// manifest and a clean load).
  std::string model_file() const;
  /// What `portolan compile --slices` writes: per target, in manifest order, a sealed slice of
  /// the model holding only the flows that building it can need (needs a clean open()).
  std::vector<std::pair<const Target*, std::string>> slice_files();
  /// Set by open_model when the file is a slice: the one target it can build.
  std::optional<std::string> slice_target;

  /// Stage validate-manifest for a manifest and policy read some other way (from text: the fuzz
  /// harnesses and in-memory tests), adopted as if open() had read them.
  void adopt(Manifest m, LoadResult policy);

  /// The policy loaded and nothing reported as an error so far.
  bool clean() const { return loaded.ok && !diags.has_errors(); }

  /// Stages bind, lower, emit and view for one target (in its environment); diagnostics go to
  /// the session's.
  CompiledTarget compile_target(const Target& t, Want want = {});
  /// The same, reporting to `out`, which also gets what validation said about the target, so it
  /// holds everything said about it (tests, the kernel harness, query).
  CompiledTarget compile_target(const Target& t, Want want, Diagnostics& out) const;

  /// The emit stage alone, for a rule set the caller changed (tests, the kernel self-check).
  std::vector<OutputFile> emit(const Target& t, const RuleSet& rs, Diagnostics& out) const;

  /// Stage analyse: the checks over the given views (a policy without a manifest: none).
  void analyse(std::vector<TargetView> views);

  /// What a run judged, for calling a suppression unused (judged_codes): every target of the
  /// manifest, only some (a finding may arise in one it left out), or nothing (query).
  enum class Judged { every_target, some_targets, nothing };
  /// Stage report: suppressions, [checks] severities, sorting.
  void report(Judged judged = Judged::every_target);

  /// The wall time since the last mark, added to `stage` (printed by print_timings).
  void mark(const char* stage) const;
  void print_timings() const;

  /// The targets, in manifest order, that the filters keep (env "" keeps every environment;
  /// empty names keeps every target).
  std::vector<const Target*> targets(const std::string& env = "",
                                     const std::vector<std::string>& names = {}) const;

  LowerContext lower_context() const;

private:
  CompiledTarget compile_into(const Target& t, Want want, Diagnostics& d, bool replay,
                              EnvPackets* shared) const;

  std::map<std::string, ValidTarget> valid_; ///< by target name (validate-manifest)
  /// What open() said (read-manifest, load-policy, validate-manifest), before any report: a
  /// slice carries it, so a build from the slice says the same without the whole policy.
  std::vector<Diagnostic> opened_;
  /// By environment: the packet sets its targets share (compile_target; freed by analyse).
  std::map<std::string, std::unique_ptr<EnvPackets>> packets_;
  /// flow_ids of the loaded policy, computed by the first compile_target (the const overload,
  /// which may run on several threads, only reads it).
  std::optional<std::vector<std::string>> ids_;
  bool analysis_ran_ = false;
  mutable std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  mutable std::map<std::string, double> ms_; ///< stage -> wall time (timing only)
  mutable double last_cpu_ = 0;
  mutable std::map<std::string, double> cpu_ms_; ///< stage -> the process's CPU time
};

} // namespace portolan
