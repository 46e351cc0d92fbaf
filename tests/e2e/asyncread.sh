#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end, READs of tier misses hold no thread while their blocks are fetched (issue 10):
# 32 readers of 32 cold files against a slow (rate-limited) nginx; while they wait, weir-node's
# thread count stays about what it was (a READ parks at the fetcher and its reply comes from the
# view's two reply threads), where it used to grow by one libfuse worker per waiting READ. Every
# byte read is compared with the source. Then a forced unmount with READs parked: their readers
# end, and weir-node lives on past the end of the fetches they waited for.
#   ASYNCREAD_READERS (default 32)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"
. "$here/../helpers/nginx.sh"

weir_test_setup e2e-asyncread
N="${ASYNCREAD_READERS:-32}"
MP="$TMP/mnt"

step "nginx at 32 KiB/s a connection, serving $N files of 160 KiB (one block each)"
TREE="$TMP/tree"
mkdir -p "$TREE"
for i in $(seq 1 "$N"); do
	head -c $((160 * 1024 + i)) /dev/urandom >"$TREE/f$i"
done
head -c 1000 /dev/urandom >"$TREE/warm"
for i in 1 2 3 4 5 6; do # for the unmount below
	head -c $((256 * 1024 + i)) /dev/urandom >"$TREE/s$i"
done
nginx_start "$TMP/nginx" "$TREE" --limit-rate 32k
weir_mount "$NGINX_URL" "$MP" --tier "mem:$WEIR_TIER_DIR/mem:256MiB" --fetch-concurrency 64
pid="$(weir_node_pid)"
[ -n "$pid" ] || fail "no weir-node running after the mount"
cmp "$TREE/warm" "$MP/warm" || fail "warm differs from the source"
ls "$MP" >/dev/null
# The view's FUSE connection lets 24 read-ahead READs be in flight, unasked read-ahead stopping
# past 9 (fuse/view.c op_init): at the kernel's 12, a streaming reader kept them all and a random
# reader's read waited for one.
mountpoint -q /sys/fs/fuse/connections || mount -t fusectl fusectl /sys/fs/fuse/connections ||
	fail "cannot mount fusectl on /sys/fs/fuse/connections (needed to read the view's FUSE connection)"
conn="$(conn_id "$MP")"
[ -r "/sys/fs/fuse/connections/$conn/max_background" ] ||
	fail "no FUSE connection $conn in /sys/fs/fuse/connections for $MP ($(ls /sys/fs/fuse/connections | tr '\n' ' '))"
bg="$(cat "/sys/fs/fuse/connections/$conn/max_background")"
ct="$(cat "/sys/fs/fuse/connections/$conn/congestion_threshold")"
[ "$bg" = 24 ] && [ "$ct" = 9 ] || fail "the view's FUSE connection has max_background $bg, congestion_threshold $ct: expected 24 and 9"
note "FUSE connection $conn: max_background $bg, congestion_threshold $ct"
threads() { find "/proc/$pid/task" -mindepth 1 -maxdepth 1 | wc -l; }
sleep 1
base="$(threads)"
ok "weir-node $pid has $base threads with the view idle"

step "$N readers of cold files at once: weir-node's threads while they wait"
readers=()
for i in $(seq 1 "$N"); do
	timeout 120 cat "$MP/f$i" >"$TMP/out$i" 2>"$TMP/err$i" &
	readers+=("$!")
done
# a file takes 5 s at the limited rate: sample while every reader waits
peak="$base"
for _ in $(seq 1 15); do
	sleep 0.2
	t="$(threads)"
	[ "$t" -gt "$peak" ] && peak="$t"
done
pending="$(for i in $(seq 1 "$N"); do [ -s "$TMP/out$i" ] || echo "$i"; done | wc -l)"
note "threads: $base idle, $peak at most while readers waited ($pending of $N readers still without a byte)"
[ "$pending" -ge $((N / 2)) ] || fail "only $pending of $N readers were still waiting when the threads were counted: the source was not slow enough to test anything"
# the readers only: nginx runs in the background too
for p in "${readers[@]}"; do
	wait "$p" || true
done
grow=$((peak - base))
# libfuse keeps idle workers and may start a few when READs come in a burst; one per waiting
# READ (the old blocking read) is N
[ "$grow" -lt $((N / 3)) ] || fail "weir-node grew by $grow threads ($base -> $peak) while $pending READs waited for their blocks: a thread per waiting READ"
ok "weir-node grew by $grow threads ($base -> $peak) for $pending waiting READs"

step "every byte the readers got is the source's"
for i in $(seq 1 "$N"); do
	cmp "$TREE/f$i" "$TMP/out$i" || fail "f$i read through the view differs from the source ($(cat "$TMP/err$i"))"
done
ok "$N files read, all bytes the source's"

step "weir-node's threads are named by role, each in its class (lib/thread_class.h)"
# policy 0 SCHED_OTHER (the request class: a hit's FUSE worker), 3 SCHED_BATCH (bulk work)
declare -A want_policy=([weir-fuse]=0 [weir-reply]=3 [weir-uring]=3 [weir-store]=3 [weir-evict]=3 [weir-http]=3)
for name in "${!want_policy[@]}"; do
	seen=0
	for t in /proc/"$pid"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "$name" ] || continue
		# /proc/TID/stat field 41 is the policy (the name holds no space or ')' here); a
		# worker that ended meanwhile has none
		policy="$(awk '{ print $41 }' "$t/stat" 2>/dev/null)" || continue
		[ -n "$policy" ] || continue
		seen=$((seen + 1))
		[ "$policy" = "${want_policy[$name]}" ] ||
			fail "thread $(basename "$t") \"$name\" runs at policy $policy, not ${want_policy[$name]}"
	done
	[ "$seen" -gt 0 ] || fail "weir-node $pid has no thread named $name: $(cat /proc/"$pid"/task/*/comm | sort | uniq -c | tr '\n' ' ')"
done
ok "$(cat /proc/"$pid"/task/*/comm | sort | uniq -c | awk '{ printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1 }')"

step "weir umount --force while READs are parked at the fetcher: they end, weir-node lives on"
readers=()
for i in 1 2 3 4 5 6; do
	timeout 60 cat "$MP/s$i" >/dev/null 2>"$TMP/serr$i" &
	readers+=("$!")
done
sleep 1.5 # each takes 8 s at the limited rate: all wait now
started="$(grep -c 'GET /s' "$NGINX_ACCESS_LOG" || true)"
t0="$(date +%s%N)"
w umount --force "$MP" >/dev/null || fail "weir umount --force $MP failed"
note "weir umount --force took $((($(date +%s%N) - t0) / 1000000)) ms"
for p in "${readers[@]}"; do
	rc=0
	wait "$p" || rc=$?
	[ "$rc" -ne 124 ] || fail "a reader of a file whose view was unmounted hung for 60 s"
done
# the fetches the parked READs waited for go on without them: weir-node must survive their end
for _ in $(seq 1 200); do
	[ "$(grep -c 'GET /s' "$NGINX_ACCESS_LOG" || true)" -ge 6 ] && break
	sleep 0.1
done
sleep 0.5
pid_alive "$pid" || fail "weir-node $pid died after the unmount with READs parked (log: $WEIR_STATE/node.log)"
w stat >/dev/null || fail "weir-node $pid does not answer after the unmount with READs parked"
! grep -E "READ of unknown|Bad address" "$WEIR_STATE/node.log" || fail "weir-node logged the above after the unmount"
ok "readers ended, weir-node $pid alive and answering ($started fetches had ended when the view went)"
