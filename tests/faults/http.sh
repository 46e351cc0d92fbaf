#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Faults between weir and nginx (issue 12): the fault proxy resets, delays, fails (500/503),
# truncates, stalls, lies about sizes and ranges, and replaces an object between two range
# requests of one read. Each fault, passing: the reader gets the right bytes (cmp). Each fault
# that never clears: a clean EIO/ESTALE within (retries + 1) x stall timeout plus backoff, the
# bytes before it right; once it clears, a read with the page cache dropped (what the tier
# holds) is cmp-equal: no partial or mixed block was kept.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/nginx.sh"
. "$here/../helpers/weir.sh"
. "$here/lib.sh"

faults_setup http 3 2
SIZE=$((6 * MIB + 12345)) # two 4 MiB blocks, seven 1 MiB range requests
echo "weir: $WEIR_BIN; weir-node: $WEIR_NODE_BIN; work dir: $TMP"

step "nginx behind the fault proxy; one file per fault"
TREE="$TMP/tree"
mkdir -p "$TREE/f" "$TMP/want"
FAULTS=(reset reset_body s500 s503 delay truncate stall lie_range lie_total_up lie_total_down
	swap p_reset p_503 p_truncate p_stall p_trickle p_dribble p_lie_range)
for f in "${FAULTS[@]}"; do
	rand_file "$TMP/want/$f" "$SIZE" "$f"
	cp "$TMP/want/$f" "$TREE/f/$f"
done
rand_file "$TMP/want/swap.v2" "$SIZE" swap-two
nginx_start "$TMP/nginx" "$TREE"
fp_start "$NGINX_PORT" "$TMP/proxy"
MP="$TMP/mnt" VIEW="$TMP/mnt/f" WANT="$TMP/want"
weir_mount "http://127.0.0.1:$FP_PORT/" "$MP" --tier "mem:$WEIR_TIER_DIR/mem:1GiB" --metadata-ttl 1 --no-prefetch
grep -q 'config ufs-stall-timeout = "3"' "$WEIR_STATE/node.log" || fail "weir-node did not take ufs-stall-timeout from node.conf"
ls "$MP/f" >/dev/null
ok "view of http://127.0.0.1:$FP_PORT/ (nginx on $NGINX_PORT); stall timeout $STALL s, $RETRIES retries, bound $BOUND s"

step "faults that clear: the reader gets the right bytes"
passing reset '{"fault": "reset", "match": "/f/reset", "range": true, "times": 3}'
passing reset_body '{"fault": "reset_body", "match": "/f/reset_body", "range": true, "after": 100000, "times": 3}'
passing s500 '{"fault": "status", "status": 500, "match": "/f/s500", "range": true, "times": 2}'
passing s503 '{"fault": "status", "status": 503, "match": "/f/s503", "range": true, "times": 2}'
passing truncate '{"fault": "truncate", "match": "/f/truncate", "range": true, "after": 300000, "times": 4}'
passing stall '{"fault": "stall", "match": "/f/stall", "range": true, "after": 5000, "times": 1}'
fp_rules '[{"fault": "delay", "seconds": 1.5, "match": "/f/delay", "range": true}]'
read_ok delay "$MP/f/delay" "$TMP/want/delay"
fp_rules '[]'
awk -v s="$READ_SECS" 'BEGIN { exit !(s >= 1.5) }' || fail "delay: the read took $READ_SECS s: the 1.5 s delay never hit"
ok "delay: every range request 1.5 s late; right bytes in $READ_SECS s"

step "faults that last: EIO within $BOUND s, then right bytes from the tier"
lasting p_reset '{"fault": "reset", "match": "/f/p_reset", "range": true}'
lasting p_503 '{"fault": "status", "status": 503, "match": "/f/p_503", "range": true}'
lasting p_truncate '{"fault": "truncate", "match": "/f/p_truncate", "range": true, "after": 0}'
lasting p_stall '{"fault": "stall", "match": "/f/p_stall", "range": true, "after": 0}'
# every answer gets a little further, then stalls: progress must not restart the retry budget
# for ever (at 4 KiB per stall a 1 MiB part would take 256 stall timeouts)
lasting p_trickle '{"fault": "stall", "match": "/f/p_trickle", "range": true, "after": 4096}'
# the same, closing instead of stalling: hundreds of quick attempts are no better
lasting p_dribble '{"fault": "truncate", "match": "/f/p_dribble", "range": true, "after": 4096}'

step "a server that names another range than it sends: never its bytes"
passing lie_range '{"fault": "lie_range", "delta": 4096, "match": "/f/lie_range", "range": true, "times": 2}'
lasting p_lie_range '{"fault": "lie_range", "delta": -4096, "match": "/f/p_lie_range", "range": true}'

