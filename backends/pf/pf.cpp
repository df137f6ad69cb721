// pf (OpenBSD pf.conf): one rule set for `pfctl -f`. Each endpoint's addresses live in a
// table, `block all` closes both directions and both families, and every rule Portolan writes
// after it is `quick`, so the first matching rule decides and the file reads in evaluation
// order (the RuleSet's: denies, then allows). Host targets filter `in` (input) and `out`
// (output); perimeter targets filter forwarded traffic as it enters the firewall.
#include "pf.h"

#include "common/shape.h"
#include "common/text.h"

#include <set>

namespace portolan {
namespace {

constexpr size_t kTableNameMax = 31; // PF_TABLE_NAME_SIZE (32) minus the terminating NUL
constexpr size_t kLabelMax = 63;     // PF_RULE_LABEL_SIZE (64) minus the terminating NUL

/// A backslash continues a pf.conf line, even inside a comment, so it would pull the next
/// rule into the comment: it never reaches a comment.
constexpr std::string_view kCommentForbidden = "\\";
/// Labels are quoted strings in which pfctl also expands `$srcaddr`-style macros.
constexpr std::string_view kLabelForbidden = "\"\\$";

/// pf steps over these IPv6 extension headers (and AH) to find the transport protocol, so a
/// rule can never match them as `proto`.
bool walked_by_pf(uint8_t proto) {
  return proto == 0 || proto == 43 || proto == 44 || proto == 51 || proto == 60;
}

std::string ports_text(const std::vector<PortRange>& ports) {
  if (ports.size() == 1)
    return port_text(ports[0], ":");
  std::string s = "{ ";
  for (size_t i = 0; i < ports.size(); ++i)
    s += (i ? ", " : "") + port_text(ports[i], ":");
  return s + " }";
}

std::string table_elements(const AddrSet& s) {
  std::string out;
  for (const auto* list : {&s.v4, &s.v6})
    for (const Prefix& p : *list)
      out += (out.empty() ? "" : ", ") + p.str();
  return out;
}

/// Table names fit PF_TABLE_NAME_SIZE and always contain '_': pfctl reads a keyword inside
/// `<...>` as the keyword (a role named `user` or `any` would not parse), and no pf keyword
/// has an underscore. A long name is cut and numbered so it stays unique.
std::vector<std::string> table_names(const RuleSet& rs) {
  std::vector<std::string> out;
  std::set<std::string> used;
  for (size_t i = 0; i < rs.sets.size(); ++i) {
    std::string base = rs.sets[i].name;
    if (base.find('_') == std::string::npos)
      base += "_hosts";
    std::string n = base;
    for (int k = 1; n.size() > kTableNameMax || used.count(n); ++k) {
      std::string suffix = "_" + std::to_string(k);
      n = base.substr(0, kTableNameMax - suffix.size()) + suffix;
    }
    used.insert(n);
    out.push_back(n);
  }
  return out;
}

bool side_has(const RuleSet& rs, const AddrRef& ref, int fam) {
  if (ref.any())
    return true;
  const AddrSet& s = rs.sets[static_cast<size_t>(ref.set)];
  return !(fam == 4 ? s.v4 : s.v6).empty();
}

/// Why pf cannot say exactly what this rule matches; empty when it can.
std::string unrealizable(const RuleSet& rs, const Rule& r, bool v6) {
  bool host = rs.target.scope == Scope::Host;
  if (host && r.chain == Chain::Forward)
    return "a host target's pf rule set has no forward rules (it forwards nothing)";
  if (!host && r.chain != Chain::Forward)
    return "a perimeter target filters forwarded traffic only, not the firewall's own " +
           std::string(chain_name(r.chain));
  const L4Match& m = r.l4;
  if (std::string why = malformed_l4(m); !why.empty())
    return why;
  if (!m.proto)
    return "";
  uint8_t p = *m.proto;
  if (p == 0)
    return "pf cannot match IP protocol 0 (pfctl refuses 'proto 0')";
  if (p == kProtoIcmp || p == kProtoIcmpV6) {
    // pfctl stores type + 1 and code + 1 in a byte where 0 means "any": 255 would wrap to any.
    if (m.icmp_type == 255 || m.icmp_code == 255)
      return "ICMP type or code 255 (pf stores the value plus one in a byte, so 255 would "
             "match every type or code)";
    return "";
  }
  if (p == 51 || (v6 && walked_by_pf(p)))
    return "pf steps over protocol " + std::to_string(p) +
           " (an IPv6 extension header or AH) to filter what it carries, so no rule can "
           "match it";
  return "";
}

/// The text between the direction and the label: family, protocol, addresses, ports, ICMP.
std::string match_text(const std::vector<std::string>& tables, const Rule& r, const char* family) {
  const L4Match& m = r.l4;
  std::string s = family;
  if (m.proto) {
    uint8_t p = *m.proto;
    s += " proto ";
    s += p == kProtoTcp      ? "tcp"
         : p == kProtoUdp    ? "udp"
         : p == kProtoIcmp   ? "icmp"
         : p == kProtoIcmpV6 ? "icmp6"
                             : std::to_string(p);
  }
  auto addr = [&](const AddrRef& ref) {
    return ref.any() ? std::string("any") : "<" + tables[static_cast<size_t>(ref.set)] + ">";
  };
  s += " from " + addr(r.src);
  if (!m.sports.empty())
    s += " port " + ports_text(m.sports);
  s += " to " + addr(r.dst);
  if (!m.dports.empty())
    s += " port " + ports_text(m.dports);
  if (m.icmp_type) {
    s += m.proto == kProtoIcmp ? " icmp-type " : " icmp6-type ";
    s += std::to_string(*m.icmp_type);
    if (m.icmp_code)
      s += " code " + std::to_string(*m.icmp_code);
  }
  return s;
}

class PfBackend : public Backend {
public:
  BackendSpec spec() const override {
    return {"pf", {Scope::Host, Scope::Between}, {{"log", OptionType::Bool, false, "", {}}}, false};
  }

