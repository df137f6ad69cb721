// `query` without the command line: packet specs, and which flow of which target decides.
#include "helpers.h"

#include "query.h"
#include "session.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <sstream>

using namespace portolan;
using portolan::test::TempDir;

namespace {

struct Project : Session {
  TempDir dir;
  Project() {
    dir.write("p.policy", R"(
zone out; zone dmz;
role client in out;
role bad in out;
role web in dmz;
service https = tcp 443;
flow deny b: bad -> web via https;
flow a: client -> web via https;
)");
    auto m = dir.write("m.toml", R"(
policies = ["p.policy"]
[environments.e.bind]
client = "192.0.2.0/24"
bad = "192.0.2.66"
web = "198.51.100.1"
[[targets]]
name = "host"
backend = "nftables"
host = "web"
output = "h.nft"
[[targets]]
name = "edge"
backend = "iptables"
between = ["out", "dmz"]
output = "e/rules"
)");
    REQUIRE(open(m));
    REQUIRE(clean());
  }

  std::string ask(const std::string& from, const std::string& to, const std::string& spec) {
    Packet p;
    p.src = *parse_ip(from);
    p.dst = *parse_ip(to);
    p.sport = 49152;
    auto pkt = parse_packet_spec(spec, p);
    REQUIRE(pkt);
    std::vector<TargetView> views;
    for (const Target* t : targets("e"))
      views.push_back(compile_target(*t, Want{false, true}).view);
    std::ostringstream out;
    print_query(out, loaded.policy, sm, "e", *pkt,
                query(loaded.policy, manifest->environments.at("e"), views, *pkt));
    return out.str();
  }
};

} // namespace

TEST_CASE("query: packet specs") {
  Packet p;
  auto tcp = parse_packet_spec("tcp/443", p);
  REQUIRE(tcp);
  CHECK(tcp->proto == kProtoTcp);
  CHECK(tcp->dport == 443);
  auto icmp = parse_packet_spec("icmp/8/3", p);
  REQUIRE(icmp);
  CHECK(icmp->proto == kProtoIcmp);
  CHECK(icmp->sport == 8); // type and code sit in the port dimensions
  CHECK(icmp->dport == 3);
  CHECK(parse_packet_spec("proto/47", p)->proto == 47);
  for (const char* bad : {"tcp/0", "tcp/65536", "udp", "icmp/256", "proto/256", "sctp/1", "tcp/x"})
    CHECK_MESSAGE(!parse_packet_spec(bad, p), bad);
}

TEST_CASE("query: the first deciding flow of every target that sees the packet") {
  Project p;
  CHECK(p.ask("192.0.2.7", "198.51.100.1", "tcp/443") ==
        "packet: tcp 192.0.2.7 port 49152 -> 198.51.100.1 port 443\n"
        "host (input): allow by " +
            p.sm.where(p.loaded.policy.flows[1].loc) + " a: client -> web via https\n" +
            "edge (forward): allow by " + p.sm.where(p.loaded.policy.flows[1].loc) +
            " a: client -> web via https\n");
  // The deny comes first, although the allow's addresses contain the source too.
  std::string denied = p.ask("192.0.2.66", "198.51.100.1", "tcp/443");
  CHECK(denied.find("host (input): deny by") != std::string::npos);
  CHECK(denied.find("edge (forward): deny by") != std::string::npos);
  // Seen, but no flow matches: the default deny.
  CHECK(p.ask("192.0.2.7", "198.51.100.1", "udp/53")
            .find("host (input): deny (default deny: no flow matches)") != std::string::npos);
  // Web's own outbound packet: its host target sees it (output), the perimeter too.
  CHECK(p.ask("198.51.100.1", "192.0.2.7", "tcp/443").find("host (output): deny (default") !=
        std::string::npos);
  // Addresses no endpoint has: no target sees the packet.
  CHECK(p.ask("203.0.113.1", "203.0.113.2", "tcp/443") ==
        "packet: tcp 203.0.113.1 port 49152 -> 203.0.113.2 port 443\n"
        "no target of environment 'e' sees this packet\n");
}

