#include "nft_reader.h"

#include <algorithm>
#include <map>
#include <sstream>

namespace portolan::roundtrip {

namespace {

Chain chain_of(const std::string& hook) {
  if (hook == "input")
    return Chain::Input;
  if (hook == "output")
    return Chain::Output;
  if (hook == "forward")
    return Chain::Forward;
  throw ReadError("unknown hook " + hook);
}

// The vendor's special values, read as nft reads them (nft(8)), not as our writer means them:
//
//   text                         meaning                                   reference
//   meta l4proto 0               protocol number 0 (HOPOPT) only: nft has  nft(8) META
//                                no "all" number; l4proto is the header    EXPRESSIONS (l4proto:
//                                after IPv6 extension headers              "layer 4 protocol")
//   meta l4proto NAME            the /etc/protocols number (esp 50, ah 51, nft(8)
//                                gre 47, sctp 132, icmpv6/ipv6-icmp 58)
//   icmp type N, icmpv6 type N   type N only; 255 has no special meaning   nft(8) ICMP/ICMPV6
//                                                                          HEADER EXPRESSION
//   icmp type NAME               nft's type names (echo-request 8,         nft describe icmp type
//                                nd-neighbor-solicit 135, ...)
//   icmp type { a, b }           any of the listed types                   nft(8) anonymous sets
//   icmp ... / icmpv6 ...        a header match implies its family         nft(8) (dependency)
//   tcp dport a-b                the range a..b                            nft(8) ranges
//   set X declared twice         one set: the elements of both, merged     nft(8) SETS (a set
//                                (so mangled names that collide give each  is added to, not
//                                role the other's addresses)               replaced)
//   iif/oif "lo"                 interface match: counted, not modelled
//   a . b . c @set               concatenation: the packet's tuple of the  wiki "Concatenations",
//                                selectors is looked up in the set; an     nft(8) SETS (type
//                                element matches when every field does     A . B, flags)
//   set flags interval           elements may be prefixes or ranges a-b;   wiki "Intervals",
//                                without it each field is one value        nft(8) SETS
//   elem comment "x"             element annotation, no effect on matching nft(8) SETS
//   th dport                     @th,16,16: bytes 2-3 of whatever          nft(8) RAW PAYLOAD
//                                transport header, no protocol dependency  EXPRESSION
//                                (so read only beside a tcp/udp l4proto
//                                field of the same element)
uint8_t proto_named(const std::string& s) {
  static const std::map<std::string, uint8_t> names{
      {"tcp", 6}, {"udp", 17}, {"icmp", 1},   {"ipv6-icmp", 58}, {"icmpv6", 58}, {"esp", 50},
      {"ah", 51}, {"gre", 47}, {"sctp", 132}, {"udplite", 136},  {"dccp", 33}};
  if (auto it = names.find(s); it != names.end())
    return it->second;
  if (s.empty() || s.size() > 3 || s.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(s) > 255)
    throw ReadError("bad protocol '" + s + "'");
  return static_cast<uint8_t>(std::stoi(s));
}

uint16_t icmp_type_named(const std::string& s, bool v6) {
  static const std::map<std::string, uint16_t> v4{
      {"echo-reply", 0},           {"destination-unreachable", 3},
      {"source-quench", 4},        {"redirect", 5},
      {"echo-request", 8},         {"router-advertisement", 9},
      {"router-solicitation", 10}, {"time-exceeded", 11},
      {"parameter-problem", 12},   {"timestamp-request", 13},
      {"timestamp-reply", 14},     {"info-request", 15},
      {"info-reply", 16},          {"address-mask-request", 17},
      {"address-mask-reply", 18}};
  static const std::map<std::string, uint16_t> v6n{
      {"destination-unreachable", 1},  {"packet-too-big", 2},         {"time-exceeded", 3},
      {"parameter-problem", 4},        {"echo-request", 128},         {"echo-reply", 129},
      {"mld-listener-query", 130},     {"mld-listener-report", 131},  {"mld-listener-done", 132},
      {"mld-listener-reduction", 132}, {"nd-router-solicit", 133},    {"nd-router-advert", 134},
      {"nd-neighbor-solicit", 135},    {"nd-neighbor-advert", 136},   {"nd-redirect", 137},
      {"router-renumbering", 138},     {"ind-neighbor-solicit", 141}, {"ind-neighbor-advert", 142},
      {"mld2-listener-report", 143}};
  const auto& names = v6 ? v6n : v4;
  if (auto it = names.find(s); it != names.end())
    return it->second;
  if (s.empty() || s.size() > 3 || s.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(s) > 255)
    throw ReadError("bad icmp type '" + s + "'");
  return static_cast<uint16_t>(std::stoi(s));
}

/// Reads "X" or "{ X , Y }" starting at t[i]; advances i past it.
std::vector<std::string> value_list(const std::vector<std::string>& t, size_t& i) {
  std::vector<std::string> out;
  if (t.at(i) != "{") {
    out.push_back(t.at(i++));
    return out;
  }
  for (++i; t.at(i) != "}"; ++i)
    if (t[i] != ",")
      out.push_back(t[i]);
  ++i;
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v)
    s += (s.empty() ? "" : ",") + x;
  return s;
}

void narrow_family(Match& m, Family f) {
  if (m.family && *m.family != f)
    throw ReadError("rule matches two families");
  m.family = f;
}

void narrow_proto(Match& m, uint8_t p) {
  if (m.proto && *m.proto != p)
    throw ReadError("rule matches two protocols");
  m.proto = p;
}

IpAddr address(const std::string& s) {
  auto a = parse_ip(s);
  if (!a)
    throw ReadError("bad address '" + s + "'");
  return *a;
}

/// `[ip|ip6 saddr|daddr X]... dnat|snat ip|ip6 to ADDR [comment "..."]`: matches on one
/// address (the translated side) and optionally on the other side's addresses.
void read_nat_rule(const std::vector<std::string>& t, const std::string& hook,
                   const std::string& line, std::vector<ReadNat>& out) {
  ReadNat n;
  n.destination = hook == "prerouting";
  std::optional<IpAddr> self;
  bool done = false;
  for (size_t i = 0; i < t.size();) {
    const std::string& w = t[i];
    if ((w == "ip" || w == "ip6") && i + 2 < t.size() &&
        (t[i + 1] == "saddr" || t[i + 1] == "daddr")) {
      bool src = t[i + 1] == "saddr";
      i += 2;
      auto vals = value_list(t, i);
      if (src != n.destination) { // the translated side: one address
        if (vals.size() != 1 || self)
          throw ReadError("nat rule matches more than one address to translate: " + line);
        self = address(vals[0]);
      } else {
        n.peer = parse_prefixes(vals);
      }
    } else if ((w == "tcp" || w == "udp") && i + 2 < t.size() && t[i + 1] == "dport") {
      n.proto = w == "tcp" ? 6 : 17;
      n.port = static_cast<uint16_t>(std::stoi(t[i + 2]));
      i += 3;
    } else if ((w == "dnat" || w == "snat") && i + 3 < t.size() && t[i + 2] == "to") {
      if ((w == "dnat") != n.destination)
        throw ReadError(w + " in the " + hook + " chain: " + line);
      // ADDR, or with a port ADDR:PORT (IPv6: [ADDR]:PORT)
      std::string to = t[i + 3];
      if (n.port) {
        auto colon = to.rfind(':');
        if (colon == std::string::npos)
          throw ReadError("port mapping without a port: " + line);
        n.to_port = static_cast<uint16_t>(std::stoi(to.substr(colon + 1)));
        to = to.substr(0, colon);
        if (to.size() > 2 && to.front() == '[' && to.back() == ']')
          to = to.substr(1, to.size() - 2);
      }
      n.to = address(to);
      done = true;
      i += 4;
    } else if (w == "comment") {
      i += 2;
    } else {
      throw ReadError("unexpected '" + w + "' in nat rule: " + line);
    }
  }
  if (!done || !self)
    throw ReadError("nat rule without one address and a translation: " + line);
  n.match = *self;
  out.push_back(std::move(n));
}

/// A set: its field types (one for an address set, more for a concatenation), whether it has
/// `flags interval`, and its elements, each a list of field values.
struct SetText {
  std::vector<std::string> types;
  bool interval = false;
  std::vector<std::vector<std::string>> elems;
};

/// Splits the tokens of `elements = { ... }` into elements and their fields, dropping element
/// comments.
std::vector<std::vector<std::string>> element_fields(const std::vector<std::string>& t) {
  std::vector<std::vector<std::string>> out;
  std::vector<std::string> cur;
  bool dot = true;
  auto flush = [&] {
    if (!cur.empty())
      out.push_back(cur);
    cur.clear();
    dot = true;
  };
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == ",") {
      flush();
    } else if (t[i] == "comment") {
      ++i;
    } else if (t[i] == ".") {
      if (dot)
        throw ReadError("stray '.' in set elements");
      dot = true;
    } else {
      if (!dot)
        throw ReadError("set element fields without '.' between them: " + t[i]);
      cur.push_back(t[i]);
      dot = false;
    }
  }
  flush();
  return out;
}

