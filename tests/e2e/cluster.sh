#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end (issue 15): one cache across three weir-nodes. The test makes three network
# namespaces on a bridge of its own (addresses it picks), one weir-node in each with its own state
# directory and tier, and nginx on the bridge as the UFS. A full read of the tree through a view
# on every node, all at once, makes nginx serve each byte once (access log) and every copy is
# byte-exact; a node killed mid-read leaves the readers of another node without an error and with
# the right bytes; a node with another key is refused by its peers (and still reads, from the
# UFS); forged, stale and hostile block requests are refused; every signed reply's MAC is checked
# by a second implementation (peer_request.py, python3-cryptography's Poly1305); a relay that
# flips a byte of a block and rewrites its XXH3 is caught by the reply's MAC alone.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/cluster.sh"

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-e2e-cluster.XXXXXX)"
at_exit 'rm -rf "$TMP"'

step "a bridge $CL_BR ($CL_SUBNET.1/24) and three network namespaces with veth pairs on it"
cluster_net_setup 3
ok "three namespaces at $(ip_of 1), $(ip_of 2), $(ip_of 3)"

step "a tree of files that do and do not end on a block boundary, served by nginx on the bridge"
TREE="$TMP/tree"
mkdir -p "$TREE/sub/deeper"
rand_file "$TREE/a.bin" $((20 * 1048576 + 123)) a
rand_file "$TREE/b.bin" $((13 * 1048576 + 7)) b
rand_file "$TREE/c.bin" $((4 * 1048576)) c
rand_file "$TREE/sub/d.bin" $((9 * 1048576 + 1)) d
rand_file "$TREE/sub/deeper/e.bin" 70000 e
rand_file "$TREE/sub/f.bin" 1 f
TOTAL=$(($(find "$TREE" -type f -printf '%s+') 0))
NFILES=$(find "$TREE" -type f | wc -l)
nginx_start "$TMP/nginx" "$TREE" --addr "$CL_SUBNET.1"
for i in 1 2 3; do
	on "$i" curl -fsS -o /dev/null --max-time 5 "$NGINX_URL" || fail "node $i ($(ip_of "$i")) cannot reach nginx at $NGINX_URL"
done
: >"$NGINX_ACCESS_LOG"
ok "nginx (pid $NGINX_PID) serves $NFILES files, $TOTAL bytes at $NGINX_URL; every namespace reaches it"

step "three weir-nodes, one per namespace, each with its own state directory and tier, one key"
KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cluster_nodes 1 2 3
for i in 1 2 3; do node_setup "$i" "$TMP/n$i" "$KEY" "prefetch-max = 8MiB"; done
for i in 1 2 3; do mount_on "$i" "$NGINX_URL"; done
ok "nodes n1 n2 n3 mounted $NGINX_URL (weir-node pids $(weir_node_pid "${STATE[1]}") $(weir_node_pid "${STATE[2]}") $(weir_node_pid "${STATE[3]}"))"

step "all three read the whole tree at once: nginx serves each byte once"
: >"$NGINX_ACCESS_LOG"
copy_at_once "$TMP/copy" 1 2 3
ok "every file of every copy equals the server's (cmp, $NFILES files x 3)"
UFS=$(ufs_body_bytes)
note "nginx sent $UFS object bytes for a tree of $TOTAL bytes read on 3 nodes"
[ "$UFS" -eq "$TOTAL" ] || {
	grep -v '/ HTTP' "$NGINX_ACCESS_LOG" | sort -k4 | head -40 >&2
	fail "nginx served $UFS object bytes for a $TOTAL-byte tree read on three nodes: each byte must be fetched once per cluster"
}
in_sum=0 out_sum=0 node_ufs=0
for i in 1 2 3; do
	pin=$(metric "$i" weir_peer_in_bytes_total)
	pout=$(metric "$i" weir_peer_out_bytes_total)
	u=$(metric "$i" weir_source_ufs_fetched_bytes_total)
	note "node $i: UFS $u bytes, from peers $pin, to peers $pout"
	[ "$pin" -gt 0 ] && [ "$pout" -gt 0 ] || fail "node $i exchanged no bytes with its peers (in $pin, out $pout)"
	in_sum=$((in_sum + pin)) out_sum=$((out_sum + pout)) node_ufs=$((node_ufs + u))
done
[ "$in_sum" -eq "$out_sum" ] || fail "peers received $in_sum bytes but sent $out_sum"
[ "$node_ufs" -eq "$TOTAL" ] || fail "the nodes say they fetched $node_ufs bytes from the UFS; nginx sent $TOTAL"
ok "UFS bytes = 1.00x the tree; $in_sum bytes went between peers, as much sent as received"

step "weir top shows each node's UFS and peer bytes, as /metrics does"
for i in 1 2 3; do
	timeout 30 "$WEIR_BIN" --state-dir "${STATE[$i]}" top --once -o json >"$TMP/top$i.json" || fail "weir top --once -o json on node $i failed"
	[ "$(json_get "$TMP/top$i.json" cluster node)" = "n$i" ] || fail "weir top on node $i names another node: $(cat "$TMP/top$i.json")"
	[ "$(json_get "$TMP/top$i.json" cluster members)" = 3 ] || fail "weir top on node $i does not count 3 members"
	[ "$(json_get "$TMP/top$i.json" cluster peer_in_bytes)" = "$(metric "$i" weir_peer_in_bytes_total)" ] ||
		fail "weir top and /metrics disagree on node $i's bytes from peers"
	[ "$(json_get "$TMP/top$i.json" cluster ufs_bytes)" = "$(metric "$i" weir_source_ufs_fetched_bytes_total)" ] ||
		fail "weir top and /metrics disagree on node $i's UFS bytes"
	timeout 30 "$WEIR_BIN" --state-dir "${STATE[$i]}" top --once | grep -q "^cluster: node n$i of 3 — UFS" ||
		fail "weir top --once on node $i has no cluster line"
