#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Views keep the source's permissions and the kernel enforces them (default_permissions): a
# local:// view shows the source's owner, group and mode; an HTTP view the owner and mode that
# weir mount --uid/--gid/--mode (or a Dataset's spec.owner) sets, world-readable when public and
# owner-only when the URL carries credentials. A Dataset's pod view lives under the state
# directory's root-only views/. Non-root checks run as nobody (and daemon) through setpriv.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/walkthrough.sh"

require_root_fuse
find_weir_bins
command -v setpriv >/dev/null || fail "setpriv is missing: install util-linux (scripts/install-deps.sh)"
id nobody >/dev/null 2>&1 && getent group nogroup >/dev/null ||
	fail "user nobody and group nogroup must exist to run the non-root checks"
TMP="$(mktemp -d /tmp/weir-e2e-perms.XXXXXX)"
at_exit 'rm -rf "$TMP"'
# The mountpoints must be reachable by nobody: only the views may say no.
chmod 0755 "$TMP"
weir_setup "$TMP"
TIERS="mem:$WEIR_TIER_DIR/mem:64MiB"

# as USER CMD...: runs CMD as USER (and the user's own group), with no supplementary groups.
as() {
	local u="$1"
	shift
	setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups "$@"
}
# can_read USER FILE: USER reads FILE through the view and gets the source's bytes.
can_read() {
	as "$1" cat "$2" >"$TMP/read.out" 2>"$TMP/read.err" ||
		fail "$1 cannot read $2: $(cat "$TMP/read.err")"
	cmp "$TMP/read.out" "$3" || fail "$1 read other bytes than $3 through $2"
}
# cannot_read USER FILE: the kernel refuses (EACCES), not the daemon with some other error.
cannot_read() {
	if as "$1" cat "$2" >/dev/null 2>"$TMP/read.err"; then fail "$1 could read $2"; fi
	grep -q "Permission denied" "$TMP/read.err" || fail "reading $2 as $1 said: $(cat "$TMP/read.err")"
}
# shows PATH OWNER:GROUP MODE: stat through the view says so.
shows() {
	local got
	got="$(stat -c '%U:%G %a' "$1")"
	[ "$got" = "$2 $3" ] || fail "$1 shows \"$got\", want \"$2 $3\""
}

step "local:// views show the source's owner, group and mode, and the kernel enforces them"
SRC="$TMP/src"
mkdir -p "$SRC/private" "$SRC/shared"
echo "root only" >"$SRC/secret.txt" && chmod 0600 "$SRC/secret.txt"
echo "for all" >"$SRC/public.txt" && chmod 0644 "$SRC/public.txt"
echo "nobody's" >"$SRC/mine.txt" && chown nobody:nogroup "$SRC/mine.txt" && chmod 0600 "$SRC/mine.txt"
echo "hidden" >"$SRC/private/f.txt" && chmod 0644 "$SRC/private/f.txt" && chmod 0700 "$SRC/private"
chmod 1777 "$SRC/shared"
mkdir -p "$SRC/grp" && chown root:nogroup "$SRC/grp" && chmod 0770 "$SRC/grp"
echo "for the group" >"$SRC/grp.txt" && chown root:nogroup "$SRC/grp.txt" && chmod 0640 "$SRC/grp.txt"
chmod 0755 "$SRC"
LV="$TMP/local"
weir_mount "local://$SRC" "$LV" --tier "$TIERS"
shows "$LV" root:root 755
shows "$LV/secret.txt" root:root 600
shows "$LV/public.txt" root:root 644
shows "$LV/mine.txt" nobody:nogroup 600
shows "$LV/private" root:root 700
cannot_read nobody "$LV/secret.txt"
can_read nobody "$LV/public.txt" "$SRC/public.txt"
can_read nobody "$LV/mine.txt" "$SRC/mine.txt"
cannot_read daemon "$LV/mine.txt"
if as nobody ls "$LV/private" >/dev/null 2>&1; then fail "nobody listed a 0700 directory of root's"; fi
cannot_read nobody "$LV/private/f.txt"
ok "nobody reads 0644 and its own 0600 file, not root's 0600 file nor a 0700 directory"

