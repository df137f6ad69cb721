// ptl-kernel: the real-kernel differential test. For each policy and target it compiles the
// config in-process through the driver (driver/session.h), builds a world of network namespaces,
// loads the config into the enforcing namespace, sends real probes and compares every outcome with
// the packet-space engine's verdict (compile_target(...).expected). Run it through
// tests/kernel/run, which also removes this run's namespaces if the process dies.
// docs/kernel-tests.md describes the design.
#include "plan.h"
#include "world.h"

#include "random_policy.h"
#include "session.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#ifndef PORTOLAN_SOURCE_DIR
#define PORTOLAN_SOURCE_DIR "."
#endif

namespace fs = std::filesystem;
using namespace portolan;
using namespace portolan::kernel;

namespace {

constexpr int kSkipExit = 77; // CTest's SKIP_RETURN_CODE for this test

const char* kHelp = R"(usage: ptl-kernel [options]     (normally through tests/kernel/run)

Without options: the CI run. The shipped public-IM policy, the backend feature corpus
(tests/golden/features) and tests/kernel/corpus on every nftables/iptables target of their
manifests (all probes), the self-check on them (allow-all and deny-all configs must be caught),
and random policies 1..500 for each of nftables and iptables (adversarial draws included),
host and perimeter targets alternating. Every world probes TCP, UDP, ICMP echo and raw packets
of other protocols and ICMP types, and connections opened before a reload.

  --seed S             replay one random policy (only that, unless --shipped is also given)
  --seeds N            random policies per backend (default 500); --seeds 0 for none
  --policies N         the same (the long run: tests/kernel/run --policies 10000)
  --first-seed S       first random seed (default 1)
  --backend B          nftables, iptables or both (default both)
  --target T           host, perimeter or both (default: alternate with the seed)
  --shipped            the fixed manifests and the self-check only
  --no-shipped         skip the fixed manifests;  --no-self-check  skip the self-check
  --manifest FILE      probe every nftables/iptables target of FILE (instead of the shipped
                       policy and the feature corpus; repeatable)
  --max-probes N       probes sampled per random policy and target (default 256; 0: all)
  --reload N           connections per world opened before a reload (default 4; 0: none)
  --timeout-ms MS      time before a probe counts as dropped (default 250)
  --jobs N             worlds probed at once (default 6)
  --time-budget S      give up (and fail) after S seconds (default 540)
  --prefix P           namespace name prefix (default ptl-PID); tests/kernel/run sets it
  --source-dir D       the Portolan source tree (for the shipped policy)
  --failures D         where failing cases are written (default TMPDIR/ptl-kernel-failures/PREFIX)
  --verbose            one line per world
  --show-probes        every probe of every world, with both verdicts
)";

/// Normal: the target's own config. AllowAll, DenyAll: broken configs the probes must catch.
/// Retry: the target's own config, every probe the engine allows sent twice (RunOptions::
/// retry_check): the second round must agree with the engine as the first does.
enum class Check { Normal, AllowAll, DenyAll, Retry };

struct Options {
  std::vector<std::string> backends{"nftables", "iptables"};
  std::string target = "alternate";
  std::optional<uint64_t> seed;
  uint64_t first_seed = 1;
  int seeds = 500;
  bool shipped = true, random = true, self_check = true;
  size_t max_probes = 256;
  int timeout_ms = 250;
  int jobs = 6;
  int time_budget = 540;
  std::string prefix;
  fs::path source_dir = PORTOLAN_SOURCE_DIR;
  fs::path failures;
  std::vector<fs::path> manifests; ///< empty: the shipped policy and the two corpora
  bool verbose = false, show_probes = false;
  size_t reload = 4; ///< connections per random world opened before a reload
};

struct Job {
  std::string label;  ///< "seed 17 nftables host-nftables"
  std::string replay; ///< the command that runs this job alone
  Check check = Check::Normal;
  std::string backend;
  bool random = false;
  std::string error; ///< planning failed
  WorldPlan plan;
  Config config;
  std::vector<std::pair<std::string, std::string>> sources; ///< file name -> text, for dumps
  WorldResult result;
  bool ran = false;
};

/// A policy and manifest loaded in-process by the driver, as `portolan build` loads them.
struct Loaded : Session {
  std::string render() const {
    std::ostringstream out;
    diags.render_text(out, sm);
    return out.str();
  }
};

