// The parsed model on disk (compiler/pmodel.h) keeps every member of the model: a policy read
// back from the parse cache or a `.pmodel` is the policy its text gives, field by field. The
// dump below names every member of every model struct (pmodel.cpp's size tripwire points here
// when one is added), and every case compares the dump before and after the round trip.
#include "helpers.h"
#include "pmodel.h"

#include <doctest/doctest.h>

#include <sstream>

using namespace portolan;

namespace {

struct Dump {
  std::ostringstream o;
  void loc(const SourceLoc& l) {
    o << "@" << l.file << ":" << l.line << ":" << l.col << "+" << l.len;
  }
  void locs(const std::vector<SourceLoc>& v) {
    o << "[";
    for (const SourceLoc& l : v)
      loc(l);
    o << "]";
  }
  void strs(const std::vector<std::string>& v) {
    o << "[";
    for (const std::string& s : v)
      o << "'" << s << "' ";
    o << "]";
  }
  void endpoint(const Endpoint& e) {
    o << "ep(" << int(e.kind) << " '" << e.role << "' '" << e.iface << "' items[";
    for (const Endpoint& x : e.items)
      endpoint(x);
    o << "] members[";
    for (const Endpoint& x : e.members)
      endpoint(x);
    o << "] ";
    loc(e.loc);
    loc(e.role_loc);
    loc(e.iface_loc);
    o << " id " << e.role_id << "." << e.iface_id << ")";
  }
  void condition(const Condition& c) {
    o << "cond(" << int(c.op) << " '" << c.feature << "' [";
    for (const Condition& x : c.args)
      condition(x);
    o << "] ";
    loc(c.loc);
    o << ")";
  }
  void spec(const ServiceSpec& s) {
    o << "spec" << s.index() << "(";
    if (auto* p = std::get_if<PortMatch>(&s)) {
      o << int(p->proto);
      for (const PortRange& r : p->dports)
        o << " d" << r.lo << "-" << r.hi;
      for (const PortRange& r : p->sports)
        o << " s" << r.lo << "-" << r.hi;
    } else if (auto* i = std::get_if<IcmpMatch>(&s)) {
      o << int(i->proto) << " t" << (i->type ? int(*i->type) : -1) << " c"
        << (i->code ? int(*i->code) : -1);
    } else if (auto* n = std::get_if<ProtoMatch>(&s)) {
      o << int(n->number);
    }
    o << ")";
  }
  void supp(const Suppression& s) {
    o << "supp('" << s.code << "' '" << s.reason << "' ";
    loc(s.loc);
    o << ")";
  }
  void refs(const std::vector<ServiceRef>& v) {
    for (const ServiceRef& r : v) {
      o << "ref('" << r.name << "' " << r.service_id;
      loc(r.loc);
      o << ")";
    }
  }
  void side(const ExpectSide& s) {
    o << "side(" << int(s.kind) << " ";
    endpoint(s.endpoint);
    o << " " << s.prefix.str_with_len() << " ";
    loc(s.loc);
    o << ")";
  }
  template <class F>
  void decls(const F& f) {
    for (const PolicyHeader& h : f.headers) {
      o << "\nheader '" << h.name << "' '" << h.title << "' ";
      strs(h.references);
      loc(h.loc);
    }
    if constexpr (requires { f.imports; })
      for (const Import& i : f.imports) {
        o << "\nimport '" << i.path << "' ";
        loc(i.loc);
      }
    for (const Zone& z : f.zones) {
      o << "\nzone '" << z.name << "' '" << z.desc << "' ";
      loc(z.loc);
    }
    for (const Role& r : f.roles) {
      o << "\nrole '" << r.name << "' '" << r.desc << "' '" << r.zone << "' ";
      loc(r.loc);
      loc(r.zone_loc);
      for (const Interface& i : r.interfaces) {
        o << " iface('" << i.name << "' '" << i.desc << "' '" << i.zone << "' ";
        loc(i.loc);
        loc(i.zone_loc);
        o << ")";
      }
      if (r.vip) {
        o << " vip(";
        for (const Endpoint& n : r.vip->nodes)
          endpoint(n);
        o << " bal " << int(r.vip->balance) << " " << r.vip->has_balance << " ";
        if (r.vip->snat_from)
          endpoint(*r.vip->snat_from);
        loc(r.vip->loc);
        loc(r.vip->balance_loc);
        o << ")";
      }
    }
    for (const Service& s : f.services) {
      o << "\nservice '" << s.name << "' '" << s.label << "' ";
      for (const ServiceSpec& x : s.specs)
        spec(x);
      locs(s.spec_locs);
      loc(s.loc);
    }
    for (const Feature& ft : f.features) {
      o << "\nfeature '" << ft.name << "' '" << ft.desc << "' ";
      loc(ft.loc);
    }
    for (const Group& g : f.groups) {
      o << "\ngroup '" << g.name << "' '" << g.label << "' items[";
      for (const Endpoint& e : g.items)
        endpoint(e);
      o << "] members[";
      for (const Endpoint& e : g.members)
        endpoint(e);
      o << "] ";
      loc(g.loc);
    }
    for (const Flow& fl : f.flows) {
      o << "\nflow '" << fl.group << "' " << int(fl.action) << " ";
      endpoint(fl.src);
      endpoint(fl.dst);
      o << " bi " << fl.bidirectional << " ";
      refs(fl.services);
      if (fl.maps) {
        o << " maps ";
        endpoint(fl.maps->dst);
        o << " " << int(fl.maps->proto) << "/" << fl.maps->port;
        loc(fl.maps->loc);
        loc(fl.maps->port_loc);
      }
      o << " note '" << fl.note << "' req " << fl.required << " when ";
      if (fl.when)
        condition(*fl.when);
      loc(fl.when_loc);
      o << " expires " << (fl.expires ? fl.expires->str() : "-");
      loc(fl.expires_loc);
      strs(fl.tags);
      for (const Suppression& s : fl.suppressions)
        supp(s);
      loc(fl.loc);
      o << " end " << fl.end_line;
    }
    for (const Suppression& s : f.suppressions) {
      o << "\n";
      supp(s);
    }
    for (const Expectation& e : f.expectations) {
      o << "\nexpect " << int(e.action) << " ";
      side(e.src);
      side(e.dst);
      o << " bi " << e.bidirectional << " ";
      refs(e.services);
      for (const ServiceSpec& x : e.specs)
        spec(x);
      o << " note '" << e.note << "' ";
      strs(e.envs);
      strs(e.targets);
      locs(e.env_locs);
      locs(e.target_locs);
      loc(e.loc);
    }
  }
};

std::string dump(const PolicyFile& f) {
  Dump d;
  d.o << "file " << f.file_id;
  d.decls(f);
  return d.o.str();
}

std::string dump(const Policy& p) {
  Dump d;
  d.decls(p);
  for (const auto* index :
       {&p.zone_index, &p.role_index, &p.service_index, &p.feature_index, &p.group_index}) {
    d.o << "\nindex";
    for (const auto& [name, at] : *index)
      d.o << " " << name << "=" << at;
  }
  d.o << "\nendpoints " << p.endpoint_count();
  return d.o.str();
}

/// Every policy file the tests and the shipped examples hold, and one written below that gives
/// every member of the model a value that is not its default.
std::vector<std::filesystem::path> policy_files() {
  namespace fs = std::filesystem;
  std::vector<fs::path> out;
  for (const char* dir : {"tests/golden", "policies", "tests/kernel/corpus"})
    for (const auto& e : fs::recursive_directory_iterator(fs::path(PORTOLAN_SOURCE_DIR) / dir))
      if (e.path().extension() == ".policy")
        out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Every member set: imports, headers with references, zones, roles with interfaces and VIPs
// of both balancing modes, every service spec, groups of groups, inline lists and `any`,
// nested conditions, port mappings of both protocols, required, expiry, tags, notes, flow and file
// suppressions, expectations on addresses, lists, inline specs, environments and targets.
const char* kEverything = R"(policy t.every "Every member" {
  reference "https://example.org/a";
  reference "https://example.org/b";
}
import "other.policy";
zone outside "The internet";
zone dmz "Perimeter";
zone inside;
role client "Clients" in outside;
role hlb "Balancer SNAT" in dmz;
role edge "Edge" {
  interface ext "External" in dmz;
  interface int in inside;
}
role edge2 in dmz {
  interface ext in dmz;
}
role vip_a "VIP A" in dmz {
  vip for edge.ext, edge2.ext;
  balance keeps-source;
}
role vip_b in dmz {
  vip for edge.ext;
  balance snat from hlb;
}
role db in inside;
service web "Web" = tcp 80, tcp 443 sport 1024-65535, udp 53;
service both = tcp+udp 3478;
service ping = icmp type 8 code 0, icmpv6 type 128;
service gre = proto 47;
service all = any;
service dns = udp 53;
service http = tcp 80;
feature fed "Federation";
feature lab;
feature im;
group front "Front" = edge.ext, edge2.ext;
group everything = front, db;
flow access: client -> vip_a via web "note one" when fed or (im and not lab) {
  required;
  expires 2031-02-03;
  tags a, b;
  note "more";
  suppress shadowed "why";
}
flow deny x: any <-> {edge.int, everything} via ping, gre;
flow back: everything -> db via both when not fed;
flow vips: client -> vip_b via all;
flow publish: client -> edge.ext via http maps to db tcp 8080 "published" when fed;
flow publish: client -> edge2.ext via dns maps to edge.int udp 5353;
suppress unused-role "file wide";
expect allow client -> vip_a via web "kept" in prod, lab-2 on edge-nft;
expect deny 192.0.2.0/24 <-> {db, front} tcp 22, udp 53 "none";
expect deny 2001:db8::1 -> any proto 47;
)";

} // namespace

