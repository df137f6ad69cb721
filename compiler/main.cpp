// The `portolan` command line: check and build. Exit codes: 0 clean, 1 errors in the policy or
// manifest, 2 bad usage or unreadable input.
#include "backend.h"
#include "checks/check.h"
#include "common/lower.h"
#include "fmt.h"
#include "load.h"
#include "manifest.h"
#include "report.h"
#include "semantics.h"
#include "version.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace portolan;

namespace {

/// `--timings`: wall time per stage on stderr, to see where a large policy spends its time.
struct Timings {
  bool on = false;
  std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
  void mark(const char* stage) {
    auto now = std::chrono::steady_clock::now();
    if (on)
      std::cerr << "timing: " << stage << " "
                << std::chrono::duration<double, std::milli>(now - last).count() << " ms\n";
    last = now;
  }
};
Timings g_timings;

constexpr int kExitClean = 0, kExitFindings = 1, kExitUsage = 2;

const char* kMainHelp = R"(usage: portolan <command> [options]

Portolan compiles firewall policies to vendor configurations.

commands:
  check   parse and analyse a policy (and a manifest): errors, conflicts, gaps
  build   write the configuration of every target in a manifest
  query   which flow decides a packet, in each target that sees it
  fmt     rewrite policy files in the canonical layout (--check for CI)

Run 'portolan <command> --help' for a command's options.
  --version   print the version
)";

const char* kCheckHelp =
    R"(usage: portolan check [--manifest FILE] [--env NAME] [--today DATE] [FILE.policy...]

Parses the policy files (and those the manifest lists), resolves every name, and with a
manifest binds each environment's addresses and lowers every target without writing it.

  --manifest FILE   portolan.toml: policies, environments, targets
  --env NAME        only the targets of this environment
  --today DATE      judge expiry as of DATE (YYYY-MM-DD) instead of the environment's 'today'

exit codes: 0 clean (warnings allowed), 1 errors, 2 bad usage or unreadable input
)";

const char* kQueryHelp =
    R"(usage: portolan query --manifest FILE --env NAME --from ADDR --to ADDR [--sport N] PACKET

Which flow decides a packet, in each target of the environment that sees it. PACKET is
tcp/PORT, udp/PORT, icmp/TYPE[/CODE], icmpv6/TYPE[/CODE] or proto/NUMBER. A host target sees
packets to (input) or from (output) its role's addresses; a perimeter target sees packets
between addresses bound in its two zones. The verdict comes from the same packet sets the
checks use: the first deciding flow (denies come first), or the default deny.

  --manifest FILE   portolan.toml
  --env NAME        the environment (optional when there is one)
  --from ADDR       source address
  --to ADDR         destination address
  --sport N         source port (default 49152)
  --today DATE      judge expiry as of DATE (YYYY-MM-DD) or 'now'
)";

const char* kBuildHelp =
    R"(usage: portolan build --manifest FILE [--target NAME] [--out DIR] [--today DATE]

Writes each target's configuration to DIR/<output> (DIR defaults to the manifest's folder).
Files are written atomically, and only when every selected target lowered without error: a
failed build leaves the previous configs untouched.

  --manifest FILE   portolan.toml
  --target NAME     build only this target (repeatable)
  --out DIR         output folder
  --today DATE      judge expiry as of DATE (YYYY-MM-DD)

exit codes: 0 built, 1 errors (nothing written), 2 bad usage or unreadable input
)";

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> opts;
  bool help = false;
};

