#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end, bad input and faults (issue 2): unreachable and 404 UFS, bad flags, unwritable tier,
# the UFS dying mid-read (EIO within a bounded time, no partial block, correct bytes afterwards).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/nginx.sh"
. "$here/../helpers/weir.sh"

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-e2e-faults.XXXXXX)"
at_exit 'rm -rf "$TMP"'
weir_setup "$TMP"
MP="$TMP/mnt"
mkdir -p "$MP"
TIERS="mem:$WEIR_TIER_DIR/mem:1GiB"
echo "weir: $WEIR_BIN; weir-node: $WEIR_NODE_BIN; work dir: $TMP"

# expect_mount_fails WHAT URL MP ARGS...: the mount must exit non-zero, name the URL (or the
# words in $EXPECT), and leave MP unmounted. Sets OUT to what weir printed.
expect_mount_fails() {
	local what="$1" url="$2" mp="$3" rc=0 t0 t1 word
	shift 3
	t0="$(now)"
	w mount "$url" "$mp" "$@" </dev/null >"$TMP/mount.out" 2>&1 || rc=$?
	OUT="$(cat "$TMP/mount.out")"
	t1="$(now)"
	printf '%s\n' "$OUT" | sed 's/^/  weir: /'
	[ "$rc" -ne 0 ] || fail "$what: weir mount exited 0; it must fail"
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "$what: weir mount hung and was killed after 120 s"
	for word in "${EXPECT[@]}"; do
		grep -qiF -- "$word" <<<"$OUT" || fail "$what: weir mount's message does not mention \"$word\""
	done
	if is_mounted "$mp"; then
		umount -l "$mp" 2>/dev/null || true
		fail "$what: weir mount failed but left $mp mounted"
	fi
	ok "$what: exit $rc after $(elapsed "$t0" "$t1") s, message names ${EXPECT[*]}, nothing mounted"
}

step "bad flags: usage on stderr, exit 2"
# bad_flags EXPECT_USAGE ARGS...: weir ARGS must exit 2 with a message (usage, if EXPECT_USAGE=1).
bad_flags() {
	local want_usage="$1" rc=0 err
	shift
	w "$@" </dev/null >/dev/null 2>"$TMP/flags.err" || rc=$?
	err="$(cat "$TMP/flags.err")"
	if is_mounted "$MP"; then umount -l "$MP"; fail "weir $* left $MP mounted"; fi
	[ "$rc" -eq 2 ] || fail "weir $* exited $rc, expected 2 (stderr: $err)"
	[ -n "$err" ] || fail "weir $* exited 2 but printed nothing on stderr"
	if [ "$want_usage" -eq 1 ]; then
		grep -qi usage <<<"$err" || fail "weir $* exited 2 but printed no usage on stderr (stderr: $err)"
	fi
	ok "weir $* -> exit 2: $(head -n 1 <<<"$err")"
}
bad_flags 1 mount --no-such-flag
bad_flags 1 mount
bad_flags 1 mount "local://$TMP"
bad_flags 1 no-such-command
bad_flags 0 mount "local://$TMP" "$MP" --high abc
bad_flags 0 mount "local://$TMP" "$MP" --block-size 4XB
bad_flags 0 mount "local://$TMP" "$MP" --tier nonsense
# says WORD ARGS...: as bad_flags, and the first line names what is wrong (WORD), not a bare usage
says() {
	local word="$1"
	shift
	bad_flags 0 "$@"
	head -n 1 "$TMP/flags.err" | grep -qF -- "$word" ||
		fail "weir $* does not say what is wrong (\"$word\") first: $(cat "$TMP/flags.err")"
}
says yaml stat -o yaml
says yaml top --once -o yaml
says abc top --interval abc
says extra top --once extra
says "needs a directory" --state-dir
says "which mountpoint" umount
# 0 reached weir-node as "none given" and mounted with 300 s; over the cap read as no duration
says "shortest TTL" mount "local://$TMP" "$MP" --metadata-ttl 0
says "over 30 days" mount "local://$TMP" "$MP" --metadata-ttl 31d
says "--bogus" umount --bogus "$MP"
# --force after the mountpoint is taken (umount(8) order), not a usage error
rc=0
w umount "$MP" --force </dev/null >/dev/null 2>"$TMP/flags.err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "not a weir mount" "$TMP/flags.err" ||
	fail "weir umount $MP --force (nothing mounted there) exited $rc: $(cat "$TMP/flags.err")"
