#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Tier safety (issue 7, items 5, 7, 10, 14): a tier file corrupted while mounted is never served
# (passthrough included); a tier path another user controls is refused and nothing is written
# through its links; a truncated index.db heals; two sources on one tier path share its quota.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"

require_root_fuse
find_weir_bins
command -v setpriv >/dev/null || fail "setpriv (util-linux) is needed to act as user nobody"
TMP="$(mktemp -d /tmp/weir-e2e-tiersafety.XXXXXX)"
at_exit 'rm -rf "$TMP"'
EVIL=""
at_exit '[ -z "$EVIL" ] || rm -rf "$EVIL" "$(dirname "$EVIL")/.weir-taken-$(basename "$EVIL")-"*'
SRC="$TMP/src"
mkdir -p "$SRC" "$TMP/src2"
rand_file "$SRC/model.bin" $((10 << 20)) model
for i in 1 2 3 4 5 6; do
	rand_file "$SRC/part$i.bin" $((8 << 20)) "a$i"
	rand_file "$TMP/src2/part$i.bin" $((8 << 20)) "b$i"
done
weir_setup "$TMP"
MP="$TMP/mnt"
TIERS="mem:$WEIR_TIER_DIR/mem:256MiB"
stat_get() { w stat "$1" -o json >"$TMP/stat.json" && json_get "$TMP/stat.json" "$2"; }

step "a tier block corrupted while mounted is not served, not even through passthrough"
weir_mount "local://$SRC" "$MP" --tier "$TIERS"
cat "$MP/model.bin" >/dev/null # into the tier: the file is complete there
tierfile="$(find "$WEIR_TIER_DIR/mem" -type f -size +1M | head -n 1)"
[ -n "$tierfile" ] || fail "no tier file under $WEIR_TIER_DIR/mem after reading model.bin"
cmp "$MP/model.bin" "$SRC/model.bin" || fail "model.bin differs before any corruption"
pt0="$(stat_get "$MP" passthrough_opens)"
cmp "$MP/model.bin" "$SRC/model.bin" || fail "model.bin differs before any corruption"
pt1="$(stat_get "$MP" passthrough_opens)"
[ "$pt1" -gt "$pt0" ] || fail "the complete file was not opened in passthrough ($pt0 -> $pt1 passthrough opens); this kernel cannot test the passthrough case"
note "complete file opened in passthrough ($pt0 -> $pt1 passthrough opens)"
sleep 0.1 # past the timestamp tick of weir's own last write to the file (README)
# one byte in the second block (4 MiB blocks), as a disk error or a stray writer would
printf '\xff' | dd of="$tierfile" bs=1 seek=$((5 << 20)) conv=notrunc status=none
[ "$(cmp -n $((10 << 20)) "$tierfile" "$SRC/model.bin" 2>/dev/null | wc -l)" -eq 1 ] ||
	fail "the corruption did not take in $tierfile"
