#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Faults between weir and a real S3 server (versitygw, signatures checked) through the fault
# proxy (issue 12): the S3 client signs for the proxy's address, so every request still passes
# versitygw's checks. Passing faults give the right bytes; lasting ones a clean EIO within the
# bound; an object overwritten (PUT) between two range requests of one read gives one version or
# ESTALE; after each, the bytes the tier holds are right (cmp).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"
. "$here/../helpers/versitygw.sh"
. "$here/lib.sh"

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-faults-s3.XXXXXX)"
at_exit 'rm -rf "$TMP"'
weir_setup "$TMP"
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
MIB=$((1024 * 1024))
SIZE=$((6 * MIB + 12345))
STALL=3 RETRIES=2
BOUND=$(((RETRIES + 1) * STALL + 6))
printf 'ufs-stall-timeout = %s\nufs-retries = %s\n' "$STALL" "$RETRIES" >"$WEIR_STATE/node.conf"

step "versitygw behind the fault proxy; one object per fault"
vgw_start "$TMP/vgw"
vgw_curl -f -X PUT "$VGW_URL/bkt" -o /dev/null || fail "creating bucket bkt failed"
WANT="$TMP/want"
mkdir -p "$WANT/f"
FAULTS=(reset reset_body s503 truncate stall lie_range p_reset p_503 p_stall p_trickle lie_total swap)
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
fp_rules "[{\"fault\": \"run\", \"match\": \"/f/swap\", \"range\": true, \"skip\": 2, \"times\": 1,
	\"argv\": [\"curl\", \"-sSf\", \"-K\", \"$VGW_DIR/curl.conf\", \"-T\", \"$TMP/swap.v2\", \"$VGW_URL/bkt/f/swap\"]}]"
rc=0
timeout -k 5 300 cat "$VIEW/swap" >"$TMP/sw.out" 2>"$TMP/sw.err" || rc=$?
[ "$(fp_hits)" = 1 ] || fail "swap: the object was not overwritten mid-read"
fp_rules '[]'
one_version swap "$rc" "$TMP/sw.out" "$TMP/sw.err" "$WANT/swap" "$TMP/swap.v2"
sleep 1.1
read_clean "swap, a fresh open" "$VIEW/swap" "$TMP/swap.v2"
ok "swap: a fresh open reads the new version whole"

[ -n "$(weir_node_pid)" ] || fail "weir-node died"
grep -qF "$VGW_SECRET" "$WEIR_STATE/node.log" "$FP_LOG" && fail "the secret key shows in a log"
echo
echo "PASS: faults between weir and versitygw"
