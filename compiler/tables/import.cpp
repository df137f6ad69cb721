#include "tables/import.h"

#include "load.h"
#include "model.h"
#include "tables/protocol.h"
#include "tables/table.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <ostream>
#include <set>
#include <sstream>

namespace portolan::tables {

namespace fs = std::filesystem;

namespace {

bool contains_any(const std::string& folded, std::initializer_list<const char*> words) {
  for (const char* w : words)
    if (folded.find(w) != std::string::npos)
      return true;
  return false;
}

std::vector<std::string> words_of(const std::string& folded) {
  std::vector<std::string> out;
  std::string w;
  for (char c : folded) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      w += c;
    } else if (!w.empty()) {
      out.push_back(w);
      w.clear();
    }
  }
  if (!w.empty())
    out.push_back(w);
  return out;
}

bool has_word(const std::string& folded, std::initializer_list<const char*> words) {
  for (const std::string& w : words_of(folded))
    for (const char* x : words)
      if (w == x)
        return true;
  return false;
}

// --- header recognition (en, pt-BR, es, it, de, fr) -------------------------------------------

struct PortColumns {
  int proto = -1, src = -1, dst = -1, notes = -1, cond = -1;
  size_t needed = 0; ///< cells a data row must have
};

std::optional<PortColumns> port_columns(const TableRow& header) {
  PortColumns c;
  for (size_t i = 0; i < header.cells.size(); ++i) {
    std::string h = fold(header.cells[i]);
    int idx = static_cast<int>(i);
    if (c.src < 0 &&
        contains_any(h, {"source", "origem", "origen", "origine", "quell", "sorgente"}))
      c.src = idx;
    else if (c.dst < 0 && contains_any(h, {"destin", "ziel"}))
      c.dst = idx;
    else if (c.proto < 0 && contains_any(h, {"protocol", "protokoll"}))
      c.proto = idx;
    else if (c.cond < 0 && contains_any(h, {"condi", "bedingung"}))
      c.cond = idx;
    else if (c.notes < 0 && contains_any(h, {"note", "nota", "hinweis", "anmerkung", "bemerkung",
                                             "remarque", "comment", "observ", "descri"}))
      c.notes = idx;
  }
  if (c.proto < 0) // a bare "Port" column
    for (size_t i = 0; i < header.cells.size(); ++i) {
      int idx = static_cast<int>(i);
      if (idx != c.src && idx != c.dst && idx != c.notes && idx != c.cond &&
          contains_any(fold(header.cells[i]), {"port", "puerto"})) {
        c.proto = idx;
        break;
      }
    }
  if (c.proto < 0 || c.src < 0 || c.dst < 0)
    return std::nullopt;
  c.needed = static_cast<size_t>(std::max({c.proto, c.src, c.dst})) + 1;
  return c;
}

/// `doc`'s own "Role | Description | Zone" table.
struct EndpointColumns {
  int name = -1, desc = -1, zone = -1;
};

std::optional<EndpointColumns> endpoint_columns(const TableRow& header) {
  EndpointColumns c;
  for (size_t i = 0; i < header.cells.size(); ++i) {
    std::string h = fold(header.cells[i]);
    int idx = static_cast<int>(i);
    if (c.zone < 0 && contains_any(h, {"zone", "zona"}))
      c.zone = idx;
    else if (c.desc < 0 && contains_any(h, {"descri", "beschreib"}))
      c.desc = idx;
    else if (c.name < 0 && contains_any(h, {"role", "interface", "rolle", "ruolo", "rol"}))
      c.name = idx;
  }
  if (c.name < 0 || c.zone < 0)
    return std::nullopt;
  return c;
}

/// `doc`'s own "Feature | Description" table.
bool is_feature_table(const TableRow& header) {
  return !header.cells.empty() && contains_any(fold(header.cells[0]), {"feature"}) &&
         !port_columns(header) && !endpoint_columns(header);
}

// --- names from labels --------------------------------------------------------------------------

const std::set<std::string>& stopwords() {
  static const std::set<std::string> s{
      "of",  "the", "for", "and",  "to", "an",    "de",  "da",  "do",  "das", "dos", "para",
      "e",   "o",   "a",   "os",   "as", "del",   "la",  "el",  "los", "las", "y",   "di",
      "dei", "per", "il",  "lo",   "le", "della", "der", "die", "das", "des", "fur", "und",
      "von", "du",  "les", "pour", "et", "en",    "em",  "con", "com", "mit", "avec"};
  return s;
}

