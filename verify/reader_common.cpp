#include "reader_common.h"

namespace portolan::roundtrip {

std::vector<std::string> tokenize(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty())
      out.push_back(cur);
    cur.clear();
  };
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '"') {
      flush();
      size_t j = line.find('"', i + 1);
      if (j == std::string::npos)
        throw ReadError("unterminated string: " + line);
      out.push_back(line.substr(i, j - i + 1));
      i = j;
    } else if (c == ' ' || c == '\t') {
      flush();
    } else if (c == '{' || c == '}' || c == ',') {
      flush();
      out.push_back(std::string(1, c));
    } else {
      cur += c;
    }
  }
  flush();
  return out;
}

PacketSet Match::packets() const {
  PacketDims d;
  d.src = src;
  d.dst = dst;
  d.v4 = !family || *family == Family::V4;
  d.v6 = !family || *family == Family::V6;
  if (proto)
    d.protos = {{*proto, *proto}};
  if (!sports.empty())
    d.sports = sports;
  if (!dports.empty())
    d.dports = dports;
  return product(d);
}

PacketSet conntrack_invalid_first_packets() {
  PacketSet out;
  auto types_except = [](std::vector<uint16_t> keep) {
    std::vector<PortRange> r;
    uint16_t lo = 0;
    for (uint16_t k : keep) {
      if (k > lo)
        r.push_back({lo, static_cast<uint16_t>(k - 1)});
      lo = static_cast<uint16_t>(k + 1);
    }
    r.push_back({lo, 65535}); // the engine keeps 256-65535 with 255
    return r;
  };
  Match v4;
  v4.family = Family::V4;
  v4.proto = 1;
  v4.sports = types_except({8, 13, 15, 17});
  Match v6;
  v6.family = Family::V6;
  v6.proto = 58;
  v6.sports = types_except({128, 130, 131, 132, 133, 134, 135, 136, 139, 143});
  return v4.packets().unite(v6.packets());
}

std::string difference(const PacketSet& got, const PacketSet& want) {
  std::string out;
  if (auto extra = got.subtract(want).pick())
    out = "output allows " + extra->str() + " which the policy does not";
  if (auto missing = want.subtract(got).pick())
    out += (out.empty() ? "" : "; ") + std::string("output drops ") + missing->str() +
           " which the policy allows";
  return out;
}

std::string messages(const Diagnostics& d) {
  std::string s;
  for (const auto& x : d.all())
    s += x.code + "@" + std::to_string(x.loc.line) + ": " + x.message + "\n";
  return s;
}

void FirstMatch::rule(const PacketSet& m, bool accept) {
  if (accept)
    allowed_.add(m.subtract(covered_));
  covered_.add(m);
}

std::vector<PortRange> parse_ports(const std::string& text, char range_sep) {
  std::vector<PortRange> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string part =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!part.empty()) {
      size_t sep = part.find(range_sep);
      int lo = std::stoi(part.substr(0, sep));
      int hi = sep == std::string::npos ? lo : std::stoi(part.substr(sep + 1));
      out.push_back(PortRange{static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)});
    }
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return out;
}

std::vector<AddrRange> parse_prefixes(const std::vector<std::string>& texts) {
  std::vector<AddrRange> out;
  for (const auto& t : texts) {
    auto p = parse_prefix(t);
    if (!p.prefix)
      throw ReadError("bad prefix " + t + ": " + p.error);
    out.push_back(AddrRange::of(*p.prefix));
  }
  return out;
}

PacketSet nd_plumbing() {
  Match m;
  m.family = Family::V6;
  m.proto = 58;
  m.sports = {PortRange{133, 136}};
  return m.packets();
}

bool only_unrealizable(const Diagnostics& d) {
  bool any = false;
  for (const auto& x : d.all())
    if (x.severity == Severity::Error) {
      if (x.code != "unrealizable")
        return false;
      any = true;
    }
  return any;
}

namespace {

PacketSet region(const std::optional<std::vector<AddrRange>>& peer, const IpAddr& dst,
                 uint8_t proto, uint16_t port) {
  PacketDims d;
  d.src = peer;
  d.dst = std::vector<AddrRange>{AddrRange::host(dst)};
  d.protos = {{proto, proto}};
  d.dports = {{port, port}};
  d.v4 = dst.family == Family::V4;
  d.v6 = !d.v4;
  return product(d);
}

} // namespace

PacketSet untranslated_part(const PacketSet& m, const OrigMatch& o) {
  PacketDims d;
  d.dst = std::vector<AddrRange>{AddrRange::host(o.dst)};
  d.dports = {{o.port, o.port}};
  return m.intersect(product(d));
}

PacketSet mapping_region(const ReadNat& n) {
  return region(n.peer, n.match, n.proto, n.port);
}

PacketSet mapping_image(const ReadNat& n) {
  return region(n.peer, n.to, n.proto, n.to_port);
}

PacketSet mapping_preimage(const ReadNat& n, const PacketSet& allowed_post) {
  // Translation changes only the destination address and port, to one value each: every box
  // of the allowed image keeps its sources, protocols and source ports.
  PacketSet out;
  PacketSet img = allowed_post.intersect(mapping_image(n));
  Family f = n.match.family;
  for (const PacketBox& b : img.boxes(f)) {
    const auto& s = b.iv[PacketBox::kSrc];
    const auto& pr = b.iv[PacketBox::kProto];
    const auto& sp = b.iv[PacketBox::kSport];
    out.add(PacketSet::box(AddrRange{u128_to_addr(f, s.lo), u128_to_addr(f, s.hi)},
                           AddrRange::host(n.match), static_cast<uint8_t>(pr.lo),
                           static_cast<uint8_t>(pr.hi), static_cast<uint16_t>(sp.lo),
                           static_cast<uint16_t>(sp.hi), n.port, n.port));
  }
  return out;
}

Packet apply_nat(const std::vector<ReadNat>& nats, const Packet& p) {
  auto in_peer = [](const ReadNat& n, const IpAddr& a) {
    if (!n.peer)
      return true;
    for (const AddrRange& r : *n.peer)
      if (r.lo <= a && a <= r.hi)
        return true;
    return false;
  };
  Packet out = p;
  for (bool dst : {true, false})
    for (const ReadNat& n : nats)
      if (n.destination == dst && (dst ? p.dst : p.src) == n.match &&
          in_peer(n, dst ? p.src : p.dst) &&
          (!n.mapping() || (p.proto == n.proto && p.dport == n.port))) {
        (dst ? out.dst : out.src) = n.to;
        if (n.mapping())
          out.dport = n.to_port;
        break;
      }
  return out;
}

} // namespace portolan::roundtrip
