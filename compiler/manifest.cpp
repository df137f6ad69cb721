#include "manifest.h"

#include "checks/catalog.h"
#include "load.h"
#include "lower/options.h"
#include "output.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <unordered_set>

namespace portolan {

namespace fs = std::filesystem;

namespace {

class Reader {
public:
  Reader(uint32_t file, Diagnostics& diags) : file_(file), diags_(diags) {}

  /// The region's extent when it sits on one line (toml++ counts characters), else its start.
  SourceLoc at(const toml::source_region& r) const {
    uint32_t len = 1;
    if (r.end.line == r.begin.line && r.end.column > r.begin.column)
      len = static_cast<uint32_t>(r.end.column - r.begin.column);
    return SourceLoc{file_, static_cast<uint32_t>(r.begin.line),
                     static_cast<uint32_t>(r.begin.column), len};
  }
  SourceLoc at(const toml::key& k) const { return at(k.source()); }
  SourceLoc at(const toml::node& n) const { return at(n.source()); }

  void error(SourceLoc loc, std::string msg) { diags_.error("manifest", loc, std::move(msg)); }

  /// Reports keys of `t` not in `allowed`, suggesting the closest allowed one.
  void only_keys(const toml::table& t, const std::vector<std::string>& allowed,
                 const std::string& where) {
    for (const auto& [k, v] : t) {
      if (std::find(allowed.begin(), allowed.end(), std::string(k.str())) != allowed.end())
        continue;
      std::string msg = "unknown key '" + std::string(k.str()) + "' in " + where;
      if (auto n = nearest_name(std::string(k.str()), allowed))
        msg += "; did you mean '" + *n + "'?";
      error(at(k), msg);
    }
  }

  std::optional<std::string> string(const toml::node& n, const std::string& key) {
    if (auto s = n.value<std::string>())
      return *s;
    error(at(n), "'" + key + "' must be a string");
    return std::nullopt;
  }

  std::vector<std::pair<std::string, SourceLoc>> strings(const toml::node& n,
                                                         const std::string& key) {
    std::vector<std::pair<std::string, SourceLoc>> out;
    if (auto s = n.value<std::string>()) {
      out.emplace_back(*s, at(n));
      return out;
    }
    const toml::array* a = n.as_array();
    if (!a) {
      error(at(n), "'" + key + "' must be a string or an array of strings");
      return out;
    }
    for (const toml::node& e : *a) {
      if (auto s = e.value<std::string>())
        out.emplace_back(*s, at(e));
      else
        error(at(e), "'" + key + "' must contain only strings");
    }
    return out;
  }

  std::optional<Date> date(const toml::node& n, const std::string& key) {
    if (auto d = n.value<toml::date>()) {
      if (auto ok = Date::parse(Date{d->year, d->month, d->day}.str()))
        return ok;
    } else if (auto s = n.value<std::string>()) {
      if (auto ok = Date::parse(*s))
        return ok;
    }
    error(at(n), "'" + key + "' must be a date (YYYY-MM-DD)");
    return std::nullopt;
  }

