#!/usr/bin/env bash
# Same input, same bytes out: two builds into different folders, from different working
# directories, must be byte-identical.
set -euo pipefail
portolan=$(realpath "$1") manifest=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$portolan" build --manifest "$manifest" --out "$work/a" >/dev/null 2>&1
(cd / && "$portolan" build --manifest "$manifest" --out "$work/b" >/dev/null 2>&1)
diff -r "$work/a" "$work/b"
n=$(find "$work/a" -type f | wc -l)
[ "$n" -gt 0 ] || { echo "determinism: nothing was built"; exit 1; }
echo "determinism: $n files identical"
