#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end (issue 11): weir mounts s3://bucket from a real S3 server (versitygw, or SeaweedFS
# as the test s3-seaweedfs; signatures checked) on loopback. Names with spaces, UTF-8, "+", "%"
# and "~" and a prefix of more than 1,000 keys list completely; a zero-byte "folder" object with
# nothing beneath is an empty directory; cp -R matches every byte; the second copy makes no S3 request; an object
# overwritten while a reader is halfway never yields mixed bytes; wrong keys, bucket or region
# fail with a clear error and mount nothing, and so do keys in the URL (refused, never shown); the
# secret key shows up nowhere. A Dataset's keys from
# a Secret (weir create secret generic, kind: Secret) bind and read; a reference from another
# namespace reads through them, the same Secret name from that namespace is refused, wrong keys
# fail naming the bucket, and no value shows in get/describe, logs, the store file or /metrics.
# A Secret rotated under a mounted view (the old keys revoked at the server) reads on with no
# remount and no reader error; revoked keys with the Secret not rotated give EACCES and a log
# naming the object and S3's code, never other bytes; new keys that do not work are refused.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/walkthrough.sh"
. "$here/../helpers/versitygw.sh"

# The server: versitygw (the default), or SeaweedFS (WEIR_E2E_S3_SERVER=seaweedfs: the test
# s3-seaweedfs). Both set what the vgw_* helpers use, so every step below drives either.
S3_SERVER="${WEIR_E2E_S3_SERVER:-versitygw}"
case "$S3_SERVER" in
versitygw) s3_start() { vgw_start "$@"; } ;;
seaweedfs)
	. "$here/../helpers/seaweedfs.sh"
	s3_start() { sw_start "$@"; }
	;;
*) fail "WEIR_E2E_S3_SERVER is \"$S3_SERVER\": versitygw or seaweedfs" ;;
esac

MANY="${WEIR_E2E_S3_MANY:-1200}"
# The training trees of the issue, in a bucket of their own (s3-seaweedfs sets both): the
# walkthrough's spark tree at this scale (tests/helpers/gentree.sh) and this many small files
# of 1-16 KiB in 20 directories; empty: not read.
TRAIN_SPARK="${WEIR_E2E_S3_SPARK:-}"
TRAIN_SMALL="${WEIR_E2E_S3_SMALL:-0}"

require_root_fuse
find_weir_bins
find_controller_bin
TMP="$(mktemp -d /tmp/weir-e2e-s3.XXXXXX)"
at_exit 'rm -rf "$TMP"'
weir_setup "$TMP"
TIERS="mem:$WEIR_TIER_DIR/mem:512MiB"
MP="$TMP/mnt"
# Whatever the machine has must not leak in: the keys come from this test alone.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

step "start $S3_SERVER on loopback and upload a tree with awkward names"
s3_start "$TMP/vgw"
ok "$S3_SERVER (pid $VGW_PID) serves $VGW_URL"
vgw_curl -f -X PUT "$VGW_URL/bkt" -o /dev/null || fail "creating bucket bkt failed"
T="$TMP/tree"
mkdir -p "$T/data/sub dir/deep" "$T/data/ünï 日本" "$T/many"
rand_file "$T/data/big.bin" $((24 * 1024 * 1024 + 123)) big
rand_file "$T/data/spaces in name.bin" 5000000 spaces
rand_file "$T/data/sub dir/deep/f.bin" 9000001 deep
rand_file "$T/data/ünï 日本/ü.txt" 1000 utf
rand_file "$T/data/plus+sign.txt" 777 plus
rand_file "$T/data/per%cent%41.txt" 888 pct
rand_file "$T/data/tilde~x" 999 tilde
rand_file "$T/data/a=b&c;d" 10 odd
: >"$T/data/empty"
for i in $(seq -w 1 "$MANY"); do printf 'file %s\n' "$i" >"$T/many/f$i"; done
t0="$(now)"
vgw_put_tree "$T" bkt
# zero-byte "folder" objects, as the S3 console's "Create folder" makes them: one with nothing
# beneath (an empty directory, listed by its parent as one), one next to the keys it holds
mkdir -p "$T/data/empty dir"
for k in "data/empty dir/" "data/sub dir/"; do
	vgw_curl -f -X PUT --data-binary '' "$(vgw_key_url bkt "$k")" -o /dev/null || fail "creating the marker \"$k\" failed"
done
ok "uploaded $(find "$T" -type f | wc -l) objects and 2 directory markers in $(elapsed "$t0" "$(now)") s"

step "weir mount s3://bkt with the keys from the environment"
export AWS_ACCESS_KEY_ID="$VGW_KEY" AWS_SECRET_ACCESS_KEY="$VGW_SECRET"
weir_mount s3://bkt "$MP" --tier "$TIERS" --s3-endpoint "$VGW_URL" --s3-region us-east-1 --s3-path-style
ok "mounted"

step "every name lists, and more than 1,000 keys in one prefix list completely"
diff <(cd "$T" && find . | LC_ALL=C sort) <(cd "$MP" && find . | LC_ALL=C sort) >&2 ||
	fail "the view's names differ from the uploaded tree's (diff above)"
n="$(ls "$MP/many" | wc -l)"
[ "$n" -eq "$MANY" ] || fail "many/ lists $n names, the bucket holds $MANY"
ls -A "$MP/data/empty dir" >"$TMP/emptydir.ls" 2>&1 || fail "data/empty dir/ (a marker object alone) lists by its parent but not itself: $(cat "$TMP/emptydir.ls")"
[ ! -s "$TMP/emptydir.ls" ] || fail "data/empty dir/ (a marker object alone) lists \"$(cat "$TMP/emptydir.ls")\""
ok "all $(find "$T" | wc -l) names match; many/ lists all $n keys (more than one ListObjectsV2 page); the marker \"empty dir/\" is an empty directory"

