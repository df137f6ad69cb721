#include "world.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

extern char** environ;

namespace portolan::kernel {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const char* outcome_name(Outcome o) {
  switch (o) {
  case Outcome::Allowed:
    return "passed";
  case Outcome::Denied:
    return "dropped";
  case Outcome::HalfOpen:
    return "half-open";
  case Outcome::Refused:
    return "refused";
  case Outcome::Error:
    return "error";
  }
  return "error";
}

namespace {

std::atomic<bool> g_stop{false};

std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

// ---------------------------------------------------------------------------------------------
// Commands: no shell, output to a log, bounded in time.

/// The output of the last command written to `log`.
std::string last_output(const fs::path& log) {
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  size_t at = s.rfind("\n$ ");
  s = at == std::string::npos ? s : s.substr(at + 1);
  return s.size() > 2000 ? s.substr(0, 2000) + "..." : s;
}

/// Spawns one command and waits for it (bounded). Only the command helper calls it once that
/// runs (see run_command).
int spawn_and_wait(const std::vector<std::string>& argv, const fs::path& log, int timeout_ms,
                   const fs::path& in) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    return -1;
  auto deadline = Clock::now() + milliseconds(timeout_ms);
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      break;
    if (r < 0 && errno != EINTR)
      return -1;
    if (Clock::now() > deadline) {
      kill(pid, SIGKILL); // our own child, by its id
      waitpid(pid, &status, 0);
      return -2;
    }
    std::this_thread::sleep_for(milliseconds(1));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Commands are spawned by a helper process forked at start-up, before this process has any
// socket, never by this process itself. A child spawned here would start with a copy of this
// process's file table (posix_spawn clones it; only its exec closes the close-on-exec files):
// until then every socket of every world lives on in it, however promptly its world closes it.
// A listener or UDP socket of a probe's first round then still holds its address and port when
// the retry binds them again (EADDRINUSE), and a client still holds its connection's addresses
// and ports when the retry connects again (EADDRNOTAVAIL): the CI flake "listener: bind ...:
// Address already in use, after a retry", seen when other worlds were running commands.
struct CommandHelper {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> idle; ///< our ends of the channels to the helper, free for a request
  pid_t pid = -1;
};

CommandHelper& command_helper() {
  static CommandHelper h;
  return h;
}

constexpr size_t kHelperChannels = 20; // worlds at once (16 at most), the main thread, spare
constexpr size_t kRequestMax = 1 << 16;

/// The helper: one thread per channel; a request is [timeout ms][stdin]\0[log]\0[argv...]\0,
/// the answer the exit code (int32). It ends when this process ends (every channel at EOF).
[[noreturn]] void helper_main(const std::vector<int>& channels, pid_t parent) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) // the main process stops on these and still needs
    ::signal(sig, SIG_IGN);                 // its commands to remove its namespaces
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent)
    ::_exit(0);
  std::vector<std::thread> threads;
  for (int fd : channels)
    threads.emplace_back([fd] {
      std::vector<char> buf(kRequestMax);
      for (;;) {
        ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n < 0 && errno == EINTR)
          continue;
        if (n <= static_cast<ssize_t>(sizeof(int32_t)))
          break;
        int32_t timeout = 0;
        std::memcpy(&timeout, buf.data(), sizeof timeout);
        std::vector<std::string> parts;
        std::string cur;
        for (ssize_t i = sizeof timeout; i < n; ++i)
          if (buf[static_cast<size_t>(i)] == '\0') {
            parts.push_back(cur);
            cur.clear();
          } else {
            cur += buf[static_cast<size_t>(i)];
          }
        int32_t rc = -1;
        if (parts.size() >= 3)
          rc = spawn_and_wait({parts.begin() + 2, parts.end()}, parts[1], timeout, parts[0]);
        if (::send(fd, &rc, sizeof rc, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof rc))
          break;
      }
      ::close(fd);
    });
  for (std::thread& t : threads)
    t.join();
  ::_exit(0);
}

/// Runs a command (no shell; stdout and stderr appended to `log`, after a "$ argv" line) and
/// returns its exit code; -1 when it could not run, -2 when it was killed after `timeout_ms`.
int run_command(const std::vector<std::string>& argv, const fs::path& log, int timeout_ms = 20000,
                const fs::path& in = "/dev/null") {
  {
    std::ofstream l(log, std::ios::app);
    l << "$";
    for (const std::string& a : argv)
      l << " " << a;
    l << "\n";
  }
  CommandHelper& h = command_helper();
  if (h.pid < 0)
    return spawn_and_wait(argv, log, timeout_ms, in); // before start_command_helper (never)
  std::string msg(sizeof(int32_t), '\0');
  int32_t t = timeout_ms;
  std::memcpy(msg.data(), &t, sizeof t);
  for (const std::string& part : {in.string(), log.string()})
    msg += part + '\0';
  for (const std::string& a : argv)
    msg += a + '\0';
  int fd = -1;
  {
    std::unique_lock<std::mutex> lock(h.mu);
    h.cv.wait(lock, [&] { return !h.idle.empty(); });
    fd = h.idle.back();
    h.idle.pop_back();
  }
  int32_t rc = -1;
  ssize_t n = -1;
  if (msg.size() <= kRequestMax) {
    do
      n = ::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
  }
  if (n == static_cast<ssize_t>(msg.size())) {
    do
      n = ::recv(fd, &rc, sizeof rc, 0);
    while (n < 0 && errno == EINTR);
  }
  if (n != static_cast<ssize_t>(sizeof rc)) {
    rc = -1;
    std::ofstream(log, std::ios::app) << "ptl-kernel: the command helper did not run this\n";
  }
  {
    std::lock_guard<std::mutex> lock(h.mu);
    h.idle.push_back(fd);
  }
  h.cv.notify_one();
  return rc;
}

