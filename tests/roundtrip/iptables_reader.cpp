#include "iptables_reader.h"

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

void read_iptables(const std::string& text, Family family, IptRead& out) {
  std::map<Chain, FirstMatch> chains;
  std::istringstream in(text);
  std::string line;
  bool committed = false;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line == "*filter")
      continue;
    if (line == "COMMIT") {
      committed = true;
      continue;
    }
    if (line[0] == ':') {
      std::istringstream ls(line.substr(1));
      std::string name, policy;
      ls >> name >> policy;
      out.policy_accept[chain_of(name)] = policy == "ACCEPT";
      chains[chain_of(name)];
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
    if (t.size() < 2 || t[0] != "-A")
      throw ReadError("unexpected line: " + line);
    Chain c = chain_of(t[1]);
    Match m;
    m.family = family;
    std::optional<bool> verdict;
    bool state = false, loopback = false;
    for (size_t i = 2; i < t.size(); ++i) {
      const std::string& w = t[i];
      auto next = [&]() -> const std::string& {
        if (i + 1 >= t.size())
          throw ReadError("missing value after " + w);
        return t[++i];
      };
      if (w == "-s")
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
        next();
        state = true;
      } else if (w == "--comment")
        next();
      else if (w == "-j") {
        const std::string& j = next();
        if (j != "ACCEPT" && j != "DROP")
          throw ReadError("unexpected target " + j);
        verdict = j == "ACCEPT";
      } else
        throw ReadError("unexpected '" + w + "' in: " + line);
    }
    if (!verdict)
      throw ReadError("rule without -j: " + line);
    if (state)
      continue; // replies and invalid packets, not new connections
    if (loopback) {
      ++out.loopback_rules;
      continue;
    }
    if (family == Family::V6 && m.proto == 58 && !m.src && !m.dst && m.sports.size() == 1 &&
        m.sports[0].lo >= 133 && m.sports[0].lo <= 136)
      ++out.nd_rules; // read like any other rule: where it applies is the kernel's business
    chains[c].rule(m.packets(), *verdict);
    ++out.rules;
  }
  if (!committed)
    throw ReadError("no COMMIT: iptables-restore would apply nothing");
  for (auto& [c, fm] : chains)
    out.allowed[c].add(out.policy_accept[c] ? fm.allowed_with_default_accept() : fm.allowed());
}

} // namespace portolan::roundtrip
