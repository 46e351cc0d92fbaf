#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Faults between weir and a real S3 server (versitygw, signatures checked) through the fault
# proxy (issue 12): the S3 client signs for the proxy's address, so every request still passes
# versitygw's checks. Passing faults (a 200 with the whole object to a ranged GET among them) give
# the right bytes; lasting ones a clean EIO within the
# bound; an object overwritten (PUT) between two range requests of one read gives one version or
# ESTALE; after each, the bytes the tier holds are right (cmp).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"
. "$here/../helpers/versitygw.sh"
. "$here/lib.sh"

faults_setup s3 3 2
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
SIZE=$((6 * MIB + 12345))

step "versitygw behind the fault proxy; one object per fault"
vgw_start "$TMP/vgw"
vgw_curl -f -X PUT "$VGW_URL/bkt" -o /dev/null || fail "creating bucket bkt failed"
WANT="$TMP/want"
mkdir -p "$WANT/f"
FAULTS=(reset reset_body s503 truncate stall lie_range whole p_reset p_503 p_stall p_trickle lie_total swap early)
for f in "${FAULTS[@]}"; do rand_file "$WANT/f/$f" "$SIZE" "s3-$f"; done
rand_file "$TMP/swap.v2" "$SIZE" s3-swap-two
vgw_put_tree "$WANT" bkt
fp_start "$VGW_PORT" "$TMP/proxy"
export AWS_ACCESS_KEY_ID="$VGW_KEY" AWS_SECRET_ACCESS_KEY="$VGW_SECRET"
MP="$TMP/mnt"
weir_mount s3://bkt "$MP" --tier "mem:$WEIR_TIER_DIR/mem:1GiB" --s3-endpoint "http://127.0.0.1:$FP_PORT" \
	--s3-region us-east-1 --s3-path-style --metadata-ttl 1 --no-prefetch
VIEW="$MP/f" WANT="$WANT/f"
ls "$VIEW" >/dev/null || fail "cannot list $VIEW"
ok "s3://bkt through the proxy on $FP_PORT (versitygw on $VGW_PORT); bound $BOUND s"

step "faults that clear: the right bytes"
passing reset '{"fault": "reset", "match": "/f/reset", "range": true, "times": 3}'
passing reset_body '{"fault": "reset_body", "match": "/f/reset_body", "range": true, "after": 100000, "times": 3}'
passing s503 '{"fault": "status", "status": 503, "match": "/f/s503", "range": true, "times": 2}'
passing truncate '{"fault": "truncate", "match": "/f/truncate", "range": true, "after": 300000, "times": 4}'
passing stall '{"fault": "stall", "match": "/f/stall", "range": true, "after": 5000, "times": 1}'
passing lie_range '{"fault": "lie_range", "delta": 4096, "match": "/f/lie_range", "range": true, "times": 2}'
# the Range header dropped on the way: 200 and the whole object for every part of a block
passing whole '{"fault": "no_range", "match": "/f/whole", "range": true}'

step "faults that last: EIO within $BOUND s, then the right bytes"
lasting p_reset '{"fault": "reset", "match": "/f/p_reset", "range": true}'
lasting p_503 '{"fault": "status", "status": 503, "match": "/f/p_503", "range": true}'
lasting p_stall '{"fault": "stall", "match": "/f/p_stall", "range": true, "after": 0}'
lasting p_trickle '{"fault": "stall", "match": "/f/p_trickle", "range": true, "after": 4096}'

step "a Content-Range total other than the listing's size: ESTALE or EIO, never other bytes"
fp_rules '[{"fault": "lie_total", "delta": 100000, "match": "/f/lie_total", "range": true}]'
rc=0
timeout -k 5 300 cat "$VIEW/lie_total" >"$TMP/lt.out" 2>"$TMP/lt.err" || rc=$?
fp_rules '[]'
got="$(stat -c %s "$TMP/lt.out")"
[ "$rc" -ne 124 ] || fail "lie_total: the read hung"
if [ "$rc" -eq 0 ]; then
	cmp "$TMP/lt.out" "$WANT/lie_total" || fail "lie_total: the read succeeded with wrong bytes ($got)"
	ok "lie_total: the object's bytes"
