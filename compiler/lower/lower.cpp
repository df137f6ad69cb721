#include "lower/lower.h"

#include "lower/options.h"
#include "names.h"
#include "nat.h"
#include "packetspace.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace portolan {

namespace {

/// The set name of an endpoint, unique by construction: identifiers keep their letters, digits
/// and '_', the '.' of `role.iface` becomes '-' (which no identifier has), and a name with
/// capitals is lower-cased and gets "--" and a hash of the exact name (vendors differ on case;
/// "--" occurs in no other name, since an endpoint has at most one '.').
std::string set_name(const std::string& endpoint) {
  std::string s;
  bool upper = false;
  for (char c : endpoint) {
    upper = upper || std::isupper(static_cast<unsigned char>(c));
    s += (c == '.') ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (upper)
    s += "--" + name_hash(endpoint);
  return s;
}

std::vector<L4Match> l4_of(const Service& s) {
  std::vector<L4Match> out;
  for (const ServiceSpec& spec : s.specs) {
    L4Match m;
    m.service = s.name;
    if (auto* pm = std::get_if<PortMatch>(&spec)) {
      m.proto = pm->proto;
      m.dports = pm->dports;
      m.sports = pm->sports;
    } else if (auto* im = std::get_if<IcmpMatch>(&spec)) {
      m.proto = im->proto;
      m.icmp_type = im->type;
      m.icmp_code = im->code;
    } else if (auto* pr = std::get_if<ProtoMatch>(&spec)) {
      m.proto = pr->number;
    }
    out.push_back(std::move(m));
  }
  return out;
}

/// The prefixes no other prefix of the list contains: the same addresses, and what interval
/// sets accept (nft refuses nested intervals as "conflicting").
std::vector<Prefix> outermost(const std::vector<Prefix>& v) {
  std::vector<Prefix> out;
  for (size_t i = 0; i < v.size(); ++i) {
    bool covered = false;
    for (size_t j = 0; j < v.size() && !covered; ++j)
      covered = j != i && v[j].contains(v[i]) && (v[j] != v[i] || j < i);
    if (!covered)
      out.push_back(v[i]);
  }
  return out;
}

const char* spec_name(const L4Match& m) {
  if (!m.proto)
    return "any";
  switch (*m.proto) {
  case kProtoTcp:
    return "tcp";
  case kProtoUdp:
    return "udp";
  case kProtoIcmp:
    return "icmp";
  case kProtoIcmpV6:
    return "icmpv6";
  default:
    return "proto";
  }
}

/// A rule's label: the flow's summary, and for the leg a VIP's node sees after the balancer,
/// which VIP and how ("client -> pool via https [VIP pool to edge, source kept]").
std::string balanced_label(const Flow& f, const Term& term) {
  if (!term.vip)
    return f.summary();
  const Vip& v = *term.vip->vip;
  bool in = !term.chains.empty() && term.chains.front() == Chain::Input;
  std::string how = !in ? "from the node"
                    : v.balance == Balance::Snat && v.snat_from
                        ? "source translated to " + v.snat_from->str()
                        : std::string("source kept");
  return f.summary() + " [VIP " + term.vip->name + (in ? " to " + term.dst->str() : "") + ", " +
         how + "]";
}

} // namespace

RuleSet lower_target(const LowerContext& ctx, const Target& target, const Environment& env,
                     const std::vector<Term>& terms, BindCache& bound, TargetOptions options,
                     bool judge_denies, Diagnostics& diags) {
  RuleSet rs;
  rs.target = target_info(target);
  rs.options = std::move(options);
  if (target.scope == Scope::Host) {
    rs.chains = {Chain::Input, Chain::Forward, Chain::Output};
    rs.loopback = rs.options.flag("loopback");
    rs.icmpv6_nd = rs.options.flag("icmpv6_nd");
  } else {
    rs.chains = {Chain::Forward};
  }

  // Header lines: what this file is and where it comes from.
  for (const PolicyHeader& h : ctx.policy.headers) {
    rs.header.push_back("policy " + h.name + (h.title.empty() ? "" : ": " + h.title));
    for (const auto& r : h.references)
      rs.header.push_back("reference: " + r);
  }
  std::string scope =
      target.scope == Scope::Host
          ? (target.hosts.size() > 1 ? "host firewall of roles " : "host firewall of role ") +
                target.host_str()
          : "perimeter between zones " + target.between[0] + " and " + target.between[1];
  rs.header.push_back("target " + target.name + ": " + scope + ", environment " + env.name);
  for (std::string& l : host_nat_notes(ctx, target, env))
    rs.header.push_back(std::move(l));
  rs.translations = target_translations(ctx, target, env);
  for (const Translation& t : rs.translations) {
    rs.header.push_back("NAT: " + t.traced());
    (t.v4() ? rs.has_v4 : rs.has_v6) = true;
  }
  if (!rs.translations.empty())
    rs.header.push_back("NAT: the filter rules below see and name the real addresses");

  // Endpoint -> set: by the endpoint's dense id first (one id is one role and interface, so
  // one text), then by its text (what names the set), hashed: only looked up, never walked.
  std::unordered_map<std::string, int> set_index;
  std::vector<int> set_by_id;
  std::unordered_set<std::string> names_used;
  auto addr_ref = [&](const Endpoint& e, const BoundAddrs& b) -> AddrRef {
    if (b.any)
      return AddrRef{-1};
    int32_t id = ctx.policy.endpoint_id(e);
    if (id >= 0 && static_cast<size_t>(id) < set_by_id.size() &&
        set_by_id[static_cast<size_t>(id)] >= 0)
      return AddrRef{set_by_id[static_cast<size_t>(id)]};
    auto remember = [&](int idx) {
      if (id < 0)
        return;
      if (static_cast<size_t>(id) >= set_by_id.size())
        set_by_id.resize(static_cast<size_t>(id) + 1, -1);
      set_by_id[static_cast<size_t>(id)] = idx;
    };
    auto it = set_index.find(e.str());
    if (it != set_index.end()) {
      remember(it->second);
      return AddrRef{it->second};
    }
    AddrSet s;
    s.endpoint = e.str();
    s.name = set_name(s.endpoint);
    if (!names_used.insert(s.name).second)
      // Only two capitalised names whose hashes collide can get here.
      diags.error("unrealizable", e.loc,
                  "endpoint '" + e.str() + "' gets the same vendor name '" + s.name +
                      "' as another endpoint; rename one of them");
    s.v4 = outermost(b.v4);
    s.v6 = outermost(b.v6);
    rs.has_v4 = rs.has_v4 || !s.v4.empty();
    rs.has_v6 = rs.has_v6 || !s.v6.empty();
    int idx = static_cast<int>(rs.sets.size());
    set_index.emplace(s.endpoint, idx);
    rs.sets.push_back(std::move(s));
    remember(idx);
    return AddrRef{idx};
  };

  // trace_of per flow walked the file's path (lexically_relative) for every term: its
  // "FILE:" part once per file, then the line.
  std::unordered_map<uint32_t, std::string> trace_file;
  auto trace = [&](const SourceLoc& loc) {
    if (!loc.valid())
      return trace_of(ctx, loc);
    auto it = trace_file.find(loc.file);
    if (it == trace_file.end()) {
      std::string t = trace_of(ctx, loc);
      it = trace_file.emplace(loc.file, t.substr(0, t.rfind(':') + 1)).first;
    }
    return it->second + std::to_string(loc.line);
  };

  std::vector<Rule> denies, allows;
  std::vector<std::string> own_ids;
  if (!ctx.flow_ids)
    own_ids = flow_ids(ctx.policy);
  const std::vector<std::string>& ids = ctx.flow_ids ? *ctx.flow_ids : own_ids;
  for (const Term& term : terms) {
    const Flow& f = ctx.policy.flows[term.flow];
    const auto& bs = bound(*term.src);
    const auto& bd = bound(*term.dst);
    bool unbound = false;
    for (auto [e, b] : {std::pair{term.src, &bs}, std::pair{term.dst, &bd}}) {
      if (!*b) {
        bool balancer = term.vip && term.vip->vip->snat_from && e == &*term.vip->vip->snat_from;
        // A group's member is reported at the flow's side that names the group; a node or the
        // balancer of a balanced leg is the VIP's, not the flow's.
        bool vip_made = balancer;
        if (term.vip)
          for (const Endpoint& n : term.vip->vip->nodes)
            vip_made = vip_made || e == &n;
        const Endpoint& side = term.reverse == (e == term.src) ? f.dst : f.src;
        bool member = !vip_made && side.is_set();
        auto& d = diags.error(
            "unbound", member ? side.loc : e->loc,
            balancer ? "role '" + e->str() + "', the balancer's address for VIP '" +
                           term.vip->name + "' (balance snat) has no address in environment '" +
                           env.name + "', but target '" + target.name +
                           "' must accept the balanced flows from it; bind '" + e->str() + "'"
                     : "'" + e->str() + "'" + (member ? " (in '" + side.str() + "')" : "") +
                           " has no address in environment '" + env.name + "', but target '" +
                           target.name + "' enforces this flow");
        d.notes.push_back({target.loc, "target declared here"});
        if (balancer)
          d.notes.push_back({f.loc, "flow balanced to the node here"});
        unbound = true;
      }
    }
    if (unbound)
      continue;
    AddrRef sref = addr_ref(*term.src, *bs), dref = addr_ref(*term.dst, *bd);
    auto [vip4, vip6] = term_families(term, bound);
    bool fam4 = vip4 && (bs->any || !bs->v4.empty()) && (bd->any || !bd->v4.empty());
    bool fam6 = vip6 && (bs->any || !bs->v6.empty()) && (bd->any || !bd->v6.empty());
    // The family finding is about the flow: with groups, some pair of members sharing a family
    // is enough (every pair is a term, so the union of each side decides exactly).
    bool flow4 = fam4, flow6 = fam6;
    if (f.src.is_set() || f.dst.is_set()) {
      const auto& us = bound(f.src);
      const auto& ud = bound(f.dst);
      if (us && ud) {
        flow4 = (us->any || !us->v4.empty()) && (ud->any || !ud->v4.empty());
        flow6 = (us->any || !us->v6.empty()) && (ud->any || !ud->v6.empty());
      }
    }
    // `any` has no zone: on a perimeter its packets come from the side the other end is not on.
    std::string src_zone = ctx.policy.zone_of(*term.src);
    if (term.src->is_any() && !term.dst->is_any() && target.between.size() == 2) {
      const std::string& zd = ctx.policy.zone_of(*term.dst);
      src_zone = zd == target.between[0] ? target.between[1] : target.between[0];
    }
    RuleOrigin origin{term.flow,     f.loc,        balanced_label(f, term),
                      f.note,        trace(f.loc), std::move(src_zone),
                      ids[term.flow]};
    // A port mapping at the perimeter that translates it: the rule matches the translated
    // packet (the mapping's endpoint and port) of connections that translation rewrote.
    bool front_mapped =
        f.maps && !term.mapped && target.scope == Scope::Between &&
        std::find(term.chains.begin(), term.chains.end(), Chain::Forward) != term.chains.end();
    if (front_mapped) {
      const auto& bm = bound(f.maps->dst);
      if (!bm) {
        diags
            .error("unbound", f.maps->dst.loc,
                   "'" + f.maps->dst.str() + "' has no address in environment '" + env.name +
                       "', but target '" + target.name + "' translates this port mapping")
            .notes.push_back({target.loc, "target declared here"});
        continue;
      }
      AddrRef mref = addr_ref(f.maps->dst, *bm);
      for (bool v4 : {true, false}) {
        bool has_pub = bd->any || !(v4 ? bd->v4 : bd->v6).empty();
        bool has_src = bs->any || !(v4 ? bs->v4 : bs->v6).empty();
        if (!has_pub || !has_src)
          continue;
        int idx = -1;
        for (size_t i = 0; i < rs.translations.size(); ++i) {
          const Translation& t = rs.translations[i];
          if (t.mapping() && t.loc == f.maps->loc && t.v4() == v4)
            idx = static_cast<int>(i);
        }
        if (idx < 0) {
          const auto& pub = v4 ? bd->v4 : bd->v6;
          const auto& real = v4 ? bm->v4 : bm->v6;
          std::string why =
              !published_port(ctx.policy, f) ? "it publishes no single port"
              : bd->any || pub.size() != 1 || !pub[0].is_host()
                  ? "'" + f.dst.str() + "' is not bound to one " + (v4 ? "IPv4" : "IPv6") +
                        " host address"
                  : "'" + f.maps->dst.str() + "' is bound to " +
                        (bm->any        ? std::string("any address")
                         : real.empty() ? "no " + std::string(v4 ? "IPv4" : "IPv6") + " address"
                         : real.size() == 1
                             ? "the prefix " + real[0].str() + ", not one host"
                             : std::to_string(real.size()) + " prefixes, not one host");
          diags.error("unrealizable", f.maps->loc,
                      "target '" + target.name + "' cannot translate this port mapping in " +
                          (v4 ? "IPv4" : "IPv6") + " in environment '" + env.name + "': " + why +
                          "; a port mapping sends one published address and port to one host");
          continue;
        }
        Rule r;
        r.chain = Chain::Forward;
        r.action = Action::Allow;
        r.src = sref;
        r.dst = mref;
        r.v4 = v4;
        r.v6 = !v4;
        r.l4.proto = f.maps->proto;
        r.l4.dports = {{f.maps->port, f.maps->port}};
        r.l4.service = f.services.empty() ? "mapped" : f.services[0].name;
        r.mapped = idx;
        r.origin = origin;
        allows.push_back(std::move(r));
      }
      continue;
    }
    // The term's rules get `origin` at the end: copies, and the last one moved (most terms
    // make one rule, and copying its strings was a third of lowering).
    std::vector<std::pair<std::vector<Rule>*, size_t>> made;
    // The internal leg of a mapping is the mapped port; every other term, the flow's services.
    std::vector<Service> leg;
    std::vector<const Service*> svcs;
    if (term.mapped) {
      Service m;
      m.name = f.services.empty() ? "mapped" : f.services[0].name;
      m.specs = term_specs(ctx.policy, term);
      leg.push_back(std::move(m));
      svcs.push_back(&leg.back());
    } else {
      for (const ServiceRef& sr : f.services)
        svcs.push_back(ctx.policy.service_of(sr));
    }
    for (size_t si = 0; si < svcs.size(); ++si) {
      const Service* svc = svcs[si];
      if (!svc)
        continue;
      const ServiceRef& sr = term.mapped ? f.services[0] : f.services[si];
      auto parts = l4_of(*svc);
      // A service written dual-stack on purpose (icmp and icmpv6 side by side) has one half
      // that cannot match single-family endpoints: nothing to say when the other half does.
      // Otherwise one finding per service and kind of part, in the flow's own endpoint order
      // (both directions and every target of the environment say the same, once).
      bool icmp4_ok = false, icmp6_ok = false;
      for (const L4Match& m : parts) {
        icmp4_ok = icmp4_ok || (m.proto == kProtoIcmp && flow4);
        icmp6_ok = icmp6_ok || (m.proto == kProtoIcmpV6 && flow6);
      }
      std::set<std::string> said;
      for (L4Match& m : parts) {
        bool v4 = fam4 && m.proto != kProtoIcmpV6;
        bool v6 = fam6 && m.proto != kProtoIcmp;
        if (!v4 && !v6) {
          if ((flow4 && m.proto != kProtoIcmpV6) || (flow6 && m.proto != kProtoIcmp))
            continue; // another pair of the groups' members has the family
          bool on_purpose =
              (m.proto == kProtoIcmp && icmp6_ok) || (m.proto == kProtoIcmpV6 && icmp4_ok);
          // A balanced leg a node cannot carry is path-drop's to judge (on the VIP's side).
          if (!on_purpose && !term.vip && said.insert(spec_name(m)).second)
            diags.warning("no-family", sr.loc,
                          std::string("the ") + spec_name(m) + " part of service '" + svc->name +
                              "' matches no packet between '" + f.src.str() + "' and '" +
                              f.dst.str() + "' in environment '" + env.name +
                              "': their addresses share no IP family with it");
          continue;
        }
        for (Chain c : term.chains) {
          Rule r;
          r.chain = c;
          r.action = f.action;
          r.src = sref;
          r.dst = dref;
          r.v4 = v4;
          r.v6 = v6;
          r.l4 = m;
          r.reverse = term.reverse;
          auto& to = f.action == Action::Deny ? denies : allows;
          made.emplace_back(&to, to.size());
          to.push_back(std::move(r));
        }
      }
    }
    for (size_t k = 0; k < made.size(); ++k) {
      Rule& r = (*made[k].first)[made[k].second];
      if (k + 1 < made.size())
        r.origin = origin;
      else
        r.origin = std::move(origin);
    }
  }
  if (denies.empty()) {
    rs.rules = std::move(allows);
  } else {
    rs.rules = std::move(denies);
    rs.rules.reserve(rs.rules.size() + allows.size());
    rs.rules.insert(rs.rules.end(), std::make_move_iterator(allows.begin()),
                    std::make_move_iterator(allows.end()));
  }
  // Families seen at all, so backends can skip an empty IPv6 file or say it is empty.
  for (const Rule& r : rs.rules) {
    rs.has_v4 = rs.has_v4 || r.v4;
    rs.has_v6 = rs.has_v6 || r.v6;
  }
  if (judge_denies) {
    std::map<Chain, PacketSet> allowed;
    for (const Rule& r : rs.rules)
      if (r.action == Action::Allow)
        allowed[r.chain].add(rule_packets(rs, r));
    for (Rule& r : rs.rules)
      if (r.action == Action::Deny) {
        PacketSet overlap = rule_packets(rs, r).intersect(allowed[r.chain]);
        auto p = overlap.pick();
        r.overlaps_allow = p ? p->str() : "";
      }
    rs.denies_judged = true;
  }
  // Sets in name order, not in order of first use: a flow added above others then adds its own
  // sets without moving the declarations of the sets other rules use.
  std::vector<size_t> order(rs.sets.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return rs.sets[a].name < rs.sets[b].name; });
  std::vector<int> moved_to(order.size());
  std::vector<AddrSet> sorted;
  for (size_t i = 0; i < order.size(); ++i) {
    moved_to[order[i]] = static_cast<int>(i);
    sorted.push_back(std::move(rs.sets[order[i]]));
  }
  rs.sets = std::move(sorted);
  for (Rule& r : rs.rules)
    for (AddrRef* ref : {&r.src, &r.dst})
      if (!ref->any())
        ref->set = moved_to[static_cast<size_t>(ref->set)];
  return rs;
}

