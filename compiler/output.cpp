#include "output.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <string_view>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace portolan {

namespace fs = std::filesystem;

namespace {

std::string sys_error(const std::string& what, const fs::path& p) {
  return what + " " + p.string() + ": " + std::strerror(errno);
}

bool write_file(const fs::path& p, std::string_view content, std::string& err) {
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

/// Whether `p` is a regular file (never through a symlink) holding exactly `content`; read in
/// pieces, so the old file's text is never held whole beside the new one.
bool same_bytes(const fs::path& p, std::string_view content) {
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(p, ec)))
    return false;
  if (auto size = fs::file_size(p, ec); ec || size != content.size())
    return false;
  std::ifstream in(p, std::ios::binary);
  if (!in)
    return false;
  char buf[65536];
  size_t off = 0;
  while (off < content.size()) {
    size_t want = std::min(sizeof buf, content.size() - off);
    if (!in.read(buf, static_cast<std::streamsize>(want)) ||
        std::memcmp(buf, content.data() + off, want) != 0)
      return false;
    off += want;
  }
  return in.peek() == std::char_traits<char>::eof(); // and nothing after it
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

OutputSetWriter::OutputSetWriter(fs::path out_dir) : out_dir_(std::move(out_dir)) {}

OutputSetWriter::~OutputSetWriter() {
  abort();
}

void OutputSetWriter::unlock() {
  if (lock_ >= 0)
    ::close(lock_);
  lock_ = -1;
}

bool OutputSetWriter::fail(std::string why) {
  err_ = std::move(why);
  failed_ = true;
  std::error_code e2;
  if (!staging_.empty())
    fs::remove_all(staging_, e2);
  undo();
  return false;
}

void OutputSetWriter::undo() {
  if (lock_ >= 0 && lock_made_)
    ::unlink(lock_path_.c_str());
  unlock();
  for (const fs::path& p : made_) // the deepest first; only while empty
    if (::rmdir(p.c_str()) != 0)
      break;
  made_.clear();
}

void OutputSetWriter::abort() {
  if (done_)
    return;
  done_ = true;
  std::error_code ec;
  if (started_ && !failed_ && !staging_.empty())
    fs::remove_all(staging_, ec);
  if (!failed_)
    undo();
}

bool OutputSetWriter::begin() {
  started_ = true;
  std::error_code ec;
  fs::path out = fs::absolute(out_dir_, ec).lexically_normal();
  if (!out.has_filename())
    out = out.parent_path();
  std::error_code lec;
  if (!ec && fs::is_symlink(out, lec)) // swap the folder the link names, keep the link
    out = fs::canonical(out, ec).lexically_normal();
  if (ec || out == out.root_path() || !out.has_filename())
    return fail("cannot use " + out_dir_.string() + " as the output folder");
  out_ = out;
  parent_ = out.parent_path();
  const std::string base = "." + out.filename().string();
  // The folders on the way that do not exist yet: a failed build removes them again.
  for (fs::path p = parent_; !fs::exists(fs::symlink_status(p, ec)); p = p.parent_path()) {
    made_.push_back(p);
    if (p == p.parent_path())
      break;
  }
  fs::create_directories(parent_, ec);
  if (ec)
    return fail("cannot create folder " + parent_.string() + ": " + ec.message());

  // One build at a time per output folder, from its first file to the swap. The lock file
  // stays, except that a failed build that made it removes it while it holds it: so whoever
  // gets the lock checks it still holds the file of that name, and else locks the new one.
  lock_path_ = parent_ / (base + ".portolan-lock");
  for (;;) {
    lock_made_ = false;
    lock_ = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (lock_ >= 0)
      lock_made_ = true;
    else if (errno == EEXIST)
      lock_ = ::open(lock_path_.c_str(), O_RDWR | O_CLOEXEC);
    if (lock_ < 0 && errno == ENOENT)
      continue; // removed between the two opens
    if (lock_ < 0)
      return fail(sys_error("cannot lock", lock_path_));
    while (::flock(lock_, LOCK_EX) != 0)
      if (errno != EINTR)
        return fail(sys_error("cannot lock", lock_path_));
    struct stat held {
    }, named{};
    if (::fstat(lock_, &held) == 0 && ::stat(lock_path_.c_str(), &named) == 0 &&
        held.st_dev == named.st_dev && held.st_ino == named.st_ino)
      break;
    ::close(lock_);
    lock_ = -1;
  }

  // What a killed build left: its staging folder or the old set it swapped out.
  for (const auto& e : fs::directory_iterator(parent_, ec)) {
    std::string n = e.path().filename().string();
    if (n.rfind(base + ".staging-", 0) == 0 || n.rfind(base + ".old-", 0) == 0)
      fs::remove_all(e.path(), ec);
  }
  exists_ = fs::exists(fs::symlink_status(out, ec));
  if (exists_ && !fs::is_directory(fs::symlink_status(out, ec)))
    return fail("output folder " + out.string() + " exists and is not a folder");
  const std::string tag = std::to_string(::getpid());
  fs::path staging = parent_ / (base + ".staging-" + tag);
  old_ = parent_ / (base + ".old-" + tag);
  if (!fs::create_directory(staging, ec))
    return fail("cannot create " + staging.string() + ": " + ec.message());
  staging_ = staging;

  // Carry over what Portolan did not write, by hard link (same inode, same mtime): folders,
  // symlinks as links (never followed), regular files. Outputs of earlier builds are dropped.
  std::set<std::string> owned = read_owned(out);
  if (exists_) {
    for (auto it = fs::recursive_directory_iterator(out, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      const fs::path& p = it->path();
      std::string rel = p.lexically_relative(out).generic_string();
      fs::file_status st = it->symlink_status(ec);
      fs::path dst = staging_ / rel;
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
  return true;
}

void OutputSetWriter::add(const std::string& rel, std::string_view content) {
  added_.push_back(rel);
  if (done_ || failed_ || (!started_ && !begin()))
    return;
  std::error_code ec;
  const fs::path& out = out_;
  fs::path dst = staging_ / rel;
  // Every folder on the way must be a real folder: a symlink there (or a file) is refused,
  // so nothing is ever written outside the output folder.
  fs::path at = staging_;
  for (const auto& part : fs::path(rel).parent_path()) {
    at /= part;
    fs::file_status st = fs::symlink_status(at, ec);
    if (!fs::exists(st))
      fs::create_directory(at, ec);
    else if (!fs::is_directory(st)) {
      fail("cannot write " + (out / rel).string() + ": " +
           (out / at.lexically_relative(staging_)).string() + " is not a folder" +
           (fs::is_symlink(st) ? " (a symlink, which is never followed)" : ""));
      return;
    }
    if (ec) {
      fail("cannot create " + (out / at.lexically_relative(staging_)).string() + ": " +
           ec.message());
      return;
    }
  }
  fs::file_status st = fs::symlink_status(dst, ec);
  if (fs::is_directory(st)) {
    fail("cannot write " + (out / rel).string() + ": a folder of that name exists");
    return;
  }
  if (fs::exists(st))
    fs::remove(dst, ec); // a carried file or link of that name: the output replaces it
  // Unchanged: keep the old file itself, so build tools see nothing new.
  if (exists_ && same_bytes(out / rel, content)) {
    fs::create_hard_link(out / rel, dst, ec);
    if (!ec) {
      names_.push_back(rel);
      return;
    }
  }
  if (std::string err; !write_file(dst, content, err)) {
    fail(err);
    return;
  }
  names_.push_back(rel);
}

bool OutputSetWriter::commit(std::string& err) {
  if (done_) {
    err = "internal: output set already written or dropped";
    return false;
  }
  if (!started_)
    begin();
  if (failed_) {
    done_ = true;
    err = err_;
    return false;
  }
  std::error_code ec;
  std::vector<std::string> names = names_;
  std::sort(names.begin(), names.end());
  std::string list;
  for (const auto& n : names)
    list += n + "\n";
  fs::path list_path = staging_ / kOwnedList;
  if (exists_ && same_bytes(out_ / kOwnedList, list)) {
    fs::create_hard_link(out_ / kOwnedList, list_path, ec);
    if (ec) {
      fail("cannot write " + list_path.string() + ": " + ec.message());
      done_ = true;
      err = err_;
      return false;
    }
  }
  if (!fs::exists(list_path, ec) && !write_file(list_path, list, err_)) {
    fail(err_);
    done_ = true;
    err = err_;
    return false;
  }
  for (const auto& e : fs::recursive_directory_iterator(staging_, ec))
    if (e.is_directory() && !e.is_symlink())
      sync_dir(e.path());
  sync_dir(staging_);

  if (!swap_in(staging_, out_, old_, exists_, err_)) {
    fail(err_);
    done_ = true;
    err = err_;
    return false;
  }
  sync_dir(parent_);
  fs::remove_all(old_, ec);
  done_ = true;
  unlock();
  return true;
}

bool write_output_set(const fs::path& out_dir, const std::vector<BuildFile>& files,
                      std::string& err) {
  OutputSetWriter w(out_dir);
  for (const BuildFile& f : files)
    w.add(f.rel, f.content);
  return w.commit(err);
}

} // namespace portolan
