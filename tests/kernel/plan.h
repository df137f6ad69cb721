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
};

struct WorldPlan {
  bool host_target = false;
  std::vector<NsSpec> ns;
  std::vector<ProbeSpec> probes;
  size_t candidates = 0;  ///< probes before sampling
  size_t unprobeable = 0; ///< service specs no socket probe can send (icmp type 3, proto 47)
};

struct PlanOptions {
  size_t max_probes = 0; ///< 0: every candidate
  uint64_t sample_seed = 0;
};

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
