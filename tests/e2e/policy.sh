#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end (issue 7, items 9 and 15) on the embedded control plane:
# - ufs-roots: a namespace may only make Datasets over the UFS roots the administrator gave it
#   (local:///data/a allows neither local:///data/ab nor local:///data/a/../b nor local:///),
#   and withdrawing a root (or a dataset:// grant) unmounts the views within one reconcile pass;
# - deleting a Dataset while it is mounted purges its cache once the view is unmounted;
# - `weir apply` with a changed mountPoint switches the Dataset to the new source (Bound, new
#   bytes) and drops the old cache, instead of leaving it Failed for good.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/walkthrough.sh"

require_root_fuse
find_weir_bins
find_controller_bin
TMP="$(mktemp -d /tmp/weir-e2e-policy.XXXXXX)"
at_exit 'rm -rf "$TMP"'
weir_setup "$TMP"
WT_POLL_SECONDS=30
WT_MOUNTS=()
D="$TMP/data"
mkdir -p "$D/a/d1" "$D/a/d2" "$D/ab" "$D/b"
rand_file "$D/a/file" 3000000 policy-a
rand_file "$D/a/d1/f" 2000000 policy-d1
rand_file "$D/a/d2/f" 2500000 policy-d2
rand_file "$D/ab/file" 1000 policy-ab
echo "secret of b" >"$D/b/secret"
CONF="$WEIR_STATE/controller.conf"
printf 'resync-interval = 0.5\nufs-roots = team-a=local://%s/a\n' "$D" >"$CONF"
printf 'metrics-listen =\n' >"$WEIR_STATE/node.conf"

# dataset NS NAME URL: a Dataset and its Runtime (a memory tier in this test's tier dir).
dataset() { wt_dataset_yaml "$1" "$2" "$3"; }

# expect_failed NS NAME WORD: the Dataset ends Failed with a condition mentioning WORD.
expect_failed() {
	local f="$TMP/ds-$1-$2.json" i phase=""
	for i in $(seq 1 40); do
		if wt_json dataset "$2" "$1" "$f"; then
			phase="$(wt_field_opt "$f" status.phase)"
			[ "$phase" = Failed ] && break
		fi
		sleep 0.25
	done
	[ "$phase" = Failed ] || fail "dataset $1/$2 is \"$phase\"; a Dataset outside its namespace's ufs-roots must be Failed"
	wt_conditions "$f" | grep -q "$3" || fail "dataset $1/$2 is Failed but its conditions do not say \"$3\": $(wt_conditions "$f")"
	ok "$1/$2 Failed: $(wt_conditions "$f" | head -n 1)"
}

# wait_bound NS NAME: the Dataset becomes Bound within 20 s, whatever it was before.
wait_bound() {
	local f="$TMP/ds-$1-$2.json" i phase=""
	for i in $(seq 1 80); do
		if wt_json dataset "$2" "$1" "$f"; then
			phase="$(wt_field_opt "$f" status.phase)"
			[ "$phase" = Bound ] && return 0
		fi
		sleep 0.25
	done
	fail "dataset $1/$2 is \"$phase\" after 20 s, expected Bound: $(wt_conditions "$f")"
}

step "weir up with ufs-roots = team-a=local://$D/a"
wt_up
show create namespace team-a
show create namespace team-b

step "team-a may use its root; not a sibling, a dot-dot escape or /; team-b may use nothing"
dataset team-a a "local://$D/a" >"$TMP/a.yaml"
dataset team-a ab "local://$D/ab" >"$TMP/ab.yaml"
dataset team-a dotdot "local://$D/a/../b" >"$TMP/dotdot.yaml"
dataset team-a root "local:///" >"$TMP/root.yaml"
dataset team-b a "local://$D/a" >"$TMP/b-a.yaml"
for y in a ab dotdot root b-a; do show apply -f "$TMP/$y.yaml"; done
wt_wait_phase dataset a team-a Bound
ok "team-a/a (local://$D/a) Bound"
expect_failed team-a ab "UFSRootDenied"
expect_failed team-a dotdot "UFSRootDenied"
expect_failed team-a root "UFSRootDenied"
expect_failed team-b a "UFSRootDenied"
mkdir -p "$TMP/mnt-b"
rc=0
w mount -n team-b a "$TMP/mnt-b" </dev/null >"$TMP/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || { umount -l "$TMP/mnt-b"; fail "weir mount -n team-b a succeeded; team-b may use no UFS"; }
! is_mounted "$TMP/mnt-b" || fail "$TMP/mnt-b is mounted although weir mount failed"
grep -q 'may not use the UFS' "$TMP/out" || fail "weir mount -n team-b a failed without saying why: $(cat "$TMP/out")"
ok "weir mount -n team-b a refused: $(head -n 1 "$TMP/out")"