bool run_batch(const std::string& ns, const std::vector<std::string>& lines, const fs::path& dir,
               const std::string& tag, const fs::path& log, std::string& err) {
  fs::path file = dir / (tag + ".batch");
  {
    std::ofstream out(file);
    for (const std::string& l : lines)
      out << l << "\n";
  }
  std::vector<std::string> argv{"ip"};
  if (!ns.empty()) {
    argv.push_back("-n");
    argv.push_back(ns);
  }
  argv.push_back("-batch");
  argv.push_back(file.string());
  int rc = run_command(argv, log);
  if (rc != 0) {
    err = "'ip" + std::string(ns.empty() ? "" : " -n " + ns) + " -batch' (" + tag + ") failed:\n" +
          last_output(log);
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Namespaces. A thread enters one only to create a socket or write a sysctl, then goes home.

int home_netns() {
  thread_local int fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  return fd;
}

class InNetns {
public:
  explicit InNetns(int fd) : ok_(fd >= 0 && home_netns() >= 0 && setns(fd, CLONE_NEWNET) == 0) {}
  ~InNetns() {
    if (ok_ && setns(home_netns(), CLONE_NEWNET) != 0) {
      // Never keep working in a test namespace (commands would run there): stop at once.
      std::perror("ptl-kernel: cannot return to the original network namespace");
      std::abort();
    }
  }
  InNetns(const InNetns&) = delete;
  InNetns& operator=(const InNetns&) = delete;
  bool ok() const { return ok_; }

private:
  bool ok_;
};

int socket_in(int nsfd, int domain, int type, int proto) {
  InNetns in(nsfd);
  if (!in.ok())
    return -1;
  return ::socket(domain, type, proto);
}

bool write_sysctl(int nsfd, const std::string& key, const std::string& value, std::string& err) {
  InNetns in(nsfd);
  if (!in.ok()) {
    err = errno_text("setns");
    return false;
  }
  std::string path = "/proc/sys/" + key;
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    err = errno_text("open " + path);
    return false;
  }
  bool ok = ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  if (!ok)
    err = errno_text("write " + path);
  ::close(fd);
  return ok;
}

/// The namespaces of one world: created together, removed together when this goes away.
class Namespaces {
public:
  Namespaces(std::vector<std::string> names, fs::path dir, fs::path log)
      : names_(std::move(names)), dir_(std::move(dir)), log_(std::move(log)) {}
  Namespaces(const Namespaces&) = delete;
  Namespaces& operator=(const Namespaces&) = delete;
  ~Namespaces() { remove(); }

  bool create(std::string& err) {
    std::vector<std::string> lines;
    for (const std::string& n : names_)
      lines.push_back("netns add " + n);
    if (!run_batch("", lines, dir_, "netns-add", log_, err))
      return false;
    for (const std::string& n : names_) {
      int fd = ::open(("/run/netns/" + n).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        err = errno_text("open /run/netns/" + n);
        return false;
      }
      fds_.push_back(fd);
    }
    return true;
  }
  int fd(size_t i) const { return fds_.at(i); }
  const std::string& name(size_t i) const { return names_.at(i); }
  size_t size() const { return names_.size(); }

private:
  void remove() {
    for (int fd : fds_)
      ::close(fd);
    fds_.clear();
    std::vector<std::string> lines;
    for (const std::string& n : names_)
      if (fs::exists("/run/netns/" + n))
        lines.push_back("netns del " + n);
    if (lines.empty())
      return;
    std::string err;
    if (!run_batch("", lines, dir_, "netns-del", log_, err))
      for (const std::string& n : names_)
        if (fs::exists("/run/netns/" + n))
          run_command({"ip", "netns", "del", n}, log_);
    for (const std::string& n : names_)
      if (fs::exists("/run/netns/" + n))
        std::fprintf(stderr, "ptl-kernel: WARNING: could not remove network namespace %s\n",
                     n.c_str());
  }

  std::vector<std::string> names_;
  std::vector<int> fds_;
  fs::path dir_, log_;
};

// ---------------------------------------------------------------------------------------------
// Addresses.

socklen_t to_sockaddr(const IpAddr& a, uint16_t port, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (a.family == Family::V4) {
    auto* s = reinterpret_cast<sockaddr_in*>(&ss);
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    std::memcpy(&s->sin_addr, a.bytes.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
  s->sin6_family = AF_INET6;
  s->sin6_port = htons(port);
  std::memcpy(&s->sin6_addr, a.bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

bool from_sockaddr(const sockaddr_storage& ss, IpAddr& a, uint16_t& port) {
  a = IpAddr{};
  if (ss.ss_family == AF_INET) {
    const auto* s = reinterpret_cast<const sockaddr_in*>(&ss);
    a.family = Family::V4;
    std::memcpy(a.bytes.data(), &s->sin_addr, 4);
    port = ntohs(s->sin_port);
    return true;
  }
  if (ss.ss_family == AF_INET6) {
    const auto* s = reinterpret_cast<const sockaddr_in6*>(&ss);
    a.family = Family::V6;
    std::memcpy(a.bytes.data(), &s->sin6_addr, 16);
    port = ntohs(s->sin6_port);
    return true;
  }
  return false;
}

int domain_of(const IpAddr& a) {
  return a.family == Family::V4 ? AF_INET : AF_INET6;
}

std::string host_len(const IpAddr& a) {
  return a.str() + (a.family == Family::V4 ? "/32" : "/128");
}

std::string mac(size_t k, int side) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "02:50:%02zx:%02zx:00:%02x", (k >> 8) & 0xff, k & 0xff, side);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Raw packets: every protocol and ICMP type the harness cannot send through an ordinary socket is
// built byte by byte (IP header included) and sent from a raw socket in the source namespace. It
// passed when it arrives in the destination namespace: sniffed with AF_PACKET on the endpoint's
// eth0 (after the enforcing namespace's forward/output chain), or read from raw IP sockets in the
// enforcing namespace itself (after its input chain).

constexpr char kRawMagic[4] = {'P', 'T', 'L', 'R'};
constexpr uint16_t kInnerSport = 33433, kInnerDport = 33434; // the embedded packet of an error

uint32_t sum16(const uint8_t* d, size_t n, uint32_t acc = 0) {
  for (size_t i = 0; i + 1 < n; i += 2)
    acc += static_cast<uint32_t>(d[i] << 8 | d[i + 1]);
  if (n % 2)
    acc += static_cast<uint32_t>(d[n - 1] << 8);
  return acc;
}

uint16_t fold(uint32_t acc) {
  while (acc >> 16)
    acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(~acc & 0xffff);
}

void put16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v & 0xff);
}

void append(std::vector<uint8_t>& b, std::initializer_list<uint8_t> v) {
  b.insert(b.end(), v.begin(), v.end());
}

void append_addr(std::vector<uint8_t>& b, const IpAddr& a) {
  size_t n = a.family == Family::V4 ? 4 : 16;
  b.insert(b.end(), a.bytes.begin(), a.bytes.begin() + static_cast<long>(n));
}

void append_magic(std::vector<uint8_t>& b, size_t id) {
  b.insert(b.end(), kRawMagic, kRawMagic + 4);
  for (int sh : {24, 16, 8, 0})
    b.push_back(static_cast<uint8_t>((id >> sh) & 0xff));
}

/// An IP header (no options) for `payload_len` bytes of protocol `proto`.
std::vector<uint8_t> ip_header(const IpAddr& src, const IpAddr& dst, uint8_t proto,
                               size_t payload_len, uint8_t ttl, uint16_t id) {
  std::vector<uint8_t> h;
  if (src.family == Family::V4) {
    uint16_t total = static_cast<uint16_t>(20 + payload_len);
    append(h, {0x45, 0, static_cast<uint8_t>(total >> 8), static_cast<uint8_t>(total & 0xff),
               static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id & 0xff), 0x40, 0, ttl, proto,
               0, 0});
    append_addr(h, src);
    append_addr(h, dst);
    put16(h, 10, fold(sum16(h.data(), h.size())));
  } else {
    append(h, {0x60, 0, 0, 0, static_cast<uint8_t>(payload_len >> 8),
               static_cast<uint8_t>(payload_len & 0xff), proto, ttl});
    append_addr(h, src);
    append_addr(h, dst);
  }
  return h;
}

uint32_t crc32c(const uint8_t* d, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    c ^= d[i];
    for (int k = 0; k < 8; ++k)
      c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
  }
  return ~c;
}

