#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (issue 15), prints figures and never fails on targets: three weir-nodes in three
# network namespaces (tests/helpers/cluster.sh) and nginx behind tests/helpers/throttle.py on
# their bridge, which caps each connection at 10 MB/s with no burst (nginx's limit_rate lets each
# request burst for a second, so 1 MiB range requests would escape it). The cap is the kernel's
# TCP pacing (THROTTLE_PACE: SO_MAX_PACING_RATE, bytes moved by splice), so the link's own CPU
# stays small and the same whether one node or three pull through it; BENCH_LINK=python is the
# Python pacer of earlier runs (1.0-1.7 CPU-s per tree passed, see the CPU-s lines).
#  (a) all three nodes read the whole tree cold at once: time and UFS bytes, as one cache
#      (peers) and as three separate caches (the same nodes without peers) — same readers, same
#      fetch concurrency, cold caches both times;
#  (c) the client-only node (cache-replicas 2) reads the tree its peers cached, against the same
#      node reading its own warm tier (remounted, so no page cache either way). Both sides start
#      with the tree's metadata known (BENCH_C_META=warm, the default: an untimed `find` of the
#      view lists it first), as the rules ask of a fair side by side (the same cache state): the
#      fresh node otherwise lists the tree from the UFS during its timed read, while its own
#      warm tier's side has the listing from the read before. BENCH_C_META=cold times the peer
#      side's listing too (the figure of earlier sessions).
#  (b) a load (what a DataLoad asks a node for) of the whole tree on a cluster of three cache
#      nodes, where each block is fetched from the UFS by its owner, against the same load on one
#      node alone — cold caches, same fetch concurrency;
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/cluster.sh"

NFILES="${BENCH_FILES:-8}"
FILE_MIB="${BENCH_FILE_MIB:-32}"
RATE="${BENCH_RATE:-10000000}" # bytes/s per connection (throttle.py)
# each view's --fetch-concurrency: 4 x 10 MB/s x 3 nodes stays under what the throttle (one
# Python process) passes on this machine, so the cap is the UFS's, not the proxy's
CONNS="${BENCH_CONNS:-4}"
# (c)'s mounts: the peers, not the UFS, serve them, so its window of blocks in flight
CONNS_C="${BENCH_CONNS_C:-16}"
RUNS="${BENCH_RUNS:-3}"        # runs of (c) and (b); the best is reported
PARTS="${BENCH_PARTS:-abc}"    # which of (a), (b), (c) to run (c needs a)
C_META="${BENCH_C_META:-warm}" # (c): warm: both sides list the tree before their timed read
[ "$C_META" = warm ] || [ "$C_META" = cold ] || fail "BENCH_C_META is warm or cold, not \"$C_META\""
NEAR_C="${BENCH_NEAR_C:-}"     # (c)'s client node's near-cache (default: weir-node's); with 0,
                               # its own warm tier is measured on a default one (see c_once)
LINK="${BENCH_LINK:-pace}" # pace: the kernel paces each connection; python: throttle.py does
# python's processes: one passes 80-140 MB/s on this loaded machine, near the three nodes'
# 120 MB/s, so a node alone and three nodes would not meet the same UFS
TWORKERS="${BENCH_THROTTLE_WORKERS:-3}"
# BENCH_PROFILE=perf|strace|perf-all: (c)'s first read from peers runs under `perf record -g` or
# `strace -c -f` of each weir-node, reports in $BENCH_PROFILE_DIR (default /tmp) as
# cluster-c-<tool>-n<I>.{data,txt}, or under one `perf record -a -g` of the whole machine
# (cluster-c-perf-all.data: the reader and the kernel's side of its reads too); its time is not
# a figure then
PROFILE="${BENCH_PROFILE:-}"
PROFILE_DIR="${BENCH_PROFILE_DIR:-/tmp}"
BLOCK_B="${BENCH_BLOCK_B:-4MiB}" # (b)'s --block-size, on one node as on three: smaller blocks
                                 # spread the shares more evenly over the nodes
