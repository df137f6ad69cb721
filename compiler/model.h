// The policy model: what a set of .policy files says, with every element's source location.
// Built by the parser (compiler/parse/), resolved by the loader; nothing here knows ANTLR.
#pragma once

#include "net.h"
#include "source.h"
#include "vocab.h"

#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace portolan {

/// An optional T kept on the heap and deep-copied with its owner: what `std::optional<T>` is
/// (`if (b)`, `b->x`, `*b`, `b = T{...}`), but one pointer wide, for members that are large
/// and rarely set (a flow's `maps` and `when`), so every flow does not pay for them.
template <class T>
class Box {
public:
  Box() = default;
  Box(const T& v) : p_(std::make_unique<T>(v)) {}
  Box(T&& v) : p_(std::make_unique<T>(std::move(v))) {}
  Box(const Box& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
  Box(Box&&) noexcept = default;
  Box& operator=(const Box& o) {
    if (this != &o)
      p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
    return *this;
  }
  Box& operator=(Box&&) noexcept = default;
  Box& operator=(T v) {
    p_ = std::make_unique<T>(std::move(v));
    return *this;
  }
  ~Box() = default;

  explicit operator bool() const { return p_ != nullptr; }
  bool has_value() const { return p_ != nullptr; }
  T& operator*() { return *p_; }
  const T& operator*() const { return *p_; }
  T* operator->() { return p_.get(); }
  const T* operator->() const { return p_.get(); }
  void reset() { p_.reset(); }

private:
  std::unique_ptr<T> p_;
};

/// A vector kept behind one pointer (null while empty) and deep-copied with its owner: 8 bytes
/// where `std::vector` takes 24, for members that are almost always empty (an endpoint's list
/// items and members, a flow's tags and suppressions).
template <class T>
class BoxVec {
public:
  BoxVec() = default;
  BoxVec(const BoxVec& o) : p_(o.p_ ? std::make_unique<std::vector<T>>(*o.p_) : nullptr) {}
  BoxVec(BoxVec&&) noexcept = default;
  BoxVec& operator=(const BoxVec& o) {
    if (this != &o)
      p_ = o.p_ ? std::make_unique<std::vector<T>>(*o.p_) : nullptr;
    return *this;
  }
  BoxVec& operator=(BoxVec&&) noexcept = default;
  BoxVec& operator=(std::vector<T> v) {
    if (v.empty())
      p_.reset();
    else
      p_ = std::make_unique<std::vector<T>>(std::move(v));
    return *this;
  }
  ~BoxVec() = default;

