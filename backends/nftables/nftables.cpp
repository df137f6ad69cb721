// nftables: an inet table owned by Portolan, replaced atomically by `nft -f` (the file creates,
// deletes and re-declares it, so re-applying is idempotent and other tables are left alone).
// Addresses live in named interval sets; each rule names the flow it implements by id, and the
// table at the top says where each flow is written.
#include "nftables.h"

#include "common/shape.h"
#include "common/text.h"
#include "names.h"

#include <algorithm>
#include <cctype>
#include <tuple>

#include <set>

namespace portolan {
namespace {

constexpr size_t kCommentMax = 128; // nft's limit on rule and set comments
constexpr size_t kSetNameMax = 255; // NFT_SET_MAXNAMELEN (256) minus the terminating NUL

/// The set of one endpoint and family: `edge-access_v4`, cut and hashed when too long.
std::string set_of(const AddrSet& s, bool v4) {
  return fit_name(s.name, s.endpoint, v4 ? "_v4" : "_v6", kSetNameMax);
}

std::string join_ports(const std::vector<PortRange>& ports) {
  if (ports.size() == 1)
    return port_text(ports[0], "-");
  std::string s = "{ ";
  for (size_t i = 0; i < ports.size(); ++i)
    s += (i ? ", " : "") + port_text(ports[i], "-");
  return s + " }";
}

std::string elements(const std::vector<Prefix>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? ", " : "") + v[i].str();
  return s;
}

/// The layer-4 part of a rule; sets `family_bound` when it pins the IP family (icmp/icmpv6).
std::string l4_text(const L4Match& m) {
  if (!m.proto)
    return "";
  uint8_t p = *m.proto;
  if (p == kProtoTcp || p == kProtoUdp) {
    const char* name = p == kProtoTcp ? "tcp" : "udp";
    if (m.dports.empty() && m.sports.empty())
      return std::string("meta l4proto ") + name;
    std::string s;
    if (!m.sports.empty())
      s += std::string(name) + " sport " + join_ports(m.sports);
    if (!m.dports.empty())
      s += (s.empty() ? "" : " ") + std::string(name) + " dport " + join_ports(m.dports);
    return s;
  }
  if (p == kProtoIcmp || p == kProtoIcmpV6) {
    const char* name = p == kProtoIcmp ? "icmp" : "icmpv6";
    if (!m.icmp_type)
      return p == kProtoIcmp ? "meta l4proto icmp" : "meta l4proto ipv6-icmp";
    std::string s = std::string(name) + " type " + std::to_string(*m.icmp_type);
    if (m.icmp_code)
      s += std::string(" ") + name + " code " + std::to_string(*m.icmp_code);
    return s;
  }
  return "meta l4proto " + std::to_string(p);
}

class NftablesBackend : public Backend {
public:
  BackendSpec spec() const override {
    static const std::string kTableError =
        "option 'table' must be a name of 1 to 255 letters, digits and '_', starting with a "
        "letter";
    OptionSpec table{"table", OptionType::Text, std::string("portolan"), kTableError,
                     [](const TargetInfo&, OptionValue& v, SourceLoc at, Diagnostics& diags) {
                       const std::string& s = std::get<std::string>(v.value);
                       // NFT_TABLE_MAXNAMELEN (256) includes the terminating NUL.
                       bool ok = !s.empty() && s.size() <= 255 &&
                                 std::isalpha(static_cast<unsigned char>(s[0]));
                       for (char c : s)
                         ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
                       if (!ok)
                         diags.error("manifest", at, kTableError);
                       return ok;
                     }};
    return {"nftables", {Scope::Host, Scope::Between}, {table}, false, {""}, true};
  }

