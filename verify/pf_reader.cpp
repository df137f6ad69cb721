#include "pf_reader.h"

#include <map>
#include <optional>
#include <set>

namespace portolan::roundtrip {
namespace {

// The vendor's special values, read as pf reads them, not as our writer means them:
//
//   text                      meaning                                  reference
//   proto 0                   every protocol: pf stores the number     pf.conf(5) "proto";
//                             and a rule whose proto is 0 matches all  pfctl parse.y protoval,
//                                                                      pf.c (r->proto && ...)
//   proto NAME                /etc/protocols (tcp 6, udp 17, icmp 1,   pf.conf(5) "proto"
//                             icmp6 58, esp 50, ah 51, gre 47,
//                             sctp 132, carp 112, pfsync 240)
//   icmp-type 255             every type: pfctl stores type + 1 in a   pf.conf(5) "icmp-type";
//                             byte, 255 wraps to 0, which means "any"  pfctl parse.y icmp_item
//   icmp-type T code 255      every code, the same wrap                pfctl parse.y icmp_item
//   icmp6-type { a, b }       any of the listed types                  pf.conf(5) lists
//   no in/out                 the rule applies in both directions,     pf.conf(5) "in/out: if
//                             forwarded packets included               neither is specified,
//                                                                      the rule will match
//                                                                      packets in both"
//   no from/to                from any to any                          pf.conf(5) "all"
//   last matching rule wins;  quick stops at the first match; a        pf.conf(5) PACKET
//   no match passes                                                    FILTERING

enum class Dir { In, Out };

/// One side of a rule: `any`, a table (already resolved) or a literal list.
struct Side {
  bool any = false;
  bool negated = false; ///< `! <table>`
  bool self = false;    ///< the firewall's own addresses (literal lists only)
  std::vector<Prefix> prefixes;
  bool literal = false; ///< written in the rule, not a table
};

struct PfRule {
  bool pass = false, quick = false, received_on = false;
  bool on_lo = false; ///< `on lo`: loopback only, which no policy packet crosses
  std::optional<Dir> dir;
  std::optional<Family> af;
  std::optional<uint8_t> proto;
  Side src, dst;
  std::vector<PortRange> sports, dports;
  std::vector<uint8_t> icmp_types; ///< empty: every type
  bool any_icmp_type = false;
  std::optional<uint8_t> icmp_code;
  std::string tagged; ///< `tagged TAG`: only packets a translation rule tagged
};

/// Destinations a router never forwards: limited broadcast, the IPv4 local network control
/// block and link-local scope multicast. Packets to them are the firewall's own.
bool never_forwarded(const Prefix& p) {
  auto within = [&](const char* net) { return parse_prefix(net).prefix->contains(p); };
  return within("255.255.255.255/32") || within("224.0.0.0/24") || within("ff02::/16");
}

struct Tokens {
  std::vector<std::string> v;
  size_t i = 0;
  bool done() const { return i >= v.size(); }
  const std::string& peek() const {
    static const std::string none;
    return done() ? none : v[i];
  }
  bool accept(const std::string& t) {
    if (peek() != t)
      return false;
    ++i;
    return true;
  }
  std::string next() { return done() ? std::string() : v[i++]; }
};

/// Splits a line into tokens; strips the comment. False on a backslash (a continued line).
bool tokenize(std::string_view line, std::vector<std::string>& out, std::string& err) {
  // pfctl joins a line ending in a backslash with the next one, even inside a comment.
  if (line.find('\\') != std::string_view::npos) {
    err = "backslash (line continuation) outside the emitted subset";
    return false;
  }
  std::string cur;
  auto flush = [&] {
    if (!cur.empty())
      out.push_back(cur), cur.clear();
  };
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '#')
      break;
    if (c == '"') {
      flush();
      size_t end = line.find('"', i + 1);
      if (end == std::string_view::npos) {
        err = "unterminated string";
        return false;
      }
      out.push_back(std::string(line.substr(i, end - i + 1)));
      i = end;
    } else if (c == ' ' || c == '\t') {
      flush();
    } else if (c == '{' || c == '}' || c == ',' || c == '<' || c == '>') {
      flush();
      out.push_back(std::string(1, c));
    } else {
      cur += c;
    }
  }
  flush();
  return true;
}

std::optional<long> number(const std::string& s, long max) {
  if (s.empty() || s.size() > 6)
    return std::nullopt;
  long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v <= max ? std::optional<long>(v) : std::nullopt;
}

