#include "windows_reader.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace portolan::roundtrip {

namespace {

const char* kRemove = "Get-NetFirewallRule -Group $Group -ErrorAction SilentlyContinue | "
                      "Remove-NetFirewallRule";
const char* kExclusive =
    "Get-NetFirewallRule -PolicyStore PersistentStore -Enabled True -ErrorAction "
    "SilentlyContinue | Where-Object { $_.Group -ne $Group } | Disable-NetFirewallRule";
const char* kProfiles = "Set-NetFirewallProfile -Profile Domain, Private, Public -Enabled True "
                        "-DefaultInboundAction Block -DefaultOutboundAction Block";
const char* kNdPrefix = "Portolan IPv6 neighbour discovery ";

struct Token {
  enum Kind { Word, Str, Comma, Pipe } kind = Word;
  std::string text; ///< a Str's value, with '' already undone
};

/// PowerShell tokens of one command line, as far as the emitted subset goes. Anything that
/// could make PowerShell do more than pass literal arguments (a double quote, a backtick, a
/// statement separator, a subexpression) outside single quotes is an error.
std::vector<Token> tokenize_ps(const std::string& line) {
  std::vector<Token> out;
  std::string word;
  auto flush = [&] {
    if (!word.empty())
      out.push_back({Token::Word, word});
    word.clear();
  };
  // PowerShell's single quote is ' or any of U+2018..U+201B (about_Quoting_Rules: the
  // tokenizer treats the typographic single quotes as quote marks); the length of the one at i.
  auto quote_at = [&](size_t i) -> size_t {
    if (i < line.size() && line[i] == '\'')
      return 1;
    auto b = [&](size_t k) { return static_cast<unsigned char>(line[k]); };
    if (i + 2 < line.size() && b(i) == 0xE2 && b(i + 1) == 0x80 && b(i + 2) >= 0x98 &&
        b(i + 2) <= 0x9B)
      return 3;
    return 0;
  };
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (size_t q = quote_at(i)) {
      flush();
      std::string v;
      for (i += q;;) {
        if (i >= line.size())
          throw ReadError("unterminated single-quoted string: " + line);
        if (size_t q1 = quote_at(i)) {
          if (size_t q2 = quote_at(i + q1)) { // two quote marks: one literal quote
            v += line.substr(i, q1);
            i += q1 + q2;
            continue;
          }
          i += q1 - 1;
          break;
        }
        v += line[i++];
      }
      out.push_back({Token::Str, v});
    } else if (c == ' ') {
      flush();
    } else if (c == ',') {
      flush();
      out.push_back({Token::Comma, ","});
    } else if (c == '|') {
      flush();
      out.push_back({Token::Pipe, "|"});
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
               c == ':' || c == '=' || (c == '$' && word.empty())) {
      word += c;
    } else {
      throw ReadError(std::string("character '") + c + "' outside quotes: " + line);
    }
  }
  flush();
  return out;
}

std::vector<AddrRange> parse_addresses(const std::vector<std::string>& items) {
  std::vector<AddrRange> out;
  for (const auto& s : items) {
    if (auto dash = s.find('-'); dash != std::string::npos) {
      auto lo = parse_ip(s.substr(0, dash)), hi = parse_ip(s.substr(dash + 1));
      if (!lo || !hi || lo->family != hi->family || *hi < *lo)
        throw ReadError("bad address range " + s);
      out.push_back({*lo, *hi});
    } else {
      auto p = parse_prefix(s);
      if (!p.prefix)
        throw ReadError("bad address " + s + ": " + p.error);
      out.push_back(AddrRange::of(*p.prefix));
    }
  }
  return out;
}

uint16_t number(const std::string& s, int max) {
  if (s.empty() || s.size() > 5 ||
      !std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(c); }))
    throw ReadError("not a number: " + s);
  int v = std::stoi(s);
  if (v > max)
    throw ReadError("out of range: " + s);
  return static_cast<uint16_t>(v);
}

std::vector<PortRange> parse_port_items(const std::vector<std::string>& items) {
  std::vector<PortRange> out;
  for (const auto& s : items) {
    if (s == "Any")
      return {}; // every port
    auto dash = s.find('-');
    uint16_t lo = number(s.substr(0, dash), 65535);
    uint16_t hi = dash == std::string::npos ? lo : number(s.substr(dash + 1), 65535);
    if (hi < lo)
      throw ReadError("reversed port range " + s);
    out.push_back({lo, hi});
  }
  return out;
}

/// One New-NetFirewallRule call: its parameters (each a value or a list of values).
struct Call {
  std::map<std::string, std::vector<std::string>> params;
  std::map<std::string, bool> is_word; ///< the value was a bare word, not a quoted string
  const std::vector<std::string>* get(const std::string& k) const {
    auto it = params.find(k);
    return it == params.end() ? nullptr : &it->second;
  }
  std::string one(const std::string& k) const {
    auto* v = get(k);
    if (!v || v->size() != 1)
      throw ReadError("parameter -" + k + " needs exactly one value");
    return (*v)[0];
  }
};

