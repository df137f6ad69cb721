#!/usr/bin/env bash
# Per-target slices (`compile --slices`, issue 15) drop nothing a build needs: for every target
# of every golden, policies/, kernel-corpus and bad-input manifest, and of a generated policy,
# `build --model DIR/T.pmodel` gives the same files, the same diagnostics and the same exit
# code as `build --manifest M --target T`, also on other days (--today, which decides expiry).
# A slice refuses another target, and a corrupt, truncated or foreign slice is refused
# (`unreadable`, exit 2); an unchanged slice is not rewritten (Ninja's restat). A host target's
# slice drops the roles (and their manifest bindings) its build never reads; the diagnostics
# of loading and validating the whole policy travel in the slice.
# usage: slices.sh PORTOLAN BENCH_GEN SOURCE_DIR
set -uo pipefail
portolan=$(realpath "$1") gen=$(realpath "$2") src=$(realpath "$3")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
bad() { echo "slices: $*"; fail=1; }

"$gen" 3000 11 "$work/gen" --capirca > /dev/null
manifests=("$src"/tests/golden/*/*.toml "$src"/policies/*.toml "$src"/tests/kernel/corpus/*.toml
  "$src"/tests/bad/*.toml "$work/gen/vs-capirca.toml")
targets_of() {
  python3 - "$1" <<'PY'
import sys, tomllib
try:
    m = tomllib.load(open(sys.argv[1], 'rb'))
except Exception:
    sys.exit(0)
for t in m.get('targets', []):
    if isinstance(t, dict) and 'name' in t:
        print(t['name'])
PY
}
i=0 compared=0 refused=0
for m in "${manifests[@]}"; do
  i=$((i + 1)); d=$work/m$i; mkdir -p "$d"
  # Run from the manifest's folder, as a build system would, so relative paths are the same.
  (cd "$(dirname "$m")" && "$portolan" compile --manifest "$m" --slices "$d/s") > /dev/null 2>&1 ||
    continue # a manifest that does not load has no slices (bad-input cases)
  mapfile -t tgts < <(targets_of "$m")
  [ "${#tgts[@]}" -gt 0 ] || bad "$m: no targets read"
  for t in "${tgts[@]}"; do
    [ -f "$d/s/$t.pmodel" ] || { bad "$m: no slice for $t"; continue; }
    for today in "" 2000-01-01 2999-12-31; do
      extra=()
      [ -n "$today" ] && extra=(--today "$today")
      (cd "$(dirname "$m")" &&
        "$portolan" build --manifest "$m" --target "$t" --out "$d/a" "${extra[@]}") \
        > "$d/a.out" 2> "$d/a.err"
      ra=$?
      (cd "$(dirname "$m")" &&
        "$portolan" build --model "$d/s/$t.pmodel" --target "$t" --out "$d/b" "${extra[@]}") \
        > "$d/b.out" 2> "$d/b.err"
      rb=$?
      sed -i "s#$d/[ab]#OUT#g" "$d/a.out" "$d/b.out"
      [ "$ra" = "$rb" ] || bad "$m $t $today: exit $ra from the manifest, $rb from the slice"
      cmp -s "$d/a.err" "$d/b.err" || bad "$m $t $today: diagnostics differ: $(diff "$d/a.err" "$d/b.err" | head -n 6)"
      cmp -s "$d/a.out" "$d/b.out" || bad "$m $t $today: stdout differs"
      if [ -d "$d/a" ] || [ -d "$d/b" ]; then
        diff -r "$d/a" "$d/b" > /dev/null 2>&1 || bad "$m $t $today: output files differ"
      fi
      [ "$ra" = 1 ] && grep -q unrealizable "$d/a.err" && refused=$((refused + 1))
      rm -rf "$d/a" "$d/b"
      compared=$((compared + 1))
    done
  done
done
[ "$compared" -ge 100 ] || bad "only $compared builds compared"
[ "$refused" -ge 1 ] || bad "no slice refused an unrealizable flow (tests/bad has some)"

# The slices are slices: the generated policy's Windows host target keeps a few of its flows.
g=$work/m$i/s
"$portolan" compile --manifest "$work/gen/vs-capirca.toml" -o "$work/whole.pmodel" > /dev/null 2>&1
full=$(stat -c %s "$work/whole.pmodel")
win=$(stat -c %s "$g/vs-windows.pmodel")
[ "$win" -lt $((full / 4)) ] || bad "the vs-windows slice ($win bytes) is not small ($full whole)"
# A host target's slice keeps only the roles its flows, expectations and own roles reach, and
# only their bindings in the manifest's text (a perimeter's keeps every one: NAT reads them).
all=$(grep -c '^r[0-9]* = ' "$work/gen/vs-capirca.toml")
hb=$(grep -ac '^r[0-9]* = ' "$g/vs-windows.pmodel")
pb=$(grep -ac '^r[0-9]* = ' "$g/vs-nftables.pmodel")
[ "$hb" -ge 1 ] && [ "$hb" -lt "$all" ] ||
  bad "the vs-windows slice keeps $hb of $all bindings in its manifest"
[ "$pb" = "$all" ] || bad "the vs-nftables slice keeps $pb of $all bindings, not all"

# Without --target: the slice's own target. Another target: refused, nothing built.
"$portolan" build --model "$g/vs-windows.pmodel" --out "$work/o1" > /dev/null 2>&1 ||
  bad "build --model SLICE without --target failed"
[ -n "$(ls "$work/o1" 2>/dev/null)" ] || bad "build --model SLICE wrote nothing"
out=$("$portolan" build --model "$g/vs-windows.pmodel" --target vs-nftables --out "$work/o2" 2>&1)
rc=$?
[ "$rc" = 2 ] || bad "a slice asked for another target exits $rc, not 2"
echo "$out" | grep -q "slice of target 'vs-windows'" || bad "another target: unclear message: $out"
[ -e "$work/o2" ] && bad "a slice asked for another target wrote files"

# Broken slices: refused, never trusted.
cp "$g/vs-windows.pmodel" "$work/x.pmodel"
printf 'X' | dd of="$work/x.pmodel" bs=1 seek=200 conv=notrunc 2> /dev/null
head -c 100 "$g/vs-windows.pmodel" > "$work/t.pmodel"
sed 's/PTLSLICE/PTLMODEL/' "$g/vs-windows.pmodel" > "$work/f.pmodel"
for x in x t f; do
  out=$("$portolan" build --model "$work/$x.pmodel" --out "$work/o3" 2>&1)
  rc=$?
  [ "$rc" = 2 ] || bad "broken slice $x: exit $rc, not 2"
  echo "$out" | grep -q unreadable || bad "broken slice $x: not reported unreadable: $out"
done
[ -e "$work/o3" ] && bad "a broken slice wrote files"

# A target name that is not a plain file name writes no slice (and no model) anywhere.
mkdir -p "$work/ev"
cp "$src"/tests/golden/deployment/deployment.* "$work/ev/"
sed -i '0,/name *= *"edge-windows"/s//name = "..\/evil"/' "$work/ev/deployment.toml"
"$portolan" compile --manifest "$work/ev/deployment.toml" -o "$work/ev/p.pmodel" \
  --slices "$work/ev/s" > /dev/null 2>&1
rc=$?
[ "$rc" = 2 ] || bad "a target named ../evil: compile --slices exits $rc, not 2"
[ -e "$work/ev/evil.pmodel" ] || [ -e "$work/ev/p.pmodel" ] && bad "a target named ../evil wrote a file"

# The slices are one output set: a target removed from the manifest takes its slice with it.
mkdir -p "$work/rm"
cp "$src"/tests/golden/deployment/deployment.* "$work/rm/"
"$portolan" compile --manifest "$work/rm/deployment.toml" --slices "$work/rm/s" > /dev/null 2>&1
[ -e "$work/rm/s/edge-windows.pmodel" ] || bad "no slice of edge-windows"
awk '/^\[\[targets\]\]/ {blk = $0 "\n"; next} blk != "" {blk = blk $0 "\n"; if ($0 ~ /^$/) {
       if (blk !~ /"edge-windows"/) printf "%s", blk; blk = ""}; next} {print}
     END {if (blk !~ /"edge-windows"/) printf "%s", blk}' "$src/tests/golden/deployment/deployment.toml" \
  > "$work/rm/deployment.toml"
"$portolan" compile --manifest "$work/rm/deployment.toml" --slices "$work/rm/s" > /dev/null 2>&1 ||
  bad "compile --slices without edge-windows failed"
[ -e "$work/rm/s/edge-windows.pmodel" ] && bad "the slice of a removed target stayed"
[ -e "$work/rm/s/perimeter-pf.pmodel" ] || bad "removing one target removed another's slice"

# Unchanged slices keep their mtime; a change to one flow rewrites only the slices it touches.
cp -r "$work/gen" "$work/g2"
"$portolan" compile --manifest "$work/g2/vs-capirca.toml" --slices "$work/s2" > /dev/null 2>&1
touch -d '2001-01-01' "$work/s2"/*.pmodel
"$portolan" compile --manifest "$work/g2/vs-capirca.toml" --slices "$work/s2" > /dev/null 2>&1
[ -z "$(find "$work/s2" -name '*.pmodel' -newermt 2001-01-02)" ] || bad "an unchanged slice was rewritten"
# A flow to r0 (the Windows host) changed: its slice changes, not every slice.
# change_r0_flow POLICY: the first flow to r0 gets a description ("changed"): one flow's text.
change_r0_flow() {
  local line
  line=$(grep -n '^ *flow .*-> *r0 ' "$1" | head -n 1 | cut -d: -f1)
  [ -n "$line" ] || line=$(grep -n '^ *flow .*r0 ' "$1" | head -n 1 | cut -d: -f1)
  sed -i "${line}s/;\$/ \"changed\";/" "$1"
}
change_r0_flow "$work/g2/bench.policy"
"$portolan" compile --manifest "$work/g2/vs-capirca.toml" --slices "$work/s2" > /dev/null 2>&1
changed=$(find "$work/s2" -name '*.pmodel' -newermt 2001-01-02 | wc -l)
total=$(ls "$work/s2" | wc -l)
[ "$changed" -ge 1 ] && [ "$changed" -lt "$total" ] ||
  bad "one flow changed rewrote $changed of $total slices"

# The build-system win (docs/manifest.md, "Build systems"): Ninja with restat = 1 reruns only
# the targets whose slice a change touched.
if command -v ninja > /dev/null; then
  # ninja_file DIR STAMP TARGET...: DIR/build.ninja compiling the slices once and building each
  # TARGET from its slice (logged to built.log); STAMP 1 names a --stamp file as the compile's
  # first output and the slices as implicit outputs, STAMP 0 lists the slices as its outputs.
  ninja_file() {
    local dir=$1 stamp=$2; shift 2
    {
      echo "rule slices"
      if [ "$stamp" = 1 ]; then
        echo "  command = $portolan compile --manifest \$in --slices slices --depfile \$out.d --stamp \$out"
        echo "  depfile = \$out.d"
      else
        echo "  command = $portolan compile --manifest \$in --slices slices --depfile slices.d"
        echo "  depfile = slices.d"
      fi
      echo "  restat = 1"
      echo "rule target"
      if [ "$stamp" = 1 ]; then
        echo "  command = $portolan build --model \$in --out out/\$name --depfile \$out.d --stamp \$out && echo \$name >> built.log"
        echo "  depfile = \$out.d"
        printf 'build slices.stamp |'
      else
        echo "  command = $portolan build --model \$in --out out/\$name && echo \$name >> built.log && touch \$out"
        printf 'build'
      fi
      for t in "$@"; do printf ' slices/%s.pmodel' "$t"; done
      echo ": slices vs-capirca.toml"
      for t in "$@"; do
        echo "build out/$t.stamp: target slices/$t.pmodel"
        echo "  name = $t"
      done
    } > "$dir/build.ninja"
  }
  n=$work/ninja
  cp -r "$work/gen" "$n"
  mapfile -t tgts < <(targets_of "$n/vs-capirca.toml")
  ninja_file "$n" 0 "${tgts[@]}"
  (cd "$n" && ninja > ninja.log 2>&1) || bad "ninja failed: $(tail -n 5 "$n/ninja.log")"
  [ "$(wc -l < "$n/built.log")" = "${#tgts[@]}" ] || bad "ninja built $(wc -l < "$n/built.log") of ${#tgts[@]} targets"
  : > "$n/built.log"
  change_r0_flow "$n/bench.policy"
  (cd "$n" && ninja > ninja.log 2>&1) || bad "ninja failed after a change"
  rebuilt=$(wc -l < "$n/built.log")
  sort "$n/built.log" > "$work/rebuilt"
  [ "$rebuilt" -ge 1 ] && [ "$rebuilt" -lt "${#tgts[@]}" ] ||
    bad "after a one-flow change ninja rebuilt $rebuilt of ${#tgts[@]} targets"
  grep -q vs-windows "$n/built.log" || bad "ninja did not rebuild vs-windows after its flow changed"
  : > "$n/built.log"
  (cd "$n" && ninja > ninja.log 2>&1)
  [ -s "$n/built.log" ] && bad "ninja rebuilt targets with nothing changed"
  grep -q 'no work to do' "$n/ninja.log" || bad "ninja reran a step with nothing changed: $(cat "$n/ninja.log")"
  echo "slices: ninja rebuilt $rebuilt of ${#tgts[@]} targets after a one-flow change"

  # Ninja takes a depfile only when its first target is the rule's first output: a rule listing
  # some slices in another order than the manifest's names a --stamp first, the slices as
  # implicit outputs; with nothing changed, nothing reruns (without --stamp the compile would
  # rerun on every invocation).
  s=$work/ninja-stamp
  cp -r "$work/gen" "$s"
  pick=(vs-windows "${tgts[0]}")
  ninja_file "$s" 1 "${pick[@]}"
  (cd "$s" && ninja > ninja.log 2>&1) || bad "ninja (stamp) failed: $(tail -n 5 "$s/ninja.log")"
  [ "$(wc -l < "$s/built.log")" = "${#pick[@]}" ] || bad "ninja (stamp) built $(wc -l < "$s/built.log") of ${#pick[@]} targets"
  (cd "$s" && ninja > ninja.log 2>&1)
  grep -q 'no work to do' "$s/ninja.log" || bad "ninja (stamp) reran a step with nothing changed: $(cat "$s/ninja.log")"
  : > "$s/built.log"
  change_r0_flow "$s/bench.policy"
  (cd "$s" && ninja > ninja.log 2>&1) || bad "ninja (stamp) failed after a change"
  want=$(printf '%s\n' "${pick[@]}" | sort | comm -12 - "$work/rebuilt")
  [ "$(sort "$s/built.log")" = "$want" ] ||
    bad "ninja (stamp) rebuilt '$(sort "$s/built.log" | tr '\n' ' ')' after the change, not '$(tr '\n' ' ' <<<"$want")'"
fi

echo "slices: $compared builds compared, $refused refused as unrealizable, $changed of $total slices rewritten after a one-flow change"
exit $fail
