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

/// The answer as `portolan query` prints it.
void print_query(std::ostream& out, const Policy& p, const SourceManager& sm,
                 const std::string& env, const Packet& pkt,
                 const std::vector<QueryVerdict>& verdicts,
                 const std::optional<QueryNat>& nat = std::nullopt);

} // namespace portolan
