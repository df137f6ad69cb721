// pf (OpenBSD pf.conf): one anchor per target for `pfctl -a portolan/<target> -f`, owning its
// rules and tables only. Each endpoint's addresses live in a table, every rule is `quick`, so
// the first matching rule decides and the file reads in evaluation order (the RuleSet's:
// denies, then allows), and a final block decides what is left. Host targets filter `in`
// (input) and `out` (output); perimeter targets judge forwarded traffic as it leaves
// (`received-on any`) and never decide the firewall's own traffic.
#include "pf.h"

#include "common/shape.h"
#include "common/text.h"
#include "names.h"

#include <algorithm>
#include <cctype>
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

/// Table names fit PF_TABLE_NAME_SIZE and are unique by construction. pfctl reads a keyword
/// inside `<...>` as the keyword (a role named `user` or `any` would not parse): a set name
/// with '_' is used as it is (no pf keyword has '_'); any other gets ".hosts" ('.' occurs in no
/// set name, so the two kinds never meet). A long name is cut and hashed (fit_name).
std::vector<std::string> table_names(const RuleSet& rs) {
  std::vector<std::string> out;
  for (const AddrSet& set : rs.sets) {
    bool keyword_safe = set.name.find('_') != std::string::npos;
    out.push_back(fit_name(set.name, set.endpoint, keyword_safe ? "" : ".hosts", kTableNameMax));
  }
  return out;
}

/// The firewall's own destinations on a perimeter (never a set name: set names have no '.'
/// except in ".hosts").
constexpr const char* kSelfTable = "portolan.self";

/// The anchor this file is loaded into: "portolan/<target>", the target name when it is 1 to 63
/// letters, digits, '_', '.' or '-' without "--" (PF_ANCHOR_NAME_SIZE), else its first letters
/// and digits, "--" and a hash of the name.
std::string anchor_name(const std::string& target) {
  bool plain =
      !target.empty() && target.size() <= 63 && target.find("--") == std::string::npos &&
      std::all_of(target.begin(), target.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
      });
  if (plain)
    return "portolan/" + target;
  std::string head;
  for (char c : target)
    if (std::isalnum(static_cast<unsigned char>(c)) && head.size() < 40)
      head += c;
  return "portolan/" + (head.empty() ? std::string("t") : head) + "--" + name_hash(target);
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

/// The tag of port mapping `i` of a rule set: pf tags are global, so the anchor's name is in it
/// (PF_TAG_NAME_SIZE is 64 with the NUL).
std::string mapping_tag(const RuleSet& rs, size_t i) {
  std::string base = "ptl_" + rs.target.name;
  for (char& c : base)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
      c = '_';
  return fit_name(base, rs.target.name, "_map" + std::to_string(i), 63);
}

std::string peer_text(const Translation& t) {
  if (t.peer_any)
    return "any";
  if (t.peer.size() == 1)
    return t.peer[0].str();
  std::string s = "{ ";
  for (size_t i = 0; i < t.peer.size(); ++i)
    s += (i ? ", " : "") + t.peer[i].str();
  return s + " }";
}

/// Destination NAT (pf.conf(5), OpenBSD: "match" rules and the rdr-to option): a match rule's
/// translation applies as soon as it matches and the rules after it see the translated
/// packet, so an inbound `match ... rdr-to` before the inbound pass makes every rule of this
/// anchor see the real address, as the RuleSet's filter rules name it.
void rdr_rules(Emitter& e, const RuleSet& rs) {
  bool any = false;
  for (const Translation& t : rs.translations) {
    if (t.kind != Translation::Kind::Destination)
      continue;
    if (!any)
      e.line("# Destination NAT: the rules after these see the real addresses.");
    any = true;
    e.line("# " + utf8_text(t.traced(), kCommentForbidden));
    if (t.mapping()) {
      // pf.conf(5): rdr-to ADDR port PORT; `tag` marks the packet and its state, and the filter
      // rule that passes the mapped connection says `tagged`, so the internal port stays closed
      // to packets sent to it directly.
      size_t i = static_cast<size_t>(&t - rs.translations.data());
      e.line(std::string("match in ") + (t.v4() ? "inet" : "inet6") + " proto " +
             (t.proto == kProtoUdp ? "udp" : "tcp") + " from " + peer_text(t) + " to " +
             t.match.str() + " port " + std::to_string(t.port) + " rdr-to " + t.to.str() +
             " port " + std::to_string(t.to_port) + " tag " + mapping_tag(rs, i));
      continue;
    }
    e.line(std::string("match in ") + (t.v4() ? "inet" : "inet6") + " from " + peer_text(t) +
           " to " + t.match.str() + " rdr-to " + t.to.str());
  }
  if (any)
    e.line();
}

