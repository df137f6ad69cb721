// The text layer under import/doc/graph: tables out of documents, and every escaping reading
// back as the same text.
#include "tables/graph.h"
#include "tables/table.h"

#include <doctest/doctest.h>

#include <string>

using namespace portolan::tables;

TEST_CASE("tables: HTML and pipe tables with their lines, header rows and cell text") {
  std::string doc = "intro\n"
                    "<table>\n<thead>\n<tr><th>A</th><th>B</th></tr>\n</thead>\n<tbody>\n"
                    "<tr><td><p>x &amp; <code>y</code></p></td><td>1<br />2&#47;3</td></tr>\n"
                    "</tbody>\n</table>\n"
                    "\n| C | D |\n|:--|--:|\n| a \\| b | `c|d` |\n| e |\n\n"
                    "<!-- <table><tr><td>hidden</td></tr></table> -->\n";
  auto t = read_tables(doc);
  REQUIRE(t.size() == 2);
  CHECK(t[0].html);
  CHECK(t[0].line == 2);
  REQUIRE(t[0].rows.size() == 2);
  CHECK(t[0].rows[0].header);
  CHECK(t[0].rows[1].line == 7);
  CHECK_FALSE(t[0].rows[1].header);
  CHECK(t[0].rows[1].cells[0] == "x & `y`");
  CHECK(t[0].rows[1].cells[1] == std::string("1 2") + std::string(kSlash) + "3");
  CHECK_FALSE(t[1].html);
  CHECK(t[1].line == 11);
  REQUIRE(t[1].rows.size() == 3);
  CHECK(t[1].rows[1].cells == std::vector<std::string>{"a | b", "`c", "d`"}); // GFM splits
  CHECK(t[1].rows[2].cells == std::vector<std::string>{"e"});
  CHECK(document_title("---\ntitle: T1\n---\n# T2\n") == "T1");
  CHECK(document_title("x\n# T2\n") == "T2");
  CHECK(document_title("") == "");
}

TEST_CASE("tables: Markdown and HTML escapes read back as the same text") {
  const std::string texts[] = {
      "plain",      "a | b",        "<script>&amp;</script>",
      "`code` *x*", "back\\slash",  "[link](x) #h _u_ ~s~ !i",
      "quote \" '", "ünïcödé – ok", std::string("sl") + std::string(kSlash) + "ash"};
  for (const std::string& t : texts) {
    CAPTURE(t);
    std::string md = "| H |\n|---|\n| " + md_escape(t) + " |\n";
    CHECK(md_escape(t).find('<') == std::string::npos);
    auto back = read_tables(md);
    REQUIRE(back.size() == 1);
    REQUIRE(back[0].rows.size() == 2);
    CHECK(back[0].rows[1].cells.at(0) == t);
    std::string html = "<table><tr><td>" + html_escape(t) + "</td></tr></table>";
    CHECK(html_escape(t).find('<') == std::string::npos);
    CHECK(read_tables(html).at(0).rows.at(0).cells.at(0) == t);
  }
}

TEST_CASE("tables: strings and comments of the policy language, DOT strings") {
  CHECK(policy_string("a\"b\\c\nd\te\x01") == "\"a\\\"b\\\\c\\nd\\te\"");
  CHECK(policy_string("\xFF") == "\"\xEF\xBF\xBD\""); // invalid UTF-8 becomes U+FFFD
  CHECK(comment_text("a\nb\r\nc\xE2\x80\xA8"
                     "d\xC2\x85"
                     "e") == "a b c d e");
  CHECK(comment_text(std::string(10, 'x'), 4) == "xxxx\u2026");
  CHECK(dot_quote("a\"b\\c\nd") == "\"a\\\"b\\\\c\\nd\"");
  CHECK(is_policy_name("edge_2"));
  CHECK_FALSE(is_policy_name("flow"));
  CHECK_FALSE(is_policy_name("2x"));
  CHECK_FALSE(is_policy_name("a-b"));
  CHECK(fold("Função ÁÉÎõü ß") == "funcao aeiou ss");
  CHECK(squeeze("  a \xC2\xA0 b\t\n") == "a b");
}