TEST_CASE("pmodel: a parsed piece reads back from the cache encoding unchanged") {
  std::vector<std::pair<std::string, std::string>> cases;
  for (const auto& p : policy_files()) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    cases.emplace_back(p.string(), s.str());
  }
  cases.emplace_back("every", kEverything);
  for (const auto& c : cases) { // no structured binding: clang 14 cannot capture one
    const std::string& name = c.first;
    const std::string& text = c.second;
    CAPTURE(name);
    auto parsed = test::parse(text);
    REQUIRE(!parsed.diags.has_errors());
    // At the line the text starts at, and moved down (a piece after an edit above it).
    for (uint32_t base : {1u, 40u}) {
      std::string bytes = encode_policy_file(parsed.file, base);
      auto back = decode_policy_file(bytes, parsed.file.file_id, base);
      REQUIRE(back);
      CHECK(dump(*back) == dump(parsed.file));
    }
  }
  auto every = test::parse(kEverything).file;
  REQUIRE(every.roles.size() == 7);
  CHECK(every.roles[4].vip->snat_from.has_value() == false);
  CHECK(every.roles[5].vip->snat_from.has_value());
  CHECK(every.flows[1].dst.items.size() == 2);
  CHECK(every.flows[0].when->args.size() == 2);
  REQUIRE(every.flows.size() == 6);
  CHECK(every.flows[5].maps->proto == kProtoUdp);
  CHECK(every.flows[4].maps->port == 8080);
}

