#!/usr/bin/env bash
# A short libFuzzer run of one harness: every input of tests/fuzz/regressions/HARNESS must pass,
# then SECONDS of fuzzing from seeds made from tests/ (and the corpus earlier runs kept).
# usage: fuzz_run.sh FUZZER HARNESS SOURCE_DIR BUILD_DIR SECONDS
set -euo pipefail
fuzzer=$1 harness=$2 src=$3 work=$4/$2 seconds=$5
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
mkdir -p "$work/corpus" "$work/seeds" "$work/artifacts"
python3 "$src/tests/fuzz/make_corpus.py" "$src" "$harness" "$work/seeds"
regressions=("$src/tests/fuzz/regressions/$harness"/*)
if [ -e "${regressions[0]}" ]; then
  "$fuzzer" "${regressions[@]}" 2>"$work/regressions.log" ||
    { cat "$work/regressions.log" >&2; echo "fuzz.$harness: a regression input fails" >&2; exit 1; }
  echo "fuzz.$harness: ${#regressions[@]} regression inputs pass"
fi
# -timeout: one input taking 10 s is a hang; -rss_limit_mb: runaway memory is a finding too.
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -dict="$4/$harness.dict" -artifact_prefix="$work/artifacts/" "$work/corpus" "$work/seeds" \
  2>"$work/run.log" || { tail -n 60 "$work/run.log" >&2; echo "fuzz.$harness: FAILED, inputs in $work/artifacts" >&2; exit 1; }
grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$work/run.log" || true
echo "fuzz.$harness: no crash, leak, UB or hang in $seconds s"
