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
  PacketSet out;
  for (Family f : {Family::V4, Family::V6}) {
    if (family && *family != f)
      continue;
    Prefix all_f{IpAddr{f, {}}, 0};
    std::vector<AddrRange> s, d;
    for (const AddrRange& r : src ? *src : std::vector<AddrRange>{AddrRange::of(all_f)})
      if (r.lo.family == f)
        s.push_back(r);
    for (const AddrRange& r : dst ? *dst : std::vector<AddrRange>{AddrRange::of(all_f)})
      if (r.lo.family == f)
        d.push_back(r);
    std::vector<PortRange> sp = sports.empty() ? std::vector<PortRange>{{0, 65535}} : sports;
    std::vector<PortRange> dp = dports.empty() ? std::vector<PortRange>{{0, 65535}} : dports;
    uint8_t plo = proto ? *proto : 0, phi = proto ? *proto : 255;
    for (const auto& a : s)
      for (const auto& b : d)
        for (const auto& x : sp)
          for (const auto& y : dp)
            out.add(PacketSet::box(a, b, plo, phi, x.lo, x.hi, y.lo, y.hi));
  }
  return out;
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

} // namespace portolan::roundtrip
