#!/usr/bin/env bash
# The front-end figures of issue 15 (bench/README.md, "Front end"), on the bench/gen policy of
# N flows (seed 1, with --capirca): the parse stage against the tokenize floor, one target
# cold, one target from a .pmodel, `check` after a one-flow change with the parse cache warm,
# peak memory per flow, and per-target slices (`compile --slices`) against the whole model and
# against Capirca. Every figure is the median over RUNS runs; the two sides of a ratio
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
# pair CMD...: "wall cpu" seconds of one run (CPU: user + sys of the command, from getrusage)
pair() {
  # The difference of two getrusage calls: python's children total is not zero at its start.
  python3 -c 'import resource, subprocess, sys, time
cpu = lambda r: r.ru_utime + r.ru_stime
c = cpu(resource.getrusage(resource.RUSAGE_CHILDREN))
t = time.time()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
w = time.time() - t
print("%.4f %.4f" % (w, cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - c))' "$@"
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

# Per-target slices (compile --slices): their cost beside compile -o, their sizes, and one
# target built from its slice against the same target from the whole .pmodel, and the Windows
# slice against Capirca on the same 182 terms. Each pair in turn; columns wall, CPU.
: > "$work/r"
for _ in $(seq "$runs"); do
  rm -rf "$work/s"
  echo "$(pair "$portolan" compile --manifest "$m" -o "$work/p.pmodel") $(pair "$portolan" compile \
    --manifest "$m" -o "$work/p.pmodel" --slices "$work/s")" >> "$work/r"
done
echo "compile -o: $(awk '{print $1}' "$work/r" | median) s (cpu $(awk '{print $2}' "$work/r" | median) s);" \
  "with --slices: $(awk '{print $3}' "$work/r" | median) s (cpu $(awk '{print $4}' "$work/r" | median) s);" \
  "ratio $(awk '{print $3/$1}' "$work/r" | median)x"
echo "sizes: whole model $(stat -c %s "$work/p.pmodel") B; slices:" \
  "$(cd "$work/s" && for f in *.pmodel; do printf '%s %s B, ' "${f%.pmodel}" "$(stat -c %s "$f")"; done)"
cap=(aclgen --base_directory="$work/g/capirca" --definitions_directory="$work/g/capirca/def"
  --output_directory="$work/cap" --policy_file="$work/g/capirca/pol/windows.pol")
for t in vs-nftables vs-windows; do
  : > "$work/r"
  for _ in $(seq "$runs"); do
    echo "$(pair "$portolan" build --model "$work/s/$t.pmodel" --out "$work/o5") $(pair \
      "$portolan" build --model "$work/p.pmodel" --target "$t" --out "$work/o6")" >> "$work/r"
  done
  diff -r "$work/o5" "$work/o6" > /dev/null || echo "  ($t: the slice's output differs!)"
  echo "$t from its slice: $(awk '{print $1}' "$work/r" | median) s (cpu $(awk '{print $2}' "$work/r" | median) s);" \
    "from the .pmodel: $(awk '{print $3}' "$work/r" | median) s (cpu $(awk '{print $4}' "$work/r" | median) s);" \
    "slice / model: wall $(awk '{print $1/$3}' "$work/r" | median)x, cpu $(awk '{print $2/$4}' "$work/r" | median)x"
done
if command -v aclgen > /dev/null; then
  : > "$work/r"
  for _ in $(seq "$runs"); do
    rm -rf "$work/cap"
    echo "$(pair "$portolan" build --model "$work/s/vs-windows.pmodel" --out "$work/o5") $(pair \
      "${cap[@]}")" >> "$work/r"
  done
  echo "vs-windows from its slice vs Capirca (windows.pol): $(awk '{print $3}' "$work/r" | median) s" \
    "(cpu $(awk '{print $4}' "$work/r" | median) s); slice / Capirca: wall" \
    "$(awk '{print $1/$3}' "$work/r" | median)x, cpu $(awk '{print $2/$4}' "$work/r" | median)x"
else
  echo "vs-windows vs Capirca: aclgen not installed (apt-get install python3-capirca)"
fi

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
