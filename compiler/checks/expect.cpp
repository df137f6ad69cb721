// Expectations: `expect allow|deny ...` statements judged with the packet engine in every target
// that sees their packets. An `expect allow` fails when any of its packets is denied in some
// target that sees it, an `expect deny` when any is allowed; the witness is one such packet and
// the note names the flow that decides it there (or the default deny). An expectation no target
// sees is a finding of its own: it would otherwise pass without judging anything.
#include "check.h"
#include "semantics.h"

#include <algorithm>

namespace portolan {
namespace {

constexpr size_t kMaxAlso = 8;

SourceLoc keyword_loc(const Expectation& e) {
  SourceLoc l = e.loc;
  l.len = 6; // the `expect` keyword
  return l;
}

SourceLoc flow_loc(const Flow& f) {
  SourceLoc l = f.loc;
  l.len = 4; // the `flow` keyword
  return l;
}

BoundAddrs everything() {
  BoundAddrs b;
  b.any = true;
  return b;
}

/// The addresses of one side in one environment; nullopt when a role or interface has none.
std::optional<BoundAddrs> side_addrs(const Policy& p, const Environment& env, const ExpectSide& s) {
  switch (s.kind) {
  case ExpectSide::Kind::Any:
    return everything();
  case ExpectSide::Kind::Endpoint:
    return bind_endpoint(p, env, s.endpoint);
  case ExpectSide::Kind::Address: {
    BoundAddrs b;
    (s.prefix.family() == Family::V4 ? b.v4 : b.v6).push_back(s.prefix);
    return b;
  }
  }
  return std::nullopt;
}

/// Every packet the expectation speaks about in one environment (both directions for `<->`).
PacketSet expectation_packets(const Policy& p, const Environment& env, const Expectation& e) {
  PacketSet out;
  auto src = side_addrs(p, env, e.src), dst = side_addrs(p, env, e.dst);
  if (!src || !dst)
    return out;
  std::vector<ServiceSpec> specs = e.specs;
  for (const ServiceRef& r : e.services)
    if (const Service* svc = p.service_of(r))
      specs.insert(specs.end(), svc->specs.begin(), svc->specs.end());
  for (const ServiceSpec& spec : specs) {
    out.add(spec_packets(*src, *dst, spec));
    if (e.bidirectional)
      out.add(spec_packets(*dst, *src, spec));
  }
  return out;
}

void add_binding(BoundAddrs& into, const std::optional<BoundAddrs>& b) {
  if (!b)
    return;
  into.any = into.any || b->any;
  into.v4.insert(into.v4.end(), b->v4.begin(), b->v4.end());
  into.v6.insert(into.v6.end(), b->v6.begin(), b->v6.end());
}

/// The addresses bound in one zone: each interface's (its own binding, else its role's) in the
/// interface's zone, and each role's own binding in the role's zone.
BoundAddrs zone_addrs(const Policy& p, const Environment& env, const std::string& zone) {
  BoundAddrs out;
  for (const Role& r : p.roles) {
    Endpoint whole = Endpoint::of(r.name);
    if (r.interfaces.empty()) {
      if (p.zone_of(whole) == zone)
        add_binding(out, bind_endpoint(p, env, whole));
      continue;
    }
    if (r.zone == zone)
      if (auto it = env.bind.find(r.name); it != env.bind.end()) {
        out.any = out.any || it->second.any;
        for (const Prefix& pr : it->second.prefixes)
          (pr.family() == Family::V4 ? out.v4 : out.v6).push_back(pr);
      }
    for (const Interface& i : r.interfaces) {
      Endpoint ep = Endpoint::of(r.name, i.name);
      if (p.zone_of(ep) == zone)
        add_binding(out, bind_endpoint(p, env, ep));
    }
  }
  return out;
}

/// The packets a target's chain sees: to (input) or from (output) its host's addresses, or
/// between addresses bound in its two zones (forward), whatever the protocol. A host's packets
/// to itself are not judged: they run over loopback, which host configs accept by default.
PacketSet seen_packets(const Policy& p, const TargetView& v, Chain c) {
  const Target& t = *v.target;
  if (t.scope == Scope::Host) {
    auto host = bind_endpoint(p, *v.env, host_endpoint(p, t));
    if (!host)
      return {};
    PacketSet out = c == Chain::Input ? spec_packets(everything(), *host, AnyMatch{})
                                      : spec_packets(*host, everything(), AnyMatch{});
    return out.subtract(spec_packets(*host, *host, AnyMatch{}));
  }
  if (t.between.size() != 2)
    return {};
  BoundAddrs a = zone_addrs(p, *v.env, t.between[0]), b = zone_addrs(p, *v.env, t.between[1]);
  PacketSet out = spec_packets(a, b, AnyMatch{});
  out.add(spec_packets(b, a, AnyMatch{}));
  return out;
}

std::vector<Chain> chains_of(const Target& t) {
  if (t.scope == Scope::Host)
    return {Chain::Input, Chain::Output};
  return {Chain::Forward};
}

/// One target and chain where the expectation does not hold.
struct Failure {
  const TargetView* view = nullptr;
  Chain chain = Chain::Input;
  std::string witness;
  const FlowPackets* decider = nullptr; ///< null: the default deny
};

/// Judges `seen` (non-empty) against one chain. The witness is decided by `decider`: every
/// packet of the part it is picked from is in that flow and in no flow evaluated before it.
std::optional<Failure> judge(const Expectation& e, const PacketSet& seen,
                             const std::vector<FlowPackets>& flows) {
  PacketSet allow, deny;
  for (const FlowPackets& fp : flows)
    (fp.action == Action::Allow ? allow : deny).add(fp.packets);
  PacketSet allowed = allow.subtract(deny);
  PacketSet bad = e.action == Action::Allow ? seen.subtract(allowed) : seen.intersect(allowed);
  if (bad.is_empty())
    return std::nullopt;
  Failure f;
  for (const FlowPackets& fp : flows) {
    PacketSet part = bad.intersect(fp.packets);
    if (!part.is_empty()) {
      f.decider = &fp;
      f.witness = witness(part).value_or("?");
      return f;
    }
    bad.remove(fp.packets);
  }
  f.witness = witness(bad).value_or("?");
  return f;
}

std::string where(const TargetView& v, Chain c) {
  return "target '" + v.target->name + "' (" + chain_name(c) + ")";
}

class ExpectCheck : public Check {
public:
  const char* name() const override { return "expectations"; }
  std::vector<std::string> codes() const override {
    return {"expectation-failed", "expectation-unseen", "unknown-environment", "unknown-target"};
  }
  bool needs_targets() const override { return true; }

