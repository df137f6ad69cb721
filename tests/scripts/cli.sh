#!/usr/bin/env bash
# The command line's own contract: every command's --help lists every option it takes, the
# listings print what they promise, bad usage exits 2 with the nearest name, and the stages
# are listed in the order the driver runs them.
set -uo pipefail
portolan=$(realpath "$1")
fail=0
need() { # need DESCRIPTION COMMAND...: the command must succeed
  local what=$1; shift
  if ! "$@"; then echo "cli: $what"; fail=1; fi
}
check_help=$("$portolan" check --help)
for o in --manifest --env --today --format --list-checks --timings; do
  need "check --help omits $o" grep -q -- "$o" <<<"$check_help"
done
build_help=$("$portolan" build --help)
for o in --manifest --target --out --today --timings; do
  need "build --help omits $o" grep -q -- "$o" <<<"$build_help"
done
query_help=$("$portolan" query --help)
for o in --manifest --env --from --to --sport --today; do
  need "query --help omits $o" grep -q -- "$o" <<<"$query_help"
done
list=$("$portolan" check --list-checks)
need "--list-checks prints 'codes:' once" test "$(grep -c '^codes:$' <<<"$list")" = 1
need "--list-checks lists the pipeline first" test "$(head -1 <<<"$list")" = "pipeline:"
stages=$("$portolan" --list-stages | cut -d' ' -f1 | tr '\n' ' ')
need "--list-stages: '$stages'" test "$stages" = \
  "read-manifest load-policy validate-manifest bind lower emit view analyse report write "
out=$("$portolan" check --manfest x.toml 2>&1); code=$?
need "unknown option exits 2 (got $code)" test "$code" = 2
need "unknown option suggests --manifest: $out" grep -q "did you mean '--manifest'" <<<"$out"
out=$("$portolan" chek 2>&1); code=$?
need "unknown command exits 2 (got $code)" test "$code" = 2
need "unknown command suggests check: $out" grep -q "did you mean 'check'" <<<"$out"
"$portolan" build >/dev/null 2>&1; code=$?
need "build without --manifest exits 2 (got $code)" test "$code" = 2
"$portolan" check --manifest 2>/dev/null; code=$?
need "an option without its value exits 2 (got $code)" test "$code" = 2
exit $fail
