#include "pmodel.h"

#include "load.h"
#include "version.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <set>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

namespace portolan {

namespace fs = std::filesystem;

// --- SHA-256 (FIPS 180-4) ----------------------------------------------------------------------

namespace {

constexpr uint32_t kK[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

inline uint32_t rotr(uint32_t x, int n) {
  return (x >> n) | (x << (32 - n));
}

void block(uint32_t h[8], const uint8_t* p) {
  uint32_t w[64];
  for (int i = 0; i < 16; ++i)
    w[i] = uint32_t(p[4 * i]) << 24 | uint32_t(p[4 * i + 1]) << 16 | uint32_t(p[4 * i + 2]) << 8 |
           uint32_t(p[4 * i + 3]);
  for (int i = 16; i < 64; ++i) {
    uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int i = 0; i < 64; ++i) {
    uint32_t t1 =
        hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kK[i] + w[i];
    uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    hh = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += hh;
}

} // namespace

Sha256 sha256(std::string_view data) {
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t n = data.size(), i = 0;
  for (; i + 64 <= n; i += 64)
    block(h, p + i);
  uint8_t tail[128] = {};
  size_t rest = n - i;
  std::memcpy(tail, p + i, rest);
  tail[rest] = 0x80;
  size_t len = rest + 1 + 8 <= 64 ? 64 : 128;
  uint64_t bits = static_cast<uint64_t>(n) * 8;
  for (int k = 0; k < 8; ++k)
    tail[len - 1 - k] = static_cast<uint8_t>(bits >> (8 * k));
  block(h, tail);
  if (len == 128)
    block(h, tail + 64);
  Sha256 out{};
  for (int k = 0; k < 8; ++k)
    for (int b = 0; b < 4; ++b)
      out[4 * k + b] = static_cast<uint8_t>(h[k] >> (24 - 8 * b));
  return out;
}

std::string hex(const Sha256& h) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t b : h) {
    s += d[b >> 4];
    s += d[b & 15];
  }
  return s;
}

// --- encoding ----------------------------------------------------------------------------------

// A tripwire for a member added to the model without the encoding below: the parse cache and
// `.pmodel` would silently drop it (a policy that builds differently from a model than from its
// text). When one of these fails, encode and decode the new member (or say here why it is
// derived, as the loader's Endpoint::members and ids are), extend tests/unit/test_pmodel.cpp's
// dump, bump kModelFormat, then update the size. Only checked where the sizes are known
// (x86-64, libstdc++'s C++11 string ABI); other builds rely on the CI's.
#if defined(__x86_64__) && defined(__GLIBCXX__) && _GLIBCXX_USE_CXX11_ABI &&                       \
    !defined(_GLIBCXX_DEBUG)
static_assert(sizeof(Zone) == 80 && sizeof(Interface) == 128 && sizeof(Feature) == 80);
static_assert(sizeof(Endpoint) == 144 && sizeof(Vip) == 216 && sizeof(Role) == 376);
static_assert(sizeof(PortMatch) == 56 && sizeof(IcmpMatch) == 5 && sizeof(ProtoMatch) == 1);
static_assert(sizeof(Service) == 128 && sizeof(Group) == 128 && sizeof(Condition) == 80);
static_assert(sizeof(Suppression) == 80 && sizeof(ServiceRef) == 56 && sizeof(Date) == 12);
static_assert(sizeof(Flow) == 488 && sizeof(ExpectSide) == 192 && sizeof(Expectation) == 592);
static_assert(sizeof(PortMap) == 184);
static_assert(sizeof(PolicyHeader) == 104 && sizeof(Import) == 48);
static_assert(sizeof(PolicyFile) == 248 && sizeof(Policy) == 488);
static_assert(std::variant_size_v<ServiceSpec> == 4);
#endif

namespace {

class Writer {
public:
  /// `files`: keep each location's file id (a whole policy); else the locations are the file's.
  explicit Writer(uint32_t line_base, bool files = false) : base_(line_base), files_(files) {}
  std::string out;

