// The only file (with the generated code) that sees ANTLR. It parses with SLL prediction first and
// falls back to full LL only when SLL fails, records syntax errors with our own wording, and turns
// the tree into the model.
#include "parse.h"

#include "pmodel.h"

#include "PortolanLexer.h"
#include "PortolanParser.h"
#include "antlr4-runtime.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <thread>

namespace portolan {
namespace {

using portolan_grammar::PortolanLexer;
using portolan_grammar::PortolanParser;

constexpr size_t kMaxSyntaxErrors = 20;

uint32_t char_len(antlr4::Token* t) {
  if (!t || t->getType() == antlr4::Token::EOF)
    return 1;
  auto start = t->getStartIndex(), stop = t->getStopIndex();
  if (stop < start || stop == INVALID_INDEX)
    return 1;
  return static_cast<uint32_t>(stop - start + 1);
}

SourceLoc loc_of(uint32_t file, antlr4::Token* t) {
  if (!t)
    return SourceLoc{file, 1, 1, 1};
  return SourceLoc{file, static_cast<uint32_t>(t->getLine()),
                   static_cast<uint32_t>(t->getCharPositionInLine() + 1), char_len(t)};
}

/// Span of a whole rule when it sits on one line; else its first token.
SourceLoc loc_of(uint32_t file, antlr4::ParserRuleContext* ctx) {
  if (!ctx)
    return SourceLoc{file, 1, 1, 1};
  SourceLoc l = loc_of(file, ctx->getStart());
  auto* stop = ctx->getStop();
  if (stop && stop->getLine() == ctx->getStart()->getLine() &&
      stop->getStopIndex() >= ctx->getStart()->getStartIndex() &&
      stop->getType() != antlr4::Token::EOF)
    l.len = static_cast<uint32_t>(stop->getStopIndex() - ctx->getStart()->getStartIndex() + 1);
  return l;
}

/// Friendly token names for "expected ..." lists.
std::string token_display(const antlr4::dfa::Vocabulary& vocab, size_t type) {
  if (type == antlr4::Token::EOF)
    return "end of file";
  switch (type) {
  case PortolanLexer::ID:
    return "a name";
  case PortolanLexer::INT:
    return "a number";
  case PortolanLexer::STRING:
    return "a string";
  case PortolanLexer::DATE:
    return "a date (YYYY-MM-DD)";
  default:
    break;
  }
  std::string lit = vocab.getLiteralName(type);
  return lit.empty() ? vocab.getSymbolicName(type) : lit;
}

std::string token_text(antlr4::Token* t) {
  if (!t || t->getType() == antlr4::Token::EOF)
    return "end of file";
  std::string s = t->getText();
  if (s.size() > 24)
    s = s.substr(0, 21) + "...";
  std::string out = "'";
  for (char c : s)
    out += (c == '\n' || c == '\r') ? ' ' : c;
  return out + "'";
}

/// Turns ANTLR's callbacks into one diagnostic per syntax error, in our words.
class ErrorListener : public antlr4::BaseErrorListener {
public:
  ErrorListener(uint32_t file, Diagnostics& diags) : file_(file), diags_(diags) {}
  bool failed = false;
  size_t count = 0;

