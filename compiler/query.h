// `portolan query`: which flow decides a packet, in each target of an environment that sees
// it. Built on binding (which addresses each endpoint has, which zones a perimeter crosses)
// and on the targets' views (the same packet sets the checks use).
#pragma once

#include "packetspace.h"
#include "semantics.h"

#include <functional>
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
  // With a decider: the direction and the service of the flow that match the packet (the first
  // in the flow's order: as written, then the reverse of a two-way flow; services in order).
  const Endpoint* from = nullptr; ///< the flow's end the packet comes from
  const Endpoint* to = nullptr;   ///< the end it goes to
  bool reverse = false;           ///< `from` is the flow's destination (a two-way flow)
  const ServiceRef* service = nullptr;
  std::optional<BoundAddrs> from_bound, to_bound; ///< both ends' addresses in the environment
  /// Set by mark_conntrack: the target's conntrack drops the packet before any rule (the
  /// verdict is deny, whatever `decider` says); the reason, from conntrack_drop().
  const char* conntrack = nullptr;
};

/// How a target's backend runs Linux conntrack before its rules (BackendSpec's `conntrack`).
enum class Conntrack { None, Tracks, TracksOwnIcmpOnly };

/// Marks the verdicts whose target's conntrack drops the packet (conntrack_drop()).
void mark_conntrack(std::vector<QueryVerdict>& verdicts, const Packet& pkt,
                    const std::function<Conntrack(const Target&)>& tracks);

/// What `--exit-code` reports over all verdicts: allow when at least one target sees the packet
/// and every (target, chain) that sees it allows it; deny when any denies it; unseen when none.
enum class QueryOutcome { Allow, Deny, Unseen };
QueryOutcome query_outcome(const std::vector<QueryVerdict>& verdicts);

/// The verdicts of every view (targets of one environment `env`) that sees `pkt`: a host target
/// sees packets to (input) or from (output) its role's addresses, a perimeter target packets
/// between addresses bound in its two zones. The first deciding flow wins (denies come first).
std::vector<QueryVerdict> query(const Policy& p, const Environment& env,
                                const std::vector<TargetView>& views, const Packet& pkt);

struct QueryNat;
/// The same for a packet translated on its way (query_nat): each view judges the packet as it
/// sees it.
std::vector<QueryVerdict> query(const Policy& p, const Environment& env,
                                const std::vector<TargetView>& views, const Packet& sent,
                                const QueryNat& nat);

/// A packet translated on its way (NAT at perimeter targets of the environment): what the
/// filters judge instead (destination translated: the perimeter's filter runs after destination
/// NAT and before source NAT, and the hosts behind it see the real address), and the lines that
/// say so, with the source the packet leaves with.
struct QueryNat {
  Packet judged;
  std::vector<std::string> lines;
  /// A port mapping translated it: the perimeters that translate it (`by`) judge the packet
  /// as sent, on the published side the mapping flow names; every other target the translated.
  bool mapping = false;
  std::vector<const Target*> by;
};
/// The translation of `pkt` by the first of `targets` that translates it (every target that
/// translates it the same way is named); nullopt when none does.
std::optional<QueryNat> query_nat(const LowerContext& ctx, const Environment& env,
                                  const std::vector<const Target*>& targets, const Packet& pkt);

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
                 const std::vector<BalancedHop>& balanced = {},
                 const std::optional<QueryNat>& nat = std::nullopt);

/// The answer as `portolan query --format json` prints it (the schema is in docs/ci.md, "Query
/// for machines"): the packet as parsed, the outcome, and per (target, chain) the verdict with
/// the deciding flow, its file:line, the matching direction, service and bound prefixes.
void print_query_json(std::ostream& out, const Policy& p, const SourceManager& sm,
                      const std::string& env, const Packet& pkt,
                      const std::vector<QueryVerdict>& verdicts);

} // namespace portolan