  Environment environment(const std::string& name, const toml::table& t, SourceLoc loc) {
    Environment env;
    env.name = name;
    env.loc = loc;
    only_keys(t, {"bind", "features", "today"}, "environment '" + name + "'");
    if (auto* today = t.get("today"))
      env.today = date(*today, "today");
    if (auto* feats = t.get("features"))
      for (auto& [f, l] : strings(*feats, "features"))
        env.features.emplace(f, l);
    if (auto* bind = t.get("bind")) {
      const toml::table* bt = bind->as_table();
      if (!bt) {
        error(at(*bind), "'bind' must be a table of role = addresses");
      } else {
        for (const auto& [k, v] : *bt) {
          if (const toml::table* nt = v.as_table()) {
            if (auto b = nat_binding(std::string(k.str()), *nt, at(k)))
              env.bind.emplace(std::string(k.str()), std::move(*b));
            continue;
          }
          Binding b;
          b.loc = at(k);
          bool bad = false;
          for (auto& [text, l] : strings(v, std::string(k.str()))) {
            if (text == "any") {
              b.any = true;
              continue;
            }
            PrefixParse pp = parse_prefix(text);
            if (!pp.prefix) {
              error(l, "in binding of '" + std::string(k.str()) + "': " + pp.error);
              bad = true;
            } else {
              b.prefixes.push_back(*pp.prefix);
            }
          }
          if (!bad && !b.any && b.prefixes.empty())
            error(b.loc,
                  "binding of '" + std::string(k.str()) + "' is empty; bind addresses, or \"any\"");
          if (b.any && !b.prefixes.empty())
            error(b.loc, "binding of '" + std::string(k.str()) +
                             "' mixes \"any\" with addresses; \"any\" already covers them");
          std::sort(b.prefixes.begin(), b.prefixes.end());
          b.prefixes.erase(std::unique(b.prefixes.begin(), b.prefixes.end()), b.prefixes.end());
          env.bind.emplace(std::string(k.str()), std::move(b));
        }
      }
    }
    return env;
  }

  /// `"edge.av" = { address = "192.0.2.10", public = "203.0.113.10", nat = "symmetric" }`:
  /// one real host address reached on one public address (issue 12 item 4).
  std::optional<Binding> nat_binding(const std::string& key, const toml::table& t, SourceLoc loc) {
    const std::string where = "NAT binding of '" + key + "'";
    only_keys(t, {"address", "public", "nat", "outside"}, where);
    auto host = [&](const char* field, Prefix& into, SourceLoc& l) {
      const toml::node* n = t.get(field);
      if (!n) {
        error(loc, where + " needs '" + field + "'");
        return false;
      }
      l = at(*n);
      auto s = n->value<std::string>();
      if (!s) {
        error(l, "'" + std::string(field) + "' of " + where +
                     " must be one address as a string (NAT translates one host to one host)");
        return false;
      }
      if (*s == "any") {
        error(l, "'" + std::string(field) + "' of " + where +
                     " cannot be \"any\": NAT translates one host address to one");
        return false;
      }
      PrefixParse pp = parse_prefix(*s);
      if (!pp.prefix) {
        error(l, "in " + where + ": " + pp.error);
        return false;
      }
      if (!pp.prefix->is_host()) {
        error(l, "'" + std::string(field) + "' of " + where + " is the prefix " + pp.prefix->str() +
                     "; NAT translates one host address to one, so write a "
                     "host address");
        return false;
      }
      into = *pp.prefix;
      return true;
    };
    NatBinding nat;
    nat.loc = loc;
    SourceLoc address_loc;
    bool ok = host("address", nat.real, address_loc);
    ok = host("public", nat.pub, nat.public_loc) && ok;
    if (const toml::node* n = t.get("nat")) {
      nat.kind_loc = at(*n);
      auto s = n->value<std::string>();
      if (s && *s == "destination")
        nat.kind = NatBinding::Kind::Destination;
      else if (s && *s == "symmetric")
        nat.kind = NatBinding::Kind::Symmetric;
      else {
        error(nat.kind_loc, "'nat' of " + where +
                                " must be \"destination\" (inbound connections only) or "
                                "\"symmetric\" (also the host's outbound connections)");
        ok = false;
      }
    }
    if (const toml::node* n = t.get("outside")) {
      nat.outside_loc = at(*n);
      if (auto s = string(*n, "outside"))
        nat.outside = *s;
      else
        ok = false;
    }
    if (!ok)
      return std::nullopt;
    if (nat.real.family() != nat.pub.family()) {
      error(nat.public_loc, "'public' " + nat.pub.str() + " of " + where + " is IPv" +
                                (nat.pub.family() == Family::V4 ? "4" : "6") + " but 'address' " +
                                nat.real.str() + " is IPv" +
                                (nat.real.family() == Family::V4 ? "4" : "6") +
                                "; NAT translates within one family");
      return std::nullopt;
    }
    if (nat.real == nat.pub) {
      error(nat.public_loc, "'public' of " + where + " is its 'address' " + nat.real.str() +
                                "; there is nothing to translate (bind the address alone)");
      return std::nullopt;
    }
    Binding b;
    b.loc = loc;
    b.prefixes = {nat.real};
    b.nat = std::move(nat);
    return b;
  }

