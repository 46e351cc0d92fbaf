#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end (session 12 and 13 reviews): one slow member does not stall a node's reads. Three
# weir-nodes; n2's peer port is a relay (peer_mitm.py --trickle) that sends each block at
# 1.5 KiB/s (85 s a block: past the 60 s timeout, over curl's old 1 KiB/s stall floor). Node 1
# asks n2 for more blocks at once than it has workers (16); then reads files owned by n3 or by
# itself: every one completes byte-exact (cmp), n3 serves blocks, and all before any of n2's
# requests ended (a node whose workers all wait on n2 reads nothing else until its requests to
# n2 fail, and counts them failed first: weir_peer_failed_total). Then node 1's readers of n2's
# files complete byte-exact while the relay still trickles, within 45 s: a transfer under
# node 1's rate floor (64 KiB/s here) is given up after peer-stall-timeout (25 s here) and n2
# marked down, and the requests queued behind it go to the UFS at once (before, each request
# held its worker for the 60 s timeout and the queued ones went to n2 after it: 120 s).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/cluster.sh"

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-e2e-slowpeer.XXXXXX)"
at_exit 'rm -rf "$TMP"'
NF=120 SZ=$((128 * 1024)) SLOW=24 BPS=1536

step "three namespaces; nginx serves $NF files of $SZ bytes (one block each)"
cluster_net_setup 3
TREE="$TMP/tree"
mkdir -p "$TREE"
for k in $(seq -w 1 "$NF"); do rand_file "$TREE/f$k.bin" "$SZ" "s$k"; done
nginx_start "$TMP/nginx" "$TREE" --addr "$CL_SUBNET.1"
ok "nginx (pid $NGINX_PID) at $NGINX_URL"

step "nodes n1 n2 n3; n2's weir-node listens on port $((PEER_PORT + 1)), behind a relay at its member address"
KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cluster_nodes 1 2 3
for i in 1 2 3; do node_setup "$i" "$TMP/n$i" "$KEY"; done
sed -i "s/^peer-listen = .*/peer-listen = $(ip_of 2):$((PEER_PORT + 1))/" "${STATE[2]}/node.conf"
# node 1 gives a transfer under its floor 25 s (default 10): room for the steps that read while
# n2's share of its workers is held
STALL=25
echo "peer-stall-timeout = $STALL" >>"${STATE[1]}/node.conf"
relay() { # LOG MODE...: starts the relay at n2's member address, logging to LOG
	local log="$1"
	shift
	nsenter --net="/run/netns/${CL_TAG}n2" python3 "$here/../helpers/peer_mitm.py" "$(ip_of 2)" "$PEER_PORT" "http://$(ip_of 2):$((PEER_PORT + 1))" "$@" >"$log" 2>&1 &
	RELAY=$!
	pid_track "$RELAY"
	at_exit "pid_stop $RELAY"
	until_ok 10 "the relay listening ($(cat "$log" 2>/dev/null))" grep -q "mitm: listening" "$log"
}
relay "$TMP/relay.log" --pass
for i in 1 2 3; do mount_on "$i" "$NGINX_URL"; done
ok "mounted on n1 n2 n3"

step "which files n2 owns: node 3 reads every file, its requests to n2 pass the relay"
for k in $(seq -w 1 "$NF"); do cmp "${MP[3]}/f$k.bin" "$TREE/f$k.bin" || fail "node 3 read f$k.bin wrong"; done
owned2=()
others=()
for k in $(seq -w 1 "$NF"); do
	if grep -qiE "^mitm: passed 200 .*path=(%2F|/)f$k\.bin&" "$TMP/relay.log"; then owned2+=("f$k.bin"); else others+=("f$k.bin"); fi
done
note "n2 owns ${#owned2[@]} of the $NF files"
[ "${#owned2[@]}" -gt "$SLOW" ] || fail "n2 owns ${#owned2[@]} files; the test needs more than $SLOW (relay: $(head -c 600 "$TMP/relay.log"))"
[ "${#others[@]}" -ge 20 ] || fail "n1 and n3 own ${#others[@]} files; the test needs 20"
pid_stop "$RELAY"
relay "$TMP/trickle.log" --trickle "$BPS"
ok "n2 owns ${#owned2[@]}, n1 and n3 ${#others[@]}; the relay now trickles at $BPS B/s"

