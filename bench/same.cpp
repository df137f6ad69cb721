// bench/same: do Portolan and Capirca allow the same packets? For one bench/gen --capirca tree
// whose Capirca policies were rendered by aclgen, compares with the policy (the engine's
// expected packets for the target) the packets that each of these outputs lets open a connection:
//   Portolan nftables and iptables (vs-nftables, vs-iptables, compiled in-process by the driver,
//   read back with the round-trip readers of verify/), and Capirca's nftables and iptables output
//   (read with the line readers below, which model nft's and iptables' own evaluation: first match
//   through the jumps, the chain policy at the end).
// The line readers also read Portolan's output, and must agree with the round-trip readers on it:
// that is their self-check. For every line that lets through a packet the policy does not allow
// (or drops one it allows) the report gives the line, its term or flow comment, and a witness.
//
// usage: portolan-bench-same GEN_DIR CAPIRCA_OUT_DIR [MAX_LINES]
//   GEN_DIR holds vs-capirca.toml; CAPIRCA_OUT_DIR holds aclgen's nftables.nft and iptables.
// Prints a report and a last line "SUMMARY ..."; exit 0 when Portolan's outputs equal the policy
// (Capirca's differences are findings, not failures), 1 when one of Portolan's does not, 2 on
// usage or read errors, 3 when a line reader disagrees with a round-trip reader.
#include "iptables_reader.h"
#include "nft_reader.h"
#include "session.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

