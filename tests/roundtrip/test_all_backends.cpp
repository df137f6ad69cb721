// The larger example (tests/golden/enterprise: 35 flows with ranges, lists, IPv6, ICMP, ESP,
// denies and two-way flows) round-trips through every backend: each target's output, read
// back by that vendor's reader, allows exactly what the engine says the target allows.
#include "asa_reader.h"
#include "aws_reader.h"
#include "iptables_reader.h"
#include "nft_reader.h"
#include "pf_reader.h"
#include "project.h"
#include "windows_reader.h"

#include <doctest/doctest.h>

#include <set>

using namespace portolan;
using namespace portolan::roundtrip;

namespace {

ChainPackets read_back(const std::string& backend, const std::vector<OutputFile>& files) {
  REQUIRE(!files.empty());
  const std::string& text = files[0].content;
  if (backend == "nftables")
    return read_nft(text).allowed;
  if (backend == "iptables") {
    REQUIRE(files.size() == 2);
    IptRead r;
    read_iptables(files[0].content, Family::V4, r);
    read_iptables(files[1].content, Family::V6, r);
    return r.allowed;
  }
  if (backend == "pf")
    return read_pf(text).allowed;
  if (backend == "asa")
    return read_asa(text).allowed;
  if (backend == "windows")
    return read_windows(text).allowed;
  if (backend == "aws")
    return read_aws(text).allowed;
  FAIL("no reader for backend " << backend);
  return {};
}

} // namespace

TEST_CASE("roundtrip every backend: the enterprise, language and Edge pool examples") {
  // tests/golden/lang: endpoint groups and lists, `any`, condition expressions, a host with two
  // roles, tcp+udp and non-ASCII notes and titles (UTF-8 through every reader).
  // tests/golden/edge-pool: the Edge pool behind load balancers: the nodes' host firewalls get
  // the balanced flows (the client's source kept, or the balancer's address), the perimeters
  // the VIPs.
  // tests/golden/deployment: all of it together, with NAT bindings (a VIP among them) and port
  // mappings to a VIP at the perimeter; the readers judge the filters (tests/roundtrip/test_nat
  // reads the translations of tests/golden/nat).
  for (const char* m :
       {"tests/golden/enterprise/enterprise.toml", "tests/golden/lang/lang.toml",
        "tests/golden/edge-pool/edge-pool.toml", "tests/golden/deployment/deployment.toml"}) {
    CAPTURE(m);
    std::string name(m);
    bool pool =
        name.find("edge-pool") != std::string::npos || name.find("deployment") != std::string::npos;
    auto p = Project::open(std::filesystem::path(PORTOLAN_SOURCE_DIR) / m);
    REQUIRE(p->loaded.policy.flows.size() >= (name.find("lang") != std::string::npos ? 7u
                                              : pool                                 ? 5u
                                                                                     : 30u));
    std::set<std::string> backends;
    int compared = 0;
    for (const Target& t : p->manifest->targets) {
      Diagnostics d;
      RuleSet rs;
      auto files = p->build(t, d, &rs);
      REQUIRE_MESSAGE(!d.has_errors(), t.name);
      ChainPackets got = read_back(t.backend, files);
      TargetPackets want = p->expected(t);
      bool allows_something = false;
      for (Chain c : rs.chains) {
        // pf leaves a host's forward chain implicit and an ASA governs transit only.
        if (!got.count(c) && want.of(c).is_empty())
          continue;
        std::string label = t.name + " (" + chain_name(c) + ")";
        REQUIRE_MESSAGE(got.count(c) == 1, label << ": chain not read back");
        const PacketSet& a = got.at(c);
        PacketSet b = want.of(c);
        // The documented host plumbing; only the readers that read the ND rule as a rule
        // (nftables, iptables, pf) include it.
        bool nd_read = t.backend == "nftables" || t.backend == "iptables" || t.backend == "pf";
        if (rs.icmpv6_nd && c != Chain::Forward && nd_read)
          b = b.unite(nd_plumbing());
        std::string witness = difference(a, b);
        CHECK_MESSAGE(a == b, label << ": " << witness);
        allows_something = allows_something || !b.is_empty();
        ++compared;
      }
      CHECK_MESSAGE(allows_something, t.name << " allows nothing: its comparison would be vacuous");
      backends.insert(t.backend);
    }
    CHECK(backends.size() == 6);
    CHECK(compared >= (pool ? 10 : 12));
  }
}
