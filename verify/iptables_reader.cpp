#include "iptables_reader.h"

#include <cctype>
#include <functional>
#include <map>
#include <sstream>

namespace portolan::roundtrip {

namespace {

// The vendor's special values, read as iptables and the kernel read them, not as our writer
// means them (it should never write the first three; if it does, the round trip shows the
// difference as permissive):
//
//   text                      meaning                               reference
//   -p 0, -p all              every protocol                        iptables(8), -p: "The number
//                                                                   zero is equivalent to all"
//   -p NAME                   the /etc/protocols number (esp 50,    iptables(8), -p
//                             ah 51, gre 47, sctp 132, mh 135,
//                             udplite 136, icmpv6/ipv6-icmp 58)
//   --icmp-type 255, any      every ICMP type and code              iptables-extensions(8) icmp;
//                                                                   ip_tables.c
//                                                                   icmp_type_code_match(): type
//                                                                   0xFF matches all
//   --icmp-type T             type T, every code                    iptables-extensions(8) icmp
//   --icmpv6-type 255         type 255 only (no wildcard type)      ip6_tables.c
//                                                                   icmp6_type_code_match()
//   --icmp-type NAME          the named type (echo-request 8, ...)  iptables -p icmp -h
//   --dport a:b, :b, a:       a missing first port is 0, a missing  iptables-extensions(8) tcp
//                             last one 65535
//   -s/-d 0.0.0.0/0, ::/0     any address                           iptables(8), -s
//   ! before a match          inverted match: refused (ReadError)   iptables(8)
//   -i lo / -o lo             interface match: counted, not modelled (the packet model has no
//                             interfaces)
struct Special {
  const char* text;
  int value; ///< -1: every value
};
constexpr Special kProtocols[] = {{"all", -1},     {"0", -1},         {"tcp", 6},     {"udp", 17},
                                  {"icmp", 1},     {"ipv6-icmp", 58}, {"icmpv6", 58}, {"esp", 50},
                                  {"ah", 51},      {"gre", 47},       {"sctp", 132},  {"mh", 135},
                                  {"udplite", 136}};
constexpr Special kIcmpTypes[] = {{"any", -1},
                                  {"echo-reply", 0},
                                  {"destination-unreachable", 3},
                                  {"source-quench", 4},
                                  {"redirect", 5},
                                  {"echo-request", 8},
                                  {"router-advertisement", 9},
                                  {"router-solicitation", 10},
                                  {"time-exceeded", 11},
                                  {"parameter-problem", 12},
                                  {"timestamp-request", 13},
                                  {"timestamp-reply", 14},
                                  {"address-mask-request", 17},
                                  {"address-mask-reply", 18}};
constexpr Special kIcmpv6Types[] = {{"destination-unreachable", 1},
                                    {"packet-too-big", 2},
                                    {"time-exceeded", 3},
                                    {"parameter-problem", 4},
                                    {"echo-request", 128},
                                    {"echo-reply", 129},
                                    {"router-solicitation", 133},
                                    {"router-advertisement", 134},
                                    {"neighbour-solicitation", 135},
                                    {"neighbour-advertisement", 136},
                                    {"redirect", 137}};

template <size_t N>
std::optional<int> lookup(const Special (&table)[N], const std::string& s) {
  for (const Special& x : table)
    if (s == x.text)
      return x.value;
  return std::nullopt;
}

int number(const std::string& s, int max, const std::string& what) {
  if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(s) > max)
    throw ReadError("bad " + what + " '" + s + "'");
  return std::stoi(s);
}

/// iptables port ranges: "a", "a:b", ":b" (from 0), "a:" (to 65535), comma lists (multiport).
std::vector<PortRange> ipt_ports(const std::string& text) {
  std::vector<PortRange> out;
  std::stringstream ss(text);
  for (std::string part; std::getline(ss, part, ',');) {
    size_t colon = part.find(':');
    int lo = colon == 0 ? 0 : number(part.substr(0, colon), 65535, "port");
    int hi = colon == std::string::npos ? lo
             : colon + 1 == part.size() ? 65535
                                        : number(part.substr(colon + 1), 65535, "port");
    out.push_back(PortRange{static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)});
  }
  return out;
}