  void syntaxError(antlr4::Recognizer* recognizer, antlr4::Token* offending, size_t line,
                   size_t col, const std::string&, std::exception_ptr) override {
    failed = true;
    if (++count > kMaxSyntaxErrors)
      return;
    SourceLoc loc{file_, static_cast<uint32_t>(line), static_cast<uint32_t>(col + 1),
                  char_len(offending)};
    if (offending && offending->getType() == antlr4::Token::EOF) {
      // "Unexpected end of file" reads best right after the last token, not past the end.
      if (auto* parser = dynamic_cast<antlr4::Parser*>(recognizer)) {
        antlr4::Token* last = nullptr;
        auto* ts = parser->getTokenStream();
        for (size_t i = offending->getTokenIndex(); i-- > 0;) {
          antlr4::Token* t = ts->get(i);
          if (t->getChannel() == antlr4::Token::DEFAULT_CHANNEL) {
            last = t;
            break;
          }
        }
        if (last)
          loc = SourceLoc{file_, static_cast<uint32_t>(last->getLine()),
                          static_cast<uint32_t>(last->getCharPositionInLine()) + char_len(last) + 1,
                          1};
      }
    }
    if (!offending) {
      diags_.error("syntax", loc, "unexpected character");
      return;
    }
    switch (offending->getType()) {
    case PortolanLexer::UNTERMINATED_STRING:
      loc.len = 1;
      diags_.error("syntax", loc, "unterminated string: missing closing '\"' on this line");
      return;
    case PortolanLexer::UNTERMINATED_COMMENT:
      diags_.error("syntax", loc, "unterminated comment: '/*' has no matching '*/'");
      return;
    case PortolanLexer::ERROR_CHAR:
      diags_.error("syntax", loc, "unexpected character " + token_text(offending));
      return;
    default:
      break;
    }
    std::string msg = "unexpected " + token_text(offending);
    if (auto* parser = dynamic_cast<antlr4::Parser*>(recognizer)) {
      antlr4::misc::IntervalSet expected;
      try {
        expected = parser->getExpectedTokens();
      } catch (...) {
      }
      std::vector<std::string> names;
      for (size_t t : expected.toList())
        if (t != PortolanLexer::UNTERMINATED_STRING && t != PortolanLexer::ERROR_CHAR)
          names.push_back(token_display(parser->getVocabulary(), t));
      // Where a condition's operand is due, the many keywords that are also names say less
      // than what may come.
      if (expected.contains(static_cast<size_t>(PortolanLexer::NOT)) &&
          expected.contains(static_cast<size_t>(PortolanLexer::ID)))
        names = {"a feature", "'not'", "'('"};
      if (!names.empty() && names.size() <= 6) {
        msg += "; expected ";
        for (size_t i = 0; i < names.size(); ++i)
          msg += (i == 0 ? "" : (i + 1 == names.size() ? " or " : ", ")) + names[i];
      }
    }
    diags_.error("syntax", loc, msg);
  }

private:
  uint32_t file_;
  Diagnostics& diags_;
};

/// A port written as a vendor page prints it, which our syntax would misread or reject with a
/// bare "unexpected": `1,024` (thousands separator), `50.000`, `67/68`, `tcp/443`, `TCP/UDP`.
struct PortHint {
  size_t first = 0, last = 0; ///< token indices it covers
  SourceLoc loc;
  std::string message;
};

/// Finds port hints in the token stream (default channel). The tell for a thousands separator
/// is a ',' or '.' between digits with no space on either side and exactly three digits after
/// it, in a port list (after tcp, udp, tcp+udp or sport), where the number it makes is a port
/// (`80,443` is 80443, no port, so it stays the list it always was; `1,443` is refused as
/// ambiguous). Pure text rules: no parse is needed, so the hints come before syntax errors.
std::vector<PortHint> port_hints(const std::vector<antlr4::Token*>& all, uint32_t file) {
  std::vector<antlr4::Token*> t;
  for (antlr4::Token* x : all)
    if (x->getChannel() == antlr4::Token::DEFAULT_CHANNEL && x->getType() != antlr4::Token::EOF)
      t.push_back(x);
  auto adjacent = [&](size_t i) { // t[i] follows t[i-1] with nothing in between
    return i > 0 && i < t.size() && t[i]->getStartIndex() == t[i - 1]->getStopIndex() + 1;
  };
  auto text = [&](size_t i) { return i < t.size() ? t[i]->getText() : std::string(); };
  auto type = [&](size_t i) { return i < t.size() ? t[i]->getType() : antlr4::Token::EOF; };
  auto lower = [](std::string s) {
    for (char& c : s)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  auto is_transport = [&](size_t i) {
    std::string l = lower(text(i));
    return l == "tcp" || l == "udp";
  };
  // Whether token i sits in a port list: back over numbers, ',' and '-' to tcp/udp/sport.
  auto in_ports = [&](size_t i) {
    while (i-- > 0) {
      size_t ty = type(i);
      if (ty == PortolanLexer::TCP || ty == PortolanLexer::UDP || ty == PortolanLexer::TCP_UDP ||
          ty == PortolanLexer::SPORT)
        return true;
      if (ty != PortolanLexer::INT && text(i) != "," && text(i) != "-" && text(i) != ".")
        return false;
    }
    return false;
  };
  auto span = [&](size_t a, size_t b) {
    SourceLoc l = loc_of(file, t[a]);
    if (t[b]->getLine() == t[a]->getLine())
      l.len = static_cast<uint32_t>(t[b]->getStopIndex() - t[a]->getStartIndex() + 1);
    return l;
  };
  std::vector<PortHint> out;
  for (size_t i = 0; i < t.size(); ++i) {
    // tcp/443, TCP/UDP, udp/tcp
    if (is_transport(i) && text(i + 1) == "/" && adjacent(i + 1)) {
      if (is_transport(i + 2) && adjacent(i + 2)) {
        out.push_back({i, i + 2, span(i, i + 2),
                       "'" + text(i) + "/" + text(i + 2) +
                           "' is not a protocol; for TCP and UDP on the same ports write "
                           "'tcp+udp PORTS'"});
        i += 2;
      } else if (type(i + 2) == PortolanLexer::INT && adjacent(i + 2)) {
        out.push_back({i, i + 2, span(i, i + 2),
                       "'" + text(i) + "/" + text(i + 2) + "' is written '" + lower(text(i)) + " " +
                           text(i + 2) + "' here"});
        i += 2;
      }
      continue;
    }
    if (type(i) != PortolanLexer::INT ||
        (adjacent(i) &&
         (text(i - 1) == "," || text(i - 1) == "." || text(i - 1) == "-" || text(i - 1) == "/")) ||
        !in_ports(i))
      continue;
    // The run of numbers joined by ',', '.', '-' or '/' with no space: "1,024-65,535".
    size_t j = i;
    while (j + 2 < t.size() + 1 && type(j + 2) == PortolanLexer::INT && adjacent(j + 1) &&
           adjacent(j + 2) &&
           (text(j + 1) == "," || text(j + 1) == "." || text(j + 1) == "-" || text(j + 1) == "/"))
      j += 2;
    if (j == i)
      continue;
    // Split at '-' into the numbers of a range; judge each number's separators.
    std::string fixed, shown;
    bool thousands = false, dot = false, slash = false, ambiguous_list = false;
    size_t k = i;
    while (k <= j) {
      size_t end = k; // a number: INT (sep INT3)*
      while (end + 2 <= j && text(end + 1) != "-" && text(end + 1) != "/")
        end += 2;
      std::string joined = text(k);
      bool tell = end > k && text(k).size() <= 3;
      for (size_t m = k + 2; m <= end; m += 2) {
        tell = tell && text(m).size() == 3;
        joined += text(m);
        dot = dot || text(m - 1) == ".";
      }
      bool any_dot = false;
      for (size_t m = k + 1; m < end; m += 2)
        any_dot = any_dot || text(m) == ".";
      if (tell && (any_dot || (joined.size() <= 5 && std::stol(joined) <= 65535))) {
        thousands = true;
        fixed += joined;
      } else {
        for (size_t m = k; m <= end; ++m)
          fixed += text(m) == "," ? ", " : text(m);
        ambiguous_list = ambiguous_list || any_dot;
      }
      if (end + 1 <= j) {
        slash = slash || text(end + 1) == "/";
        fixed += text(end + 1) == "/" ? ", " : "-";
      }
      k = end + 2;
    }
    for (size_t m = i; m <= j; ++m)
      shown += text(m);
    if (slash && !thousands) {
      out.push_back({i, j, span(i, j),
                     "'" + shown + "' is not a port; for each of these ports write '" + fixed +
                         "', for a range '" + text(i) + "-" + text(j) + "'"});
    } else if (thousands) {
      std::string list; // the same text read as a list, for a single number like 1,443
      bool range = false;
      for (size_t m = i; m <= j; ++m) {
        list += text(m) == "," ? ", " : text(m);
        range = range || text(m) == "-";
      }
      out.push_back({i, j, span(i, j),
                     shown + " looks like " +
                         (dot ? "a number with '.' as thousands separator"
                              : "a number with a thousands separator") +
                         "; write " + fixed +
                         (dot || range ? ""
                                       : " (for a list of ports, put a space after each "
                                         "comma: " +
                                             list + ")")});
    } else if (ambiguous_list) {
      out.push_back({i, j, span(i, j), "'" + shown + "' is not a port; write " + fixed});
    } else {
      continue; // 80,443 and 80-90,443: a plain list
    }
    i = j;
  }
  return out;
}

/// Builds the model from the tree; reports literal errors (ports, dates, ICMP) as it goes.
class Builder {
public:
  Builder(uint32_t file, Diagnostics& diags) : file_(file), diags_(diags) {}

  PolicyFile build(PortolanParser::FileContext* ctx) {
    PolicyFile out;
    out.file_id = file_;
    // Dispatch on each item's only child by rule index: the generated accessors would scan
    // the children with a dynamic_cast each, several times per item.
    for (antlr4::tree::ParseTree* child : ctx->children) {
      auto* item = dynamic_cast<antlr4::ParserRuleContext*>(child);
      if (!item || item->getRuleIndex() != PortolanParser::RuleItem || item->children.empty())
        continue;
      auto* decl = static_cast<antlr4::ParserRuleContext*>(item->children[0]);
      switch (decl->getRuleIndex()) {
      case PortolanParser::RulePolicyDecl:
        out.headers.push_back(policy(static_cast<PortolanParser::PolicyDeclContext*>(decl)));
        break;
      case PortolanParser::RuleImportDecl: {
        auto* i = static_cast<PortolanParser::ImportDeclContext*>(decl);
        out.imports.push_back(Import{unquote(i->path), loc_of(file_, i->path)});
        break;
      }
      case PortolanParser::RuleZoneDecl: {
        auto* z = static_cast<PortolanParser::ZoneDeclContext*>(decl);
        out.zones.push_back(Zone{name(z->name), unquote(z->desc), loc_of(file_, z->name)});
        break;
      }
      case PortolanParser::RuleRoleDecl:
        out.roles.push_back(role(static_cast<PortolanParser::RoleDeclContext*>(decl)));
        break;
      case PortolanParser::RuleServiceDecl:
        out.services.push_back(service(static_cast<PortolanParser::ServiceDeclContext*>(decl)));
        break;
      case PortolanParser::RuleFeatureDecl: {
        auto* f = static_cast<PortolanParser::FeatureDeclContext*>(decl);
        out.features.push_back(Feature{name(f->name), unquote(f->desc), loc_of(file_, f->name)});
        break;
      }
      case PortolanParser::RuleGroupDecl: {
        auto* g = static_cast<PortolanParser::GroupDeclContext*>(decl);
        Group grp{name(g->name), unquote(g->label), {}, {}, loc_of(file_, g->name)};
        for (auto* e : g->endpoint())
          grp.items.push_back(endpoint(e));
        out.groups.push_back(std::move(grp));
        break;
      }
      case PortolanParser::RuleFlowDecl:
        out.flows.push_back(flow(static_cast<PortolanParser::FlowDeclContext*>(decl)));
        break;
      case PortolanParser::RuleSuppressDecl:
        out.suppressions.push_back(
            suppression(static_cast<PortolanParser::SuppressDeclContext*>(decl)));
        break;
      case PortolanParser::RuleExpectDecl:
        out.expectations.push_back(
            expectation(static_cast<PortolanParser::ExpectDeclContext*>(decl)));
        break;
      default:
        break;
      }
    }
    return out;
  }

private:
  uint32_t file_;
  Diagnostics& diags_;

  /// An identifier is one token: take its text instead of concatenating the subtree's.
  static std::string name(PortolanParser::IdentContext* c) {
    return c && c->getStart() ? c->getStart()->getText() : "";
  }

  std::string unquote(antlr4::Token* t) {
    if (!t || t->getType() != PortolanLexer::STRING)
      return {};
    std::string raw = t->getText();
    std::string out;
    for (size_t i = 1; i + 1 < raw.size(); ++i) {
      char c = raw[i];
      if (c == '\\' && i + 2 < raw.size()) {
        char n = raw[++i];
        switch (n) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case '"':
        case '\\':
          out += n;
          break;
        default: {
          SourceLoc l = loc_of(file_, t);
          for (size_t k = 0; k + 1 < i; ++k) // characters before the backslash
            if ((static_cast<unsigned char>(raw[k]) & 0xC0) != 0x80)
              ++l.col;
          l.len = 2;
          diags_.error("syntax", l,
                       std::string("unknown escape '\\") + n +
                           "' in string; use \\\" \\\\ \\n or \\t");
        }
        }
        continue;
      }
      out += c;
    }
    return out;
  }

  PolicyHeader policy(PortolanParser::PolicyDeclContext* p) {
    PolicyHeader h;
    h.name = p->name ? p->name->getText() : "";
    h.title = unquote(p->title);
    h.loc = loc_of(file_, p->name);
    for (auto* a : p->policyAttr())
      h.references.push_back(unquote(a->STRING()->getSymbol()));
    return h;
  }

  Role role(PortolanParser::RoleDeclContext* r) {
    Role out;
    out.name = name(r->name);
    out.desc = unquote(r->desc);
    out.loc = loc_of(file_, r->name);
    if (r->zone) {
      out.zone = name(r->zone);
      out.zone_loc = loc_of(file_, r->zone);
    }
    for (auto* m : r->roleMember()) {
      if (auto* v = m->vipDecl()) {
        vip_decl(out, v);
        continue;
      }
      if (auto* b = m->balanceDecl()) {
        balance_decl(out, b);
        continue;
      }
      auto* i = m->interfaceDecl();
      if (!i)
        continue;
      Interface iface;
      iface.name = name(i->name);
      iface.desc = unquote(i->desc);
      iface.loc = loc_of(file_, i->name);
      if (i->zone) {
        iface.zone = name(i->zone);
        iface.zone_loc = loc_of(file_, i->zone);
      }
      out.interfaces.push_back(std::move(iface));
    }
    return out;
  }

  /// `vip for NODE, ...;` inside a role: the role becomes a VIP in front of those nodes.
  void vip_decl(Role& r, PortolanParser::VipDeclContext* v) {
    SourceLoc at = loc_of(file_, v->VIP()->getSymbol());
    if (!r.vip)
      r.vip.emplace();
    if (r.vip->loc.valid()) {
      diags_.error("vip", at, "role '" + r.name + "' already says 'vip for'; list every node there")
          .notes.push_back({r.vip->loc, "first 'vip for' here"});
      return;
    }
    r.vip->loc = at;
    for (auto* e : v->endpoint())
      r.vip->nodes.push_back(endpoint(e));
  }

  /// `balance keeps-source;` or `balance snat from BALANCER;` inside a VIP role.
  void balance_decl(Role& r, PortolanParser::BalanceDeclContext* b) {
    SourceLoc at = loc_of(file_, b->BALANCE()->getSymbol());
    if (!r.vip)
      r.vip.emplace();
    if (r.vip->has_balance) {
      diags_.error("vip", at, "role '" + r.name + "' already has a balancing mode")
          .notes.push_back({r.vip->balance_loc, "first 'balance' here"});
      return;
    }
    r.vip->has_balance = true;
    r.vip->balance_loc = at;
    std::string mode = b->how ? b->how->getText() : "";
    SourceLoc mode_loc = loc_of(file_, b->how);
    if (mode == "keeps-source") {
      r.vip->balance = Balance::KeepsSource;
      if (b->balancer) {
        diags_.error("vip", loc_of(file_, b->FROM()->getSymbol()),
                     "'balance keeps-source' takes no 'from': the nodes see the client's own "
                     "address; for a balancer that translates the source write 'balance snat "
                     "from " +
                         b->balancer->getText() + ";'");
        return;
      }
    } else if (mode == "snat") {
      r.vip->balance = Balance::Snat;
      if (!b->balancer) {
        diags_.error("vip", mode_loc,
                     "'balance snat' needs the balancer's address, which is what the nodes see "
                     "as the source: write 'balance snat from ROLE;' with a role bound to the "
                     "balancer's SNAT address");
        return;
      }
      r.vip->snat_from = endpoint(b->balancer);
    } else {
      diags_.error("vip", mode_loc,
                   "unknown balancing mode '" + mode +
                       "'; write 'keeps-source' (the nodes see the client's address) or 'snat "
                       "from ROLE' (they see the balancer's)");
    }
  }

  std::optional<long> number(antlr4::Token* t) {
    if (!t)
      return std::nullopt;
    std::string s = t->getText();
    long v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size())
      return std::numeric_limits<long>::max();
    return v;
  }

