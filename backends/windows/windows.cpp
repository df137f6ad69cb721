// Windows Defender Firewall: a PowerShell script of New-NetFirewallRule calls. Re-running it is
// idempotent: it removes its own rule group first, then sets both directions' default to Block
// and adds one rule per RuleSet rule. Windows applies every Block rule before any Allow rule,
// which is exactly Portolan's deny-overrides order, so rule order does not matter here.
#include "windows.h"

#include "common/text.h"
#include "names.h"

#include <algorithm>
#include <cctype>

namespace portolan {
namespace {

constexpr size_t kDisplayNameMax = 255;
constexpr size_t kDescriptionMax = 1024;
/// Every address of one family, in the range syntax -LocalAddress accepts.
constexpr const char* kAllV4 = "0.0.0.0-255.255.255.255";
constexpr const char* kAllV6 = "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";

/// A single-quoted PowerShell literal. Single quotes expand nothing ($(...), `, $var stay
/// text); utf8_text has already removed line breaks (CR, LF, NEL, U+2028/2029). PowerShell also
/// takes the typographic single quotes (U+2018..U+201B) as quote marks, so each of them
/// becomes an escaped ASCII quote, like ' itself (doubled).
std::string ps_quote(std::string_view s) {
  std::string out = "'";
  for (size_t i = 0; i < s.size(); ++i) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    if (i + 2 < s.size() && b(i) == 0xE2 && b(i + 1) == 0x80 && b(i + 2) >= 0x98 &&
        b(i + 2) <= 0x9B) {
      out += "''";
      i += 2;
      continue;
    }
    out += s[i] == '\'' ? std::string("''") : std::string(1, s[i]);
  }
  return out + "'";
}

std::string ps_list(const std::vector<std::string>& items) {
  std::string s;
  for (size_t i = 0; i < items.size(); ++i)
    s += (i ? ", " : "") + ps_quote(items[i]);
  return s;
}

std::vector<std::string> port_items(const std::vector<PortRange>& ports) {
  std::vector<std::string> out;
  for (const PortRange& p : ports)
    out.push_back(port_text(p, "-"));
  return out;
}

std::string protocol_text(const L4Match& m) {
  if (!m.proto)
    return "Any";
  switch (*m.proto) {
  case kProtoTcp:
    return "TCP";
  case kProtoUdp:
    return "UDP";
  case kProtoIcmp:
    return "ICMPv4";
  case kProtoIcmpV6:
    return "ICMPv6";
  default:
    return std::to_string(*m.proto);
  }
}

/// A group name that is also safe as a -Group query: no wildcard characters, no leading '@'
/// (Windows reads "@file,-id" as an indirect resource string).
bool valid_group(const std::string& g) {
  if (g.empty() || g.size() > 200 || g[0] == '@')
    return false;
  return std::all_of(g.begin(), g.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == ' ' || c == '.' || c == '_' ||
           c == '-';
  });
}

/// "Portolan <target>", unique per target by construction. A target name of lower-case
/// letters, digits, '.', '_' or '-' is used as it is (group names may compare without case,
/// so capitals are not plain); any other name keeps its allowed characters, others become
/// '_', and a space and a hash of the exact name follow. Plain names have no space, so no
/// hashed name meets one, and two hashed names differ in their hashes.
std::string default_group(const std::string& target) {
  constexpr size_t kRoom = 200 - 9 - 9; // option 'group' limit, "Portolan ", " " + hash
  bool plain = !target.empty() && target.size() <= kRoom &&
               std::all_of(target.begin(), target.end(), [](char c) {
                 return std::islower(static_cast<unsigned char>(c)) ||
                        std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                        c == '-';
               });
  if (plain)
    return "Portolan " + target;
  std::string g;
  for (char c : target)
    if (g.size() < kRoom)
      g +=
          std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ' ' ? c : '_';
  return "Portolan " + g + " " + name_hash(target);
}

/// Whether some inbound Allow rule lets TCP `port` in (and no deny rule of the same kind
/// blocks every source of it): RDP and WinRM need one when `exclusive` disables Windows' own.
bool allows_tcp_in(const RuleSet& rs, uint16_t port) {
  auto matches = [&](const Rule& r) {
    if (r.chain != Chain::Input || (r.l4.proto && *r.l4.proto != kProtoTcp) || !r.l4.sports.empty())
      return false;
    if (r.l4.dports.empty())
      return true;
    return std::any_of(r.l4.dports.begin(), r.l4.dports.end(),
                       [&](const PortRange& p) { return p.lo <= port && port <= p.hi; });
  };
  bool allowed = false, denied_everywhere = false;
  for (const Rule& r : rs.rules) {
    if (!matches(r))
      continue;
    if (r.action == Action::Allow)
      allowed = true;
    else if (r.src.any() && r.dst.any())
      denied_everywhere = true;
  }
  return allowed && !denied_everywhere;
}