namespace {

/// A two-way flow with two services, asked about the reverse direction of its second service.
struct TwoWay : Session {
  TempDir dir;
  TwoWay() {
    dir.write("p.policy", R"(
zone out; zone dmz;
role peer in out;
role web { interface ext in dmz; }
service sip = tcp 5061;
service stun "STUN" = udp 3478;
flow fed: peer <-> web.ext via sip, stun;
)");
    auto m = dir.write("m.toml", R"(
policies = ["p.policy"]
[environments.e.bind]
peer = ["192.0.2.0/25", "2001:db8:10::/48"]
"web.ext" = "198.51.100.10"
[[targets]]
name = "host"
backend = "nftables"
host = "web"
output = "h.nft"
[[targets]]
name = "edge"
backend = "iptables"
between = ["out", "dmz"]
output = "e/rules"
)");
    REQUIRE(open(m));
    REQUIRE(clean());
  }

  nlohmann::json ask(const std::string& from, const std::string& to, const std::string& spec,
                     QueryOutcome& outcome) {
    Packet p;
    p.src = *parse_ip(from);
    p.dst = *parse_ip(to);
    p.sport = 1234;
    auto pkt = parse_packet_spec(spec, p);
    REQUIRE(pkt);
    std::vector<TargetView> views;
    for (const Target* t : targets("e"))
      views.push_back(compile_target(*t, Want{false, true}).view);
    auto verdicts = query(loaded.policy, manifest->environments.at("e"), views, *pkt);
    outcome = query_outcome(verdicts);
    std::ostringstream out;
    print_query_json(out, loaded.policy, sm, "e", *pkt, verdicts);
    return nlohmann::json::parse(out.str());
  }
};

} // namespace

TEST_CASE("query --format json: the deciding flow's direction, service and bound ends") {
  TwoWay w;
  QueryOutcome o{};
  // From the web server to a peer: the flow's reverse direction, its second service.
  auto j = w.ask("198.51.100.10", "192.0.2.9", "udp/3478", o);
  CHECK(o == QueryOutcome::Allow);
  CHECK(j["version"] == 1);
  CHECK(j["environment"] == "e");
  CHECK(j["outcome"] == "allow");
  CHECK(j["packet"] ==
        nlohmann::json{{"family", "ipv4"},
                       {"src", "198.51.100.10"},
                       {"dst", "192.0.2.9"},
                       {"protocol", "udp"},
                       {"proto", 17},
                       {"sport", 1234},
                       {"dport", 3478},
                       {"text", "udp 198.51.100.10 port 1234 -> 192.0.2.9 port 3478"}});
  REQUIRE(j["verdicts"].size() == 2);
  auto host = j["verdicts"][0];
  CHECK(host["target"] == "host");
  CHECK(host["backend"] == "nftables");
  CHECK(host["scope"] == "host");
  CHECK(host["chain"] == "output");
  CHECK(host["verdict"] == "allow");
  CHECK(host["default_deny"] == false);
  auto f = host["flow"];
  CHECK(f["name"] == "fed");
  CHECK(f["summary"] == "fed: peer <-> web.ext via sip, stun");
  CHECK(f["line"] == 7);
  CHECK(f["col"] == 1);
  CHECK(f["file"].get<std::string>().find("p.policy") != std::string::npos);
  CHECK(f["reverse"] == true);
  CHECK(f["source"] == nlohmann::json{{"endpoint", "web.ext"},
                                      {"role", "web"},
                                      {"interface", "ext"},
                                      {"any", false},
                                      {"prefixes", {"198.51.100.10/32"}}});
  CHECK(f["destination"]["endpoint"] == "peer");
  CHECK(f["destination"]["interface"].is_null());
  CHECK(f["destination"]["prefixes"] == nlohmann::json{"192.0.2.0/25", "2001:db8:10::/48"});
  CHECK(f["service"]["name"] == "stun");
  CHECK(f["service"]["label"] == "STUN");
  CHECK(j["verdicts"][1]["target"] == "edge");
  CHECK(j["verdicts"][1]["chain"] == "forward");
  // The written direction, first service.
  j = w.ask("192.0.2.9", "198.51.100.10", "tcp/5061", o);
  CHECK(j["verdicts"][0]["chain"] == "input");
  CHECK(j["verdicts"][0]["flow"]["reverse"] == false);
  CHECK(j["verdicts"][0]["flow"]["service"]["name"] == "sip");
  // Seen but not allowed: the default deny, no flow; the outcome is deny.
  j = w.ask("192.0.2.9", "198.51.100.10", "tcp/22", o);
  CHECK(o == QueryOutcome::Deny);
  CHECK(j["outcome"] == "deny");
  CHECK(j["verdicts"][0]["verdict"] == "deny");
  CHECK(j["verdicts"][0]["default_deny"] == true);
  CHECK(j["verdicts"][0]["flow"].is_null());
  // ICMP: type and code, no ports. Nobody sees it: unseen, no verdicts.
  j = w.ask("203.0.113.1", "203.0.113.2", "icmp/8/0", o);
  CHECK(o == QueryOutcome::Unseen);
  CHECK(j["outcome"] == "unseen");
  CHECK(j["verdicts"].empty());
  CHECK(j["packet"]["type"] == 8);
  CHECK(j["packet"]["code"] == 0);
  CHECK(!j["packet"].contains("dport"));
}

