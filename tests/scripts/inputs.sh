#!/usr/bin/env bash
# Inputs that are not ordinary files, inputs of any depth, and command-line values that once
# crashed: each must end, quickly, in a diagnostic and the documented exit code (issue 10).
# usage: inputs.sh PORTOLAN SOURCE_DIR
set -uo pipefail
portolan=$(realpath "$1") src=$(realpath "$2")
work=$(mktemp -d) && trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0
# expect NAME EXIT PATTERN -- CMD...: runs CMD (20 s at most), wants the exit code and PATTERN in
# stderr.
expect() {
  local name=$1 want=$2 pattern=$3
  shift 4
  local err code
  err=$(timeout 20 "$@" 2>&1 >/dev/null)
  code=$?
  if [ "$code" != "$want" ] || ! grep -qF -- "$pattern" <<<"$err"; then
    echo "FAIL $name: exit $code (want $want), stderr:"; printf '%s\n' "$err" | head -5
    fails=$((fails + 1))
  else
    echo "ok   $name"
  fi
}
printf 'zone a;\n' > ok.policy
mkfifo fifo.policy
expect fifo-policy 2 "cannot read policy file 'fifo.policy': it is not a regular file" -- \
  "$portolan" check fifo.policy
mkfifo fifo.toml
expect fifo-manifest 2 "cannot read manifest 'fifo.toml': it is not a regular file" -- \
  "$portolan" check --manifest fifo.toml
expect dev-zero-manifest 2 "cannot read manifest '/dev/zero': it is not a regular file" -- \
  "$portolan" check --manifest /dev/zero
printf 'import "fifo.policy";\nzone b;\n' > imports-fifo.policy
expect import-fifo 1 "imports-fifo.policy:1:8: error: cannot read imported file 'fifo.policy' (looked for fifo.policy): it is not a regular file [import-missing]" -- \
  "$portolan" check imports-fifo.policy
truncate -s 65M big.policy
expect oversized 2 "it is larger than 64 MiB, the limit for an input file" -- \
  "$portolan" check big.policy
# A chain of 20,000 imports (deeper than any stack should go) ends in import-depth.
python3 - <<'PY'
for i in range(20000):
    with open(f"c{i}.policy", "w") as f:
        f.write(f'import "c{i + 1}.policy";\n' if i < 19999 else "zone z;\n")
PY
expect import-chain 1 "c255.policy:1:8: error: imports nest deeper than 256 files" -- \
  "$portolan" check c0.policy
# Command line.
cp "$src/policies/lync2013-public-im.policy" "$src/policies/lync2013-public-im.toml" .
expect sport-huge 2 "portolan: --sport needs a port number" -- \
  "$portolan" query --manifest lync2013-public-im.toml --from 192.0.2.1 --to 192.0.2.2 \
  --sport 99999999999999999999 tcp/443
expect check-dash-m 2 "portolan: unknown option '-m'" -- \
  "$portolan" check -m lync2013-public-im.toml
expect check-toml-as-policy 2 "looks like a manifest, not a policy: pass it as --manifest" -- \
  "$portolan" check lync2013-public-im.toml
if [ "$fails" != 0 ]; then echo "inputs: $fails case(s) failed"; exit 1; fi
echo "inputs: all cases passed"
