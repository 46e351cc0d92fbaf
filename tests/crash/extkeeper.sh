#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The keeper outside weir-node's container (issue 12): `weir-keeper --listen` holds the views'
# descriptors on a socket; weir-node runs under no keeper of its own (as in a DaemonSet pod whose
# image changes) and reaches it through keeper-socket. SIGTERM to weir-node (the pod replaced)
# leaves the views mounted; a new weir-node, started by hand as the kubelet would, takes them
# over: a reader holding a descriptor reads on, every byte right. kill -9 does the same. Then as
# the chart runs it: weir-node under `weir-keeper --no-store`, which holds nothing and restarts it
# at once after kill -9 (no kubelet back-off), the views still held by the --listen keeper.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"

require_root_fuse
find_weir_bins
KEEPER="${WEIR_KEEPER_BIN:-$(dirname "$WEIR_NODE_BIN")/weir-keeper}"
[ -x "$KEEPER" ] || fail "weir-keeper is not at $KEEPER: build it (ninja -C build) or set WEIR_KEEPER_BIN"
TMP="$(mktemp -d /tmp/weir-crash-extkeeper.XXXXXX)"
at_exit 'rm -rf "$TMP"'
weir_setup "$TMP"
SOCK="$WEIR_STATE/keeper.sock"
printf 'metrics-listen = 127.0.0.1:%s\nkeeper-socket = %s\n' "$(free_port)" "$SOCK" >"$WEIR_STATE/node.conf"
mkdir -p "$TMP/src"
rand_file "$TMP/src/big.bin" $((40 << 20)) extkeeper

step "weir-keeper --listen, and a weir-node under no keeper of its own"
"$KEEPER" --state-dir "$WEIR_STATE" --name node-store --listen "$SOCK" >>"$WEIR_STATE/keeper.log" 2>&1 &
KPID=$!
pid_track "$KPID"
at_exit "pid_stop $KPID"
for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] || fail "weir-keeper --listen made no socket at $SOCK: $(cat "$WEIR_STATE/keeper.log")"
[ "$(stat -c %a "$SOCK")" = 600 ] || fail "$SOCK has mode $(stat -c %a "$SOCK"), not 0600"
NODES=()
at_exit 'for p in "${NODES[@]}"; do pid_signal 9 "$p" 2>/dev/null; done'
# start_node: a weir-node as a container would run it; waits until it answers
start_node() {
	"$WEIR_NODE_BIN" --state-dir "$WEIR_STATE" >>"$WEIR_STATE/node.log" 2>&1 &
	NODE=$!
	pid_track "$NODE"
	NODES+=("$NODE")
	for _ in $(seq 1 200); do
		[ "$(weir_node_pid)" = "$NODE" ] && w stat >/dev/null 2>&1 && return 0
		pid_alive "$NODE" || fail "weir-node $NODE exited: $(tail -5 "$WEIR_STATE/node.log")"
		sleep 0.05
	done
	fail "weir-node $NODE did not answer within 10 s"
}
start_node
grep -q "views kept by the weir-keeper on \"$SOCK\"" "$WEIR_STATE/node.log" || fail "weir-node does not say it uses the keeper at $SOCK"
weir_mount "local://$TMP/src" "$TMP/mnt" --tier "mem:$WEIR_TIER_DIR/mem:256MiB" --no-passthrough
ok "keeper $KPID on $SOCK; weir-node $NODE; view mounted"

cat >"$TMP/reader.py" <<'PY'
import os, sys, time
path, src, ready, go, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
fd = os.open(path, os.O_RDONLY)
want = open(src, "rb").read()
step = len(want) // (n + 1)
got, off = [], 0
for i in range(n + 1):
    end = len(want) if i == n else off + step
    while off < end:
        b = os.pread(fd, min(1 << 20, end - off), off)
        if not b:
            break
        got.append(b)
        off += len(b)
    if i < n:
        open(ready + str(i), "w").close()
        while not os.path.exists(go + str(i)):
            time.sleep(0.02)
print("ok" if b"".join(got) == want else "WRONG", off, flush=True)
PY
python3 "$TMP/reader.py" "$TMP/mnt/big.bin" "$TMP/src/big.bin" "$TMP/ready" "$TMP/go" 3 >"$TMP/reader.out" 2>&1 &
RPID=$!
pid_track "$RPID"

# replace HOW ROUND: ends the weir-node (HOW: TERM or KILL) while the reader waits, starts a
# new one, lets the reader go on
replace() {
	local how="$1" i="$2" old t0
	for _ in $(seq 1 200); do [ -e "$TMP/ready$i" ] && break; sleep 0.05; done
	[ -e "$TMP/ready$i" ] || fail "the reader did not get to its stop $i: $(cat "$TMP/reader.out")"
	old="$NODE"
	t0="$(now)"
	pid_signal "$how" "$old"
	pid_wait_gone 5 "$old" || fail "weir-node $old did not end on SIG$how"
	is_mounted "$TMP/mnt" || fail "after SIG$how of weir-node the view is no longer mounted"
	start_node
	touch "$TMP/go$i"
	ok "SIG$how: weir-node $old -> $NODE in $(elapsed "$t0" "$(now)") s, the view mounted throughout"
}