  /// The elements as a vector (a shared empty one while none).
  const std::vector<T>& vec() const {
    static const std::vector<T> none;
    return p_ ? *p_ : none;
  }
  operator const std::vector<T>&() const { return vec(); }
  friend bool operator==(const BoxVec& a, const BoxVec& b) { return a.vec() == b.vec(); }
  friend bool operator==(const BoxVec& a, const std::vector<T>& b) { return a.vec() == b; }
  size_t size() const { return p_ ? p_->size() : 0; }
  bool empty() const { return !p_ || p_->empty(); }
  T* begin() { return p_ ? p_->data() : nullptr; }
  T* end() { return p_ ? p_->data() + p_->size() : nullptr; }
  const T* begin() const { return p_ ? p_->data() : nullptr; }
  const T* end() const { return p_ ? p_->data() + p_->size() : nullptr; }
  T& operator[](size_t i) { return (*p_)[i]; }
  const T& operator[](size_t i) const { return (*p_)[i]; }
  void push_back(T v) {
    if (!p_)
      p_ = std::make_unique<std::vector<T>>();
    p_->push_back(std::move(v));
  }
  void clear() { p_.reset(); }

private:
  std::unique_ptr<std::vector<T>> p_;
};

struct Zone {
  std::string name, desc;
  SourceLoc loc;
};

struct Interface {
  std::string name, desc, zone; ///< zone empty: inherits the role's
  SourceLoc loc, zone_loc;
};

/// Where traffic starts or ends: a role or one of its interfaces, a named group of them
/// (`group sip_servers = director, fe;`), an inline list (`{director, fe}`), or `any` address.
struct Endpoint {
  enum class Kind : uint8_t { Single, Group, List, Any };
  Kind kind = Kind::Single;
  std::string role, iface;  ///< Single: iface empty = the whole role; Group: role = group name
  BoxVec<Endpoint> items;   ///< List: the items as written (each Single or Group)
  BoxVec<Endpoint> members; ///< Group, List: the roles/interfaces it stands for (loader)
  SourceLoc loc, role_loc, iface_loc;
  int32_t role_id = -1;  ///< set by the loader: index into Policy::roles
  int32_t iface_id = -1; ///< set by the loader: index into the role's interfaces, -1 = whole
  /// "edge.access", "sip_servers", "{director, fe}", "any".
  std::string str() const;
  /// The single endpoints this one stands for: itself (a role, an interface, `any`), or a
  /// group's or list's members (each once, in written order).
  std::vector<const Endpoint*> concrete() const;
  bool is_any() const { return kind == Kind::Any; }
  bool is_set() const { return kind == Kind::Group || kind == Kind::List; }
  /// A role (iface empty) or one of its interfaces, without locations.
  static Endpoint of(std::string role, std::string iface = "") {
    Endpoint e;
    e.role = std::move(role);
    e.iface = std::move(iface);
    return e;
  }
};

/// How a load balancer hands a VIP's connections to its nodes, as the nodes see them.
enum class Balance {
  KeepsSource, ///< the node sees the client's address
  Snat,        ///< the balancer translates the source to its own address (`from`)
};

/// A role that is a load-balanced virtual address (`vip for edge; balance snat from hlb;`):
/// flows to it are filtered on its own address by perimeters, and reach each node's host
/// firewall from the client (keeps-source) or from the balancer's address (snat).
struct Vip {
  std::vector<Endpoint> nodes;
  Balance balance = Balance::KeepsSource;
  bool has_balance = false;
  std::optional<Endpoint> snat_from; ///< Snat: the balancer's address
  SourceLoc loc, balance_loc;        ///< the `vip` and `balance` keywords
};

struct Role {
  std::string name, desc, zone;
  std::vector<Interface> interfaces; ///< empty: one implicit interface, the role itself
  std::optional<Vip> vip;            ///< set: the role is a VIP in front of nodes
  SourceLoc loc, zone_loc;
  const Interface* find_interface(const std::string& n) const;
};

/// tcp/udp with destination ports (empty: all) and optional source ports (empty: all).
struct PortMatch {
  uint8_t proto = kProtoTcp;
  std::vector<PortRange> dports, sports;
};
/// icmp/icmpv6 with an optional type and code.
struct IcmpMatch {
  uint8_t proto = kProtoIcmp;
  std::optional<uint8_t> type, code;
};
/// Any other IP protocol by number (47 GRE, 50 ESP...).
struct ProtoMatch {
  uint8_t number = 0;
};
/// Every IP protocol.
struct AnyMatch {};

using ServiceSpec = std::variant<PortMatch, IcmpMatch, ProtoMatch, AnyMatch>;

struct Service {
  std::string name, label;
  std::vector<ServiceSpec> specs;
  std::vector<SourceLoc> spec_locs; ///< parallel to specs
  SourceLoc loc;
};

struct Feature {
  std::string name, desc;
  SourceLoc loc;
};

struct Date {
  int year = 0, month = 0, day = 0;
  auto operator<=>(const Date&) const = default;
  std::string str() const;
  /// Parses YYYY-MM-DD and rejects impossible dates (2013-02-30).
  static std::optional<Date> parse(const std::string& s);
};

/// `group NAME "label"? = member, member;` a named set of roles, interfaces and other groups.
struct Group {
  std::string name, label;
  std::vector<Endpoint> items;   ///< as written
  std::vector<Endpoint> members; ///< resolved (loader): roles and interfaces, each once
  SourceLoc loc;
};

struct Suppression {
  std::string code, reason;
  SourceLoc loc;
};

struct ServiceRef {
  std::string name;
  SourceLoc loc;
  int32_t service_id = -1; ///< set by the loader: index into Policy::services
};

/// `maps to ENDPOINT tcp|udp PORT`: the flow's one published port is forwarded (destination NAT
/// with port, at the perimeter the flow crosses) to another endpoint and port (issue 12 item 6).
struct PortMap {
  Endpoint dst;
  uint8_t proto = kProtoTcp;
  uint16_t port = 0;
  SourceLoc loc, port_loc; ///< `maps`, the port
};

/// A flow's `when`: a feature, or `not`, `and`, `or` of conditions.
struct Condition {
  enum class Op : uint8_t { Feature, Not, And, Or };
  Op op = Op::Feature;
  std::string feature;         ///< Op::Feature
  std::vector<Condition> args; ///< Not: one; And, Or: two or more
  SourceLoc loc;
  /// Whether the condition holds when exactly the features `on` says are on.
  template <class Set>
  bool holds(const Set& on) const {
    switch (op) {
    case Op::Feature:
      return on.count(feature) > 0;
    case Op::Not:
      return !args[0].holds(on);
    case Op::And:
      for (const Condition& c : args)
        if (!c.holds(on))
          return false;
      return true;
    case Op::Or:
      for (const Condition& c : args)
        if (c.holds(on))
          return true;
      return false;
    }
    return false;
  }
  /// The features it names, in first-use order, each once.
  std::vector<std::string> features() const;
  /// As the policy would write it, with the parentheses precedence needs: "a or (b and not c)".
  std::string str() const;
};

struct Flow {
  std::string group; ///< the seed's "Access", "A/V"; may be empty
  Action action = Action::Allow;
  bool bidirectional = false;
  bool required = false;
  Endpoint src, dst;
  std::vector<ServiceRef> services;
  Box<PortMap> maps; ///< a port mapping: `src -> dst` is the published front half
  std::string note;
  Box<Condition> when;
  SourceLoc when_loc; ///< the whole condition
  std::optional<Date> expires;
  SourceLoc expires_loc;
  BoxVec<std::string> tags;
  BoxVec<Suppression> suppressions;
  SourceLoc loc;         ///< the `flow` keyword
  uint32_t end_line = 0; ///< last line of the flow's text (its ';' or '}')

