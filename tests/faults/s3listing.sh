#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Hostile ListObjectsV2 answers (tests/helpers/s3lies.py, a server that lies the ways no real S3
# server does): each directory ends in a sane tree or a clear error, never a hang, a readdir that
# fails for one bad key, two entries of one name, or a size no object has.
#   1,001 keys whose names are longer than NAME_MAX: left out, logged once a listing, not once a
#     key; their neighbour lists and reads
#   one key listed twice (another size the second time): listed once, the first stands, its
#     bytes are the object's
#   a page that answers with the token that asked for it, or tokens going round in a cycle:
#     the listing fails at once with a message naming the directory, the server is not asked
#     forever
#   a Size of 2^64 - 1: the listing fails, naming the directory
#   one page of 1,000,000 tiny keys (62 MB): refused before it is parsed, weir-node's memory
#     stays bounded (libxml2's tree of it took 1 GiB)
#   what real servers send too: an object "a" next to "a/b" (the directory wins, logged), a
#     directory marker "m/" with a body (a directory), keys under "./", "../", "//" (left out)
#   a listing without an ETag and a HEAD without Content-Length: the right bytes or an error
#     naming the object, never an empty file
#   an ETag too long to keep (200 bytes): the file reads right (bound to its date and size), not
#     ESTALE on every read from an If-Match cut short
#   1,000 objects "dNNN" next to directories "dNNN/": 1,000 directories, logged once a listing
#   an object listed with another size than its HEAD and GET give (one ETag): ESTALE or its
#     whole bytes, never as many of them as the listing said, without a word
#   a GET refused for an expired session token (400 ExpiredToken, as AWS answers): EACCES, as
#     for revoked keys, and node.log names the object and the code
#   keys with bytes XML 1.0 cannot carry (U+0001), as AWS lists them: the directory lists, and
#     they and their neighbours read right (listed with encoding-type=url)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"
. "$here/lib.sh"

faults_setup s3listing 2 1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

step "an S3 server whose listings lie, mounted anonymously"
py_server_start "$WEIR_SRC/tests/helpers/s3lies.py" - "$TMP/lies"
LIES_LOG="$PY_SERVER_LOG"
MP="$TMP/mnt"
weir_mount s3://bkt "$MP" --tier "mem:$WEIR_TIER_DIR/mem:64MiB" \
	--s3-endpoint "http://127.0.0.1:$PY_SERVER_PORT" --s3-region us-east-1 --s3-path-style \
	--s3-anonymous --metadata-ttl 300
ok "s3://bkt on 127.0.0.1:$PY_SERVER_PORT"

# lists DIR within 30 s into $TMP/ls.out / ls.err; sets LS_RC and LS_SECS
list_dir() {
	local t0
	LS_RC=0
	t0="$(now)"
	timeout -k 5 30 ls -1 "$MP/$1" >"$TMP/ls.out" 2>"$TMP/ls.err" || LS_RC=$?
	LS_SECS="$(elapsed "$t0" "$(now)")"
	[ "$LS_RC" -ne 124 ] && [ "$LS_RC" -ne 137 ] || fail "$1: ls hung for 30 s"
}

step "a key longer than NAME_MAX: left out, its neighbour lists and reads"
list_dir longname
[ "$LS_RC" -eq 0 ] || fail "longname: ls failed ($LS_RC): $(cat "$TMP/ls.err")"
[ "$(cat "$TMP/ls.out")" = ok.txt ] || fail "longname: ls lists \"$(tr '\n' ' ' <"$TMP/ls.out")\", not ok.txt alone"
printf 'hello from ok.txt\n' >"$TMP/ok.want"
read_ok longname "$MP/longname/ok.txt" "$TMP/ok.want"
grep -q 'longname/: 1001 keys skipped' "$WEIR_STATE/node.log" || fail "longname: node.log does not say the long keys were skipped"
# once per listing (the mount's sample of the tree and ls list it once), not once per key
warned="$(grep -c 'longname/.*skipped' "$WEIR_STATE/node.log")"
[ "$warned" -le 2 ] || fail "longname: node.log has $warned warnings of skipped keys"
ok "ok.txt lists alone and reads right; the 1,001 300-byte names are skipped, logged $warned time(s)"

step "one key listed twice: once in the view, the first stands"
list_dir dup
[ "$LS_RC" -eq 0 ] || fail "dup: ls failed ($LS_RC): $(cat "$TMP/ls.err")"
[ "$(tr '\n' ' ' <"$TMP/ls.out")" = "d.txt e.txt " ] || fail "dup: ls lists \"$(tr '\n' ' ' <"$TMP/ls.out")\", not \"d.txt e.txt\""
size="$(stat -c %s "$MP/dup/d.txt")"
[ "$size" -eq 16 ] || fail "dup: d.txt has size $size, the object (and the first listing) 16"
printf 'the first d.txt\n' >"$TMP/d.want"
read_ok dup "$MP/dup/d.txt" "$TMP/d.want"
ok "d.txt once, 16 bytes, the object's"

