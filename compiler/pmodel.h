// The parsed model on disk: the parse cache (one entry per piece of a policy file, keyed by the
// piece's content) and the `.pmodel` artifact of `portolan compile` (a manifest and its whole
// policy, loaded once, for `build --model`). Both are a sealed container: magic, format number,
// compiler version, payload length and a 64-bit checksum of the payload. A file that fails any of
// these, or whose payload does not decode exactly, is refused: it is never trusted.
#pragma once

#include "diagnostic.h"
#include "model.h"

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portolan {

/// Bump whenever the encoding below or what the parser puts in the model changes (3: groups,
/// inline lists and `any` endpoints, `when` expressions, VIPs; 4: `maps to` port mappings; 5: the
/// seal's checksum is 64 bits, no longer a SHA-256).
/// The parse cache's entries carry it too, so an entry of another format is refused and
/// parsed again.
inline constexpr uint32_t kModelFormat = 5;

using Sha256 = std::array<uint8_t, 32>;
Sha256 sha256(std::string_view data);
std::string hex(const Sha256& h);

/// The declarations of a piece of text that starts at line `line_base` of its file. Locations
/// are stored relative to that line and without a file id, so the same text decodes to the right
/// place wherever it sits (an edit above it moves it down; its entry still serves).
std::string encode_policy_file(const PolicyFile& f, uint32_t line_base);
/// Nullopt when the bytes are not exactly one encoded file.
std::optional<PolicyFile> decode_policy_file(std::string_view bytes, uint32_t file_id,
                                             uint32_t line_base);

/// A whole loaded policy, every location with its file id (the `.pmodel` artifact).
std::string encode_policy(const Policy& p);
/// Its declarations as one file (no imports); nullopt unless the bytes are exactly one encoded
/// policy whose locations name files 1..file_count.
std::optional<PolicyFile> decode_policy(std::string_view bytes, uint32_t file_count);

/// The `.pmodel` payload: every source text in the order the session registered them (the
/// manifest first), then the policy as encode_policy writes it.
std::string encode_model(const SourceManager& sm, const Policy& p);
struct DecodedModel {
  std::vector<std::pair<std::string, std::string>> files; ///< display path, text; [0]: manifest
  PolicyFile decls;
};
std::optional<DecodedModel> decode_model(std::string_view payload);

/// Wraps a payload: magic (8 bytes), format and version (32), length (8), a 64-bit checksum of
/// the payload (8), payload.
std::string seal(std::string_view magic, std::string_view payload);
/// The payload (a view into `file`), or nullopt with the reason (bad magic, other format or
/// version, truncated, checksum mismatch).
std::optional<std::string_view> unseal(std::string_view magic, std::string_view file,
                                       std::string* why = nullptr);

inline constexpr std::string_view kPieceMagic = "PTLPIECE";
inline constexpr std::string_view kModelMagic = "PTLMODEL";
inline constexpr std::string_view kSliceMagic = "PTLSLICE";

/// A slice of a model for one target (`portolan compile --slices`): the target's name, the
/// kept flows' ids (flow_ids of the whole policy, in the kept flows' order), what loading and
/// validating the whole manifest and policy said (`said`: a build from the slice reports it
/// instead of validating declarations it does not hold), every source (the manifest whole; a
/// policy file with the lines of every dropped flow emptied, so lines and columns stay where
/// they were, except lines `said` points into), and the policy with only the flows `keep`
/// lists (indices into p.flows, ascending) and the roles and groups `roles` and `groups` mark
/// (one flag per p.roles / p.groups; empty: all). Every other declaration is kept whole.
/// `manifest_text`: the text to keep for the manifest (file 1) instead of its own.
std::string encode_slice(const SourceManager& sm, const Policy& p, const std::string& target,
                         const std::vector<size_t>& keep, const std::vector<std::string>& ids,
                         const std::vector<Diagnostic>& said = {},
                         const std::vector<uint8_t>& roles = {},
                         const std::vector<uint8_t>& groups = {},
                         const std::string* manifest_text = nullptr);
struct DecodedSlice {
  std::string target;
  std::vector<std::string> ids; ///< one per flow of model.decls
  std::vector<Diagnostic> said; ///< what loading the whole manifest and policy said
  DecodedModel model;
};
/// Nullopt unless the bytes are exactly one encoded slice with one id per flow.
std::optional<DecodedSlice> decode_slice(std::string_view payload);

/// The parse cache: a folder of sealed entries named by the SHA-256 of a piece's text. An
/// entry that cannot be read, or does not unseal and decode, is ignored (and overwritten).
class ParseCache {
public:
  explicit ParseCache(std::filesystem::path dir) : dir_(std::move(dir)) {}
  /// The declarations of `text` (starting at `line_base` of file `file_id`), if cached.
  std::optional<PolicyFile> get(std::string_view text, const Sha256& key, uint32_t file_id,
                                uint32_t line_base) const;
  /// Stores them; failures are silent (a cache is an optimisation). Atomic: a temporary file
  /// renamed into place, so a concurrent reader sees the whole entry or none.
  void put(std::string_view text, const Sha256& key, const PolicyFile& f, uint32_t line_base) const;
  const std::filesystem::path& dir() const { return dir_; }

private:
  std::filesystem::path dir_;
};

/// Writes a file atomically (temporary in the same folder, then rename). False on failure.
bool write_file_atomic(const std::filesystem::path& p, std::string_view data);

} // namespace portolan