step "cp -R the tree and cmp every byte"
# stat_requests [MP]: the S3 requests weir counts for the view at MP (default $MP)
stat_requests() {
	w stat "${1:-$MP}" -o json >"$TMP/stat.json" || fail "weir stat ${1:-$MP} -o json exited with $?"
	json_get "$TMP/stat.json" ufs_requests
}
t0="$(now)"
timeout -k 5 300 cp -R "$MP/data" "$TMP/copy1" || fail "cp -R $MP/data failed"
t1="$(now)"
cat "$MP"/many/* | cmp - <(cat "$T"/many/*) || fail "the files of many/ differ from the uploaded ones"
diff -r "$T/data" "$TMP/copy1" >&2 || fail "the copy differs from the uploaded tree (diff -r above)"
bytes=$(( $(find "$T/data" -type f -printf '%s+') 0 ))
ok "cold copy of $bytes bytes in $(elapsed "$t0" "$t1") s; every file matches (diff -r compares every byte)"

step "the second copy is served from the cache: no S3 request"
before="$(stat_requests)"
t0="$(now)"
timeout -k 5 300 cp -R "$MP/data" "$TMP/copy2" || fail "second cp -R failed"
t1="$(now)"
cat "$MP"/many/* >/dev/null
after="$(stat_requests)"
diff -r "$T/data" "$TMP/copy2" >&2 || fail "the second copy differs (diff -r above)"
[ "$after" -eq "$before" ] || fail "the second copy made $((after - before)) S3 request(s) (weir stat ufs_requests $before -> $after)"
ok "warm copy in $(elapsed "$t0" "$t1") s with no S3 request (ufs_requests stays $after)"

if [ -n "$TRAIN_SPARK" ]; then
	step "the walkthrough's spark tree (scale $TRAIN_SPARK) and $TRAIN_SMALL small files: cp -R matches every byte, the second copy makes no S3 request"
	TT="$TMP/train"
	"$here/../helpers/gentree.sh" "$TT" "$TRAIN_SPARK" >/dev/null
	# 16 directories: 1,250 files each at 20,000, two ListObjectsV2 pages per directory
	"$here/../helpers/gensmall.py" "$TT/small" "$TRAIN_SMALL" 16
	vgw_curl -f -X PUT "$VGW_URL/train" -o /dev/null || fail "creating bucket train failed"
	t0="$(now)"
	vgw_put_tree "$TT" train
	nobj="$(find "$TT" -type f | wc -l)"
	tbytes=$(( $(find "$TT" -type f -printf '%s+') 0 ))
	ok "uploaded $nobj objects ($tbytes bytes) in $(elapsed "$t0" "$(now)") s"
	MPT="$TMP/mnt-train"
	weir_mount s3://train "$MPT" --tier "$TIERS" --s3-endpoint "$VGW_URL" --s3-region us-east-1 --s3-path-style
	t0="$(now)"
	timeout -k 5 300 cp -R "$MPT/." "$TMP/train1" || fail "cp -R $MPT failed"
	t1="$(now)"
	diff -r "$TT" "$TMP/train1" >&2 || fail "the copy of bucket train differs from the uploaded tree (diff -r above)"
	n="$(find "$TMP/train1" -type f | wc -l)"
	[ "$n" -eq "$nobj" ] || fail "the copy has $n files, the bucket $nobj"
	before="$(stat_requests "$MPT")"
	ok "cold copy of $nobj files, $tbytes bytes, in $(elapsed "$t0" "$t1") s; every byte matches (diff -r), $before S3 requests"
	rm -rf "$TMP/train1"
	# remounted: the view's page cache, which keeps every file of at most 1 MiB, goes with it;
	# the second copy is served by weir's tiers
	out="$(w umount "$MPT" 2>&1)" || fail "weir umount $MPT exited with $?: $out"
	weir_mount s3://train "$MPT" --tier "$TIERS" --s3-endpoint "$VGW_URL" --s3-region us-east-1 --s3-path-style
	before="$(stat_requests "$MPT")"
	t0="$(now)"
	timeout -k 5 300 cp -R "$MPT/." "$TMP/train2" || fail "second cp -R $MPT failed"
	t1="$(now)"
	after="$(stat_requests "$MPT")"
	diff -r "$TT" "$TMP/train2" >&2 || fail "the second copy of bucket train differs (diff -r above)"
	[ "$after" -eq "$before" ] || fail "the second copy of bucket train, remounted, made $((after - before)) S3 request(s) (ufs_requests $before -> $after)"
	ok "warm copy after a remount in $(elapsed "$t0" "$t1") s with no S3 request (ufs_requests stays $after)"
	rm -rf "$TMP/train2" "$TT"
	out="$(w umount "$MPT" 2>&1)" || fail "weir umount $MPT exited with $?: $out"
fi

if [ "$S3_SERVER" = versitygw ]; then
	step "files put straight into versitygw's directory (no ETag, mtime not on a whole second) read byte-exact; one changed under an open descriptor gives ESTALE, not its new bytes"
	# versitygw compares If-Unmodified-Since with the file's sub-second mtime: without an
	# ETag to send, every uncached read of such a file failed with ESTALE
	RAW="$VGW_DIR/root/raw"
	mkdir -p "$RAW" "$TMP/mnt-raw"
	rand_file "$RAW/a.bin" $((9 * 1024 * 1024 + 7)) raw-a
	rand_file "$RAW/b.bin" 100000 raw-b
	rand_file "$RAW/c.bin" 100000 raw-c
	touch -d "2026-01-02 03:04:05.5" "$RAW/a.bin" "$RAW/b.bin" "$RAW/c.bin"
	weir_mount s3://raw "$TMP/mnt-raw" --tier "$TIERS" --s3-endpoint "$VGW_URL" --s3-region us-east-1 --s3-path-style
	# c.bin opened first, alone (a.bin and b.bin read in listing order would fetch it ahead),
	# then changed at the server before its first read: the descriptor's version is gone
	/usr/bin/python3 - "$TMP/mnt-raw/c.bin" "$RAW/c.bin" >"$TMP/c.out" 2>&1 <<'PY' || true
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
with open(sys.argv[2], "wb") as f:
    f.write(os.urandom(100000))
os.utime(sys.argv[2], (1767323049.25, 1767323049.25))  # a later date, not a whole second
try:
    b = os.read(fd, 100000)
    print("read", len(b), "new" if b == open(sys.argv[2], "rb").read() else "other")
except OSError as e:
    print("error", errno.errorcode[e.errno])
PY
	grep -q "^error ESTALE" "$TMP/c.out" ||
		fail "c.bin changed at the server under an open descriptor: $(cat "$TMP/c.out"); its read must fail with ESTALE"
	for f in a.bin b.bin; do
		cmp "$RAW/$f" "$TMP/mnt-raw/$f" || fail "$f, put in versitygw's directory, reads other bytes (or fails) through the view"
	done
	out="$(w umount "$TMP/mnt-raw" 2>&1)" || fail "weir umount $TMP/mnt-raw exited with $?: $out"
	ok "a.bin and b.bin byte-exact; c.bin changed under its descriptor: $(cat "$TMP/c.out")"
fi

step "a cold open binds to the version the listing gave: one GET per small file, no HEAD"
MP12="$TMP/mnt-nohead"
weir_mount s3://bkt/data "$MP12" --tier "$TIERS" --s3-endpoint "$VGW_URL" --s3-path-style
ls -l "$MP12" >/dev/null
mp_requests() {
	w stat "$1" -o json >"$TMP/stat-nohead.json" || fail "weir stat $1 -o json exited with $?"
	json_get "$TMP/stat-nohead.json" ufs_requests
}
before="$(mp_requests "$MP12")"
cat "$MP12/plus+sign.txt" "$MP12/tilde~x" "$MP12/per%cent%41.txt" | cmp - <(cat "$T/data/plus+sign.txt" \
	"$T/data/tilde~x" "$T/data/per%cent%41.txt") || fail "three small files read cold differ"
after="$(mp_requests "$MP12")"
[ $((after - before)) -eq 3 ] ||
	fail "reading 3 small files cold made $((after - before)) S3 requests; 3 GETs expected (a HEAD per open?)"
ok "3 small files read cold with 3 requests (ufs_requests $before -> $after): the opens asked nothing"

step "a reader opening a directory's files in listing order gets the next files fetched ahead; shuffled, none"
# mp_stat MP KEY: a counter of the view at MP from weir stat -o json
mp_stat() {
	w stat "$1" -o json >"$TMP/stat-ahead.json" || fail "weir stat $1 -o json exited with $?"
	json_get "$TMP/stat-ahead.json" "$2"
}
MP13="$TMP/mnt-ahead" MP14="$TMP/mnt-shuffled"
weir_mount s3://bkt/many "$MP13" --tier "$TIERS" --s3-endpoint "$VGW_URL" --s3-path-style
ls "$MP13" >/dev/null
for f in $(ls "$MP13" | head -n 40); do cat "$MP13/$f"; done | cmp - <(for f in $(ls "$T/many" | head -n 40); do cat "$T/many/$f"; done) ||
	fail "many/'s first 40 files read in order differ"
ahead="$(mp_stat "$MP13" prefetch_bytes)"
[ "$ahead" -gt 0 ] || fail "reading many/'s files in listing order fetched nothing ahead (prefetch_bytes $ahead)"
weir_mount s3://bkt/many/ "$MP14" --tier "$TIERS" --s3-endpoint "$VGW_URL" --s3-path-style --s3-region us-east-1
ls "$MP14" >/dev/null
# 40 of files 200-400 in an order fixed by a seed: no three in a row follow each other
for f in $(ls "$MP14" | sed -n '200,400p' |
	python3 -c 'import random, sys; l = sys.stdin.read().split(); random.Random(7).shuffle(l); print(" ".join(l[:40]))'); do
	cat "$MP14/$f" >/dev/null
done
shuffled="$(mp_stat "$MP14" prefetch_bytes)"
[ "$shuffled" -eq 0 ] || fail "reading 40 files in shuffled order fetched $shuffled bytes ahead"
ok "40 files in listing order: $ahead bytes fetched ahead; 40 in shuffled order: none"

step "an object overwritten while a reader is halfway: ESTALE or one whole version, never a mix"
mkdir -p "$T/race"
rand_file "$T/race/old" $((64 * 1024 * 1024)) old
rand_file "$T/race/new" $((64 * 1024 * 1024)) new
vgw_curl -f -T "$T/race/old" "$(vgw_key_url bkt race/obj.bin)" -o /dev/null || fail "upload of race/obj.bin failed"
MP2="$TMP/mnt-race"
weir_mount "s3://bkt/race" "$MP2" --tier "$TIERS" --s3-endpoint "$VGW_URL" --s3-path-style \
	--no-prefetch --block-size 1MiB
python3 "$here/../helpers/gated_reader.py" "$MP2/obj.bin" "$TMP/race.out" "$TMP/race.half" "$TMP/race.go" \
	$((32 << 20)) >"$TMP/race.res" 2>&1 &
reader=$!
pid_track "$reader"
for i in $(seq 1 300); do [ -e "$TMP/race.half" ] && break; sleep 0.1; done
[ -e "$TMP/race.half" ] || fail "the reader did not get through the first half of obj.bin"
vgw_curl -f -T "$T/race/new" "$(vgw_key_url bkt race/obj.bin)" -o /dev/null || fail "overwriting race/obj.bin failed"
touch "$TMP/race.go"
wait "$reader" || fail "the reader crashed: $(cat "$TMP/race.res")"
res="$(cat "$TMP/race.res")"
got="$(stat -c %s "$TMP/race.out")"
case "$res" in
"errno 116 ESTALE" | "errno 5 EIO")
	[ "$res" != "errno 5 EIO" ] || grep -q 'obj.bin" at .*Stale file handle' "$WEIR_STATE/node.log" ||
		fail "the reader got EIO, and not because the object changed (node.log has no ESTALE for obj.bin)"
	cmp -n "$got" "$T/race/old" "$TMP/race.out" || fail "the reader's bytes before ESTALE are not the old object's"
	ok "the reader got ${res#errno * } (the UFS said ESTALE) after $got bytes, all of them the old object's" ;;
complete)
	if cmp -s "$T/race/old" "$TMP/race.out"; then ok "the reader got the whole old object (it was cached)"
	elif cmp -s "$T/race/new" "$TMP/race.out"; then ok "the reader got the whole new object"
	else fail "the reader got $got bytes mixing the old and the new object"; fi ;;
*) fail "the reader ended with \"$res\" after $got bytes; expected ESTALE or one whole version" ;;
esac
cat "$MP2/obj.bin" >"$TMP/reopen.out" 2>/dev/null || true
note "a new open then reads $(cmp -s "$T/race/new" "$TMP/reopen.out" && echo "the new object" || echo "not (yet) the new object")"

step "the next file of a directory stream is fetched whole at its open and passed through; replaced first: never a mix"
# A reader opening a directory's files in listing order (cp -R) gets each next file's open held
# until the whole version is in the tier, then passed through. The second file's open is the
# first such: nothing fetched it ahead before (the guess of the next file starts at the second
# open), so without the fill it would open through READs (passthrough_opens stays 0).
mkdir -p "$T/stream"
rand_file "$T/stream/a.bin" $((2 * 1024 * 1024 + 5)) sa
rand_file "$T/stream/b.bin" $((12 * 1024 * 1024 + 7)) sb
rand_file "$T/stream/c.bin" $((9 * 1024 * 1024 + 3)) sc
rand_file "$T/stream/b.new" $((12 * 1024 * 1024 + 7)) sbnew # same size: only the ETag tells
for k in a b c; do
	vgw_curl -f -T "$T/stream/$k.bin" "$(vgw_key_url bkt "stream/$k.bin")" -o /dev/null || fail "upload of stream/$k.bin failed"
	vgw_curl -f -T "$T/stream/$k.bin" "$(vgw_key_url bkt "stream2/$k.bin")" -o /dev/null || fail "upload of stream2/$k.bin failed"
done
MP5="$TMP/mnt-stream" MP6="$TMP/mnt-stream2"
weir_mount s3://bkt/stream "$MP5" --tier "$TIERS" --s3-endpoint "$VGW_URL" --s3-path-style
ls "$MP5" >/dev/null
pt0="$(mp_stat "$MP5" passthrough_opens)"
[ "$pt0" -eq 0 ] || fail "passthrough_opens is $pt0 before any read of $MP5"
cat "$MP5/a.bin" | cmp - "$T/stream/a.bin" || fail "stream/a.bin read cold differs"
pt1="$(mp_stat "$MP5" passthrough_opens)"
cat "$MP5/b.bin" | cmp - "$T/stream/b.bin" || fail "stream/b.bin read cold (filled at its open) differs"
pt2="$(mp_stat "$MP5" passthrough_opens)"
[ "$pt1" -eq 0 ] || fail "the first file of the stream (a.bin) was passed through cold ($pt1 opens): nothing fetched it whole"
[ "$pt2" -eq 1 ] || fail "the second file of the stream (b.bin) was not passed through (passthrough_opens $pt1 -> $pt2): its open did not wait for its whole version"
cat "$MP5/c.bin" | cmp - "$T/stream/c.bin" || fail "stream/c.bin read cold differs"
ok "a.bin through READs, b.bin and c.bin fetched whole at their opens (passthrough_opens 0 -> $pt2 -> $(mp_stat "$MP5" passthrough_opens)); every byte matches"

# The next file replaced after the listing and before its open (the open binds the listed
# version, whose every request carries If-Match): ESTALE, or the whole new object, never the old
# one (gone from the server, and nothing fetched it) nor a mix. Then replaced while its open
# waits for the fill: ESTALE or one whole version.
weir_mount s3://bkt/stream2 "$MP6" --tier "$TIERS" --s3-endpoint "$VGW_URL" --s3-path-style
ls "$MP6" >/dev/null
stream_reader() { # DIR FIRST NEXT OUT GO: reads FIRST, waits for the file GO, then reads NEXT whole
	python3 "$here/../helpers/gated_reader.py" "$1/$3" "$4" "$5.ready" "$5" --after "$1/$2"
}
# judge WHAT RES OUT OLD NEW OLD_OK: the reader's result RES and bytes OUT against the object's
# old and new contents: ESTALE after a prefix of the old, or one whole version (the old one only
# with OLD_OK yes)
judge() {
	local what="$1" res="$2" out="$3" old="$4" new="$5" old_ok="$6" got
	got="$(stat -c %s "$out")"
	case "$res" in
	"errno 116 ESTALE") cmp -n "$got" "$old" "$out" ||
		fail "$what: the bytes before ESTALE are not the old object's" ;;
	complete)
		if cmp -s "$new" "$out"; then :
		elif cmp -s "$old" "$out"; then
			[ "$old_ok" = yes ] || fail "$what: the reader got the old object, which the server no longer had and nothing had fetched"
		else fail "$what: the reader got $got bytes mixing the old and the new object"; fi ;;
	*) fail "$what: the reader ended with \"$res\" after $got bytes; expected ESTALE or one whole version" ;;
	esac
	ok "$what: $res ($got bytes, $(cmp -s "$new" "$out" && echo "the new object" || echo "one version"))"
}
stream_reader "$MP6" a.bin b.bin "$TMP/stream2.out" "$TMP/stream2.go" >"$TMP/stream2.res" 2>&1 &
reader=$!
pid_track "$reader"
until_ok 60 "the reader reading stream2/a.bin" test -e "$TMP/stream2.go.ready"
vgw_curl -f -T "$T/stream/b.new" "$(vgw_key_url bkt stream2/b.bin)" -o /dev/null || fail "overwriting stream2/b.bin failed"
touch "$TMP/stream2.go"
wait "$reader" || fail "the reader crashed: $(cat "$TMP/stream2.res")"
judge "replaced before its open" "$(cat "$TMP/stream2.res")" "$TMP/stream2.out" "$T/stream/b.bin" "$T/stream/b.new" no
# the same stream further on (b read, whatever it gave; c's open waits for its fill) with c
# replaced while that open waits: the new c is uploaded as the reader opens it
rand_file "$T/stream/c.new" $((9 * 1024 * 1024 + 3)) scnew
stream_reader "$MP6" b.bin c.bin "$TMP/stream3.out" "$TMP/stream3.go" >"$TMP/stream3.res" 2>&1 &
reader=$!
pid_track "$reader"
until_ok 60 "the reader reading stream2/b.bin" test -e "$TMP/stream3.go.ready"
touch "$TMP/stream3.go"
vgw_curl -f -T "$T/stream/c.new" "$(vgw_key_url bkt stream2/c.bin)" -o /dev/null || fail "overwriting stream2/c.bin failed"
wait "$reader" || fail "the reader crashed: $(cat "$TMP/stream3.res")"
judge "c.bin replaced while its open waits" "$(cat "$TMP/stream3.res")" "$TMP/stream3.out" "$T/stream/c.bin" "$T/stream/c.new" yes

step "503 SlowDown and connection resets are retried: the copy is still exact"
FPORT="$(free_port)"
python3 "$here/../helpers/s3faults.py" "$FPORT" "$VGW_PORT" 3 "$TMP/faults.count" >"$TMP/faults.log" 2>&1 &
fpid=$!
pid_track "$fpid"
at_exit "pid_stop $fpid"
for i in $(seq 1 50); do [ -s "$TMP/faults.count" ] && break; sleep 0.1; done
pid_alive "$fpid" || fail "s3faults.py did not start: $(cat "$TMP/faults.log")"
MP6="$TMP/mnt-faults"
weir_mount s3://bkt/data "$MP6" --tier "$TIERS" --s3-endpoint "http://127.0.0.1:$FPORT" --s3-path-style \
	--block-size 1MiB
timeout -k 5 300 cp -R "$MP6" "$TMP/copy-faults" || fail "cp -R through the faulty proxy failed"
diff -r "$T/data" "$TMP/copy-faults" >&2 || fail "the copy through the faulty proxy differs (diff -r above)"
read -r slowdowns resets <"$TMP/faults.count"
[ "$slowdowns" -gt 0 ] && [ "$resets" -gt 0 ] ||
	fail "the proxy injected $slowdowns SlowDown(s) and $resets reset(s); the test needs both"
ok "$slowdowns 503 SlowDown and $resets resets injected; every byte of the copy matches"

step "wrong keys, bucket or region: a clear error and nothing mounted"
MP3="$TMP/mnt-bad"
mkdir -p "$MP3"
# expect_refused WHAT PATTERN URL ENV...: weir mount URL with the environment changed by ENV (env's
# arguments) fails, says PATTERN and mounts nothing.
expect_refused() {
	local what="$1" pat="$2" url="$3" rc=0
	shift 3
	env "$@" "$WEIR_BIN" --state-dir "$WEIR_STATE" mount "$url" "$MP3" --tier "$TIERS" \
		--s3-endpoint "$VGW_URL" --s3-path-style </dev/null >"$TMP/bad.out" 2>&1 || rc=$?
	[ "$rc" -ne 0 ] || fail "weir mount with $what succeeded"
	grep -q -e "$pat" "$TMP/bad.out" || fail "weir mount with $what says \"$(cat "$TMP/bad.out")\", not $pat"
	! is_mounted "$MP3" || fail "weir mount with $what left $MP3 mounted"
	grep -qF "$VGW_SECRET" "$TMP/bad.out" && fail "weir mount's error shows the secret key"
	ok "$what: $(head -c 300 "$TMP/bad.out")"
}
expect_refused "a wrong secret key" 'SignatureDoesNotMatch' s3://bkt AWS_SECRET_ACCESS_KEY=wrong-secret-key
expect_refused "an unknown access key" 'InvalidAccessKeyId\|AccessDenied\|XAdminUserNotFound' s3://bkt AWS_ACCESS_KEY_ID=nobody
expect_refused "no keys (anonymous, private bucket)" 'AccessDenied' s3://bkt -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY
expect_refused "a missing bucket" 'NoSuchBucket.*nobkt\|nobkt.*NoSuchBucket' s3://nobkt AWS_REGION=us-east-1
# a secret key read from a file with its newline (AWS_SECRET_ACCESS_KEY=$(cat f) keeps none, a
# shell's read or an env file can): said what it is, not "an s3 URL with keys needs both"
expect_refused "a secret key ending in a newline" 'AWS_SECRET_ACCESS_KEY holds a control byte' s3://bkt \
	AWS_SECRET_ACCESS_KEY="$VGW_SECRET"$'\n'
expect_refused "an access key ending in CR" 'AWS_ACCESS_KEY_ID holds a control byte' s3://bkt \
	AWS_ACCESS_KEY_ID="$VGW_KEY"$'\r'
# KEY:SECRET@ in the URL: the environment's keys replaced them, or (none there) the bucket was
# read anonymously with a note that showed the secret
for env_keys in no yes; do
	if [ "$env_keys" = no ]; then set -- -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY; else set --; fi
	expect_refused "keys in the URL (environment keys: $env_keys)" 'keys in an s3:// URL are not read' \
		"s3://$VGW_KEY:url-secret-9f2c@bkt" "$@"
	grep -q -F url-secret-9f2c "$TMP/bad.out" && fail "weir mount's answer shows the URL's secret: $(cat "$TMP/bad.out")"
done
set --
if [ "$S3_SERVER" = seaweedfs ]; then
	note "not checked on SeaweedFS: it accepts a signature for any region, so no answer names the bucket's"
else
	expect_refused "the wrong region" 'in region "us-east-1"' s3://bkt AWS_REGION=eu-west-3
fi

step "keys from AWS_PROFILE's credentials file, region and endpoint from its config"
mkdir -p "$TMP/aws"
umask 077
printf '[default]\naws_access_key_id = nobody\naws_secret_access_key = nothing\n\n[weirtest]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
	"$VGW_KEY" "$VGW_SECRET" >"$TMP/aws/credentials"
printf '[profile weirtest]\nregion = us-east-1\nendpoint_url = %s\n' "$VGW_URL" >"$TMP/aws/config"
umask 022
MP4="$TMP/mnt-profile"
mkdir -p "$MP4"
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_PROFILE=weirtest \
	AWS_SHARED_CREDENTIALS_FILE="$TMP/aws/credentials" AWS_CONFIG_FILE="$TMP/aws/config" \
	"$WEIR_BIN" --state-dir "$WEIR_STATE" mount s3://bkt/data "$MP4" --tier "$TIERS" --s3-path-style \
	</dev/null >"$TMP/profile.out" 2>&1 || fail "weir mount with AWS_PROFILE failed: $(cat "$TMP/profile.out")"
WEIR_MOUNTS+=("$MP4")
cmp "$T/data/plus+sign.txt" "$MP4/plus+sign.txt" || fail "plus+sign.txt read through the AWS_PROFILE mount differs"
ok "AWS_PROFILE=weirtest mounts s3://bkt/data with that profile's keys and endpoint"

step "a public bucket reads anonymously"
vgw_curl -f -X PUT "$VGW_URL/pub" -o /dev/null || fail "creating bucket pub failed"
vgw_curl -f -T "$T/data/plus+sign.txt" "$(vgw_key_url pub "a b/plus+sign.txt")" -o /dev/null || fail "upload to pub failed"
# versitygw: a bucket policy; SeaweedFS: its "anonymous" identity reads pub (sw_start)
if [ "$S3_SERVER" = versitygw ]; then
	printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::pub","arn:aws:s3:::pub/*"]}]}' >"$TMP/policy.json"
	vgw_curl -f -X PUT -T "$TMP/policy.json" "$VGW_URL/pub?policy=" -o /dev/null || fail "setting pub's bucket policy failed"
fi
MP5="$TMP/mnt-public"
weir_mount s3://pub "$MP5" --tier "$TIERS" --s3-endpoint "$VGW_URL" --s3-anonymous
cmp "$T/data/plus+sign.txt" "$MP5/a b/plus+sign.txt" || fail "the public object read anonymously differs"
ok "s3://pub mounted with --s3-anonymous (no signature); its object matches"

step "the secret key is nowhere users can see it"
grep -F " $MP " /proc/self/mountinfo >"$TMP/mountinfo" || fail "$MP is not in mountinfo"
note "mountinfo: $(cat "$TMP/mountinfo")"
w stat >"$TMP/stat.txt"
w stat -o json >"$TMP/stat2.json"
for f in "$TMP/mountinfo" "$TMP/stat.txt" "$TMP/stat2.json" "$WEIR_STATE/node.log"; do
	if grep -a -n -F "$VGW_SECRET" "$f" >&2; then fail "$f shows the secret key (lines above)"; fi
done
ok "mountinfo, weir stat (text and JSON) and node.log show no secret key"

step "a Fluid Dataset with S3 options binds and mounts through weir up (keys: weir-node's environment)"
FIRST_STATE="$WEIR_STATE"
weir_setup "$TMP/cp"
printf 'resync-interval = 0.5\n' >"$WEIR_STATE/controller.conf"
printf 'metrics-listen =\n' >"$WEIR_STATE/node.conf"
wt_up
cat >"$TMP/imagenet.yaml" <<YAML
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata:
  name: imagenet
  namespace: default
spec:
  mounts:
    - mountPoint: s3://bkt/data
      options:
        alluxio.underfs.s3.endpoint: $VGW_URL
        alluxio.underfs.s3.endpoint.region: us-east-1
        alluxio.underfs.s3.disable.dns.buckets: "true"
---
apiVersion: data.fluid.io/v1alpha1
kind: AlluxioRuntime
metadata:
  name: imagenet
  namespace: default
spec:
  replicas: 1
  tieredstore:
    levels:
      - mediumtype: MEM
        path: $WEIR_TIER_DIR
        quota: 1Gi
        high: "0.95"
        low: "0.7"
YAML
show apply -f "$TMP/imagenet.yaml"
wt_wait_phase dataset imagenet default Bound
MP7="$TMP/mnt-dataset"
wt_mount default imagenet "$MP7"
diff -r "$T/data" "$MP7" >&2 || fail "the Dataset's view differs from the uploaded tree (diff -r above)"
ok "default/imagenet is Bound; its view matches the bucket's data/ byte for byte"
w describe dataset imagenet -n default >"$TMP/describe.txt" 2>&1 || fail "weir describe dataset imagenet failed"
for f in "$TMP/describe.txt" "$WEIR_STATE/controller.log" "$WEIR_STATE/node.log" "$WEIR_STATE"/*.db; do
	[ -e "$f" ] || continue
	if grep -a -n -F "$VGW_SECRET" "$f" >&2; then fail "$f shows the secret key (lines above)"; fi
done
ok "weir describe, the controller's and node's logs and the store show no secret key"

step "keys from a Secret: a Dataset's encryptOptions, with weir-node holding no keys of its own"
# A control plane whose weir-node has no AWS keys: what reads the bucket can only be the Secret.
wt_teardown
weir_setup "$TMP/cp-secret"
MPORT="$(free_port)"
printf 'resync-interval = 0.5\n' >"$WEIR_STATE/controller.conf"
printf 'metrics-listen = 127.0.0.1:%s\n' "$MPORT" >"$WEIR_STATE/node.conf"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
wt_up
show create namespace team-a
show create namespace team-b
umask 077
printf '%s' "$VGW_SECRET" >"$TMP/secret-key"
umask 022
# weir create secret generic, kubectl's form: a literal and a file
show create secret generic s3-keys -n team-a --from-literal=access-key="$VGW_KEY" \
	--from-file=secret-key="$TMP/secret-key"
# kind: Secret YAML, base64 data and stringData, with the wrong secret key
B64KEY="$(printf '%s' "$VGW_KEY" | base64 -w0)"
cat >"$TMP/bad-keys.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata: {name: bad-keys, namespace: team-a}
type: Opaque
data:
  access-key: $B64KEY
stringData:
  secret-key: not-the-secret-key
YAML
show apply -f "$TMP/bad-keys.yaml"
# dataset_yaml NS NAME SECRET [TOKEN_KEY]: a Fluid Dataset of s3://bkt/data (or $DS_MOUNT) with
# its keys (and session token) from SECRET, and its Runtime.
dataset_yaml() {
	cat <<YAML
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata: {name: $2, namespace: $1}
spec:
  mounts:
    - mountPoint: ${DS_MOUNT:-s3://bkt/data}
      options:
        alluxio.underfs.s3.endpoint: $VGW_URL
        alluxio.underfs.s3.endpoint.region: us-east-1
        alluxio.underfs.s3.disable.dns.buckets: "true"
      encryptOptions:
        - name: aws.accessKeyId
          valueFrom: {secretKeyRef: {name: $3, key: access-key}}
        - name: aws.secretKey
          valueFrom: {secretKeyRef: {name: $3, key: secret-key}}
${4:+        - name: aws.sessionToken
          valueFrom: {secretKeyRef: {name: $3, key: $4\}\}}
---
apiVersion: data.fluid.io/v1alpha1
kind: AlluxioRuntime
metadata: {name: $2, namespace: $1}
spec:
  replicas: 1
  tieredstore:
    levels:
      - {mediumtype: MEM, path: $WEIR_TIER_DIR, quota: 1Gi, high: "0.95", low: "0.7"}
YAML
}
dataset_yaml team-a imagenet s3-keys >"$TMP/secret-ds.yaml"
show apply -f "$TMP/secret-ds.yaml"
wt_wait_phase dataset imagenet team-a Bound
MP9="$TMP/mnt-secret"
wt_mount team-a imagenet "$MP9"
diff -r "$T/data" "$MP9" >&2 || fail "the view of team-a/imagenet (keys from Secret s3-keys) differs (diff -r above)"
cmp "$T/data/big.bin" "$MP9/big.bin" || fail "big.bin read with the Secret's keys differs"
ok "team-a/imagenet is Bound with Secret s3-keys' keys (weir-node has none); its view matches byte for byte"

# a reference from team-b reads through the source's keys without seeing them
cat >"$TMP/ref.yaml" <<YAML
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata: {name: imagenet-ref, namespace: team-b}
spec:
  mounts:
    - mountPoint: dataset://team-a/imagenet
YAML
show apply -f "$TMP/ref.yaml"
wt_wait_phase dataset imagenet-ref team-b Bound
MP10="$TMP/mnt-secret-ref"
wt_mount team-b imagenet-ref "$MP10"
cmp "$T/data/spaces in name.bin" "$MP10/spaces in name.bin" || fail "the reference's view differs"
ok "team-b/imagenet-ref (dataset://team-a/imagenet) reads with team-a's keys"

# ds_failed NS NAME PATTERN: the Dataset becomes Failed with a condition matching PATTERN.
ds_failed() {
	local f="$TMP/failed-$1-$2.json" i
	for i in $(seq 1 100); do
		if wt_json dataset "$2" "$1" "$f" && [ "$(wt_field_opt "$f" status.phase)" = Failed ]; then
			wt_conditions "$f" >"$f.cond"
			grep -q -e "$3" "$f.cond" || fail "$1/$2 is Failed, but not with \"$3\": $(cat "$f.cond")"
			ok "$1/$2 is Failed: $(head -c 300 "$f.cond")"
			return 0
		fi
		sleep 0.2
	done
	fail "$1/$2 did not become Failed in 20 s (phase $(wt_field_opt "$f" status.phase))"
}
# a Secret of team-a is not team-b's: the same name from team-b finds nothing
dataset_yaml team-b stolen s3-keys >"$TMP/stolen.yaml"
show apply -f "$TMP/stolen.yaml"
ds_failed team-b stolen 'secret "s3-keys" not found in namespace "team-b"'
# a session token (x-amz-security-token) reaches the server: versitygw has no STS and says the
# token is not one of its own (tests/daemon/check_s3.c checks the header is signed)
show create secret generic sts-keys -n team-a --from-literal=access-key="$VGW_KEY" \
	--from-file=secret-key="$TMP/secret-key" --from-literal=token=FwoGZXIvYXdzEXAMPLE/token+x==
dataset_yaml team-a withtoken sts-keys token >"$TMP/withtoken.yaml"
show apply -f "$TMP/withtoken.yaml"
if [ "$S3_SERVER" = seaweedfs ]; then
	# SeaweedFS takes a token along with static keys: what is checked is that the signature,
	# which covers x-amz-security-token, still matches
	wt_wait_phase dataset withtoken team-a Bound
	ok "team-a/withtoken is Bound: SeaweedFS checked a signature covering the session token"
else
	ds_failed team-a withtoken 's3://bkt/.*InvalidToken'
fi
# wrong keys: a clear error naming the bucket
dataset_yaml team-a badkeys bad-keys >"$TMP/badkeys.yaml"
show apply -f "$TMP/badkeys.yaml"
ds_failed team-a badkeys 's3://bkt/.*SignatureDoesNotMatch'
# a Secret made --from-file of a file ending in a newline (kubectl keeps it): the Dataset says
# so, not SignatureDoesNotMatch
printf '%s\n' "$VGW_SECRET" >"$TMP/secret-key-nl"
show create secret generic nl-keys -n team-a --from-literal=access-key="$VGW_KEY" \
	--from-file=secret-key="$TMP/secret-key-nl"
dataset_yaml team-a nlkeys nl-keys >"$TMP/nlkeys.yaml"
show apply -f "$TMP/nlkeys.yaml"
ds_failed team-a nlkeys "Secret's keys holds a control byte"

step "the Secret's values are nowhere: get/describe (yaml, json), logs, the store file and its WAL, /metrics"
out="$TMP/shown"
mkdir -p "$out"
for o in yaml json; do
	w get secret s3-keys -n team-a -o "$o" >"$out/secret.$o" || fail "weir get secret -o $o failed"
	w get secrets -A -o "$o" >"$out/secrets-all.$o" || fail "weir get secrets -A -o $o failed"
	w get dataset imagenet -n team-a -o "$o" >"$out/dataset.$o" || fail "weir get dataset -o $o failed"
	w get dataset -A -o "$o" >"$out/datasets.$o" || fail "weir get dataset -A -o $o failed"
done
w get secrets -A >"$out/secrets.txt" || fail "weir get secrets -A failed"
w describe secret s3-keys -n team-a >"$out/describe-secret.txt" || fail "weir describe secret failed"
w describe dataset -A >"$out/describe-datasets.txt" || fail "weir describe dataset -A failed"
w stat -o json >"$out/stat.json" || fail "weir stat failed"
grep -q 'access-key' "$out/secret.yaml" && grep -q 'secret-key' "$out/secret.yaml" ||
	fail "weir get secret -o yaml does not name the Secret's keys: $(cat "$out/secret.yaml")"
grep -q '^team-a  *s3-keys  *Opaque  *2 ' "$out/secrets.txt" ||
	fail "weir get secrets -A does not list s3-keys as Opaque with 2 keys: $(cat "$out/secrets.txt")"
metrics_get "http://127.0.0.1:$MPORT/metrics" >"$out/metrics.txt" || fail "GET /metrics on port $MPORT failed"
grep -q 'weir_' "$out/metrics.txt" || fail "/metrics has no weir_ series: $(head -c 300 "$out/metrics.txt")"
ls "$WEIR_STATE"/controller.db* >&2
[ -s "$WEIR_STATE/controller.db" ] || fail "no store file $WEIR_STATE/controller.db"
B64SECRET="$(printf '%s' "$VGW_SECRET" | base64 -w0)"
for f in "$out"/* "$WEIR_STATE"/*.log "$WEIR_STATE"/controller.db* "$WEIR_STATE"/stores/*/url; do
	[ -e "$f" ] || continue
	for v in "$VGW_SECRET" "$B64SECRET" "$VGW_KEY" "$B64KEY" not-the-secret-key FwoGZXIvYXdzEXAMPLE; do
		if grep -a -n -F -e "$v" "$f" >&2; then fail "$f shows a Secret's value (lines above)"; fi
	done