  std::vector<OutputFile> emit(const RuleSet& rs, Diagnostics& diags) const override {
    const std::string& table = rs.options.text("table");

    bool refused = false;
    for (const Rule& r : rs.rules)
      if (r.v6 && r.l4.proto && ipv6_walked(*r.l4.proto)) {
        diags.error("unrealizable", r.origin.loc,
                    "the nftables backend cannot express service '" + r.l4.service + "' of flow '" +
                        r.origin.label +
                        "': nft's 'meta l4proto' is the protocol found after the IPv6 extension "
                        "headers (hop-by-hop, routing, fragment, AH, destination options), so "
                        "protocol " +
                        std::to_string(*r.l4.proto) + " cannot be matched in IPv6");
        refused = true;
      }
    if (refused)
      return {};

    Emitter head("\t");
    head.line("#!/usr/sbin/nft -f");
    for (const auto& l : generated_banner())
      head.line("# " + l);
    for (const auto& l : rs.header)
      head.line("# " + utf8_text(l));
    // The rest first: the trace table at the top lists the flows its rules name.
    TraceTable trace;
    Emitter e("\t");
    e.line();
    e.line("table inet " + table);
    e.line("delete table inet " + table);
    e.line();
    e.open("table inet " + table + " {");

    for (const AddrSet& s : rs.sets) {
      for (auto [fam, list] : {std::pair{"v4", &s.v4}, std::pair{"v6", &s.v6}}) {
        if (list->empty())
          continue;
        e.open("set " + set_of(s, fam[1] == '4') + " {");
        e.line(std::string("type ") + (fam[1] == '4' ? "ipv4_addr" : "ipv6_addr"));
        e.line("flags interval");
        e.line("comment \"" + utf8_text(s.endpoint, "\"\\", '\'', kCommentMax) + "\"");
        e.line("elements = { " + elements(*list) + " }");
        e.close("}");
        e.line();
      }
    }

    for (Chain c : rs.chains) {
      e.open(std::string("chain ") + chain_name(c) + " {");
      e.line(std::string("type filter hook ") + chain_name(c) + " priority filter; policy drop;");
      // State accepts only replies and related ICMP errors: a packet in the original direction
      // of an established connection meets the rules again, so a connection the policy (after
      // a reload) no longer allows stops at its next packet. Conntrack cannot create state for
      // most ICMP types and marks them invalid, so ICMP is left to the rules, which name the
      // types they allow (an explicit `icmp type 3 code 4` then matches).
      e.line("ct direction reply ct state established accept");
      e.line("ct state related accept");
      e.line("ct state invalid meta l4proto != { icmp, ipv6-icmp } drop");
      if (rs.loopback && c != Chain::Forward)
        e.line(std::string(c == Chain::Input ? "iif" : "oif") + " \"lo\" accept");
      if (rs.icmpv6_nd && c != Chain::Forward)
        e.line("icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, "
               "nd-neighbor-advert } accept");
      std::string last_group;
      for (const Rule& r : rs.rules) {
        if (r.chain != c)
          continue;
        const RuleOrigin& f = r.origin;
        trace.add(f);
        std::string what = r.heading();
        if (what != last_group) {
          e.line("# " + utf8_text(what));
          if (!f.note.empty())
            e.line("#   " + utf8_text(f.note));
          last_group = what;
        }
        std::string comment = utf8_text(r.origin.traced(), "\"\\", '\'', kCommentMax);
        for (const std::string& body : rule_bodies(rs, r))
          e.line(body + (r.action == Action::Allow ? " accept" : " drop") + " comment \"" +
                 comment + "\"");
      }
      e.close("}");
      if (c != rs.chains.back())
        e.line();
    }
    emit_nat(e, rs, trace);
    e.close("}");
    for (const auto& l : trace.lines([](std::string_view s) { return utf8_text(s); }))
      head.line("# " + l);
    return {OutputFile{"", head.take() + e.take()}};
  }

private:
  /// The translations, in two nat chains of the same table (nft(8), "CHAINS": type nat, hooks
  /// prerouting and postrouting, priorities dstnat (-100) and srcnat (100); "NAT STATEMENTS":
  /// in an inet table the address family of `dnat`/`snat` is said, `dnat ip to ADDR`). Only the
  /// first packet of a connection traverses a nat chain; conntrack translates the rest and the
  /// replies. Prerouting runs before the forward filter (priority filter, 0), so the filter
  /// rules see the real address; postrouting runs after it, so they see the real source.
  static void emit_nat(Emitter& e, const RuleSet& rs, TraceTable& trace) {
    for (auto kind : {Translation::Kind::Destination, Translation::Kind::Source}) {
      bool dnat = kind == Translation::Kind::Destination;
      bool any = std::any_of(rs.translations.begin(), rs.translations.end(),
                             [&](const Translation& t) { return t.kind == kind; });
      if (!any)
        continue;
      e.line();
      e.open(std::string("chain ") + (dnat ? "prerouting" : "postrouting") + " {");
      e.line(std::string("type nat hook ") +
             (dnat ? "prerouting priority dstnat" : "postrouting priority srcnat") +
             "; policy accept;");
      for (const Translation& t : rs.translations) {
        if (t.kind != kind)
          continue;
        const char* ip = t.v4() ? "ip" : "ip6";
        std::string what = t.traced();
        if (t.flow)
          trace.add(*t.flow);
        e.line("# " + utf8_text(what));
        std::string peer;
        if (!t.peer_any)
          peer = std::string(ip) + (dnat ? " saddr " : " daddr ") +
                 (t.peer.size() == 1 ? t.peer[0].str() : "{ " + elements(t.peer) + " }") + " ";
        std::string self = std::string(ip) + (dnat ? " daddr " : " saddr ") + t.match.str() + " ";
        std::string to = t.to.str();
        if (t.mapping()) {
          self += std::string(t.proto == kProtoUdp ? "udp" : "tcp") + " dport " +
                  std::to_string(t.port) + " ";
          to = (t.v4() ? to : "[" + to + "]") + ":" + std::to_string(t.to_port);
        }
        e.line((dnat ? peer + self : self + peer) + (dnat ? "dnat " : "snat ") + ip + " to " + to +
               " comment \"" + utf8_text(what, "\"\\", '\'', kCommentMax) + "\"");
      }
      e.close("}");
    }
  }

