#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end (issue 9): weir-csi publishes Datasets into "pods" for a client playing the kubelet
# (csi-call), against a real weir up (weir-controller + weir-node) over a local:// tree:
# - a published target shows the Dataset byte for byte (cmp), read-only is enforced (EROFS);
# - publishing is idempotent for the same target, ALREADY_EXISTS for another volume there, and
#   for the same volume with another subpath (the spec: incompatible with what is published);
# - a pod namespace other than the volume's, and a reference without a grant, are refused with
#   PERMISSION_DENIED and the reason; nothing is mounted then;
# - NodeGetVolumeStats reports the view's cached bytes; unknown paths are NOT_FOUND;
# - unpublish unmounts and removes the target, is idempotent, and the view stops after the grace
#   period once no target uses it;
# - a restarted weir-csi leaves published targets alone and answers the same for them: OK for the
#   same volume and subpath, ALREADY_EXISTS for another subpath; stats for a target with no record
#   (a weir-csi from before records) are answered; the record and mark of a target removed without
#   an unpublish are dropped (at start, or by the next publish there), so a directory the CO makes
#   with its key is left by unpublish;
# - kubelet registration (GetInfo) on <registration-dir>/weir.csi.io-reg.sock.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/walkthrough.sh"
. "$here/lib.sh"

require_root_fuse
find_weir_bins
find_controller_bin
csi_find_bins
TMP="$(mktemp -d /tmp/weir-csi-publish.XXXXXX)"
at_exit 'rm -rf "$TMP"'
# everything left mounted under $TMP, dead mounts too (mountpoint(1) fails on those), top first
at_exit 'awk -v t="$TMP/" "index(\$5, t) == 1 { print \$5 }" /proc/self/mountinfo | tac |
	while read -r m; do umount -l "$(printf "%b" "$m")"; done; true'
weir_setup "$TMP"
WT_POLL_SECONDS=30
D="$TMP/data"
mkdir -p "$D/sub" "$D/other" "$TMP/pods/a" "$TMP/pods/b" "$TMP/pods/c" "$TMP/pods/q" "$TMP/pods/s" \
	"$TMP/pods/t" "$TMP/elsewhere"
echo "another directory" >"$D/other/note"
mkdir -p "$D/odd dir\x"
echo "a name mountinfo escapes" >"$D/odd dir\x/f"
rand_file "$D/model.bin" 6000000 csi-model
rand_file "$D/sub/part" 300000 csi-part
echo "not the dataset's" >"$TMP/elsewhere/secret"
echo "hello from development" >"$D/README"

step "weir up with development/spark over local://$D, shared with production only"
csi_datasets "$D"

step "weir-csi on $TMP/csi.sock; Probe is ready (weir-node answers); kubelet registration"
csi_start --view-grace 2
expect OK probe
grep -q "ready=true" <<<"$CC_OUT" || fail "Probe says not ready with weir-node up: $CC_OUT"
expect OK info
grep -q "node_id=test-node" <<<"$CC_OUT" || fail "NodeGetInfo: $CC_OUT"
CC_RC=0
CC_OUT="$("$CSI_CALL" "$TMP/reg/weir.csi.io-reg.sock" reg-info 2>&1)" || CC_RC=$?
grep -q "type=CSIPlugin name=weir.csi.io endpoint=$TMP/csi.sock versions=1.0.0" <<<"$CC_OUT" ||
	fail "registration GetInfo: $CC_OUT"
ok "Probe ready, node test-node, registration: $(head -n 1 <<<"$CC_OUT")"

DEV=(namespace=development dataset=spark readOnly=true)
step "publish development/spark into a development pod, read-only; the data is the Dataset's"
A="$TMP/pods/a/target"
t0="$(now)"
expect OK publish development/spark "$A" "${DEV[@]}" csi.storage.k8s.io/pod.namespace=development
t1="$(now)"
mountpoint -q "$A" || fail "NodePublishVolume answered OK but $A is not a mount point"
diff -r "$D" "$A" || fail "the published target differs from the Dataset's source (diff above)"
cmp "$D/model.bin" "$A/model.bin"
if touch "$A/new" 2>"$TMP/touch.err"; then fail "writing into a read-only publish succeeded"; fi
grep -qi "read-only" "$TMP/touch.err" || fail "a write failed, but not as read-only: $(cat "$TMP/touch.err")"
ok "published in $(elapsed "$t0" "$t1") s (view started); diff -r and cmp equal; a write fails: $(cat "$TMP/touch.err")"
opts="$(awk -v t="$A" '$5 == t { print $6 }' /proc/self/mountinfo)"
for o in ro nosuid nodev; do
	grep -qw "$o" <<<"${opts//,/ }" || fail "the target's mount options \"$opts\" lack $o"
