#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end: a local:// source whose files someone else can change (an NFS share users write
# to). A listed file replaced by a FIFO must fail its reads, not hang weir-node's readers: an
# open of a FIFO waits for a writer for ever, and every read of the source shares a few workers.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-e2e-localufs.XXXXXX)"
at_exit 'rm -rf "$TMP"'
weir_setup "$TMP"
printf 'metrics-listen =\n' >"$WEIR_STATE/node.conf"
TIERS="mem:$WEIR_TIER_DIR/mem:64MiB"
SRC="$TMP/src" MP="$TMP/mnt"
mkdir -p "$SRC"
for i in $(seq 1 20); do rand_file "$SRC/f$i" 100000 "localufs-$i"; done
rand_file "$SRC/good" 300000 localufs-good

step "listed files are replaced by FIFOs; reading them fails, the source keeps serving"
weir_mount "local://$SRC" "$MP" --tier "$TIERS" --no-prefetch
[ "$(ls "$MP" | wc -l)" -eq 21 ] || fail "the view does not list the 21 files"
declare -a fds
for i in $(seq 1 20); do
	exec {fd}<"$MP/f$i" # opened (and validated) while still regular files
	fds[i]=$fd
done
for i in $(seq 1 20); do
	mkfifo "$SRC/.fifo$i"
	mv "$SRC/.fifo$i" "$SRC/f$i"
done
# more reads than weir-node has workers for a source (16), all at once
for i in $(seq 1 20); do
	(
		rc=0
		cat <&"${fds[i]}" >/dev/null 2>&1 || rc=$?
		echo "$rc" >"$TMP/rc$i"
	) &
done
# A reader stuck in FUSE may not even die of a signal; and a stuck weir-node would hang the
# teardown too: after 10 s, kill it (its readers then fail) and fail.
stuck() { pid_signal 9 "$(weir_node_pid)" || true; wait; fail "$1"; }
for t in $(seq 1 100); do
	done_n=$(ls "$TMP" | grep -c '^rc' || true)
	[ "$done_n" -eq 20 ] && break
	sleep 0.1
done
[ "$done_n" -eq 20 ] || stuck "$((20 - done_n)) reads of files replaced by FIFOs hung for 10 s (weir-node opened the FIFOs)"
wait
for i in $(seq 1 20); do exec {fds[i]}<&-; done
rc=0
timeout 10 cmp "$SRC/good" "$MP/good" || rc=$?
[ "$rc" -eq 0 ] || stuck "after the FIFO reads, a regular file of the source cannot be read (rc $rc): its readers are stuck"
for i in $(seq 1 20); do
	[ "$(cat "$TMP/rc$i")" -ne 0 ] || fail "reading f$i, now a FIFO, through a descriptor opened before succeeded"
done
ok "every FIFO read failed at once; good reads byte-exact"

echo
echo "PASS: a local:// source with FIFOs swapped in keeps serving"
