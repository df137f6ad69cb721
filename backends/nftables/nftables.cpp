// nftables: an inet table owned by Portolan, replaced atomically by `nft -f` (the file creates,
// deletes and re-declares it, so re-applying is idempotent and other tables are left alone).
// Rules that differ only in addresses, protocol and port are folded into concatenated sets
// ("Folding" below); the rest name endpoint addresses through named interval sets. Each rule
// and each set element names the flow it implements by id, and the table at the top says where
// each flow is written.
#include "nftables.h"

#include "common/shape.h"
#include "common/text.h"
#include "names.h"

#include <algorithm>
#include <bitset>
#include <cctype>
#include <tuple>

#include <map>
#include <optional>
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

// Folding (docs/backends.md, "nftables"): rules that differ only in addresses, protocol and
// destination port become elements of a few concatenated interval sets, one rule per set
// (`ip saddr . ip daddr . meta l4proto . th dport @set accept`). nft's load time grows with the
// number of rules times the number of named sets; a set lookup costs about the same for one
// element as for thousands.
//
// Why it keeps first-match semantics: only a maximal run of consecutive rules of one chain
// with the same verdict is folded, and within such a run the order of the rules does not
// matter (a packet any of them matches gets the run's verdict; one none matches goes on past
// the run). The run's set rules and the rules that stay on their own (ICMP types, source
// ports, any-to-any, products past the bound) are printed together where the run stands.
//
// Elements made only of host addresses and single ports go to a hash set (`_exact`, no
// `flags interval`), cheaper to load than the interval (pipapo) set the others need. An
// element's comment is its flow's id only: the `# id summary` lines above it name the flow, and
// the summary in every element made `nft -f` of the 100k-flow bench about 25% slower.
//
// The elements of one set are pairwise disjoint: the kernel refuses an element of an interval
// set whose first or last point lies in another (pipapo reports EEXIST), so an element that
// overlaps one already in the set goes to the next set of the same shape (`..._2`).

/// A rule stays a rule of its own when one family's product of source prefixes, destination
/// prefixes and destination ports exceeds this many elements (cross products of big address
/// sets: two named sets and one rule are cheaper than thousands of elements).
constexpr size_t kFoldMaxElements = 256;

enum class L4Key { None, Proto, Port };

struct FoldShape {
  bool v4 = true, src = false, dst = false;
  bool exact = false; ///< every element is host addresses and one port: a hash set
  L4Key l4 = L4Key::None;
  auto operator<=>(const FoldShape&) const = default;
};

struct FoldElem {
  Prefix s, d; ///< unused sides are ignored
  uint8_t proto = 0;
  PortRange port;
};

bool overlaps(const Prefix& a, const Prefix& b) {
  return a.contains(b) || b.contains(a);
}
bool overlaps(PortRange a, PortRange b) {
  return a.lo <= b.hi && b.lo <= a.hi;
}

/// `p` cut to its first `len` bits.
Prefix cut(const Prefix& p, int len) {
  Prefix q = p;
  q.len = static_cast<uint8_t>(len);
  for (int i = len; i < p.addr.bits(); ++i)
    q.addr.bytes[static_cast<size_t>(i / 8)] &= static_cast<uint8_t>(~(0x80u >> (i % 8)));
  return q;
}

std::string proto_elem(uint8_t p) {
  return p == kProtoTcp ? "tcp" : p == kProtoUdp ? "udp" : std::to_string(p);
}

/// One folded set: its shape, its pairwise disjoint elements and the lines that print them.
class FoldSet {
public:
  FoldSet(std::string name, FoldShape shape, std::string comment)
      : name_(std::move(name)), shape_(shape), comment_(std::move(comment)) {}

  const std::string& name() const { return name_; }

