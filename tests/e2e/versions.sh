#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end, wrong bytes from a changing or lying HTTP source (issue 7, items 2-4): one
# descriptor never mixes two versions (ESTALE or only the old bytes), a file that shrinks never
# reads zeros, a listing that lies about a size loses to the object's own headers; and real nginx
# gets If-Match on every range request and answers a changed file with 412.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/nginx.sh"
. "$here/../helpers/weir.sh"
. "$here/../helpers/held_reader.sh"
. "$here/../helpers/pyserver.sh"

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-e2e-versions.XXXXXX)"
at_exit 'rm -rf "$TMP"'
weir_setup "$TMP"
TIERS="mem:$WEIR_TIER_DIR/mem:1GiB"
MIB=$((1024 * 1024))
ESTALE_MSG="Stale file handle"
echo "weir: $WEIR_BIN; weir-node: $WEIR_NODE_BIN; work dir: $TMP"

# A reader that holds one descriptor across the test's steps:
#   reader.py PATH OUT FIRST   opens PATH, reads FIRST bytes, writes OUT.ready (with st_size),
#   waits for OUT.go, reads the rest; OUT has every byte it got, OUT.status "ok" or the error,
#   OUT.sizes each st_size fstat gave.
cat >"$TMP/reader.py" <<'PY'
import os, sys, time
path, out, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
got = open(out, "wb")
sizes = open(out + ".sizes", "w")
status = "ok"
try:
    fd = os.open(path, os.O_RDONLY)
    sizes.write("%d\n" % os.fstat(fd).st_size)
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
    sizes.write("%d\n" % os.fstat(fd).st_size)
except OSError as e:
    status = "%s (errno %d)" % (e.strerror, e.errno)
got.close()
open(out + ".status", "w").write(status + "\n")
PY

# only_one_version WHAT OUT OLD NEW: OUT (with OUT.status) must be all of OLD or all of NEW, or
# a prefix of OLD ended by ESTALE; never a mix, never zeros.
only_one_version() {
	local what="$1" out="$2" old="$3" new="$4" st got
	st="$(cat "$out.status")"
	got="$(stat -c %s "$out")"
	if [ "$st" = ok ]; then
		if cmp -s "$out" "$old"; then
			ok "$what: read all $got bytes, every one of the old version"
		elif cmp -s "$out" "$new"; then
			ok "$what: read all $got bytes, every one of the new version"
		else
			note "first difference from the old version: $(cmp "$out" "$old" 2>&1 | head -1)"
			note "first difference from the new version: $(cmp "$out" "$new" 2>&1 | head -1)"
			fail "$what: the read succeeded with $got bytes that are neither the old nor the new version (mixed or zero-filled)"
		fi
		return
	fi
	[[ "$st" == *"$ESTALE_MSG"* ]] || fail "$what: the read failed with \"$st\"; a changed version must give ESTALE ($ESTALE_MSG)"
	cmp -s -n "$got" "$out" "$old" ||
		fail "$what: the $got bytes read before ESTALE are not the old version's ($(cmp -n "$got" "$out" "$old" 2>&1 | head -1))"
	ok "$what: $got bytes of the old version, then ESTALE ($st)"
}

# read_fresh WHAT PATH WANT: a new open reads exactly WANT's bytes, and stat says its size.
read_fresh() {
	local what="$1" path="$2" want="$3" size
	timeout -k 5 120 cat "$path" >"$TMP/fresh" || fail "$what: cat $path failed"
	cmp "$TMP/fresh" "$want" || fail "$what: a fresh open of $path does not read the new version"
	size="$(stat -c %s "$path")"
	[ "$size" -eq "$(stat -c %s "$want")" ] || fail "$what: stat $path says $size bytes; the object has $(stat -c %s "$want")"
	ok "$what: a fresh open reads the new version ($size bytes, cmp equal), stat agrees"
}

# replace FILE NEW [MTIME_SHIFT]: atomically puts NEW's bytes at FILE (a new inode), with its
# mtime MTIME_SHIFT seconds from now (default 10: a new Last-Modified second for sure).
replace() {
	cp "$2" "$1.new"
	touch -d "@$(($(date +%s) + ${3:-10}))" "$1.new"
	mv -f "$1.new" "$1"
}

step "start the fault-injecting server"
TREE="$TMP/tree"
mkdir -p "$TREE/mixed" "$TREE/dates" "$TREE/pass" "$TREE/shrink" "$TREE/lie"
faultsrv_start "$TREE" "$TMP/faultsrv"
ok "faultsrv serves $TREE at $FS_URL"

