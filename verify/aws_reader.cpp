#include "aws_reader.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

namespace portolan::roundtrip {

const JsonValue* JsonValue::find(const std::string& key) const {
  for (const auto& [k, v] : obj)
    if (k == key)
      return &v;
  return nullptr;
}

namespace {

class Parser {
public:
  explicit Parser(const std::string& t) : t_(t) {}

  JsonValue document() {
    JsonValue v = value();
    ws();
    if (i_ != t_.size())
      fail("text after the document");
    return v;
  }

private:
  [[noreturn]] void fail(const std::string& why) const {
    throw ReadError("JSON at byte " + std::to_string(i_) + ": " + why);
  }
  void ws() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\n' || t_[i_] == '\t' || t_[i_] == '\r'))
      ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < t_.size() && t_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c))
      fail(std::string("expected '") + c + "'");
  }
  bool word(const char* w) {
    size_t n = std::char_traits<char>::length(w);
    if (t_.compare(i_, n, w) == 0) {
      i_ += n;
      return true;
    }
    return false;
  }

  JsonValue value() {
    ws();
    if (i_ >= t_.size())
      fail("unexpected end");
    JsonValue v;
    char c = t_[i_];
    if (c == '{') {
      ++i_;
      v.kind = JsonValue::Kind::Object;
      std::set<std::string> keys;
      if (eat('}'))
        return v;
      do {
        ws();
        std::string k = string();
        if (!keys.insert(k).second)
          fail("duplicate key \"" + k + "\"");
        expect(':');
        v.obj.emplace_back(k, value());
      } while (eat(','));
      expect('}');
    } else if (c == '[') {
      ++i_;
      v.kind = JsonValue::Kind::Array;
      if (eat(']'))
        return v;
      do
        v.arr.push_back(value());
      while (eat(','));
      expect(']');
    } else if (c == '"') {
      v.kind = JsonValue::Kind::String;
      v.str = string();
    } else if (word("true") || word("false")) {
      v.kind = JsonValue::Kind::Bool;
      v.b = t_[i_ - 1] == 'e' && t_[i_ - 2] == 'u';
    } else if (word("null")) {
      v.kind = JsonValue::Kind::Null;
    } else if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) {
      v.kind = JsonValue::Kind::Number;
      v.num = number();
    } else {
      fail(std::string("unexpected '") + c + "'");
    }
    return v;
  }

  double number() {
    size_t s = i_;
    if (t_[i_] == '-')
      ++i_;
    if (i_ >= t_.size() || !std::isdigit(static_cast<unsigned char>(t_[i_])))
      fail("bad number");
    if (t_[i_] == '0' && i_ + 1 < t_.size() && std::isdigit(static_cast<unsigned char>(t_[i_ + 1])))
      fail("leading zero");
    while (i_ < t_.size() && std::isdigit(static_cast<unsigned char>(t_[i_])))
      ++i_;
    if (i_ < t_.size() && (t_[i_] == '.' || t_[i_] == 'e' || t_[i_] == 'E'))
      fail("only integers are expected here");
    return std::stod(t_.substr(s, i_ - s));
  }

  std::string string() {
    if (i_ >= t_.size() || t_[i_] != '"')
      fail("expected a string");
    ++i_;
    std::string out;
    while (true) {
      if (i_ >= t_.size())
        fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(t_[i_++]);
      if (c == '"')
        return out;
      if (c < 0x20)
        fail("raw control character in a string");
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (i_ >= t_.size())
        fail("unterminated escape");
      char e = t_[i_++];
      switch (e) {
      case '"':
      case '\\':
      case '/':
        out += e;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        if (i_ + 4 > t_.size())
          fail("short \\u escape");
        unsigned cp = static_cast<unsigned>(std::stoul(t_.substr(i_, 4), nullptr, 16));
        i_ += 4;
        if (cp >= 0x80)
          fail("non-ASCII \\u escape (not emitted by Portolan)");
        out += static_cast<char>(cp);
        break;
      }
      default:
        fail(std::string("bad escape \\") + e);
      }
    }
  }

  const std::string& t_;
  size_t i_ = 0;
};

using Kind = JsonValue::Kind;

const JsonValue& need(const JsonValue& o, const std::string& key, Kind kind) {
  const JsonValue* v = o.find(key);
  if (!v || v->kind != kind)
    throw ReadError("missing or mistyped \"" + key + "\"");
  return *v;
}

void only_keys(const JsonValue& o, std::initializer_list<const char*> keys,
               const std::string& what) {
  if (o.kind != Kind::Object)
    throw ReadError(what + " is not an object");
  for (const auto& [k, v] : o.obj)
    if (std::find_if(keys.begin(), keys.end(), [&](const char* x) { return k == x; }) == keys.end())
      throw ReadError(what + " has an unexpected key \"" + k + "\"");
}

