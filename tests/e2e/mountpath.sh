#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end (issue 7, item 16's neighbour): a view mounted below a directory another user owns.
# That user cannot rename the mountpoint (it is busy), but can rename a directory above it and
# put a symlink in its place: weir-node must still unmount its own view, not whatever mount the
# path now leads to.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"

require_root_fuse
find_weir_bins
command -v setpriv >/dev/null || fail "setpriv is missing: install util-linux (scripts/install-deps.sh)"
TMP="$(mktemp -d /tmp/weir-e2e-mountpath.XXXXXX)"
at_exit 'rm -rf "$TMP"'
chmod 0711 "$TMP" # nobody may pass through to its own directory
weir_setup "$TMP"
printf 'metrics-listen =\n' >"$WEIR_STATE/node.conf"
TIERS="mem:$WEIR_TIER_DIR/mem:64MiB"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

step "a victim mount, and a view mounted in a directory that nobody owns"
mkdir -p "$TMP/src" "$TMP/victim/mnt"
rand_file "$TMP/src/file" 100000 mountpath
mount -t tmpfs -o size=1m weir-victim "$TMP/victim/mnt" || fail "cannot mount a tmpfs at $TMP/victim/mnt"
at_exit 'umount -l "$TMP/victim/mnt" 2>/dev/null || true'
echo precious >"$TMP/victim/mnt/data"
mkdir -m 0755 "$TMP/home"
chown nobody:nogroup "$TMP/home"
as_nobody mkdir -p "$TMP/home/u/mnt"
weir_mount "local://$TMP/src" "$TMP/home/u/mnt" --tier "$TIERS"
cmp "$TMP/src/file" "$TMP/home/u/mnt/file" || fail "the view reads other bytes"
ok "mounted at $TMP/home/u/mnt"

step "a view on a directory that is itself a mount point: weir umount takes only the view"
# a disk mounted at /mnt/data and a view on top: weir unmounted its view, then detached the path
# again at the view's stop, which took the disk's mount beneath with it
mkdir -p "$TMP/under"
mount -t tmpfs -o size=1m weir-under "$TMP/under" || fail "cannot mount a tmpfs at $TMP/under"
at_exit 'umount -l "$TMP/under" 2>/dev/null || true'
echo beneath >"$TMP/under/data"
weir_mount "local://$TMP/src" "$TMP/under" --tier "$TIERS"
cmp "$TMP/src/file" "$TMP/under/file" || fail "the view on $TMP/under reads other bytes"
out="$(w umount "$TMP/under" 2>&1)" || fail "weir umount $TMP/under exited with $?: $out"
grep -q " $TMP/under .* weir-under " /proc/self/mountinfo ||
	fail "weir umount $TMP/under unmounted the tmpfs beneath the view, a mount not its own"
[ "$(cat "$TMP/under/data")" = beneath ] || fail "the tmpfs beneath the view lost its data"
! grep -q " $TMP/under .* fuse.weir " /proc/self/mountinfo || fail "weir umount left the view mounted at $TMP/under"
ok "the view is gone, the tmpfs beneath it is still mounted with its data"

step "nobody renames u away and points u at the victim's directory; weir-node stops"
as_nobody mv "$TMP/home/u" "$TMP/home/u2" || fail "nobody could not rename its own directory"
as_nobody ln -s "$TMP/victim" "$TMP/home/u"
note "$TMP/home/u/mnt now leads to $(readlink -f "$TMP/home/u/mnt")"
pid="$(weir_node_pid)"
[ -n "$pid" ] || fail "no weir-node"
pid_signal TERM "$pid"
pid_wait_gone 5 "$pid" || fail "weir-node $pid did not stop"
grep -q " $TMP/victim/mnt .* weir-victim " /proc/self/mountinfo ||
	fail "weir-node unmounted $TMP/victim/mnt, a mount not its own, when it stopped"
[ "$(cat "$TMP/victim/mnt/data")" = precious ] || fail "the victim mount's data is gone"
! grep -q " $TMP/home/u2/mnt " /proc/self/mountinfo || fail "weir-node left its own view mounted (at $TMP/home/u2/mnt)"
ok "the victim is still mounted; weir's own view is gone"
WEIR_MOUNTS=()

echo
echo "PASS: a view is unmounted by what it is, not by a path someone else can redirect"