/// The whole packet (IP header included) of a raw probe; its payload ends with the magic and the
/// probe index, so the receiver knows which probe arrived. ICMP errors carry the header of a
/// plausible original packet (UDP from the error's destination back to its source); echo-like
/// messages carry a per-probe identifier, so no probe is ever the reply of another.
std::vector<uint8_t> raw_packet(const Packet& k, size_t id) {
  bool v4 = k.src.family == Family::V4;
  std::vector<uint8_t> pl;
  uint8_t ttl = 64;
  bool icmp_like = k.proto == kProtoIcmp || k.proto == kProtoIcmpV6;
  bool own_icmp = (k.proto == kProtoIcmp && v4) || (k.proto == kProtoIcmpV6 && !v4);
  if (icmp_like) {
    int type = k.sport;
    uint16_t ident = static_cast<uint16_t>(0x8000 | (id & 0x7fff));
    append(pl, {static_cast<uint8_t>(type), static_cast<uint8_t>(k.dport), 0, 0});
    if (own_icmp && icmp_error_type(k.proto, type)) {
      if (!v4 && type == 2)
        append(pl, {0, 0, 0x05, 0x00}); // MTU 1280
      else if (v4 && type == 5)
        append_addr(pl, k.dst); // the redirect's gateway
      else
        append(pl, {0, 0, 0, 0});
      std::vector<uint8_t> udp{static_cast<uint8_t>(kInnerSport >> 8),
                               static_cast<uint8_t>(kInnerSport & 0xff),
                               static_cast<uint8_t>(kInnerDport >> 8),
                               static_cast<uint8_t>(kInnerDport & 0xff),
                               0,
                               20,
                               0,
                               0};
      std::vector<uint8_t> inner = ip_header(k.dst, k.src, kProtoUdp, 20, 64, 1);
      pl.insert(pl.end(), inner.begin(), inner.end());
      pl.insert(pl.end(), udp.begin(), udp.end());
    } else if (own_icmp && !v4 && (type == 135 || type == 136)) {
      ttl = 255;
      append(pl, {static_cast<uint8_t>(type == 136 ? 0x20 : 0), 0, 0, 0});
      append_addr(pl, k.dst); // the target address
    } else if (own_icmp && !v4 && (type == 133 || type == 134 || type == 137)) {
      ttl = 255;
      append(pl, {0, 0, 0, 0});
      if (type == 134)
        append(pl, {0, 0, 0, 0, 0, 0, 0, 0});
      if (type == 137) {
        append_addr(pl, k.dst);
        append_addr(pl, k.dst);
      }
    } else {
      append(pl, {static_cast<uint8_t>(ident >> 8), static_cast<uint8_t>(ident & 0xff), 0, 1});
    }
    append_magic(pl, id);
    if (k.proto == kProtoIcmpV6 && !v4) {
      std::vector<uint8_t> pseudo;
      append_addr(pseudo, k.src);
      append_addr(pseudo, k.dst);
      append(pseudo, {0, 0, static_cast<uint8_t>(pl.size() >> 8),
                      static_cast<uint8_t>(pl.size() & 0xff), 0, 0, 0, kProtoIcmpV6});
      put16(pl, 2, fold(sum16(pl.data(), pl.size(), sum16(pseudo.data(), pseudo.size()))));
    } else {
      put16(pl, 2, fold(sum16(pl.data(), pl.size())));
    }
  } else if (k.proto == ipproto::sctp) {
    // Common header (verification tag 0, as an INIT needs), one INIT chunk whose optional
    // parameter holds the magic, CRC32c (stored as Linux does, least significant byte first).
    append(pl, {static_cast<uint8_t>(k.sport >> 8), static_cast<uint8_t>(k.sport & 0xff),
                static_cast<uint8_t>(k.dport >> 8), static_cast<uint8_t>(k.dport & 0xff), 0, 0, 0,
                0, 0, 0, 0, 0});
    // (the initiate tag must not contain the magic: "ptl" in lower case, then the id's low byte)
    append(pl, {1, 0, 0, 32, 0x70, 0x74, 0x6c, static_cast<uint8_t>(id & 0xff), 0, 1, 0, 0, 0,
                1, 0, 1, 0,  0,    0,    1});
    append(pl, {0x80, 0x08, 0, 12}); // an unknown parameter the receiver skips
    append_magic(pl, id);
    uint32_t c = crc32c(pl.data(), pl.size());
    for (int b = 0; b < 4; ++b)
      pl[8 + static_cast<size_t>(b)] = static_cast<uint8_t>((c >> (8 * b)) & 0xff);
  } else if (!v4 && ipv6_ext_header(k.proto)) {
    // An extension header followed by "no next header" (59): HBH/destination options padded
    // with PadN, routing with no segments left, an atomic fragment, an AH of 12 bytes.
    if (k.proto == 0 || k.proto == 60)
      append(pl, {59, 0, 1, 4, 0, 0, 0, 0});
    else if (k.proto == 43)
      append(pl, {59, 0, 0, 0, 0, 0, 0, 0});
    else if (k.proto == 44)
      append(pl, {59, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(id & 0xff)});
    else
      append(pl, {59, 1, 0, 0, 0, 0, 0x10, 0x01, 0, 0, 0, 1});
    append_magic(pl, id);
  } else if (!v4 && k.proto == 135) {
    // Mobility header (RFC 6275 6.1.1). A raw IPv6 socket of protocol 135 delivers only a header
    // whose payload proto is 59 and whose length holds its type's minimum (the kernel's
    // mip6_mh_filter drops anything else, so a plain payload would look dropped by the firewall):
    // message type 255 (none defined, minimum 0), 16 bytes, the magic as its message data.
    append(pl, {59, 1, 255, 0, 0, 0});
    append_magic(pl, id);
    append(pl, {0, 0});
    std::vector<uint8_t> pseudo;
    append_addr(pseudo, k.src);
    append_addr(pseudo, k.dst);
    append(pseudo, {0, 0, 0, static_cast<uint8_t>(pl.size()), 0, 0, 0, 135});
    put16(pl, 4, fold(sum16(pl.data(), pl.size(), sum16(pseudo.data(), pseudo.size()))));
  } else if (k.proto == 136) {
    // UDP-Lite (RFC 3828): conntrack's tracker wants a valid header and checksum. Ports 0, as
    // the engine models a portless protocol; coverage 0 = the whole datagram.
    append(pl, {0, 0, 0, 0, 0, 0, 0, 0});
    append_magic(pl, id);
    std::vector<uint8_t> pseudo;
    append_addr(pseudo, k.src);
    append_addr(pseudo, k.dst);
    append(pseudo, {0, 0, static_cast<uint8_t>(pl.size() >> 8),
                    static_cast<uint8_t>(pl.size() & 0xff), 0, 0, 0, 136});
    uint16_t c = fold(sum16(pl.data(), pl.size(), sum16(pseudo.data(), pseudo.size())));
    put16(pl, 6, c == 0 ? 0xffff : c);
  } else {
    append(pl, {0, 0, 0, 0, 0, 0, 0, 1}); // e.g. an ESP SPI and sequence number
    append_magic(pl, id);
  }
  std::vector<uint8_t> pkt =
      ip_header(k.src, k.dst, k.proto, pl.size(), ttl, static_cast<uint16_t>(id & 0xffff));
  pkt.insert(pkt.end(), pl.begin(), pl.end());
  return pkt;
}