using namespace portolan;
using namespace portolan::roundtrip;

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  if (!in)
    throw ReadError("cannot read " + p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// One rule of a flattened chain, in evaluation order.
struct LineRule {
  int line = 0;
  std::string text;  ///< the rule as written
  std::string where; ///< chain (term) and its comment
  PacketSet match;
  bool accept = false;
  bool rejected = false; ///< the vendor's own parser refuses this line (matches nothing here)
  std::string why_rejected;
};

/// A rule's match in the five dimensions, with lists where the syntax allows sets.
struct LineMatch {
  std::optional<Family> family;
  bool conflict = false;
  std::string conflict_why;
  std::optional<std::vector<AddrRange>> src, dst;
  std::optional<std::vector<uint8_t>> protos;
  std::vector<PortRange> sports, dports; // empty: all

  void narrow_family(Family f, const char* what) {
    if (family && *family != f) {
      conflict = true;
      conflict_why = std::string("conflicting protocols specified: ") +
                     (*family == Family::V4 ? "ip" : "ip6") + " vs. " + what;
    }
    family = f;
  }
  void narrow_protos(std::vector<uint8_t> ps) {
    if (!protos) {
      protos = ps;
      return;
    }
    std::vector<uint8_t> both;
    for (uint8_t p : *protos)
      if (std::find(ps.begin(), ps.end(), p) != ps.end())
        both.push_back(p);
    protos = both; // empty: matches nothing
  }
  PacketSet packets() const {
    if (conflict)
      return {};
    PacketDims d;
    d.src = src;
    d.dst = dst;
    d.v4 = !family || *family == Family::V4;
    d.v6 = !family || *family == Family::V6;
    if (protos) {
      d.protos.clear(); // an empty list matches nothing
      for (uint8_t p : *protos)
        d.protos.push_back({p, p});
    }
    if (!sports.empty())
      d.sports = sports;
    if (!dports.empty())
      d.dports = dports;
    return product(d);
  }
};

uint8_t proto_number(const std::string& s) {
  if (s == "tcp")
    return ipproto::tcp;
  if (s == "udp")
    return ipproto::udp;
  if (s == "icmp")
    return ipproto::icmp;
  if (s == "icmpv6" || s == "ipv6-icmp")
    return ipproto::icmpv6;
  if (!s.empty() && std::isdigit(static_cast<unsigned char>(s[0])))
    return static_cast<uint8_t>(std::stoi(s));
  throw ReadError("unknown protocol " + s);
}

/// "X" or "{ X , Y }" from t[i]; advances i.
std::vector<std::string> values(const std::vector<std::string>& t, size_t& i) {
  std::vector<std::string> out;
  if (i >= t.size())
    throw ReadError("missing value");
  if (t[i] != "{") {
    out.push_back(t[i++]);
    return out;
  }
  for (++i; i < t.size() && t[i] != "}"; ++i)
    if (t[i] != ",")
      out.push_back(t[i]);
  ++i;
  return out;
}

std::vector<PortRange> ports_of(const std::vector<std::string>& vs, char sep) {
  std::vector<PortRange> out;
  for (const auto& v : vs) {
    auto more = parse_ports(v, sep);
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

/// Base chains of an nft file, each flattened through its jumps.
struct NftFile {
  std::map<std::string, std::vector<LineRule>> base; ///< by hook
  int rejected = 0;
};

NftFile read_nft_lines(const std::string& text) {
  struct Item {
    bool jump = false;
    std::string target;
    LineRule rule;
  };
  struct ChainText {
    std::string hook, comment;
    std::vector<Item> items;
  };
  std::map<std::string, std::vector<AddrRange>> sets;
  std::map<std::string, ChainText> chains;
  std::istringstream in(text);
  std::string line, set_name, chain;
  std::vector<std::string> set_elems;
  std::map<std::string, std::string> set_text; ///< every set's declaration, as written
  bool concat = false;
  int concat_close = 0; // closing braces seen of a folded set (elements, then the set)
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    auto t = tokenize(line);
    if (t.empty() || t[0][0] == '#')
      continue;
    if (t[0] == "set" && t.size() >= 3) {
      set_name = t[1];
      set_elems.clear();
      set_text[set_name] = line + "\n";
      concat = false;
      continue;
    }
    if (!set_name.empty()) {
      set_text[set_name] += line + "\n";
      if (t[0] == "type" && std::find(t.begin(), t.end(), ".") != t.end()) {
        concat = true; // a folded set (docs/backends.md, "nftables"): read with its rule
      } else if (concat) {
        if (t[0] == "}" && ++concat_close == 2) {
          set_name.clear();
          concat_close = 0;
        }
      } else if (t[0] == "elements") {
        size_t i = 2;
        set_elems = values(t, i);
      } else if (t[0] == "}") {
        sets[set_name] = parse_prefixes(set_elems);
        set_name.clear();
      }
      continue;
    }
    if (t[0] == "table" || t[0] == "delete")
      continue;
    if (t[0] == "chain" && t.size() >= 2) {
      chain = t[1];
      chains[chain];
      continue;
    }
    if (t[0] == "}") {
      chain.clear();
      continue;
    }
    if (chain.empty())
      throw ReadError("line " + std::to_string(n) + ": outside a chain: " + line);
    ChainText& ct = chains[chain];
    if (t[0] == "type" && t.size() > 3) {
      ct.hook = t[3];
      if (line.find("policy drop") == std::string::npos)
        throw ReadError("line " + std::to_string(n) + ": base chain without policy drop");
      continue;
    }
    if (t[0] == "comment" && t.size() == 2) {
      ct.comment = t[1];
      continue;
    }
    if (t[0] == "jump" && t.size() == 2) {
      ct.items.push_back({true, t[1], {}});
      continue;
    }
    if (t[0] == "ct" && t.size() >= 4 &&
        ((t[1] == "state" && t[2] != "new") || (t[1] == "direction" && t[2] == "reply")))
      continue; // established/related replies, invalid packets: not new connections
    if (std::find(t.begin(), t.end(), ".") != t.end()) {
      // A concatenated lookup (`ip saddr . ip daddr ... @set accept`): each element stands for
      // a rule of its own; the round-trip reader reads the set and the rule alone.
      auto at = std::find_if(t.begin(), t.end(), [](const std::string& w) { return w[0] == '@'; });
      if (at == t.end() || !set_text.count(at->substr(1)))
        throw ReadError("line " + std::to_string(n) + ": concatenation without a known set");
      // Read as an accept whatever its verdict: what the rule matches.
      bool accept = t.back() == "accept" || (t.size() > 2 && t[t.size() - 3] == "accept");
      std::string as_accept = line;
      if (!accept)
        as_accept.replace(as_accept.rfind(" drop"), 5, " accept");
      auto r = read_nft("table inet t {\n" + set_text[at->substr(1)] +
                        "\tchain c {\n\t\ttype filter hook forward priority 0; policy drop;\n" +
                        as_accept + "\n\t}\n}\n");
      LineRule lr;
      lr.line = n;
      lr.text = line.substr(line.find_first_not_of(" \t"));
      lr.accept = accept;
      lr.match = r.allowed.at(Chain::Forward);
      ct.items.push_back({false, {}, lr});
      continue;
    }
    LineMatch m;
    std::optional<bool> verdict;
    for (size_t i = 0; i < t.size();) {
      const std::string& w = t[i];
      if ((w == "ip" || w == "ip6") && i + 1 < t.size() &&
          (t[i + 1] == "saddr" || t[i + 1] == "daddr")) {
        m.narrow_family(w == "ip" ? Family::V4 : Family::V6, w.c_str());
        bool src = t[i + 1] == "saddr";
        i += 2;
        std::vector<AddrRange> addrs;
        for (const auto& v : values(t, i)) {
          if (v[0] == '@') {
            auto it = sets.find(v.substr(1));
            if (it == sets.end())
              throw ReadError("unknown set " + v);
            addrs.insert(addrs.end(), it->second.begin(), it->second.end());
          } else {
            auto more = parse_prefixes({v});
            addrs.insert(addrs.end(), more.begin(), more.end());
          }
        }
        (src ? m.src : m.dst) = addrs;
      } else if (w == "ip" && i + 1 < t.size() && t[i + 1] == "protocol") {
        // nft: `ip protocol` is an IPv4 header field (implies meta nfproto ipv4).
        m.narrow_family(Family::V4, "ip");
        i += 2;
        std::vector<uint8_t> ps;
        for (const auto& v : values(t, i))
          ps.push_back(proto_number(v));
        m.narrow_protos(ps);
      } else if (w == "meta" && i + 1 < t.size() && t[i + 1] == "l4proto") {
        i += 2;
        std::vector<uint8_t> ps;
        for (const auto& v : values(t, i))
          ps.push_back(proto_number(v));
        m.narrow_protos(ps);
      } else if (w == "meta" && i + 1 < t.size() && t[i + 1] == "nfproto") {
        i += 2;
        auto fs = values(t, i);
        if (fs.size() == 1)
          m.narrow_family(fs[0] == "ipv4" ? Family::V4 : Family::V6, fs[0].c_str());
      } else if ((w == "tcp" || w == "udp") && i + 1 < t.size() &&
                 (t[i + 1] == "dport" || t[i + 1] == "sport")) {
        m.narrow_protos({proto_number(w)});
        bool src = t[i + 1] == "sport";
        i += 2;
        (src ? m.sports : m.dports) = ports_of(values(t, i), '-');
      } else if (w == "ct" && i + 2 < t.size() && t[i + 1] == "state" && t[i + 2] == "new") {
        i += 3; // a new connection: what is being compared
      } else if (w == "comment" && i + 1 < t.size()) {
        i += 2;
      } else if (w == "accept" || w == "drop") {
        verdict = w == "accept";
        ++i;
      } else {
        throw ReadError("line " + std::to_string(n) + ": unexpected '" + w + "' in: " + line);
      }
    }
    if (!verdict)
      throw ReadError("line " + std::to_string(n) + ": rule without verdict: " + line);
    LineRule r;
    r.line = n;
    r.text = line.substr(line.find_first_not_of(" \t"));
    r.accept = *verdict;
    r.rejected = m.conflict;
    r.why_rejected = m.conflict_why;
    r.match = m.packets();
    ct.items.push_back({false, {}, r});
  }
  NftFile out;
  std::function<void(const std::string&, std::vector<LineRule>&, int)> flatten =
      [&](const std::string& c, std::vector<LineRule>& seq, int depth) {
        if (depth > 16)
          throw ReadError("jump loop at " + c);
        auto it = chains.find(c);
        if (it == chains.end())
          throw ReadError("jump to unknown chain " + c);
        for (const Item& item : it->second.items) {
          if (item.jump) {
            flatten(item.target, seq, depth + 1);
            continue;
          }
          LineRule r = item.rule;
          r.where = "chain " + c + (it->second.comment.empty() ? "" : " " + it->second.comment);
          out.rejected += r.rejected;
          seq.push_back(std::move(r));
        }
      };
  for (const auto& [name, ct] : chains)
    if (!ct.hook.empty())
      flatten(name, out.base[ct.hook], 0);
  return out;
}

/// Built-in chains of iptables text, per family, flattened through jumps. Reads both
/// iptables-restore files (Portolan: one family per file) and Capirca's rule listing (both
/// families in one file, each filter after a "# inet" or "# inet6" line).
struct IptFile {
  std::map<std::pair<Family, std::string>, std::vector<LineRule>> builtin;
  std::map<std::pair<Family, std::string>, bool> policy_accept;
};

void read_ipt_lines(const std::string& text, Family family, IptFile& out) {
  struct Item {
    bool jump = false;
    std::string target;
    LineRule rule;
  };
  std::map<std::string, std::vector<Item>> chains;
  std::map<std::string, std::string> chain_comment;
  std::set<std::string> builtin;
  Family fam = family;
  auto flush = [&]() {
    std::function<void(const std::string&, std::vector<LineRule>&, int)> flatten =
        [&](const std::string& c, std::vector<LineRule>& seq, int depth) {
          if (depth > 16)
            throw ReadError("jump loop at " + c);
          for (const Item& item : chains[c]) {
            if (item.jump) {
              flatten(item.target, seq, depth + 1);
              continue;
            }
            LineRule r = item.rule;
            r.where = "chain " + c + (chain_comment.count(c) ? " " + chain_comment[c] : "");
            seq.push_back(std::move(r));
          }
        };
    for (const auto& b : builtin)
      flatten(b, out.builtin[{fam, b}], 0);
    chains.clear();
    chain_comment.clear();
    builtin.clear();
  };
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line == "# inet" || line == "# inet6") {
      flush();
      fam = line == "# inet" ? Family::V4 : Family::V6;
      continue;
    }
    if (line.empty() || line[0] == '#' || line == "*filter" || line == "COMMIT")
      continue;
    std::vector<std::string> t;
    {
      std::istringstream ls(line);
      std::string w;
      while (ls >> w) {
        if (w[0] == '"') {
          std::string rest = w;
          while (rest.size() == 1 || rest.back() != '"') {
            if (!(ls >> w))
              throw ReadError("line " + std::to_string(n) + ": unterminated string");
            rest += " " + w;
          }
          w = rest;
        }
        t.push_back(w);
      }
    }
    if (line[0] == ':' || t[0] == "-P") {
      std::string name = line[0] == ':' ? t[0].substr(1) : t.at(1);
      std::string pol = line[0] == ':' ? t.at(1) : t.at(2);
      builtin.insert(name);
      chains[name];
      out.policy_accept[{fam, name}] = pol == "ACCEPT";
      continue;
    }
    if (t[0] == "-N") {
      chains[t.at(1)];
      continue;
    }
    if (t[0] != "-A" || t.size() < 2)
      throw ReadError("line " + std::to_string(n) + ": unexpected: " + line);
    const std::string chain = t[1];
    LineMatch m;
    m.family = fam;
    std::optional<std::string> target;
    std::string comment;
    bool state_only = false;
    for (size_t i = 2; i < t.size(); ++i) {
      const std::string& w = t[i];
      auto next = [&]() -> const std::string& {
        if (i + 1 >= t.size())
          throw ReadError("line " + std::to_string(n) + ": missing value after " + w);
        return t[++i];
      };
      auto commas = [](const std::string& s) {
        std::vector<std::string> v;
        std::stringstream ss(s);
        std::string x;
        while (std::getline(ss, x, ','))
          v.push_back(x);
        return v;
      };
      if (w == "-s")
        m.src = parse_prefixes(commas(next()));
      else if (w == "-d")
        m.dst = parse_prefixes(commas(next()));
      else if (w == "-p") {
        const std::string& p = next();
        if (p != "all")
          m.narrow_protos({proto_number(p)});
      } else if (w == "-m")
        next();
      else if (w == "--dport" || w == "--dports")
        m.dports = parse_ports(next(), ':');
      else if (w == "--sport" || w == "--sports")
        m.sports = parse_ports(next(), ':');
      else if (w == "--state" || w == "--ctstate") {
        std::string s = next();
        if (s.find("NEW") == std::string::npos)
          state_only = true; // replies or invalid packets only
      } else if (w == "--comment")
        comment = next();
      else if (w == "-j")
        target = next();
      else
        throw ReadError("line " + std::to_string(n) + ": unexpected '" + w + "' in: " + line);
    }
    if (!target) {
      if (!comment.empty() && t.size() == 6)
        chain_comment[chain] = comment; // Capirca's term comment: a rule without a target
      continue;
    }
    if (state_only)
      continue;
    if (*target != "ACCEPT" && *target != "DROP") {
      chains[chain].push_back({true, *target, {}});
      continue;
    }
    LineRule r;
    r.line = n;
    r.text = line;
    r.accept = *target == "ACCEPT";
    r.match = m.packets();
    chains[chain].push_back({false, {}, r});
  }
  flush();
}

