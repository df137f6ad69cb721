// The protocol cell of a vendor port table ("Access/SIP(MTLS)/TCP/5061",
// "A/V/RTP/TCP/50,000-59,999"): read into group, application label and service specs, and
// written back the same way by `portolan doc`.
#pragma once

#include "model.h"

#include <string>
#include <string_view>
#include <vector>

namespace portolan::tables {

/// One "GROUP/LABEL/TRANSPORT/PORTS" entry of a protocol cell.
struct ProtocolEntry {
  std::string group, label; ///< plain text ("A/V", "SIP(MTLS)"); either may be empty
  std::vector<ServiceSpec> specs;
  std::vector<std::string> readings; ///< what was repaired or interpreted, for a comment
};

struct ProtocolCell {
  std::vector<ProtocolEntry> entries; ///< several when the cell lists them separated by ';'
  std::string error;                  ///< non-empty: the cell was not read, and why
};

/// Reads a protocol cell. Separators between parts are '/'; an escaped slash (kSlash) belongs
/// to a part. Accepted: TCP, UDP, "TCP/UDP" (both), ICMP[/TYPE[/CODE]], ICMPv6[/TYPE[/CODE]],
/// proto/N, any; ports as 5061, 50000-59999, lists "80, 443" and "67/68", thousands separators
/// ',' '.' ' ' (50,000 50.000 50 000), "any" for every port, "... sport PORTS"; a missing '/'
/// before the transport after ')' (PSOM(TLS)TCP/443). Anything else is an error, never a guess.
ProtocolCell parse_protocol_cell(std::string_view cell);

/// The cell text of one service for `doc`: entries "GROUP/LABEL/TRANSPORT/PORTS" joined with
/// "; ". '/' inside group or label is written as kSlash so that it reads back as text.
std::string format_protocol_cell(std::string_view group, std::string_view label,
                                 const std::vector<ServiceSpec>& specs);

/// The specs in the policy language: "tcp 5061", "udp 53, tcp 53", "icmp type 8".
std::string specs_policy_text(const std::vector<ServiceSpec>& specs);

} // namespace portolan::tables