step "weir mount local:///etc: nobody cannot read /etc/shadow through the view"
if [ -f /etc/shadow ] && ! as nobody cat /etc/shadow >/dev/null 2>&1; then
	weir_mount "local:///etc" "$TMP/etc" --tier "$TIERS"
	shows "$TMP/etc/shadow" "$(stat -c %U:%G /etc/shadow)" "$(stat -c %a /etc/shadow)"
	cannot_read nobody "$TMP/etc/shadow"
	can_read root "$TMP/etc/shadow" /etc/shadow
	ok "shadow keeps $(stat -c '%U:%G %a' /etc/shadow) in the view"
else
	fail "/etc/shadow is missing or readable by nobody on this machine: the check needs it"
fi

step "a read-write local:// view: the kernel checks writes too; a new file is its creator's"
RW="$TMP/rw"
weir_mount "local://$SRC" "$RW" --tier "$TIERS" --read-write
if as nobody sh -c "echo x >>'$RW/public.txt'" 2>/dev/null; then fail "nobody appended to root's 0644 file"; fi
cmp <(echo "for all") "$SRC/public.txt" || fail "public.txt changed on the source"
as nobody sh -c "echo made >'$RW/shared/new.txt'" || fail "nobody cannot create a file in a 1777 directory"
[ "$(stat -c %U:%G "$SRC/shared/new.txt")" = nobody:nogroup ] ||
	fail "a file nobody created is $(stat -c %U:%G "$SRC/shared/new.txt") on the source"
as nobody sh -c "echo again >>'$RW/shared/new.txt'" || fail "nobody cannot append to its own new file"
cmp <(printf 'made\nagain\n') "$SRC/shared/new.txt" || fail "shared/new.txt on the source is not what nobody wrote"
as nobody mkdir -m 0750 "$RW/shared/nd" || fail "nobody cannot make a directory in a 1777 directory"
[ "$(stat -c '%U:%G %a' "$SRC/shared/nd")" = "nobody:nogroup 750" ] ||
	fail "a directory nobody made is $(stat -c '%U:%G %a' "$SRC/shared/nd") on the source"
shows "$RW/shared/nd" nobody:nogroup 750
as nobody sh -c "echo deep >'$RW/shared/nd/f'" || fail "nobody cannot write in its own new directory"
cmp <(echo deep) "$SRC/shared/nd/f" || fail "shared/nd/f on the source is not what nobody wrote"
ok "nobody is refused root's file and owns what it creates"

step "a name swapped at the source for a link inside it: the daemon (root) acts with the reader's rights"
# nobody owns shared/f-* (0666) and shared/d-* (0777), one of each per attempt; both views look
# them up, then nobody swaps them on the source for links to root's 0600 secret.txt and 0700
# private/. The kernel still holds nobody's attributes, so only weir-node acting with nobody's
# rights (not root's) says no.
tries="lr rr lw rw cr md rm mv ch tr"
for t in $tries; do
	as nobody sh -c "echo mine >'$SRC/shared/f-$t' && chmod 0666 '$SRC/shared/f-$t' && mkdir -m 0777 '$SRC/shared/d-$t'"
done
for t in $tries; do
	for m in "$LV" "$RW"; do
		shows "$m/shared/f-$t" nobody:nogroup 666
		shows "$m/shared/d-$t" nobody:nogroup 777
	done
done
for t in $tries; do
	as nobody sh -c "rm '$SRC/shared/f-$t' && ln -s ../secret.txt '$SRC/shared/f-$t' &&
		rmdir '$SRC/shared/d-$t' && ln -s ../private '$SRC/shared/d-$t'"
done
for p in "$LV/shared/f-lr" "$RW/shared/f-rr"; do
	out="$(as nobody cat "$p" 2>/dev/null || true)"
	[ "$out" != "root only" ] || fail "nobody read root's 0600 secret.txt through $p (a swapped link)"
done
for p in "$LV/shared/d-lr" "$RW/shared/d-rr"; do
	out="$(as nobody cat "$p/f.txt" 2>/dev/null || true)"
	[ "$out" != "hidden" ] || fail "nobody read private/f.txt (in root's 0700 directory) through $p"