done
VIEW="$WEIR_STATE/csi/views/development_spark"
mountpoint -q "$VIEW" || fail "the view is not at $VIEW"
[ "$(stat -c %a "$WEIR_STATE/csi/views")" = 700 ] || fail "$WEIR_STATE/csi/views is not mode 0700"
# weir's own views are no pod's target: not unmounted, not published onto
expect INVALID_ARGUMENT unpublish development/spark "$VIEW"
expect INVALID_ARGUMENT publish production/spark "$VIEW" namespace=production dataset=spark \
	readOnly=true csi.storage.k8s.io/pod.namespace=production
mountpoint -q "$VIEW" && [ "$(grep -c " $VIEW " /proc/self/mountinfo)" -eq 1 ] ||
	fail "the view $VIEW was unmounted or mounted over by a call naming it as a target"
# nor is the rest of weir's state directory (stores, sockets), by any name, or a directory above
# it: a view bound there would stand in for weir's own files
expect INVALID_ARGUMENT publish development/spark "$WEIR_STATE/x" "${DEV[@]}" csi.storage.k8s.io/pod.namespace=development
grep -q "weir's state directory" <<<"$CC_OUT" || fail "publish into $WEIR_STATE refused, but not for the state directory: $CC_OUT"
ln -s "$WEIR_STATE" "$TMP/statelink"
expect INVALID_ARGUMENT publish development/spark "$TMP/statelink/y" "${DEV[@]}" csi.storage.k8s.io/pod.namespace=development
expect INVALID_ARGUMENT publish development/spark "$(dirname "$WEIR_STATE")" "${DEV[@]}" csi.storage.k8s.io/pod.namespace=development
expect INVALID_ARGUMENT unpublish development/spark "$WEIR_STATE"
[ ! -e "$WEIR_STATE/x" ] && [ ! -e "$WEIR_STATE/y" ] || fail "a refused publish left a directory in $WEIR_STATE"
! awk -v s="$WEIR_STATE" '$5 == s || index($5, s "/") == 1 { print $5 }' /proc/self/mountinfo | grep -v "^$WEIR_STATE/csi/views/" ||
	fail "a publish mounted in $WEIR_STATE"
ok "targets in weir's state directory ($WEIR_STATE/x, through a link) or above it: INVALID_ARGUMENT, nothing made or mounted"

step "the same publish again is OK; another volume on that target is ALREADY_EXISTS"
t0="$(now)"
expect OK publish development/spark "$A" "${DEV[@]}" csi.storage.k8s.io/pod.namespace=development
t1="$(now)"
expect ALREADY_EXISTS publish production/spark "$A" namespace=production dataset=spark readOnly=true \
	csi.storage.k8s.io/pod.namespace=production
ok "republish in $(elapsed "$t0" "$t1") s; $CC_OUT"
# the same directory by another name (a trailing '/', a link in a parent) is the same target
ln -s "$TMP/pods/a" "$TMP/alias"
for alias in "$A/" "$TMP/alias/target"; do
	expect ALREADY_EXISTS publish production/spark "$alias" namespace=production dataset=spark \
		readOnly=true csi.storage.k8s.io/pod.namespace=production
done
[ "$(grep -c " $A " /proc/self/mountinfo)" -eq 1 ] || fail "$A is mounted more than once"

step "a second pod of development shares the view"
C="$TMP/pods/c/target"
t0="$(now)"
expect OK publish development/spark "$C" "${DEV[@]}" csi.storage.k8s.io/pod.namespace=development
t1="$(now)"
cmp "$D/sub/part" "$C/sub/part"
ok "published in $(elapsed "$t0" "$t1") s with the view running"

