#include "bind.h"

#include "checks/overlap_index.h"
#include "names.h"
#include "semantics.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace portolan {

namespace fs = std::filesystem;

const char* chain_name(Chain c) {
  switch (c) {
  case Chain::Input:
    return "input";
  case Chain::Output:
    return "output";
  case Chain::Forward:
    return "forward";
  }
  return "forward";
}

bool flow_active(const Flow& f, const Environment& env, const std::optional<Date>& today,
                 Diagnostics* diags) {
  if (f.when && !f.when->holds(env.features))
    return false;
  if (f.expires) {
    std::optional<Date> t = today ? today : env.today;
    if (!t) {
      if (diags)
        diags->error("no-today", f.expires_loc,
                     "cannot judge this expiry: environment '" + env.name +
                         "' has no 'today'; set it in the manifest or pass --today");
      return false;
    }
    if (*f.expires <= *t) {
      if (diags)
        diags->warning("expired", f.expires_loc,
                       "flow expired on " + f.expires->str() + " (today is " + t->str() +
                           " in environment '" + env.name + "') and is not emitted");
      return false;
    }
  }
  return true;
}

std::vector<std::string> flow_ids(const Policy& p) {
  std::vector<std::string> ids;
  ids.reserve(p.flows.size());
  // Hashed, not ordered: only membership and counts decide an id, and a tree of every flow's
  // summary made this O(N log N) string compares, most of them cache misses past 100k flows.
  std::unordered_map<std::string, int> repeats;
  std::unordered_set<std::string> taken;
  repeats.reserve(p.flows.size());
  taken.reserve(p.flows.size());
  for (const Flow& f : p.flows) {
    std::string key = f.summary();
    if (int n = ++repeats[key]; n > 1)
      key += " #" + std::to_string(n);
    std::string id = "f" + name_hash(key);
    for (int salt = 2; !taken.insert(id).second; ++salt)
      id = "f" + name_hash(key + " ~" + std::to_string(salt));
    ids.push_back(std::move(id));
  }
  return ids;
}

std::string trace_of(const LowerContext& ctx, const SourceLoc& loc) {
  if (!loc.valid())
    return "?";
  fs::path p(ctx.sm.file(loc.file).path);
  fs::path rel = p.lexically_relative(ctx.manifest.dir.empty() ? fs::path(".") : ctx.manifest.dir);
  std::string s =
      rel.empty() || *rel.begin() == ".." ? p.filename().generic_string() : rel.generic_string();
  return s + ":" + std::to_string(loc.line);
}

