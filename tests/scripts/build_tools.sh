#!/usr/bin/env bash
# What build tools and scripts use: `build --depfile/--stamp` read by real Make and Ninja (a
# policy repo whose path has a space and a '#'), `build --list-outputs`, and `query --format
# json --exit-code`. usage: build_tools.sh PORTOLAN SOURCE_DIR
set -uo pipefail
portolan=$(realpath "$1") src=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
bad() { echo "build-tools: $*"; fail=1; }
repo="$work/my repo#1"
mkdir -p "$repo"
cp "$src"/tests/golden/features/features.{toml,policy} "$src"/tests/golden/features/catalogue.policy "$repo/"
m="$repo/features.toml"

# --- --list-outputs: what a build writes, writing nothing; relative to --out or absolute.
list=$("$portolan" build --manifest "$m" --out "$work/out" --list-outputs) || bad "--list-outputs failed"
[ -e "$work/out" ] && bad "--list-outputs wrote $work/out"
[ "$(head -2 <<<"$list" | tr '\n' ' ')" = "gw.nft gw/rules.v4 " ] || bad "--list-outputs: $list"
[ "$("$portolan" build --manifest "$m" --out "$work/out" --list-outputs)" = "$list" ] ||
  bad "--list-outputs is not deterministic"
abs=$("$portolan" build --manifest "$m" --out "$work/out" --list-outputs --absolute)
[ "$abs" = "$(sed "s|^|$work/out/|" <<<"$list")" ] || bad "--list-outputs --absolute: $abs"
one=$("$portolan" build --manifest "$m" --out "$work/out" --target edge-iptables --list-outputs)
[ "$one" = "$(printf 'edge/rules.v4\nedge/rules.v6')" ] || bad "--list-outputs --target: $one"
"$portolan" build --manifest "$m" --out "$work/out" >/dev/null || bad "build failed"
built=$(cd "$work/out" && find . -type f ! -name .portolan-outputs | sed 's|^\./||' | sort)
[ "$built" = "$(sort <<<"$list")" ] || bad "--list-outputs differs from what build wrote"
rm -rf "$work/out"

# --- --depfile: targets, every file read, escaped; not written when the build fails.
(cd "$work" && "$portolan" build --manifest "my repo#1/features.toml" --out out \
  --depfile deps.d >/dev/null) || bad "build --depfile failed"
want="out/gw.nft out/gw/rules.v4"
head -1 "$work/deps.d" | grep -qF "$want" || bad "depfile targets: $(head -1 "$work/deps.d")"
for f in features.toml features.policy catalogue.policy; do
  grep -qxF "  my\\ repo\\#1/$f \\" "$work/deps.d" || grep -qxF "  my\\ repo\\#1/$f" "$work/deps.d" ||
    bad "depfile lacks my repo#1/$f: $(cat "$work/deps.d")"
done
cp "$repo/features.policy" "$work/good.policy"
sed -i 's/^flow \(.*\) via \([a-z_]*\)/flow \1 via \2x/' "$repo/features.policy" # unknown services
cp "$work/deps.d" "$work/deps.before"
(cd "$work" && "$portolan" build --manifest "my repo#1/features.toml" --out out \
  --depfile deps.d --stamp st >/dev/null 2>&1) && bad "a broken build succeeded"
cmp -s "$work/deps.d" "$work/deps.before" || bad "a failed build rewrote the depfile"
[ -e "$work/st" ] && bad "a failed build wrote the stamp"
cp "$work/good.policy" "$repo/features.policy"
"$portolan" build --manifest "$m" --out "$work/out3" --depfile "$work/no/such/dir/d.d" \
  >/dev/null 2>&1 && bad "a depfile in a missing folder was accepted"
[ -e "$work/out3" ] && bad "a build whose depfile cannot be written wrote its outputs"
"$portolan" build --manifest "$m" --out "$work/out" --stamp "$work/st" >/dev/null 2>&1 &&
  bad "--stamp without --depfile was accepted"

# --- Make and Ninja read it: a rebuild only when the manifest, the policy or the import changes.
cat >"$work/build.ninja" <<NINJA
rule portolan
  command = "$portolan" build --manifest "my repo#1/features.toml" --out out --depfile \$out.d --stamp \$out >> log
  depfile = \$out.d
  deps = gcc
build portolan.stamp: portolan
NINJA
ninja_runs() { # ninja_runs N WHAT: ninja (in $work) ran the build N times in total
  (cd "$work" && ninja -d keepdepfile >/dev/null 2>&1) || bad "ninja failed ($2)"
  local runs
  runs=$(grep -c '^wrote out/gw.nft$' "$work/log" 2>/dev/null || echo 0)
  [ "$runs" = "$1" ] || bad "ninja: $2: $runs runs, expected $1"
}
if command -v ninja >/dev/null; then
  ninja_runs 1 "first build"
  ninja_runs 1 "nothing changed"
  (cd "$work" && ninja -n | grep -q "no work to do") || bad "ninja -n sees work after a build"
  sleep 1.1; touch "$repo/catalogue.policy"
  ninja_runs 2 "the import touched"
  ninja_runs 2 "nothing changed again"
  sleep 1.1; touch "$repo/features.toml"
  ninja_runs 3 "the manifest touched"
  grep -q 'catalogue.policy' "$work/portolan.stamp.d" || bad "ninja's depfile: $(cat "$work/portolan.stamp.d")"