std::unique_ptr<Loaded> load_manifest(const fs::path& path, std::string& err) {
  auto l = std::make_unique<Loaded>();
  l->open(path);
  if (!l->manifest) {
    err = "cannot read " + path.string() + "\n" + l->render();
    return nullptr;
  }
  if (!l->clean()) {
    err = "cannot load the policy of " + path.string() + "\n" + l->render();
    return nullptr;
  }
  return l;
}

/// Compiles one target, optionally replaced by a deliberately broken rule set; `expected` gets
/// what the policy allows (the engine's verdicts for the probes).
bool compile(const Loaded& l, const Target& t, Check check, Config& cfg, TargetPackets& expected,
             std::string& err, bool* nd_plumbing = nullptr) {
  if (!make_backend(t.backend)) {
    err = "no backend '" + t.backend + "'";
    return false;
  }
  Diagnostics d;
  CompiledTarget compiled = l.compile_target(t, Want{false, true}, d);
  expected = std::move(compiled.expected);
  RuleSet& rs = compiled.rules;
  if (nd_plumbing)
    *nd_plumbing = rs.icmpv6_nd;
  if (check == Check::AllowAll || check == Check::DenyAll)
    rs.rules.clear(); // deny-all: the governed chains keep only their drop policy and state rules
  if (check == Check::AllowAll) {
    if (l.loaded.policy.flows.empty()) {
      err = "the self-check needs a policy with a flow";
      return false;
    }
    for (Chain c : rs.chains) {
      Rule r;
      r.chain = c;
      r.action = Action::Allow;
      r.origin.trace = "self-check";
      r.origin.id = "self-check";
      rs.rules.push_back(r); // any -> any, every protocol
    }
  }
  cfg.backend = t.backend;
  cfg.files = l.emit(t, rs, d);
  if (d.has_errors()) {
    std::ostringstream out;
    d.render_text(out, l.sm);
    err = "lowering " + t.name + " failed\n" + out.str();
    return false;
  }
  return true;
}

void plan_job(Job& job, const Loaded& l, const Target& t, const PlanOptions& po) {
  TargetPackets expected;
  PlanOptions opt = po;
  if (!compile(l, t, job.check, job.config, expected, job.error, &opt.nd_plumbing))
    return;
  // Policy B of the reload phase: the same target with no flows (the engine allows nothing).
  Config b;
  TargetPackets none;
  if (job.check != Check::Normal || opt.reload_probes == 0 ||
      !compile(l, t, Check::DenyAll, b, none, job.error))
    opt.reload_probes = 0;
  job.error.clear();
  job.config.reload_files = b.files;
  for (const OutputFile& f : job.config.files)
    job.sources.push_back({"config" + f.suffix, f.content});
  std::string why;
  if (auto p = plan_world(l.lower_context(), t, expected, opt, why))
    job.plan = std::move(*p);
  else
    job.error = "cannot plan: " + why;
}

const char* verdict(bool allow) {
  return allow ? "passes" : "is dropped";
}

std::string target_kind(const Target& t) {
  return t.scope == Scope::Host ? "host" : "perimeter";
}

bool mismatch(const ProbeSpec& p, const Observation& o) {
  return p.expect_allow ? o.outcome != Outcome::Allowed : o.outcome != Outcome::Denied;
}

/// A reload probe: opened under the target's config, sent on after policy B (no flows) was
/// loaded; B allows nothing, so the only right outcome is a drop.
bool reload_mismatch(const Observation& o) {
  return o.outcome != Outcome::Denied;
}

std::string describe(const Job& job, const ProbeSpec& p, const Observation& o) {
  std::ostringstream s;
  s << "    " << p.pkt.str() << "  [" << chain_name(p.chain) << ", " << p.kind << "]\n"
    << "      from " << job.plan.ns[static_cast<size_t>(p.src_ns)].label << " to "
    << job.plan.ns[static_cast<size_t>(p.dst_ns)].label << "; derived from " << p.flow << "\n"
    << "      engine: " << verdict(p.expect_allow) << "; kernel: " << outcome_name(o.outcome)
    << " (" << o.detail << (o.retried ? ", after a retry" : "") << ")\n";
  return s.str();
}

