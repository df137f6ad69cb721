// Loads a whole project (manifest + policies) in-process for tests that compile targets and
// compare their output with the engine.
#pragma once

#include "backend.h"
#include "common/lower.h"
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