  /// Whether `e` shares a packet with an element already in the set.
  bool meets(const FoldElem& e) const {
    const Prefix& k = key(e);
    auto check = [&](const std::vector<size_t>& ids) {
      for (size_t i : ids)
        if (same_box(elems_[i], e))
          return true;
      return false;
    };
    // Prefixes either nest or are disjoint: those inside `k` start within it...
    IpAddr last = k.last();
    for (auto it = index_.lower_bound(Prefix{k.addr, 0});
         it != index_.end() && it->first.addr <= last; ++it)
      if (check(it->second))
        return true;
    // ... and those holding it are `k` cut shorter (only to lengths some element has).
    for (int len = 0; len < k.len; ++len)
      if (lens_[static_cast<size_t>(len)])
        if (auto it = index_.find(cut(k, len)); it != index_.end() && check(it->second))
          return true;
    return false;
  }

  void add(const FoldElem& e, const std::string& heading, const std::string& note,
           const std::string& comment) {
    if (heading != last_heading_) {
      lines_.push_back("# " + heading);
      if (!note.empty())
        lines_.push_back("#   " + note);
      last_heading_ = heading;
    }
    std::string t;
    if (shape_.src)
      t += e.s.str();
    if (shape_.dst)
      t += (t.empty() ? "" : " . ") + e.d.str();
    if (shape_.l4 != L4Key::None)
      t += " . " + proto_elem(e.proto);
    if (shape_.l4 == L4Key::Port)
      t += " . " + port_text(e.port, "-");
    last_elem_ = lines_.size();
    lines_.push_back(t + " comment \"" + comment + "\"");
    index_[key(e)].push_back(elems_.size());
    lens_.set(key(e).len);
    elems_.push_back(e);
  }

  /// The rule that matches the set, without its verdict.
  std::string match() const {
    const char* ip = shape_.v4 ? "ip" : "ip6";
    std::string m;
    if (shape_.src)
      m += std::string(ip) + " saddr";
    if (shape_.dst)
      m += (m.empty() ? "" : " . ") + std::string(ip) + " daddr";
    if (shape_.l4 != L4Key::None)
      m += " . meta l4proto";
    if (shape_.l4 == L4Key::Port)
      m += " . th dport";
    return m + " @" + name_;
  }

  void print(Emitter& e) const {
    const char* addr = shape_.v4 ? "ipv4_addr" : "ipv6_addr";
    std::string type;
    if (shape_.src)
      type += addr;
    if (shape_.dst)
      type += (type.empty() ? "" : " . ") + std::string(addr);
    if (shape_.l4 != L4Key::None)
      type += " . inet_proto";
    if (shape_.l4 == L4Key::Port)
      type += " . inet_service";
    e.open("set " + name_ + " {");
    e.line("type " + type);
    if (!shape_.exact)
      e.line("flags interval");
    e.line("comment \"" + comment_ + "\"");
    e.open("elements = {");
    for (size_t i = 0; i < lines_.size(); ++i)
      e.line(lines_[i] + (i < last_elem_ && lines_[i][0] != '#' ? "," : ""));
    e.close("}");
    e.close("}");
  }

private:
  const Prefix& key(const FoldElem& e) const { return shape_.src ? e.s : e.d; }
  bool same_box(const FoldElem& a, const FoldElem& b) const {
    return (!shape_.src || overlaps(a.s, b.s)) && (!shape_.dst || overlaps(a.d, b.d)) &&
           (shape_.l4 == L4Key::None || a.proto == b.proto) &&
           (shape_.l4 != L4Key::Port || overlaps(a.port, b.port));
  }

  std::string name_;
  FoldShape shape_;
  std::string comment_;
  std::vector<FoldElem> elems_;
  std::map<Prefix, std::vector<size_t>> index_; ///< first address of each element -> elements
  std::bitset<129> lens_;                       ///< the prefix lengths of the index's keys
  std::vector<std::string> lines_;              ///< heading comments and elements
  size_t last_elem_ = 0;
  std::string last_heading_;
};