/// A name of the policy language from free text: folded, words joined by '_', stop words
/// dropped (when asked and something else is left), at most about 40 characters.
std::string slug(const std::string& text, bool drop_stopwords) {
  std::string f = fold(plain_slashes(text));
  if (f.size() <= 4) // "A/V" -> "av"
    f.erase(std::remove(f.begin(), f.end(), '/'), f.end());
  std::vector<std::string> w = words_of(f), kept;
  for (const std::string& x : w)
    if (!drop_stopwords || !stopwords().count(x))
      kept.push_back(x);
  if (kept.empty())
    kept = w;
  std::string s;
  for (const std::string& x : kept) {
    if (!s.empty() && s.size() + x.size() > 40)
      break;
    s += (s.empty() ? "" : "_") + x.substr(0, 40);
  }
  if (s.empty())
    return s;
  if (std::isdigit(static_cast<unsigned char>(s[0])))
    s = "n_" + s;
  if (!is_policy_name(s))
    s += "_";
  return s;
}

bool is_endpoint_name(const std::string& s) {
  size_t dot = s.find('.');
  if (dot == std::string::npos)
    return is_policy_name(s);
  return is_policy_name(s.substr(0, dot)) && is_policy_name(s.substr(dot + 1));
}

struct IfaceDecl {
  std::string name, desc, zone;
};
struct RoleDecl {
  std::string name, desc, zone;
  std::vector<IfaceDecl> ifaces;
};

/// The roles and interfaces of the draft, with where each name came from.
class Endpoints {
public:
  Endpoints(const RolesMap& map) : map_(map) {
    for (const auto& [l, e] : map_.labels) {
      mapped_label_.emplace(l, e); // the first mapping of a label wins
      taken_.insert(e);
      taken_.insert(e.substr(0, e.find('.')));
    }
  }

  /// Descriptions and zones from `doc`'s own endpoint table (the roles map wins).
  void from_table(const std::string& ep, const std::string& desc, const std::string& zone) {
    if (!desc.empty())
      table_desc_[ep] = desc;
    if (!zone.empty())
      table_zone_[ep] = zone;
    declare(ep, desc);
  }

  /// The endpoint ("role" or "role.interface") a table label names; "" and `error` when none.
  std::string resolve(const std::string& label, std::string& error) {
    std::string key = fold(label);
    if (auto it = by_label_.find(key); it != by_label_.end())
      return it->second;
    std::string ep, desc = label;
    // An explicit name, as `doc` writes it: "Edge Server (`edge.access`)" or "`edge`".
    if (label.size() >= 2 && label.back() == '`' && label.front() == '`' &&
        label.find('`', 1) == label.size() - 1) {
      ep = label.substr(1, label.size() - 2);
      desc.clear();
    } else if (label.size() > 4 && label.compare(label.size() - 2, 2, "`)") == 0) {
      size_t open = label.rfind("(`");
      if (open != std::string::npos) {
        ep = label.substr(open + 2, label.size() - open - 4);
        desc = squeeze(label.substr(0, open));
      }
    }
    if (!ep.empty() && !is_endpoint_name(ep)) {
      error = "'" + comment_text(ep, 60) + "' is not a role or role.interface name";
      return "";
    }
    if (ep.empty())
      if (auto it = mapped_label_.find(key); it != mapped_label_.end())
        ep = it->second;
    if (ep.empty())
      ep = derive(label, desc, error);
    if (ep.empty())
      return "";
    declare(ep, desc);
    by_label_[key] = ep;
    return ep;
  }

  std::vector<RoleDecl> decls() const {
    std::vector<RoleDecl> out = roles_;
    for (RoleDecl& r : out) {
      r.zone = zone_of(r.name);
      if (auto d = described(r.name))
        r.desc = *d;
      for (IfaceDecl& i : r.ifaces) {
        i.zone = zone_of(r.name + "." + i.name);
        if (auto d = described(r.name + "." + i.name))
          i.desc = *d;
      }
    }
    return out;
  }

private:
  std::optional<std::string> described(const std::string& ep) const {
    if (auto it = map_.descriptions.find(ep); it != map_.descriptions.end())
      return it->second;
    if (auto it = table_desc_.find(ep); it != table_desc_.end())
      return it->second;
    return std::nullopt;
  }
  std::string zone_of(const std::string& ep) const {
    if (auto it = map_.zones.find(ep); it != map_.zones.end())
      return it->second;
    if (auto it = table_zone_.find(ep); it != table_zone_.end())
      return it->second;
    return "";
  }

  RoleDecl& role(const std::string& name) {
    auto [it, fresh] = role_index_.emplace(name, roles_.size());
    if (fresh) {
      roles_.push_back(RoleDecl{name, "", "", {}});
      taken_.insert(name);
    }
    return roles_[it->second];
  }

