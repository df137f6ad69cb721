# Run after antlr4 generates the parser (CMakeLists.txt, "grammar"): ANTLR 4.9's C++ target
# deserializes the lexer's and the parser's ATN in a static initializer, at every start of every
# process, about 2 ms, though `build --model` (a slice) never parses policy text. This moves
# that work to the first lexer or parser constructed (a function-local static: once, and safe
# when the pieces are parsed on several threads). A generated file of another shape is left as
# it is (the start-up cost then stays; nothing else changes).
foreach(kind Lexer Parser)
  set(f ${GEN_DIR}/Portolan${kind}.cpp)
  file(READ ${f} text)
  if(kind STREQUAL Lexer)
    set(ctor "PortolanLexer::PortolanLexer(CharStream *input) : Lexer(input) {")
  else()
    set(ctor "PortolanParser::PortolanParser(TokenStream *input) : Parser(input) {")
  endif()
  set(def "Portolan${kind}::Initializer Portolan${kind}::_init;")
  string(FIND "${text}" "${ctor}" at_ctor)
  string(FIND "${text}" "${def}" at_def)
  if(at_ctor EQUAL -1 OR at_def EQUAL -1)
    message(STATUS "lazy-atn: Portolan${kind}.cpp has another shape; left as generated")
  else()
    string(REPLACE "${def}" "// (lazy-atn.cmake: initialised by the first constructor)" text "${text}")
    string(REPLACE "${ctor}" "${ctor}\n  static Initializer once;\n  (void)once;" text "${text}")
    file(WRITE ${f} "${text}")
  endif()
endforeach()
