#!/usr/bin/env bash
# Issue 10 case 6, in a real kernel: a TCP connection opened under the old policy must stop
# when a reloaded policy no longer allows it. Two namespaces, a client in A and a server in B
# whose host firewall (nftables, then iptables) first allows TCP 5000 and is then reloaded
# with a policy that allows only TCP 5001. The client sends "before" (allowed), the config is
# reloaded, the client sends "after" on the same connection: the server must never get it.
# usage: reload_kernel.sh PORTOLAN    (root; exits 77 with PORTOLAN_SKIP_KERNEL=1 when it cannot run)
set -euo pipefail
portolan=$1
why=""
[ "$(id -u)" = 0 ] || why="needs root"
for t in ip nft iptables-restore ip6tables-restore python3; do
  command -v "$t" >/dev/null || why="missing $t"
done
if [ -n "$why" ]; then
  echo "reload_kernel: cannot run: $why"
  [ "${PORTOLAN_SKIP_KERNEL:-0}" = 1 ] && exit 77
  exit 1
fi

work=$(mktemp -d)
A=ptlrl-a-$$ B=ptlrl-b-$$
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for v in 1 2; do
  svc=$([ $v = 1 ] && echo 5000 || echo 5001)
  mkdir -p "$work/v$v"
  cat > "$work/v$v/p.policy" <<P
zone a; zone b; role c in a; role h in b;
service s = tcp $svc;
flow c -> h via s;
P
  cat > "$work/v$v/m.toml" <<M
policies = ["p.policy"]
[environments.lab.bind]
c = "10.99.0.1"
h = "10.99.0.2"
[[targets]]
name = "n"
backend = "nftables"
host = "h"
output = "n.nft"
[[targets]]
name = "i"
backend = "iptables"
host = "h"
output = "i"
M
  "$portolan" build --manifest "$work/v$v/m.toml" --out "$work/v$v/out" > "$work/v$v/log" 2>&1 ||
    { cat "$work/v$v/log"; echo "reload_kernel: build failed"; exit 1; }
done

load() { # backend version
  if [ "$1" = nftables ]; then
    ip netns exec "$B" nft -f "$work/v$2/out/n.nft"
  else
    ip netns exec "$B" iptables-restore --noflush "$work/v$2/out/i.v4"
    ip netns exec "$B" ip6tables-restore --noflush "$work/v$2/out/i.v6"
  fi
}

wait_for() { # file
  for _ in $(seq 1 100); do [ -e "$1" ] && return 0; sleep 0.05; done
  echo "reload_kernel: timed out waiting for $1"; return 1
}

failures=0
for backend in nftables iptables; do
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  ip netns add "$A"; ip netns add "$B"
  ip -n "$A" link add va type veth peer name vb netns "$B"
  ip -n "$A" addr add 10.99.0.1/24 dev va; ip -n "$A" link set va up; ip -n "$A" link set lo up
  ip -n "$B" addr add 10.99.0.2/24 dev vb; ip -n "$B" link set vb up; ip -n "$B" link set lo up
  d="$work/$backend"; mkdir -p "$d"
  load "$backend" 1
  ip netns exec "$B" python3 - "$d" <<'PY' &
import os, socket, sys
d = sys.argv[1]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.99.0.2", 5000)); s.listen(1)
open(os.path.join(d, "ready"), "w").close()
c, _ = s.accept()
with open(os.path.join(d, "got"), "a") as f:
    while True:
        b = c.recv(100)
        if not b:
            break
        f.write(b.decode()); f.flush()
PY
  pids+=($!)
  wait_for "$d/ready"
  ip netns exec "$A" python3 - "$d" <<'PY' &
import os, socket, sys, time
d = sys.argv[1]
c = socket.create_connection(("10.99.0.2", 5000), timeout=5)
c.sendall(b"before\n")
open(os.path.join(d, "sent"), "w").close()
while not os.path.exists(os.path.join(d, "go")):
    time.sleep(0.05)
c.sendall(b"after\n")
time.sleep(3)
PY
  pids+=($!)
  wait_for "$d/sent"
  for _ in $(seq 1 40); do grep -q before "$d/got" 2>/dev/null && break; sleep 0.05; done
  load "$backend" 2 # the reload: TCP 5000 is no longer allowed
  touch "$d/go"
  sleep 2
  got=$(cat "$d/got" 2>/dev/null || true)
  if ! grep -q before <<<"$got"; then
    echo "reload_kernel: $backend: the allowed connection did not work before the reload"
    failures=$((failures + 1))
  elif grep -q after <<<"$got"; then
    echo "reload_kernel: $backend: FAIL: a connection the reloaded policy no longer allows went on"
    failures=$((failures + 1))
  else
    echo "reload_kernel: $backend: ok, the old connection stopped at the reload"
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pids=()
done
exit $((failures > 0))