/// Lines that, on their own, match packets no rule of the same action in `ref` matches: an
/// accept wider than every allow flow together, or a drop wider than every deny flow. Order-free,
/// so a line masked by an earlier wrong one is still counted.
struct Alone {
  int wrong = 0, no_address = 0, no_ports = 0;
  std::vector<std::string> report;
};

Alone alone(const std::vector<LineRule>& rules, const PacketSet& allow_union,
            const PacketSet& deny_union, size_t max_lines) {
  Alone a;
  for (const LineRule& r : rules) {
    PacketSet extra = r.match.subtract(r.accept ? allow_union : deny_union);
    if (extra.is_empty())
      continue;
    ++a.wrong;
    bool addr = r.text.find("addr") != std::string::npos ||
                r.text.find(" -s ") != std::string::npos ||
                r.text.find(" -d ") != std::string::npos;
    bool ports = r.text.find("port") != std::string::npos;
    a.no_address += !addr;
    a.no_ports += addr && !ports;
    if (a.report.size() < max_lines)
      a.report.push_back("  line " + std::to_string(r.line) + (r.accept ? " accepts " : " drops ") +
                         extra.pick()->str() + ", which no " + (r.accept ? "allow" : "deny") +
                         " flow covers\n    " + r.text + "\n    in " + r.where);
  }
  return a;
}