else
	grep -q "Stale file handle\|Input/output error" "$TMP/lt.err" || fail "lie_total: failed with $(cat "$TMP/lt.err")"
	cmp -s -n "$got" "$TMP/lt.out" "$WANT/lie_total" || fail "lie_total: wrong bytes before the error"
	ok "lie_total: $(cat "$TMP/lt.err") after $got right bytes"
fi
sleep 1.1
read_clean "lie_total, once the server agrees with itself" "$VIEW/lie_total" "$WANT/lie_total"
ok "lie_total: right bytes afterwards"

step "the object overwritten (PUT) between two range requests of one read"
mid_read_swap /f/swap "$VIEW/swap" "$WANT/swap" "$TMP/swap.v2" \
	"[\"curl\", \"-sSf\", \"-K\", \"$VGW_DIR/curl.conf\", \"-T\", \"$TMP/swap.v2\", \"$VGW_URL/bkt/f/swap\"]"

step "a read served from its parts of a block while the block's other parts are delayed or reset"
# Block 1 of "early" first, whole (it goes to the tier); then a read across blocks 0 and 1 while
# the proxy holds parts 0 and 1 of block 0 for HOLD s (under the stall timeout: no retry) and
# resets part 2 twice: the read needs only
# part 3 of block 0 and block 1, so it must end long before the held parts and come back in
# two segments (block 0 from memory, block 1 from the tier), byte for byte the object's.
python3 - "$VIEW/early" "$WANT/early" $((4 * MIB)) $((SIZE - 4 * MIB)) >/dev/null <<'PY' ||
import sys
with open(sys.argv[1], "rb") as f, open(sys.argv[2], "rb") as w:
    off, n = int(sys.argv[3]), int(sys.argv[4])
    f.seek(off); w.seek(off)
    sys.exit(f.read(n) != w.read(n))
PY
	fail "early: block 1 read wrong bytes"
sleep 0.5 # block 1's tier write, after its reader was answered
drop_view_cache "$VIEW/early"
HOLD=2.8
fp_rules "[{\"fault\": \"delay\", \"seconds\": $HOLD, \"match\": \"/f/early\", \"range_from\": 0, \"times\": 1},
	{\"fault\": \"delay\", \"seconds\": $HOLD, \"match\": \"/f/early\", \"range_from\": $MIB, \"times\": 1},
	{\"fault\": \"reset_body\", \"after\": 100000, \"match\": \"/f/early\", \"range_from\": $((2 * MIB)), \"times\": 2}]"
secs="$(python3 - "$VIEW/early" "$WANT/early" $((3 * MIB + MIB / 2)) "$MIB" <<'PY'
import os, sys, time
fd, w = os.open(sys.argv[1], os.O_RDONLY), open(sys.argv[2], "rb")
off, n = int(sys.argv[3]), int(sys.argv[4])
t0 = time.monotonic()
got = os.pread(fd, n, off)
secs = time.monotonic() - t0
w.seek(off)
if got != w.read(n):
    sys.exit("early: the read across blocks 0 and 1 got %d bytes that are not the object's" % len(got))
print("%.3f" % secs)
PY
)" || fail "early: the read across blocks 0 and 1 failed or got wrong bytes"
hits="$(fp_hits)"
[ "${hits%% *}" -ge 1 ] || fail "early: part 0 of block 0 was never held (hits $hits)"
awk -v s="$secs" 'BEGIN { exit !(s < 2) }' ||
	fail "early: the read took $secs s: it waited for the held parts of block 0 ($HOLD s), not its own"
sleep 3.5 # the held parts come in, the block is stored whole
fp_rules '[]'
read_clean "early, whole, from the tier after the faults" "$VIEW/early" "$WANT/early"
ok "early: its range in $secs s while block 0's other parts were held $HOLD s and reset (hits $hits); the tier's bytes right"

[ -n "$(weir_node_pid)" ] || fail "weir-node died"
grep -qF "$VGW_SECRET" "$WEIR_STATE/node.log" "$FP_LOG" && fail "the secret key shows in a log"
echo
echo "PASS: faults between weir and versitygw"