/// A value of one field of a set element as a port range: "N" or, in an interval set, "A-B".
PortRange port_field(const std::string& v, bool interval) {
  auto ports = parse_ports(v, '-');
  if (ports.size() != 1 || (!interval && ports[0].lo != ports[0].hi))
    throw ReadError("bad port field '" + v + "'");
  return ports[0];
}

/// `sel . sel ... @set verdict [comment "x"]`: one rule matching every element of the set (each
/// element read as the rule it stands for, all with the rule's verdict).
template <class Rules>
void read_concat_rule(const std::vector<std::string>& t, const std::map<std::string, SetText>& sets,
                      Rules& chain) {
  std::vector<std::string> sel; // "ip saddr", "meta l4proto", "th dport", ...
  size_t i = 0;
  for (;;) {
    if (i + 1 >= t.size())
      throw ReadError("unterminated concatenation");
    sel.push_back(t[i] + " " + t[i + 1]);
    i += 2;
    if (i < t.size() && t[i] == ".") {
      ++i;
      continue;
    }
    break;
  }
  if (i >= t.size() || t[i].size() < 2 || t[i][0] != '@')
    throw ReadError("concatenation without a set lookup");
  auto it = sets.find(t[i].substr(1));
  if (it == sets.end())
    throw ReadError("unknown set " + t[i]);
  const SetText& s = it->second;
  ++i;
  if (i >= t.size() || (t[i] != "accept" && t[i] != "drop"))
    throw ReadError("concatenated lookup without verdict");
  bool accept = t[i] == "accept";
  if (++i < t.size() && !(t[i] == "comment" && i + 2 == t.size()))
    throw ReadError("unexpected '" + t[i] + "' after the verdict");
  if (sel.size() != s.types.size())
    throw ReadError("lookup of " + std::to_string(sel.size()) + " fields in a set of " +
                    std::to_string(s.types.size()));
  for (size_t k = 0; k < sel.size(); ++k) {
    const std::string& ty = s.types[k];
    const std::string& x = sel[k];
    bool ok = ((x == "ip saddr" || x == "ip daddr") && ty == "ipv4_addr") ||
              ((x == "ip6 saddr" || x == "ip6 daddr") && ty == "ipv6_addr") ||
              (x == "meta l4proto" && ty == "inet_proto") ||
              (x == "th dport" && ty == "inet_service");
    if (!ok)
      throw ReadError("selector '" + x + "' does not match set field type " + ty);
  }
  for (const auto& e : s.elems) {
    Match m;
    std::optional<PortRange> th_dport;
    for (size_t k = 0; k < sel.size(); ++k) {
      const std::string& x = sel[k];
      const std::string& v = e[k];
      if (x == "meta l4proto") {
        narrow_proto(m, proto_named(v));
      } else if (x == "th dport") {
        th_dport = port_field(v, s.interval);
      } else {
        narrow_family(m, x[2] == '6' ? Family::V6 : Family::V4);
        auto p = parse_prefixes({v});
        if (!s.interval && !(p[0].lo == p[0].hi))
          throw ReadError("prefix '" + v + "' in a set without flags interval");
        (x.find("saddr") != std::string::npos ? m.src : m.dst) = p;
      }
    }
    if (th_dport) {
      // th dport reads bytes 2-3 of any transport header; it is a port only for TCP and UDP.
      if (m.proto != 6 && m.proto != 17)
        throw ReadError("th dport in an element without a tcp/udp protocol field");
      m.dports = {*th_dport};
    }
    chain.rule(m.packets(), accept);
  }
}

} // namespace

