#include "nft_reader.h"

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

uint8_t proto_named(const std::string& s) {
  if (s == "tcp")
    return 6;
  if (s == "udp")
    return 17;
  if (s == "icmp")
    return 1;
  if (s == "ipv6-icmp")
    return 58;
  return static_cast<uint8_t>(std::stoi(s));
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

} // namespace

NftRead read_nft(const std::string& text) {
  NftRead out;
  std::map<std::string, std::vector<AddrRange>> sets;
  std::map<Chain, FirstMatch> chains;
  std::istringstream in(text);
  std::string line, set_name;
  std::vector<std::string> set_elems;
  std::optional<Chain> chain;
  while (std::getline(in, line)) {
    auto t = tokenize(line);
    if (t.empty() || t[0][0] == '#')
      continue;
    if (t[0] == "set" && t.size() >= 3) {
      set_name = t[1];
      set_elems.clear();
      continue;
    }
    if (!set_name.empty()) {
      if (t[0] == "elements") {
        size_t i = 2;
        set_elems = value_list(t, i);
      } else if (t[0] == "}") {
        // A set declared twice in one table is one set: nft adds the second declaration's
        // elements to the first (`add set` does not replace), so both names get both.
        auto elems = parse_prefixes(set_elems);
        auto& into = sets[set_name];
        into.insert(into.end(), elems.begin(), elems.end());
        set_name.clear();
      }
      continue;
    }
    if (t[0] == "chain") {
      chain.reset();
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
    if (t[0] == "icmpv6" && t.size() > 3 && t[2] == "{" && t[3] == "nd-router-solicit") {
      ++out.nd_rules;
      continue;
    }
    Match m;
    std::optional<bool> verdict;
    for (size_t i = 0; i < t.size();) {
      const std::string& w = t[i];
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
        uint16_t v = static_cast<uint16_t>(std::stoi(t[i + 2]));
        (t[i + 1] == "type" ? m.sports : m.dports) = {PortRange{v, v}};
        i += 3;
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
    chains[*chain].rule(m.packets(), *verdict);
    ++out.rules;
  }
  for (auto& [c, fm] : chains)
    out.allowed[c] = fm.allowed();
  return out;
}

} // namespace portolan::roundtrip