void unions(const std::vector<LineRule>& rules, PacketSet& allow, PacketSet& deny) {
  for (const LineRule& r : rules)
    (r.accept ? allow : deny).add(r.match);
}

struct Verdict {
  PacketSet allowed;
  int wrong_allow_lines = 0, wrong_drop_lines = 0;
  std::vector<std::string> report;
};

/// First match over `rules`; every line whose decided packets disagree with `want` is reported.
Verdict judge(const std::vector<LineRule>& rules, bool policy_accept, const PacketSet& want,
              size_t max_lines) {
  Verdict v;
  PacketSet covered;
  for (const LineRule& r : rules) {
    PacketSet eff = r.match.subtract(covered);
    if (r.accept) {
      v.allowed.add(eff);
      PacketSet bad = eff.subtract(want);
      if (!bad.is_empty()) {
        ++v.wrong_allow_lines;
        if (v.report.size() < max_lines)
          v.report.push_back("  line " + std::to_string(r.line) + " allows " + bad.pick()->str() +
                             " (not in the policy)\n    " + r.text + "\n    in " + r.where);
      }
    } else {
      PacketSet bad = eff.intersect(want);
      if (!bad.is_empty()) {
        ++v.wrong_drop_lines;
        if (v.report.size() < max_lines)
          v.report.push_back("  line " + std::to_string(r.line) + " drops " + bad.pick()->str() +
                             " (the policy allows it)\n    " + r.text + "\n    in " + r.where);
      }
    }
    covered.add(r.match);
  }
  if (policy_accept)
    v.allowed.add(covered.complement());
  if (auto miss = want.subtract(v.allowed).subtract(covered).pick())
    v.report.push_back("  no rule allows " + miss->str() + " (the policy allows it)");
  return v;
}

