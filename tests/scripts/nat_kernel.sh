#!/usr/bin/env bash
# Issue 12 item 4, in a real kernel: NAT at a perimeter. Three namespaces: a client outside
# (198.51.100.7), the router that loads the perimeter config Portolan generates from
# tests/kernel/corpus/nat.toml (nftables, then iptables), and the edge host behind it
# (192.0.2.10 access, 192.0.2.11 A/V). Every probe's expected verdict is the packet engine's,
# read from `portolan query` (which translates a packet to a public address the way the
# manifest's NAT binding says, then judges it), never written here. The kernel must: deliver a
# probe to a public address to the real host through the generated NAT, filtered exactly as
# the policy says (allowed and denied probes, a deny flow included), show the symmetric host's
# outbound connection with its public source at the client, and forward a mapped port (80 on
# the published address to 8080 on the pool) while 8080 sent directly stays closed.
# usage: nat_kernel.sh PORTOLAN SOURCE_DIR   (root; exits 77 with PORTOLAN_SKIP_KERNEL=1 when it cannot run)
set -euo pipefail
portolan=$1 src=$2
why=""
[ "$(id -u)" = 0 ] || why="needs root"
for t in ip nft iptables-restore ip6tables-restore python3; do
  command -v "$t" >/dev/null || why="missing $t"
done
if [ -n "$why" ]; then
  echo "nat_kernel: cannot run: $why"
  [ "${PORTOLAN_SKIP_KERNEL:-0}" = 1 ] && exit 77
  exit 1
fi

work=$(mktemp -d)
C=ptlnat-c-$$ R=ptlnat-r-$$ H=ptlnat-h-$$
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for n in "$C" "$R" "$H"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

manifest=$src/tests/kernel/corpus/nat.toml
"$portolan" build --manifest "$manifest" --out "$work/out" > "$work/build.log" 2>&1 ||
  { cat "$work/build.log"; echo "nat_kernel: FAILED: build failed"; exit 1; }

cat > "$work/probe.py" <<'PY'
import socket, sys, time
mode = sys.argv[1]
if mode == "tcp-server":
    import selectors
    sel = selectors.DefaultSelector()
    for port in sys.argv[3:]:
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", int(port))); s.listen(16); sel.register(s, selectors.EVENT_READ)
    open(sys.argv[2], "w").close()
    while True:
        for key, _ in sel.select():
            c, _ = key.fileobj.accept(); c.close()
elif mode == "udp-server":  # echoes the source address it saw
    # Bound to one address, so the answer leaves from the address the datagram was sent to
    # (an unbound socket answers from the interface's first address, which conntrack would
    # see as a new connection).
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[3], int(sys.argv[4])))
    open(sys.argv[2], "w").close()
    while True:
        data, peer = s.recvfrom(100)
        s.sendto(("peer=" + peer[0]).encode(), peer)
elif mode == "tcp":
    _, _, bind, dst, port = sys.argv
    c = socket.socket(); c.settimeout(1.0); c.bind((bind, 0))
    try:
        c.connect((dst, int(port))); print("allow")
    except (socket.timeout, OSError) as e:
        print("deny" if isinstance(e, socket.timeout) else "error " + str(e))
elif mode == "udp":
    _, _, bind, dst, port = sys.argv
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.settimeout(1.0); c.bind((bind, 0))
    c.sendto(b"probe", (dst, int(port)))
    try:
        data, _ = c.recvfrom(100); print("allow " + data.decode())
    except socket.timeout:
        print("deny")
PY

wait_for() { for _ in $(seq 1 100); do [ -e "$1" ] && return 0; sleep 0.05; done; echo "nat_kernel: timed out waiting for $1"; return 1; }

world() {
  for n in "$C" "$R" "$H"; do ip netns del "$n" 2>/dev/null || true; ip netns add "$n"; ip -n "$n" link set lo up; done
  ip -n "$C" link add vc type veth peer name rc netns "$R"
  ip -n "$H" link add vh type veth peer name rh netns "$R"
  ip -n "$C" addr add 198.51.100.7/24 dev vc; ip -n "$C" link set vc up
  ip -n "$C" route add default via 198.51.100.1
  ip -n "$R" addr add 198.51.100.1/24 dev rc; ip -n "$R" link set rc up
  ip -n "$R" addr add 192.0.2.1/24 dev rh; ip -n "$R" link set rh up
  ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1
  # The public addresses are routed to the firewall, which sends them on toward the dmz.
  ip -n "$R" route add 203.0.113.0/24 dev rh
  ip -n "$H" addr add 192.0.2.10/24 dev vh; ip -n "$H" addr add 192.0.2.11/24 dev vh
  ip -n "$H" addr add 192.0.2.20/24 dev vh
  ip -n "$H" link set vh up; ip -n "$H" route add default via 192.0.2.1
}