  std::optional<uint16_t> port(antlr4::Token* t) {
    auto v = number(t);
    if (!v)
      return std::nullopt;
    if (std::string text = t->getText(); text.size() > 1 && text[0] == '0') {
      diags_.error("port-token", loc_of(file_, t),
                   "port " + text + " has a leading zero; write " +
                       text.substr(text.find_first_not_of('0') == std::string::npos
                                       ? text.size() - 1
                                       : text.find_first_not_of('0')));
      return std::nullopt;
    }
    if (*v < 1 || *v > 65535) {
      diags_.error("port-range", loc_of(file_, t),
                   "port " + t->getText() + " is out of range; ports are 1-65535");
      return std::nullopt;
    }
    return static_cast<uint16_t>(*v);
  }

  std::vector<PortRange> ports(PortolanParser::PortListContext* c, bool& ok) {
    std::vector<PortRange> out;
    if (!c)
      return out;
    for (auto* r : c->portRange()) {
      auto lo = port(r->lo);
      auto hi = r->hi ? port(r->hi) : lo;
      if (!lo || !hi) {
        ok = false;
        continue;
      }
      if (*hi < *lo) {
        diags_.error("reversed-range", loc_of(file_, r),
                     "port range " + r->getText() + " is reversed; did you mean " +
                         std::to_string(*hi) + "-" + std::to_string(*lo) + "?");
        ok = false;
        continue;
      }
      out.push_back(PortRange{*lo, *hi});
    }
    return out;
  }