for d in loop cycle; do
	step "$d/: a listing that never ends fails, and the server is not asked forever"
	before="$(grep -c "list-type=2&prefix=$d" "$LIES_LOG" || true)"
	list_dir "$d"
	[ "$LS_RC" -ne 0 ] || fail "$d: ls succeeded: $(tr '\n' ' ' <"$TMP/ls.out")"
	grep -q "Input/output error" "$TMP/ls.err" || fail "$d: ls failed with \"$(cat "$TMP/ls.err")\", not EIO"
	sleep 1
	asked="$(($(grep -c "list-type=2&prefix=$d" "$LIES_LOG") - before))"
	[ "$asked" -le 300 ] || fail "$d: the server was asked for $asked pages"
	grep -q "s3://bkt/$d/.*does not advance" "$WEIR_STATE/node.log" ||
		fail "$d: node.log does not name the listing that does not advance"
	ok "$d: EIO in $LS_SECS s after $asked pages; node.log says why"
done

step "150 pages of names the view cannot hold, then one it can: a listing that advances"
list_dir skipped
[ "$LS_RC" -eq 0 ] || fail "skipped: ls failed ($LS_RC): $(cat "$TMP/ls.err")"
[ "$(cat "$TMP/ls.out")" = ok.txt ] || fail "skipped: ls lists \"$(tr '\n' ' ' <"$TMP/ls.out")\", not ok.txt"
ok "skipped: ok.txt after 1,500 skipped keys in 150 pages"

step "a Size of 2^64 - 1: the listing fails"
list_dir huge
if [ "$LS_RC" -eq 0 ]; then
	size="$(stat -c %s "$MP/huge/h.bin")"
	fail "huge: listed with h.bin of size $size"
fi
grep -q "s3://bkt/huge/: the server's ListObjectsV2 answer is not one this client can read" "$WEIR_STATE/node.log" ||
	fail "huge: node.log does not say why the listing failed"
ok "huge: ls failed: $(cat "$TMP/ls.err"); node.log says why"

step "one ListObjectsV2 page of 62 MB: refused before it is parsed"
list_dir bigpage
[ "$LS_RC" -ne 0 ] || fail "bigpage: ls listed $(wc -l <"$TMP/ls.out") names"
grep -q "s3://bkt/bigpage/: a ListObjectsV2 page of 62000108 bytes" "$WEIR_STATE/node.log" ||
	fail "bigpage: node.log does not say the page was too large"
# weir-node's peak since it started (the mount's sample of the tree listed bigpage/ too): the
# body itself (62 MB) and little more; libxml2's tree of it took 1 GiB
hwm="$(awk '/^VmHWM/ {print $2}' "/proc/$(weir_node_pid)/status")"
[ "$hwm" -lt $((400 * 1024)) ] || fail "bigpage: weir-node's peak RSS is $((hwm / 1024)) MiB"
ok "bigpage: ls failed in $LS_SECS s ($(cat "$TMP/ls.err")); weir-node's peak RSS $((hwm / 1024)) MiB"

step "a name both object and directory, a marker with a body, keys under ./ ../ //"
list_dir both
[ "$LS_RC" -eq 0 ] || fail "both: ls failed ($LS_RC): $(cat "$TMP/ls.err")"
[ "$(tr '\n' ' ' <"$TMP/ls.out")" = "a m " ] || fail "both: ls lists \"$(tr '\n' ' ' <"$TMP/ls.out")\", not \"a m\""
[ -d "$MP/both/a" ] && [ -d "$MP/both/m" ] || fail "both: a or m is not a directory"
printf 'b under a\n' >"$TMP/b.want"
printf 'x under m\n' >"$TMP/x.want"
read_ok both "$MP/both/a/b" "$TMP/b.want"
read_ok both "$MP/both/m/x" "$TMP/x.want"
[ "$(ls "$MP/both/m")" = x ] || fail "both: m/ lists \"$(ls "$MP/both/m" | tr '\n' ' ')\", not x"
grep -q 'object "a" hidden by the directory' "$WEIR_STATE/node.log" || fail "both: node.log does not say a was hidden"
ok "a and m are directories; a/b and m/x read right; ./ ../ // left out"

step "keys with U+0001 and U+0002, a space, '+' and '%': the directory lists and every file reads right"
list_dir ctl
[ "$LS_RC" -eq 0 ] || fail "ctl: ls failed ($LS_RC): $(cat "$TMP/ls.err"); node.log: $(grep 'ctl/' "$WEIR_STATE/node.log" | tail -2)"
printf 'ok next to control bytes\n' >"$TMP/ctl1.want"
printf 'a key with U+0001\n' >"$TMP/ctl2.want"
printf 'space, plus and percent\n' >"$TMP/ctl3.want"
printf 'f under a directory with U+0002\n' >"$TMP/ctl4.want"
read_ok ctl "$MP/ctl/ok.txt" "$TMP/ctl1.want"
read_ok ctl "$MP/ctl/$(printf 'a\001b')" "$TMP/ctl2.want"
read_ok ctl "$MP/ctl/sp ace+plus%" "$TMP/ctl3.want"
read_ok ctl "$MP/ctl/$(printf 'sub\002dir')/f" "$TMP/ctl4.want"
[ "$(ls "$MP/ctl" | wc -l)" -eq 4 ] || fail "ctl: ls lists $(ls "$MP/ctl" | wc -l) names, not 4"
ok "ctl/: 4 names, each file's bytes right"

