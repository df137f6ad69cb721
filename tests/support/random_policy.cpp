#include "random_policy.h"

#include <map>
#include <random>

namespace portolan::test {

namespace {

struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t s) : g(s) {}
  int in(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(g) < p; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(in(0, static_cast<int>(v.size()) - 1))];
  }
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

std::vector<std::string> addresses(Rng& r, bool ipv6) {
  std::vector<std::string> out;
  int kind = ipv6 ? r.in(0, 2) : 0; // 0 v4, 1 v6, 2 both
  if (kind != 1)
    for (int i = r.in(1, 2); i > 0; --i)
      out.push_back(v4_prefix(r));
  if (kind != 0)
    for (int i = r.in(1, 2); i > 0; --i)
      out.push_back(v6_prefix(r));
  return out;
}

/// A prefix that covers `a` (one of ours: "10.a.b.c[/n]" or "fd00:a:...[/n]"): the /16 or /48
/// around it, so a wide role's binding contains a narrow role's addresses.
std::string covering(const std::string& a) {
  if (a.rfind("10.", 0) == 0) {
    size_t dot = a.find('.', 3);
    return a.substr(0, dot) + ".0.0/16";
  }
  size_t colon = a.find(':', 5);
  return a.substr(0, colon) + "::/48";
}

std::string list_text(const std::vector<std::string>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? ", \"" : "\"") + v[i] + "\"";
  return s + "]";
}

/// Names that collide after the mangling a backend might do: case folding, '.' -> '_', numbered
/// duplicates ("_2"), truncation of long names. The language accepts ASCII identifiers only
/// ([a-zA-Z_][a-zA-Z0-9_]*), so non-ASCII names are not drawn; 200-character names are.
struct Names {
  std::vector<std::string> roles; ///< opt.roles of them
  std::string host = "srv", ia = "a", ib = "b";
  std::vector<std::string> services;
};

Names draw_names(Rng& r, int roles, bool adversarial) {
  Names n;
  for (int i = 0; i < roles; ++i)
    n.roles.push_back("r" + std::to_string(i));
  for (int i = 0; i < 6; ++i)
    n.services.push_back("s" + std::to_string(i));
  if (!adversarial)
    return n;
  std::string long_base(196, 'q');
  std::vector<std::string> pool;
  switch (r.in(0, 5)) {
  case 0: // plain names
    return n;
  case 1: // case only
    pool = {"Ab", "ab", "ab_2", "AB", "aB_2", "ab_3"};
    break;
  case 2: // '.' against '_': the endpoint web.srv next to roles web_srv, web_srv_2
    n.host = "web";
    n.ia = "srv";
    n.ib = "srv_2";
    pool = {"web_srv", "web_srv_2", "Web_Srv", "web_srv_2_2", "web_srv_3", "WEB_srv"};
    break;
  case 3: // 200-character names that differ only at the end
    n.host = long_base + "host";
    n.ia = long_base + "ifa";
    pool = {long_base + "a_01", long_base + "a_02", long_base + "A_01",
            long_base + "a_1",  long_base + "b_01", "r_long"};
    break;
  case 4: // numeric suffixes
    pool = {"r1", "r1_1", "r1_2", "r_1", "r11", "r1__2"};
    break;
  default: // services named like roles and like each other (one namespace in some vendors)
    pool = {"ab", "Ab", "ab_2", "srv_a", "srv_b", "x"};
    for (int i = 0; i < 6; ++i)
      n.services[static_cast<size_t>(i)] = std::vector<std::string>{
          "ab", "AB", "ab_2", "srv_a", "Srv_a", "s_5"}[static_cast<size_t>(i)];
    break;
  }
  for (int i = 0; i < roles; ++i)
    n.roles[static_cast<size_t>(i)] =
        pool[static_cast<size_t>(i) % pool.size()] +
        (static_cast<size_t>(i) >= pool.size() ? "_x" + std::to_string(i) : "");
  return n;
}