  std::optional<uint8_t> byte(antlr4::Token* t, const char* what) {
    auto v = number(t);
    if (!v)
      return std::nullopt;
    if (*v > 255) {
      diags_.error("out-of-range", loc_of(file_, t),
                   std::string(what) + " " + t->getText() + " is out of range; it is 0-255");
      return std::nullopt;
    }
    return static_cast<uint8_t>(*v);
  }

  Service service(PortolanParser::ServiceDeclContext* s) {
    Service out;
    out.name = name(s->name);
    out.label = unquote(s->label);
    out.loc = loc_of(file_, s->name);
    for (auto* spec : s->serviceSpec())
      if (auto m = service_spec(spec)) {
        out.specs.push_back(std::move(*m));
        out.spec_locs.push_back(loc_of(file_, spec));
        if (auto* pm = std::get_if<PortMatch>(&out.specs.back()); pm && is_tcp_udp(spec)) {
          PortMatch udp = *pm; // tcp+udp: the same ports on both transports
          udp.proto = kProtoUdp;
          out.specs.push_back(std::move(udp));
          out.spec_locs.push_back(loc_of(file_, spec));
        }
      }
    return out;
  }

  static bool is_tcp_udp(PortolanParser::ServiceSpecContext* spec) {
    auto* p = dynamic_cast<PortolanParser::PortSpecContext*>(spec);
    return p && p->transport->getType() == PortolanLexer::TCP_UDP;
  }

  /// One spec; nullopt (with the error reported) when a literal in it is invalid.
  std::optional<ServiceSpec> service_spec(PortolanParser::ServiceSpecContext* spec) {
    bool ok = true;
    if (auto* p = dynamic_cast<PortolanParser::PortSpecContext*>(spec)) {
      PortMatch m;
      m.proto = p->transport->getType() == PortolanLexer::UDP ? kProtoUdp : kProtoTcp;
      m.dports = ports(p->dports, ok);
      m.sports = ports(p->sports, ok);
      if (ok)
        return m;
    } else if (auto* ic = dynamic_cast<PortolanParser::IcmpSpecContext*>(spec)) {
      IcmpMatch m;
      m.proto = ic->transport->getType() == PortolanLexer::ICMP ? kProtoIcmp : kProtoIcmpV6;
      if (ic->type)
        m.type = byte(ic->type, "ICMP type");
      if (ic->code)
        m.code = byte(ic->code, "ICMP code");
      if (ic->code && !ic->type) {
        diags_.error("icmp-code-without-type", loc_of(file_, ic->CODE()->getSymbol()),
                     "an ICMP code needs an ICMP type; write 'type N code M'");
        ok = false;
      }
      if ((ic->type && !m.type) || (ic->code && !m.code))
        ok = false;
      if (ok)
        return m;
    } else if (auto* pr = dynamic_cast<PortolanParser::ProtoSpecContext*>(spec)) {
      if (auto n = byte(pr->number, "IP protocol number"))
        return ProtoMatch{*n};
    } else if (dynamic_cast<PortolanParser::AnySpecContext*>(spec)) {
      return AnyMatch{};
    }
    return std::nullopt;
  }