step "SIGTERM to weir-node (a pod replaced): the views stay, the next weir-node takes them over"
replace TERM 0
grep -q "leaving the views to the weir-keeper" "$WEIR_STATE/node.log" || fail "the weir-node that got SIGTERM did not say it left the views to the keeper"
grep -q "took over 1 views" "$WEIR_STATE/node.log" || fail "the new weir-node did not take the view over"

step "kill -9 of weir-node: the same"
replace KILL 1

step "weir-node under weir-keeper --no-store (the chart's weir-node container): kill -9, restarted at once"
for _ in $(seq 1 200); do [ -e "$TMP/ready2" ] && break; sleep 0.05; done
[ -e "$TMP/ready2" ] || fail "the reader did not get to its stop 2: $(cat "$TMP/reader.out")"
pid_signal TERM "$NODE"
pid_wait_gone 5 "$NODE" || true
"$KEEPER" --state-dir "$WEIR_STATE" --name node --no-store -- "$WEIR_NODE_BIN" --state-dir "$WEIR_STATE" \
	>>"$WEIR_STATE/node.log" 2>&1 &
SPID=$!
pid_track "$SPID"
at_exit "pid_stop $SPID"
NODE="$(weir_wait_new_node "$NODE" 20)"
NODES+=("$NODE")
[ "$(cat /proc/"$NODE"/status | awk '$1 == "PPid:" { print $2 }')" = "$SPID" ] || fail "weir-node $NODE is not weir-keeper $SPID's child"
tr '\0' '\n' <"/proc/$NODE/environ" | grep -q '^WEIR_KEEPER_FD=' && fail "weir-keeper --no-store gave weir-node a store of its own"
[ "$(weir_keeper_pid)" = "$SPID" ] || fail "$WEIR_STATE/node-keeper.pid does not name the --no-store weir-keeper $SPID"
# --no-store hears no "ready" from weir-node (that goes over a store socket): a death within the
# first second of the first start is a failed start it reports rather than restarts
sleep 1.2
t0="$(now)"
pid_signal 9 "$NODE"
OLD="$NODE"
NODE="$(weir_wait_new_node "$OLD" 10)"
NODES+=("$NODE")
T_RESTART="$(elapsed "$t0" "$(now)")"
grep -q "node was killed by signal 9 after [0-9]* ms; restarting it in 0 ms" "$WEIR_STATE/node.log" ||
	fail "weir-keeper --no-store did not restart the killed weir-node at once: $(grep 'restarting it' "$WEIR_STATE/node.log" | tail -n 1)"
[ "$(grep -c 'took over 1 views' "$WEIR_STATE/node.log")" -ge 4 ] || fail "the restarted weir-node did not take the view over"
touch "$TMP/go2"
ok "weir-node $OLD killed; weir-keeper --no-store started $NODE, answering $T_RESTART s after the kill; it took the view over from the --listen keeper"
rc=0
pid_wait_gone 120 "$RPID" || rc=124
wait "$RPID" || rc=$?
out="$(cat "$TMP/reader.out")"
[ "$rc" -eq 0 ] && [ "${out%% *}" = ok ] || fail "the reader holding its descriptor across both says \"$out\" (exit $rc)"
ok "the reader's one descriptor read all 40 MiB right across the three: $out"
cmp "$TMP/mnt/big.bin" "$TMP/src/big.bin" || fail "a fresh read differs"

step "weir umount through the new weir-node; the keeper lets the view go"
w umount "$TMP/mnt" >/dev/null || fail "weir umount failed"
WEIR_MOUNTS=()
! is_mounted "$TMP/mnt" || fail "still mounted after weir umount"
pid_signal TERM "$SPID"
pid_wait_gone 5 "$SPID" || fail "weir-keeper --no-store did not stop on SIGTERM"
! pid_alive "$NODE" || fail "weir-node $NODE outlived its weir-keeper's SIGTERM"
pid_signal TERM "$KPID"
pid_wait_gone 5 "$KPID" || fail "weir-keeper --listen did not stop on SIGTERM"
[ ! -e "$SOCK" ] || fail "weir-keeper --listen left $SOCK behind"
ok "unmounted; keeper stopped, its socket removed"
echo
echo "PASS: a keeper outside weir-node's container keeps the views across SIGTERM and kill -9; under weir-keeper --no-store a killed weir-node is back in $T_RESTART s"
