#!/usr/bin/env bash
# The front-end figures of issue 15 (bench/README.md, "Front end"), on the bench/gen policy of
# N flows (seed 1, with --capirca): the parse stage against the tokenize floor, one target
# cold, one target from a .pmodel, `check` after a one-flow change with the parse cache warm,
# and peak memory per flow. Every figure is the median over RUNS runs; the two sides of a ratio
# run in turn (A B A B ...) and the ratio is the median of the per-pair ratios, so a machine
# whose speed drifts (a shared one) moves both sides alike.
# usage: bench/frontend.sh [BUILD_DIR] [N] [RUNS]     (defaults: build 100000 5)
set -euo pipefail
build=${1:-build} n=${2:-100000} runs=${3:-5}
portolan=$(realpath "$build/portolan") gen=$build/bench/portolan-bench-gen
scan=$build/bench/portolan-bench-scan
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$gen" "$n" 1 "$work/g" --capirca > /dev/null
m=$work/g/vs-capirca.toml policy=$work/g/bench.policy
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# wall CMD...: seconds of one run (bash's clock), peak RSS KB in $work/kb
wall() {
  local t0=$EPOCHREALTIME
  /usr/bin/time -f %M -o "$work/kb" "$@" > /dev/null 2>&1 || true
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.4f", b-a}'
}
stage_ms() { # the load-policy stage of one run, in ms
  "$@" --timings 2>&1 >/dev/null | awk '$2 == "load-policy" {print $3}'
}
echo "N = $n flows, $(wc -c < "$policy") bytes of policy, $runs runs, $(nproc) cores"

: > "$work/r"
for _ in $(seq "$runs"); do
  p=$(stage_ms "$portolan" build --manifest "$m" --target vs-windows --out "$work/o")
  f=$("$scan" "$policy" 1 | awk '{print $8 + $10}')
  p1=$(PORTOLAN_PARSE_THREADS=1 stage_ms "$portolan" build --manifest "$m" --target vs-windows \
        --out "$work/o")
  echo "$p $f $p1" >> "$work/r"
done
awk '{print $1}' "$work/r" | median > "$work/p"
awk '{print $2}' "$work/r" | median > "$work/f"
echo "parse stage (load-policy): $(cat "$work/p") ms; tokenize floor (read + scan): $(cat "$work/f") ms"
echo "  parse / floor, median of pairs: $(awk '{print $1/$2}' "$work/r" | median)x"
echo "  1 thread / all cores, median of pairs: $(awk '{print $3/$1}' "$work/r" | median)x"

"$portolan" compile --manifest "$m" -o "$work/p.pmodel" > /dev/null 2>&1
: > "$work/r"
for _ in $(seq "$runs"); do
  a=$(wall "$portolan" build --manifest "$m" --target vs-nftables --out "$work/o1"); ka=$(tail -n 1 "$work/kb")
  b=$(wall "$portolan" build --model "$work/p.pmodel" --target vs-nftables --out "$work/o2")
  c=$(wall "$portolan" build --manifest "$m" --target vs-windows --out "$work/o3")
  echo "$a $b $c $ka" >> "$work/r"
done
echo "one target (vs-nftables), cold: $(awk '{print $1}' "$work/r" | median) s," \
  "peak $(awk '{print $4}' "$work/r" | median) KB"
echo "one target from the .pmodel: $(awk '{print $2}' "$work/r" | median) s;" \
  "cold / model: $(awk '{print $1/$2}' "$work/r" | median)x"
echo "Windows host target (vs-windows), cold: $(awk '{print $3}' "$work/r" | median) s"

# check after a one-flow change, parse cache warm (the cache filled by the unchanged policy).
cp -r "$work/g" "$work/g2"
line=$(grep -n '^ *flow ' "$work/g2/bench.policy" | awk -F: -v h="$n" 'NR == int(h / 2) {print $1}')
sed -i "${line}s/;\$/ \"changed\";/" "$work/g2/bench.policy"
"$portolan" check --manifest "$work/g/bench.toml" --format json --cache "$work/cache" > /dev/null 2>&1 || true
: > "$work/r"
for _ in $(seq "$runs"); do
  rm -rf "$work/c2" && cp -r "$work/cache" "$work/c2"
  a=$(wall "$portolan" check --manifest "$work/g2/bench.toml" --format json --cache "$work/c2")
  b=$(wall "$portolan" check --manifest "$work/g2/bench.toml" --format json)
  ka=$(tail -n 1 "$work/kb")
  c=$(wall "$portolan" build --manifest "$m" --out "$work/o4"); kc=$(tail -n 1 "$work/kb")
  echo "$a $b $ka $c $kc" >> "$work/r"
done
echo "check after a one-flow change, cache warm: $(awk '{print $1}' "$work/r" | median) s;" \
  "no cache: $(awk '{print $2}' "$work/r" | median) s; no cache / cache $(awk '{print $2/$1}' "$work/r" | median)x"
echo "peak per flow: check $(awk -v n="$n" '{print $3*1024/n}' "$work/r" | median) B," \
  "build of all targets $(awk -v n="$n" '{print $5*1024/n}' "$work/r" | median) B" \
  "($(awk '{print $4}' "$work/r" | median) s)"