step "sizes that disagree with the listing (Content-Range total and HEAD's Content-Length)"
for f in lie_total_up lie_total_down; do
	d=100000
	[ "$f" = lie_total_down ] && d=-100000
	fp_rules "[{\"fault\": \"lie_total\", \"delta\": $d, \"match\": \"/f/$f\"}]"
	sleep 1.1 # past the metadata TTL: the open asks the server again
	rc=0
	timeout -k 5 300 cat "$MP/f/$f" >"$TMP/lt.out" 2>"$TMP/lt.err" || rc=$?
	[ "$rc" -ne 124 ] || fail "$f: the read hung"
	got="$(stat -c %s "$TMP/lt.out")"
	if [ "$rc" -eq 0 ] && [ "$got" -eq $((SIZE + d)) ] && [ "$d" -lt 0 ]; then
		# HEAD and every Content-Range agree on the smaller size: the object's own headers win
		# over the listing (README, "Failure modes"); what is read must be its first bytes
		cmp -n "$got" "$TMP/lt.out" "$TMP/want/$f" || fail "$f: the $got bytes read are not the object's first $got"
		ok "$f: the $got bytes the server's headers claim, each right (the listing said $SIZE)"
	elif [ "$rc" -eq 0 ]; then
		cmp "$TMP/lt.out" "$TMP/want/$f" || fail "$f: the read succeeded with $got bytes that are not the object's $SIZE"
		ok "$f: the object's own $SIZE bytes"
	else
		grep -q "Input/output error\|Stale file handle" "$TMP/lt.err" || fail "$f: failed with $(cat "$TMP/lt.err")"
		cmp -s -n "$got" "$TMP/lt.out" "$TMP/want/$f" || fail "$f: wrong bytes before the error ($got bytes)"
		ok "$f: $(cat "$TMP/lt.err") after $got right bytes"
	fi
	fp_rules '[]'
	sleep 1.1
	read_clean "$f, after the lie stopped" "$MP/f/$f" "$TMP/want/$f"
	[ "$(stat -c %s "$MP/f/$f")" -eq "$SIZE" ] || fail "$f: stat says $(stat -c %s "$MP/f/$f") bytes once the lie stopped"
	ok "$f: right bytes and size once the server agrees with itself"
done

step "a new version between two range requests of one read"
# the third range request of the file first replaces it at nginx (new inode, new ETag)
mid_read_swap /f/swap "$MP/f/swap" "$TMP/want/swap" "$TMP/want/swap.v2" \
	"[\"sh\", \"-c\", \"cp '$TMP/want/swap.v2' '$TREE/f/swap.new' && touch -d @\$((\$(date +%s) + 10)) '$TREE/f/swap.new' && mv -f '$TREE/f/swap.new' '$TREE/f/swap'\"]"

step "the same replacement from a server that sends no ETag (Last-Modified only)"
# the old version is 100 s older than the new: If-Unmodified-Since must catch the change, which
# comes with the second block (range requests 5 to 7)
for i in 1 2 3; do
	rand_file "$TREE/f/lm$i" "$SIZE" "lm-$i"
	cp "$TREE/f/lm$i" "$TMP/want/lm$i"
	touch -d @$(($(date +%s) - 100)) "$TREE/f/lm$i"
done
sleep 1.1
for i in 1 2 3; do
	fp_rules "[{\"fault\": \"no_etag\", \"also\": true},
		{\"fault\": \"run\", \"match\": \"/f/lm$i\", \"range\": true, \"skip\": $((i + 3)), \"times\": 1,
		\"argv\": [\"sh\", \"-c\", \"cp '$TMP/want/swap.v2' '$TREE/f/lm$i.new' && mv -f '$TREE/f/lm$i.new' '$TREE/f/lm$i'\"]}]"
	rc=0
	timeout -k 5 300 cat "$MP/f/lm$i" >"$TMP/lm.out" 2>"$TMP/lm.err" || rc=$?
	[ "$(fp_hits | cut -d' ' -f2)" = 1 ] || fail "lm$i: the object was not replaced mid-read"
	one_version "lm$i (no ETag)" "$rc" "$TMP/lm.out" "$TMP/lm.err" "$TMP/want/lm$i" "$TMP/want/swap.v2"
	grep "/f/lm$i range=bytes" "$FP_LOG" | grep -q . || fail "lm$i: no range request reached the proxy"
done
fp_rules '[]'
sleep 1.1
read_clean "lm1, a fresh open" "$MP/f/lm1" "$TMP/want/swap.v2"

step "a directory listing that stalls past the metadata TTL: the cached listing, in bounded time"
# stale-if-error answers with the listing weir made last: what the view showed just before the
# stall (the lm files of the step above may be missing from it: their opens looked each name
# up alone and a listing need not have run since)
ls "$MP/f" >"$TMP/ls.before" || fail "ls of $MP/f failed before any stall"
[ -s "$TMP/ls.before" ] || fail "ls of $MP/f showed nothing before any stall"
fp_rules '[{"fault": "stall", "path": "/f/", "after": 0}]'
sleep 1.1
t0="$(now)"
rc=0
timeout -k 5 120 ls "$MP/f" >"$TMP/ls.out" 2>"$TMP/ls.err" || rc=$?
secs="$(elapsed "$t0" "$(now)")"
hits="$(fp_hits)"
fp_rules '[]'
[ "$rc" -ne 124 ] || fail "ls of a directory whose listing stalls hung for 120 s"
[ "$hits" -gt 0 ] || fail "the listing was never asked for: the stall did not hit"
awk -v s="$secs" -v b="$BOUND" 'BEGIN { exit !(s <= b) }' || fail "ls took $secs s with the listing stalled; the bound is $BOUND s"
if [ "$rc" -eq 0 ]; then
	diff "$TMP/ls.before" "$TMP/ls.out" >&2 || fail "ls with the listing stalled shows other names than the view's last listing (diff above)"
	ok "ls answered in $secs s with the cached listing (stale-if-error) after $hits stalled listings"
else
	grep -q "Input/output error" "$TMP/ls.err" || fail "ls failed with $(cat "$TMP/ls.err"), not EIO"
	ok "ls failed with EIO in $secs s after $hits stalled listings"
fi

step "weir-node lived through it all"
[ -n "$(weir_node_pid)" ] || fail "weir-node died"
w stat "$MP" -o json >"$TMP/stat.json" || fail "weir stat failed"
note "ufs requests $(json_get "$TMP/stat.json" ufs_requests 2>/dev/null || echo ?), proxy log $(wc -l <"$FP_LOG") requests"
echo
echo "PASS: faults between weir and nginx"
