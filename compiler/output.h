// Writing a build's files as one set: `--out` holds the complete old set or the complete new set,
// whatever happens (an error, kill -9, a second build at the same time). docs/manifest.md
// ("How outputs are written") describes the behaviour.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace portolan {

struct BuildFile {
  std::string rel;     ///< path below the output folder, already validated ("a/b.nft")
  std::string content; ///< the exact bytes
};

/// The list of files Portolan owns in an output folder, one relative path a line.
inline constexpr const char* kOwnedList = ".portolan-outputs";

/// Replaces the files of `out_dir` that an earlier build wrote with a new set, in one step,
/// taking the files one at a time so a caller can free each one's text once it is written:
/// the first add() takes a lock file beside `out_dir` (concurrent builds of one folder wait for
/// each other), removes what a killed build left, and makes a staging folder next to `out_dir`
/// holding the files Portolan did not write (carried over by hard link); each add() writes one
/// file there (an unchanged output is a hard link to the old file: same inode and mtime);
/// commit() swaps the staging folder in with one atomic rename. Until then `out_dir` is
/// untouched: abort(), or destroying the writer uncommitted, removes the staging folder.
class OutputSetWriter {
public:
  explicit OutputSetWriter(std::filesystem::path out_dir);
  ~OutputSetWriter();
  OutputSetWriter(const OutputSetWriter&) = delete;
  OutputSetWriter& operator=(const OutputSetWriter&) = delete;

  /// Writes `rel` (below the output folder) into the staging folder. After an error it does
  /// nothing: commit() reports the first error.
  void add(const std::string& rel, std::string_view content);
  /// Swaps the set in. False, with `err` set, when nothing was changed.
  bool commit(std::string& err);
  /// Drops the staging folder; `out_dir` stays as it was.
  void abort();
  /// The files added, in order.
  const std::vector<std::string>& names() const { return added_; }

private:
  bool begin();
  bool fail(std::string why);
  void unlock();
  void undo(); ///< a failed build: drops the lock file and the folders it made

  std::filesystem::path out_dir_, out_, parent_, staging_, old_, lock_path_;
  std::vector<std::filesystem::path> made_; ///< folders begin() created, the deepest first
  int lock_ = -1;
  bool lock_made_ = false; ///< the lock file is this writer's
  bool started_ = false, exists_ = false, failed_ = false, done_ = false;
  std::string err_;
  std::vector<std::string> added_; ///< in order of add()
  std::vector<std::string> names_; ///< written into staging (the owned list)
};

/// The whole set at once (OutputSetWriter: add each file, then commit). Returns false with
/// `err` set when nothing was changed.
bool write_output_set(const std::filesystem::path& out_dir, const std::vector<BuildFile>& files,
                      std::string& err);

} // namespace portolan
