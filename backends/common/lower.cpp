#include "lower.h"

#include "options.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

namespace portolan {

namespace {

std::string set_name(const std::string& endpoint) {
  std::string s;
  for (char c : endpoint)
    s += (c == '.') ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
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

} // namespace

RuleSet lower_target(const LowerContext& ctx, const Target& target,
                     const std::vector<std::string>& backend_options, Diagnostics& diags) {
  RuleSet rs;
  rs.policy = &ctx.policy;
  rs.target = &target;
  rs.env = target.env;
  auto env_it = ctx.manifest.environments.find(target.env);
  if (env_it == ctx.manifest.environments.end())
    return rs; // reported by validate_manifest
  const Environment& env = env_it->second;

  std::vector<std::string> known = backend_options;
  if (target.scope == Scope::Host) {
    known.push_back("loopback");
    known.push_back("icmpv6_nd");
  }
  for (const auto& [k, v] : target.options)
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      std::string msg = "backend '" + target.backend + "' has no option '" + k + "'";
      if (auto n = nearest_name(k, known))
        msg += "; did you mean '" + *n + "'?";
      diags.error("manifest", v.loc, msg);
    }
  if (target.scope == Scope::Host) {
    rs.chains = {Chain::Input, Chain::Forward, Chain::Output};
    rs.loopback = bool_option(target, "loopback", true, diags);
    rs.icmpv6_nd = bool_option(target, "icmpv6_nd", true, diags);
  } else {
    rs.chains = {Chain::Forward};
  }

  // Header lines: what this file is and where it comes from.
  for (const PolicyHeader& h : ctx.policy.headers) {
    rs.header.push_back("policy " + h.name + (h.title.empty() ? "" : ": " + h.title));
    for (const auto& r : h.references)
      rs.header.push_back("reference: " + r);
  }
  std::string scope = target.scope == Scope::Host ? "host firewall of role " + target.host
                                                  : "perimeter between zones " + target.between[0] +
                                                        " and " + target.between[1];
  rs.header.push_back("target " + target.name + ": " + scope + ", environment " + env.name);

  std::map<std::string, int> set_index; // endpoint -> set
  std::map<std::string, int> name_use;
  auto addr_ref = [&](const Endpoint& e, const BoundAddrs& b) -> AddrRef {
    if (b.any)
      return AddrRef{-1};
    auto it = set_index.find(e.str());
    if (it != set_index.end())
      return AddrRef{it->second};
    AddrSet s;
    s.endpoint = e.str();
    s.name = set_name(s.endpoint);
    if (int n = name_use[s.name]++; n > 0)
      s.name += "_" + std::to_string(n + 1);
    s.v4 = outermost(b.v4);
    s.v6 = outermost(b.v6);
    rs.has_v4 = rs.has_v4 || !s.v4.empty();
    rs.has_v6 = rs.has_v6 || !s.v6.empty();
    int idx = static_cast<int>(rs.sets.size());
    rs.sets.push_back(std::move(s));
    set_index.emplace(e.str(), idx);
    return AddrRef{idx};
  };

  std::vector<Rule> denies, allows;
  BindCache bound(ctx.policy, env);
  for (const Term& term : enforced_terms(ctx, target, env, &diags)) {
    const Flow& f = ctx.policy.flows[term.flow];
    const auto& bs = bound(*term.src);
    const auto& bd = bound(*term.dst);
    bool unbound = false;
    for (auto [e, b] : {std::pair{term.src, &bs}, std::pair{term.dst, &bd}}) {
      if (!*b) {
        diags
            .error("unbound", e->loc,
                   "'" + e->str() + "' has no address in environment '" + env.name +
                       "', but target '" + target.name + "' enforces this flow")
            .notes.push_back({target.loc, "target declared here"});
        unbound = true;
      }
    }
    if (unbound)
      continue;
    AddrRef sref = addr_ref(*term.src, *bs), dref = addr_ref(*term.dst, *bd);
    bool fam4 = (bs->any || !bs->v4.empty()) && (bd->any || !bd->v4.empty());
    bool fam6 = (bs->any || !bs->v6.empty()) && (bd->any || !bd->v6.empty());
    for (const ServiceRef& sr : f.services) {
      const Service* svc = ctx.policy.service_of(sr);
      if (!svc)
        continue;
      auto parts = l4_of(*svc);
      // A service written dual-stack on purpose (icmp and icmpv6 side by side) has one half
      // that cannot match single-family endpoints: nothing to say when the other half does.
      // Otherwise one finding per service and kind of part, in the flow's own endpoint order
      // (both directions and every target of the environment say the same, once).
      bool icmp4_ok = false, icmp6_ok = false;
      for (const L4Match& m : parts) {
        icmp4_ok = icmp4_ok || (m.proto == kProtoIcmp && fam4);
        icmp6_ok = icmp6_ok || (m.proto == kProtoIcmpV6 && fam6);
      }
      std::set<std::string> said;
      for (L4Match& m : parts) {
        bool v4 = fam4 && m.proto != kProtoIcmpV6;
        bool v6 = fam6 && m.proto != kProtoIcmp;
        if (!v4 && !v6) {
          bool on_purpose =
              (m.proto == kProtoIcmp && icmp6_ok) || (m.proto == kProtoIcmpV6 && icmp4_ok);
          if (!on_purpose && said.insert(spec_name(m)).second)
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
          r.flow = term.flow;
          r.reverse = term.reverse;
          r.trace = trace_of(ctx, f.loc);
          (f.action == Action::Deny ? denies : allows).push_back(std::move(r));
        }
      }
    }
  }
  rs.rules = std::move(denies);
  rs.rules.insert(rs.rules.end(), std::make_move_iterator(allows.begin()),
                  std::make_move_iterator(allows.end()));
  // Families seen at all, so backends can skip an empty IPv6 file or say it is empty.
  for (const Rule& r : rs.rules) {
    rs.has_v4 = rs.has_v4 || r.v4;
    rs.has_v6 = rs.has_v6 || r.v6;
  }
  return rs;
}

} // namespace portolan
