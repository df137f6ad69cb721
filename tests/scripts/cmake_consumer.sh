#!/usr/bin/env bash
# The installed CMake package: `cmake --install` of this build into a scratch prefix (binary,
# docs, man page, package config), then tests/cmake-consumer configured against it and built
# with Ninja: (1) the outputs appear, (2) a second build does nothing, (3) touching a policy
# reruns Portolan but changes no output (mtimes kept, the downstream step does not rerun),
# (4) changing an import rebuilds and reruns the downstream step. usage: BUILD_DIR CONSUMER_DIR
set -uo pipefail
build=$(realpath "$1") consumer=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
bad() { echo "cmake-consumer: $*"; fail=1; }
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; echo "cmake-consumer: cmake --install failed"; exit 1; }
for f in bin/portolan share/doc/portolan/README.md share/doc/portolan/ci.md \
  share/doc/portolan/examples/github-actions.yml; do
  [ -e "$prefix/$f" ] || bad "not installed: $f"
done
ls "$prefix"/lib*/cmake/Portolan/PortolanConfig.cmake >/dev/null 2>&1 ||
  ls "$prefix"/lib/*/cmake/Portolan/PortolanConfig.cmake >/dev/null 2>&1 || bad "no PortolanConfig.cmake"
if command -v help2man >/dev/null; then
  man="$prefix/share/man/man1/portolan.1"
  if [ -e "$man" ]; then
    grep -q '^\.TH PORTOLAN' "$man" || bad "the man page has no .TH header"
    grep -q 'depfile' "$man" || bad "the man page lacks build's options (--depfile)"
    grep -q 'exit\\-code\|exit-code' "$man" || bad "the man page lacks query's options (--exit-code)"
  else
    bad "help2man is installed but no man page was installed"
  fi
else
  echo "cmake-consumer: help2man is not installed: the man page is not checked"
fi
"$prefix/bin/portolan" --version | grep -q '^portolan ' || bad "the installed binary does not run"

cp -r "$consumer" "$work/src"
b="$work/b"
cmake -S "$work/src" -B "$b" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; echo "cmake-consumer: configure failed"; exit 1; }
grep -q "Warning" "$work/configure.log" && bad "configure warned: $(cat "$work/configure.log")"
nb() { ninja -C "$b" >"$work/ninja.log" 2>&1 || { cat "$work/ninja.log"; bad "ninja failed ($1)"; }; }
ran() { grep -c "Portolan: building $1" "$work/ninja.log"; }
no_work() { ninja -C "$b" -n | grep -q "no work to do" || bad "ninja -n sees work $1: $(ninja -C "$b" -n -d explain 2>&1 | head -5)"; }
deployed() { wc -l <"$b/downstream.log" 2>/dev/null || echo 0; }
outs=(configs/web/host.nft configs/edge/rules.v4 configs/edge/rules.v6 edge-only/edge/rules.v4
  edge-only/edge/rules.v6)
stamps() { (cd "$b" && stat -c '%n %i %Y' "${outs[@]}"); }

# (1) A first build writes every output of both calls; TARGETS keeps to its targets.
nb "first build"
for o in "${outs[@]}"; do [ -s "$b/$o" ] || bad "no output $o"; done
[ -e "$b/edge-only/web" ] && bad "TARGETS edge built web-host too"
grep -qE "tcp (dport|\.) 443( |$)" "$b/configs/web/host.nft" || bad "host.nft lacks the https rule"
[ "$(deployed)" = 1 ] || bad "the downstream step ran $(deployed) times, expected 1"
before=$(stamps)

# (2) Nothing changed: nothing to do, no output touched.
no_work "after the first build"
sleep 1.1
nb "second build"
[ "$(ran site_configs)" = 0 ] || bad "a second build reran Portolan"
[ "$(stamps)" = "$before" ] || bad "a second build touched an output"

# (3) The policy touched (same bytes): Portolan reruns, no output changes, downstream stays.
touch "$work/src/policy/site.policy"
nb "policy touched"
[ "$(ran site_configs)" = 1 ] || bad "touching the policy did not rerun site_configs: $(cat "$work/ninja.log")"
[ "$(ran edge_only)" = 1 ] || bad "touching the policy did not rerun edge_only"
[ "$(stamps)" = "$before" ] || bad "touching the policy changed an output's mtime or inode"
[ "$(deployed)" = 1 ] || bad "the downstream step reran for an unchanged output"
no_work "after touching the policy"

# (4) The import changed: the outputs change, the downstream step reruns.
sleep 1.1
sed -i 's/tcp 443/tcp 8443/' "$work/src/policy/services.policy"
nb "import changed"
[ "$(ran site_configs)" = 1 ] || bad "changing the import did not rerun site_configs"
grep -qE "tcp (dport|\.) 8443( |$)" "$b/configs/web/host.nft" || bad "host.nft did not follow the import"
[ "$(deployed)" = 2 ] || bad "the downstream step ran $(deployed) times after the change, expected 2"
cmp -s "$b/configs/web/host.nft" "$b/host.nft.deployed" || bad "the deployed copy is stale"
no_work "after changing the import"

# A broken policy fails the build and leaves the outputs as they were.
before=$(stamps)
sleep 1.1
sed -i 's/via https/via htps/' "$work/src/policy/site.policy"
ninja -C "$b" >"$work/ninja.log" 2>&1 && bad "a broken policy built"
grep -q "unknown service 'htps'" "$work/ninja.log" || bad "the failed build did not say why: $(cat "$work/ninja.log")"
[ "$(stamps)" = "$before" ] || bad "a failed build changed the outputs"
sed -i 's/via htps/via https/' "$work/src/policy/site.policy"
nb "fixed"
[ "$fail" = 0 ] && echo "cmake-consumer: installed package consumed; rebuilds only on change"
exit $fail