step "an object listed 1,000 bytes longer or shorter than it is (one ETag): ESTALE or its bytes, never fewer"
for f in short/s.bin long/l.bin; do
	rc=0
	timeout -k 5 60 cat "$MP/$f" >"$TMP/sz.out" 2>"$TMP/sz.err" || rc=$?
	[ "$rc" -ne 124 ] || fail "$f: the read hung"
	got="$(stat -c %s "$TMP/sz.out")"
	if [ "$rc" -eq 0 ]; then
		[ "$got" -eq 5000 ] || fail "$f (5,000 bytes, listed as $(stat -c %s "$MP/$f")): read $got bytes without an error"
		cmp -s "$TMP/sz.out" <(head -c 5000 /dev/zero | tr '\0' "$(basename "$f" | cut -c1 | tr a-z A-Z)") ||
			fail "$f: wrong bytes"
	else
		grep -q "Stale file handle\|Input/output error" "$TMP/sz.err" || fail "$f: failed with $(cat "$TMP/sz.err")"
	fi
	note "$f: $([ "$rc" -eq 0 ] && echo "its 5,000 bytes" || cat "$TMP/sz.err") after $got bytes"
done
ok "neither file read as the listing's size"

step "a read refused for an expired session token (HTTP 400 ExpiredToken): EACCES, node.log says why"
rc=0
timeout -k 5 60 cat "$MP/tok/x.bin" >"$TMP/tok.out" 2>"$TMP/tok.err" || rc=$?
[ "$rc" -ne 124 ] || fail "tok: the read hung"
[ "$rc" -ne 0 ] || fail "tok: x.bin read although every GET was refused"
grep -q "Permission denied" "$TMP/tok.err" || fail "tok: the read failed with \"$(cat "$TMP/tok.err")\", not EACCES"
[ ! -s "$TMP/tok.out" ] || fail "tok: bytes before the error"
grep -a 'tok/x.bin' "$WEIR_STATE/node.log" | grep -q 'ExpiredToken.*(HTTP 400)' ||
	fail "tok: node.log does not name the object and ExpiredToken: $(grep -a 'x.bin' "$WEIR_STATE/node.log" | tail -2)"
ok "tok: $(cat "$TMP/tok.err")"

step "1,000 objects each hidden by a directory of its name: 1,000 directories, one warning a listing"
list_dir shadow
[ "$LS_RC" -eq 0 ] || fail "shadow: ls failed ($LS_RC): $(cat "$TMP/ls.err")"
[ "$(wc -l <"$TMP/ls.out")" -eq 1000 ] || fail "shadow: ls lists $(wc -l <"$TMP/ls.out") names, not 1000"
[ -d "$MP/shadow/d999" ] || fail "shadow: d999 is not a directory"
printf 'f\n' >"$TMP/f.want"
read_ok shadow "$MP/shadow/d500/f" "$TMP/f.want"
# the mount's sample of the tree may have listed it too
warned="$(grep -c 'listing of "/shadow".*hidden by the directory' "$WEIR_STATE/node.log" || true)"
[ "$warned" -ge 1 ] && [ "$warned" -le 2 ] || fail "shadow: node.log has $warned warnings of hidden objects, not one a listing"
ok "shadow: 1,000 directories; $warned warning(s): $(grep 'listing of "/shadow"' "$WEIR_STATE/node.log" | tail -1 | cut -c1-200)"

step "an ETag of 200 bytes: the file reads right"
printf 'a tag too long to keep\n' >"$TMP/t.want"
read_ok longetag "$MP/longetag/t.bin" "$TMP/t.want"
grep -q "GET /bkt/longetag/t.bin 412" "$LIES_LOG" && fail "longetag: a read was refused 412 (If-Match cut short)"
ok "t.bin reads right, no request refused"

step "no ETag in the listing, no Content-Length in HEAD: an error, never an empty file"
rc=0
timeout -k 5 60 cat "$MP/nolen/n.bin" >"$TMP/n.out" 2>"$TMP/n.err" || rc=$?
[ "$rc" -ne 124 ] || fail "nolen: the read hung"
grep -q "HEAD /bkt/nolen/n.bin" "$LIES_LOG" || fail "nolen: the object was never asked with HEAD"
if [ "$rc" -eq 0 ]; then
	printf 'a HEAD without a length\n' | cmp - "$TMP/n.out" || fail "nolen: n.bin read $(stat -c %s "$TMP/n.out") bytes, not the object's"
	ok "n.bin reads right"
else
	grep -q "s3://bkt/nolen/n.bin: HeadObject gives no Content-Length" "$WEIR_STATE/node.log" ||
		fail "nolen: the read failed ($(cat "$TMP/n.err")) and node.log does not say why"
	[ ! -s "$TMP/n.out" ] || fail "nolen: bytes before the error"
	ok "nolen: $(cat "$TMP/n.err"); node.log says why"
fi
