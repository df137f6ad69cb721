#!/usr/bin/env bash
# One bad-input case: runs `portolan check` on tests/bad/NAME.policy (or, for NAME.toml, with
# --manifest) from tests/bad, and requires the exact diagnostics in NAME.err and exit code 1
# (or the code in NAME.exit). A crash (exit >= 128) always fails.
# PORTOLAN_REGEN=1 rewrites NAME.err.
set -uo pipefail
. "$(dirname "$0")/summary.sh"
portolan=$(realpath "$1") dir=$2 name=$3
cd "$dir"
if [ -f "$name.toml" ]; then args=(--manifest "$name.toml"); else args=("$name.policy"); fi
actual=$("$portolan" check "${args[@]}" 2>&1 >/dev/null)
code=$?
want_code=1
[ -f "$name.exit" ] && want_code=$(cat "$name.exit")
if [ "$code" -ge 128 ]; then echo "bad_input: $name crashed (exit $code)"; exit 1; fi
# The summary line is checked against the findings, then left out of the comparison.
if ! actual=$(check_summary "$actual"); then printf '%s\n' "$actual"; exit 1; fi
if [ "${PORTOLAN_REGEN:-0}" = 1 ]; then printf '%s\n' "$actual" > "$name.err"; fi
if [ "$code" != "$want_code" ]; then
  echo "bad_input: $name exited $code, expected $want_code"; printf '%s\n' "$actual"; exit 1
fi
if ! diff -u "$name.err" <(printf '%s\n' "$actual"); then
  echo "bad_input: diagnostics of $name differ from $name.err"; exit 1
fi
