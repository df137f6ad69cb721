#!/usr/bin/env bash
# Times `portolan check` on synthetic policies of N flows (bench/gen) and prints, per N, the
# median wall time and peak RSS over RUNS runs, then the growth from the smallest to the
# largest N. usage: bench/check.sh [BUILD_DIR] [RUNS] [N...]   (defaults: build 5 10000 100000)
set -euo pipefail
build=${1:-build} runs=${2:-5}
shift $(( $# < 2 ? $# : 2 ))
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "portolan check: median of $runs runs, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf '%10s %12s %12s %10s\n' N "wall (s)" "peak RSS MB" findings
first=""
for n in "${sizes[@]}"; do
  "$build/bench/portolan-bench-gen" "$n" 1 "$work/$n"
  : > "$work/t" ; : > "$work/m"
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %M" -o "$work/one" "$build/portolan" check --manifest "$work/$n/bench.toml" \
      --format json > "$work/out.json" || true
    read -r t m < <(tail -n 1 "$work/one")
    echo "$t" >> "$work/t"; echo "$m" >> "$work/m"
  done
  t=$(median < "$work/t"); m=$(median < "$work/m")
  f=$(grep -c '"code"' "$work/out.json" || true)
  printf '%10s %12s %12s %10s\n' "$n" "$t" "$(awk -v k="$m" 'BEGIN{printf "%.0f", k/1024}')" "$f"
  [ -n "$first" ] || { first=$t; first_n=$n; }
  last=$t; last_n=$n
done
awk -v a="$first" -v b="$last" -v an="$first_n" -v bn="$last_n" \
  'BEGIN{printf "growth %s -> %s flows: %.1fx time for %.0fx flows\n", an, bn, b/a, bn/an}'