PacketSet rule_packets(const RuleSet& rs, const Rule& r) {
  PacketDims d;
  if (r.l4.proto)
    d.protos = {{*r.l4.proto, *r.l4.proto}};
  if (r.l4.proto == kProtoIcmp || r.l4.proto == kProtoIcmpV6) {
    if (r.l4.icmp_type)
      d.sports = {{*r.l4.icmp_type, *r.l4.icmp_type}};
    if (r.l4.icmp_code)
      d.dports = {{*r.l4.icmp_code, *r.l4.icmp_code}};
  } else {
    if (!r.l4.sports.empty())
      d.sports = r.l4.sports;
    if (!r.l4.dports.empty())
      d.dports = r.l4.dports;
  }
  d.v4 = r.v4;
  d.v6 = r.v6;
  auto side = [&](AddrRef ref) -> std::optional<std::vector<AddrRange>> {
    if (ref.any())
      return std::nullopt;
    std::vector<AddrRange> out;
    const AddrSet& s = rs.sets[static_cast<size_t>(ref.set)];
    for (const auto* list : {&s.v4, &s.v6})
      for (const Prefix& p : *list)
        out.push_back(AddrRange::of(p));
    return out;
  };
  d.src = side(r.src);
  d.dst = side(r.dst);
  return product(d);
}

} // namespace portolan
