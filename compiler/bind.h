// Binding: what a target enforces in its environment — which flows are in force, which
// directions land in which chain, and which addresses each endpoint has. Shared by lowering,
// the checks and the reference semantics.
#pragma once

#include "diagnostic.h"
#include "manifest.h"
#include "model.h"
#include "net.h"
#include "vocab.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace portolan {

struct LowerContext {
  const Policy& policy;
  const Manifest& manifest;
  const SourceManager& sm;
  std::optional<Date> today_override; ///< --today
  /// flow_ids(policy), computed once by the caller that lowers many targets; null: computed
  /// by each lower_target.
  const std::vector<std::string>* flow_ids = nullptr;
};

/// Whether a flow is in force in `env`: its feature is on and it has not expired.
/// Reports expired flows (warning) and undecidable expiry (error) to `diags`.
bool flow_active(const Flow& f, const Environment& env, const std::optional<Date>& today,
                 Diagnostics* diags);

/// The file:line a flow is traced to in generated configs (path relative to the manifest).
std::string trace_of(const LowerContext& ctx, const SourceLoc& loc);

/// Every flow's identity in generated configs, by index into `p.flows`: "f" and the name_hash
/// of the flow's summary ("access: client -> edge.access via sip_tls"), and of "summary #N" for
/// its N-th repetition (N >= 2, policy order). Neither line numbers nor other flows enter it
/// (except a repeated summary, or the rare hash collision, resolved the same way), so inserting
/// or moving a flow leaves every other flow's id as it was.
std::vector<std::string> flow_ids(const Policy& p);

/// The addresses bound to an endpoint in one environment.
struct BoundAddrs {
  bool any = false;
  std::vector<Prefix> v4, v6; ///< sorted, unique
};

/// Addresses of an endpoint: an interface's own binding, else its role's; a whole role is the
/// union of the role's and all its interfaces' bindings. nullopt: nothing is bound.
std::optional<BoundAddrs> bind_endpoint(const Policy& p, const Environment& env, const Endpoint& e);

/// bind_endpoint, computed once per endpoint of one environment: lowering, the target views
/// and the checks ask for the same endpoints once per flow.
class BindCache {
public:
  BindCache(const Policy& p, const Environment& env)
      : policy_(p), env_(env), slots_(p.endpoint_count()) {}
  const std::optional<BoundAddrs>& operator()(const Endpoint& e);

private:
  const Policy& policy_;
  const Environment& env_;
  std::vector<std::optional<std::optional<BoundAddrs>>> slots_;
  std::map<std::string, std::optional<BoundAddrs>> by_name_; ///< unresolved endpoints (tests)
};

/// One direction of one active flow that a target enforces, and the chains it lands in.
struct Term {
  size_t flow = 0;
  const Endpoint* src = nullptr;
  const Endpoint* dst = nullptr;
  bool reverse = false;
  std::vector<Chain> chains;
  /// Set: the direction as a node of this VIP sees it after the load balancer (to the node from
  /// the client or the balancer, or from the node), not as the flow writes it.
  const Role* vip = nullptr;
  const Endpoint* vip_side = nullptr; ///< vip set: the VIP endpoint as the flow writes it
  /// The internal leg of a port mapping (`maps to`): src -> the mapping's endpoint on the
  /// mapped port, as the targets behind the translating perimeter see it. The front half
  /// (src -> dst via the published service) is the flow's ordinary term.
  bool mapped = false;
};

/// The service specs a term's packets are made of: the flow's services, or for the internal leg
/// of a port mapping its one mapped port.
std::vector<ServiceSpec> term_specs(const Policy& p, const Term& t);

/// The directions of a flow a node's host firewall sees when `t` (as written) goes to or from
/// a VIP that balances to one of `target`'s roles: to each node endpoint of it from the client
/// (keeps-source) or from the balancer's address (snat), and from the node to the peer. A deny
/// toward a snat VIP gives the node nothing: the client's address is gone when the packet
/// reaches it, so the deny is the VIP's hops' to enforce. Appended to `out`, chains set.
void balanced_terms(const Policy& p, const Target& target, const Term& t, std::vector<Term>& out);

/// The IP families a term may carry beyond its endpoints' own: a balanced term keeps the VIP's
/// families, except toward nodes behind a translating balancer (which may take IPv6 in and
/// hand IPv4 on). {v4, v6}; both true for a term as written.
std::pair<bool, bool> term_families(const Term& t, BindCache& bound);

/// The VIP role an endpoint names (nullptr: not a VIP).
const Role* vip_of(const Policy& p, const Endpoint& e);
/// A host target's machine as one endpoint: its role, or the list of its roles.
Endpoint host_endpoint(const Policy& p, const Target& t);

/// Whether traffic from zone `zs` to zone `zd` crosses a perimeter target (its two zones, in
/// either direction). Shared by the flow selection and `query`.
bool crosses(const Target& target, const std::string& zs, const std::string& zd);
/// The same for two single endpoints, where `any` is on both sides of every perimeter.
bool crosses(const Policy& p, const Target& target, const Endpoint& s, const Endpoint& d);

class EnvPackets; // semantics.h

/// The flow selection every target shares: active flows (feature on, not expired), each
/// direction, kept where the target enforces it (host: to or from the role; perimeter: crossing
/// its two zones). Policy order. Expiry findings go to `diags` when given. The packet sets it
/// needs (a deny joins the chains its packets meet) come from `packets`, which must be of `env`,
/// when given: the targets of one environment then compute each flow's packets once.
std::vector<Term> enforced_terms(const LowerContext& ctx, const Target& target,
                                 const Environment& env, Diagnostics* diags,
                                 EnvPackets* packets = nullptr);

} // namespace portolan