step "production's reference publishes through its own view of development's cache"
B="$TMP/pods/b/target"
expect OK publish production/spark "$B" namespace=production dataset=spark readOnly=true \
	csi.storage.k8s.io/pod.namespace=production
cmp "$D/model.bin" "$B/model.bin"
ok "production pod reads model.bin"

step "aliases of one target published at the same instant (development and production): one mount"
# a trailing '/' and a linked parent name the same directory: whatever the order, one publish
# mounts and the others see it (OK, ALREADY_EXISTS) or find it busy (ABORTED)
ln -s "$TMP/pods" "$TMP/podlink"
answers=""
for round in $(seq 1 8); do
	mkdir -p "$TMP/pods/r$round"
	R="$TMP/pods/r$round/target"
	pids=()
	k=0
	for alias in "$R" "$R/" "$TMP/podlink/r$round/target" "$TMP/podlink/r$round/target/" "$R" "$R/"; do
		k=$((k + 1))
		if [ $((k % 2)) -eq 1 ]; then
			vol=(development/spark "$alias" "${DEV[@]}" csi.storage.k8s.io/pod.namespace=development)
		else
			vol=(production/spark "$alias" namespace=production dataset=spark readOnly=true
				csi.storage.k8s.io/pod.namespace=production)
		fi
		timeout -k 2 60 "$CSI_CALL" "$TMP/csi.sock" publish "${vol[@]}" >"$TMP/race.$k" 2>&1 &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do wait "$pid" || true; done
	answers+="$(cut -d: -f1 "$TMP"/race.* | sort | uniq -c | tr -s ' \n' ' ');"
	grep -qvE '^(OK|ALREADY_EXISTS|ABORTED): ' "$TMP"/race.* && fail "round $round: $(cat "$TMP"/race.*)"
	n="$(awk -v t="$R" '$5 == t' /proc/self/mountinfo | wc -l)"
	[ "$n" -eq 1 ] || fail "round $round: $n mounts at $R after parallel publishes of its aliases: $(cat "$TMP"/race.*)"
	# unpublish by another name for it is the same: unmounted and removed (by the volume
	# that won: the other one's id is NOT_FOUND there)
	cc unpublish development/spark "$TMP/podlink/r$round/target/"
	if grep -q '^NOT_FOUND: ' <<<"$CC_OUT"; then
		mountpoint -q "$R" || fail "round $round: development's unpublish of production's target unmounted it"
		expect OK unpublish production/spark "$TMP/podlink/r$round/target/"
	fi
	grep -q '^OK: ' <<<"$CC_OUT" || fail "round $round: unpublish answered $CC_OUT"
	[ ! -e "$R" ] || fail "round $round: $R is still there after unpublishing it as $TMP/podlink/r$round/target/"
done
rm -f "$TMP"/race.*
ok "8 rounds of 6 parallel publishes on aliases: one mount each time ($answers)"

step "refusals: a qa pod on development's volume; qa's reference without a grant; no pod info"
Q="$TMP/pods/q/target"
expect PERMISSION_DENIED publish development/spark "$Q" "${DEV[@]}" csi.storage.k8s.io/pod.namespace=qa
grep -q 'pod namespace "qa" may not mount dataset development/spark' <<<"$CC_OUT" || fail "no reason: $CC_OUT"
ok "$CC_OUT"
expect PERMISSION_DENIED publish qa/spark "$Q" namespace=qa dataset=spark readOnly=true \
	csi.storage.k8s.io/pod.namespace=qa
grep -q '"qa"' <<<"$CC_OUT" || fail "the grant refusal does not name namespace \"qa\": $CC_OUT"
ok "$CC_OUT"
expect PERMISSION_DENIED publish development/spark "$Q" "${DEV[@]}"
ok "$CC_OUT"
! mountpoint -q "$Q" || fail "$Q is mounted after a refusal"
expect INVALID_ARGUMENT publish development/spark "$TMP/pods/q/../a/target" "${DEV[@]}" \
	csi.storage.k8s.io/pod.namespace=development