  Target target(const toml::table& t, SourceLoc loc, size_t index) {
    Target tg;
    tg.loc = loc;
    std::string where = "targets[" + std::to_string(index) + "]";
    only_keys(t, {"name", "backend", "env", "host", "between", "output", "options"}, where);
    auto req = [&](const char* key, std::string& into, SourceLoc& l) {
      if (auto* n = t.get(key)) {
        l = at(*n);
        if (auto s = string(*n, key))
          into = *s;
      } else {
        error(loc, where + " needs '" + key + "'");
      }
    };
    SourceLoc name_loc;
    req("name", tg.name, name_loc);
    req("backend", tg.backend, tg.backend_loc);
    req("output", tg.output, tg.output_loc);
    if (auto* e = t.get("env")) {
      tg.env_loc = at(*e);
      if (auto s = string(*e, "env"))
        tg.env = *s;
    }
    auto* host = t.get("host");
    auto* between = t.get("between");
    if (host && between) {
      error(at(*between), where + " has both 'host' and 'between'; a target enforces one");
    } else if (host) {
      tg.scope = Scope::Host;
      tg.scope_loc = at(*host);
      // One role, or a machine holding several: host = ["fe", "cms"].
      if (host->is_array()) {
        for (auto& [r, l] : strings(*host, "host")) {
          if (std::find(tg.hosts.begin(), tg.hosts.end(), r) != tg.hosts.end()) {
            error(l, "role '" + r + "' is named twice in 'host'");
            continue;
          }
          tg.hosts.push_back(r);
          tg.host_locs.push_back(l);
        }
        if (tg.hosts.empty())
          error(tg.scope_loc, "'host' names no role; write host = \"ROLE\" or [\"ROLE\", ...]");
      } else if (auto s = string(*host, "host")) {
        tg.hosts.push_back(*s);
        tg.host_locs.push_back(tg.scope_loc);
      }
    } else if (between) {
      tg.scope = Scope::Between;
      tg.scope_loc = at(*between);
      for (auto& [z, l] : strings(*between, "between")) {
        tg.between.push_back(z);
        tg.between_locs.push_back(l);
      }
      if (tg.between.size() != 2 || tg.between[0] == tg.between[1])
        error(tg.scope_loc, "'between' must name two different zones");
    } else {
      error(loc, where + " needs 'host = \"ROLE\"' or 'between = [\"ZONE\", \"ZONE\"]'");
    }
    if (auto* o = t.get("options")) {
      if (const toml::table* ot = o->as_table()) {
        for (const auto& [k, v] : *ot) {
          OptionValue ov;
          ov.loc = at(k);
          if (auto b = v.value_exact<bool>())
            ov.value = *b;
          else if (auto i = v.value_exact<int64_t>())
            ov.value = *i;
          else if (auto s = v.value_exact<std::string>())
            ov.value = *s;
          else if (v.is_array()) {
            std::vector<std::string> list;
            for (auto& [s2, l2] : strings(v, std::string(k.str())))
              list.push_back(s2);
            ov.value = list;
          } else {
            error(at(v), "option '" + std::string(k.str()) +
                             "' must be a boolean, integer, string or array of strings");
            continue;
          }
          tg.options.emplace(std::string(k.str()), std::move(ov));
        }
      } else {
        error(at(*o), "'options' must be a table");
      }
    }
    return tg;
  }

private:
  uint32_t file_;
  Diagnostics& diags_;
};

} // namespace

std::string Target::host_str() const {
  std::string s;
  for (size_t i = 0; i < hosts.size(); ++i)
    s += (i ? ", " : "") + hosts[i];
  return s;
}

std::optional<Manifest> read_manifest(const fs::path& path, SourceManager& sm, Diagnostics& diags) {
  std::string why;
  auto text = read_file(path, &why);
  if (!text) {
    diags.error("unreadable", SourceLoc{},
                "cannot read manifest '" + path.string() + "'" + (why.empty() ? "" : ": " + why));
    return std::nullopt;
  }
  return read_manifest_text(path, *text, sm, diags);
}

Manifest read_manifest_text(const fs::path& path, const std::string& text, SourceManager& sm,
                            Diagnostics& diags) {
  Manifest m;
  m.path = path;
  m.dir = path.parent_path();
  uint32_t id = sm.add(path.generic_string(), text);
  m.loc = SourceLoc{id, 1, 1, 1};
  Reader r(id, diags);
  toml::table root;
  try {
    root = toml::parse(text, path.generic_string());
  } catch (const toml::parse_error& e) {
    diags.error("manifest", r.at(e.source()), "invalid TOML: " + std::string(e.description()));
    return m;
  }
  r.only_keys(root, {"policies", "environments", "targets", "checks"}, "the manifest");
  if (auto* p = root.get("policies")) {
    for (auto& [s, l] : r.strings(*p, "policies")) {
      m.policies.push_back(s);
      m.policy_locs.push_back(l);
    }
  } else {
    r.error(m.loc, "the manifest needs 'policies = [\"FILE.policy\", ...]'");
  }
  if (auto* envs = root.get("environments")) {
    if (const toml::table* et = envs->as_table()) {
      for (const auto& [k, v] : *et) {
        if (const toml::table* t = v.as_table())
          m.environments.emplace(std::string(k.str()),
                                 r.environment(std::string(k.str()), *t, r.at(k)));
        else
          r.error(r.at(k), "environment '" + std::string(k.str()) + "' must be a table");
      }
    } else {
      r.error(r.at(*envs), "'environments' must be a table");
    }
  }
  if (auto* tg = root.get("targets")) {
    if (const toml::array* arr = tg->as_array()) {
      size_t i = 0;
      for (const toml::node& n : *arr) {
        if (const toml::table* t = n.as_table())
          m.targets.push_back(r.target(*t, r.at(n), i));
        else
          r.error(r.at(n), "each [[targets]] entry must be a table");
        ++i;
      }
    } else {
      r.error(r.at(*tg), "'targets' must be an array of tables: write [[targets]]");
    }
  }
  if (auto* ch = root.get("checks")) {
    if (const toml::table* ct = ch->as_table()) {
      for (const auto& [k, v] : *ct) {
        auto s = v.value<std::string>();
        if (!s || (*s != "error" && *s != "warning" && *s != "note" && *s != "off")) {
          r.error(r.at(v), "severity of '" + std::string(k.str()) +
                               "' must be \"error\", \"warning\", \"note\" or \"off\"");
          continue;
        }
        if (!find_check(k.str())) { // a typo must never leave a check at its default
          std::vector<std::string> codes;
          for (const CheckInfo& c : check_catalog())
            codes.push_back(c.code);
          std::string msg = "[checks] has no code '" + std::string(k.str()) + "'";
          if (auto n = nearest_name(std::string(k.str()), codes))
            msg += "; did you mean '" + *n + "'?";
          r.error(r.at(k), msg + " ('portolan check --list-checks' lists them)");
          continue;
        }
        m.checks.emplace(std::string(k.str()), *s);
        m.check_locs.emplace(std::string(k.str()), r.at(k));
      }
    } else {
      r.error(r.at(*ch), "'checks' must be a table of code = severity");
    }
  }
  // Defaults that keep small manifests short: a single environment needs no 'env' per target.
  for (Target& t : m.targets) {
    if (t.env.empty() && m.environments.size() == 1)
      t.env = m.environments.begin()->first;
  }
  return m;
}

namespace {

/// Why `output` cannot name a file inside the output folder; empty when it can.
std::string output_problem(const std::string& output) {
  for (unsigned char c : output)
    if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "%02X", c);
      return std::string("output contains the control character U+00") + hex +
             "; a file name cannot hold it";
    }
  if (output.empty())
    return "output is empty: it must name a file inside the output folder";
  fs::path o(output);
  if (o.is_absolute() ||
      std::any_of(o.begin(), o.end(), [](const fs::path& x) { return x == ".."; }))
    return "output '" + output + "' must be a relative path inside the output folder (no '..')";
  fs::path norm = o.lexically_normal();
  if (output.back() == '/' || !norm.has_filename() || norm == ".")
    return "output '" + output + "' names a folder: it must name a file inside the output folder";
  if (*norm.begin() == kOwnedList)
    return "output '" + output + "' is the list of files Portolan keeps in the output folder";
  return "";
}

} // namespace