ok "weir umount $MP --force -> exit 1: $(head -n 1 "$TMP/flags.err")"

step "unreachable UFS: mount fails naming the URL, nothing mounted"
port="$(free_port)"
url="http://127.0.0.1:$port/"
EXPECT=("$url")
expect_mount_fails "unreachable $url" "$url" "$MP" --tier "$TIERS"

step "start nginx on a small tree"
TREE="$TMP/tree"
mkdir -p "$TREE/data"
rand_file "$TREE/data/small.bin" 100000 small
BIG_SIZE=$((48 * 1024 * 1024 + 4321))
rand_file "$TREE/data/big.bin" "$BIG_SIZE" big
# 256 KiB/s per request: 1 MiB blocks take ~3 s each, so some are complete and the read is still
# running when nginx dies
nginx_start "$TMP/nginx" "$TREE" --limit-rate 256k
ok "nginx serves $NGINX_URL"

step "404 base path: mount fails clearly"
url="${NGINX_URL}no-such-dir/"
EXPECT=("$url" 404)
expect_mount_fails "404 $url" "$url" "$MP" --tier "$TIERS"

step "tier path not writable (under a regular file): clear error at start"
: >"$TMP/regular-file"
bad="$TMP/regular-file/tier"
EXPECT=("$bad")
expect_mount_fails "tier $bad" "$NGINX_URL" "$MP" --tier "mem:$bad:64MiB"

step "missing local:// path: mount fails naming it"
EXPECT=("$TMP/does-not-exist")
expect_mount_fails "local path" "local://$TMP/does-not-exist" "$MP" --tier "$TIERS"

step "tier full at run time (6 MiB tmpfs under a 1 GiB quota): evict, then serve or fail cleanly"
mkdir -p "$TMP/full" "$TMP/src" "$TMP/mnt-full"
rand_file "$TMP/src/big.bin" $((24 * 1024 * 1024 + 5)) full-big
rand_file "$TMP/src/small.bin" 100000 full-small
mount -t tmpfs -o size=6m weir-test-full "$TMP/full" || fail "cannot mount a 6 MiB tmpfs at $TMP/full"
at_exit "umount -l '$TMP/full' 2>/dev/null"
weir_mount "local://$TMP/src" "$TMP/mnt-full" --tier "mem:$TMP/full/tier:1GiB"
rc=0
timeout -k 5 120 cat "$TMP/mnt-full/big.bin" >"$TMP/full-out" 2>"$TMP/cat.err" || rc=$?
if [ "$rc" -eq 0 ]; then
	cmp "$TMP/full-out" "$TMP/src/big.bin" || fail "with the tier full, big.bin read through the view has wrong bytes"
	ok "a 24 MiB read through a 6 MiB tier succeeded with the right bytes"
else
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "with the tier full, the read of big.bin hung for 120 s"
	grep -q "Input/output error\|No space left" "$TMP/cat.err" || fail "with the tier full, cat failed ($rc) with neither EIO nor ENOSPC: $(cat "$TMP/cat.err")"
	ok "with the tier full, the read failed cleanly: $(cat "$TMP/cat.err")"
fi
[ -n "$(weir_node_pid)" ] || fail "weir-node died while its tier was full"
cmp "$TMP/mnt-full/small.bin" "$TMP/src/small.bin" || fail "after the tier filled up, small.bin reads wrong bytes"
ok "weir-node is alive and small.bin reads right afterwards"
out="$(w umount "$TMP/mnt-full" 2>&1)" || fail "weir umount $TMP/mnt-full exited with $?: $out"

