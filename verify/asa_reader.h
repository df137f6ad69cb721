// Reads back the Cisco ASA configuration subset the asa backend writes and says which packets
// it lets through: each ACL bound with `access-group ... in interface` is evaluated first match
// with the implicit deny at its end, and a packet is forwarded when the ACL of some interface
// permits it (the union, since the text cannot say on which interface a packet arrives).
#pragma once

#include "reader_common.h"

#include <string_view>

namespace portolan::roundtrip {

struct AsaRead {
  ChainPackets allowed;                        ///< Forward only: an ASA governs transit traffic
  std::map<std::string, PacketSet> per_acl;    ///< permitted by each bound ACL
  std::map<std::string, std::string> bindings; ///< ACL -> interface (nameif)
  int aces = 0;
  int remarks = 0;
  /// Network object NAT (`object network` with `host` and `nat (real,mapped) static MAPPED`):
  /// static NAT is bidirectional, so each gives a destination translation MAPPED -> real and a
  /// source translation real -> MAPPED (ASA CLI configuration guide, network object NAT).
  std::vector<ReadNat> nat;
};

/// Throws ReadError ("line N: why") on anything outside the emitted subset.
AsaRead read_asa(std::string_view text);

} // namespace portolan::roundtrip