const std::map<std::string, uint8_t> kPfProtocols{{"esp", 50},      {"ah", 51},    {"gre", 47},
                                                  {"sctp", 132},    {"carp", 112}, {"pfsync", 240},
                                                  {"ipv6-icmp", 58}};

class Reader {
public:
  PfRead run(std::string_view text) {
    size_t start = 0, lineno = 0;
    while (start <= text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string_view::npos)
        end = text.size();
      std::string_view line = text.substr(start, end - start);
      ++lineno;
      line_ = lineno;
      parse_line(line);
      if (end == text.size())
        break;
      start = end + 1;
    }
    evaluate();
    return std::move(out_);
  }

private:
  [[noreturn]] void error(const std::string& why) {
    throw ReadError("line " + std::to_string(line_) + ": " + why);
  }

  void parse_line(std::string_view line) {
    std::vector<std::string> toks;
    std::string err;
    if (!tokenize(line, toks, err))
      return error(err);
    if (toks.empty())
      return;
    Tokens t;
    t.v = std::move(toks);
    if (t.peek() == "set")
      return parse_set(t);
    if (t.peek() == "table")
      return parse_table(t);
    if (t.peek() == "pass" || t.peek() == "block")
      return parse_rule(t);
    if (t.peek() == "match")
      return parse_match(t);
    error("unexpected statement '" + t.peek() + "'");
  }

  /// `match in inet|inet6 from SIDE to HOST rdr-to HOST`: pf.conf(5) (OpenBSD), match rules:
  /// the translation applies as the rule matches, and the rules after it see the new
  /// destination. Only this form is read; it decides no packet's fate.
  void parse_match(Tokens& t) {
    t.next();
    if (!t.accept("in"))
      return error("match rule other than 'match in'");
    if (!t.accept("inet") && !t.accept("inet6"))
      return error("match rule without a family");
    Side from, to;
    ReadNat n;
    if (t.accept("proto")) {
      std::string pr = t.next();
      if (pr != "tcp" && pr != "udp")
        return error("match rule for protocol " + pr);
      n.proto = pr == "tcp" ? kProtoTcp : kProtoUdp;
    }
    if (!t.accept("from") || !parse_side(t, from) || !t.accept("to") || !parse_side(t, to))
      return error("match rule without 'from ... to ...'");
    auto one_port = [&](uint16_t& into) {
      auto v = number(t.next(), 65535);
      if (!v || *v == 0)
        return false;
      into = static_cast<uint16_t>(*v);
      return true;
    };
    if (t.accept("port") && (!n.proto || !one_port(n.port)))
      return error("a port in a match rule needs proto tcp or udp and one port");
    if (!t.accept("rdr-to"))
      return error("match rule other than rdr-to");
    auto a = parse_prefix(t.next());
    if (n.port && (!t.accept("port") || !one_port(n.to_port)))
      return error("rdr-to of a port needs 'port N'");
    std::string tag;
    if (t.accept("tag"))
      tag = t.next();
    if (!a.prefix || !a.prefix->is_host() || to.any || to.prefixes.size() != 1 ||
        !to.prefixes[0].is_host() || !t.done())
      return error("rdr-to needs one destination host and one target host");
    n.destination = true;
    n.match = to.prefixes[0].addr;
    n.to = a.prefix->addr;
    if (!from.any) {
      std::vector<AddrRange> peer;
      for (const Prefix& p : from.prefixes)
        peer.push_back(AddrRange::of(p));
      n.peer = peer;
    }
    if (!tag.empty() && !tags_.emplace(tag, OrigMatch{n.match, n.port}).second)
      return error("tag " + tag + " set by two translations");
    out_.nat.push_back(std::move(n));
  }

  void parse_set(Tokens& t) {
    t.next();
    std::string opt = t.next();
    if (opt == "block-policy" && t.accept("drop") && t.done())
      return;
    if (opt == "skip" && t.accept("on") && t.accept("lo") && t.done())
      return;
    error("unexpected option 'set " + opt + "'");
  }

  void parse_table(Tokens& t) {
    t.next();
    if (!t.accept("<"))
      return error("table without <name>");
    std::string name = t.next();
    if (!t.accept(">") || !t.accept("const") || !t.accept("{"))
      return error("table " + name + ": expected '> const {'");
    std::vector<Prefix> list;
    while (!t.done() && t.peek() != "}") {
      if (t.accept("self")) { // pfctl expands it to the firewall's addresses at load time
        self_tables_.insert(name);
        if (t.peek() == ",")
          t.next();
        continue;
      }
      auto p = parse_prefix(t.next());
      if (!p.prefix)
        return error("table " + name + ": bad address: " + p.error);
      list.push_back(*p.prefix);
      if (t.peek() == ",")
        t.next();
    }
    if (!t.accept("}") || !t.done())
      return error("table " + name + ": expected '}' at the end");
    if (!tables_.emplace(name, std::move(list)).second)
      return error("table " + name + " defined twice");
    ++out_.tables;
  }

  bool parse_side(Tokens& t, Side& s) {
    if (t.accept("any")) {
      s.any = true;
      return true;
    }
    if (t.accept("!")) {
      // Only `! <table>` is read: pf expands a negated { list } into one rule per element,
      // which matches everything, so the backend never writes one.
      s.negated = true;
      if (t.peek() != "<") {
        error("'!' before something other than a table");
        return false;
      }
    }
    if (t.accept("<")) {
      std::string name = t.next();
      if (!t.accept(">")) {
        error("expected '>' after table name");
        return false;
      }
      auto it = tables_.find(name);
      if (it == tables_.end()) {
        error("table <" + name + "> is not defined");
        return false;
      }
      s.prefixes = it->second;
      if (self_tables_.count(name))
        s.self = s.literal = true; // the firewall's own: never forwarded
      return true;
    }
    s.literal = true;
    auto element = [&](const std::string& tok) {
      if (tok == "self") {
        s.self = true;
        return true;
      }
      auto p = parse_prefix(tok);
      if (!p.prefix) {
        error("bad address '" + tok + "'");
        return false;
      }
      s.prefixes.push_back(*p.prefix);
      return true;
    };
    if (!t.accept("{"))
      return element(t.next());
    while (!t.done() && t.peek() != "}") {
      if (!element(t.next()))
        return false;
      t.accept(",");
    }
    if (!t.accept("}")) {
      error("unterminated address list");
      return false;
    }
    return true;
  }

  bool parse_ports(Tokens& t, std::vector<PortRange>& out) {
    auto item = [&](const std::string& tok) {
      auto colon = tok.find(':');
      auto lo = number(tok.substr(0, colon), 65535);
      auto hi = colon == std::string::npos ? lo : number(tok.substr(colon + 1), 65535);
      if (!lo || !hi || *lo > *hi) {
        error("bad port '" + tok + "'");
        return false;
      }
      out.push_back({static_cast<uint16_t>(*lo), static_cast<uint16_t>(*hi)});
      return true;
    };
    if (!t.accept("{"))
      return item(t.next());
    while (!t.done() && t.peek() != "}") {
      if (!item(t.next()))
        return false;
      t.accept(",");
    }
    if (!t.accept("}")) {
      error("unterminated port list");
      return false;
    }
    return true;
  }

  void parse_rule(Tokens& t) {
    PfRule r;
    r.pass = t.next() == "pass";
    if (!r.pass)
      t.accept("drop"); // `block drop`: the same verdict, said in the rule
    if (t.accept("in"))
      r.dir = Dir::In;
    else if (t.accept("out"))
      r.dir = Dir::Out;
    t.accept("log");
    r.quick = t.accept("quick");
    if (t.accept("on")) {
      if (!t.accept("lo"))
        return error("'on' an interface other than lo");
      r.on_lo = true;
      r.src.any = r.dst.any = true;
      if (!t.done())
        return error("unexpected text after 'on lo'");
      ++out_.loopback_rules;
      ++out_.rules;
      return; // loopback traffic: no policy packet crosses lo
    }
    if (t.accept("inet"))
      r.af = Family::V4;
    else if (t.accept("inet6"))
      r.af = Family::V6;
    if (t.accept("proto")) {
      std::string p = t.next();
      if (p == "tcp")
        r.proto = kProtoTcp;
      else if (p == "udp")
        r.proto = kProtoUdp;
      else if (p == "icmp")
        r.proto = kProtoIcmp;
      else if (p == "icmp6")
        r.proto = kProtoIcmpV6;
      else if (auto it = kPfProtocols.find(p); it != kPfProtocols.end())
        r.proto = it->second;
      else if (auto n = number(p, 255); n && *n > 0)
        r.proto = static_cast<uint8_t>(*n);
      else if (n && *n == 0)
        r.proto.reset(); // proto 0: pf matches every protocol
      else
        return error("bad protocol '" + p + "'");
    }
    if (t.accept("all") || (t.peek() != "from" && t.peek() != "to")) {
      r.src.any = r.dst.any = true; // pf.conf(5): no hosts is `all`
    } else {
      if (!t.accept("from")) {
        r.src.any = true;
      } else {
        if (!parse_side(t, r.src))
          return;
        if (t.accept("port") && !parse_ports(t, r.sports))
          return;
      }
      if (!t.accept("to"))
        return error("expected 'to'");
      if (!parse_side(t, r.dst))
        return;
      if (t.accept("port") && !parse_ports(t, r.dports))
        return;
    }
    while (!t.done()) {
      std::string opt = t.next();
      if (opt == "icmp-type" || opt == "icmp6-type") {
        uint8_t want = opt == "icmp-type" ? kProtoIcmp : kProtoIcmpV6;
        if (r.proto != want)
          return error(opt + " needs proto " + (want == kProtoIcmp ? "icmp" : "icmp6"));
        std::vector<std::string> list;
        if (t.accept("{")) {
          while (!t.done() && t.peek() != "}") {
            list.push_back(t.next());
            t.accept(",");
          }
          if (!t.accept("}"))
            return error("unterminated icmp type list");
        } else {
          list.push_back(t.next());
        }
        for (const std::string& x : list) {
          auto ty = number(x, 255);
          if (!ty)
            return error("bad " + opt + " '" + x + "'");
          if (*ty == 255) { // stored as type + 1 in a byte: 0, "any type"
            r.icmp_types.clear();
            r.any_icmp_type = true;
          } else if (!r.any_icmp_type) {
            r.icmp_types.push_back(static_cast<uint8_t>(*ty));
          }
        }
        if (t.accept("code")) {
          auto co = number(t.next(), 255);
          if (!co)
            return error("bad icmp code");
          if (*co != 255) // 255 wraps to "any code" the same way
            r.icmp_code = static_cast<uint8_t>(*co);
        }
      } else if (opt == "received-on") {
        if (!t.accept("any"))
          return error("received-on other than 'any'");
        r.received_on = true;
      } else if (opt == "keep" || opt == "no") {
        if (!t.accept("state"))
          return error("expected 'state'");
      } else if (opt == "tagged") {
        r.tagged = t.next();
        if (!tags_.count(r.tagged))
          return error("tagged " + r.tagged + ": no translation sets that tag before it");
      } else if (opt == "nat-to") {
        // pf.conf(5): nat-to on a pass out rule translates the source of what it passes.
        auto a = parse_prefix(t.next());
        if (!a.prefix || !a.prefix->is_host() || !r.pass || r.dir != Dir::Out || r.src.any ||
            r.src.prefixes.size() != 1 || !r.src.prefixes[0].is_host())
          return error("nat-to other than one host on a pass out rule from one host");
        ReadNat n;
        n.destination = false;
        n.match = r.src.prefixes[0].addr;
        n.to = a.prefix->addr;
        if (!r.dst.any) {
          std::vector<AddrRange> peer;
          for (const Prefix& p : r.dst.prefixes)
            peer.push_back(AddrRange::of(p));
          n.peer = peer;
        }
        out_.nat.push_back(std::move(n));
      } else if (opt == "label") {
        std::string l = t.next();
        if (l.size() < 2 || l.front() != '"' || l.back() != '"')
          return error("label without a quoted string");
        if (l.size() - 2 > 63)
          return error("label longer than 63 bytes");
      } else {
        return error("unexpected '" + opt + "'");
      }
    }
    bool ported = r.proto == kProtoTcp || r.proto == kProtoUdp;
    if ((!r.sports.empty() || !r.dports.empty()) && !ported)
      return error("ports without proto tcp or udp");
    if (r.pass && r.af == Family::V6 && r.proto == kProtoIcmpV6 && r.src.any && r.dst.any &&
        r.icmp_types == std::vector<uint8_t>{133, 134, 135, 136}) {
      ++out_.nd_rules;
    }
    rules_.push_back(std::move(r));
    ++out_.rules;
  }

  /// The address ranges of one side in one family; `forwarded` leaves out what a router never
  /// forwards (the firewall's own addresses, broadcast, link-local multicast).
  std::vector<AddrRange> ranges(const Side& s, Family f, bool forwarded) {
    if (s.self)
      uses_self_ = true;
    if (s.any || (s.negated && s.self))
      // `! <self table>`: every forwarded destination (the table holds only the firewall's own
      // addresses and what is never forwarded); Input/Output are not judged (uses_self_).
      return {AddrRange::of(f == Family::V4 ? any_v4() : any_v6())};
    if (s.negated)
      throw ReadError("negated table without self: outside the emitted subset");
    std::vector<AddrRange> out;
    for (const Prefix& p : s.prefixes)
      if (p.family() == f && !(forwarded && s.literal && never_forwarded(p)))
        out.push_back(AddrRange::of(p));
    return out;
  }

  PacketSet matches(const PfRule& r, bool forwarded) {
    PacketSet out;
    for (Family f : {Family::V4, Family::V6}) {
      if (r.af && *r.af != f)
        continue;
      uint8_t plo = r.proto.value_or(0), phi = r.proto.value_or(255);
      std::vector<PortRange> sp = r.sports, dp = r.dports;
      if (!r.icmp_types.empty()) {
        sp.clear();
        for (uint8_t ty : r.icmp_types)
          sp.push_back({ty, ty});
      }
      if (r.icmp_code)
        dp = {{*r.icmp_code, *r.icmp_code}};
      if (sp.empty())
        sp = {{0, 65535}};
      if (dp.empty())
        dp = {{0, 65535}};
      for (const AddrRange& s : ranges(r.src, f, forwarded))
        for (const AddrRange& d : ranges(r.dst, f, forwarded))
          for (const PortRange& a : sp)
            for (const PortRange& b : dp)
              out.add(PacketSet::box(s, d, plo, phi, a.lo, a.hi, b.lo, b.hi));
    }
    return out;
  }

  /// pf's evaluation of one direction: the last matching rule decides, a matching `quick` rule
  /// decides at once, and a packet no rule matches passes.
  PacketSet evaluate(Dir dir, bool forwarded, const std::optional<OrigMatch>& ctx = std::nullopt) {
    PacketSet undecided = PacketSet::all(), passed, last_pass = PacketSet::all();
    for (const PfRule& r : rules_) {
      // A `tagged` rule matches only packets that a translation tagged (pf.conf(5): tag,
      // tagged; the tag sticks to the state): those of that mapping's connections.
      if (!r.tagged.empty() && !(ctx && tags_.at(r.tagged) == *ctx))
        continue;
      if (r.dir && *r.dir != dir)
        continue;
      if (r.received_on && dir == Dir::Out && !forwarded)
        continue; // the firewall's own packets were received on no interface
      if (r.on_lo)
        continue; // loopback; the host's own neighbour discovery (see pf_reader.h)
      PacketSet m = matches(r, forwarded);
      if (r.quick) {
        if (r.pass)
          passed.add(undecided.intersect(m));
        undecided.remove(m);
        last_pass.remove(m);
      } else if (r.pass) {
        last_pass.add(undecided.intersect(m));
      } else {
        last_pass.remove(m);
      }
    }
    passed.add(last_pass.intersect(undecided));
    return passed;
  }

  void evaluate() {
    PacketSet in = evaluate(Dir::In, false), out = evaluate(Dir::Out, false);
    if (!uses_self_) {
      out_.allowed[Chain::Input] = std::move(in);
      out_.allowed[Chain::Output] = std::move(out);
    }
    PacketSet fwd = evaluate(Dir::In, true).intersect(evaluate(Dir::Out, true));
    // What a port mapping translates is judged as it is sent (docs/backends.md, NAT): the
    // outbound evaluation sees the translated packet with the mapping's tag.
    for (const ReadNat& n : out_.nat)
      if (n.destination && n.mapping()) {
        OrigMatch ctx{n.match, n.port};
        PacketSet translated_out = mapping_preimage(n, evaluate(Dir::Out, true, ctx));
        fwd.remove(mapping_region(n));
        // The inbound rules after the match rule see the packet translated too.
        fwd.add(translated_out.intersect(mapping_preimage(n, evaluate(Dir::In, true, ctx))));
      }
    out_.allowed[Chain::Forward] = std::move(fwd);
  }

  PfRead out_;
  size_t line_ = 0;
  std::map<std::string, std::vector<Prefix>> tables_;
  std::set<std::string> self_tables_;
  std::vector<PfRule> rules_;
  std::map<std::string, OrigMatch> tags_; ///< tag -> the port mapping that sets it
  bool uses_self_ = false;
};

} // namespace

PfRead read_pf(std::string_view text) {
  return Reader{}.run(text);
}

} // namespace portolan::roundtrip
