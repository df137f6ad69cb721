#!/usr/bin/env bash
# CI-grade findings: `check --fail-on` sets the exit code by the lowest severity that fails,
# counted after suppressions and [checks]; the text output ends with the exact summary line;
# JSON and SARIF on stdout carry no such line. usage: fail_on.sh PORTOLAN SOURCE_DIR
set -uo pipefail
portolan=$(realpath "$1") cases=$2/tests/checks
fail=0
cd "$cases"
expect_exit() { # expect_exit WANT ARGS...
  local want=$1; shift
  "$portolan" check "$@" >/dev/null 2>&1
  local got=$?
  [ "$got" = "$want" ] || { echo "fail_on: check $* exited $got, expected $want"; fail=1; }
}
# Warnings only (broad-any-tcp: one 'broad' warning): passes by default, fails on warning/note.
expect_exit 0 --manifest broad-any-tcp.toml
expect_exit 0 --manifest broad-any-tcp.toml --fail-on error
expect_exit 1 --manifest broad-any-tcp.toml --fail-on warning
expect_exit 1 --manifest broad-any-tcp.toml --fail-on note
# A note only (generalization-hit): fails on note alone.
expect_exit 0 --manifest generalization-hit.toml --fail-on warning
expect_exit 1 --manifest generalization-hit.toml --fail-on note
# Nothing reported: never fails. A suppressed finding and one [checks] turns off do not count.
expect_exit 0 --manifest broad-miss.toml --fail-on note
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp broad-any-tcp.policy broad-any-tcp.toml "$tmp/"
echo 'suppress broad "the test says so";' >> "$tmp/broad-any-tcp.policy"
expect_exit 0 --manifest "$tmp/broad-any-tcp.toml" --fail-on note
expect_exit 0 --manifest checks-off.toml --fail-on note
# An error fails whatever the level; a bad level is bad usage.
expect_exit 1 --manifest shadowed-union.toml --fail-on note
expect_exit 2 --manifest broad-any-tcp.toml --fail-on warnings
# The summary line, exactly: counts by severity, then codes by count, ties by name.
last=$("$portolan" check --manifest envs-merged.toml 2>&1 >/dev/null | tail -n 1)
want="1 error, 8 warnings, 0 notes (codes: zone-binding 3, expired 2, one-way 2, redundant 1, required-missing 1)"
[ "$last" = "$want" ] || { echo "fail_on: summary '$last', expected '$want'"; fail=1; }
last=$("$portolan" check --manifest broad-miss.toml 2>&1 >/dev/null | tail -n 1)
[ "$last" = "0 errors, 0 warnings, 0 notes" ] || { echo "fail_on: clean summary '$last'"; fail=1; }
for fmt in json sarif; do
  out=$("$portolan" check --manifest envs-merged.toml --format "$fmt" 2>&1)
  if grep -q "warnings, " <<<"$out"; then echo "fail_on: --format $fmt prints the summary line"; fail=1; fi
  python3 -c 'import json,sys; json.loads(sys.stdin.read())' <<<"$out" ||
    { echo "fail_on: --format $fmt output is not one JSON document"; fail=1; }
done
[ "$fail" = 0 ] && echo "fail_on: --fail-on levels and the summary line hold"
exit $fail
