#!/usr/bin/env bash
# Nothing downstream of the parser sees ANTLR: only compiler/parse/ may include its headers.
set -euo pipefail
cd "$1"
hits=$(grep -rlE '#include *[<"](antlr4-runtime|Portolan(Lexer|Parser))' \
  compiler backends tests bench 2>/dev/null | grep -v '^compiler/parse/' || true)
if [ -n "$hits" ]; then echo "antlr_wall: ANTLR headers outside compiler/parse/:"; echo "$hits"; exit 1; fi
echo "antlr_wall: only compiler/parse/ includes ANTLR"