Endpoint key_endpoint(const std::string& key) {
  Endpoint e;
  auto dot = key.find('.');
  e.role = key.substr(0, dot);
  if (dot != std::string::npos)
    e.iface = key.substr(dot + 1);
  return e;
}

namespace {

/// The other zones of the perimeter targets of `env` that have zone `z`, sorted.
std::set<std::string> perimeter_peers(const Manifest& m, const std::string& env,
                                      const std::string& z) {
  std::set<std::string> out;
  for (const Target& t : m.targets)
    if (t.env == env && t.scope == Scope::Between && t.between.size() == 2 &&
        t.between[0] != t.between[1])
      for (int i : {0, 1})
        if (t.between[static_cast<size_t>(i)] == z)
          out.insert(t.between[static_cast<size_t>(1 - i)]);
  return out;
}

} // namespace

std::string nat_outside(const Manifest& m, const Policy& p, const std::string& env,
                        const std::string& key, const NatBinding& nat) {
  const std::string& zone = p.zone_of(key_endpoint(key));
  if (zone.empty())
    return "";
  std::set<std::string> peers = perimeter_peers(m, env, zone);
  if (!nat.outside.empty())
    return peers.count(nat.outside) ? nat.outside : "";
  return peers.size() == 1 ? *peers.begin() : "";
}