/// A chain's rules as read, evaluated once the nat chains (later in the file) are known.
struct RuleList {
  struct Rec {
    PacketSet m;
    bool accept;
    std::optional<OrigMatch> orig;
  };
  std::vector<Rec> recs;
  void rule(const PacketSet& m, bool accept, std::optional<OrigMatch> orig = std::nullopt) {
    recs.push_back({m, accept, orig});
  }
  /// First match over the packets as the filter sees them; `ctx`: translated by that port
  /// mapping (a rule's original-tuple condition holds exactly then), else untranslated.
  PacketSet allowed(const std::optional<OrigMatch>& ctx) const {
    FirstMatch fm;
    for (const Rec& r : recs)
      fm.rule(!r.orig ? r.m
              : ctx   ? (*ctx == *r.orig ? r.m : PacketSet())
                      : untranslated_part(r.m, *r.orig),
              r.accept);
    return fm.allowed();
  }
};

NftRead read_nft(const std::string& text) {
  NftRead out;
  std::map<std::string, std::vector<AddrRange>> sets;
  std::map<std::string, SetText> concats;
  std::map<Chain, RuleList> chains;
  std::istringstream in(text);
  std::string line, set_name;
  SetText set;
  std::vector<std::string> elem_tokens;
  int elem_depth = 0; // inside `elements = { ... }`, which may span lines
  std::optional<Chain> chain;
  std::string nat_hook; // the hook of the nat chain being read ("": not in one)
  while (std::getline(in, line)) {
    auto t = tokenize(line);
    if (t.empty() || t[0][0] == '#')
      continue;
    if (elem_depth > 0) {
      for (const std::string& w : t) {
        elem_depth += w == "{" ? 1 : w == "}" ? -1 : 0;
        if (elem_depth == 0)
          break;
        elem_tokens.push_back(w);
      }
      if (elem_depth == 0)
        set.elems = element_fields(elem_tokens);
      continue;
    }
    if (set_name.empty() && t[0] == "set" && t.size() >= 3) {
      set_name = t[1];
      set = SetText{};
      continue;
    }
    if (!set_name.empty()) {
      if (t[0] == "type") {
        for (size_t i = 1; i < t.size(); ++i)
          if (t[i] != ".")
            set.types.push_back(t[i]);
      } else if (t[0] == "flags") {
        for (size_t i = 1; i < t.size(); ++i)
          set.interval = set.interval || t[i] == "interval";
      } else if (t[0] == "elements") {
        if (t.size() < 3 || t[1] != "=" || t[2] != "{")
          throw ReadError("bad elements line: " + line);
        elem_tokens.clear();
        elem_depth = 1;
        for (size_t i = 3; i < t.size() && elem_depth > 0; ++i) {
          elem_depth += t[i] == "{" ? 1 : t[i] == "}" ? -1 : 0;
          if (elem_depth > 0)
            elem_tokens.push_back(t[i]);
        }
        if (elem_depth == 0)
          set.elems = element_fields(elem_tokens);
      } else if (t[0] == "}") {
        bool address =
            set.types.size() == 1 && (set.types[0] == "ipv4_addr" || set.types[0] == "ipv6_addr");
        if (address) {
          // A set declared twice in one table is one set: nft adds the second declaration's
          // elements to the first (`add set` does not replace), so both names get both.
          std::vector<std::string> texts;
          for (const auto& e : set.elems)
            texts.push_back(e.at(0));
          auto elems = parse_prefixes(texts);
          auto& into = sets[set_name];
          into.insert(into.end(), elems.begin(), elems.end());
        } else {
          for (const auto& e : set.elems)
            if (e.size() != set.types.size())
              throw ReadError("set " + set_name + ": element with " + std::to_string(e.size()) +
                              " fields, type has " + std::to_string(set.types.size()));
          auto& into = concats[set_name];
          if (!into.types.empty() && (into.types != set.types || into.interval != set.interval))
            throw ReadError("set " + set_name + " declared twice with different types");
          into.types = set.types;
          into.interval = set.interval;
          into.elems.insert(into.elems.end(), set.elems.begin(), set.elems.end());
        }
        set_name.clear();
      }
      continue;
    }
    if (t[0] == "chain") {
      chain.reset();
      nat_hook.clear();
      continue;
    }
    // nat chains (nft(8), CHAINS: type nat; STATEMENTS: "dnat [ip | ip6] to ADDR", "snat [ip |
    // ip6] to ADDR"): a dnat rule rewrites the destination of a connection's first packet in
    // prerouting, before the filter hooks; snat rewrites the source in postrouting, after them.
    if (t[0] == "type" && t.size() > 3 && t[1] == "nat") {
      nat_hook = t[3];
      if (nat_hook != "prerouting" && nat_hook != "postrouting")
        throw ReadError("nat chain on hook " + nat_hook);
      continue;
    }
    if (!nat_hook.empty() && t[0] != "}") {
      read_nat_rule(t, nat_hook, line, out.nat);
      continue;
    }
    if (t[0] == "type" && t.size() > 3 && t[1] == "filter") {
      chain = chain_of(t[3]);
      chains[*chain];
      continue;
    }
    if (!chain || t[0] == "}" || t[0] == "table" || t[0] == "delete")
      continue;
    // A rule.
    if (t[0] == "ct") {
      // State rules (nft(8), CONNTRACK EXPRESSIONS). The readers' packets open connections:
      // `established`/`related` never match them; `invalid` matches those conntrack cannot
      // track (conntrack_invalid_first_packets).
      std::string joined;
      for (const auto& w : t)
        joined += (joined.empty() ? "" : " ") + w;
      if (joined == "ct state invalid drop") {
        chains[*chain].rule(conntrack_invalid_first_packets(), false);
      } else if (joined == "ct state invalid meta l4proto != { icmp , ipv6-icmp } drop") {
        Match icmp4, icmp6;
        icmp4.proto = 1;
        icmp6.proto = 58;
        chains[*chain].rule(
            conntrack_invalid_first_packets().subtract(icmp4.packets().unite(icmp6.packets())),
            false);
      } else if (joined != "ct state established , related accept" &&
                 joined != "ct direction reply ct state established accept" &&
                 joined != "ct state related accept") {
        throw ReadError("unexpected state rule: " + line);
      }
      continue;
    }
    if ((t[0] == "iif" || t[0] == "oif") && t.size() >= 3 && t[1] == "\"lo\"") {
      ++out.loopback_rules;
      continue;
    }
    if (t[0] == "icmpv6" && t.size() > 3 && t[2] == "{" && t[3] == "nd-router-solicit")
      ++out.nd_rules; // read like any other rule below
    if (std::find(t.begin(), t.end(), ".") != t.end()) {
      read_concat_rule(t, concats, chains[*chain]);
      ++out.rules;
      continue;
    }
    Match m;
    std::optional<bool> verdict;
    std::optional<IpAddr> orig_dst;
    std::optional<uint16_t> orig_port;
    for (size_t i = 0; i < t.size();) {
      const std::string& w = t[i];
      if (w == "ct" && i + 3 < t.size() && t[i + 1] == "original") {
        // nft(8), CONNTRACK EXPRESSIONS: the original direction's tuple.
        if ((t[i + 2] == "ip" || t[i + 2] == "ip6") && t[i + 3] == "daddr" && i + 4 < t.size()) {
          orig_dst = address(t[i + 4]);
          i += 5;
        } else if (t[i + 2] == "proto-dst") {
          orig_port = static_cast<uint16_t>(std::stoi(t[i + 3]));
          i += 4;
        } else {
          throw ReadError("unexpected ct original match in: " + line);
        }
        continue;
      }
      if ((w == "ip" || w == "ip6") && i + 2 < t.size()) {
        Family f = w == "ip" ? Family::V4 : Family::V6;
        narrow_family(m, f);
        const std::string& dir = t[i + 1];
        std::string ref = t[i + 2];
        if (ref.empty() || ref[0] != '@' || !sets.count(ref.substr(1)))
          throw ReadError("unknown set " + ref);
        (dir == "saddr" ? m.src : m.dst) = sets[ref.substr(1)];
        i += 3;
      } else if (w == "meta" && i + 2 < t.size() && t[i + 1] == "nfproto") {
        i += 2;
        auto fams = value_list(t, i);
        if (fams.size() == 1)
          narrow_family(m, fams[0] == "ipv4" ? Family::V4 : Family::V6);
      } else if (w == "meta" && i + 2 < t.size() && t[i + 1] == "l4proto") {
        narrow_proto(m, proto_named(t[i + 2]));
        i += 3;
      } else if ((w == "tcp" || w == "udp") && i + 2 < t.size()) {
        narrow_proto(m, w == "tcp" ? 6 : 17);
        bool src = t[i + 1] == "sport";
        i += 2;
        auto ports = parse_ports(join(value_list(t, i)), '-');
        (src ? m.sports : m.dports) = ports;
      } else if ((w == "icmp" || w == "icmpv6") && i + 2 < t.size()) {
        // Like nft itself: an icmp/icmpv6 header match implies its family.
        narrow_family(m, w == "icmp" ? Family::V4 : Family::V6);
        narrow_proto(m, w == "icmp" ? 1 : 58);
        bool type = t[i + 1] == "type";
        i += 2;
        std::vector<PortRange> values;
        for (const std::string& v : value_list(t, i)) {
          uint16_t n =
              type ? icmp_type_named(v, w == "icmpv6") : static_cast<uint16_t>(std::stoi(v));
          values.push_back(PortRange{n, n});
        }
        (type ? m.sports : m.dports) = values;
      } else if (w == "accept" || w == "drop") {
        verdict = w == "accept";
        ++i;
      } else if (w == "comment") {
        i += 2;
      } else {
        throw ReadError("unexpected '" + w + "' in: " + line);
      }
    }
    if (!verdict)
      throw ReadError("rule without verdict: " + line);
    if (orig_dst.has_value() != orig_port.has_value())
      throw ReadError("ct original needs both daddr and proto-dst: " + line);
    std::optional<OrigMatch> orig;
    if (orig_dst)
      orig = OrigMatch{*orig_dst, *orig_port};
    chains[*chain].rule(m.packets(), *verdict, orig);
    ++out.rules;
  }
  for (auto& [c, rl] : chains) {
    PacketSet allowed = rl.allowed(std::nullopt);
    if (c == Chain::Forward)
      // What a port mapping translates is judged as it is sent (docs/backends.md, NAT).
      for (const ReadNat& n : out.nat)
        if (n.destination && n.mapping()) {
          allowed.remove(mapping_region(n));
          allowed.add(mapping_preimage(n, rl.allowed(OrigMatch{n.match, n.port})));
        }
    out.allowed[c] = allowed;
  }
  return out;
}

} // namespace portolan::roundtrip
