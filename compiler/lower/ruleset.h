// The vendor-neutral rule model between the checked policy and vendor text. Lowering
// (lower.cpp) decides what is allowed; each backend only prints a RuleSet. A RuleSet stands on
// its own: it carries the target's identity, scope, zones and validated options, and for every
// rule where it comes from, so printers never look at the policy model or the packet engine.
#pragma once

#include "net.h"
#include "source.h"
#include "vocab.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace portolan {

/// The addresses of one endpoint in one environment, named for vendors that use named sets.
struct AddrSet {
  std::string name;     ///< unique within the rule set, [a-z0-9_]
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

/// Where a rule comes from: the flow, as lowering saw it.
struct RuleOrigin {
  size_t flow = 0;      ///< index into the policy's flows (stable identity, for grouping)
  SourceLoc loc;        ///< the flow's location, where backends report what they cannot print
  std::string label;    ///< the flow's summary, "client -> web.pub via https"
  std::string note;     ///< the flow's note ("" when none)
  std::string trace;    ///< "lync2013-public-im.policy:22"
  std::string src_zone; ///< the zone the rule's source endpoint is in
  /// "f1b2c3d4e": the flow's identity (flow_ids in bind.h), which no line number enters, so a
  /// rule's text changes only when its own flow does. Configs print it, never `trace`'s line
  /// (TraceTable in backends/common/text.h lists each named flow's file).
  std::string id;
  /// "f1b2c3d4e client -> web.pub via https": how rule comments name the flow.
  std::string traced() const { return id + " " + label; }
};

/// One directional, single-service rule.
struct Rule {
  Chain chain = Chain::Forward;
  Action action = Action::Allow;
  AddrRef src, dst;
  bool v4 = true, v6 = true; ///< families the rule can match
  L4Match l4;
  bool reverse = false; ///< the second direction of a two-way flow
  RuleOrigin origin;
  /// Deny rules, when the backend asked lowering to judge them (RuleSet::denies_judged): a
  /// packet this deny matches that an allow rule of the same chain also matches (empty: none,
  /// so default deny already drops everything the deny names).
  std::optional<std::string> overlaps_allow;
  /// A port mapping's rule at the perimeter that translates it (index into
  /// RuleSet::translations; -1: none): it matches the translated packet (dst, l4) and only
  /// connections that translation rewrote, so the internal address and port stay closed to
  /// packets sent to them directly.
  int mapped = -1;
  /// The comment that heads a rule's group: the flow's id and summary, and which direction.
  std::string heading() const { return origin.traced() + (reverse ? " (reverse)" : ""); }
};

/// One address translation a perimeter target performs (issue 12 item 4), applied to the first
/// packet of a connection before the filter rules see it (conntrack translates the rest and the
/// replies). The filter rules name the address after translation, the real one: a destination
/// translation rewrites `match` (the public address) to `to` in connections from `peer`; a
/// source translation rewrites the source `match` (the real address) to `to` in connections to
/// `peer`. The perimeter's two zones are `inside` (the host's) and `outside` (the peer's).
struct Translation {
  enum class Kind { Destination, Source };
  Kind kind = Kind::Destination;
  Prefix match, to;         ///< host addresses of one family
  bool peer_any = true;     ///< the outside zone holds every address
  std::vector<Prefix> peer; ///< else its bound addresses of this family (outermost, sorted)
  std::string endpoint;     ///< "edge.av"
  std::string inside, outside;
  /// A port mapping: its flow, as rules name it (configs print its id, and add it to their
  /// TraceTable). A NAT binding has none: its summary names the binding, and no manifest line
  /// number enters a config (the quiet-configs rule of backends/common/text.h).
  std::optional<RuleOrigin> flow;
  SourceLoc loc; ///< the binding's `public` (the flow's `maps`), where backends report
  /// A port mapping (`maps to`, issue 12 item 6): only `proto` to `port` is translated, to
  /// `to_port`; `peer` is the flow's source. 0: every protocol and port (a NAT binding).
  uint8_t proto = 0;
  uint16_t port = 0, to_port = 0;
  std::string to_endpoint; ///< port mapping: "fe.web"
  bool mapping() const { return port != 0; }
  bool v4() const { return match.family() == Family::V4; }
  /// "edge.av 203.0.113.10 -> 192.0.2.10 (destination NAT from zone internet)".
  std::string summary() const;
  /// How comments name it: the summary, after the flow's id for a port mapping.
  std::string traced() const { return flow ? flow->id + " " + summary() : summary(); }
};

/// The target a rule set is for.
struct TargetInfo {
  std::string name, env, backend;
  Scope scope = Scope::Host;
  std::string host;               ///< Scope::Host: the role ("fe, cms" for several)
  std::vector<std::string> hosts; ///< Scope::Host: each role of the machine
  std::vector<std::string> zones; ///< Scope::Between: the two zones
  SourceLoc loc, scope_loc;
};

/// A target's options after validation against its backend's schema (lower/schema.h): every
/// option of the schema has a value (the default when the manifest does not set it).
struct TargetOptions {
  std::map<std::string, OptionValue> values;
  bool flag(const std::string& name) const;
  const std::string& text(const std::string& name) const;
  const std::vector<std::string>& list(const std::string& name) const;
  /// Where the manifest sets the option; invalid when it does not.
  SourceLoc loc(const std::string& name) const;
  bool given(const std::string& name) const { return loc(name).valid(); }
};

/// Everything a backend needs to print one target.
struct RuleSet {
  TargetInfo target;
  TargetOptions options;
  std::vector<std::string> header; ///< descriptive comment lines (already plain text)
  /// In name order, so a flow added above others never moves the sets their rules use.
  std::vector<AddrSet> sets;
  std::vector<Rule> rules;   ///< evaluation order: every deny before every allow
  std::vector<Chain> chains; ///< the chains this target governs (default drop)
  /// Perimeter targets: the translations it performs, destination ones first, in manifest
  /// order. Host targets never translate (their header says what address the host sees).
  std::vector<Translation> translations;
  bool loopback = false;  ///< host targets: accept loopback traffic
  bool icmpv6_nd = false; ///< host targets: accept IPv6 neighbour discovery
  bool has_v4 = false, has_v6 = false;
  bool denies_judged = false; ///< Rule::overlaps_allow is filled for every deny rule
};

} // namespace portolan