Chain chain_of(const std::string& n) {
  if (n == "INPUT")
    return Chain::Input;
  if (n == "OUTPUT")
    return Chain::Output;
  if (n == "FORWARD")
    return Chain::Forward;
  throw ReadError("unknown chain " + n);
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ','))
    out.push_back(x);
  return out;
}

} // namespace

namespace {

/// One rule of a chain: what it matches and what it does with it.
struct IptRule {
  PacketSet match;
  enum Kind { Accept, Drop, Jump } kind = Drop;
  std::string target;            ///< Jump: the user chain
  std::optional<OrigMatch> orig; ///< --ctorigdst/--ctorigdstport
};

/// First-match evaluation of one chain, following jumps into user chains (iptables(8): a jump
/// to a user chain that reaches its end without a verdict returns to the calling chain).
/// `ctx`: the packets are translated by that port mapping (a rule's original-tuple condition
/// holds exactly then); else they are untranslated (their original tuple is their own).
FirstMatch evaluate(const std::string& name,
                    const std::map<std::string, std::vector<IptRule>>& rules, int depth = 0,
                    const std::optional<OrigMatch>& ctx = std::nullopt) {
  if (depth > 16)
    throw ReadError("jumps nested too deep at " + name);
  FirstMatch fm;
  auto it = rules.find(name);
  if (it == rules.end())
    throw ReadError("jump to undeclared chain " + name);
  for (const IptRule& r : it->second) {
    PacketSet m = !r.orig ? r.match
                  : ctx   ? (*ctx == *r.orig ? r.match : PacketSet())
                          : untranslated_part(r.match, *r.orig);
    if (r.kind == IptRule::Jump) {
      FirstMatch sub = evaluate(r.target, rules, depth + 1, ctx);
      fm.rule(m.intersect(sub.allowed()), true);
      fm.rule(m.intersect(sub.covered().subtract(sub.allowed())), false);
    } else {
      fm.rule(m, r.kind == IptRule::Accept);
    }
  }
  return fm;
}

bool builtin(const std::string& n) {
  return n == "INPUT" || n == "FORWARD" || n == "OUTPUT";
}

/// One line of the nat table: a chain declaration (which empties the chain) or a rule, kept
/// as its words for nat_translations.
void read_nat_line(const std::string& line,
                   std::map<std::string, std::vector<std::vector<std::string>>>& chains) {
  std::istringstream ls(line);
  std::vector<std::string> t;
  std::string w;
  while (ls >> w)
    t.push_back(w);
  if (line[0] == ':') {
    chains[t[0].substr(1)].clear();
    return;
  }
  if (t.size() < 2 || (t[0] != "-A" && t[0] != "-I"))
    throw ReadError("unexpected line in the nat table: " + line);
  auto& list = chains[t[1]];
  if (t[0] == "-I") {
    bool numbered = t.size() > 2 && std::isdigit(static_cast<unsigned char>(t[2][0]));
    size_t at = numbered ? std::stoul(t[2]) - 1 : 0;
    if (at > list.size())
      throw ReadError("-I past the end of " + t[1]);
    if (numbered)
      t.erase(t.begin() + 2);
    list.insert(list.begin() + static_cast<std::ptrdiff_t>(at), t);
  } else {
    list.push_back(t);
  }
}

/// The translations of the nat table, in evaluation order (iptables-extensions(8): DNAT is
/// valid in PREROUTING, rewriting the destination to --to-destination; SNAT in POSTROUTING,
/// rewriting the source to --to-source; the first matching rule with such a target decides,
/// a jump to a user chain evaluates that chain in place).
void nat_translations(const std::map<std::string, std::vector<std::vector<std::string>>>& chains,
                      std::vector<ReadNat>& out) {
  std::function<void(const std::string&, bool, int)> walk = [&](const std::string& chain, bool dnat,
                                                                int depth) {
    auto it = chains.find(chain);
    if (it == chains.end())
      return;
    if (depth > 8)
      throw ReadError("nat chains nest too deep");
    for (const auto& t : it->second) {
      ReadNat n;
      n.destination = dnat;
      std::optional<std::vector<AddrRange>> src, dst;
      std::string target, to;
      for (size_t i = 2; i < t.size(); ++i) {
        auto next = [&]() -> const std::string& {
          if (i + 1 >= t.size())
            throw ReadError("missing value after " + t[i]);
          return t[++i];
        };
        if (t[i] == "-s")
          src = parse_prefixes(split_commas(next()));
        else if (t[i] == "-d")
          dst = parse_prefixes(split_commas(next()));
        else if (t[i] == "-m")
          next();
        else if (t[i] == "-p") {
          const std::string& pr = next();
          if (pr != "tcp" && pr != "udp")
            throw ReadError("nat rule for protocol " + pr);
          n.proto = pr == "tcp" ? 6 : 17;
        } else if (t[i] == "--dport")
          n.port = static_cast<uint16_t>(std::stoi(next()));
        else if (t[i] == "--comment") {
          // a quoted comment may hold blanks: skip to its closing quote
          std::string c = next();
          while ((c.size() < 2 || c.back() != '"') && i + 1 < t.size())
            c += " " + t[++i];
        } else if (t[i] == "-j")
          target = next();
        else if (t[i] == "--to-destination" || t[i] == "--to-source")
          to = next();
        else
          throw ReadError("unexpected '" + t[i] + "' in the nat table");
      }
      if (target != "DNAT" && target != "SNAT") {
        if (!src && !dst)
          walk(target, dnat, depth + 1);
        else
          throw ReadError("conditional jump in the nat table");
        continue;
      }
      if ((target == "DNAT") != dnat)
        throw ReadError(target + " in " + chain);
      const auto& self = dnat ? dst : src;
      const auto& peer = dnat ? src : dst;
      if (!self || self->size() != 1 || !(self->front().lo == self->front().hi))
        throw ReadError("a nat rule that translates more than one address");
      if (n.port) { // ADDR:PORT, IPv6 [ADDR]:PORT (iptables-extensions(8), DNAT)
        auto colon = to.rfind(':');
        if (colon == std::string::npos)
          throw ReadError("port mapping without a port: " + to);
        n.to_port = static_cast<uint16_t>(std::stoi(to.substr(colon + 1)));
        to = to.substr(0, colon);
        if (to.size() > 2 && to.front() == '[' && to.back() == ']')
          to = to.substr(1, to.size() - 2);
      }
      auto a = parse_ip(to);
      if (!a)
        throw ReadError("bad translation address " + to);
      n.match = self->front().lo;
      n.to = *a;
      n.peer = peer;
      out.push_back(std::move(n));
    }
  };
  walk("PREROUTING", true, 0);
  walk("POSTROUTING", false, 0);
}

} // namespace