  std::vector<OutputFile> emit(const RuleSet& rs, Diagnostics& diags) const override {
    const bool log = rs.options.flag("log");
    const bool host = rs.target.scope == Scope::Host;
    // pf's grammar is `action [in|out] [log] [quick]`.
    auto head = [&](Action a, const char* dir) {
      bool allow = a == Action::Allow;
      return std::string(allow ? "pass" : "block") + dir + (log && !allow ? " log" : "");
    };
    const std::vector<std::string> tables = table_names(rs);

    // Rule text first (it decides which tables are used), then the file around it.
    Emitter body("");
    std::vector<bool> table_used(rs.sets.size(), false);
    std::string last_group;
    for (const Rule& r : rs.rules) {
      const RuleOrigin& f = r.origin;
      bool v4 =
          r.v4 && r.l4.proto != kProtoIcmpV6 && side_has(rs, r.src, 4) && side_has(rs, r.dst, 4);
      bool v6 =
          r.v6 && r.l4.proto != kProtoIcmp && side_has(rs, r.src, 6) && side_has(rs, r.dst, 6);
      if (!v4 && !v6)
        continue; // no packet of either family: lowering has said so (no-family)
      if (std::string why = unrealizable(rs, r, v6); !why.empty()) {
        diags.error("unrealizable", f.loc,
                    "the pf backend cannot express service '" + r.l4.service + "' of flow '" +
                        f.label + "': " + why);
        continue;
      }
      std::string what = r.heading();
      if (what != last_group) {
        body.line("# " + plain_text(what, kCommentForbidden));
        if (!f.note.empty())
          body.line("#   " + plain_text(f.note, kCommentForbidden));
        last_group = what;
      }
      for (const AddrRef& ref : {r.src, r.dst})
        if (!ref.any())
          table_used[static_cast<size_t>(ref.set)] = true;
      const char* family = v4 && v6 ? "" : v4 ? " inet" : " inet6";
      const char* dir = r.chain == Chain::Output ? " out" : " in";
      bool allow = r.action == Action::Allow;
      body.line(head(r.action, dir) + " quick" + match_text(tables, r, family) +
                (allow ? " keep state" : "") + " label \"" +
                plain_text(r.origin.trace, kLabelForbidden, '\'', kLabelMax) + "\"");
    }

    Emitter e("");
    for (const auto& l : generated_banner())
      e.line("# " + l);
    for (const auto& l : rs.header)
      e.line("# " + plain_text(l, kCommentForbidden));
    e.line("# Load with: pfctl -f FILE (replaces the main ruleset; check first with pfctl -nf).");
    e.line();
    e.line("set block-policy drop");
    // Forwarded traffic never crosses loopback, so a perimeter always leaves it alone.
    if (rs.loopback || !host)
      e.line("set skip on lo");
    e.line();
    for (size_t i = 0; i < rs.sets.size(); ++i) {
      if (!table_used[i])
        continue;
      e.line("# " + plain_text(rs.sets[i].endpoint, kCommentForbidden));
      std::string elements = table_elements(rs.sets[i]);
      e.line("table <" + tables[i] + "> const { " + elements + (elements.empty() ? "}" : " }"));
    }
    e.line();
    e.line("# Default deny: both directions, both families.");
    e.line(head(Action::Deny, "") + " all");
    if (host) {
      if (rs.icmpv6_nd) {
        e.line("# IPv6 router and neighbour discovery (RS, RA, NS, NA), without which IPv6 stops.");
        e.line("pass quick inet6 proto icmp6 icmp6-type { 133, 134, 135, 136 } no state");
      }
      e.line("# A host target forwards nothing: what arrived on an interface may not leave.");
      e.line(head(Action::Deny, " out") + " quick all received-on any");
    } else {
      e.line("# The firewall's own traffic is outside this target, as on the other backends: it");
      e.line("# may send anything and receive what is addressed to it (its addresses, broadcast,");
      e.line("# link-local multicast), none of which is ever forwarded.");
      e.line("pass out quick all keep state");
      e.line("pass in quick from any to { self, 255.255.255.255, 224.0.0.0/24, ff02::/16 } "
             "keep state");
      e.line("# Forwarded traffic is filtered as it enters; what passed may leave (rule above).");
    }
    std::string rules = body.take();
    if (!rules.empty()) {
      e.line();
      std::string out = e.take() + rules;
      return {OutputFile{"", std::move(out)}};
    }
    return {OutputFile{"", e.take()}};
  }
};

} // namespace

std::unique_ptr<Backend> make_pf_backend() {
  return std::make_unique<PfBackend>();
}

} // namespace portolan