done
as nobody sh -c "echo PWNED >>'$RW/shared/f-rw'" 2>/dev/null || true
cmp <(echo "root only") "$SRC/secret.txt" || fail "nobody wrote root's 0600 secret.txt through a swapped link"
as nobody sh -c "echo PLANTED >'$RW/shared/d-cr/planted'" 2>/dev/null || true
[ ! -e "$SRC/private/planted" ] || fail "nobody created a file in root's 0700 private/ through a swapped link"
as nobody mkdir "$RW/shared/d-md/newdir" 2>/dev/null || true
[ ! -e "$SRC/private/newdir" ] || fail "nobody made a directory in root's 0700 private/ through a swapped link"
as nobody rm -f "$RW/shared/d-rm/f.txt" 2>/dev/null || true
[ -e "$SRC/private/f.txt" ] || fail "nobody removed private/f.txt from root's 0700 directory through a swapped link"
as nobody mv "$RW/shared/d-mv/f.txt" "$RW/shared/stolen" 2>/dev/null || true
[ -e "$SRC/private/f.txt" ] || fail "nobody moved private/f.txt out of root's 0700 directory through a swapped link"
as nobody chmod 0666 "$RW/shared/f-ch" 2>/dev/null || true
[ "$(stat -c %a "$SRC/secret.txt")" = 600 ] || fail "nobody changed the mode of root's secret.txt through a swapped link"
as nobody truncate -s 0 "$RW/shared/f-tr" 2>/dev/null || true
cmp <(echo "root only") "$SRC/secret.txt" || fail "nobody truncated root's secret.txt through a swapped link"
for t in $tries; do rm -f "$SRC/shared/f-$t" "$SRC/shared/d-$t"; done
# what nobody may do still works: its own files in the 1777 directory, created, renamed, removed
as nobody sh -c "echo again >'$RW/shared/own' && mv '$RW/shared/own' '$RW/shared/own2' &&
	chmod 0440 '$RW/shared/own2' && chmod 0640 '$RW/shared/own2' && touch '$RW/shared/own2' &&
	truncate -s 2 '$RW/shared/own2' && cat '$RW/shared/own2' >/dev/null && rm '$RW/shared/own2'" ||
	fail "nobody cannot create, rename, chmod, touch, truncate and remove its own file"
[ ! -e "$SRC/shared/own2" ] || fail "shared/own2 is still on the source"
# a supplementary group still counts: daemon, in group nogroup only as a supplementary one,
# reads a root:nogroup 0640 file and writes in a root:nogroup 0770 directory
sup() { setpriv --reuid=daemon --regid="$(id -g daemon)" --groups="$(getent group nogroup | cut -d: -f3)" "$@"; }
for m in "$LV" "$RW"; do
	sup cat "$m/grp.txt" >"$TMP/read.out" 2>"$TMP/read.err" ||
		fail "daemon (supplementary group nogroup) cannot read $m/grp.txt: $(cat "$TMP/read.err")"
	cmp "$TMP/read.out" "$SRC/grp.txt" || fail "daemon read other bytes through $m/grp.txt"
done
sup sh -c "echo g >'$RW/grp/new'" || fail "daemon (supplementary group nogroup) cannot create in a 0770 root:nogroup directory"
[ "$(stat -c %U "$SRC/grp/new")" = daemon ] || fail "grp/new is $(stat -c %U "$SRC/grp/new")'s, not daemon's"
# a write by another user drops a setuid bit, as on the source (the kernel asks for it)
echo "suid" >"$SRC/shared/suid" && chmod 04777 "$SRC/shared/suid"
as nobody sh -c "echo more >>'$RW/shared/suid'" || fail "nobody cannot append to a 04777 file of root's"
[ "$(stat -c %a "$SRC/shared/suid")" = 777 ] || fail "shared/suid is $(stat -c %a "$SRC/shared/suid") after nobody wrote it, want 777"
ok "weir-node opens, creates, removes and renames with the reader's rights: a swapped link leads nowhere"

