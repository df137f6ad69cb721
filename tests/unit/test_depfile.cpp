// `build --depfile`: paths escaped as Make and Ninja read them (GCC's -MD escaping), the rule
// and its -MP style empty rules, and the atomic write.
#include "helpers.h"

#include "depfile.h"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

using namespace portolan;

TEST_CASE("depfile: escaping") {
  CHECK(*depfile_escape("policies/a.policy") == "policies/a.policy");
  CHECK(*depfile_escape("my policies/a b.policy") == "my\\ policies/a\\ b.policy");
  CHECK(*depfile_escape("a\tb") == "a\\\tb");
  CHECK(*depfile_escape("cost$1.policy") == "cost$$1.policy");
  CHECK(*depfile_escape("#1.policy") == "\\#1.policy");
  // Backslashes before a space are doubled, so 2N+1 backslashes mean N and an escaped space.
  CHECK(*depfile_escape("a\\ b") == "a\\\\\\ b");
  CHECK(*depfile_escape("a\\b") == "a\\b"); // elsewhere a backslash is itself
  CHECK(!depfile_escape("a\nb"));
  CHECK(!depfile_escape("a\rb"));
  CHECK(!depfile_escape("ends\\"));
  CHECK(!depfile_escape(""));
}

TEST_CASE("depfile: one rule, then an empty rule per dependency") {
  std::string bad;
  auto t = depfile_text({"out/a.nft", "out/b c.nft"}, {"m.toml", "p.policy"}, bad);
  REQUIRE(t);
  CHECK(*t == "out/a.nft out/b\\ c.nft: \\\n  m.toml \\\n  p.policy\n\nm.toml:\n\np.policy:\n");
  CHECK(!depfile_text({"stamp"}, {"ok.policy", "bad\nname.policy"}, bad));
  CHECK(bad == "bad\nname.policy");
}

TEST_CASE("depfile: written atomically, replacing the old one") {
  portolan::test::TempDir d;
  auto p = d.write("x.d", "old");
  std::string err;
  REQUIRE(write_file_atomic(p, "new\n", err));
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  CHECK(ss.str() == "new\n");
  for (const auto& e : std::filesystem::directory_iterator(d.path))
    CHECK_MESSAGE(e.path().filename() == "x.d", e.path().string()); // no temporary left
  CHECK(!write_file_atomic(d.path / "no-such-folder" / "x.d", "", err));
  CHECK(err.find("cannot write") != std::string::npos);
}
