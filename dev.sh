#!/usr/bin/env bash
# The two quick-start commands:
#   ./dev.sh build   install what is missing, build, compile the shipped policy to every backend
#   ./dev.sh test    install what is missing, build, run the whole test suite
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(cmake ninja-build g++ antlr4 default-jre-headless libantlr4-runtime-dev libfmt-dev
          libtomlplusplus-dev doctest-dev nlohmann-json3-dev nftables iptables iproute2 python3)
OUT=out/lync2013-public-im

install_missing() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "dev.sh: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# compile [TARGET]: configure once, then build TARGET (default: everything, tests included).
compile() {
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j "$(nproc)" ${1:+--target "$1"}
}

case "${1:-}" in
  build)
    install_missing
    compile portolan
    ./build/portolan build --manifest policies/lync2013-public-im.toml --out "$OUT"
    echo "dev.sh: the shipped policy's configs are in $OUT/"
    ;;
  test)
    install_missing
    compile
    ctest --test-dir build --output-on-failure -j "$(nproc)"
    ;;
  *)
    echo "usage: ./dev.sh build | ./dev.sh test" >&2
    exit 2
    ;;
esac
