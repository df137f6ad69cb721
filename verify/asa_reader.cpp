#include "asa_reader.h"

#include <map>

#include <optional>
#include <set>

namespace portolan::roundtrip {
namespace {

// The vendor's special values, read as the ASA reads them (Cisco ASA Series Firewall CLI
// Configuration Guide, "Access Control Lists", extended ACEs), not as our writer means them:
//
//   text                        meaning                                 reference
//   ip                          every protocol                          guide: extended ACE,
//                                                                       protocol "ip"
//   0                           read as ip (every protocol); the ASA    our asa backend's own
//                               shows protocol 0 as ip (not confirmed   "unrealizable" reason;
//                               in the guide: read permissively)        unverified
//   icmp/icmp6 without a type   every type and code                     guide: ICMP ACE
//   icmp_type without a code    that type, every code                   guide: "If you do not
//                                                                       specify the code, then
//                                                                       all codes are used"
//   icmp_type NAME              the named type (echo 8, echo-reply 0,   guide: "by name or
//                               unreachable 3, time-exceeded 11, ...)   number"
//   any, any4, any6             every address (of both / one family)    guide: address
//                                                                       arguments
std::optional<long> icmp_type_named(const std::string& s, bool v6) {
  static const std::map<std::string, long> v4{
      {"echo-reply", 0},           {"unreachable", 3},
      {"source-quench", 4},        {"redirect", 5},
      {"alternate-address", 6},    {"echo", 8},
      {"router-advertisement", 9}, {"router-solicitation", 10},
      {"time-exceeded", 11},       {"parameter-problem", 12},
      {"timestamp-request", 13},   {"timestamp-reply", 14},
      {"information-request", 15}, {"information-reply", 16},
      {"mask-request", 17},        {"mask-reply", 18},
      {"traceroute", 30},          {"conversion-error", 31},
      {"mobile-redirect", 32}};
  static const std::map<std::string, long> v6n{{"unreachable", 1},
                                               {"packet-too-big", 2},
                                               {"time-exceeded", 3},
                                               {"parameter-problem", 4},
                                               {"echo", 128},
                                               {"echo-reply", 129},
                                               {"membership-query", 130},
                                               {"membership-report", 131},
                                               {"membership-reduction", 132},
                                               {"router-solicitation", 133},
                                               {"router-advertisement", 134},
                                               {"neighbor-solicitation", 135},
                                               {"neighbor-advertisement", 136},
                                               {"neighbor-redirect", 137},
                                               {"router-renumbering", 138}};
  const auto& m = v6 ? v6n : v4;
  auto it = m.find(s);
  return it == m.end() ? std::nullopt : std::optional<long>(it->second);
}

struct Ace {
  bool permit = false;
  std::optional<uint8_t> proto; ///< nullopt: ip (every protocol)
  std::vector<Prefix> src, dst; ///< already expanded from groups / any4 / any6
  std::vector<PortRange> sports, dports;
  std::optional<uint8_t> icmp_type, icmp_code;
};

struct ServiceGroup {
  uint8_t proto = 0;
  std::vector<PortRange> ports;
};

std::vector<std::string> split(std::string_view line) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    if (c == ' ') {
      if (!cur.empty())
        out.push_back(cur), cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty())
    out.push_back(cur);
  return out;
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

/// The prefix length of a contiguous dotted IPv4 mask, or nullopt.
std::optional<uint8_t> mask_len(const std::string& mask) {
  auto a = parse_ip(mask);
  if (!a || a->family != Family::V4)
    return std::nullopt;
  uint32_t m = 0;
  for (int i = 0; i < 4; ++i)
    m = (m << 8) | a->bytes[static_cast<size_t>(i)];
  uint8_t len = 0;
  while (len < 32 && (m & (0x80000000u >> len)))
    ++len;
  if (len < 32 && (m << len) != 0)
    return std::nullopt;
  return len;
}

class Reader {
public:
  AsaRead run(std::string_view text) {
    size_t start = 0;
    while (start <= text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string_view::npos)
        end = text.size();
      ++line_;
      parse_line(text.substr(start, end - start));
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
    for (char c : line)
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f || c == '?')
        return error("character outside printable ASCII (or '?') in a command");
    if (line.empty() || line[0] == '!')
      return;
    bool sub = line[0] == ' ';
    std::vector<std::string> w = split(line);
    if (w.empty())
      return error("blank line of spaces");
    if (sub)
      return parse_sub(w);
    mode_ = Mode::None;
    if (w[0] == "clear" && w.size() == 4 && w[1] == "configure" && w[2] == "access-list")
      return;
    if (w[0] == "no" && w.size() == 4 && w[1] == "object-group" &&
        (w[2] == "network" || w[2] == "service"))
      return;
    if (w[0] == "object-group" && w.size() == 3 && w[1] == "network")
      return open_network(w[2]);
    if (w[0] == "object" && w.size() == 3 && w[1] == "network") {
      mode_ = Mode::NatObject;
      nat_host_.reset();
      return;
    }
    if (w[0] == "object-group" && w.size() == 4 && w[1] == "service")
      return open_service(w[2], w[3]);
    if (w[0] == "access-list" && w.size() >= 3)
      return parse_acl_line(w, line);
    if (w[0] == "access-group" && w.size() == 5 && w[2] == "in" && w[3] == "interface") {
      if (!out_.bindings.emplace(w[1], w[4]).second)
        return error("ACL " + w[1] + " bound twice");
      for (const auto& [acl, nif] : out_.bindings)
        if (acl != w[1] && nif == w[4])
          return error("interface " + w[4] + " has two ACLs");
      return;
    }
    if (w[0] == "policy-map" && w.size() == 2 && w[1] == "global_policy") {
      mode_ = Mode::PolicyMap;
      return;
    }
    error("unexpected command '" + w[0] + "'");
  }

