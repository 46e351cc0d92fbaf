#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Concurrent opens of one fully cached file in passthrough: the kernel takes one backing file per
# inode, so every open must share it; a second backing file failed all but the first with EIO.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-e2e-ptshare.XXXXXX)"
at_exit 'rm -rf "$TMP"'
mkdir -p "$TMP/src"
rand_file "$TMP/src/shard.bin" $((24 << 20)) ptshare
weir_setup "$TMP"
weir_mount "local://$TMP/src" "$TMP/mnt" --tier "mem:$WEIR_TIER_DIR/mem:256MiB"

step "one cold read makes the file complete in the tier (its next opens are passthrough)"
cmp "$TMP/src/shard.bin" "$TMP/mnt/shard.bin" || fail "the cold read differs from the source"

step "3 rounds of 6 concurrent readers, page cache dropped between rounds"
for round in 1 2 3; do
	sync
	echo 3 >/proc/sys/vm/drop_caches
	pids=()
	for i in 1 2 3 4 5 6; do
		cmp "$TMP/src/shard.bin" "$TMP/mnt/shard.bin" >"$TMP/r$round.$i" 2>&1 &
		pids+=($!)
		pid_track "$!"
	done
	bad=0
	for i in "${!pids[@]}"; do wait "${pids[$i]}" || bad=$((bad + 1)); done
	[ "$bad" -eq 0 ] || fail "round $round: $bad of 6 concurrent readers failed: $(cat "$TMP"/r$round.* | head -3)"
	ok "round $round: 6 of 6 readers got every byte"
done
w stat "$TMP/mnt" -o json >"$TMP/stat.json"
pt="$(json_get "$TMP/stat.json" passthrough_opens 2>/dev/null || true)"
note "passthrough opens: ${pt:-?}"
[ -n "$pt" ] && [ "$pt" -gt 0 ] || fail "no open went through passthrough (weir stat: $(head -c 300 "$TMP/stat.json")); the test proves nothing"
echo
echo "PASS: concurrent passthrough opens share one backing file"
