#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end (issue 15): a spread DataLoad completes only when every node planned it over the same
# tree. Three weir-nodes in network namespaces of the test's own; node 2 lists sub/ through its
# view, then a file is added to sub/ on nginx, then node 1 is asked to load the tree: node 2's
# listing is stale (it plans without the new file), so its plan's fingerprint differs, node 1
# plans again with every node listing afresh, and the load completes with every block of the
# tree cached at its owner: the nodes' cached bytes add up to the tree, and node 1 then reads the
# whole tree byte-exact with nginx sending no object byte. (Before plan agreement the load
# reported success with the new file's blocks that node 2 owned fetched by nobody.)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/cluster.sh"

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-e2e-loadplan.XXXXXX)"
at_exit 'rm -rf "$TMP"'
LOAD_CALL="${WEIR_LOAD_CALL:-${WEIR_BUILD_DIR:-$WEIR_SRC/build}/tests/e2e/load-call}"
[ -x "$LOAD_CALL" ] || fail "load-call is not at $LOAD_CALL: build it (ninja -C build)"

step "three namespaces on a bridge of the test's own; nginx serves a tree"
cluster_net_setup 3
TREE="$TMP/tree"
mkdir -p "$TREE/sub"
rand_file "$TREE/a.bin" $((9 * 1048576 + 17)) a
rand_file "$TREE/sub/b.bin" $((6 * 1048576)) b
rand_file "$TREE/sub/c.bin" 70000 c
# 600 small files with long names: a load naming 130 of them (a DataLoad's long target list)
# sends every node a share spec of about 11 KB (its signed text held 8 KiB); one naming all 600
# would not fit a peer's request (32 KiB)
mkdir -p "$TREE/many"
MANY=()
for i in $(seq -w 1 600); do
	f="many/$(printf 'a-file-with-a-long-name-as-datasets-of-many-small-records-have-%s' "$i").rec"
	head -c 1000 /dev/urandom >"$TREE/$f"
	MANY+=("/$f")
done
ALL_MANY=("${MANY[@]}")
MANY=("${MANY[@]:0:130}")
nginx_start "$TMP/nginx" "$TREE" --addr "$CL_SUBNET.1"
ok "nginx (pid $NGINX_PID) at $NGINX_URL"

step "three weir-nodes; node 2 lists sub/ through its view (its listing is then kept 5 minutes)"
KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cluster_nodes 1 2 3
for i in 1 2 3; do node_setup "$i" "$TMP/n$i" "$KEY"; done
# open mode: no sampling of the tree at mount, so nodes 1 and 3 have listed nothing yet
for i in 1 2 3; do mount_on "$i" "$NGINX_URL" --open-mode open; done
SRC_ID="$(ls "${STATE[1]}/stores")"
[ -n "$SRC_ID" ] || fail "no source id under ${STATE[1]}/stores"
ls -l "${MP[2]}/sub" >"$TMP/ls2" || fail "listing sub/ through node 2's view failed"
grep -q c.bin "$TMP/ls2" || fail "node 2's view of sub/ lacks c.bin: $(cat "$TMP/ls2")"
ok "node 2 listed sub/: $(awk 'NF > 2 { printf "%s ", $NF }' "$TMP/ls2")"

step "a file is added to sub/ on nginx after node 2 listed it"
# 24 blocks: the three nodes each own some of them (rendezvous; 3 x (2/3)^24 < 0.0002 that one
# owns none), so node 2's stale plan leaves blocks it owns to nobody
rand_file "$TREE/sub/late.bin" $((24 * 4194304 + 5)) late
TOTAL=$(($(find "$TREE" -type f -printf '%s+') 0))
NFILES=$(find "$TREE" -type f | wc -l)
ok "the tree is now $NFILES files, $TOTAL bytes"