  void open_network(const std::string& name) {
    if (!groups_.insert(name).second)
      return error("object-group " + name + " defined twice");
    mode_ = Mode::Network;
    current_ = name;
    networks_[name];
  }

  void open_service(const std::string& name, const std::string& proto) {
    if (!groups_.insert(name).second)
      return error("object-group " + name + " defined twice");
    if (proto != "tcp" && proto != "udp")
      return error("service group protocol '" + proto + "'");
    mode_ = Mode::Service;
    current_ = name;
    services_[name].proto = proto == "tcp" ? kProtoTcp : kProtoUdp;
  }

  void parse_sub(const std::vector<std::string>& w) {
    switch (mode_) {
    case Mode::Network:
      if (w[0] == "description")
        return;
      if (w[0] == "network-object") {
        if (auto p = address(w, 1); p && next_ == w.size())
          return networks_[current_].push_back(*p);
        return error("bad network-object");
      }
      return error("unexpected '" + w[0] + "' in a network group");
    case Mode::Service:
      if (w[0] == "port-object") {
        size_t i = 1;
        if (auto r = port_op(w, i); r && i == w.size())
          return services_[current_].ports.push_back(*r);
        return error("bad port-object");
      }
      return error("unexpected '" + w[0] + "' in a service group");
    case Mode::NatObject:
      if (w[0] == "description")
        return;
      if (w[0] == "host" && w.size() == 2) {
        nat_host_ = parse_ip(w[1]);
        if (!nat_host_)
          return error("bad host in a network object");
        return;
      }
      if (w[0] == "nat" && w.size() == 4 && w[2] == "static" && nat_host_) {
        auto mapped = parse_ip(w[3]);
        if (!mapped || mapped->family != nat_host_->family)
          return error("bad static NAT address");
        out_.nat.push_back(ReadNat{true, *mapped, *nat_host_, std::nullopt});
        out_.nat.push_back(ReadNat{false, *nat_host_, *mapped, std::nullopt});
        return;
      }
      return error("unexpected '" + w[0] + "' in a network object");
    case Mode::PolicyMap:
      if (w.size() == 2 && w[0] == "class" && w[1] == "inspection_default")
        return;
      if (w.size() == 2 && w[0] == "inspect" && w[1] == "icmp")
        return;
      return error("unexpected policy-map line");
    case Mode::None:
      break;
    }
    error("indented line outside an object-group or policy-map");
  }