else
  bad "ninja is not installed (dev.sh installs ninja-build)"
fi
rm -f "$work/log"
cat >"$work/Makefile" <<MAKE
make.stamp:
	"$portolan" build --manifest "my repo#1/features.toml" --out out --depfile make.d --stamp \$@ >> log
-include make.d
MAKE
make_runs() {
  make -C "$work" -s >/dev/null 2>&1 || bad "make failed ($2)"
  local runs
  runs=$(grep -c '^wrote out/gw.nft$' "$work/log" 2>/dev/null || echo 0)
  [ "$runs" = "$1" ] || bad "make: $2: $runs runs, expected $1"
}
if command -v make >/dev/null; then
  make_runs 1 "first build"
  make_runs 1 "nothing changed"
  sleep 1.1; touch "$repo/features.policy"
  make_runs 2 "the policy touched"
  make_runs 2 "nothing changed again"
  # A policy renamed away: the empty rules keep make going, and the build says what is wrong.
  mv "$repo/catalogue.policy" "$repo/renamed.policy"
  make -C "$work" -s >"$work/make.out" 2>&1 && bad "make succeeded without the import"
  grep -q "No rule to make target" "$work/make.out" && bad "make stopped at the depfile: $(cat "$work/make.out")"
  mv "$repo/renamed.policy" "$repo/catalogue.policy"
else
  bad "make is not installed (dev.sh installs make)"
fi

# --- query for machines: JSON and an exit code by verdict.
pm="$src/policies/lync2013-public-im.toml"
q() { "$portolan" query --manifest "$pm" --env lab2013 --exit-code --format json "$@"; }
json=$(q --from 192.0.2.7 --to 198.51.100.10 tcp/5061); code=$?
[ "$code" = 0 ] || bad "query --exit-code of an allowed packet: $code"
python3 - "$json" <<'PY' || bad "query json: $json"
import json, sys
j = json.loads(sys.argv[1])
assert j["outcome"] == "allow" and j["packet"]["dport"] == 5061, j
v = j["verdicts"]
assert [x["target"] for x in v][:2] == ["edge-host-nftables", "edge-host-iptables"], v
for x in v:
    f = x["flow"]
    assert x["verdict"] == "allow" and f["name"] == "access" and f["line"] > 0, x
    assert f["source"]["endpoint"] == "pic_partner" and "192.0.2.0/25" in f["source"]["prefixes"], f
    assert f["destination"]["prefixes"] == ["198.51.100.10/32", "2001:db8:1::10/128"], f
    assert f["service"]["name"] == "sip_mtls", f
PY
q --from 192.0.2.7 --to 198.51.100.10 tcp/22 >/dev/null; code=$?
[ "$code" = 1 ] || bad "query --exit-code of a denied packet: $code"
q --from 203.0.113.1 --to 203.0.113.2 tcp/22 >/dev/null; code=$?
[ "$code" = 3 ] || bad "query --exit-code of a packet no target sees: $code"
"$portolan" query --manifest "$pm" --env lab2013 --from 192.0.2.7 --to 198.51.100.10 tcp/22 >/dev/null
code=$?
[ "$code" = 0 ] || bad "query without --exit-code of a denied packet: $code"
cp "$src"/policies/lync2013-public-im.{toml,policy} "$work/"
sed -i 's/via stun/via stunn/' "$work/lync2013-public-im.policy"
"$portolan" query --manifest "$work/lync2013-public-im.toml" --env lab2013 --exit-code \
  --from 192.0.2.7 --to 198.51.100.10 tcp/5061 >/dev/null 2>&1; code=$?
[ "$code" = 2 ] || bad "query --exit-code on a broken policy: $code, expected 2"
"$portolan" query --manifest "$pm" --format xml --from 192.0.2.7 --to 198.51.100.10 tcp/1 \
  >/dev/null 2>&1; code=$?
[ "$code" = 2 ] || bad "query --format xml: $code"
help=$("$portolan" query --help)
for o in --format --exit-code; do grep -q -- "$o" <<<"$help" || bad "query --help omits $o"; done
help=$("$portolan" build --help)
for o in --depfile --stamp --list-outputs --absolute; do
  grep -q -- "$o" <<<"$help" || bad "build --help omits $o"
done
# The CI page's example workflow: valid YAML that does what docs/ci.md says it does.
python3 - "$src" <<'PY' || bad "docs/examples/github-actions.yml does not do what docs/ci.md says"
import sys, yaml
src = sys.argv[1]
wf = yaml.safe_load(open(f"{src}/docs/examples/github-actions.yml"))
job = wf["jobs"]["policy"]
assert job["permissions"]["security-events"] == "write", job["permissions"]
steps = job["steps"]
runs = "\n".join(s.get("run", "") for s in steps)
uses = [s.get("uses", "") for s in steps]
assert "portolan check" in runs and "--format sarif" in runs, runs
assert "portolan diff" in runs and "--format markdown" in runs and "gh pr comment" in runs, runs
assert "portolan fmt --check" in runs, runs
assert any(u.startswith("github/codeql-action/upload-sarif@") for u in uses), uses
assert any(s.get("with", {}).get("fetch-depth") == 0 for s in steps), "checkout needs history"
assert "examples/github-actions.yml" in open(f"{src}/docs/ci.md").read()
PY
[ "$fail" = 0 ] && echo "build-tools: all cases passed"
exit $fail
