#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end, one descriptor, one version, when the size changes under it (the short read CI saw
# in versions.sh step 6): a descriptor opened at 9 MiB is 4 MiB in when the source shrinks to
# 2 MiB; after the metadata TTL another process stats and reads the path (the kernel learns
# 2 MiB), and the old descriptor reads on. It must read all 9 MiB or fail with ESTALE, never end
# at 4 MiB with no error. The same for a file that grows (the old descriptor's end must not end
# the new one's), a same-size replacement only the ETag tells apart, a mapping of the old
# version, a file that becomes a directory, a file complete in the tier (passthrough where the
# view has it), and a takeover by a new weir-node between the new version's inode and the old
# descriptor's next read. The source is faultsrv.py; every round compares every byte. SIZECHANGE_ROUNDS rounds each (default 3);
# WEIR_OPEN_MODE picks the views' open mode (meson runs it in open and no-open).
# SIZECHANGE_KEEP_GOING=1 runs every round of every scenario and fails at the end with the
# count of failed rounds (for measuring a failure rate); SIZECHANGE_ONLY="shrink grow ..." runs
# only those scenarios.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"
. "$here/../helpers/pyserver.sh"

weir_test_setup e2e-sizechange
ROUNDS="${SIZECHANGE_ROUNDS:-3}"
KEEP_GOING="${SIZECHANGE_KEEP_GOING:-0}"
FAILED=()
TIERS="mem:$WEIR_TIER_DIR/mem:1GiB"
echo "weir: $WEIR_BIN; weir-node: $WEIR_NODE_BIN; work dir: $TMP; $ROUNDS rounds each; open mode ${WEIR_OPEN_MODE:-default}"

step "start faultsrv and mount it (metadata TTL 1 s)"
TREE="$TMP/tree"
mkdir -p "$TREE"
faultsrv_start "$TREE" "$TMP/faultsrv"
MP="$TMP/mnt"
weir_mount "$FS_URL/" "$MP" --tier "$TIERS" --metadata-ttl 1
ok "faultsrv serves $TREE at $FS_URL, mounted at $MP"

stat_get() {
	w stat "$MP" -o json >"$TMP/stat.json" || fail "weir stat $MP -o json failed"
	json_get "$TMP/stat.json" "$@" || fail "weir stat $MP -o json has no field $*: $(cat "$TMP/stat.json")"
}

# race SCENARIO: runs the rounds; every line the driver prints is shown, a FAIL line fails the
# test with it. Returns 1 when SIZECHANGE_ONLY leaves the scenario out.
race() {
	local out="$TMP/race-$1.out" rc=0 more=()
	if [ -n "${SIZECHANGE_ONLY:-}" ] && [[ " $SIZECHANGE_ONLY " != *" $1 "* ]]; then
		note "skipped: not in SIZECHANGE_ONLY"
		return 1
	fi
	mkdir -p "$TREE/$1"
	[ "$KEEP_GOING" = 1 ] && more=(--keep-going)
	timeout -k 5 $((60 + ROUNDS * 30)) python3 "$here/../helpers/version_race.py" "$1" \
		"$TREE/$1" "$MP/$1" "$ROUNDS" 1 "${more[@]}" >"$out" 2>&1 || rc=$?
	sed 's/^/  /' "$out"
	if [ "$KEEP_GOING" = 1 ] && [ "$rc" -ne 0 ]; then
		FAILED+=("$(tail -1 "$out")")
		return 0
	fi
	[ "$rc" -eq 0 ] || fail "$(grep -m1 '^FAIL' "$out" || echo "version_race.py $1 exited with $rc: $(tail -3 "$out")")"
	grep -q "^$1: 0 of $ROUNDS rounds failed" "$out" || fail "version_race.py $1 did not run its $ROUNDS rounds: $(tail -1 "$out")"
	ok "$1: $ROUNDS rounds, every descriptor read its own version (whole, or then ESTALE)"
}

step "a file shrinks 9 MiB -> 2 MiB under a descriptor 4 MiB in; a stat and a fresh read after the TTL"
race shrink || true

step "a file grows 2 MiB -> 9 MiB (other bytes) while descriptors of both versions are open"
race grow || true

step "a same-size replacement with the same mtime (only the ETag differs)"
race etag || true

step "a mapping of the old version, read again after the shrink"
race mmap || true

step "a file replaced by a directory of its name while a descriptor is open; a listing after the TTL"
race retype || true

step "the shrink again, with the file complete in the tier first (passthrough where the view has it)"
pt0="$(stat_get passthrough_opens)"
race shrink-warm || true
pt1="$(stat_get passthrough_opens)"
note "passthrough opens during the warm rounds: $((pt1 - pt0)) (open mode $(stat_get open_mode))"
note "new versions the view gave a new inode: $(stat_get requests new_versions)"

step "the shrink with a kill -9 of weir-node between the new version's inode and the old descriptor's next read"
# the keeper restarts weir-node, which takes the view over from the journal: the old inode must
# still answer for its descriptor (its version, its size), the path for the new version
cat >"$TMP/takeover.sh" <<EOF
set -euo pipefail
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"
WEIR_STATE="$WEIR_STATE" WEIR_BIN="$WEIR_BIN"
old="\$(weir_node_pid)"
[ -n "\$old" ] || fail "no weir-node runs for \$WEIR_STATE"
pid_signal 9 "\$old"
weir_wait_new_node "\$old" 10 >/dev/null
EOF
export VERSION_RACE_TAKEOVER="bash $TMP/takeover.sh"
if race takeover; then
	grep -q "restored .* inodes" "$WEIR_STATE/node.log" || fail "node.log does not say a weir-node restored the view's inodes"
	ok "$(grep "restored .* inodes" "$WEIR_STATE/node.log" | tail -1 | cut -c1-200)"
fi
[ "${#FAILED[@]}" -eq 0 ] || fail "rounds failed: ${FAILED[*]}"