class WindowsBackend : public Backend {
public:
  BackendSpec spec() const override {
    static const std::string kGroupError =
        "option 'group' must be 1 to 200 letters, digits, spaces or '._-', not starting with '@'";
    OptionSpec group{"group", OptionType::Text, std::string(), kGroupError,
                     [](const TargetInfo& t, OptionValue& v, SourceLoc at, Diagnostics& diags) {
                       if (!v.loc.valid()) { // not given: the target's own group
                         v.value = default_group(t.name);
                         return true;
                       }
                       if (valid_group(std::get<std::string>(v.value)))
                         return true;
                       diags.error("manifest", at, kGroupError);
                       return false;
                     }};
    return {
        "windows", {Scope::Host}, {group, {"exclusive", OptionType::Bool, true, "", {}}}, false};
  }

  std::vector<OutputFile> emit(const RuleSet& rs, Diagnostics& diags,
                               EmitText want) const override {
    const TargetInfo& t = rs.target;
    const bool exclusive = rs.options.flag("exclusive");
    if (!rs.loopback) {
      // Windows Firewall rules have no effect on loopback traffic, so this cannot be enforced.
      SourceLoc at = rs.options.loc("loopback");
      diags.error("unrealizable", at.valid() ? at : t.loc,
                  "Windows Defender Firewall does not filter loopback traffic, so 'loopback = "
                  "false' cannot be enforced; remove the option");
      return {};
    }

    const bool remote_mgmt =
        allows_tcp_in(rs, 3389) || allows_tcp_in(rs, 5985) || allows_tcp_in(rs, 5986);
    if (exclusive && !remote_mgmt)
      diags.warning("no-remote-management", t.loc,
                    "target '" + t.name +
                        "' allows neither RDP (TCP 3389) nor WinRM (TCP 5985/5986) in, and "
                        "option 'exclusive' (the default) disables Windows' own Remote Desktop "
                        "and WinRM rules: after the script runs the host can only be managed "
                        "at its console; add a flow for remote management if you need it");
    if (want == EmitText::Diagnostics)
      return output_files(OutputFile{"", ""});
    return output_files(OutputFile{"", print(rs, remote_mgmt)});
  }

private:
  /// The script, for a rule set the checks above accepted: it reports nothing (no
  /// Diagnostics), so `check` may skip it and still report what `build` does.
  static std::string print(const RuleSet& rs, bool remote_mgmt) {
    const TargetInfo& t = rs.target;
    const std::string& group = rs.options.text("group");
    const bool exclusive = rs.options.flag("exclusive");
    Emitter e("");
    e.line("#Requires -RunAsAdministrator");
    e.line("#Requires -Modules NetSecurity");
    for (const auto& l : generated_banner())
      e.line("# " + l);
    for (const auto& l : rs.header)
      e.line("# " + utf8_text(l));
    // The rest first: the trace table here lists the flows its rules name.
    Emitter head = std::move(e);
    TraceTable trace;
    e = Emitter("");
    e.line("# Apply as Administrator: powershell.exe -ExecutionPolicy Bypass -File <this file>");
    e.line("# Windows applies every Block rule before any Allow rule (deny overrides allow), and");
    e.line("# lets replies to allowed connections back in (stateful). Loopback traffic is not");
    e.line("# filtered by firewall rules at all, so it needs no rule.");
    e.line();
    e.line("$ErrorActionPreference = 'Stop'");
    e.line("$Group = " + ps_quote(group));
    e.line();
    e.line("# Remove this script's rules from an earlier run, so re-running it is idempotent.");
    e.line("Get-NetFirewallRule -Group $Group -ErrorAction SilentlyContinue | "
           "Remove-NetFirewallRule");
    if (exclusive) {
      e.line("# Option exclusive (default): disable every other enabled rule of the local store,");
      e.line("# including Windows' built-in ones, so that only this policy allows traffic.");
      e.line("# REMOTE MANAGEMENT: this disables the built-in Remote Desktop (TCP 3389) and WinRM");
      e.line("# (TCP 5985/5986) rules too. Only a flow of the policy can allow them: " +
             std::string(remote_mgmt ? "this policy has one." : "THIS POLICY HAS NONE,"));
      if (!remote_mgmt)
        e.line("# so a remote session running this script is cut off; use the console.");
      e.line("Get-NetFirewallRule -PolicyStore PersistentStore -Enabled True -ErrorAction "
             "SilentlyContinue | Where-Object { $_.Group -ne $Group } | Disable-NetFirewallRule");
    } else {
      e.line("# Option exclusive = false: other enabled rules still allow what they allow.");
    }
    e.line(
        "# Default deny in both directions (Windows' own default lets all outbound traffic out).");
    e.line("Set-NetFirewallProfile -Profile Domain, Private, Public -Enabled True "
           "-DefaultInboundAction Block -DefaultOutboundAction Block");

    if (rs.icmpv6_nd) {
      e.line();
      e.line("# IPv6 neighbour and router discovery (option icmpv6_nd), without which IPv6 stops.");
      for (const char* dir : {"Inbound", "Outbound"})
        e.line("New-NetFirewallRule -DisplayName " +
               ps_quote(std::string("Portolan IPv6 neighbour discovery ") +
                        (dir[0] == 'I' ? "in" : "out")) +
               " -Description " + ps_quote("Portolan " + utf8_text(t.name) + ": option icmpv6_nd") +
               " -Group $Group -Profile Any -Direction " + dir +
               " -Action Allow -Protocol ICMPv6 -LocalAddress " + ps_quote(kAllV6) +
               " -IcmpType '133', '134', '135', '136' | Out-Null");
    }

    std::string last_group;
    for (const Rule& r : rs.rules) {
      if (r.chain == Chain::Forward)
        continue; // host targets forward nothing; Windows does not route unless told to
      const RuleOrigin& f = r.origin;
      trace.add(f);
      std::string what = r.heading();
      if (what != last_group) {
        e.line();
        e.line("# " + utf8_text(what));
        if (!f.note.empty())
          e.line("#   " + utf8_text(f.note));
        last_group = what;
      }
      if (auto line = rule_line(rs, r))
        e.line(*line);
    }
    for (const auto& l : trace.lines([](std::string_view s) { return utf8_text(s); }))
      head.line("# " + l);
    std::string text = head.take() + e.take();
    // Windows PowerShell 5.1 reads a script without a byte order mark in the ANSI code page:
    // UTF-8 text (a label like "Portübersicht") needs the BOM to arrive as written.
    if (std::any_of(text.begin(), text.end(), [](char c) { return (c & 0x80) != 0; }))
      text.insert(0, "\xEF\xBB\xBF");
    return text;
  }