  void declare(const std::string& ep, const std::string& desc) {
    size_t dot = ep.find('.');
    if (dot == std::string::npos) {
      RoleDecl& r = role(ep);
      if (r.desc.empty())
        r.desc = desc;
      return;
    }
    RoleDecl& r = role(ep.substr(0, dot));
    if (r.desc.empty() && derived_role_desc_.count(ep))
      r.desc = derived_role_desc_[ep];
    std::string iname = ep.substr(dot + 1);
    auto [it, fresh] = iface_index_.emplace(ep, r.ifaces.size());
    taken_.insert(ep);
    if (fresh) {
      r.ifaces.push_back(IfaceDecl{iname, desc, ""});
    } else if (r.ifaces[it->second].desc.empty()) {
      r.ifaces[it->second].desc = desc;
    }
  }

  bool role_taken(const std::string& name) const { return taken_.count(name) > 0; }

  /// Names from the label's words. A label with the word "interface" (interfaz, interfaccia,
  /// Schnittstelle) names an interface: the word next to it, of a role named by the rest.
  std::string derive(const std::string& label, const std::string& desc, std::string& error) {
    std::vector<std::string> orig;
    {
      std::istringstream in(label);
      for (std::string w; in >> w;)
        orig.push_back(w);
    }
    auto is_iface_word = [](const std::string& w) {
      std::string f = fold(w);
      return f == "interface" || f == "interfaz" || f == "interfaccia" || f == "schnittstelle";
    };
    auto is_stop = [](const std::string& w) { return stopwords().count(fold(w)) > 0; };
    size_t at = orig.size();
    for (size_t i = 0; i < orig.size(); ++i)
      if (is_iface_word(orig[i])) {
        at = i;
        break;
      }
    if (at < orig.size() && orig.size() >= 3) {
      std::vector<std::string> rest;
      std::string iface_word;
      if (at + 1 == orig.size()) { // "Edge Server Access interface"
        iface_word = orig[at - 1];
        rest.assign(orig.begin(), orig.begin() + static_cast<long>(at) - 1);
      } else { // "Interface de acesso Servidor de Borda"
        size_t k = at + 1;
        while (k < orig.size() && is_stop(orig[k]))
          ++k;
        if (k < orig.size()) {
          iface_word = orig[k];
          rest.assign(orig.begin(), orig.begin() + static_cast<long>(at));
          rest.insert(rest.end(), orig.begin() + static_cast<long>(k) + 1, orig.end());
        }
      }
      while (!rest.empty() && is_stop(rest.front()))
        rest.erase(rest.begin());
      while (!rest.empty() && is_stop(rest.back()))
        rest.pop_back();
      std::string role_text;
      for (const std::string& w : rest)
        role_text += (role_text.empty() ? "" : " ") + w;
      std::string rname = slug(role_text, true), iname = slug(iface_word, true);
      if (!rname.empty() && !iname.empty()) {
        std::string ep = rname + "." + iname;
        for (int n = 2; iface_taken(rname, iname); ++n)
          ep = rname + "." + (iname = slug(iface_word, true) + "_" + std::to_string(n));
        derived_role_desc_[ep] = role_text;
        return ep;
      }
    }
    std::string name = slug(label, true);
    if (name.empty()) {
      error = "the label '" + comment_text(label, 60) +
              "' has no letters or digits to name a role after; map it with --roles";
      return "";
    }
    std::string base = name;
    for (int n = 2; role_taken(name); ++n)
      name = base + "_" + std::to_string(n);
    (void)desc;
    return name;
  }

  bool iface_taken(const std::string& role, const std::string& iface) const {
    return taken_.count(role + "." + iface) > 0;
  }

  const RolesMap& map_;
  std::vector<RoleDecl> roles_;
  std::map<std::string, size_t> role_index_, iface_index_; ///< name -> index; "role.iface" -> index
  std::map<std::string, std::string> mapped_label_;        ///< folded label -> endpoint
  std::set<std::string> taken_;                            ///< role and endpoint names in use
  std::map<std::string, std::string> by_label_, table_desc_, table_zone_, derived_role_desc_;
};

// --- conditions -----------------------------------------------------------------------------

struct Conditions {
  bool deny = false, required = false;
  bool one_way = false; ///< "one-way": a mirrored row is a flow of its own, not the way back
  std::optional<std::string> when;
  std::optional<Date> expires;
  std::vector<std::string> tags;
  bool operator==(const Conditions&) const = default;
};

