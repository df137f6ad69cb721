#!/usr/bin/env bash
# A run that judges only part of the manifest's targets (`check --env`, `build --target`, a build
# from one target's slice, `compile`) cannot tell that a suppression of a binding, backend or
# target-analysis finding is unused: the finding may arise in a target it did not compile. Such
# runs must not report `unused-suppression` for those codes; a run over every target still does.
# The shipped policy suppresses 'expired' on the Messenger rows, which expire in environment `lab`
# only: every partial run below once warned that the suppression matched nothing.
set -uo pipefail
portolan=$(realpath "$1") root=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
cp "$root"/policies/lync2013-public-im.* "$work"/
cp "$root"/tests/checks/unused-suppression-hit.* "$work"/
cd "$work"
m=lync2013-public-im.toml
unused() { # unused COMMAND...: how many unused-suppression findings the command prints
  "$@" 2>&1 >/dev/null | grep -c '\[unused-suppression\]'
}
expect() { # expect N DESCRIPTION COMMAND...
  local want=$1 what=$2; shift 2
  local got
  got=$(unused "$@")
  if [ "$got" != "$want" ]; then
    echo "partial_runs: $what: $got unused-suppression findings, expected $want"
    fail=1
  fi
}
expect 0 "check of every environment" "$portolan" check --manifest $m
expect 0 "check --env lab2013 (the rows do not expire there)" "$portolan" check --manifest $m --env lab2013
expect 0 "build of every target" "$portolan" build --manifest $m --out all
expect 0 "build --target edge-host-windows" "$portolan" build --manifest $m --target edge-host-windows --out one
expect 0 "compile -o" "$portolan" compile --manifest $m -o m.pmodel
expect 0 "compile --slices" "$portolan" compile --manifest $m --slices slices
expect 0 "build --model of the whole model" "$portolan" build --model m.pmodel --out fromm
expect 0 "build --model of one target's slice" "$portolan" build --model slices/edge-host-windows.pmodel --out fromslice
# A suppression that matches nothing is still reported by a run over every target: 'expired' on a
# flow that never expires, in a manifest of two targets...
sed 's/suppress redundant/suppress expired/' unused-suppression-hit.policy >x.policy
sed 's/unused-suppression-hit.policy/x.policy/' unused-suppression-hit.toml >x.toml
printf '\n[[targets]]\nname    = "client-host"\nbackend = "nftables"\nhost    = "client"\noutput  = "client.nft"\n' >>x.toml
expect 1 "check of a suppression of 'expired' on a flow without expiry" "$portolan" check --manifest x.toml
expect 1 "build of both targets of that policy" "$portolan" build --manifest x.toml --out x
expect 1 "build --target of both targets" "$portolan" build --manifest x.toml --target web-host --target client-host --out x2
expect 0 "build --target of one of them" "$portolan" build --manifest x.toml --target web-host --out x3
# ...and one whose code is not known at all by every run, partial or not.
sed 's/suppress redundant/suppress no-such-code/' unused-suppression-hit.policy >u.policy
sed 's/unused-suppression-hit.policy/u.policy/' unused-suppression-hit.toml >u.toml
expect 1 "compile of a policy suppressing an unknown code" "$portolan" compile --manifest u.toml -o u.pmodel
expect 1 "check of it" "$portolan" check --manifest u.toml
exit $fail
