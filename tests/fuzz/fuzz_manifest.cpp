// libFuzzer harness: the input is manifest text, optionally preceded by its policy. An input
// "POLICY\0MANIFEST" brings its own policy (the seeds are the tests' policy and manifest pairs);
// without a NUL byte the whole input is the manifest of the fixed policy below. The manifest is
// read and validated against the policy, and when it is valid the whole pipeline runs on it:
// lowering and emit of every target, every check, the reports.
#include "pipeline.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace {

// Small, but with something for every part of the manifest: zones for perimeter targets, roles
// with and without interfaces, a feature, an expiring flow, a deny, ICMP, a suppression.
constexpr const char* kPolicy = R"(policy fuzz.manifest "fixed policy of the manifest fuzzer" {}
zone outside;
zone dmz;
zone inside;
role anyone in outside;
role admin in inside;
role web in dmz;
role gw in dmz {
  interface ext in outside;
  interface int in inside;
}
feature beta;
service web = tcp 80, tcp 443;
service ssh = tcp 22;
service dns = udp 53, tcp 53;
service ping = icmp type 8;
flow deny block: anyone -> web via ssh;
flow public: anyone -> web via web "the website";
flow mgmt: admin -> gw.int via ssh, ping;
flow infra: web -> gw via dns;
flow trial: admin <-> web via ssh when beta { expires 2030-01-01; }
suppress broad "fixed policy";
)";

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace portolan;
  std::string input(reinterpret_cast<const char*>(data), size);
  std::string policy = kPolicy, manifest = input;
  if (auto nul = input.find('\0'); nul != std::string::npos) {
    policy = input.substr(0, nul);
    manifest = input.substr(nul + 1);
  }
  Session s;
  LoadResult loaded = load_policy_text("fuzz.policy", policy, s.sm, s.diags);
  Manifest m = read_manifest_text("fuzz.toml", manifest, s.sm, s.diags);
  if (loaded.ok && !s.diags.has_errors())
    fuzz::compile_and_check(s, std::move(m), std::move(loaded));
  fuzz::render(s.diags, s.sm);
  return 0;
}
