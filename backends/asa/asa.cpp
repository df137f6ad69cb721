// Cisco ASA (9.x, unified IPv4/IPv6 ACLs): a configuration fragment to paste or copy into the
// running configuration. Each endpoint becomes one network object-group per IP family, each
// port list a service object-group, and each of the target's two zones an extended ACL applied
// inbound on that zone's interface (nameif). Traffic from zone A to zone B is filtered by A's
// ACL; every deny flow is repeated in both ACLs so it holds whichever interface a packet enters.
#include "asa.h"

#include "common/shape.h"
#include "common/text.h"
#include "names.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <set>

namespace portolan {
namespace {

constexpr size_t kRemarkMax = 100; // access-list ... remark: up to 100 characters
constexpr size_t kNameMax = 64;    // object and object-group names
constexpr size_t kNameifMax = 48;  // interface names (nameif)
constexpr size_t kDescriptionMax = 200;

/// Policy text for a remark, description or comment: ASCII (Cisco documents no character set
/// beyond it for remarks, so common letters are transliterated: "Portuebersicht"), and no '?'
/// (typed at the ASA CLI it asks for help instead of being entered), so any other non-ASCII
/// code point becomes '.'.
std::string asa_text(std::string_view s, size_t max) {
  std::string t = ascii_text(s, "?", '.', max);
  std::replace(t.begin(), t.end(), '?', '.');
  return t;
}

bool valid_nameif(const std::string& s) {
  if (s.empty() || s.size() > kNameifMax || !std::isalpha(static_cast<unsigned char>(s[0])))
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

std::string lower(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// "255.255.255.128" for a /25.
std::string v4_mask(uint8_t len) {
  uint32_t m = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
  return std::to_string(m >> 24) + "." + std::to_string((m >> 16) & 255) + "." +
         std::to_string((m >> 8) & 255) + "." + std::to_string(m & 255);
}

std::string network_object(const Prefix& p) {
  if (p.is_host())
    return "network-object host " + p.addr.str();
  if (p.family() == Family::V4)
    return "network-object " + p.addr.str() + " " + v4_mask(p.len);
  return "network-object " + p.str_with_len();
}

std::string port_arg(const PortRange& r) {
  return r.lo == r.hi ? "eq " + std::to_string(r.lo)
                      : "range " + std::to_string(r.lo) + " " + std::to_string(r.hi);
}

/// The target's tag, which starts every name the file defines, so two targets for one device
/// never share an ACL or object-group: the target name when it is 1 to 20 lower-case letters,
/// digits, '-' or '.' without "--"; otherwise its first letters and digits, "--" and a hash of
/// the name. A tag never contains '_', so the first '_' of a name ends the tag and names of two
/// targets cannot meet.
std::string target_tag(const std::string& target) {
  bool plain = !target.empty() && target.size() <= 20 && target.find("--") == std::string::npos &&
               std::isalnum(static_cast<unsigned char>(target[0])) &&
               std::all_of(target.begin(), target.end(), [](char c) {
                 return std::islower(static_cast<unsigned char>(c)) ||
                        std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.';
               });
  if (plain)
    return target;
  std::string head;
  for (char c : target)
    if (std::isalnum(static_cast<unsigned char>(c)) && head.size() < 10)
      head += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return (head.empty() ? "t" : head) + "--" + name_hash(target);
}

/// Why an ASA ACE cannot say exactly what this rule matches; empty when it can.
std::string unrealizable(const Rule& r) {
  if (r.chain != Chain::Forward)
    return "the ASA backend filters traffic through the firewall only, not its own " +
           std::string(chain_name(r.chain));
  if (std::string why = malformed_l4(r.l4); !why.empty())
    return why;
  if (r.l4.proto == 0)
    return "protocol 0 is the ASA's 'ip' (every protocol)";
  return "";
}

class AsaBackend : public Backend {
public:
  BackendSpec spec() const override {
    return {"asa",
            {Scope::Between},
            {{"nameif", OptionType::List, std::vector<std::string>{},
              "option 'nameif' must be an array of \"zone=nameif\" strings, e.g. "
              "[\"internet=outside\"]",
              &check_nameifs},
             {"log", OptionType::Bool, false, "", {}},
             {"inspect_icmp", OptionType::Bool, true, "", {}}},
            false};
  }

  /// Refusals are found while printing: the text is printed in both modes.
  std::vector<OutputFile> emit(const RuleSet& rs, Diagnostics& diags,
                               EmitText /*want*/) const override {
    const TargetInfo& t = rs.target;
    const bool log = rs.options.flag("log");
    const bool inspect_icmp = rs.options.flag("inspect_icmp");
    std::map<std::string, std::string> nameif; // zone -> nameif, as validated
    for (const std::string& item : rs.options.list("nameif"))
      nameif[item.substr(0, item.find('='))] = item.substr(item.find('=') + 1);

    // Every name starts with the target's tag; each kind of name has its own ending (ACLs
    // `_access_in`, network groups `_v4`/`_v6`, service groups `_tcp`/`_udp`/`_src` or a hash),
    // so names are unique by construction and at most kNameMax long.
    const std::string tag = target_tag(t.name);
    std::map<std::string, std::string> acl; // zone -> ACL name
    for (const std::string& z : t.zones)
      acl[z] = tag + "_" + nameif[z] + "_access_in";

    // Network groups: one per endpoint and family, named now, printed only when used.
    std::vector<std::array<std::string, 2>> net(rs.sets.size());
    for (size_t i = 0; i < rs.sets.size(); ++i)
      for (int f = 0; f < 2; ++f)
        if (!(f == 0 ? rs.sets[i].v4 : rs.sets[i].v6).empty())
          net[i][static_cast<size_t>(f)] = fit_name(
              tag + "_" + rs.sets[i].name, rs.sets[i].endpoint, f ? "_v6" : "_v4", kNameMax);
    std::vector<std::array<bool, 2>> net_used(rs.sets.size(), {false, false});

    // Service groups for port lists, shared by identical lists.
    struct Svc {
      std::string name, proto;
      std::vector<PortRange> ports;
    };
    std::vector<Svc> svcs;
    auto ports_arg = [&](const L4Match& m, const std::vector<PortRange>& ports, bool src) {
      if (ports.empty())
        return std::string();
      if (ports.size() == 1)
        return " " + port_arg(ports[0]);
      std::string proto = m.proto == kProtoTcp ? "tcp" : "udp";
      for (const Svc& s : svcs)
        if (s.proto == proto && s.ports == ports)
          return " object-group " + s.name;
      // The readable name, unless another list of this service already has it: then the
      // name ends in "--" and a hash of the list instead (no other name ends in hex digits).
      std::string base = tag + "_" + m.service;
      std::string ending = "_" + proto + (src ? "_src" : "");
      std::string n = fit_name(base, base + ending, ending, kNameMax);
      bool taken = std::any_of(svcs.begin(), svcs.end(), [&](const Svc& x) { return x.name == n; });
      if (taken) {
        std::string key = base + ending;
        for (const PortRange& p : ports)
          key += " " + port_text(p, "-");
        n = fit_name(base + ending, key, "", kNameMax - 10) + "--" + name_hash(key);
      }
      svcs.push_back({n, proto, ports});
      return " object-group " + svcs.back().name;
    };

    // ACEs per ACL, in RuleSet order; denies go to every ACL.
    std::map<std::string, std::vector<std::string>> lines; // zone -> remark and ACE lines
    std::map<std::string, std::string> last_group;
    TraceTable trace;
    bool icmp_allowed = false;
    for (const Rule& r : rs.rules) {
      const RuleOrigin& f = r.origin;
      if (r.mapped >= 0) {
        const Translation& m = rs.translations[static_cast<size_t>(r.mapped)];
        diags.error("unrealizable", m.loc,
                    "the asa backend cannot express the port mapping of flow '" + f.label +
                        "': an ASA access-list names the real address and port (" + m.to.str() +
                        " port " + std::to_string(m.to_port) +
                        "), so it would also permit connections sent to them directly, which "
                        "the policy allows only through the mapping");
        continue;
      }
      if (std::string why = unrealizable(r); !why.empty()) {
        diags.error("unrealizable", f.loc,
                    "the asa backend cannot express service '" + r.l4.service + "' of flow '" +
                        f.label + "': " + why);
        continue;
      }
      const std::string& zone = f.src_zone;
      if (r.action == Action::Allow && !acl.count(zone)) {
        diags.error("unrealizable", f.loc,
                    "flow '" + f.label + "' starts in zone '" + zone +
                        "', which is not one of the target's zones");
        continue;
      }
      std::vector<std::string> aces;
      for (int fam : {4, 6}) {
        if ((fam == 4 && (!r.v4 || r.l4.proto == kProtoIcmpV6)) ||
            (fam == 6 && (!r.v6 || r.l4.proto == kProtoIcmp)))
          continue;
        auto addr = [&](const AddrRef& ref) -> std::string {
          if (ref.any())
            return fam == 4 ? "any4" : "any6";
          size_t i = static_cast<size_t>(ref.set);
          const std::string& g = net[i][fam == 4 ? 0 : 1];
          if (g.empty())
            return "";
          net_used[i][fam == 4 ? 0 : 1] = true;
          return "object-group " + g;
        };
        std::string s = addr(r.src), d = addr(r.dst);
        if (s.empty() || d.empty())
          continue; // an endpoint without addresses in this family
        const L4Match& m = r.l4;
        std::string proto = !m.proto                  ? "ip"
                            : m.proto == kProtoTcp    ? "tcp"
                            : m.proto == kProtoUdp    ? "udp"
                            : m.proto == kProtoIcmp   ? "icmp"
                            : m.proto == kProtoIcmpV6 ? "icmp6"
                                                      : std::to_string(*m.proto);
        std::string ace = std::string(r.action == Action::Allow ? "permit " : "deny ") + proto +
                          " " + s + ports_arg(m, m.sports, true) + " " + d +
                          ports_arg(m, m.dports, false);
        if (m.icmp_type) {
          ace += " " + std::to_string(*m.icmp_type);
          if (m.icmp_code)
            ace += " " + std::to_string(*m.icmp_code);
        }
        if (log && r.action == Action::Deny)
          ace += " log";
        aces.push_back(ace);
        icmp_allowed = icmp_allowed || (r.action == Action::Allow &&
                                        (m.proto == kProtoIcmp || m.proto == kProtoIcmpV6));
      }
      if (aces.empty())
        continue;
      trace.add(f);
      std::string what = r.heading();
      for (const std::string& z : t.zones) {
        if (r.action == Action::Allow && z != zone)
          continue;
        auto& out = lines[z];
        if (what != last_group[z]) {
          out.push_back("remark " + asa_text(what, kRemarkMax));
          if (!f.note.empty())
            out.push_back("remark - " + asa_text(f.note, kRemarkMax - 2));
          last_group[z] = what;
        }
        for (const std::string& a : aces)
          out.push_back("extended " + a);
      }
    }

    Emitter e("");
    for (const auto& l : generated_banner())
      e.line("! " + l);
    for (const auto& l : rs.header)
      e.line("! " + asa_text(l, 1024));
    for (const auto& l : trace.lines([](std::string_view s) { return asa_text(s, 1024); }))
      e.line("! " + l);
    for (const std::string& z : t.zones)
      e.line("! zone " + z + ": interface (nameif) " + nameif[z] + ", ACL " + acl[z]);
    e.line("!");
    e.line(
        "! Replaces this target's ACLs and object-groups. On a first load the 'no object-group'");
    e.line("! lines report groups that do not exist yet; that is harmless. Every name starts with");
    e.line("! '" + tag + "_', this target's own; an interface has one inbound ACL, so another");
    e.line("! target must not bind the same interface (its access-group would replace this one).");
    for (const std::string& z : t.zones)
      e.line("clear configure access-list " + acl[z]);
    for (size_t i = 0; i < rs.sets.size(); ++i)
      for (size_t f = 0; f < 2; ++f)
        if (net_used[i][f])
          e.line("no object-group network " + net[i][f]);
    for (const Svc& s : svcs)
      e.line("no object-group service " + s.name);
    e.line("!");
    for (size_t i = 0; i < rs.sets.size(); ++i)
      for (size_t f = 0; f < 2; ++f) {
        if (!net_used[i][f])
          continue;
        e.line("object-group network " + net[i][f]);
        e.line(" description " + asa_text(rs.sets[i].endpoint, kDescriptionMax));
        for (const Prefix& p : f == 0 ? rs.sets[i].v4 : rs.sets[i].v6)
          e.line(" " + network_object(p));
      }
    for (const Svc& s : svcs) {
      e.line("object-group service " + s.name + " " + s.proto);
      for (const PortRange& p : s.ports)
        e.line(" port-object " + port_arg(p));
    }
    object_nat(e, rs, tag, nameif);
    for (const std::string& z : t.zones) {
      e.line("!");
      for (const std::string& l : lines[z])
        e.line("access-list " + acl[z] + " " + l);
      // Explicit, so the ACL exists even without rules (an interface without an ACL would let
      // traffic from a higher security level through) and the implicit deny is visible.
      e.line("access-list " + acl[z] + " remark default deny");
      e.line("access-list " + acl[z] + " extended deny ip any any" + (log ? " log" : ""));
    }
    e.line("!");
    for (const std::string& z : t.zones)
      e.line("access-group " + acl[z] + " in interface " + nameif[z]);
    if (icmp_allowed && inspect_icmp) {
      e.line("!");
      e.line("! ICMP is connectionless to the ASA: inspection lets echo replies and errors back.");
      e.line("policy-map global_policy");
      e.line(" class inspection_default");
      e.line("  inspect icmp");
    }
    return output_files(OutputFile{"", e.take()});
  }

private:
  /// Network object NAT, 8.3+ syntax (Cisco ASA CLI configuration guide, "Network Object NAT":
  /// `object network NAME`, `host REAL`, `nat (real_ifc,mapped_ifc) static MAPPED`; one NAT
  /// rule per object, so entering it again replaces it). Static NAT is bidirectional: the
  /// host's own connections to the mapped interface leave from the mapped address too. ACLs
  /// name the real address (guide, "NAT and ACLs": access-group ACLs use real IP addresses),
  /// as the RuleSet's rules do. A destination NAT and its symmetric source half are one rule.
  static void object_nat(Emitter& e, const RuleSet& rs, const std::string& tag,
                         std::map<std::string, std::string>& nameif) {
    bool any = false;
    for (const Translation& t : rs.translations) {
      if (t.kind != Translation::Kind::Destination || t.mapping())
        continue;
      if (!any) {
        e.line("!");
        e.line("! Address translation (object NAT): ACLs below name the real addresses.");
      }
      any = true;
      bool symmetric =
          std::any_of(rs.translations.begin(), rs.translations.end(), [&](const Translation& s) {
            return s.kind == Translation::Kind::Source && s.match == t.to;
          });
      e.line("! " + asa_text(t.traced(), 1024));
      if (!symmetric)
        e.line("! (static NAT is bidirectional: the host's own outbound leaves from " +
               t.match.str() + " too)");
      std::string name = fit_name(tag + "_nat_" + t.to.str(), t.endpoint, "", kNameMax);
      std::replace(name.begin(), name.end(), ':', '-');
      e.line("object network " + name);
      e.line(" description " + asa_text(t.endpoint, kDescriptionMax));
      e.line(" host " + t.to.str());
      e.line(" nat (" + nameif[t.inside] + "," + nameif[t.outside] + ") static " + t.match.str());
    }
  }

  /// The `nameif` option's check: zone -> nameif, the zone's own name unless the option maps
  /// it; every problem reported, and the value rewritten to one "zone=nameif" per zone.
  static bool check_nameifs(const TargetInfo& t, OptionValue& v, SourceLoc loc,
                            Diagnostics& diags) {
    std::map<std::string, std::string> out;
    for (const std::string& z : t.zones)
      out[z] = z;
    std::set<std::string> seen;
    for (const std::string& item : std::get<std::vector<std::string>>(v.value)) {
      auto eq = item.find('=');
      std::string zone = item.substr(0, eq);
      std::string nif = eq == std::string::npos ? "" : item.substr(eq + 1);
      if (eq == std::string::npos || zone.empty() || nif.empty()) {
        diags.error("manifest", loc,
                    "option 'nameif': '" + plain_text(item, "", '\'', 80) +
                        "' is not \"zone=nameif\"");
      } else if (std::find(t.zones.begin(), t.zones.end(), zone) == t.zones.end()) {
        diags.error("manifest", loc,
                    "option 'nameif': zone '" + plain_text(zone, "", '\'', 80) +
                        "' is not one of this target's zones ('" + t.zones[0] + "', '" +
                        t.zones[1] + "')");
      } else if (!seen.insert(zone).second) {
        diags.error("manifest", loc, "option 'nameif': zone '" + zone + "' is mapped twice");
      } else {
        out[zone] = nif;
      }
    }
    for (const std::string& z : t.zones)
      if (!valid_nameif(out[z]))
        diags.error("manifest", loc,
                    "interface name '" + plain_text(out[z], "", '\'', 80) + "' for zone '" + z +
                        "' is not a valid ASA nameif (a letter, then up to 47 letters, digits, "
                        "'_', '-' or '.'); map the zone with option nameif = [\"" +
                        z + "=NAME\"]");
    if (lower(out[t.zones[0]]) == lower(out[t.zones[1]]))
      diags.error("manifest", loc,
                  "zones '" + t.zones[0] + "' and '" + t.zones[1] +
                      "' map to the same interface '" + out[t.zones[0]] +
                      "'; each zone needs its own nameif");
    std::vector<std::string> items;
    for (const std::string& z : t.zones)
      items.push_back(z + "=" + out[z]);
    v.value = std::move(items);
    return true;
  }
};

} // namespace

std::unique_ptr<Backend> make_asa_backend() {
  return std::make_unique<AsaBackend>();
}

} // namespace portolan
