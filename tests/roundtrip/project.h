// Loads a whole project (manifest + policies) in-process for tests that compile targets and
// compare their output with the engine.
#pragma once

#include "backend.h"
#include "common/lower.h"
#include "helpers.h"
#include "load.h"
#include "manifest.h"
#include "semantics.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace portolan::roundtrip {

struct Project {
  SourceManager sm;
  Diagnostics diags;
  std::optional<Manifest> manifest;
  LoadResult loaded;

  /// Loads a manifest and its policies; throws with the rendered diagnostics on errors.
  static std::unique_ptr<Project> open(const std::filesystem::path& manifest_path) {
    auto p = std::make_unique<Project>();
    p->manifest = read_manifest(manifest_path, p->sm, p->diags);
    if (!p->manifest || p->diags.has_errors())
      throw std::runtime_error("manifest errors in " + manifest_path.string());
    std::vector<std::filesystem::path> files;
    for (const auto& f : p->manifest->policies)
      files.push_back(p->manifest->dir / f);
    p->loaded = load_policy(files, p->sm, p->diags);
    if (!p->loaded.ok)
      throw std::runtime_error("policy errors in " + manifest_path.string());
    return p;
  }

  LowerContext ctx() const { return LowerContext{loaded.policy, *manifest, sm, std::nullopt}; }

  const Target& target(const std::string& name) const {
    for (const Target& t : manifest->targets)
      if (t.name == name)
        return t;
    throw std::runtime_error("no target " + name);
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

  /// Lowers and emits one target; diagnostics (e.g. unrealizable) go to `d`.
  std::vector<OutputFile> build(const Target& t, Diagnostics& d, RuleSet* rs_out = nullptr) const {
    auto backend = make_backend(t.backend);
    RuleSet rs = lower_target(ctx(), t, backend->options(), d);
    auto files = backend->emit(rs, d);
    if (rs_out)
      *rs_out = std::move(rs);
    return files;
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
