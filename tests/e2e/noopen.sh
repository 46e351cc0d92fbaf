#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end, open mode no-open (issue 10, the open path): the kernel opens a view's files by
# itself, so a warm open costs weir-node no request (no OPEN, no RELEASE), while every byte a
# reader gets is still the source's (cmp), a file replaced at the source mid-read never reads
# mixed (one inode, one version: a prefix of the old then ESTALE, or the old whole), a fresh
# open reads the new version under a new inode, a non-root reader is still held to the view's
# mode (setpriv), and a read-write view refuses the mode. The HTTP source is faultsrv.py.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"
. "$here/../helpers/held_reader.sh"

require_root_fuse
find_weir_bins
command -v setpriv >/dev/null || fail "setpriv is missing: install util-linux (scripts/install-deps.sh)"
TMP="$(mktemp -d /tmp/weir-e2e-noopen.XXXXXX)"
at_exit 'rm -rf "$TMP"'
chmod 0755 "$TMP" # non-root readers reach the mountpoints below it
weir_setup "$TMP"
TIERS="mem:$WEIR_TIER_DIR/mem:1GiB"
MIB=$((1024 * 1024))
NFILES=300
echo "weir: $WEIR_BIN; weir-node: $WEIR_NODE_BIN; work dir: $TMP"

# stat_get MP KEY...: one figure of view MP from weir stat -o json (fails when it is missing).
stat_get() {
	local mp="$1"
	shift
	w stat "$mp" -o json >"$TMP/stat.json" || fail "weir stat $mp -o json failed"
	json_get "$TMP/stat.json" "$@" || fail "weir stat $mp -o json has no field $*: $(cat "$TMP/stat.json")"
}

# reader.py PATH OUT FIRST: opens PATH, reads FIRST bytes, makes OUT.ready, waits for OUT.go,
# reads the rest; OUT gets every byte, OUT.status "ok" or the error.
cat >"$TMP/reader.py" <<'PY'
import os, sys, time
path, out, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
got = open(out, "wb")
status = "ok"
try:
    fd = os.open(path, os.O_RDONLY)
    got.write(os.read(fd, first))
    got.flush()
    open(out + ".ready", "w").close()
    while not os.path.exists(out + ".go"):
        time.sleep(0.02)
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        got.write(b)
except OSError as e:
    status = "%s (errno %d)" % (e.strerror, e.errno)
got.close()
open(out + ".status", "w").write(status + "\n")
PY
# one_version WHAT OUT OLD NEW: OUT is all of OLD, or a prefix of OLD then ESTALE. Prints which.
one_version() {
	local what="$1" out="$2" old="$3" st got
	st="$(cat "$out.status")"
	got="$(stat -c %s "$out")"
	if [ "$st" = ok ]; then
		cmp -s "$out" "$old" || fail "$what: the read succeeded with $got bytes that are not the old version (mixed: $(cmp "$out" "$old" 2>&1 | head -1))"
		ok "$what: all $got bytes of the old version"
		ONE_VERSION=whole
		return
	fi
	[[ "$st" == *"Stale file handle"* ]] || fail "$what: the read failed with \"$st\", not ESTALE"
	cmp -s -n "$got" "$out" "$old" || fail "$what: the $got bytes before ESTALE are not the old version's"
	ok "$what: $got bytes of the old version, then ESTALE"
	ONE_VERSION=estale
}
replace() {
	cp "$2" "$1.new"
	touch -d "@$(($(date +%s) + 10))" "$1.new"
	mv -f "$1.new" "$1"
}

step "a tree of $NFILES small files (4-16 KiB), a 24 MiB file and a private file, served by faultsrv.py"
TREE="$TMP/tree"
mkdir -p "$TREE/small" "$TREE/big" "$TREE/priv"
for i in $(seq 1 "$NFILES"); do
	rand_file "$TREE/small/f$i" $((4096 + (i * 397) % 12288)) "small-$i"