sync
echo 3 >/proc/sys/vm/drop_caches # the view's page cache must not hide the tier's bytes
cmp "$MP/model.bin" "$SRC/model.bin" || fail "a fresh open+read of model.bin returned the corrupted tier bytes"
cmp "$MP/model.bin" "$SRC/model.bin" || fail "the second fresh read of model.bin differs"
grep -q 'changed outside weir' "$WEIR_STATE/node.log" || fail "node.log does not say the tier file changed outside weir"
grep -q 'failed its checksum' "$WEIR_STATE/node.log" || fail "node.log does not say the corrupted block failed its checksum"
ok "fresh opens read the right bytes; node.log: $(grep -m1 -o 'block [0-9]* of "[^"]*" failed its checksum[^;]*' "$WEIR_STATE/node.log")"

step "a truncated index.db: the source mounts again and reads the right bytes"
SID="$(basename "$(dirname "$tierfile")")"
INDEX="$WEIR_STATE/stores/$SID/index.db"
weir_stop_node
[ -f "$INDEX" ] || fail "no index at $INDEX"
size="$(stat -c %s "$INDEX")"
truncate -s $((size / 2)) "$INDEX"
note "index.db truncated from $size to $((size / 2)) bytes"
weir_mount "local://$SRC" "$MP" --tier "$TIERS"
cmp "$MP/model.bin" "$SRC/model.bin" || fail "model.bin differs after the index was healed"
cmp "$MP/part1.bin" "$SRC/part1.bin" || fail "part1.bin differs after the index was healed"
ls "$WEIR_STATE/stores/$SID/" | grep -q '^index.db.corrupt-' || fail "the damaged index was not kept aside as index.db.corrupt-<time>"
grep -q 'starting with an empty cache' "$WEIR_STATE/node.log" || fail "node.log does not say the index was set aside"
grep -q 'starting with an empty cache' "$TMP/mount.out" || fail "weir mount did not tell its user the index was set aside"
ok "mounted, reads match; $(grep -m1 -o 'index "[^"]*": [^;]*' "$WEIR_STATE/node.log")"
weir_stop_node

step "index.db a directory, meta.db a symbolic link: the source mounts again"
STORE="$WEIR_STATE/stores/$SID"
rm -f "$STORE"/index.db* "$STORE"/meta.db*
mkdir "$STORE/index.db"
ln -s /etc/passwd "$STORE/meta.db"
cp /etc/passwd "$TMP/passwd.before"
weir_mount "local://$SRC" "$MP" --tier "$TIERS"
cmp "$MP/part3.bin" "$SRC/part3.bin" || fail "part3.bin differs after index.db and meta.db were replaced"
[ -f "$STORE/index.db" ] && [ ! -L "$STORE/meta.db" ] && [ -f "$STORE/meta.db" ] ||
	fail "index.db or meta.db is not a regular file again"
cmp /etc/passwd "$TMP/passwd.before" || fail "weir wrote through the meta.db link into /etc/passwd"
grep -q 'was a directory, not a file' "$TMP/mount.out" || fail "weir mount did not say index.db was a directory"
grep -q 'was a symbolic link, not a file' "$TMP/mount.out" || fail "weir mount did not say meta.db was a link"
ok "mounted; both set aside and said so"
weir_stop_node

step "two sources on one tier path share its 64 MiB quota"
SHARED="$WEIR_TIER_DIR/shared"
weir_mount "local://$SRC" "$TMP/a" --tier "mem:$SHARED:64MiB" --no-prefetch
weir_mount "local://$TMP/src2" "$TMP/b" --tier "mem:$SHARED:64MiB" --no-prefetch
max=0
for i in 1 2 3 4 5 6; do
	for side in a b; do
		src="$SRC"
		[ "$side" = b ] && src="$TMP/src2"
		cmp "$TMP/$side/part$i.bin" "$src/part$i.bin" || fail "$side/part$i.bin differs"
		used="$(du -s --block-size=1 "$SHARED" | cut -f1)"
		[ "$used" -gt "$max" ] && max="$used"
		[ "$used" -le $((64 << 20)) ] ||
			fail "after $side/part$i.bin the tier path holds $used bytes (du), over its 64 MiB quota"
	done
done
[ "$max" -ge $((32 << 20)) ] || fail "the tier path never held more than $max bytes: the test did not fill it"
ok "96 MiB read through two sources; the tier path held at most $max bytes (quota $((64 << 20)))"
mkdir -p "$TMP/src3"
rand_file "$TMP/src3/small.bin" $((1 << 20)) c
weir_mount "local://$TMP/src3" "$TMP/c" --tier "mem:$SHARED:128MiB" --no-prefetch
grep -q 'set by the first source on it' "$WEIR_STATE/node.log" ||
	fail "node.log does not say the third source's quota differs from the path's"
grep -q 'set by the first source on it' "$TMP/mount.out" ||
	fail "weir mount of a third source asking for another quota on the path did not tell its user that the path's holds"
q="$(w stat "$TMP/c" -o json >"$TMP/stat.json" && json_get "$TMP/stat.json" tiers 0 quota)"
[ "$q" -eq $((64 << 20)) ] || fail "weir stat of the third source shows a quota of $q bytes, not the path's 64 MiB"
ok "a source asking for 128 MiB on the path is told the path's quota holds (weir stat: $q bytes)"
# the same quota with other watermarks: the note said "asked for a quota of 64.00MiB ..., but
# the path's quota is 64.00MiB", naming the path's watermarks only in bytes
mkdir -p "$TMP/src4"
rand_file "$TMP/src4/small.bin" $((1 << 20)) d
weir_mount "local://$TMP/src4" "$TMP/d" --tier "mem:$SHARED:64MiB" --no-prefetch --high 0.9 --low 0.5
grep -q 'watermarks 0.9/0.5; the path has 64.00MiB with watermarks 0.95/0.7' "$TMP/mount.out" ||
	fail "weir mount with the path's quota and other watermarks does not say which differ: $(cat "$TMP/mount.out")"
ok "other watermarks on the path: $(grep -o 'asked for [^,]*' "$TMP/mount.out")"
# --block-size of a source already open: ignored without a word, even once no view had it
cat "$TMP/d/small.bin" >/dev/null
weir_mount "local://$TMP/src4" "$TMP/d2" --tier "mem:$SHARED:64MiB" --no-prefetch --high 0.9 --low 0.5 --block-size 1MiB
grep -q 'in use with a block size of 4.00MiB: this view shares it, not the 1.00MiB asked' "$TMP/mount.out" ||
	fail "a second view of a source in use, asking another block size, was not told it shares the source's: $(cat "$TMP/mount.out")"
wt="$(grep -c "opened source .*src4), block size 1048576" "$WEIR_STATE/node.log" || true)"
out="$(w umount "$TMP/d2" 2>&1)" || fail "weir umount $TMP/d2: $out"
out="$(w umount "$TMP/d" 2>&1)" || fail "weir umount $TMP/d: $out"
weir_mount "local://$TMP/src4" "$TMP/d" --tier "mem:$SHARED:64MiB" --no-prefetch --high 0.9 --low 0.5 --block-size 1MiB
[ "$(grep -c "opened source .*src4), block size 1048576" "$WEIR_STATE/node.log")" -gt "$wt" ] ||
	fail "the source, with no view left, was not reopened with the 1 MiB block size asked: $(grep 'src4)' "$WEIR_STATE/node.log" | tail -2)"