  /// One body per IP family the rule needs (one when family does not matter).
  static std::vector<std::string> rule_bodies(const RuleSet& rs, const Rule& r) {
    std::string l4 = l4_text(r.l4);
    // `icmp type`/`icmpv6 type` carry nft's implicit family check; a bare `meta l4proto icmp`
    // does not, and would also match IPv6 packets whose next header is 1.
    bool l4_pins = (r.l4.proto == kProtoIcmp || r.l4.proto == kProtoIcmpV6) && r.l4.icmp_type;
    std::vector<std::string> out;
    if (r.src.any() && r.dst.any()) {
      if (r.v4 && r.v6)
        out.push_back(l4.empty() ? "meta nfproto { ipv4, ipv6 }" : l4);
      else if (l4_pins)
        out.push_back(l4);
      else
        out.push_back(std::string("meta nfproto ") + (r.v4 ? "ipv4" : "ipv6") +
                      (l4.empty() ? "" : " " + l4));
      return out;
    }
    for (int fam : {4, 6}) {
      if ((fam == 4 && !r.v4) || (fam == 6 && !r.v6))
        continue;
      const char* ip = fam == 4 ? "ip" : "ip6";
      std::string body;
      bool empty_side = false;
      for (auto [ref, dir] : {std::pair{r.src, "saddr"}, std::pair{r.dst, "daddr"}}) {
        if (ref.any())
          continue;
        const AddrSet& s = rs.sets[static_cast<size_t>(ref.set)];
        if ((fam == 4 ? s.v4 : s.v6).empty())
          empty_side = true;
        body +=
            (body.empty() ? "" : " ") + std::string(ip) + " " + dir + " @" + set_of(s, fam == 4);
      }
      if (empty_side)
        continue;
      if (!l4.empty())
        body += " " + l4;
      if (r.mapped >= 0) {
        // Only connections the port mapping rewrote (nft(8), CONNTRACK EXPRESSIONS: `ct
        // original ip daddr`, `ct original proto-dst`: the connection's first packet as sent).
        const Translation& t = rs.translations[static_cast<size_t>(r.mapped)];
        body += std::string(" ct original ") + ip + " daddr " + t.match.str() +
                " ct original proto-dst " + std::to_string(t.port);
      }
      out.push_back(body);
    }
    return out;
  }
};

} // namespace

std::unique_ptr<Backend> make_nftables_backend() {
  return std::make_unique<NftablesBackend>();
}

} // namespace portolan
