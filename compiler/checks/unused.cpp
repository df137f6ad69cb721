// unused: roles, interfaces, services, features and zones no flow (or target) uses.
#include "check.h"

namespace portolan {
namespace {

class UnusedCheck : public Check {
public:
  const char* name() const override { return "unused"; }
  std::vector<std::string> codes() const override { return {"unused"}; }

  void run(AnalysisContext& ctx) const override {
    const Policy& p = ctx.policy;
    std::set<std::string> roles, endpoints, services, features, zones;
    for (const Flow& f : p.flows) {
      for (const Endpoint* e : {&f.src, &f.dst}) {
        roles.insert(e->role);
        endpoints.insert(e->str());
      }
      for (const ServiceRef& s : f.services)
        services.insert(s.name);
      if (f.when)
        features.insert(*f.when);
    }
    // An expectation names what it judges: its roles and services are in use.
    for (const Expectation& e : p.expectations) {
      for (const ExpectSide* s : {&e.src, &e.dst})
        if (s->kind == ExpectSide::Kind::Endpoint) {
          roles.insert(s->endpoint.role);
          endpoints.insert(s->endpoint.str());
        }
      for (const ServiceRef& s : e.services)
        services.insert(s.name);
    }
    for (const Role& r : p.roles) {
      zones.insert(r.zone);
      for (const Interface& i : r.interfaces)
        zones.insert(i.zone);
    }
    if (ctx.manifest)
      for (const Target& t : ctx.manifest->targets)
        for (const auto& z : t.between)
          zones.insert(z);
    for (const Role& r : p.roles) {
      if (!roles.count(r.name)) {
        ctx.report("unused", r.loc, "role '" + r.name + "' is used by no flow");
        continue;
      }
      if (endpoints.count(r.name))
        continue; // the whole role is an endpoint: every interface is in use
      for (const Interface& i : r.interfaces)
        if (!endpoints.count(r.name + "." + i.name))
          ctx.report("unused", i.loc,
                     "interface '" + r.name + "." + i.name + "' is used by no flow");
    }
    for (const Service& s : p.services)
      if (!services.count(s.name))
        ctx.report("unused", s.loc, "service '" + s.name + "' is used by no flow");
    for (const Feature& f : p.features)
      if (!features.count(f.name))
        ctx.report("unused", f.loc, "feature '" + f.name + "' is the condition of no flow");
    for (const Zone& z : p.zones)
      if (!zones.count(z.name))
        ctx.report("unused", z.loc, "zone '" + z.name + "' holds no role and bounds no target");
  }
};

} // namespace

std::unique_ptr<Check> make_unused_check() {
  return std::make_unique<UnusedCheck>();
}

} // namespace portolan
