// Box and BoxVec (compiler/model.h): the heap-held members of Flow and Endpoint keep value
// semantics, so a copied flow or endpoint never shares (or loses) what the original holds.
#include "model.h"

#include <doctest/doctest.h>

using namespace portolan;

TEST_CASE("model: a copied flow owns its own maps, when, tags and suppressions") {
  Flow a;
  CHECK(!a.maps);
  CHECK(!a.when.has_value());
  CHECK(a.tags.empty());
  CHECK(a.tags.size() == 0);
  CHECK(a.tags.begin() == a.tags.end());
  PortMap pm;
  pm.dst = Endpoint::of("web");
  pm.port = 8080;
  a.maps = pm;
  Condition c;
  c.feature = "beta";
  a.when = c;
  a.tags.push_back("t1");
  a.suppressions.push_back(Suppression{"expired", "kept", {}});

  Flow b = a;
  REQUIRE(b.maps);
  REQUIRE(b.when);
  CHECK(&*b.maps != &*a.maps);
  CHECK(&*b.when != &*a.when);
  b.maps->port = 9090;
  b.when->feature = "gamma";
  b.tags.push_back("t2");
  b.suppressions.clear();
  CHECK(a.maps->port == 8080);
  CHECK(a.when->feature == "beta");
  CHECK(a.tags == std::vector<std::string>{"t1"});
  CHECK(b.tags == std::vector<std::string>{"t1", "t2"});
  CHECK(a.suppressions.size() == 1);
  CHECK(b.suppressions.empty());

  b = a; // copy-assignment replaces, deep
  CHECK(b.maps->port == 8080);
  CHECK(b.tags == a.tags);
  CHECK(b.suppressions.size() == 1);
  Flow m = std::move(b); // a move keeps the contents
  CHECK(m.maps->dst.role == "web");
  CHECK(m.when->feature == "beta");
  a.maps.reset();
  CHECK(!a.maps);
  CHECK(m.maps);
}

TEST_CASE("model: an endpoint's list items and members copy deep; an empty list is null") {
  Endpoint l;
  l.kind = Endpoint::Kind::List;
  l.items.push_back(Endpoint::of("a"));
  l.items.push_back(Endpoint::of("b", "eth0"));
  l.members = std::vector<Endpoint>{Endpoint::of("a")};
  Endpoint c = l;
  c.items[0].role = "z";
  c.members.push_back(Endpoint::of("b"));
  CHECK(l.items[0].role == "a");
  CHECK(c.items[0].role == "z");
  CHECK(l.members.size() == 1);
  CHECK(c.members.size() == 2);
  std::vector<std::string> seen;
  for (const Endpoint& e : l.items)
    seen.push_back(e.str());
  CHECK(seen == std::vector<std::string>{"a", "b.eth0"});
  l.members = std::vector<Endpoint>{}; // assigning an empty vector empties it
  CHECK(l.members.empty());
  CHECK(l.members.vec().empty());
}
