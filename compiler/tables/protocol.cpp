#include "tables/protocol.h"

#include "tables/table.h"

#include <cctype>
#include <optional>

namespace portolan::tables {

namespace {

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && s[b] == ' ')
    ++b;
  while (e > b && s[e - 1] == ' ')
    --e;
  return std::string(s.substr(b, e - b));
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t p = 0;
  while (true) {
    size_t e = s.find(sep, p);
    out.push_back(trim(s.substr(p, e == std::string_view::npos ? s.size() - p : e - p)));
    if (e == std::string_view::npos)
      break;
    p = e + 1;
  }
  return out;
}

bool all_digits(std::string_view s) {
  if (s.empty())
    return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c)))
      return false;
  return true;
}

std::string quoted(std::string_view s) {
  return "'" + comment_text(s, 60) + "'";
}

/// Transports named by one token: "TCP", "udp", "TCP+UDP", "TCP e UDP", "TCP, UDP".
std::optional<std::vector<uint8_t>> transports_of(const std::string& token) {
  std::string f = fold(token);
  std::vector<uint8_t> out;
  std::string word;
  auto flush = [&]() -> bool {
    if (word.empty())
      return true;
    static const char* const kConnectors[] = {"and", "or",  "e",    "y", "o",
                                              "ou",  "und", "oder", "et"};
    bool connector = false;
    for (const char* c : kConnectors)
      connector = connector || word == c;
    if (word == "tcp")
      out.push_back(kProtoTcp);
    else if (word == "udp")
      out.push_back(kProtoUdp);
    else if (!connector)
      return false;
    word.clear();
    return true;
  };
  for (char c : f) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word += c;
    } else if (c == ' ' || c == ',' || c == '+' || c == '&') {
      if (!flush())
        return std::nullopt;
    } else {
      return std::nullopt;
    }
  }
  if (!flush() || out.empty())
    return std::nullopt;
  return out;
}

struct NumberRead {
  std::optional<long> value;
  bool grouped = false; ///< written with thousands separators
  std::string error;
};

/// One port number, possibly with thousands separators (50,000 50.000 50 000 50'000).
NumberRead read_number(const std::string& t) {
  NumberRead r;
  if (all_digits(t)) {
    if (t.size() > 6) {
      r.error = "port " + quoted(t) + " is out of range (1-65535)";
      return r;
    }
    r.value = std::stol(t);
    return r;
  }
  // d{1,3} (S ddd)+ with one separator S throughout.
  size_t first = t.find_first_not_of("0123456789");
  if (first >= 1 && first <= 3) {
    char sep = t[first];
    if (sep == ',' || sep == '.' || sep == ' ' || sep == '\'') {
      std::string digits = t.substr(0, first);
      size_t p = first;
      bool ok = true;
      while (ok && p < t.size()) {
        ok = t[p] == sep && p + 3 < t.size() + 0 && all_digits(t.substr(p + 1, 3)) &&
             (p + 4 == t.size() || t[p + 4] == sep);
        if (ok) {
          digits += t.substr(p + 1, 3);
          p += 4;
        }
      }
      if (ok && digits.size() <= 6) {
        long v = std::stol(digits);
        if (v > 65535) {
          r.error = quoted(t) + " reads as " + digits + " with '" + std::string(1, sep) +
                    "' as a thousands separator, which is over 65535; write a list as '" +
                    t.substr(0, first) + ", " + t.substr(first + 1) + "'";
          return r;
        }
        r.value = v;
        r.grouped = true;
        return r;
      }
    }
  }
  r.error = quoted(t) + " is not a port number";
  return r;
}

struct PortsRead {
  std::vector<PortRange> ranges; ///< empty with all=true: every port
  bool all = false;
  bool grouped = false;
  std::string error;
};

bool is_all_ports(const std::string& t) {
  std::string f = fold(t);
  return f == "any" || f == "all" || f == "*" || f == "all ports";
}

