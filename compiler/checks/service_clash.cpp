// service-clash: two services with different labels claim the same transport and port towards
// the same endpoint (the seed's table gives each port one application).
#include "check.h"

#include <algorithm>
#include <unordered_map>

namespace portolan {
namespace {

class ServiceClashCheck : public Check {
public:
  const char* name() const override { return "service-clash"; }
  std::vector<std::string> codes() const override { return {"service-clash"}; }

  void run(AnalysisContext& ctx) const override {
    const Policy& p = ctx.policy;
    // Which environments a flow is in force in (a bit each; all set without a manifest, where
    // every flow may be in force together): two services clash only where both are in force.
    std::vector<const Environment*> envs = ctx.environments();
    auto mask_of = [&](const Flow& f) -> uint64_t {
      if (!ctx.manifest || envs.empty())
        return 1;
      uint64_t m = 0;
      for (size_t e = 0; e < envs.size() && e < 64; ++e)
        if (flow_active(f, *envs[e], ctx.today_override, nullptr))
          m |= uint64_t(1) << e;
      return m;
    };
    // endpoint -> services used towards it (first use, in flow order) and where they are in
    // force (the union over the flows that use them).
    // The service is kept next to its first use: comparing and looking up through the flow's
    // reference was a cache miss into a different flow each time past 100,000 flows.
    struct Use {
      const ServiceRef* first;
      const Service* service;
      uint64_t envs;
    };
    // By endpoint text, hashed (an ordered map of every endpoint's text made this check
    // O(N log N) string compares); endpoints are visited in first-use order.
    std::unordered_map<std::string, size_t> endpoint_index;
    std::vector<std::string> endpoint_order;
    std::vector<std::vector<Use>> towards; // by position in endpoint_order
    for (const Flow& f : p.flows) {
      uint64_t m = mask_of(f);
      std::vector<const Endpoint*> dsts{&f.dst};
      if (f.bidirectional)
        dsts.push_back(&f.src);
      for (const Endpoint* d : dsts) {
        std::vector<Use>* uses = nullptr;
        for (const ServiceRef& sr : f.services) {
          const Service* svc = p.service_of(sr);
          if (!svc)
            continue;
          if (!uses) {
            auto [it, fresh] = endpoint_index.try_emplace(d->str(), towards.size());
            if (fresh) {
              endpoint_order.push_back(it->first);
              towards.emplace_back();
            }
            uses = &towards[it->second];
          }
          bool seen = false;
          // One service per name, so the same service is the same name.
          for (Use& u : *uses)
            if (u.service == svc) {
              u.envs |= m;
              seen = true;
            }
          if (!seen)
            uses->push_back({&sr, svc, m});
        }
      }
    }
    // Service pairs are few (services x services) while flows are many: compare each pair once.
    std::unordered_map<const Service*,
                       std::unordered_map<const Service*, std::optional<std::string>>>
        memo;
    auto clash = [&](const Service* a, const Service* b) -> const std::optional<std::string>& {
      auto& row = memo[a];
      auto it = row.find(b);
      if (it == row.end())
        it = row.emplace(b, shared_port(*a, *b)).first;
      return it->second;
    };
    for (size_t di = 0; di < endpoint_order.size(); ++di) {
      const std::string& d = endpoint_order[di];
      const auto& list = towards[di];
      // Identical clashes (the same port claimed by several services) become one finding.
      std::map<std::string, std::vector<size_t>> groups; // port -> uses, in first-use order
      std::vector<std::string> port_order;
      for (size_t k = 0; k < list.size(); ++k)
        for (size_t j = 0; j < k; ++j) {
          const Service* o = list[j].service;
          const Service* s = list[k].service;
          if (o->label == s->label || !(list[j].envs & list[k].envs))
            continue;
          const auto& port = clash(o, s);
          if (!port)
            continue;
          auto [g, fresh] = groups.try_emplace(*port);
          if (fresh)
            port_order.push_back(*port);
          for (size_t x : {j, k})
            if (std::find(g->second.begin(), g->second.end(), x) == g->second.end())
              g->second.push_back(x);
        }
      for (const std::string& port : port_order) {
        auto uses = groups[port];
        std::sort(uses.begin(), uses.end());
        auto name = [&](size_t u) {
          const Service* s = p.service_of(*list[u].first);
          return "'" + s->name + "' (\"" + s->label + "\")";
        };
        std::string names;
        for (size_t n = 0; n < uses.size(); ++n)
          names += (n == 0 ? "" : n + 1 == uses.size() ? " and " : ", ") + name(uses[n]);
        auto& diag = ctx.report("service-clash", list[uses[1]].first->loc,
                                "services " + names + (uses.size() > 2 ? " all" : " both") +
                                    " claim " + port + " towards '" + d + "'");
        for (size_t n = 0; n < uses.size(); ++n)
          if (n != 1)
            diag.notes.push_back({list[uses[n]].first->loc,
                                  "'" + p.service_of(*list[uses[n]].first)->name + "' used here"});
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
