#!/usr/bin/env bash
# Builds one target of a manifest and compares every file it writes with the reviewed golden
# copy. PORTOLAN_REGEN=1 rewrites the golden files instead (review the diff before committing).
# usage: golden.sh PORTOLAN MANIFEST TARGET GOLDEN_DIR
set -euo pipefail
portolan=$1 manifest=$2 target=$3 golden=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$portolan" build --manifest "$manifest" --target "$target" --out "$work/out" > "$work/log" 2>&1 || {
  cat "$work/log"; echo "golden: build of $target failed"; exit 1; }
status=0
while read -r line; do
  file=${line#wrote "$work/out/"}
  if [ "${PORTOLAN_REGEN:-0}" = 1 ]; then
    mkdir -p "$(dirname "$golden/$file")"
    cp "$work/out/$file" "$golden/$file"
    echo "golden: rewrote $golden/$file"
  elif ! diff -u "$golden/$file" "$work/out/$file"; then
    echo "golden: $file differs from $golden/$file (PORTOLAN_REGEN=1 rewrites it)"
    status=1
  fi
done < <(grep '^wrote ' "$work/log")
exit $status
