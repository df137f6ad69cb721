#include "iptables_reader.h"

#include <sstream>

namespace portolan::roundtrip {

namespace {

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
      else if (w == "-p") {
        const std::string& p = next();
        m.proto = p == "tcp"         ? 6
                  : p == "udp"       ? 17
                  : p == "icmp"      ? 1
                  : p == "ipv6-icmp" ? 58
                                     : static_cast<uint8_t>(std::stoi(p));
      } else if (w == "-m")
        next(); // the match module; its options follow
      else if (w == "--dport" || w == "--dports")
        m.dports = parse_ports(next(), ':');
      else if (w == "--sport" || w == "--sports")
        m.sports = parse_ports(next(), ':');
      else if (w == "--icmp-type" || w == "--icmpv6-type") {
        std::string v = next();
        auto slash = v.find('/');
        uint16_t type = static_cast<uint16_t>(std::stoi(v.substr(0, slash)));
        m.sports = {{type, type}};
        if (slash != std::string::npos) {
          uint16_t code = static_cast<uint16_t>(std::stoi(v.substr(slash + 1)));
          m.dports = {{code, code}};
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
        m.sports[0].lo >= 133 && m.sports[0].lo <= 136) {
      ++out.nd_rules;
      continue;
    }
    chains[c].rule(m.packets(), *verdict);
    ++out.rules;
  }
  if (!committed)
    throw ReadError("no COMMIT: iptables-restore would apply nothing");
  for (auto& [c, fm] : chains)
    out.allowed[c].add(out.policy_accept[c] ? fm.allowed_with_default_accept() : fm.allowed());
}

} // namespace portolan::roundtrip