done
[ "$(stat -c %a "$WEIR_STATE/secret.key")" = 600 ] || fail "secret.key has mode $(stat -c %a "$WEIR_STATE/secret.key"), not 600"
ok "no value of s3-keys or bad-keys (clear or base64) in $(ls "$out" | wc -l) outputs, the logs, controller.db(-wal), the sources' url files or /metrics; secret.key is 0600"

step "a rotated Secret reaches a mounted view: new requests signed with the new keys, no remount, no reader error"
# A server with accounts besides the test's: versitygw makes each key pair a user, revoked by
# deleting it; SeaweedFS gives one user an access key per pair, revoked by deleting the key.
s3_start "$TMP/vgw-iam" --iam
vgw_curl -f -X PUT "$VGW_URL/rot" -o /dev/null || fail "creating bucket rot failed"
mkdir -p "$T/rot"
# d.bin, 100 MiB: more than a reader going through the directory gets fetched ahead of the next
# file (its first readahead window, 16 blocks of 4 MiB, on idle connections), so the read below
# with revoked keys must reach the server; the others 20 MiB
for f in a b c d e; do
	size=$((20 * 1024 * 1024 + 7))
	[ "$f" = d ] && size=$((100 * 1024 * 1024 + 7))
	rand_file "$T/rot/$f.bin" "$size" "rot-$f"
