#!/usr/bin/env bash
# A failed build leaves the previous outputs untouched and no temporary files behind.
set -euo pipefail
portolan=$(realpath "$1") src=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$src/policies/lync2013-public-im.policy" "$src/policies/lync2013-public-im.toml" "$work/"
"$portolan" build --manifest "$work/lync2013-public-im.toml" --out "$work/out" >/dev/null 2>&1
find "$work/out" -type f -exec sha256sum {} + | sort > "$work/before"
# Break the policy: an unknown service in the last flow.
sed -i 's/via stun/via stunn/' "$work/lync2013-public-im.policy"
if "$portolan" build --manifest "$work/lync2013-public-im.toml" --out "$work/out" >"$work/log" 2>&1; then
  echo "atomic: the broken build succeeded"; exit 1
fi
grep -q "unknown service 'stunn'" "$work/log" || { cat "$work/log"; exit 1; }
find "$work/out" -type f -exec sha256sum {} + | sort > "$work/after"
diff "$work/before" "$work/after"
if find "$work/out" -name '*.tmp-*' | grep -q .; then echo "atomic: temporary files left"; exit 1; fi
echo "atomic: $(wc -l < "$work/after") outputs untouched by the failed build"
