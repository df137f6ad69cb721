// Rule shapes no policy can produce, so no backend has a faithful way to print them.
#pragma once

#include "lower/ruleset.h"

#include <string>

namespace portolan {

/// Why an L4 match is malformed (a reversed range, ports or ICMP fields on a protocol that has
/// none, an ICMP code without a type); "" when it is well formed. Backends refuse such rules
/// as unrealizable rather than guess what was meant.
std::string malformed_l4(const L4Match& m);

} // namespace portolan