expect INVALID_ARGUMENT publish development/spark "$Q" namespace=development 'dataset=../../etc' \
	csi.storage.k8s.io/pod.namespace=development
# a directory of the kernel's (sysfs, here a private mount of it) is nobody's volume directory
mkdir -p "$TMP/sys" && mount -t sysfs sysfs "$TMP/sys"
at_exit 'umount -l "$TMP/sys" 2>/dev/null; true'
expect INVALID_ARGUMENT publish development/spark "$TMP/sys/kernel" "${DEV[@]}" \
	csi.storage.k8s.io/pod.namespace=development
! mountpoint -q "$TMP/sys/kernel" || { umount -l "$TMP/sys/kernel"; fail "a view was published onto sysfs"; }
umount "$TMP/sys"
ok "'..' in target_path and in the dataset name, a target on sysfs: INVALID_ARGUMENT"

step "a target near PATH_MAX whose mountinfo line is over 8 KiB (every space is \\040 there)"
# 70 nested directories of 50 bytes, 48 of them spaces: a 3.6 KB name, 13 KB escaped
LT="$TMP/pods/long"
for i in $(seq 1 70); do LT+="/d$(printf '%48s' '')x"; done
mkdir -p "$LT"
LT+="/target"
expect OK publish development/spark "$LT" "${DEV[@]}" csi.storage.k8s.io/pod.namespace=development
cmp "$D/README" "$LT/README"
expect OK publish development/spark "$LT" "${DEV[@]}" csi.storage.k8s.io/pod.namespace=development
expect ALREADY_EXISTS publish production/spark "$LT" namespace=production dataset=spark readOnly=true \
	csi.storage.k8s.io/pod.namespace=production
