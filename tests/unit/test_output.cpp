// OutputSetWriter (compiler/output.h): each file goes into the staging folder as it is added,
// so a build can free its text at once, and --out changes only at commit(): whole or not at all.
#include "output.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

using namespace portolan;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct TempDir {
  fs::path path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "portolan-output-XXXXXX").string();
    path = ::mkdtemp(t.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

fs::path staging_of(const fs::path& out) {
  return out.parent_path() /
         ("." + out.filename().string() + ".staging-" + std::to_string(::getpid()));
}

ino_t inode(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_ino;
}

} // namespace

TEST_CASE("output set: each file is staged when added; --out changes only at commit") {
  TempDir t;
  fs::path out = t.path / "out";
  std::string err;
  REQUIRE(write_output_set(out, {{"a.nft", "old a\n"}, {"d/b.rules", "old b\n"}}, err));
  ino_t kept = inode(out / "a.nft");

  OutputSetWriter w(out);
  w.add("a.nft", "old a\n"); // unchanged
  CHECK(fs::exists(staging_of(out) / "a.nft"));
  w.add("d/b.rules", std::string(200000, 'x')); // more than one piece of the comparison
  CHECK(slurp(staging_of(out) / "d/b.rules") == std::string(200000, 'x'));
  CHECK(slurp(out / "d/b.rules") == "old b\n"); // --out untouched until commit
  REQUIRE(w.commit(err));
  CHECK(w.names() == std::vector<std::string>{"a.nft", "d/b.rules"});
  CHECK(!fs::exists(staging_of(out)));
  CHECK(slurp(out / "d/b.rules") == std::string(200000, 'x'));
  CHECK(inode(out / "a.nft") == kept); // the unchanged file is the old file itself
  CHECK(slurp(out / kOwnedList) == "a.nft\nd/b.rules\n");

  // Same size, one byte different: rewritten.
  std::string changed(200000, 'x');
  changed[150000] = 'y';
  REQUIRE(write_output_set(out, {{"a.nft", "old a\n"}, {"d/b.rules", changed}}, err));
  CHECK(slurp(out / "d/b.rules") == changed);
}

TEST_CASE("output set: dropped before commit, --out and its folder stay as they were") {
  TempDir t;
  fs::path out = t.path / "out";
  std::string err;
  REQUIRE(write_output_set(out, {{"a.nft", "old a\n"}}, err));
  {
    OutputSetWriter w(out);
    w.add("a.nft", "new a\n");
    w.add("b.nft", "new b\n");
    CHECK(fs::exists(staging_of(out) / "b.nft"));
  } // destroyed uncommitted: a later target failed
  CHECK(!fs::exists(staging_of(out)));
  CHECK(slurp(out / "a.nft") == "old a\n");
  CHECK(!fs::exists(out / "b.nft"));
  CHECK(fs::exists(t.path / ".out.portolan-lock")); // not this writer's: kept

  // A first build that fails leaves nothing: not the folders it made, not its lock file.
  fs::path fresh = t.path / "x" / "y" / "out";
  {
    OutputSetWriter w(fresh);
    w.add("a.nft", "a\n");
    CHECK(fs::exists(fresh.parent_path() / ".out.portolan-lock"));
    w.abort();
  }
  CHECK(!fs::exists(t.path / "x"));
}

TEST_CASE("output set: the first error is reported at commit and nothing is changed") {
  TempDir t;
  fs::path out = t.path / "out";
  std::string err;
  REQUIRE(write_output_set(out, {{"a.nft", "old a\n"}}, err));
  fs::create_directory(out / "b.nft"); // a folder where an output goes
  OutputSetWriter w(out);
  w.add("a.nft", "new a\n");
  w.add("b.nft", "new b\n");
  CHECK(!fs::exists(staging_of(out))); // dropped at the error
  w.add("c.nft", "new c\n");           // after an error: nothing more is written
  CHECK(!w.commit(err));
  CHECK(err == "cannot write " + (out / "b.nft").string() + ": a folder of that name exists");
  CHECK(slurp(out / "a.nft") == "old a\n");
  CHECK(!fs::exists(staging_of(out)));
}