TEST_CASE("pmodel: a loaded policy reads back from a .pmodel unchanged, resolved again") {
  namespace fs = std::filesystem;
  test::TempDir d;
  d.write("other.policy", "zone other;\n");
  std::vector<fs::path> files = policy_files();
  files.push_back(d.write("every.policy", kEverything));
  size_t loaded = 0;
  for (const fs::path& p : files) {
    CAPTURE(p.string());
    SourceManager sm;
    Diagnostics diags;
    LoadResult a = load_policy({p}, sm, diags);
    if (!a.ok) { // a corpus file that needs a companion (checked by its own suite)
      MESSAGE("not loadable alone: " << p.string());
      CHECK(p.filename() != "every.policy");
      continue;
    }
    ++loaded;
    std::string bytes = encode_policy(a.policy);
    auto decoded = decode_policy(bytes, static_cast<uint32_t>(sm.size()));
    REQUIRE(decoded);
    std::vector<PolicyFile> one;
    one.push_back(std::move(*decoded));
    Diagnostics again;
    LoadResult b = load_parsed(std::move(one), again);
    REQUIRE(b.ok);
    CHECK(dump(b.policy) == dump(a.policy));
    // And the whole .pmodel payload: sources and policy.
    auto model = decode_model(encode_model(sm, a.policy));
    REQUIRE(model);
    REQUIRE(model->files.size() == sm.size());
    for (uint32_t id = 1; id <= sm.size(); ++id) {
      CHECK(model->files[id - 1].first == sm.file(id).path);
      CHECK(model->files[id - 1].second == sm.file(id).text);
    }
    // A slice keeping every flow is the model; one keeping every other flow keeps their ids,
    // their lines as they were, and empties the lines of the dropped ones (line numbers kept).
    const size_t n = a.policy.flows.size();
    std::vector<std::string> ids(n);
    for (size_t i = 0; i < n; ++i)
      ids[i] = "id" + std::to_string(i);
    std::vector<size_t> all(n), half;
    for (size_t i = 0; i < n; ++i) {
      all[i] = i;
      if (i % 2 == 0)
        half.push_back(i);
    }
    auto whole = decode_slice(encode_slice(sm, a.policy, "t", all, ids));
    REQUIRE(whole);
    CHECK(whole->target == "t");
    CHECK(whole->ids == ids);
    for (uint32_t id = 1; id <= sm.size(); ++id)
      CHECK(whole->model.files[id - 1].second == sm.file(id).text);
    std::vector<std::string> half_ids;
    for (size_t i : half)
      half_ids.push_back(ids[i]);
    auto sliced = decode_slice(encode_slice(sm, a.policy, "t", half, half_ids));
    REQUIRE(sliced);
    CHECK(sliced->ids == half_ids);
    REQUIRE(sliced->model.decls.flows.size() == half.size());
    SourceManager ssm;
    for (auto& [path, text] : sliced->model.files)
      ssm.add(path, text);
    for (size_t k = 0; k < half.size(); ++k) {
      const Flow& f = a.policy.flows[half[k]];
      CHECK(sliced->model.decls.flows[k].summary() == f.summary());
      CHECK(sliced->model.decls.flows[k].loc.line == f.loc.line);
      CHECK(ssm.line(f.loc.file, f.loc.line) == sm.line(f.loc.file, f.loc.line));
    }
    for (size_t i = 1; i < n; i += 2) {
      const Flow& f = a.policy.flows[i];
      bool shared = false; // a line a kept flow also occupies stays
      for (size_t k : half)
        shared = shared ||
                 (a.policy.flows[k].loc.file == f.loc.file &&
                  a.policy.flows[k].loc.line <= std::max(f.end_line, f.loc.line) &&
                  std::max(a.policy.flows[k].end_line, a.policy.flows[k].loc.line) >= f.loc.line);
      if (!shared)
        CHECK(ssm.line(f.loc.file, f.loc.line).empty());
    }
    if (half.size() != n) // one id per kept flow, or the slice is refused
      CHECK(!decode_slice(encode_slice(sm, a.policy, "t", half, ids)));
  }
  CHECK(loaded + 1 >= files.size()); // at most one corpus file needs a companion
}

