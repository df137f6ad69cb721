// The `portolan` command line: check, build, query, fmt, import, doc and graph. It parses arguments
// (CLI11) and calls the driver (driver/session.h); the pipeline itself lives there. Exit codes: 0
// clean, 1 errors in the policy or manifest, 2 bad usage or unreadable input.
#include "backend.h"
#include "depfile.h"
#include "diff_command.h"
#include "fmt.h"
#include "output.h"
#include "pmodel.h"
#include "query.h"
#include "report.h"
#include "session.h"
#include "tables/doc.h"
#include "tables/graph.h"
#include "tables/import.h"
#include "version.h"
#include "write.h"

#include <CLI/CLI.hpp>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace portolan;

namespace {

constexpr int kExitClean = 0, kExitFindings = 1, kExitUsage = 2;

const char* kExitCodes = "exit codes: 0 clean (warnings allowed), 1 errors, 2 bad usage or "
                         "unreadable input";

/// --today DATE, or 'now' for the wall clock (UTC); nullopt when the value is neither.
std::optional<Date> parse_today(const std::string& t) {
  if (t != "now")
    return Date::parse(t);
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  return Date{tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
}

/// Options shared by the commands that load a policy.
struct Common {
  std::string manifest, env, today, cache;
  std::string model; ///< build --model: a `.pmodel` instead of the manifest and its policy
  bool timings = false;
};

void add_common(CLI::App& app, Common& c, bool with_env) {
  app.add_option("--manifest", c.manifest, "portolan.toml: policies, environments, targets")
      ->type_name("FILE");
  if (with_env)
    app.add_option("--env", c.env, "only the targets of this environment")->type_name("NAME");
  app.add_option("--today", c.today,
                 "judge expiry as of DATE (YYYY-MM-DD) or 'now', instead of the environment's "
                 "'today'")
      ->type_name("DATE");
  app.add_flag("--timings", c.timings, "print each stage's wall and CPU time on stderr");
  app.add_option("--cache", c.cache,
                 "parse cache folder: a piece of policy text parsed before is read from it "
                 "(off without this option; docs/architecture.md, 'Parse cache')")
      ->type_name("DIR");
}

/// Opens a session from the common options; nullopt after a usage problem already reported.
bool open(Session& s, const Common& c, const std::vector<std::string>& files) {
  s.timings = c.timings;
  if (!c.today.empty()) {
    s.today = parse_today(c.today);
    if (!s.today) {
      std::cerr << "portolan: --today needs a date YYYY-MM-DD or 'now', not '" << c.today << "'\n";
      return false;
    }
  }
  for (const std::string& f : files)
    if (fs::path(f).extension() == ".toml") {
      std::cerr << "portolan: '" << f
                << "' looks like a manifest, not a policy: pass it as --manifest " << f << "\n";
      return false;
    }
  if (!c.cache.empty())
    s.cache_dir = c.cache;
  if (!c.model.empty()) {
    s.open_model(c.model);
    return true;
  }
  std::vector<fs::path> extra(files.begin(), files.end());
  std::optional<fs::path> m;
  if (!c.manifest.empty())
    m = c.manifest;
  if (!s.open(m, extra)) {
    std::cerr << "portolan: no policy files: name some, or a --manifest that lists them\n";
    return false;
  }
  return true;
}

/// How `check` reports: its format, the lowest severity that fails it, SARIF's extras.
struct CheckOutput {
  std::string format = "text";
  std::string fail_on = "error";
  SarifOptions sarif;
  bool summary = false; ///< the summary line after text output (check)
};

/// Stage report, then the exit code: 1 when a finding at or above `fail_on` remains.
int finish(Session& s, const CheckOutput& o,
           Session::Judged judged = Session::Judged::every_target) {
  s.report(judged);
  if (o.format == "json")
    std::cout << render_json(s.diags, s.sm);
  else if (o.format == "sarif")
    std::cout << render_sarif(s.diags, s.sm, o.sarif);
  else {
    s.diags.render_text(std::cerr, s.sm);
    if (o.summary)
      std::cerr << summary_line(s.diags) << "\n";
  }
  s.print_timings();
  if (s.unreadable)
    return kExitUsage;
  size_t failing = s.diags.count(Severity::Error);
  if (o.fail_on != "error")
    failing += s.diags.count(Severity::Warning);
  if (o.fail_on == "note")
    failing += s.diags.count(Severity::Note);
  return failing ? kExitFindings : kExitClean;
}

/// Whether the folder of each of `files` (--stamp, --depfile; empty: not asked for) exists; if
/// not, says so ("no `what` was written") and is false, before anything is written.
bool folders_exist(std::initializer_list<std::string> files, const char* what) {
  for (const std::string& f : files) {
    std::error_code ec;
    fs::path dir = fs::path(f).parent_path();
    if (!f.empty() && !dir.empty() && !fs::is_directory(dir, ec)) {
      std::cerr << "portolan: cannot write " << f << ": no folder " << dir.string() << "; no "
                << what << " was written\n";
      return false;
    }
  }
  return true;
}

/// What a run that compiled `compiled` of the manifest's targets judged (judged_codes).
Session::Judged judged_over(const Session& s, size_t compiled) {
  return !s.manifest || compiled == s.manifest->targets.size() ? Session::Judged::every_target
                                                               : Session::Judged::some_targets;
}

int finish(Session& s, const std::string& format = "text",
           Session::Judged judged = Session::Judged::every_target) {
  CheckOutput o;
  o.format = format;
  return finish(s, o, judged);
}

int run_check(const Common& c, CheckOutput o, const std::vector<std::string>& files) {
  const std::string& format = o.format;
  if (format != "text" && format != "json" && format != "sarif") {
    std::cerr << "portolan: --format is text, json or sarif, not '" << format << "'\n";
    return kExitUsage;
  }
  if (o.fail_on != "error" && o.fail_on != "warning" && o.fail_on != "note") {
    std::cerr << "portolan: --fail-on is error, warning or note, not '" << o.fail_on << "'\n";
    return kExitUsage;
  }
  o.summary = true;
  o.sarif.fallback_file = !c.manifest.empty() ? c.manifest : files.empty() ? "" : files[0];
  Session s;
  if (!open(s, c, files))
    return kExitUsage;
  std::vector<TargetView> views;
  if (s.manifest && s.clean()) {
    if (!c.env.empty() && !s.manifest->environments.count(c.env)) {
      std::cerr << "portolan: the manifest has no environment '" << c.env << "'\n";
      return kExitUsage;
    }
    for (const Target* t : s.targets(c.env))
      views.push_back(s.compile_target(*t, Want{true, true, false, false}).view);
  }
  const Session::Judged judged = judged_over(s, views.size());
  if (s.clean()) // analysis of a broken input is only noise
    s.analyse(std::move(views));
  return finish(s, o, judged);
}

/// Build's options for build tools (docs/ci.md, "Build steps").
struct BuildArgs {
  std::string depfile, stamp;
  bool list_outputs = false, absolute = false;
};

/// Every file the session read (the manifest, the policies, their imports), once each, in the
/// order they were read, as the session names them (relative to the working folder or absolute,
/// as given).
std::vector<std::string> files_read(const Session& s) {
  std::vector<std::string> out;
  for (uint32_t id = 1; id <= s.sm.size(); ++id)
    if (const std::string& p = s.sm.file(id).path;
        std::find(out.begin(), out.end(), p) == out.end())
      out.push_back(p);
  return out;
}

int run_build(const Common& c, const std::vector<std::string>& wanted, const std::string& out,
              const std::vector<std::string>& files, const BuildArgs& b) {
  if ((b.depfile.empty() && !b.stamp.empty()) || (b.list_outputs && !b.depfile.empty()) ||
      (b.absolute && !b.list_outputs)) {
    std::cerr << "portolan: --stamp goes with --depfile, --absolute with --list-outputs, and "
                 "--list-outputs (which writes nothing) not with --depfile\n";
    return kExitUsage;
  }
  if (c.manifest.empty() == c.model.empty()) {
    std::cerr << (c.manifest.empty() ? "portolan: build needs --manifest FILE (or --model FILE)\n"
                                     : "portolan: build takes --manifest or --model, not both\n");
    return kExitUsage;
  }
  if (!files.empty()) {
    std::cerr << "portolan: build takes its policy files from the manifest, not the command line\n";
    return kExitUsage;
  }
  Session s;
  if (!open(s, c, {}))
    return kExitUsage;
  if (!s.manifest || !s.clean())
    return finish(s);
  std::vector<std::string> slice_wanted;
  if (s.slice_target) { // a slice builds its one target and nothing else
    for (const auto& w : wanted)
      if (w != *s.slice_target) {
        std::cerr << "portolan: '" << c.model << "' is the slice of target '" << *s.slice_target
                  << "', not of '" << w
                  << "': build that target from its own slice or from the whole .pmodel\n";
        return kExitUsage;
      }
    slice_wanted = {*s.slice_target};
  }
  const std::vector<std::string>& targets = s.slice_target ? slice_wanted : wanted;
  for (const auto& w : targets)
    if (s.targets("", {w}).empty()) {
      std::cerr << "portolan: the manifest has no target '" << w << "'\n";
      return kExitUsage;
    }
  // The set is swapped in as one folder (compiler/output.h), so it needs a folder of its own: by
  // default out/ beside the manifest, never the manifest's (the policy repo's) folder itself.
  fs::path out_dir = out.empty() ? s.manifest->dir / "out" : fs::path(out);
  // Each target's files go into the set's staging folder as soon as the target is emitted, and
  // their text is freed: the build holds one target's output at a time, never all of them.
  // The set is swapped in only at the end, when the whole build succeeded; until then --out is
  // untouched, and a failure drops the staging folder (the writer's destructor).
  std::vector<fs::path> outputs; // below out_dir, in the order the targets were compiled
  std::optional<OutputSetWriter> set;
  if (!b.list_outputs)
    set.emplace(out_dir);
  const std::vector<const Target*> built = s.targets("", targets);
  for (const Target* t : built) {
    CompiledTarget compiled = s.compile_target(*t, Want{true, false});
    for (OutputFile& f : compiled.files) {
      const fs::path& rel = outputs.emplace_back(t->output + f.suffix);
      if (set)
        set->add(rel.generic_string(), f.content);
      std::string().swap(f.content);
    }
  }
  int code = finish(s, "text", judged_over(s, built.size()));
  if (code != kExitClean) {
    std::cerr << "portolan: build failed; no file was written\n";
    return code;
  }
  if (b.list_outputs) { // what the write below would write, in the same order; nothing written
    std::error_code ec;
    fs::path base = b.absolute ? fs::absolute(out_dir, ec).lexically_normal() : fs::path();
    for (const fs::path& rel : outputs)
      std::cout << (base / rel).generic_string() << "\n";
    return kExitClean;
  }
  std::string dep;
  if (!b.depfile.empty()) { // made before writing, so a path it cannot name writes nothing
    std::vector<std::string> tgts;
    if (!b.stamp.empty())
      tgts.push_back(b.stamp);
    else
      for (const fs::path& rel : outputs)
        tgts.push_back((out_dir / rel).generic_string());
    std::string bad;
    // From a model, the build read the model file: that is its one input (the sources it
    // was compiled from are the model's own depfile's business).
    auto text = depfile_text(
        tgts, c.model.empty() ? files_read(s) : std::vector<std::string>{c.model}, bad);
    if (!text) {
      std::cerr << "portolan: --depfile cannot name '" << bad
                << "' (a newline in it, or a trailing backslash); no file was written\n";
      return kExitUsage;
    }
    dep = std::move(*text);
  }
  if (!folders_exist({b.stamp, b.depfile}, "file")) // fail before writing, not half-way
    return kExitUsage;
  std::string err;
  if (!write_outputs(out_dir, *set, std::cout, err)) {
    std::cerr << "portolan: " << err << "; no file was written\n";
    return kExitUsage;
  }
  if (!b.stamp.empty() && !write_file_atomic(b.stamp, "", err)) {
    std::cerr << "portolan: " << err << "\n";
    return kExitUsage;
  }
  if (!b.depfile.empty() && !write_file_atomic(b.depfile, dep, err)) {
    std::cerr << "portolan: " << err << "\n";
    return kExitUsage;
  }
  return kExitClean;
}

/// `portolan compile`: the manifest's policy loaded once, written as a `.pmodel` for
/// `build --model` (-o) and/or as one slice per target (--slices DIR: DIR/<target>.pmodel, each
/// rewritten only when its bytes change); with --depfile, a Make/Ninja depfile naming every
/// source it was read from (its target: the model and slices, or with --stamp that one file).
int run_compile(const Common& c, const std::string& out, const std::string& depfile,
                const std::string& stamp, const std::string& slices) {
  if (c.manifest.empty() || (out.empty() && slices.empty())) {
    std::cerr << "portolan: compile needs --manifest FILE and -o FILE.pmodel or --slices DIR\n";
    return kExitUsage;
  }
  if (!stamp.empty() && depfile.empty()) {
    std::cerr << "portolan: --stamp goes with --depfile\n";
    return kExitUsage;
  }
  Session s;
  if (!open(s, c, {}))
    return kExitUsage;
  // No target is bound here: a suppression of a binding or backend finding is the builds' to judge.
  int code = finish(s, "text", judged_over(s, 0));
  if (code != kExitClean || !s.manifest) {
    std::cerr << "portolan: compile failed; no model was written\n";
    return code == kExitClean ? kExitFindings : code;
  }
  if (!slices.empty())
    for (const Target& t : s.manifest->targets) // each slice a file of DIR, never elsewhere
      if (t.name.empty() || t.name == "." || t.name == ".." ||
          t.name.find_first_of("/\\\n") != std::string::npos) {
        std::cerr << "portolan: target name '" << t.name
                  << "' cannot name a slice file in --slices; no model was written\n";
        return kExitUsage;
      }
  std::vector<BuildFile> slice_set; // DIR's files, relative
  if (!slices.empty())
    for (auto& [t, bytes] : s.slice_files())
      slice_set.push_back(BuildFile{t->name + ".pmodel", std::move(bytes)});
  // The depfile's targets. Ninja takes a depfile only when its first target is the rule's first
  // output; the slices come in the manifest's order, so a rule that lists them otherwise (or only
  // some) names a --stamp file first instead.
  std::vector<std::string> written;
  if (!stamp.empty())
    written.push_back(stamp);
  if (!out.empty() && stamp.empty())
    written.push_back(out);
  for (const BuildFile& f : slice_set)
    if (stamp.empty())
      written.push_back((fs::path(slices) / f.rel).generic_string());
  std::string dep;
  if (!depfile.empty()) { // made before writing, so a path it cannot name writes nothing
    std::string bad;
    auto text = depfile_text(written, files_read(s), bad);
    if (!text) {
      std::cerr << "portolan: --depfile cannot name '" << bad
                << "' (a newline in it, or a trailing backslash); no model was written\n";
      return kExitUsage;
    }
    dep = std::move(*text);
  }
  if (!folders_exist({stamp, depfile}, "model")) // fail before writing, not half-way
    return kExitUsage;
  // An unchanged model keeps its mtime: with `restat = 1`, Ninja then skips what is built from
  // it. The slices are one output set (compiler/output.h): swapped in as one, unchanged slices
  // keep their inode and mtime, and the slice of a target no longer in the manifest goes.
  if (!out.empty()) {
    std::string bytes = s.model_file();
    if (auto old = read_file(out); (!old || *old != bytes) && !write_file_atomic(out, bytes)) {
      std::cerr << "portolan: cannot write '" << out << "'\n";
      return kExitUsage;
    }
  }
  if (std::string err; !slices.empty() && !write_output_set(slices, slice_set, err)) {
    std::cerr << "portolan: cannot write the slices in '" << slices << "': " << err << "\n";
    return kExitUsage;
  }
  std::string err;
  if (!stamp.empty() && !write_file_atomic(stamp, "", err)) {
    std::cerr << "portolan: cannot write '" << stamp << "'\n";
    return kExitUsage;
  }
  if (!depfile.empty() && !write_file_atomic(depfile, dep, err)) {
    std::cerr << "portolan: cannot write '" << depfile << "'\n";
    return kExitUsage;
  }
  return kExitClean;
}

/// Query's options besides the common ones.
struct QueryArgs {
  std::string from, to, sport, format = "text";
  std::vector<std::string> packet;
  bool exit_code = false; ///< exit by verdict: 0 allow, 1 deny, 2 error, 3 unseen
};

int run_query(const Common& c, const QueryArgs& a, const std::string& help) {
  const std::string &from = a.from, &to = a.to, &sport = a.sport;
  const std::vector<std::string>& packet = a.packet;
  if (a.format != "text" && a.format != "json") {
    std::cerr << "portolan: --format is text or json, not '" << a.format << "'\n";
    return kExitUsage;
  }
  if (c.manifest.empty() || from.empty() || to.empty() || packet.size() != 1) {
    std::cerr << "portolan: query needs --manifest, --from, --to and one PACKET\n" << help;
    return kExitUsage;
  }
  Packet pkt;
  auto src = parse_ip(from), dst = parse_ip(to);
  if (!src || !dst || src->family != dst->family) {
    std::cerr << "portolan: --from and --to must be addresses of one family\n";
    return kExitUsage;
  }
  pkt.src = *src;
  pkt.dst = *dst;
  pkt.sport = 49152;
  if (!sport.empty()) {
    if (sport.find_first_not_of("0123456789") != std::string::npos || sport.size() > 5 ||
        std::stol(sport) > 65535) {
      std::cerr << "portolan: --sport needs a port number\n";
      return kExitUsage;
    }
    pkt.sport = static_cast<uint16_t>(std::stol(sport));
  }
  auto parsed = parse_packet_spec(packet[0], pkt);
  if (!parsed) {
    std::cerr << "portolan: '" << packet[0]
              << "' is not a packet: write tcp/PORT, udp/PORT, icmp/TYPE[/CODE], "
                 "icmpv6/TYPE[/CODE] or proto/NUMBER\n";
    return kExitUsage;
  }
  pkt = *parsed;
  Session s;
  if (!open(s, c, {}))
    return kExitUsage;
  if (!s.manifest || !s.clean()) {
    int code = finish(s, "text", Session::Judged::nothing);
    return a.exit_code && code == kExitFindings ? kExitUsage : code; // 1 would read as deny
  }
  std::string env = c.env;
  if (env.empty() && s.manifest->environments.size() == 1)
    env = s.manifest->environments.begin()->first;
  if (!s.manifest->environments.count(env)) {
    std::cerr << "portolan: the manifest has no environment '" << env << "' (use --env)\n";
    return kExitUsage;
  }
  std::vector<TargetView> views;
  Diagnostics quiet; // query judges nothing: lowering's findings are check's to report
  for (const Target* t : s.targets(env))
    views.push_back(s.compile_target(*t, Want{false, true, false}, quiet).view);
  const Environment& e = s.manifest->environments.at(env);
  // A packet to a public address is translated at the perimeter on its way: the filters judge
  // the real address, as every target sees it after translation (docs/manifest.md, NAT).
  auto nat = query_nat(s.lower_context(), e, s.targets(env), pkt);
  auto verdicts =
      nat ? query(s.loaded.policy, e, views, pkt, *nat) : query(s.loaded.policy, e, views, pkt);
  auto tracks = [specs = backend_specs()](const Target& t) {
    for (const BackendSpec& b : specs)
      if (b.name == t.backend && b.conntrack)
        return b.conntrack_own_icmp_only ? Conntrack::TracksOwnIcmpOnly : Conntrack::Tracks;
    return Conntrack::None;
  };
  mark_conntrack(verdicts, pkt, tracks);
  if (a.format == "json")
    print_query_json(std::cout, s.loaded.policy, s.sm, env, pkt, verdicts, nat);
  else {
    // A packet to a VIP also reaches its nodes' host firewalls, as the balancer hands it on
    // (after the perimeter's translation: a VIP published on a public address, or a port
    // mapping to a VIP).
    auto balanced = query_balanced(s.loaded.policy, e, views, nat ? nat->judged : pkt);
    for (BalancedHop& h : balanced)
      if (h.pkt)
        mark_conntrack(h.verdicts, *h.pkt, tracks);
    print_query(std::cout, s.loaded.policy, s.sm, env, pkt, verdicts, balanced, nat);
  }
  int code = finish(s, "text", Session::Judged::nothing);
  if (!a.exit_code || code != kExitClean)
    return a.exit_code && code == kExitFindings ? kExitUsage : code;
  switch (query_outcome(verdicts)) {
  case QueryOutcome::Allow:
    return 0;
  case QueryOutcome::Deny:
    return 1;
  case QueryOutcome::Unseen:
    break;
  }
  return 3;
}

/// Renders what a tables command said (it judges nothing, so no suppression is unused).
int finish_tables(Session& s, int code) {
  s.diags.normalize();
  s.diags.render_text(std::cerr, s.sm);
  return code;
}

/// The options of doc and graph, for tables::load_input.
std::optional<tables::PolicyInput> tables_input(const Common& c,
                                                const std::vector<std::string>& files) {
  tables::PolicyInput in;
  in.files.assign(files.begin(), files.end());
  if (!c.manifest.empty())
    in.manifest = c.manifest;
  if (!c.env.empty())
    in.env = c.env;
  if (!c.today.empty()) {
    in.today = parse_today(c.today);
    if (!in.today) {
      std::cerr << "portolan: --today needs a date YYYY-MM-DD or 'now', not '" << c.today << "'\n";
      return std::nullopt;
    }
  }
  return in;
}

int run_import(const std::vector<std::string>& table, const std::string& roles) {
  if (table.size() != 1) {
    std::cerr << "portolan: import needs one TABLE file\n";
    return kExitUsage;
  }
  tables::ImportOptions o{table[0], std::nullopt};
  if (!roles.empty())
    o.roles = roles;
  Session s;
  return finish_tables(s, tables::run_import(o, s.sm, s.diags, std::cout, std::cerr));
}

int run_doc_or_graph(bool doc, const Common& c, const std::string& format,
                     const std::vector<std::string>& files) {
  std::string f = format.empty() ? (doc ? "md" : "dot") : format;
  if ((doc && f != "md" && f != "html") || (!doc && f != "dot" && f != "svg")) {
    std::cerr << "portolan: --format is " << (doc ? "md or html" : "dot or svg") << ", not '" << f
              << "'\n";
    return kExitUsage;
  }
  auto in = tables_input(c, files);
  if (!in)
    return kExitUsage;
  Session s;
  if (doc) {
    tables::DocOptions o{*in, f == "html" ? tables::DocFormat::Html : tables::DocFormat::Markdown};
    return finish_tables(s, tables::run_doc(o, s, std::cout, std::cerr));
  }
  tables::GraphOptions o{*in, f == "svg" ? tables::GraphFormat::Svg : tables::GraphFormat::Dot};
  return finish_tables(s, tables::run_graph(o, s, std::cout, std::cerr));
}

/// Unknown options left over by CLI11 (extras allowed so that we can say what was meant).
bool unknown_options(const CLI::App& app) {
  std::vector<std::string> known;
  for (const CLI::Option* o : app.get_options())
    for (const std::string& n : o->get_lnames())
      known.push_back("--" + n);
  bool any = false;
  for (const std::string& x : app.remaining()) {
    std::string key = x.substr(0, x.find('='));
    std::cerr << "portolan: unknown option '" << key << "'";
    if (auto n = nearest_name(key, known))
      std::cerr << "; did you mean '" << *n << "'?";
    std::cerr << "\n";
    any = true;
  }
  return any;
}

int run(int argc, char** argv) {
  CLI::App app{"Portolan compiles firewall policies to vendor configurations.", "portolan"};
  app.footer("Run 'portolan <command> --help' for a command's options.");
  bool version = false, show_stages = false;
  app.add_flag("--version", version, "print the version");
  app.add_flag("--list-stages", show_stages, "print the compiler's stages, in order");

  Common cc, bc, qc;
  CheckOutput co;
  std::string& format = co.format;
  bool show_checks = false;
  std::vector<std::string> check_files, build_files, targets;
  std::string out;
  QueryArgs qa;

  CLI::App* check =
      app.add_subcommand("check", "parse and analyse a policy (and a manifest): errors, "
                                  "conflicts, gaps");
  add_common(*check, cc, true);
  check->add_option("--format", format, "text (default), json or sarif")->type_name("FORMAT");
  check
      ->add_option("--fail-on", co.fail_on,
                   "exit 1 when a finding of this severity or above remains after suppressions "
                   "and [checks]: error (default), warning or note")
      ->type_name("SEVERITY");
  check
      ->add_option("--sarif-help-uri", co.sarif.help_uri,
                   "where docs/checks.md is served: SARIF rules get helpUri URL#code")
      ->type_name("URL");
  check->add_flag("--list-checks", show_checks, "print the check pipeline and every code");
  check->add_option("files", check_files, "policy files, besides the manifest's")
      ->type_name("FILE.policy");
  check->footer(
      std::string(
          "Parses the policy files (and those the manifest lists), resolves every name, and with a "
          "manifest binds each environment's addresses, lowers every target without writing it and "
          "runs the checks. Text output ends with a summary line: the counts by severity and by "
          "code.") +
      "\n\nexit codes: 0 clean (below --fail-on), 1 a finding at or above --fail-on (errors by "
      "default), 2 bad usage or unreadable input");

  CLI::App* build = app.add_subcommand("build", "write the configuration of every target in a "
                                                "manifest");
  add_common(*build, bc, false);
  build->add_option("--target", targets, "build only this target (repeatable)")->type_name("NAME");
  build->add_option("--out", out, "output folder")->type_name("DIR");
  BuildArgs ba;
  build
      ->add_option("--depfile", ba.depfile,
                   "after a successful build, write a Make/Ninja depfile: the outputs (or "
                   "--stamp) depend on the manifest, every policy and every import read")
      ->type_name("FILE");
  build
      ->add_option("--stamp", ba.stamp,
                   "with --depfile: touch FILE after a successful build and name it, not the "
                   "outputs, as the depfile's target")
      ->type_name("FILE");
  build->add_flag("--list-outputs", ba.list_outputs,
                  "print the files the build would write, relative to --out, one per line, and "
                  "write nothing");
  build->add_flag("--absolute", ba.absolute, "with --list-outputs: absolute paths");
  build->add_option("files", build_files)->group(""); // refused: the manifest lists them
  build->footer(
      std::string(
          "Writes each target's configuration to DIR/<output> (DIR defaults to out/ beside the "
          "manifest). The whole set is replaced in one step, and only when every selected target "
          "lowered without error: a failed or killed build leaves the previous set untouched; "
          "unchanged files keep their mtime. See docs/manifest.md, 'How outputs are written'; "
          "--depfile, --stamp and --list-outputs are for build tools (docs/ci.md).") +
      "\n\n" +
      "exit codes: 0 built, 1 errors (nothing written), 2 bad usage or unreadable "
      "input");

  build
      ->add_option("--model", bc.model,
                   "a .pmodel (or a slice) from 'portolan compile', instead of --manifest")
      ->type_name("FILE");

  Common mc;
  std::string model_out, depfile, stamp, slices_dir;
  CLI::App* compile = app.add_subcommand(
      "compile", "load a manifest's policy once into a .pmodel file for 'build --model'");
  add_common(*compile, mc, false);
  compile->add_option("-o,--output", model_out, "the model file to write")->type_name("FILE");
  compile
      ->add_option("--slices", slices_dir,
                   "also (or instead of -o) write DIR/<target>.pmodel for every target: a slice "
                   "holding only what building that target needs, rewritten only when it changes")
      ->type_name("DIR");
  compile
      ->add_option("--depfile", depfile,
                   "also write a Makefile rule: the model (and slices) depend on its sources")
      ->type_name("FILE");
  compile
      ->add_option("--stamp", stamp,
                   "(with --depfile) the depfile's target is FILE, written after every successful "
                   "compile, instead of the model and slices: for a Ninja rule that lists the "
                   "slices as implicit outputs, in any order")
      ->type_name("FILE");
  compile->footer(
      std::string("Reads the manifest and its policy files, resolves every name and validates the "
                  "manifest, then writes the result (with every source text, for diagnostics) "
                  "as one sealed file: 'portolan build --model FILE --target T' builds a target "
                  "without parsing the policy again, one build step per target. --slices DIR "
                  "writes DIR/<target>.pmodel per target instead (or as well): only what that "
                  "target's build needs, for 'build --model DIR/T.pmodel'; a file whose bytes "
                  "are unchanged is not rewritten (Ninja's restat). A model of another version, "
                  "or a corrupt one, is refused. See docs/manifest.md, 'Build systems'.") +
      "\n\nexit codes: 0 written, 1 errors (nothing written), 2 bad usage or unreadable input");

  CLI::App* q = app.add_subcommand("query", "which flow decides a packet, in each target that "
                                            "sees it");
  add_common(*q, qc, true);
  q->add_option("--from", qa.from, "source address")->type_name("ADDR");
  q->add_option("--to", qa.to, "destination address")->type_name("ADDR");
  q->add_option("--sport", qa.sport, "source port (default 49152)")->type_name("N");
  q->add_option("--format", qa.format, "text (default) or json (docs/ci.md)")->type_name("FORMAT");
  q->add_flag("--exit-code", qa.exit_code,
              "exit by verdict: 0 every target that sees the packet allows it, 1 one denies it, "
              "2 error, 3 no target sees it");
  q->add_option("packet", qa.packet, "the packet")->type_name("PACKET");
  q->footer(
      std::string(
          "Which flow decides a packet, in each target of the environment that sees it. PACKET is "
          "tcp/PORT, udp/PORT, icmp/TYPE[/CODE], icmpv6/TYPE[/CODE] or proto/NUMBER. A host target "
          "sees packets to (input) or from (output) its role's addresses; a perimeter target sees "
          "packets between addresses bound in its two zones. The verdict comes from the same "
          "packet sets the checks use: the first deciding flow (denies come first), or the default "
          "deny.") +
      "\n\n" + kExitCodes +
      "; with --exit-code: 0 allowed by every (target, chain) that sees the packet, 1 denied by "
      "at least one, 2 errors, bad usage or unreadable input, 3 seen by no target");

  std::vector<std::string> import_table, doc_files, graph_files;
  std::string roles, doc_format, graph_format;
  Common dc, gc;
  CLI::App* imp = app.add_subcommand("import", "a vendor port table (Markdown/HTML) to a policy "
                                               "draft");
  imp->add_option("--roles", roles,
                  "the team's own names: [roles] \"label\" = \"role\" or \"role.interface\", "
                  "[zones] \"role\" = \"zone\", [descriptions] \"role\" = \"text\"")
      ->type_name("MAP.toml");
  imp->add_option("table", import_table, "the vendor's port table")->type_name("TABLE.md");
  imp->footer(std::string("Writes a policy draft to stdout: roles and interfaces from the source "
                          "and destination labels, services from the protocol cells, mirrored "
                          "rows merged into two-way flows, grouped by the role cell, notes kept. "
                          "What a table cannot say (features, expiry, required, zones) is marked "
                          "TODO; each row it cannot read becomes a comment with the reason. The "
                          "summary goes to stderr. See docs/tables.md.") +
              "\n\nexit codes: 0 written, 1 no port table or a bad roles map, 2 bad usage or "
              "unreadable input");
  CLI::App* doc = app.add_subcommand("doc", "the policy as a port table (Markdown or HTML)");
  add_common(*doc, dc, true);
  doc->add_option("--format", doc_format, "md (default) or html")->type_name("FORMAT");
  doc->add_option("files", doc_files, "policy files, besides the manifest's")
      ->type_name("FILE.policy");
  doc->footer(std::string("One table per group with the vendor's columns (group/protocol/"
                          "transport/port, source, destination, notes) and the conditions; with "
                          "--manifest and --env, the bound addresses and whether each flow is in "
                          "force. See docs/tables.md.") +
              "\n\n" + kExitCodes);
  CLI::App* graph = app.add_subcommand("graph", "the policy as a picture (Graphviz DOT or SVG)");
  add_common(*graph, gc, true);
  graph->add_option("--format", graph_format, "dot (default) or svg (runs Graphviz dot)")
      ->type_name("FORMAT");
  graph->add_option("files", graph_files, "policy files, besides the manifest's")
      ->type_name("FILE.policy");
  graph->footer(std::string("Roles and interfaces as nodes grouped by zone, flows as edges "
                            "labelled by service; deny and expired flows styled apart. See "
                            "docs/tables.md.") +
                "\n\n" + kExitCodes);

  FmtOptions fo;
  std::vector<std::string> fmt_files;
  CLI::App* fmtc =
      app.add_subcommand("fmt", "rewrite policy files in the canonical layout (--check "
                                "for CI)");
  fmtc->add_flag("--check", fo.check,
                 "change nothing; exit 1 and print a unified diff when a file is not formatted");
  fmtc->add_flag("--stdout", fo.to_stdout,
                 "print the formatted text instead of rewriting the file");
  fmtc->add_option("files", fmt_files, "policy files")->type_name("FILE.policy");
  fmtc->footer(std::string("One canonical layout, idempotent, keeping every comment and blank-line "
                           "group; only whitespace changes (docs/language.md, 'Layout').") +
               "\n\nexit codes: 0 formatted (or already formatted), 1 not formatted (--check) or "
               "not parseable, 2 bad usage or unreadable input");

  DiffOptions dfo;
  std::string diff_today;
  std::vector<std::string> diff_sides;
  CLI::App* diffc = app.add_subcommand("diff", "what a policy change opens and closes, per target "
                                               "(OLD and NEW: git revisions or folders)");
  diffc->add_option("--manifest", dfo.manifest, "the manifest inside each side (portolan.toml)")
      ->type_name("FILE");
  diffc->add_option("--format", dfo.format, "text (default), json, sarif or markdown")
      ->type_name("FORMAT");
  diffc->add_option("--fail-on", dfo.fail_on, "exit 1 on opened, closed, any change, or never")
      ->type_name("WHAT");
  diffc->add_option("--target", dfo.targets, "only this target (repeatable)")
      ->type_name("NAME")
      ->allow_extra_args(false);
  diffc->add_option("--env", dfo.envs, "only the targets of this environment (repeatable)")
      ->type_name("NAME")
      ->allow_extra_args(false);
  diffc->add_option("--today", diff_today, "judge expiry on both sides as of DATE or 'now'")
      ->type_name("DATE");
  diffc->add_option("sides", diff_sides, "OLD [NEW]; NEW defaults to the work tree")
      ->type_name("REV|DIR");
  diffc->footer("Compares the packets every target allows, from the packet engine: regions newly "
                "allowed (opened) or denied (closed), each with a witness packet and the deciding "
                "flow on each side; targets added, removed or retargeted; flows whose text changed "
                "but not their packets. A side is a folder, or a git revision read into a private "
                "temporary tree (the work tree and index are never touched). See docs/diff.md."
                "\n\nexit codes: 0 compared (no --fail-on match), 1 a change matching --fail-on, 2 "
                "bad usage, a bad revision or errors on either side");

  std::vector<std::string> commands;
  for (CLI::App* sub : {check, build, compile, q, fmtc, imp, doc, graph, diffc}) {
    sub->allow_extras();
    commands.push_back(sub->get_name());
  }

  if (argc < 2) {
    std::cerr << app.help();
    return kExitUsage;
  }
  if (std::string cmd = argv[1];
      !cmd.empty() && cmd[0] != '-' &&
      std::find(commands.begin(), commands.end(), cmd) == commands.end()) {
    if (cmd == "help") {
      std::cout << app.help();
      return kExitClean;
    }
    if (cmd == "version") {
      std::cout << "portolan " << kPortolanVersion << "\n";
      return kExitClean;
    }
    std::cerr << "portolan: unknown command '" << cmd << "'";
    if (auto n = nearest_name(cmd, commands))
      std::cerr << "; did you mean '" << *n << "'?";
    std::cerr << "\n" << app.help();
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "portolan: " << e.what() << "\n";
    return kExitUsage;
  }
  if (version) {
    std::cout << "portolan " << kPortolanVersion << "\n";
    return kExitClean;
  }
  if (show_stages) {
    print_stages(std::cout);
    return kExitClean;
  }
  for (CLI::App* sub : {check, build, compile, q, fmtc, imp, doc, graph, diffc})
    if (sub->parsed() && unknown_options(*sub))
      return kExitUsage;
  if (check->parsed()) {
    if (show_checks) {
      print_checks(std::cout);
      return kExitClean;
    }
    return run_check(cc, co, check_files);
  }
  if (build->parsed())
    return run_build(bc, targets, out, build_files, ba);
  if (compile->parsed())
    return run_compile(mc, model_out, depfile, stamp, slices_dir);
  if (q->parsed())
    return run_query(qc, qa, q->help());
  if (fmtc->parsed()) {
    fo.files.assign(fmt_files.begin(), fmt_files.end());
    return run_fmt(fo, std::cout, std::cerr);
  }
  if (imp->parsed())
    return run_import(import_table, roles);
  if (doc->parsed())
    return run_doc_or_graph(true, dc, doc_format, doc_files);
  if (graph->parsed())
    return run_doc_or_graph(false, gc, graph_format, graph_files);
  if (diffc->parsed()) {
    if (diff_sides.empty() || diff_sides.size() > 2) {
      std::cerr << "portolan: diff needs OLD and optionally NEW (a git revision or a folder)\n";
      return kExitUsage;
    }
    if (!diff_today.empty() && !(dfo.today = parse_today(diff_today))) {
      std::cerr << "portolan: --today needs a date YYYY-MM-DD or 'now', not '" << diff_today
                << "'\n";
      return kExitUsage;
    }
    dfo.old_side = diff_sides[0];
    dfo.new_side = diff_sides.size() > 1 ? diff_sides[1] : "";
    return run_diff(dfo, std::cout, std::cerr);
  }
  std::cerr << app.help();
  return kExitUsage;
}

} // namespace

int main(int argc, char** argv) {
#ifdef __GLIBC__
  // No fastbins: freeing each piece's parse tree (millions of small nodes) and then asking for
  // the next piece's buffers made glibc consolidate them, 19% of a cold one-target build at
  // 100k flows (perf: malloc_consolidate, unlink_chunk); the thread cache still serves small
  // sizes. -17% CPU on that build (bench/README.md, "Front end").
  mallopt(M_MXFAST, 0);
#endif
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "portolan: internal error: " << e.what() << "\n";
    return kExitUsage;
  }
}
