// service-clash: two services with different labels claim the same transport and port towards
// the same endpoint (the seed's table gives each port one application).
#include "check.h"

namespace portolan {
namespace {

class ServiceClashCheck : public Check {
public:
  const char* name() const override { return "service-clash"; }
  std::vector<std::string> codes() const override { return {"service-clash"}; }

  void run(AnalysisContext& ctx) const override {
    const Policy& p = ctx.policy;
    // endpoint -> services used towards it (first use), in flow order.
    std::map<std::string, std::vector<const ServiceRef*>> towards;
    std::set<std::pair<std::string, std::string>> reported;
    // Service pairs are few (services x services) while flows are many: compare each pair once.
    std::map<std::pair<const Service*, const Service*>, std::optional<std::string>> memo;
    auto clash = [&](const Service* a, const Service* b) -> const std::optional<std::string>& {
      auto key = std::make_pair(a, b);
      auto it = memo.find(key);
      if (it == memo.end())
        it = memo.emplace(key, shared_port(*a, *b)).first;
      return it->second;
    };
    for (const Flow& f : p.flows) {
      std::vector<const Endpoint*> dsts{&f.dst};
      if (f.bidirectional)
        dsts.push_back(&f.src);
      for (const Endpoint* d : dsts)
        for (const ServiceRef& sr : f.services) {
          auto& list = towards[d->str()];
          const Service* s = p.service_of(sr);
          if (!s)
            continue;
          for (const ServiceRef* prev : list) {
            const Service* o = p.service_of(*prev);
            if (!o || o->name == s->name || o->label == s->label)
              continue;
            if (const auto& port = clash(o, s);
                port && reported.insert({o->name + "/" + s->name, d->str()}).second) {
              ctx.report("service-clash", sr.loc,
                         "services '" + o->name + "' (\"" + o->label + "\") and '" + s->name +
                             "' (\"" + s->label + "\") both claim " + *port + " towards '" +
                             d->str() + "'")
                  .notes.push_back({prev->loc, "'" + o->name + "' used here"});
            }
          }
          bool seen = false;
          for (const ServiceRef* prev : list)
            seen = seen || prev->name == sr.name;
          if (!seen)
            list.push_back(&sr);
        }
    }
  }

private:
  static std::optional<std::string> shared_port(const Service& a, const Service& b) {
    for (const ServiceSpec& x : a.specs)
      for (const ServiceSpec& y : b.specs) {
        auto* px = std::get_if<PortMatch>(&x);
        auto* py = std::get_if<PortMatch>(&y);
        if (!px || !py || px->proto != py->proto || px->dports.empty() || py->dports.empty())
          continue;
        for (const PortRange& r : px->dports)
          for (const PortRange& q : py->dports)
            if (r.lo <= q.hi && q.lo <= r.hi)
              return std::string(px->proto == kProtoTcp ? "tcp" : "udp") + " port " +
                     std::to_string(std::max(r.lo, q.lo));
      }
    return std::nullopt;
  }
};

} // namespace

std::unique_ptr<Check> make_service_clash_check() {
  return std::make_unique<ServiceClashCheck>();
}

} // namespace portolan