  /// host A | A MASK (IPv4) | A/len (IPv6), starting at w[i]; sets next_.
  std::optional<Prefix> address(const std::vector<std::string>& w, size_t i) {
    if (i >= w.size())
      return std::nullopt;
    if (w[i] == "host" && i + 1 < w.size()) {
      auto a = parse_ip(w[i + 1]);
      next_ = i + 2;
      if (!a)
        return std::nullopt;
      return Prefix{*a, static_cast<uint8_t>(a->bits())};
    }
    if (w[i].find(':') != std::string::npos) {
      if (w[i].find('/') == std::string::npos)
        return std::nullopt;
      auto p = parse_prefix(w[i]);
      next_ = i + 1;
      if (!p.prefix || p.prefix->family() != Family::V6)
        return std::nullopt;
      return p.prefix;
    }
    if (i + 1 >= w.size())
      return std::nullopt;
    auto len = mask_len(w[i + 1]);
    next_ = i + 2;
    if (!len)
      return std::nullopt;
    auto p = parse_prefix(w[i] + "/" + std::to_string(*len));
    if (!p.prefix || p.prefix->family() != Family::V4)
      return std::nullopt;
    return p.prefix;
  }

  /// eq N | range A B, at w[i]; advances i.
  std::optional<PortRange> port_op(const std::vector<std::string>& w, size_t& i) {
    if (i + 1 < w.size() && w[i] == "eq") {
      auto n = number(w[i + 1], 65535);
      i += 2;
      if (!n)
        return std::nullopt;
      return PortRange{static_cast<uint16_t>(*n), static_cast<uint16_t>(*n)};
    }
    if (i + 2 < w.size() && w[i] == "range") {
      auto a = number(w[i + 1], 65535), b = number(w[i + 2], 65535);
      i += 3;
      if (!a || !b || *a > *b)
        return std::nullopt;
      return PortRange{static_cast<uint16_t>(*a), static_cast<uint16_t>(*b)};
    }
    return std::nullopt;
  }

  /// An ACE's address argument; advances i.
  bool ace_address(const std::vector<std::string>& w, size_t& i, std::vector<Prefix>& out) {
    if (i >= w.size())
      return false;
    const std::string& a = w[i];
    if (a == "any" || a == "any4" || a == "any6") {
      if (a != "any6")
        out.push_back(any_v4());
      if (a != "any4")
        out.push_back(any_v6());
      ++i;
      return true;
    }
    if (a == "object-group" && i + 1 < w.size()) {
      auto it = networks_.find(w[i + 1]);
      if (it == networks_.end())
        return false;
      out = it->second;
      i += 2;
      return true;
    }
    auto p = address(w, i);
    if (!p)
      return false;
    out.push_back(*p);
    i = next_;
    return true;
  }

  /// An optional port argument (tcp/udp only); advances i.
  bool ace_ports(const std::vector<std::string>& w, size_t& i, uint8_t proto,
                 std::vector<PortRange>& out) {
    if (i >= w.size())
      return true;
    if (w[i] == "eq" || w[i] == "range") {
      auto r = port_op(w, i);
      if (!r)
        return false;
      out.push_back(*r);
      return true;
    }
    if (w[i] == "object-group" && i + 1 < w.size()) {
      auto it = services_.find(w[i + 1]);
      if (it == services_.end())
        return true; // a network group: the next address, not a port argument
      if (it->second.proto != proto) {
        error("service group " + w[i + 1] + " is for another protocol");
        return false;
      }
      out = it->second.ports;
      i += 2;
    }
    return true;
  }

