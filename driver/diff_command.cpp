#include "diff_command.h"

#include "diff.h"
#include "session.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

extern char** environ;

namespace portolan {

namespace fs = std::filesystem;

namespace {

constexpr int kExitClean = 0, kExitChanged = 1, kExitError = 2;

struct Proc {
  int status = -1; ///< exit status, -1 when it could not run or was killed
  std::string out, err;
};

/// Runs argv (no shell), with `env_add` ("NAME=value") over the environment, capturing stdout
/// and stderr.
Proc run_process(const std::vector<std::string>& argv, const std::vector<std::string>& env_add) {
  Proc r;
  std::vector<std::string> env_s;
  for (char** e = environ; *e; ++e) {
    std::string v = *e;
    bool replaced = false;
    for (const std::string& a : env_add)
      replaced = replaced || v.compare(0, a.find('=') + 1, a, 0, a.find('=') + 1) == 0;
    if (!replaced)
      env_s.push_back(v);
  }
  env_s.insert(env_s.end(), env_add.begin(), env_add.end());
  std::vector<char*> args, envp;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const std::string& e : env_s)
    envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  int po[2], pe[2];
  if (::pipe2(po, O_CLOEXEC) != 0)
    return r;
  if (::pipe2(pe, O_CLOEXEC) != 0) {
    ::close(po[0]);
    ::close(po[1]);
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, po[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(po[1]);
  ::close(pe[1]);
  if (rc != 0) {
    ::close(po[0]);
    ::close(pe[0]);
    r.err = std::string("cannot run ") + argv[0] + ": " + std::strerror(rc);
    return r;
  }
  pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
  std::string* into[2] = {&r.out, &r.err};
  int open_fds = 2;
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      char buf[4096];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        into[i]->append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR)
        continue;
      ::close(fds[i].fd);
      fds[i].fd = -1;
      --open_fds;
    }
  }
  for (pollfd& f : fds)
    if (f.fd >= 0)
      ::close(f.fd);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
    s.pop_back();
  return s;
}

/// A private temporary folder, removed with everything in it.
struct TempDir {
  fs::path path;
  TempDir() = default;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    if (!path.empty()) {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  }
  bool make() {
    const char* t = std::getenv("TMPDIR");
    std::string tmpl = (fs::path(t && *t ? t : "/tmp") / "portolan-diff-XXXXXX").string();
    if (!::mkdtemp(tmpl.data()))
      return false;
    path = tmpl;
    return true;
  }
};

/// The current directory, restored when this goes out of scope.
struct CwdGuard {
  fs::path saved = fs::current_path();
  ~CwdGuard() {
    std::error_code ec;
    fs::current_path(saved, ec);
  }
};

/// One side's tree: a folder, or a git revision read into a temporary folder.
struct Tree {
  std::string label, commit; ///< as given; the full hash for a revision
  std::string what;          ///< "OLD" or "NEW"
  fs::path root;             ///< absolute
  TempDir tmp;
};

/// The top of the git work tree holding the current folder; "" when there is none.
std::string repo_top() {
  Proc p = run_process({"git", "rev-parse", "--show-toplevel"}, {});
  return p.status == 0 ? trim(p.out) : "";
}

bool read_tree(Tree& t, const std::string& arg, const std::string& top, std::ostream& err) {
  t.label = arg;
  std::error_code ec;
  if (fs::is_directory(arg, ec)) {
    t.root = fs::absolute(arg).lexically_normal();
    return true;
  }
  if (top.empty()) {
    err << "portolan: " << t.what << " '" << arg
        << "' is neither a folder nor a git revision (not inside a git repository)\n";
    return false;
  }
  if (arg.empty() || arg[0] == '-') {
    err << "portolan: " << t.what << " '" << arg << "' is not a git revision\n";
    return false;
  }
  Proc p = run_process(
      {"git", "-C", top, "rev-parse", "--verify", "--quiet", "--end-of-options", arg + "^{commit}"},
      {});
  if (p.status != 0) {
    err << "portolan: " << t.what << " '" << arg << "' is neither a folder nor a git revision of "
        << top << "\n";
    return false;
  }
  t.commit = trim(p.out);
  if (!t.tmp.make()) {
    err << "portolan: cannot make a temporary folder: " << std::strerror(errno) << "\n";
    return false;
  }
  // A private index in the temporary folder: the repository's own index and work tree are
  // never touched.
  std::string index = "GIT_INDEX_FILE=" + (t.tmp.path / "index").string();
  t.root = t.tmp.path / "tree";
  for (const auto& argv :
       std::vector<std::vector<std::string>>{{"git", "-C", top, "read-tree", t.commit},
                                             {"git", "-C", top, "checkout-index", "--all",
                                              "--force", "--prefix=" + t.root.string() + "/"}}) {
    Proc q = run_process(argv, {index});
    if (q.status != 0) {
      err << "portolan: cannot read revision '" << arg << "' (" << t.commit << "): " << trim(q.err)
          << "\n";
      return false;
    }
  }
  fs::create_directories(t.root, ec);
  return true;
}

std::string side_name(const Tree& t) {
  return t.what + " (" + t.label + (t.commit.empty() ? "" : " " + t.commit.substr(0, 12)) + ")";
}