done
vgw_put_tree "$T/rot" rot
ROT_KEYS=() ROT_SECRETS=()
if [ "$S3_SERVER" = seaweedfs ]; then
	sw_iam Action=CreateUser UserName=weirrot >/dev/null
	sw_iam Action=PutUserPolicy UserName=weirrot PolicyName=rot \
		'PolicyDocument={"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::rot","arn:aws:s3:::rot/*"]}]}' >/dev/null
fi
# rot_user I: key pair I reads bucket rot. versitygw: user rotk<I>... with a random secret, an
# admin so it reads the test's bucket; SeaweedFS: a new access key of user weirrot.
rot_user() {
	if [ "$S3_SERVER" = seaweedfs ]; then
		sw_iam Action=CreateAccessKey UserName=weirrot >"$TMP/iam-key.xml"
		ROT_KEYS[$1]="$(sed -n 's/.*<AccessKeyId>\([^<]*\)<.*/\1/p' "$TMP/iam-key.xml")"
		ROT_SECRETS[$1]="$(sed -n 's/.*<SecretAccessKey>\([^<]*\)<.*/\1/p' "$TMP/iam-key.xml")"
		rm -f "$TMP/iam-key.xml"
		[ -n "${ROT_KEYS[$1]}" ] && [ -n "${ROT_SECRETS[$1]}" ] ||
			fail "SeaweedFS's CreateAccessKey answer has no AccessKeyId or SecretAccessKey"
		return 0
	fi
	ROT_KEYS[$1]="rotk$1$(openssl rand -hex 4)" ROT_SECRETS[$1]="rot/$(openssl rand -hex 12)+$1"
	vgw_admin create-user --access "${ROT_KEYS[$1]}" --secret "${ROT_SECRETS[$1]}" --role admin \
		>"$TMP/vgw-admin.out" 2>&1 || fail "versitygw admin create-user failed: $(cat "$TMP/vgw-admin.out")"
}
rot_revoke() {
	if [ "$S3_SERVER" = seaweedfs ]; then
		sw_iam Action=DeleteAccessKey UserName=weirrot AccessKeyId="${ROT_KEYS[$1]}" >/dev/null
		return 0
	fi
	vgw_admin delete-user --access "${ROT_KEYS[$1]}" >"$TMP/vgw-admin.out" 2>&1 ||
		fail "versitygw admin delete-user failed: $(cat "$TMP/vgw-admin.out")"
}
# rot_secret I: Secret rot-keys of team-a holds user I's keys (weir apply of kind: Secret, the
# file readable by root only)
rot_secret() {
	umask 077
	printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: rot-keys, namespace: team-a}\nstringData:\n  access-key: "%s"\n  secret-key: "%s"\n' \
		"${ROT_KEYS[$1]}" "${ROT_SECRETS[$1]}" >"$TMP/rot-keys.yaml"
	umask 022
	show apply -f "$TMP/rot-keys.yaml"
	rm -f "$TMP/rot-keys.yaml"
}
# rot_wait N: weir-node has switched a source's keys N times
rot_wait() {
	local i
	for i in $(seq 1 100); do
		[ "$(grep -c 'its Secret changed; its requests are signed with the new keys' "$WEIR_STATE/node.log")" -ge "$1" ] && return 0
		sleep 0.2
	done
	fail "weir-node did not switch to the rotated Secret's keys in 20 s (node.log: $(grep -i 'secret' "$WEIR_STATE/node.log" | tail -3))"
}
rot_user 1
rot_secret 1
DS_MOUNT=s3://rot dataset_yaml team-a rotated rot-keys >"$TMP/rotated.yaml"
show apply -f "$TMP/rotated.yaml"
wt_wait_phase dataset rotated team-a Bound
MP15="$TMP/mnt-rotated"
wt_mount team-a rotated "$MP15"
cmp "$T/rot/a.bin" "$MP15/a.bin" || fail "a.bin read with user 1's keys differs"
# a reader holds b.bin open across the rotation: its first 4 MiB before, the rest after
python3 "$here/../helpers/gated_reader.py" "$MP15/b.bin" "$TMP/rot-b.out" "$TMP/rot-b.half" "$TMP/rot-b.go" \
	$((4 << 20)) >"$TMP/rot-b.res" 2>&1 &
