// Addresses and prefixes, shared by the manifest, the analysis engine and the backends.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portolan {

enum class Family : uint8_t { V4 = 4, V6 = 6 };

/// An IPv4 or IPv6 address. IPv4 is kept in the first 4 bytes so one type serves both families
/// and ordering is total (all IPv4 before all IPv6).
struct IpAddr {
  Family family = Family::V4;
  std::array<uint8_t, 16> bytes{};

  /// Number of address bits for the family (32 or 128).
  int bits() const { return family == Family::V4 ? 32 : 128; }
  int bit(int i) const { return (bytes[i / 8] >> (7 - i % 8)) & 1; }
  std::string str() const;
  auto operator<=>(const IpAddr&) const = default;
};

/// A prefix: `addr/len`, with host bits zero (parse rejects prefixes with host bits set).
struct Prefix {
  IpAddr addr;
  uint8_t len = 0;

  Family family() const { return addr.family; }
  bool is_host() const { return len == addr.bits(); }
  /// Canonical text: host prefixes print without "/len".
  std::string str() const;
  /// The same text but always with "/len" (some vendors want it).
  std::string str_with_len() const;
  bool contains(const IpAddr& a) const;
  bool contains(const Prefix& p) const { return p.len >= len && contains(p.addr); }
  /// First and last address of the prefix.
  IpAddr first() const { return addr; }
  IpAddr last() const;
  auto operator<=>(const Prefix&) const = default;
};

/// Parses a literal IPv4/IPv6 address.
std::optional<IpAddr> parse_ip(std::string_view text);

/// Result of parsing a prefix: either a prefix or a human-readable reason it is invalid.
struct PrefixParse {
  std::optional<Prefix> prefix;
  std::string error;
};

/// Parses "a.b.c.d", "a.b.c.d/n", "x::y", "x::y/n". Host bits must be zero.
PrefixParse parse_prefix(std::string_view text);

} // namespace portolan