step "a load of the whole tree asked of node 1"
: >"$NGINX_ACCESS_LOG"
out="$(timeout 300 "$LOAD_CALL" "${STATE[1]}/node.sock" "$SRC_ID" /)" || fail "the load on node 1 failed: $out; node 1's log: $(tail -20 "${STATE[1]}/node.log")"
note "load on node 1: $out"
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | grep -x '[0-9]*' || fail "no $1= in \"$2\""; }
[ "$(field bytes_total "$out")" -eq "$TOTAL" ] || fail "the load's bytes_total is $(field bytes_total "$out"); the tree is $TOTAL bytes"
[ "$(field bytes_done "$out")" -eq "$TOTAL" ] || fail "the load reports bytes_done $(field bytes_done "$out") of $TOTAL"
grep -q "node n2 planned over another tree" "${STATE[1]}/node.log" ||
	fail "node 1 did not see node 2's stale plan (no \"node n2 planned over another tree\" in its log)"
grep -q "planning again (try 2 of 3), every node listing afresh" "${STATE[1]}/node.log" ||
	fail "node 1 did not plan the load again"
note "nginx sent $(ufs_body_bytes) object bytes for the load ($TOTAL in the tree; blocks handed over in the first plan may be fetched again)"
ok "the load completed after node 1 planned it again with fresh listings"

step "every block of the tree is cached at one node"
sum=0
for i in 1 2 3; do
	c=$(metric "$i" weir_source_cached_bytes)
	note "node $i caches $c bytes"
	sum=$((sum + c))
done
[ "$sum" -eq "$TOTAL" ] || fail "the three nodes cache $sum bytes after the load; the tree is $TOTAL: blocks were left to nobody (or cached twice)"
ok "the nodes' cached bytes add up to the tree: $sum"

step "node 1 reads the whole tree: byte-exact, and nginx sends no object byte"
: >"$NGINX_ACCESS_LOG"
timeout -k 5 300 cp -R "${MP[1]}/." "$TMP/copy1" || fail "cp -R of node 1's view failed"
check_copy "node 1" "$TMP/copy1"
ufs=$(ufs_body_bytes)
[ "$ufs" -eq 0 ] || {
	grep -v '/ HTTP' "$NGINX_ACCESS_LOG" | head -20 >&2
	fail "nginx sent $ufs object bytes while node 1 read a tree the load had warmed: blocks the load reported done were not cached"
}
ok "$NFILES files equal the server's (cmp); nginx sent 0 object bytes"

step "a load naming ${#MANY[@]} paths (a spec of $(printf '%s' "${MANY[*]}" | wc -c) bytes) asked of node 1: every node runs its share"
out="$(timeout 300 "$LOAD_CALL" "${STATE[1]}/node.sock" "$SRC_ID" "${MANY[@]}")" || fail "the load of ${#MANY[@]} paths on node 1 failed: $out"
note "load on node 1: $out"
for i in 2 3; do
	grep -q "this node's share of ${#MANY[@]} path(s)" "${STATE[$i]}/node.log" ||
		fail "node $i ran no share of the load of ${#MANY[@]} paths: $(grep -h 'stopped answering\|share moves' "${STATE[1]}/node.log" | tail -2)"
done
! grep -q "stopped answering" "${STATE[1]}/node.log" || fail "node 1 took a node for gone during the loads: $(grep 'stopped answering' "${STATE[1]}/node.log" | head -1)"
ok "nodes 2 and 3 each ran their share of the ${#MANY[@]}-path load; node 1 lost no node"

step "a load naming ${#ALL_MANY[@]} paths (a spec past what a peer takes in one request): node 1 loads it alone, losing no node"
out="$(timeout 300 "$LOAD_CALL" "${STATE[1]}/node.sock" "$SRC_ID" "${ALL_MANY[@]}")" || fail "the load of ${#ALL_MANY[@]} paths on node 1 failed: $out"
note "load on node 1: $out"
[ "$(field bytes_done "$out")" -eq $((${#ALL_MANY[@]} * 1000)) ] || fail "the load of ${#ALL_MANY[@]} paths reports bytes_done $(field bytes_done "$out")"
! grep -q "stopped answering" "${STATE[1]}/node.log" || fail "node 1 took a node for gone: $(grep 'stopped answering' "${STATE[1]}/node.log" | head -1)"
grep -q "load of ${#ALL_MANY[@]} path(s) of .*: the list is too long to hand to the other cache nodes" "${STATE[1]}/node.log" ||
	fail "node 1 does not say it loads the ${#ALL_MANY[@]} paths alone"
ok "node 1 loaded the ${#ALL_MANY[@]} paths alone (its log says why); no node taken for gone"