rreader=$!
pid_track "$rreader"
for i in $(seq 1 300); do [ -e "$TMP/rot-b.half" ] && break; sleep 0.1; done
[ -e "$TMP/rot-b.half" ] || fail "the reader of b.bin did not get through its first 4 MiB: $(cat "$TMP/rot-b.res")"
rotations="$(grep -c 'its Secret changed; its requests are signed with the new keys' "$WEIR_STATE/node.log" || true)"
rot_user 2
rot_secret 2
rot_wait $((rotations + 1))
rot_revoke 1
vgw_curl -s -o /dev/null -w '%{http_code}' -u "${ROT_KEYS[1]}:${ROT_SECRETS[1]}" "$VGW_URL/rot/a.bin" >"$TMP/rot-old.code" || true
[ "$(cat "$TMP/rot-old.code")" = 403 ] || fail "user 1's keys still read rot/a.bin after delete-user (HTTP $(cat "$TMP/rot-old.code"))"
touch "$TMP/rot-b.go"
wait "$rreader" || fail "the reader of b.bin crashed: $(cat "$TMP/rot-b.res")"
[ "$(cat "$TMP/rot-b.res")" = complete ] || fail "the reader holding b.bin open across the rotation got \"$(cat "$TMP/rot-b.res")\""
cmp "$T/rot/b.bin" "$TMP/rot-b.out" || fail "b.bin, read across the rotation, differs"
cmp "$T/rot/c.bin" "$MP15/c.bin" || fail "c.bin read after the rotation (user 1 revoked) differs"
is_mounted "$MP15" || fail "$MP15 is no longer mounted"
ok "user 1 -> user 2 (user 1 revoked): b.bin held open across the switch reads whole, c.bin cold reads with user 2's keys; no remount"

