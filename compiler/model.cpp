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

std::string Policy::zone_of(const Endpoint& e) const {
  const Role* r = find_role(e.role);
  if (!r)
    return {};
  if (!e.iface.empty())
    if (const Interface* i = r->find_interface(e.iface); i && !i->zone.empty())
      return i->zone;
  return r->zone;
}

} // namespace portolan