# One probe: namespace, bound source, destination, tcp|udp, port. Prints the kernel's verdict
# and compares it with the engine's (portolan query, the target's forward line).
failures=0 probes=0
probe() {
  local backend=$1 ns=$2 from=$3 to=$4 proto=$5 port=$6
  local target=perimeter-$backend q want got leaves seen
  q=$("$portolan" query --manifest "$manifest" --from "$from" --to "$to" "$proto/$port")
  want=$(awk -v t="$target (forward):" 'index($0, t) == 1 { print $3; exit }' <<<"$q")
  [ -n "$want" ] || want=deny # no target sees it: nothing forwards it
  leaves=$(sed -n 's/^leaves the perimeter as: [a-z]* \([^ ]*\) .*/\1/p' <<<"$q")
  got=$(ip netns exec "$ns" python3 "$work/probe.py" "$proto" "$from" "$to" "$port")
  probes=$((probes + 1))
  local verdict=${got%% *}
  if [ "$verdict" != "$want" ]; then
    echo "nat_kernel: $backend: MISMATCH: $proto $from -> $to port $port: kernel $got, engine $want"
    sed 's/^/    /' <<<"$q"
    failures=$((failures + 1))
    return
  fi
  seen=$(sed -n 's/.*peer=//p' <<<"$got")
  if [ "$verdict" = allow ] && [ "$proto" = udp ] && [ -n "$leaves" ] && [ "$seen" != "$leaves" ]; then
    echo "nat_kernel: $backend: MISMATCH: $proto $from -> $to port $port arrived from $seen, engine says it leaves as $leaves"
    failures=$((failures + 1))
    return
  fi
  echo "nat_kernel: $backend: ok: $proto $from -> $to port $port: $got${leaves:+ (engine: leaves as $leaves)}"
}

for backend in nftables iptables; do
  world
  if [ "$backend" = nftables ]; then
    ip netns exec "$R" nft -f "$work/out/perimeter.nft"
  else
    ip netns exec "$R" iptables-restore --noflush "$work/out/perimeter.v4"
    ip netns exec "$R" ip6tables-restore --noflush "$work/out/perimeter.v6"
  fi
  d=$work/$backend; mkdir -p "$d"
  ip netns exec "$H" python3 "$work/probe.py" tcp-server "$d/tcp" 5061 443 22 8443 8080 80 & pids+=($!)
  ip netns exec "$H" python3 "$work/probe.py" udp-server "$d/udp" 192.0.2.11 3478 & pids+=($!)
  ip netns exec "$C" python3 "$work/probe.py" udp-server "$d/cudp" 198.51.100.7 50005 & pids+=($!)
  wait_for "$d/tcp"; wait_for "$d/udp"; wait_for "$d/cudp"
  # The denied probes are denied by the rules, not by a missing listener: the router's own
  # traffic is not the perimeter's (it filters forwarded packets only) and reaches every one.
  for port in 22 8443 8080; do
    r=$(ip netns exec "$R" python3 "$work/probe.py" tcp 192.0.2.1 192.0.2.10 "$port")
    [ "$r" = allow ] || { echo "nat_kernel: $backend: FAILED: listener on $port unreachable from the router ($r)"; failures=$((failures + 1)); }
  done
  # Inbound through destination NAT: the public addresses, allowed and denied.
  probe "$backend" "$C" 198.51.100.7 203.0.113.10 tcp 5061
  probe "$backend" "$C" 198.51.100.7 203.0.113.10 tcp 443
  probe "$backend" "$C" 198.51.100.7 203.0.113.10 tcp 22   # the deny flow
  probe "$backend" "$C" 198.51.100.7 203.0.113.10 tcp 8443 # no flow
  probe "$backend" "$C" 198.51.100.7 203.0.113.11 udp 3478
  probe "$backend" "$C" 198.51.100.7 203.0.113.11 tcp 5061 # A/V has no SIP
  # The real address from outside: the policy's endpoint too, judged without translation.
  probe "$backend" "$C" 198.51.100.7 192.0.2.10 tcp 5061
  probe "$backend" "$C" 198.51.100.7 192.0.2.11 tcp 443
  # Port mapping: 80 on the published address reaches the pool's 8080; 8080 sent directly to
  # the pool, or to the published address, does not (the mapping opens it only as its back half).
  probe "$backend" "$C" 198.51.100.7 203.0.113.20 tcp 80
  probe "$backend" "$C" 198.51.100.7 192.0.2.20 tcp 8080
  probe "$backend" "$C" 198.51.100.7 192.0.2.20 tcp 80
  probe "$backend" "$C" 198.51.100.7 203.0.113.20 tcp 8080
  # Outbound: symmetric NAT shows the A/V host's public source; access has no outbound flow.
  probe "$backend" "$H" 192.0.2.11 198.51.100.7 udp 50005
  probe "$backend" "$H" 192.0.2.10 198.51.100.7 udp 50005
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pids=()
done
echo "nat_kernel: $probes probes, $failures mismatches"
exit $((failures > 0))