# the server's keys rotate, the Secret does not: reads are refused, naming bucket and key, no bytes
rot_user 3
rot_revoke 2
rc=0
cat "$MP15/d.bin" >"$TMP/rot-d.out" 2>"$TMP/rot-d.err" || rc=$?
[ "$rc" -ne 0 ] || fail "d.bin read with user 2's revoked keys succeeded"
got="$(stat -c %s "$TMP/rot-d.out")"
# what was fetched ahead with user 2's keys before the revocation may be served: d.bin's own bytes
[ "$got" -lt "$(stat -c %s "$T/rot/d.bin")" ] || fail "d.bin read whole with revoked keys"
cmp -n "$got" "$T/rot/d.bin" "$TMP/rot-d.out" || fail "the $got bytes read with revoked keys are not d.bin's"
grep -q 'Permission denied' "$TMP/rot-d.err" || fail "the reader of d.bin got \"$(cat "$TMP/rot-d.err")\", not EACCES"
grep -a 'rot/d.bin' "$WEIR_STATE/node.log" | grep -q 'InvalidAccessKeyId.*(HTTP 403)' ||
	fail "node.log does not say rot/d.bin was refused with 403: $(grep -a 'd.bin' "$WEIR_STATE/node.log" | tail -3)"
ok "revoked keys, Secret not rotated: EACCES after $got bytes (cached ahead, d.bin's own); node.log: $(grep -a 'rot/d.bin' "$WEIR_STATE/node.log" | grep '403' | tail -1 | cut -c1-300)"
rotations="$(grep -c 'its Secret changed; its requests are signed with the new keys' "$WEIR_STATE/node.log" || true)"
rot_secret 3
rot_wait $((rotations + 1))
cmp "$T/rot/d.bin" "$MP15/d.bin" || fail "d.bin read after the Secret caught up (user 3) differs"
ok "the Secret rotated to user 3: d.bin reads through the same mount"