  ExpectSide expect_side(PortolanParser::ExpectSideContext* c) {
    ExpectSide out;
    if (!c)
      return out;
    out.loc = loc_of(file_, c);
    if (c->address) {
      out.kind = ExpectSide::Kind::Address;
      std::string text = c->address->getText();
      PrefixParse pp = parse_prefix(text);
      if (pp.prefix)
        out.prefix = *pp.prefix;
      else
        diags_.error("invalid-address", out.loc, pp.error);
    } else if (c->endpointList()) {
      out.kind = ExpectSide::Kind::Endpoint;
      out.endpoint = endpoint_list(c->endpointList());
    } else if (c->endpoint()) {
      out.kind = ExpectSide::Kind::Endpoint;
      out.endpoint = endpoint(c->endpoint());
    }
    return out;
  }

  /// A manifest name: the string's text, or the words joined by '-' with nothing in between.
  std::string expect_name(PortolanParser::ExpectNameContext* c) {
    if (c->STRING())
      return unquote(c->STRING()->getSymbol());
    antlr4::Token* prev = nullptr;
    std::string out;
    int spaced = 0; // report a spaced name once
    for (auto* t : c->children) {
      auto* term = dynamic_cast<antlr4::tree::TerminalNode*>(t);
      antlr4::Token* tok =
          term ? term->getSymbol() : static_cast<antlr4::ParserRuleContext*>(t)->getStart();
      if (prev && tok->getStartIndex() != prev->getStopIndex() + 1 && !spaced++)
        diags_.error("syntax", loc_of(file_, tok),
                     "a name joined by '-' must not contain spaces; quote it: \"" + c->getText() +
                         "\"");
      prev = term ? tok : static_cast<antlr4::ParserRuleContext*>(t)->getStop();
      out += term ? tok->getText() : t->getText();
    }
    return out;
  }

  Expectation expectation(PortolanParser::ExpectDeclContext* e) {
    Expectation out;
    out.loc = loc_of(file_, e->EXPECT()->getSymbol());
    out.action =
        e->action && e->action->getType() == PortolanLexer::DENY ? Action::Deny : Action::Allow;
    out.src = expect_side(e->src);
    out.dst = expect_side(e->dst);
    out.bidirectional = e->arrow && e->arrow->getType() == PortolanLexer::BIARROW;
    for (auto* s : e->serviceRef())
      out.services.push_back(ServiceRef{s->getStart()->getText(), loc_of(file_, s)});
    for (auto* spec : e->serviceSpec())
      if (auto m = service_spec(spec)) {
        out.specs.push_back(std::move(*m));
        if (auto* pm = std::get_if<PortMatch>(&out.specs.back()); pm && is_tcp_udp(spec)) {
          PortMatch udp = *pm;
          udp.proto = kProtoUdp;
          out.specs.push_back(std::move(udp));
        }
      }
    out.note = unquote(e->note);
    // The names after `in` come before the names after `on`; ON splits them.
    size_t on_at = e->ON() ? e->ON()->getSymbol()->getTokenIndex() : SIZE_MAX;
    for (auto* n : e->expectName()) {
      bool target = n->getStart()->getTokenIndex() > on_at;
      (target ? out.targets : out.envs).push_back(expect_name(n));
      (target ? out.target_locs : out.env_locs).push_back(loc_of(file_, n));
    }
    return out;
  }

  Endpoint endpoint(PortolanParser::EndpointContext* e) {
    Endpoint out;
    if (!e)
      return out;
    out.role = name(e->role);
    out.iface = name(e->iface);
    out.loc = loc_of(file_, e);
    out.role_loc = loc_of(file_, e->role);
    if (e->iface)
      out.iface_loc = loc_of(file_, e->iface);
    return out;
  }

  Endpoint endpoint_list(PortolanParser::EndpointListContext* l) {
    Endpoint out;
    out.kind = Endpoint::Kind::List;
    out.loc = loc_of(file_, l);
    for (auto* e : l->endpoint())
      out.items.push_back(endpoint(e));
    return out;
  }

  /// A flow's side: `any`, an inline list, or a role, interface or group.
  Endpoint flow_end(PortolanParser::FlowEndContext* c) {
    if (!c)
      return Endpoint{};
    if (c->endpointList())
      return endpoint_list(c->endpointList());
    if (c->ANY()) {
      Endpoint out;
      out.kind = Endpoint::Kind::Any;
      out.loc = out.role_loc = loc_of(file_, c);
      return out;
    }
    return endpoint(c->endpoint());
  }

  /// A `when` condition; `a and b and c` becomes one `and` of three.
  Condition condition(PortolanParser::ConditionContext* c) {
    Condition out;
    if (!c)
      return out;
    out.loc = loc_of(file_, c);
    if (auto* f = dynamic_cast<PortolanParser::FeatureConditionContext*>(c)) {
      out.feature = name(f->feature);
    } else if (auto* p = dynamic_cast<PortolanParser::ParenConditionContext*>(c)) {
      Condition inner = condition(p->condition());
      inner.loc = out.loc;
      return inner;
    } else if (auto* n = dynamic_cast<PortolanParser::NotConditionContext*>(c)) {
      out.op = Condition::Op::Not;
      out.args.push_back(condition(n->condition()));
    } else {
      auto* a = dynamic_cast<PortolanParser::AndConditionContext*>(c);
      auto* o = dynamic_cast<PortolanParser::OrConditionContext*>(c);
      out.op = a ? Condition::Op::And : Condition::Op::Or;
      for (auto* sub : a   ? a->condition()
                       : o ? o->condition()
                           : std::vector<PortolanParser::ConditionContext*>{}) {
        Condition x = condition(sub);
        bool paren = dynamic_cast<PortolanParser::ParenConditionContext*>(sub) != nullptr;
        if (x.op == out.op && !paren)
          for (Condition& y : x.args)
            out.args.push_back(std::move(y));
        else
          out.args.push_back(std::move(x));
      }
    }
    return out;
  }

  Suppression suppression(PortolanParser::SuppressDeclContext* s) {
    Suppression out;
    out.code = s->code ? s->code->getText() : "";
    out.reason = unquote(s->reason);
    out.loc = loc_of(file_, s->code);
    if (!s->reason || out.reason.find_first_not_of(" \t") == std::string::npos)
      diags_.error("suppression-reason", out.loc,
                   "suppression of '" + out.code + "' needs a reason: suppress " + out.code +
                       " \"why this is acceptable\";");
    return out;
  }