std::optional<Conditions> read_conditions(const std::string& cell, std::string& error) {
  Conditions c;
  std::string text = plain_slashes(cell);
  size_t p = 0;
  while (p <= text.size()) {
    size_t e = text.find(';', p);
    std::string part = squeeze(text.substr(p, e == std::string::npos ? std::string::npos : e - p));
    p = e == std::string::npos ? text.size() + 1 : e + 1;
    if (part.empty())
      continue;
    std::string f = fold(part);
    if (f == "required") {
      c.required = true;
    } else if (f == "one-way") {
      c.one_way = true;
    } else if (f == "deny") {
      c.deny = true;
    } else if (f == "allow") {
      c.deny = false;
    } else if (f.rfind("when ", 0) == 0 && is_policy_name(squeeze(part.substr(5)))) {
      c.when = squeeze(part.substr(5));
    } else if (f.rfind("expires ", 0) == 0 && Date::parse(squeeze(part.substr(8)))) {
      c.expires = Date::parse(squeeze(part.substr(8)));
    } else if (f.rfind("tags ", 0) == 0) {
      std::string list = part.substr(5);
      size_t q = 0;
      while (q <= list.size()) {
        size_t k = list.find(',', q);
        std::string t = squeeze(list.substr(q, k == std::string::npos ? std::string::npos : k - q));
        q = k == std::string::npos ? list.size() + 1 : k + 1;
        if (!is_policy_name(t)) {
          error = "the tag '" + comment_text(t, 40) + "' is not a name";
          return std::nullopt;
        }
        c.tags.push_back(t);
      }
    } else {
      error = "the condition '" + comment_text(part, 60) +
              "' is none of 'when FEATURE', 'expires YYYY-MM-DD', 'required', 'deny', 'one-way', "
              "'tags ...'";
      return std::nullopt;
    }
  }
  return c;
}

// --- rows and flows -----------------------------------------------------------------------------

struct ServiceDecl {
  std::string name, label, key;
  std::vector<ServiceSpec> specs;
};

struct DraftFlow {
  std::string group, group_text;
  std::vector<size_t> services;
  std::string src, dst;
  bool bidirectional = false;
  std::vector<std::string> notes;
  std::optional<Conditions> cond; ///< nullopt: the table has no conditions column
  std::vector<uint32_t> lines;
  std::vector<std::string> readings;
};

struct NotRead {
  uint32_t line;
  std::string reason;
  std::vector<std::string> cells;
};

bool hints_condition(const std::string& note) {
  return has_word(fold(note), {"if", "when", "se", "si", "wenn", "falls", "quando", "cuando",
                               "lorsque", "sofern"});
}

bool hints_required(const std::string& note) {
  return has_word(fold(note), {"required", "obrigatorio", "obligatorio", "obbligatorio",
                               "erforderlich", "obligatoire", "mandatory", "requis", "requerido",
                               "richiesto", "necessario", "notwendig"});
}

/// What identifies conditions when looking for a row's mirror.
std::string cond_key(const std::optional<Conditions>& c) {
  if (!c)
    return "-";
  std::string s = std::string(c->deny ? "d" : "a") + (c->required ? "r" : "") +
                  (c->one_way ? "1" : "") + "|" + c->when.value_or("") + "|" +
                  (c->expires ? c->expires->str() : "") + "|";
  for (const auto& t : c->tags)
    s += t + ",";
  return s;
}

} // namespace

std::optional<RolesMap> read_roles_map(const fs::path& path, SourceManager& sm,
                                       Diagnostics& diags) {
  auto text = read_file(path);
  if (!text) {
    diags.error("roles-map", SourceLoc{}, "cannot read the roles map " + path.generic_string());
    return std::nullopt;
  }
  uint32_t file = sm.add(path.generic_string(), *text);
  auto at = [&](const toml::source_region& r) {
    return SourceLoc{file, static_cast<uint32_t>(std::max<int>(1, static_cast<int>(r.begin.line))),
                     static_cast<uint32_t>(std::max<int>(1, static_cast<int>(r.begin.column))), 1};
  };
  toml::table root;
  try {
    root = toml::parse(*text, path.generic_string());
  } catch (const toml::parse_error& e) {
    diags.error("roles-map", at(e.source()), std::string(e.description()));
    return std::nullopt;
  }
  RolesMap m;
  bool ok = true;
  for (const auto& [k, v] : root) {
    std::string key(k.str());
    const toml::table* t = v.as_table();
    if ((key != "roles" && key != "zones" && key != "descriptions") || !t) {
      diags.error("roles-map", at(k.source()),
                  "unknown key '" + key +
                      "': a roles map has the tables [roles], [zones] and "
                      "[descriptions]");
      ok = false;
      continue;
    }
    for (const auto& [ek, ev] : *t) {
      auto s = ev.value<std::string>();
      std::string name(ek.str());
      if (!s) {
        diags.error("roles-map", at(ev.source()), "'" + name + "' must be a string");
        ok = false;
        continue;
      }
      if (key == "roles") {
        if (!is_endpoint_name(*s)) {
          diags.error("roles-map", at(ev.source()),
                      "'" + *s + "' is not a role or role.interface name");
          ok = false;
          continue;
        }
        m.labels.emplace_back(fold(squeeze(name)), *s);
      } else {
        if (!is_endpoint_name(name)) {
          diags.error("roles-map", at(ek.source()),
                      "'" + name + "' is not a role or role.interface name");
          ok = false;
          continue;
        }
        if (key == "zones" && !is_policy_name(*s)) {
          diags.error("roles-map", at(ev.source()), "'" + *s + "' is not a zone name");
          ok = false;
          continue;
        }
        (key == "zones" ? m.zones : m.descriptions)[name] = *s;
      }
    }
  }
  if (!ok)
    return std::nullopt;
  return m;
}

