#include "load.h"

#include "parse.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace portolan {

namespace fs = std::filesystem;

std::optional<std::string> read_file(const fs::path& p, std::string* why) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
  int fd = ::open(p.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return std::nullopt;
  struct stat st {};
  auto fail = [&](std::string reason) -> std::optional<std::string> {
    if (why)
      *why = std::move(reason);
    ::close(fd);
    return std::nullopt;
  };
  if (::fstat(fd, &st) != 0)
    return fail(std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    return fail(S_ISDIR(st.st_mode) ? "" : "it is not a regular file");
  constexpr const char* kCapText = "it is larger than 64 MiB, the limit for an input file";
  if (static_cast<uint64_t>(st.st_size) > kMaxInputBytes)
    return fail(kCapText);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return fail("");
    if (n == 0)
      break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxInputBytes) // grew while we read it
      return fail(kCapText);
  }
  ::close(fd);
  return out;
}

namespace {

fs::path canonical_key(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(p, ec);
  return ec ? p.lexically_normal() : c;
}

/// Display path for an imported file: relative to the importer's display directory.
std::string display_path(const std::string& importer_display, const std::string& rel) {
  fs::path base = fs::path(importer_display).parent_path();
  return (base / rel).lexically_normal().generic_string();
}

class Loader {
public:
  /// `disk`: false for a policy given as text, whose imports are then reported missing (no file
  /// is read: fuzzing and in-memory tests).
  Loader(SourceManager& sm, Diagnostics& diags, bool disk = true, const ParseCache* cache = nullptr)
      : sm_(sm), diags_(diags), disk_(disk), cache_(cache) {}

  std::vector<PolicyFile> files; ///< in merge order
  bool unreadable = false;

  void load_root(const fs::path& p, SourceLoc named_at) {
    std::string why;
    auto text = read_file(p, &why);
    if (!text) {
      diags_.error("unreadable", named_at,
                   "cannot read policy file '" + p.string() + "'" +
                       (why.empty() ? "" : ": " + why));
      unreadable = true;
      return;
    }
    visit(p, p.generic_string(), std::move(*text), {});
  }
  void load_text(const std::string& display, std::string text) {
    visit(display, display, std::move(text), {});
  }

private:
  SourceManager& sm_;
  Diagnostics& diags_;
  bool disk_;
  const ParseCache* cache_;
  std::set<fs::path> done_;
  struct Frame {
    fs::path key;
    std::string display;
    SourceLoc import_loc;
  };
  std::vector<Frame> stack_;

