#include "shape.h"

#include "text.h"

namespace portolan {

std::string malformed_l4(const L4Match& m) {
  bool icmp_fields = m.icmp_type || m.icmp_code;
  bool ports = !m.dports.empty() || !m.sports.empty();
  for (const auto* list : {&m.dports, &m.sports})
    for (const PortRange& p : *list)
      if (p.lo > p.hi)
        return "port range " + port_text(p, "-") + " is reversed";
  if (!m.proto)
    return ports || icmp_fields ? "ports or ICMP fields without a protocol" : "";
  uint8_t p = *m.proto;
  bool icmp = p == kProtoIcmp || p == kProtoIcmpV6;
  if (p == kProtoTcp || p == kProtoUdp)
    return icmp_fields ? "ICMP type or code on a tcp/udp rule" : "";
  if (ports)
    return "ports on protocol " + std::to_string(p) + " (only tcp and udp have ports)";
  if (icmp_fields && !icmp)
    return "ICMP type or code on protocol " + std::to_string(p);
  if (m.icmp_code && !m.icmp_type)
    return "an ICMP code without a type (a code qualifies a type)";
  return "";
}

} // namespace portolan