TEST_CASE("pmodel: a model of another format is refused") {
  std::string sealed = seal(kModelMagic, "payload");
  CHECK(unseal(kModelMagic, sealed) == std::optional<std::string>("payload"));
  std::string other = sealed;
  other[kModelMagic.size()] = static_cast<char>('0' + (kModelFormat + 1) % 10);
  std::string why;
  CHECK(!unseal(kModelMagic, other, &why));
  CHECK(why.find("another Portolan version or model format") != std::string::npos);
}

TEST_CASE("pmodel: the seal's checksum refuses any altered, truncated or padded byte") {
  // Payloads of every length around the checksum's 8- and 32-byte steps: each byte of the
  // sealed file altered (every bit in turn), then the file cut or grown by one byte.
  for (size_t len : {0, 1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100, 4096}) {
    std::string payload;
    for (size_t i = 0; i < len; ++i)
      payload += static_cast<char>(i * 131 + 7);
    std::string sealed = seal(kSliceMagic, payload);
    REQUIRE(unseal(kSliceMagic, sealed) == std::optional<std::string_view>(payload));
    size_t refused = 0, tried = 0;
    for (size_t i = 0; i<sealed.size(); i += len> 100 ? 37 : 1)
      for (int bit = 0; bit < 8; ++bit) {
        std::string x = sealed;
        x[i] = static_cast<char>(x[i] ^ (1 << bit));
        ++tried;
        refused += !unseal(kSliceMagic, x);
      }
    CHECK(refused == tried);
    CHECK(!unseal(kSliceMagic, std::string_view(sealed).substr(0, sealed.size() - 1)));
    CHECK(!unseal(kSliceMagic, sealed + "x"));
  }
  // Another payload of the same length under a's header (a swapped file body): refused.
  std::string a(64, 'a'), b = a;
  b[40] = 'b';
  CHECK(!unseal(kModelMagic, seal(kModelMagic, a).substr(0, 56) + b));
}

