// A seeded generator of small random policies and manifests, shared by the randomized tests
// (round trip, kernel probes). Same seed, same text.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace portolan::test {

struct GenOptions {
  int roles = 5; ///< plus one host role (usually "srv") with two interfaces (usually "a", "b")
  int flows = 12;
  double deny_ratio = 0.15; ///< 0 for backends without deny (aws)
  bool ipv6 = true;
  std::vector<std::string> backends{"nftables"};
  bool host_targets = true;      ///< a target "host-<backend>" on role srv
  bool perimeter_targets = true; ///< a target "edge-<backend>" between zones outside and inside
  /// Adversarial draws (on by default): role, interface and service names that collide after
  /// mangling (case, '.' vs '_', numbered duplicates, 200-character names), exotic protocols and
  /// ICMP types (proto 0/255/41/47/50/51/132, icmp type 255, error types), bindings that overlap
  /// across zones, and denies that name another role than the allow they cut.
  bool adversarial = true;
};

struct GeneratedPolicy {
  uint64_t seed = 0;
  std::string policy;   ///< write as gen.policy
  std::string manifest; ///< lists "gen.policy"; one environment "test"
  std::vector<std::string> targets;
};

GeneratedPolicy random_policy(uint64_t seed, const GenOptions& opt = {});

} // namespace portolan::test