done
ok "weir top (text and JSON) agrees with /metrics on every node"

step "hostile block requests to node 2's peer port are refused"
SRC_ID="$(ls "${STATE[2]}/stores")"
[ -n "$SRC_ID" ] && [ -f "${STATE[2]}/stores/$SRC_ID/url" ] || fail "no source id under ${STATE[2]}/stores"
A_SIZE=$(stat -c %s "$TREE/a.bin") A_MTIME=$(stat -c %Y "$TREE/a.bin")
A_ETAG="$(printf '"%x-%x"' "$A_MTIME" "$A_SIZE")"
N2="http://$(ip_of 2):$PEER_PORT"
printf '%s\n' "$KEY" >"$TMP/key" && chmod 600 "$TMP/key"
printf '%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$TMP/wrongkey"
refused0=$(metric 2 weir_peer_refused_total)
# req URL ...: peer_request.py, addressed (--to) to the node at URL, as a member signs it
req() {
	local to="" i
	for i in 1 2 3; do [ "$1" = "http://$(ip_of "$i"):$PEER_PORT" ] && to="n$i"; done
	[ -n "$to" ] || fail "req: $1 is no node's peer URL"
	python3 "$here/../helpers/peer_request.py" "$@" --to "$to"
}
expect_status() {
	local want="$1" what="$2" got
	shift 2
	got="$(req "$@")" || fail "peer_request.py failed for: $what"
	[ "$got" = "$want" ] || fail "$what: node 2 answered $got, expected $want"
	ok "$what: $got"
}
expect_status 200 "a signed request for block 1 of /a.bin" "$N2" "$TMP/key" n1 "$SRC_ID" /a.bin 1 "$A_SIZE" "$A_MTIME" "$A_ETAG" --out "$TMP/block1"
cmp "$TMP/block1" <(dd if="$TREE/a.bin" bs=4M skip=1 count=1 2>/dev/null) || fail "the block node 2 served differs from bytes 4-8 MiB of a.bin"
ok "the block served equals the file's bytes (cmp)"
# reply MAC v3 (daemon/peer_auth.h): asked for, it is what this build answers, checked by a second
# implementation; asked twice, the second tag comes from the owner's memo of body hashes; a
# requester of an older build (no X-Weir-Reply-Mac) still gets v2, and both carry the same bytes
expect_status 200 "a v3 requester: the reply is tagged v3" "$N2" "$TMP/key" n1 "$SRC_ID" /a.bin 1 "$A_SIZE" "$A_MTIME" "$A_ETAG" --reply-mac v3 --out "$TMP/block1v3"
expect_status 200 "a v3 requester twice (the memo's hash): both tagged v3, fresh nonces" "$N2" "$TMP/key" n1 "$SRC_ID" /a.bin 1 "$A_SIZE" "$A_MTIME" "$A_ETAG" --reply-mac v3 --twice
expect_status 200 "a v2-only requester after them: still answered v2" "$N2" "$TMP/key" n1 "$SRC_ID" /a.bin 1 "$A_SIZE" "$A_MTIME" "$A_ETAG" --out "$TMP/block1v2"
cmp "$TMP/block1v3" "$TMP/block1" && cmp "$TMP/block1v2" "$TMP/block1" || fail "v2 and v3 replies carry different bytes"
ok "v2 and v3 replies carry the same bytes (cmp)"
expect_status 403 "the same with another key" "$N2" "$TMP/wrongkey" n1 "$SRC_ID" /a.bin 1 "$A_SIZE" "$A_MTIME" "$A_ETAG"
expect_status 403 "a name that is not a member" "$N2" "$TMP/key" n9 "$SRC_ID" /a.bin 1 "$A_SIZE" "$A_MTIME" "$A_ETAG"
# the shared key proves only that some member asks: under n1's name a request must be signed by
# n1's identity (the peers list's ;id=), not by none nor by n3's, which holds the same key
sleep 1.1 # refusals are logged once a second
expect_status 403 "n1's name, the cluster key, no identity signature" "$N2" "$TMP/key" n1 "$SRC_ID" /a.bin 1 "$A_SIZE" "$A_MTIME" "$A_ETAG" --no-id
sleep 1.1 # refusals are logged once a second
expect_status 403 "n1's name, the cluster key, signed by n3's identity" "$N2" "$TMP/key" n1 "$SRC_ID" /a.bin 1 "$A_SIZE" "$A_MTIME" "$A_ETAG" --id-key "$CL_IDS/n3.key"
grep -q 'claiming to be node "n1": no X-Weir-Id-Sig' "${STATE[2]}/node.log" ||
	fail "node 2's log does not say the request under n1's name had no identity signature"
