#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A READ weir-node has taken from the kernel and is still fetching (a slow server) when it is
# killed is answered by the next weir-node: FUSE_NOTIFY_RESEND puts it back in the queue.
# Without it the reader waits for ever, not even killable (a weir-node built to skip the resend
# failed this test: the reader was stuck until the connection was aborted).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/nginx.sh"
. "$here/../helpers/weir.sh"

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-resend.XXXXXX)"
at_exit 'rm -rf "$TMP"'
mkdir -p "$TMP/tree"
rand_file "$TMP/tree/slow.bin" $((8 << 20)) resend
# one file a round: each is cold in the tier when its round reads it
for round in 1 2 3; do cp "$TMP/tree/slow.bin" "$TMP/tree/slow$round.bin"; done
# 300 KB/s a connection: every READ of the reader waits seconds on the server
nginx_start "$TMP/nginx" "$TMP/tree" --limit-rate 300k
at_exit nginx_stop
weir_setup "$TMP"
printf 'metrics-listen = 127.0.0.1:%s\n' "$(free_port)" >"$WEIR_STATE/node.conf"
weir_mount "$NGINX_URL" "$TMP/mnt" --tier "mem:$WEIR_TIER_DIR/mem:64MiB" >/dev/null
conn="$(python3 -c 'import os, sys; d = os.stat(sys.argv[1]).st_dev; print((os.major(d) << 20) | os.minor(d))' "$TMP/mnt")"
[ -w "/sys/fs/fuse/connections/$conn/abort" ] || fail "no /sys/fs/fuse/connections/$conn: fusectl is not mounted (mount -t fusectl none /sys/fs/fuse/connections)"

for round in 1 2 3; do
	step "round $round: a reader waits on the slow server; kill -9 weir-node"
	rm -f "$TMP/cmp.out"
	# no drop_caches: the round's file was never read through the view, so neither the page
	# cache nor the tier holds it (were it warm, the check after the sleep fails the round)
	(
		rc=0
		cmp "$TMP/mnt/slow$round.bin" "$TMP/tree/slow.bin" >"$TMP/cmp.err" 2>&1 || rc=$?
		echo "$rc" >"$TMP/cmp.out"
	) &
	reader=$!
	pid_track "$reader"
	sleep 2
	[ ! -e "$TMP/cmp.out" ] || fail "round $round: the reader finished before the kill ($(cat "$TMP/cmp.err")): the test proves nothing"
	old="$(weir_node_pid)"
	pid_signal 9 "$old"
	for i in $(seq 1 300); do [ -e "$TMP/cmp.out" ] && break; sleep 0.1; done
	if [ ! -e "$TMP/cmp.out" ]; then
		echo 1 >"/sys/fs/fuse/connections/$conn/abort"
		wait "$reader" || true
		fail "round $round: the reader still waited 30 s after kill -9 of weir-node $old: the READ in flight was never answered (connection aborted)"
	fi
	wait "$reader" || true
	[ "$(cat "$TMP/cmp.out")" = 0 ] || fail "round $round: the reader failed after the restart: $(cat "$TMP/cmp.err")"
	new="$(weir_wait_new_node "$old")"
	ok "the READ in flight at the kill was answered by weir-node $new; every byte equal"
done
n="$(grep -c 'requests in flight were resent' "$WEIR_STATE/node.log" || true)"
[ "$n" -ge 3 ] || fail "node.log says \"requests in flight were resent\" $n times, not 3"
echo
echo "PASS: READs in flight at a kill -9 are resent to the next weir-node"
