#include "manifest.h"

#include "load.h"

#include <toml++/toml.h>

#include <algorithm>
#include <set>

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
      if (auto s = string(*host, "host"))
        tg.host = *s;
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

std::optional<Manifest> read_manifest(const fs::path& path, SourceManager& sm, Diagnostics& diags) {
  auto text = read_file(path);
  if (!text) {
    diags.error("unreadable", SourceLoc{}, "cannot read manifest '" + path.string() + "'");
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

void validate_manifest(const Manifest& m, const Policy& p,
                       const std::vector<std::string>& backend_names, Diagnostics& diags) {
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
  for (const auto& [name, env] : m.environments) {
    for (const auto& [key, b] : env.bind)
      if (std::find(endpoints.begin(), endpoints.end(), key) == endpoints.end())
        diags.error("unknown-role", b.loc,
                    "environment '" + name + "' binds '" + key +
                        "', which is no role or role.interface of the policy" +
                        hint(key, endpoints));
    for (const auto& [f, loc] : env.features)
      if (!p.feature_index.count(f))
        diags.error("unknown-feature", loc,
                    "environment '" + name + "' switches on unknown feature '" + f + "'" +
                        hint(f, features));
  }
  std::map<std::string, const Target*> names;
  std::map<std::string, const Target*> outputs;
  for (const Target& t : m.targets) {
    if (t.name.empty())
      continue;
    if (auto [it, fresh] = names.emplace(t.name, &t); !fresh)
      diags.error("manifest", t.loc, "target name '" + t.name + "' is used twice")
          .notes.push_back({it->second->loc, "first used here"});
    if (auto [it, fresh] = outputs.emplace(t.output, &t); !fresh && !t.output.empty())
      diags.error("manifest", t.output_loc, "output '" + t.output + "' is written by two targets")
          .notes.push_back({it->second->output_loc, "first written here"});
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
    if (t.scope == Scope::Host && !t.host.empty() && !p.role_index.count(t.host))
      diags.error("unknown-role", t.scope_loc,
                  "target '" + t.name + "' enforces on unknown role '" + t.host + "'" +
                      hint(t.host, roles));
    if (t.scope == Scope::Between)
      for (size_t i = 0; i < t.between.size(); ++i)
        if (const std::string& z = t.between[i]; !p.zone_index.count(z))
          diags.error("unknown-zone", t.between_locs[i],
                      "target '" + t.name + "' names unknown zone '" + z + "'" + hint(z, zones));
    if (!t.output.empty()) {
      fs::path o(t.output);
      bool escapes = o.is_absolute();
      for (const auto& part : o)
        if (part == "..")
          escapes = true;
      if (escapes)
        diags.error("manifest", t.output_loc,
                    "output '" + t.output +
                        "' must be a relative path inside the output folder (no '..')");
    }
  }
}

} // namespace portolan