/// A port list: "5061", "50000-59999", "80, 443", "5060,5061", "50.000-59.999".
PortsRead read_ports(const std::string& text) {
  PortsRead r;
  std::string t = trim(text);
  if (t.empty()) {
    r.error = "a port is missing";
    return r;
  }
  if (is_all_ports(t)) {
    r.all = true;
    return r;
  }
  // List items: split on ", " first (a comma and a space always separate items).
  std::vector<std::string> items;
  size_t p = 0;
  while (true) {
    size_t e = t.find(", ", p);
    items.push_back(trim(t.substr(p, e == std::string::npos ? std::string::npos : e - p)));
    if (e == std::string::npos)
      break;
    p = e + 2;
  }
  auto range_check = [&](long lo, long hi, const std::string& item) -> bool {
    if (lo < 1 || hi > 65535 || lo > 65535 || hi < 1) {
      long bad = lo < 1 || lo > 65535 ? lo : hi;
      r.error =
          "port " + std::to_string(bad) + " in " + quoted(item) + " is out of range (1-65535)";
      return false;
    }
    if (lo > hi) {
      r.error = "the range " + quoted(item) + " is reversed";
      return false;
    }
    r.ranges.push_back(PortRange{static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)});
    return true;
  };
  for (size_t k = 0; k < items.size(); ++k) {
    const std::string& item = items[k];
    if (item.empty()) {
      r.error = "an empty item in the port list " + quoted(t);
      return r;
    }
    // A range: '-', en dash or em dash.
    size_t dash = std::string::npos, dlen = 1;
    for (const char* d : {"-", "\xE2\x80\x93", "\xE2\x80\x94"})
      if (size_t q = item.find(d); q != std::string::npos && q < dash) {
        dash = q;
        dlen = std::string_view(d).size();
      }
    if (dash != std::string::npos) {
      NumberRead lo = read_number(trim(item.substr(0, dash)));
      NumberRead hi = read_number(trim(item.substr(dash + dlen)));
      for (const NumberRead* n : {&lo, &hi})
        if (!n->value) {
          r.error = n->error + (item.find(',') != std::string::npos && !n->grouped
                                    ? " (a range cannot hold a list)"
                                    : "");
          return r;
        }
      r.grouped = r.grouped || lo.grouped || hi.grouped;
      if (!range_check(*lo.value, *hi.value, item))
        return r;
      continue;
    }
    NumberRead n = read_number(item);
    if (n.value) {
      r.grouped = r.grouped || n.grouped;
      if (!range_check(*n.value, *n.value, item))
        return r;
      continue;
    }
    if (item.find(',') != std::string::npos && n.error.find("thousands") == std::string::npos) {
      // "5060,5061": a list without spaces.
      PortsRead sub = read_ports(std::string(item).replace(item.find(','), 1, ", "));
      if (!sub.error.empty() || sub.all) {
        r.error = sub.all ? quoted(item) + " is not a port list" : sub.error;
        return r;
      }
      r.ranges.insert(r.ranges.end(), sub.ranges.begin(), sub.ranges.end());
      r.grouped = r.grouped || sub.grouped;
      continue;
    }
    r.error = n.error;
    return r;
  }
  return r;
}

std::optional<long> small_number(const std::string& t, long max) {
  if (!all_digits(t) || t.size() > 3)
    return std::nullopt;
  long v = std::stol(t);
  return v <= max ? std::optional<long>(v) : std::nullopt;
}

std::string join_text(const std::vector<std::string>& parts, size_t from, size_t to) {
  std::string s;
  for (size_t i = from; i < to; ++i)
    s += (i > from ? "/" : "") + plain_slashes(parts[i]);
  return s;
}

std::string ranges_text(const std::vector<PortRange>& rs, const char* sep) {
  std::string s;
  for (size_t i = 0; i < rs.size(); ++i) {
    s += i ? sep : "";
    s += std::to_string(rs[i].lo);
    if (rs[i].hi != rs[i].lo)
      s += "-" + std::to_string(rs[i].hi);
  }
  return s;
}

