// Network address translation (issue 12 item 4): which translations a perimeter target
// performs, from the manifest's NAT bindings, and what a packet becomes through them. Shared by
// lowering (the RuleSet's translations), the packet engine's users (query, the kernel harness)
// and the host targets' header notes.
#pragma once

#include "bind.h"
#include "lower/ruleset.h"
#include "packetspace.h"

#include <optional>
#include <string>
#include <vector>

namespace portolan {

/// The translations target `t` performs in `env`: for every NAT binding whose zone and outside
/// zone are the target's two zones, a destination translation (public -> real, from the outside
/// zone's addresses) and, for symmetric NAT, a source translation (real -> public, to them);
/// for every active port mapping whose front half crosses the target, a destination
/// translation with port (published address and port -> the mapping's, from the flow's
/// source). Destination translations first. Empty for host targets.
std::vector<Translation> target_translations(const LowerContext& ctx, const Target& t,
                                             const Environment& env);

/// The one port a port-mapping flow publishes: its one service's one tcp/udp port, of the
/// mapping's protocol, without source ports; nullopt otherwise (the loader reports it).
std::optional<uint16_t> published_port(const Policy& p, const Flow& f);

/// What the first packet of a connection becomes through `tr` (the first translation that
/// matches each side); nullopt when none matches. `used` gets the translations applied.
std::optional<Packet> translate(const std::vector<Translation>& tr, const Packet& pkt,
                                std::vector<const Translation*>* used = nullptr);

/// Header lines for a host target whose role has NAT bindings: what the host sees (its real
/// address) and where the public address is translated. Empty when none.
std::vector<std::string> host_nat_notes(const LowerContext& ctx, const Target& t,
                                        const Environment& env);

} // namespace portolan
