#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole-file fill at the open of a directory stream's next file (stream_fill, issue 11), under
# what a server and a machine do to it: the file replaced at the server while the open waits for
# its fill (the reader gets the old or the new version whole, or an error: never a mix; the next
# open after the TTL reads the new one whole), weir-node killed with -9 while an open waits for
# its fill (the keeper's new weir-node answers it; the bytes equal the source's, then again after
# the file's pages are dropped), the view removed while an open waits for its fill (the umount
# does not wait for the fill), and a fill into a tier smaller than the file (each block fetched
# once while the opener waits; right bytes). Last, a file replaced between two range requests
# of one reader (one request slot, so its requests go one after the other): ESTALE or one
# version whole, and a later open reads the new version whole.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/nginx.sh"
. "$here/../helpers/weir.sh"

weir_test_setup streamfill
# 1 MiB blocks: each next file is several blocks, all within the stream's window (16 blocks)
MB=$((1 << 20))
for d in r s k u w; do
	mkdir -p "$TMP/src/$d"
	rand_file "$TMP/src/$d/a.bin" $((MB + 5)) "$d-a"
	rand_file "$TMP/src/$d/b.bin" $((6 * MB + 7)) "$d-b"
	rand_file "$TMP/src/$d/c.bin" $((MB + 3)) "$d-c"
done
rand_file "$TMP/new-b.bin" $((6 * MB + 7)) "r-b-new"
# w/b.bin: 4 blocks of 4 MiB, fetched one request at a time (--fetch-concurrency 1)
rand_file "$TMP/src/w/b.bin" $((12 * MB + 9)) "w-b"
cp "$TMP/src/w/b.bin" "$TMP/old-wb.bin"
rand_file "$TMP/new-wb.bin" $((12 * MB + 9)) "w-b-new"
cp "$TMP/src/r/b.bin" "$TMP/old-b.bin"
# slow enough that a 6 MiB fill takes seconds over the 16 request slots (about 6 s: the races
# below begin at 1 to 2 s); u/, whose fill must outlast the umount's 10 s bound many times,
# slower (18 s at the least)
nginx_start "$TMP/nginx" "$TMP/src" --limit-rate 160k --limit-rate-under u 48k
at_exit nginx_stop

# read_file PATH OUT [GATE]: reads PATH whole into OUT in the background; its pid in READ_PID.
# OUT.ms gets how long the open took, OUT.rc "ok" or the error. With GATE, the reader waits
# after its open until the file GATE exists before it reads.
read_file() {
	python3 - "$1" "$2" "${3:-}" <<'PY' &
import os, sys, time
path, out, gate = sys.argv[1:4]
t0 = time.monotonic()
try:
    with open(path, "rb") as f:
        open(out + ".ms", "w").write("%d\n" % int((time.monotonic() - t0) * 1000))
        while gate and not os.path.exists(gate):
            time.sleep(0.05)
        data = f.read()
    open(out, "wb").write(data)
    open(out + ".rc", "w").write("ok\n")
except OSError as e:
    open(out + ".rc", "w").write("error: %s\n" % e)
PY
	READ_PID=$!
	pid_track "$READ_PID"
	# a failed step must not leave its reader behind (it may wait for its gate forever)
	at_exit "pid_stop $READ_PID"
}

# one_version RC GOT OLD NEW: a reader of a file replaced while it read (its result RC, its
# bytes GOT) got an error, or OLD whole, or NEW whole: never bytes of both
one_version() {
	if [ "$1" != ok ]; then
		ok "the reader got an error, not bytes of two versions ($1)"
	elif cmp -s "$2" "$3"; then
		ok "the reader got the old version whole"
	elif cmp -s "$2" "$4"; then
		ok "the reader got the new version whole"
	else
		cmp "$2" "$3" | head -1 >&2 || true
		cmp "$2" "$4" | head -1 >&2 || true
		fail "$2: read during its replacement, it is neither version whole: mixed bytes"
	fi
}

