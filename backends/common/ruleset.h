// The vendor-neutral rule model between the checked policy and vendor text. Lowering
// (lower.cpp) decides what is allowed; each backend only prints a RuleSet.
#pragma once

#include "bind.h"
#include "manifest.h"
#include "model.h"
#include "net.h"

#include <optional>
#include <string>
#include <vector>

namespace portolan {

/// The addresses of one endpoint in one environment, named for vendors that use named sets.
struct AddrSet {
  std::string name;     ///< unique by construction, [a-z0-9_-] (see set_name in lower.cpp)
  std::string endpoint; ///< "edge.access"
  std::vector<Prefix> v4, v6;
};

/// One side of a rule: any address, or a named set.
struct AddrRef {
  int set = -1; ///< -1: any address
  bool any() const { return set < 0; }
};

/// What a rule matches above IP. proto nullopt: every protocol.
struct L4Match {
  std::optional<uint8_t> proto;
  std::vector<PortRange> dports, sports; ///< empty: all (tcp/udp only)
  std::optional<uint8_t> icmp_type, icmp_code;
  std::string service; ///< the policy's service name, for comments
};

/// One directional, single-service rule.
struct Rule {
  Chain chain = Chain::Forward;
  Action action = Action::Allow;
  AddrRef src, dst;
  bool v4 = true, v6 = true; ///< families the rule can match
  L4Match l4;
  size_t flow = 0;      ///< index into Policy::flows
  bool reverse = false; ///< the second direction of a two-way flow
  std::string trace;    ///< "lync2013-public-im.policy:22"
};

/// Everything a backend needs to print one target.
struct RuleSet {
  const Policy* policy = nullptr;
  const Target* target = nullptr;
  std::string env;
  std::vector<std::string> header; ///< descriptive comment lines (already plain text)
  std::vector<AddrSet> sets;
  std::vector<Rule> rules;   ///< evaluation order: every deny before every allow
  std::vector<Chain> chains; ///< the chains this target governs (default drop)
  bool loopback = false;     ///< host targets: accept loopback traffic
  bool icmpv6_nd = false;    ///< host targets: accept IPv6 neighbour discovery
  bool has_v4 = false, has_v6 = false;
};

} // namespace portolan