done
rand_file "$TMP/big1" $((24 * MIB)) big-one
rand_file "$TMP/big2" $((24 * MIB)) big-two
cp "$TMP/big1" "$TREE/big/f.bin"
rand_file "$TMP/s1new" 6000 small-one-new
cp "$TREE/small/f1" "$TMP/s1old"
echo "group only" >"$TREE/priv/secret.txt"
chmod -R a+rX "$TREE"
FS_LOG="$TMP/faultsrv.log"
python3 "$here/../helpers/faultsrv.py" "$TREE" "$TMP/faultsrv.port" "$FS_LOG" >"$TMP/faultsrv.out" 2>&1 &
FS_PID=$!
pid_track "$FS_PID"
at_exit "pid_stop $FS_PID"
for i in $(seq 1 100); do [ -s "$TMP/faultsrv.port" ] && break; sleep 0.05; done
[ -s "$TMP/faultsrv.port" ] || fail "faultsrv.py did not start: $(cat "$TMP/faultsrv.out")"
URL="http://127.0.0.1:$(cat "$TMP/faultsrv.port")/"
ok "faultsrv serves $TREE at $URL"

step "mount it with --open-mode no-open (no prefetch: a reader's next block is fetched only when read)"
MP="$TMP/mnt"
weir_mount "$URL" "$MP" --tier "$TIERS" --metadata-ttl 1 --open-mode no-open --no-prefetch
[ "$(stat_get "$MP" open_mode)" = no-open ] || fail "weir stat says open mode $(stat_get "$MP" open_mode), not no-open"
[ "$(stat_get "$MP" open_mode_reason)" = asked ] || fail "weir stat gives the reason \"$(stat_get "$MP" open_mode_reason)\", not \"asked\""
w top --once -o json >"$TMP/top.json" || fail "weir top --once -o json failed"
[ "$(json_get "$TMP/top.json" views 0 open_mode)" = no-open ] || fail "weir top does not say no-open: $(cat "$TMP/top.json")"
ok "weir stat and weir top say no-open (asked)"

step "cold: every small file reads the source's bytes (cmp)"
# the first file alone: the kernel learns no-open from its OPEN's ENOSYS; then the others eight at
# a time (each a cold fetch from the server: one at a time they were half of this test's time)
cmp "$TREE/small/f1" "$MP/small/f1" || fail "small/f1 reads other bytes than the source's"
seq 2 "$NFILES" | xargs -P 8 -I{} sh -c 'cmp -s "$1/small/f$3" "$2/small/f$3" || echo "small/f$3"' \
	_ "$TREE" "$MP" {} >"$TMP/differ" || fail "xargs cmp of the small files failed"
[ ! -s "$TMP/differ" ] ||
	fail "$(wc -l <"$TMP/differ") small files read other bytes than the source's: $(head -5 "$TMP/differ" | tr '\n' ' ')"
opens0="$(stat_get "$MP" requests open)"
rel0="$(stat_get "$MP" requests release)"
[ "$opens0" -le 1 ] || fail "$opens0 OPEN requests reached weir-node for $NFILES files: the kernel should send one (answered ENOSYS)"
[ "$rel0" -eq 0 ] || fail "$rel0 RELEASE requests reached weir-node in no-open mode"
ok "$NFILES files cmp equal; weir-node saw $opens0 OPEN (answered ENOSYS) and $rel0 RELEASE"

step "warm: two more passes of open-read-close of every file, 0 OPEN and 0 RELEASE requests"
# The page cache serves them. Others on this machine drop the page cache now and then
# (/proc/vmstat drop_pagecache) and DAMON reclaims a page here and there: the refills are READs.
# A round that saw a drop_caches is run again (3 at most); in one that saw none, at most a tenth
# of a pass may come back as READs.
total="$(du -b --apparent-size -s "$TREE/small" | cut -f1)"
drops() { awk '$1 == "drop_pagecache" { print $2; f = 1 } END { exit !f }' /proc/vmstat || fail "/proc/vmstat has no drop_pagecache"; }
for attempt in 1 2 3; do
	opens0="$(stat_get "$MP" requests open)"
	rel0="$(stat_get "$MP" requests release)"
	reads0="$(stat_get "$MP" read_bytes)"
	d0="$(drops)"
	for pass in 1 2; do
		for i in $(seq 1 "$NFILES"); do
			cmp "$TREE/small/f$i" "$MP/small/f$i" || fail "warm pass $pass: small/f$i reads other bytes than the source's"
		done
	done
	opens1="$(stat_get "$MP" requests open)"
	rel1="$(stat_get "$MP" requests release)"
	reads1="$(stat_get "$MP" read_bytes)"
	[ "$opens1" -eq "$opens0" ] || fail "the warm passes sent $((opens1 - opens0)) OPEN requests for $((2 * NFILES)) opens; want 0"
	[ "$rel1" -eq "$rel0" ] || fail "the warm passes sent $((rel1 - rel0)) RELEASE requests; want 0"
	# the kernel counts a drop_caches when it has gone through every file system, so one that
	# began during the passes may be counted only after them: let it finish before looking
	sleep 2
	[ "$(drops)" -eq "$d0" ] && break
	note "round $attempt: someone dropped the page cache meanwhile ($(($(drops) - d0)) times; $((reads1 - reads0)) bytes refilled by READ); again"
