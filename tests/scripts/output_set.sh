#!/usr/bin/env bash
# --out holds the complete old set or the complete new set of outputs, whatever happens: a real
# build killed with SIGKILL at random points (60 times), two builds at once, a failed build; and
# no staging or temporary folder survives the next run. Foreign files in --out are carried over;
# unchanged outputs keep their inode. (issue 10: outputs are not replaced as one set)
# usage: output_set.sh PORTOLAN SOURCE_DIR
set -uo pipefail
portolan=$(realpath "$1") src=$(realpath "$2")
work=$(mktemp -d) && trap 'rm -rf "$work"' EXIT
fail() { echo "output_set: $*"; exit 1; }
for v in a b; do
  mkdir -p "$work/$v"
  cp "$src/policies/lync2013-public-im.policy" "$src/policies/lync2013-public-im.toml" "$work/$v/"
done
# Variant b changes every target's rules (the SIP port).
sed -i 's/tcp 5061/tcp 5062/' "$work/b/lync2013-public-im.policy"
snap() { (cd "$1" && find . \( -type f -o -type l \) ! -name foreign.txt -print0 | sort -z |
  xargs -0 sha256sum); }
for v in a b; do
  "$portolan" build --manifest "$work/$v/lync2013-public-im.toml" --out "$work/ref-$v" >/dev/null ||
    fail "reference build $v failed"
  snap "$work/ref-$v" > "$work/snap-$v"
done
cmp -s "$work/snap-a" "$work/snap-b" && fail "the two variants build the same files"
out="$work/out"
"$portolan" build --manifest "$work/a/lync2013-public-im.toml" --out "$out" >/dev/null
echo "kept by the user" > "$out/foreign.txt"
check_set() { # $1: when
  snap "$out" > "$work/now"
  cmp -s "$work/now" "$work/snap-a" || cmp -s "$work/now" "$work/snap-b" ||
    { diff "$work/snap-a" "$work/now" | head; fail "$1: --out is neither the old nor the new set"; }
  [ "$(cat "$out/foreign.txt" 2>/dev/null)" = "kept by the user" ] || fail "$1: foreign file lost"
}
leftovers() { find "$work" -maxdepth 1 -name '.out.*' ! -name '.out.portolan-lock' | grep -q .; }
killed=0 finished=0
for i in $(seq 1 60); do
  v=$([ $((i % 2)) = 0 ] && echo a || echo b)
  "$portolan" build --manifest "$work/$v/lync2013-public-im.toml" --out "$out" >/dev/null 2>&1 &
  pid=$!
  sleep "0.$(printf %03d $((RANDOM % 300)))" # a build takes about 0.1-0.3 s here
  if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); else finished=$((finished + 1)); fi
  wait "$pid" 2>/dev/null
  check_set "kill $i"
done
# The next run removes what killed builds left beside --out.
"$portolan" build --manifest "$work/a/lync2013-public-im.toml" --out "$out" >/dev/null || fail "rebuild"
check_set "after the kills"
leftovers && { ls -a "$work"; fail "staging or old folders left after the next run"; }
find "$out" -name '*.tmp*' | grep -q . && fail "temporary files in --out"
# Unchanged outputs keep their inode and mtime.
before=$(stat -c '%i %Y' "$out/nftables/perimeter.nft")
sleep 1.1
"$portolan" build --manifest "$work/a/lync2013-public-im.toml" --out "$out" >/dev/null
[ "$(stat -c '%i %Y' "$out/nftables/perimeter.nft")" = "$before" ] || fail "an unchanged file was rewritten"
# Two builds at once end as one complete set.
for i in 1 2 3 4 5; do
  "$portolan" build --manifest "$work/a/lync2013-public-im.toml" --out "$out" >/dev/null & p1=$!
  "$portolan" build --manifest "$work/b/lync2013-public-im.toml" --out "$out" >/dev/null & p2=$!
  wait $p1 || fail "concurrent build a failed"
  wait $p2 || fail "concurrent build b failed"
  check_set "concurrent $i"
done
leftovers && fail "staging left after concurrent builds"
# A folder symlink inside --out is never followed outside it.
"$portolan" build --manifest "$work/a/lync2013-public-im.toml" --out "$work/out2" >/dev/null
mkdir "$work/elsewhere"
rm -rf "$work/out2/pf" && ln -s "$work/elsewhere" "$work/out2/pf"
if "$portolan" build --manifest "$work/a/lync2013-public-im.toml" --out "$work/out2" >"$work/log" 2>&1; then
  fail "a build through a symlinked folder succeeded"
fi
grep -q "is not a folder (a symlink, which is never followed)" "$work/log" || { cat "$work/log"; fail "symlink message"; }
[ -z "$(ls -A "$work/elsewhere")" ] || fail "wrote through the symlink"
echo "output_set: $killed builds killed, $finished finished first, every time one complete set; 5 concurrent pairs"
