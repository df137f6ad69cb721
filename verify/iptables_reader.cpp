#include "iptables_reader.h"

#include <cctype>
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

namespace {

/// One rule of a chain: what it matches and what it does with it.
struct IptRule {
  PacketSet match;
  enum Kind { Accept, Drop, Jump } kind = Drop;
  std::string target; ///< Jump: the user chain
};

/// First-match evaluation of one chain, following jumps into user chains (iptables(8): a jump
/// to a user chain that reaches its end without a verdict returns to the calling chain).
FirstMatch evaluate(const std::string& name,
                    const std::map<std::string, std::vector<IptRule>>& rules, int depth = 0) {
  if (depth > 16)
    throw ReadError("jumps nested too deep at " + name);
  FirstMatch fm;
  auto it = rules.find(name);
  if (it == rules.end())
    throw ReadError("jump to undeclared chain " + name);
  for (const IptRule& r : it->second) {
    if (r.kind == IptRule::Jump) {
      FirstMatch sub = evaluate(r.target, rules, depth + 1);
      fm.rule(r.match.intersect(sub.allowed()), true);
      fm.rule(r.match.intersect(sub.covered().subtract(sub.allowed())), false);
    } else {
      fm.rule(r.match, r.kind == IptRule::Accept);
    }
  }
  return fm;
}

bool builtin(const std::string& n) {
  return n == "INPUT" || n == "FORWARD" || n == "OUTPUT";
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
        state = next();
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
    } else if (family == Family::V6 && m.proto == 58 && !m.src && !m.dst && m.sports.size() == 1 &&
               m.sports[0].lo >= 133 && m.sports[0].lo <= 136) {
      ++out.nd_rules;
      continue;
    } else {
      r.match = matched;
      if (r.kind != IptRule::Jump)
        ++out.rules;
    }
    auto& list = rules[chain];
    list.insert(list.begin() + static_cast<std::ptrdiff_t>(insert_at), std::move(r));
  }
  if (!committed)
    throw ReadError("no COMMIT: iptables-restore would apply nothing");
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
    out.allowed[chain_of(b)].add(accept ? fm.allowed().unite(rest) : fm.allowed());
  }
}

} // namespace portolan::roundtrip
