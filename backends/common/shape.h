// Rule shapes no policy can produce, so no backend has a faithful way to print them.
#pragma once

#include "lower/ruleset.h"

#include <string>

namespace portolan {

/// Why an L4 match is malformed (a reversed range, ports or ICMP fields on a protocol that has
/// none, an ICMP code without a type); "" when it is well formed. Backends refuse such rules
/// as unrealizable rather than guess what was meant.
std::string malformed_l4(const L4Match& m);

/// IPv6 headers Linux steps over to find the transport protocol (ipv6_find_hdr: hop-by-hop 0,
/// routing 43, fragment 44, AH 51, destination options 60): nft's `meta l4proto` and
/// ip6tables' `-p` never see them, so a rule cannot match them in IPv6.
inline bool ipv6_walked(uint8_t proto) {
  return proto == 0 || proto == 43 || proto == 44 || proto == 51 || proto == 60;
}

} // namespace portolan