rand_file "$TMP/v1" $((12 * MIB)) version-one
rand_file "$TMP/v2" $((12 * MIB)) version-two
cp "$TMP/v1" "$TREE/mixed/f.bin"
cp "$TMP/v1" "$TREE/dates/f.bin"
# on a whole minute: a date that looks like a listing's minutes is still the server's validator
# (a guess from the value once sent none, one file in sixty, and it read two versions mixed)
touch -d "@$(($(date +%s) / 60 * 60))" "$TREE/dates/f.bin"
cp "$TMP/v1" "$TREE/pass/f.bin"
rand_file "$TMP/s1" $((9 * MIB)) shrink-one
head -c $((2 * MIB)) "$TMP/s1" >"$TMP/s2"
cp "$TMP/s1" "$TREE/shrink/f.bin"
rand_file "$TMP/l5000" 5000 lie-5000
cp "$TMP/l5000" "$TREE/lie/under.bin"
cp "$TMP/l5000" "$TREE/lie/over.bin"
cp "$TMP/l5000" "$TREE/lie/huge.bin"
mkdir -p "$TREE/nolen"
cp "$TMP/l5000" "$TREE/nolen/f.bin"

MP="$TMP/mnt"
weir_mount "$FS_URL/" "$MP" --tier "$TIERS" --metadata-ttl 1

step "item 2: 12 MiB file, read 4 KiB, replaced (same size, new ETag), 1.5 s later read the rest"
start_reader "$MP/mixed/f.bin" "$TMP/r1" 4096
replace "$TREE/mixed/f.bin" "$TMP/v2"
sleep 1.5
finish_reader "$TMP/r1"
only_one_version "one descriptor across a replacement" "$TMP/r1" "$TMP/v1" "$TMP/v2"
grep -q "if-match=\"" "$FS_LOG" || fail "no range request to faultsrv carried If-Match"
grep -q "^GET /mixed/f.bin 412 " "$FS_LOG" && ok "faultsrv answered a range request for the old version with 412"
read_fresh "after the replacement" "$MP/mixed/f.bin" "$TMP/v2"

step "item 2 without ETags: the range requests carry If-Unmodified-Since"
knob '{"no_etag": true}'
start_reader "$MP/dates/f.bin" "$TMP/r2" 4096
replace "$TREE/dates/f.bin" "$TMP/v2"
sleep 1.5
finish_reader "$TMP/r2"
only_one_version "one descriptor, Last-Modified only" "$TMP/r2" "$TMP/v1" "$TMP/v2"
grep -q "^GET /dates/f.bin .* if-unmodified-since=[A-Z]" "$FS_LOG" ||
	fail "no range request for /dates/f.bin carried If-Unmodified-Since"
ok "range requests carried If-Unmodified-Since"
read_fresh "after the replacement (no ETag)" "$MP/dates/f.bin" "$TMP/v2"
knob '{"no_etag": false}'

step "item 2 through a server that ignores preconditions: the response's validators still count"
knob '{"ignore_preconditions": true}'
cp "$TMP/v1" "$TREE/mixed/g.bin"
sleep 1.1
start_reader "$MP/mixed/g.bin" "$TMP/r3" 4096
replace "$TREE/mixed/g.bin" "$TMP/v2"
sleep 1.5
finish_reader "$TMP/r3"
only_one_version "one descriptor, no 412 from the server" "$TMP/r3" "$TMP/v1" "$TMP/v2"
read_fresh "after the replacement (no 412)" "$MP/mixed/g.bin" "$TMP/v2"
knob '{"ignore_preconditions": false}'

step "item 2, passthrough: a descriptor reading a complete tier file while a new version arrives"
timeout -k 5 120 cat "$MP/pass/f.bin" >"$TMP/warm" || fail "cannot read $MP/pass/f.bin"
cmp "$TMP/warm" "$TMP/v1" || fail "pass/f.bin reads wrong bytes before any change"
start_reader "$MP/pass/f.bin" "$TMP/r4" 4096
replace "$TREE/pass/f.bin" "$TMP/v2"
sleep 1.5
# a fresh open fetches the new version while the old descriptor is still open
read_fresh "new version while an old descriptor is open" "$MP/pass/f.bin" "$TMP/v2"
finish_reader "$TMP/r4"
only_one_version "the old (passthrough) descriptor" "$TMP/r4" "$TMP/v1" "$TMP/v2"

step "item 3: 9 MiB file truncated to 2 MiB at the source; old and new readers at once"
start_reader "$MP/shrink/f.bin" "$TMP/r5" 4096
truncate -s $((2 * MIB)) "$TREE/shrink/f.bin"
touch -d "@$(($(date +%s) + 10))" "$TREE/shrink/f.bin"
pids=()
for i in 1 2 3 4; do
	( rc=0; timeout -k 5 120 cat "$MP/shrink/f.bin" >"$TMP/c$i" 2>"$TMP/c$i.err" || rc=$?
	  echo "$rc" >"$TMP/c$i.rc"; stat -c %s "$MP/shrink/f.bin" >"$TMP/c$i.size" 2>/dev/null || true ) &
	pids+=($!)
	pid_track "$!"
	sleep 0.3
