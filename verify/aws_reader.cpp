#include "aws_reader.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace portolan::roundtrip {

namespace {

using Json = nlohmann::ordered_json;
using Kind = Json::value_t;

const Json* find(const Json& o, const std::string& key) {
  auto it = o.find(key); // end() when o is not an object
  return it == o.end() ? nullptr : &*it;
}

const Json& need(const Json& o, const std::string& key, Kind kind) {
  const Json* v = find(o, key);
  if (!v || v->type() != kind)
    throw ReadError("missing or mistyped \"" + key + "\"");
  return *v;
}

const std::string& need_string(const Json& o, const std::string& key) {
  return need(o, key, Kind::string).get_ref<const std::string&>();
}

void only_keys(const Json& o, std::initializer_list<const char*> keys, const std::string& what) {
  if (!o.is_object())
    throw ReadError(what + " is not an object");
  for (const auto& item : o.items()) {
    const std::string& k = item.key();
    if (std::find_if(keys.begin(), keys.end(), [&](const char* x) { return k == x; }) == keys.end())
      throw ReadError(what + " has an unexpected key \"" + k + "\"");
  }
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

int integer(const Json& o, const std::string& key, int lo, int hi) {
  const Json* v = find(o, key);
  if (!v || !v->is_number_integer()) // a float such as 22.0 is not a port
    throw ReadError("missing or mistyped \"" + key + "\"");
  bool in_range = v->is_number_unsigned() ? v->get<uint64_t>() <= static_cast<uint64_t>(hi)
                                          : v->get<int64_t>() >= lo && v->get<int64_t>() <= hi;
  if (!in_range)
    throw ReadError("\"" + key + "\" out of range");
  return v->get<int>();
}

Prefix cidr(const Json& rule, Family& fam) {
  const Json* v4 = find(rule, "cidr_ipv4");
  const Json* v6 = find(rule, "cidr_ipv6");
  if ((v4 == nullptr) == (v6 == nullptr))
    throw ReadError("a rule needs exactly one of cidr_ipv4 and cidr_ipv6");
  const Json* v = v4 ? v4 : v6;
  if (!v->is_string() || v->get_ref<const std::string&>().find('/') == std::string::npos)
    throw ReadError("a CIDR needs a prefix length");
  const std::string& text = v->get_ref<const std::string&>();
  auto p = parse_prefix(text);
  if (!p.prefix)
    throw ReadError("bad CIDR " + text + ": " + p.error);
  fam = v4 ? Family::V4 : Family::V6;
  if (p.prefix->family() != fam)
    throw ReadError("CIDR " + text + " in the other family's field");
  return *p.prefix;
}

const char* kNd = "IPv6 neighbour discovery (option icmpv6_nd)";

} // namespace

Json parse_json(const std::string& text) {
  // nlohmann keeps the last of two equal keys; a strict reader refuses them (RFC 8259 4: names
  // "SHOULD be unique", and Terraform rejects duplicate blocks).
  std::vector<std::set<std::string>> keys; // one set per object being read
  Json::parser_callback_t strict = [&](int, Json::parse_event_t e, Json& parsed) {
    if (e == Json::parse_event_t::object_start)
      keys.emplace_back();
    else if (e == Json::parse_event_t::object_end)
      keys.pop_back();
    else if (e == Json::parse_event_t::key && !keys.back().insert(parsed.get<std::string>()).second)
      throw ReadError("JSON: duplicate key \"" + parsed.get<std::string>() + "\"");
    return true;
  };
  try {
    return Json::parse(text, strict);
  } catch (const Json::parse_error& e) {
    throw ReadError(std::string("JSON: ") + e.what());
  }
}

AwsRead read_aws(const std::string& text) {
  Json root = parse_json(text);
  only_keys(root, {"//", "variable", "resource", "output"}, "the document");
  AwsRead r;
  if (const Json* var = find(root, "variable")) {
    only_keys(*var, {"vpc_id"}, "variable");
    const Json& v = need(*var, "vpc_id", Kind::object);
    only_keys(v, {"type", "description"}, "variable vpc_id");
    if (need_string(v, "type") != "string")
      throw ReadError("vpc_id must be a string variable");
    r.vpc_variable = true;
  }
  const Json& res = need(root, "resource", Kind::object);
  only_keys(res,
            {"aws_security_group", "aws_vpc_security_group_ingress_rule",
             "aws_vpc_security_group_egress_rule"},
            "resource");

  // Security groups, and the addresses each is attached to (from its output).
  std::map<std::string, std::vector<AddrRange>> attached;
  const Json& sgs = need(res, "aws_security_group", Kind::object);
  const Json* outputs = find(root, "output");
  for (const auto& group : sgs.items()) {
    const std::string& label = group.key();
    const Json& sg = group.value();
    only_keys(sg, {"//", "name", "description", "vpc_id", "tags"}, "security group " + label);
    std::string name = literal(need_string(sg, "name"));
    std::string desc = literal(need_string(sg, "description"));
    check_ec2_text(name, "group name");
    check_ec2_text(desc, "group description");
    if (name.rfind("sg-", 0) == 0 || name.empty() || desc.empty())
      throw ReadError("group name or description not accepted by EC2: " + name);
    const std::string& vpc = need_string(sg, "vpc_id");
    if (vpc == "${var.vpc_id}") {
      if (!r.vpc_variable)
        throw ReadError("var.vpc_id used but not declared");
    } else if (vpc.rfind("vpc-", 0) != 0 || vpc.find('$') != std::string::npos) {
      throw ReadError("bad vpc_id " + vpc);
    }
    if (const Json* tags = find(sg, "tags")) {
      only_keys(*tags, {"Name"}, "tags");
      literal(need_string(*tags, "Name"));
    }
    r.descriptions.push_back(name);
    r.descriptions.push_back(desc);
    if (!outputs)
      throw ReadError("no outputs: the groups' addresses are unknown");
    const Json& out = need(*outputs, label, Kind::object);
    only_keys(out, {"description", "value"}, "output " + label);
    const Json& val = need(out, "value", Kind::object);
    only_keys(val, {"id", "attach_to"}, "output " + label);
    if (need_string(val, "id") != "${aws_security_group." + label + ".id}")
      throw ReadError("output " + label + " names another group");
    std::vector<std::string> addrs;
    for (const Json& a : need(val, "attach_to", Kind::array)) {
      if (!a.is_string())
        throw ReadError("attach_to holds a non-string");
      addrs.push_back(a.get<std::string>());
    }
    attached[label] = parse_prefixes(addrs);
    ++r.groups;
  }
  r.resources["aws_security_group"] = r.groups;
  if (outputs)
    for (const auto& o : outputs->items())
      if (!attached.count(o.key()))
        throw ReadError("output " + o.key() + " for no group");

  PacketSet in, out;
  for (bool ingress : {true, false}) {
    std::string type =
        ingress ? "aws_vpc_security_group_ingress_rule" : "aws_vpc_security_group_egress_rule";
    const Json* rules = find(res, type);
    if (!rules)
      continue;
    if (!rules->is_object() || rules->empty())
      throw ReadError(type + " is empty or not an object");
    for (const auto& item : rules->items()) {
      const std::string& label = item.key();
      const Json& rule = item.value();
      only_keys(rule,
                {"security_group_id", "description", "ip_protocol", "from_port", "to_port",
                 "cidr_ipv4", "cidr_ipv6"},
                type + " " + label);
      const std::string& ref = need_string(rule, "security_group_id");
      const std::string pre = "${aws_security_group.", post = ".id}";
      if (ref.rfind(pre, 0) != 0 || ref.size() <= pre.size() + post.size() ||
          ref.compare(ref.size() - post.size(), post.size(), post) != 0)
        throw ReadError("bad security_group_id " + ref);
      std::string group = ref.substr(pre.size(), ref.size() - pre.size() - post.size());
      if (!attached.count(group))
        throw ReadError("rule " + label + " refers to an unknown group " + group);
      std::string desc = literal(need_string(rule, "description"));
      check_ec2_text(desc, "rule description");
      r.descriptions.push_back(desc);
      Family fam;
      Prefix remote = cidr(rule, fam);

      Match m;
      m.family = fam;
      const std::string& proto = need_string(rule, "ip_protocol");
      bool has_ports = rule.contains("from_port") || rule.contains("to_port");
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
    r.resources[type] = static_cast<int>(rules->size());
  }
  r.allowed[Chain::Input] = in;
  r.allowed[Chain::Output] = out;
  r.allowed[Chain::Forward] = PacketSet();
  return r;
}

} // namespace portolan::roundtrip