Call parse_call(const std::vector<Token>& tok, const std::string& line) {
  static const std::set<std::string> known{
      "DisplayName", "Description",  "Group",         "Profile",   "Direction",  "Action",
      "Protocol",    "LocalAddress", "RemoteAddress", "LocalPort", "RemotePort", "IcmpType"};
  if (tok.size() < 3 || tok[0].kind != Token::Word || tok[0].text != "New-NetFirewallRule" ||
      tok[tok.size() - 2].kind != Token::Pipe || tok.back().kind != Token::Word ||
      tok.back().text != "Out-Null")
    throw ReadError("not a New-NetFirewallRule call: " + line);
  Call c;
  size_t i = 1, end = tok.size() - 2;
  while (i < end) {
    if (tok[i].kind != Token::Word || tok[i].text.size() < 2 || tok[i].text[0] != '-')
      throw ReadError("expected a parameter at '" + tok[i].text + "': " + line);
    std::string name = tok[i].text.substr(1);
    if (!known.count(name) || c.params.count(name))
      throw ReadError("unknown or repeated parameter -" + name + ": " + line);
    ++i;
    std::vector<std::string> values;
    bool word = false;
    while (true) {
      if (i >= end || tok[i].kind == Token::Comma || tok[i].kind == Token::Pipe)
        throw ReadError("parameter -" + name + " without a value: " + line);
      if (tok[i].kind == Token::Word) {
        if (tok[i].text[0] == '-')
          throw ReadError("parameter -" + name + " without a value: " + line);
        word = true;
      }
      values.push_back(tok[i].text);
      ++i;
      if (i < end && tok[i].kind == Token::Comma) {
        ++i;
        continue;
      }
      break;
    }
    c.params[name] = values;
    c.is_word[name] = word;
  }
  return c;
}

// The vendor's special values, read as Windows reads them (New-NetFirewallRule, NetSecurity
// module documentation), not as our writer means them:
//
//   text                      meaning                                   reference
//   -Protocol Any             every protocol                            New-NetFirewallRule
//                                                                       -Protocol
//   -Protocol TCP/UDP/        6 / 17 / 1 / 58, or a number 0-255        -Protocol
//   ICMPv4/ICMPv6/N
//   -IcmpType Any             every ICMP type and code                  -IcmpType: "Keyword:
//                                                                       Any"
//   -IcmpType T, T:C          type T (every code), or type T code C     -IcmpType
//   -LocalPort/-RemotePort    every port                                -LocalPort "Any"
//   Any
//   -LocalPort a-b            the range a..b                            -LocalPort
std::optional<uint8_t> protocol_of(const std::string& p) {
  if (p == "Any")
    return std::nullopt;
  if (p == "TCP")
    return uint8_t{6};
  if (p == "UDP")
    return uint8_t{17};
  if (p == "ICMPv4")
    return uint8_t{1};
  if (p == "ICMPv6")
    return uint8_t{58};
  return static_cast<uint8_t>(number(p, 255));
}

/// The packets one rule matches, as Windows would apply it.
PacketSet rule_packets(const Call& c, bool inbound) {
  std::optional<uint8_t> proto = protocol_of(c.one("Protocol"));
  bool ports = proto == 6 || proto == 17, icmp = proto == 1 || proto == 58;
  std::vector<PortRange> local_ports, remote_ports;
  if (auto* v = c.get("LocalPort")) {
    if (!ports)
      throw ReadError("-LocalPort needs TCP or UDP");
    local_ports = parse_port_items(*v);
  }
  if (auto* v = c.get("RemotePort")) {
    if (!ports)
      throw ReadError("-RemotePort needs TCP or UDP");
    remote_ports = parse_port_items(*v);
  }
  std::vector<std::pair<PortRange, std::optional<PortRange>>> icmp_types; // type, code
  if (auto* v = c.get("IcmpType")) {
    if (!icmp)
      throw ReadError("-IcmpType needs ICMPv4 or ICMPv6");
    for (const auto& s : *v) {
      if (s == "Any") { // every type: no type restriction at all
        icmp_types.clear();
        break;
      }
      auto colon = s.find(':');
      uint16_t type = number(s.substr(0, colon), 255);
      std::optional<PortRange> code;
      if (colon != std::string::npos) {
        uint16_t cd = number(s.substr(colon + 1), 255);
        code = PortRange{cd, cd};
      }
      icmp_types.push_back({{type, type}, code});
    }
  }
  std::optional<std::vector<AddrRange>> local, remote;
  if (auto* v = c.get("LocalAddress"))
    local = parse_addresses(*v);
  if (auto* v = c.get("RemoteAddress"))
    remote = parse_addresses(*v);

  PacketSet out;
  auto add = [&](std::vector<PortRange> sports, std::vector<PortRange> dports) {
    Match m;
    m.src = inbound ? remote : local;
    m.dst = inbound ? local : remote;
    m.proto = proto; // a protocol number alone does not pin the IP family on Windows
    m.sports = std::move(sports);
    m.dports = std::move(dports);
    out.add(m.packets());
  };
  if (!icmp_types.empty()) {
    for (const auto& [type, code] : icmp_types)
      add({type}, code ? std::vector<PortRange>{*code} : std::vector<PortRange>{});
  } else if (inbound) {
    add(remote_ports, local_ports);
  } else {
    add(local_ports, remote_ports);
  }
  return out;
}

} // namespace