  void parse_acl_line(const std::vector<std::string>& w, std::string_view line) {
    const std::string& acl = w[1];
    if (w[2] == "remark") {
      // "access-list NAME remark " then up to 100 characters of text.
      size_t text_at = std::string("access-list  remark ").size() + acl.size();
      if (line.size() > text_at + 100)
        return error("remark longer than 100 characters");
      ++out_.remarks;
      return;
    }
    if (w[2] != "extended" || w.size() < 6)
      return error("expected 'extended' or 'remark'");
    Ace a;
    if (w[3] != "permit" && w[3] != "deny")
      return error("expected permit or deny");
    a.permit = w[3] == "permit";
    const std::string& p = w[4];
    if (p == "tcp")
      a.proto = kProtoTcp;
    else if (p == "udp")
      a.proto = kProtoUdp;
    else if (p == "icmp")
      a.proto = kProtoIcmp;
    else if (p == "icmp6")
      a.proto = kProtoIcmpV6;
    else if (auto n = number(p, 255); n && *n > 0)
      a.proto = static_cast<uint8_t>(*n);
    else if (p != "ip" && !(n && *n == 0)) // 0 is read as ip, every protocol (see kAsaSpecials)
      return error("bad protocol '" + p + "'");
    size_t i = 5;
    bool ported = a.proto == kProtoTcp || a.proto == kProtoUdp;
    if (!ace_address(w, i, a.src))
      return error("bad source");
    if (ported && !ace_ports(w, i, *a.proto, a.sports))
      return error("bad source port");
    if (!ace_address(w, i, a.dst))
      return error("bad destination");
    if (ported && !ace_ports(w, i, *a.proto, a.dports))
      return error("bad destination port");
    if ((a.proto == kProtoIcmp || a.proto == kProtoIcmpV6) && i < w.size() && w[i] != "log") {
      auto ty = icmp_type_named(w[i], a.proto == kProtoIcmpV6);
      if (!ty)
        ty = number(w[i], 255);
      ++i;
      if (!ty)
        return error("bad ICMP type");
      a.icmp_type = static_cast<uint8_t>(*ty);
      if (i < w.size() && w[i] != "log") {
        auto co = number(w[i++], 255);
        if (!co)
          return error("bad ICMP code");
        a.icmp_code = static_cast<uint8_t>(*co);
      }
    }
    if (i < w.size() && w[i] == "log")
      ++i;
    if (i != w.size())
      return error("unexpected '" + w[i] + "'");
    acls_[acl].push_back(std::move(a));
    ++out_.aces;
  }

  static PacketSet matches(const Ace& a) {
    PacketSet out;
    uint8_t plo = a.proto.value_or(0), phi = a.proto.value_or(255);
    std::vector<PortRange> sp = a.sports, dp = a.dports;
    if (a.icmp_type)
      sp = {{*a.icmp_type, *a.icmp_type}};
    if (a.icmp_code)
      dp = {{*a.icmp_code, *a.icmp_code}};
    if (sp.empty())
      sp = {{0, 65535}};
    if (dp.empty())
      dp = {{0, 65535}};
    for (const Prefix& s : a.src)
      for (const Prefix& d : a.dst)
        for (const PortRange& x : sp)
          for (const PortRange& y : dp)
            out.add(PacketSet::box(s, d, plo, phi, x.lo, x.hi, y.lo, y.hi));
    return out;
  }

  void evaluate() {
    PacketSet forward;
    for (const auto& [acl, nif] : out_.bindings) {
      auto it = acls_.find(acl);
      if (it == acls_.end()) {
        error("access-group binds ACL " + acl + ", which has no entries");
        continue;
      }
      PacketSet undecided = PacketSet::all(), permitted;
      for (const Ace& a : it->second) {
        PacketSet m = matches(a);
        if (a.permit)
          permitted.add(undecided.intersect(m));
        undecided.remove(m);
      }
      forward.add(permitted);
      out_.per_acl[acl] = std::move(permitted);
    }
    out_.allowed[Chain::Forward] = std::move(forward);
  }

  enum class Mode { None, Network, Service, PolicyMap, NatObject };
  AsaRead out_;
  size_t line_ = 0, next_ = 0;
  Mode mode_ = Mode::None;
  std::string current_;
  std::optional<IpAddr> nat_host_; ///< the host of the network object being read
  std::set<std::string> groups_;
  std::map<std::string, std::vector<Prefix>> networks_;
  std::map<std::string, ServiceGroup> services_;
  std::map<std::string, std::vector<Ace>> acls_;
};

} // namespace

AsaRead read_asa(std::string_view text) {
  return Reader{}.run(text);
}

} // namespace portolan::roundtrip