/// The NAT rules of the vendor (issue 12 item 4): NAT only on the external side, that is at a
/// perimeter between the binding's zone and the outside; one public address per host.
static void validate_nat(const Manifest& m, const Policy& p, const Environment& env,
                         const std::vector<std::string>& zones, Diagnostics& diags) {
  std::map<Prefix, std::pair<std::string, SourceLoc>> publics;
  for (const auto& [key, b] : env.bind) {
    if (!b.nat)
      continue;
    const NatBinding& nat = *b.nat;
    if (auto [it, fresh] = publics.emplace(nat.pub, std::pair{key, nat.public_loc}); !fresh)
      diags
          .error("manifest", nat.public_loc,
                 "public address " + nat.pub.str() + " of '" + key + "' is also the public " +
                     "address of '" + it->second.first + "' in environment '" + env.name +
                     "'; a destination NAT sends one public address to one host")
          .notes.push_back({it->second.second, "first given here"});
    Endpoint e = key_endpoint(key);
    const Role* r = p.find_role(e.role);
    if (!r || (!e.iface.empty() && !r->find_interface(e.iface)))
      continue; // unknown-role, reported above
    const std::string& zone = p.zone_of(e);
    if (zone.empty()) {
      diags.error("manifest", nat.public_loc,
                  "'" + key + "' is in no zone, so no perimeter is on its outside to translate " +
                      nat.pub.str() + "; put the role or interface in a zone");
      continue;
    }
    std::set<std::string> peers = perimeter_peers(m, env.name, zone);
    if (!nat.outside.empty()) {
      if (!p.zone_index.count(nat.outside)) {
        std::string msg = "NAT binding of '" + key + "' faces unknown zone '" + nat.outside + "'";
        if (auto n = nearest_name(nat.outside, zones))
          msg += "; did you mean '" + *n + "'?";
        diags.error("unknown-zone", nat.outside_loc, msg);
      } else if (nat.outside == zone) {
        diags.error("manifest", nat.outside_loc,
                    "'outside' of '" + key + "' is its own zone '" + zone +
                        "'; NAT happens on the external side, at a perimeter between two zones");
      } else if (!peers.count(nat.outside)) {
        diags.error("manifest", nat.outside_loc,
                    "no perimeter target of environment '" + env.name + "' is between zones '" +
                        zone + "' and '" + nat.outside + "', so nothing would translate " +
                        nat.pub.str() + " for '" + key + "'");
      }
      continue;
    }
    if (peers.empty()) {
      diags.error("manifest", nat.public_loc,
                  "'" + key + "' is given the public address " + nat.pub.str() + ", but zone '" +
                      zone + "' is in no perimeter target of environment '" + env.name +
                      "'; NAT happens at a perimeter between the zone and the outside");
    } else if (peers.size() > 1) {
      std::string list;
      for (const std::string& z : peers)
        list += (list.empty() ? "'" : ", '") + z + "'";
      diags.error("manifest", nat.public_loc,
                  "zone '" + zone + "' of '" + key + "' has perimeters toward " + list +
                      "; say which one translates " + nat.pub.str() + " with outside = \"ZONE\"");
    }
  }
}

