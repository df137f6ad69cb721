// A test world in the kernel: the network namespaces of a WorldPlan joined by veth pairs, the
// generated config loaded into the enforcing namespace, and the probes sent between them. Every
// namespace is created by this process, named PREFIX-..., and removed when the world ends (RAII,
// also on errors); traffic only ever flows between addresses assigned here.
#pragma once

#include "plan.h"

#include "backend.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace portolan::kernel {

/// What the kernel did with one probe.
enum class Outcome {
  Allowed,  ///< tcp connected / udp answered / icmp echo answered
  Denied,   ///< nothing came back in time (and a udp datagram never reached its listener)
  HalfOpen, ///< the udp datagram reached the listener but the answer never came back
  Refused,  ///< tcp reset: the SYN reached the host but not a listener (a harness fault)
  Error,    ///< a socket call failed (a harness fault)
};
const char* outcome_name(Outcome o);

struct Observation {
  Outcome outcome = Outcome::Error;
  std::string detail;
  bool retried = false; ///< expected to pass, timed out, sent again with a longer timeout
};

struct RunOptions {
  std::string prefix = "ptl";    ///< namespace names start with "PREFIX-"
  std::filesystem::path scratch; ///< a private folder for configs and command logs
  int timeout_ms = 250;          ///< how long a probe may take before it counts as dropped
  int retry_timeout_ms = 1500;   ///< the second chance of a probe expected to pass
  bool retry = true;
  /// The retry check (self-check): every probe the engine allows is sent a second time, as a
  /// retry, while a command this process started is held before its exec; the second round
  /// must be a clean repeat (no socket of the first round may still hold an address or port).
  bool retry_check = false;
};

/// The config to load into namespace 0: the backend's files as emitted.
struct Config {
  std::string backend; ///< "nftables" or "iptables"
  std::vector<OutputFile> files;
  /// Policy B, loaded over `files` once the plan's reload connections are open (empty: no
  /// reload phase): the same target with no flows, so B allows nothing new.
  std::vector<OutputFile> reload_files;
};

struct WorldResult {
  std::string error;            ///< empty: built, loaded and probed
  std::vector<Observation> obs; ///< parallel to plan.probes
  /// Parallel to plan.reload: what the kernel did with the original-direction packet sent on
  /// the connection after policy B was loaded (Error when it could not be opened under A).
  std::vector<Observation> reload_obs;
  bool stopped = false; ///< interrupted (request_stop) before it finished
  double seconds = 0;
};

/// Builds the world, loads the config, sends every probe, tears the world down. `id` makes the
/// namespace names unique within this process ("PREFIX-ID-n0", ...).
WorldResult run_world(const WorldPlan& plan, const Config& config, const std::string& id,
                      const RunOptions& opt);

/// Whether this process can create and use a network namespace; the reason when it cannot.
std::optional<std::string> kernel_unavailable(const RunOptions& opt);

/// Forks the process that spawns every command of the harness (ip, nft, iptables-restore).
/// Call it first thing, before any thread or socket exists: a command spawned by this process
/// itself would hold a copy of every open socket until its exec, so a probe's socket could
/// outlive its close and collide with the retry (world.cpp). The reason when it cannot start.
std::optional<std::string> start_command_helper();

/// Asks running worlds to stop after their current step (from a signal handler).
void request_stop();
bool stop_requested();

} // namespace portolan::kernel