/// The probe index a received raw packet carries, if its magic is there.
std::optional<size_t> raw_id(const uint8_t* d, size_t n) {
  for (size_t i = 0; i + 8 <= n; ++i)
    if (std::memcmp(d + i, kRawMagic, 4) == 0)
      return static_cast<size_t>(d[i + 4]) << 24 | static_cast<size_t>(d[i + 5]) << 16 |
             static_cast<size_t>(d[i + 6]) << 8 | static_cast<size_t>(d[i + 7]);
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Probes: every socket is created in its namespace with setns, then driven from this thread with
// one epoll loop, so a world's probes run concurrently and each waits at most the timeout.

constexpr char kMagic[3] = {'P', 'T', 'L'};

class Prober {
public:
  Prober(const Namespaces& ns, const WorldPlan& plan, std::vector<Observation>& obs)
      : ns_(ns), plan_(plan), obs_(obs) {}

  void run(const std::vector<size_t>& which, int timeout_ms,
           const std::function<void()>& sent = nullptr) {
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) {
      for (size_t i : which)
        obs_[i] = {Outcome::Error, errno_text("epoll_create1"), obs_[i].retried};
      return;
    }
    done_.clear();
    reached_.clear();
    pending_ = 0;
    for (size_t i : which) {
      done_[i] = false;
      reached_[i] = false;
      ++pending_;
    }
    for (size_t i : which)
      prepare(i);
    size_t started = 0;
    for (size_t i : which) {
      if (!done_[i])
        start(i);
      if (++started % 32 == 0)
        drain(0); // answer early arrivals so no receive queue overflows
    }
    if (sent)
      sent();
    auto deadline = Clock::now() + milliseconds(timeout_ms);
    while (pending_ > 0 && !g_stop) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (left <= 0 || !drain(static_cast<int>(left)))
        break;
    }
    for (size_t i : which)
      if (!done_[i]) {
        const Packet& p = plan_.probes[i].pkt;
        if (reached_[i])
          finish(i, Outcome::HalfOpen,
                 std::string(p.proto == kProtoUdp ? "the datagram" : "the connection") +
                     " reached the listener but no answer came back within " +
                     std::to_string(timeout_ms) + " ms");
        else
          finish(i, Outcome::Denied,
                 "nothing came back within " + std::to_string(timeout_ms) + " ms");
      }
    for (Sock& s : socks_)
      close_sock(s);
    socks_.clear();
    for (int c : accepted_) {
      linger l{1, 0};
      ::setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      ::close(c);
    }
    accepted_.clear();
    tcp_listen_.clear();
    udp_.clear();
    sniff_.clear();
    raw_recv_.clear();
    for (auto& [k, fd] : raw_send_)
      ::close(fd);
    raw_send_.clear();
    ::close(ep_);
    ep_ = -1;
  }