grep -q "claiming to be node \"n1\": its X-Weir-Id-Sig is not that member's identity's signature" "${STATE[2]}/node.log" ||
	fail "node 2's log does not say the request signed by n3's identity is not n1's"
expect_status 200 "n3's own name with n3's identity" "$N2" "$TMP/key" n3 "$SRC_ID" /a.bin 1 "$A_SIZE" "$A_MTIME" "$A_ETAG"
st="$(python3 "$here/../helpers/peer_request.py" "$N2" "$TMP/key" n1 "$SRC_ID" /a.bin 1 "$A_SIZE" "$A_MTIME" "$A_ETAG" --to n3)"
[ "$st" = 403 ] || fail "a request n1 addressed to n3, sent to node 2, got $st, expected 403"
ok "a request addressed to n3, sent to node 2: 403"
expect_status 403 "a MAC of all zeros" "$N2" "$TMP/key" n1 "$SRC_ID" /a.bin 1 "$A_SIZE" "$A_MTIME" "$A_ETAG" --mac "$(printf '0%.0s' $(seq 64))"
expect_status 403 "a request signed 10 minutes ago (replay)" "$N2" "$TMP/key" n1 "$SRC_ID" /a.bin 1 "$A_SIZE" "$A_MTIME" "$A_ETAG" --skew -600
expect_status 400 "a signed request for ../ outside the tree" "$N2" "$TMP/key" n1 "$SRC_ID" /../../etc/passwd 0 100 0 ""
expect_status 404 "a signed request for a source node 2 has not open" "$N2" "$TMP/key" n1 0000000000000000 /a.bin 1 "$A_SIZE" "$A_MTIME" "$A_ETAG"
expect_status 412 "a signed request for another version of /a.bin" "$N2" "$TMP/key" n1 "$SRC_ID" /a.bin 1 "$A_SIZE" "$A_MTIME" '"other"'
expect_status 416 "a signed request past the object's last block" "$N2" "$TMP/key" n1 "$SRC_ID" /a.bin 99 "$A_SIZE" "$A_MTIME" "$A_ETAG"
st="$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$N2/v1/block?source=$SRC_ID&path=/a.bin&block=0&size=$A_SIZE&mtime=$A_MTIME&etag=x")"
[ "$st" = 400 ] || fail "an unsigned request got $st from node 2, expected 400"
ok "an unsigned request: 400"
refused=$(($(metric 2 weir_peer_refused_total) - refused0))
[ "$refused" -eq 7 ] || fail "node 2 counts $refused refused requests in weir_peer_refused_total, expected the 7 with a bad MAC, name, identity, addressee or time"
ok "node 2 counted the 7 refusals"
# pushed blocks (PUT /v1/block, what a load's less busy node hands a block's owner): only the
# owner takes one, only signed, only with the bytes the MAC covers
expect_status 403 "a block pushed with another key" "$N2" "$TMP/wrongkey" n1 "$SRC_ID" /a.bin 1 "$A_SIZE" "$A_MTIME" "$A_ETAG" --push "$TMP/block1"
answers=""
for i in 1 2 3; do
	answers+="$(req "http://$(ip_of "$i"):$PEER_PORT" "$TMP/key" n1 "$SRC_ID" /a.bin 1 "$A_SIZE" "$A_MTIME" "$A_ETAG" --push "$TMP/block1" --flip) " ||
		fail "peer_request.py --push failed for node $i"
done
[ "$(tr ' ' '\n' <<<"$answers" | sort | tr '\n' ' ')" = " 400 421 421 " ] ||
	fail "a spoiled block pushed to each node got \"$answers\": expected 400 from its owner (bytes fail their MAC) and 421 from the two others"
ok "a spoiled block pushed to each node: $answers(its owner finds the bytes wrong, the others do not own it)"
for i in 1 2 3; do
	st="$(req "http://$(ip_of "$i"):$PEER_PORT" "$TMP/key" n1 "$SRC_ID" /a.bin 1 "$A_SIZE" "$A_MTIME" '"other"' --push "$TMP/block1")"
	case "$st" in 412 | 421) ;; *) fail "a block of another version pushed to node $i got $st, expected 412 (owner) or 421" ;; esac
done
ok "a block of another version is refused (412 at its owner)"
# the MAC covers the method: a captured GET cannot be replayed as a PUT, nor a PUT as a GET
for i in 1 2 3; do
	st="$(req "http://$(ip_of "$i"):$PEER_PORT" "$TMP/key" n1 "$SRC_ID" /a.bin 1 "$A_SIZE" "$A_MTIME" "$A_ETAG" --push "$TMP/block1" --sign-as GET)"
	[ "$st" = 403 ] || fail "a block pushed to node $i under a GET's MAC got $st, expected 403"