step "a mountPoint's password shows in neither describe, status nor the refusal"
PASS='Hunter2-p0licy'
dataset team-a creds "http://user:$PASS@127.0.0.1:9/x/" >"$TMP/creds.yaml"
show apply -f "$TMP/creds.yaml"
expect_failed team-a creds "UFSRootDenied"
wt_run "describing team-a/creds" describe dataset creds -n team-a
! grep -qF "$PASS" <<<"$WT_OUT" || fail "weir describe dataset shows the mountPoint's password: $WT_OUT"
grep -qF 'user:***@' <<<"$WT_OUT" || fail "weir describe dataset does not show the masked mountPoint: $WT_OUT"
! wt_conditions "$TMP/ds-team-a-creds.json" | grep -qF "$PASS" || fail "the status condition of team-a/creds shows the password"
for o in yaml json wide; do
	wt_run "weir get dataset creds -o $o" get dataset creds -n team-a -o "$o"
	! grep -qF "$PASS" <<<"$WT_OUT" || fail "weir get dataset -o $o shows the mountPoint's password: $WT_OUT"
done
grep -qF 'user:***@' <<<"$(w get dataset creds -n team-a -o yaml </dev/null)" || fail "weir get -o yaml does not show the masked mountPoint"
rc=0
w mount -n team-a creds "$TMP/mnt-b" </dev/null >"$TMP/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "weir mount -n team-a creds succeeded"
! grep -qF "$PASS" "$TMP/out" || fail "weir mount's refusal shows the password: $(cat "$TMP/out")"
! grep -qF "$PASS" "$WEIR_STATE/controller.log" || fail "controller.log shows the password"
ok "describe, get -o yaml|json|wide, status, refusal and controller.log show user:***@"

step "team-a mounts its Dataset and reads it"
MA="$TMP/mnt-a"
wt_mount team-a a "$MA"
cmp "$D/a/file" "$MA/file" || fail "team-a's view of $D/a reads other bytes"
ok "team-a reads $MA/file"

step "a symlink inside team-a's root that points out of it does not lead a Dataset there"
# Lexically under local://$D/a, so ufs-roots allows it; the view must not be $D/b (or /etc).
ln -s "$D/b" "$D/a/link"
dataset team-a link "local://$D/a/link" >"$TMP/link.yaml"
dataset team-a linkdot "local://$D/a/link/../b" >"$TMP/linkdot.yaml"
show apply -f "$TMP/link.yaml"
show apply -f "$TMP/linkdot.yaml"
for ds in link linkdot; do
	mkdir -p "$TMP/mnt-$ds"
	rc=0
	w mount -n team-a "$ds" "$TMP/mnt-$ds" </dev/null >"$TMP/out" 2>&1 || rc=$?
	if [ "$rc" -eq 0 ]; then
		found="$(cat "$TMP/mnt-$ds/secret" "$TMP/mnt-$ds/b/secret" 2>/dev/null || true)"
		umount -l "$TMP/mnt-$ds"
		fail "weir mount -n team-a $ds (local://$D/a/link...) succeeded${found:+ and showed $D/b/secret: $found}"
	fi
	grep -q 'symbolic link' "$TMP/out" || fail "weir mount -n team-a $ds failed without saying why: $(cat "$TMP/out")"
	ok "weir mount -n team-a $ds refused: $(head -n 1 "$TMP/out")"
done
show delete dataset link -n team-a
show delete dataset linkdot -n team-a
rm "$D/a/link"

step "the administrator withdraws team-a's root: its view is unmounted within seconds"
printf 'resync-interval = 0.5\nufs-roots = team-a=local://%s/elsewhere\n' "$D" >"$CONF.new"
mv "$CONF.new" "$CONF"
t0="$(now)"
for i in $(seq 1 40); do is_mounted "$MA" || break; sleep 0.25; done
t1="$(now)"
! is_mounted "$MA" || fail "$MA is still mounted 10 s after team-a's root was withdrawn"
ok "unmounted $(elapsed "$t0" "$t1") s after the change"
! cat "$MA/file" >/dev/null 2>&1 || ! is_mounted "$MA" || fail "$MA/file still reads"
expect_failed team-a a "UFSRootDenied"
grep -q 'unmounted ".*mnt-a" (dataset team-a/a)' "$WEIR_STATE/controller.log" ||
	fail "controller.log does not say that it unmounted team-a/a's view"

