// The small vocabulary shared by the policy model, the manifest, binding and the rule IR: port
// ranges, protocol numbers, actions, chains, target scopes and option values. No policy types,
// so that the IR (lower/ruleset.h) and the printers can use it without seeing the model.
#pragma once

#include "source.h"

#include <compare>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace portolan {

struct PortRange {
  uint16_t lo = 0, hi = 0;
  auto operator<=>(const PortRange&) const = default;
};

constexpr uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17, kProtoIcmpV6 = 58;

enum class Action { Allow, Deny };

enum class Chain { Input, Output, Forward };
const char* chain_name(Chain c);

enum class Scope { Host, Between };

/// A target option value as written in the manifest ([targets.options]).
struct OptionValue {
  using Value = std::variant<bool, int64_t, std::string, std::vector<std::string>>;
  Value value;
  SourceLoc loc;
};

} // namespace portolan