n="$(T="${LT// /\\040}" awk '$5 == ENVIRON["T"]' /proc/self/mountinfo | wc -l)"
[ "$n" -eq 1 ] || fail "$n mounts at the long target (${#LT} bytes) after publishing it three times"
expect OK stats development/spark "$LT"
expect OK unpublish development/spark "$LT"
[ ! -e "$LT" ] || fail "unpublish left the long target mounted or behind"
ok "a ${#LT}-byte target: published (cmp), republish OK, another volume ALREADY_EXISTS, one mount, stats, unpublished"

step "the PV's subpath: a directory of the source is published; no way out through '..' or a link"
S="$TMP/pods/s/target"
expect OK publish development/spark "$S" "${DEV[@]}" subpath=/sub csi.storage.k8s.io/pod.namespace=development
[ "$(ls "$S")" = part ] || fail "subpath=/sub published a target listing \"$(ls "$S" | tr '\n' ' ')\"; expected part"
cmp "$D/sub/part" "$S/part"
grep -q 'published dataset development/spark subpath /sub on' "$TMP/csi.log" || fail "weir-csi did not log the subpath publish"
ok "subpath=/sub published: ls shows part; cmp equal"

step "republishing a subpath: the same is OK, another subpath or none is ALREADY_EXISTS"
expect OK publish development/spark "$S" "${DEV[@]}" subpath=/sub csi.storage.k8s.io/pod.namespace=development
expect OK publish development/spark "$S" "${DEV[@]}" subpath=/sub/ csi.storage.k8s.io/pod.namespace=development
expect ALREADY_EXISTS publish development/spark "$S" "${DEV[@]}" subpath=/other csi.storage.k8s.io/pod.namespace=development
grep -q 'subpath "/sub", not "/other"' <<<"$CC_OUT" || fail "another subpath refused without naming both: $CC_OUT"
ok "$CC_OUT"
expect ALREADY_EXISTS publish development/spark "$S" "${DEV[@]}" csi.storage.k8s.io/pod.namespace=development
expect ALREADY_EXISTS publish development/spark "$S" "${DEV[@]}" subpath=/ csi.storage.k8s.io/pod.namespace=development
expect ALREADY_EXISTS publish development/spark "$A" "${DEV[@]}" subpath=/sub csi.storage.k8s.io/pod.namespace=development
grep -q 'subpath "/", not "/sub"' <<<"$CC_OUT" || fail "a subpath on the whole view's target refused without naming both: $CC_OUT"
ok "$CC_OUT"
[ "$(grep -c " $S " /proc/self/mountinfo)" -eq 1 ] || fail "$S is mounted more than once"
[ "$(ls "$S")" = part ] || fail "after the refused republishes $S lists \"$(ls "$S" | tr '\n' ' ')\"; expected part"
cmp "$D/README" "$A/README"
ok "/sub and /sub/ OK; /other, none and / ALREADY_EXISTS on $S; /sub ALREADY_EXISTS on the whole view's $A; both unchanged"
expect OK unpublish development/spark "$S"
# mountinfo escapes a space and a backslash (\040, \134): the republish check must read them back
ODD='odd dir\x'
expect OK publish development/spark "$S" "${DEV[@]}" "subpath=/$ODD" csi.storage.k8s.io/pod.namespace=development
cmp "$D/$ODD/f" "$S/f"
expect OK publish development/spark "$S" "${DEV[@]}" "subpath=/$ODD" csi.storage.k8s.io/pod.namespace=development
expect ALREADY_EXISTS publish development/spark "$S" "${DEV[@]}" subpath=/sub csi.storage.k8s.io/pod.namespace=development
expect OK unpublish development/spark "$S"
ok "subpath \"/$ODD\": published (cmp), republish OK, /sub ALREADY_EXISTS"
expect NOT_FOUND publish development/spark "$S" "${DEV[@]}" subpath=/missing csi.storage.k8s.io/pod.namespace=development
grep -q 'has no directory "missing"' <<<"$CC_OUT" || fail "subpath=/missing: $CC_OUT"
# a link out of the source (a local:// view shows no links; weir-csi follows none either)
ln -s "$TMP/elsewhere" "$D/escape"
cc publish development/spark "$S" "${DEV[@]}" subpath=/escape csi.storage.k8s.io/pod.namespace=development
grep -qE '^(NOT_FOUND|INVALID_ARGUMENT): ' <<<"$CC_OUT" || fail "subpath=/escape (a link to $TMP/elsewhere) answered: $CC_OUT"
ESC_OUT="$CC_OUT"
! mountpoint -q "$S" || fail "subpath=/escape mounted $S: $(ls "$S")"
expect INVALID_ARGUMENT publish development/spark "$S" "${DEV[@]}" subpath=/sub/../.. csi.storage.k8s.io/pod.namespace=development
! mountpoint -q "$S" || fail "$S is mounted after a refused subpath"
ok "subpath=/sub shows sub/ (cmp); /missing NOT_FOUND; a link out refused ($ESC_OUT); '..' INVALID_ARGUMENT; nothing mounted"

step "NodeGetVolumeStats: the view's cached bytes; unknown paths NOT_FOUND"
# blocks reach the tier in the background: give them a moment
for i in $(seq 1 50); do
	expect OK stats development/spark "$A"
	used="$(sed -n 's/.*used=\([0-9]*\).*/\1/p' <<<"$CC_OUT")"
	[ "${used:-0}" -ge 6000000 ] && break
	sleep 0.2
done
[ "${used:-0}" -ge 6000000 ] || fail "NodeGetVolumeStats used=$used 10 s after reading 6 MB through the view: $CC_OUT"
ok "$(head -n 1 <<<"$CC_OUT")"
expect NOT_FOUND stats development/spark "$TMP/pods/q"
expect NOT_FOUND stats development/spark some/path
# the volume published there, by whatever name: another volume id is NOT_FOUND (the spec), and
# the target by a linked parent is the same target
expect NOT_FOUND stats production/spark "$A"
expect NOT_FOUND stats development/other "$A"
expect OK stats development/spark "$TMP/alias/target"
ok "another volume id at $A: NOT_FOUND; $A by a linked parent: $(head -n 1 <<<"$CC_OUT")"

step "weir-csi restarts: the targets stay mounted and publish is still idempotent"
T="$TMP/pods/t/target"
expect OK publish development/spark "$T" "${DEV[@]}" subpath=/other csi.storage.k8s.io/pod.namespace=development
csi_stop
mountpoint -q "$A" && mountpoint -q "$B" && mountpoint -q "$T" || fail "stopping weir-csi unmounted a target"
cmp "$D/model.bin" "$B/model.bin"
# what a weir-csi from before the records leaves: mounts and no records. Their stats are still
# answered (and recorded), not NOT_FOUND until a republish the kubelet never makes
rm -f "$WEIR_STATE/csi/targets/"*
# the state directory named with a trailing '/' (as a Helm value may be): the views' names it
# makes must still be the ones mountinfo lists, or no view is found running or publishing
csi_start --view-grace 2 --state-dir "$WEIR_STATE/"
expect OK publish development/spark "$A" "${DEV[@]}" csi.storage.k8s.io/pod.namespace=development
expect OK publish development/spark "$T" "${DEV[@]}" subpath=/other csi.storage.k8s.io/pod.namespace=development
expect ALREADY_EXISTS publish development/spark "$T" "${DEV[@]}" subpath=/sub csi.storage.k8s.io/pod.namespace=development
expect ALREADY_EXISTS publish development/spark "$A" "${DEV[@]}" subpath=/other csi.storage.k8s.io/pod.namespace=development
cmp "$D/other/note" "$T/note"
expect OK stats production/spark "$B"
ok "after the restart: targets mounted; the same volume and subpath OK, another subpath ALREADY_EXISTS; unrecorded $B's stats: $(head -n 1 <<<"$CC_OUT")"
expect OK unpublish development/spark "$T"

step "unpublish: unmounted, target removed, idempotent; the view stops after the last user"
expect OK unpublish development/spark "$A"
! mountpoint -q "$A" || fail "$A still mounted after NodeUnpublishVolume"
[ ! -e "$A" ] || fail "NodeUnpublishVolume left $A behind"
expect OK unpublish development/spark "$A"
sleep 3
mountpoint -q "$VIEW" || fail "the view stopped while pod c still uses it"
cmp "$D/README" "$C/README"
expect OK unpublish development/spark "$C"
for i in $(seq 1 50); do mountpoint -q "$VIEW" || break; sleep 0.2; done
! mountpoint -q "$VIEW" || fail "the view $VIEW still runs 10 s after its last target went (grace 2 s)"
ok "the view stopped after the grace period"
expect OK unpublish production/spark "$B"
ok "all unpublished"

step "unpublish removes only a directory weir-csi made: not one that was there, not an unknown one"
# the CO made E (older kubelets did): published and unpublished, it stays, empty; an empty
# directory never published is already unpublished (OK) and stays too
E="$TMP/pods/e/target"
mkdir -p "$E" "$TMP/unrelated"
expect OK publish development/spark "$E" "${DEV[@]}" csi.storage.k8s.io/pod.namespace=development
cmp "$D/README" "$E/README"
expect NOT_FOUND unpublish production/spark "$E"
mountpoint -q "$E" || fail "an unpublish naming another volume unmounted $E"
expect OK unpublish development/spark "$E"
! mountpoint -q "$E" || fail "$E still mounted after NodeUnpublishVolume"
[ -d "$E" ] || fail "NodeUnpublishVolume removed $E, which the CO had made"
expect OK unpublish development/spark "$TMP/unrelated"
[ -d "$TMP/unrelated" ] || fail "NodeUnpublishVolume removed $TMP/unrelated, which it never published"
ok "$E unmounted and left; $TMP/unrelated: OK and left; another volume id: NOT_FOUND, still mounted"

step "a record that outlived its mount (unmounted behind weir-csi's back) does not make another volume's unpublish fail forever"
# what a reboot (the kubelet removes an unmounted target) or a crash between the record and the
# mount leaves: the record names development/spark, nothing is mounted; an unpublish of another
# volume there (a pod whose publish never finished) is OK, or the pod never terminates
F="$TMP/pods/f/target"
mkdir -p "$F"
expect OK publish development/spark "$F" "${DEV[@]}" csi.storage.k8s.io/pod.namespace=development
umount -l "$F"
! mountpoint -q "$F" || fail "$F still mounted after umount"
expect OK unpublish production/spark "$F"
[ -d "$F" ] || fail "the unpublish of another volume removed $F"
expect OK unpublish development/spark "$F"
ok "a stale record of another volume with nothing mounted: OK, record dropped, directory left"

step "a target weir-csi made, removed without an unpublish: its record and mark go; a directory the CO makes with its key back stays"
# the key is the parent's device and inode and the name: a pod directory whose inode is reused
# (here: the same parent) brings it back. G: a reboot (weir-csi starts again) drops the record
# and mark at start; H: without a restart, the next publish there drops them
record_of() { # the record file of target $1 (csi/node.c record_path)
	printf '%s/csi/targets/%s' "$WEIR_STATE" "$(printf '@%x:%x/%s' \
		$(stat -c '%d %i' "$(dirname "$1")") "$(basename "$1")" | sha256sum | cut -d' ' -f1)"
}
G="$TMP/pods/g/target"
H="$TMP/pods/h/target"
I="$TMP/pods/i/target"
J="$TMP/pods/j/target"
mkdir -p "$TMP/pods/g" "$TMP/pods/h" "$TMP/pods/i" "$TMP/pods/j"
gone() { # publishes $1 (weir-csi makes it), then it goes behind weir-csi's back
	expect OK publish development/spark "$1" "${DEV[@]}" csi.storage.k8s.io/pod.namespace=development
	rec="$(record_of "$1")"
	[ -f "$rec" ] && [ -f "$rec.made" ] || fail "no record and mark $rec(.made) for $1, which weir-csi made"
	umount -l "$1"
	rmdir "$1"
}
gone "$G"
expect OK publish development/spark "$I" "${DEV[@]}" csi.storage.k8s.io/pod.namespace=development
csi_stop
csi_start --view-grace 2
rec="$(record_of "$G")"
[ ! -e "$rec" ] && [ ! -e "$rec.made" ] || fail "weir-csi's start left the record or mark of $G, which is gone: $(ls "$WEIR_STATE/csi/targets")"
[ -f "$(record_of "$I")" ] || fail "weir-csi's start dropped the record of $I, which is published"
gone "$H"
gone "$J"
mkdir "$G" "$H" "$J"
for X in "$G" "$H"; do
	expect OK publish development/spark "$X" "${DEV[@]}" csi.storage.k8s.io/pod.namespace=development
	cmp "$D/README" "$X/README"
	expect OK unpublish development/spark "$X"
	! mountpoint -q "$X" || fail "$X still mounted after NodeUnpublishVolume"
	[ -d "$X" ] || fail "NodeUnpublishVolume removed $X, which the CO made (a stale mark of the target that had its key)"
done
# J: the new pod's publish never got to its record (weir-node busy, say); its unpublish finds
# the stale record of the same volume, and nothing mounted
expect OK unpublish development/spark "$J"
[ -d "$J" ] || fail "NodeUnpublishVolume removed $J, which the CO made (a stale record of the target that had its key)"
expect OK unpublish development/spark "$I"
[ ! -e "$I" ] || fail "NodeUnpublishVolume left $I, which weir-csi made, after a restart"
ok "records of removed targets dropped at start (G), at the next publish (H), ignored by an unpublish with nothing mounted (J); $G, $H and $J, made by the CO, left"

step "weir-node dies with its keeper (kill -9): a pod's dead target still unpublishes once the view runs again"
# the pod's bind keeps the dead view's device; the next publish clears the dead view and starts
# a new one (another device): the kubelet's unpublish of the old pod must not be refused forever
K="$TMP/pods/k/target"
K2="$TMP/pods/k2/target"
mkdir -p "$TMP/pods/k" "$TMP/pods/k2"
expect OK publish development/spark "$K" "${DEV[@]}" csi.storage.k8s.io/pod.namespace=development
weir_kill_all
wt_run "starting weir-node again" up
expect OK publish development/spark "$K2" "${DEV[@]}" csi.storage.k8s.io/pod.namespace=development
cmp "$D/README" "$K2/README"
expect OK unpublish development/spark "$K"
! grep -q " $K " /proc/self/mountinfo || fail "$K is still mounted after NodeUnpublishVolume"
[ ! -e "$K" ] || fail "NodeUnpublishVolume left $K behind"
expect OK unpublish development/spark "$K2"
ok "the dead target unpublished; the new view served the next pod (cmp)"
