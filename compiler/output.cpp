#include "output.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace portolan {

namespace fs = std::filesystem;

namespace {

std::string sys_error(const std::string& what, const fs::path& p) {
  return what + " " + p.string() + ": " + std::strerror(errno);
}

bool write_file(const fs::path& p, const std::string& content, std::string& err) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    err = sys_error("cannot write", p);
    return false;
  }
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      err = sys_error("cannot write", p);
      ::close(fd);
      return false;
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    err = sys_error("cannot write", p);
    ::close(fd);
    return false;
  }
  if (::close(fd) != 0) {
    err = sys_error("cannot write", p);
    return false;
  }
  return true;
}

void sync_dir(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

/// The bytes of a regular file (never through a symlink); nullopt otherwise.
std::optional<std::string> same_candidate(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(p, ec)))
    return std::nullopt;
  std::ifstream in(p, std::ios::binary);
  if (!in)
    return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::set<std::string> read_owned(const fs::path& out) {
  std::set<std::string> owned;
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(out / kOwnedList, ec)))
    return owned;
  std::ifstream in(out / kOwnedList);
  for (std::string line; std::getline(in, line);)
    if (!line.empty())
      owned.insert(line);
  return owned;
}

/// Swaps `staging` and `out` in one step; where the file system cannot exchange, moves the old
/// folder aside and the new one in (two renames: a crash between them leaves `out` missing,
/// which the next build repairs, never a mixed set).
bool swap_in(const fs::path& staging, const fs::path& out, const fs::path& old, bool exists,
             std::string& err) {
  if (!exists) {
    if (::rename(staging.c_str(), out.c_str()) != 0) {
      err = sys_error("cannot create", out);
      return false;
    }
    return true;
  }
  if (::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, out.c_str(), RENAME_EXCHANGE) == 0) {
    std::error_code ec;
    fs::rename(staging, old, ec); // staging now holds the old set
    return true;
  }
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) {
    err = sys_error("cannot replace", out);
    return false;
  }
  if (::rename(out.c_str(), old.c_str()) != 0) {
    err = sys_error("cannot replace", out);
    return false;
  }
  if (::rename(staging.c_str(), out.c_str()) != 0) {
    err = sys_error("cannot replace", out);
    ::rename(old.c_str(), out.c_str());
    return false;
  }
  return true;
}

} // namespace

