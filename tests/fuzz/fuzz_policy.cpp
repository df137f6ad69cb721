// libFuzzer harness: the input is policy text. It is parsed, loaded and resolved in memory; when
// it resolves, a manifest is made up for it (every role and interface bound to addresses of both
// families or to "any", every other feature on, one host target per backend on the first and the
// last role, one perimeter target per backend between the first two zones) and the whole
// pipeline runs on it: validation, lowering and emit of every target, every check, the reports.
#include "pipeline.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace {

using namespace portolan;

/// A TOML basic string.
std::string quoted(const std::string& s) {
  static const char* hex = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

/// The i-th binding: any, IPv4 networks, IPv6 networks, or hosts of both families.
std::string binding(size_t i) {
  std::string n = std::to_string(i % 250 + 1);
  switch (i % 4) {
  case 0:
    return i == 0 ? "\"any\"" : "[\"10." + n + ".0.0/16\", \"fd00:" + n + "::/64\"]";
  case 1:
    return "[\"192.0.2." + n + "\", \"2001:db8::" + n + "\"]";
  case 2:
    return "[\"198.51.100.0/24\"]"; // overlaps across roles on purpose
  default:
    return "[\"2001:db8:" + n + "::/48\"]";
  }
}

std::string manifest_for(const Policy& p) {
  std::string m = "policies = [\"fuzz.policy\"]\n[environments.e]\ntoday = 2026-06-01\n"
                  "features = [";
  for (size_t i = 0; i < p.features.size(); i += 2)
    m += (i ? ", " : "") + quoted(p.features[i].name);
  m += "]\n[environments.e.bind]\n";
  size_t k = 0;
  for (const Role& r : p.roles) {
    if (r.interfaces.empty())
      m += quoted(r.name) + " = " + binding(k++) + "\n";
    for (const Interface& i : r.interfaces)
      m += quoted(r.name + "." + i.name) + " = " + binding(k++) + "\n";
  }
  std::vector<std::string> hosts;
  if (!p.roles.empty()) {
    hosts.push_back(p.roles.front().name);
    if (p.roles.size() > 1)
      hosts.push_back(p.roles.back().name);
  }
  int n = 0;
  for (const std::string& b : backend_names()) {
    for (const std::string& h : hosts) {
      m += "[[targets]]\nname = \"t" + std::to_string(n) + "\"\nbackend = " + quoted(b) +
           "\nhost = " + quoted(h) + "\noutput = \"o" + std::to_string(n) + "\"\n";
      ++n;
    }
    if (p.zones.size() >= 2) {
      m += "[[targets]]\nname = \"t" + std::to_string(n) + "\"\nbackend = " + quoted(b) +
           "\nbetween = [" + quoted(p.zones[0].name) + ", " + quoted(p.zones[1].name) +
           "]\noutput = \"o" + std::to_string(n) + "\"\n";
      ++n;
    }
  }
  return m;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Session s;
  LoadResult loaded = load_policy_text(
      "fuzz.policy", std::string(reinterpret_cast<const char*>(data), size), s.sm, s.diags);
  if (loaded.ok) {
    Manifest m = read_manifest_text("fuzz.toml", manifest_for(loaded.policy), s.sm, s.diags);
    if (!s.diags.has_errors())
      fuzz::compile_and_check(s, std::move(m), std::move(loaded));
  }
  fuzz::render(s.diags, s.sm);
  return 0;
}