private:
  enum class Kind { TcpListen, TcpClient, Udp, Ping, Sniff, RawRecv };
  struct Sock {
    int fd = -1;
    Kind kind = Kind::Udp;
    size_t probe = 0; ///< TcpClient, Ping
    IpAddr addr;      ///< TcpListen, Udp: the bound address
    uint16_t port = 0;
  };
  using Key = std::pair<IpAddr, uint16_t>;

  /// Handles what is ready, waiting up to `wait_ms`; false when epoll itself fails.
  bool drain(int wait_ms) {
    epoll_event evs[64];
    int n = ::epoll_wait(ep_, evs, 64, wait_ms);
    if (n < 0)
      return errno == EINTR;
    for (int e = 0; e < n; ++e)
      handle(static_cast<size_t>(evs[e].data.u64));
    return true;
  }

  void finish(size_t i, Outcome o, std::string detail) {
    if (done_[i])
      return;
    done_[i] = true;
    --pending_;
    obs_[i].outcome = o;
    obs_[i].detail = std::move(detail);
  }

  /// A send from the enforcing namespace that its output chain drops fails at once with EPERM.
  static constexpr const char* kLocalDrop = "the local output chain dropped it (EPERM)";
  void send_failed(size_t i) {
    if (errno == EPERM)
      finish(i, Outcome::Denied, kLocalDrop);
    else
      finish(i, Outcome::Error, errno_text("sendto"));
  }

  static void close_sock(Sock& s) {
    if (s.fd < 0)
      return;
    if (s.kind == Kind::TcpClient) {
      linger l{1, 0}; // reset: no TIME_WAIT, the conntrack entry goes at once
      ::setsockopt(s.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    ::close(s.fd);
    s.fd = -1;
  }

  int add_sock(Sock s, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = socks_.size();
    if (::epoll_ctl(ep_, EPOLL_CTL_ADD, s.fd, &ev) != 0) {
      ::close(s.fd);
      return -1;
    }
    socks_.push_back(s);
    return static_cast<int>(socks_.size() - 1);
  }

  /// A bound socket in namespace `ns`; -1 with `err` set on failure.
  int bound_socket(int ns, const IpAddr& a, uint16_t port, int type, int proto, std::string& err) {
    int fd = socket_in(ns_.fd(static_cast<size_t>(ns)), domain_of(a),
                       type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
    if (fd < 0) {
      err = errno_text("socket");
      return -1;
    }
    int one = 1, big = 1 << 22;
    if (type == SOCK_STREAM)
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    else // many probes may reach one listener at once
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    sockaddr_storage ss;
    socklen_t len = to_sockaddr(a, port, ss);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      err = errno_text("bind " + a.str() + " port " + std::to_string(port));
      ::close(fd);
      return -1;
    }
    return fd;
  }

  /// Listeners on the destination side, and the shared UDP sockets of both sides.
  void prepare(size_t i) {
    const ProbeSpec& p = plan_.probes[i];
    const Packet& k = p.pkt;
    std::string err;
    if (k.proto == kProtoTcp) {
      Key key{k.dst, k.dport};
      if (!tcp_listen_.count(key)) {
        int fd = bound_socket(p.dst_ns, k.dst, k.dport, SOCK_STREAM, 0, err);
        if (fd < 0 || ::listen(fd, 1024) != 0) {
          if (fd >= 0) {
            err = errno_text("listen");
            ::close(fd);
          }
          finish(i, Outcome::Error, "listener: " + err);
          return;
        }
        int s = add_sock(Sock{fd, Kind::TcpListen, 0, k.dst, k.dport}, EPOLLIN);
        if (s < 0) {
          finish(i, Outcome::Error, errno_text("epoll_ctl"));
          return;
        }
        tcp_listen_[key] = static_cast<size_t>(s);
      }
    } else if (k.proto == kProtoUdp) {
      for (auto [ns, a, port] :
           {std::tuple{p.dst_ns, k.dst, k.dport}, std::tuple{p.src_ns, k.src, k.sport}}) {
        Key key{a, port};
        if (udp_.count(key))
          continue;
        int fd = bound_socket(ns, a, port, SOCK_DGRAM, 0, err);
        if (fd < 0) {
          finish(i, Outcome::Error, "udp socket: " + err);
          return;
        }
        int s = add_sock(Sock{fd, Kind::Udp, 0, a, port}, EPOLLIN);
        if (s < 0) {
          finish(i, Outcome::Error, errno_text("epoll_ctl"));
          return;
        }
        udp_[key] = static_cast<size_t>(s);
      }
    } else if (probe_way(k) == ProbeWay::Raw) {
      if (!prepare_raw(p, err))
        finish(i, Outcome::Error, "raw receiver: " + err);
    }
  }

  /// The receivers of a raw probe: AF_PACKET on eth0 of an endpoint namespace, or raw IP sockets
  /// of its protocol in the enforcing namespace (for an IPv6 extension header also one of "no
  /// next header", where the kernel delivers what follows it).
  bool prepare_raw(const ProbeSpec& p, std::string& err) {
    int ns = p.dst_ns;
    if (ns != 0) {
      if (sniff_.count(ns))
        return true;
      int fd = socket_in(ns_.fd(static_cast<size_t>(ns)), AF_PACKET,
                         SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
      if (fd < 0) {
        err = errno_text("AF_PACKET socket");
        return false;
      }
      int big = 1 << 22;
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
      int ifindex = 0;
      {
        InNetns in(ns_.fd(static_cast<size_t>(ns)));
        ifindex = static_cast<int>(if_nametoindex("eth0"));
      }
      sockaddr_ll ll{};
      ll.sll_family = AF_PACKET;
      ll.sll_protocol = htons(ETH_P_ALL);
      ll.sll_ifindex = ifindex;
      if (ifindex == 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&ll), sizeof ll) != 0) {
        err = errno_text("bind AF_PACKET to eth0");
        ::close(fd);
        return false;
      }
      int s = add_sock(Sock{fd, Kind::Sniff, 0, {}, 0}, EPOLLIN);
      if (s < 0) {
        err = errno_text("epoll_ctl");
        return false;
      }
      sniff_[ns] = static_cast<size_t>(s);
      return true;
    }
    int dom = domain_of(p.pkt.dst);
    std::vector<int> protos{p.pkt.proto};
    if (dom == AF_INET6 && ipv6_ext_header(p.pkt.proto))
      protos.push_back(59);
    bool any = false;
    for (int proto : protos) {
      if (raw_recv_.count({dom, proto})) {
        any = true;
        continue;
      }
      int fd = socket_in(ns_.fd(0), dom, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
      if (fd < 0)
        continue; // e.g. protocol 0: the other socket (or none) observes it
      int big = 1 << 22;
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
      int s = add_sock(Sock{fd, Kind::RawRecv, 0, {}, static_cast<uint16_t>(proto)}, EPOLLIN);
      if (s < 0)
        continue;
      raw_recv_[{dom, proto}] = static_cast<size_t>(s);
      any = true;
    }
    if (!any)
      err = "no raw socket can receive protocol " + std::to_string(p.pkt.proto);
    return any;
  }

  int raw_sender(int ns, int dom, std::string& err) {
    auto it = raw_send_.find({ns, dom});
    if (it != raw_send_.end())
      return it->second;
    int fd = socket_in(ns_.fd(static_cast<size_t>(ns)), dom,
                       SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
    if (fd < 0) {
      err = errno_text("raw socket");
      return -1;
    }
    raw_send_[{ns, dom}] = fd;
    return fd;
  }

  /// A received raw packet: whose probe it is, and whether it is that probe's packet.
  void raw_arrived(const uint8_t* d, size_t n, const std::optional<IpAddr>& from) {
    auto id = raw_id(d, n);
    if (!id || !done_.count(*id) || done_[*id])
      return;
    const Packet& k = plan_.probes[*id].pkt;
    if (from && !(*from == k.src))
      return;
    finish(*id, Outcome::Allowed, "arrived");
  }

  void start(size_t i) {
    const ProbeSpec& p = plan_.probes[i];
    const Packet& k = p.pkt;
    std::string err;
    sockaddr_storage dst;
    socklen_t dlen =
        to_sockaddr(k.dst, k.proto == kProtoTcp || k.proto == kProtoUdp ? k.dport : 0, dst);
    if (k.proto == kProtoTcp) {
      int fd = bound_socket(p.src_ns, k.src, k.sport, SOCK_STREAM, 0, err);
      if (fd < 0) {
        finish(i, Outcome::Error, "client: " + err);
        return;
      }
      int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&dst), dlen);
      if (rc == 0 || errno == EINPROGRESS) {
        int s = add_sock(Sock{fd, Kind::TcpClient, i, {}, 0}, EPOLLOUT);
        if (s < 0)
          finish(i, Outcome::Error, errno_text("epoll_ctl"));
        else if (rc == 0)
          finish(i, Outcome::Allowed, "connected");
        return;
      }
      if (errno == EPERM)
        finish(i, Outcome::Denied, kLocalDrop);
      else
        finish(i, errno == ECONNREFUSED ? Outcome::Refused : Outcome::Error, errno_text("connect"));
      ::close(fd);
    } else if (k.proto == kProtoUdp) {
      char msg[8];
      std::memcpy(msg, kMagic, 3);
      msg[3] = 'Q';
      uint32_t id = htonl(static_cast<uint32_t>(i));
      std::memcpy(msg + 4, &id, 4);
      const Sock& s = socks_[udp_.at(Key{k.src, k.sport})];
      if (::sendto(s.fd, msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&dst), dlen) < 0)
        send_failed(i);
    } else if (probe_way(k) == ProbeWay::Raw) {
      int fd = raw_sender(p.src_ns, domain_of(k.src), err);
      if (fd < 0) {
        finish(i, Outcome::Error, err);
        return;
      }
      std::vector<uint8_t> bytes = raw_packet(k, i);
      sockaddr_storage to;
      socklen_t tlen = to_sockaddr(k.dst, 0, to);
      if (::sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to), tlen) < 0)
        send_failed(i);
    } else if (k.proto == kProtoIcmp || k.proto == kProtoIcmpV6) {
      // Ping sockets: the kernel sets the echo identifier and checksum; we give type and code.
      int proto = k.proto == kProtoIcmp ? int{IPPROTO_ICMP} : int{IPPROTO_ICMPV6};
      int fd = bound_socket(p.src_ns, k.src, 0, SOCK_DGRAM, proto, err);
      if (fd < 0) {
        finish(i, Outcome::Error, "ping socket: " + err);
        return;
      }
      unsigned char msg[16] = {};
      msg[0] = static_cast<unsigned char>(k.sport);
      msg[1] = static_cast<unsigned char>(k.dport);
      msg[6] = static_cast<unsigned char>((i >> 8) & 0xff);
      msg[7] = static_cast<unsigned char>(i & 0xff);
      std::memcpy(msg + 8, kMagic, 3);
      int s = add_sock(Sock{fd, Kind::Ping, i, {}, 0}, EPOLLIN);
      if (s < 0) {
        finish(i, Outcome::Error, errno_text("epoll_ctl"));
        return;
      }
      if (::sendto(fd, msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&dst), dlen) < 0)
        send_failed(i);
    } else {
      finish(i, Outcome::Error, "no probe for protocol " + std::to_string(k.proto));
    }
  }

  bool tuple_is(size_t i, uint8_t proto, const IpAddr& src, uint16_t sport, const IpAddr& dst,
                uint16_t dport) const {
    const Packet& k = plan_.probes[i].pkt;
    return k.proto == proto && k.src == src && k.sport == sport && k.dst == dst && k.dport == dport;
  }

  void handle(size_t si) {
    Sock& s = socks_[si];
    if (s.fd < 0)
      return;
    switch (s.kind) {
    case Kind::TcpListen:
      for (;;) {
        sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int c = ::accept4(s.fd, reinterpret_cast<sockaddr*>(&peer), &plen,
                          SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0)
          break;
        IpAddr pa;
        uint16_t pp = 0;
        if (from_sockaddr(peer, pa, pp))
          for (auto& [i, done] : done_)
            if (!done && tuple_is(i, kProtoTcp, pa, pp, s.addr, s.port))
              reached_[i] = true;
        accepted_.push_back(c); // closed when the round ends, after the client saw it connect
      }
      break;
    case Kind::TcpClient: {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == EINPROGRESS || err == EALREADY)
        break;
      if (err == 0)
        finish(s.probe, Outcome::Allowed, "connected");
      else if (err == EPERM)
        finish(s.probe, Outcome::Denied, kLocalDrop);
      else if (err == ECONNREFUSED)
        finish(s.probe, Outcome::Refused, "connection refused (a reset came back)");
      else
        finish(s.probe, Outcome::Error, std::string("connect: ") + std::strerror(err));
      ::epoll_ctl(ep_, EPOLL_CTL_DEL, s.fd, nullptr);
      close_sock(s);
      break;
    }
    case Kind::Udp:
      for (;;) {
        char msg[64];
        sockaddr_storage from;
        socklen_t flen = sizeof from;
        ssize_t n = ::recvfrom(s.fd, msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&from), &flen);
        if (n < 0)
          break;
        IpAddr fa;
        uint16_t fp = 0;
        if (n != 8 || std::memcmp(msg, kMagic, 3) != 0 || !from_sockaddr(from, fa, fp))
          continue;
        uint32_t id = 0;
        std::memcpy(&id, msg + 4, 4);
        size_t i = ntohl(id);
        if (!done_.count(i) || done_[i])
          continue;
        if (msg[3] == 'Q' && tuple_is(i, kProtoUdp, fa, fp, s.addr, s.port)) {
          reached_[i] = true;
          msg[3] = 'R';
          ::sendto(s.fd, msg, 8, 0, reinterpret_cast<sockaddr*>(&from), flen);
        } else if (msg[3] == 'R' && tuple_is(i, kProtoUdp, s.addr, s.port, fa, fp)) {
          finish(i, Outcome::Allowed, "answered");
        }
      }
      break;
    case Kind::Ping:
      for (;;) {
        unsigned char msg[64];
        sockaddr_storage from;
        socklen_t flen = sizeof from;
        ssize_t n = ::recvfrom(s.fd, msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&from), &flen);
        if (n < 0)
          break;
        IpAddr fa;
        uint16_t fp = 0;
        const Packet& k = plan_.probes[s.probe].pkt;
        unsigned char reply = k.proto == kProtoIcmp ? 0 : 129;
        if (n >= 8 && msg[0] == reply && from_sockaddr(from, fa, fp) && fa == k.dst)
          finish(s.probe, Outcome::Allowed, "echo reply");
      }
      break;
    case Kind::Sniff:
      for (;;) {
        uint8_t buf[2048];
        sockaddr_ll ll{};
        socklen_t llen = sizeof ll;
        ssize_t n = ::recvfrom(s.fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&ll), &llen);
        if (n < 0)
          break;
        if (ll.sll_pkttype == PACKET_OUTGOING || n < 20)
          continue;
        // The network-layer packet: check family, addresses and protocol before the magic.
        size_t len = static_cast<size_t>(n);
        auto id = raw_id(buf, len);
        if (!id || !done_.count(*id) || done_[*id])
          continue;
        const Packet& k = plan_.probes[*id].pkt;
        bool v4 = k.src.family == Family::V4;
        bool match = false;
        if (v4 && (buf[0] >> 4) == 4)
          match = buf[9] == k.proto && std::memcmp(buf + 12, k.src.bytes.data(), 4) == 0 &&
                  std::memcmp(buf + 16, k.dst.bytes.data(), 4) == 0;
        else if (!v4 && (buf[0] >> 4) == 6 && len >= 40)
          match = buf[6] == k.proto && std::memcmp(buf + 8, k.src.bytes.data(), 16) == 0 &&
                  std::memcmp(buf + 24, k.dst.bytes.data(), 16) == 0;
        if (match)
          finish(*id, Outcome::Allowed, "arrived");
      }
      break;
    case Kind::RawRecv:
      for (;;) {
        uint8_t buf[2048];
        sockaddr_storage from;
        socklen_t flen = sizeof from;
        ssize_t n = ::recvfrom(s.fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
        if (n < 0)
          break;
        IpAddr fa;
        uint16_t fp = 0;
        std::optional<IpAddr> src;
        if (from_sockaddr(from, fa, fp))
          src = fa;
        // IPv4 raw sockets see the IP header (check the protocol there); IPv6 ones only the
        // payload, and only packets of their own protocol.
        size_t len = static_cast<size_t>(n);
        auto id = raw_id(buf, len);
        if (!id || !done_.count(*id) || done_[*id])
          continue;
        const Packet& k = plan_.probes[*id].pkt;
        if (k.dst.family == Family::V4 && (len < 20 || buf[9] != k.proto))
          continue;
        raw_arrived(buf, len, src);
      }
      break;
    }
  }

  const Namespaces& ns_;
  const WorldPlan& plan_;
  std::vector<Observation>& obs_;
  int ep_ = -1;
  std::vector<Sock> socks_;
  std::map<Key, size_t> tcp_listen_, udp_;
  std::map<int, size_t> sniff_;                    ///< namespace -> AF_PACKET socket
  std::map<std::pair<int, int>, size_t> raw_recv_; ///< (family, proto) -> raw socket in ns 0
  std::map<std::pair<int, int>, int> raw_send_;    ///< (namespace, family) -> raw socket
  std::map<size_t, bool> done_, reached_;
  std::vector<int> accepted_;
  size_t pending_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Building a world.

