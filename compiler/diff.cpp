#include "diff.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace portolan {

namespace {

constexpr u128 kPortMax = 65535, kIcmpMax = 255;

bool has_ports(u128 p) {
  return p == ipproto::tcp || p == ipproto::udp || p == ipproto::sctp;
}
bool is_icmp(u128 p) {
  return p == ipproto::icmp || p == ipproto::icmpv6;
}

/// Sorted, coalesced (overlapping or adjacent intervals joined).
std::vector<Interval> coalesce(std::vector<Interval> v) {
  std::sort(v.begin(), v.end(), [](const Interval& a, const Interval& b) {
    return a.lo < b.lo || (a.lo == b.lo && a.hi < b.hi);
  });
  std::vector<Interval> out;
  for (const Interval& i : v) {
    if (!out.empty() && (i.lo <= out.back().hi || i.lo - 1 == out.back().hi)) {
      out.back().hi = std::max(out.back().hi, i.hi);
      continue;
    }
    out.push_back(i);
  }
  return out;
}

using Key = std::vector<std::vector<std::pair<u128, u128>>>;

Key key_of(const Region& r, int skip) {
  Key k;
  for (int d = 0; d < PacketBox::kDims; ++d) {
    std::vector<std::pair<u128, u128>> v;
    if (d != skip)
      for (const Interval& i : r.dims[static_cast<size_t>(d)])
        v.emplace_back(i.lo, i.hi);
    k.push_back(std::move(v));
  }
  return k;
}

bool full_ports(const Region& r) {
  for (int d = PacketBox::kSport; d <= PacketBox::kDport; ++d) {
    const auto& v = r.dims[static_cast<size_t>(d)];
    if (v.size() != 1 || v[0].lo != 0 || v[0].hi != kPortMax)
      return false;
  }
  return true;
}

/// What the port dimensions mean for a region's protocols: 0 real ports, 1 ICMP type/code,
/// 2 nothing (portless), 3 a mix. Regions merge on the protocol only when the ports mean the
/// same thing in both, or when both leave the ports unconstrained.
int port_kind(const Region& r) {
  std::set<int> kinds;
  for (const Interval& i : r.dims[PacketBox::kProto])
    for (u128 p = i.lo; p <= i.hi; ++p)
      kinds.insert(has_ports(p) ? 0 : is_icmp(p) ? 1 : 2);
  return kinds.size() == 1 ? *kinds.begin() : 3;
}

/// One pass merging, along dimension d, the regions equal in every other dimension.
bool merge_along(std::vector<Region>& rs, int d) {
  std::map<std::pair<int, Key>, size_t> at;
  std::vector<Region> next;
  bool changed = false;
  for (Region& r : rs) {
    int cls = d == PacketBox::kProto ? (full_ports(r) ? -1 : port_kind(r)) : -2;
    auto k = std::make_pair(cls, key_of(r, d));
    auto it = at.find(k);
    if (it == at.end() || cls == 3) {
      at.emplace(std::move(k), next.size());
      next.push_back(std::move(r));
      continue;
    }
    auto& into = next[it->second].dims[static_cast<size_t>(d)];
    auto& from = r.dims[static_cast<size_t>(d)];
    into.insert(into.end(), from.begin(), from.end());
    into = coalesce(std::move(into));
    changed = true;
  }
  rs = std::move(next);
  return changed;
}

bool region_less(const Region& a, const Region& b) {
  if (a.family != b.family)
    return a.family == Family::V4;
  return key_of(a, -1) < key_of(b, -1);
}

u128 family_max(Family f) {
  return f == Family::V4 ? u128{0xffffffffu} : ~u128{0};
}

} // namespace

std::vector<Prefix> interval_prefixes(Family f, const Interval& iv) {
  std::vector<Prefix> out;
  int bits = f == Family::V4 ? 32 : 128;
  u128 lo = iv.lo, hi = std::min(iv.hi, family_max(f));
  while (lo <= hi) {
    int k = bits; // the largest block aligned at lo and ending at or before hi
    for (; k > 0; --k) {
      u128 mask = k == 128 ? ~u128{0} : (u128{1} << k) - 1;
      if ((lo & mask) == 0 && hi - lo >= mask)
        break;
    }
    out.push_back(Prefix{u128_to_addr(f, lo), static_cast<uint8_t>(bits - k)});
    u128 mask = k == 128 ? ~u128{0} : (u128{1} << k) - 1;
    if (hi - lo == mask)
      break; // reached hi (also keeps lo + mask + 1 from overflowing)
    lo += mask + 1;
  }
  return out;
}