done
expect_status 403 "a GET of block 1 under a PUT's MAC" "$N2" "$TMP/key" n1 "$SRC_ID" /a.bin 1 "$A_SIZE" "$A_MTIME" "$A_ETAG" --sign-as PUT
ok "a GET's MAC does not pass for a PUT on any node, nor a PUT's for a GET"
# DataLoad share requests (POST /v1/load): the same signature, never a block request's fields
SPEC='{"paths":["/sub"],"nodes":["n1","n2","n3"]}'
expect_status 400 "a block request's signed fields sent as a load request" "$N2" "$TMP/key" n1 "$SRC_ID" /a.bin 1 "$A_SIZE" "$A_MTIME" "$A_ETAG" --load
expect_status 403 "a load request with another key" "$N2" "$TMP/wrongkey" n1 "$SRC_ID" "$SPEC" 77 1 0 weir-load --load
expect_status 403 "a load request from a name that is not a member" "$N2" "$TMP/key" n9 "$SRC_ID" "$SPEC" 77 1 0 weir-load --load
expect_status 400 "a load whose node set leaves node 2 out" "$N2" "$TMP/key" n1 "$SRC_ID" '{"paths":["/sub"],"nodes":["n1","n3"]}' 77 1 0 weir-load --load
expect_status 400 "a load of a path that is not absolute" "$N2" "$TMP/key" n1 "$SRC_ID" '{"paths":["sub"],"nodes":["n1","n2"]}' 77 1 0 weir-load --load
expect_status 404 "a load of a source node 2 has not open" "$N2" "$TMP/key" n1 0000000000000000 "$SPEC" 77 1 0 weir-load --load
expect_status 404 "the status of a load node 2 never started" "$N2" "$TMP/key" n1 "$SRC_ID" "" 78 2 0 weir-load --load
expect_status 200 "a signed load of /sub among n1-n3 (node 2 starts its share)" "$N2" "$TMP/key" n1 "$SRC_ID" "$SPEC" 77 1 0 weir-load --load --out "$TMP/lstart"
grep -q '"run":"000000000000004d"' "$TMP/lstart" || fail "node 2's answer to the load is not its share's report: $(cat "$TMP/lstart")"
expect_status 404 "its status asked by another member (loads are the asker's)" "$N2" "$TMP/key" n3 "$SRC_ID" "" 77 2 0 weir-load --load
expect_status 200 "its cancel" "$N2" "$TMP/key" n1 "$SRC_ID" "" 77 3 0 weir-load --load
expect_status 404 "its status once cancelled" "$N2" "$TMP/key" n1 "$SRC_ID" "" 77 2 0 weir-load --load

step "kill node 1 while node 3 reads a tree its peers cached: no error, same bytes"
stop_node 3
node_setup 3 "$TMP/n3b" "$KEY" "prefetch-max = 8MiB" # a cold cache: every block comes from a peer or the UFS
mount_on 3 "$NGINX_URL" --no-prefetch
before=$(ufs_body_bytes)
# a slow reader (4 MB/s), so the kill lands mid-read
python3 "$here/../helpers/slow_copy.py" "${MP[3]}" "$TMP/copy3b" 0.06 >"$TMP/reader.out" 2>&1 &
reader=$!
pid_track "$reader"
sleep 2
pid_alive "$reader" || fail "the reader finished before the kill: $(cat "$TMP/reader.out")"
kp="$(weir_keeper_pid "${STATE[1]}")" np="$(weir_node_pid "${STATE[1]}")"
[ -n "$np" ] || fail "node 1's weir-node is not running"
pid_signal 9 ${kp:+"$kp"} "$np"
ok "killed node 1 (keeper ${kp:-none}, weir-node $np) mid-read"
wait "$reader" || fail "node 3's reader failed after node 1 died: $(cat "$TMP/reader.out")"
check_copy "node 3 (node 1 killed)" "$TMP/copy3b"
failed=$(metric 3 weir_peer_failed_total)
[ "$failed" -gt 0 ] || fail "node 3 never failed to reach node 1: the kill did not land mid-read (weir_peer_failed_total 0)"
[ "$(metric 3 weir_peer_in_bytes_total)" -gt 0 ] || fail "node 3 read nothing from its peers"
ok "every byte equal (cmp); node 3 failed $failed peer request(s) and read those blocks elsewhere; UFS sent $(($(ufs_body_bytes) - before)) more bytes"

step "node 1 restarted with its cache rejoins and serves it: a cold node 3 reads node 1's blocks from it"
mount_on 1 "$NGINX_URL" # the same state directory and tier: its index and blocks are kept
stop_node 3
node_setup 3 "$TMP/n3r" "$KEY" "prefetch-max = 8MiB"
mount_on 3 "$NGINX_URL"
timeout -k 5 300 cp -R "${MP[3]}/." "$TMP/copy3r" || fail "cp -R of node 3's view failed"
check_copy "node 3 (node 1 restarted)" "$TMP/copy3r"
out1=$(metric 1 weir_peer_out_bytes_total)
ufs1=$(metric 1 weir_source_ufs_fetched_bytes_total)
[ "$out1" -gt 0 ] || fail "the restarted node 1 served no block to node 3"
[ "$ufs1" -eq 0 ] || fail "the restarted node 1 fetched $ufs1 bytes from the UFS: it should have served its kept blocks"
ok "node 1 (new process, same cache) served $out1 bytes to node 3 with no UFS byte; node 3's copy is byte-exact"

