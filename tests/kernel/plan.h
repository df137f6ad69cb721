// The probe plan of one kernel test world: which network namespaces exist, which addresses each
// one holds, and which probes to send between them, each with the verdict the packet-space engine
// (the driver's compile_target(...).expected) gives it. Pure computation: nothing here touches
// the kernel.
#pragma once

#include "bind.h"
#include "packetspace.h"
#include "semantics.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace portolan::kernel {

/// One namespace of a world. Namespace 0 enforces the target: the router of a perimeter target,
/// the host role's own namespace for a host target. The others hold role endpoints.
struct NsSpec {
  std::string label;         ///< "router", or the role it stands for ("srv", "r3")
  std::vector<IpAddr> addrs; ///< probe addresses it owns, each in exactly one namespace
};

/// One probe: a concrete packet that opens a connection, where it is sent from and to, the chain
/// of the enforcing namespace it crosses, and the engine's verdict.
struct ProbeSpec {
  Packet pkt; ///< exactly what is sent; icmp: sport = type, dport = code (engine convention)
  int src_ns = 0, dst_ns = 0;
  Chain chain = Chain::Forward;
  bool expect_allow = false;
  std::string kind; ///< why it is probed: "edge", "port-neighbour", "reverse", ...
  std::string flow; ///< the flow it was derived from ("f3: r1 -> srv.a via s2 (reverse)")
  /// False when the kernel's verdict does not depend on the target's rules: conntrack marks
  /// the packet invalid (see conntrack_invalid), or the host's neighbour-discovery plumbing
  /// accepts it. The self-check's broken configs cannot flip such a probe, so it skips them.
  bool rules_decide = true;
};

struct WorldPlan {
  bool host_target = false;
  std::vector<NsSpec> ns;
  std::vector<ProbeSpec> probes;
  /// Connections opened under the target's own config (they must pass: expect_allow is the
  /// engine's verdict under it), then sent on again in their original direction after the
  /// policy-B config (no flows at all) is loaded over it: the engine says B allows nothing, so
  /// the kernel must drop those packets (issue 10 case 6).
  std::vector<ProbeSpec> reload;
  size_t candidates = 0;  ///< probes before sampling
  size_t unprobeable = 0; ///< service specs no probe can send (none since raw probes exist)
  /// Candidates not probed: IPv4 protocol 0 to the host target itself (Linux has no raw socket
  /// to receive it; still probed on the forward and output paths), DCCP (33) and UDP-Lite (136),
  /// whose conntrack trackers drop the harness's packets as malformed (a known gap).
  size_t unobservable = 0;
};

struct PlanOptions {
  size_t max_probes = 0; ///< 0: every candidate
  uint64_t sample_seed = 0;
  size_t reload_probes = 4; ///< connections opened before a reload (0: no reload phase)
  bool nd_plumbing = false; ///< the target's rule set accepts IPv6 ND (host targets)
};

/// How a probe's packet is sent and observed: TCP connect, UDP exchange, ping socket (ICMP echo
/// request), or a raw IP packet built byte by byte (any other protocol or ICMP type) that counts
/// as passed when it arrives in the destination namespace.
enum class ProbeWay { Tcp, Udp, Ping, Raw };
ProbeWay probe_way(const Packet& p);

/// The class a probe's packet belongs to, for the summary: "tcp", "udp", "icmp-echo",
/// "icmp-error", "icmp-other", "icmpv6-...", "proto-47", ... (family-tagged).
std::string probe_class(const Packet& p);

/// ICMP error messages (they carry an embedded header): ICMP 3, 4, 5, 11, 12; ICMPv6 1-4.
bool icmp_error_type(uint8_t proto, int type);

/// Whether Linux conntrack gives the packet no connection ("ct state invalid", which every
/// generated config drops before its allows): an ICMP message that cannot start a connection
/// (nf_conntrack_proto_icmp.c accepts only echo, timestamp, info and address-mask requests;
/// nf_conntrack_proto_icmpv6.c only echo and node-information requests, and leaves neighbour
/// discovery and MLD untracked), ICMP errors without a connection they relate to, IPv4 packets
/// of protocol 58 and IPv6 packets of protocol 1 (the ICMP trackers refuse the other family),
/// and an IPv6 extension header chain that ends without a transport header (or IPv6 "no next
/// header", 59).
bool conntrack_invalid(const Packet& p);

/// IPv6 extension headers: a packet whose first next-header is one of these is built as that
/// header followed by "no next header" (59).
bool ipv6_ext_header(uint8_t proto);

/// Plans a world for one target of a loaded policy. nullopt (with the reason) when the target
/// cannot be probed (unknown environment, no namespace room).
/// `expected` is what the policy lets the target allow (the driver's compile_target).
std::optional<WorldPlan> plan_world(const LowerContext& ctx, const Target& target,
                                    const TargetPackets& expected, const PlanOptions& opt,
                                    std::string& why_not);

/// The transfer networks the harness uses between namespaces; bound prefixes inside them (and
/// other addresses no host can use) are never probed.
bool usable_probe_address(const IpAddr& a);

} // namespace portolan::kernel