cmp "$TMP/src4/small.bin" "$TMP/d/small.bin" || fail "small.bin reads other bytes at the new block size"
# --fetch-concurrency likewise
weir_mount "local://$TMP/src4" "$TMP/d2" --tier "mem:$SHARED:64MiB" --no-prefetch --high 0.9 --low 0.5 --block-size 1MiB --fetch-concurrency 4
grep -q 'in use with a fetch concurrency of 16: this view shares it, not the 4 asked' "$TMP/mount.out" ||
	fail "a second view asking another fetch concurrency was not told it shares the source's: $(cat "$TMP/mount.out")"
out="$(w umount "$TMP/d2" 2>&1)" || fail "weir umount $TMP/d2: $out"
# other tiers (here another quota) likewise: the view got the source's without a word
weir_mount "local://$TMP/src4" "$TMP/d2" --tier "mem:$SHARED:32MiB" --no-prefetch --high 0.9 --low 0.5 --block-size 1MiB
grep -q -F "in use with the tiers mem:$SHARED:64.00MiB: this view shares them, not the mem:$SHARED:32.00MiB asked" "$TMP/mount.out" ||
	fail "a second view asking other tiers was not told it shares the source's: $(cat "$TMP/mount.out")"
cmp "$TMP/src4/small.bin" "$TMP/d2/small.bin" || fail "small.bin reads other bytes through the second view"
out="$(w umount "$TMP/d2" 2>&1)" || fail "weir umount $TMP/d2: $out"
ok "in use: told it shares the 4 MiB blocks and the source's tiers; idle: reopened with 1 MiB blocks, small.bin byte-exact"
weir_stop_node