ImportResult import_document(const SourceManager& sm, uint32_t file, const RolesMap& roles,
                             Diagnostics& diags) {
  ImportResult res;
  const SourceFile& src = sm.file(file);
  std::string doc_name = fs::path(src.path).filename().generic_string();
  std::vector<Table> tables = read_tables(src.text);
  Endpoints eps(roles);
  std::vector<ServiceDecl> services;
  std::vector<DraftFlow> flows;
  std::map<std::string, size_t> service_by_key;
  std::set<std::string> service_names;
  std::map<std::string, std::vector<size_t>> flows_by_key; ///< candidates for merging a row
  std::vector<NotRead> not_read;
  std::vector<std::string> skipped;
  std::set<std::string> features;
  std::vector<std::pair<std::string, std::string>> described_features; // from a feature table
  bool any_without_conditions = false;
  size_t port_tables = 0;

  auto not_read_row = [&](const TableRow& r, std::string reason) {
    diags.warning("import-row", SourceLoc{file, r.line, 1, 1}, "row not read: " + reason);
    not_read.push_back(NotRead{r.line, std::move(reason), r.cells});
  };

  // Endpoint and feature tables first: they describe names the port tables use.
  for (const Table& t : tables) {
    if (t.rows.empty() || port_columns(t.rows[0]))
      continue;
    if (is_feature_table(t.rows[0])) {
      for (size_t i = 1; i < t.rows.size(); ++i) {
        const TableRow& r = t.rows[i];
        std::string name = r.cells.empty() ? "" : plain_slashes(r.cells[0]);
        name.erase(std::remove(name.begin(), name.end(), '`'), name.end());
        name = squeeze(name);
        if (!is_policy_name(name)) {
          diags.warning("import-row", SourceLoc{file, r.line, 1, 1},
                        "row not read: '" + comment_text(name, 60) + "' is not a feature name");
          continue;
        }
        described_features.emplace_back(name, r.cells.size() > 1 ? plain_slashes(r.cells[1]) : "");
      }
      ++res.summary.tables_read;
      continue;
    }
    auto ec = endpoint_columns(t.rows[0]);
    if (!ec)
      continue;
    for (size_t i = 1; i < t.rows.size(); ++i) {
      const TableRow& r = t.rows[i];
      auto cell = [&](int c) {
        return c >= 0 && static_cast<size_t>(c) < r.cells.size() ? plain_slashes(r.cells[c]) : "";
      };
      std::string name = cell(ec->name);
      name.erase(std::remove(name.begin(), name.end(), '`'), name.end());
      name = squeeze(name);
      if (!is_endpoint_name(name) || (!cell(ec->zone).empty() && !is_policy_name(cell(ec->zone)))) {
        diags.warning("import-row", SourceLoc{file, r.line, 1, 1},
                      "row not read: '" + comment_text(name, 60) +
                          "' is not a role or role.interface with a zone name");
        continue;
      }
      eps.from_table(name, cell(ec->desc), cell(ec->zone));
    }
    ++res.summary.tables_read;
  }

  for (const Table& t : tables) {
    if (t.rows.empty()) {
      skipped.push_back("the table at line " + std::to_string(t.line) + " is empty");
      continue;
    }
    // The header is the first row, or (after a caption row or two) one of the next two.
    size_t h = 0;
    auto cols = port_columns(t.rows[0]);
    for (size_t k = 1; !cols && k < std::min<size_t>(3, t.rows.size()); ++k)
      if ((cols = port_columns(t.rows[k])))
        h = k;
    if (!cols) {
      if (!endpoint_columns(t.rows[0]) && !is_feature_table(t.rows[0])) {
        std::string head;
        for (const std::string& c : t.rows[0].cells)
          head += (head.empty() ? "" : " | ") + c;
        skipped.push_back("the table at line " + std::to_string(t.line) + " (header '" +
                          comment_text(head, 80) +
                          "'): its header names no protocol, source and destination columns");
      }
      continue;
    }
    ++res.summary.tables_read;
    ++port_tables;
    if (t.unterminated)
      diags.warning("import-table", SourceLoc{file, t.line, 1, 1},
                    "the table has no </table>: read to the end of the document");
    for (size_t k = 0; k < h; ++k)
      skipped.push_back("the row at line " + std::to_string(t.rows[k].line) +
                        ", above the table's header ('" +
                        comment_text(t.rows[k].cells.empty() ? "" : t.rows[k].cells[0], 80) + "')");
    for (size_t i = h + 1; i < t.rows.size(); ++i) {
      const TableRow& r = t.rows[i];
      if (r.cells == t.rows[h].cells)
        continue; // a repeated header
      bool blank = std::all_of(r.cells.begin(), r.cells.end(),
                               [](const std::string& c) { return c.empty(); });
      if (blank)
        continue;
      if (r.cells.size() < cols->needed) {
        not_read_row(r, "the row has " + std::to_string(r.cells.size()) + " cell" +
                            (r.cells.size() == 1 ? "" : "s") + "; the header has " +
                            std::to_string(t.rows[h].cells.size()));
        continue;
      }
      size_t longest = 0;
      for (const std::string& c : r.cells)
        longest = std::max(longest, c.size());
      if (longest > 2000) {
        not_read_row(r, "a cell is " + std::to_string(longest) +
                            " bytes long (at most 2000 are read)");
        continue;
      }
      auto cell = [&](int c) {
        return c >= 0 && static_cast<size_t>(c) < r.cells.size() ? r.cells[c] : std::string();
      };
      ProtocolCell pc = parse_protocol_cell(cell(cols->proto));
      if (!pc.error.empty()) {
        not_read_row(r, pc.error);
        continue;
      }
      std::string group_text = pc.entries[0].group;
      bool groups_agree = true;
      for (const ProtocolEntry& e : pc.entries)
        groups_agree = groups_agree && e.group == group_text;
      if (!groups_agree) {
        not_read_row(r, "the entries of the protocol cell name different groups");
        continue;
      }
      std::string src_label = plain_slashes(cell(cols->src)),
                  dst_label = plain_slashes(cell(cols->dst));
      if (src_label.empty() || dst_label.empty()) {
        not_read_row(r, std::string("the ") + (src_label.empty() ? "source" : "destination") +
                            " cell is empty");
        continue;
      }
      std::optional<Conditions> cond;
      if (cols->cond >= 0) {
        std::string err;
        cond = read_conditions(cell(cols->cond), err);
        if (!cond) {
          not_read_row(r, err);
          continue;
        }
      }
      std::string err;
      std::string s = eps.resolve(src_label, err);
      std::string d = s.empty() ? "" : eps.resolve(dst_label, err);
      if (s.empty() || d.empty()) {
        not_read_row(r, err);
        continue;
      }
      // Services: consecutive entries with one label are one service.
      DraftFlow f;
      f.group_text = group_text;
      f.group = group_text.empty() ? "" : slug(group_text, false);
      f.src = s;
      f.dst = d;
      f.cond = cond;
      f.lines.push_back(r.line);
      std::string note = plain_slashes(cell(cols->notes));
      if (!note.empty())
        f.notes.push_back(note);
      std::vector<std::pair<std::string, std::vector<ServiceSpec>>> svc;
      for (const ProtocolEntry& e : pc.entries) {
        if (!svc.empty() && svc.back().first == e.label)
          svc.back().second.insert(svc.back().second.end(), e.specs.begin(), e.specs.end());
        else
          svc.emplace_back(e.label, e.specs);
        f.readings.insert(f.readings.end(), e.readings.begin(), e.readings.end());
      }
      for (auto& [label, specs] : svc) {
        std::string key = label + "\n" + specs_policy_text(specs);
        auto known = service_by_key.find(key);
        size_t idx = known == service_by_key.end() ? services.size() : known->second;
        if (idx == services.size()) {
          std::string base =
              label.empty() ? slug(specs_policy_text(specs), false) : slug(label, false);
          if (base.empty())
            base = "service";
          std::string name = base;
          auto taken = [&](const std::string& n) { return service_names.count(n) > 0; };
          if (taken(name))
            name = base + "_" + slug(specs_policy_text(specs), false);
          for (int n = 2; taken(name); ++n)
            name = base + "_" + std::to_string(n);
          services.push_back(ServiceDecl{name, label, key, specs});
          service_by_key.emplace(key, idx);
          service_names.insert(name);
        }
        if (std::find(f.services.begin(), f.services.end(), idx) == f.services.end())
          f.services.push_back(idx);
      }
      ++res.summary.rows_read;
      if (!cond)
        any_without_conditions = true;
      else if (cond->when)
        features.insert(*cond->when);
      // Merge a mirrored or repeated row into the flow it mirrors.
      bool merged = false;
      std::string mkey = f.group + "\x1f" + cond_key(f.cond) + "\x1f" + std::min(f.src, f.dst) +
                         "\x1f" + std::max(f.src, f.dst) + "\x1f";
      for (size_t k : f.services)
        mkey += std::to_string(k) + ",";
      std::vector<size_t>& candidates = flows_by_key[mkey];
      for (size_t ci : candidates) {
        DraftFlow& g = flows[ci];
        if (g.group != f.group || g.services != f.services || g.cond != f.cond)
          continue;
        bool same = g.src == f.src && g.dst == f.dst;
        bool mirror = g.src == f.dst && g.dst == f.src && !(f.cond && f.cond->one_way);
        if (!same && !mirror)
          continue;
        if ((mirror && !same) || (same && g.src == g.dst && !g.bidirectional))
          g.bidirectional = true; // the way back (of a role with itself: the same row twice)
        else
          g.readings.push_back("the row at line " + std::to_string(r.line) +
                               " repeats the row at line " + std::to_string(g.lines[0]));
        g.lines.push_back(r.line);
        for (const std::string& n : f.notes)
          if (std::find(g.notes.begin(), g.notes.end(), n) == g.notes.end())
            g.notes.push_back(n);
        for (const std::string& x : f.readings)
          if (std::find(g.readings.begin(), g.readings.end(), x) == g.readings.end())
            g.readings.push_back(x);
        merged = true;
        break;
      }
      if (!merged) {
        candidates.push_back(flows.size());
        flows.push_back(std::move(f));
      }
    }
  }
  res.summary.tables_skipped = skipped.size();
  res.summary.rows_not_read = not_read.size();
  res.summary.flows_written = flows.size();
  if (!port_tables) {
    diags.error("import-no-table", SourceLoc{file, 1, 1, 1},
                "no port table: no table has a header with protocol, source and destination "
                "columns (" +
                    std::to_string(tables.size()) + " table" + (tables.size() == 1 ? "" : "s") +
                    " found)");
    return res;
  }

  // --- the draft ---
  std::ostringstream o;
  o << "// Imported by `portolan import` from " << comment_text(doc_name, 120)
    << ": a draft to review, not a finished policy.\n";
  o << "// " << res.summary.rows_read << " rows read, " << res.summary.flows_written
    << " flows written, " << res.summary.rows_not_read << " rows not read"
    << (not_read.empty() ? "" : " (listed at the end)") << ".\n";
  for (const std::string& s : skipped)
    o << "// Skipped " << comment_text(s) << ".\n";
  o << "\n";
  std::string title = document_title(src.text);
  o << "policy imported " << policy_string(title.empty() ? doc_name : title) << " {\n";
  o << "  reference " << policy_string(doc_name) << ";\n}\n";

  std::vector<RoleDecl> decls = eps.decls();
  std::vector<std::string> zones;
  auto add_zone = [&](const std::string& z) {
    if (!z.empty() && std::find(zones.begin(), zones.end(), z) == zones.end())
      zones.push_back(z);
  };
  for (const RoleDecl& r : decls) {
    add_zone(r.zone);
    for (const IfaceDecl& i : r.ifaces)
      add_zone(i.zone);
  }
  if (!zones.empty()) {
    o << "\n";
    for (const std::string& z : zones)
      o << "zone " << z << ";\n";
  }
  o << "\n";
  for (const RoleDecl& r : decls) {
    bool zoned = !r.zone.empty();
    for (const IfaceDecl& i : r.ifaces)
      zoned = zoned || !i.zone.empty();
    o << "role " << r.name;
    if (!r.desc.empty())
      o << " " << policy_string(r.desc);
    if (!r.zone.empty())
      o << " in " << r.zone;
    if (r.ifaces.empty()) {
      o << ";" << (zoned ? "" : " // TODO(zone) in ZONE") << "\n";
      continue;
    }
    o << " {\n";
    for (const IfaceDecl& i : r.ifaces) {
      o << "  interface " << i.name;
      if (!i.desc.empty())
        o << " " << policy_string(i.desc);
      if (!i.zone.empty())
        o << " in " << i.zone;
      o << ";" << (i.zone.empty() && r.zone.empty() ? " // TODO(zone) in ZONE" : "") << "\n";
    }
    o << "}\n";
  }
  if (!services.empty())
    o << "\n";
  for (const ServiceDecl& s : services) {
    o << "service " << s.name;
    if (!s.label.empty())
      o << " " << policy_string(s.label);
    o << " = " << specs_policy_text(s.specs) << ";\n";
  }
  if (!features.empty() || !described_features.empty() || any_without_conditions)
    o << "\n";
  std::set<std::string> declared;
  for (const auto& [f, d] : described_features)
    if (declared.insert(f).second)
      o << "feature " << f << (d.empty() ? "" : " " + policy_string(d)) << ";\n";
  for (const std::string& f : features)
    if (declared.insert(f).second)
      o << "feature " << f << ";\n";
  if (any_without_conditions)
    o << "// TODO(feature) feature FEATURE \"description\";\n";

  // Flows, grouped by the group cell in order of first appearance.
  std::vector<std::string> groups;
  std::map<std::string, std::vector<size_t>> group_flows;
  for (size_t i = 0; i < flows.size(); ++i) {
    auto& members = group_flows[flows[i].group];
    if (members.empty())
      groups.push_back(flows[i].group);
    members.push_back(i);
  }
  for (const std::string& g : groups) {
    bool first = true;
    for (size_t fi : group_flows[g]) {
      const DraftFlow& f = flows[fi];
      if (first) {
        o << "\n// "
          << (f.group_text.empty() ? std::string("(no group)") : comment_text(f.group_text))
          << "\n";
        first = false;
      }
      o << "flow ";
      if (f.cond && f.cond->deny)
        o << "deny ";
      if (!f.group.empty())
        o << f.group << ": ";
      o << f.src << (f.bidirectional ? " <-> " : " -> ") << f.dst << " via ";
      for (size_t k = 0; k < f.services.size(); ++k)
        o << (k ? ", " : "") << services[f.services[k]].name;
      if (!f.notes.empty())
        o << "\n  " << policy_string(f.notes[0]);
      o << " {\n";
      for (size_t k = 1; k < f.notes.size(); ++k)
        o << "  note " << policy_string(f.notes[k]) << ";\n";
      if (f.cond) {
        if (f.cond->when)
          o << "  when " << *f.cond->when << ";\n";
        if (f.cond->required)
          o << "  required;\n";
        if (f.cond->expires)
          o << "  expires " << f.cond->expires->str() << ";\n";
        if (!f.cond->tags.empty()) {
          o << "  tags ";
          for (size_t k = 0; k < f.cond->tags.size(); ++k)
            o << (k ? ", " : "") << f.cond->tags[k];
          o << ";\n";
        }
      }
      o << "  // " << (f.lines.size() == 1 ? "row" : "rows") << " at line";
      o << (f.lines.size() == 1 ? " " : "s ");
      for (size_t k = 0; k < f.lines.size(); ++k)
        o << (k ? ", " : "") << f.lines[k];
      o << "\n";
      for (const std::string& x : f.readings)
        o << "  // " << comment_text(x) << "\n";
      if (!f.cond) {
        std::string all_notes;
        for (const std::string& n : f.notes)
          all_notes += n + " ";
        o << "  // TODO(feature) when FEATURE;"
          << (hints_condition(all_notes) ? " -- the note reads as a condition" : "") << "\n";
        o << "  // TODO(expiry) expires YYYY-MM-DD;\n";
        o << "  // TODO(required) required;"
          << (hints_required(all_notes) ? " -- the note says it is required" : "") << "\n";
      }
      o << "}\n";
    }
  }
  if (!not_read.empty()) {
    o << "\n// Rows not read: fix them in the table, or write their flows by hand.\n";
    for (const NotRead& n : not_read) {
      o << "// line " << n.line << ": " << comment_text(n.reason) << "\n//   |";
      for (const std::string& c : n.cells)
        o << " " << comment_text(c, 80) << " |";
      o << "\n";
    }
  }
  res.policy = o.str();
  res.ok = true;
  return res;
}

int run_import(const ImportOptions& opts, SourceManager& sm, Diagnostics& diags, std::ostream& out,
               std::ostream& err) {
  RolesMap map;
  if (opts.roles) {
    auto m = read_roles_map(*opts.roles, sm, diags);
    if (!m)
      return diags.has_errors() && sm.size() > 0 ? 1 : 2;
    map = std::move(*m);
  }
  auto text = read_file(opts.input);
  if (!text) {
    diags.error("unreadable", SourceLoc{}, "cannot read " + opts.input.generic_string());
    return 2;
  }
  uint32_t file = sm.add(opts.input.generic_string(), *text);
  ImportResult r = import_document(sm, file, map, diags);
  if (!r.ok)
    return 1;
  out << r.policy;
  err << "portolan import: " << r.summary.rows_read << " rows read, " << r.summary.flows_written
      << " flows written, " << r.summary.rows_not_read
      << " rows not read (tables: " << r.summary.tables_read << " read, "
      << r.summary.tables_skipped << " skipped)\n";
  return 0;
}

} // namespace portolan::tables
