#include "lower/options.h"

#include <algorithm>

namespace portolan {

namespace {
const OptionValue& value_of(const TargetOptions& o, const std::string& name) {
  static const OptionValue none;
  auto it = o.values.find(name);
  return it == o.values.end() ? none : it->second;
}

bool has_type(const OptionValue& v, OptionType t) {
  switch (t) {
  case OptionType::Bool:
    return std::holds_alternative<bool>(v.value);
  case OptionType::Text:
    return std::holds_alternative<std::string>(v.value);
  case OptionType::List:
    return std::holds_alternative<std::vector<std::string>>(v.value);
  }
  return false;
}
} // namespace

bool TargetOptions::flag(const std::string& name) const {
  const auto* b = std::get_if<bool>(&value_of(*this, name).value);
  return b && *b;
}

const std::string& TargetOptions::text(const std::string& name) const {
  static const std::string none;
  const auto* s = std::get_if<std::string>(&value_of(*this, name).value);
  return s ? *s : none;
}

const std::vector<std::string>& TargetOptions::list(const std::string& name) const {
  static const std::vector<std::string> none;
  const auto* l = std::get_if<std::vector<std::string>>(&value_of(*this, name).value);
  return l ? *l : none;
}

SourceLoc TargetOptions::loc(const std::string& name) const {
  return value_of(*this, name).loc;
}

TargetInfo target_info(const Target& t) {
  TargetInfo i;
  i.name = t.name;
  i.env = t.env;
  i.backend = t.backend;
  i.scope = t.scope;
  i.host = t.host_str();
  i.hosts = t.hosts;
  i.zones = t.between;
  i.loc = t.loc;
  i.scope_loc = t.scope_loc;
  return i;
}

const std::vector<OptionSpec>& host_options() {
  static const std::vector<OptionSpec> list{
      {"loopback", OptionType::Bool, true, "", {}},
      {"icmpv6_nd", OptionType::Bool, true, "", {}},
  };
  return list;
}

TargetOptions validate_target(const Target& t, const BackendSpec& spec, Diagnostics& diags) {
  TargetOptions out;
  if (std::find(spec.scopes.begin(), spec.scopes.end(), t.scope) == spec.scopes.end()) {
    diags.error("unsupported-scope", t.scope_loc,
                "backend '" + t.backend + "' cannot enforce " +
                    (t.scope == Scope::Host ? "a host target ('host = ...')"
                                            : "a perimeter target ('between = [...]')") +
                    "; it enforces only " +
                    (t.scope == Scope::Host ? "perimeter targets" : "host targets"));
    return out;
  }
  std::vector<const OptionSpec*> schema;
  for (const OptionSpec& o : spec.options)
    schema.push_back(&o);
  if (t.scope == Scope::Host)
    for (const OptionSpec& o : host_options())
      schema.push_back(&o);
  std::vector<std::string> known;
  for (const OptionSpec* o : schema)
    known.push_back(o->name);
  for (const auto& [k, v] : t.options)
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      std::string msg = "backend '" + t.backend + "' has no option '" + k + "'";
      if (auto n = nearest_name(k, known))
        msg += "; did you mean '" + *n + "'?";
      diags.error("manifest", v.loc, msg);
    }
  const TargetInfo info = target_info(t);
  for (const OptionSpec* o : schema) {
    OptionValue v{o->def, {}};
    SourceLoc at = t.scope_loc;
    if (auto it = t.options.find(o->name); it != t.options.end()) {
      at = it->second.loc;
      if (has_type(it->second, o->type))
        v = it->second;
      else // the default stands in, so the run goes on reporting
        diags.error("manifest", at,
                    o->type_error.empty() ? "option '" + o->name + "' must be true or false"
                                          : o->type_error);
    }
    if (o->check && !o->check(info, v, at, diags)) {
      v = OptionValue{o->def, {}};
      Diagnostics reported; // already said: the default (derived again) stands in
      o->check(info, v, at, reported);
    }
    out.values[o->name] = std::move(v);
  }
  return out;
}

} // namespace portolan