std::string status(const PacketSet& got, const PacketSet& want) {
  if (got == want)
    return "same";
  std::string s;
  if (auto e = got.subtract(want).pick())
    s += "allows-more(" + e->str() + ")";
  if (auto mi = want.subtract(got).pick())
    s += std::string(s.empty() ? "" : ",") + "allows-less(" + mi->str() + ")";
  return s;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s GEN_DIR CAPIRCA_OUT_DIR [MAX_LINES]\n", argv[0]);
    return 2;
  }
  std::filesystem::path gen(argv[1]), cap(argv[2]);
  size_t max_lines = argc == 4 ? std::stoul(argv[3]) : 6;
  try {
    Session session;
    session.open(gen / "vs-capirca.toml");
    if (!session.manifest || !session.clean())
      throw ReadError("cannot load " + (gen / "vs-capirca.toml").string());
    auto targets = [&](const char* name) -> const Target& {
      auto t = session.targets("", {name});
      if (t.empty())
        throw ReadError(std::string("no target ") + name);
      return *t[0];
    };
    // Both targets compiled once by the driver: files, and the engine's reference.
    Diagnostics d;
    CompiledTarget nft = session.compile_target(targets("vs-nftables"), Want{true, true}, d);
    CompiledTarget ipt = session.compile_target(targets("vs-iptables"), Want{true, true}, d);
    if (d.has_errors())
      throw ReadError("portolan could not build vs-nftables/vs-iptables");
    const PacketSet want = nft.expected.of(Chain::Forward);
    const PacketSet want_ipt = ipt.expected.of(Chain::Forward);
    if (!(want == want_ipt))
      throw ReadError("vs-nftables and vs-iptables enforce different packets");
    int rc = 0;
    std::ostringstream summary;
    summary << "SUMMARY " << gen.filename().string();

    // Portolan nftables: round-trip reader, and the line reader as a cross-check.
    const auto& nft_files = nft.files;
    const auto& ipt_files = ipt.files;
    PacketSet p_nft = read_nft(nft_files.at(0).content).allowed.at(Chain::Forward);
    NftFile p_nft_lines = read_nft_lines(nft_files.at(0).content);
    Verdict pv = judge(p_nft_lines.base.at("forward"), false, want, max_lines);
    if (!(pv.allowed == p_nft)) {
      std::cout << "line reader and round-trip reader disagree on Portolan's nftables output\n";
      return 3;
    }
    IptRead p_ipt_rt;
    read_iptables(ipt_files.at(0).content, Family::V4, p_ipt_rt);
    read_iptables(ipt_files.at(1).content, Family::V6, p_ipt_rt);
    PacketSet p_ipt = p_ipt_rt.allowed.at(Chain::Forward);
    IptFile p_ipt_lines;
    read_ipt_lines(ipt_files.at(0).content, Family::V4, p_ipt_lines);
    read_ipt_lines(ipt_files.at(1).content, Family::V6, p_ipt_lines);
    const PacketSet want4 = want.intersect(PacketSet::all_of(Family::V4));
    const PacketSet want6 = want.intersect(PacketSet::all_of(Family::V6));
    Verdict pv4 = judge(p_ipt_lines.builtin.at({Family::V4, "FORWARD"}), false, want4, max_lines);
    Verdict pv6 = judge(p_ipt_lines.builtin.at({Family::V6, "FORWARD"}), false, want6, max_lines);
    if (!(pv4.allowed.unite(pv6.allowed) == p_ipt)) {
      std::cout << "line reader and round-trip reader disagree on Portolan's iptables output\n";
      return 3;
    }
    PacketSet allow_u, deny_u; // every allow / deny flow's packets, from Portolan's output
    unions(p_nft_lines.base.at("forward"), allow_u, deny_u);
    std::cout << "== " << gen.string() << "\n";
    std::cout << "policy (vs-nftables, forward): " << want.box_count() << " boxes\n";
    std::string s1 = status(p_nft, want), s2 = status(p_ipt, want);
    std::cout << "portolan nftables: " << s1 << "\n";
    for (const auto& l : pv.report)
      std::cout << l << "\n";
    std::cout << "portolan iptables: " << s2 << "\n";
    for (const auto* v : {&pv4, &pv6})
      for (const auto& l : v->report)
        std::cout << l << "\n";
    if (s1 != "same" || s2 != "same")
      rc = 1;
    summary << " portolan-nft=" << (s1 == "same" ? "same" : "DIFF")
            << " portolan-ipt=" << (s2 == "same" ? "same" : "DIFF");

    // Capirca nftables: one base chain (hook input: Capirca has no forward hook).
    NftFile c_nft = read_nft_lines(slurp(cap / "nftables.nft"));
    if (c_nft.base.size() != 1)
      throw ReadError("expected one base chain in Capirca's nftables output");
    Verdict cv = judge(c_nft.base.begin()->second, false, want, max_lines);
    std::string s3 = status(cv.allowed, want);
    std::cout << "capirca nftables: " << s3 << "; lines nft rejects: " << c_nft.rejected
              << "; lines allowing packets the policy does not: " << cv.wrong_allow_lines
              << "; lines dropping packets the policy allows: " << cv.wrong_drop_lines << "\n";
    int shown = 0;
    for (const auto& r : c_nft.base.begin()->second)
      if (r.rejected && shown++ < 2)
        std::cout << "  line " << r.line << " rejected by nft (" << r.why_rejected << "):\n    "
                  << r.text << "\n    in " << r.where << "\n";
    for (const auto& l : cv.report)
      std::cout << l << "\n";
    Alone ca = alone(c_nft.base.begin()->second, allow_u, deny_u, max_lines);
    std::cout << " lines wider than every flow of their action, on their own: " << ca.wrong
              << " (without any address match: " << ca.no_address
              << "; with addresses but no ports: " << ca.no_ports << ")\n";
    for (const auto& l : ca.report)
      std::cout << l << "\n";
    summary << " capirca-nft=" << (s3 == "same" ? "same" : "DIFF")
            << " nft-rejected-lines=" << c_nft.rejected
            << " nft-wrong-allow-lines=" << cv.wrong_allow_lines
            << " nft-wrong-drop-lines=" << cv.wrong_drop_lines << " nft-alone-wrong=" << ca.wrong
            << " nft-alone-no-address=" << ca.no_address << " nft-alone-no-ports=" << ca.no_ports;

    // Capirca iptables: FORWARD of each family.
    IptFile c_ipt;
    read_ipt_lines(slurp(cap / "iptables"), Family::V4, c_ipt);
    PacketSet c_ipt_allowed;
    int wa = 0, wd = 0;
    std::vector<std::string> rep;
    Alone ia;
    for (Family f : {Family::V4, Family::V6}) {
      auto it = c_ipt.builtin.find({f, "FORWARD"});
      if (it == c_ipt.builtin.end())
        throw ReadError("Capirca iptables output without a FORWARD filter per family");
      Verdict v = judge(it->second, c_ipt.policy_accept[{f, "FORWARD"}],
                        want.intersect(PacketSet::all_of(f)), max_lines);
      c_ipt_allowed.add(v.allowed.intersect(PacketSet::all_of(f)));
      wa += v.wrong_allow_lines;
      wd += v.wrong_drop_lines;
      rep.insert(rep.end(), v.report.begin(), v.report.end());
      Alone a = alone(it->second, allow_u, deny_u, max_lines);
      ia.wrong += a.wrong;
      rep.insert(rep.end(), a.report.begin(), a.report.end());
    }
    std::string s4 = status(c_ipt_allowed, want);
    std::cout << "capirca iptables: " << s4
              << "; lines allowing packets the policy does not: " << wa
              << "; lines dropping packets the policy allows: " << wd << "\n";
    for (const auto& l : rep)
      std::cout << l << "\n";
    summary << " capirca-ipt=" << (s4 == "same" ? "same" : "DIFF")
            << " ipt-wrong-allow-lines=" << wa << " ipt-wrong-drop-lines=" << wd
            << " ipt-alone-wrong=" << ia.wrong;
    std::cout << summary.str() << "\n";
    return rc;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
}