/// Opens a side's manifest and policy with paths relative to its root (so every location reads
/// the same on both sides, and as the repository names it).
std::unique_ptr<Session> open_side(const Tree& t, const DiffOptions& o, std::ostream& err) {
  std::error_code ec;
  if (!fs::is_regular_file(t.root / o.manifest, ec)) {
    err << "portolan: " << side_name(t) << " has no manifest '" << o.manifest << "'"
        << (t.commit.empty() ? " in folder " + t.root.string() : "") << "\n";
    return nullptr;
  }
  auto s = std::make_unique<Session>();
  s->today = o.today;
  {
    CwdGuard guard;
    fs::current_path(t.root, ec);
    if (ec) {
      err << "portolan: cannot enter " << t.root.string() << ": " << ec.message() << "\n";
      return nullptr;
    }
    s->open(fs::path(o.manifest));
  }
  if (s->unreadable || !s->manifest || !s->clean()) {
    s->diags.normalize();
    err << "portolan: " << side_name(t) << " does not load; paths are inside that side:\n";
    s->diags.render_text(err, s->sm);
    return nullptr;
  }
  // A revision is what git holds: an import that climbs out of its tree would read whatever
  // lies beside the temporary folder, so it is refused.
  for (uint32_t id = 1; !t.commit.empty() && id <= s->sm.size(); ++id) {
    fs::path p = fs::path(s->sm.file(id).path).lexically_normal();
    if (p.is_absolute() || (!p.empty() && *p.begin() == "..")) {
      err << "portolan: " << side_name(t) << " reads '" << s->sm.file(id).path
          << "', outside the revision's tree: imports must stay inside the repository\n";
      return nullptr;
    }
  }
  return s;
}

} // namespace

int run_diff(const DiffOptions& o, std::ostream& out, std::ostream& err) {
  static const std::set<std::string> formats{"text", "json", "sarif", "markdown"},
      fail_ons{"opened", "closed", "any", "never"};
  if (!formats.count(o.format)) {
    err << "portolan: --format is text, json, sarif or markdown, not '" << o.format << "'\n";
    return kExitError;
  }
  if (!fail_ons.count(o.fail_on)) {
    err << "portolan: --fail-on is opened, closed, any or never, not '" << o.fail_on << "'\n";
    return kExitError;
  }
  fs::path m(o.manifest);
  if (o.manifest.empty() || m.is_absolute() || *m.lexically_normal().begin() == "..") {
    err << "portolan: --manifest is a path inside the repository or folder, not '" << o.manifest
        << "'\n";
    return kExitError;
  }
  std::string top = repo_top();
  Tree old_tree, new_tree;
  old_tree.what = "OLD";
  new_tree.what = "NEW";
  if (!read_tree(old_tree, o.old_side, top, err))
    return kExitError;
  if (o.new_side.empty()) {
    new_tree.label = "work tree";
    new_tree.root = top.empty() ? fs::current_path() : fs::path(top);
  } else if (!read_tree(new_tree, o.new_side, top, err)) {
    return kExitError;
  }
  auto a = open_side(old_tree, o, err);
  auto b = a ? open_side(new_tree, o, err) : nullptr;
  if (!a || !b)
    return kExitError;

  // Filters: a target is compared when on either side its name is wanted and its environment is.
  auto wanted = [&](const Target& t) {
    return (o.targets.empty() ||
            std::find(o.targets.begin(), o.targets.end(), t.name) != o.targets.end()) &&
           (o.envs.empty() || std::find(o.envs.begin(), o.envs.end(), t.env) != o.envs.end());
  };
  std::set<std::string> names, all_names, all_envs;
  for (const Session* s : {a.get(), b.get()}) {
    for (const Target& t : s->manifest->targets) {
      all_names.insert(t.name);
      if (wanted(t))
        names.insert(t.name);
    }
    for (const auto& [e, env] : s->manifest->environments)
      all_envs.insert(e);
  }
  for (const std::string& t : o.targets)
    if (!all_names.count(t)) {
      err << "portolan: neither side has a target '" << t << "'\n";
      return kExitError;
    }
  for (const std::string& e : o.envs)
    if (!all_envs.count(e)) {
      err << "portolan: neither side has an environment '" << e << "'\n";
      return kExitError;
    }
  auto side = [&](Session& s) {
    DiffSide d{&s.loaded.policy, &*s.manifest, &s.sm, {}, {}};
    Diagnostics quiet; // diff judges nothing: lowering's findings are check's to report
    for (const Target* t : s.targets())
      if (names.count(t->name)) {
        CompiledTarget c = s.compile_target(*t, Want{false, true}, quiet);
        d.views.push_back(std::move(c.view));
        d.allowed.push_back(std::move(c.expected));
      }
    return d;
  };
  DiffSide sa = side(*a), sb = side(*b);
  DiffResult r = compute_diff(sa, sb);
  DiffLabels labels{old_tree.label, new_tree.label, old_tree.commit, new_tree.commit, o.manifest};
  if (o.format == "json")
    out << render_diff_json(r, labels);
  else if (o.format == "sarif")
    out << render_diff_sarif(r, labels);
  else if (o.format == "markdown")
    out << render_diff_markdown(r, labels);
  else
    render_diff_text(out, r, labels);
  return diff_fails(r, o.fail_on) ? kExitChanged : kExitClean;
}

} // namespace portolan