ProtocolEntry read_entry(const std::string& text, std::string& error) {
  ProtocolEntry e;
  std::vector<std::string> tok = split(text, '/');
  // A missing '/' before the transport, after a closing bracket: "PSOM(TLS)TCP".
  size_t k = 0;
  for (; k < tok.size(); ++k) {
    if (transports_of(tok[k]))
      break;
    std::string f = fold(tok[k]);
    if (f == "icmp" || f == "icmpv6" || f == "ipv6-icmp")
      break;
    if (f == "proto" && k + 1 < tok.size())
      break;
    if (f == "any" && k + 1 == tok.size())
      break;
    if (tok[k].size() > 3) {
      std::string tail = fold(tok[k].substr(tok[k].size() - 3));
      char before = tok[k][tok[k].size() - 4];
      if ((tail == "tcp" || tail == "udp") && (before == ')' || before == ']' || before == ' ')) {
        std::string tr = tok[k].substr(tok[k].size() - 3);
        std::string head = trim(tok[k].substr(0, tok[k].size() - 3));
        e.readings.push_back("read " + quoted(tok[k]) + " as " + quoted(head + "/" + tr) +
                             " (a '/' was missing before the transport)");
        tok[k] = head;
        tok.insert(tok.begin() + static_cast<long>(k) + 1, tr);
        ++k;
        break;
      }
    }
  }
  if (k == tok.size()) {
    error = "no transport (TCP, UDP, ICMP, proto N, any) in " + quoted(plain_slashes(text));
    return e;
  }
  // Group and label: the last part before the transport is the label, the rest the group.
  if (k == 1) {
    e.label = plain_slashes(tok[0]);
  } else if (k >= 2) {
    e.label = plain_slashes(tok[k - 1]);
    e.group = join_text(tok, 0, k - 1);
  }
  for (size_t i = 0; i < k; ++i)
    if (tok[i].empty()) {
      error = "an empty part in " + quoted(plain_slashes(text));
      return e;
    }
  std::string f = fold(tok[k]);
  std::vector<std::string> rest(tok.begin() + static_cast<long>(k) + 1, tok.end());
  if (f == "icmp" || f == "icmpv6" || f == "ipv6-icmp") {
    IcmpMatch m;
    m.proto = f == "icmp" ? kProtoIcmp : kProtoIcmpV6;
    if (rest.size() > 2) {
      error = "ICMP takes at most a type and a code, not " + quoted(plain_slashes(text));
      return e;
    }
    for (size_t i = 0; i < rest.size(); ++i) {
      std::string v = fold(rest[i]);
      for (const char* pre : {"type ", "code "})
        if (v.rfind(pre, 0) == 0)
          v = v.substr(5);
      auto n = small_number(v, 255);
      if (!n) {
        error = "ICMP " + std::string(i == 0 ? "type " : "code ") + quoted(rest[i]) +
                " is not a number 0-255";
        return e;
      }
      (i == 0 ? m.type : m.code) = static_cast<uint8_t>(*n);
    }
    e.specs.emplace_back(m);
    return e;
  }
  if (f == "proto") {
    auto n = rest.size() == 1 ? small_number(rest[0], 255) : std::nullopt;
    if (!n) {
      error = "proto needs one protocol number 0-255 in " + quoted(plain_slashes(text));
      return e;
    }
    e.specs.emplace_back(ProtoMatch{static_cast<uint8_t>(*n)});
    return e;
  }
  if (f == "any") {
    e.specs.emplace_back(AnyMatch{});
    return e;
  }
  std::vector<uint8_t> protos = *transports_of(tok[k]);
  size_t i = 0;
  while (i < rest.size()) {
    auto more = transports_of(rest[i]);
    if (!more)
      break;
    protos.insert(protos.end(), more->begin(), more->end());
    ++i;
  }
  if (i == rest.size()) {
    error = "no port after the transport in " + quoted(plain_slashes(text));
    return e;
  }
  std::vector<PortRange> dports, sports;
  bool all = false, grouped = false;
  size_t port_parts = rest.size() - i;
  for (; i < rest.size(); ++i) {
    std::string part = plain_slashes(rest[i]);
    std::string sport_text;
    std::string fp = fold(part);
    if (size_t s = fp.find(" sport "); s != std::string::npos && i + 1 == rest.size()) {
      sport_text = part.substr(s + 7);
      part = part.substr(0, s);
    } else if (fp.find("sport") != std::string::npos) {
      error = "'sport' must follow the last port list in " + quoted(plain_slashes(text));
      return e;
    }
    PortsRead pr = read_ports(part);
    if (!pr.error.empty()) {
      error = pr.error;
      return e;
    }
    if (pr.all && port_parts > 1) {
      error = "'any' port cannot be listed with other ports in " + quoted(plain_slashes(text));
      return e;
    }
    all = all || pr.all;
    grouped = grouped || pr.grouped;
    dports.insert(dports.end(), pr.ranges.begin(), pr.ranges.end());
    if (!sport_text.empty()) {
      PortsRead sp = read_ports(sport_text);
      if (!sp.error.empty()) {
        error = "source ports: " + sp.error;
        return e;
      }
      sports = sp.ranges;
    }
  }
  if (grouped || port_parts > 1) {
    std::string written;
    for (size_t j = rest.size() - port_parts; j < rest.size(); ++j)
      written += (written.empty() ? "" : "/") + plain_slashes(rest[j]);
    e.readings.push_back("read the ports " + quoted(written) + " as " + ranges_text(dports, ", ") +
                         (grouped ? " (with thousands separators)" : "") +
                         (port_parts > 1 ? " (parts separated by '/' are a list)" : ""));
  }
  for (uint8_t p : protos) {
    PortMatch m;
    m.proto = p;
    m.dports = all ? std::vector<PortRange>{} : dports;
    m.sports = sports;
    e.specs.emplace_back(m);
  }
  return e;
}

} // namespace

