#!/usr/bin/env bash
# Runs the vendor's own syntax checker on a golden file: nft -c -f, iptables-restore --test,
# ip6tables-restore --test. Needs root (the checkers talk to the kernel).
set -euo pipefail
file=$1
case "$file" in
  *.nft) exec nft -c -f "$file" ;;
  *.v4) exec iptables-restore --test --noflush "$file" ;;
  *.v6) exec ip6tables-restore --test --noflush "$file" ;;
  *) echo "vendor_check: no checker for $file"; exit 1 ;;
esac