# BENCH_BASE_BUILD=<build dir of another tree>: (c)'s client node also runs that tree's weir and
# weir-node, run by run alternately with this build's (the order swapped every run), against the
# same peers (this build) under the same load; both sides are printed, and base / this ratios
BASE_BUILD="${BENCH_BASE_BUILD:-}"

require_root_fuse
find_weir_bins
THIS_BIN="$WEIR_BIN" THIS_NODE_BIN="$WEIR_NODE_BIN"
if [ -n "$BASE_BUILD" ]; then
	BASE_BIN="$BASE_BUILD/cli/weir" BASE_NODE_BIN="$BASE_BUILD/weir-node"
	[ -x "$BASE_NODE_BIN" ] || BASE_NODE_BIN="$BASE_BUILD/daemon/weir-node"
	[ -x "$BASE_BIN" ] && [ -x "$BASE_NODE_BIN" ] || fail "BENCH_BASE_BUILD $BASE_BUILD has no cli/weir and weir-node: build it"
	# a base build from before node identities knows neither ;id= in a peers list nor
	# node-id-file: the whole run then goes without them, both sides (and says so)
	if ! "$BASE_NODE_BIN" --help 2>/dev/null | grep -q -- '--print-node-id'; then
		CL_NO_IDS=1
		note "the base build has no node identities: both sides run without them (CL_NO_IDS=1)"
	fi
fi
# use_build this|base: the weir and weir-node the next node_setup and mount_on start
use_build() {
	if [ "$1" = base ]; then WEIR_BIN="$BASE_BIN" WEIR_NODE_BIN="$BASE_NODE_BIN"; else WEIR_BIN="$THIS_BIN" WEIR_NODE_BIN="$THIS_NODE_BIN"; fi
	PATH="$(dirname "$WEIR_NODE_BIN"):$PATH"
	export WEIR_BIN WEIR_NODE_BIN PATH
}
TMP="$(mktemp -d /tmp/weir-bench-cluster.XXXXXX)"
at_exit 'rm -rf "$TMP"'
SHM="$(mktemp -d /dev/shm/weir-bench-cluster.XXXXXX)"
at_exit 'rm -rf "$SHM"'

best() { printf '%s\n' "$@" | sort -g | head -n 1; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f MB/s", b / s / 1e6 }'; }

step "three namespaces; a tree of $NFILES x $FILE_MIB MiB in tmpfs; nginx behind a $RATE B/s per connection throttle"
cluster_net_setup 3
mkdir -p "$SHM/tree/sub"
for f in $(seq 1 "$NFILES"); do
	d="$SHM/tree"
	[ $((f % 2)) -eq 0 ] && d="$SHM/tree/sub"
	rand_file "$d/f$f.bin" $((FILE_MIB * 1048576 + f * 4099)) "cluster$f"
done
TOTAL=$(($(find "$SHM/tree" -type f -printf '%s+') 0))
nginx_start "$TMP/nginx" "$SHM/tree"
TPORT="$(free_port)"
case "$LINK" in
pace) TENV=(THROTTLE_PACE=1) ;;
python) TENV=(THROTTLE_WORKERS="$TWORKERS") ;;
*) fail "BENCH_LINK \"$LINK\" is neither pace nor python" ;;
esac
env "${TENV[@]}" python3 "$here/../tests/helpers/throttle.py" "$TPORT" "$NGINX_PORT" "$RATE" "$CL_SUBNET.1" >"$TMP/throttle.log" 2>&1 &
tpid=$!
pid_track "$tpid"
at_exit "pid_stop $tpid"
for _ in $(seq 1 100); do grep -q '^throttle:' "$TMP/throttle.log" && break; sleep 0.1; done
pid_alive "$tpid" || fail "throttle.py exited at start: $(cat "$TMP/throttle.log")"
grep -q '^throttle:' "$TMP/throttle.log" || fail "throttle.py did not listen within 10 s"
UFS_URL="http://$CL_SUBNET.1:$TPORT/"
for i in 1 2 3; do
	on "$i" curl -fsS -o /dev/null --max-time 5 "$UFS_URL" || fail "node $i cannot reach the UFS at $UFS_URL"