step "chown and chgrp through a read-write view change the source, with the reader's rights"
# owner of SRC/PATH and of the view's RW/PATH, both as OWNER:GROUP
owner_is() {
	local s v
	s="$(stat -c %U:%G "$SRC/$1")" v="$(stat -c %U:%G "$RW/$1")"
	[ "$s" = "$2" ] || fail "$1 is $s on the source, want $2"
	[ "$v" = "$2" ] || fail "$1 shows $v through the view, want $2 (the source's $s)"
}
echo own >"$SRC/shared/co.txt" && chmod 0644 "$SRC/shared/co.txt" && mkdir -m 0755 "$SRC/shared/co.d"
for p in shared/co.txt shared/co.d; do
	owner_is "$p" root:root
	chown daemon:nogroup "$RW/$p" || fail "root cannot chown $p through the view"
	owner_is "$p" daemon:nogroup
	chown daemon:daemon "$RW/$p" && owner_is "$p" daemon:daemon
	# an owner gives its file to a group it belongs to (daemon: nogroup as a supplementary group)
	sup chgrp nogroup "$RW/$p" || fail "daemon cannot chgrp its $p to its group nogroup through the view"
	owner_is "$p" daemon:nogroup
	# and nothing more: not to a group it is not in, not to another user; nor may others
	if sup chgrp root "$RW/$p" 2>/dev/null; then fail "daemon chgrp'd $p to root's group"; fi
	if sup chown nobody "$RW/$p" 2>/dev/null; then fail "daemon gave $p to nobody"; fi
	if as nobody chgrp nogroup "$RW/$p" 2>/dev/null; then fail "nobody chgrp'd daemon's $p"; fi
	owner_is "$p" daemon:nogroup
done
# a chown of a name nobody owns, swapped at the source for a link to root's secret.txt: the
# kernel lets nobody chgrp "its" file, weir-node (root) must not do it for it
as nobody sh -c "echo mine >'$SRC/shared/f-co' && chmod 0666 '$SRC/shared/f-co'"
owner_is shared/f-co nobody:nogroup
as nobody sh -c "rm '$SRC/shared/f-co' && ln -s ../secret.txt '$SRC/shared/f-co'"
as nobody chgrp nogroup "$RW/shared/f-co" 2>/dev/null || true
[ "$(stat -c %U:%G "$SRC/secret.txt")" = root:root ] ||
	fail "nobody changed the group of root's secret.txt through a swapped link"
rm -f "$SRC/shared/f-co"
ok "root chowns, an owner chgrps to its own groups, and nothing else changes"

step "HTTP views: public is world-readable; --uid/--gid/--mode set the owner; credentials make it owner-only"
WWW="$TMP/www"
mkdir -p "$WWW/d"
rand_file "$WWW/d/data.bin" 100000 data
nginx_start "$TMP/nginx" "$WWW"
weir_mount "$NGINX_URL" "$TMP/pub" --tier "$TIERS"
shows "$TMP/pub/d" root:root 555
shows "$TMP/pub/d/data.bin" root:root 444
can_read nobody "$TMP/pub/d/data.bin" "$WWW/d/data.bin"
weir_mount "$NGINX_URL" "$TMP/owned" --tier "$TIERS" --uid nobody --gid nogroup --mode 0640
shows "$TMP/owned/d" nobody:nogroup 750
shows "$TMP/owned/d/data.bin" nobody:nogroup 640
can_read nobody "$TMP/owned/d/data.bin" "$WWW/d/data.bin"
cannot_read daemon "$TMP/owned/d/data.bin"
CRED_URL="${NGINX_URL/http:\/\//http://reader:s3cret@}"
weir_mount "$CRED_URL" "$TMP/cred" --tier "$TIERS"
shows "$TMP/cred/d" root:root 500
shows "$TMP/cred/d/data.bin" root:root 400
cannot_read nobody "$TMP/cred/d/data.bin"
can_read root "$TMP/cred/d/data.bin" "$WWW/d/data.bin"
# a group given (what a pod's fsGroup is): its members read too, others still not
weir_mount "$CRED_URL" "$TMP/credgrp" --tier "$TIERS" --gid nogroup
shows "$TMP/credgrp/d/data.bin" root:nogroup 440
can_read nobody "$TMP/credgrp/d/data.bin" "$WWW/d/data.bin"
cannot_read daemon "$TMP/credgrp/d/data.bin"
ok "public 0444/0555; nobody:nogroup 0640/0750 as asked; with credentials root 0400/0500"

