#include "helpers.h"

#include <doctest/doctest.h>

#include <sstream>

using namespace portolan;
using portolan::test::codes;
using portolan::test::TempDir;

namespace {
struct Loaded {
  SourceManager sm;
  Diagnostics diags;
  LoadResult r;
};
Loaded load(const std::vector<std::filesystem::path>& files) {
  Loaded l;
  l.r = load_policy(files, l.sm, l.diags);
  l.diags.normalize();
  return l;
}
} // namespace

TEST_CASE("load: imports come first, each file once, paths relative to the importer") {
  TempDir d;
  d.write("lib/services.policy", "service ssh = tcp 22;\n");
  d.write("lib/roles.policy", "import \"services.policy\";\nrole a; role b;\n");
  auto main =
      d.write("main.policy", "import \"lib/roles.policy\";\nimport \"lib/services.policy\";\n"
                             "flow a -> b via ssh;\n");
  auto l = load({main});
  CHECK(codes(l.diags) == "");
  REQUIRE(l.r.ok);
  CHECK(l.r.policy.services.size() == 1);
  CHECK(l.r.policy.roles.size() == 2);
  CHECK(l.sm.size() == 3);
}

TEST_CASE("load: import cycles and missing imports point at the import") {
  TempDir d;
  d.write("a.policy", "import \"b.policy\";\n");
  d.write("b.policy", "zone z;\nimport \"a.policy\";\n");
  auto l = load({d.path / "a.policy"});
  CHECK(codes(l.diags) == "import-cycle@2:8");
  REQUIRE(l.diags.all().size() == 1);
  CHECK(l.diags.all()[0].message.find("import cycle: ") == 0);
  CHECK(!l.r.ok);

  auto m = d.write("m.policy", "\n  import \"nope.policy\";\n");
  auto l2 = load({m});
  CHECK(codes(l2.diags) == "import-missing@2:10");
}

TEST_CASE("load: unreadable root file is flagged for exit code 2") {
  TempDir d;
  auto l = load({d.path / "missing.policy"});
  CHECK(l.r.unreadable);
  CHECK(!l.r.ok);
}

TEST_CASE("resolve: name errors with suggestions and first-definition notes") {
  struct Case {
    const char* name;
    const char* text;
    const char* codes;
    const char* message; // of the first diagnostic
  };
  const Case cases[] = {
      {"unknown role, close",
       "role partner; role edge;\nservice s = tcp 1;\nflow partnr -> edge via s;",
       "unknown-role@3:6", "unknown role 'partnr'; did you mean 'partner'?"},
      {"unknown role, far", "role edge;\nservice s = tcp 1;\nflow zzzzzz -> edge via s;",
       "unknown-role@3:6", "unknown role 'zzzzzz'"},
      {"unknown interface",
       "role a; role e { interface access; }\nservice s = tcp 1;\nflow a -> e.acess via s;",
       "unknown-interface@3:13", "role 'e' has no interface 'acess'; did you mean 'access'?"},
      {"interface on a role without any",
       "role a; role e;\nservice s = tcp 1;\nflow a -> e.x via s;", "unknown-interface@3:13",
       "role 'e' has no interface 'x'; it declares none, so write just 'e'"},
      {"unknown service", "role a; role b;\nservice sip = tcp 1;\nflow a -> b via spi;",
       "unknown-service@3:17", "unknown service 'spi'; did you mean 'sip'?"},
      {"unknown feature",
       "role a; role b; feature av;\nservice s = tcp 1;\nflow a -> b via s when avv;",
       "unknown-feature@3:24", "unknown feature 'avv'; did you mean 'av'?"},
      {"unknown zone", "zone internet;\nrole a in internt;", "unknown-zone@2:11",
       "unknown zone 'internt'; did you mean 'internet'?"},
      {"duplicate role", "role a;\nrole a;", "duplicate-definition@2:6",
       "role 'a' is already defined"},
      {"duplicate interface", "role e { interface x; interface x; }", "duplicate-definition@1:33",
       "interface 'x' of role 'e' is already defined"},
  };
  for (const Case& c : cases) {
    std::string case_name = c.name;
    CAPTURE(case_name);
    TempDir d;
    auto l = load({d.write("t.policy", c.text)});
    CHECK(codes(l.diags) == c.codes);
    REQUIRE(!l.diags.all().empty());
    CHECK(l.diags.all()[0].message == c.message);
    CHECK(!l.r.ok);
  }
}

TEST_CASE("resolve: a duplicate notes the first definition") {
  TempDir d;
  auto l = load({d.write("t.policy", "service s = tcp 1;\nservice s = udp 2;")});
  REQUIRE(l.diags.all().size() == 1);
  REQUIRE(l.diags.all()[0].notes.size() == 1);
  CHECK(l.diags.all()[0].notes[0].loc.line == 1);
  CHECK(l.diags.all()[0].notes[0].message == "first defined here");
}

TEST_CASE("diagnostics: clang-style text with caret underline") {
  TempDir d;
  auto l =
      load({d.write("t.policy", "role a; role b;\nservice sip = tcp 1;\nflow a -> b via spi;")});
  std::ostringstream out;
  l.diags.render_text(out, l.sm);
  std::string path = (d.path / "t.policy").generic_string();
  CHECK(out.str() ==
        path + ":3:17: error: unknown service 'spi'; did you mean 'sip'? [unknown-service]\n"
               "  flow a -> b via spi;\n"
               "                  ^~~\n");
}

TEST_CASE("load: a policy given as text reads no file, not even an import that exists") {
  TempDir d;
  d.write("other.policy", "zone z;\n");
  SourceManager sm;
  Diagnostics diags;
  auto r = load_policy_text((d.path / "p.policy").string(),
                            "import \"other.policy\";\nzone a;\nrole r in a;\n", sm, diags);
  diags.normalize();
  CHECK(!r.ok);
  CHECK(codes(diags) == "import-missing@1:8");
  Diagnostics clean;
  auto ok = load_policy_text("p.policy", "zone a;\nrole r in a;\n", sm, clean);
  CHECK(ok.ok);
  CHECK(ok.policy.roles.size() == 1);
}

TEST_CASE("manifest: a manifest given as text reads like one from a file") {
  SourceManager sm;
  Diagnostics diags;
  Manifest m = read_manifest_text("dir/m.toml",
                                  "policies = [\"a.policy\"]\n[environments.e.bind]\nr = \"any\"\n"
                                  "[[targets]]\nname = \"t\"\nbackend = \"nftables\"\n"
                                  "host = \"r\"\noutput = \"t.nft\"\n",
                                  sm, diags);
  CHECK(!diags.has_errors());
  CHECK(m.dir == "dir");
  REQUIRE(m.targets.size() == 1);
  CHECK(m.targets[0].env == "e");
  Diagnostics bad;
  read_manifest_text("m.toml", "policies = [", sm, bad);
  CHECK(bad.has_errors());
}
