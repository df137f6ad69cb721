// iptables: the filter table for IPv4 and IPv6, each in its own restore file. Both files are
// always written, so a target bound only to IPv4 still gets an IPv6 default drop.
#include "iptables.h"

#include "common/shape.h"
#include "common/text.h"
#include "names.h"

#include <algorithm>
#include <cctype>
#include <tuple>

namespace portolan {
namespace {

constexpr size_t kCommentMax = 256;  // xt_comment's limit
constexpr size_t kMultiportMax = 15; // a range counts as two

const char* chain_upper(Chain c) {
  switch (c) {
  case Chain::Input:
    return "INPUT";
  case Chain::Output:
    return "OUTPUT";
  case Chain::Forward:
    return "FORWARD";
  }
  return "FORWARD";
}

/// "PTL-<target>": the target's own chains are this plus "-IN", "-FWD" or "-OUT". Chain names
/// are at most 28 characters (XT_EXTENSION_MAXNAMELEN minus the NUL), which leaves 20 for the
/// target. A target name of 1 to 20 letters, digits, '_' or '-' stays as it is; any other
/// becomes its first letters and digits, '~' and a hash of the whole name. '~' never occurs in
/// the first form, so two targets never share chains.
std::string chain_prefix(const std::string& target) {
  constexpr size_t kRoom = 20;
  bool plain = !target.empty() && target.size() <= kRoom && target[0] != '-' &&
               std::all_of(target.begin(), target.end(), [](char c) {
                 return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
               });
  if (plain)
    return "PTL-" + target;
  std::string head;
  for (char c : target)
    if (std::isalnum(static_cast<unsigned char>(c)) && head.size() < kRoom - 9)
      head += c;
  return "PTL-" + head + "~" + name_hash(target);
}

std::string own_chain(const std::string& prefix, Chain c) {
  return prefix + (c == Chain::Input ? "-IN" : c == Chain::Output ? "-OUT" : "-FWD");
}

/// Splits ports into groups that fit one multiport match.
std::vector<std::vector<PortRange>> multiport_chunks(const std::vector<PortRange>& ports) {
  std::vector<std::vector<PortRange>> out;
  size_t used = kMultiportMax;
  for (const PortRange& p : ports) {
    size_t cost = p.lo == p.hi ? 1 : 2;
    if (used + cost > kMultiportMax) {
      out.emplace_back();
      used = 0;
    }
    out.back().push_back(p);
    used += cost;
  }
  if (out.empty())
    out.emplace_back();
  return out;
}

std::string port_list(const std::vector<PortRange>& ports) {
  std::string s;
  for (size_t i = 0; i < ports.size(); ++i)
    s += (i ? "," : "") + port_text(ports[i], ":");
  return s;
}

/// " --dport 80" for one port or range, " --dports 80,443" for a list (a multiport match).
std::string port_match(const char* flag, const std::vector<PortRange>& ports) {
  if (ports.empty())
    return "";
  if (ports.size() == 1)
    return std::string(" --") + flag + " " + port_text(ports[0], ":");
  return std::string(" --") + flag + "s " + port_list(ports);
}

std::vector<std::string> l4_texts(const L4Match& m, int fam) {
  if (!m.proto)
    return {""};
  uint8_t p = *m.proto;
  if (p == kProtoTcp || p == kProtoUdp) {
    const char* name = p == kProtoTcp ? "tcp" : "udp";
    std::vector<std::string> out;
    for (const auto& sp : multiport_chunks(m.sports)) {
      for (const auto& dp : multiport_chunks(m.dports)) {
        std::string s = std::string(" -p ") + name;
        const std::string module = std::string(" -m ") + name;
        if (sp.size() <= 1 && dp.size() <= 1) {
          // One tcp/udp match carries both single ports.
          if (!sp.empty() || !dp.empty())
            s += module + port_match("sport", sp) + port_match("dport", dp);
        } else {
          // A list needs multiport; each side gets the module its port count needs.
          for (auto [ports, flag] : {std::pair{&sp, "sport"}, std::pair{&dp, "dport"}})
            if (!ports->empty())
              s += (ports->size() > 1 ? std::string(" -m multiport") : module) +
                   port_match(flag, *ports);
        }
        out.push_back(s);
      }
    }
    return out;
  }
  if (p == kProtoIcmp || p == kProtoIcmpV6) {
    std::string s = fam == 4 ? " -p icmp" : " -p ipv6-icmp";
    if (m.icmp_type) {
      s += fam == 4 ? " -m icmp --icmp-type " : " -m icmp6 --icmpv6-type ";
      s += std::to_string(*m.icmp_type);
      if (m.icmp_code)
        s += "/" + std::to_string(*m.icmp_code);
    }
    return {s};
  }
  return {" -p " + std::to_string(p)};
}

std::string addr_list(const std::vector<Prefix>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? "," : "") + v[i].str_with_len();
  return s;
}

/// Why iptables cannot say exactly what this rule matches; empty when it can. iptables reads
/// some values as wildcards (iptables(8), iptables-extensions(8); the kernel's ip_packet_match
/// and icmp_type_code_match), so printing them would widen the rule to every protocol or type.
std::string unrealizable(const Rule& r) {
  if (r.l4.proto == 0)
    return "iptables and ip6tables read '-p 0' as every protocol ('all'), so protocol 0 cannot "
           "be matched";
  if (r.v6 && r.l4.proto && ipv6_walked(*r.l4.proto))
    return "ip6tables matches the protocol found after the IPv6 extension headers (it steps over "
           "hop-by-hop, routing, fragment, AH and destination options), so protocol " +
           std::to_string(*r.l4.proto) + " cannot be matched in IPv6";
  if (r.l4.proto == kProtoIcmp && r.l4.icmp_type == 255 && r.v4)
    return "iptables reads ICMP type 255 as 'any' ICMP type, so type 255 cannot be matched";
  return "";
}

class IptablesBackend : public Backend {
public:
  BackendSpec spec() const override {
    return {"iptables", {Scope::Host, Scope::Between}, {}, false, {".v4", ".v6"}, true, true};
  }

