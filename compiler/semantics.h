// What a target allows, computed from the policy with the packet-space engine: the reference
// that every backend's output is compared with (round-trip tests, kernel probes). It shares the
// flow selection with lowering but never looks at a RuleSet or at vendor text.
#pragma once

#include "bind.h"
#include "packetspace.h"

#include <map>

namespace portolan {

/// Packets a target lets open a connection, per chain (input/output/forward). A packet is
/// allowed when an allow flow matches it and no deny flow does; replies are implied by state.
struct TargetPackets {
  std::map<Chain, PacketSet> allowed;
  const PacketSet& of(Chain c) const;
};

TargetPackets expected_packets(const LowerContext& ctx, const Target& target);

/// The packets of one service spec between two bound endpoints (empty where families differ;
/// icmp is IPv4-only and icmpv6 IPv6-only, as every backend lowers them).
PacketSet spec_packets(const BoundAddrs& src, const BoundAddrs& dst, const ServiceSpec& spec);

} // namespace portolan