  void visit(const fs::path& path, const std::string& display, std::string text, SourceLoc from) {
    fs::path key = canonical_key(path);
    if (done_.count(key))
      return;
    uint32_t id = sm_.add(display, std::move(text));
    stack_.push_back({key, display, from});
    PolicyFile pf = parse_policy_file(sm_, id, diags_, cache_);
    for (const Import& imp : pf.imports) {
      fs::path target = path.parent_path() / imp.path;
      fs::path tkey = canonical_key(target);
      auto on_stack =
          std::find_if(stack_.begin(), stack_.end(), [&](const Frame& f) { return f.key == tkey; });
      if (on_stack != stack_.end()) {
        std::string chain;
        for (auto it = on_stack; it != stack_.end(); ++it)
          chain += it->display + " -> ";
        chain += on_stack->display;
        diags_.error("import-cycle", imp.loc, "import cycle: " + chain);
        continue;
      }
      if (stack_.size() >= kMaxImportDepth) {
        diags_.error("import-depth", imp.loc,
                     "imports nest deeper than " + std::to_string(kMaxImportDepth) +
                         " files; flatten the chain (import shared files from one place)");
        continue;
      }
      std::string why;
      auto t = disk_ ? read_file(target, &why) : std::nullopt;
      if (!t) {
        diags_.error("import-missing", imp.loc,
                     "cannot read imported file '" + imp.path + "' (looked for " +
                         display_path(display, imp.path) + ")" + (why.empty() ? "" : ": " + why));
        continue;
      }
      visit(target, display_path(display, imp.path), std::move(*t), imp.loc);
    }
    stack_.pop_back();
    done_.insert(key);
    files.push_back(std::move(pf));
  }
};

/// Adds a definition to a name index, reporting a duplicate with a note at the first one.
template <class T>
bool define(std::vector<T>& vec, std::map<std::string, size_t>& index, T item, const char* what,
            Diagnostics& diags) {
  auto it = index.find(item.name);
  if (it != index.end()) {
    diags
        .error("duplicate-definition", item.loc,
               std::string(what) + " '" + item.name + "' is already defined")
        .notes.push_back({vec[it->second].loc, "first defined here"});
    return false;
  }
  index.emplace(item.name, vec.size());
  vec.push_back(std::move(item));
  return true;
}

std::vector<std::string> keys(const std::map<std::string, size_t>& m) {
  std::vector<std::string> out;
  for (const auto& [k, v] : m)
    out.push_back(k);
  return out;
}

std::string suggest(const std::string& name, const std::vector<std::string>& candidates) {
  if (auto n = nearest_name(name, candidates))
    return "; did you mean '" + *n + "'?";
  return "";
}

/// A port mapping (`maps to`) publishes one port: an allow flow, one way, whose one service is
/// one tcp or udp port of the mapping's protocol.
template <class CheckEndpoint>
void check_mapping(const Policy& p, const Flow& f, Diagnostics& diags, CheckEndpoint&& check) {
  const PortMap& m = *f.maps;
  // A mapping rewrites to one address: a role, an interface or a VIP in front of a pool, never
  // a set of them (nothing would say which member a connection goes to).
  if (p.group_index.count(m.dst.role) && !p.find_role(m.dst.role))
    diags.error("mapping", m.dst.role_loc,
                "'" + m.dst.role +
                    "' is a group, but a port mapping forwards to one address: name a role, an "
                    "interface, or a VIP in front of the pool");
  else
    check(m.dst);
  if (f.dst.is_any() || f.dst.is_set())
    diags.error("mapping", f.dst.loc,
                "a port mapping publishes one address: its destination must be a role or an "
                "interface, not '" +
                    f.dst.str() + "'");
  const char* proto = m.proto == kProtoUdp ? "udp" : "tcp";
  if (f.action == Action::Deny) {
    diags.error("mapping", m.loc,
                "a deny flow cannot map a port: 'maps to' publishes a port, so write it on an "
                "allow flow");
    return;
  }
  if (f.bidirectional) {
    diags.error("mapping", m.loc,
                "a port mapping is one way: write '->' (replies of the mapped connection pass "
                "by state)");
    return;
  }
  if (f.services.size() != 1) {
    diags.error("mapping", m.loc,
                "a port mapping publishes one port, but this flow names " +
                    std::to_string(f.services.size()) + " services; write one flow per mapping");
    return;
  }
  const Service* s = p.find_service(f.services[0].name);
  if (!s)
    return; // unknown-service, reported above
  const PortMatch* pm = s->specs.size() == 1 ? std::get_if<PortMatch>(&s->specs[0]) : nullptr;
  bool one_port =
      pm && pm->dports.size() == 1 && pm->dports[0].lo == pm->dports[0].hi && pm->sports.empty();
  if (!one_port)
    diags
        .error("mapping", f.services[0].loc,
               "service '" + s->name + "' must be one " + proto +
                   " port to be mapped (a port mapping sends one published port to one port), "
                   "without source ports")
        .notes.push_back({s->loc, "service declared here"});
  else if (pm->proto != m.proto)
    diags
        .error("mapping", m.loc,
               "service '" + s->name + "' is " + (pm->proto == kProtoUdp ? "udp" : "tcp") +
                   " but the mapping is " + proto + "; NAT keeps the protocol")
        .notes.push_back({s->loc, "service declared here"});
}

/// VIPs: every node a known role or interface in the VIP's zone, never a VIP itself (no chains,
/// no cycles); one balancing mode, with the balancer's address for snat.
template <class CheckEndpoint>
void check_vips(const Policy& p, const CheckEndpoint& check_endpoint, Diagnostics& diags) {
  for (const Role& r : p.roles) {
    if (!r.vip)
      continue;
    const Vip& v = *r.vip;
    if (!v.loc.valid()) {
      diags.error("vip", v.balance_loc,
                  "'balance' belongs to a VIP: role '" + r.name +
                      "' needs 'vip for NODE;' naming the roles the balancer distributes to");
      continue;
    }
    if (!v.has_balance)
      diags.error("vip", v.loc,
                  "VIP '" + r.name +
                      "' needs a balancing mode, which decides the source its nodes see: "
                      "'balance keeps-source;' or 'balance snat from ROLE;'");
    for (const Interface& i : r.interfaces)
      diags.error("vip", i.loc,
                  "VIP '" + r.name +
                      "' cannot have interfaces: it is one virtual address; bind the role itself");
    for (const Endpoint& n : v.nodes) {
      const Role* nr = p.find_role(n.role);
      check_endpoint(n);
      if (!nr)
        continue;
      if (nr->vip) {
        // Follow the chain of VIPs from this node: back to r is a cycle.
        std::string path = r.name + " -> " + nr->name;
        std::set<std::string> seen{r.name, nr->name};
        const Role* at = nr;
        bool cycle = nr == &r;
        while (!cycle && at && at->vip && !at->vip->nodes.empty()) {
          const Role* next = p.find_role(at->vip->nodes.front().role);
          if (!next)
            break;
          path += " -> " + next->name;
          if (next == &r)
            cycle = true;
          else if (!seen.insert(next->name).second)
            break;
          at = next;
        }
        if (cycle)
          diags.error("vip-cycle", n.loc,
                      "VIP '" + r.name +
                          "' balances to itself: " + (nr == &r ? r.name + " -> " + r.name : path));
        else
          diags
              .error("vip", n.loc,
                     "node '" + n.str() + "' of VIP '" + r.name +
                         "' is itself a VIP; a balancer distributes to hosts: name the nodes of '" +
                         nr->name + "' here")
              .notes.push_back({nr->vip->loc, "'" + nr->name + "' is a VIP here"});
        continue;
      }
      if (!n.iface.empty() && !nr->find_interface(n.iface))
        continue;
      const std::string& zn = p.zone_of(n);
      if (zn != r.zone)
        diags.error("vip-zone", n.loc,
                    "node '" + n.str() + "' is in zone '" + (zn.empty() ? "(none)" : zn) +
                        "' but VIP '" + r.name + "' is in zone '" +
                        (r.zone.empty() ? "(none)" : r.zone) +
                        "': the balancer hands connections to nodes in its VIP's zone");
    }
    if (v.snat_from) {
      check_endpoint(*v.snat_from);
      if (const Role* br = p.find_role(v.snat_from->role); br && br->vip)
        diags.error("vip", v.snat_from->loc,
                    "the balancer's address '" + v.snat_from->str() +
                        "' is a VIP; name a role bound to the address the balancer translates to");
    }
  }
}

void resolve(Policy& p, Diagnostics& diags) {
  auto zone_names = keys(p.zone_index);
  auto check_zone = [&](const std::string& z, SourceLoc loc) {
    if (!z.empty() && !p.zone_index.count(z))
      diags.error("unknown-zone", loc, "unknown zone '" + z + "'" + suggest(z, zone_names));
  };
  for (const Role& r : p.roles) {
    check_zone(r.zone, r.zone_loc);
    std::map<std::string, const Interface*> seen;
    for (const Interface& i : r.interfaces) {
      check_zone(i.zone, i.zone_loc);
      auto [it, fresh] = seen.emplace(i.name, &i);
      if (!fresh)
        diags
            .error("duplicate-definition", i.loc,
                   "interface '" + i.name + "' of role '" + r.name + "' is already defined")
            .notes.push_back({it->second->loc, "first defined here"});
    }
  }
  auto role_names = keys(p.role_index);
  auto service_names = keys(p.service_index);
  auto feature_names = keys(p.feature_index);
  auto endpoint_names = role_names;
  for (const Group& g : p.groups)
    endpoint_names.push_back(g.name);
  auto check_endpoint = [&](const Endpoint& e) {
    const Role* r = p.find_role(e.role);
    if (!r) {
      if (p.groups.empty())
        diags.error("unknown-role", e.role_loc,
                    "unknown role '" + e.role + "'" + suggest(e.role, role_names));
      else
        diags.error("unknown-role", e.role_loc,
                    "unknown role or group '" + e.role + "'" + suggest(e.role, endpoint_names));
      return;
    }
    if (!e.iface.empty() && !r->find_interface(e.iface)) {
      std::vector<std::string> names;
      for (const auto& i : r->interfaces)
        names.push_back(i.name);
      std::string msg = "role '" + r->name + "' has no interface '" + e.iface + "'";
      if (names.empty())
        msg += "; it declares none, so write just '" + r->name + "'";
      else
        msg += suggest(e.iface, names);
      diags.error("unknown-interface", e.iface_loc, msg)
          .notes.push_back({r->loc, "role declared here"});
    }
  };
  check_vips(p, check_endpoint, diags);
  // Groups: a name that is no role but a group stands for the group's members; groups may
  // name groups (a cycle is an error at the member that closes it).
  for (const Group& g : p.groups)
    if (const Role* r = p.find_role(g.name))
      diags
          .error("duplicate-definition", g.loc,
                 "group '" + g.name + "' has the name of a role; an endpoint could mean either")
          .notes.push_back({r->loc, "role declared here"});
  std::vector<int> state(p.groups.size(), 0); // 0 new, 1 being resolved, 2 done
  std::vector<std::string> stack;
  std::function<void(size_t)> resolve_group;
  auto group_of = [&](const Endpoint& e) -> std::optional<size_t> {
    if (e.kind != Endpoint::Kind::Single || p.find_role(e.role))
      return std::nullopt;
    auto it = p.group_index.find(e.role);
    if (it == p.group_index.end())
      return std::nullopt;
    return it->second;
  };
  // Appends what one written item stands for, each role or interface once.
  auto expand = [&](const Endpoint& e, auto& out) { // a vector or an Endpoint's BoxVec
    auto add = [&](const Endpoint& m) {
      for (const Endpoint& x : out)
        if (x.str() == m.str())
          return;
      out.push_back(m);
    };
    if (auto gi = group_of(e)) {
      if (!e.iface.empty()) {
        diags.error("unknown-interface", e.iface_loc,
                    "'" + e.role +
                        "' is a group, and a group has no interfaces; name the "
                        "interfaces in the group instead");
        return;
      }
      resolve_group(*gi);
      if (state[*gi] == 1) {
        std::string chain;
        bool on = false;
        for (const std::string& n : stack) {
          on = on || n == e.role;
          if (on)
            chain += n + " -> ";
        }
        diags.error("group-cycle", e.role_loc, "group cycle: " + chain + e.role);
        return;
      }
      for (const Endpoint& m : p.groups[*gi].members)
        add(m);
      return;
    }
    check_endpoint(e);
    add(e);
  };
  resolve_group = [&](size_t gi) {
    if (state[gi] != 0)
      return;
    state[gi] = 1;
    stack.push_back(p.groups[gi].name);
    std::vector<Endpoint> members;
    for (const Endpoint& item : p.groups[gi].items)
      expand(item, members);
    p.groups[gi].members = std::move(members);
    stack.pop_back();
    state[gi] = 2;
  };
  for (size_t gi = 0; gi < p.groups.size(); ++gi)
    resolve_group(gi);
  // A flow's or expectation's side: a group or list gets its members.
  auto resolve_side = [&](Endpoint& e) {
    if (e.kind == Endpoint::Kind::List) {
      e.members.clear();
      for (Endpoint& item : e.items) {
        if (auto gi = group_of(item); gi && item.iface.empty())
          item.kind = Endpoint::Kind::Group;
        Endpoint written = item;
        written.kind = Endpoint::Kind::Single;
        expand(written, e.members);
      }
    } else if (auto gi = group_of(e)) {
      expand(e, e.members);
      if (e.iface.empty())
        e.kind = Endpoint::Kind::Group;
    } else if (e.kind == Endpoint::Kind::Single) {
      check_endpoint(e);
    }
  };
  for (Flow& f : p.flows) {
    resolve_side(f.src);
    resolve_side(f.dst);
    for (const ServiceRef& s : f.services)
      if (!p.service_index.count(s.name))
        diags.error("unknown-service", s.loc,
                    "unknown service '" + s.name + "'" + suggest(s.name, service_names));
    if (f.when) {
      std::function<void(const Condition&)> check_feature = [&](const Condition& c) {
        for (const Condition& a : c.args)
          check_feature(a);
        if (c.op == Condition::Op::Feature && !p.feature_index.count(c.feature))
          diags.error("unknown-feature", c.loc,
                      "unknown feature '" + c.feature + "'" + suggest(c.feature, feature_names));
      };
      check_feature(*f.when);
    }
    if (f.maps)
      check_mapping(p, f, diags, check_endpoint);
  }
  for (Expectation& e : p.expectations) {
    for (ExpectSide* side : {&e.src, &e.dst})
      if (side->kind == ExpectSide::Kind::Endpoint)
        resolve_side(side->endpoint);
    for (const ServiceRef& s : e.services)
      if (!p.service_index.count(s.name))
        diags.error("unknown-service", s.loc,
                    "unknown service '" + s.name + "'" + suggest(s.name, service_names));
  }
}

/// Merges the parsed files in order and resolves every name.
LoadResult merge_and_resolve(std::vector<PolicyFile>& files, bool unreadable, Diagnostics& diags) {
  LoadResult out;
  out.unreadable = unreadable;
  if (diags.has_errors())
    return out; // syntax or import errors: names cannot be judged reliably
  Policy& p = out.policy;
  // One allocation for the flows (the bulk of a large policy) instead of doubling, and each
  // file's vectors freed as soon as they are moved out, so the merge never holds two copies.
  size_t total = 0;
  for (const PolicyFile& f : files)
    total += f.flows.size();
  for (PolicyFile& f : files) {
    for (auto& h : f.headers)
      p.headers.push_back(std::move(h));
    for (auto& z : f.zones)
      define(p.zones, p.zone_index, std::move(z), "zone", diags);
    for (auto& r : f.roles)
      define(p.roles, p.role_index, std::move(r), "role", diags);
    for (auto& s : f.services)
      define(p.services, p.service_index, std::move(s), "service", diags);
    for (auto& ft : f.features)
      define(p.features, p.feature_index, std::move(ft), "feature", diags);
    for (auto& g : f.groups)
      define(p.groups, p.group_index, std::move(g), "group", diags);
    if (p.flows.empty() && f.flows.capacity() >= total) {
      p.flows.swap(f.flows); // the usual case, one big file: no copy at all
    } else {
      p.flows.reserve(total);
      for (auto& fl : f.flows)
        p.flows.push_back(std::move(fl));
      std::vector<Flow>().swap(f.flows);
    }
    for (auto& s : f.suppressions)
      p.suppressions.push_back(std::move(s));
    for (auto& e : f.expectations)
      p.expectations.push_back(std::move(e));
  }
  resolve(p, diags);
  out.ok = !diags.has_errors();
  if (out.ok)
    p.index_endpoints();
  return out;
}

} // namespace

LoadResult load_policy(const std::vector<fs::path>& paths, SourceManager& sm, Diagnostics& diags,
                       const std::vector<SourceLoc>& named_at, const ParseCache* cache) {
  Loader loader(sm, diags, true, cache);
  for (size_t i = 0; i < paths.size(); ++i)
    loader.load_root(paths[i], i < named_at.size() ? named_at[i] : SourceLoc{});
  return merge_and_resolve(loader.files, loader.unreadable, diags);
}

LoadResult load_parsed(std::vector<PolicyFile> files, Diagnostics& diags) {
  return merge_and_resolve(files, false, diags);
}

LoadResult load_policy_text(const std::string& display, std::string text, SourceManager& sm,
                            Diagnostics& diags) {
  Loader loader(sm, diags, false);
  loader.load_text(display, std::move(text));
  return merge_and_resolve(loader.files, loader.unreadable, diags);
}

} // namespace portolan