step "node 1 reads $SLOW of n2's files at once: more requests to n2 than node 1 has workers"
mkdir -p "$TMP/out"
t0=$(date +%s)
pids=()
for f in "${owned2[@]:0:$SLOW}"; do
	timeout -k 5 200 cat "${MP[1]}/$f" >"$TMP/out/$f" &
	pids+=($!)
	pid_track "$!"
done
# n2's share is 8 of node 1's 16 workers; on a loaded machine (a CI run) fewer may have reached
# the relay in 12 s, and the steps below still check that nothing waits behind them. The count
# is in the output. Node 1 gives up its first request to n2 $STALL s after it began.
for i in $(seq 1 48); do
	[ "$(grep -c 'trickle start' "$TMP/trickle.log" || true)" -ge 8 ] && break
	sleep 0.25
done
sleep 2 # node 1's other requests to n2 begin, or wait their turn
started=$(grep -c 'trickle start' "$TMP/trickle.log" || true)
[ "$started" -ge 1 ] || fail "no request of node 1 reached n2 in 14 s: the test cannot show anything"
# what the relay saw, for a run with fewer: requests that came (asked), answers not trickled
# (an error status passes untouched; "upstream failed"), and node 1's failed count
[ "$started" -ge 8 ] || note "only $started of n2's 8-request share under way: $(grep -c 'mitm: asked' "$TMP/trickle.log" || true) came to the relay, node 1 counts $(metric 1 weir_peer_failed_total) failed; relay: $(grep -v 'mitm: asked\|mitm: trickle' "$TMP/trickle.log" | head -c 800)"
note "n2 sends $started blocks to node 1 at $BPS B/s"
! grep -q 'trickle end' "$TMP/trickle.log" && [ "$(metric 1 weir_peer_failed_total)" -eq 0 ] ||
	fail "a request to n2 ended already: the test's timing assumption (node 1 gives one up after $STALL s) does not hold"
ok "$started requests to n2 in flight"

step "meanwhile node 1 reads ${#others[@]} files owned by n3 or by itself: all byte-exact, before any request to n2 ended"
out3=$(metric 3 weir_peer_out_bytes_total)
opids=()
for f in "${others[@]}"; do
	timeout -k 5 200 cat "${MP[1]}/$f" >"$TMP/out/$f" &
	opids+=($!)
	pid_track "$!"
done
k=0
for p in "${opids[@]}"; do
	wait "$p" || fail "reading ${others[$k]} on node 1 failed"
	k=$((k + 1))
done
# node 1 counts a request to n2 that timed out (weir_peer_failed_total) before its worker takes
# the next one: a count above 0 here means these reads waited for n2's requests to end
failed=$(metric 1 weir_peer_failed_total)
ended=$(grep -c 'trickle end' "$TMP/trickle.log" || true)
[ "$failed" -eq 0 ] && [ "$ended" -eq 0 ] || fail "node 1 read the files of n3 and its own only after $failed of its requests to the slow n2 failed ($ended trickles ended): they waited behind them"
for f in "${others[@]}"; do cmp "$TMP/out/$f" "$TREE/$f" || fail "$f read on node 1 differs from the server's"; done
got3=$(($(metric 3 weir_peer_out_bytes_total) - out3))
note "n3 sent $got3 bytes to node 1 meanwhile"
[ "$got3" -gt 0 ] || fail "n3 sent node 1 nothing: none of its blocks were read from it"
ok "${#others[@]} files byte-exact while n2 trickled ($got3 bytes from n3)"

step "node 1's readers of n2's files complete byte-exact while the relay still trickles, well within the 60 s peer timeout"
k=0
for p in "${pids[@]}"; do
	wait "$p" || fail "reading ${owned2[$k]} on node 1 failed while the slow peer trickled"
	cmp "$TMP/out/${owned2[$k]}" "$TREE/${owned2[$k]}" || fail "${owned2[$k]} read on node 1 differs"
	k=$((k + 1))
done
took=$(($(date +%s) - t0))
kill -0 "$RELAY" 2>/dev/null || fail "the relay stopped: the reads did not outlast a trickling peer"
failed=$(metric 1 weir_peer_failed_total)
note "all $SLOW read in $took s; node 1 counts $failed failed peer requests"
[ "$took" -le 45 ] || fail "node 1's readers of n2's files took $took s: a trickling peer held them for its whole timeout (60 s) or more"
[ "$failed" -ge 1 ] || fail "node 1 counts no failed request to the trickling n2"
ok "all $SLOW byte-exact in $took s (peer-stall-timeout $STALL s)"