  void run(AnalysisContext& ctx) const override {
    for (const Expectation& e : ctx.policy.expectations)
      if (names_known(ctx, e))
        judge_all(ctx, e);
  }

private:
  static bool names_known(AnalysisContext& ctx, const Expectation& e) {
    const Manifest& m = *ctx.manifest;
    bool ok = true;
    std::vector<std::string> envs, targets;
    for (const auto& [n, env] : m.environments)
      envs.push_back(n);
    for (const Target& t : m.targets)
      targets.push_back(t.name);
    auto suggest = [](const std::string& n, const std::vector<std::string>& c) {
      auto near = nearest_name(n, c);
      return near ? "; did you mean '" + *near + "'?" : std::string();
    };
    for (size_t i = 0; i < e.envs.size(); ++i)
      if (!m.environments.count(e.envs[i])) {
        ctx.report("unknown-environment", e.env_locs[i],
                   "the manifest has no environment '" + e.envs[i] + "'" +
                       suggest(e.envs[i], envs));
        ok = false;
      }
    for (size_t i = 0; i < e.targets.size(); ++i)
      if (std::find(targets.begin(), targets.end(), e.targets[i]) == targets.end()) {
        ctx.report("unknown-target", e.target_locs[i],
                   "the manifest has no target '" + e.targets[i] + "'" +
                       suggest(e.targets[i], targets));
        ok = false;
      }
    return ok;
  }

  static bool applies(const Expectation& e, const Target& t) {
    auto has = [](const std::vector<std::string>& v, const std::string& x) {
      return v.empty() || std::find(v.begin(), v.end(), x) != v.end();
    };
    return has(e.envs, t.env) && has(e.targets, t.name);
  }