/// The value Terraform makes of a template string that must hold no interpolation: "$${" and
/// "%%{" are literal "${" and "%{"; a bare "${" or "%{" would be evaluated, which the backend
/// must never let policy text do.
std::string literal(const std::string& s) {
  std::string out;
  for (size_t k = 0; k < s.size(); ++k) {
    bool marker = (s[k] == '$' || s[k] == '%');
    if (marker && k + 2 < s.size() && s[k + 1] == s[k] && s[k + 2] == '{') {
      out += s[k];
      ++k;
      continue;
    }
    if (marker && k + 1 < s.size() && s[k + 1] == '{')
      throw ReadError("template sequence in a literal string: " + s);
    out += s[k];
  }
  return out;
}

/// EC2's rule for names and descriptions.
void check_ec2_text(const std::string& s, const std::string& what) {
  static const std::string allowed = " ._-:/()#,@[]+=;{}!$*";
  if (s.size() > 255)
    throw ReadError(what + " longer than 255 characters: " + s);
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && allowed.find(c) == std::string::npos)
      throw ReadError(what + " has a character EC2 rejects: '" + std::string(1, c) + "' in " + s);
}

int integer(const JsonValue& o, const std::string& key, int lo, int hi) {
  const JsonValue& v = need(o, key, Kind::Number);
  if (v.num < lo || v.num > hi || std::floor(v.num) != v.num)
    throw ReadError("\"" + key + "\" out of range");
  return static_cast<int>(v.num);
}

Prefix cidr(const JsonValue& rule, Family& fam) {
  const JsonValue* v4 = rule.find("cidr_ipv4");
  const JsonValue* v6 = rule.find("cidr_ipv6");
  if ((v4 == nullptr) == (v6 == nullptr))
    throw ReadError("a rule needs exactly one of cidr_ipv4 and cidr_ipv6");
  const JsonValue* v = v4 ? v4 : v6;
  if (v->kind != Kind::String || v->str.find('/') == std::string::npos)
    throw ReadError("a CIDR needs a prefix length");
  auto p = parse_prefix(v->str);
  if (!p.prefix)
    throw ReadError("bad CIDR " + v->str + ": " + p.error);
  fam = v4 ? Family::V4 : Family::V6;
  if (p.prefix->family() != fam)
    throw ReadError("CIDR " + v->str + " in the other family's field");
  return *p.prefix;
}

const char* kNd = "IPv6 neighbour discovery (option icmpv6_nd)";

} // namespace

JsonValue parse_json(const std::string& text) {
  return Parser(text).document();
}

