#include "write.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace portolan {

namespace fs = std::filesystem;

namespace {

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

} // namespace

bool write_outputs(const OutputSet& files, std::ostream& log, std::string& err) {
  for (const auto& [path, content] : files) {
    if (!write_atomically(path, content, err))
      return false;
    log << "wrote " << path.generic_string() << "\n";
  }
  return true;
}

} // namespace portolan
