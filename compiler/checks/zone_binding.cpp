// zone-binding: a role placed in one zone bound to a prefix that contains an address of a role
// placed in another zone. Perimeters are chosen by the roles' zones, so such a binding sends
// the other role's packets through the wrong firewalls (or none).
#include "check.h"

#include <algorithm>

namespace portolan {
namespace {

class ZoneBindingCheck : public Check {
public:
  const char* name() const override { return "zone-binding"; }
  std::vector<std::string> codes() const override { return {"zone-binding"}; }
  bool needs_targets() const override { return true; }

  void run(AnalysisContext& ctx) const override {
    const Policy& p = ctx.policy;
    for (const Environment* env : ctx.environments()) {
      struct Entry {
        Prefix prefix;
        const std::string* key;
        std::string role, zone;
        const Binding* binding;
      };
      std::vector<Entry> entries[2];
      for (const auto& [key, b] : env->bind) {
        if (b.any)
          continue;
        Endpoint e;
        auto dot = key.find('.');
        e.role = key.substr(0, dot);
        if (dot != std::string::npos)
          e.iface = key.substr(dot + 1);
        const Role* r = p.find_role(e.role);
        if (!r)
          continue;
        std::string zone = r->zone;
        if (!e.iface.empty())
          if (const Interface* i = r->find_interface(e.iface); i && !i->zone.empty())
            zone = i->zone;
        for (const Prefix& x : b.prefixes)
          if (x.len > 0) // a /0 is "every address", as `any`: no zone to contradict
            entries[x.family() == Family::V4 ? 0 : 1].push_back({x, &key, e.role, zone, &b});
      }
      std::set<std::pair<std::string, std::string>> said;
      for (auto& list : entries) {
        // Prefixes nest or are disjoint: sorted by first address, widest first, the open
        // prefixes on a stack are exactly those containing the current one.
        std::sort(list.begin(), list.end(), [](const Entry& a, const Entry& b) {
          return a.prefix.addr < b.prefix.addr ||
                 (a.prefix.addr == b.prefix.addr && a.prefix.len < b.prefix.len);
        });
        std::vector<const Entry*> open;
        for (const Entry& cur : list) {
          while (!open.empty() && !open.back()->prefix.contains(cur.prefix))
            open.pop_back();
          for (const Entry* outer : open) {
            if (outer->role == cur.role || outer->zone == cur.zone || outer->zone.empty() ||
                cur.zone.empty())
              continue;
            if (!said.insert({*outer->key, *cur.key}).second)
              continue;
            ctx.report("zone-binding", outer->binding->loc,
                       "'" + *outer->key + "' (zone '" + outer->zone + "') is bound to " +
                           outer->prefix.str() + ", which contains " + cur.prefix.str() + " of '" +
                           *cur.key + "' (zone '" + cur.zone + "') in environment '" + env->name +
                           "'")
                .notes.push_back({cur.binding->loc, "'" + *cur.key + "' bound here"});
          }
          open.push_back(&cur);
        }
      }
    }
  }
};

} // namespace

std::unique_ptr<Check> make_zone_binding_check() {
  return std::make_unique<ZoneBindingCheck>();
}

} // namespace portolan