std::optional<Args> parse_args(int argc, char** argv, int start,
                               const std::vector<std::string>& valued) {
  Args a;
  for (int i = start; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "--help" || s == "-h") {
      a.help = true;
    } else if (s.rfind("--", 0) == 0) {
      std::string key = s, value;
      bool inline_value = false;
      if (auto eq = s.find('='); eq != std::string::npos) {
        key = s.substr(0, eq);
        value = s.substr(eq + 1);
        inline_value = true;
      }
      if (std::find(valued.begin(), valued.end(), key) == valued.end()) {
        std::cerr << "portolan: unknown option '" << key << "'\n";
        return std::nullopt;
      }
      if (!inline_value) {
        if (i + 1 >= argc) {
          std::cerr << "portolan: option '" << key << "' needs a value\n";
          return std::nullopt;
        }
        value = argv[++i];
      }
      a.opts[key].push_back(value);
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

std::optional<std::string> single(const Args& a, const std::string& key) {
  auto it = a.opts.find(key);
  if (it == a.opts.end())
    return std::nullopt;
  return it->second.back();
}

/// Writes `content` to `path` via a temporary file in the same folder and rename(2), so readers
/// see the old file or the new one, never a half-written one.
bool write_atomically(const fs::path& path, const std::string& content, std::string& err) {
  std::error_code ec;
  fs::create_directories(path.parent_path().empty() ? fs::path(".") : path.parent_path(), ec);
  if (ec) {
    err = "cannot create folder " + path.parent_path().string() + ": " + ec.message();
    return false;
  }
  fs::path tmp = path;
  tmp += ".tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    err = "cannot write " + tmp.string() + ": " + std::strerror(errno);
    return false;
  }
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      err = "cannot write " + tmp.string() + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    err = "cannot write " + tmp.string() + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    err = "cannot replace " + path.string() + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

struct Session {
  SourceManager sm;
  Diagnostics diags;
  std::optional<Manifest> manifest;
  LoadResult loaded;
  std::optional<Date> today;
  bool unreadable = false;
  bool analysis_ran = false;
  bool judges_suppressions = true; ///< false for query, which judges nothing
};

int finish(Session& s, int code_if_clean, const std::string& format = "text") {
  if (s.loaded.ok)
    apply_suppressions(
        s.loaded.policy, s.diags,
        s.judges_suppressions
            ? judged_codes(s.manifest.has_value(), s.analysis_ran,
                           s.manifest ? s.manifest->checks : std::map<std::string, std::string>{})
            : std::set<std::string>{});
  if (s.manifest)
    s.diags.apply_severities(s.manifest->checks);
  s.diags.normalize();
  if (format == "json")
    std::cout << render_json(s.diags, s.sm);
  else if (format == "sarif")
    std::cout << render_sarif(s.diags, s.sm);
  else
    s.diags.render_text(std::cerr, s.sm);
  if (s.unreadable)
    return kExitUsage;
  if (s.diags.has_errors())
    return kExitFindings;
  return code_if_clean;
}

/// --today DATE, or 'now' for the wall clock (UTC); nullopt when the value is neither.
std::optional<Date> parse_today(const std::string& t) {
  if (t != "now")
    return Date::parse(t);
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  return Date{tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
}

/// Loads manifest (optional) and policies. Returns false on a usage problem already reported.
bool load(Session& s, const Args& a) {
  if (auto t = single(a, "--today")) {
    s.today = parse_today(*t);
    if (!s.today) {
      std::cerr << "portolan: --today needs a date YYYY-MM-DD or 'now', not '" << *t << "'\n";
      return false;
    }
  }
  std::vector<fs::path> files;
  std::vector<SourceLoc> locs;
  if (auto m = single(a, "--manifest")) {
    s.manifest = read_manifest(*m, s.sm, s.diags);
    if (!s.manifest) {
      s.unreadable = true;
      return true;
    }
    if (s.diags.has_errors())
      return true; // manifest structure errors: do not guess further
    for (size_t i = 0; i < s.manifest->policies.size(); ++i) {
      files.push_back((s.manifest->dir / s.manifest->policies[i]).lexically_normal());
      locs.push_back(s.manifest->policy_locs[i]);
    }
  }
  for (const auto& p : a.positional) {
    files.push_back(p);
    locs.push_back(SourceLoc{});
  }
  if (files.empty()) {
    std::cerr << "portolan: no policy files: name some, or a --manifest that lists them\n";
    return false;
  }
  s.loaded = load_policy(files, s.sm, s.diags, locs);
  s.unreadable = s.unreadable || s.loaded.unreadable;
  if (s.loaded.ok && s.manifest)
    validate_manifest(*s.manifest, s.loaded.policy, backend_names(), s.diags);
  return true;
}

/// Lowers and emits the selected targets; fills `out` with path -> content.
void compile_targets(Session& s, const std::vector<const Target*>& targets,
                     std::vector<std::pair<fs::path, std::string>>* out, const fs::path& out_dir) {
  LowerContext ctx{s.loaded.policy, *s.manifest, s.sm, s.today};
  for (const Target* t : targets) {
    auto backend = make_backend(t->backend);
    if (!backend)
      continue;
    auto scopes = backend->scopes();
    if (std::find(scopes.begin(), scopes.end(), t->scope) == scopes.end()) {
      s.diags.error("unsupported-scope", t->scope_loc,
                    "backend '" + t->backend + "' cannot enforce " +
                        (t->scope == Scope::Host ? "a host target ('host = ...')"
                                                 : "a perimeter target ('between = [...]')") +
                        "; it enforces only " +
                        (t->scope == Scope::Host ? "perimeter targets" : "host targets"));
      continue;
    }
    RuleSet rs = lower_target(ctx, *t, backend->options(), s.diags);
    auto files = backend->emit(rs, s.diags);
    if (out)
      for (auto& f : files)
        out->emplace_back(out_dir / (t->output + f.suffix), std::move(f.content));
  }
}

int list_checks() {
  std::cout << "pipeline:\n";
  for (const auto& c : all_checks()) {
    std::cout << "  " << c->name() << ":";
    for (const auto& code : c->codes())
      std::cout << " " << code;
    std::cout << "\ncodes:\n";
  }
  for (const CheckInfo& c : check_catalog())
    std::cout << "  " << c.code << " (" << severity_name(c.severity) << ", " << c.stage
              << "): " << c.title << "\n";
  return kExitClean;
}

int cmd_check(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  for (int i = 2; i < argc; ++i)
    if (std::string(argv[i]) == "--list-checks")
      return list_checks();
  std::erase_if(args, [](char* x) {
    bool t = std::string(x) == "--timings";
    g_timings.on = g_timings.on || t;
    return t;
  });
  argc = static_cast<int>(args.size());
  argv = args.data();
  auto a = parse_args(argc, argv, 2, {"--manifest", "--env", "--today", "--format"});
  if (!a)
    return kExitUsage;
  if (a->help) {
    std::cout << kCheckHelp;
    return kExitClean;
  }
  std::string format = single(*a, "--format").value_or("text");
  if (format != "text" && format != "json" && format != "sarif") {
    std::cerr << "portolan: --format is text, json or sarif, not '" << format << "'\n";
    return kExitUsage;
  }
  Session s;
  g_timings.mark("start");
  if (!load(s, *a))
    return kExitUsage;
  g_timings.mark("parse+resolve+manifest");
  if (s.manifest && s.loaded.ok && !s.diags.has_errors()) {
    auto env = single(*a, "--env");
    if (env && !s.manifest->environments.count(*env)) {
      std::cerr << "portolan: the manifest has no environment '" << *env << "'\n";
      return kExitUsage;
    }
    std::vector<const Target*> targets;
    for (const Target& t : s.manifest->targets)
      if (!env || t.env == *env)
        targets.push_back(&t);
    compile_targets(s, targets, nullptr, {});
    g_timings.mark("lower+emit (all targets)");
  }
  if (s.loaded.ok && !s.diags.has_errors()) { // analysis of a broken input is only noise
    AnalysisContext ctx{
        s.loaded.policy, s.manifest ? &*s.manifest : nullptr, s.sm, s.today, {}, s.diags,
        g_timings.on};
    if (s.manifest) {
      ctx.targets = build_views(s.loaded.policy, *s.manifest, s.sm, s.today);
      g_timings.mark("target views (packet sets)");
      if (auto env = single(*a, "--env"))
        std::erase_if(ctx.targets, [&](const TargetView& v) { return v.target->env != *env; });
    }
    run_checks(ctx, s.manifest ? s.manifest->checks : std::map<std::string, std::string>{});
    g_timings.mark("checks");
    s.analysis_ran = true;
  }
  int code = finish(s, kExitClean, format);
  g_timings.mark("report");
  return code;
}

int cmd_build(int argc, char** argv) {
  auto a = parse_args(argc, argv, 2, {"--manifest", "--target", "--out", "--today"});
  if (!a)
    return kExitUsage;
  if (a->help) {
    std::cout << kBuildHelp;
    return kExitClean;
  }
  if (!single(*a, "--manifest")) {
    std::cerr << "portolan: build needs --manifest FILE\n";
    return kExitUsage;
  }
  if (!a->positional.empty()) {
    std::cerr << "portolan: build takes its policy files from the manifest, not the command line\n";
    return kExitUsage;
  }
  Session s;
  if (!load(s, *a))
    return kExitUsage;
  if (!s.manifest || !s.loaded.ok || s.diags.has_errors())
    return finish(s, kExitClean);
  std::vector<const Target*> targets;
  auto wanted = a->opts["--target"];
  for (const auto& w : wanted) {
    bool found = false;
    for (const Target& t : s.manifest->targets)
      found = found || t.name == w;
    if (!found) {
      std::cerr << "portolan: the manifest has no target '" << w << "'\n";
      return kExitUsage;
    }
  }
  for (const Target& t : s.manifest->targets)
    if (wanted.empty() || std::find(wanted.begin(), wanted.end(), t.name) != wanted.end())
      targets.push_back(&t);
  fs::path out_dir = single(*a, "--out") ? fs::path(*single(*a, "--out")) : s.manifest->dir;
  std::vector<std::pair<fs::path, std::string>> files;
  compile_targets(s, targets, &files, out_dir);
  int code = finish(s, kExitClean);
  if (code != kExitClean) {
    std::cerr << "portolan: build failed; no file was written\n";
    return code;
  }
  for (const auto& [path, content] : files) {
    std::string err;
    if (!write_atomically(path, content, err)) {
      std::cerr << "portolan: " << err << "\n";
      return kExitUsage;
    }
    std::cout << "wrote " << path.generic_string() << "\n";
  }
  return kExitClean;
}

/// Parses tcp/443, udp/53, icmp/8/0, icmpv6/128, proto/47 into protocol, dport and (ICMP) type.
std::optional<Packet> parse_packet_spec(const std::string& spec, Packet p) {
  auto slash = spec.find('/');
  if (slash == std::string::npos)
    return std::nullopt;
  std::string kind = spec.substr(0, slash), rest = spec.substr(slash + 1);
  auto num = [](const std::string& t, long max) -> std::optional<long> {
    if (t.empty() || t.find_first_not_of("0123456789") != std::string::npos || t.size() > 6)
      return std::nullopt;
    long v = std::stol(t);
    return v <= max ? std::optional<long>(v) : std::nullopt;
  };
  if (kind == "tcp" || kind == "udp") {
    auto port = num(rest, 65535);
    if (!port || *port == 0)
      return std::nullopt;
    p.proto = kind == "tcp" ? kProtoTcp : kProtoUdp;
    p.dport = static_cast<uint16_t>(*port);
    return p;
  }
  if (kind == "icmp" || kind == "icmpv6") {
    auto s2 = rest.find('/');
    auto type = num(rest.substr(0, s2), 255);
    auto code = s2 == std::string::npos ? std::optional<long>(0) : num(rest.substr(s2 + 1), 255);
    if (!type || !code)
      return std::nullopt;
    p.proto = kind == "icmp" ? kProtoIcmp : kProtoIcmpV6;
    p.sport = static_cast<uint16_t>(*type);
    p.dport = static_cast<uint16_t>(*code);
    return p;
  }
  if (kind == "proto") {
    auto n = num(rest, 255);
    if (!n)
      return std::nullopt;
    p.proto = static_cast<uint8_t>(*n);
    p.sport = p.dport = 0;
    return p;
  }
  return std::nullopt;
}

bool bound_contains(const std::optional<BoundAddrs>& b, const IpAddr& a) {
  if (!b)
    return false;
  if (b->any)
    return true;
  for (const Prefix& p : a.family == Family::V4 ? b->v4 : b->v6)
    if (p.contains(a))
      return true;
  return false;
}

int cmd_query(int argc, char** argv) {
  auto a =
      parse_args(argc, argv, 2, {"--manifest", "--env", "--from", "--to", "--sport", "--today"});
  if (!a)
    return kExitUsage;
  if (a->help) {
    std::cout << kQueryHelp;
    return kExitClean;
  }
  auto from = single(*a, "--from"), to = single(*a, "--to");
  if (!single(*a, "--manifest") || !from || !to || a->positional.size() != 1) {
    std::cerr << "portolan: query needs --manifest, --from, --to and one PACKET\n" << kQueryHelp;
    return kExitUsage;
  }
  Packet pkt;
  auto src = parse_ip(*from), dst = parse_ip(*to);
  if (!src || !dst || src->family != dst->family) {
    std::cerr << "portolan: --from and --to must be addresses of one family\n";
    return kExitUsage;
  }
  pkt.src = *src;
  pkt.dst = *dst;
  pkt.sport = 49152;
  if (auto sp = single(*a, "--sport")) {
    if (sp->empty() || sp->find_first_not_of("0123456789") != std::string::npos ||
        std::stol(*sp) > 65535) {
      std::cerr << "portolan: --sport needs a port number\n";
      return kExitUsage;
    }
    pkt.sport = static_cast<uint16_t>(std::stol(*sp));
  }
  auto parsed = parse_packet_spec(a->positional[0], pkt);
  if (!parsed) {
    std::cerr << "portolan: '" << a->positional[0]
              << "' is not a packet: write tcp/PORT, udp/PORT, icmp/TYPE[/CODE], "
                 "icmpv6/TYPE[/CODE] or proto/NUMBER\n";
    return kExitUsage;
  }
  pkt = *parsed;
  Args policy_args = *a;
  policy_args.positional.clear(); // the packet, not a policy file
  Session s;
  s.judges_suppressions = false;
  if (!load(s, policy_args))
    return kExitUsage;
  if (!s.manifest || !s.loaded.ok || s.diags.has_errors())
    return finish(s, kExitClean);
  std::string env = single(*a, "--env").value_or("");
  if (env.empty() && s.manifest->environments.size() == 1)
    env = s.manifest->environments.begin()->first;
  if (!s.manifest->environments.count(env)) {
    std::cerr << "portolan: the manifest has no environment '" << env << "' (use --env)\n";
    return kExitUsage;
  }
  const Environment& e = s.manifest->environments.at(env);
  const Policy& p = s.loaded.policy;
  std::cout << "packet: " << pkt.str() << "\n";
  int seen = 0;
  for (const TargetView& v : build_views(p, *s.manifest, s.sm, s.today)) {
    if (v.target->env != env)
      continue;
    std::vector<Chain> chains;
    if (v.target->scope == Scope::Host) {
      Endpoint host{v.target->host, "", {}, {}, {}};
      auto b = bind_endpoint(p, e, host);
      if (bound_contains(b, pkt.dst))
        chains.push_back(Chain::Input);
      if (bound_contains(b, pkt.src))
        chains.push_back(Chain::Output);
    } else {
      std::set<std::string> zs, zd;
      for (const Role& r : p.roles) {
        std::vector<Endpoint> eps{Endpoint{r.name, "", {}, {}, {}}};
        for (const Interface& i : r.interfaces)
          eps.push_back(Endpoint{r.name, i.name, {}, {}, {}});
        for (const Endpoint& ep : eps) {
          auto b = bind_endpoint(p, e, ep);
          if (bound_contains(b, pkt.src))
            zs.insert(p.zone_of(ep));
          if (bound_contains(b, pkt.dst))
            zd.insert(p.zone_of(ep));
        }
      }
      const auto& z = v.target->between;
      if ((zs.count(z[0]) && zd.count(z[1])) || (zs.count(z[1]) && zd.count(z[0])))
        chains.push_back(Chain::Forward);
    }
    for (Chain c : chains) {
      ++seen;
      std::cout << v.target->name << " (" << chain_name(c) << "): ";
      const FlowPackets* decider = nullptr;
      if (auto it = v.chains.find(c); it != v.chains.end())
        for (const FlowPackets& fp : it->second)
          if (fp.packets.contains(pkt)) {
            decider = &fp;
            break;
          }
      if (!decider) {
        std::cout << "deny (default deny: no flow matches)\n";
        continue;
      }
      const Flow& f = p.flows[decider->flow];
      std::cout << (decider->action == Action::Allow ? "allow" : "deny") << " by "
                << s.sm.where(f.loc) << " " << f.summary() << "\n";
    }
  }
  if (seen == 0)
    std::cout << "no target of environment '" << env << "' sees this packet\n";
  return finish(s, kExitClean);
}

} // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) {
      std::cerr << kMainHelp;
      return kExitUsage;
    }
    std::string cmd = argv[1];
    if (cmd == "--version" || cmd == "version") {
      std::cout << "portolan " << kPortolanVersion << "\n";
      return kExitClean;
    }
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      std::cout << kMainHelp;
      return kExitClean;
    }
    if (cmd == "check")
      return cmd_check(argc, argv);
    if (cmd == "build")
      return cmd_build(argc, argv);
    if (cmd == "query")
      return cmd_query(argc, argv);
    if (cmd == "fmt") {
      FmtOptions fo;
      for (int i = 2; i < argc; ++i) {
        std::string s = argv[i];
        if (s == "--help" || s == "-h") {
          std::cout << fmt_help();
          return kExitClean;
        }
        if (s == "--check" || s == "--stdout") {
          (s == "--check" ? fo.check : fo.to_stdout) = true;
        } else if (s.rfind("--", 0) == 0) {
          std::cerr << "portolan: unknown option '" << s << "'\n";
          return kExitUsage;
        } else {
          fo.files.push_back(s);
        }
      }
      return run_fmt(fo, std::cout, std::cerr);
    }
    std::cerr << "portolan: unknown command '" << cmd << "'\n" << kMainHelp;
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "portolan: internal error: " << e.what() << "\n";
    return kExitUsage;
  }
}