std::vector<Prefix> Region::prefixes(int dim) const {
  std::vector<Prefix> out;
  for (const Interval& i : dims[static_cast<size_t>(dim)])
    for (const Prefix& p : interval_prefixes(family, i))
      out.push_back(p);
  return out;
}

std::vector<std::string> Region::protocols() const {
  std::vector<std::string> out;
  for (const Interval& i : dims[PacketBox::kProto])
    out.push_back(i.lo == i.hi ? proto_name(i.lo) : u128_dec(i.lo) + "-" + u128_dec(i.hi));
  return out;
}

bool Region::icmp() const {
  return port_kind(*this) == 1;
}

std::vector<std::string> Region::ports(int dim) const {
  const auto& v = dims[static_cast<size_t>(dim)];
  if (v.size() == 1 && v[0].lo == 0 && v[0].hi == kPortMax)
    return {};
  bool ic = icmp();
  std::vector<std::string> out;
  for (const Interval& i : v) {
    u128 hi = ic ? std::min(i.hi, kIcmpMax) : i.hi;
    if (i.lo > hi)
      continue;
    out.push_back(i.lo == hi ? u128_dec(i.lo) : u128_dec(i.lo) + "-" + u128_dec(hi));
  }
  return out;
}

std::string Region::str() const {
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i)
      s += (i ? "," : "") + v[i];
    return s;
  };
  auto addrs = [&](int d) {
    std::vector<std::string> v;
    for (const Prefix& p : prefixes(d))
      v.push_back(p.str_with_len());
    return join(v);
  };
  std::string s = "src " + addrs(PacketBox::kSrc) + " dst " + addrs(PacketBox::kDst);
  const auto& pr = dims[PacketBox::kProto];
  if (!(pr.size() == 1 && pr[0].lo == 0 && pr[0].hi == 255))
    s += " proto " + join(protocols());
  bool ic = icmp();
  auto sp = ports(PacketBox::kSport), dp = ports(PacketBox::kDport);
  if (!sp.empty())
    s += (ic ? " type " : " sport ") + join(sp);
  if (!dp.empty())
    s += (ic ? " code " : " dport ") + join(dp);
  return s;
}

Packet Region::witness() const {
  auto lowest = [&](int d) { return dims[static_cast<size_t>(d)].front().lo; };
  auto has = [&](int d, u128 v) {
    for (const Interval& i : dims[static_cast<size_t>(d)])
      if (i.contains(v))
        return true;
    return false;
  };
  auto addr = [&](int d) {
    u128 v = lowest(d);
    return u128_to_addr(family, v < family_max(family) && has(d, v + 1) ? v + 1 : v);
  };
  Packet p;
  p.src = addr(PacketBox::kSrc);
  p.dst = addr(PacketBox::kDst);
  u128 proto = lowest(PacketBox::kProto);
  p.proto = static_cast<uint8_t>(proto);
  if (has_ports(proto)) {
    p.sport =
        has(PacketBox::kSport, 49152) ? 49152 : static_cast<uint16_t>(lowest(PacketBox::kSport));
    p.dport = static_cast<uint16_t>(lowest(PacketBox::kDport));
  } else if (is_icmp(proto)) {
    p.sport = static_cast<uint16_t>(lowest(PacketBox::kSport));
    p.dport = static_cast<uint16_t>(lowest(PacketBox::kDport));
  }
  return p;
}