done
: >"$NGINX_ACCESS_LOG"
note "tree: $TOTAL bytes; UFS $UFS_URL (nginx behind $(head -n 1 "$TMP/throttle.log")); views --fetch-concurrency $CONNS"
KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# cpu_ticks PID...: CPU time (user + system, all threads, in clock ticks) the live processes
# PID... have used so far; a process gone counts 0.
cpu_ticks() {
	local p sum=0 f
	for p in "$@"; do
		[ -n "$p" ] || continue
		f="$(cat "/proc/$p/stat" 2>/dev/null)" || continue
		f="${f##*) }" # past "pid (comm) ": utime and stime are fields 12 and 13 from here
		sum=$((sum + $(awk '{ print $12 + $13 }' <<<"$f")))
	done
	echo "$sum"
}
TICK="$(getconf CLK_TCK)"
secs() { awk -v t="$1" -v h="$TICK" 'BEGIN { printf "%.2f", t / h }'; }
# cpu_sum CP NODE PEERS: "cp CP + node NODE + peers PEERS = SUM, 2-core bound B s", B (the sum
# over 2: the least wall time two cores could give it).
cpu_sum() {
	awk -v a="$1" -v b="$2" -v c="$3" 'BEGIN { printf "cp %s + node %s + peers %s = %.2f, 2-core bound %.3f s\n", a, b, c, a + b + c, (a + b + c) / 2 }'
}
# node_pids I...: the weir-nodes of nodes I...
node_pids() { local i; for i in "$@"; do weir_node_pid "${STATE[$i]}"; done; }
# throttle_pids: throttle.py and its worker processes
throttle_pids() { echo "$tpid"; pgrep -P "$tpid" || true; }