  static void judge_all(AnalysisContext& ctx, const Expectation& e) {
    const Policy& p = ctx.policy;
    size_t candidates = 0, judged = 0;
    for (const Target& t : ctx.manifest->targets)
      candidates += applies(e, t) && ctx.manifest->environments.count(t.env);
    bool seen = false;
    std::vector<Failure> failures;
    std::map<const Environment*, PacketSet> by_env;
    for (const TargetView& v : ctx.targets) {
      if (!applies(e, *v.target))
        continue;
      ++judged;
      auto it = by_env.find(v.env);
      if (it == by_env.end())
        it = by_env.emplace(v.env, expectation_packets(p, *v.env, e)).first;
      const PacketSet& packets = it->second;
      if (packets.is_empty())
        continue;
      for (Chain c : chains_of(*v.target)) {
        PacketSet s = packets.intersect(seen_packets(p, v, c));
        if (s.is_empty())
          continue;
        seen = true;
        static const std::vector<FlowPackets> none;
        auto ch = v.chains.find(c);
        if (auto f = judge(e, s, ch == v.chains.end() ? none : ch->second)) {
          f->view = &v;
          f->chain = c;
          failures.push_back(std::move(*f));
        }
      }
    }
    if (!failures.empty()) {
      report_failure(ctx, e, failures);
      return;
    }
    // Unseen only when every target it names was judged: a run narrowed with --env cannot
    // tell that the targets it left out would not see it.
    if (!seen && judged == candidates)
      report_unseen(ctx, e, candidates);
  }

  static void report_failure(AnalysisContext& ctx, const Expectation& e,
                             const std::vector<Failure>& failures) {
    const Policy& p = ctx.policy;
    const Failure& first = failures.front();
    bool allow = e.action == Action::Allow;
    Diagnostic& d = ctx.report(
        "expectation-failed", keyword_loc(e),
        "expectation not met: " + where(*first.view, first.chain) +
            (allow ? " denies packets it expects allowed" : " allows packets it expects denied"));
    if (first.decider) {
      const Flow& f = p.flows[first.decider->flow];
      d.notes.push_back({flow_loc(f), "decided by '" + f.summary() + "'"});
    } else {
      d.notes.push_back({SourceLoc{}, "decided by the default deny: no flow matches"});
    }
    d.notes.push_back({SourceLoc{}, "judged in " + where(*first.view, first.chain) +
                                        ", environment '" + first.view->target->env + "'"});
    if (failures.size() > 1) {
      std::string also = "also not met in";
      for (size_t i = 1; i < failures.size() && i <= kMaxAlso; ++i)
        also += std::string(i > 1 ? ", " : " ") + "'" + failures[i].view->target->name + "' (" +
                chain_name(failures[i].chain) + ")";
      if (failures.size() - 1 > kMaxAlso)
        also += " and " + std::to_string(failures.size() - 1 - kMaxAlso) + " more";
      d.notes.push_back({SourceLoc{}, also});
    }
    d.witness = first.witness;
  }

  static void report_unseen(AnalysisContext& ctx, const Expectation& e, size_t candidates) {
    std::string scope;
    if (!e.envs.empty()) {
      scope = " of environment";
      scope += e.envs.size() > 1 ? "s " : " ";
      for (size_t i = 0; i < e.envs.size(); ++i)
        scope += (i ? ", '" : "'") + e.envs[i] + "'";
    }
    Diagnostic& d = ctx.report(
        "expectation-unseen", keyword_loc(e),
        candidates == 0 ? "expectation judged nowhere: no target" + scope + " matches it"
                        : "expectation judged nowhere: no target" + scope + " sees its packets");
    // Say why when a side has no address in an environment it is judged in.
    std::set<std::string> said;
    for (const TargetView& v : ctx.targets) {
      if (!applies(e, *v.target))
        continue;
      for (const ExpectSide* s : {&e.src, &e.dst})
        if (s->kind == ExpectSide::Kind::Endpoint &&
            !bind_endpoint(ctx.policy, *v.env, s->endpoint) &&
            said.insert(s->endpoint.str() + "@" + v.env->name).second)
          d.notes.push_back(
              {SourceLoc{},
               "'" + s->endpoint.str() + "' has no address in environment '" + v.env->name + "'"});
    }
  }
};

} // namespace

std::unique_ptr<Check> make_expect_check() {
  return std::make_unique<ExpectCheck>();
}

} // namespace portolan