std::optional<BoundAddrs> bind_endpoint(const Policy& p, const Environment& env,
                                        const Endpoint& e) {
  if (e.is_any()) {
    BoundAddrs b;
    b.any = true;
    return b;
  }
  if (e.is_set()) {
    // A group's addresses: the union of its bound members' (nullopt when none is bound; each
    // member's own flow terms report an unbound member).
    std::optional<BoundAddrs> out;
    for (const Endpoint* m : e.concrete())
      if (auto b = bind_endpoint(p, env, *m)) {
        if (!out)
          out.emplace();
        out->any = out->any || b->any;
        out->v4.insert(out->v4.end(), b->v4.begin(), b->v4.end());
        out->v6.insert(out->v6.end(), b->v6.begin(), b->v6.end());
      }
    if (out)
      for (auto* v : {&out->v4, &out->v6}) {
        std::sort(v->begin(), v->end());
        v->erase(std::unique(v->begin(), v->end()), v->end());
      }
    return out;
  }
  std::vector<const Binding*> found;
  auto look = [&](const std::string& key) {
    auto it = env.bind.find(key);
    if (it != env.bind.end())
      found.push_back(&it->second);
    return it != env.bind.end();
  };
  if (!e.iface.empty()) {
    if (!look(e.str()))
      look(e.role);
  } else {
    look(e.role);
    if (const Role* r = p.find_role(e.role))
      for (const Interface& i : r->interfaces)
        look(e.role + "." + i.name);
  }
  if (found.empty())
    return std::nullopt;
  BoundAddrs b;
  for (const Binding* x : found) {
    b.any = b.any || x->any;
    for (const Prefix& pr : x->prefixes)
      (pr.family() == Family::V4 ? b.v4 : b.v6).push_back(pr);
  }
  for (auto* v : {&b.v4, &b.v6}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  return b;
}

const std::optional<BoundAddrs>& BindCache::operator()(const Endpoint& e) {
  int32_t id = policy_.endpoint_id(e);
  if (id < 0) {
    auto it = by_name_.find(e.str());
    if (it == by_name_.end())
      it = by_name_.emplace(e.str(), bind_endpoint(policy_, env_, e)).first;
    return it->second;
  }
  auto& slot = slots_[static_cast<size_t>(id)];
  if (!slot)
    slot = bind_endpoint(policy_, env_, e);
  return *slot;
}

const Role* vip_of(const Policy& p, const Endpoint& e) {
  const Role* r = e.role_id >= 0 ? &p.roles[static_cast<size_t>(e.role_id)] : p.find_role(e.role);
  return r && r->vip ? r : nullptr;
}

void balanced_terms(const Policy& p, const Target& target, const Term& t, std::vector<Term>& out) {
  if (const Role* v = vip_of(p, *t.dst)) {
    bool snat = v->vip->balance == Balance::Snat;
    if (!(snat && p.flows[t.flow].action == Action::Deny))
      for (const Endpoint& n : v->vip->nodes)
        if (target.hosts_role(n.role)) {
          Term b = t;
          b.dst = &n;
          if (snat && v->vip->snat_from)
            b.src = &*v->vip->snat_from;
          b.chains = {Chain::Input};
          b.vip = v;
          b.vip_side = t.dst;
          out.push_back(std::move(b));
        }
  }
  if (const Role* v = vip_of(p, *t.src))
    for (const Endpoint& n : v->vip->nodes)
      if (target.hosts_role(n.role)) {
        Term b = t;
        b.src = &n;
        b.chains = {Chain::Output};
        b.vip = v;
        b.vip_side = t.src;
        out.push_back(std::move(b));
      }
}

std::pair<bool, bool> term_families(const Term& t, BindCache& bound) {
  if (!t.vip || !t.vip_side)
    return {true, true};
  bool in = !t.chains.empty() && t.chains.front() == Chain::Input;
  if (in && t.vip->vip->balance == Balance::Snat)
    return {true, true};
  const auto& b = bound(*t.vip_side);
  if (!b || b->any)
    return {true, true};
  return {!b->v4.empty(), !b->v6.empty()};
}

Endpoint host_endpoint(const Policy& p, const Target& t) {
  auto one = [&](const std::string& r) {
    Endpoint e = Endpoint::of(r);
    if (auto it = p.role_index.find(r); it != p.role_index.end())
      e.role_id = static_cast<int32_t>(it->second);
    return e;
  };
  if (t.hosts.size() == 1)
    return one(t.hosts[0]);
  Endpoint e;
  e.kind = Endpoint::Kind::List;
  for (const std::string& r : t.hosts) {
    e.items.push_back(one(r));
    e.members.push_back(one(r));
  }
  return e;
}

bool crosses(const Target& target, const std::string& zs, const std::string& zd) {
  const auto& z = target.between;
  return z.size() == 2 && zs != zd && ((zs == z[0] && zd == z[1]) || (zs == z[1] && zd == z[0]));
}

std::vector<ServiceSpec> term_specs(const Policy& p, const Term& t) {
  const Flow& f = p.flows[t.flow];
  std::vector<ServiceSpec> out;
  if (t.mapped && f.maps) {
    PortMatch m;
    m.proto = f.maps->proto;
    m.dports = {{f.maps->port, f.maps->port}};
    out.push_back(m);
    return out;
  }
  for (const ServiceRef& sr : f.services)
    if (const Service* svc = p.service_of(sr))
      out.insert(out.end(), svc->specs.begin(), svc->specs.end());
  return out;
}

bool crosses(const Policy& p, const Target& target, const Endpoint& s, const Endpoint& d) {
  const auto& z = target.between;
  if (z.size() != 2)
    return false;
  // `any` is every address, so it is on both sides of every perimeter: a flow from `any` to
  // an endpoint in one of the two zones crosses from the other.
  auto in_pair = [&](const Endpoint& e) {
    const std::string& ze = p.zone_of(e);
    return ze == z[0] || ze == z[1];
  };
  if (s.is_any() && d.is_any())
    return true;
  if (s.is_any())
    return in_pair(d);
  if (d.is_any())
    return in_pair(s);
  return crosses(target, p.zone_of(s), p.zone_of(d));
}

std::vector<Term> enforced_terms(const LowerContext& ctx, const Target& target,
                                 const Environment& env, Diagnostics* diags, EnvPackets* shared) {
  std::vector<Term> all, dirs;
  bool any_deny = false;
  for (size_t fi = 0; fi < ctx.policy.flows.size(); ++fi) {
    const Flow& f = ctx.policy.flows[fi];
    if (!flow_active(f, env, ctx.today_override, diags))
      continue;
    any_deny = any_deny || f.action == Action::Deny;
    // One term per pair of single endpoints (a group or list stands for its members), so each
    // target takes the members it enforces; they keep the one flow's identity.
    // Each side's members once, and one list of directions reused across flows: these
    // allocations per flow and target were most of this loop past 100,000 flows.
    const std::vector<const Endpoint*> srcs = f.src.concrete(), dsts = f.dst.concrete();
    dirs.clear();
    for (const Endpoint* s : srcs)
      for (const Endpoint* d : dsts)
        dirs.push_back({fi, s, d, false, {}});
    if (f.bidirectional)
      for (const Endpoint* d : dsts)
        for (const Endpoint* s : srcs)
          dirs.push_back({fi, d, s, true, {}});
    if (f.maps) // the internal leg of a port mapping, behind the translating perimeter
      for (const Endpoint* s : srcs)
        for (const Endpoint* m : f.maps->dst.concrete())
          dirs.push_back({fi, s, m, false, {}, nullptr, nullptr, true});
    for (Term& t : dirs) {
      if (target.scope == Scope::Host) {
        // A machine with several roles enforces every flow to or from any of them; a flow
        // between two of its own roles lands in both chains (it leaves one role and reaches
        // the other on the same machine).
        if (!t.dst->is_any() && target.hosts_role(t.dst->role))
          t.chains.push_back(Chain::Input);
        // The client sends to the published address (the front half), never to the leg.
        if (!t.src->is_any() && target.hosts_role(t.src->role) && !t.mapped)
          t.chains.push_back(Chain::Output);
      } else {
        // The perimeter that translates a mapping (the one the front half crosses) judges it
        // on the published side; a perimeter further in sees the internal leg.
        bool translated_here = t.mapped && crosses(ctx.policy, target, *t.src, f.dst);
        if (!translated_here && crosses(ctx.policy, target, *t.src, *t.dst))
          t.chains.push_back(Chain::Forward);
      }
      // An allow in no chain is dropped below anyway; a deny may still join chains by its
      // packets. (Kept, every term of every flow was copied once per target.)
      if (!t.chains.empty() || f.action == Action::Deny)
        all.push_back(t);
      if (target.scope == Scope::Host)
        balanced_terms(ctx.policy, target, t, all);
    }
  }
  // A packet is allowed when an allow flow matches it and no deny flow does, whatever names the
  // deny uses: a deny joins every chain where its packets (on bound addresses) meet those of an
  // allow the chain enforces, so 'scanner -> dmz_hosts' cuts 'anyone -> web' when web's address
  // is in dmz_hosts. Unbound endpoints decide nothing here; lowering reports them.
  std::optional<EnvPackets> local;
  if (!shared && any_deny)
    shared = &local.emplace(ctx.policy, env);
  static const PacketSet none;
  auto packets = [&](const Term& t) -> const PacketSet& {
    const PacketSet* set = shared->of(t);
    return set ? *set : none;
  };
  // One index per chain, built on first need: a deny asks each chain it is not in yet whether
  // any allow there meets it, and the first overlapping box answers.
  std::optional<std::array<OverlapIndex, 3>> allowed;
  // The chains an allow can land in here: a deny already in all of them gains nothing.
  const size_t kinds = target.scope == Scope::Host ? 2 : 1;
  for (Term& d : all) {
    if (ctx.policy.flows[d.flow].action != Action::Deny || d.chains.size() >= kinds)
      continue;
    if (!allowed) {
      allowed.emplace();
      for (const Term& a : all)
        if (ctx.policy.flows[a.flow].action == Action::Allow && !a.chains.empty()) {
          const PacketSet& set = packets(a);
          for (Chain c : a.chains)
            (*allowed)[static_cast<size_t>(c)].add(0, set);
        }
      for (OverlapIndex& index : *allowed)
        index.build();
    }
    const PacketSet& mine = packets(d);
    for (Chain c : {Chain::Input, Chain::Output, Chain::Forward})
      if (std::find(d.chains.begin(), d.chains.end(), c) == d.chains.end() &&
          (*allowed)[static_cast<size_t>(c)].any(mine))
        d.chains.push_back(c);
    // Chain order as the name-based selection gives it: input, output, forward.
    std::sort(d.chains.begin(), d.chains.end());
  }
  std::vector<Term> out;
  for (Term& t : all)
    if (!t.chains.empty())
      out.push_back(std::move(t));
  return out;
}

} // namespace portolan