  /// The addresses of one side restricted to the rule's families; nullopt for "any".
  static std::optional<std::vector<std::string>> side(const RuleSet& rs, AddrRef ref,
                                                      const Rule& r) {
    if (ref.any())
      return std::nullopt;
    const AddrSet& s = rs.sets[static_cast<size_t>(ref.set)];
    std::vector<std::string> out;
    if (r.v4)
      for (const Prefix& p : s.v4)
        out.push_back(p.str());
    if (r.v6)
      for (const Prefix& p : s.v6)
        out.push_back(p.str());
    return out;
  }

  static std::optional<std::string> rule_line(const RuleSet& rs, const Rule& r) {
    bool in = r.chain == Chain::Input;
    auto local = side(rs, in ? r.dst : r.src, r);
    auto remote = side(rs, in ? r.src : r.dst, r);
    if ((local && local->empty()) || (remote && remote->empty()))
      return std::nullopt; // this family has no address on one side: nothing to match
    if (!local && !remote && r.v4 != r.v6)
      // A protocol number matches in both IP families on Windows; pin the family the rule is
      // for by its local address range.
      local = std::vector<std::string>{r.v4 ? kAllV4 : kAllV6};

    const RuleOrigin& f = r.origin;
    std::string display =
        utf8_text(r.heading() + " [" + r.l4.service + "]", "", '\'', kDisplayNameMax);
    std::string desc = utf8_text("Portolan " + rs.target.name + ", " + chain_name(r.chain) + ": " +
                                     (f.note.empty() ? f.label : f.note),
                                 "", '\'', kDescriptionMax);
    std::string s = "New-NetFirewallRule -DisplayName " + ps_quote(display) + " -Description " +
                    ps_quote(desc) + " -Group $Group -Profile Any -Direction " +
                    (in ? "Inbound" : "Outbound") + " -Action " +
                    (r.action == Action::Allow ? "Allow" : "Block") + " -Protocol " +
                    protocol_text(r.l4);
    if (local)
      s += " -LocalAddress " + ps_list(*local);
    if (remote)
      s += " -RemoteAddress " + ps_list(*remote);
    // dports belong to the side that is connected to: local inbound, remote outbound.
    const auto& local_ports = in ? r.l4.dports : r.l4.sports;
    const auto& remote_ports = in ? r.l4.sports : r.l4.dports;
    if (!local_ports.empty())
      s += " -LocalPort " + ps_list(port_items(local_ports));
    if (!remote_ports.empty())
      s += " -RemotePort " + ps_list(port_items(remote_ports));
    if (r.l4.icmp_type) {
      std::string it = std::to_string(*r.l4.icmp_type);
      if (r.l4.icmp_code)
        it += ":" + std::to_string(*r.l4.icmp_code);
      s += " -IcmpType " + ps_quote(it);
    }
    return s + " | Out-Null";
  }
};

} // namespace

std::unique_ptr<Backend> make_windows_backend() {
  return std::make_unique<WindowsBackend>();
}

} // namespace portolan