step "UFS dies mid-read: the read fails with EIO in bounded time"
weir_mount "$NGINX_URL" "$MP" --tier "$TIERS" --block-size 1MiB --fetch-concurrency 4 --metadata-ttl 3600
[ "$(stat -c %s "$MP/data/big.bin")" -eq "$BIG_SIZE" ] || fail "big.bin has the wrong size in the view"
t0="$(now)"
timeout -k 5 300 cat "$MP/data/big.bin" >"$TMP/partial" 2>"$TMP/cat.err" &
cat_pid=$!
pid_track "$cat_pid"
sleep 6
pid_alive "$cat_pid" || fail "cat of a $BIG_SIZE-byte file at 256 KiB/s per request finished within 6 s; the fault was not injected mid-read"
note "killing nginx (pid $NGINX_PID) while cat has $(stat -c %s "$TMP/partial") bytes"
nginx_stop --kill
rc=0
wait "$cat_pid" || rc=$?
t1="$(now)"
secs="$(elapsed "$t0" "$t1")"
[ "$rc" -ne 0 ] || fail "cat of big.bin succeeded although nginx died mid-read"
[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "cat of big.bin hung for 300 s after nginx died; the read must fail after the retries"
grep -q "Input/output error" "$TMP/cat.err" || fail "cat failed ($rc) but not with EIO: $(cat "$TMP/cat.err")"
ok "cat exited $rc after $secs s: $(cat "$TMP/cat.err")"
got="$(stat -c %s "$TMP/partial")"
cmp -n "$got" "$TMP/partial" "$TREE/data/big.bin" || fail "the $got bytes cat got before the error are not the file's first $got bytes"
ok "the $got bytes read before the error are correct"
awk -v s="$secs" 'BEGIN { exit !(s < 120) }' || fail "the failing read took $secs s; it must fail within 120 s"

step "weir stat shows no partial block of big.bin"
w stat "$MP" -o json >"$TMP/stat.json" || fail "weir stat exited with $?"
note "weir stat: $(cat "$TMP/stat.json")"
cached="$(json_get "$TMP/stat.json" cached_bytes)"
bs=$((1024 * 1024))
[ "$cached" -lt "$BIG_SIZE" ] || fail "cached_bytes=$cached: more than big.bin holds although its read failed"
[ $((cached % bs)) -eq 0 ] || [ $((cached % bs)) -eq $((BIG_SIZE % bs)) ] ||
	fail "cached_bytes=$cached is not whole 1 MiB blocks (plus big.bin's tail): a partial block was cached"
ok "cached_bytes=$cached: whole blocks only"

step "restart nginx on the same port: reading again returns the right bytes"
# the same URL, without the rate limit this time
nginx_start "$TMP/nginx" "$TREE" --port "$NGINX_PORT"
sleep 2.2 # past weir's 2 s memo of a recent failure (the reads of the step before failed just now)
timeout -k 5 120 cmp "$TREE/data/big.bin" "$MP/data/big.bin" || fail "after nginx came back, big.bin read through the view differs from the server's (or the read failed)"
ok "big.bin matches (cmp)"

step "weir umount of a view with a file open: refused as busy; --force unmounts at once"
exec 7<"$MP/data/big.bin"
rc=0
out="$(w umount "$MP" 2>&1)" || rc=$?
[ "$rc" -ne 0 ] || fail "weir umount succeeded while $MP/data/big.bin was open"
case "$out" in *busy*) ok "refused: $out" ;; *) fail "weir umount of a busy view said: $out" ;; esac
is_mounted "$MP" || fail "the refused umount unmounted $MP anyway"
# it names who holds the view (README: "say which to close"): this shell's descriptor 7, and a
# process whose working directory is in the view
grep -q "pid $$ (.*): open file $MP/data/big.bin" <<<"$out" ||
	fail "the refusal does not name pid $$ and the file it holds open: $out"
(cd "$MP/data" && exec sleep 30) &
sleeper=$!
pid_track "$sleeper"
sleep 0.3
rc=0
out="$(w umount "$MP" 2>&1)" || rc=$?
pid_stop "$sleeper"
[ "$rc" -ne 0 ] || fail "weir umount succeeded while a process had its working directory in $MP"
grep -q "pid $sleeper (sleep): working directory $MP/data" <<<"$out" ||
	fail "the refusal does not name pid $sleeper (sleep) and its working directory in $MP: $out"
ok "the refusal names both holders: $(tr '\n' ' ' <<<"$out")"
t0="$(now)"
out="$(w umount --force "$MP" 2>&1)" || fail "weir umount --force failed: $out"
is_mounted "$MP" && fail "weir umount --force left $MP mounted"
exec 7<&-
# (a file opened in passthrough keeps reading its tier file; others get ENOTCONN)
ok "--force unmounted it in $(elapsed "$t0" "$(now)") s with the file still open"
w stat >/dev/null || fail "weir-node stopped answering after a forced umount"
ok "weir-node still answers"

echo
echo "PASS: faults end to end"