bool build(const WorldPlan& plan, const Namespaces& ns, const fs::path& dir, const fs::path& log,
           std::string& err) {
  // Before any link exists, so new interfaces inherit the defaults.
  for (size_t k = 0; k < ns.size(); ++k) {
    std::vector<std::pair<std::string, std::string>> sys{
        {"net/ipv4/ping_group_range", "0 2147483647"},
        {"net/ipv4/conf/all/rp_filter", "0"},
        {"net/ipv4/conf/default/rp_filter", "0"},
        {"net/ipv6/conf/default/addr_gen_mode", "1"},
        {"net/ipv6/conf/default/accept_dad", "0"}};
    if (k == 0) {
      sys.push_back({"net/ipv4/ip_forward", "1"});
      sys.push_back({"net/ipv6/conf/all/forwarding", "1"});
    }
    for (const auto& [key, value] : sys)
      if (!write_sysctl(ns.fd(k), key, value, err)) {
        err = "sysctl in " + ns.name(k) + ": " + err;
        return false;
      }
  }
  // The enforcing namespace: one veth per endpoint namespace, host routes for every probe address
  // behind it, static neighbours (no ARP or neighbour discovery to wait for or to filter).
  std::vector<std::string> c{"link set lo up"};
  for (size_t k = 1; k < ns.size(); ++k) {
    std::string dev = "c" + std::to_string(k), kk = std::to_string(k);
    c.push_back("link add " + dev + " address " + mac(k, 1) + " type veth peer name eth0 address " +
                mac(k, 2) + " netns " + ns.name(k));
    c.push_back("link set " + dev + " addrgenmode none");
    c.push_back("link set " + dev + " up");
    c.push_back("address add 169.254." + kk + ".1/30 dev " + dev);
    c.push_back("address add fe80::1/64 dev " + dev + " nodad");
    c.push_back("neigh add 169.254." + kk + ".2 lladdr " + mac(k, 2) + " dev " + dev +
                " nud permanent");
    c.push_back("neigh add fe80::2 lladdr " + mac(k, 2) + " dev " + dev + " nud permanent");
    for (const IpAddr& a : plan.ns[k].addrs)
      c.push_back("route add " + host_len(a) +
                  (a.family == Family::V4 ? " via 169.254." + kk + ".2 dev " + dev + " onlink"
                                          : " via fe80::2 dev " + dev));
  }
  for (const IpAddr& a : plan.ns[0].addrs) // a host target's own addresses
    c.push_back("address add " + host_len(a) + " dev lo" +
                (a.family == Family::V6 ? " nodad" : "")); // usable at once
  if (!run_batch(ns.name(0), c, dir, "n0", log, err))
    return false;
  for (size_t k = 1; k < ns.size(); ++k) {
    std::string kk = std::to_string(k);
    std::vector<std::string> e{"link set lo up",
                               "link set eth0 addrgenmode none",
                               "link set eth0 up",
                               "address add 169.254." + kk + ".2/30 dev eth0",
                               "address add fe80::2/64 dev eth0 nodad",
                               "neigh add 169.254." + kk + ".1 lladdr " + mac(k, 1) +
                                   " dev eth0 nud permanent",
                               "neigh add fe80::1 lladdr " + mac(k, 1) + " dev eth0 nud permanent",
                               "route add default via 169.254." + kk + ".1 dev eth0 onlink",
                               "route add default via fe80::1 dev eth0"};
    for (const IpAddr& a : plan.ns[k].addrs)
      e.push_back("address add " + host_len(a) + " dev eth0" +
                  (a.family == Family::V6 ? " nodad" : ""));
    if (!run_batch(ns.name(k), e, dir, "n" + kk, log, err))
      return false;
  }
  // Wait (bounded) until every veth end has its carrier.
  auto deadline = Clock::now() + milliseconds(15000); // generous: the machine may be loaded
  for (size_t k = 1; k < ns.size(); ++k)
    for (auto [side, dev] :
         {std::pair{size_t{0}, "c" + std::to_string(k)}, std::pair{k, std::string("eth0")}}) {
      int fd = socket_in(ns.fd(side), AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        err = errno_text("socket in " + ns.name(side));
        return false;
      }
      bool up = false;
      while (!up && Clock::now() < deadline) {
        ifreq ifr{};
        std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", dev.c_str());
        up = ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_RUNNING);
        if (!up)
          std::this_thread::sleep_for(milliseconds(1));
      }
      ::close(fd);
      if (!up) {
        err = dev + " in " + ns.name(side) + " never came up";
        return false;
      }
    }
  return true;
}