TEST_CASE("pmodel: a slice carries what loading said and keeps only the marked roles") {
  test::TempDir d;
  d.write("other.policy", "zone other;\n");
  SourceManager sm;
  Diagnostics diags;
  LoadResult a = load_policy({d.write("every.policy", kEverything)}, sm, diags);
  REQUIRE(a.ok);
  REQUIRE(a.policy.roles.size() >= 2);
  Diagnostic w;
  w.severity = Severity::Warning;
  w.code = "some-code";
  w.message = "said once";
  w.loc = SourceLoc{1, 3, 2, 4};
  w.notes.push_back({SourceLoc{1, 1, 1, 1}, "here"});
  w.notes.push_back({SourceLoc{}, "nowhere"});
  w.witness = "tcp 10.0.0.1:1 -> 10.0.0.2:80";
  Diagnostic n;
  n.severity = Severity::Note;
  n.code = "other";
  n.message = "no place";
  std::vector<uint8_t> roles(a.policy.roles.size(), 0), groups(a.policy.groups.size(), 1);
  roles[1] = 1;
  auto s = decode_slice(encode_slice(sm, a.policy, "t", {}, {}, {w, n}, roles, groups));
  REQUIRE(s);
  REQUIRE(s->said.size() == 2);
  CHECK(s->said[0].severity == Severity::Warning);
  CHECK(s->said[0].code == "some-code");
  CHECK(s->said[0].message == "said once");
  CHECK(s->said[0].loc.line == 3);
  CHECK(s->said[0].loc.col == 2);
  REQUIRE(s->said[0].notes.size() == 2);
  CHECK(s->said[0].notes[0].message == "here");
  CHECK(!s->said[0].notes[1].loc.valid());
  CHECK(s->said[0].witness == w.witness);
  CHECK(s->said[1].severity == Severity::Note);
  CHECK(!s->said[1].loc.valid());
  CHECK(!s->said[1].witness);
  REQUIRE(s->model.decls.roles.size() == 1);
  CHECK(s->model.decls.roles[0].name == a.policy.roles[1].name);
  CHECK(s->model.decls.groups.size() == a.policy.groups.size());
}

TEST_CASE("pmodel: a truncated or altered slice payload never decodes wrongly or crashes") {
  test::TempDir d;
  d.write("other.policy", "zone other;\n");
  SourceManager sm;
  Diagnostics diags;
  LoadResult a = load_policy({d.write("every.policy", kEverything)}, sm, diags);
  REQUIRE(a.ok);
  std::vector<size_t> keep;
  std::vector<std::string> ids;
  for (size_t i = 0; i < a.policy.flows.size(); i += 2) {
    keep.push_back(i);
    ids.push_back("f" + std::to_string(i));
  }
  std::string bytes = encode_slice(sm, a.policy, "edge", keep, ids);
  REQUIRE(decode_slice(bytes));
  for (size_t n = 0; n < bytes.size(); ++n)
    CHECK(!decode_slice(std::string_view(bytes).substr(0, n)));
  for (size_t i = 0; i < bytes.size(); ++i) { // every byte altered: refused, or a whole slice
    std::string x = bytes;
    x[i] = static_cast<char>(x[i] ^ 0x5a);
    if (auto s = decode_slice(x))
      CHECK(s->ids.size() == s->model.decls.flows.size());
  }
}
