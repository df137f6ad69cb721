#!/usr/bin/env bash
# The import, doc and graph commands end to end: exit codes, the import summary on stderr, the
# seed tables through import and check, doc in both formats, graph through Graphviz's dot.
# usage: tables_cli.sh PORTOLAN SOURCE_DIR
set -uo pipefail
bin=$1 src=$2
seeds=$src/../shared/seeds
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
expect() { # expect CODE DESCRIPTION -- command...
  local want=$1 what=$2; shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL: $what: exit $got, want $want"; sed 's/^/  stderr: /' "$tmp/err" | head -5
    fail=1
  fi
}

command -v dot >/dev/null || { echo "FAIL: graphviz's dot is not installed (dev.sh installs it)"; exit 1; }
ls "$seeds"/*.txt >/dev/null || { echo "FAIL: no seed tables in $seeds"; exit 1; }

for seed in "$seeds"/*.txt; do
  expect 0 "import $seed" -- "$bin" import --roles "$src/tests/import/lync2013-roles.toml" "$seed"
  grep -qx 'portolan import: 6 rows read, 4 flows written, 0 rows not read (tables: [0-9]* read, [0-9]* skipped)' "$tmp/err" \
    || { echo "FAIL: summary of $seed: $(cat "$tmp/err")"; fail=1; }
  cp "$tmp/out" "$tmp/draft.policy"
  expect 0 "check the draft of $seed" -- "$bin" check "$tmp/draft.policy"
done
printf '# no table here\n' >"$tmp/none.md"
expect 1 "import of a document without a port table" -- "$bin" import "$tmp/none.md"
grep -q 'import-no-table' "$tmp/err" || { echo "FAIL: no import-no-table"; fail=1; }
[ -s "$tmp/out" ] && { echo "FAIL: import without a table wrote a draft"; fail=1; }
expect 2 "import of a missing file" -- "$bin" import "$tmp/missing.md"
expect 2 "import without a file" -- "$bin" import
expect 2 "import with an unknown option" -- "$bin" import --nope x.md
printf '[roles]\n"A" = "not a name"\n' >"$tmp/bad.toml"
expect 1 "import with a bad roles map" -- "$bin" import --roles "$tmp/bad.toml" "$seeds/000_d4ff4a38d361d621.txt"
grep -q 'bad.toml:2:7: error' "$tmp/err" || { echo "FAIL: roles map error location: $(cat "$tmp/err")"; fail=1; }
expect 0 "import --help" -- "$bin" import --help

m=$src/policies/lync2013-public-im.toml
expect 0 "doc md" -- "$bin" doc --manifest "$m"
cp "$tmp/out" "$tmp/doc.md"
expect 0 "doc md again" -- "$bin" doc --manifest "$m"
cmp -s "$tmp/out" "$tmp/doc.md" || { echo "FAIL: doc is not deterministic"; fail=1; }
expect 0 "import doc's Markdown" -- "$bin" import "$tmp/doc.md"
grep -q '0 rows not read' "$tmp/err" || { echo "FAIL: doc's Markdown did not import cleanly"; fail=1; }
expect 0 "doc html with addresses" -- "$bin" doc --format html --manifest "$m" --env lab2013
python3 - "$tmp/out" <<'PY' || fail=1
import sys, html.parser
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.stack = []; self.tables = 0
    def handle_starttag(self, t, a):
        if t in ("meta",): return
        self.stack.append(t); self.tables += t == "table"
    def handle_endtag(self, t):
        if not self.stack or self.stack.pop() != t: sys.exit("FAIL: unbalanced </%s>" % t)
p = P(); p.feed(open(sys.argv[1], encoding="utf-8").read())
if p.stack or p.tables != 4: sys.exit("FAIL: html: open %s, %d tables" % (p.stack, p.tables))
PY
grep -q '198.51.100.10, 2001:db8:1::10' "$tmp/out" || { echo "FAIL: doc --env shows no addresses"; fail=1; }
expect 2 "doc --env without --manifest" -- "$bin" doc --env lab "$src/policies/lync2013-public-im.policy"
expect 2 "doc with a bad format" -- "$bin" doc --format pdf --manifest "$m"
expect 2 "doc with an unknown environment" -- "$bin" doc --manifest "$m" --env nowhere

expect 0 "graph dot" -- "$bin" graph --manifest "$m" --env lab
cp "$tmp/out" "$tmp/g.dot"
dot -Tsvg "$tmp/g.dot" -o "$tmp/g.svg" 2>"$tmp/dot-err" || { echo "FAIL: dot -Tsvg rejects the DOT"; cat "$tmp/dot-err"; fail=1; }
[ -s "$tmp/dot-err" ] && { echo "FAIL: dot warns: $(cat "$tmp/dot-err")"; fail=1; }
expect 0 "graph svg" -- "$bin" graph --format svg --manifest "$m"
python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); sys.exit(0 if r.tag.endswith("svg") else "FAIL: not svg")' "$tmp/out" || fail=1
expect 2 "graph with a bad format" -- "$bin" graph --format png --manifest "$m"
expect 1 "graph of a broken policy" -- "$bin" graph "$src/tests/bad/unknown-service.policy"

[ $fail = 0 ] && echo "tables-cli: ok"
exit $fail
