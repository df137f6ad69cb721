#!/usr/bin/env bash
# One analysis case: runs `portolan check --manifest NAME.toml` from tests/checks (or
# `portolan check NAME.policy` when there is no manifest) and requires the exact text output in
# NAME.out and the exit code in NAME.exit (0 when absent). PORTOLAN_REGEN=1 rewrites NAME.out.
set -uo pipefail
. "$(dirname "$0")/summary.sh"
portolan=$(realpath "$1") dir=$2 name=$3
cd "$dir"
if [ -f "$name.toml" ]; then args=(--manifest "$name.toml"); else args=("$name.policy"); fi
actual=$("$portolan" check "${args[@]}" 2>&1 >/dev/null)
code=$?
want_code=0
[ -f "$name.exit" ] && want_code=$(cat "$name.exit")
if [ "$code" -ge 128 ]; then echo "check_case: $name crashed (exit $code)"; exit 1; fi
# The summary line is checked against the findings, then left out of the comparison.
if ! actual=$(check_summary "$actual"); then printf '%s\n' "$actual"; exit 1; fi
if [ "${PORTOLAN_REGEN:-0}" = 1 ]; then printf '%s\n' "$actual" > "$name.out"; fi
if [ "$code" != "$want_code" ]; then
  echo "check_case: $name exited $code, expected $want_code"; printf '%s\n' "$actual"; exit 1
fi
if ! diff -u "$name.out" <(printf '%s\n' "$actual"); then
  echo "check_case: findings of $name differ from $name.out"; exit 1
fi