PacketSet Region::packets() const {
  PacketSet out;
  for (const Interval& s : dims[PacketBox::kSrc])
    for (const Interval& d : dims[PacketBox::kDst])
      for (const Interval& pr : dims[PacketBox::kProto])
        for (const Interval& sp : dims[PacketBox::kSport])
          for (const Interval& dp : dims[PacketBox::kDport])
            out.add(
                PacketSet::box(AddrRange{u128_to_addr(family, s.lo), u128_to_addr(family, s.hi)},
                               AddrRange{u128_to_addr(family, d.lo), u128_to_addr(family, d.hi)},
                               static_cast<uint8_t>(pr.lo), static_cast<uint8_t>(pr.hi),
                               static_cast<uint16_t>(sp.lo), static_cast<uint16_t>(sp.hi),
                               static_cast<uint16_t>(dp.lo), static_cast<uint16_t>(dp.hi)));
  return out;
}

std::vector<Region> decompose(const PacketSet& s) {
  std::vector<Region> out;
  if (s.is_empty())
    return out;
  PacketSet c = s.canonical();
  for (Family f : {Family::V4, Family::V6}) {
    std::vector<Region> rs;
    for (const PacketBox& b : c.boxes(f)) {
      Region r;
      r.family = f;
      for (int d = 0; d < PacketBox::kDims; ++d)
        r.dims[static_cast<size_t>(d)] = {b.iv[static_cast<size_t>(d)]};
      rs.push_back(std::move(r));
    }
    for (bool changed = true; changed;) {
      changed = false;
      for (int d : {PacketBox::kDport, PacketBox::kSport, PacketBox::kProto, PacketBox::kDst,
                    PacketBox::kSrc})
        changed = merge_along(rs, d) || changed;
    }
    std::sort(rs.begin(), rs.end(), region_less);
    out.insert(out.end(), rs.begin(), rs.end());
  }
  return out;
}

size_t TargetDiff::opened() const {
  return static_cast<size_t>(
      std::count_if(regions.begin(), regions.end(), [](const DiffRegion& r) { return r.opened; }));
}
size_t TargetDiff::closed() const {
  return regions.size() - opened();
}

size_t DiffResult::opened() const {
  size_t n = 0;
  for (const TargetDiff& t : targets)
    n += t.opened();
  return n;
}
size_t DiffResult::closed() const {
  size_t n = 0;
  for (const TargetDiff& t : targets)
    n += t.closed();
  return n;
}
size_t DiffResult::targets_with(TargetDiff::Status s) const {
  return static_cast<size_t>(std::count_if(targets.begin(), targets.end(),
                                           [&](const TargetDiff& t) { return t.status == s; }));
}

bool diff_fails(const DiffResult& r, const std::string& fail_on) {
  if (fail_on == "opened")
    return r.opened() > 0;
  if (fail_on == "closed")
    return r.closed() > 0;
  if (fail_on == "any")
    return r.opened() + r.closed() + r.targets_with(TargetDiff::Status::Added) +
               r.targets_with(TargetDiff::Status::Removed) +
               r.targets_with(TargetDiff::Status::Retargeted) >
           0;
  return false;
}

