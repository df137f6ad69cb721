// unused: roles, interfaces, services, features and zones no flow (or target) uses. A shared
// catalogue (a file that loaded policies import) is judged over every policy that imports it:
// the loaded ones and their siblings (the other policies in the importers' folders that import
// the same file), so an item only a sibling uses is not unused, and a file-level suppression of
// `unused` in the catalogue that a sibling needs is not reported as suppressing nothing.
#include "check.h"

#include "load.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <unordered_set>
#include <utility>

namespace fs = std::filesystem;

namespace portolan {
namespace {

/// The names a set of flows uses.
struct Uses {
  /// Hashed: an ordered set of every role's name made this check O(N log N) string compares.
  using Names = std::unordered_set<std::string>;
  Names roles, endpoints, services, features, groups;
  /// Resolved roles and endpoints already in the sets above, by dense id: each name is
  /// hashed once, not once per flow (millions of lookups in a set that outgrows the cache).
  std::vector<uint8_t> seen_role, seen_endpoint;
  void use(const Policy& p, const Endpoint& e) {
    if (e.kind == Endpoint::Kind::Single && e.role_id >= 0 &&
        static_cast<size_t>(e.role_id) < seen_role.size() &&
        p.roles[static_cast<size_t>(e.role_id)].name == e.role) {
      int32_t id = p.endpoint_id(e);
      if (id >= 0 && static_cast<size_t>(id) < seen_endpoint.size()) {
        if (!std::exchange(seen_role[static_cast<size_t>(e.role_id)], 1))
          roles.insert(e.role);
        if (!std::exchange(seen_endpoint[static_cast<size_t>(id)], 1))
          endpoints.insert(e.str());
        return;
      }
    }
    roles.insert(e.role);
    endpoints.insert(e.str());
  }
  /// A side's roles and interfaces (a group's or list's members), and the groups it names,
  /// nested ones included.
  void add_side(const Policy& p, const Endpoint& side) {
    for (const Endpoint* e : side.concrete())
      if (!e->is_any())
        use(p, *e);
    auto is_role = [&](const Endpoint& e) {
      // The loader's index, checked against the name; else the name's lookup.
      if (e.role_id >= 0 && static_cast<size_t>(e.role_id) < p.roles.size() &&
          p.roles[static_cast<size_t>(e.role_id)].name == e.role)
        return true;
      return p.role_index.count(e.role) > 0;
    };
    if (side.kind == Endpoint::Kind::Single && side.items.empty() && side.iface.empty() &&
        is_role(side))
      return; // a role names no group (the usual side: no lookup below)
    std::function<void(const Endpoint&)> name_groups = [&](const Endpoint& e) {
      for (const Endpoint& item : e.items)
        name_groups(item);
      auto it = p.group_index.find(e.role);
      if (e.kind == Endpoint::Kind::List || !e.iface.empty() || it == p.group_index.end() ||
          p.role_index.count(e.role) || !groups.insert(e.role).second)
        return;
      for (const Endpoint& item : p.groups[it->second].items)
        name_groups(item);
    };
    name_groups(side);
  }
  void add(const Policy& p) {
    seen_role.assign(p.roles.size(), 0);
    seen_endpoint.assign(p.endpoint_count(), 0);
    for (const Flow& f : p.flows) {
      for (const Endpoint* e : {&f.src, &f.dst})
        add_side(p, *e);
      if (f.maps)
        add_side(p, f.maps->dst);
      for (const ServiceRef& s : f.services)
        services.insert(s.name);
      if (f.when)
        for (const std::string& x : f.when->features())
          features.insert(x);
    }
    // A VIP uses its nodes and its balancer's address.
    for (const Role& r : p.roles)
      if (r.vip) {
        for (const Endpoint& n : r.vip->nodes) {
          roles.insert(n.role);
          endpoints.insert(n.str());
        }
        if (r.vip->snat_from) {
          roles.insert(r.vip->snat_from->role);
          endpoints.insert(r.vip->snat_from->str());
        }
      }
    // An expectation names what it judges: its roles and services are in use.
    for (const Expectation& e : p.expectations) {
      for (const ExpectSide* x : {&e.src, &e.dst})
        if (x->kind == ExpectSide::Kind::Endpoint)
          add_side(p, x->endpoint);
      for (const ServiceRef& x : e.services)
        services.insert(x.name);
    }
  }
};

fs::path key_of(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(p, ec);
  return ec ? p.lexically_normal() : c;
}

/// The files a policy text imports (`import "path";` at the start of a line), resolved
/// against the importing file's folder.
std::vector<fs::path> imports_of(const fs::path& file, std::string_view text) {
  std::vector<fs::path> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos)
      end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    size_t i = line.find_first_not_of(" \t");
    if (i == std::string_view::npos || line.compare(i, 6, "import") != 0)
      continue;
    size_t q1 = line.find('"', i + 6);
    size_t q2 = q1 == std::string_view::npos ? q1 : line.find('"', q1 + 1);
    if (q2 != std::string_view::npos)
      out.push_back(key_of(file.parent_path() / std::string(line.substr(q1 + 1, q2 - q1 - 1))));
  }
  return out;
}