  std::vector<OutputFile> emit(const RuleSet& rs, Diagnostics& diags,
                               EmitText want) const override {
    bool refused = false;
    for (const Rule& r : rs.rules)
      if (std::string why = unrealizable(r); !why.empty()) {
        diags.error("unrealizable", r.origin.loc,
                    "the iptables backend cannot express service '" + r.l4.service + "' of flow '" +
                        r.origin.label + "': " + why);
        refused = true;
      }
    if (refused)
      return {};
    if (want == EmitText::Diagnostics) // family_file reports nothing
      return output_files(OutputFile{".v4", ""}, OutputFile{".v6", ""});
    return output_files(OutputFile{".v4", family_file(rs, 4)},
                        OutputFile{".v6", family_file(rs, 6)});
  }

private:
  static std::string family_file(const RuleSet& rs, int fam) {
    const std::string prefix = chain_prefix(rs.target.name);
    Emitter e("");
    for (const auto& l : generated_banner())
      e.line("# " + l);
    e.line(std::string("# ") + (fam == 4 ? "IPv4: load with iptables-restore --noflush FILE"
                                         : "IPv6: load with ip6tables-restore --noflush FILE"));
    e.line("# Replaces only this target's chains (" + prefix +
           "-*) and puts a jump to each at the");
    e.line("# top of its built-in chain; every other chain, rule and policy is left as it is.");
    for (const auto& l : rs.header)
      e.line("# " + utf8_text(l));
    // The rest first: the trace table at the top lists the flows its rules name.
    Emitter head = std::move(e);
    TraceTable trace;
    e = Emitter("");
    e.line("*filter");
    // Declaring a chain in a --noflush restore creates it, or empties it when it exists.
    for (Chain c : rs.chains)
      e.line(":" + own_chain(prefix, c) + " - [0:0]");
    for (Chain c : rs.chains) {
      std::string A = "-A " + own_chain(prefix, c);
      // Only replies and related ICMP errors pass by state: a packet in the original direction
      // of an established connection meets the rules again, so a connection the reloaded policy
      // no longer allows stops. ICMP is left to the rules: conntrack marks most ICMP types
      // invalid (it creates state only for queries), and the rules name the types allowed.
      e.line(A + " -m conntrack --ctstate ESTABLISHED --ctdir REPLY -j ACCEPT");
      e.line(A + " -m conntrack --ctstate RELATED -j ACCEPT");
      e.line(A + (fam == 4 ? " ! -p icmp" : " ! -p ipv6-icmp") +
             " -m conntrack --ctstate INVALID -j DROP");
      if (rs.loopback && c != Chain::Forward)
        e.line(A + (c == Chain::Input ? " -i lo" : " -o lo") + " -j ACCEPT");
      if (fam == 6 && rs.icmpv6_nd && c != Chain::Forward)
        for (int t : {133, 134, 135, 136})
          e.line(A + " -p ipv6-icmp -m icmp6 --icmpv6-type " + std::to_string(t) + " -j ACCEPT");
      std::string last_group;
      for (const Rule& r : rs.rules) {
        if (r.chain != c || (fam == 4 ? !r.v4 : !r.v6))
          continue;
        std::string src, dst;
        bool empty_side = false;
        for (auto [ref, out, flag] :
             {std::tuple{r.src, &src, " -s "}, std::tuple{r.dst, &dst, " -d "}}) {
          if (ref.any())
            continue;
          const AddrSet& s = rs.sets[static_cast<size_t>(ref.set)];
          const auto& list = fam == 4 ? s.v4 : s.v6;
          if (list.empty())
            empty_side = true;
          *out = flag + addr_list(list);
        }
        if (empty_side)
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
        std::string orig;
        if (r.mapped >= 0) {
          // Only connections the port mapping rewrote (iptables-extensions(8), conntrack:
          // --ctorigdst, --ctorigdstport: the connection's first packet as it was sent).
          const Translation& t = rs.translations[static_cast<size_t>(r.mapped)];
          orig = " -m conntrack --ctorigdst " + t.match.str_with_len() + " --ctorigdstport " +
                 std::to_string(t.port);
        }
        for (const std::string& l4 : l4_texts(r.l4, fam))
          e.line(A + src + dst + l4 + orig + " -m comment --comment \"" + comment + "\" -j " +
                 (r.action == Action::Allow ? "ACCEPT" : "DROP"));
      }
      e.line("# Default deny: nothing leaves this chain undecided.");
      e.line(A + " -j DROP");
    }
    // The only rules outside the target's own chains: one jump each, first in the built-in
    // chain, so the target's chain decides every packet there before any other rule.
    for (Chain c : rs.chains)
      e.line(std::string("-I ") + chain_upper(c) + " 1 -j " + own_chain(prefix, c));
    e.line("COMMIT");
    nat_table(e, rs, fam, prefix, trace);
    for (const auto& l : trace.lines([](std::string_view s) { return utf8_text(s); }))
      head.line("# " + l);
    return head.take() + e.take();
  }