  Flow flow(PortolanParser::FlowDeclContext* f) {
    Flow out;
    out.loc = loc_of(file_, f->FLOW()->getSymbol());
    if (f->getStop())
      out.end_line = static_cast<uint32_t>(f->getStop()->getLine());
    out.action =
        f->action && f->action->getType() == PortolanLexer::DENY ? Action::Deny : Action::Allow;
    out.group = name(f->group);
    out.src = flow_end(f->src);
    out.dst = flow_end(f->dst);
    out.bidirectional = f->arrow && f->arrow->getType() == PortolanLexer::BIARROW;
    for (auto* s : f->serviceRef())
      out.services.push_back(ServiceRef{s->getStart()->getText(), loc_of(file_, s)});
    if (auto* m = f->mapsTo(); m && m->target && m->transport && m->port) {
      PortMap pm;
      pm.loc = loc_of(file_, m->MAPS()->getSymbol());
      pm.dst = endpoint(m->target);
      pm.proto = m->transport->getType() == PortolanLexer::UDP ? kProtoUdp : kProtoTcp;
      pm.port_loc = loc_of(file_, m->port);
      if (auto v = port(m->port)) {
        pm.port = *v;
        out.maps = std::move(pm);
      }
    }
    out.note = unquote(f->note);
    if (f->cond) {
      out.when = condition(f->cond);
      out.when_loc = loc_of(file_, f->cond);
    }
    for (auto* a : f->flowAttr()) {
      // The labelled alternatives share one rule index; their first token tells them apart.
      switch (a->getStart()->getType()) {
      case PortolanLexer::REQUIRED:
        out.required = true;
        break;
      case PortolanLexer::EXPIRES: {
        auto* e = static_cast<PortolanParser::ExpiresAttrContext*>(a);
        out.expires_loc = loc_of(file_, e->DATE()->getSymbol());
        out.expires = Date::parse(e->DATE()->getText());
        if (!out.expires)
          diags_.error("invalid-date", out.expires_loc,
                       "'" + e->DATE()->getText() + "' is not a valid date");
        break;
      }
      case PortolanLexer::NOTE: {
        auto* n = static_cast<PortolanParser::NoteAttrContext*>(a);
        if (!out.note.empty())
          out.note += " ";
        out.note += unquote(n->STRING()->getSymbol());
        break;
      }
      case PortolanLexer::TAGS:
        for (auto* id : static_cast<PortolanParser::TagsAttrContext*>(a)->ident())
          out.tags.push_back(name(id));
        break;
      case PortolanLexer::WHEN: {
        auto* w = static_cast<PortolanParser::WhenAttrContext*>(a);
        if (out.when)
          diags_
              .error("duplicate-definition", loc_of(file_, w->condition()),
                     "flow already has a 'when' condition")
              .notes.push_back({out.when_loc, "first defined here"});
        out.when = condition(w->condition());
        out.when_loc = loc_of(file_, w->condition());
        break;
      }
      case PortolanLexer::SUPPRESS:
        out.suppressions.push_back(
            suppression(static_cast<PortolanParser::SuppressAttrContext*>(a)->suppressDecl()));
        break;
      default:
        break;
      }
    }
    return out;
  }
};

/// Offset of the first byte that is not valid UTF-8 (overlong forms and surrogates included), or
/// npos. ANTLR's input stream throws on such bytes, so we check first and point at the byte.
size_t invalid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size() || (n == 2 && c < 0xC2))
      return i;
    uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80)
        return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return i;
    i += n;
  }
  return std::string_view::npos;
}

PolicyFile empty_file(uint32_t file_id) {
  PolicyFile f;
  f.file_id = file_id;
  return f;
}

/// A run of whole lines of a file: [begin, end) in bytes, starting at 1-based `line`, column 1.
struct Piece {
  size_t begin = 0, end = 0;
  uint32_t line = 1;
};