/// A policy that imports a loaded catalogue but is not loaded itself.
struct Sibling {
  std::string path;
  std::set<fs::path> imports;
  Uses uses;
};

class UnusedCheck : public Check {
public:
  const char* name() const override { return "unused"; }
  std::vector<std::string> codes() const override { return {"unused"}; }

  void run(AnalysisContext& ctx) const override {
    const Policy& p = ctx.policy;
    Uses here;
    here.add(p);
    std::set<std::string> zones;
    for (const Role& r : p.roles) {
      zones.insert(r.zone);
      for (const Interface& i : r.interfaces)
        zones.insert(i.zone);
    }
    if (ctx.manifest)
      for (const Target& t : ctx.manifest->targets)
        for (const auto& z : t.between)
          zones.insert(z);

    // Shared catalogues: loaded files that another loaded file imports.
    std::map<fs::path, uint32_t> loaded; // key -> file id
    std::map<uint32_t, std::vector<fs::path>> imports;
    for (uint32_t id = 1; id <= ctx.sm.size(); ++id) {
      const SourceFile& f = ctx.sm.file(id);
      if (fs::path(f.path).extension() != ".policy")
        continue;
      loaded.emplace(key_of(f.path), id);
      imports[id] = imports_of(f.path, f.text);
    }
    std::map<uint32_t, fs::path> catalogues; // file id -> key
    std::set<fs::path> folders;
    for (const auto& [id, list] : imports)
      for (const fs::path& k : list)
        if (auto it = loaded.find(k); it != loaded.end()) {
          catalogues.emplace(it->second, k);
          folders.insert(key_of(ctx.sm.file(id).path).parent_path());
        }
    std::vector<Sibling> siblings;
    if (!catalogues.empty())
      siblings = find_siblings(folders, loaded, catalogues);

    // Per item: the siblings that import its file, and which of them use it.
    auto judge = [&](SourceLoc loc, const Uses::Names& used_here, Uses::Names Uses::*kind,
                     const std::string& name, const std::string& what) {
      if (used_here.count(name)) {
        // Used here; a sibling importing the catalogue that does not use it needs the
        // catalogue's suppression: say so to that suppression (the finding is dropped by it).
        auto cat = catalogues.find(loc.file);
        if (cat == catalogues.end() || !has_file_suppression(p, loc.file))
          return;
        for (const Sibling& s : siblings)
          if (s.imports.count(cat->second) && !(s.uses.*kind).count(name)) {
            ctx.report("unused", loc,
                       what + " is used by no flow of '" + s.path +
                           "', which imports this catalogue too");
            return;
          }
        return;
      }
      std::string also;
      if (auto cat = catalogues.find(loc.file); cat != catalogues.end()) {
        for (const Sibling& s : siblings) {
          if (!s.imports.count(cat->second))
            continue;
          if ((s.uses.*kind).count(name)) {
            // A sibling policy needs it. Under the catalogue's own suppression the finding is
            // reported anyway: that suppression drops it (and is thereby in use).
            if (has_file_suppression(p, loc.file))
              break;
            return;
          }
          also += (also.empty() ? "" : ", ") + ("'" + s.path + "'");
        }
      }
      ctx.report("unused", loc,
                 what + (also.empty() ? " is used by no flow"
                                      : " is used by no flow of any policy importing it (also "
                                        "judged: " +
                                            also + ")"));
    };

    for (const Role& r : p.roles) {
      if (!here.roles.count(r.name)) {
        judge(r.loc, here.roles, &Uses::roles, r.name, "role '" + r.name + "'");
        continue;
      }
      if (here.endpoints.count(r.name))
        continue; // the whole role is an endpoint: every interface is in use
      for (const Interface& i : r.interfaces)
        if (!here.endpoints.count(r.name + "." + i.name))
          judge(i.loc, here.endpoints, &Uses::endpoints, r.name + "." + i.name,
                "interface '" + r.name + "." + i.name + "'");
    }
    for (const Service& s : p.services)
      judge(s.loc, here.services, &Uses::services, s.name, "service '" + s.name + "'");
    for (const Group& g : p.groups)
      judge(g.loc, here.groups, &Uses::groups, g.name, "group '" + g.name + "'");
    for (const Feature& f : p.features) {
      if (here.features.count(f.name)) {
        judge(f.loc, here.features, &Uses::features, f.name, "feature '" + f.name + "'");
        continue;
      }
      // The condition of no flow: the wording says what "used" means for a feature.
      bool sibling_uses = false;
      auto cat = catalogues.find(f.loc.file);
      for (const Sibling& s : siblings)
        sibling_uses = sibling_uses || (cat != catalogues.end() && s.imports.count(cat->second) &&
                                        s.uses.features.count(f.name));
      if (!sibling_uses || has_file_suppression(p, f.loc.file))
        ctx.report("unused", f.loc, "feature '" + f.name + "' is the condition of no flow");
    }
    for (const Zone& z : p.zones)
      if (!zones.count(z.name))
        ctx.report("unused", z.loc, "zone '" + z.name + "' holds no role and bounds no target");
  }

private:
  static bool has_file_suppression(const Policy& p, uint32_t file) {
    for (const Suppression& s : p.suppressions)
      if (s.code == "unused" && s.loc.file == file && !s.reason.empty())
        return true;
    return false;
  }