step "node 2 stops answering (SIGSTOP) while a cold node 3 reads: after a stall, its blocks come from elsewhere"
stop_node 3
node_setup 3 "$TMP/n3s" "$KEY" "prefetch-max = 8MiB"
mount_on 3 "$NGINX_URL"
np2="$(weir_node_pid "${STATE[2]}")"
[ -n "$np2" ] || fail "node 2's weir-node is not running"
at_exit "pid_signal CONT $np2 2>/dev/null"
failed_before=$(metric 3 weir_peer_failed_total)
pid_signal STOP "$np2"
t0="$(now)"
timeout -k 5 120 cp -R "${MP[3]}/." "$TMP/copy3s" || { pid_signal CONT "$np2"; fail "cp -R of node 3's view failed while node 2 was stopped"; }
t1="$(now)"
pid_signal CONT "$np2"
check_copy "node 3 (node 2 stopped)" "$TMP/copy3s"
[ "$(metric 3 weir_peer_failed_total)" -gt "$failed_before" ] || fail "node 3 never gave up on the stopped node 2"
ok "node 3 read the tree byte-exact in $(elapsed "$t0" "$t1") s while node 2 did not answer"

step "a node with another key is refused by its peers and reads from the UFS instead"
stop_node 3
node_setup 3 "$TMP/n3c" "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" "prefetch-max = 8MiB"
mount_on 3 "$NGINX_URL"
refused_before=$(metric 2 weir_peer_refused_total)
timeout -k 5 300 cp -R "${MP[3]}/." "$TMP/copy3c" || fail "cp -R of node 3's view (wrong key) failed"
check_copy "node 3 (wrong key)" "$TMP/copy3c"
[ "$(metric 3 weir_peer_in_bytes_total)" -eq 0 ] || fail "node 3 with the wrong key got bytes from a peer"
[ "$(metric 3 weir_peer_refused_by_peers_total)" -gt 0 ] || fail "node 3 with the wrong key was never refused"
[ "$(metric 2 weir_peer_refused_total)" -gt "$refused_before" ] || fail "node 2 did not refuse node 3's requests"
ok "node 2 refused node 3; node 3 got 0 bytes from peers and its copy is byte-exact"

step "a load on node 1 warms the whole cluster: the three nodes then read with no UFS request"
LOAD_CALL="${WEIR_LOAD_CALL:-${WEIR_BUILD_DIR:-$WEIR_SRC/build}/tests/e2e/load-call}"
[ -x "$LOAD_CALL" ] || fail "load-call is not at $LOAD_CALL: build it (ninja -C build)"
for i in 1 2 3; do stop_node "$i"; done
# node 3 keeps at most 8 MiB of its peers' blocks (near-cache), node 2 none (and fetches the
# default 128 MiB ahead: all it reads from peers must stay in memory until read), node 1 the default
# 1 GiB
node_setup 1 "$TMP/l1" "$KEY" "prefetch-max = 8MiB"
node_setup 2 "$TMP/l2" "$KEY" "near-cache = 0" # the default prefetch-max: 32 blocks ahead
node_setup 3 "$TMP/l3" "$KEY" "prefetch-max = 8MiB" "near-cache = 8MiB"
for i in 1 2 3; do mount_on "$i" "$NGINX_URL"; done
: >"$NGINX_ACCESS_LOG"
out="$(timeout 300 "$LOAD_CALL" "${STATE[1]}/node.sock" "$SRC_ID" /)" || fail "the load on node 1 failed: $out"
note "load on node 1: $out"
[ "$(ufs_body_bytes)" -eq "$TOTAL" ] || fail "the load made nginx send $(ufs_body_bytes) object bytes for a $TOTAL-byte tree"
# field NAME LINE: the value of NAME=N in LINE; fails when absent
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | grep -x '[0-9]*' || fail "no $1= in \"$2\""; }
[ "$(field bytes_done "$out")" -eq "$TOTAL" ] || fail "the load reports bytes_done $(field bytes_done "$out"), the tree is $TOTAL"
[ "$(field ufs_bytes "$out")" -eq "$TOTAL" ] || fail "the load reports ufs_bytes $(field ufs_bytes "$out") summed over the nodes; nginx sent $TOTAL"
grep -q "spread over 3 cache node(s)" "${STATE[1]}/node.log" || fail "node 1 did not spread the load over the three nodes (no \"spread over 3 cache node(s)\" in its log)"
sum=0 osum=0 handed=0 omin=$TOTAL omax=0 smax=0
declare -A SHARE OWNED
for i in 1 2 3; do
	# each node fetched from the UFS exactly the blocks of its share, as its loader counted them:
	# the blocks it owns but those the plan gave a less busy node, and those it was given
	# (fetched here, kept by their owner)
	line="$(grep -E "load of [0-9]+ path\(s\) of .* done: " "${STATE[$i]}/node.log" | tail -n 1)"
	[ -n "$line" ] || fail "node $i ran no share of the load (no \"load of ... done\" in its log)"
	share="$(printf '%s\n' "$line" | sed -n 's/.* files, \([0-9]*\) bytes in .*/\1/p')"
	[ -n "$share" ] || fail "node $i's load line has no byte count: $line"
	owned="$(printf '%s\n' "$line" | sed -n 's/.*; owns \([0-9]*\) bytes, handed \([0-9]*\) to their owners$/\1 \2/p')"
	[ -n "$owned" ] || fail "node $i's load line has no \"owns N bytes, handed M to their owners\": $line"
	read -r owned h <<<"$owned"
	# right after the load, before any read: each node holds exactly the blocks it owns
	c=$(metric "$i" weir_source_cached_bytes)
	[ "$c" -eq "$owned" ] || fail "node $i caches $c bytes after the load; it owns $owned (handed-over blocks must land at their owner, and only there)"
	OWNED[$i]=$owned
	osum=$((osum + owned)) handed=$((handed + h))
	[ "$owned" -lt "$omin" ] && omin=$owned
	[ "$owned" -gt "$omax" ] && omax=$owned
	[ "$share" -gt "$smax" ] && smax=$share
	u=$(metric "$i" weir_source_ufs_fetched_bytes_total)
	[ "$u" -eq "$share" ] || fail "node $i fetched $u bytes from the UFS; its share of the load is $share bytes"
	[ "$u" -gt 0 ] || fail "node $i fetched nothing from the UFS for the load: the owners did not share the work"
	[ "$(metric "$i" weir_peer_in_bytes_total)" -eq 0 ] || fail "node $i received block bytes from peers during the load: a share should stay on its owner"
	note "node $i: share $share bytes = $(awk -v a="$share" -v b="$TOTAL" 'BEGIN { printf "%.2f", a / b }') of the tree, all from the UFS; owns $owned, handed $h to owners"
	sum=$((sum + share))
	SHARE[$i]=$share