/// The elements of rule `r` in one family when it folds; nullopt when it stays a rule.
std::optional<std::pair<FoldShape, std::vector<FoldElem>>> fold_of(const RuleSet& rs, const Rule& r,
                                                                   bool v4) {
  // A port mapping's internal leg also matches the connection's original tuple (`ct original
  // ...`), which no set element can say: folded, it would accept the mapped port sent directly.
  if (r.mapped >= 0)
    return std::nullopt;
  FoldShape sh;
  sh.v4 = v4;
  sh.src = !r.src.any();
  sh.dst = !r.dst.any();
  if (!sh.src && !sh.dst)
    return std::nullopt;
  const L4Match& m = r.l4;
  std::vector<PortRange> ports{PortRange{}};
  if (!m.proto) {
    sh.l4 = L4Key::None;
  } else if (*m.proto == kProtoTcp || *m.proto == kProtoUdp) {
    if (!m.sports.empty())
      return std::nullopt;
    sh.l4 = m.dports.empty() ? L4Key::Proto : L4Key::Port;
    if (!m.dports.empty())
      ports = m.dports;
  } else if ((*m.proto == kProtoIcmp || *m.proto == kProtoIcmpV6) && m.icmp_type) {
    return std::nullopt;
  } else {
    sh.l4 = L4Key::Proto;
  }
  static const std::vector<Prefix> kAny{Prefix{}};
  auto side = [&](AddrRef ref) -> const std::vector<Prefix>& {
    if (ref.any())
      return kAny;
    const AddrSet& s = rs.sets[static_cast<size_t>(ref.set)];
    return v4 ? s.v4 : s.v6;
  };
  const auto& src = side(r.src);
  const auto& dst = side(r.dst);
  if (src.size() * dst.size() * ports.size() > kFoldMaxElements)
    return std::nullopt;
  std::vector<FoldElem> out;
  for (const Prefix& s : src)
    for (const Prefix& d : dst)
      for (PortRange p : ports)
        out.push_back(FoldElem{s, d, m.proto.value_or(0), p});
  return std::pair{sh, out};
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

  std::vector<OutputFile> emit(const RuleSet& rs, Diagnostics& diags,
                               EmitText want) const override {
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
    if (want == EmitText::Diagnostics)
      return output_files(OutputFile{"", ""});
    return output_files(OutputFile{"", print(rs)});
  }

private:
  /// The file, for a rule set the checks above accepted: it reports nothing (no Diagnostics),
  /// so `check` may skip it and still report what `build` does.
  static std::string print(const RuleSet& rs) {
    const std::string& table = rs.options.text("table");
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

    // Plan the chains first: the rules that stay rules name address sets, the folded ones
    // fill folded sets, and only the sets something uses are declared.
    std::vector<uint8_t> used(rs.sets.size(), 0);
    std::vector<FoldSet> folds;
    std::vector<std::vector<std::string>> chain_lines;
    for (Chain c : rs.chains) {
      std::vector<const Rule*> rules;
      for (const Rule& r : rs.rules)
        if (r.chain == c)
          rules.push_back(&r);
      auto& lines = chain_lines.emplace_back();
      std::map<Action, int> runs;
      std::string last_group;
      for (size_t i = 0; i < rules.size();) {
        // A maximal run of rules with one verdict (see "Folding" above).
        size_t end = i;
        while (end < rules.size() && rules[end]->action == rules[i]->action)
          ++end;
        bool accept = rules[i]->action == Action::Allow;
        int run = runs[rules[i]->action]++;
        std::string verdict = accept ? " accept" : " drop";
        std::string base = std::string(chain_name(c)) + (accept ? "_accept" : "_drop") +
                           (run ? "_run" + std::to_string(run + 1) : "");
        std::map<FoldShape, std::vector<size_t>> layers; // shape -> its sets in `folds`
        size_t first_fold = folds.size();
        std::vector<std::string> alone;
        for (; i < end; ++i) {
          const Rule& r = *rules[i];
          const RuleOrigin& f = r.origin;
          trace.add(f);
          std::string heading = utf8_text(r.heading());
          std::string note = f.note.empty() ? "" : utf8_text(f.note);
          std::string comment = utf8_text(f.traced(), "\"\\", '\'', kCommentMax);
          std::string elem_comment = utf8_text(f.id, "\"\\", '\'', kCommentMax);
          std::vector<std::string> bodies;
          if (r.src.any() && r.dst.any()) {
            bodies = rule_bodies(rs, r, 0, used);
          } else {
            for (int fam : {4, 6}) {
              if (!(fam == 4 ? r.v4 : r.v6))
                continue;
              auto fold = fold_of(rs, r, fam == 4);
              if (!fold) {
                for (std::string& b : rule_bodies(rs, r, fam, used))
                  bodies.push_back(std::move(b));
                continue;
              }
              for (const FoldElem& el : fold->second) {
                FoldShape sh = fold->first;
                sh.exact = (!sh.src || el.s.is_host()) && (!sh.dst || el.d.is_host()) &&
                           (sh.l4 != L4Key::Port || el.port.lo == el.port.hi);
                auto& ls = layers[sh];
                size_t l = 0;
                while (l < ls.size() && folds[ls[l]].meets(el))
                  ++l;
                if (l == ls.size()) {
                  std::string name =
                      base + (sh.v4 ? "_v4_" : "_v6_") + (sh.src ? "s" : "") + (sh.dst ? "d" : "") +
                      (sh.l4 == L4Key::Port    ? "_port"
                       : sh.l4 == L4Key::Proto ? "_proto"
                                               : "") +
                      (sh.exact ? "_exact" : "") + (l ? "_" + std::to_string(l + 1) : "");
                  ls.push_back(folds.size());
                  folds.emplace_back(name, sh,
                                     std::string(chain_name(c)) + verdict +
                                         ": folded flows, each element names its flow");
                }
                folds[ls[l]].add(el, heading, note, elem_comment);
              }
            }
          }
          if (bodies.empty())
            continue;
          if (heading != last_group) {
            alone.push_back("# " + heading);
            if (!note.empty())
              alone.push_back("#   " + note);
            last_group = heading;
          }
          for (const std::string& body : bodies)
            alone.push_back(body + verdict + " comment \"" + comment + "\"");
        }
        for (size_t k = first_fold; k < folds.size(); ++k)
          lines.push_back(folds[k].match() + verdict);
        lines.insert(lines.end(), alone.begin(), alone.end());
      }
    }

    for (size_t si = 0; si < rs.sets.size(); ++si) {
      const AddrSet& s = rs.sets[si];
      for (auto [fam, list] : {std::pair{"v4", &s.v4}, std::pair{"v6", &s.v6}}) {
        if (list->empty() || !(used[si] & (fam[1] == '4' ? 1 : 2)))
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
    for (const FoldSet& f : folds) {
      f.print(e);
      e.line();
    }

    for (size_t ci = 0; ci < rs.chains.size(); ++ci) {
      Chain c = rs.chains[ci];
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
      for (const std::string& l : chain_lines[ci])
        e.line(l);
      e.close("}");
      if (c != rs.chains.back())
        e.line();
    }
    emit_nat(e, rs, trace);
    e.close("}");
    for (const auto& l : trace.lines([](std::string_view s) { return utf8_text(s); }))
      head.line("# " + l);
    return head.take() + e.take();
  }

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
  /// `only`: 4 or 6 for one family's body, 0 for all; marks in `used` the address sets
  /// and families (1: IPv4, 2: IPv6) it names.
  static std::vector<std::string> rule_bodies(const RuleSet& rs, const Rule& r, int only,
                                              std::vector<uint8_t>& used) {
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
      if ((fam == 4 && !r.v4) || (fam == 6 && !r.v6) || (only && fam != only))
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
      for (AddrRef ref : {r.src, r.dst})
        if (!ref.any())
          used[static_cast<size_t>(ref.set)] |= fam == 4 ? 1 : 2;
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