bool write_output_set(const fs::path& out_dir, const std::vector<BuildFile>& files,
                      std::string& err) {
  std::error_code ec;
  fs::path out = fs::absolute(out_dir, ec).lexically_normal();
  if (!out.has_filename())
    out = out.parent_path();
  std::error_code lec;
  if (!ec && fs::is_symlink(out, lec)) // swap the folder the link names, keep the link
    out = fs::canonical(out, ec).lexically_normal();
  if (ec || out == out.root_path() || !out.has_filename()) {
    err = "cannot use " + out_dir.string() + " as the output folder";
    return false;
  }
  const fs::path parent = out.parent_path();
  const std::string base = "." + out.filename().string();
  fs::create_directories(parent, ec);
  if (ec) {
    err = "cannot create folder " + parent.string() + ": " + ec.message();
    return false;
  }

  // One build at a time per output folder; the lock file stays (removing it would race).
  fs::path lock_path = parent / (base + ".portolan-lock");
  int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0) {
    err = sys_error("cannot lock", lock_path);
    return false;
  }
  while (::flock(lock, LOCK_EX) != 0)
    if (errno != EINTR) {
      err = sys_error("cannot lock", lock_path);
      ::close(lock);
      return false;
    }
  struct Unlock {
    int fd;
    ~Unlock() { ::close(fd); }
  } unlock{lock};

  // What a killed build left: its staging folder or the old set it swapped out.
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    std::string n = e.path().filename().string();
    if (n.rfind(base + ".staging-", 0) == 0 || n.rfind(base + ".old-", 0) == 0)
      fs::remove_all(e.path(), ec);
  }
  bool exists = fs::exists(fs::symlink_status(out, ec));
  if (exists && !fs::is_directory(fs::symlink_status(out, ec))) {
    err = "output folder " + out.string() + " exists and is not a folder";
    return false;
  }
  const std::string tag = std::to_string(::getpid());
  const fs::path staging = parent / (base + ".staging-" + tag);
  const fs::path old = parent / (base + ".old-" + tag);
  auto fail = [&](std::string why) {
    err = std::move(why);
    std::error_code e2;
    fs::remove_all(staging, e2);
    return false;
  };
  if (!fs::create_directory(staging, ec))
    return fail("cannot create " + staging.string() + ": " + ec.message());

  // Carry over what Portolan did not write, by hard link (same inode, same mtime): folders,
  // symlinks as links (never followed), regular files. Outputs of earlier builds are dropped.
  std::set<std::string> owned = read_owned(out);
  if (exists) {
    for (auto it = fs::recursive_directory_iterator(out, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      const fs::path& p = it->path();
      std::string rel = p.lexically_relative(out).generic_string();
      fs::file_status st = it->symlink_status(ec);
      fs::path dst = staging / rel;
      if (fs::is_symlink(st)) {
        fs::copy_symlink(p, dst, ec);
      } else if (fs::is_directory(st)) {
        fs::create_directory(dst, ec);
      } else if (fs::is_regular_file(st)) {
        if (owned.count(rel) || rel == kOwnedList)
          continue;
        fs::create_hard_link(p, dst, ec);
      } else {
        return fail("cannot keep " + p.string() +
                    " in the output folder: it is not a file, folder or symlink");
      }
      if (ec)
        return fail("cannot carry " + p.string() + " over: " + ec.message());
    }
    if (ec)
      return fail("cannot read " + out.string() + ": " + ec.message());
  }

  std::vector<std::string> names;
  for (const BuildFile& f : files) {
    fs::path dst = staging / f.rel;
    // Every folder on the way must be a real folder: a symlink there (or a file) is refused,
    // so nothing is ever written outside the output folder.
    fs::path at = staging;
    for (const auto& part : fs::path(f.rel).parent_path()) {
      at /= part;
      fs::file_status st = fs::symlink_status(at, ec);
      if (!fs::exists(st))
        fs::create_directory(at, ec);
      else if (!fs::is_directory(st))
        return fail("cannot write " + (out / f.rel).string() + ": " +
                    (out / at.lexically_relative(staging)).string() + " is not a folder" +
                    (fs::is_symlink(st) ? " (a symlink, which is never followed)" : ""));
      if (ec)
        return fail("cannot create " + (out / at.lexically_relative(staging)).string() + ": " +
                    ec.message());
    }
    fs::file_status st = fs::symlink_status(dst, ec);
    if (fs::is_directory(st))
      return fail("cannot write " + (out / f.rel).string() + ": a folder of that name exists");
    if (fs::exists(st))
      fs::remove(dst, ec); // a carried file or link of that name: the output replaces it
    // Unchanged: keep the old file itself, so build tools see nothing new.
    if (exists) {
      if (auto prev = same_candidate(out / f.rel); prev && *prev == f.content) {
        fs::create_hard_link(out / f.rel, dst, ec);
        if (!ec) {
          names.push_back(f.rel);
          continue;
        }
      }
    }
    if (!write_file(dst, f.content, err))
      return fail(err);
    names.push_back(f.rel);
  }
  std::sort(names.begin(), names.end());
  std::string list;
  for (const auto& n : names)
    list += n + "\n";
  fs::path list_path = staging / kOwnedList;
  if (exists)
    if (auto prev = same_candidate(out / kOwnedList); prev && *prev == list) {
      fs::create_hard_link(out / kOwnedList, list_path, ec);
      if (ec)
        return fail("cannot write " + list_path.string() + ": " + ec.message());
    }
  if (!fs::exists(list_path, ec) && !write_file(list_path, list, err))
    return fail(err);
  for (const auto& e : fs::recursive_directory_iterator(staging, ec))
    if (e.is_directory() && !e.is_symlink())
      sync_dir(e.path());
  sync_dir(staging);

  if (!swap_in(staging, out, old, exists, err))
    return fail(err);
  sync_dir(parent);
  fs::remove_all(old, ec);
  return true;
}

} // namespace portolan
