#include "model.h"

#include <algorithm>
#include <cstdio>
#include <functional>

namespace portolan {

const Interface* Role::find_interface(const std::string& n) const {
  for (const auto& i : interfaces)
    if (i.name == n)
      return &i;
  return nullptr;
}

std::string Date::str() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", year, month, day);
  return buf;
}

std::optional<Date> Date::parse(const std::string& s) {
  int y = 0, m = 0, d = 0;
  if (s.size() != 10 || s[4] != '-' || s[7] != '-')
    return std::nullopt;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (s[i] < '0' || s[i] > '9')
      return std::nullopt;
  y = std::stoi(s.substr(0, 4));
  m = std::stoi(s.substr(5, 2));
  d = std::stoi(s.substr(8, 2));
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1)
    return std::nullopt;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  int max = days[m - 1] + (m == 2 && leap ? 1 : 0);
  if (d > max)
    return std::nullopt;
  return Date{y, m, d};
}

std::string Endpoint::str() const {
  switch (kind) {
  case Kind::Any:
    return "any";
  case Kind::Group:
    return role;
  case Kind::List: {
    std::string s = "{";
    for (size_t i = 0; i < items.size(); ++i)
      s += (i ? ", " : "") + items[i].str();
    return s + "}";
  }
  case Kind::Single:
    break;
  }
  return iface.empty() ? role : role + "." + iface;
}

std::vector<const Endpoint*> Endpoint::concrete() const {
  if (!is_set())
    return {this};
  std::vector<const Endpoint*> out;
  for (const Endpoint& m : members)
    out.push_back(&m);
  return out;
}

std::vector<std::string> Condition::features() const {
  std::vector<std::string> out;
  std::function<void(const Condition&)> walk = [&](const Condition& c) {
    if (c.op == Op::Feature) {
      if (std::find(out.begin(), out.end(), c.feature) == out.end())
        out.push_back(c.feature);
      return;
    }
    for (const Condition& a : c.args)
      walk(a);
  };
  walk(*this);
  return out;
}

std::string Condition::str() const {
  // Binding strength: feature 3, not 2, and 1, or 0; a weaker operand gets parentheses.
  auto strength = [](const Condition& c) {
    return c.op == Op::Feature ? 3 : c.op == Op::Not ? 2 : c.op == Op::And ? 1 : 0;
  };
  auto operand = [&](const Condition& c, int min) {
    return strength(c) < min ? "(" + c.str() + ")" : c.str();
  };
  switch (op) {
  case Op::Feature:
    return feature;
  case Op::Not:
    return "not " + operand(args[0], 2);
  case Op::And:
  case Op::Or: {
    std::string s;
    for (size_t i = 0; i < args.size(); ++i)
      s += (i ? (op == Op::And ? " and " : " or ") : "") + operand(args[i], strength(*this) + 1);
    return s;
  }
  }
  return feature;
}

std::string Flow::summary() const {
  std::string s;
  if (action == Action::Deny)
    s += "deny ";
  if (!group.empty())
    s += group + ": ";
  s += src.str() + (bidirectional ? " <-> " : " -> ") + dst.str() + " via ";
  for (size_t i = 0; i < services.size(); ++i)
    s += (i ? ", " : "") + services[i].name;
  return s;
}

const Role* Policy::find_role(const std::string& n) const {
  auto it = role_index.find(n);
  return it == role_index.end() ? nullptr : &roles[it->second];
}

const Service* Policy::find_service(const std::string& n) const {
  auto it = service_index.find(n);
  return it == service_index.end() ? nullptr : &services[it->second];
}

const std::string& Policy::zone_of(const Endpoint& e) const {
  static const std::string none;
  if (e.kind != Endpoint::Kind::Single)
    return none;
  const Role* r = e.role_id >= 0 ? &roles[static_cast<size_t>(e.role_id)] : find_role(e.role);
  if (!r)
    return none;
  if (!e.iface.empty()) {
    const Interface* i = e.role_id >= 0 && e.iface_id >= 0
                             ? &r->interfaces[static_cast<size_t>(e.iface_id)]
                             : r->find_interface(e.iface);
    if (i && !i->zone.empty())
      return i->zone;
  }
  return r->zone;
}

