#include "depfile.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace portolan {

namespace fs = std::filesystem;

std::optional<std::string> depfile_escape(const std::string& path) {
  if (path.empty() || path.back() == '\\') // would escape the separator after it
    return std::nullopt;
  std::string out;
  size_t backslashes = 0; // the run of backslashes just written
  for (char c : path) {
    switch (c) {
    case '\n':
    case '\r':
      return std::nullopt;
    case ' ':
    case '\t':
      out.append(backslashes, '\\'); // 2N+1 backslashes before a space: N of them and a space
      out += '\\';
      break;
    case '#':
      out += '\\';
      break;
    case '$':
      out += '$';
      break;
    default:
      break;
    }
    out += c;
    backslashes = c == '\\' ? backslashes + 1 : 0;
  }
  return out;
}

std::optional<std::string> depfile_text(const std::vector<std::string>& targets,
                                        const std::vector<std::string>& deps, std::string& bad) {
  std::string out;
  auto put = [&](const std::string& p) {
    auto e = depfile_escape(p);
    if (!e)
      bad = p;
    else
      out += *e;
    return e.has_value();
  };
  for (size_t i = 0; i < targets.size(); ++i) {
    if (i)
      out += ' ';
    if (!put(targets[i]))
      return std::nullopt;
  }
  out += ':';
  for (const std::string& d : deps) {
    out += " \\\n  ";
    if (!put(d))
      return std::nullopt;
  }
  out += '\n';
  for (const std::string& d : deps) {
    out += '\n';
    put(d);
    out += ":\n";
  }
  return out;
}

bool write_file_atomic(const fs::path& path, const std::string& text, std::string& err) {
  fs::path tmp = path;
  tmp += ".tmp-" + std::to_string(::getpid());
  auto fail = [&](const char* what) {
    err = std::string("cannot ") + what + " " + path.string() + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  };
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return fail("write");
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      ::close(fd);
      return fail("write");
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return fail("write");
  }
  if (::close(fd) != 0)
    return fail("write");
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return fail("replace");
  return true;
}

} // namespace portolan