# keys that do not work: the source keeps the ones it has, the Dataset says why
rot_user 4
ROT_SECRETS[4]="not-user-4s-secret"
rot_secret 4
for i in $(seq 1 100); do
	wt_json dataset rotated team-a "$TMP/rotated.json" && [ "$(wt_field_opt "$TMP/rotated.json" status.phase)" = Failed ] && break
	sleep 0.2
done
wt_conditions "$TMP/rotated.json" >"$TMP/rotated.cond"
grep -q 'do not work.*SignatureDoesNotMatch' "$TMP/rotated.cond" ||
	fail "a Secret with a wrong secret key: team-a/rotated says $(cat "$TMP/rotated.cond")"
cmp "$T/rot/e.bin" "$MP15/e.bin" || fail "e.bin, read with user 3's keys kept, differs"
ok "a wrong secret key in the Secret: $(head -c 250 "$TMP/rotated.cond"); the view reads on with user 3's keys"
w describe dataset rotated -n team-a >"$out/describe-rotated.txt" 2>&1 || fail "weir describe dataset rotated failed"
metrics_get "http://127.0.0.1:$MPORT/metrics" >"$out/metrics-rotated.txt" || fail "GET /metrics failed"
for f in "$out"/* "$WEIR_STATE"/*.log "$WEIR_STATE"/controller.db* "$TMP/rot-d.err"; do
	[ -e "$f" ] || continue
	for v in "${ROT_SECRETS[@]}" "${ROT_KEYS[@]}"; do
		if grep -a -n -F -e "$v" "$f" >&2; then fail "$f shows a rotated key (lines above)"; fi
	done
done
ok "no key of users 1-4 in describe, /metrics, the logs or the store"
export AWS_ACCESS_KEY_ID="$VGW_KEY" AWS_SECRET_ACCESS_KEY="$VGW_SECRET"

step "https with a CA bundle (AWS_CA_BUNDLE); without it the server's certificate is refused"
s3_start "$TMP/vgw-tls" --tls
vgw_curl -f -X PUT "$VGW_URL/tls" -o /dev/null || fail "creating bucket tls over https failed"
vgw_curl -f -T "$T/data/spaces in name.bin" "$(vgw_key_url tls "spaces in name.bin")" -o /dev/null ||
	fail "upload over https failed"
MP8="$TMP/mnt-tls"
AWS_ACCESS_KEY_ID="$VGW_KEY" AWS_SECRET_ACCESS_KEY="$VGW_SECRET" AWS_CA_BUNDLE="$VGW_CA" \
	weir_mount s3://tls "$MP8" --tier "$TIERS" --s3-endpoint "$VGW_URL"
cmp "$T/data/spaces in name.bin" "$MP8/spaces in name.bin" || fail "the object read over https differs"
ok "$VGW_URL with AWS_CA_BUNDLE=$VGW_CA: mounted, the object matches"
expect_refused "a self-signed server and the system's CAs" 'certificate' s3://tls \
	AWS_ACCESS_KEY_ID="$VGW_KEY" AWS_SECRET_ACCESS_KEY="$VGW_SECRET" AWS_CA_BUNDLE=