TEST_CASE("query: Linux conntrack's own drops (the kernel harness judges this model)") {
  Packet p;
  p.src = *parse_ip("2001:db8::1");
  p.dst = *parse_ip("2001:db8::2");
  auto with = [&](uint8_t proto) {
    Packet q = p;
    q.proto = proto;
    return q;
  };
  // IPv6 extension headers and "no next header" as the protocol: no transport, no connection.
  for (int proto : {0, 43, 44, 51, 59, 60})
    CHECK(conntrack_drop(with(static_cast<uint8_t>(proto)), false) != nullptr);
  CHECK(conntrack_drop(with(kProtoTcp), true) == nullptr);
  CHECK(conntrack_drop(with(135), true) == nullptr); // mobility: tracked as a generic protocol
  // The other family's ICMP number passes nftables' exemption (both numbers, both families)
  // but not iptables' (`! -p ipv6-icmp` in the IPv6 file).
  CHECK(conntrack_drop(with(kProtoIcmp), false) == nullptr);
  CHECK(conntrack_drop(with(kProtoIcmp), true) != nullptr);

  Target nft, pf;
  nft.name = "n";
  nft.backend = "nftables";
  pf.name = "p";
  pf.backend = "pf";
  std::vector<QueryVerdict> v(2);
  v[0].target = &nft;
  v[1].target = &pf;
  mark_conntrack(v, with(59), [](const Target& t) {
    return t.backend == "nftables" ? Conntrack::Tracks : Conntrack::None;
  });
  CHECK(v[0].conntrack != nullptr);
  CHECK(v[1].conntrack == nullptr);
  CHECK(query_outcome(v) == QueryOutcome::Deny); // pf's default deny, and nft's conntrack
}

namespace {

/// An Edge pool behind a load balancer: the perimeter sees the VIP, the node its own address.
struct PoolProject : Session {
  TempDir dir;
  explicit PoolProject(const std::string& balance) {
    dir.write("p.policy", R"(
zone internet; zone perimeter;
role client in internet;
role scanner in internet;
role hlb in perimeter;
role edge in perimeter;
role edge_pool in perimeter {
  vip for edge;
  )" + balance + R"(
}
service https = tcp 443;
flow deny scan: scanner -> edge_pool via https;
flow web: client -> edge_pool via https;
)");
    auto m = dir.write("m.toml", R"(
policies = ["p.policy"]
[environments.e.bind]
client = "198.51.100.0/24"
scanner = "198.51.100.66"
hlb = "203.0.113.5"
edge = ["203.0.113.21", "203.0.113.22"]
edge_pool = "203.0.113.10"
[[targets]]
name = "edge-host"
backend = "nftables"
host = "edge"
output = "h.nft"
[[targets]]
name = "perimeter"
backend = "iptables"
between = ["internet", "perimeter"]
output = "p/rules"
)");
    REQUIRE(open(m));
    REQUIRE(clean());
  }