namespace {

DiffFlow flow_ref(const DiffSide& s, size_t i) {
  const Flow& f = s.policy->flows[i];
  DiffFlow d;
  d.file = f.loc.valid() ? s.sm->file(f.loc.file).path : "";
  d.line = f.loc.line;
  d.col = f.loc.col;
  d.name = f.summary();
  d.action = f.action;
  d.loc = f.loc;
  return d;
}

const std::vector<FlowPackets>& chain_of(const TargetView* v, Chain c) {
  static const std::vector<FlowPackets> none;
  if (!v)
    return none;
  auto it = v->chains.find(c);
  return it == v->chains.end() ? none : it->second;
}

std::string target_desc(const Target& t) {
  std::string s = t.backend + ", ";
  if (t.scope == Scope::Host)
    s += "host " + t.host_str();
  else {
    s += "between";
    for (const std::string& z : t.between)
      s += " " + z;
  }
  return s + ", env " + t.env;
}

/// The packets of `s`, split by the flow that decides them first on side `first` (for opened
/// packets: the new side, whose allow flow lets them in) and then on the other side (a deny, or
/// the default deny); each part decomposed into regions.
void partition(const PacketSet& s, bool opened, Chain chain, const DiffSide& first,
               const TargetView* fv, const DiffSide& other, const TargetView* ov,
               std::vector<DiffRegion>& out) {
  auto emit = [&](const PacketSet& part, const FlowPackets* a, const FlowPackets* b) {
    std::optional<DiffFlow> fa, fb;
    if (a)
      fa = flow_ref(first, a->flow);
    if (b)
      fb = flow_ref(other, b->flow);
    for (Region& r : decompose(part)) {
      DiffRegion d;
      d.opened = opened;
      d.chain = chain;
      d.witness = r.witness();
      d.region = std::move(r);
      d.new_flow = opened ? fa : fb;
      d.old_flow = opened ? fb : fa;
      out.push_back(std::move(d));
    }
  };
  auto split_other = [&](PacketSet part, const FlowPackets* a) {
    for (const FlowPackets& b : chain_of(ov, chain)) {
      if (part.is_empty())
        return;
      PacketSet sub = part.intersect(b.packets);
      if (sub.is_empty())
        continue;
      part.remove(sub);
      emit(sub, a, &b);
    }
    if (!part.is_empty())
      emit(part, a, nullptr);
  };
  PacketSet rest = s;
  for (const FlowPackets& a : chain_of(fv, chain)) {
    if (rest.is_empty())
      break;
    PacketSet part = rest.intersect(a.packets);
    if (part.is_empty())
      continue;
    rest.remove(part);
    split_other(std::move(part), &a);
  }
  if (!rest.is_empty()) // cannot happen: the side that allows them has a flow that does
    split_other(std::move(rest), nullptr);
}

std::string flow_key(const Flow& f) {
  std::string k = f.action == Action::Deny ? "deny " : "";
  k += f.src.str() + (f.bidirectional ? " <-> " : " -> ") + f.dst.str() + " via";
  for (const ServiceRef& s : f.services)
    k += " " + s.name;
  return k;
}

bool same_spec(const ServiceSpec& a, const ServiceSpec& b) {
  if (a.index() != b.index())
    return false;
  if (auto* p = std::get_if<PortMatch>(&a)) {
    auto* q = std::get_if<PortMatch>(&b);
    return p->proto == q->proto && p->dports == q->dports && p->sports == q->sports;
  }
  if (auto* p = std::get_if<IcmpMatch>(&a)) {
    auto* q = std::get_if<IcmpMatch>(&b);
    return p->proto == q->proto && p->type == q->type && p->code == q->code;
  }
  if (auto* p = std::get_if<ProtoMatch>(&a))
    return p->number == std::get_if<ProtoMatch>(&b)->number;
  return true;
}

std::vector<std::string> changed_fields(const Flow& a, const Flow& b) {
  std::vector<std::string> v;
  if (a.group != b.group)
    v.push_back("group");
  if (a.note != b.note)
    v.push_back("note");
  if (a.tags != b.tags)
    v.push_back("tags");
  if (a.required != b.required)
    v.push_back("required");
  if ((a.when ? a.when->str() : "") != (b.when ? b.when->str() : ""))
    v.push_back("when");
  if (a.expires != b.expires)
    v.push_back("expires");
  auto sup = [](const Flow& f) {
    std::vector<std::pair<std::string, std::string>> s;
    for (const Suppression& x : f.suppressions)
      s.emplace_back(x.code, x.reason);
    return s;
  };
  if (sup(a) != sup(b))
    v.push_back("suppressions");
  return v;
}

/// Each flow's packets per chain in a view, by flow index (chains where it has none left out).
using FlowIndex = std::vector<std::vector<std::pair<Chain, const PacketSet*>>>;
FlowIndex index_flows(const TargetView& v, size_t flows) {
  FlowIndex idx(flows);
  for (const auto& [c, fps] : v.chains)
    for (const FlowPackets& fp : fps)
      if (fp.flow < flows && !fp.packets.is_empty())
        idx[fp.flow].emplace_back(c, &fp.packets);
  return idx;
}

bool same_packets(const std::vector<std::pair<Chain, const PacketSet*>>& a,
                  const std::vector<std::pair<Chain, const PacketSet*>>& b) {
  if (a.size() != b.size())
    return false;
  for (size_t k = 0; k < a.size(); ++k)
    if (a[k].first != b[k].first || !(*a[k].second == *b[k].second))
      return false;
  return true;
}

/// The same flow on both sides: first by action, endpoints, direction and services, then the
/// rest by action, endpoints and direction (a flow whose services changed), each in order.
std::vector<long> match_flows(const Policy& o, const Policy& n) {
  std::vector<long> match(n.flows.size(), -1);
  std::vector<bool> taken(o.flows.size(), false);
  for (bool loose : {false, true}) {
    auto key = [&](const Flow& f) {
      if (!loose)
        return flow_key(f);
      return std::string(f.action == Action::Deny ? "deny " : "") + f.src.str() +
             (f.bidirectional ? " <-> " : " -> ") + f.dst.str();
    };
    std::map<std::string, std::vector<size_t>> by_key;
    for (size_t i = 0; i < o.flows.size(); ++i)
      if (!taken[i])
        by_key[key(o.flows[i])].push_back(i);
    std::map<std::string, size_t> used;
    for (size_t j = 0; j < n.flows.size(); ++j) {
      if (match[j] >= 0)
        continue;
      std::string k = key(n.flows[j]);
      auto it = by_key.find(k);
      size_t& u = used[k];
      if (it == by_key.end() || u >= it->second.size())
        continue;
      size_t i = it->second[u++];
      match[j] = static_cast<long>(i);
      taken[i] = true;
    }
  }
  return match;
}

void text_changes(const DiffSide& o, const DiffSide& n, DiffResult& r) {
  std::map<std::string, const TargetView*> ov;
  for (const TargetView& v : o.views)
    ov[v.target->name] = &v;
  std::vector<std::pair<FlowIndex, FlowIndex>> common; // per target on both sides: old, new
  for (const TargetView& v : n.views)
    if (auto it = ov.find(v.target->name); it != ov.end())
      common.emplace_back(index_flows(*it->second, o.policy->flows.size()),
                          index_flows(v, n.policy->flows.size()));
  std::set<SourceLoc> cited_old, cited_new;
  for (const TargetDiff& t : r.targets)
    for (const DiffRegion& d : t.regions) {
      if (d.old_flow)
        cited_old.insert(d.old_flow->loc);
      if (d.new_flow)
        cited_new.insert(d.new_flow->loc);
    }
  std::vector<long> match = match_flows(*o.policy, *n.policy);
  std::vector<bool> old_matched(o.policy->flows.size(), false);
  for (size_t j = 0; j < n.policy->flows.size(); ++j) {
    const Flow& nf = n.policy->flows[j];
    if (match[j] < 0) {
      if (!cited_new.count(nf.loc))
        r.text_only.push_back({"flow", nf.summary(), std::nullopt, flow_ref(n, j), {"added"}});
      continue;
    }
    size_t i = static_cast<size_t>(match[j]);
    old_matched[i] = true;
    const Flow& of = o.policy->flows[i];
    auto fields = changed_fields(of, nf);
    if (flow_key(of) != flow_key(nf))
      fields.insert(fields.begin(), "services");
    if (fields.empty())
      continue;
    // No packet change: the flow decides the same packets in every target, or it decides no
    // region of the diff (what it gained or lost another flow already allowed or denied).
    bool same = !cited_old.count(of.loc) && !cited_new.count(nf.loc);
    for (size_t t = 0; !same && t < common.size(); ++t)
      same = same_packets(common[t].first[i], common[t].second[j]);
    if (same)
      r.text_only.push_back({"flow", nf.summary(), flow_ref(o, i), flow_ref(n, j), fields});
  }
  for (size_t i = 0; i < o.policy->flows.size(); ++i)
    if (!old_matched[i] && !cited_old.count(o.policy->flows[i].loc))
      r.text_only.push_back(
          {"flow", o.policy->flows[i].summary(), flow_ref(o, i), std::nullopt, {"removed"}});
  for (size_t j = 0; j < n.policy->services.size(); ++j) {
    const Service& ns = n.policy->services[j];
    const Service* os = o.policy->find_service(ns.name);
    if (!os || os->label == ns.label || os->specs.size() != ns.specs.size())
      continue;
    bool same = true;
    for (size_t x = 0; x < ns.specs.size(); ++x)
      same = same && same_spec(os->specs[x], ns.specs[x]);
    if (!same)
      continue;
    auto ref = [](const DiffSide& s, const Service& v) {
      return DiffFlow{
          s.sm->file(v.loc.file).path, v.loc.line, v.loc.col, v.name, Action::Allow, v.loc};
    };
    r.text_only.push_back({"service", ns.name, ref(o, *os), ref(n, ns), {"label"}});
  }
}

/// What view `v` of side `s` allows: the side's own when it has it, else computed into `own`.
const TargetPackets& allowed_of(const DiffSide& s, const TargetView* v, TargetPackets& own) {
  if (v && s.allowed.size() == s.views.size())
    return s.allowed[static_cast<size_t>(v - s.views.data())];
  if (v)
    own = allowed_packets(*v);
  return own;
}

} // namespace