done
[ "$(drops)" -eq "$d0" ] || fail "the page cache was dropped during each of 3 rounds: cannot tell whether it serves warm opens"
[ $(((reads1 - reads0) * 10)) -le "$total" ] || fail "the warm passes read $((reads1 - reads0)) bytes through weir-node, more than a tenth of one pass ($total): the page cache should serve them (weir stat: $(cat "$TMP/stat.json"))"
ok "$((2 * NFILES)) warm opens: 0 OPEN, 0 RELEASE, $((reads1 - reads0)) bytes of READ (of $((2 * total))) reached weir-node (lookups: $(stat_get "$MP" requests lookup) in all)"

step "a 24 MiB file replaced at the source while a descriptor reads it: one version only"
start_reader "$MP/big/f.bin" "$TMP/r1" 4096
replace "$TREE/big/f.bin" "$TMP/big2"
sleep 1.5
nv0="$(stat_get "$MP" requests new_versions)"
# a fresh open while the old descriptor is still open: the new version, under a new inode
timeout -k 5 120 cat "$MP/big/f.bin" >"$TMP/fresh" || fail "a fresh read of big/f.bin failed"
cmp "$TMP/fresh" "$TMP/big2" || fail "a fresh open after the replacement does not read the new version"
ino_new="$(stat -c %i "$MP/big/f.bin")"
finish_reader "$TMP/r1"
one_version "the descriptor opened before the replacement" "$TMP/r1" "$TMP/big1"
[ "$ONE_VERSION" = estale ] || fail "the old descriptor read the old version whole: with --no-prefetch its later blocks were not cached, so the replacement was not caught mid-read"
nv1="$(stat_get "$MP" requests new_versions)"
[ "$nv1" -gt "$nv0" ] || [ "$nv0" -gt 0 ] || fail "weir-node counted no new version of big/f.bin"
ok "a fresh open reads the new version whole (inode $ino_new, $nv1 new versions counted)"

step "a small file replaced at the source: a held descriptor keeps the old bytes, a new open gets the new"
start_reader "$MP/small/f1" "$TMP/r2" 100
ino_old="$(stat -c %i "$MP/small/f1")"
replace "$TREE/small/f1" "$TMP/s1new"
sleep 1.5
timeout -k 5 60 cat "$MP/small/f1" >"$TMP/fresh1" || fail "a fresh read of small/f1 failed"
cmp "$TMP/fresh1" "$TMP/s1new" || fail "a fresh open of small/f1 reads $(stat -c %s "$TMP/fresh1") bytes that are not the new version"
ino_new="$(stat -c %i "$MP/small/f1")"
[ "$ino_new" != "$ino_old" ] || fail "small/f1's new version kept inode $ino_old: its page cache could mix the versions"
finish_reader "$TMP/r2"
one_version "the descriptor of small/f1 opened before the replacement (inode $ino_old)" "$TMP/r2" "$TMP/s1old"
ok "a new open reads the new version under inode $ino_new"

