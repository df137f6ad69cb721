// broad: an allow flow from or to any address over a wide port range or every protocol.
#include "check.h"

namespace portolan {
namespace {

constexpr unsigned kWidePorts = 1024;

/// Why a service spec is wide ("" when it is not).
std::string wide(const ServiceSpec& spec) {
  if (std::holds_alternative<AnyMatch>(spec))
    return "every IP protocol";
  if (auto* pm = std::get_if<PortMatch>(&spec)) {
    const char* t = pm->proto == kProtoTcp ? "tcp" : "udp";
    if (pm->dports.empty())
      return std::string("every ") + t + " port";
    unsigned n = 0;
    for (const PortRange& r : pm->dports)
      n += static_cast<unsigned>(r.hi - r.lo) + 1;
    if (n > kWidePorts)
      return std::to_string(n) + " " + t + " ports";
  }
  return "";
}

/// `any`, or a binding that spells it out with a /0 prefix.
bool covers_everything(const BoundAddrs& b) {
  if (b.any)
    return true;
  for (const auto* fam : {&b.v4, &b.v6})
    for (const Prefix& p : *fam)
      if (p.len == 0)
        return true;
  return false;
}

class BroadCheck : public Check {
public:
  const char* name() const override { return "broad"; }
  std::vector<std::string> codes() const override { return {"broad"}; }
  bool needs_targets() const override { return true; }

  void run(AnalysisContext& ctx) const override {
    const Policy& p = ctx.policy;
    for (const Environment* env : ctx.environments()) {
      BindCache bound(p, *env);
      for (const Flow& f : p.flows) {
        if (f.action != Action::Allow || !flow_active(f, *env, ctx.today_override, nullptr))
          continue;
        std::string side;
        for (const Endpoint* e : {&f.src, &f.dst})
          if (const auto& b = bound(*e); b && covers_everything(*b))
            side = e->str();
        if (side.empty())
          continue;
        for (const ServiceRef& sr : f.services) {
          const Service* s = p.service_of(sr);
          if (!s)
            continue;
          for (const ServiceSpec& spec : s->specs)
            if (std::string w = wide(spec); !w.empty()) {
              ctx.report("broad", sr.loc,
                         "'" + side + "' is bound to every address in environment '" + env->name +
                             "' and service '" + s->name + "' opens " + w);
              break;
            }
        }
      }
    }
  }
};

} // namespace

std::unique_ptr<Check> make_broad_check() {
  return std::make_unique<BroadCheck>();
}

} // namespace portolan