AwsRead read_aws(const std::string& text) {
  JsonValue root = parse_json(text);
  only_keys(root, {"//", "variable", "resource", "output"}, "the document");
  AwsRead r;
  if (const JsonValue* var = root.find("variable")) {
    only_keys(*var, {"vpc_id"}, "variable");
    const JsonValue& v = need(*var, "vpc_id", Kind::Object);
    only_keys(v, {"type", "description"}, "variable vpc_id");
    if (need(v, "type", Kind::String).str != "string")
      throw ReadError("vpc_id must be a string variable");
    r.vpc_variable = true;
  }
  const JsonValue& res = need(root, "resource", Kind::Object);
  only_keys(res,
            {"aws_security_group", "aws_vpc_security_group_ingress_rule",
             "aws_vpc_security_group_egress_rule"},
            "resource");

  // Security groups, and the addresses each is attached to (from its output).
  std::map<std::string, std::vector<AddrRange>> attached;
  const JsonValue& sgs = need(res, "aws_security_group", Kind::Object);
  const JsonValue* outputs = root.find("output");
  for (const auto& [label, sg] : sgs.obj) {
    only_keys(sg, {"//", "name", "description", "vpc_id", "tags"}, "security group " + label);
    std::string name = literal(need(sg, "name", Kind::String).str);
    std::string desc = literal(need(sg, "description", Kind::String).str);
    check_ec2_text(name, "group name");
    check_ec2_text(desc, "group description");
    if (name.rfind("sg-", 0) == 0 || name.empty() || desc.empty())
      throw ReadError("group name or description not accepted by EC2: " + name);
    const std::string& vpc = need(sg, "vpc_id", Kind::String).str;
    if (vpc == "${var.vpc_id}") {
      if (!r.vpc_variable)
        throw ReadError("var.vpc_id used but not declared");
    } else if (vpc.rfind("vpc-", 0) != 0 || vpc.find('$') != std::string::npos) {
      throw ReadError("bad vpc_id " + vpc);
    }
    if (const JsonValue* tags = sg.find("tags")) {
      only_keys(*tags, {"Name"}, "tags");
      literal(need(*tags, "Name", Kind::String).str);
    }
    r.descriptions.push_back(name);
    r.descriptions.push_back(desc);
    if (!outputs)
      throw ReadError("no outputs: the groups' addresses are unknown");
    const JsonValue& out = need(*outputs, label, Kind::Object);
    only_keys(out, {"description", "value"}, "output " + label);
    const JsonValue& val = need(out, "value", Kind::Object);
    only_keys(val, {"id", "attach_to"}, "output " + label);
    if (need(val, "id", Kind::String).str != "${aws_security_group." + label + ".id}")
      throw ReadError("output " + label + " names another group");
    std::vector<std::string> addrs;
    for (const JsonValue& a : need(val, "attach_to", Kind::Array).arr) {
      if (a.kind != Kind::String)
        throw ReadError("attach_to holds a non-string");
      addrs.push_back(a.str);
    }
    attached[label] = parse_prefixes(addrs);
    ++r.groups;
  }
  r.resources["aws_security_group"] = r.groups;
  if (outputs)
    for (const auto& [label, o] : outputs->obj)
      if (!attached.count(label))
        throw ReadError("output " + label + " for no group");

  PacketSet in, out;
  for (bool ingress : {true, false}) {
    std::string type =
        ingress ? "aws_vpc_security_group_ingress_rule" : "aws_vpc_security_group_egress_rule";
    const JsonValue* rules = res.find(type);
    if (!rules)
      continue;
    if (rules->kind != Kind::Object || rules->obj.empty())
      throw ReadError(type + " is empty or not an object");
    for (const auto& [label, rule] : rules->obj) {
      only_keys(rule,
                {"security_group_id", "description", "ip_protocol", "from_port", "to_port",
                 "cidr_ipv4", "cidr_ipv6"},
                type + " " + label);
      const std::string& ref = need(rule, "security_group_id", Kind::String).str;
      const std::string pre = "${aws_security_group.", post = ".id}";
      if (ref.rfind(pre, 0) != 0 || ref.size() <= pre.size() + post.size() ||
          ref.compare(ref.size() - post.size(), post.size(), post) != 0)
        throw ReadError("bad security_group_id " + ref);
      std::string group = ref.substr(pre.size(), ref.size() - pre.size() - post.size());
      if (!attached.count(group))
        throw ReadError("rule " + label + " refers to an unknown group " + group);
      std::string desc = literal(need(rule, "description", Kind::String).str);
      check_ec2_text(desc, "rule description");
      r.descriptions.push_back(desc);
      Family fam;
      Prefix remote = cidr(rule, fam);

      Match m;
      m.family = fam;
      const std::string& proto = need(rule, "ip_protocol", Kind::String).str;
      bool has_ports = rule.find("from_port") || rule.find("to_port");
      // The vendor's special values (EC2 API IpPermission / Terraform
      // aws_vpc_security_group_ingress_rule), read as AWS reads them:
      //   ip_protocol -1        every protocol and every port: "If you specify -1 ... traffic on
      //                         all ports is allowed, regardless of any ports you specify"
      //   icmp, icmpv6          from_port = type, to_port = code; -1 = every type / code
      //   a number (not 6, 17,  every port, whatever ports are given (same EC2 sentence)
      //   1, 58)
      //   tcp, udp              from_port..to_port (both required)
      if (proto == "-1") {
        (void)has_ports; // ports are ignored: every protocol, every port
      } else if (proto == "tcp" || proto == "udp") {
        m.proto = proto == "tcp" ? 6 : 17;
        int lo = integer(rule, "from_port", 0, 65535), hi = integer(rule, "to_port", 0, 65535);
        if (hi < lo)
          throw ReadError("reversed port range in " + label);
        m.dports = {{static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)}};
      } else if (proto == "icmp" || proto == "icmpv6") {
        m.proto = proto == "icmp" ? 1 : 58;
        if ((m.proto == 1) != (fam == Family::V4))
          throw ReadError("ICMP of the other family in " + label);
        int itype = integer(rule, "from_port", -1, 255), code = integer(rule, "to_port", -1, 255);
        if (itype < 0 && code >= 0)
          throw ReadError("an ICMP code without a type in " + label);
        if (itype >= 0)
          m.sports = {{static_cast<uint16_t>(itype), static_cast<uint16_t>(itype)}};
        if (code >= 0)
          m.dports = {{static_cast<uint16_t>(code), static_cast<uint16_t>(code)}};
      } else {
        if (proto.empty() || proto.size() > 3 ||
            !std::all_of(proto.begin(), proto.end(), [](char c) { return std::isdigit(c); }) ||
            std::stoi(proto) > 255)
          throw ReadError("unexpected protocol in " + label);
        if (proto == "6" || proto == "17" || proto == "1" || proto == "58")
          throw ReadError("protocol number " + proto + " instead of its name in " + label);
        m.proto = static_cast<uint8_t>(std::stoi(proto));
      }
      if (desc == kNd) {
        if (proto != "icmpv6" || remote.len != 0 || m.sports.empty() || m.sports[0].lo < 133 ||
            m.sports[0].lo > 136 || !m.dports.empty())
          throw ReadError("unexpected neighbour-discovery rule " + label);
        ++r.nd_rules;
        continue;
      }
      ++r.rules;
      (ingress ? m.src : m.dst) = std::vector<AddrRange>{AddrRange::of(remote)};
      (ingress ? m.dst : m.src) = attached.at(group);
      (ingress ? in : out).add(m.packets());
    }
    r.resources[type] = static_cast<int>(rules->obj.size());
  }
  r.allowed[Chain::Input] = in;
  r.allowed[Chain::Output] = out;
  r.allowed[Chain::Forward] = PacketSet();
  return r;
}

} // namespace portolan::roundtrip