  /// The translations in the nat table (iptables-extensions(8), "DNAT" and "SNAT": valid in the
  /// nat table, PREROUTING and POSTROUTING; --to-destination / --to-source ADDRESS; ip6tables
  /// has the same nat table and targets). Only the first packet of a connection traverses the
  /// nat table; conntrack translates the rest and the replies. PREROUTING comes before the
  /// filter table's FORWARD, so the filter rules see the real address. Own chains (-DST,
  /// -SRC), emptied when declared and reached by one jump each, as in the filter table.
  static void nat_table(Emitter& e, const RuleSet& rs, int fam, const std::string& prefix,
                        TraceTable& trace) {
    std::vector<const Translation*> mine;
    for (const Translation& t : rs.translations)
      if (t.v4() == (fam == 4))
        mine.push_back(&t);
    if (mine.empty())
      return;
    // "-DST" and "-SRC" keep the names within 28 characters, like "-OUT" (chain_prefix).
    const std::string pre = prefix + "-DST", post = prefix + "-SRC";
    e.line("*nat");
    e.line(":" + pre + " - [0:0]");
    e.line(":" + post + " - [0:0]");
    for (const Translation* t : mine) {
      bool dnat = t->kind == Translation::Kind::Destination;
      std::string what = t->traced();
      if (t->flow)
        trace.add(*t->flow);
      e.line("# " + utf8_text(what));
      std::string peer = t->peer_any ? "" : (dnat ? " -s " : " -d ") + addr_list(t->peer);
      std::string self = (dnat ? " -d " : " -s ") + t->match.str_with_len();
      std::string to = t->to.str();
      if (t->mapping()) {
        const char* pr = t->proto == kProtoUdp ? "udp" : "tcp";
        self += std::string(" -p ") + pr + " -m " + pr + " --dport " + std::to_string(t->port);
        to = (fam == 4 ? to : "[" + to + "]") + ":" + std::to_string(t->to_port);
      }
      e.line("-A " + (dnat ? pre : post) + (dnat ? peer + self : self + peer) +
             " -m comment --comment \"" + utf8_text(what, "\"\\", '\'', kCommentMax) + "\" -j " +
             (dnat ? "DNAT --to-destination " : "SNAT --to-source ") + to);
    }
    e.line("-I PREROUTING 1 -j " + pre);
    e.line("-I POSTROUTING 1 -j " + post);
    e.line("COMMIT");
  }
};

} // namespace

std::unique_ptr<Backend> make_iptables_backend() {
  return std::make_unique<IptablesBackend>();
}

} // namespace portolan
