#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The open of a directory stream's next file (cp -R) waits for that whole file; it asks for the
# file's own blocks before it guesses the file after it (a spare guess on idle slots), so the
# guess never takes the connection the reader waits for. With one connection the order is
# plain in nginx's log: every request of b.bin begins before the guess of c.bin's first one.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/nginx.sh"
. "$here/../helpers/weir.sh"

weir_test_setup e2e-streamorder
mkdir -p "$TMP/src/d"
# b.bin over 1 MiB (VIEW_SMALL_FILE: a smaller one never passes through, so never waits for its
# fill) and within the stream's window
rand_file "$TMP/src/d/a.bin" $(((1 << 20) + 5)) oa
rand_file "$TMP/src/d/b.bin" $(((3 << 20) + 7)) ob
rand_file "$TMP/src/d/c.bin" $(((1 << 20) + 3)) oc
nginx_start "$TMP/nginx" "$TMP/src" --limit-rate 2m
at_exit nginx_stop
MP="$TMP/mnt"
weir_mount "$NGINX_URL" "$MP" --tier "mem:$WEIR_TIER_DIR/mem:256MiB" --fetch-concurrency 1 \
	--metadata-ttl 3600 >/dev/null
ls "$MP/d" >/dev/null

step "a.bin then b.bin read in listing order: b.bin's open asks for b.bin, then guesses c.bin"
cmp "$TMP/src/d/a.bin" "$MP/d/a.bin" || fail "d/a.bin read cold differs from the source"
cmp "$TMP/src/d/b.bin" "$MP/d/b.bin" || fail "d/b.bin read cold differs from the source"
for _ in $(seq 1 300); do
	nginx_starts | grep -q '"\?GET /d/c.bin ' && break
	sleep 0.1
done
nginx_starts | sed 's/^/  nginx: /'
nginx_starts | grep -q 'GET /d/c.bin ' ||
	fail "c.bin was never guessed within 30 s: the test proves nothing"
nginx_starts | grep -q 'GET /d/b.bin ' || fail "nginx saw no GET of b.bin"
# the first line of each, in the order the requests began
order="$(nginx_starts | awk '$2 == "GET" && ($3 == "/d/b.bin" || $3 == "/d/c.bin") { print $3 }' | uniq | paste -sd' ')"
[ "$order" = "/d/b.bin /d/c.bin" ] ||
	fail "the guess of c.bin went before (or between) b.bin's own requests, which its open waited for: $order"
ok "every request of b.bin began before the guess of c.bin"
echo
echo "PASS: a stream's open asks for its own file before the next file's guess"
