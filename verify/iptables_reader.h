// Reads back the iptables-restore / ip6tables-restore subset Portolan emits into packet sets
// (first match per built-in chain, the chain policy at the end).
#pragma once

#include "reader_common.h"

namespace portolan::roundtrip {

struct IptRead {
  ChainPackets allowed;
  std::map<Chain, bool> policy_accept; ///< the chain policies
  int loopback_rules = 0;
  int nd_rules = 0;
  int rules = 0;
  std::vector<ReadNat> nat; ///< the nat table's DNAT (PREROUTING) and SNAT (POSTROUTING) rules
};

/// `family` is the file's: V4 for iptables-restore, V6 for ip6tables-restore. Reading both
/// files into one IptRead (call twice) unites their packets.
void read_iptables(const std::string& text, Family family, IptRead& out);

} // namespace portolan::roundtrip
