#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end (issue 10, no lock across I/O): weir-node opens a source and mounts a view without
# holding a node-wide lock, so a UFS that stalls delays only the requests for that source:
# - while the open of source A hangs on faultsrv, a mount of source B completes in about its
#   normal time, an unmount of another view and weir stat answer too;
# - two mounts of A made at once share one open (one probe of A reaches the server, one "opened
#   source" in the log) and both show A's bytes (cmp);
# - an unmount of a mountpoint whose mount is under way waits for that mount and then unmounts
#   it: both answer 0 and nothing stays mounted;
# - when the shared open fails, every mount that waited for it gets its error, without asking
#   the server again.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"
. "$here/../helpers/pyserver.sh"

weir_test_setup e2e-concurrency
TIERS="mem:$WEIR_TIER_DIR/mem:1GiB"
echo "weir: $WEIR_BIN; weir-node: $WEIR_NODE_BIN; work dir: $TMP"

TREE="$TMP/tree"
for d in a b c d e; do
	mkdir -p "$TREE/$d"
	rand_file "$TREE/$d/f.bin" 3000000 "concurrency-$d"
done
mkdir -p "$TMP/local"
echo "a local view" >"$TMP/local/hello"

step "start the fault-injecting server"
faultsrv_start "$TREE" "$TMP/faultsrv"
ok "faultsrv serves $TREE at $FS_URL"

# Background mounts and unmounts: their pids, outputs in $TMP/bg.<name>.{out,rc}.
declare -A BG_PID
bg() {
	local name="$1"
	shift
	rm -f "$TMP/bg.$name.rc"
	(
		rc=0
		timeout -k 5 120 "$WEIR_BIN" --state-dir "$WEIR_STATE" "$@" </dev/null \
			>"$TMP/bg.$name.out" 2>&1 || rc=$?
		echo "$rc" >"$TMP/bg.$name.rc"
	) &
	BG_PID[$name]=$!
	pid_track "${BG_PID[$name]}"
}
bg_running() { [ ! -e "$TMP/bg.$1.rc" ]; }
bg_wait() {
	local name="$1" i
	for i in $(seq 1 600); do bg_running "$name" || break; sleep 0.05; done
	bg_running "$name" && fail "weir ${name} did not finish in 30 s: $(cat "$TMP/bg.$name.out")"
	wait "${BG_PID[$name]}" 2>/dev/null || true
	BG_RC="$(cat "$TMP/bg.$name.rc")"
	BG_OUT="$(cat "$TMP/bg.$name.out")"
}
stalls() { grep -c "^STALL [A-Z]* /$1/" "$FS_LOG" || true; }
wait_stall() {
	local i
	for i in $(seq 1 200); do [ "$(stalls "$1")" -ge 1 ] && return 0; sleep 0.05; done
	fail "no request for /$1/ reached faultsrv in 10 s (log: $(tail -n 5 "$FS_LOG"))"
}
at_exit 'curl -sf -X POST --data "{\"stall\": []}" "$FS_URL/__ctl__" >/dev/null 2>&1; true'

step "weir-node up with a local view; the normal time of a mount of a fresh HTTP source"
weir_mount "local://$TMP/local" "$TMP/mp-local" --tier "$TIERS"
t0="$(now)"
weir_mount "$FS_URL/c/" "$TMP/mp-c" --tier "$TIERS" --metadata-ttl 1
t1="$(now)"
NORMAL="$(elapsed "$t0" "$t1")"
cmp "$TREE/c/f.bin" "$TMP/mp-c/f.bin"
ok "source c mounted in $NORMAL s (cmp equal)"

step "source a stalls on open; two mounts of it are made at once"
knob '{"stall": ["/a/", "/d/"]}'
mkdir -p "$TMP/mp-a1" "$TMP/mp-a2" "$TMP/mp-b" "$TMP/mp-d"
WEIR_MOUNTS+=("$TMP/mp-a1" "$TMP/mp-a2" "$TMP/mp-b" "$TMP/mp-d")
bg a1 mount "$FS_URL/a/" "$TMP/mp-a1" --tier "$TIERS" --metadata-ttl 1
bg a2 mount "$FS_URL/a/" "$TMP/mp-a2" --tier "$TIERS" --metadata-ttl 1
wait_stall a
sleep 1
bg_running a1 && bg_running a2 || fail "a mount of the stalled source a returned: $(cat "$TMP"/bg.a?.out)"
[ "$(stalls a)" -eq 1 ] || fail "two mounts of a made $(stalls a) requests to the stalled server; one open should serve both"
ok "both mounts of a wait; one request of theirs reached the server"

step "while a stalls: a mount of source b, an unmount of another view, weir stat"
t0="$(now)"
bg b mount "$FS_URL/b/" "$TMP/mp-b" --tier "$TIERS" --metadata-ttl 1
bg_wait b
t1="$(now)"
B_TIME="$(elapsed "$t0" "$t1")"
[ "$BG_RC" -eq 0 ] || fail "weir mount of b failed while a stalls (rc $BG_RC): $BG_OUT"
bg_running a1 && bg_running a2 || fail "a's mounts returned before a's server answered"
is_mounted "$TMP/mp-b" || fail "weir mount of b answered 0 but $TMP/mp-b is not mounted"
cmp "$TREE/b/f.bin" "$TMP/mp-b/f.bin"
# generous: the point is that b does not wait for a, which stays stalled for as long as we like
awk -v b="$B_TIME" -v n="$NORMAL" 'BEGIN { exit !(b <= n + 5) }' ||
	fail "the mount of b took $B_TIME s while a stalled; alone it takes about $NORMAL s"
