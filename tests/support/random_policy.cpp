#include "random_policy.h"

#include <random>

namespace portolan::test {

namespace {

struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t s) : g(s) {}
  int in(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(g) < p; }
};

std::string v4_prefix(Rng& r) {
  // Small pools so prefixes of different roles overlap now and then.
  int a = r.in(1, 3), b = r.in(0, 3);
  switch (r.in(0, 3)) {
  case 0:
    return "10." + std::to_string(a) + "." + std::to_string(b) + ".0/24";
  case 1:
    return "10." + std::to_string(a) + "." + std::to_string(b) + "." +
           std::to_string(r.in(0, 15) * 16) + "/28";
  case 2:
    return "10." + std::to_string(a) + ".0.0/16";
  default:
    return "10." + std::to_string(a) + "." + std::to_string(b) + "." + std::to_string(r.in(1, 254));
  }
}

std::string v6_prefix(Rng& r) {
  int a = r.in(1, 3), b = r.in(0, 3);
  char buf[64];
  switch (r.in(0, 2)) {
  case 0:
    std::snprintf(buf, sizeof buf, "fd00:%x:%x::/64", a, b);
    break;
  case 1:
    std::snprintf(buf, sizeof buf, "fd00:%x::/48", a);
    break;
  default:
    std::snprintf(buf, sizeof buf, "fd00:%x:%x::%x", a, b, r.in(1, 0xfff));
  }
  return buf;
}

std::string addresses(Rng& r, bool ipv6) {
  std::vector<std::string> out;
  int kind = ipv6 ? r.in(0, 2) : 0; // 0 v4, 1 v6, 2 both
  if (kind != 1)
    for (int i = r.in(1, 2); i > 0; --i)
      out.push_back(v4_prefix(r));
  if (kind != 0)
    for (int i = r.in(1, 2); i > 0; --i)
      out.push_back(v6_prefix(r));
  std::string s = "[";
  for (size_t i = 0; i < out.size(); ++i)
    s += (i ? ", \"" : "\"") + out[i] + "\"";
  return s + "]";
}

} // namespace

GeneratedPolicy random_policy(uint64_t seed, const GenOptions& opt) {
  Rng r(seed);
  GeneratedPolicy g;
  g.seed = seed;
  std::string& p = g.policy;
  p += "// generated, seed " + std::to_string(seed) + "\n";
  p += "zone outside;\nzone inside;\n";
  std::vector<std::string> endpoints;
  for (int i = 0; i < opt.roles; ++i) {
    std::string name = "r" + std::to_string(i);
    p += "role " + name + " in " + (r.chance(0.5) ? "outside" : "inside") + ";\n";
    endpoints.push_back(name);
  }
  p += "role srv in inside {\n  interface a in outside;\n  interface b;\n}\n";
  endpoints.push_back("srv.a");
  endpoints.push_back("srv.b");
  endpoints.push_back("srv");

  std::vector<std::string> services;
  auto svc = [&](const std::string& spec) {
    std::string name = "s" + std::to_string(services.size());
    p += "service " + name + " = " + spec + ";\n";
    services.push_back(name);
  };
  for (int i = 0; i < 6; ++i) {
    int lo = r.in(1, 60) * 100;
    switch (r.in(0, 9)) {
    case 0:
      svc("tcp " + std::to_string(lo));
      break;
    case 1:
      svc("tcp " + std::to_string(lo) + "-" + std::to_string(lo + r.in(1, 300)));
      break;
    case 2:
      svc("udp " + std::to_string(lo) + ", " + std::to_string(lo + 7) + ", " +
          std::to_string(lo + 20) + "-" + std::to_string(lo + 40));
      break;
    case 3:
      svc("tcp " + std::to_string(lo) + ", udp " + std::to_string(lo));
      break;
    case 4:
      svc("icmp type 8" + std::string(r.chance(0.5) ? " code 0" : ""));
      break;
    case 5:
      svc(opt.ipv6 ? "icmpv6 type 128" : "icmp type 0");
      break;
    case 6:
      svc("icmp");
      break;
    case 7:
      svc(r.chance(0.5) ? "proto 47" : "any");
      break;
    case 8:
      svc("tcp");
      break;
    default:
      svc("udp " + std::to_string(lo) + " sport 1024-65535");
    }
  }

  for (int i = 0; i < opt.flows; ++i) {
    std::string a = endpoints[static_cast<size_t>(r.in(0, static_cast<int>(endpoints.size()) - 1))];
    std::string b = endpoints[static_cast<size_t>(r.in(0, static_cast<int>(endpoints.size()) - 1))];
    if (a.substr(0, 3) == b.substr(0, 3))
      b = "r0";
    if (a == b)
      continue;
    bool deny = r.chance(opt.deny_ratio);
    std::string list = services[static_cast<size_t>(r.in(0, 5))];
    if (r.chance(0.3))
      list += ", " + services[static_cast<size_t>(r.in(0, 5))];
    p += std::string("flow ") + (deny ? "deny " : "") + "f" + std::to_string(i) + ": " + a +
         (r.chance(0.3) && !deny ? " <-> " : " -> ") + b + " via " + list + ";\n";
  }

  std::string& m = g.manifest;
  m += "policies = [\"gen.policy\"]\n[environments.test]\ntoday = 2026-01-01\n";
  m += "[environments.test.bind]\n";
  for (int i = 0; i < opt.roles; ++i)
    m += "r" + std::to_string(i) + " = " +
         (i <= 1 && r.chance(0.3) ? "\"any\"" : addresses(r, opt.ipv6)) + "\n";
  m += "\"srv.a\" = " + addresses(r, opt.ipv6) + "\n";
  m += "\"srv.b\" = " + addresses(r, opt.ipv6) + "\n";
  for (const auto& b : opt.backends) {
    if (opt.host_targets) {
      g.targets.push_back("host-" + b);
      m += "[[targets]]\nname = \"host-" + b + "\"\nbackend = \"" + b +
           "\"\nhost = \"srv\"\noutput = \"host-" + b + "\"\n";
    }
    if (opt.perimeter_targets) {
      g.targets.push_back("edge-" + b);
      m += "[[targets]]\nname = \"edge-" + b + "\"\nbackend = \"" + b +
           "\"\nbetween = [\"outside\", \"inside\"]\noutput = \"edge-" + b + "\"\n";
    }
  }
  return g;
}

} // namespace portolan::test