/// Source NAT of a symmetric binding: on the pass rule itself (pf.conf(5): nat-to on a pass
/// rule translates the connection that rule passes, and its state translates the rest and the
/// replies). A match rule would translate before the filter rules that follow, which name the
/// real source. A rule whose source is the host alone and whose destination lies in the outside
/// zone gets `nat-to`. Otherwise it is preceded by a copy from the host alone (`NatSplit::from`)
/// with `nat-to`, narrowed to the outside zone's addresses when the destination holds more
/// (`NatSplit::peers`: `to any` or a table of several zones); being `quick`, the copy decides the
/// host's packets to the outside first, and the rule itself passes the rest untranslated, as
/// the NAT binding says (it translates connections to the outside zone only).
struct NatSplit {
  Prefix from, to;
  std::vector<Prefix> peers; ///< empty: the rule's own destination
};

std::string nat_to(const RuleSet& rs, const Rule& r, bool v4, bool v6,
                   std::vector<NatSplit>& splits) {
  if (r.src.any() || r.chain != Chain::Forward)
    return "";
  const AddrSet& src = rs.sets[static_cast<size_t>(r.src.set)];
  for (const Translation& t : rs.translations) {
    if (t.kind != Translation::Kind::Source)
      continue;
    const auto& list = t.v4() ? src.v4 : src.v6;
    bool holds =
        std::any_of(list.begin(), list.end(), [&](const Prefix& p) { return p.contains(t.match); });
    if (!holds || !(t.v4() ? v4 : v6))
      continue;
    bool alone = list.size() == 1 && list[0] == t.match && !(t.v4() ? v6 : v4);
    bool outside = t.peer_any;
    if (!outside && !r.dst.any()) {
      const AddrSet& dst = rs.sets[static_cast<size_t>(r.dst.set)];
      outside = std::all_of((t.v4() ? dst.v4 : dst.v6).begin(), (t.v4() ? dst.v4 : dst.v6).end(),
                            [&](const Prefix& d) {
                              return std::any_of(t.peer.begin(), t.peer.end(),
                                                 [&](const Prefix& q) { return q.contains(d); });
                            });
    }
    if (alone && outside)
      return " nat-to " + t.to.str();
    splits.push_back({t.match, t.to, outside ? std::vector<Prefix>{} : t.peer});
  }
  return "";
}

class PfBackend : public Backend {
public:
  BackendSpec spec() const override {
    return {"pf", {Scope::Host, Scope::Between}, {{"log", OptionType::Bool, false, "", {}}}, false};
  }

  /// Refusals are found while printing: the text is printed in both modes.
  std::vector<OutputFile> emit(const RuleSet& rs, Diagnostics& diags,
                               EmitText /*want*/) const override {
    const bool log = rs.options.flag("log");
    const bool host = rs.target.scope == Scope::Host;
    // pf's grammar is `action [in|out] [log] [quick]`. `block drop` says the drop itself:
    // `set block-policy` is a global option, which belongs to the main ruleset.
    auto head = [&](Action a, const char* dir) {
      bool allow = a == Action::Allow;
      return std::string(allow ? "pass" : "block drop") + dir + (log && !allow ? " log" : "");
    };
    const std::string anchor = anchor_name(rs.target.name);
    const std::vector<std::string> tables = table_names(rs);

    // Rule text first (it decides which tables are used), then the file around it.
    Emitter body("");
    std::vector<bool> table_used(rs.sets.size(), false);
    std::string last_group;
    TraceTable trace;
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
      trace.add(f);
      std::string what = r.heading();
      if (what != last_group) {
        body.line("# " + utf8_text(what, kCommentForbidden));
        if (!f.note.empty())
          body.line("#   " + utf8_text(f.note, kCommentForbidden));
        last_group = what;
      }
      for (const AddrRef& ref : {r.src, r.dst})
        if (!ref.any())
          table_used[static_cast<size_t>(ref.set)] = true;
      const char* family = v4 && v6 ? "" : v4 ? " inet" : " inet6";
      // A perimeter judges forwarded packets as they leave: `out ... received-on any` matches
      // only packets that arrived on an interface, never the firewall's own.
      const char* dir = !host || r.chain == Chain::Output ? " out" : " in";
      bool allow = r.action == Action::Allow;
      std::vector<NatSplit> splits;
      std::string nat = allow ? nat_to(rs, r, v4, v6, splits) : "";
      if (r.mapped >= 0)
        nat = " tagged " + mapping_tag(rs, static_cast<size_t>(r.mapped));
      for (const NatSplit& sp : splits) {
        std::string m = match_text(tables, r, sp.from.family() == Family::V4 ? " inet" : " inet6");
        std::string from = " from <" + tables[static_cast<size_t>(r.src.set)] + ">";
        m.replace(m.find(from), from.size(), " from " + sp.from.str());
        if (!sp.peers.empty()) {
          std::string to =
              r.dst.any() ? " to any" : " to <" + tables[static_cast<size_t>(r.dst.set)] + ">";
          std::string list;
          for (const Prefix& q : sp.peers)
            list += (list.empty() ? "" : ", ") + q.str();
          m.replace(m.find(to), to.size(),
                    " to " + (sp.peers.size() == 1 ? list : "{ " + list + " }"));
        }
        body.line(head(r.action, dir) + " quick" + m + " received-on any keep state nat-to " +
                  sp.to.str() + " label \"" +
                  plain_text(r.origin.id, kLabelForbidden, '\'', kLabelMax) + "\"");
      }
      body.line(head(r.action, dir) + " quick" + match_text(tables, r, family) +
                (host ? "" : " received-on any") + (allow ? " keep state" : "") + nat +
                " label \"" + plain_text(r.origin.id, kLabelForbidden, '\'', kLabelMax) + "\"");
    }