WinRead read_windows(const std::string& script) {
  // Windows PowerShell 5.1 reads a script with a UTF-8 byte order mark as UTF-8 and one without
  // in the ANSI code page (about_Character_Encoding): non-ASCII text needs the mark.
  const bool bom = script.rfind("\xEF\xBB\xBF", 0) == 0;
  const std::string text = bom ? script.substr(3) : script;
  for (unsigned char ch : text) {
    if (ch < 0x20 && ch != '\n')
      throw ReadError("control byte in the script");
    if (ch >= 0x80 && !bom)
      throw ReadError("non-ASCII byte in a script without a UTF-8 byte order mark");
  }
  WinRead r;
  PacketSet allow_in, allow_out, block_in, block_out;
  std::vector<std::string> steps; // the preamble, in order
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos)
      throw ReadError("the script does not end with a newline");
    std::string line = text.substr(start, nl - start);
    start = nl + 1;
    if (line.empty() || line[0] == '#')
      continue; // a line comment runs to the end of the line, whatever it contains
    if (line == "$ErrorActionPreference = 'Stop'") {
      r.stop_on_error = true;
      steps.push_back("stop");
      continue;
    }
    if (line == kRemove || line == kExclusive || line == kProfiles) {
      if (r.group.empty())
        throw ReadError("$Group used before it is set");
      (line == kRemove      ? r.removes_group
       : line == kExclusive ? r.exclusive
                            : r.default_block) = true;
      steps.push_back(line == kRemove ? "remove" : line == kExclusive ? "exclusive" : "profiles");
      continue;
    }
    auto tok = tokenize_ps(line);
    if (tok.size() == 3 && tok[0].kind == Token::Word && tok[0].text == "$Group" &&
        tok[1].kind == Token::Word && tok[1].text == "=" && tok[2].kind == Token::Str) {
      if (!r.group.empty())
        throw ReadError("$Group set twice");
      r.group = tok[2].text;
      continue;
    }
    Call c = parse_call(tok, line);
    if (!r.default_block || !r.removes_group)
      throw ReadError("a rule before the preamble: " + line);
    if (c.one("Group") != "$Group" || !c.is_word["Group"] || c.one("Profile") != "Any")
      throw ReadError("a rule outside the script's group or profiles: " + line);
    if (!c.is_word["Direction"] || !c.is_word["Action"] || !c.is_word["Protocol"])
      throw ReadError("quoted keyword: " + line);
    WinRule w;
    w.display_name = c.one("DisplayName");
    w.description = c.get("Description") ? c.one("Description") : "";
    std::string dir = c.one("Direction"), action = c.one("Action");
    if ((dir != "Inbound" && dir != "Outbound") || (action != "Allow" && action != "Block"))
      throw ReadError("bad direction or action: " + line);
    w.inbound = dir == "Inbound";
    w.allow = action == "Allow";
    r.parsed.push_back(w);
    PacketSet m = rule_packets(c, w.inbound);
    if (w.display_name.rfind(kNdPrefix, 0) == 0) {
      Match nd;
      nd.family = Family::V6;
      nd.proto = 58;
      nd.sports = {{133, 136}};
      if (!w.allow || !(m == nd.packets()))
        throw ReadError("unexpected neighbour-discovery rule: " + line);
      ++r.nd_rules;
      continue;
    }
    ++r.rules;
    (w.allow ? (w.inbound ? allow_in : allow_out) : (w.inbound ? block_in : block_out)).add(m);
  }
  if (steps.size() < 3 || steps[0] != "stop" || steps[1] != "remove" || steps.back() != "profiles")
    throw ReadError("unexpected preamble order");
  // Block overrides Allow; the profiles' default is Block.
  r.allowed[Chain::Input] = allow_in.subtract(block_in);
  r.allowed[Chain::Output] = allow_out.subtract(block_out);
  r.allowed[Chain::Forward] = PacketSet();
  return r;
}

} // namespace portolan::roundtrip