ProtocolCell parse_protocol_cell(std::string_view cell) {
  ProtocolCell out;
  std::string text = squeeze(cell);
  if (text.empty()) {
    out.error = "the protocol cell is empty";
    return out;
  }
  if (text.size() > 300) {
    out.error = "the protocol cell is " + std::to_string(text.size()) +
                " bytes long; that is not a protocol/transport/port entry";
    return out;
  }
  for (const std::string& part : split(text, ';')) {
    if (part.empty())
      continue;
    std::string err;
    ProtocolEntry e = read_entry(part, err);
    if (!err.empty()) {
      out.entries.clear();
      out.error = err;
      return out;
    }
    out.entries.push_back(std::move(e));
  }
  if (out.entries.empty())
    out.error = "the protocol cell is empty";
  return out;
}

std::string format_protocol_cell(std::string_view group, std::string_view label,
                                 const std::vector<ServiceSpec>& specs) {
  auto part = [](std::string_view s) {
    std::string r;
    for (char c : s) {
      if (c == '/')
        r += kSlash;
      else if (c == ';')
        r += ',';
      else
        r += c;
    }
    return r;
  };
  std::string prefix;
  if (!group.empty())
    prefix += part(group) + "/";
  if (!label.empty())
    prefix += part(label) + "/";
  std::vector<std::string> entries;
  std::vector<bool> done(specs.size(), false);
  for (size_t i = 0; i < specs.size(); ++i) {
    if (done[i])
      continue;
    if (auto* pm = std::get_if<PortMatch>(&specs[i])) {
      std::string transports;
      for (size_t j = i; j < specs.size(); ++j) {
        auto* other = std::get_if<PortMatch>(&specs[j]);
        if (!other || done[j] || other->dports != pm->dports || other->sports != pm->sports)
          continue;
        done[j] = true;
        transports += (transports.empty() ? "" : "/") +
                      std::string(other->proto == kProtoTcp ? "TCP" : "UDP");
      }
      std::string ports = pm->dports.empty() ? "any" : ranges_text(pm->dports, ", ");
      if (!pm->sports.empty())
        ports += " sport " + ranges_text(pm->sports, ", ");
      entries.push_back(prefix + transports + "/" + ports);
    } else if (auto* im = std::get_if<IcmpMatch>(&specs[i])) {
      std::string s = prefix + (im->proto == kProtoIcmp ? "ICMP" : "ICMPv6");
      if (im->type)
        s += "/" + std::to_string(*im->type);
      if (im->code)
        s += "/" + std::to_string(*im->code);
      entries.push_back(s);
    } else if (auto* pr = std::get_if<ProtoMatch>(&specs[i])) {
      entries.push_back(prefix + "proto/" + std::to_string(pr->number));
    } else {
      entries.push_back(prefix + "any");
    }
    done[i] = true;
  }
  std::string s;
  for (size_t i = 0; i < entries.size(); ++i)
    s += (i ? "; " : "") + entries[i];
  return s;
}

std::string specs_policy_text(const std::vector<ServiceSpec>& specs) {
  std::string s;
  for (size_t i = 0; i < specs.size(); ++i) {
    s += i ? ", " : "";
    if (auto* pm = std::get_if<PortMatch>(&specs[i])) {
      s += pm->proto == kProtoTcp ? "tcp" : "udp";
      if (!pm->dports.empty())
        s += " " + ranges_text(pm->dports, ", ");
      if (!pm->sports.empty())
        s += " sport " + ranges_text(pm->sports, ", ");
    } else if (auto* im = std::get_if<IcmpMatch>(&specs[i])) {
      s += im->proto == kProtoIcmp ? "icmp" : "icmpv6";
      if (im->type)
        s += " type " + std::to_string(*im->type);
      if (im->code)
        s += " code " + std::to_string(*im->code);
    } else if (auto* pr = std::get_if<ProtoMatch>(&specs[i])) {
      s += "proto " + std::to_string(pr->number);
    } else {
      s += "any";
    }
  }
  return s;
}

} // namespace portolan::tables
