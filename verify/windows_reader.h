// Reads back the PowerShell subset the windows backend emits (New-NetFirewallRule calls and a
// fixed preamble) into packet sets, with Windows Defender Firewall's own semantics: a Block
// rule overrides every Allow rule, whatever the order; what no Allow rule matches is blocked
// (the script sets both default actions to Block). It refuses any other text, so a policy
// string that escaped its quotes shows up as a ReadError rather than as a silent extra command.
#pragma once

#include "reader_common.h"

namespace portolan::roundtrip {

struct WinRule {
  std::string display_name, description;
  bool inbound = true, allow = true;
};

struct WinRead {
  ChainPackets allowed;       ///< input and output; forward is always empty
  int rules = 0;              ///< New-NetFirewallRule calls for policy rules
  int nd_rules = 0;           ///< the two neighbour-discovery allows
  bool stop_on_error = false; ///< $ErrorActionPreference = 'Stop'
  bool removes_group = false; ///< the script's own group is removed before anything else
  bool exclusive = false;     ///< other enabled rules are disabled
  bool default_block = false; ///< all three profiles: enabled, inbound and outbound Block
  std::string group;
  std::vector<WinRule> parsed; ///< every New-NetFirewallRule call, in order
};

WinRead read_windows(const std::string& text);

} // namespace portolan::roundtrip
