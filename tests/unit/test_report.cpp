// The machine-readable reports are valid JSON whatever bytes the input holds.
#include "report.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace portolan;

namespace {

/// A finding whose file name and message hold invalid UTF-8 and every kind of control byte.
Diagnostics odd_findings(SourceManager& sm) {
  uint32_t f = sm.add("bad\xff\xfe.policy", "zone a;\n");
  Diagnostics d;
  d.error("syntax", SourceLoc{f, 1, 1, 4}, "bytes \xc3\x28 \x80 \b\f\n\r\t\x01\x1f \"q\" \\ é");
  return d;
}

} // namespace

TEST_CASE("report: JSON and SARIF stay valid UTF-8 JSON with any bytes in the input") {
  SourceManager sm;
  Diagnostics d = odd_findings(sm);
  for (const std::string& text : {render_json(d, sm), render_sarif(d, sm)}) {
    // nlohmann's parser checks UTF-8 strictly, as RFC 8259 requires of a JSON text.
    nlohmann::json doc;
    REQUIRE_NOTHROW(doc = nlohmann::json::parse(text));
    std::string message = text.find("\"runs\"") != std::string::npos
                              ? doc["runs"][0]["results"][0]["message"]["text"].get<std::string>()
                              : doc["findings"][0]["message"].get<std::string>();
    // Each invalid byte became U+FFFD; valid text, controls and quotes came through unchanged.
    CHECK(message == "bytes \xef\xbf\xbd( \xef\xbf\xbd \b\f\n\r\t\x01\x1f \"q\" \\ é");
  }
}

TEST_CASE("report: the layout is one finding per line") {
  SourceManager sm;
  uint32_t f = sm.add("p.policy", "zone a;\n");
  Diagnostics d;
  d.error("syntax", SourceLoc{f, 1, 1, 4}, "one");
  d.warning("unused", SourceLoc{}, "two");
  CHECK(render_json(d, sm) ==
        "{\"version\":1,\"tool\":{\"name\":\"portolan\",\"version\":\"0.1.0\"},\"summary\":"
        "{\"errors\":1,\"warnings\":1,\"notes\":0},\"findings\":[\n"
        "  {\"code\":\"syntax\",\"severity\":\"error\",\"message\":\"one\",\"location\":"
        "{\"file\":\"p.policy\",\"line\":1,\"column\":1,\"length\":4},\"related\":[],"
        "\"witness\":null},\n"
        "  {\"code\":\"unused\",\"severity\":\"warning\",\"message\":\"two\",\"location\":null,"
        "\"related\":[],\"witness\":null}\n]}\n");
  CHECK(render_json(Diagnostics{}, sm) ==
        "{\"version\":1,\"tool\":{\"name\":\"portolan\",\"version\":\"0.1.0\"},\"summary\":"
        "{\"errors\":0,\"warnings\":0,\"notes\":0},\"findings\":[]}\n");
}
