#include "catalog.h"

namespace portolan {

const std::vector<CheckInfo>& check_catalog() {
  using S = Severity;
  static const std::vector<CheckInfo> table{
      // Front end.
      {"syntax", S::Error, "syntax", "Syntax error",
       "The text does not follow the grammar of the policy language.",
       "Fix the text at the location; the message says what was expected."},
      {"encoding", S::Error, "syntax", "Invalid UTF-8", "Policy files must be UTF-8 text.",
       "Re-save the file as UTF-8."},
      {"port-range", S::Error, "syntax", "Port out of range", "Ports are 1-65535.",
       "Use a port between 1 and 65535."},
      {"reversed-range", S::Error, "syntax", "Reversed port range",
       "A range must start at its lower port.", "Write the range as low-high."},
      {"out-of-range", S::Error, "syntax", "Number out of range",
       "ICMP types and codes and IP protocol numbers are 0-255.", "Use a value from 0 to 255."},
      {"invalid-address", S::Error, "syntax", "Invalid address",
       "An address literal in an expectation that is not an IPv4 or IPv6 address or prefix, or a "
       "prefix with host bits set.",
       "Write a.b.c.d, a.b.c.d/len, x::y or x::y/len with the host bits zero."},
      {"icmp-code-without-type", S::Error, "syntax", "ICMP code without type",
       "An ICMP code is only meaningful for one ICMP type.", "Write 'type N code M'."},
      {"invalid-date", S::Error, "syntax", "Invalid date", "Dates are YYYY-MM-DD and must exist.",
       "Use a real calendar date."},
      {"suppression-reason", S::Error, "syntax", "Suppression without a reason",
       "Every suppression must say why the finding is acceptable.",
       "Write: suppress CODE \"reason\";"},
      {"unsuppressible", S::Error, "syntax", "Suppression of an error that stops the build",
       "Errors outside the analysis (syntax, names, manifest, binding, backend) stop a target "
       "from being written; suppressing one would let the build succeed with a file missing or "
       "rules dropped.",
       "Remove the suppression and fix what the error reports."},
      {"import-missing", S::Error, "names", "Imported file missing",
       "An imported file cannot be read.", "Fix the path; it is relative to the importing file."},
      {"import-depth", S::Error, "names", "Imports nest too deep",
       "A chain of imports is deeper than 256 files.",
       "Flatten the chain: import shared files from one place."},
      {"import-cycle", S::Error, "names", "Import cycle", "A file imports itself through others.",
       "Move the shared declarations into a file that imports nothing of the cycle."},
      {"duplicate-definition", S::Error, "names", "Duplicate definition",
       "A zone, role, interface, service or feature is defined twice.",
       "Rename or remove one of the definitions."},
      {"unknown-zone", S::Error, "names", "Unknown zone", "A zone that is not declared.",
       "Declare the zone or fix the name."},
      {"unknown-role", S::Error, "names", "Unknown role",
       "A role (or a manifest binding key) that the policy does not declare.",
       "Declare the role or fix the name."},
      {"unknown-interface", S::Error, "names", "Unknown interface",
       "An interface the role does not declare.", "Declare the interface or fix the name."},
      {"unknown-service", S::Error, "names", "Unknown service", "A service that is not declared.",
       "Declare the service or fix the name."},
      {"unknown-feature", S::Error, "names", "Unknown feature", "A feature that is not declared.",
       "Declare the feature or fix the name."},
      {"mapping", S::Error, "names", "Port mapping that cannot be one",
       "A flow with 'maps to' must be an allow flow, one way, whose one service is one tcp or "
       "udp port of the mapping's protocol.",
       "Write 'flow SRC -> PUBLISHED via ONE_PORT_SERVICE maps to ENDPOINT tcp|udp PORT;'."},
      // Manifest and binding.
      {"manifest", S::Error, "manifest", "Manifest error",
       "A structural problem in portolan.toml: invalid TOML, unknown key, wrong type, bad address.",
       "Fix the manifest at the location."},
      {"unknown-backend", S::Error, "manifest", "Unknown backend",
       "A target names a backend Portolan does not have.", "Use one of the listed backends."},
      {"unsupported-scope", S::Error, "manifest", "Backend cannot enforce this target",
       "Some vendors only filter a host (Windows, AWS) or only a perimeter (ASA).",
       "Use host = ... or between = [...] as the backend supports."},
      {"unreadable", S::Error, "manifest", "Unreadable file",
       "A file named on the command line or in the manifest cannot be read.",
       "Check the path and permissions."},
      {"unbound", S::Error, "bind", "Endpoint without addresses",
       "A flow a target enforces has an endpoint with no address in the target's environment.",
       "Bind the role or interface in [environments.NAME.bind]."},
      {"no-today", S::Error, "bind", "Expiry cannot be judged",
       "A flow has an expiry date but the environment fixes no 'today'.",
       "Set today = YYYY-MM-DD in the environment, or pass --today."},
      {"expired", S::Warning, "bind", "Expired flow",
       "The flow's expiry date has passed in the environment; it is not emitted.",
       "Remove the flow, extend its date, or suppress with a reason if kept for the record."},
      {"no-family", S::Warning, "bind", "Service matches no packet between the endpoints",
       "The endpoints share no IP family with the service (e.g. icmp between IPv6-only roles).",
       "Bind addresses of the right family or use icmpv6/icmp accordingly."},
      // Analysis: conflicts.
      {"shadowed", S::Error, "analysis", "Shadowed flow",
       "Earlier rules in the target's evaluation order cover every packet of the flow, and some of "
       "them with the other action: the flow never takes effect as written.",
       "Remove the flow, or narrow the earlier rules listed in the notes."},
      {"redundant", S::Warning, "analysis", "Redundant flow",
       "Earlier rules with the same action already cover every packet of the flow.",
       "Remove the flow or the covering rules."},
      {"generalization", S::Note, "analysis", "Exception inside a broader flow",
       "A later flow with the other action covers the whole of an earlier one: usually an "
       "intended exception (a deny carved out of a broader allow).",
       "Nothing, if intended; suppress with a reason to record the intent."},
      {"correlation", S::Warning, "analysis", "Flows partially overlap with different actions",
       "Two flows overlap in some packets and disagree; the result depends on evaluation order.",
       "Split one of the flows so they no longer overlap, or make the exception explicit."},
      {"address-overlap", S::Warning, "analysis", "Overlapping bindings with contradicting flows",
       "One address is bound to two roles whose flows then disagree about the same packets.",
       "Give each address to one role, or make the roles' flows agree."},
      {"service-clash", S::Warning, "analysis", "Two services claim one port",
       "Two services with different labels share a transport and port towards one endpoint.",
       "Use one service for the port, or separate the endpoints."},
      // Analysis: gaps.
      {"one-way", S::Warning, "analysis", "Two-way requirement present in one direction only",
       "Flows describe both directions of a service between two endpoints, but in an environment "
       "only one direction is in force.",
       "Give both directions the same feature and expiry, or use one <-> flow."},
      {"unenforced", S::Warning, "analysis", "Flow enforced by no target",
       "An active flow that no target of its environment enforces.",
       "Add a target (host or perimeter) that sees the flow, or remove the flow."},
      {"required-missing", S::Error, "analysis", "Required flow missing",
       "A flow marked required has expired in an environment where its condition holds (a "
       "required flow with 'when' is required only where the condition holds).",
       "Extend its expiry, or drop 'required' with a reason."},
      {"condition-constant", S::Warning, "analysis", "Condition that decides nothing",
       "A flow's 'when' is always true or never true by its logic ('a or not a'), holds in no "
       "environment of the manifest, or (with two or more environments) holds in all of them.",
       "Fix the condition, turn the feature on where the flow is needed, or drop the 'when'."},
      {"unused", S::Warning, "analysis", "Unused definition",
       "A role, interface, service, feature or zone that no flow uses.", "Remove it or use it."},
      {"broad", S::Warning, "analysis", "Overly broad flow",
       "A flow from or to any address over a wide port range or every protocol.",
       "Narrow the addresses or the service."},
      {"path-drop", S::Warning, "analysis", "Allowed on one hop, dropped on another",
       "A packet of the flow passes several targets of one environment (the sender's host "
       "firewall, the perimeters between the zones it crosses, the receiver's host firewall); "
       "one of them allows it and another drops it, so the flow works nowhere end to end.",
       "Make the hop that drops it enforce the flow (name its role, or add a perimeter between "
       "the flow's own zones), or remove the flow."},
      {"zone-binding", S::Warning, "analysis", "Binding contradicts the zones",
       "A role (or interface) placed in one zone is bound to addresses that contain an address "
       "of a role placed in another zone.",
       "Bind each role to addresses of its own zone, or move the role to the right zone."},
      {"unpublished-mapping", S::Warning, "analysis", "Mapped port open without its published half",
       "A port mapping ('maps to') forwards a published port to an internal one; another flow "
       "opens the internal endpoint and port to packets that no active mapping forwards there "
       "(8080 only where 80 is published).",
       "Remove the direct flow, or give it the mapping's condition and sources."},
      {"nat-unused", S::Warning, "analysis", "NAT to an address no flow allows",
       "A perimeter translates a NAT binding's public address to its real one, but no flow lets "
       "anything from the outside zone through that perimeter to the real address.",
       "Add the flow the public address is for, or remove the NAT binding."},
      {"required-never", S::Error, "analysis", "Required flow that can never be in force",
       "A flow marked required has a condition that holds in no environment of the manifest.",
       "Turn the feature on where the flow is needed, or drop 'required' with a reason."},
      {"outlier", S::Warning, "analysis", "Suspicious outlier in a group (off by default)",
       "Every other flow of the same group and service uses one interface of a role, and this "
       "flow uses another interface of that role: often a documentation error in the table. "
       "Off unless [checks] sets a severity for it.",
       "Check the row against the vendor's table; suppress with a reason if it is right.", true},
      // Analysis: expectations.
      {"expectation-failed", S::Error, "analysis", "Expectation not met",
       "An 'expect allow' whose packets some target that sees them denies, or an 'expect deny' "
       "whose packets some target allows. The witness is one such packet; the note names the flow "
       "that decides it there, or the default deny.",
       "Change the flows (or the bindings) so the expectation holds, or fix the expectation."},
      {"expectation-unseen", S::Warning, "analysis", "Expectation judged by no target",
       "No target of the expectation's environments (and targets) sees any of its packets, so "
       "nothing was judged: a host target sees packets to and from its role, a perimeter target "
       "packets between its two zones.",
       "Add a target that sees the packets, bind the roles, or fix the expectation's scope."},
      {"unknown-environment", S::Error, "analysis", "Unknown environment",
       "An expectation names an environment the manifest does not declare.",
       "Declare the environment in the manifest or fix the name."},
      {"unknown-target", S::Error, "analysis", "Unknown target",
       "An expectation names a target the manifest does not declare.",
       "Declare the target in the manifest or fix the name."},
      {"unused-suppression", S::Warning, "analysis", "Suppression that suppresses nothing",
       "A suppression whose code never fires where it applies.", "Remove the suppression."},
      // Backends.
      {"unrealizable", S::Error, "backend", "Backend cannot express the flow",
       "The vendor cannot express this flow exactly (e.g. AWS security groups have no deny); "
       "Portolan refuses rather than widen or drop it.",
       "Change the flow, or target a backend that can express it."},
      {"quota", S::Warning, "backend", "Vendor quota exceeded",
       "More rules than the vendor's default quota allows in one place (AWS: 60 inbound or "
       "outbound "
       "rules per family in one security group).",
       "Ask the vendor to raise the quota, or group addresses so fewer rules are needed."},
      {"no-remote-management", S::Warning, "backend", "Windows host without remote management",
       "A Windows host target with option exclusive (the default) allows neither RDP (TCP 3389) "
       "nor WinRM (TCP 5985/5986) inbound; the script disables Windows' own rules for them.",
       "Add a flow for RDP or WinRM from your management hosts, or manage the host at its "
       "console."},
      {"stateless-return", S::Warning, "backend", "Return traffic written out",
       "The target is stateless, so replies are allowed by explicit return rules.",
       "Nothing, if intended: review the return rules."},
      {"internal", S::Error, "internal", "Internal error", "A bug in Portolan.",
       "Please report it with the input that caused it."},
  };
  return table;
}

const CheckInfo* find_check(std::string_view code) {
  for (const CheckInfo& c : check_catalog())
    if (code == c.code)
      return &c;
  return nullptr;
}

} // namespace portolan