step "a Dataset's pod view: under the state directory's root-only views/, owned per spec.owner"
find_controller_bin
TMP_SAVE="$TMP"
wt_up
cat >"$TMP/ds.yaml" <<EOF
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata:
  name: web
  namespace: perms
spec:
  owner:
    uid: $(id -u nobody)
    gid: $(id -g nobody)
  mounts:
    - mountPoint: $NGINX_URL
      name: web
---
apiVersion: data.fluid.io/v1alpha1
kind: AlluxioRuntime
metadata:
  name: web
  namespace: perms
spec:
  replicas: 1
  tieredstore:
    levels:
      - mediumtype: MEM
        path: $WEIR_TIER_DIR/ds
        quota: 64Mi
EOF
wt_run "creating namespace perms" create namespace perms
wt_run "applying the Dataset" apply -f "$TMP/ds.yaml"
for i in $(seq 1 50); do
	w mount -n perms web </dev/null >"$TMP/podview.out" 2>&1 && break
	sleep 0.2
done
PV="$(tail -n 1 "$TMP/podview.out")"
[ "$PV" = "$WEIR_STATE/views/perms_web" ] || fail "weir mount -n perms web printed \"$(cat "$TMP/podview.out")\""
is_mounted "$PV" || fail "$PV is not mounted"
WEIR_MOUNTS+=("$PV")
WT_MOUNTS+=("$PV")
[ "$(stat -c '%U %a' "$WEIR_STATE/views")" = "root 700" ] ||
	fail "$WEIR_STATE/views is $(stat -c '%U %a' "$WEIR_STATE/views"), want root 700"
if as nobody stat "$PV/d/data.bin" >/dev/null 2>&1; then fail "nobody reached the pod view under views/"; fi
[ "$(w mount -n perms web </dev/null 2>&1 | tail -n 1)" = "$PV" ] || fail "a second pod's mount of perms/web did not get the same view"
# what the CSI driver does for a pod: bind-mount the view into the pod's volume path
mkdir -p "$TMP/pod"
mount --bind "$PV" "$TMP/pod"
at_exit "umount -l '$TMP_SAVE/pod' 2>/dev/null || true"
shows "$TMP/pod/d/data.bin" nobody:nogroup 444
can_read nobody "$TMP/pod/d/data.bin" "$WWW/d/data.bin"
umount "$TMP/pod"
ok "views/ is root 0700; the pod's bind mount reads as the Dataset's owner"

step "a reference to a subdirectory of a local:// source whose root only root may search"
# team perms2 reads perms/loc's pub/ through dataset://perms/loc/pub: nobody reads pub/f.txt
# (0644) though the source's root is 0700; the checks with nobody's rights start at the view's
# root, as the view shows it, and a link in pub/ that climbs out of it leads nowhere, for root
# readers (a pod's root) as for nobody, and for a DataLoad of the reference: the source's cache
# gets none of other.txt's bytes. Links that stay in pub/ read as their targets.
S3="$TMP/src3"
MARK="WEIR-NOT-GRANTED-$RANDOM$RANDOM"
mkdir -p "$S3/pub/sub" "$S3/sec" && chmod 0700 "$S3" && chmod 0755 "$S3/pub"
echo "published" >"$S3/pub/f.txt" && chmod 0644 "$S3/pub/f.txt"
{
	echo "not granted $MARK"
	head -c 200000 /dev/zero | tr '\0' 'g'
} >"$S3/other.txt" && chmod 0644 "$S3/other.txt"
echo "not granted either $MARK" >"$S3/sec/s.txt"
# attributes no entry of pub/ has, to be looked for in the reference's listings
chown daemon:daemon "$S3/other.txt" "$S3/sec" && touch -d "2001-02-03 04:05:06" "$S3/other.txt" "$S3/sec"
echo "$MARK outside the source" >"$TMP/outside.txt"
ln -s ../other.txt "$S3/pub/up"
ln -s .. "$S3/pub/updir"
ln -s ../sec "$S3/pub/secdir"
ln -s "$TMP/outside.txt" "$S3/pub/abs"
ln -s f.txt "$S3/pub/in"
ln -s ../f.txt "$S3/pub/sub/in-up"
echo "swap me" >"$S3/pub/swapme" && chmod 0666 "$S3/pub/swapme" # for the rw grant's checks
mkdir "$S3/pub/dswap"
cat >"$TMP/loc.yaml" <<EOF
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata:
  name: loc
  namespace: perms