  void u8(uint8_t v) { out += static_cast<char>(v); }
  void u32(uint32_t v) { // LEB128: locations and lengths are small numbers, mostly one byte
    while (v >= 0x80) {
      u8(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    u8(static_cast<uint8_t>(v));
  }
  void b(bool v) { u8(v ? 1 : 0); }
  void str(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    out += s;
  }
  void loc(const SourceLoc& l) {
    if (!l.valid()) {
      u8(0);
      return;
    }
    if (files_) {
      u8(3);
      u32(l.file);
      u32(l.line);
      u32(l.col);
      u32(l.len);
      return;
    }
    bool rel = l.line >= base_;
    u8(rel ? 1 : 2);
    u32(rel ? l.line - base_ + 1 : l.line);
    u32(l.col);
    u32(l.len);
  }
  void line(uint32_t l) { // a bare line number (Flow::end_line)
    loc(SourceLoc{1, l, 0, 0});
  }
  template <class T, class F>
  void vec(const std::vector<T>& v, F&& each) {
    u32(static_cast<uint32_t>(v.size()));
    for (const T& x : v)
      each(x);
  }
  void strs(const std::vector<std::string>& v) {
    vec(v, [&](const std::string& s) { str(s); });
  }
  void locs(const std::vector<SourceLoc>& v) {
    vec(v, [&](const SourceLoc& l) { loc(l); });
  }
  /// As written: kind, names, a list's items; not what the loader derives (members, ids).
  void endpoint(const Endpoint& e) {
    u8(static_cast<uint8_t>(e.kind));
    str(e.role);
    str(e.iface);
    vec(e.items.vec(), [&](const Endpoint& x) { endpoint(x); });
    loc(e.loc);
    loc(e.role_loc);
    loc(e.iface_loc);
  }
  void condition(const Condition& c) {
    u8(static_cast<uint8_t>(c.op));
    str(c.feature);
    vec(c.args, [&](const Condition& x) { condition(x); });
    loc(c.loc);
  }
  void vip(const std::optional<Vip>& v) {
    b(v.has_value());
    if (!v)
      return;
    vec(v->nodes, [&](const Endpoint& x) { endpoint(x); });
    u8(static_cast<uint8_t>(v->balance));
    b(v->has_balance);
    b(v->snat_from.has_value());
    if (v->snat_from)
      endpoint(*v->snat_from);
    loc(v->loc);
    loc(v->balance_loc);
  }
  void ranges(const std::vector<PortRange>& v) {
    vec(v, [&](const PortRange& r) {
      u32(r.lo);
      u32(r.hi);
    });
  }
  void spec(const ServiceSpec& s) {
    u8(static_cast<uint8_t>(s.index()));
    if (auto* p = std::get_if<PortMatch>(&s)) {
      u8(p->proto);
      ranges(p->dports);
      ranges(p->sports);
    } else if (auto* i = std::get_if<IcmpMatch>(&s)) {
      u8(i->proto);
      b(i->type.has_value());
      u8(i->type.value_or(0));
      b(i->code.has_value());
      u8(i->code.value_or(0));
    } else if (auto* pr = std::get_if<ProtoMatch>(&s)) {
      u8(pr->number);
    }
  }
  void specs(const std::vector<ServiceSpec>& v) {
    vec(v, [&](const ServiceSpec& s) { spec(s); });
  }
  void suppression(const Suppression& s) {
    str(s.code);
    str(s.reason);
    loc(s.loc);
  }
  void refs(const std::vector<ServiceRef>& v) {
    vec(v, [&](const ServiceRef& r) {
      str(r.name);
      loc(r.loc);
    });
  }
  void side(const ExpectSide& s) {
    u8(static_cast<uint8_t>(s.kind));
    endpoint(s.endpoint);
    u8(static_cast<uint8_t>(s.prefix.addr.family));
    out.append(reinterpret_cast<const char*>(s.prefix.addr.bytes.data()), 16);
    u8(s.prefix.len);
    loc(s.loc);
  }

private:
  uint32_t base_;
  bool files_;
};

class Reader {
public:
  /// `max_file` > 0: locations carry their own file id, at most this.
  Reader(std::string_view in, uint32_t file_id, uint32_t line_base, uint32_t max_file = 0)
      : in_(in), file_(file_id), base_(line_base), max_file_(max_file) {}
  bool ok = true;
  bool done() const { return ok && pos_ == in_.size(); }

  uint8_t u8() {
    if (pos_ >= in_.size()) {
      ok = false;
      return 0;
    }
    return static_cast<uint8_t>(in_[pos_++]);
  }
  uint32_t u32() {
    uint32_t v = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      uint8_t b = u8();
      if (shift == 28 && b > 0x0F) // more than 32 bits
        ok = false;
      v |= uint32_t(b & 0x7F) << shift;
      if (!(b & 0x80))
        return v;
    }
    ok = false;
    return v;
  }
  bool b() {
    uint8_t v = u8();
    if (v > 1)
      ok = false;
    return v == 1;
  }
  std::string str() {
    uint32_t n = u32();
    if (!ok || n > in_.size() - pos_) {
      ok = false;
      return {};
    }
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  /// A string as a view into the input (the nested policy of a model: not copied).
  std::string_view view() {
    uint32_t n = u32();
    if (!ok || n > in_.size() - pos_) {
      ok = false;
      return {};
    }
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  SourceLoc loc() {
    uint8_t k = u8();
    if (k == 0)
      return {};
    if (k == 3 && max_file_ > 0) {
      SourceLoc l;
      l.file = u32();
      l.line = u32();
      l.col = u32();
      l.len = u32();
      if (l.file == 0 || l.file > max_file_)
        ok = false;
      return l;
    }
    if (k > 2 || max_file_ > 0) {
      ok = false;
      return {};
    }
    SourceLoc l;
    l.file = file_;
    l.line = u32();
    if (k == 1)
      l.line += base_ - 1;
    l.col = u32();
    l.len = u32();
    return l;
  }
  uint32_t line() { return loc().line; }
  /// A count of elements that each take at least one byte: never more than what is left.
  uint32_t count() {
    uint32_t n = u32();
    if (!ok || n > in_.size() - pos_) {
      ok = false;
      return 0;
    }
    return n;
  }
  template <class T, class F>
  std::vector<T> vec(F&& each) {
    std::vector<T> v;
    uint32_t n = count();
    v.reserve(n);
    for (uint32_t i = 0; i < n && ok; ++i)
      v.push_back(each());
    return v;
  }
  std::vector<std::string> strs() {
    return vec<std::string>([&] { return str(); });
  }
  std::vector<SourceLoc> locs() {
    return vec<SourceLoc>([&] { return loc(); });
  }
  Endpoint endpoint() {
    Endpoint e;
    if (++depth_ > kMaxDepth)
      ok = false;
    uint8_t k = u8();
    if (k > static_cast<uint8_t>(Endpoint::Kind::Any))
      ok = false;
    // A group's name is written as the parser reads it, a single name: the loader finds the
    // group again (it only looks up single names) and fills its members.
    e.kind = k == static_cast<uint8_t>(Endpoint::Kind::Group) ? Endpoint::Kind::Single
                                                              : static_cast<Endpoint::Kind>(k);
    e.role = str();
    e.iface = str();
    if (ok)
      e.items = vec<Endpoint>([&] { return endpoint(); });
    e.loc = loc();
    e.role_loc = loc();
    e.iface_loc = loc();
    --depth_;
    return e;
  }
  Condition condition() {
    Condition c;
    if (++depth_ > kMaxDepth)
      ok = false;
    uint8_t op = u8();
    if (op > static_cast<uint8_t>(Condition::Op::Or))
      ok = false;
    c.op = static_cast<Condition::Op>(op);
    c.feature = str();
    if (ok)
      c.args = vec<Condition>([&] { return condition(); });
    // What Condition::holds relies on: `not` has one operand, `and`/`or` two or more.
    if ((c.op == Condition::Op::Not && c.args.size() != 1) ||
        ((c.op == Condition::Op::And || c.op == Condition::Op::Or) && c.args.size() < 2) ||
        (c.op == Condition::Op::Feature && !c.args.empty()))
      ok = false;
    c.loc = loc();
    --depth_;
    return c;
  }
  std::optional<Vip> vip() {
    if (!b())
      return std::nullopt;
    Vip v;
    v.nodes = vec<Endpoint>([&] { return endpoint(); });
    uint8_t bal = u8();
    if (bal > static_cast<uint8_t>(Balance::Snat))
      ok = false;
    v.balance = static_cast<Balance>(bal);
    v.has_balance = b();
    if (b())
      v.snat_from = endpoint();
    v.loc = loc();
    v.balance_loc = loc();
    return v;
  }
  std::vector<PortRange> ranges() {
    return vec<PortRange>([&] {
      PortRange r;
      uint32_t lo = u32(), hi = u32();
      if (lo > 65535 || hi > 65535)
        ok = false;
      r.lo = static_cast<uint16_t>(lo);
      r.hi = static_cast<uint16_t>(hi);
      return r;
    });
  }
  ServiceSpec spec() {
    switch (u8()) {
    case 0: {
      PortMatch p;
      p.proto = u8();
      p.dports = ranges();
      p.sports = ranges();
      return p;
    }
    case 1: {
      IcmpMatch m;
      m.proto = u8();
      bool t = b();
      uint8_t tv = u8();
      bool c = b();
      uint8_t cv = u8();
      if (t)
        m.type = tv;
      if (c)
        m.code = cv;
      return m;
    }
    case 2:
      return ProtoMatch{u8()};
    case 3:
      return AnyMatch{};
    default:
      ok = false;
      return AnyMatch{};
    }
  }
  std::vector<ServiceSpec> specs() {
    return vec<ServiceSpec>([&] { return spec(); });
  }
  Suppression suppression() {
    Suppression s;
    s.code = str();
    s.reason = str();
    s.loc = loc();
    return s;
  }
  std::vector<ServiceRef> refs() {
    return vec<ServiceRef>([&] {
      ServiceRef r;
      r.name = str();
      r.loc = loc();
      return r;
    });
  }
  Action action() {
    uint8_t a = u8();
    if (a > 1)
      ok = false;
    return a == 1 ? Action::Deny : Action::Allow;
  }
  ExpectSide side() {
    ExpectSide s;
    uint8_t k = u8();
    if (k > 2)
      ok = false;
    s.kind = static_cast<ExpectSide::Kind>(k);
    s.endpoint = endpoint();
    uint8_t fam = u8();
    if (fam != 4 && fam != 6)
      ok = false;
    s.prefix.addr.family = static_cast<Family>(fam);
    for (auto& byte : s.prefix.addr.bytes)
      byte = u8();
    s.prefix.len = u8();
    if (s.prefix.len > s.prefix.addr.bits())
      ok = false;
    s.loc = loc();
    return s;
  }

private:
  /// Nesting of endpoints and conditions: far deeper than a policy writes (a condition nests
  /// once per operator, an endpoint list once), so a crafted file cannot exhaust the stack.
  static constexpr int kMaxDepth = 1000;
  std::string_view in_;
  size_t pos_ = 0;
  uint32_t file_, base_, max_file_;
  int depth_ = 0;
};

} // namespace

namespace {

/// A PolicyFile or a whole Policy (which has no imports).
template <class F>
void encode_decls(Writer& w, const F& f) {
  w.vec(f.headers, [&](const PolicyHeader& h) {
    w.str(h.name);
    w.str(h.title);
    w.strs(h.references);
    w.loc(h.loc);
  });
  if constexpr (requires { f.imports; })
    w.vec(f.imports, [&](const Import& i) {
      w.str(i.path);
      w.loc(i.loc);
    });
  else
    w.u32(0);
  w.vec(f.zones, [&](const Zone& z) {
    w.str(z.name);
    w.str(z.desc);
    w.loc(z.loc);
  });
  w.vec(f.roles, [&](const Role& r) {
    w.str(r.name);
    w.str(r.desc);
    w.str(r.zone);
    w.vec(r.interfaces, [&](const Interface& i) {
      w.str(i.name);
      w.str(i.desc);
      w.str(i.zone);
      w.loc(i.loc);
      w.loc(i.zone_loc);
    });
    w.vip(r.vip);
    w.loc(r.loc);
    w.loc(r.zone_loc);
  });
  w.vec(f.services, [&](const Service& s) {
    w.str(s.name);
    w.str(s.label);
    w.specs(s.specs);
    w.locs(s.spec_locs);
    w.loc(s.loc);
  });
  w.vec(f.features, [&](const Feature& ft) {
    w.str(ft.name);
    w.str(ft.desc);
    w.loc(ft.loc);
  });
  w.vec(f.groups, [&](const Group& g) {
    w.str(g.name);
    w.str(g.label);
    w.vec(g.items, [&](const Endpoint& e) { w.endpoint(e); });
    w.loc(g.loc);
  });
  w.vec(f.flows, [&](const Flow& fl) {
    w.str(fl.group);
    w.u8(fl.action == Action::Deny ? 1 : 0);
    w.endpoint(fl.src);
    w.endpoint(fl.dst);
    w.b(fl.bidirectional);
    w.refs(fl.services);
    w.b(fl.maps.has_value());
    if (fl.maps) {
      w.endpoint(fl.maps->dst);
      w.u8(fl.maps->proto);
      w.u32(fl.maps->port);
      w.loc(fl.maps->loc);
      w.loc(fl.maps->port_loc);
    }
    w.str(fl.note);
    w.b(fl.required);
    w.b(fl.when.has_value());
    if (fl.when)
      w.condition(*fl.when);
    w.loc(fl.when_loc);
    w.b(fl.expires.has_value());
    if (fl.expires) {
      w.u32(static_cast<uint32_t>(fl.expires->year));
      w.u32(static_cast<uint32_t>(fl.expires->month));
      w.u32(static_cast<uint32_t>(fl.expires->day));
    }
    w.loc(fl.expires_loc);
    w.strs(fl.tags);
    w.vec(fl.suppressions.vec(), [&](const Suppression& s) { w.suppression(s); });
    w.loc(fl.loc);
    w.line(fl.end_line);
  });
  w.vec(f.suppressions, [&](const Suppression& s) { w.suppression(s); });
  w.vec(f.expectations, [&](const Expectation& e) {
    w.u8(e.action == Action::Deny ? 1 : 0);
    w.side(e.src);
    w.side(e.dst);
    w.b(e.bidirectional);
    w.refs(e.services);
    w.specs(e.specs);
    w.str(e.note);
    w.strs(e.envs);
    w.strs(e.targets);
    w.locs(e.env_locs);
    w.locs(e.target_locs);
    w.loc(e.loc);
  });
}

std::optional<PolicyFile> decode_decls(Reader& r, uint32_t file_id) {
  PolicyFile f;
  f.file_id = file_id;
  f.headers = r.vec<PolicyHeader>([&] {
    PolicyHeader h;
    h.name = r.str();
    h.title = r.str();
    h.references = r.strs();
    h.loc = r.loc();
    return h;
  });
  f.imports = r.vec<Import>([&] {
    Import i;
    i.path = r.str();
    i.loc = r.loc();
    return i;
  });
  f.zones = r.vec<Zone>([&] {
    Zone z;
    z.name = r.str();
    z.desc = r.str();
    z.loc = r.loc();
    return z;
  });
  f.roles = r.vec<Role>([&] {
    Role ro;
    ro.name = r.str();
    ro.desc = r.str();
    ro.zone = r.str();
    ro.interfaces = r.vec<Interface>([&] {
      Interface i;
      i.name = r.str();
      i.desc = r.str();
      i.zone = r.str();
      i.loc = r.loc();
      i.zone_loc = r.loc();
      return i;
    });
    ro.vip = r.vip();
    ro.loc = r.loc();
    ro.zone_loc = r.loc();
    return ro;
  });
  f.services = r.vec<Service>([&] {
    Service s;
    s.name = r.str();
    s.label = r.str();
    s.specs = r.specs();
    s.spec_locs = r.locs();
    s.loc = r.loc();
    return s;
  });
  f.features = r.vec<Feature>([&] {
    Feature ft;
    ft.name = r.str();
    ft.desc = r.str();
    ft.loc = r.loc();
    return ft;
  });
  f.groups = r.vec<Group>([&] {
    Group g;
    g.name = r.str();
    g.label = r.str();
    g.items = r.vec<Endpoint>([&] { return r.endpoint(); });
    g.loc = r.loc();
    return g;
  });
  f.flows = r.vec<Flow>([&] {
    Flow fl;
    fl.group = r.str();
    fl.action = r.action();
    fl.src = r.endpoint();
    fl.dst = r.endpoint();
    fl.bidirectional = r.b();
    fl.services = r.refs();
    if (r.b()) {
      PortMap m;
      m.dst = r.endpoint();
      m.proto = r.u8();
      uint32_t port = r.u32();
      if ((m.proto != kProtoTcp && m.proto != kProtoUdp) || port > 65535)
        r.ok = false;
      m.port = static_cast<uint16_t>(port);
      m.loc = r.loc();
      m.port_loc = r.loc();
      fl.maps = std::move(m);
    }
    fl.note = r.str();
    fl.required = r.b();
    if (r.b())
      fl.when = r.condition();
    fl.when_loc = r.loc();
    if (r.b()) {
      Date d;
      d.year = static_cast<int>(r.u32());
      d.month = static_cast<int>(r.u32());
      d.day = static_cast<int>(r.u32());
      fl.expires = d;
    }
    fl.expires_loc = r.loc();
    fl.tags = r.strs();
    fl.suppressions = r.vec<Suppression>([&] { return r.suppression(); });
    fl.loc = r.loc();
    fl.end_line = r.line();
    return fl;
  });
  f.suppressions = r.vec<Suppression>([&] { return r.suppression(); });
  f.expectations = r.vec<Expectation>([&] {
    Expectation e;
    e.action = r.action();
    e.src = r.side();
    e.dst = r.side();
    e.bidirectional = r.b();
    e.services = r.refs();
    e.specs = r.specs();
    e.note = r.str();
    e.envs = r.strs();
    e.targets = r.strs();
    e.env_locs = r.locs();
    e.target_locs = r.locs();
    e.loc = r.loc();
    return e;
  });
  if (!r.done())
    return std::nullopt;
  return f;
}

} // namespace

std::string encode_policy_file(const PolicyFile& f, uint32_t line_base) {
  Writer w(line_base);
  encode_decls(w, f);
  return std::move(w.out);
}

std::optional<PolicyFile> decode_policy_file(std::string_view bytes, uint32_t file_id,
                                             uint32_t line_base) {
  Reader r(bytes, file_id, line_base);
  return decode_decls(r, file_id);
}

std::string encode_policy(const Policy& p) {
  Writer w(1, true);
  encode_decls(w, p);
  return std::move(w.out);
}

std::optional<PolicyFile> decode_policy(std::string_view bytes, uint32_t file_count) {
  if (file_count == 0)
    return std::nullopt;
  Reader r(bytes, 1, 1, file_count);
  return decode_decls(r, 1);
}

std::string encode_model(const SourceManager& sm, const Policy& p) {
  Writer w(1);
  w.u32(static_cast<uint32_t>(sm.size()));
  for (uint32_t id = 1; id <= sm.size(); ++id) {
    w.str(sm.file(id).path);
    w.str(sm.file(id).text);
  }
  w.str(encode_policy(p));
  return std::move(w.out);
}

std::optional<DecodedModel> decode_model(std::string_view payload) {
  Reader r(payload, 1, 1);
  DecodedModel m;
  uint32_t n = r.count();
  for (uint32_t i = 0; i < n && r.ok; ++i) {
    std::string path = r.str();
    std::string text = r.str();
    m.files.emplace_back(std::move(path), std::move(text));
  }
  std::string_view policy = r.view();
  if (!r.done() || m.files.empty())
    return std::nullopt;
  auto decls = decode_policy(policy, static_cast<uint32_t>(m.files.size()));
  if (!decls)
    return std::nullopt;
  m.decls = std::move(*decls);
  return m;
}

namespace {

/// The declarations of a slice: the policy's, by reference, and a copy of the kept flows (and
/// of the kept roles and groups, when not all are kept).
struct SliceDecls {
  const std::vector<PolicyHeader>& headers;
  const std::vector<Zone>& zones;
  const std::vector<Role>& roles;
  const std::vector<Service>& services;
  const std::vector<Feature>& features;
  const std::vector<Group>& groups;
  std::vector<Flow> flows;
  const std::vector<Suppression>& suppressions;
  const std::vector<Expectation>& expectations;
};

template <class T>
std::vector<T> kept_of(const std::vector<T>& all, const std::vector<uint8_t>& mark) {
  std::vector<T> out;
  for (size_t i = 0; i < all.size() && i < mark.size(); ++i)
    if (mark[i])
      out.push_back(all[i]);
  return out;
}

void encode_said(Writer& w, const std::vector<Diagnostic>& said) {
  w.vec(said, [&](const Diagnostic& d) {
    w.u8(static_cast<uint8_t>(d.severity));
    w.str(d.code);
    w.str(d.message);
    w.loc(d.loc);
    w.vec(d.notes, [&](const Related& r) {
      w.loc(r.loc);
      w.str(r.message);
    });
    w.b(d.witness.has_value());
    if (d.witness)
      w.str(*d.witness);
  });
}

std::vector<Diagnostic> decode_said(Reader& r) {
  return r.vec<Diagnostic>([&] {
    Diagnostic d;
    uint8_t sev = r.u8();
    if (sev > static_cast<uint8_t>(Severity::Error))
      r.ok = false;
    d.severity = static_cast<Severity>(sev);
    d.code = r.str();
    d.message = r.str();
    d.loc = r.loc();
    d.notes = r.vec<Related>([&] {
      Related x;
      x.loc = r.loc();
      x.message = r.str();
      return x;
    });
    if (r.b())
      d.witness = r.str();
    return d;
  });
}

} // namespace

std::string encode_slice(const SourceManager& sm, const Policy& p, const std::string& target,
                         const std::vector<size_t>& keep, const std::vector<std::string>& ids,
                         const std::vector<Diagnostic>& said, const std::vector<uint8_t>& roles,
                         const std::vector<uint8_t>& groups, const std::string* manifest_text) {
  std::vector<Role> some_roles;
  std::vector<Group> some_groups;
  if (!roles.empty())
    some_roles = kept_of(p.roles, roles);
  if (!groups.empty())
    some_groups = kept_of(p.groups, groups);
  SliceDecls d{p.headers,  p.zones,        roles.empty() ? p.roles : some_roles,
               p.services, p.features,     groups.empty() ? p.groups : some_groups,
               {},         p.suppressions, p.expectations};
  d.flows.reserve(keep.size());
  std::vector<uint8_t> kept(p.flows.size(), 0);
  for (size_t i : keep) {
    d.flows.push_back(p.flows[i]);
    kept[i] = 1;
  }
  // Per file, the lines only a dropped flow occupies: no diagnostic of this target quotes them.
  // A dropped flow that something `said` points into keeps its lines: the diagnostic quotes it.
  std::set<std::pair<uint32_t, uint32_t>> quoted;
  for (const Diagnostic& x : said) {
    quoted.emplace(x.loc.file, x.loc.line);
    for (const Related& r : x.notes)
      quoted.emplace(r.loc.file, r.loc.line);
  }
  std::vector<std::vector<uint8_t>> blank(sm.size() + 1);
  for (size_t i = 0; i < p.flows.size(); ++i) {
    const Flow& f = p.flows[i];
    if (kept[i] || !f.loc.valid() || f.loc.file > sm.size())
      continue;
    auto& b = blank[f.loc.file];
    uint32_t last = std::max(f.end_line, f.loc.line);
    auto it = quoted.lower_bound({f.loc.file, f.loc.line});
    if (it != quoted.end() && it->first == f.loc.file && it->second <= last)
      continue;
    if (b.size() <= last)
      b.resize(last + 1, 0);
    for (uint32_t l = f.loc.line; l <= last; ++l)
      b[l] = 1;
  }
  for (size_t i : keep) { // a kept flow sharing a line with a dropped one keeps the line
    const Flow& f = p.flows[i];
    if (!f.loc.valid() || f.loc.file > sm.size())
      continue;
    auto& b = blank[f.loc.file];
    for (uint32_t l = f.loc.line; l <= std::max(f.end_line, f.loc.line) && l < b.size(); ++l)
      b[l] = 0;
  }
  Writer w(1);
  w.str(target);
  w.strs(ids);
  Writer sw(1, true);
  encode_said(sw, said);
  w.str(sw.out);
  w.u32(static_cast<uint32_t>(sm.size()));
  // A file is its path, its byte length, then runs: (emptied lines, kept text up to the next
  // emptied line, its newline included).
  for (uint32_t id = 1; id <= sm.size(); ++id) {
    const std::string& text = id == 1 && manifest_text ? *manifest_text : sm.file(id).text;
    const auto& b = blank[id];
    w.str(sm.file(id).path);
    std::string kept_text;
    std::vector<std::pair<uint32_t, std::string>> runs;
    uint32_t emptied = 0, line = 1;
    for (size_t pos = 0; pos < text.size(); ++line) {
      size_t nl = text.find('\n', pos);
      size_t end = nl == std::string::npos ? text.size() : nl + 1;
      if (line < b.size() && b[line]) {
        if (!kept_text.empty()) {
          runs.emplace_back(emptied, std::move(kept_text));
          kept_text.clear();
          emptied = 0;
        }
        ++emptied;
      } else {
        kept_text.append(text, pos, end - pos);
      }
      pos = end;
    }
    runs.emplace_back(emptied, std::move(kept_text));
    w.u32(static_cast<uint32_t>(runs.size()));
    for (const auto& [n, t] : runs) {
      w.u32(n);
      w.str(t);
    }
  }
  Writer pw(1, true);
  encode_decls(pw, d);
  w.str(pw.out);
  return std::move(w.out);
}

std::optional<DecodedSlice> decode_slice(std::string_view payload) {
  Reader r(payload, 1, 1);
  DecodedSlice s;
  s.target = r.str();
  uint32_t nid = r.count();
  for (uint32_t i = 0; i < nid && r.ok; ++i)
    s.ids.push_back(r.str());
  std::string_view said = r.view();
  uint32_t n = r.count();
  uint64_t emptied_total = 0;
  for (uint32_t i = 0; i < n && r.ok; ++i) {
    std::string path = r.str();
    std::string text;
    uint32_t runs = r.count();
    for (uint32_t k = 0; k < runs && r.ok; ++k) {
      uint32_t emptied = r.u32();
      emptied_total += emptied;
      if (emptied_total > kMaxInputBytes) { // more lines than any input holds: not one of ours
        r.ok = false;
        break;
      }
      text.append(emptied, '\n');
      text += r.str();
    }
    s.model.files.emplace_back(std::move(path), std::move(text));
  }
  std::string_view policy = r.view();
  if (!r.done() || s.model.files.empty() || s.target.empty())
    return std::nullopt;
  auto decls = decode_policy(policy, static_cast<uint32_t>(s.model.files.size()));
  if (!decls || decls->flows.size() != s.ids.size())
    return std::nullopt;
  Reader sr(said, 1, 1, static_cast<uint32_t>(s.model.files.size()));
  s.said = decode_said(sr);
  if (!sr.done())
    return std::nullopt;
  s.model.decls = std::move(*decls);
  return s;
}

// --- container ---------------------------------------------------------------------------------

namespace {

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>(v >> (8 * i));
}
uint64_t get_u64(std::string_view s) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= uint64_t(static_cast<uint8_t>(s[i])) << (8 * i);
  return v;
}

/// Format number and compiler version, fixed width: "<format> <version>" padded to 32 bytes.
std::string stamp() {
  std::string s = std::to_string(kModelFormat) + " " + kPortolanVersion;
  s.resize(32, ' ');
  return s;
}

/// The seal's checksum: a 64-bit hash of the payload in four independent lanes of 8-byte words
/// (the mixing of xxHash64, written from its published description), then the tail and the
/// length. It detects a damaged or truncated file (any change of one word alters its lane, and
/// the final avalanche spreads it over every bit) at memory speed, where the SHA-256 it replaces
/// cost 5 ns a byte: 9 ms of a perimeter slice's 1.85 MB. It is no defence against a forger,
/// and SHA-256 was none either (anyone can recompute a hash stored beside the data); a file
/// someone can write is trusted as much as the policy text it stands for.
constexpr uint64_t kP1 = 0x9E3779B185EBCA87ULL, kP2 = 0xC2B2AE3D27D4EB4FULL,
                   kP3 = 0x165667B19E3779F9ULL, kP4 = 0x85EBCA77C2B2AE63ULL,
                   kP5 = 0x27D4EB2F165667C5ULL;
inline uint64_t rotl(uint64_t x, int r) {
  return (x << r) | (x >> (64 - r));
}
inline uint64_t word(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big)
    v = __builtin_bswap64(v);
  return v;
}
inline uint64_t round64(uint64_t acc, uint64_t v) {
  return rotl(acc + v * kP2, 31) * kP1;
}
inline uint64_t merge64(uint64_t h, uint64_t v) {
  return (h ^ round64(0, v)) * kP1 + kP4;
}

uint64_t checksum64(std::string_view s) {
  const char* p = s.data();
  const char* end = p + s.size();
  uint64_t h;
  if (s.size() >= 32) {
    uint64_t v1 = kP1 + kP2, v2 = kP2, v3 = 0, v4 = 0 - kP1;
    for (; p + 32 <= end; p += 32) {
      v1 = round64(v1, word(p));
      v2 = round64(v2, word(p + 8));
      v3 = round64(v3, word(p + 16));
      v4 = round64(v4, word(p + 24));
    }
    h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
    h = merge64(merge64(merge64(merge64(h, v1), v2), v3), v4);
  } else {
    h = kP5;
  }
  h += s.size();
  for (; p + 8 <= end; p += 8)
    h = rotl(h ^ round64(0, word(p)), 27) * kP1 + kP4;
  for (; p < end; ++p)
    h = rotl(h ^ (uint64_t(static_cast<uint8_t>(*p)) * kP5), 11) * kP1;
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  h *= kP3;
  h ^= h >> 32;
  return h;
}

} // namespace

std::string seal(std::string_view magic, std::string_view payload) {
  std::string out;
  out.reserve(magic.size() + 48 + payload.size());
  out += magic;
  out += stamp();
  put_u64(out, payload.size());
  put_u64(out, checksum64(payload));
  out += payload;
  return out;
}

std::optional<std::string_view> unseal(std::string_view magic, std::string_view file,
                                       std::string* why) {
  auto fail = [&](const char* reason) -> std::optional<std::string_view> {
    if (why)
      *why = reason;
    return std::nullopt;
  };
  const size_t head = magic.size() + 32 + 8 + 8;
  if (file.size() < magic.size() || file.substr(0, magic.size()) != magic)
    return fail("not a Portolan model file (bad magic)");
  if (file.size() < head)
    return fail("truncated");
  if (file.substr(magic.size(), 32) != stamp())
    return fail("written by another Portolan version or model format");
  uint64_t n = get_u64(file.substr(magic.size() + 32, 8));
  if (n != file.size() - head)
    return fail("truncated or padded (length mismatch)");
  std::string_view payload = file.substr(head);
  if (checksum64(payload) != get_u64(file.substr(magic.size() + 40, 8)))
    return fail("corrupt (checksum mismatch)");
  return payload;
}

bool write_file_atomic(const fs::path& p, std::string_view data) {
  std::error_code ec;
  if (p.has_parent_path())
    fs::create_directories(p.parent_path(), ec);
  fs::path tmp = p;
  tmp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      return false;
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    out.close();
    if (!out) {
      fs::remove(tmp, ec);
      return false;
    }
  }
  fs::rename(tmp, p, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return false;
  }
  return true;
}