MP="$TMP/mnt"
weir_mount "$NGINX_URL" "$MP" --tier "mem:$WEIR_TIER_DIR/mem:256MiB" --open-mode open \
	--block-size 1MiB --metadata-ttl 2 >/dev/null
ls "$MP/r" "$MP/k" >/dev/null

step "b.bin is replaced at the server while its open waits for the fill"
cmp "$TMP/src/r/a.bin" "$MP/r/a.bin" || fail "r/a.bin read cold differs from the source"
t0="$(now)"
read_file "$MP/r/b.bin" "$TMP/got-r"
sleep 1
# a new inode, mtime and ETag (nginx: mtime-size), the same size: only the version tells them apart
cp "$TMP/new-b.bin" "$TMP/src/r/.b.new"
touch -d '@1000000000' "$TMP/src/r/.b.new"
mv "$TMP/src/r/.b.new" "$TMP/src/r/b.bin"
replaced_ms="$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%d", (b - a) * 1000 }')"
wait "$READ_PID" || true
rc="$(cat "$TMP/got-r.rc" 2>/dev/null || echo "no result")"
open_ms="$(cat "$TMP/got-r.ms" 2>/dev/null || echo 0)"
note "reader: $rc; its open took $open_ms ms, the file was replaced $replaced_ms ms after it began"
[ "$open_ms" -gt "$replaced_ms" ] ||
	fail "the open of r/b.bin was answered ($open_ms ms) before the file was replaced ($replaced_ms ms): the test did not race the fill"
one_version "$rc" "$TMP/got-r" "$TMP/old-b.bin" "$TMP/new-b.bin"
sleep 3 # past the metadata TTL: the next open asks the server for the version again
got_new=0
for try in 1 2 3; do
	if cmp -s "$TMP/new-b.bin" "$MP/r/b.bin"; then
		got_new=1
		break
	fi
	sleep 2
done
[ "$got_new" -eq 1 ] || fail "r/b.bin still does not read as the new version whole after the TTL: $(cmp "$TMP/new-b.bin" "$MP/r/b.bin" 2>&1 | head -1)"
ok "a later open reads the new version whole"

step "weir-node killed with -9 while an open waits for its fill; the keeper's new weir-node answers"
cmp "$TMP/src/k/a.bin" "$MP/k/a.bin" || fail "k/a.bin read cold differs from the source"
old="$(weir_node_pid)"
[ -n "$old" ] || fail "no weir-node running"
[ -n "$(weir_keeper_pid)" ] || fail "no weir-keeper over weir-node $old: nothing would restart it"
read_file "$MP/k/b.bin" "$TMP/got-k"
sleep 1.5
[ ! -e "$TMP/got-k.ms" ] || fail "the open of k/b.bin was answered before weir-node was killed: the test did not race the fill"
pid_signal 9 "$old"
new="$(weir_wait_new_node "$old" 30)"
note "weir-node $old killed mid-fill; $new took over"
pid_wait_gone 120 "$READ_PID" ||
	fail "the reader of k/b.bin still hangs 120 s after weir-node was killed"
wait "$READ_PID" || true
rc="$(cat "$TMP/got-k.rc" 2>/dev/null || echo "no result")"
[ "$rc" = ok ] || fail "the reader of k/b.bin failed after the takeover: $rc"
cmp "$TMP/src/k/b.bin" "$TMP/got-k" || fail "k/b.bin read across the takeover differs from the source"
ok "the open waiting for its fill was answered by the new weir-node; every byte right"
# the file's pages out of the view and the tier files' page caches are not ours to drop; a new
# open reads the tier (checksums checked at first use after the restart) or the server
python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$MP/k/b.bin"
cmp "$TMP/src/k/b.bin" "$MP/k/b.bin" || fail "k/b.bin read again after the takeover differs from the source: a block of the killed fill was kept with wrong bytes"
ok "read again: every byte right"

