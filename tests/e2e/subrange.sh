#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end, a block fetched as parallel sub-range requests (issue 10): one sub-range that the
# server refuses fails the read (never a block with a hole: what the reader got is the source's
# bytes, and the block is not cached), one that fails transiently is retried and the reader gets
# every byte right; with a reader waiting, its requests go before the prefetch's. A server that
# caps its ranges (a whole 206 of fewer bytes than asked) or ignores them (200, the whole object)
# gives the reader every byte, not an error; so does one whose HEAD gives no Content-Length, and
# one that redirects a file to another path of its own (the stat follows it: so do the reads).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"
. "$here/../helpers/pyserver.sh"

weir_test_setup e2e-subrange

# n_covering STATUS PATH BYTE [FROM]: how many GETs of PATH faultsrv answered STATUS whose range
# held BYTE (weir may ask a part alone or merged with the parts after it), among its log lines
# after line FROM (default: all)
n_covering() {
	awk -v st="$1" -v p="$2" -v at="$3" -v from="${4:-0}" 'NR > from + 0 && $1 == "GET" && $2 == p && $3 == st && $4 ~ /^range=bytes=[0-9]+-[0-9]+$/ {
		split(substr($4, 13), r, "-"); if (r[1] + 0 <= at + 0 && at + 0 <= r[2] + 0) n++
	} END { print n + 0 }' "$FS_LOG"
}
MP="$TMP/mnt"
TIERS="mem:$WEIR_TIER_DIR/mem:256MiB"
MIB=$((1 << 20))
BLOCK=$((4 * MIB)) # weir's default block, fetched as 1 MiB parts

step "faultsrv serving files of several 4 MiB blocks (1 MiB parts)"
TREE="$TMP/tree"
mkdir -p "$TREE"
for f in hard soft capped; do
	head -c $((3 * BLOCK + 12345)) /dev/urandom >"$TREE/$f.bin"
done
head -c $((2 * MIB + 777)) /dev/urandom >"$TREE/whole.bin"
head -c $((5 * MIB + 3)) /dev/urandom >"$TREE/nolen.bin"
: >"$TREE/nolen0.bin"
mkdir -p "$TREE/pool"
head -c $((6 * MIB + 99)) /dev/urandom >"$TREE/pool/moved.bin"
head -c $((6 * MIB + 99)) /dev/urandom >"$TREE/moved.bin" # what the name holds, never served
faultsrv_start "$TREE" "$TMP/faultsrv"
# for the last step, from the start: a next-file guess may fetch them before
knob '{"max_range": {"/capped.bin": 65536}, "ignore_range": ["/whole.bin"],
	"head_no_length": ["/nolen.bin", "/nolen0.bin"], "redirect": {"/moved.bin": "/pool/moved.bin"}}'
ok "faultsrv at $FS_URL"

# The third part of block 1 of hard.bin is refused for good; of soft.bin (below), twice with a 503.
HARD_AT=$((BLOCK + 2 * MIB))
knob "{\"fail_range\": {\"/hard.bin@$HARD_AT\": [403, -1]}}"
weir_mount "$FS_URL/" "$MP" --tier "$TIERS" --fetch-concurrency 4

step "a sub-range refused for good: the read fails, and what was read is the source's bytes"
rc=0
timeout 60 cat "$MP/hard.bin" >"$TMP/hard.out" 2>"$TMP/hard.err" || rc=$?
[ "$rc" -ne 124 ] || fail "reading hard.bin hung for 60 s"
[ "$rc" -ne 0 ] || fail "reading hard.bin succeeded although bytes $HARD_AT.. were refused by the server"
got="$(stat -c %s "$TMP/hard.out")"
# a reader gets the parts of a block that landed (each of the opened version), never a byte at
# or past the refused one
[ "$got" -le "$HARD_AT" ] || fail "the reader got $got bytes: past the refused part at $HARD_AT"
cmp -n "$got" "$TMP/hard.out" "$TREE/hard.bin" || fail "the $got bytes read before the failure differ from the source"
[ "$(n_covering 403 /hard.bin "$HARD_AT")" -gt 0 ] || fail "faultsrv logged no refused request holding byte $HARD_AT; its log of hard.bin: $(grep '^GET /hard.bin ' "$FS_LOG" | cut -d' ' -f3-4 | tr '\n' ' ')"
ok "cat failed ($(tr '\n' ' ' <"$TMP/hard.err")); its $got bytes match the source"

