#!/usr/bin/env bash
# The two quick-start commands:
#   ./dev.sh build   install what is missing, build, compile the shipped policy to every backend
#   ./dev.sh test    install what is missing, build with gcc (build/) and with clang under
#                    ASan+UBSan with the fuzzers (build-clang/), warnings as errors, run the suite
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(cmake ninja-build g++ antlr4 default-jre-headless libantlr4-runtime-dev libfmt-dev
          libtomlplusplus-dev doctest-dev libcli11-dev nlohmann-json3-dev nftables iptables
          iproute2 python3 graphviz clang-14 libclang-rt-14-dev llvm-14 clang-format-14 git
          help2man make python3-yaml python3-jsonschema npm)
OUT=out/lync2013-public-im

install_missing() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    # npm (the SARIF schema test's registry client) may come with another build of nodejs,
    # which conflicts with Debian's npm package: a working npm is enough.
    [ "$p" = npm ] && command -v npm >/dev/null && continue
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "dev.sh: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# compile DIR TARGET [CMAKE OPTIONS...]: configure DIR, then build TARGET ("" for everything,
# tests included).
compile() {
  local dir=$1 target=$2
  shift 2
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$(nproc)" ${target:+--target "$target"}
}

case "${1:-}" in
  build)
    install_missing
    compile build portolan
    ./build/portolan build --manifest policies/lync2013-public-im.toml --out "$OUT"
    echo "dev.sh: the shipped policy's configs are in $OUT/"
    ;;
  test)
    install_missing
    compile build "" -DPORTOLAN_WERROR=ON
    # The same tree with clang, sanitizers and the fuzz harnesses: its unit tests and a short run
    # of each fuzzer (the rest of the suite runs once, on the gcc build).
    compile build-clang "" -DPORTOLAN_WERROR=ON -DCMAKE_CXX_COMPILER=clang++-14 \
      -DPORTOLAN_SANITIZE=address,undefined -DPORTOLAN_FUZZ=ON
    ctest --test-dir build --output-on-failure -j "$(nproc)"
    ctest --test-dir build-clang -L 'sanitize|fuzz' --output-on-failure -j "$(nproc)"
    ;;
  *)
    echo "usage: ./dev.sh build | ./dev.sh test" >&2
    exit 2
    ;;
esac