  std::string ask(const std::string& from, const std::string& to, const std::string& spec) {
    Packet p;
    p.src = *parse_ip(from);
    p.dst = *parse_ip(to);
    p.sport = 49152;
    auto pkt = parse_packet_spec(spec, p);
    REQUIRE(pkt);
    std::vector<TargetView> views;
    for (const Target* t : targets("e"))
      views.push_back(compile_target(*t, Want{false, true}).view);
    const Environment& env = manifest->environments.at("e");
    std::ostringstream out;
    print_query(out, loaded.policy, sm, "e", *pkt, query(loaded.policy, env, views, *pkt),
                query_balanced(loaded.policy, env, views, *pkt));
    return out.str();
  }
};

} // namespace

// The load-balanced TCP 443 the perimeter allows on the VIP: before VIPs, the node's host
// firewall dropped it (no flow named 'edge'); now the query follows it to every node address,
// where the node's firewall accepts it from the source the balancing mode gives.
TEST_CASE("query: through a VIP to each node, source kept") {
  PoolProject p("balance keeps-source;");
  std::string at = p.sm.where(p.loaded.policy.flows[1].loc);
  CHECK(p.ask("198.51.100.7", "203.0.113.10", "tcp/443") ==
        "packet: tcp 198.51.100.7 port 49152 -> 203.0.113.10 port 443\n"
        "perimeter (forward): allow by " +
            at + " web: client -> edge_pool via https\n" +
            "balanced by VIP 'edge_pool' to node 'edge' (source kept): tcp 198.51.100.7 port "
            "49152 -> 203.0.113.21 port 443\n"
            "  edge-host (input): allow by " +
            at + " web: client -> edge_pool via https\n" +
            "balanced by VIP 'edge_pool' to node 'edge' (source kept): tcp 198.51.100.7 port "
            "49152 -> 203.0.113.22 port 443\n"
            "  edge-host (input): allow by " +
            at + " web: client -> edge_pool via https\n");
  // The deny toward the VIP reaches the nodes too: they see the scanner's own address.
  std::string scan = p.ask("198.51.100.66", "203.0.113.10", "tcp/443");
  CHECK(scan.find("perimeter (forward): deny by") != std::string::npos);
  CHECK(scan.find("  edge-host (input): deny by") != std::string::npos);
  CHECK(scan.find("edge-host (input): allow") == std::string::npos);
  // A port no flow gives: the perimeter drops it, and so would the nodes.
  CHECK(p.ask("198.51.100.7", "203.0.113.10", "tcp/80")
            .find("  edge-host (input): deny (default deny: no flow matches)") !=
        std::string::npos);
}

TEST_CASE("query: through a VIP to each node, source translated") {
  PoolProject p("balance snat from hlb;");
  std::string at = p.sm.where(p.loaded.policy.flows[1].loc);
  std::string out = p.ask("198.51.100.7", "203.0.113.10", "tcp/443");
  CHECK(out.find("balanced by VIP 'edge_pool' to node 'edge' (source translated to hlb): tcp "
                 "203.0.113.5 port 49152 -> 203.0.113.21 port 443\n"
                 "  edge-host (input): allow by " +
                 at + " web: client -> edge_pool via https\n") != std::string::npos);
  // The node cannot tell the scanner from a client: the perimeter alone enforces the deny.
  std::string scan = p.ask("198.51.100.66", "203.0.113.10", "tcp/443");
  CHECK(scan.find("perimeter (forward): deny by") != std::string::npos);
  CHECK(scan.find("  edge-host (input): allow by") != std::string::npos);
  // The node's firewall accepts the balancer, not a client that skips the VIP.
  CHECK(p.ask("198.51.100.7", "203.0.113.21", "tcp/443")
            .find("edge-host (input): deny (default deny: no flow matches)") != std::string::npos);
}
