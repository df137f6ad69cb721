// AWS security groups as Terraform JSON (.tf.json). A security group only adds allowed traffic:
// there is no deny and no order, everything else is dropped, and replies are allowed (stateful).
// So an allow rule maps to rules of its own, a deny flow is accepted only where default deny
// already drops all of its packets, and source ports (which groups cannot match) are errors.
//
// Rules are separate aws_vpc_security_group_ingress_rule / _egress_rule resources, one per
// (address prefix, port range), each with its own description; the provider recommends them
// over inline blocks, which cannot carry per-rule descriptions reliably and would need every
// attribute of every block spelled out in JSON.
#include "aws.h"

#include "common/text.h"
#include "names.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

namespace portolan {
namespace {

constexpr size_t kTextMax = 255;      // EC2 names and descriptions
constexpr size_t kRulesPerGroup = 60; // default quota, per direction and per IP family

Prefix any_v4() {
  return Prefix{IpAddr{Family::V4, {}}, 0};
}
Prefix any_v6() {
  return Prefix{IpAddr{Family::V6, {}}, 0};
}

// ---------------------------------------------------------------------------------------------
// The output is built as one ordered JSON value (nlohmann-json: quoting and nesting are right by
// construction, key order is insertion order) and printed once in the layout below.

using Json = nlohmann::ordered_json;

/// A member that must be new: two resources with one label would make Terraform keep one of
/// them, so a clash is an internal error and never a silent merge. ordered_json keeps members
/// in a vector: the reference returned is valid until its parent gets another member.
Json& add(Json& obj, const std::string& key, Json value = Json::object()) {
  if (obj.contains(key))
    throw std::logic_error("aws: two JSON members named " + key);
  obj[key] = std::move(value);
  return obj[key];
}

/// Two-space indented objects; an array stays on one line when that line is short (at most 72
/// characters) or holds objects, and otherwise lists one element per line. Scalars are
/// nlohmann's compact form.
void print(const Json& j, std::string& out, int depth) {
  std::string pad(static_cast<size_t>(depth) * 2, ' ');
  if (j.is_array()) {
    std::string inline_text;
    for (size_t k = 0; k < j.size(); ++k) {
      inline_text += k ? ", " : "";
      print(j[k], inline_text, depth + 1);
    }
    if (inline_text.size() <= 72 || inline_text.find('\n') != std::string::npos) {
      out += "[" + inline_text + "]";
      return;
    }
    out += "[\n"; // long lists of scalars: one per line
    for (size_t k = 0; k < j.size(); ++k) {
      out += pad + "  ";
      print(j[k], out, depth + 1);
      out += k + 1 < j.size() ? ",\n" : "\n";
    }
    out += pad + "]";
  } else if (j.is_object()) {
    if (j.empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    size_t k = 0;
    for (const auto& item : j.items()) {
      out += pad + "  " + Json(item.key()).dump() + ": ";
      print(item.value(), out, depth + 1);
      out += ++k < j.size() ? ",\n" : "\n";
    }
    out += pad + "}";
  } else {
    out += j.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
}

/// Terraform reads most JSON strings as templates: "${" and "%{" would start an interpolation
/// or a directive. Doubling the first character is Terraform's escape for a literal one.
std::string tf_literal(std::string_view s) {
  std::string out;
  for (size_t k = 0; k < s.size(); ++k) {
    if ((s[k] == '$' || s[k] == '%') && k + 1 < s.size() && s[k + 1] == '{')
      out += s[k];
    out += s[k];
  }
  return out;
}

/// Text for an EC2 name or description: at most 255 characters from the set EC2 accepts for
/// security group rule descriptions (a-z A-Z 0-9, space and ._-:/()#,@[]+=;{}!$*), which is
/// also valid for group names and descriptions. Anything else becomes a space.
std::string aws_text(std::string_view s, size_t max = kTextMax) {
  static const std::string forbidden = [] {
    const std::string allowed = "._-:/()#,@[]+=;{}!$*";
    std::string f;
    for (char c = 0x21; c < 0x7f; ++c)
      if (!std::isalnum(static_cast<unsigned char>(c)) && allowed.find(c) == std::string::npos)
        f += c;
    return f;
  }();
  // ascii_text transliterates common letters ("Portuebersicht") and turns other non-ASCII into
  // '?', which the second pass turns into a space.
  return plain_text(ascii_text(s), forbidden, ' ', max);
}

/// A Terraform identifier: letters, digits, '_' and '-', starting with a letter or '_'.
std::string tf_label(std::string_view s) {
  std::string out;
  for (char c : s)
    out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0])))
    out = "t_" + out;
  return out;
}