done
[ "$sum" -eq "$TOTAL" ] || fail "the three shares add up to $sum bytes; the tree is $TOTAL"
[ "$osum" -eq "$TOTAL" ] || fail "the three nodes own $osum bytes after the load; the tree is $TOTAL"
[ "$smax" -le "$omax" ] || fail "the busiest node fetched $smax bytes, more than the most any node owns ($omax): the plan made it worse"
# blocks are 4 MiB: owners further apart than two blocks must be evened out by handing over
if [ $((omax - omin)) -gt $((2 * 4194304)) ]; then
	[ "$handed" -gt 0 ] || fail "owners own $omin to $omax bytes, yet no node fetched blocks for a busier owner"
	[ "$smax" -lt "$omax" ] || fail "the busiest owner ($omax bytes) still fetched all of its blocks itself"
fi
note "owned $omin..$omax bytes; fetched at most $smax per node; $handed bytes handed to their owners"
pids=()
for i in 1 2 3; do
	timeout -k 5 300 cp -R "${MP[$i]}/." "$TMP/copyl$i" &
	pids+=($!)
	pid_track "$!"
done
for i in 1 2 3; do wait "${pids[$((i - 1))]}" || fail "cp -R of node $i's view after the load failed"; done
for i in 1 2 3; do check_copy "node $i after the load" "$TMP/copyl$i"; done
[ "$(ufs_body_bytes)" -eq "$TOTAL" ] || fail "reads after the load made nginx send $(($(ufs_body_bytes) - TOTAL)) more bytes"
NEAR=$((8 * 1048576))
# the store threads may still be writing the last blocks into the near-caches: wait (10 s at
# most) for node 1 (near-cache 1 GiB) to hold the whole tree, and for node 3's to fill
for _ in $(seq 1 100); do
	[ "$(metric 1 weir_source_cached_bytes)" -eq "$TOTAL" ] && [ "$(metric 3 weir_source_cached_bytes)" -gt "${OWNED[3]}" ] && break
	sleep 0.1
done
c3=$(metric 3 weir_source_cached_bytes)
in3=$(metric 3 weir_peer_in_bytes_total)
[ "$in3" -ge $((TOTAL - OWNED[3])) ] || fail "node 3 read $in3 bytes from peers; the blocks it does not own are $((TOTAL - OWNED[3]))"
# its near-cache is as small as its prefetch window: a block must not push out one prefetched
# a moment ago, before the reader got to it (that block was then asked for again: 1.6x)
[ "$in3" -le $((TOTAL - OWNED[3] + 2 * 4194304)) ] || fail "node 3 (near-cache 8 MiB) read $in3 bytes from peers for the $((TOTAL - OWNED[3])) it does not own: blocks were asked for more than once"
[ "$c3" -le $((OWNED[3] + NEAR)) ] || fail "node 3 caches $c3 bytes: more than it owns (${OWNED[3]}) and its near-cache (8 MiB)"
[ "$c3" -ge "${OWNED[3]}" ] || fail "node 3 caches $c3 bytes, less than it owns (${OWNED[3]}): the near-cache took out blocks it owns"
if [ $((TOTAL - OWNED[3])) -gt $((NEAR + 4194304)) ]; then
	[ "$c3" -gt "${OWNED[3]}" ] || fail "node 3 kept none of the $in3 bytes it read from peers (near-cache 8 MiB)"
fi
c1=$(metric 1 weir_source_cached_bytes)
[ "$c1" -eq "$TOTAL" ] || fail "node 1 (near-cache 1 GiB) caches $c1 bytes after reading the tree; expected all $TOTAL"
# node 2 keeps no peer block in its tiers, yet reads each once: the page cache holds only the
# pages a READ asked for, and the rest of a block (or a block prefetched ahead of the reader)
# must come from memory, not from the owner again (which sent 4-5x the tree before)
c2=$(metric 2 weir_source_cached_bytes)
in2=$(metric 2 weir_peer_in_bytes_total)
[ "$c2" -eq "${OWNED[2]}" ] || fail "node 2 (near-cache 0) caches $c2 bytes; it owns ${OWNED[2]} and should keep no peer block"
[ "$in2" -ge $((TOTAL - OWNED[2])) ] || fail "node 2 read $in2 bytes from peers; the blocks it does not own are $((TOTAL - OWNED[2]))"
[ "$in2" -le $((TOTAL - OWNED[2] + 2 * 4194304)) ] || fail "node 2 (near-cache 0) read $in2 bytes from peers for the $((TOTAL - OWNED[2])) it does not own: blocks were asked for more than once"
note "node 3 caches $c3 bytes: its own ${OWNED[3]} and $((c3 - OWNED[3])) of the $in3 it read from peers (near-cache 8 MiB); node 1 caches all $c1; node 2 (near-cache 0) read $in2 bytes from peers for $((TOTAL - OWNED[2])) not its own"
ok "the load fetched the tree once, spread over the owners; the three nodes then read it byte-exact with no UFS byte; near-cache sizes held; node 2 without one read each peer block once"