/// Exotic service specs: protocol numbers with a special meaning to some vendor or kernel (0 is
/// "all" to iptables, 255 is IPPROTO_RAW, 41/47/50/51 tunnel and IPsec, 132 SCTP), ICMP types
/// with a special meaning (255 = "any" to xt_icmp; error types 3/11/12 and ICMPv6 1-4 carry an
/// embedded header; 133-136 neighbour discovery).
std::string exotic_spec(Rng& r, bool ipv6) {
  switch (r.in(0, 3)) {
  case 0:
    return "proto " + std::to_string(r.pick(
                          std::vector<int>{0, 255, 41, 47, 50, 51, 132, 0, 255, r.in(1, 254)}));
  case 1: {
    int t = r.pick(std::vector<int>{255, 3, 11, 12, 0, 13, 5, 255, r.in(0, 255)});
    std::string s = "icmp type " + std::to_string(t);
    if (r.chance(0.4))
      s += " code " + std::to_string(r.pick(std::vector<int>{0, 1, 3, 4, 255}));
    return s;
  }
  case 2:
    if (ipv6) {
      int t = r.pick(std::vector<int>{255, 1, 2, 3, 4, 129, 133, 135, 136, r.in(0, 255)});
      std::string s = "icmpv6 type " + std::to_string(t);
      if (r.chance(0.3))
        s += " code " + std::to_string(r.pick(std::vector<int>{0, 1, 4, 255}));
      return s;
    }
    return "icmp type 255";
  default:
    return r.chance(0.5) ? "proto 0" : "icmp type 255";
  }
}

} // namespace