// --- parse cache -------------------------------------------------------------------------------

namespace {

/// Entry payload: the piece's length and SHA-256 (so an entry under the wrong name is refused),
/// then the encoded declarations.
std::string entry_head(std::string_view text, const Sha256& key) {
  std::string h;
  put_u64(h, text.size());
  h.append(reinterpret_cast<const char*>(key.data()), key.size());
  return h;
}

} // namespace

std::optional<PolicyFile> ParseCache::get(std::string_view text, const Sha256& key,
                                          uint32_t file_id, uint32_t line_base) const {
  // read_file: a FIFO or a huge file planted in the cache is refused, never waited on.
  auto file = read_file(dir_ / (hex(key) + ".piece"));
  if (!file)
    return std::nullopt;
  auto payload = unseal(kPieceMagic, *file);
  if (!payload)
    return std::nullopt;
  std::string head = entry_head(text, key);
  if (payload->compare(0, head.size(), head) != 0)
    return std::nullopt;
  return decode_policy_file(payload->substr(head.size()), file_id, line_base);
}

void ParseCache::put(std::string_view text, const Sha256& key, const PolicyFile& f,
                     uint32_t line_base) const {
  std::string payload = entry_head(text, key) + encode_policy_file(f, line_base);
  write_file_atomic(dir_ / (hex(key) + ".piece"), seal(kPieceMagic, payload));
}

} // namespace portolan