    Emitter e("");
    for (const auto& l : generated_banner())
      e.line("# " + l);
    for (const auto& l : rs.header)
      e.line("# " + utf8_text(l, kCommentForbidden));
    for (const Translation& t : rs.translations) // a port mapping's flow, named by its rdr rule
      if (t.flow)
        trace.add(*t.flow);
    for (const auto& l :
         trace.lines([](std::string_view s) { return utf8_text(s, kCommentForbidden); }))
      e.line("# " + l);
    e.line("# This file is the anchor \"" + anchor + "\": it replaces that anchor's rules and");
    e.line("# tables only. Load: pfctl -a \"" + anchor + "\" -f FILE (check: pfctl -a \"" + anchor +
           "\" -nf FILE).");
    e.line("# Hook, once, in the main ruleset (/etc/pf.conf): anchor \"" + anchor + "\"");
    if (host)
      e.line("# as its first filter rule: this anchor then decides every packet of the host.");
    else
      e.line("# before the rules that pass forwarded traffic; it decides forwarded packets only.");
    e.line();
    for (size_t i = 0; i < rs.sets.size(); ++i) {
      if (!table_used[i])
        continue;
      e.line("# " + utf8_text(rs.sets[i].endpoint, kCommentForbidden));
      std::string elements = table_elements(rs.sets[i]);
      e.line("table <" + tables[i] + "> const { " + elements + (elements.empty() ? "}" : " }"));
    }
    if (host) {
      e.line();
      if (rs.loopback)
        e.line("pass quick on lo"); // an anchor does not `set skip`: options are global
      e.line("# A host target forwards nothing: what arrived on an interface may not leave.");
      e.line(head(Action::Deny, " out") + " quick all received-on any");
      if (rs.icmpv6_nd) {
        e.line("# IPv6 router and neighbour discovery (RS, RA, NS, NA) of the host itself, after");
        e.line("# the forwarding block, so none of it is forwarded.");
        e.line("pass in quick inet6 proto icmp6 icmp6-type { 133, 134, 135, 136 } no state");
        e.line("pass out quick inet6 proto icmp6 icmp6-type { 133, 134, 135, 136 } no state");
      }
    } else {
      e.line("# The firewall's own destinations: not this anchor's business.");
      e.line(std::string("table <") + kSelfTable +
             "> const { self, 255.255.255.255, 224.0.0.0/24, ff02::/16 }");
      e.line();
      rdr_rules(e, rs);
      e.line("# Forwarded traffic enters (keeping state for its replies) and is judged as it");
      e.line("# leaves; what is addressed to the firewall itself matches no rule here.");
      e.line(std::string("pass in quick from any to ! <") + kSelfTable + "> keep state");
    }
    std::string rules = body.take();
    Emitter tail("");
    tail.line("# Default deny: nothing this anchor judges leaves it undecided.");
    tail.line(host ? head(Action::Deny, "") + " quick all"
                   : head(Action::Deny, " out") + " quick all received-on any");
    e.line();
    return output_files(
        OutputFile{"", e.take() + rules + (rules.empty() ? "" : "\n") + tail.take()});
  }
};

} // namespace

std::unique_ptr<Backend> make_pf_backend() {
  return std::make_unique<PfBackend>();
}

} // namespace portolan