step "bytes spoiled between peers are caught by the reply's MAC: node 3 reads node 2's blocks through a relay that flips a byte and writes the spoiled body's XXH3"
stop_node 2
node_setup_keep() { # node I's config again, on its kept state directory, serving on another port
	printf 'node-name = n%s\npeers = %s\npeer-listen = %s:%s\nprefetch-max = 8MiB\nnode-id-file = %s\n' "$1" "$CL_PEERS" "$(ip_of "$1")" "$2" "$CL_IDS/n$1.key" >"${STATE[$1]}/node.conf"
}
node_setup_keep 2 $((PEER_PORT + 1))
mount_on 2 "$NGINX_URL"
nsenter --net="/run/netns/${CL_TAG}n2" python3 "$here/../helpers/peer_mitm.py" "$(ip_of 2)" "$PEER_PORT" "http://$(ip_of 2):$((PEER_PORT + 1))" --fix-xxh3 >"$TMP/mitm.log" 2>&1 &
mitm=$!
pid_track "$mitm"
at_exit "pid_stop $mitm"
for _ in $(seq 1 100); do grep -q "mitm: listening" "$TMP/mitm.log" && break; sleep 0.1; done
grep -q "mitm: listening" "$TMP/mitm.log" || fail "peer_mitm.py did not start: $(cat "$TMP/mitm.log")"
stop_node 3
node_setup 3 "$TMP/n3m" "$KEY" "prefetch-max = 8MiB"
mount_on 3 "$NGINX_URL"
timeout -k 5 300 cp -R "${MP[3]}/." "$TMP/copy3m" || fail "cp -R of node 3's view through the relay failed"
check_copy "node 3 (spoiled peer bytes)" "$TMP/copy3m"
grep -q "mitm: flipped a byte of .* and wrote its XXH3" "$TMP/mitm.log" || fail "the relay spoiled no block (or left its XXH3): node 3 never asked node 2: $(head -3 "$TMP/mitm.log")"
bad=$(metric 3 weir_peer_bad_replies_total)
[ "$bad" -gt 0 ] || fail "node 3 took spoiled bytes from node 2 without noticing (weir_peer_bad_replies_total 0)"
grep -q "peer n2 sent block .* with bytes that fail their checksum or MAC; reading the UFS instead" "${STATE[3]}/node.log" ||
	fail "node 3 does not log node 2 as the peer that sent bad bytes"
pid_stop "$mitm"
ok "node 3 rejected $bad spoiled block(s) whose XXH3 matched (only the reply's MAC caught them: its tag covers the XXH3 header), logged n2, read them elsewhere; its copy is byte-exact"

step "a member's address that leads to another node: node 3's requests for n2's blocks, passed unchanged by a relay to node 1, are refused there"
# A Lease (or a peers list) pointing member n2 at a host without the key: it cannot answer, but
# it can pass each signed request on to a node that has the source open and hand back its
# signed answer. The asker would take it (the reply's MAC is bound to its request), and the
# relay would read every block routed to n2. A request names the node it is addressed to.
nsenter --net="/run/netns/${CL_TAG}n2" python3 "$here/../helpers/peer_mitm.py" "$(ip_of 2)" "$PEER_PORT" "http://$(ip_of 1):$PEER_PORT" --pass >"$TMP/relay.log" 2>&1 &
relay=$!
pid_track "$relay"
at_exit "pid_stop $relay"
for _ in $(seq 1 100); do grep -q "mitm: listening" "$TMP/relay.log" && break; sleep 0.1; done
grep -q "mitm: listening" "$TMP/relay.log" || fail "peer_mitm.py --pass did not start: $(cat "$TMP/relay.log")"
stop_node 3
node_setup 3 "$TMP/n3p" "$KEY" "prefetch-max = 8MiB"
mount_on 3 "$NGINX_URL"
timeout -k 5 300 cp -R "${MP[3]}/." "$TMP/copy3p" || fail "cp -R of node 3's view through the relay to node 1 failed"
check_copy "node 3 (n2's address leads to node 1)" "$TMP/copy3p"
passed=$(grep -c "^mitm: passed" "$TMP/relay.log" || true)
answered=$(grep -c "^mitm: passed 200 " "$TMP/relay.log" || true)
[ "$passed" -gt 0 ] || fail "node 3 sent the relay at n2's address no request"
[ "$answered" -eq 0 ] || fail "node 1 answered $answered of $passed requests node 3 addressed to n2 with 200: a relay at a member's address reads blocks through another node"
[ "$(metric 3 weir_peer_refused_by_peers_total)" -gt 0 ] || fail "node 3 does not count the refusals of its requests to n2"
pid_stop "$relay"
ok "node 1 refused all $passed requests addressed to n2 ($(grep -m1 '^mitm: passed' "$TMP/relay.log" | cut -d' ' -f3)); node 3 read those blocks elsewhere, byte-exact"

