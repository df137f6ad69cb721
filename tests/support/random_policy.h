// A seeded generator of small random policies and manifests, shared by the randomized tests
// (round trip, kernel probes). Same seed, same text.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace portolan::test {

struct GenOptions {
  int roles = 5; ///< plus one host role "srv" with interfaces "a" and "b"
  int flows = 12;
  double deny_ratio = 0.15; ///< 0 for backends without deny (aws)
  bool ipv6 = true;
  std::vector<std::string> backends{"nftables"};
  bool host_targets = true;      ///< a target "host-<backend>" on role srv
  bool perimeter_targets = true; ///< a target "edge-<backend>" between zones outside and inside
};

struct GeneratedPolicy {
  uint64_t seed = 0;
  std::string policy;   ///< write as gen.policy
  std::string manifest; ///< lists "gen.policy"; one environment "test"
  std::vector<std::string> targets;
};

GeneratedPolicy random_policy(uint64_t seed, const GenOptions& opt = {});

} // namespace portolan::test