step "the block with the refused part was not cached: cleared, it is fetched again and whole"
knob '{"fail_range": {}}'
# from here on: a read-ahead of the failed cat still in flight may fetch block 1 again before
# the next cat does; either way its first part must be asked for again
mark="$(wc -l <"$FS_LOG")"
sleep 2.2 # past weir's 2 s memo of a recent failure (the kernel's second ask gets it at once)
timeout 60 cat "$MP/hard.bin" >"$TMP/hard.out" || fail "reading hard.bin after the fault cleared failed"
cmp "$TMP/hard.out" "$TREE/hard.bin" || fail "hard.bin read after the fault differs from the source"
again="$(n_covering 206 /hard.bin "$BLOCK" "$mark")"
[ "$again" -gt 0 ] || fail "block 1's first part was not asked for again after the fault cleared: block 1 was cached with a hole"
ok "every byte matches; block 1's first part was asked for again ($again time(s) after the fault cleared)"

step "a sub-range failing twice with 503: retried, the reader gets every byte"
knob "{\"fail_range\": {\"/soft.bin@$HARD_AT\": [503, 2]}}"
timeout 60 cat "$MP/soft.bin" >"$TMP/soft.out" || fail "reading soft.bin failed although its fault was transient"
cmp "$TMP/soft.out" "$TREE/soft.bin" || fail "soft.bin differs from the source"
n503="$(n_covering 503 /soft.bin "$HARD_AT")"
[ "$n503" -eq 2 ] || fail "faultsrv answered 503 $n503 times at $HARD_AT, expected 2"
[ "$(n_covering 206 /soft.bin "$HARD_AT")" -gt 0 ] || fail "the part at $HARD_AT was never served after its 503s"
ok "two 503s, then the part; cmp equal"

step "the same again through a second view: the cached blocks serve it (no request)"
n0="$(grep -c '^GET /soft.bin ' "$FS_LOG")"
w umount "$MP" >/dev/null || fail "weir umount failed"
weir_mount "$FS_URL/" "$MP" --tier "$TIERS" --fetch-concurrency 4
cmp "$MP/soft.bin" "$TREE/soft.bin" || fail "soft.bin from the cache differs from the source"
n1="$(grep -c '^GET /soft.bin ' "$FS_LOG")"
[ "$n1" -eq "$n0" ] || fail "reading cached soft.bin made $((n1 - n0)) GETs"
ok "cmp equal, no GET"

step "a server that caps its ranges at 64 KiB, and one that ignores them: every byte, no error"
for f in capped whole; do
	rm -f "$TMP/$f.out"
	timeout 120 cat "$MP/$f.bin" >"$TMP/$f.out" 2>"$TMP/$f.err" || fail "reading $f.bin failed: $(cat "$TMP/$f.err")"
	cmp "$TMP/$f.out" "$TREE/$f.bin" || fail "$f.bin differs from the source"
done
ncap="$(grep -c '^GET /capped.bin 206 ' "$FS_LOG")"
[ "$ncap" -ge $(((3 * BLOCK + 12345) / 65536)) ] || fail "capped.bin took $ncap range GETs: the cap never hit"
[ "$(grep -c '^GET /whole.bin 200 ' "$FS_LOG")" -gt 0 ] || fail "whole.bin was never answered 200"
ok "capped.bin in $ncap answers of 64 KiB, whole.bin from 200s: cmp equal"

step "a server whose HEAD gives no Content-Length: the size from a range, never an empty file"
for f in nolen nolen0; do
	timeout 60 cat "$MP/$f.bin" >"$TMP/$f.out" 2>"$TMP/$f.err" || fail "reading $f.bin failed: $(cat "$TMP/$f.err")"
	cmp "$TMP/$f.out" "$TREE/$f.bin" || fail "$f.bin read as $(stat -c %s "$TMP/$f.out") bytes, not the source's $(stat -c %s "$TREE/$f.bin")"
	[ "$(stat -c %s "$MP/$f.bin")" -eq "$(stat -c %s "$TREE/$f.bin")" ] || fail "stat of $f.bin says $(stat -c %s "$MP/$f.bin") bytes"
done
grep -q '^HEAD /nolen.bin 200 ' "$FS_LOG" || fail "nolen.bin was never asked for with HEAD"
ok "nolen.bin (5 MiB + 3) and the empty nolen0.bin: cmp equal, stat right"

step "a file the server redirects to another of its paths: the reads follow as the stat did"
timeout 60 cat "$MP/moved.bin" >"$TMP/moved.out" 2>"$TMP/moved.err" || fail "reading moved.bin failed: $(cat "$TMP/moved.err")"
cmp "$TMP/moved.out" "$TREE/pool/moved.bin" || fail "moved.bin read is not the redirect target's bytes"
grep -q '^GET /moved.bin 302 range=bytes' "$FS_LOG" || fail "no range request of moved.bin was redirected"
ok "moved.bin: the bytes of /pool/moved.bin, where the server sent the reads"
