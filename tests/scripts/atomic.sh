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
# A later target's error, after an earlier target's files were already staged (each target is
# written as soon as it is compiled): --out keeps the old set, no staging folder is left, and a
# first build into a new folder leaves nothing at all (not its folder, not a lock file).
mkdir -p "$work/later/include"
cp "$src/tests/bad/include/mapping.policy" "$work/later/include/"
cat > "$work/later/m.toml" <<'TOML'
policies = ["include/mapping.policy"]
[environments.prod.bind]
client       = "any"
"rproxy.ext" = "203.0.113.20"
"pool.web"   = "192.0.2.20"
[[targets]]
name = "gw"
backend = "nftables"
between = ["internet", "dmz"]
output = "gw.nft"
[[targets]]
name = "edge"
backend = "asa"
between = ["internet", "dmz"]
output = "edge.asa"
TOML
cd "$work/later"
"$portolan" build --manifest m.toml --target gw --out out >/dev/null
cp out/gw.nft "$work/gw.before"
sed -i 's/203.0.113.20/203.0.113.21/' m.toml # gw.nft would change
if "$portolan" build --manifest m.toml --out out >"$work/log" 2>&1; then
  echo "atomic: a build whose second target cannot be compiled succeeded"; exit 1
fi
grep -q "the asa backend cannot express the port mapping" "$work/log" || { cat "$work/log"; exit 1; }
cmp -s out/gw.nft "$work/gw.before" || { echo "atomic: the later error changed gw.nft"; exit 1; }
[ ! -e out/edge.asa ] || { echo "atomic: edge.asa written by the failed build"; exit 1; }
if ls -a | grep -q staging; then echo "atomic: staging folder left"; exit 1; fi
if "$portolan" build --manifest m.toml --out new/deeper/out >/dev/null 2>&1; then exit 1; fi
[ ! -e new ] || { find new; echo "atomic: a failed first build left files behind"; exit 1; }
echo "atomic: $(wc -l < "$work/after") outputs untouched by the failed build; a later target's error leaves the old set"
