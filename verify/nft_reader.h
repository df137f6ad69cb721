// Reads back the nftables subset Portolan emits (named interval sets, base chains with a drop
// policy, rules of address/protocol/port matches) into packet sets, modelling nft's own
// semantics: `icmp type` implies IPv4, `meta l4proto icmp` does not.
#pragma once

#include "reader_common.h"

namespace portolan::roundtrip {

struct NftRead {
  ChainPackets allowed;
  int loopback_rules = 0;   ///< `iif/oif "lo" accept`
  int nd_rules = 0;         ///< the IPv6 neighbour-discovery accept
  int rules = 0;            ///< policy rules read (state, loopback and ND not counted)
  std::vector<ReadNat> nat; ///< the nat chains' dnat/snat rules, in order
};

NftRead read_nft(const std::string& text);

} // namespace portolan::roundtrip
