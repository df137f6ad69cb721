// What a target allows, computed from the policy with the packet-space engine: the reference
// that every backend's output is compared with (round-trip tests, kernel probes), and the
// per-flow packet sets the checks analyse. It shares the flow selection with lowering (bind.h)
// but never looks at a RuleSet or at vendor text.
#pragma once

#include "bind.h"
#include "packetspace.h"

#include <deque>
#include <map>
#include <tuple>

namespace portolan {

/// One flow as a target sees it in one chain: the packets it decides.
struct FlowPackets {
  size_t flow = 0;
  Action action = Action::Allow;
  PacketSet packets;
};

/// A target with its flows bound: per chain, in evaluation order (denies, then allows).
struct TargetView {
  const Target* target = nullptr;
  const Environment* env = nullptr;
  std::map<Chain, std::vector<FlowPackets>> chains;
  std::vector<size_t> enforced; ///< every flow the target enforces (its terms), in policy order
};

/// Packets a target lets open a connection, per chain (input/output/forward). A packet is
/// allowed when an allow flow matches it and no deny flow does; replies are implied by state.
struct TargetPackets {
  std::map<Chain, PacketSet> allowed;
  const PacketSet& of(Chain c) const;
};

/// The packets of one service spec between two bound endpoints (empty where families differ;
/// icmp is IPv4-only and icmpv6 IPv6-only, as every backend lowers them).
PacketSet spec_packets(const BoundAddrs& src, const BoundAddrs& dst, const ServiceSpec& spec);

/// The packets of one direction of a flow: every spec of every service, between two bound
/// endpoints. The one "flow -> packet set" function.
PacketSet flow_packets(const Policy& p, const Flow& f, const BoundAddrs& src,
                       const BoundAddrs& dst);

/// The packets of each direction of each flow in one environment (flow_packets between its bound
/// endpoints), computed on first need and kept, with the endpoints' addresses: every target of
/// the environment (bind, lower, view) shares them instead of computing them again.
class EnvPackets {
public:
  EnvPackets(const Policy& p, const Environment& env) : policy_(p), env_(env), bound_(p, env) {}
  const Environment& env() const { return env_; }
  BindCache& bound() { return bound_; }
  /// The packets of one direction of a flow; nullptr when an endpoint is unbound.
  const PacketSet* of(const Term& t);

private:
  const Policy& policy_;
  const Environment& env_;
  BindCache bound_;
  /// By flow, direction, the term's two endpoints, its VIP and whether it is a port mapping's
  /// internal leg: a flow with a group or a list has one term per pair of members, a balanced
  /// leg (a node's endpoint in place of the VIP's, its families restricted) is another term, and
  /// so is a mapped leg (its one mapped port), each with its own packets. A short list per
  /// flow, by flow index: an ordered map of these keys cost a walk of cache misses per lookup
  /// past 100,000 flows. 64 bytes a slot: the key (src to mapped) with the link and the flags
  /// in its padding, and the set, which the target views share (packetspace.h, BoxList).
  struct Slot {
    const Endpoint* src = nullptr;
    const Endpoint* dst = nullptr;
    const Role* vip = nullptr;
    int32_t next = -1; ///< the flow's next slot
    bool reverse = false;
    bool mapped = false;
    bool done = false;
    bool bound = false;
    PacketSet set;
    bool is(const Term& t) const {
      return src == t.src && dst == t.dst && vip == t.vip && reverse == t.reverse &&
             mapped == t.mapped;
    }
  };
  static_assert(sizeof(Slot) <= 64);
  std::vector<int32_t> head_; ///< by flow: its first slot, -1 when none
  std::deque<Slot> slots_;    ///< stable: callers keep pointers to the sets
};

/// The view of one target from its enforced terms (bind.h): per chain, each flow's packets
/// (the union of its directions and services), denies first, then allows, in policy order.
/// Terms with an unbound endpoint allow nothing (lowering reports them).
TargetView target_view(const Policy& p, const Target& t, const Environment& env,
                       const std::vector<Term>& terms, EnvPackets& packets);

/// What the view lets through: per chain, the allow flows' packets minus the deny flows'.
TargetPackets allowed_packets(const TargetView& v);

/// Why a config that drops what Linux conntrack marks invalid before its allows (every nftables
/// and iptables config; docs/backends.md) never lets `p` reach a rule, whatever the policy
/// says; nullptr when it does. Judged in the kernel by tests/kernel: an IPv6 extension header
/// (0, 43, 44, 51, 60) or "no next header" (59) as the packet's protocol, where the kernel
/// finds no transport; with `own_icmp_only` (the drop exempts only the family's own ICMP:
/// iptables) also the other family's ICMP number (IPv4 protocol 58, IPv6 protocol 1).
const char* conntrack_drop(const Packet& p, bool own_icmp_only);

} // namespace portolan