void read_iptables(const std::string& text, Family family, IptRead& out) {
  std::map<std::string, std::vector<IptRule>> rules;
  std::map<std::string, std::optional<bool>> declared_policy; // built-ins declared in the file
  for (const char* b : {"INPUT", "FORWARD", "OUTPUT"})
    rules[b];
  std::istringstream in(text);
  std::string line;
  bool committed = false;
  bool nat_table = false;
  std::map<std::string, std::vector<std::vector<std::string>>> nat_rules; // chain -> rules
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    if (line == "*filter" || line == "*nat") {
      nat_table = line == "*nat";
      continue;
    }
    if (nat_table) {
      if (line != "COMMIT")
        read_nat_line(line, nat_rules);
      continue;
    }
    if (line == "COMMIT") {
      committed = true;
      continue;
    }
    if (line[0] == ':') {
      std::istringstream ls(line.substr(1));
      std::string name, policy;
      ls >> name >> policy;
      if (builtin(name)) {
        declared_policy[name] = policy == "ACCEPT";
        out.policy_accept[chain_of(name)] = policy == "ACCEPT";
      } else if (policy != "-") {
        throw ReadError("user chain with a policy: " + line);
      }
      rules[name].clear(); // declaring a chain empties it (also with --noflush)
      continue;
    }
    // Commas inside -s/-d/--dports values must stay in one token: split on blanks only.
    std::vector<std::string> t;
    {
      std::istringstream ls(line);
      std::string w;
      while (ls >> w) {
        if (!w.empty() && w[0] == '"') {
          std::string rest = w;
          while (rest.back() != '"' || rest.size() == 1) {
            if (!(ls >> w))
              throw ReadError("unterminated comment: " + line);
            rest += " " + w;
          }
          w = rest;
        }
        t.push_back(w);
      }
    }
    if (t.size() < 2 || (t[0] != "-A" && t[0] != "-I"))
      throw ReadError("unexpected line: " + line);
    const std::string chain = t[1];
    if (!rules.count(chain))
      throw ReadError("rule in undeclared chain " + chain);
    size_t first = 2, insert_at = rules[chain].size();
    if (t[0] == "-I") {
      insert_at = 0;
      if (t.size() > 2 && std::isdigit(static_cast<unsigned char>(t[2][0]))) {
        insert_at = std::stoul(t[2]) - 1;
        first = 3;
      }
      if (insert_at > rules[chain].size())
        throw ReadError("-I past the end of " + chain);
    }
    Match m;
    m.family = family;
    std::optional<std::string> verdict;
    std::optional<std::string> state;
    std::optional<IpAddr> orig_dst;
    std::optional<uint16_t> orig_port;
    bool loopback = false, not_proto = false;
    for (size_t i = first; i < t.size(); ++i) {
      const std::string& w = t[i];
      auto next = [&]() -> const std::string& {
        if (i + 1 >= t.size())
          throw ReadError("missing value after " + w);
        return t[++i];
      };
      if (w == "!") {
        // Only "! -p PROTO" is emitted: every protocol but PROTO.
        if (i + 1 >= t.size() || t[i + 1] != "-p")
          throw ReadError("unexpected '!' in: " + line);
        not_proto = true;
      } else if (w == "-s")
        m.src = parse_prefixes(split_commas(next()));
      else if (w == "-d")
        m.dst = parse_prefixes(split_commas(next()));
      else if (w == "-i" || w == "-o")
        loopback = next() == "lo";
      else if (w == "!")
        throw ReadError("inverted match in: " + line);
      else if (w == "-p") {
        const std::string& p = next();
        auto v = lookup(kProtocols, p);
        int n = v ? *v : number(p, 255, "protocol");
        if (n < 0)
          m.proto.reset(); // -p 0 / -p all: every protocol
        else
          m.proto = static_cast<uint8_t>(n);
      } else if (w == "-m")
        next(); // the match module; its options follow
      else if (w == "--dport" || w == "--dports")
        m.dports = ipt_ports(next());
      else if (w == "--sport" || w == "--sports")
        m.sports = ipt_ports(next());
      else if (w == "--icmp-type" || w == "--icmpv6-type") {
        bool v6 = w == "--icmpv6-type";
        std::string v = next();
        auto slash = v.find('/');
        std::string ty = v.substr(0, slash);
        auto named = v6 ? lookup(kIcmpv6Types, ty) : lookup(kIcmpTypes, ty);
        int type = named ? *named : number(ty, 255, "icmp type");
        if (!v6 && type == 255)
          type = -1; // xt_icmp: type 0xFF matches every type
        if (type < 0) {
          m.sports.clear();
          m.dports.clear();
        } else {
          m.sports = {{static_cast<uint16_t>(type), static_cast<uint16_t>(type)}};
          if (slash != std::string::npos) {
            uint16_t code = static_cast<uint16_t>(number(v.substr(slash + 1), 255, "icmp code"));
            m.dports = {{code, code}};
          }
        }
      } else if (w == "--ctstate") {
        state = next();
      } else if (w == "--ctorigdst") {
        auto a = parse_prefixes({next()});
        if (a.size() != 1 || !(a[0].lo == a[0].hi))
          throw ReadError("--ctorigdst other than one host: " + line);
        orig_dst = a[0].lo;
      } else if (w == "--ctorigdstport") {
        orig_port = static_cast<uint16_t>(number(next(), 65535, "port"));
      } else if (w == "--ctdir") {
        next(); // with ESTABLISHED only: replies, never a first packet
      } else if (w == "--comment")
        next();
      else if (w == "-j") {
        verdict = next();
      } else
        throw ReadError("unexpected '" + w + "' in: " + line);
    }
    if (!verdict)
      throw ReadError("rule without -j: " + line);
    IptRule r;
    if (orig_dst.has_value() != orig_port.has_value())
      throw ReadError("--ctorigdst needs --ctorigdstport here: " + line);
    if (orig_dst)
      r.orig = OrigMatch{*orig_dst, *orig_port};
    if (*verdict == "ACCEPT" || *verdict == "DROP") {
      r.kind = *verdict == "ACCEPT" ? IptRule::Accept : IptRule::Drop;
    } else if (rules.count(*verdict) && !builtin(*verdict)) {
      r.kind = IptRule::Jump;
      r.target = *verdict;
    } else {
      throw ReadError("unexpected target " + *verdict);
    }
    PacketSet matched;
    if (not_proto) {
      Match any = m;
      any.proto.reset();
      Match only = m;
      matched = any.packets().subtract(only.packets());
    } else {
      matched = m.packets();
    }
    if (state) {
      // The readers' packets open connections: ESTABLISHED and RELATED never match them;
      // INVALID matches the ones conntrack cannot track (conntrack_invalid_first_packets).
      if (*state == "INVALID")
        r.match = matched.intersect(conntrack_invalid_first_packets());
      else if (*state == "ESTABLISHED" || *state == "RELATED" || *state == "RELATED,ESTABLISHED")
        continue;
      else
        throw ReadError("unexpected state " + *state);
    } else if (loopback) {
      ++out.loopback_rules;
      continue;
    } else {
      if (family == Family::V6 && m.proto == 58 && !m.src && !m.dst && m.sports.size() == 1 &&
          m.sports[0].lo >= 133 && m.sports[0].lo <= 136)
        ++out.nd_rules; // read like any other rule: where it applies is the kernel's business
      r.match = matched;
      if (r.kind != IptRule::Jump)
        ++out.rules;
    }
    auto& list = rules[chain];
    list.insert(list.begin() + static_cast<std::ptrdiff_t>(insert_at), std::move(r));
  }
  if (!committed)
    throw ReadError("no COMMIT: iptables-restore would apply nothing");
  std::vector<ReadNat> nat;
  nat_translations(nat_rules, nat);
  for (const char* b : {"INPUT", "FORWARD", "OUTPUT"}) {
    FirstMatch fm = evaluate(b, rules);
    // A built-in chain the file does not declare keeps the policy and rules it had: at best,
    // what the file decides is all it decides, and the rest may pass.
    auto it = declared_policy.find(b);
    bool accept = it == declared_policy.end() || it->second.value_or(true);
    if (it == declared_policy.end())
      out.policy_accept[chain_of(b)] = true;
    if (it == declared_policy.end() && fm.covered().is_empty())
      continue; // not touched by this file at all
    // This file holds one family's packets: what it leaves undecided is of that family only.
    PacketSet rest = PacketSet::all_of(family).subtract(fm.covered());
    PacketSet allowed = accept ? fm.allowed().unite(rest) : fm.allowed();
    if (std::string(b) == "FORWARD")
      // What a port mapping translates is judged as it is sent (docs/backends.md, NAT).
      for (const ReadNat& n : nat)
        if (n.destination && n.mapping()) {
          FirstMatch in_ctx = evaluate(b, rules, 0, OrigMatch{n.match, n.port});
          PacketSet rest_ctx = PacketSet::all_of(family).subtract(in_ctx.covered());
          allowed.remove(mapping_region(n));
          allowed.add(
              mapping_preimage(n, accept ? in_ctx.allowed().unite(rest_ctx) : in_ctx.allowed()));
        }
    out.allowed[chain_of(b)].add(allowed);
  }
  out.nat.insert(out.nat.end(), nat.begin(), nat.end());
}

} // namespace portolan::roundtrip