step "a tier path another user prepared is refused; nothing is written through its links"
EVIL="$(mktemp -u /dev/shm/weir-evil.XXXXXX)"
VICTIM="$TMP/victim"
mkdir -m 0755 "$VICTIM"
setpriv --reuid=nobody --regid=nogroup --clear-groups mkdir -m 0777 "$EVIL"
# the names weir uses are predictable: the source's id, then the object's hash
setpriv --reuid=nobody --regid=nogroup --clear-groups ln -s "$VICTIM" "$EVIL/$SID"
[ "$(stat -c %U "$EVIL")" = nobody ] || fail "could not create $EVIL as nobody"
expect_refused() {
	local what="$1" tier="$2" word="$3" rc=0 out
	w mount "local://$SRC" "$MP" --tier "$tier" </dev/null >"$TMP/mount.out" 2>&1 || rc=$?
	out="$(cat "$TMP/mount.out")"
	printf '%s\n' "$out" | sed 's/^/  weir: /'
	if is_mounted "$MP"; then
		cat "$MP/part3.bin" >/dev/null || true # what a reader would make weir write
		w umount "$MP" >/dev/null 2>&1 || umount -l "$MP"
		fail "$what: weir mounted; in $VICTIM now: $(ls -A "$VICTIM" | head -n 3 | tr '\n' ' ')"
	fi
	[ "$rc" -ne 0 ] || fail "$what: weir mount exited 0"
	grep -qF -- "$word" <<<"$out" || fail "$what: the message does not say \"$word\""
	[ -z "$(ls -A "$VICTIM")" ] || fail "$what: weir wrote through the planted link into $VICTIM: $(ls -A "$VICTIM")"
	ok "$what: refused (\"$word\"), $VICTIM untouched"
}
# In /dev/shm (sticky, world-writable) nobody's directory at the tier path is moved aside, in one
# step, and weir's own made: a user who got there first can neither redirect root nor keep it out.
weir_mount "local://$SRC" "$MP" --tier "mem:$EVIL:64MiB"
cmp "$MP/part2.bin" "$SRC/part2.bin" || fail "part2.bin differs, read with nobody's tier path moved aside"
[ "$(stat -c %U:%a "$EVIL")" = root:700 ] || fail "$EVIL is $(stat -c %U:%a "$EVIL") after weir took it back, not root:700"
grep -q "had been taken by uid 65534" "$TMP/mount.out" || fail "weir mount did not say that nobody had taken $EVIL"
[ -z "$(ls -A "$VICTIM")" ] || fail "weir wrote through nobody's link into $VICTIM: $(ls -A "$VICTIM")"
ok "a tier path nobody made first in /dev/shm: moved aside, weir's own used, $VICTIM untouched"
weir_stop_node
rm -rf "$EVIL" "$(dirname "$EVIL")/.weir-taken-$(basename "$EVIL")-"*
mkdir -m 0777 "$EVIL" # root's, but world-writable (not sticky): nobody plants a link in it
setpriv --reuid=nobody --regid=nogroup --clear-groups ln -s "$VICTIM" "$EVIL/$SID"
expect_refused "a world-writable tier path" "mem:$EVIL:64MiB" "writable by everyone"
chmod 0700 "$EVIL" # safe now, but the link nobody planted is still there
expect_refused "a planted link at the source's directory" "mem:$EVIL:64MiB" "symbolic link"
expect_refused "a tier path through a link" "mem:$EVIL/$SID/x:64MiB" "symbolic link"
rm "$EVIL/$SID"
weir_mount "local://$SRC" "$MP" --tier "mem:$EVIL:64MiB"
cmp "$MP/part2.bin" "$SRC/part2.bin" || fail "part2.bin differs from a safe tier path"
[ "$(stat -c %a "$EVIL/$SID")" = 700 ] || fail "weir made $EVIL/$SID with mode $(stat -c %a "$EVIL/$SID"), not 0700"
[ -z "$(ls -A "$VICTIM")" ] || fail "something was written into $VICTIM"
ok "once the path is safe it mounts; weir's directory in it is 0700"

step "in a shared tier path like /dev/shm, a source's directory another user took first does not keep it out"
# the walkthrough's MEM tier is /dev/shm itself: sticky, world-writable, root's
weir_stop_node
rm -rf "${EVIL:?}/$SID"
chmod 1777 "$EVIL"
setpriv --reuid=nobody --regid=nogroup --clear-groups mkdir -m 0777 "$EVIL/$SID"
setpriv --reuid=nobody --regid=nogroup --clear-groups ln -s "$VICTIM" "$EVIL/$SID/$(basename "$tierfile")"
weir_mount "local://$SRC" "$MP" --tier "mem:$EVIL:64MiB"
cmp "$MP/part2.bin" "$SRC/part2.bin" || fail "part2.bin differs, read with nobody's directory moved aside"
cmp "$MP/model.bin" "$SRC/model.bin" || fail "model.bin differs, read with nobody's directory moved aside"
[ "$(stat -c %U:%a "$EVIL/$SID")" = root:700 ] || fail "$EVIL/$SID is $(stat -c %U:%a "$EVIL/$SID"), not weir's (root:700)"
grep -q "had been taken by uid 65534" "$TMP/mount.out" || fail "weir mount did not say that nobody had taken $EVIL/$SID"
[ -z "$(ls -A "$VICTIM")" ] || fail "something was written into $VICTIM: $(ls -A "$VICTIM")"
[ "$(stat -c %U "$EVIL"/.weir-taken-"$SID"-*)" = nobody ] || fail "nobody's directory was not kept aside"
ok "mounted; nobody's directory moved to $(basename "$EVIL"/.weir-taken-"$SID"-*), $VICTIM untouched"
# a Runtime's path P is used as P/weir/<namespace>_<name>: with P = /dev/shm, anyone can make
# P/weir first
weir_stop_node
setpriv --reuid=nobody --regid=nogroup --clear-groups mkdir -m 0777 "$EVIL/weir"
weir_mount "local://$SRC" "$MP" --tier "mem:$EVIL/weir/dev_spark:64MiB"
cmp "$MP/part4.bin" "$SRC/part4.bin" || fail "part4.bin differs with nobody's $EVIL/weir moved aside"
[ "$(stat -c %U:%a "$EVIL/weir")" = root:700 ] || fail "$EVIL/weir is $(stat -c %U:%a "$EVIL/weir"), not root:700"
grep -q "\"weir\" had been taken by uid 65534" "$TMP/mount.out" || fail "weir mount did not say that nobody had taken $EVIL/weir"
ok "a Runtime-style path under a weir/ nobody made first mounts too"
