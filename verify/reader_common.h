// Shared pieces of the round-trip readers (vendor text back to packet sets, following each
// vendor's documented semantics, not our writer): tokenising vendor text and turning matches
// into packet sets with first-match semantics. A library of its own, outside tests/, because
// the round-trip tests and bench/same both read generated configs with it.
#pragma once

#include "diagnostic.h"
#include "packetspace.h"
#include "vocab.h"

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace portolan::roundtrip {

/// Packets each chain lets open a connection, as read back from vendor text.
using ChainPackets = std::map<Chain, PacketSet>;

/// Thrown when text outside the emitted subset shows up: the reader refuses to guess.
struct ReadError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Splits on blanks, keeping "quoted strings" (with their quotes) and { } , as tokens.
std::vector<std::string> tokenize(const std::string& line);

/// One match in the five dimensions; an unset dimension matches everything.
struct Match {
  std::optional<std::vector<AddrRange>> src, dst;
  std::optional<Family> family;
  std::optional<uint8_t> proto;
  std::vector<PortRange> sports, dports; ///< empty: all
  PacketSet packets() const;
};

/// One address translation read back (issue 12 item 4), as the vendor documents it: a
/// destination translation rewrites the destination `match` to `to` in connections from `peer`
/// (nullopt: any source); a source translation rewrites the source `match` to `to` in
/// connections to `peer`. The first matching translation of each kind applies.
struct ReadNat {
  bool destination = true;
  IpAddr match, to;
  std::optional<std::vector<AddrRange>> peer;
  /// A port mapping: only `proto` to `port` is translated, to `to_port` (0: every packet).
  uint8_t proto = 0;
  uint16_t port = 0, to_port = 0;
  bool mapping() const { return port != 0; }
};

/// A filter rule's condition on a connection's original tuple (nft `ct original ip daddr A ct
/// original proto-dst P`, iptables `-m conntrack --ctorigdst A --ctorigdstport P`, pf
/// `tagged` with the tag a port mapping's rdr-to rule sets): it matches translated packets only
/// of connections first sent to A port P.
struct OrigMatch {
  IpAddr dst;
  uint16_t port = 0;
  bool operator==(const OrigMatch&) const = default;
};

/// What a rule matching `m` with original-tuple condition `o` matches among packets nothing
/// translated (their original tuple is their own).
PacketSet untranslated_part(const PacketSet& m, const OrigMatch& o);
/// The packets port mapping `n` translates, as they are sent (before translation).
PacketSet mapping_region(const ReadNat& n);
/// The same packets as the filter sees them after translation.
PacketSet mapping_image(const ReadNat& n);
/// The packets of mapping_region(n) whose translation `allowed_post` holds: a filter chain
/// evaluated on translated packets, read back as the packets a client sends.
PacketSet mapping_preimage(const ReadNat& n, const PacketSet& allowed_post);

/// What a connection's first packet becomes through the translations read (the first one of
/// each kind that matches); the packet itself when none matches.
Packet apply_nat(const std::vector<ReadNat>& nats, const Packet& p);

/// First-match evaluation with a default drop: what the accepted rules let through.
class FirstMatch {
public:
  void rule(const PacketSet& m, bool accept);
  const PacketSet& allowed() const { return allowed_; }
  /// What some rule decided (accept or drop); the rest falls through.
  const PacketSet& covered() const { return covered_; }
  /// For a chain whose policy accepts: what no rule decided passes too.
  PacketSet allowed_with_default_accept() const { return allowed_.unite(covered_.complement()); }

private:
  PacketSet covered_, allowed_;
};

/// First packets that Linux conntrack marks `invalid` (nf_conntrack_proto_icmp.c,
/// nf_conntrack_proto_icmpv6.c): it creates state only for the ICMP queries echo, timestamp,
/// information and address-mask request (IPv4: 8, 13, 15, 17) and echo and node-information
/// query (IPv6: 128, 139); ICMP errors without the connection they quote, and every other ICMP
/// type, are invalid. IPv6 MLD and neighbour discovery (130-136, 143) are untracked, not
/// invalid. The readers' packets open connections, so TCP and UDP first packets are new.
PacketSet conntrack_invalid_first_packets();

std::vector<PortRange> parse_ports(const std::string& text, char range_sep);

/// "" when the output allows exactly what the policy allows; else a packet on each side that
/// differs, so a failing round trip names its witness.
std::string difference(const PacketSet& got, const PacketSet& want);

/// Host plumbing the engine does not describe: IPv6 neighbour discovery (ICMPv6 types 133-136,
/// any code, any addresses), which host targets accept on input and output unless
/// icmpv6_nd = false (docs/backends.md). Readers read the ND rule like any other rule; tests
/// add this set to the engine's on input and output, so an ND rule that also forwards shows.
PacketSet nd_plumbing();

/// Whether the diagnostics hold errors and all of them are `unrealizable` (the backend refused a
/// flow it cannot express exactly): adversarial random policies draw such flows on purpose.
bool only_unrealizable(const Diagnostics& d);

/// Diagnostics as "code@line: message" lines, for test failure messages.
std::string messages(const Diagnostics& d);
std::vector<AddrRange> parse_prefixes(const std::vector<std::string>& texts);

} // namespace portolan::roundtrip
