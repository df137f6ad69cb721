// unpublished-mapping: "8080 only where 80 is published" (issue 13 item 9). A port mapping
// (`flow publish: client -> rproxy.ext via http maps to fe.web tcp 8080;`) opens the internal
// port as the back half of the published one. Another allow flow that opens the same internal
// endpoint and port to packets the environment's active mappings do not forward there (the
// mapping is switched off or expired there, or the flow's sources are not the mapping's) is a
// finding, with a witness.
// nat-unused: a NAT binding whose public address a perimeter translates to a real address that
// no flow lets through that perimeter from the outside (issue 13 item 6: "translated to an
// address no flow allows"): the translation is dead, or a flow is missing. A symmetric binding
// whose host opens connections to the outside uses its source half and is not reported.
#include "check.h"

#include "nat.h"

namespace portolan {
namespace {

class MappingCheck : public Check {
public:
  const char* name() const override { return "mapping"; }
  std::vector<std::string> codes() const override { return {"unpublished-mapping", "nat-unused"}; }
  bool needs_targets() const override { return true; }

  void run(AnalysisContext& ctx) const override {
    dead_translations(ctx);
    published(ctx);
  }

private:
  static void dead_translations(AnalysisContext& ctx) {
    if (!ctx.manifest)
      return;
    LowerContext lc{ctx.policy, *ctx.manifest, ctx.sm, ctx.today_override};
    std::set<SourceLoc> said;
    for (const TargetView& v : ctx.targets) {
      if (!v.target || !v.env || v.target->scope != Scope::Between)
        continue;
      // What the target allows is the union of every flow it enforces: built only for a
      // target that translates something (most translate nothing).
      std::optional<PacketSet> allowed_once;
      auto allowed_fwd = [&]() -> const PacketSet& {
        if (!allowed_once)
          allowed_once = allowed_packets(v).of(Chain::Forward);
        return *allowed_once;
      };
      const std::vector<Translation> translations = target_translations(lc, *v.target, *v.env);
      for (const Translation& t : translations) {
        if (t.kind != Translation::Kind::Destination || t.mapping() || said.count(t.loc))
          continue;
        const PacketSet& allowed = allowed_fwd();
        PacketDims d;
        if (!t.peer_any) {
          std::vector<AddrRange> peer;
          for (const Prefix& x : t.peer)
            peer.push_back(AddrRange::of(x));
          d.src = peer;
        }
        d.dst = std::vector<AddrRange>{AddrRange::of(t.to)};
        if (allowed.overlaps(product(d)))
          continue;
        // A symmetric binding whose host only opens connections out uses its source half.
        bool symmetric = false;
        for (const Translation& u : translations)
          symmetric = symmetric || (u.kind == Translation::Kind::Source && u.loc == t.loc);
        PacketDims out;
        out.src = d.dst;
        out.dst = d.src;
        if (symmetric && allowed.overlaps(product(out)))
          continue;
        said.insert(t.loc);
        ctx.report("nat-unused", t.loc,
                   "target '" + v.target->name + "' translates " + t.match.str() + " to " +
                       t.to.str() + " for '" + t.endpoint +
                       "', but no flow lets anything from zone '" + t.outside + "' through to " +
                       t.to.str() + " in environment '" + v.env->name +
                       "': the translation is dead, or a flow is missing")
            .notes.push_back({v.target->loc, "translated here"});
      }
    }
  }

  static void published(AnalysisContext& ctx) {
    const Policy& p = ctx.policy;
    std::vector<size_t> mappings;
    for (size_t i = 0; i < p.flows.size(); ++i)
      if (p.flows[i].maps && p.flows[i].action == Action::Allow)
        mappings.push_back(i);
    if (mappings.empty())
      return;
    std::set<std::pair<size_t, size_t>> said; // (flow, mapping): once over all environments
    for (const Environment* env : ctx.environments()) {
      BindCache bound(p, *env);
      auto leg = [&](const Flow& m, const std::optional<BoundAddrs>& src) {
        PacketSet out;
        const auto& to = bound(m.maps->dst);
        if (!src || !to)
          return out;
        PortMatch pm;
        pm.proto = m.maps->proto;
        pm.dports = {{m.maps->port, m.maps->port}};
        return spec_packets(*src, *to, pm);
      };
      BoundAddrs anyone;
      anyone.any = true;
      PacketSet published; // what the active mappings forward to their internal ports
      for (size_t mi : mappings)
        if (flow_active(p.flows[mi], *env, ctx.today_override, nullptr))
          published.add(leg(p.flows[mi], bound(p.flows[mi].src)));
      for (size_t fi = 0; fi < p.flows.size(); ++fi) {
        const Flow& f = p.flows[fi];
        if (f.maps || f.action != Action::Allow ||
            !flow_active(f, *env, ctx.today_override, nullptr))
          continue;
        const auto& bs = bound(f.src);
        const auto& bd = bound(f.dst);
        if (!bs || !bd)
          continue;
        PacketSet opened = flow_packets(p, f, *bs, *bd);
        if (f.bidirectional)
          opened.add(flow_packets(p, f, *bd, *bs));
        for (size_t mi : mappings) {
          const Flow& m = p.flows[mi];
          PacketSet extra = opened.intersect(leg(m, anyone)).subtract(published);
          if (extra.is_empty() || !said.insert({fi, mi}).second)
            continue;
          bool active = flow_active(m, *env, ctx.today_override, nullptr);
          std::string port = std::string(m.maps->proto == kProtoUdp ? "udp " : "tcp ") +
                             std::to_string(m.maps->port);
          Diagnostic& d = ctx.report(
              "unpublished-mapping", f.loc,
              "flow opens " + port + " on '" + m.maps->dst.str() +
                  "', the internal port of a port mapping, to packets the mapping does not "
                  "forward there in environment '" +
                  env->name + "'" + (active ? "" : " (the mapping is not in force there)") +
                  ": the internal port should be reachable only where the published one is");
          d.notes.push_back({m.loc, "the port mapping"});
          d.witness = witness(extra);
        }
      }
    }
  }
};

} // namespace

std::unique_ptr<Check> make_mapping_check() {
  return std::make_unique<MappingCheck>();
}

} // namespace portolan