/// Outcomes that are not mismatches, counted apart and printed with examples.
/// A world whose target the compiler refused with `unrealizable` (and nothing else): the
/// refusal is the correct outcome (never widen), so there is nothing to load.
const char* known_load_failure(const std::string&, const std::string& why, const std::string&) {
  if (why.rfind("lowering ", 0) != 0)
    return nullptr;
  std::istringstream lines(why);
  bool refused = false;
  for (std::string l; std::getline(lines, l);)
    if (l.find(": error: ") != std::string::npos) {
      if (!l.ends_with("[unrealizable]"))
        return nullptr;
      refused = true;
    }
  if (!refused)
    return nullptr;
  return "refused as unrealizable by the compiler (the backend cannot express a flow exactly; "
         "nothing was loaded)";
}

std::string describe_reload(const Job& job, const ProbeSpec& p, const Observation& o) {
  std::ostringstream s;
  s << "    " << p.pkt.str() << "  [" << chain_name(p.chain) << ", reload]\n"
    << "      from " << job.plan.ns[static_cast<size_t>(p.src_ns)].label << " to "
    << job.plan.ns[static_cast<size_t>(p.dst_ns)].label << "; derived from " << p.flow << "\n"
    << "      opened under the target's config, then policy B (no flows) loaded; engine: B "
       "allows nothing, the original direction is dropped; kernel: "
    << outcome_name(o.outcome) << " (" << o.detail << ")\n";
  return s.str();
}

void dump_failure(const Job& job, const Options& opt, const std::string& report) {
  std::string name = job.label;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.')
      c = '_';
  fs::path dir = opt.failures / name;
  std::error_code ec;
  fs::create_directories(dir, ec);
  for (const auto& [file, text] : job.sources)
    std::ofstream(dir / file) << text;
  std::ofstream(dir / "mismatches.txt") << report;
  std::cout << "  files: " << dir.string() << "\n";
}

volatile sig_atomic_t g_signalled = 0;

void on_signal(int) {
  g_signalled = 1;
  request_stop();
}