  /// Policies in the importers' folders, not loaded, that import one of the catalogues; each
  /// loaded on its own (a sibling that does not load cleanly is left out).
  static std::vector<Sibling> find_siblings(const std::set<fs::path>& folders,
                                            const std::map<fs::path, uint32_t>& loaded,
                                            const std::map<uint32_t, fs::path>& catalogues) {
    std::set<fs::path> cat_keys;
    for (const auto& [id, k] : catalogues)
      cat_keys.insert(k);
    std::vector<Sibling> out;
    for (const fs::path& dir : folders) {
      std::error_code ec;
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.is_regular_file(ec) && e.path().extension() == ".policy")
          files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const fs::path& f : files) {
        if (loaded.count(key_of(f)))
          continue;
        auto text = read_file(f);
        if (!text)
          continue;
        Sibling s;
        for (const fs::path& k : imports_of(f, *text))
          if (cat_keys.count(k))
            s.imports.insert(k);
        if (s.imports.empty())
          continue;
        SourceManager sm;
        Diagnostics diags;
        LoadResult r = load_policy({f}, sm, diags);
        if (!r.ok)
          continue;
        s.uses.add(r.policy);
        s.path = f.filename().string();
        out.push_back(std::move(s));
      }
    }
    return out;
  }
};

} // namespace

std::unique_ptr<Check> make_unused_check() {
  return std::make_unique<UnusedCheck>();
}

} // namespace portolan
