#include "model.h"

#include <cstdio>

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
  auto resolve = [&](Endpoint& e) {
    auto it = role_index.find(e.role);
    if (it == role_index.end())
      return;
    e.role_id = static_cast<int32_t>(it->second);
    const Role& r = roles[it->second];
    for (size_t i = 0; i < r.interfaces.size(); ++i)
      if (r.interfaces[i].name == e.iface)
        e.iface_id = static_cast<int32_t>(i);
  };
  for (Flow& f : flows) {
    resolve(f.src);
    resolve(f.dst);
    for (ServiceRef& s : f.services)
      if (auto it = service_index.find(s.name); it != service_index.end())
        s.service_id = static_cast<int32_t>(it->second);
  }
}

int32_t Policy::endpoint_id(const Endpoint& e) const {
  if (e.role_id < 0 || static_cast<size_t>(e.role_id) >= endpoint_base_.size() ||
      (!e.iface.empty() && e.iface_id < 0))
    return -1;
  return endpoint_base_[static_cast<size_t>(e.role_id)] + 1 + e.iface_id;
}

} // namespace portolan
