// What a backend accepts: the kinds of target it enforces and its options (name, type,
// default, and any check beyond the type). Declared by each backend in one place, checked once
// at manifest validation (lower/options.h); the validated values travel in the RuleSet.
#pragma once

#include "diagnostic.h"
#include "lower/ruleset.h"

#include <functional>
#include <string>
#include <vector>

namespace portolan {

enum class OptionType { Bool, Text, List };

struct OptionSpec {
  std::string name;
  OptionType type = OptionType::Bool;
  /// The value when the manifest does not set it (Text and List: may be derived by `check`).
  OptionValue::Value def;
  /// The error when the value has the wrong type ("" for Bool: "must be true or false").
  std::string type_error;
  /// Checks beyond the type, run whether the option is given or not: `value` holds the given
  /// value (or the default, with an invalid loc); report problems to `diags` at `at` and return
  /// false to fall back to the default. May rewrite `value` (a derived default).
  std::function<bool(const TargetInfo& t, OptionValue& value, SourceLoc at, Diagnostics& diags)>
      check;
};

struct BackendSpec {
  std::string name;
  std::vector<Scope> scopes{Scope::Host, Scope::Between};
  std::vector<OptionSpec> options;
  /// Lowering judges every deny rule against the allow rules (Rule::overlaps_allow), for a
  /// vendor that cannot deny and must know whether default deny already covers a deny flow.
  bool judges_denies = false;
  /// What emit() appends to the target's output path, one per file (iptables: .v4 and .v6), so
  /// manifest validation sees every file a target writes.
  std::vector<std::string> suffixes{""};
  /// Linux conntrack sees every packet before the target's rules: what conntrack_drop()
  /// (semantics.h) names never reaches them, so `query` says deny there (nftables, iptables).
  bool conntrack = false;
  /// Its invalid drop exempts only the family's own ICMP (iptables: `! -p icmp` in the IPv4
  /// file), not both ICMP numbers in both families (nftables: `meta l4proto != { icmp,
  /// ipv6-icmp }`), so the other family's ICMP number is dropped too.
  bool conntrack_own_icmp_only = false;
};

} // namespace portolan