step "the view is removed (weir umount --force) while an open waits for its fill"
cmp "$TMP/src/u/a.bin" "$MP/u/a.bin" || fail "u/a.bin read cold differs from the source"
read_file "$MP/u/b.bin" "$TMP/got-u"
sleep 2
[ ! -e "$TMP/got-u.ms" ] || fail "the open of u/b.bin was answered before the umount: the test did not race the fill"
t0="$(now)"
w umount --force "$MP" >/dev/null || fail "weir umount --force $MP failed"
took="$(elapsed "$t0" "$(now)")"
WEIR_MOUNTS=()
note "weir umount --force took $took s with an open waiting for a fill of 6 MiB at 48 KB/s a connection"
# the fill needs 6 MiB from a server that sends 48 KB/s on each of at most 16 connections (7
# here): 18 s at the least, whatever the machine; the umount must not wait for it
awk -v t="$took" 'BEGIN { exit !(t < 10) }' ||
	fail "weir umount --force waited $took s: it waited for the fill of an open (view_stop joins the worker), not for the view"
pid_wait_gone 30 "$READ_PID" ||
	fail "the reader of u/b.bin still hangs 30 s after its view was removed"
wait "$READ_PID" || true
note "reader: $(cat "$TMP/got-u.rc" 2>/dev/null || echo "no result")"
[ -n "$(weir_node_pid)" ] && w stat >/dev/null 2>&1 || fail "weir-node did not survive the removal of a view during a fill"
ok "the umount did not wait for the fill; the reader was released; weir-node answers"

step "a fill into a tier smaller than the file fetches each block once, then leaves the file to READs"
# The server as slow as above (a block takes seconds): blocks land one by one, and the tier
# pushes the first ones out for the later ones before the fill waits for them.
MP2="$TMP/mnt2"
weir_mount "${NGINX_URL}s/" "$MP2" --tier "mem:$WEIR_TIER_DIR/small:3MiB" --open-mode open \
	--block-size 1MiB --metadata-ttl 3600 >/dev/null
ls "$MP2" >/dev/null
cmp "$TMP/src/s/a.bin" "$MP2/a.bin" || fail "s/a.bin read cold differs from the source"
ufs_bytes() {
	w stat "$1" -o json >"$TMP/stat.json"
	json_get "$TMP/stat.json" ufs_bytes || fail "weir stat $1 has no ufs_bytes: $(head -c 300 "$TMP/stat.json")"
}
u0="$(ufs_bytes "$MP2")"
read_file "$MP2/b.bin" "$TMP/got-s" "$TMP/go-s"
for i in $(seq 1 1500); do [ -e "$TMP/got-s.ms" ] || [ -e "$TMP/got-s.rc" ] || { sleep 0.1; continue; }; break; done
[ -e "$TMP/got-s.ms" ] || fail "the open of s/b.bin (6 MiB, tier 3 MiB) did not return within 150 s: $(cat "$TMP/got-s.rc" 2>/dev/null)"
u1="$(ufs_bytes "$MP2")"
size=$((6 * MB + 7))
note "open of s/b.bin: $(cat "$TMP/got-s.ms") ms; the UFS sent $((u1 - u0)) bytes meanwhile (the file: $size)"
[ $((u1 - u0)) -le $((size + MB)) ] ||
	fail "the open of s/b.bin made the UFS send $((u1 - u0)) bytes for a $size-byte file: its fill fetched again, one by one, the blocks the small tier evicted while the opener waited"
ok "the fill fetched each block once"
# the same server, faster, for the READs that fetch again what the small tier could not keep
port="$NGINX_PORT"
nginx_stop
nginx_start "$TMP/nginx2" "$TMP/src" --port "$port" --limit-rate 2m
touch "$TMP/go-s"
pid_wait_gone 180 "$READ_PID" ||
	fail "the reader of s/b.bin still reads after 180 s"
