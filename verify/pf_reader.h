// Reads back the pf.conf subset the pf backend writes and says which packets it lets open a
// connection, with pf's own evaluation rules (last matching rule wins, `quick` stops at the
// first, no match passes), so round-trip tests compare the text itself with the policy.
#pragma once

#include "reader_common.h"

#include <string_view>

namespace portolan::roundtrip {

struct PfRead {
  /// Packets that may open a connection. Forward is what passes both the inbound and the
  /// outbound evaluation of a routed packet; Input and Output are present only when no rule
  /// mentions `self` (whose addresses the text does not give).
  ChainPackets allowed;
  int rules = 0;          ///< filter rules read, the fixed ones included
  int nd_rules = 0;       ///< IPv6 neighbour-discovery passes (left out of Input and Output)
  int loopback_rules = 0; ///< `pass ... on lo`
  int tables = 0;
  /// Translations (pf.conf(5), OpenBSD): `match in ... rdr-to` (destination) and `nat-to` on a
  /// pass out rule (source, for the connections that rule passes).
  std::vector<ReadNat> nat;
};

/// A pass of IPv6 router and neighbour discovery (ICMPv6 133-136 between any addresses) is
/// infrastructure, not policy: the expected packets does not describe the host's own ND, so the
/// reader leaves such rules out of Input and Output. It still evaluates them for forwarded
/// packets, where the policy allows no ND: a rule that forwards ND is a mismatch.

/// The fixed IPv6 neighbour-discovery rule of host targets.
inline constexpr std::string_view kPfNdRule =
    "pass quick inet6 proto icmp6 icmp6-type { 133, 134, 135, 136 } no state";

/// Throws ReadError ("line N: why") on anything outside the emitted subset.
PfRead read_pf(std::string_view text);

} // namespace portolan::roundtrip