bool load(const Config& config, const Namespaces& ns, const fs::path& dir, const fs::path& log,
          std::string& err) {
  for (const OutputFile& f : config.files) {
    fs::path file = dir / ("config" + f.suffix);
    std::ofstream(file) << f.content;
    std::string tool;
    if (config.backend == "nftables")
      tool = "nft";
    else if (config.backend == "iptables")
      tool = f.suffix == ".v6" ? "ip6tables-restore" : "iptables-restore";
    else {
      err = "no loader for backend '" + config.backend + "'";
      return false;
    }
    std::vector<std::string> argv{"ip", "netns", "exec", ns.name(0), tool};
    if (tool == "nft")
      argv.push_back("-f");
    else
      argv.push_back("--noflush"); // as docs/backends.md says to load it
    argv.push_back(file.string());
    if (run_command(argv, log) != 0) {
      err = tool + " rejected the " + config.backend + " config" + f.suffix + ":\n" +
            last_output(log);
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Connections opened before a reload: opened under the target's config, then policy B (no
// flows) is loaded over it and each connection sends once more in its original direction. B
// allows nothing, so that packet must be dropped; a ruleset that accepts every established
// packet first lets it through (issue 10 case 6).

bool wait_fd(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  int r;
  do
    r = ::poll(&p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  return r > 0 && (p.revents & events);
}

int reload_socket(const Namespaces& ns, int k, const IpAddr& a, uint16_t port, int type,
                  std::string& err) {
  int fd = socket_in(ns.fd(static_cast<size_t>(k)), domain_of(a),
                     type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = errno_text("socket");
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage ss;
  socklen_t len = to_sockaddr(a, port, ss);
  // The probes' sockets on the same port were closed a moment ago (and no spawned command
  // holds them: see CommandHelper); a little patience all the same.
  int rc = -1;
  for (int tries = 0; tries < 20; ++tries) {
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len);
    if (rc == 0 || errno != EADDRINUSE)
      break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  if (rc != 0) {
    err = errno_text("bind " + a.str() + " port " + std::to_string(port));
    ::close(fd);
    return -1;
  }
  return fd;
}

struct Conn {
  int client = -1, server = -1, listener = -1;
  bool open = false;
  std::string why;
  ~Conn() {
    for (int fd : {client, server, listener})
      if (fd >= 0) {
        linger l{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        ::close(fd);
      }
  }
};

void open_conn(const Namespaces& ns, const ProbeSpec& p, int timeout_ms, Conn& c) {
  const Packet& k = p.pkt;
  sockaddr_storage dst, src;
  socklen_t dlen = to_sockaddr(k.dst, k.dport, dst);
  socklen_t slen = to_sockaddr(k.src, k.sport, src);
  std::string err;
  if (k.proto == kProtoTcp) {
    c.listener = reload_socket(ns, p.dst_ns, k.dst, k.dport, SOCK_STREAM, err);
    if (c.listener < 0 || ::listen(c.listener, 8) != 0) {
      c.why = "listener: " + err;
      return;
    }
    c.client = reload_socket(ns, p.src_ns, k.src, k.sport, SOCK_STREAM, err);
    if (c.client < 0) {
      c.why = "client: " + err;
      return;
    }
    int rc = ::connect(c.client, reinterpret_cast<sockaddr*>(&dst), dlen);
    if (rc != 0 && errno != EINPROGRESS) {
      c.why = errno_text("connect");
      return;
    }
    int e = 0;
    socklen_t el = sizeof e;
    if (!wait_fd(c.client, POLLOUT, timeout_ms) ||
        ::getsockopt(c.client, SOL_SOCKET, SO_ERROR, &e, &el) != 0 || e != 0) {
      c.why = "the connection did not open under the first config";
      return;
    }
    if (wait_fd(c.listener, POLLIN, timeout_ms))
      c.server = ::accept4(c.listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c.server < 0) {
      c.why = "the listener never saw the connection";
      return;
    }
    c.open = true;
    return;
  }
  c.server = reload_socket(ns, p.dst_ns, k.dst, k.dport, SOCK_DGRAM, err);
  c.client = c.server < 0 ? -1 : reload_socket(ns, p.src_ns, k.src, k.sport, SOCK_DGRAM, err);
  if (c.client < 0) {
    c.why = "udp socket: " + err;
    return;
  }
  char msg[8] = {'P', 'T', 'L', 'A'};
  char buf[64];
  sockaddr_storage from;
  socklen_t flen = sizeof from;
  if (::sendto(c.client, msg, 4, 0, reinterpret_cast<sockaddr*>(&dst), dlen) < 0 ||
      !wait_fd(c.server, POLLIN, timeout_ms) ||
      ::recvfrom(c.server, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen) < 0 ||
      ::sendto(c.server, msg, 4, 0, reinterpret_cast<sockaddr*>(&src), slen) < 0 ||
      !wait_fd(c.client, POLLIN, timeout_ms) || ::recv(c.client, buf, sizeof buf, 0) < 0) {
    c.why = "the datagram and its answer did not both pass under the first config";
    return;
  }
  c.open = true;
}

/// After the reload: one more packet in the original direction; Allowed when it arrives.
Observation send_again(const ProbeSpec& p, Conn& c, int timeout_ms) {
  const Packet& k = p.pkt;
  char msg[4] = {'P', 'T', 'L', 'B'}, buf[64];
  if (k.proto == kProtoTcp) {
    if (::send(c.client, msg, 4, MSG_NOSIGNAL) < 0)
      return {errno == EPERM ? Outcome::Denied : Outcome::Error, errno_text("send"), false};
    // The first segment and a retransmission or two fit into the wait.
    if (wait_fd(c.server, POLLIN, timeout_ms) && ::recv(c.server, buf, sizeof buf, 0) > 0)
      return {Outcome::Allowed, "data of the old connection arrived after the reload", false};
    return {Outcome::Denied, "nothing arrived within " + std::to_string(timeout_ms) + " ms", false};
  }
  sockaddr_storage dst;
  socklen_t dlen = to_sockaddr(k.dst, k.dport, dst);
  if (::sendto(c.client, msg, 4, 0, reinterpret_cast<sockaddr*>(&dst), dlen) < 0)
    return {errno == EPERM ? Outcome::Denied : Outcome::Error, errno_text("sendto"), false};
  if (wait_fd(c.server, POLLIN, timeout_ms) && ::recv(c.server, buf, sizeof buf, 0) > 0)
    return {Outcome::Allowed, "a datagram of the old flow arrived after the reload", false};
  return {Outcome::Denied, "nothing arrived within " + std::to_string(timeout_ms) + " ms", false};
}

/// A command started through run_command whose child is held before its exec: its stdin is a
/// FIFO nobody writes to until this goes away (the spawned child blocks opening it). For the
/// retry check: while it is held, the sockets this process has open must not live on in it.
class HeldCommand {
public:
  HeldCommand(const fs::path& dir, const fs::path& log) : fifo_(dir / "held.fifo") {
    ::unlink(fifo_.c_str());
    if (::mkfifo(fifo_.c_str(), 0600) != 0)
      return;
    th_ = std::thread([this, log] { run_command({"true"}, log, 20000, fifo_); });
    // Long enough for the child to be cloned and blocked in its open(2) of the FIFO.
    std::this_thread::sleep_for(milliseconds(200));
  }
  HeldCommand(const HeldCommand&) = delete;
  HeldCommand& operator=(const HeldCommand&) = delete;
  ~HeldCommand() {
    if (!th_.joinable())
      return;
    // O_RDWR never blocks on a FIFO and lets the held open(2) complete.
    int fd = ::open(fifo_.c_str(), O_RDWR | O_CLOEXEC);
    th_.join();
    if (fd >= 0)
      ::close(fd);
    ::unlink(fifo_.c_str());
  }

private:
  fs::path fifo_;
  std::thread th_;
};

} // namespace

std::optional<std::string> start_command_helper() {
  CommandHelper& h = command_helper();
  if (h.pid >= 0)
    return std::nullopt;
  std::vector<int> ours, theirs;
  auto close_all = [&] {
    for (int fd : ours)
      ::close(fd);
    for (int fd : theirs)
      ::close(fd);
  };
  for (size_t k = 0; k < kHelperChannels; ++k) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
      std::string why = errno_text("socketpair");
      close_all();
      return why;
    }
    ours.push_back(sv[0]);
    theirs.push_back(sv[1]);
  }
  std::fflush(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    std::string why = errno_text("fork");
    close_all();
    return why;
  }
  if (pid == 0) {
    for (int fd : ours)
      ::close(fd);
    helper_main(theirs, parent);
  }
  for (int fd : theirs)
    ::close(fd);
  std::lock_guard<std::mutex> lock(h.mu);
  h.idle = ours;
  h.pid = pid;
  return std::nullopt;
}

void request_stop() {
  g_stop = true;
}

bool stop_requested() {
  return g_stop;
}

WorldResult run_world(const WorldPlan& plan, const Config& config, const std::string& id,
                      const RunOptions& opt) {
  auto t0 = Clock::now();
  WorldResult res;
  res.obs.resize(plan.probes.size());
  if (home_netns() < 0) {
    res.error = errno_text("open /proc/thread-self/ns/net");
    return res;
  }
  fs::path dir = opt.scratch / id;
  std::error_code ec;
  fs::create_directories(dir, ec);
  struct DirGuard {
    fs::path p;
    ~DirGuard() {
      std::error_code e;
      fs::remove_all(p, e);
    }
  } guard{dir};
  fs::path log = dir / "commands.log";
  std::vector<std::string> names;
  for (size_t k = 0; k < plan.ns.size(); ++k)
    names.push_back(opt.prefix + "-" + id + "-n" + std::to_string(k));
  {
    Namespaces ns(names, dir, log);
    std::string err;
    if (!ns.create(err) || !build(plan, ns, dir, log, err)) {
      res.error = "building the world: " + err;
    } else if (!load(config, ns, dir, log, err)) {
      res.error = err;
    } else if (!g_stop) {
      Prober prober(ns, plan, res.obs);
      std::vector<size_t> all;
      for (size_t i = 0; i < plan.probes.size(); ++i)
        all.push_back(i);
      // The retry check: a command of this process is held before its exec while the first
      // round's sockets are open (as any command another world runs at that moment may be), and
      // every probe the engine allows is sent again, as a retry would send it.
      std::optional<HeldCommand> held;
      prober.run(all, opt.timeout_ms, [&] {
        if (opt.retry_check)
          held.emplace(dir, log);
      });
      // A probe the engine allows that timed out (or whose answer did) gets one slower second
      // chance, so a loaded machine cannot fail the run; a real drop drops again.
      std::vector<size_t> again;
      for (size_t i : all)
        if (opt.retry && plan.probes[i].expect_allow &&
            (opt.retry_check || res.obs[i].outcome == Outcome::Denied ||
             res.obs[i].outcome == Outcome::HalfOpen))
          again.push_back(i);
      for (size_t i : again)
        res.obs[i].retried = true;
      if (!again.empty() && !g_stop)
        prober.run(again, opt.retry_timeout_ms);
      held.reset();
      if (!plan.reload.empty() && !config.reload_files.empty() && !g_stop) {
        res.reload_obs.resize(plan.reload.size());
        std::vector<std::unique_ptr<Conn>> conns;
        for (const ProbeSpec& p : plan.reload) {
          conns.push_back(std::make_unique<Conn>());
          open_conn(ns, p, opt.retry_timeout_ms, *conns.back());
        }
        Config b{config.backend, config.reload_files, {}};
        if (!load(b, ns, dir, log, err)) {
          res.error = "loading policy B (reload): " + err;
        } else {
          for (size_t j = 0; j < plan.reload.size(); ++j)
            res.reload_obs[j] = conns[j]->open
                                    ? send_again(plan.reload[j], *conns[j], opt.timeout_ms)
                                    : Observation{Outcome::Error, conns[j]->why, false};
        }
      }
    }
    res.stopped = g_stop;
  }
  res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return res;
}

std::optional<std::string> kernel_unavailable(const RunOptions& opt) {
  if (::geteuid() != 0)
    return "not running as root (network namespaces, nft and iptables need CAP_NET_ADMIN)";
  for (const char* tool : {"ip", "nft", "iptables-restore", "ip6tables-restore"}) {
    bool found = false;
    std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/sbin:/usr/bin:/sbin:/bin";
    std::stringstream ss(path);
    for (std::string d; std::getline(ss, d, ':');)
      found = found || ::access((fs::path(d) / tool).c_str(), X_OK) == 0;
    if (!found)
      return std::string("'") + tool + "' is not installed (iproute2, nftables, iptables)";
  }
  fs::path dir = opt.scratch / "check";
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::string err;
  std::optional<std::string> why;
  {
    Namespaces ns({opt.prefix + "-check"}, dir, dir / "commands.log");
    if (!ns.create(err)) {
      why = "'ip netns add' failed: " + err;
    } else {
      int fd = socket_in(ns.fd(0), AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (fd < 0)
        why = errno_text("cannot enter a network namespace (setns)");
      else
        ::close(fd);
    }
  }
  fs::remove_all(dir, ec);
  return why;
}

} // namespace portolan::kernel