done
sleep 1.5
finish_reader "$TMP/r5"
wait "${pids[@]}" || true
only_one_version "the descriptor opened at 9 MiB" "$TMP/r5" "$TMP/s1" "$TMP/s2"
while read -r sz; do
	[ "$sz" -eq $((9 * MIB)) ] || [ "$sz" -eq $((2 * MIB)) ] || fail "fstat gave st_size $sz: neither 9 MiB nor 2 MiB"
done <"$TMP/r5.sizes"
for i in 1 2 3 4; do
	rc="$(cat "$TMP/c$i.rc")"
	got="$(stat -c %s "$TMP/c$i")"
	if [ "$rc" -eq 0 ]; then
		cmp -s "$TMP/c$i" "$TMP/s1" || cmp -s "$TMP/c$i" "$TMP/s2" ||
			fail "concurrent reader $i got $got bytes that are neither the 9 MiB nor the 2 MiB version"
	else
		grep -q "$ESTALE_MSG\|Input/output error" "$TMP/c$i.err" || fail "concurrent reader $i failed with: $(cat "$TMP/c$i.err")"
		cmp -s -n "$got" "$TMP/c$i" "$TMP/s1" || fail "concurrent reader $i got $got bytes before its error that are not the file's"
	fi
	sz="$(cat "$TMP/c$i.size" 2>/dev/null || echo 0)"
	[ "$sz" -eq $((9 * MIB)) ] || [ "$sz" -eq $((2 * MIB)) ] || fail "concurrent reader $i saw st_size $sz: neither 9 MiB nor 2 MiB"
	note "reader $i: exit $rc, $got bytes, st_size $sz"
done
ok "no reader got zeros or a size between the versions"
sleep 1.1
read_fresh "after the truncation" "$MP/shrink/f.bin" "$TMP/s2"

step "item 4: a listing that says 2500 for a 5000-byte file (9000 for another, 2^64 - 1 for a third)"
knob '{"listing_size": {"/lie/under.bin": 2500, "/lie/over.bin": 9000, "/lie/huge.bin": 18446744073709551615}}'
sleep 1.1
note "stat before any open (the listing's word): under.bin $(stat -c %s "$MP/lie/under.bin"), over.bin $(stat -c %s "$MP/lie/over.bin")"
# a size no file can have (above 2^63) is no size: the object's HEAD gives it
sz="$(stat -c %s "$MP/lie/huge.bin")" || fail "stat of lie/huge.bin (listed with 2^64 - 1 bytes) failed"
[ "$sz" -eq 5000 ] || fail "huge.bin: stat before any open says $sz bytes; the object has 5000"
for f in under over huge; do
	timeout -k 5 60 cat "$MP/lie/$f.bin" >"$TMP/lie-$f" || fail "cat $MP/lie/$f.bin failed"
	cmp "$TMP/lie-$f" "$TMP/l5000" || fail "$f.bin: read $(stat -c %s "$TMP/lie-$f") bytes, not the object's 5000"
	sz="$(stat -c %s "$MP/lie/$f.bin")"
	[ "$sz" -eq 5000 ] || fail "$f.bin: stat says $sz bytes after an open; the object has 5000"
	ok "$f.bin: read all 5000 bytes (cmp equal), stat says 5000"
done
grep -q "listing of \"/lie\" is wrong" "$WEIR_STATE/node.log" || fail "node.log does not say the listing of /lie is wrong"
ok "node.log: $(grep -m1 "listing of \"/lie\" is wrong" "$WEIR_STATE/node.log" | cut -c1-200)"
knob '{"listing_size": {}}'

step "item 4b: a listing with 1,000 entries that are no names here: left out, logged once"
python3 -c 'import json; print(json.dumps({"listing_extra": {"/lie/": [{"name": n, "type": "file", "size": 1} for i in range(500) for n in ("x/%d" % i, "L" * 300 + str(i))]}}))' >"$TMP/extra.json"
curl -sf --max-time 10 -X POST --data-binary @"$TMP/extra.json" "$FS_URL/__ctl__" >/dev/null || fail "faultsrv refused the listing_extra knob"
sleep 1.1
[ "$(ls "$MP/lie" | tr '\n' ' ')" = "huge.bin over.bin under.bin " ] || fail "lie/ lists \"$(ls "$MP/lie" | tr '\n' ' ')\""
grep -q 'listing .*/lie/: ignoring 1000 entries that are not inside the directory' "$WEIR_STATE/node.log" ||
	fail "node.log does not say the 1,000 entries were ignored"