std::map<std::string, ValidTarget> validate_manifest(const Manifest& m, const Policy& p,
                                                     const std::vector<BackendSpec>& backends,
                                                     Diagnostics& diags) {
  std::map<std::string, ValidTarget> valid;
  std::vector<std::string> backend_names;
  for (const BackendSpec& b : backends)
    backend_names.push_back(b.name);
  std::vector<std::string> roles, endpoints, zones, features, envs;
  for (const Role& r : p.roles) {
    roles.push_back(r.name);
    endpoints.push_back(r.name);
    for (const Interface& i : r.interfaces)
      endpoints.push_back(r.name + "." + i.name);
  }
  for (const Zone& z : p.zones)
    zones.push_back(z.name);
  for (const Feature& f : p.features)
    features.push_back(f.name);
  for (const auto& [n, e] : m.environments)
    envs.push_back(n);
  auto hint = [](const std::string& n, const std::vector<std::string>& c) {
    auto s = nearest_name(n, c);
    return s ? "; did you mean '" + *s + "'?" : std::string();
  };
  // Hashed for membership (a scan of the list per binding was quadratic in the roles); the
  // list, in policy order, gives the hints.
  const std::unordered_set<std::string> known(endpoints.begin(), endpoints.end());
  for (const auto& [name, env] : m.environments) {
    for (const auto& [key, b] : env.bind)
      if (!known.count(key))
        diags.error("unknown-role", b.loc,
                    "environment '" + name + "' binds '" + key +
                        "', which is no role or role.interface of the policy" +
                        hint(key, endpoints));
    for (const auto& [f, loc] : env.features)
      if (!p.feature_index.count(f))
        diags.error("unknown-feature", loc,
                    "environment '" + name + "' switches on unknown feature '" + f + "'" +
                        hint(f, features));
    validate_nat(m, p, env, zones, diags);
  }
  std::map<std::string, const Target*> names;
  std::map<std::string, const Target*> outputs;
  for (const Target& t : m.targets) {
    if (t.name.empty())
      continue;
    if (auto [it, fresh] = names.emplace(t.name, &t); !fresh)
      diags.error("manifest", t.loc, "target name '" + t.name + "' is used twice")
          .notes.push_back({it->second->loc, "first used here"});
    if (!t.backend.empty() &&
        std::find(backend_names.begin(), backend_names.end(), t.backend) == backend_names.end()) {
      std::string list;
      for (const auto& b : backend_names)
        list += (list.empty() ? "" : ", ") + b;
      diags.error("unknown-backend", t.backend_loc,
                  "unknown backend '" + t.backend + "'" + hint(t.backend, backend_names) +
                      " (known: " + list + ")");
    }
    if (t.env.empty())
      diags.error("manifest", t.loc,
                  "target '" + t.name + "' needs 'env': the manifest has " +
                      std::to_string(m.environments.size()) + " environments");
    else if (!m.environments.count(t.env))
      diags.error("manifest", t.env_loc, "unknown environment '" + t.env + "'" + hint(t.env, envs));
    if (t.scope == Scope::Host)
      for (size_t i = 0; i < t.hosts.size(); ++i) {
        const std::string& h = t.hosts[i];
        if (!h.empty() && !p.role_index.count(h))
          diags.error("unknown-role", t.host_locs[i],
                      "target '" + t.name + "' enforces on unknown role '" + h + "'" +
                          hint(h, roles));
        if (const Role* r = p.find_role(h); r && r->vip) {
          std::string nodes;
          for (const Endpoint& n : r->vip->nodes)
            nodes += (nodes.empty() ? "'" : ", '") + n.role + "'";
          diags.error("vip", t.host_locs[i],
                      "role '" + h +
                          "' is a VIP: its address lives on the load balancer, which has no host "
                          "firewall here; target its nodes (" +
                          nodes + ") instead");
        }
      }
    if (t.scope == Scope::Between)
      for (size_t i = 0; i < t.between.size(); ++i)
        if (const std::string& z = t.between[i]; !p.zone_index.count(z))
          diags.error("unknown-zone", t.between_locs[i],
                      "target '" + t.name + "' names unknown zone '" + z + "'" + hint(z, zones));
    if (t.output_loc.valid()) {
      if (std::string why = output_problem(t.output); !why.empty()) {
        diags.error("manifest", t.output_loc, why);
        continue;
      }
      // Every file the target writes, as the file system will see it: "./a", "a//b" and "a"
      // are one path, and iptables' "r" writes "r.v4", which another target may name.
      std::string norm = fs::path(t.output).lexically_normal().generic_string();
      std::vector<std::string> sx{""};
      for (const BackendSpec& b : backends)
        if (b.name == t.backend)
          sx = b.suffixes;
      for (const std::string& suffix : sx) {
        std::string file = norm + suffix;
        if (auto [it, fresh] = outputs.emplace(file, &t); !fresh) {
          const Target& first = *it->second;
          std::string msg = first.output == t.output && file == t.output
                                ? "output '" + t.output + "' is written by two targets"
                                : "output '" + t.output + "' writes '" + file +
                                      "', which target '" + first.name +
                                      "' also writes (its output '" + first.output + "')";
          diags.error("manifest", t.output_loc, msg)
              .notes.push_back({it->second->output_loc, "first written here"});
        }
      }
    }
    for (const BackendSpec& b : backends)
      if (b.name == t.backend && !valid.count(t.name)) {
        Diagnostics said;
        ValidTarget v{validate_target(t, b, said), {}};
        for (const Diagnostic& d : said.all())
          diags.add(d.severity, d.code, d.loc, d.message) = d;
        v.findings = said.all();
        if (std::find(b.scopes.begin(), b.scopes.end(), t.scope) != b.scopes.end())
          valid.emplace(t.name, std::move(v));
      }
  }
  // A file of one target cannot be a folder of another's ("a" and "a/b").
  for (const auto& [file, t] : outputs)
    for (fs::path up = fs::path(file).parent_path(); !up.empty(); up = up.parent_path())
      if (auto it = outputs.find(up.generic_string()); it != outputs.end())
        diags
            .error("manifest", t->output_loc,
                   "output '" + t->output + "' needs a folder '" + it->first + "', which target '" +
                       it->second->name + "' writes as a file")
            .notes.push_back({it->second->output_loc, "written here"});
  return valid;
}

} // namespace portolan