/// An endpoint as a label part, unique by construction (as lower.cpp names address sets):
/// letters, digits and '_' stay, '.' becomes '-', a name with capitals is lower-cased and
/// gets "--" and a hash of the exact name.
std::string endpoint_label(const std::string& endpoint) {
  std::string s;
  bool upper = false;
  for (char c : endpoint) {
    upper = upper || std::isupper(static_cast<unsigned char>(c));
    s += c == '.' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return upper ? s + "--" + name_hash(endpoint) : s;
}

/// The target part of a security group name: the name when it is lower-case letters, digits,
/// '.', '_' or '-' (at most 100), else its first letters and digits, "--" and a hash. It has no
/// ':', which separates it from the endpoint, so two targets' groups never share a name.
std::string target_part(const std::string& target) {
  bool plain = !target.empty() && target.size() <= 100 &&
               std::all_of(target.begin(), target.end(), [](char c) {
                 return std::islower(static_cast<unsigned char>(c)) ||
                        std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                        c == '-';
               });
  if (plain)
    return target;
  std::string head;
  for (char c : target)
    if (std::isalnum(static_cast<unsigned char>(c)) && head.size() < 40)
      head += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return head + "--" + name_hash(target);
}

/// A security group's name, unique in the VPC across targets by construction and within
/// EC2's 255 characters: "portolan-<target>:<endpoint>".
std::string group_name(const std::string& target, const std::string& endpoint) {
  return fit_name("portolan-" + target_part(target) + ":" + endpoint_label(endpoint),
                  target + "\n" + endpoint, "", kTextMax);
}

/// The machine of a host target as an endpoint name: its role, or its roles joined by "-and-"
/// ("fe-and-cms"), which no endpoint label has (an endpoint has at most one '.', its one '-').
std::string host_key(const TargetInfo& t) {
  if (t.hosts.size() <= 1)
    return t.host;
  std::string s;
  for (size_t i = 0; i < t.hosts.size(); ++i)
    s += (i ? "-and-" : "") + t.hosts[i];
  return s;
}

/// "->" and "<->" are outside EC2's character set; say them in words.
std::string aws_summary(const RuleOrigin& f, bool reverse) {
  std::string s = f.label;
  for (auto [from, to] : {std::pair{" <-> ", " to and from "}, std::pair{" -> ", " to "}})
    if (auto p = s.find(from); p != std::string::npos)
      s.replace(p, std::string(from).size(), to);
  return s + (reverse ? " (reverse)" : "");
}

// ---------------------------------------------------------------------------------------------

/// One security group rule (one remote prefix, one port range).
struct SgRule {
  bool ingress = true;
  std::string protocol; ///< "tcp", "udp", "icmp", "icmpv6", "-1" or a number
  std::optional<int> from, to;
  Prefix remote;
  std::vector<std::string> why; ///< id + summary of each flow that needs it
  std::string label;
};

/// One security group: the rules whose local side has the same addresses.
struct Group {
  bool any = false;
  std::vector<Prefix> v4, v6;
  std::vector<std::string> endpoints;
  std::string label, name;
  std::vector<SgRule> rules;
  std::map<std::string, size_t> by_label;
};

std::string port_label(const SgRule& r) {
  auto v = [](const std::optional<int>& p) {
    return !p ? std::string() : *p < 0 ? std::string("any") : std::to_string(*p);
  };
  if (!r.from)
    return "";
  if (r.protocol == "tcp" || r.protocol == "udp")
    return "_" + v(r.from) + (r.from == r.to ? "" : "_" + v(r.to));
  return "_" + v(r.from) + "_" + v(r.to);
}

/// "192_0_2_0_25", "2001_db8_10___48"; "any_v4" / "any_v6" for the whole family.
std::string cidr_label(const Prefix& p) {
  if (p.len == 0)
    return p.family() == Family::V4 ? "any_v4" : "any_v6";
  std::string s = p.str_with_len();
  std::replace_if(
      s.begin(), s.end(), [](char c) { return c == '.' || c == ':' || c == '/'; }, '_');
  return s;
}

std::string proto_label(const std::string& p) {
  if (p == "-1")
    return "all";
  return std::isdigit(static_cast<unsigned char>(p[0])) ? "p" + p : p;
}

class AwsBackend : public Backend {
public:
  BackendSpec spec() const override {
    static const std::string kVpcError =
        "option 'vpc_id' must be a VPC id such as \"vpc-0123456789abcdef0\"";
    OptionSpec vpc{"vpc_id", OptionType::Text, std::string(), kVpcError,
                   [](const TargetInfo&, OptionValue& v, SourceLoc at, Diagnostics& diags) {
                     const std::string& s = std::get<std::string>(v.value);
                     if (!v.loc.valid())
                       return true; // not given: a Terraform variable
                     bool valid = s.size() > 4 && s.size() <= 64 && s.rfind("vpc-", 0) == 0 &&
                                  std::all_of(s.begin() + 4, s.end(), [](char c) {
                                    return std::isdigit(static_cast<unsigned char>(c)) ||
                                           (c >= 'a' && c <= 'f');
                                  });
                     if (!valid)
                       diags.error("manifest", at, kVpcError);
                     return valid;
                   }};
    // Security groups cannot deny: lowering says which deny rules default deny already covers.
    return {"aws", {Scope::Host}, {vpc}, true};
  }

  std::vector<OutputFile> emit(const RuleSet& rs, Diagnostics& diags,
                               EmitText want) const override {
    const TargetInfo& t = rs.target;
    bool ok = true;
    std::optional<std::string> vpc_id;
    if (rs.options.given("vpc_id"))
      vpc_id = rs.options.text("vpc_id");
    if (!rs.loopback) {
      SourceLoc at = rs.options.loc("loopback");
      diags.error("unrealizable", at.valid() ? at : t.loc,
                  "loopback traffic never reaches a security group, so 'loopback = false' "
                  "cannot be enforced; remove the option");
      ok = false;
    }
    if (!rs.denies_judged) {
      diags.error("unrealizable", t.loc, "internal: the aws backend needs judged deny rules");
      return {};
    }

    // Deny flows: harmless when no packet the target allows matches them.
    std::set<size_t> reported;
    std::vector<std::string> harmless;
    for (const Rule& r : rs.rules) {
      const RuleOrigin& f = r.origin;
      if (r.action == Action::Deny) {
        if (!r.overlaps_allow->empty() && reported.insert(f.flow).second) {
          auto& d = diags.error("unrealizable", f.loc,
                                "AWS security groups cannot deny: this flow drops packets that "
                                "other flows of target '" +
                                    t.name +
                                    "' allow, and a security group can only add allowed "
                                    "traffic; narrow the allow flows instead");
          d.witness = *r.overlaps_allow;
          ok = false;
        }
      } else if (!r.l4.sports.empty() && reported.insert(f.flow).second) {
        diags.error("unrealizable", f.loc,
                    "AWS security groups match destination ports only, but service '" +
                        r.l4.service + "' also requires source ports");
        ok = false;
      }
    }
    if (!ok)
      return {};
    std::set<size_t> noted;
    for (const Rule& r : rs.rules)
      if (r.action == Action::Deny && noted.insert(r.origin.flow).second)
        harmless.push_back(r.origin.traced() +
                           ": nothing emitted; no packet this target allows matches it, so "
                           "default deny already drops it");

    std::vector<Group> groups = build_groups(rs);
    for (const Group& g : groups)
      for (bool in : {true, false})
        for (Family fam : {Family::V4, Family::V6}) {
          size_t n = static_cast<size_t>(
              std::count_if(g.rules.begin(), g.rules.end(), [&](const SgRule& r) {
                return r.ingress == in && r.remote.family() == fam;
              }));
          if (n > kRulesPerGroup)
            diags.warning("quota", t.loc,
                          "security group '" + g.name + "' gets " + std::to_string(n) + " " +
                              (in ? "inbound" : "outbound") +
                              (fam == Family::V4 ? " IPv4" : " IPv6") +
                              " rules; AWS allows 60 by default (an adjustable quota)");
        }
    if (want == EmitText::Diagnostics) // render reports nothing
      return output_files(OutputFile{"", ""});
    return output_files(OutputFile{"", render(rs, groups, harmless, vpc_id)});
  }

private:
  static std::vector<Group> build_groups(const RuleSet& rs) {
    std::vector<Group> groups;
    const std::string base = tf_label(rs.target.name);
    auto group_of = [&](AddrRef local) -> Group& {
      Group key;
      if (local.any()) {
        key.any = true;
        key.endpoints = {host_key(rs.target)};
      } else {
        const AddrSet& s = rs.sets[static_cast<size_t>(local.set)];
        key.v4 = s.v4;
        key.v6 = s.v6;
        key.endpoints = {s.endpoint};
      }
      for (Group& g : groups)
        if (g.any == key.any && g.v4 == key.v4 && g.v6 == key.v6) {
          if (std::find(g.endpoints.begin(), g.endpoints.end(), key.endpoints[0]) ==
              g.endpoints.end())
            g.endpoints.push_back(key.endpoints[0]);
          return g;
        }
      // "gw.int" and a role "gw_int" get different labels (gw-int, gw_int): no numbering.
      key.label = base + "_" + endpoint_label(key.endpoints[0]);
      key.name = group_name(rs.target.name, key.endpoints[0]);
      groups.push_back(std::move(key));
      return groups.back();
    };
    // A group for every local side, in rule order, before any rule is added.
    for (const Rule& r : rs.rules)
      if (r.action == Action::Allow && r.chain != Chain::Forward)
        group_of(r.chain == Chain::Input ? r.dst : r.src);
    if (groups.empty()) {
      // Nothing is allowed: one group without rules still closes the host when attached.
      Group g;
      g.endpoints = {host_key(rs.target)};
      g.label = base + "_" + endpoint_label(host_key(rs.target));
      g.name = group_name(rs.target.name, host_key(rs.target));
      groups.push_back(std::move(g));
    }

    auto add = [&](Group& g, SgRule r, const std::string& why) {
      r.label = g.label + (r.ingress ? "_in_" : "_out_") + proto_label(r.protocol) + port_label(r) +
                "_" + cidr_label(r.remote);
      auto same = [&](const SgRule& o) {
        return o.ingress == r.ingress && o.protocol == r.protocol && o.from == r.from &&
               o.to == r.to && o.remote == r.remote;
      };
      // Labels are unique by construction; the suffix only guards against a future clash.
      const std::string base_label = r.label;
      for (int n = 2; g.by_label.count(r.label) && !same(g.rules[g.by_label.at(r.label)]); ++n)
        r.label = base_label + "_" + std::to_string(n);
      auto [it, fresh] = g.by_label.emplace(r.label, g.rules.size());
      if (fresh)
        g.rules.push_back(std::move(r));
      SgRule& kept = g.rules[it->second];
      // AWS rejects duplicate rules: one rule serves every flow that needs it.
      if (std::find(kept.why.begin(), kept.why.end(), why) == kept.why.end())
        kept.why.push_back(why);
    };

    if (rs.icmpv6_nd)
      for (Group& g : groups)
        for (bool in : {true, false})
          for (int type = 133; type <= 136 && (g.any || !g.v6.empty()); ++type) {
            SgRule r;
            r.ingress = in;
            r.protocol = "icmpv6";
            r.from = type;
            r.to = -1;
            r.remote = any_v6();
            add(g, r, "IPv6 neighbour discovery (option icmpv6_nd)");
          }

    for (const Rule& r : rs.rules) {
      if (r.action != Action::Allow || r.chain == Chain::Forward)
        continue;
      bool in = r.chain == Chain::Input;
      Group& g = group_of(in ? r.dst : r.src);
      AddrRef remote = in ? r.src : r.dst;
      std::string why = r.origin.id + " " + aws_summary(r.origin, r.reverse);
      std::vector<Prefix> prefixes;
      for (Family f : {Family::V4, Family::V6}) {
        if ((f == Family::V4 && !r.v4) || (f == Family::V6 && !r.v6))
          continue;
        if (remote.any()) {
          prefixes.push_back(f == Family::V4 ? any_v4() : any_v6());
        } else {
          const AddrSet& s = rs.sets[static_cast<size_t>(remote.set)];
          for (const Prefix& p : f == Family::V4 ? s.v4 : s.v6)
            prefixes.push_back(p);
        }
      }
      std::vector<std::pair<std::optional<int>, std::optional<int>>> ports;
      std::string protocol;
      if (!r.l4.proto) {
        protocol = "-1";
        ports = {{std::nullopt, std::nullopt}};
      } else if (*r.l4.proto == kProtoTcp || *r.l4.proto == kProtoUdp) {
        protocol = *r.l4.proto == kProtoTcp ? "tcp" : "udp";
        if (r.l4.dports.empty())
          ports = {{0, 65535}};
        for (const PortRange& p : r.l4.dports)
          ports.push_back({p.lo, p.hi});
      } else if (*r.l4.proto == kProtoIcmp || *r.l4.proto == kProtoIcmpV6) {
        protocol = *r.l4.proto == kProtoIcmp ? "icmp" : "icmpv6";
        // For ICMP, from_port is the type and to_port the code; -1 means any.
        ports = {{r.l4.icmp_type ? int{*r.l4.icmp_type} : -1,
                  r.l4.icmp_code ? int{*r.l4.icmp_code} : -1}};
      } else {
        protocol = std::to_string(*r.l4.proto);
        ports = {{std::nullopt, std::nullopt}}; // AWS ignores ports for other protocols
      }
      for (const Prefix& p : prefixes)
        for (const auto& [from, to] : ports) {
          SgRule sr;
          sr.ingress = in;
          sr.protocol = protocol;
          sr.from = from;
          sr.to = to;
          sr.remote = p;
          add(g, sr, why);
        }
    }
    return groups;
  }

  static std::string render(const RuleSet& rs, const std::vector<Group>& groups,
                            const std::vector<std::string>& harmless,
                            const std::optional<std::string>& vpc_id) {
    const TargetInfo& t = rs.target;
    Json root = Json::object();
    Json comments = Json::array();
    for (const auto& l : generated_banner())
      comments.push_back(l);
    for (const auto& l : rs.header)
      comments.push_back(utf8_text(l));
    // Every rule's flow is named below: allow flows in these comments and their rules'
    // descriptions, deny flows as harmless.
    TraceTable trace;
    for (const Rule& r : rs.rules)
      trace.add(r.origin);
    for (const auto& l : trace.lines([](std::string_view s) { return utf8_text(s); }))
      comments.push_back(l);
    comments.push_back("Security groups allow only: no deny, no order; replies to "
                       "allowed connections are allowed (stateful).");
    std::string last;
    for (const Rule& r : rs.rules) {
      const RuleOrigin& f = r.origin;
      std::string what = f.traced();
      if (what != last && r.action == Action::Allow)
        comments.push_back(utf8_text(what + (f.note.empty() ? "" : ": " + f.note)));
      last = what;
    }
    for (const auto& h : harmless)
      comments.push_back(utf8_text(h));
    add(root, "//", std::move(comments));

    if (!vpc_id) {
      Json& var = add(add(root, "variable"), "vpc_id");
      add(var, "type", "string");
      add(var, "description", utf8_text("The VPC of the security groups of target " + t.name));
    }

    Json& res = add(root, "resource");
    Json& sgs = add(res, "aws_security_group");
    for (const Group& g : groups) {
      Json& sg = add(sgs, g.label);
      std::string eps;
      for (const auto& e : g.endpoints)
        eps += (eps.empty() ? "" : ", ") + e;
      add(sg, "//",
          utf8_text("Attach to the network interfaces of " + eps + "; output " + g.label +
                    " lists their addresses."));
      add(sg, "name", tf_literal(g.name));
      add(sg, "description",
          tf_literal(aws_text("Portolan " + t.name + ": host " + t.host + ", addresses of " + eps +
                              ", environment " + t.env)));
      add(sg, "vpc_id", vpc_id ? *vpc_id : "${var.vpc_id}");
      add(add(sg, "tags"), "Name", tf_literal(g.name));
    }
    for (bool in : {true, false}) {
      Json rules = Json::object();
      for (const Group& g : groups)
        for (const SgRule& r : g.rules) {
          if (r.ingress != in)
            continue;
          Json& j = add(rules, r.label);
          add(j, "security_group_id", "${aws_security_group." + g.label + ".id}");
          std::string why;
          for (const auto& w : r.why)
            why += (why.empty() ? "" : "; ") + w;
          add(j, "description", tf_literal(aws_text(why)));
          add(j, "ip_protocol", r.protocol);
          if (r.from) {
            add(j, "from_port", *r.from);
            add(j, "to_port", *r.to);
          }
          add(j, r.remote.family() == Family::V4 ? "cidr_ipv4" : "cidr_ipv6",
              r.remote.str_with_len());
        }
      if (!rules.empty())
        add(res, in ? "aws_vpc_security_group_ingress_rule" : "aws_vpc_security_group_egress_rule",
            std::move(rules));
    }

    Json& outputs = add(root, "output");
    for (const Group& g : groups) {
      Json& o = add(outputs, g.label);
      add(o, "description",
          "Security group id, and the addresses whose network interfaces it must be attached to");
      Json& v = add(o, "value");
      add(v, "id", "${aws_security_group." + g.label + ".id}");
      Json attach = Json::array();
      if (g.any) {
        attach.push_back(any_v4().str_with_len());
        attach.push_back(any_v6().str_with_len());
      }
      for (const auto* list : {&g.v4, &g.v6})
        for (const Prefix& p : *list)
          attach.push_back(p.str_with_len());
      add(v, "attach_to", std::move(attach));
    }
    std::string out;
    print(root, out, 0);
    return out + "\n";
  }
};

} // namespace

std::unique_ptr<Backend> make_aws_backend() {
  return std::make_unique<AwsBackend>();
}

} // namespace portolan