# read_all DIR...: copies every view at once; prints the seconds until the last is done; the
# copies' CPU time (user + system of every cp, in seconds) is left in $SHM/read-cpu.
read_all() {
	local t0 t1 pids=() i=0 mp cpu=0
	t0="$(now)"
	for mp in "$@"; do
		i=$((i + 1))
		rm -rf "$SHM/copy$i"
		{ TIMEFORMAT='%U %S'; time cp -R "$mp/." "$SHM/copy$i"; } 2>"$SHM/cpu$i" &
		pids+=($!)
		pid_track "$!"
	done
	for i in "${pids[@]}"; do wait "$i" || fail "a cp -R failed: $(cat "$SHM"/cpu* 2>/dev/null)"; done
	t1="$(now)"
	for i in $(seq 1 $#); do
		cpu="$(awk -v c="$cpu" 'END { printf "%.3f", c + $1 + $2 }' "$SHM/cpu$i")"
	done
	echo "$cpu" >"$SHM/read-cpu"
	for i in $(seq 1 $#); do
		diff -r "$SHM/tree" "$SHM/copy$i" >/dev/null || fail "copy $i differs from the tree"
		rm -rf "$SHM/copy$i"
	done
	elapsed "$t0" "$t1"
}

# nodes_up TAG REPLICAS PEERS...: fresh state for nodes 1-3 (peers among PEERS, none if empty),
# mounted.
nodes_up() {
	local tag="$1" replicas="$2" i
	shift 2
	cluster_nodes "$@"
	[ $# -eq 0 ] && CL_PEERS=""
	for i in 1 2 3; do node_setup "$i" "$TMP/$tag$i" "$KEY" "cache-replicas = $replicas"; done
	for i in 1 2 3; do mount_on "$i" "$UFS_URL" --fetch-concurrency "$CONNS" ${MOUNT_ARGS[@]+"${MOUNT_ARGS[@]}"}; done
}
MOUNT_ARGS=()
LOAD_CALL="${WEIR_LOAD_CALL:-${WEIR_BUILD_DIR:-$WEIR_SRC/build}/tests/e2e/load-call}"
[ -x "$LOAD_CALL" ] || fail "load-call is not at $LOAD_CALL: build it (ninja -C build)"
# load_on I: loads the whole tree through node I; prints the seconds it took.
load_on() {
	local id t0 t1 out
	id="$(ls "${STATE[$1]}/stores")"
	t0="$(now)"
	out="$("$LOAD_CALL" "${STATE[$1]}/node.sock" "$id" /)" || fail "the load on node $1 failed: $out"
	t1="$(now)"
	elapsed "$t0" "$t1"
}
# profile_start / profile_stop: BENCH_PROFILE's tool on every running weir-node (pids by path).
PROF_PIDS=()
profile_start() {
	local i pid
	[ -n "$PROFILE" ] || return 0
	if [ "$PROFILE" = perf-all ]; then
		# the whole machine: the reader (cp) and the kernel's side of its reads too
		perf record -q -a -g -o "$PROFILE_DIR/cluster-c-perf-all.data" 2>/dev/null &
		PROF_PIDS+=($!)
		pid_track "$!"
		sleep 1
		return 0
	fi
	for i in 1 2 3; do
		pid="$(weir_node_pid "${STATE[$i]}")"
		[ -n "$pid" ] || fail "node $i has no weir-node to profile"
		case "$PROFILE" in
		perf) perf record -q -g -o "$PROFILE_DIR/cluster-c-perf-n$i.data" -p "$pid" 2>/dev/null & ;;
		strace) strace -c -f -o "$PROFILE_DIR/cluster-c-strace-n$i.txt" -p "$pid" 2>/dev/null & ;;
		*) fail "BENCH_PROFILE \"$PROFILE\" is neither perf nor strace" ;;
		esac
		PROF_PIDS+=($!)
		pid_track "$!"
	done
	sleep 1 # attached before the read starts
}
profile_stop() {
	local p
	for p in ${PROF_PIDS[@]+"${PROF_PIDS[@]}"}; do pid_signal INT "$p" || true; done
	for p in ${PROF_PIDS[@]+"${PROF_PIDS[@]}"}; do wait "$p" 2>/dev/null || true; done
	[ ${#PROF_PIDS[@]} -eq 0 ] || note "profile of (c)'s first read from peers: $PROFILE_DIR/cluster-c-$PROFILE-n*"
	PROF_PIDS=()
}
nodes_down() { for i in 1 2 3; do stop_node "$i"; done; }
# shares: each node's share of the last load, from its log: "n1 5.1 s/88 MB (owns 95)": the
# seconds it took, the bytes it fetched from the UFS, the bytes it owns (rendezvous placement;
# the plan has less busy nodes fetch some of the busiest owners' blocks for them).
shares() {
	local i line f out=""
	for i in 1 2 3; do
		line="$(grep -E "load of [0-9]+ path\(s\) of .* done: " "${STATE[$i]}/node.log" | tail -n 1)"
		[ -n "$line" ] || fail "node $i ran no share of the load (no \"load of ... done\" in its log)"
		f="$(printf '%s\n' "$line" | sed -n 's/.* files, \([0-9]*\) bytes in \([0-9]*\) ms.*; owns \([0-9]*\) bytes.*/\1 \2 \3/p')"
		# a weir-node older than the plan fetches what it owns
		[ -n "$f" ] || f="$(printf '%s\n' "$line" | sed -n 's/.* files, \([0-9]*\) bytes in \([0-9]*\) ms.*/\1 \2 \1/p')"
		[ -n "$f" ] || fail "node $i's load line lacks bytes or ms: $line"
		out+="$(awk -v n="n$i" '{ printf "%s %.2f s/%.0f MB (owns %.0f) ", n, $2 / 1000, $1 / 1e6, $3 / 1e6 }' <<<"$f")"
	done
	echo "$out"
}

BOUND="-" OBOUND="-" T_SEP=0 U_SEP=0 T_ONE=0 U_ONE=0 T_PEER=0 T_LOCAL=0 T_LOAD1=0 T_LOAD3=0 U_LOAD1=0 U_LOAD3=0
CLIENT="-" peer_times=() local_times=() l1_times=() l3_times=() SHARES=""
tcpu1=() tcpu3=() ncpu1=() ncpu3=() cpu_peer=() cpu_local=() bound_peer=() bound_local=()
if [[ $PARTS == *a* ]]; then
step "(a) three separate caches: all three nodes read the tree cold at once"
nodes_up sep 2
: >"$NGINX_ACCESS_LOG"
T_SEP=$(read_all "${MP[1]}" "${MP[2]}" "${MP[3]}")
U_SEP=$(ufs_body_bytes)
note "separate: $T_SEP s, UFS $U_SEP bytes = $(ratio "$U_SEP" "$TOTAL")x the tree"
nodes_down

step "(a) one cache over three nodes (peers, cache-replicas 2): all three read the tree cold at once"
nodes_up one 2 1 2 3
CLIENT=""
for i in 1 2 3; do grep -q "a client of it only" "${STATE[$i]}/node.log" && CLIENT=$i; done
[ -n "$CLIENT" ] || fail "no node says it is a client only with cache-replicas 2 of 3"
: >"$NGINX_ACCESS_LOG"
T_ONE=$(read_all "${MP[1]}" "${MP[2]}" "${MP[3]}")
U_ONE=$(ufs_body_bytes)
note "one cache: $T_ONE s, UFS $U_ONE bytes = $(ratio "$U_ONE" "$TOTAL")x the tree; node $CLIENT is the client"

if [[ $PARTS == *c* ]]; then
step "(c) node $CLIENT reads the tree its peers cached, against its own warm tier"
peer_times=() local_times=() cpu_peer=() cpu_local=() bound_peer=() bound_local=()
PEERS_C="$(for i in 1 2 3; do [ "$i" = "$CLIENT" ] || echo "$i"; done)"
# meta_walk MP: the tree's names and sizes through the client's view (LOOKUP, GETATTR): no
# byte of a file moves (checked: the client's bytes from peers and the UFS's stay as they were)
meta_walk() {
	local p0 u0
	p0="$(metric "$CLIENT" weir_peer_in_bytes_total)" u0="$(ufs_body_bytes)"
	find "$1" -printf '%s\n' >/dev/null || fail "find $1 failed"
	[ "$(metric "$CLIENT" weir_peer_in_bytes_total)" = "$p0" ] && [ "$(ufs_body_bytes)" = "$u0" ] ||
		fail "listing $1 moved file bytes (from peers $p0 -> $(metric "$CLIENT" weir_peer_in_bytes_total), UFS $u0 -> $(ufs_body_bytes))"
}
# c_once R: one run of (c) on the client node with the build use_build chose: C_PEER, C_LOCAL
# (seconds), C_CPU_PEER, C_CPU_LOCAL (cpu_sum lines), C_BOUND_PEER, C_BOUND_LOCAL.
c_once() {
	local r="$1" before cpid spids c0 c1 s0 s1
	stop_node "$CLIENT"
	node_setup "$CLIENT" "$TMP/c$r-$2-" "$KEY" "cache-replicas = 2" ${NEAR_C:+"near-cache = $NEAR_C"}
	mount_on "$CLIENT" "$UFS_URL" --fetch-concurrency "$CONNS_C"
	before=$(ufs_body_bytes)
	[ "$r" -eq 1 ] && [ "$2" = this ] && profile_start
	cpid="$(node_pids "$CLIENT")" spids="$(node_pids $PEERS_C)"
	c0=$(cpu_ticks $cpid) s0=$(cpu_ticks $spids)
	[ "$C_META" = cold ] || meta_walk "${MP[$CLIENT]}"
	C_PEER="$(read_all "${MP[$CLIENT]}")"
	c1=$(cpu_ticks $cpid) s1=$(cpu_ticks $spids)
	[ "$r" -eq 1 ] && [ "$2" = this ] && profile_stop
	C_CPU_PEER="$(cpu_sum "$(cat "$SHM/read-cpu")" "$(secs $((c1 - c0)))" "$(secs $((s1 - s0)))")"
	C_BOUND_PEER="$(sed 's/.*2-core bound \([0-9.]*\) s/\1/' <<<"$C_CPU_PEER")"
	[ "$(ufs_body_bytes)" -eq "$before" ] || note "run $r: the UFS sent $(($(ufs_body_bytes) - before)) bytes (expected none)"
	timeout -k 2 20 "$WEIR_BIN" --state-dir "${STATE[$CLIENT]}" umount "${MP[$CLIENT]}" >/dev/null || fail "umount on node $CLIENT failed"
	if [ "$NEAR_C" = 0 ]; then
		# near-cache 0 keeps nothing in the node's tiers (and its memory keeps the last
		# blocks 3 s): its own warm tier is that of the same node with the default
		# near-cache, filled by one untimed read from the peers
		stop_node "$CLIENT"
		node_setup "$CLIENT" "$TMP/c$r-$2-warm-" "$KEY" "cache-replicas = 2"
		mount_on "$CLIENT" "$UFS_URL" --fetch-concurrency "$CONNS_C"
		read_all "${MP[$CLIENT]}" >/dev/null
		timeout -k 2 20 "$WEIR_BIN" --state-dir "${STATE[$CLIENT]}" umount "${MP[$CLIENT]}" >/dev/null || fail "umount on node $CLIENT failed"
		cpid="$(node_pids "$CLIENT")"
	fi
	mount_on "$CLIENT" "$UFS_URL" --fetch-concurrency "$CONNS_C"
	c0=$(cpu_ticks $cpid) s0=$(cpu_ticks $spids)
	[ "$C_META" = cold ] || meta_walk "${MP[$CLIENT]}"
	C_LOCAL="$(read_all "${MP[$CLIENT]}")"
	c1=$(cpu_ticks $cpid) s1=$(cpu_ticks $spids)
	C_CPU_LOCAL="$(cpu_sum "$(cat "$SHM/read-cpu")" "$(secs $((c1 - c0)))" "$(secs $((s1 - s0)))")"
	C_BOUND_LOCAL="$(sed 's/.*2-core bound \([0-9.]*\) s/\1/' <<<"$C_CPU_LOCAL")"
}
base_peer=() base_local=() base_cpu_peer=()
for r in $(seq 1 "$RUNS"); do
	sides=this
	[ -n "$BASE_BUILD" ] && { [ $((r % 2)) -eq 1 ] && sides="base this" || sides="this base"; }
	for side in $sides; do
		use_build "$side"
		c_once "$r" "$side"
		if [ "$side" = base ]; then
			base_peer+=("$C_PEER") base_local+=("$C_LOCAL") base_cpu_peer+=("$C_CPU_PEER")
			note "run $r, base build: from peers $C_PEER s (CPU-s $C_CPU_PEER); own warm tier $C_LOCAL s (CPU-s $C_CPU_LOCAL); load $(cut -d' ' -f1-3 /proc/loadavg)"
			continue
		fi
		peer_times+=("$C_PEER") local_times+=("$C_LOCAL") cpu_peer+=("$C_CPU_PEER") cpu_local+=("$C_CPU_LOCAL")
		bound_peer+=("$C_BOUND_PEER") bound_local+=("$C_BOUND_LOCAL")
		note "run $r: from peers ${peer_times[-1]} s (CPU-s ${cpu_peer[-1]}); own warm tier ${local_times[-1]} s (CPU-s ${cpu_local[-1]}); load $(cut -d' ' -f1-3 /proc/loadavg)"
	done
done
use_build this
T_PEER=$(best "${peer_times[@]}") T_LOCAL=$(best "${local_times[@]}")
fi
nodes_down
fi

if [[ $PARTS == *b* ]]; then
step "(b) a load of the whole tree on one node alone against the same on a cluster of three cache nodes, alternately, $RUNS rounds"
MOUNT_ARGS=(--block-size "$BLOCK_B")
for r in $(seq 1 "$RUNS"); do
	nodes_up lone$r- 0
	: >"$NGINX_ACCESS_LOG"
	t0=$(cpu_ticks $(throttle_pids)) n0=$(cpu_ticks $(node_pids 1))
	l1_times+=("$(load_on 1)")
	t1=$(cpu_ticks $(throttle_pids)) n1=$(cpu_ticks $(node_pids 1))
	tcpu1+=("$(secs $((t1 - t0)))") ncpu1+=("$(secs $((n1 - n0)))")
	U_LOAD1=$(ufs_body_bytes)
	nodes_down
	nodes_up lthree$r- 0 1 2 3
	: >"$NGINX_ACCESS_LOG"
	t0=$(cpu_ticks $(throttle_pids)) n0=$(cpu_ticks $(node_pids 1 2 3))
	l3_times+=("$(load_on 1)")
	t1=$(cpu_ticks $(throttle_pids)) n1=$(cpu_ticks $(node_pids 1 2 3))
	tcpu3+=("$(secs $((t1 - t0)))") ncpu3+=("$(secs $((n1 - n0)))")
	U_LOAD3=$(ufs_body_bytes)
	SHARES="$(shares)"
	note "round $r: one node ${l1_times[-1]} s, UFS $U_LOAD1 bytes, CPU-s link ${tcpu1[-1]} weir-node ${ncpu1[-1]}; three nodes ${l3_times[-1]} s, UFS $U_LOAD3 bytes, CPU-s link ${tcpu3[-1]} weir-nodes ${ncpu3[-1]}; shares: $SHARES"
	nodes_down
done
T_LOAD1=$(best "${l1_times[@]}") T_LOAD3=$(best "${l3_times[@]}")
MOUNT_ARGS=()
# the most three nodes can gain when each pulls its share at the same rate: the tree over the
# largest share fetched (the plan's), and over the largest share owned (placement alone)
BOUND="$(printf '%s\n' "$SHARES" | grep -o '/[0-9]* MB' | tr -dc '0-9\n' | sort -n | tail -n 1)"
BOUND="$(awk -v t="$TOTAL" -v m="${BOUND:-0}" 'BEGIN { if (m > 0) printf "%.2f", t / (m * 1e6); else print "-" }')"
OBOUND="$(printf '%s\n' "$SHARES" | grep -o 'owns [0-9]*' | tr -dc '0-9\n' | sort -n | tail -n 1)"
OBOUND="$(awk -v t="$TOTAL" -v m="${OBOUND:-0}" 'BEGIN { if (m > 0) printf "%.2f", t / (m * 1e6); else print "-" }')"
fi

echo
echo "== bench/cluster.sh: $TOTAL-byte tree, UFS $RATE B/s per connection (link: $LINK), --fetch-concurrency $CONNS =="
printf '(a) 3 nodes cold at once  separate caches: %7.2f s  UFS %6.2fx the tree\n' "$T_SEP" "$(ratio "$U_SEP" "$TOTAL")"
printf '                          one cache:       %7.2f s  UFS %6.2fx the tree   (time %sx of separate)\n' "$T_ONE" "$(ratio "$U_ONE" "$TOTAL")" "$(ratio "$T_ONE" "$T_SEP")"
echo "best of $RUNS runs per side, alternated (A B A B ...), each side its own fresh nodes; medians beside"
printf '(b) load, one node alone:  %7.2f s  UFS %6.2fx the tree   (runs: %s)\n' "$T_LOAD1" "$(ratio "$U_LOAD1" "$TOTAL")" "${l1_times[*]}"
printf '    load, 3 cache nodes:   %7.2f s  UFS %6.2fx the tree   (runs: %s)\n' "$T_LOAD3" "$(ratio "$U_LOAD3" "$TOTAL")" "${l3_times[*]}"
printf '    3 nodes / 1 node:      %sx faster, medians %sx   (target >= 2.5; --block-size %s)\n' "$(ratio "$T_LOAD1" "$T_LOAD3")" \
	"$( ((${#l1_times[@]})) && ratio "$(median "${l1_times[@]}")" "$(median "${l3_times[@]}")" || echo -)" "$BLOCK_B"
printf '    per round (1 / 3):     %s\n' "$(for k in "${!l1_times[@]}"; do printf '%sx ' "$(ratio "${l1_times[$k]}" "${l3_times[$k]}")"; done)"
printf '    last round shares:     %s\n' "$SHARES"
printf '    CPU-s of the link (throttle), one node: %s; three: %s\n' "${tcpu1[*]}" "${tcpu3[*]}"
printf '    CPU-s of the weir-nodes,      one node: %s; three: %s\n' "${ncpu1[*]}" "${ncpu3[*]}"
printf '    bounds: the plan %sx (tree / largest share fetched), placement alone %sx (tree / largest owned)\n' "${BOUND:--}" "${OBOUND:--}"
printf '(c) (--fetch-concurrency %s, near-cache %s, tree listed before each side: %s)\n' "$CONNS_C" "${NEAR_C:-default}" "$([ "$C_META" = warm ] && echo yes || echo 'no (BENCH_C_META=cold)')"
printf '    node %s from peers:    %7.2f s  (%s; runs: %s)\n' "$CLIENT" "$T_PEER" "$(mbps "$TOTAL" "$T_PEER")" "${peer_times[*]}"
printf '    own warm tier:         %7.2f s  (%s; runs: %s)\n' "$T_LOCAL" "$(mbps "$TOTAL" "$T_LOCAL")" "${local_times[*]}"
printf '    peers / local speed:   %sx, medians %sx   (target >= 0.5)\n' "$(ratio "$T_LOCAL" "$T_PEER")" \
	"$( ((${#peer_times[@]})) && ratio "$(median "${local_times[@]}")" "$(median "${peer_times[@]}")" || echo -)"
printf '    per run (peers / local): %s\n' "$(for k in "${!peer_times[@]}"; do printf '%s ' "$(ratio "${local_times[$k]}" "${peer_times[$k]}")"; done)"
for k in "${!cpu_peer[@]}"; do printf '    CPU-s run %d: from peers %s; local %s\n' $((k + 1)) "${cpu_peer[$k]}" "${cpu_local[$k]}"; done
if ((${#base_peer[@]})); then
	printf '    base build (%s), the same runs alternated:\n' "$BASE_BUILD"
	printf '    base from peers:       median %s s (runs: %s)\n' "$(median "${base_peer[@]}")" "${base_peer[*]}"
	printf '    base own warm tier:    median %s s (runs: %s)\n' "$(median "${base_local[@]}")" "${base_local[*]}"
	printf '    base peers / local:    medians %sx; per run: %s\n' "$(ratio "$(median "${base_local[@]}")" "$(median "${base_peer[@]}")")" \
		"$(for k in "${!base_peer[@]}"; do printf '%s ' "$(ratio "${base_local[$k]}" "${base_peer[$k]}")"; done)"
	printf '    this / base, peer read time: medians %sx; per run: %s\n' "$(ratio "$(median "${peer_times[@]}")" "$(median "${base_peer[@]}")")" \
		"$(for k in "${!base_peer[@]}"; do printf '%s ' "$(ratio "${peer_times[$k]}" "${base_peer[$k]}")"; done)"
	for k in "${!base_cpu_peer[@]}"; do printf '    base CPU-s run %d: from peers %s\n' $((k + 1)) "${base_cpu_peer[$k]}"; done
fi
# the most (c) could reach on two cores at its present CPU cost: the local read's wall time over
# the peer read's 2-core bound (every CPU-second of the peer read spread perfectly over both)
if ((${#peer_times[@]})); then
	printf '    2-core bound of the peer read: %s s (median %s); reachable peers / local at most: %s (median %sx)\n' \
		"${bound_peer[*]}" "$(median "${bound_peer[@]}")" \
		"$(for k in "${!peer_times[@]}"; do printf '%sx ' "$(ratio "${local_times[$k]}" "${bound_peer[$k]}")"; done)" \
		"$(ratio "$(median "${local_times[@]}")" "$(median "${bound_peer[@]}")")"
	printf '    2-core bound of the local read: %s s (median %s)\n' "${bound_local[*]}" "$(median "${bound_local[@]}")"
fi
echo "load while measuring: $(uptime)"
