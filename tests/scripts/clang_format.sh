#!/usr/bin/env bash
# Every tracked C++ source is formatted as the repo's .clang-format says.
# usage: clang_format.sh CLANG_FORMAT SOURCE_DIR
set -euo pipefail
clang_format=$1
cd "$2"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -- '*.cpp' '*.h' '*.hpp' '*.cc')
else # a source tree without git (a release archive): every C++ file
  mapfile -t files < <(find . -path "./build*" -prune -o \( -name '*.cpp' -o -name '*.h' \) -print)
fi
[ ${#files[@]} -gt 0 ] || { echo "clang-format: no C++ files found" >&2; exit 1; }
"$clang_format" --style=file --dry-run -Werror "${files[@]}"
echo "clang-format: ${#files[@]} files formatted"
