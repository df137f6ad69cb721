#!/usr/bin/env bash
# The fast front end changes nothing a user sees (issue 15): a policy parsed in pieces (on
# several threads), read back from the parse cache, or read from a `.pmodel`, gives the same
# diagnostics and the same outputs as one whole-file parse; and a corrupt, truncated or foreign
# cache entry or model file is never trusted.
# usage: frontend.sh PORTOLAN BENCH_GEN SOURCE_DIR
set -uo pipefail
portolan=$(realpath "$1") gen=$(realpath "$2") src=$(realpath "$3")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
bad() { echo "frontend: $*"; fail=1; }
whole=(env PORTOLAN_PARSE_PIECE=1000000000 PORTOLAN_PARSE_THREADS=1)
tiny=(env PORTOLAN_PARSE_PIECE=1 PORTOLAN_PARSE_THREADS=3) # a cut at every declaration

# 1. Every bad input, cut at every declaration: its exact diagnostics (tests/bad/NAME.err).
for c in "$src"/tests/bad/*.policy "$src"/tests/bad/*.toml; do
  name=$(basename "${c%.*}")
  out=$("${tiny[@]}" "$src/tests/scripts/bad_input.sh" "$portolan" "$src/tests/bad" "$name" 2>&1) ||
    bad "bad input $name in pieces: $out"
done

# 2. Every golden manifest, the kernel corpus and a generated 20,000-flow policy: check's JSON,
#    build's files and query's JSON, whole vs pieces vs cache (cold, then warm); build's files
#    from compile + build --model. Every construct of the language is in some golden policy
#    (tests/unit/test_pmodel.cpp compares the model itself, member by member).
"$gen" 20000 7 "$work/gen" > /dev/null
manifests=("$src"/tests/golden/*/*.toml "$src"/policies/lync2013-public-im.toml
  "$src"/tests/kernel/corpus/*.toml "$work/gen/bench.toml")
# Queries for a manifest: each environment, packets between the first addresses of its bindings.
queries() {
  python3 - "$1" <<'PY'
import sys, tomllib
m = tomllib.load(open(sys.argv[1], 'rb'))
for env, e in sorted(m.get('environments', {}).items()):
    addrs = []
    for v in e.get('bind', {}).values():
        for a in (v if isinstance(v, list) else [v]):
            if isinstance(a, str) and a != 'any' and a.split('/')[0] not in addrs:
                addrs.append(a.split('/')[0])
    v4 = [a for a in addrs if ':' not in a][:4]
    v6 = [a for a in addrs if ':' in a][:2]
    for fam in (v4, v6):
        for f in fam:
            for t in fam:
                if f != t:
                    for pkt in ('tcp/443', 'udp/3478', 'tcp/22'):
                        print(env, f, t, pkt)
PY
}
i=0
for m in "${manifests[@]}"; do
  i=$((i + 1)); d=$work/m$i; mkdir -p "$d"
  "${whole[@]}" "$portolan" check --manifest "$m" --format json > "$d/check.whole" 2>/dev/null
  "${whole[@]}" "$portolan" build --manifest "$m" --out "$d/out.whole" > /dev/null 2>&1
  for how in tiny default cold warm; do
    case $how in
      tiny) run=("${tiny[@]}" "$portolan") extra=() ;;
      default) run=("$portolan") extra=() ;;
      cold | warm) run=("$portolan") extra=(--cache "$d/cache") ;;
    esac
    "${run[@]}" check --manifest "$m" --format json "${extra[@]}" > "$d/check.$how" 2>/dev/null
    cmp -s "$d/check.whole" "$d/check.$how" || bad "$m: check ($how) differs from a whole parse"
    [ "$how" = cold ] && rm -rf "$d/cache.check" && cp -r "$d/cache" "$d/cache.check"
    "${run[@]}" build --manifest "$m" --out "$d/out.$how" "${extra[@]}" > /dev/null 2>&1
    diff -r "$d/out.whole" "$d/out.$how" > /dev/null || bad "$m: build ($how) differs"
    [ "$m" = "$work/gen/bench.toml" ] && continue # one query there costs a whole load
    queries "$m" | head -n 40 | while read -r env from to pkt; do
      "${whole[@]}" "$portolan" query --manifest "$m" --env "$env" --from "$from" --to "$to" \
        --format json "$pkt" > "$d/q.whole" 2>&1
      "${run[@]}" query --manifest "$m" --env "$env" --from "$from" --to "$to" --format json \
        "${extra[@]}" "$pkt" > "$d/q.$how" 2>&1
      cmp -s "$d/q.whole" "$d/q.$how" || echo "$m: query $env $from $to $pkt ($how) differs"
    done > "$d/q.bad"
    [ -s "$d/q.bad" ] && bad "$(cat "$d/q.bad")"
  done
  [ "$m" = "$work/gen/bench.toml" ] || [ -s "$d/q.whole" ] || bad "$m: no query was run"
  "$portolan" compile --manifest "$m" -o "$d/p.pmodel" --depfile "$d/p.d" > /dev/null 2>&1 ||
    bad "$m: compile failed"
  grep -q "$(basename "$m")" "$d/p.d" || bad "$m: the depfile does not name the manifest"
  (cd "$work" && "$portolan" build --model "$d/p.pmodel" --out "$d/out.model" \
    --depfile "$d/b.d" > /dev/null 2>&1)
  diff -r "$d/out.whole" "$d/out.model" > /dev/null || bad "$m: build --model differs"
  # A build from a model read the model: that is its depfile's one input.
  [ "$(grep -c '^ ' "$d/b.d")" = 1 ] && grep -q "^  $d/p.pmodel$" "$d/b.d" ||
    bad "$m: build --model --depfile does not name the model alone: $(cat "$d/b.d")"
done
# The warm runs read the cache: it has entries, and a warm run writes none.
g=$work/m$i
[ "$(ls "$g/cache" | wc -l)" -gt 1 ] || bad "the parse cache has no entries for the 20,000 flows"
diff <(ls "$g/cache.check") <(ls "$g/cache") > /dev/null || bad "a warm run wrote new cache entries"

# 2b. Errors deep inside a large file (many pieces): literal errors the model builder reports
#     (a port out of range, a bad escape, a reversed range) in three pieces, and a syntax error.
mkdir -p "$work/err"
cp "$work/gen/bench.policy" "$work/err/src.policy"
python3 - "$work/err" <<'PY'
import sys
d = sys.argv[1]; lines = open(d + '/src.policy').read().split('\n'); n = len(lines)
for frac, text in ((0.3, 'service bad_port = tcp 70000;'), (0.6, 'zone esc "a\\qb";'),
                   (0.9, 'service bad_range = udp 9-3;')):
    i = int(n * frac)
    while not lines[i].startswith('flow') and not lines[i].startswith('service'):
        i += 1
    lines.insert(i, text)
open(d + '/literal.policy', 'w').write('\n'.join(lines))
lines.insert(int(n * 0.5), 'flow g1: r1 -> ;')
open(d + '/syntax.policy', 'w').write('\n'.join(lines))
PY
for f in literal.policy syntax.policy; do
  (cd "$work/err" && "${whole[@]}" "$portolan" check "$f" > "$work/err.whole" 2>&1)
  for how in tiny default; do
    case $how in tiny) run=("${tiny[@]}" "$portolan") ;; *) run=("$portolan") ;; esac
    (cd "$work/err" && "${run[@]}" check "$f" > "$work/err.$how" 2>&1)
    cmp -s "$work/err.whole" "$work/err.$how" || bad "errors in $f: $how differs from a whole parse"
  done
  grep -q "error" "$work/err.whole" || bad "errors in $f: none reported"
done

# 3. A broken cache entry is ignored and rewritten, never trusted; the output stays the same.
m=$work/gen/bench.toml
entry=$(ls "$g/cache" | head -n 1)
versions_dir=$work/vers; mkdir -p "$versions_dir"
for how in truncate flip version foreign swap fifo; do
  cp -r "$g/cache.check" "$work/c.$how"
  e=$work/c.$how/$entry
  case $how in
    truncate) head -c 100 "$e" > "$e.x" && mv "$e.x" "$e" ;;
    flip) python3 - "$e" <<'EOF'
import sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[len(b) // 2] ^= 0x20; open(p, 'wb').write(b)
EOF
    ;;
    version) python3 - "$e" <<'EOF'
import sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[8] = ord('9'); open(p, 'wb').write(b)
EOF
    ;;
    foreign) printf 'not a cache entry\n' > "$e" ;;
    swap) other=$(ls "$work/c.$how" | sed -n 2p); cp "$work/c.$how/$other" "$e" ;; # sealed, wrong key
    fifo) rm "$e" && mkfifo "$e" ;; # must not be waited on
  esac
  timeout 120 "$portolan" check --manifest "$m" --format json --cache "$work/c.$how" \
    > "$work/check.$how" 2>/dev/null
  cmp -s "$g/check.whole" "$work/check.$how" || bad "cache entry ($how): check output changed"
  cmp -s "$e" "$g/cache.check/$entry" || bad "cache entry ($how) was not rewritten"
done

# 4. A broken model is refused (exit 2, says why) and nothing is written.
cp "$g/p.pmodel" "$work/ok.pmodel"
python3 - "$work" <<'EOF'
import sys
w = sys.argv[1]; b = open(w + '/ok.pmodel', 'rb').read()
open(w + '/truncated.pmodel', 'wb').write(b[: len(b) - 7])
f = bytearray(b); f[len(f) - 1000] ^= 1; open(w + '/flipped.pmodel', 'wb').write(f)
v = bytearray(b); v[8] = ord('9'); open(w + '/version.pmodel', 'wb').write(v)
open(w + '/foreign.pmodel', 'wb').write(b'[policies]\n')
open(w + '/empty.pmodel', 'wb').write(b'')
EOF
for how in truncated flipped version foreign empty; do
  out=$("$portolan" build --model "$work/$how.pmodel" --out "$work/o.$how" 2>&1)
  code=$?
  [ "$code" = 2 ] || bad "model ($how): exit $code, expected 2"
  grep -q "cannot use model" <<< "$out" || bad "model ($how): no reason given: $out"
  [ ! -e "$work/o.$how" ] || bad "model ($how): something was written"
done
"$portolan" build --model "$work/ok.pmodel" --manifest "$m" > /dev/null 2>&1
[ $? = 2 ] || bad "--model with --manifest must be a usage error"

[ $fail = 0 ] && echo "frontend: ok (${#manifests[@]} manifests)"
exit $fail