step "permissions still hold without OPEN: a view of mode 0440, group 4242, read by nobody and by the group"
MP2="$TMP/priv"
weir_mount "${URL}priv/" "$MP2" --tier "$TIERS" --open-mode no-open --mode 0440 --gid 4242
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups cat "$MP2/secret.txt" >"$TMP/p.out" 2>"$TMP/p.err" || rc=$?
[ "$rc" -ne 0 ] || fail "nobody read a file of mode 0440 owned by 0:4242 through a no-open view"
grep -q "Permission denied" "$TMP/p.err" || fail "nobody's read failed with \"$(cat "$TMP/p.err")\", not EACCES"
setpriv --reuid=65534 --regid=4242 --clear-groups cat "$MP2/secret.txt" >"$TMP/g.out" 2>"$TMP/g.err" ||
	fail "a reader of group 4242 cannot read secret.txt: $(cat "$TMP/g.err")"
cmp "$TMP/g.out" "$TREE/priv/secret.txt" || fail "group 4242 read other bytes than the source's"
# again, now that the file is in the page cache: the kernel still checks every open
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups cat "$MP2/secret.txt" >/dev/null 2>"$TMP/p.err" || rc=$?
[ "$rc" -ne 0 ] && grep -q "Permission denied" "$TMP/p.err" || fail "nobody read the cached file: $(cat "$TMP/p.err")"
ok "nobody: EACCES (cold and cached); group 4242: the source's bytes"

step "a read-write view refuses no-open with a message"
mkdir -p "$TMP/rwsrc" "$TMP/rw"
rc=0
w mount "local://$TMP/rwsrc" "$TMP/rw" --tier "$TIERS" --read-write --open-mode no-open >"$TMP/rw.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || { WEIR_MOUNTS+=("$TMP/rw"); fail "weir mount --read-write --open-mode no-open succeeded"; }
grep -q "read-only views only" "$TMP/rw.out" || fail "the refusal does not say why: $(cat "$TMP/rw.out")"
ok "refused: $(head -1 "$TMP/rw.out")"

step "auto picks no-open for this read-only tree of small files, open for a read-write view"
MP3="$TMP/auto"
weir_mount "$URL" "$MP3" --tier "$TIERS" --open-mode auto
[ "$(stat_get "$MP3" open_mode)" = no-open ] || fail "auto chose $(stat_get "$MP3" open_mode) for a tree of small files ($(stat_get "$MP3" open_mode_reason))"
ok "auto: no-open ($(stat_get "$MP3" open_mode_reason))"
weir_mount "local://$TMP/rwsrc" "$TMP/rw" --tier "$TIERS" --read-write --open-mode auto
[ "$(stat_get "$TMP/rw" open_mode)" = open ] || fail "auto chose $(stat_get "$TMP/rw" open_mode) for a read-write view"
echo hello >"$TMP/rw/new.txt" || fail "cannot write through the read-write view auto mounted"
cmp "$TMP/rw/new.txt" "$TMP/rwsrc/new.txt" || fail "the write did not reach the source"
ok "auto: open for the read-write view ($(stat_get "$TMP/rw" open_mode_reason)); writes work"

step "auto picks open for a tree whose bytes are in large files, even when half its files are small"
# a mirror: each archive with a checksum file beside it (the walkthrough's spark tree)
mkdir -p "$TMP/mirror"
for i in 1 2; do
	rand_file "$TMP/mirror/a$i.tgz" $((3 * MIB)) "archive-$i"
	sha512sum "$TMP/mirror/a$i.tgz" >"$TMP/mirror/a$i.tgz.sha512"
done
weir_mount "local://$TMP/mirror" "$TMP/mirror-view" --tier "$TIERS" --open-mode auto
[ "$(stat_get "$TMP/mirror-view" open_mode)" = open ] ||
	fail "auto chose $(stat_get "$TMP/mirror-view" open_mode) for a mirror of archives ($(stat_get "$TMP/mirror-view" open_mode_reason))"
cmp "$TMP/mirror/a1.tgz" "$TMP/mirror-view/a1.tgz" || fail "a1.tgz reads other bytes through the view than the source's"
ok "auto: open ($(stat_get "$TMP/mirror-view" open_mode_reason))"

step "weir-node lived through it all"
[ -n "$(weir_node_pid)" ] || fail "weir-node died"
echo
echo "PASS: no-open views"