  /// "access: pic_partner <-> edge.access via sip_mtls" (deny flows say so).
  std::string summary() const;
};
// A vector<Flow> that grows moves its flows; a throwing move would make it copy every one.
static_assert(std::is_nothrow_move_constructible_v<Flow>);

/// One side of an expectation: every address, a role or interface (bound per environment), or a
/// literal address or prefix.
struct ExpectSide {
  enum class Kind { Any, Endpoint, Address } kind = Kind::Any;
  Endpoint endpoint; ///< Kind::Endpoint
  Prefix prefix;     ///< Kind::Address (a host address is a full-length prefix)
  SourceLoc loc;
  std::string str() const;
};

/// `expect allow|deny SRC -> DST via SERVICES | SPECS ["note"] [in ENV, ...] [on TARGET, ...];`
/// What must stay true of the packets between two sides, judged by `check` in every target
/// that sees them (compiler/checks/expect.cpp).
struct Expectation {
  Action action = Action::Allow;
  ExpectSide src, dst;
  bool bidirectional = false;
  std::vector<ServiceRef> services; ///< `via NAME, ...`; empty when specs are inline
  std::vector<ServiceSpec> specs;   ///< inline `tcp 22, udp 53`
  std::string note;
  std::vector<std::string> envs, targets; ///< empty: every environment / target
  std::vector<SourceLoc> env_locs, target_locs;
  SourceLoc loc; ///< the `expect` keyword

  /// "allow client -> edge.access via sip_tls", "deny any -> edge.access tcp 22".
  std::string summary() const;
};

struct PolicyHeader {
  std::string name, title;
  std::vector<std::string> references;
  SourceLoc loc;
};

struct Import {
  std::string path;
  SourceLoc loc;
};

/// The declarations of one file, as parsed.
struct PolicyFile {
  uint32_t file_id = 0;
  std::vector<PolicyHeader> headers;
  std::vector<Import> imports;
  std::vector<Zone> zones;
  std::vector<Role> roles;
  std::vector<Service> services;
  std::vector<Feature> features;
  std::vector<Group> groups;
  std::vector<Flow> flows;
  std::vector<Suppression> suppressions;
  std::vector<Expectation> expectations;
};

/// All files merged (imports first, in a stable order) and names resolved.
struct Policy {
  std::vector<PolicyHeader> headers;
  std::vector<Zone> zones;
  std::vector<Role> roles;
  std::vector<Service> services;
  std::vector<Feature> features;
  std::vector<Group> groups;
  std::vector<Flow> flows;
  std::vector<Suppression> suppressions;
  std::vector<Expectation> expectations;
  std::map<std::string, size_t> zone_index, role_index, service_index, feature_index, group_index;

  const Role* find_role(const std::string& n) const;
  const Service* find_service(const std::string& n) const;
  /// The service a resolved reference names (by index; by name when unresolved).
  const Service* service_of(const ServiceRef& r) const {
    return r.service_id >= 0 ? &services[static_cast<size_t>(r.service_id)] : find_service(r.name);
  }
  /// A dense id per endpoint (each role, and each of its interfaces), for per-endpoint caches;
  /// -1 when the endpoint is unresolved.
  int32_t endpoint_id(const Endpoint& e) const;
  size_t endpoint_count() const { return endpoint_count_; }
  /// Fills the ids above; the loader calls it after resolving names.
  void index_endpoints();
  /// The zone of an endpoint: the interface's, else the role's ("" when neither says).
  const std::string& zone_of(const Endpoint& e) const;

private:
  std::vector<int32_t> endpoint_base_;
  size_t endpoint_count_ = 0;
};

} // namespace portolan