step "root given back; team-a shares its Dataset with team-b, then takes the grant back"
printf 'resync-interval = 0.5\nufs-roots = team-a=local://%s/a\n' "$D" >"$CONF.new"
mv "$CONF.new" "$CONF"
wait_bound team-a a
# shared NS...: team-a/a with an allow-list of those namespaces (read-only)
shared() {
	dataset team-a a "local://$D/a" | awk -v list="$*" '
		{ print }
		/^      name: a$/ && !done { print "  sharing:"; print "    allow:"
			n = split(list, l, " "); for (i = 1; i <= n; i++) print "      - namespace: " l[i]
			done = 1 }'
}
shared team-b >"$TMP/shared.yaml"
show apply -f "$TMP/shared.yaml"
printf 'apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata:\n  name: ref\n  namespace: team-b\nspec:\n  mounts:\n    - mountPoint: dataset://team-a/a\n' >"$TMP/ref.yaml"
show apply -f "$TMP/ref.yaml"
wait_bound team-b ref
MR="$TMP/mnt-ref"
wt_mount team-b ref "$MR"
cmp "$D/a/file" "$MR/file" || fail "team-b's reference reads other bytes than team-a's file"
shared team-c >"$TMP/shared.yaml"
show apply -f "$TMP/shared.yaml"
t0="$(now)"
for i in $(seq 1 40); do is_mounted "$MR" || break; sleep 0.25; done
! is_mounted "$MR" || fail "team-b's view $MR is still mounted 10 s after team-a took its grant back"
# the controller logs once weir-node's unmount call returns, which can be after the mount is gone
for i in $(seq 1 20); do
	grep -q 'unmounted ".*mnt-ref" (dataset team-b/ref)' "$WEIR_STATE/controller.log" && break
	sleep 0.25
done
grep -q 'unmounted ".*mnt-ref" (dataset team-b/ref)' "$WEIR_STATE/controller.log" ||
	fail "controller.log does not say, 5 s after the view went, that it unmounted team-b/ref's view"
ok "team-b's view unmounted $(elapsed "$t0" "$(now)") s after the grant was withdrawn"

step "a Dataset deleted while mounted loses its cache once unmounted"
# bound_and_read NAME URL MP FILE: applies team-a/NAME over URL, waits for Bound, mounts it at MP
# and compares MP's copy of FILE (relative to URL's directory) with the source's.
bound_and_read() {
	dataset team-a "$1" "$2" >"$TMP/$1.yaml"
	show apply -f "$TMP/$1.yaml"
	wait_bound team-a "$1"
	wt_mount team-a "$1" "$3"
	cmp "${2#local://}/$4" "$3/$4" || fail "team-a/$1's view of $2 reads other bytes than $4"
}
MD="$TMP/mnt-del"
bound_and_read del "local://$D/a" "$MD" file
TIERDIR="$WEIR_TIER_DIR/weir/team-a_del" STOREDIR="$WEIR_STATE/stores/team-a_del"
# the tier write follows the read (a tier writer thread): wait for it, a loaded machine may lag
for i in $(seq 1 40); do [ -z "$(find "$TIERDIR" -type f -size +0 2>/dev/null)" ] || break; sleep 0.25; done
[ -n "$(find "$TIERDIR" -type f -size +0 2>/dev/null)" ] || fail "nothing cached under $TIERDIR 10 s after reading $MD/file"
[ -d "$STOREDIR" ] || fail "no block index at $STOREDIR"
show delete dataset del -n team-a
cmp "$D/a/file" "$MD/file" || fail "the view of a deleted (still mounted) Dataset stopped reading"
[ -d "$STOREDIR" ] || fail "$STOREDIR went while the view was still mounted"
wt_umount "$MD"
for i in $(seq 1 20); do [ -e "$TIERDIR" ] || [ -e "$STOREDIR" ] || break; sleep 0.25; done
[ ! -e "$TIERDIR" ] || fail "the tier files of deleted team-a/del are still at $TIERDIR after its view was unmounted"
[ ! -e "$STOREDIR" ] || fail "the block index of deleted team-a/del is still at $STOREDIR after its view was unmounted"
ok "tier files and index removed after the unmount"

step "weir apply with a changed mountPoint switches the source and drops the old cache"
MM="$TMP/mnt-mp"
bound_and_read mp "local://$D/a/d1" "$MM" f
wt_umount "$MM"
dataset team-a mp "local://$D/a/d2" >"$TMP/mp.yaml"
show apply -f "$TMP/mp.yaml"
grep -q configured <<<"$WT_OUT" || fail "weir apply of a changed mountPoint did not say configured: $WT_OUT"
sleep 2 # a few reconcile passes
wait_bound team-a mp
wt_mount team-a mp "$MM"
cmp "$D/a/d2/f" "$MM/f" || fail "after the mountPoint changed to d2, team-a/mp reads other bytes than d2/f"
ok "Bound on the new mountPoint; reads d2's bytes"
grep -q "source team-a_mp: its URL changed" "$WEIR_STATE/node.log" ||
	fail "node.log does not say that the old cache of team-a_mp was dropped"
grep -qx "local://$D/a/d2/\?" "$WEIR_STATE/stores/team-a_mp/url" ||
	fail "stores/team-a_mp/url is \"$(cat "$WEIR_STATE/stores/team-a_mp/url")\", not the new mountPoint"
ok "old cache purged; the source records the new URL"
wt_umount "$MM"

echo
echo "PASS: ufs-roots, delete while mounted, changed mountPoint"