t0="$(now)"
w umount "$TMP/mp-c" >"$TMP/umount-c.out" 2>&1 || fail "weir umount of c failed while a stalls: $(cat "$TMP/umount-c.out")"
t1="$(now)"
! is_mounted "$TMP/mp-c" || fail "$TMP/mp-c is still mounted"
w stat >"$TMP/stat.out" 2>&1 || fail "weir stat failed while a stalls: $(cat "$TMP/stat.out")"
grep -q "$TMP/mp-b" "$TMP/stat.out" || fail "weir stat does not list $TMP/mp-b: $(cat "$TMP/stat.out")"
bg_running a1 && bg_running a2 || fail "a's mounts returned before a's server answered"
ok "b mounted in $B_TIME s (alone: $NORMAL s), c unmounted in $(elapsed "$t0" "$t1") s, stat answered, a still stalled"

step "an unmount of d while its mount waits for the stalled source"
bg d mount "$FS_URL/d/" "$TMP/mp-d" --tier "$TIERS" --metadata-ttl 1
wait_stall d
bg ud umount "$TMP/mp-d"
sleep 1
bg_running d || fail "the mount of d returned while d's server stalls: $(cat "$TMP/bg.d.out")"
bg_running ud || fail "the unmount of d (being mounted) answered before the mount finished: $(cat "$TMP/bg.ud.out")"
ok "the unmount of d waits for its mount"

step "a's and d's server answers again"
knob '{"stall": []}'
bg_wait a1
[ "$BG_RC" -eq 0 ] || fail "weir mount a1 failed (rc $BG_RC): $BG_OUT"
bg_wait a2
[ "$BG_RC" -eq 0 ] || fail "weir mount a2 failed (rc $BG_RC): $BG_OUT"
cmp "$TREE/a/f.bin" "$TMP/mp-a1/f.bin"
cmp "$TREE/a/f.bin" "$TMP/mp-a2/f.bin"
src_a="$(grep -c "opened source [0-9a-f]* ($FS_URL/a/)" "$WEIR_STATE/node.log" || true)"
[ "$src_a" -eq 1 ] || fail "weir-node opened source a $src_a times for two concurrent mounts (node.log)"
grep -q "at \"$TMP/mp-a[12]\" .*sharing the source's cache" "$WEIR_STATE/node.log" ||
	fail "neither view of a says it shares the source's cache (node.log)"
ok "both views of a mounted from one open of its source; cmp equal"
bg_wait d
[ "$BG_RC" -eq 0 ] || fail "weir mount of d failed (rc $BG_RC): $BG_OUT"
bg_wait ud
[ "$BG_RC" -eq 0 ] || fail "weir umount of d (waited for its mount) failed (rc $BG_RC): $BG_OUT"
! is_mounted "$TMP/mp-d" || fail "$TMP/mp-d is mounted after its unmount answered 0"
grep -q "unmounting \"$TMP/mp-d\"" "$WEIR_STATE/node.log" || fail "weir-node did not log the unmount of d"
ok "d was mounted, then unmounted by the request that waited for it"

step "a shared open that fails: both mounts of e get its error; the server is asked once"
knob '{"stall": ["/e/"]}'
mkdir -p "$TMP/mp-e1" "$TMP/mp-e2"
WEIR_MOUNTS+=("$TMP/mp-e1" "$TMP/mp-e2")
bg e1 mount "$FS_URL/e/" "$TMP/mp-e1" --tier "$TIERS" --metadata-ttl 1
bg e2 mount "$FS_URL/e/" "$TMP/mp-e2" --tier "$TIERS" --metadata-ttl 1
wait_stall e
sleep 1
[ "$(stalls e)" -eq 1 ] || fail "two mounts of e made $(stalls e) requests to the stalled server"
knob '{"stall": [], "status": {"/e/": 404}}'
bg_wait e1
[ "$BG_RC" -ne 0 ] || fail "weir mount e1 of a source whose server answers 404 returned 0"
grep -q "404" <<<"$BG_OUT" || fail "weir mount e1 failed without the server's answer: $BG_OUT"
E1_OUT="$BG_OUT"
bg_wait e2
[ "$BG_RC" -ne 0 ] || fail "weir mount e2 of a source whose server answers 404 returned 0"
[ "$BG_OUT" = "$E1_OUT" ] || fail "the two mounts of e failed differently: \"$E1_OUT\" and \"$BG_OUT\""
# the stalled request's own answer is the one line; a second open would add another
asked="$(grep -cE "^(GET|HEAD) /e/" "$FS_LOG" || true)"
[ "$asked" -eq 1 ] || fail "two mounts of e sent $asked requests to the server, not one: $(grep "/e/" "$FS_LOG")"
! is_mounted "$TMP/mp-e1" && ! is_mounted "$TMP/mp-e2" || fail "a mount of e is mounted after its open failed"
ok "both failed with: $E1_OUT"