wait "$READ_PID" || true
rc="$(cat "$TMP/got-s.rc" 2>/dev/null || echo "no result")"
[ "$rc" = ok ] || fail "the reader of s/b.bin through a tier smaller than it failed: $rc"
cmp "$TMP/src/s/b.bin" "$TMP/got-s" || fail "s/b.bin read through a tier smaller than it differs from the source"
cmp "$TMP/src/s/c.bin" "$MP2/c.bin" || fail "s/c.bin differs from the source"
ok "6 MiB through a 3 MiB tier: every byte right"
step "the file is replaced between two range requests of one reader (one request at a time)"
# A fill at open cannot straddle a replacement: its requests all start at once (the window is
# the request slots). A reader with one request slot can: its blocks of w/b.bin (4 of 4 MiB,
# 2 MB/s) are asked for one after the other, each when the one before is answered. The file is
# replaced once the first is answered: the one under way keeps the old bytes (the server has
# the old file open), every later one carries the old version (If-Match) to the new file. The
# reader must get the old version whole, the new one whole, or an error, never the first blocks
# of one and the rest of the other; and no block of the old version may stay for later opens.
MP3="$TMP/mnt3"
weir_mount "${NGINX_URL}w/" "$MP3" --tier "mem:$WEIR_TIER_DIR/w:96MiB" --open-mode open \
	--block-size 4MiB --fetch-concurrency 1 --metadata-ttl 2 >/dev/null
ls "$MP3" >/dev/null
cmp "$TMP/src/w/a.bin" "$MP3/a.bin" || fail "w/a.bin read cold differs from the source"
log_at="$(wc -l <"$NGINX_ACCESS_LOG")"
w_reqs() { tail -n +"$((log_at + 1))" "$NGINX_ACCESS_LOG" | grep -c "\"GET /w/b.bin[^\"]*\" $1" || true; }
read_file "$MP3/b.bin" "$TMP/got-w"
for i in $(seq 1 200); do
	[ "$(w_reqs 206)" -eq 0 ] || break
	sleep 0.05
done
[ "$(w_reqs 206)" -ge 1 ] || fail "no range of w/b.bin was answered within 10 s of its open"
cp "$TMP/new-wb.bin" "$TMP/src/w/.b.new"
touch -d '@1000000000' "$TMP/src/w/.b.new"
mv "$TMP/src/w/.b.new" "$TMP/src/w/b.bin"
[ ! -e "$TMP/got-w.rc" ] || fail "w/b.bin was read whole before its replacement: the test did not race the reader"
pid_wait_gone 120 "$READ_PID" || fail "the reader of w/b.bin still hangs 120 s after its open"
wait "$READ_PID" || true
rc="$(cat "$TMP/got-w.rc" 2>/dev/null || echo "no result")"
stale="$(w_reqs 412)"
note "reader: $rc; requests of w/b.bin: $(w_reqs 206) answered 206, $stale 412"
[ "$stale" -ge 1 ] ||
	fail "no request of w/b.bin after the replacement carried the old version (no 412): the test did not put the replacement between two requests"
one_version "$rc" "$TMP/got-w" "$TMP/old-wb.bin" "$TMP/new-wb.bin"
sleep 3 # past the metadata TTL
got_new=0
for try in 1 2 3; do
	if cmp -s "$TMP/new-wb.bin" "$MP3/b.bin"; then
		got_new=1
		break
	fi
	sleep 2
done
[ "$got_new" -eq 1 ] || fail "w/b.bin does not read as the new version whole after the TTL: $(cmp "$TMP/new-wb.bin" "$MP3/b.bin" 2>&1 | head -1)"
ok "a later open reads the new version whole: no block of the old version was kept"
echo
echo "PASS: a file replaced between two requests of one reader; stream fills under a replaced file, a killed weir-node, a removed view and a small tier"