step "a source mounted with --cache-replicas 1 (a Runtime's replicas: 1) is cached by one node, read by all"
for i in 1 2 3; do stop_node "$i"; done
cluster_nodes 1 2 3
for i in 1 2 3; do node_setup "$i" "$TMP/r$i" "$KEY" "prefetch-max = 8MiB"; done
for i in 1 2 3; do mount_on "$i" "$NGINX_URL" --cache-replicas 1; done
cache_node=""
for i in 1 2 3; do
	if grep -q "this node is one of its cache nodes" "${STATE[$i]}/node.log"; then
		[ -z "$cache_node" ] || fail "nodes $cache_node and $i both say they cache the source; replicas is 1"
		cache_node=$i
	fi
done
[ -n "$cache_node" ] || fail "no node says it caches the source"
: >"$NGINX_ACCESS_LOG"
for i in 1 2 3; do
	timeout -k 5 300 cp -R "${MP[$i]}/." "$TMP/copyr$i" || fail "cp -R of node $i's view (replicas 1) failed"
	check_copy "node $i (replicas 1)" "$TMP/copyr$i"
done
[ "$(ufs_body_bytes)" -eq "$TOTAL" ] || fail "with one cache node nginx sent $(ufs_body_bytes) object bytes for $TOTAL"
for i in 1 2 3; do
	u=$(metric "$i" weir_source_ufs_fetched_bytes_total)
	if [ "$i" = "$cache_node" ]; then
		[ "$u" -eq "$TOTAL" ] || fail "the cache node $i fetched $u bytes from the UFS, not the whole tree ($TOTAL)"
	else
		[ "$u" -eq 0 ] || fail "node $i is a client only but fetched $u bytes from the UFS"
	fi
done
ok "node $cache_node fetched the whole tree once; the two clients read it from node $cache_node, byte-exact"

step "node 2 killed mid-load: its share moves to the blocks' next owners and the load completes"
for i in 1 2 3; do stop_node "$i"; done
# a UFS slow enough (1 MB/s per connection) for the load to be under way when node 2 dies
TPORT="$(free_port)"
python3 "$here/../helpers/throttle.py" "$TPORT" "$NGINX_PORT" 1000000 "$CL_SUBNET.1" "$CL_SUBNET.1" >"$TMP/throttle.log" 2>&1 &
tpid=$!
pid_track "$tpid"
at_exit "pid_stop $tpid"
for _ in $(seq 1 100); do grep -q '^throttle:' "$TMP/throttle.log" && break; sleep 0.1; done
grep -q '^throttle:' "$TMP/throttle.log" || fail "throttle.py did not listen within 10 s: $(cat "$TMP/throttle.log")"
SLOW_URL="http://$CL_SUBNET.1:$TPORT/"
cluster_nodes 1 2 3
for i in 1 2 3; do node_setup "$i" "$TMP/k$i" "$KEY" "prefetch-max = 8MiB"; done
for i in 1 2 3; do mount_on "$i" "$SLOW_URL" --fetch-concurrency 4; done
SLOW_ID="$(ls "${STATE[1]}/stores")"
: >"$NGINX_ACCESS_LOG"
timeout 300 "$LOAD_CALL" "${STATE[1]}/node.sock" "$SLOW_ID" / >"$TMP/kload.out" 2>&1 &
lpid=$!
pid_track "$lpid"
for _ in $(seq 1 100); do grep -q "this node's share of" "${STATE[2]}/node.log" && break; sleep 0.1; done
grep -q "this node's share of" "${STATE[2]}/node.log" || fail "node 2 never started its share of node 1's load"
sleep 1
k2="$(weir_keeper_pid "${STATE[2]}")" n2="$(weir_node_pid "${STATE[2]}")"
[ -n "$n2" ] || fail "node 2's weir-node is not running"
[ -z "$k2" ] || pid_signal KILL "$k2"
pid_signal KILL "$n2"
t0="$(now)"
wait "$lpid" || fail "the load failed after node 2 died: $(cat "$TMP/kload.out")"
out="$(cat "$TMP/kload.out")"
note "load with node 2 killed: $out ($(elapsed "$t0" "$(now)") s after the kill)"
[ "$(field bytes_done "$out")" -eq "$TOTAL" ] || fail "the load completed with bytes_done $(field bytes_done "$out"); the tree is $TOTAL"
grep -q "node n2 .*its share moves" "${STATE[1]}/node.log" || fail "node 1 did not move node 2's share (no \"node n2 ... its share moves\" in its log)"
[ "$(ufs_body_bytes)" -ge "$TOTAL" ] || fail "nginx sent $(ufs_body_bytes) bytes for the load; the tree is $TOTAL"
for i in 1 3; do
	timeout -k 5 300 cp -R "${MP[$i]}/." "$TMP/copyk$i" || fail "cp -R of node $i's view after the kill failed"
	check_copy "node $i after node 2 died mid-load" "$TMP/copyk$i"
done
ok "node 2's share moved; the load completed with every byte and nodes 1 and 3 read the tree byte-exact"

echo
echo "cluster: all checks passed"