spec:
  mounts:
    - mountPoint: local://$S3
      name: loc
  sharing:
    allow:
      - namespace: perms2
        mode: rw
        subPaths: [/pub]
---
apiVersion: data.fluid.io/v1alpha1
kind: AlluxioRuntime
metadata:
  name: loc
  namespace: perms
spec:
  replicas: 1
  tieredstore:
    levels:
      - mediumtype: MEM
        path: $WEIR_TIER_DIR/loc
        quota: 64Mi
---
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata:
  name: ref
  namespace: perms2
spec:
  mounts:
    - mountPoint: dataset://perms/loc/pub
---
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata:
  name: ref2
  namespace: perms2
spec:
  mounts:
    - mountPoint: dataset://perms/loc/pub/updir
EOF
wt_run "creating namespace perms2" create namespace perms2
wt_run "applying perms/loc and perms2/ref" apply -f "$TMP/loc.yaml"
wt_wait_phase dataset ref perms2 Bound
wt_run "loading perms2/ref (DataLoad of the reference)" load -n perms2 ref
loaded="$(printf '%s\n' "$WT_OUT" | tail -n 1)"
note "$loaded"
# f.txt, swapme, in (-> f.txt) and sub/in-up (-> ../f.txt): no file a link out of pub/ names, and
# no directory entered through a link (updir -> .. would walk pub/updir/pub/updir/...)
grep -q ", 4 files in" <<<"$loaded" || fail "the DataLoad of pub/ loaded other than its 4 files: $loaded"
if grep -rqF "$MARK" "$WEIR_TIER_DIR/loc" 2>/dev/null; then
	fail "a DataLoad of dataset://perms/loc/pub cached bytes from outside pub/ ($(grep -rlF "$MARK" "$WEIR_TIER_DIR/loc" | head -n 3 | tr '\n' ' '))"
fi
ok "a DataLoad of the reference cached nothing a link out of pub/ names"
RV="$TMP/ref"
wt_mount perms2 ref "$RV"
can_read nobody "$RV/f.txt" "$S3/pub/f.txt"
for who in nobody root; do
	for p in in sub/in-up; do can_read "$who" "$RV/$p" "$S3/pub/f.txt"; done
	for p in up updir/other.txt secdir/s.txt abs; do
		if as "$who" cat "$RV/$p" >"$TMP/read.out" 2>"$TMP/read.err" || grep -qF "$MARK" "$TMP/read.out"; then
			fail "$who read $RV/$p, outside the granted pub/ ($(wc -c <"$TMP/read.out") bytes)"
		fi
		note "$who: $p: $(head -c 100 "$TMP/read.err")"
	done
	out="$(as "$who" ls "$RV/updir" "$RV/secdir" 2>&1 || true)"
	if grep -qE "other.txt|s.txt" <<<"$out"; then fail "$who listed what lies outside pub/: $out"; fi
done
ok "nobody and root read pub/ and its links that stay inside, not what a link out of pub/ names"
# Nor do they see a link out of pub/ in a listing, with its target's size, owner and mtime
# (readdirplus: ls -l without a lookup); links that stay inside are listed as their targets.
osize="$(stat -c %s "$S3/other.txt")"
for who in nobody root; do
	out="$(as "$who" ls -la --time-style=+%Y "$RV" "$RV/sub" 2>&1 || true)"
	if grep -qwE "$osize|daemon|2001" <<<"$out"; then
		fail "$who's ls -l of the reference shows other.txt's or sec/'s size, owner or mtime: $out"
	fi
	grep -qE "^-.* 10 [0-9]{4} in$" <<<"$out" || fail "$who's ls -l of the reference lists no in -> f.txt: $out"
	for p in up updir secdir; do
		if got="$(as "$who" stat -c '%s %U %Y' "$RV/$p" 2>&1)"; then
			fail "$who stats $RV/$p, a link out of pub/: $got"
		fi
	done