DiffResult compute_diff(const DiffSide& o, const DiffSide& n) {
  DiffResult r;
  std::vector<std::string> order;
  std::map<std::string, const TargetView*> ov, nv;
  for (const TargetView& v : n.views) {
    order.push_back(v.target->name);
    nv[v.target->name] = &v;
  }
  for (const TargetView& v : o.views) {
    ov[v.target->name] = &v;
    if (!nv.count(v.target->name))
      order.push_back(v.target->name);
  }
  for (const std::string& name : order) {
    const TargetView* a = ov.count(name) ? ov[name] : nullptr;
    const TargetView* b = nv.count(name) ? nv[name] : nullptr;
    TargetDiff td;
    td.name = name;
    if (a) {
      td.old_env = a->target->env;
      td.old_desc = target_desc(*a->target);
      td.old_loc = a->target->loc;
      td.old_file = a->target->loc.valid() ? o.sm->file(a->target->loc.file).path : "";
      td.old_line = a->target->loc.line;
    }
    if (b) {
      td.env = b->target->env;
      td.new_desc = target_desc(*b->target);
      td.new_loc = b->target->loc;
      td.new_file = b->target->loc.valid() ? n.sm->file(b->target->loc.file).path : "";
      td.new_line = b->target->loc.line;
    } else {
      td.env = td.old_env;
    }
    if (!a)
      td.status = TargetDiff::Status::Added;
    else if (!b)
      td.status = TargetDiff::Status::Removed;
    else {
      const Target &x = *a->target, &y = *b->target;
      auto note = [&](const char* what, const std::string& from, const std::string& to) {
        if (from != to)
          td.retargeted.push_back(std::string(what) + ": " + from + " -> " + to);
      };
      note("backend", x.backend, y.backend);
      note("env", x.env, y.env);
      auto scope = [](const Target& t) {
        if (t.scope == Scope::Host)
          return "host " + t.host_str();
        std::string s = "between";
        for (const std::string& z : t.between)
          s += " " + z;
        return s;
      };
      note("scope", scope(x), scope(y));
      if (!td.retargeted.empty())
        td.status = TargetDiff::Status::Retargeted;
    }
    TargetPackets own_a, own_b;
    const TargetPackets &pa = allowed_of(o, a, own_a), &pb = allowed_of(n, b, own_b);
    for (Chain c : {Chain::Input, Chain::Output, Chain::Forward}) {
      const PacketSet &was = pa.of(c), &now = pb.of(c);
      PacketSet opened = now.subtract(was), closed = was.subtract(now);
      if (!opened.is_empty())
        partition(opened, true, c, n, b, o, a, td.regions);
      if (!closed.is_empty())
        partition(closed, false, c, o, a, n, b, td.regions);
    }
    std::stable_sort(td.regions.begin(), td.regions.end(),
                     [](const DiffRegion& x, const DiffRegion& y) {
                       if (x.chain != y.chain)
                         return x.chain < y.chain;
                       if (x.opened != y.opened)
                         return x.opened;
                       return region_less(x.region, y.region);
                     });
    if (td.status == TargetDiff::Status::Unchanged && !td.regions.empty())
      td.status = TargetDiff::Status::Changed;
    r.targets.push_back(std::move(td));
  }
  for (const auto& [name, env] : n.manifest->environments)
    if (!o.manifest->environments.count(name))
      r.envs_added.push_back(name);
  for (const auto& [name, env] : o.manifest->environments)
    if (!n.manifest->environments.count(name))
      r.envs_removed.push_back(name);
  text_changes(o, n, r);
  return r;
}

} // namespace portolan