GeneratedPolicy random_policy(uint64_t seed, const GenOptions& opt) {
  Rng r(seed);
  GeneratedPolicy g;
  g.seed = seed;
  Names nm = draw_names(r, opt.roles, opt.adversarial);
  std::string& p = g.policy;
  p += "// generated, seed " + std::to_string(seed) + "\n";
  p += "zone outside;\nzone inside;\n";
  std::vector<std::string> endpoints;
  std::vector<std::string> zone_of;
  for (int i = 0; i < opt.roles; ++i) {
    const std::string& name = nm.roles[static_cast<size_t>(i)];
    std::string zone = r.chance(0.5) ? "outside" : "inside";
    p += "role " + name + " in " + zone + ";\n";
    endpoints.push_back(name);
  }
  p += "role " + nm.host + " in inside {\n  interface " + nm.ia + " in outside;\n  interface " +
       nm.ib + ";\n}\n";
  std::string ea = nm.host + "." + nm.ia, eb = nm.host + "." + nm.ib;
  endpoints.push_back(ea);
  endpoints.push_back(eb);
  endpoints.push_back(nm.host);

  std::vector<std::string> services;
  auto svc = [&](const std::string& spec) {
    std::string name = nm.services[services.size()];
    p += "service " + name + " = " + spec + ";\n";
    services.push_back(name);
  };
  for (int i = 0; i < 6; ++i) {
    int lo = r.in(1, 60) * 100;
    if (opt.adversarial && r.chance(0.25)) {
      svc(exotic_spec(r, opt.ipv6));
      continue;
    }
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

  // Bindings, drawn before the flows so a deny can be aimed at a role whose binding covers
  // another role's addresses.
  std::vector<std::pair<std::string, std::vector<std::string>>> bind; // endpoint -> prefixes
  std::vector<bool> is_any;
  for (int i = 0; i < opt.roles; ++i) {
    bool any = i <= 1 && r.chance(0.3);
    bind.push_back({nm.roles[static_cast<size_t>(i)],
                    any ? std::vector<std::string>{} : addresses(r, opt.ipv6)});
    is_any.push_back(any);
  }
  bind.push_back({ea, addresses(r, opt.ipv6)});
  is_any.push_back(false);
  bind.push_back({eb, addresses(r, opt.ipv6)});
  is_any.push_back(false);

  int flow_no = 0;
  auto flow = [&](bool deny, const std::string& a, const std::string& arrow, const std::string& b,
                  const std::string& list) {
    p += std::string("flow ") + (deny ? "deny " : "") + "f" + std::to_string(flow_no++) + ": " + a +
         " " + arrow + " " + b + " via " + list + ";\n";
  };

  // Adversarial: a deny that names another role than the allow it cuts. Role `wide` (in either
  // zone) is bound to a prefix covering the addresses of `narrow`; "allow anyone -> narrow" and
  // "deny scanner -> wide" on the same service: the scanner must not reach narrow.
  if (opt.adversarial && opt.deny_ratio > 0 && opt.roles >= 3 && r.chance(0.5)) {
    size_t wide = static_cast<size_t>(r.in(2, opt.roles - 1));
    size_t narrow = r.chance(0.5) ? static_cast<size_t>(opt.roles) // the host's interface a
                                  : static_cast<size_t>(r.in(0, opt.roles - 1));
    if (narrow == wide || is_any[narrow])
      narrow = static_cast<size_t>(opt.roles);
    std::vector<std::string> cover;
    for (const std::string& a : bind[narrow].second)
      cover.push_back(covering(a));
    bind[wide].second = cover;
    is_any[wide] = false;
    size_t scanner = wide == 0 ? 1 : 0;
    std::string s = services[static_cast<size_t>(r.in(0, 5))];
    // The allow's source covers the scanner: the scanner itself, or a role bound to "any".
    size_t anyone = scanner;
    if (r.chance(0.5)) {
      anyone = scanner == 0 ? 1 : 0;
      if (anyone == wide || anyone == narrow)
        anyone = scanner;
      else {
        is_any[anyone] = true;
        bind[anyone].second.clear();
      }
    }
    flow(false, bind[anyone].first, "->", bind[narrow].first, s);
    flow(true, bind[scanner].first, "->", bind[wide].first, s);
  } else if (opt.adversarial && opt.roles >= 2 && r.chance(0.3)) {
    // Roles of different zones whose bindings overlap.
    size_t i = static_cast<size_t>(r.in(0, opt.roles - 1)), j = static_cast<size_t>(opt.roles);
    if (!bind[j].second.empty()) {
      bind[i].second = {covering(bind[j].second[0])};
      is_any[i] = false;
    }
  }

  for (int i = 0; i < opt.flows; ++i) {
    std::string a = r.pick(endpoints);
    std::string b = r.pick(endpoints);
    bool a_host = a.rfind(nm.host, 0) == 0 && (a == nm.host || a[nm.host.size()] == '.');
    bool b_host = b.rfind(nm.host, 0) == 0 && (b == nm.host || b[nm.host.size()] == '.');
    if ((a_host && b_host) || a == b)
      b = endpoints[0];
    if (a == b)
      continue;
    bool deny = r.chance(opt.deny_ratio);
    std::string list = r.pick(services);
    if (r.chance(0.3))
      list += ", " + r.pick(services);
    flow(deny, a, r.chance(0.3) && !deny ? "<->" : "->", b, list);
  }

  std::string& m = g.manifest;
  m += "policies = [\"gen.policy\"]\n[environments.test]\ntoday = 2026-01-01\n";
  m += "[environments.test.bind]\n";
  for (size_t i = 0; i < bind.size(); ++i)
    m +=
        "\"" + bind[i].first + "\" = " + (is_any[i] ? "\"any\"" : list_text(bind[i].second)) + "\n";
  for (const auto& b : opt.backends) {
    if (opt.host_targets) {
      g.targets.push_back("host-" + b);
      m += "[[targets]]\nname = \"host-" + b + "\"\nbackend = \"" + b + "\"\nhost = \"" + nm.host +
           "\"\noutput = \"host-" + b + "\"\n";
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
