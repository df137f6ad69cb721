#include "net.h"

#include <arpa/inet.h>

#include <charconv>

namespace portolan {

std::string IpAddr::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == Family::V4)
    inet_ntop(AF_INET, bytes.data(), buf, sizeof buf);
  else
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

std::string Prefix::str() const {
  return is_host() ? addr.str() : str_with_len();
}

std::string Prefix::str_with_len() const {
  return addr.str() + "/" + std::to_string(len);
}

bool Prefix::contains(const IpAddr& a) const {
  if (a.family != addr.family)
    return false;
  int full = len / 8;
  for (int i = 0; i < full; ++i)
    if (a.bytes[i] != addr.bytes[i])
      return false;
  int rest = len % 8;
  if (rest == 0)
    return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a.bytes[full] & mask) == (addr.bytes[full] & mask);
}

IpAddr Prefix::last() const {
  IpAddr out = addr;
  for (int i = len; i < addr.bits(); ++i)
    out.bytes[i / 8] |= static_cast<uint8_t>(1u << (7 - i % 8));
  return out;
}

std::optional<IpAddr> parse_ip(std::string_view text) {
  std::string s(text);
  IpAddr a;
  if (s.find(':') == std::string::npos) {
    a.family = Family::V4;
    if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1)
      return a;
    return std::nullopt;
  }
  a.family = Family::V6;
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1)
    return a;
  return std::nullopt;
}

PrefixParse parse_prefix(std::string_view text) {
  PrefixParse out;
  auto slash = text.find('/');
  auto ip = parse_ip(text.substr(0, slash));
  if (!ip) {
    out.error = "'" + std::string(text.substr(0, slash)) + "' is not an IPv4 or IPv6 address";
    return out;
  }
  int len = ip->bits();
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || len < 0 ||
        len > ip->bits()) {
      out.error = "'" + std::string(digits) + "' is not a prefix length for " +
                  (ip->family == Family::V4 ? "IPv4 (0-32)" : "IPv6 (0-128)");
      return out;
    }
  }
  Prefix p{*ip, static_cast<uint8_t>(len)};
  Prefix masked = p;
  for (int i = len; i < ip->bits(); ++i)
    masked.addr.bytes[i / 8] &= static_cast<uint8_t>(~(1u << (7 - i % 8)));
  if (masked.addr != p.addr) {
    out.error = "'" + std::string(text) + "' has host bits set; the network is " + masked.str();
    return out;
  }
  out.prefix = p;
  return out;
}

} // namespace portolan
