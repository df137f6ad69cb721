// `portolan query`: which flow decides a packet, in each target of an environment that sees
// it. Built on binding (which addresses each endpoint has, which zones a perimeter crosses)
// and on the targets' views (the same packet sets the checks use).
#pragma once

#include "packetspace.h"
#include "semantics.h"

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace portolan {

/// Parses tcp/443, udp/53, icmp/8/0, icmpv6/128, proto/47 into protocol, dport and (ICMP) type
/// and code; the addresses and source port of `p` are kept. nullopt when it is none of these.
std::optional<Packet> parse_packet_spec(const std::string& spec, Packet p);

/// One target's verdict in one chain that sees the packet.
struct QueryVerdict {
  const Target* target = nullptr;
  Chain chain = Chain::Forward;
  const FlowPackets* decider = nullptr; ///< nullptr: the default deny
};

/// The verdicts of every view (targets of one environment `env`) that sees `pkt`: a host target
/// sees packets to (input) or from (output) its role's addresses, a perimeter target packets
/// between addresses bound in its two zones. The first deciding flow wins (denies come first).
std::vector<QueryVerdict> query(const Policy& p, const Environment& env,
                                const std::vector<TargetView>& views, const Packet& pkt);

/// The packet after a load balancer: a packet to a VIP's address, as the balancer hands it to
/// one address of one node (source kept, or translated to the balancer's address), with the
/// verdicts of the node's host firewalls (input) on it.
struct BalancedHop {
  const Role* vip = nullptr;
  const Endpoint* node = nullptr;
  std::optional<Packet> pkt; ///< nullopt: the node (or the balancer) has no address of the family
  std::vector<QueryVerdict> verdicts;
};

/// Follows `pkt` through every VIP whose address it is sent to, to each address of each node.
std::vector<BalancedHop> query_balanced(const Policy& p, const Environment& env,
                                        const std::vector<TargetView>& views, const Packet& pkt);

/// The answer as `portolan query` prints it.
void print_query(std::ostream& out, const Policy& p, const SourceManager& sm,
                 const std::string& env, const Packet& pkt,
                 const std::vector<QueryVerdict>& verdicts,
                 const std::vector<BalancedHop>& balanced = {});

} // namespace portolan
