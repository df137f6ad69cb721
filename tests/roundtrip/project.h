// Loads a whole project (manifest + policies) in-process, through the driver, for tests that
// compile targets and compare their output with the engine.
#pragma once

#include "helpers.h"
#include "session.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace portolan::roundtrip {

/// A Session (driver/session.h) opened on a manifest, with the helpers the tests share.
struct Project : Session {
  /// Loads a manifest and its policies; throws on manifest or policy errors (target-level
  /// findings of validation stay with the target: see compile_target).
  static std::unique_ptr<Project> open(const std::filesystem::path& manifest_path) {
    auto p = std::make_unique<Project>();
    p->Session::open(manifest_path);
    if (!p->manifest || !p->loaded.ok)
      throw std::runtime_error("manifest or policy errors in " + manifest_path.string());
    return p;
  }

  const Target& target(const std::string& name) const {
    for (const Target& t : manifest->targets)
      if (t.name == name)
        return t;
    throw std::runtime_error("no target " + name);
  }

  /// What the policy lets the target allow (the engine's reference).
  TargetPackets expected(const Target& t) const {
    Diagnostics ignored;
    return compile_target(t, Want{false, true}, ignored).expected;
  }

  /// A single-file target's output with its rule set and diagnostics.
  struct Emitted {
    RuleSet rs;
    std::string text; ///< empty when the backend wrote no file (an error)
    Diagnostics diags;
  };
  Emitted emit(const Target& t) const {
    Emitted e;
    auto files = build(t, e.diags, &e.rs);
    if (files.size() == 1)
      e.text = files[0].content;
    return e;
  }
  using Session::emit;

  /// Lowers and emits one target; diagnostics (e.g. unrealizable) go to `d`.
  std::vector<OutputFile> build(const Target& t, Diagnostics& d, RuleSet* rs_out = nullptr) const {
    CompiledTarget c = compile_target(t, Want{true, false}, d);
    if (rs_out)
      *rs_out = std::move(c.rules);
    return c.files;
  }
};

/// Builds a one-flow host target (role h, reached from `any` on tcp 1) of `backend` with the
/// given [targets.options] lines; returns its files and its diagnostics as "code@line:col".
inline std::pair<std::vector<OutputFile>, std::string>
build_host_with_options(const test::TempDir& dir, const std::string& backend,
                        const std::string& options) {
  dir.write("p.policy", "zone a; zone b; role c in a; role h in b; service s = tcp 1;\n"
                        "flow c -> h via s;\n");
  auto path = dir.write("m.toml", "policies = [\"p.policy\"]\n[environments.e.bind]\n"
                                  "c = \"any\"\nh = \"192.0.2.1\"\n[[targets]]\n"
                                  "name = \"w\"\nbackend = \"" +
                                      backend +
                                      "\"\nhost = \"h\"\n"
                                      "output = \"w\"\n[targets.options]\n" +
                                      options);
  auto p = Project::open(path);
  Diagnostics d;
  auto files = p->build(p->manifest->targets.at(0), d);
  d.normalize();
  return {files, test::codes(d)};
}

/// Writes a generated policy and manifest into `dir` and returns the manifest's path.
inline std::filesystem::path write_generated(const std::filesystem::path& dir,
                                             const std::string& policy,
                                             const std::string& manifest) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "gen.policy") << policy;
  std::ofstream(dir / "gen.toml") << manifest;
  return dir / "gen.toml";
}

} // namespace portolan::roundtrip