/// Whether the line at `i` starts with a keyword that begins a top-level declaration.
bool starts_declaration(const std::string& s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t'))
    ++i;
  size_t j = i;
  while (j < s.size() && s[j] >= 'a' && s[j] <= 'z')
    ++j;
  if (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_'))
    return false;
  static const std::string_view kWords[] = {"policy",  "import", "zone", "role",     "service",
                                            "feature", "group",  "flow", "suppress", "expect"};
  std::string_view w(s.data() + i, j - i);
  return std::find(std::begin(kWords), std::end(kWords), w) != std::end(kWords);
}

/// Pieces of about `target` bytes or more, cut only at the start of a line that follows a
/// top-level declaration's end (a ';' or '}' outside braces), outside strings and comments; after
/// a '}', only before a line that starts a declaration, since a '}' at the top level also closes
/// an inline endpoint list (`flow a -> {b, c}` then `via s;` on the next line). The cut needs no
/// proof: only tokens that span a line end can be cut, a block comment cut in two leaves its
/// first piece with an unterminated '/*', and a piece that does not parse on its own sends the
/// whole file to the single parse. A good cut just makes that rare.
std::vector<Piece> split_pieces(const std::string& s, size_t target) {
  std::vector<Piece> out;
  Piece cur;
  uint32_t line = 1;
  int depth = 0;
  char last = ';'; // the start of the file is a boundary
  const size_t n = s.size();
  size_t i = 0, since = 0; // since: the last line start that could have been a cut
  while (i < n) {
    char c = s[i];
    if (c == '\n') {
      ++line;
      ++i;
      if (depth == 0 && (last == ';' || (last == '}' && starts_declaration(s, i))) && i < n) {
        // Cut where the declarations just read hash to 0 mod 8, so the cuts follow the
        // content: an edit moves the cuts of its own piece only, and the parse cache (keyed
        // by each piece's text) still serves every other piece. 4x the target forces a cut.
        uint64_t h = 1469598103934665603ull;
        for (size_t k = since; k < i; ++k)
          h = (h ^ static_cast<unsigned char>(s[k])) * 1099511628211ull;
        size_t size = i - cur.begin;
        if (size >= target && (target <= 1 || h % 8 == 0 || size >= 4 * target)) {
          cur.end = i;
          out.push_back(cur);
          cur = Piece{i, 0, line};
        }
        since = i;
      }
    } else if (c == '"') { // STRING: escapes pair a backslash with any character but a line end
      for (++i; i < n && s[i] != '"' && s[i] != '\n' && s[i] != '\r';)
        i += (s[i] == '\\' && i + 1 < n && s[i + 1] != '\n' && s[i + 1] != '\r') ? 2 : 1;
      if (i < n && s[i] == '"')
        ++i;
      last = '"';
    } else if (c == '#' || (c == '/' && i + 1 < n && s[i + 1] == '/')) {
      while (i < n && s[i] != '\n' && s[i] != '\r')
        ++i;
    } else if (c == '/' && i + 1 < n && s[i + 1] == '*') {
      for (i += 2; i < n && !(s[i] == '*' && i + 1 < n && s[i + 1] == '/'); ++i)
        if (s[i] == '\n')
          ++line;
      i = std::min(n, i + 2);
    } else {
      if (c == '{')
        ++depth;
      else if (c == '}')
        --depth;
      if (c != ' ' && c != '\t' && c != '\r' && c != '\f')
        last = c;
      ++i;
    }
  }
  cur.end = n;
  out.push_back(cur);
  return out;
}

/// Bytes per piece: small enough that the trees alive at once stay small, large enough that
/// setting up a lexer and parser per piece costs nothing next to parsing it.
/// PORTOLAN_PARSE_PIECE overrides it (tests: 1 cuts at every declaration).
size_t piece_bytes() {
  if (const char* e = std::getenv("PORTOLAN_PARSE_PIECE")) {
    long v = std::strtol(e, nullptr, 10);
    if (v >= 1)
      return static_cast<size_t>(v);
  }
  return 128 * 1024;
}

/// Threads for the pieces: one per core; PORTOLAN_PARSE_THREADS overrides it (benchmarks).
size_t parse_threads() {
  if (const char* e = std::getenv("PORTOLAN_PARSE_THREADS")) {
    long v = std::strtol(e, nullptr, 10);
    if (v >= 1 && v <= 256)
      return static_cast<size_t>(v);
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : std::min<size_t>(hc, 64);
}

/// The file rule with SLL prediction and bail-out, no listeners: the tree, or nullptr at the
/// first syntax error (the caller decides whether full LL runs after it).
PortolanParser::FileContext* parse_sll(PortolanParser& parser) {
  parser.removeErrorListeners();
  parser.getInterpreter<antlr4::atn::ParserATNSimulator>()->setPredictionMode(
      antlr4::atn::PredictionMode::SLL);
  parser.setErrorHandler(std::make_shared<antlr4::BailErrorStrategy>());
  try {
    return parser.file();
  } catch (const antlr4::ParseCancellationException&) {
    return nullptr;
  }
}

struct PieceResult {
  bool ok = false; ///< SLL parsed it; false: the whole file is parsed again
  PolicyFile file;
  Diagnostics diags; ///< what building its model said (literal errors), in order
};

/// One piece, SLL with bail-out; its tokens carry the file's lines and columns.
PieceResult parse_piece(const std::string& text, const Piece& p, uint32_t file_id) {
  PieceResult r;
  antlr4::ANTLRInputStream input(text.data() + p.begin, p.end - p.begin);
  PortolanLexer lexer(&input);
  lexer.removeErrorListeners();
  lexer.setLine(p.line);
  lexer.setCharPositionInLine(0);
  antlr4::CommonTokenStream tokens(&lexer);
  tokens.fill();
  // A port written as a vendor page prints it: the whole file's parse says so in its words
  // (and builds nothing), so the piece gives up. A hint's tokens never span a cut (a cut
  // follows a ';' or '}', which ends the look back over a port list).
  if (!port_hints(tokens.getTokens(), file_id).empty())
    return r;
  PortolanParser parser(&tokens);
  PortolanParser::FileContext* tree = parse_sll(parser);
  if (!tree)
    return r;
  r.file = Builder(file_id, r.diags).build(tree);
  r.ok = true;
  return r;
}

/// Moves `from`'s elements to the end of `to` and frees `from`.
template <class T>
void move_append(std::vector<T>& to, std::vector<T>& from) {
  if (to.empty() && to.capacity() < from.size()) {
    to = std::move(from);
    return;
  }
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
  std::vector<T>().swap(from);
}

/// Appends a later piece's declarations, in order.
void append(PolicyFile& to, PolicyFile&& from) {
  move_append(to.headers, from.headers);
  move_append(to.imports, from.imports);
  move_append(to.zones, from.zones);
  move_append(to.roles, from.roles);
  move_append(to.services, from.services);
  move_append(to.features, from.features);
  move_append(to.groups, from.groups);
  move_append(to.flows, from.flows);
  move_append(to.suppressions, from.suppressions);
  move_append(to.expectations, from.expectations);
}

/// The whole file as one parse: SLL first, then full LL with our error reporting.
PolicyFile parse_whole(const SourceFile& src, uint32_t file_id, Diagnostics& diags) {
  antlr4::ANTLRInputStream input(src.text);
  PortolanLexer lexer(&input);
  lexer.removeErrorListeners();
  antlr4::CommonTokenStream tokens(&lexer);
  tokens.fill();
  // Ports as vendor pages print them: said in our words, before (and instead of) the bare
  // syntax errors they cause; the file is not built (`1,024` would parse as two ports).
  std::vector<PortHint> hints = port_hints(tokens.getTokens(), file_id);
  for (const PortHint& h : hints)
    diags.error("port-token", h.loc, h.message);
  PortolanParser parser(&tokens);
  // Fast path: SLL prediction with bail-out; only a failing parse pays for full LL and reporting.
  PortolanParser::FileContext* tree = parse_sll(parser);
  Diagnostics syntax;
  if (!tree) {
    tokens.seek(0);
    parser.reset();
    parser.setErrorHandler(std::make_shared<antlr4::DefaultErrorStrategy>());
    parser.getInterpreter<antlr4::atn::ParserATNSimulator>()->setPredictionMode(
        antlr4::atn::PredictionMode::LL);
    ErrorListener listener(file_id, syntax);
    parser.addErrorListener(&listener);
    tree = parser.file();
    parser.removeErrorListeners();
    if (listener.count > kMaxSyntaxErrors)
      syntax.add(Severity::Note, "syntax", SourceLoc{file_id, 0, 0, 0},
                 "too many syntax errors in " + src.path + "; stopped after " +
                     std::to_string(kMaxSyntaxErrors));
    if (listener.failed) {
      for (const auto& d : syntax.all()) {
        bool hinted = false; // a syntax error a port hint explains already
        for (const PortHint& h : hints)
          hinted = hinted || (d.loc.line == h.loc.line && d.loc.col >= h.loc.col &&
                              d.loc.col <= h.loc.col + h.loc.len);
        if (!hinted)
          diags.add(d.severity, d.code, d.loc, d.message);
      }
      // The tree after recovery is unreliable: report syntax errors only.
      return empty_file(file_id);
    }
  }
  if (!hints.empty())
    return empty_file(file_id);
  return Builder(file_id, diags).build(tree);
}

} // namespace

PolicyFile parse_policy_file(const SourceManager& sm, uint32_t file_id, Diagnostics& diags,
                             const ParseCache* cache) {
  const SourceFile& src = sm.file(file_id);
  if (size_t bad = invalid_utf8(src.text); bad != std::string_view::npos) {
    uint32_t line = 1, col = 1;
    for (size_t i = 0; i < bad; ++i) {
      auto c = static_cast<unsigned char>(src.text[i]);
      if (c == '\n') {
        ++line;
        col = 1;
      } else if ((c & 0xC0) != 0x80) {
        ++col;
      }
    }
    diags.error("encoding", SourceLoc{file_id, line, col, 1},
                "this byte is not valid UTF-8; policy files must be UTF-8 text");
    return empty_file(file_id);
  }
  try {
    // Fast path: the file in pieces at top-level declaration boundaries, each lexed and parsed
    // with SLL on its own (on every core), its tree freed as soon as its model is built.
    std::vector<Piece> pieces = split_pieces(src.text, piece_bytes());
    std::vector<PieceResult> results(pieces.size());
    auto run = [&](size_t i) {
      const Piece& p = pieces[i];
      if (!cache) {
        results[i] = parse_piece(src.text, p, file_id);
        return;
      }
      std::string_view text = std::string_view(src.text).substr(p.begin, p.end - p.begin);
      Sha256 key = sha256(text);
      if (auto f = cache->get(text, key, file_id, p.line)) {
        results[i].ok = true;
        results[i].file = std::move(*f);
        return;
      }
      results[i] = parse_piece(src.text, p, file_id);
      if (results[i].ok && results[i].diags.all().empty()) // what it says is said again
        cache->put(text, key, results[i].file, p.line);
    };
    // The first piece alone fills ANTLR's shared DFA caches before threads share them.
    run(0);
    if (results[0].ok && pieces.size() > 1) {
      size_t threads = std::min(parse_threads(), pieces.size() - 1);
      std::atomic<size_t> next{1};
      std::atomic<bool> failed{false};
      auto worker = [&] {
        for (size_t i; !failed && (i = next++) < pieces.size();) {
          run(i);
          if (!results[i].ok)
            failed = true;
        }
      };
      std::vector<std::thread> pool;
      for (size_t t = 1; t < threads; ++t)
        pool.emplace_back(worker);
      worker();
      for (auto& t : pool)
        t.join();
    }
    bool all_ok =
        std::all_of(results.begin(), results.end(), [](const PieceResult& r) { return r.ok; });
    if (all_ok) {
      PolicyFile out = empty_file(file_id);
      size_t flows = 0;
      for (const PieceResult& r : results)
        flows += r.file.flows.size();
      out.flows.reserve(flows);
      for (PieceResult& r : results) {
        for (const Diagnostic& d : r.diags.all())
          diags.add(d.severity, d.code, d.loc, d.message) = d;
        append(out, std::move(r.file));
      }
      return out;
    }
    results.clear();
    // A piece failed: the whole file again, as one, so syntax errors are found and reported
    // exactly as a single parse reports them (full LL, recovery, our wording).
    return parse_whole(src, file_id, diags);
  } catch (const std::exception& e) {
    diags.error("internal", SourceLoc{file_id, 1, 1, 1},
                std::string("parser failed unexpectedly: ") + e.what());
  } catch (...) {
    diags.error("internal", SourceLoc{file_id, 1, 1, 1}, "parser failed unexpectedly");
  }
  return empty_file(file_id);
}

std::vector<LexToken> lex_policy(const std::string& text) {
  std::vector<LexToken> out;
  try {
    antlr4::ANTLRInputStream input(text);
    PortolanLexer lexer(&input);
    lexer.removeErrorListeners();
    for (auto t = lexer.nextToken(); t->getType() != antlr4::Token::EOF; t = lexer.nextToken()) {
      LexToken x;
      x.text = t->getText();
      x.line = static_cast<uint32_t>(t->getLine());
      x.col = static_cast<uint32_t>(t->getCharPositionInLine() + 1);
      x.offset = t->getStartIndex(); // code points; converted to bytes below
      switch (t->getType()) {
      case PortolanLexer::ID:
        x.kind = LexToken::Kind::Name;
        break;
      case PortolanLexer::INT:
        x.kind = LexToken::Kind::Number;
        break;
      case PortolanLexer::DATE:
        x.kind = LexToken::Kind::Date;
        break;
      case PortolanLexer::IPV4:
      case PortolanLexer::IPV6:
        x.kind = LexToken::Kind::Address;
        break;
      case PortolanLexer::STRING:
        x.kind = LexToken::Kind::String;
        break;
      case PortolanLexer::ARROW:
      case PortolanLexer::BIARROW:
        x.kind = LexToken::Kind::Arrow;
        break;
      case PortolanLexer::LINE_COMMENT:
        x.kind = LexToken::Kind::LineComment;
        break;
      case PortolanLexer::BLOCK_COMMENT:
        x.kind = LexToken::Kind::BlockComment;
        break;
      case PortolanLexer::UNTERMINATED_STRING:
      case PortolanLexer::UNTERMINATED_COMMENT:
      case PortolanLexer::ERROR_CHAR:
        x.kind = LexToken::Kind::Error;
        break;
      default: {
        // Keywords are literal tokens made of letters; the rest are punctuation.
        unsigned char c0 = x.text.empty() ? 0 : static_cast<unsigned char>(x.text[0]);
        x.kind = std::isalpha(c0) ? LexToken::Kind::Keyword : LexToken::Kind::Punct;
      }
      }
      out.push_back(std::move(x));
    }
  } catch (...) {
    return out;
  }
  // ANTLR counts code points; callers index bytes.
  size_t byte = 0, cp = 0;
  for (LexToken& t : out) {
    while (cp < t.offset && byte < text.size()) {
      ++byte;
      while (byte < text.size() && (static_cast<unsigned char>(text[byte]) & 0xC0) == 0x80)
        ++byte;
      ++cp;
    }
    t.offset = byte;
  }
  return out;
}

} // namespace portolan