done
ok "listings of the reference show no attribute of what a link out of pub/ names"
# and its usage total counts f.txt, swapme, in and sub/in-up (10 + 8 + 10 + 10 bytes), not up's
# other.txt, which the reference does not show
wt_wait_field dataset ref perms2 status.ufsTotalBytes 38 20
ok "the reference's usage total counts no file a link out of pub/ names"
# The grant is rw: a name the writer looked up through the view, swapped at the source for a link
# out of pub/ since, must not take the write to other.txt.
cmp "$S3/pub/swapme" "$RV/swapme" || fail "pub/swapme reads other bytes through the reference"
before="$(sha256sum <"$S3/other.txt")"
ln -s ../other.txt "$S3/pub/.swap.tmp" && mv -T "$S3/pub/.swap.tmp" "$S3/pub/swapme"
for who in root nobody; do
	if as "$who" sh -c "echo INJECTED-$who >>'$RV/swapme'" 2>"$TMP/write.err"; then
		note "$who's append to swapme was accepted"
	else
		note "$who: append to swapme: $(head -c 100 "$TMP/write.err")"
	fi
	as "$who" truncate -s 0 "$RV/swapme" 2>/dev/null || true
done
[ "$(sha256sum <"$S3/other.txt")" = "$before" ] ||
	fail "a write through pub/swapme, swapped for a link out of pub/, changed other.txt: $(head -c 60 "$S3/other.txt")"
ok "writes through a name swapped for a link out of pub/ do not reach other.txt"
# A directory looked up through the view, and names in it found absent (negative entries the
# kernel keeps), swapped since for a link to ../sec: no create, mkdir or removal lands in sec/.
ls "$RV/dswap" >/dev/null
for n in new nd s.txt; do ! stat "$RV/dswap/$n" >/dev/null 2>&1 || fail "$RV/dswap/$n exists before the swap"; done
mv "$S3/pub/dswap" "$S3/pub/dswap.old" && ln -s ../sec "$S3/pub/dswap"
touch "$RV/dswap/new" 2>/dev/null || true
mkdir "$RV/dswap/nd" 2>/dev/null || true
rm -f "$RV/dswap/s.txt" 2>/dev/null || true
[ ! -e "$S3/sec/new" ] || fail "a create in pub/dswap, swapped for a link to ../sec, made sec/new"
[ ! -e "$S3/sec/nd" ] || fail "a mkdir in pub/dswap, swapped for a link to ../sec, made sec/nd"
[ -f "$S3/sec/s.txt" ] || fail "a removal in pub/dswap, swapped for a link to ../sec, removed sec/s.txt"
ok "no create, mkdir or removal through a directory swapped for a link out of pub/"
# perms2/ref2 names pub/updir, within the grant of pub/ as written, but updir -> .. is the whole
# source: its view must not mount, or show nothing above pub/.
RV2="$TMP/ref2"
mkdir -p "$RV2"
wt_wait_phase dataset ref2 perms2 Bound
if w mount -n perms2 ref2 "$RV2" </dev/null >"$TMP/ref2.out" 2>&1; then
	WT_MOUNTS+=("$RV2")
	WEIR_MOUNTS+=("$RV2")
	for who in nobody root; do
		for p in other.txt sec/s.txt pub/f.txt; do
			if as "$who" cat "$RV2/$p" >"$TMP/read.out" 2>/dev/null || grep -qF "$MARK" "$TMP/read.out"; then
				fail "$who read $RV2/$p: dataset://perms/loc/pub/updir leads above the granted pub/"
			fi
		done
	done
	note "perms2/ref2 mounted, and shows nothing"
else
	grep -q "symbolic link" "$TMP/ref2.out" || fail "mounting perms2/ref2 failed otherwise: $(cat "$TMP/ref2.out")"
	note "perms2/ref2 refused: $(tail -n 1 "$TMP/ref2.out")"
fi
ok "a reference through a link in the granted pub/ (pub/updir -> ..) reads nothing above pub/"

echo
echo "PASS: views keep and enforce permissions"