bool parse(int argc, char** argv, Options& o) {
  auto need = [&](int& i) -> const char* {
    if (i + 1 >= argc) {
      std::cerr << "ptl-kernel: " << argv[i] << " needs a value\n";
      return nullptr;
    }
    return argv[++i];
  };
  bool shipped_only = false, seed_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    const char* v = nullptr;
    auto num = [&](auto& out) {
      if (!(v = need(i)))
        return false;
      char* end = nullptr;
      unsigned long long n = std::strtoull(v, &end, 10);
      if (!*v || *end) {
        std::cerr << "ptl-kernel: " << a << " needs a number, not '" << v << "'\n";
        return false;
      }
      out = static_cast<std::remove_reference_t<decltype(out)>>(n);
      return true;
    };
    if (a == "--help" || a == "-h") {
      std::cout << kHelp;
      std::exit(0);
    } else if (a == "--seed") {
      uint64_t s = 0;
      if (!num(s))
        return false;
      o.seed = s;
      seed_given = true;
    } else if (a == "--seeds") {
      if (!num(o.seeds))
        return false;
    } else if (a == "--first-seed") {
      if (!num(o.first_seed))
        return false;
    } else if (a == "--backend") {
      if (!(v = need(i)))
        return false;
      std::string b = v;
      if (b == "both")
        o.backends = {"nftables", "iptables"};
      else if (b == "nftables" || b == "iptables")
        o.backends = {b};
      else {
        std::cerr << "ptl-kernel: --backend is nftables, iptables or both\n";
        return false;
      }
    } else if (a == "--target") {
      if (!(v = need(i)))
        return false;
      o.target = v;
      if (o.target != "host" && o.target != "perimeter" && o.target != "both") {
        std::cerr << "ptl-kernel: --target is host, perimeter or both\n";
        return false;
      }
    } else if (a == "--shipped") {
      shipped_only = true;
    } else if (a == "--no-shipped") {
      o.shipped = false;
    } else if (a == "--no-self-check") {
      o.self_check = false;
    } else if (a == "--max-probes") {
      if (!num(o.max_probes))
        return false;
    } else if (a == "--timeout-ms") {
      if (!num(o.timeout_ms))
        return false;
    } else if (a == "--jobs") {
      if (!num(o.jobs))
        return false;
      o.jobs = std::clamp(o.jobs, 1, 16);
    } else if (a == "--time-budget") {
      if (!num(o.time_budget))
        return false;
    } else if (a == "--prefix") {
      if (!(v = need(i)))
        return false;
      o.prefix = v;
    } else if (a == "--source-dir") {
      if (!(v = need(i)))
        return false;
      o.source_dir = v;
    } else if (a == "--failures") {
      if (!(v = need(i)))
        return false;
      o.failures = v;
    } else if (a == "--manifest") {
      if (!(v = need(i)))
        return false;
      o.manifests.push_back(fs::absolute(v));
    } else if (a == "--reload") {
      if (!num(o.reload))
        return false;
    } else if (a == "--policies") { // the long-run spelling: N random policies per backend
      if (!num(o.seeds))
        return false;
    } else if (a == "--show-probes") {
      o.show_probes = true;
    } else if (a == "--verbose") {
      o.verbose = true;
    } else {
      std::cerr << "ptl-kernel: unknown option '" << a << "' (--help lists them)\n";
      return false;
    }
  }
  if (seed_given && !shipped_only) {
    o.shipped = false;
    o.self_check = false;
  }
  if (shipped_only && !seed_given)
    o.random = false;
  if (o.seed)
    o.random = true;
  bool prefix_ok = o.prefix.empty() || o.prefix.rfind("ptl-", 0) == 0;
  for (char c : o.prefix)
    prefix_ok = prefix_ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-');
  if (!prefix_ok || o.prefix.size() > 24) {
    std::cerr << "ptl-kernel: --prefix must start with 'ptl-' (letters, digits, '-')\n";
    return false;
  }
  return true;
}

} // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!parse(argc, argv, opt))
    return 2;
  if (auto why = start_command_helper()) {
    std::cout << "kernel: FAILED: cannot start the command helper: " << *why << "\n";
    return 1;
  }
  if (opt.prefix.empty())
    opt.prefix = "ptl-" + std::to_string(::getpid());
  const char* tmp = std::getenv("TMPDIR");
  fs::path tmpdir = tmp && *tmp ? fs::path(tmp) : fs::path("/tmp");
  if (opt.failures.empty())
    opt.failures = tmpdir / "ptl-kernel-failures" / opt.prefix;
  RunOptions run;
  run.prefix = opt.prefix;
  run.scratch = tmpdir / (opt.prefix + "-scratch");
  run.timeout_ms = opt.timeout_ms;
  std::error_code ec;
  fs::create_directories(run.scratch, ec);
  struct ScratchGuard {
    fs::path p;
    ~ScratchGuard() {
      std::error_code e;
      fs::remove_all(p, e);
    }
  } scratch_guard{run.scratch};

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  for (int s : {SIGINT, SIGTERM, SIGHUP})
    sigaction(s, &sa, nullptr);

  if (auto why = kernel_unavailable(run)) {
    const char* skip = std::getenv("PORTOLAN_SKIP_KERNEL");
    if (skip && std::string(skip) == "1") {
      std::cout << "kernel: SKIPPED because PORTOLAN_SKIP_KERNEL=1: the kernel tests cannot run "
                   "here: "
                << *why << "\n";
      return kSkipExit;
    }
    std::cout << "kernel: FAILED: the kernel tests cannot run here: " << *why
              << "\nkernel: they need root and network namespaces (run ./dev.sh test as root);"
                 " set PORTOLAN_SKIP_KERNEL=1 to skip them on purpose\n";
    return 1;
  }

  auto t0 = std::chrono::steady_clock::now();
  std::vector<Job> jobs;

  // --- Fixed manifests (all probes), and the self-check on the first host and perimeter target
  // of each backend in each of them.
  std::vector<fs::path> manifests = opt.manifests;
  if (manifests.empty())
    manifests = {opt.source_dir / "policies" / "lync2013-public-im.toml",
                 opt.source_dir / "tests" / "golden" / "features" / "features.toml",
                 opt.source_dir / "tests" / "golden" / "lang" / "lang.toml",
                 opt.source_dir / "tests" / "kernel" / "corpus" / "edge-cases.toml",
                 opt.source_dir / "tests" / "kernel" / "corpus" / "deny-cuts.toml",
                 opt.source_dir / "tests" / "golden" / "edge-pool" / "edge-pool.toml"};
  for (const fs::path& m : manifests) {
    if (!opt.shipped && !opt.self_check)
      break;
    std::string err;
    auto l = load_manifest(m, err);
    if (!l) {
      std::cout << "kernel: FAILED: " << err << "\n";
      return 1;
    }
    std::map<std::string, int> self_checked;         // backend + scope -> done
    static std::map<std::string, int> retry_checked; // backend -> done (first manifest only)
    for (const Target& t : l->manifest->targets) {
      if (std::find(opt.backends.begin(), opt.backends.end(), t.backend) == opt.backends.end())
        continue;
      std::vector<Check> checks;
      if (opt.shipped)
        checks.push_back(Check::Normal);
      if (opt.self_check && !self_checked[t.backend + target_kind(t)]++) {
        checks.push_back(Check::AllowAll);
        checks.push_back(Check::DenyAll);
      }
      if (opt.self_check && !retry_checked[t.backend]++)
        checks.push_back(Check::Retry);
      for (Check c : checks) {
        Job job;
        job.check = c;
        job.backend = t.backend;
        job.label = m.stem().string() + " " + t.name +
                    (c == Check::AllowAll  ? " self-check allow-all"
                     : c == Check::DenyAll ? " self-check deny-all"
                     : c == Check::Retry   ? " self-check retry"
                                           : "");
        job.replay = "tests/kernel/run --shipped --backend " + t.backend +
                     (opt.manifests.empty() ? "" : " --manifest " + m.string());
        for (const std::string& p : l->manifest->policies)
          if (auto text = read_file(l->manifest->dir / p))
            job.sources.push_back({fs::path(p).filename().string(), *text});
        if (auto text = read_file(m))
          job.sources.push_back({m.filename().string(), *text});
        plan_job(job, *l, t, PlanOptions{0, 0, opt.reload});
        jobs.push_back(std::move(job));
      }
    }
  }

  // --- Random policies.
  if (opt.random) {
    std::vector<uint64_t> seeds;
    if (opt.seed)
      seeds.push_back(*opt.seed);
    else
      for (int i = 0; i < opt.seeds; ++i)
        seeds.push_back(opt.first_seed + static_cast<uint64_t>(i));
    for (uint64_t seed : seeds)
      for (size_t bi = 0; bi < opt.backends.size(); ++bi) {
        const std::string& b = opt.backends[bi];
        size_t backend_index = b == "nftables" ? 0 : 1;
        std::vector<std::string> kinds;
        if (opt.target == "both")
          kinds = {"host", "perimeter"};
        else if (opt.target == "alternate")
          kinds = {(seed + backend_index) % 2 ? "host" : "perimeter"};
        else
          kinds = {opt.target};
        test::GenOptions go;
        go.backends = {b};
        test::GeneratedPolicy g = test::random_policy(seed, go);
        fs::path dir = run.scratch / ("gen-" + std::to_string(seed) + "-" + b);
        fs::create_directories(dir, ec);
        std::ofstream(dir / "gen.policy") << g.policy;
        std::ofstream(dir / "portolan.toml") << g.manifest;
        std::string err;
        auto l = load_manifest(dir / "portolan.toml", err);
        for (const std::string& kind : kinds) {
          Job job;
          job.random = true;
          job.backend = b;
          std::string tname = (kind == "host" ? "host-" : "edge-") + b;
          job.label = "seed " + std::to_string(seed) + " " + b + " " + tname;
          job.replay = "tests/kernel/run --seed " + std::to_string(seed) + " --backend " + b +
                       " --target " + kind;
          job.sources = {{"gen.policy", g.policy}, {"portolan.toml", g.manifest}};
          if (!l) {
            job.error = err;
          } else {
            const Target* t = nullptr;
            for (const Target& x : l->manifest->targets)
              if (x.name == tname)
                t = &x;
            if (!t)
              job.error = "the generated manifest has no target " + tname;
            else
              plan_job(job, *l, *t,
                       PlanOptions{opt.max_probes, seed * 0x9E3779B97F4A7C15ull + (kind == "host"),
                                   opt.reload});
          }
          jobs.push_back(std::move(job));
        }
        fs::remove_all(dir, ec);
      }
  }
  double plan_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // --- Probe: a few worlds at once (each mostly waits for its timeouts).
  std::atomic<size_t> next{0}, finished{0};
  std::atomic<bool> out_of_time{false};
  std::mutex out_mu;
  auto worker = [&] {
    for (;;) {
      size_t i = next++;
      if (i >= jobs.size() || g_signalled)
        return;
      double spent = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (spent > opt.time_budget) {
        out_of_time = true;
        return;
      }
      Job& job = jobs[i];
      if (job.error.empty()) {
        RunOptions r = run;
        r.retry = job.check != Check::DenyAll; // everything times out there, by design
        r.retry_check = job.check == Check::Retry;
        job.result = run_world(job.plan, job.config, std::to_string(i), r);
        job.ran = !job.result.stopped;
      }
      size_t n = ++finished;
      std::lock_guard<std::mutex> lock(out_mu);
      if (opt.verbose)
        std::cout << "  [" << n << "/" << jobs.size() << "] " << job.label << ": "
                  << job.plan.probes.size() << " probes, " << job.result.seconds << " s"
                  << (job.result.error.empty() ? "" : " (" + job.result.error + ")") << "\n";
      else if (n % 50 == 0)
        std::cout << "kernel: " << n << "/" << jobs.size() << " worlds probed\n";
      std::cout.flush();
    }
  };
  std::vector<std::thread> threads;
  for (int k = 0; k < opt.jobs; ++k)
    threads.emplace_back(worker);
  for (auto& th : threads)
    th.join();

  // --- Compare with the engine.
  size_t policies = 0, probes = 0, mismatches = 0, failures = 0, retried = 0, candidates = 0;
  size_t self_worlds = 0, self_probes = 0, self_bad = 0, unprobeable = 0, self_fixed = 0;
  size_t retry_worlds = 0, retry_probes = 0, retry_bad = 0;
  std::map<std::string, size_t> per_kind;
  struct ClassCount {
    size_t probes = 0, mismatches = 0;
  };
  std::map<std::string, ClassCount> classes; // probe class -> probes, mismatches
  std::map<std::string, std::pair<size_t, std::vector<std::string>>> known_seen;
  std::set<int> icmp_types[2], raw_protos;
  for (Job& job : jobs) {
    if (!job.error.empty() || (job.ran && !job.result.error.empty())) {
      std::string why = job.error.empty() ? job.result.error : job.error;
      std::string policy_text;
      for (const auto& [f, t] : job.sources)
        if (f.size() > 7 && f.substr(f.size() - 7) == ".policy")
          policy_text += t;
      const char* known = known_load_failure(job.backend, why, policy_text);
      if (known) {
        auto& k = known_seen[known];
        ++k.first;
        if (k.second.size() < 3)
          k.second.push_back(job.label + ": " + why.substr(0, why.find('\n', why.find("Error: "))) +
                             "\n");
        continue;
      }
      ++failures;
      std::cout << "FAILED " << job.label << ": " << why << "\n  replay: " << job.replay << "\n";
      if (job.check == Check::Normal)
        dump_failure(job, opt, why);
      continue;
    }
    if (!job.ran)
      continue;
    const auto& probes_of = job.plan.probes;
    if (job.check == Check::Normal) {
      ++policies;
      per_kind[job.backend + " " + (job.plan.host_target ? "host" : "perimeter")]++;
      probes += probes_of.size();
      candidates += job.plan.candidates;
      unprobeable += job.plan.unobservable;
      std::string report;
      size_t bad = 0;
      auto count = [&](const std::string& cls, bool is_bad, const std::string& text) {
        auto& c = classes[cls];
        ++c.probes;
        if (!is_bad)
          return;
        ++c.mismatches; // every disagreement fails: conntrack's drops are the engine's too
        ++bad;
        report += text;
      };
      for (size_t i = 0; i < probes_of.size(); ++i) {
        const Observation& o = job.result.obs[i];
        retried += o.retried;
        bool m = mismatch(probes_of[i], o);
        count(probe_class(probes_of[i].pkt), m, m ? describe(job, probes_of[i], o) : "");
        if (probes_of[i].pkt.proto == kProtoIcmp || probes_of[i].pkt.proto == kProtoIcmpV6)
          icmp_types[probes_of[i].pkt.src.family == Family::V4 ? 0 : 1].insert(
              probes_of[i].pkt.sport);
        else if (probe_way(probes_of[i].pkt) == ProbeWay::Raw)
          raw_protos.insert(probes_of[i].pkt.proto);
      }
      for (size_t j = 0; j < job.result.reload_obs.size() && j < job.plan.reload.size(); ++j) {
        const Observation& o = job.result.reload_obs[j];
        bool m = reload_mismatch(o);
        count("reload " + probe_class(job.plan.reload[j].pkt), m,
              m ? describe_reload(job, job.plan.reload[j], o) : "");
      }
      mismatches += bad;
      if (opt.show_probes) {
        std::cout << "probes of " << job.label << ":\n";
        for (size_t i = 0; i < probes_of.size(); ++i)
          std::cout << describe(job, probes_of[i], job.result.obs[i]);
        for (size_t j = 0; j < job.result.reload_obs.size(); ++j)
          std::cout << describe_reload(job, job.plan.reload[j], job.result.reload_obs[j]);
      }
      if (bad) {
        std::cout << "MISMATCH " << job.label << ": " << bad << " of "
                  << probes_of.size() + job.plan.reload.size() << " probes differ from the engine\n"
                  << report << "  replay: " << job.replay << "\n";
        dump_failure(job, opt, report);
      } else if (opt.verbose) {
        std::cout << "  ok " << job.label << "\n";
      }
      continue;
    }
    if (job.check == Check::Retry) {
      // Every probe the engine allows went twice, the second time while a command of this
      // process was held before its exec: each must agree with the engine, as in a normal run.
      size_t twice = 0, bad = 0;
      std::string report;
      for (size_t i = 0; i < probes_of.size(); ++i) {
        const Observation& o = job.result.obs[i];
        twice += o.retried;
        if (mismatch(probes_of[i], o)) {
          ++bad;
          report += describe(job, probes_of[i], o);
        }
      }
      ++retry_worlds;
      retry_probes += twice;
      bool ok = twice > 0 && bad == 0;
      std::cout << "kernel self-check " << (ok ? "ok" : "FAILED") << ": " << job.label << ": "
                << twice << " probes sent again as a retry, " << bad << " of " << probes_of.size()
                << " differ from the engine\n";
      if (!ok) {
        ++retry_bad;
        std::cout << report;
      }
      continue;
    }
    // Self-check: the broken config must be caught by exactly the probes it breaks, and there
    // must be some (a harness that cannot see a difference would pass anything).
    bool allow_all = job.check == Check::AllowAll;
    size_t must_flip = 0, flipped = 0, caught = 0;
    std::string report;
    for (size_t i = 0; i < probes_of.size(); ++i) {
      const ProbeSpec& p = probes_of[i];
      const Observation& o = job.result.obs[i];
      if (opt.show_probes)
        std::cout << "self-check " << job.label << describe(job, p, o);
      if (!p.rules_decide) {
        ++self_fixed;
        continue; // conntrack or the ND plumbing decides it, whatever the rules say
      }
      bool should_flip = allow_all ? !p.expect_allow : p.expect_allow;
      Outcome broken = allow_all ? Outcome::Allowed : Outcome::Denied;
      caught += mismatch(p, o);
      if (should_flip)
        ++must_flip;
      if (o.outcome == broken)
        flipped += should_flip;
      else
        report += describe(job, p, o);
    }
    ++self_worlds;
    self_probes += probes_of.size();
    bool ok = must_flip > 0 && flipped == must_flip && caught == must_flip && report.empty();
    std::cout << "kernel self-check " << (ok ? "ok" : "FAILED") << ": " << job.label << ": "
              << caught << " mismatches caught, " << must_flip << " expected\n";
    if (!ok) {
      ++self_bad;
      std::cout << report;
    }
  }
  size_t not_run = 0;
  for (const Job& job : jobs)
    not_run += job.error.empty() && !job.ran;

  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "kernel: by target:";
  for (const auto& [k, n] : per_kind)
    std::cout << " " << k << " " << n << ";";
  std::cout << " probes sampled from " << candidates << " candidates, " << retried << " retried, "
            << unprobeable
            << " candidates not probed (IPv4 protocol 0 to the host itself, DCCP, UDP-Lite); "
            << plan_seconds << " s planning, " << seconds << " s in all\n";
  // Folded rules (docs/backends.md, "nftables"): how many nftables worlds the kernel judged
  // load concatenated-set lookups (`ip saddr . ip daddr ... @set`), so the proof covers them.
  size_t nft_worlds = 0, nft_folded = 0, folded_rules = 0;
  for (const Job& job : jobs) {
    if (job.backend != "nftables" || !job.ran || job.check != Check::Normal)
      continue;
    ++nft_worlds;
    size_t here = 0;
    for (const OutputFile& f : job.config.files) {
      std::istringstream in(f.content);
      for (std::string l; std::getline(in, l);)
        here += l.rfind("\t\t", 0) == 0 && l.size() > 2 && l[2] != '\t' &&
                l.find(" . ") != std::string::npos && l.find(" @") != std::string::npos;
    }
    nft_folded += here > 0;
    folded_rules += here;
  }
  std::cout << "kernel: folded: " << nft_folded << " of " << nft_worlds
            << " nftables worlds probed hold concatenated-set rules (" << folded_rules
            << " such rules)\n";
  if (not_run)
    std::cout << "kernel: FAILED: " << not_run << " worlds not probed ("
              << (g_signalled   ? "interrupted"
                  : out_of_time ? "time budget exceeded"
                                : "?")
              << ")\n";
  if (failures)
    std::cout << "kernel: FAILED: " << failures << " worlds could not be built or loaded\n";
  if (self_worlds)
    std::cout << "kernel: self-check: " << self_worlds << " broken configs (allow-all, deny-all), "
              << self_probes << " probes (" << self_fixed
              << " not decided by the rules: conntrack-invalid or ND plumbing); "
              << self_worlds - self_bad << " caught by exactly the probes they break\n";
  if (self_bad)
    std::cout << "kernel: FAILED: " << self_bad << " self-checks did not catch a broken config\n";
  if (retry_worlds)
    std::cout << "kernel: retry check: " << retry_worlds << " worlds, " << retry_probes
              << " allowed probes sent twice (a command held before its exec meanwhile); "
              << retry_worlds - retry_bad << " agree with the engine both times\n";
  if (retry_bad)
    std::cout << "kernel: FAILED: " << retry_bad << " retry checks: a second round differed\n";
  bool retry_missing = opt.self_check && retry_worlds == 0;
  if (retry_missing)
    std::cout << "kernel: FAILED: the retry check did not run\n";
  bool self_missing = opt.self_check && self_worlds == 0;
  if (self_missing)
    std::cout << "kernel: FAILED: the self-check did not run\n";
  std::cout << "kernel: probe classes (probes/mismatches):";
  for (const auto& [cls, c] : classes)
    std::cout << " " << cls << " " << c.probes << "/" << c.mismatches << ";";
  std::cout << "\n";
  auto list = [](const std::set<int>& v) {
    std::string out;
    int run_lo = -2, prev = -2;
    auto flush = [&] {
      if (run_lo < 0)
        return;
      out += (out.empty() ? "" : ",") + std::to_string(run_lo) +
             (prev > run_lo ? "-" + std::to_string(prev) : "");
    };
    for (int x : v) {
      if (x != prev + 1) {
        flush();
        run_lo = x;
      }
      prev = x;
    }
    flush();
    return out;
  };
  std::cout << "kernel: coverage: icmp types " << icmp_types[0].size() << "/256 ["
            << list(icmp_types[0]) << "], icmpv6 types " << icmp_types[1].size() << "/256 ["
            << list(icmp_types[1]) << "], raw ip protocols " << raw_protos.size() << " ["
            << list(raw_protos) << "]\n";
  size_t known_total = 0;
  for (const auto& [what, k] : known_seen) {
    known_total += k.first;
    std::cout << "kernel: not a mismatch: " << k.first << " " << what << "\n";
    for (const std::string& w : k.second)
      std::cout << "  e.g. " << w;
  }
  std::cout << "kernel: " << policies << " policies, " << probes << " probes, " << mismatches
            << " mismatches"
            << " (" << known_total << " counted apart above: refusals, stricter drops)"
            << "\n";
  bool ok = mismatches == 0 && failures == 0 && self_bad == 0 && !self_missing && retry_bad == 0 &&
            !retry_missing && not_run == 0 && policies > 0;
  return ok ? 0 : 1;
}