warned="$(grep -c 'listing .*/lie/: ignoring' "$WEIR_STATE/node.log")"
[ "$warned" -le 2 ] || fail "node.log has $warned warnings of ignored entries in /lie/, not one a listing"
ok "lie/ lists its 3 files; node.log: $warned warning(s)"
knob '{"listing_extra": {}}'

step "item 4c: a listing without a size and a HEAD without Content-Length"
knob '{"listing_size": {"/nolen/f.bin": null}, "head_no_length": ["/nolen/f.bin"]}'
sleep 1.1
sz="$(stat -c %s "$MP/nolen/f.bin")" || fail "stat of nolen/f.bin failed"
timeout -k 5 60 cat "$MP/nolen/f.bin" >"$TMP/nolen" || fail "cat $MP/nolen/f.bin failed"
cmp "$TMP/nolen" "$TMP/l5000" || fail "nolen/f.bin: read $(stat -c %s "$TMP/nolen") bytes, not the object's 5000 (stat said $sz)"
ok "nolen/f.bin: stat $sz, read all 5000 bytes (cmp equal)"
knob '{"listing_size": {}, "head_no_length": []}'

step "item 3, a body cut short by the server: an error, never zeros"
mkdir -p "$TREE/cut"
rand_file "$TMP/cut" $((3 * MIB)) cut-short
cp "$TMP/cut" "$TREE/cut/f.bin"
knob "{\"truncate_body\": {\"/cut/f.bin\": $((3 * MIB / 2))}}"
sleep 1.1 # the root's listing (TTL 1 s) predates cut/
rc=0
timeout -k 5 120 cat "$MP/cut/f.bin" >"$TMP/cut-out" 2>"$TMP/cut.err" || rc=$?
got="$(stat -c %s "$TMP/cut-out")"
[ "$rc" -ne 0 ] || fail "cat of a file whose bodies stop at 1.5 MiB succeeded with $got bytes"
[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "cat of a file whose bodies stop at 1.5 MiB hung for 120 s"
grep -q "Input/output error" "$TMP/cut.err" || fail "cat of a cut file failed ($rc) but not with EIO: $(cat "$TMP/cut.err")"
cmp -s -n "$got" "$TMP/cut-out" "$TMP/cut" || fail "the $got bytes read before the error are not the file's"
ok "the read failed with EIO after $got correct bytes: $(cat "$TMP/cut.err")"
knob '{"truncate_body": {}}'
read_fresh "once the server sends whole bodies again" "$MP/cut/f.bin" "$TMP/cut"
w umount "$MP" >/dev/null 2>&1 || fail "weir umount $MP failed"

step "real nginx: If-Match on every range request, 412 for a changed file"
NTREE="$TMP/ntree"
mkdir -p "$NTREE"
cp "$TMP/v1" "$NTREE/f.bin"
touch -d "@$(($(date +%s) - 100))" "$NTREE/f.bin"
nginx_start "$TMP/nginx" "$NTREE"
NMP="$TMP/nmnt"
weir_mount "$NGINX_URL" "$NMP" --tier "$TIERS" --metadata-ttl 1 --no-prefetch
start_reader "$NMP/f.bin" "$TMP/r6" 4096
replace "$NTREE/f.bin" "$TMP/v2"
sleep 1.5
finish_reader "$TMP/r6"
only_one_version "nginx: one descriptor across a replacement" "$TMP/r6" "$TMP/v1" "$TMP/v2"
ranges="$(grep -c '"GET /f.bin [^"]*" [0-9]* [0-9]* "bytes=' "$NGINX_ACCESS_LOG" || true)"
bound="$(grep '"GET /f.bin [^"]*" [0-9]* [0-9]* "bytes=' "$NGINX_ACCESS_LOG" | grep -vc ' "-"$' || true)"
[ "$ranges" -gt 0 ] || fail "nginx saw no range request for f.bin"
[ "$bound" -eq "$ranges" ] || { sed 's/^/  nginx: /' "$NGINX_ACCESS_LOG" | head -20; fail "$((ranges - bound)) of $ranges range requests to nginx carried no If-Match"; }
ok "all $ranges range requests to nginx carried If-Match"
if [ "$(cat "$TMP/r6.status")" != ok ]; then
	grep -q '"GET /f.bin [^"]*" 412 ' "$NGINX_ACCESS_LOG" || fail "the reader got ESTALE but nginx answered no request with 412"
	ok "nginx answered the old version's If-Match with 412"
fi
read_fresh "nginx: after the replacement" "$NMP/f.bin" "$TMP/v2"