void Policy::index_endpoints() {
  endpoint_base_.clear();
  int32_t next = 0;
  for (const Role& r : roles) {
    endpoint_base_.push_back(next);
    next += 1 + static_cast<int32_t>(r.interfaces.size());
  }
  endpoint_count_ = static_cast<size_t>(next);
  std::function<void(Endpoint&)> resolve = [&](Endpoint& e) {
    for (Endpoint& m : e.members)
      resolve(m);
    for (Endpoint& m : e.items)
      resolve(m);
    if (e.kind != Endpoint::Kind::Single)
      return;
    auto it = role_index.find(e.role);
    if (it == role_index.end())
      return;
    e.role_id = static_cast<int32_t>(it->second);
    const Role& r = roles[it->second];
    for (size_t i = 0; i < r.interfaces.size(); ++i)
      if (r.interfaces[i].name == e.iface)
        e.iface_id = static_cast<int32_t>(i);
  };
  auto resolve_services = [&](std::vector<ServiceRef>& refs) {
    for (ServiceRef& s : refs)
      if (auto it = service_index.find(s.name); it != service_index.end())
        s.service_id = static_cast<int32_t>(it->second);
  };
  for (Role& r : roles)
    if (r.vip) {
      for (Endpoint& n : r.vip->nodes)
        resolve(n);
      if (r.vip->snat_from)
        resolve(*r.vip->snat_from);
    }
  for (Group& g : groups)
    for (Endpoint& m : g.members)
      resolve(m);
  for (Flow& f : flows) {
    resolve(f.src);
    resolve(f.dst);
    if (f.maps)
      resolve(f.maps->dst);
    resolve_services(f.services);
  }
  for (Expectation& e : expectations) {
    for (ExpectSide* side : {&e.src, &e.dst})
      if (side->kind == ExpectSide::Kind::Endpoint)
        resolve(side->endpoint);
    resolve_services(e.services);
  }
}

int32_t Policy::endpoint_id(const Endpoint& e) const {
  if (e.role_id < 0 || static_cast<size_t>(e.role_id) >= endpoint_base_.size() ||
      (!e.iface.empty() && e.iface_id < 0))
    return -1;
  return endpoint_base_[static_cast<size_t>(e.role_id)] + 1 + e.iface_id;
}

} // namespace portolan

namespace portolan {
namespace {

std::string ports_str(const std::vector<PortRange>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    s += (i ? ", " : "") + std::to_string(v[i].lo);
    if (v[i].hi != v[i].lo)
      s += "-" + std::to_string(v[i].hi);
  }
  return s;
}

/// A spec as the policy writes it: "tcp 80, 443 sport 1024-65535", "icmp type 8", "proto 47".
std::string spec_str(const ServiceSpec& spec) {
  if (auto* p = std::get_if<PortMatch>(&spec)) {
    std::string s = p->proto == kProtoTcp ? "tcp" : "udp";
    if (!p->dports.empty())
      s += " " + ports_str(p->dports);
    if (!p->sports.empty())
      s += " sport " + ports_str(p->sports);
    return s;
  }
  if (auto* i = std::get_if<IcmpMatch>(&spec)) {
    std::string s = i->proto == kProtoIcmp ? "icmp" : "icmpv6";
    if (i->type)
      s += " type " + std::to_string(*i->type);
    if (i->code)
      s += " code " + std::to_string(*i->code);
    return s;
  }
  if (auto* p = std::get_if<ProtoMatch>(&spec))
    return "proto " + std::to_string(p->number);
  return "any";
}

} // namespace

std::string ExpectSide::str() const {
  switch (kind) {
  case Kind::Any:
    return "any";
  case Kind::Endpoint:
    return endpoint.str();
  case Kind::Address:
    return prefix.str();
  }
  return "any";
}

std::string Expectation::summary() const {
  std::string s = action == Action::Allow ? "allow " : "deny ";
  s += src.str() + (bidirectional ? " <-> " : " -> ") + dst.str();
  if (!services.empty()) {
    s += " via ";
    for (size_t i = 0; i < services.size(); ++i)
      s += (i ? ", " : "") + services[i].name;
  } else {
    s += " ";
    for (size_t i = 0; i < specs.size(); ++i)
      s += (i ? ", " : "") + spec_str(specs[i]);
  }
  return s;
}

} // namespace portolan
