#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end (issue 15): a weir-node's peer port bounds the memory pushes take. A node (n1 of a
# cluster n1, n2 whose n2 the test plays) gets 40 slow signed pushes of a block it owns and 20
# slow pushes with a bad MAC at once (60 in all: n1 takes at most 64 connections from one address,
# tests/e2e/peerslots.sh), each holding its connection after the first KiB of body:
# the node's heap in use stays within its upload bound (8 blocks) plus connection overhead, the
# bad ones are refused 403, the signed ones past the bound are answered 503 with Retry-After,
# and a signed push of another block it owns is kept afterwards (200); a read and a push each
# sent twice unchanged (a replay) are answered under a fresh reply nonce each time.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/cluster.sh"

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-e2e-pushbound.XXXXXX)"
at_exit 'rm -rf "$TMP"'
AUTH=40 UNAUTH=20 BOUND_BLOCKS=8 BS=4194304

step "one namespace for node n1 on a bridge of the test's own; nginx serves a 64 MiB file; n1 in a cluster n1, n2 (n2 is the test, holding the key)"
one_node_with_test_peer big.bin $((16 * BS)) big
ok "n1 mounted $NGINX_URL (source $SRC_ID); its peer port is $N1"

step "which blocks of /big.bin n1 owns (a 1-byte push: its owner finds the length wrong, 400; 421 elsewhere)"
printf x >"$TMP/one"
OWNED=()
for b in $(seq 0 15); do
	st="$(python3 "$here/../helpers/peer_request.py" "$N1" "$TMP/key" n2 "$SRC_ID" /big.bin "$b" "$SIZE" "$MTIME" "$ETAG" --to n1 --push "$TMP/one")"
	case "$st" in
	400) OWNED+=("$b") ;;
	421) ;;
	*) fail "a 1-byte push of block $b got $st from n1, expected 400 (owner) or 421" ;;
	esac
done
[ "${#OWNED[@]}" -ge 2 ] || fail "n1 owns ${#OWNED[@]} of 16 blocks (${OWNED[*]:-none}); the test needs two (rendezvous gives it half on average)"
ok "n1 owns blocks ${OWNED[*]}"
blk() { dd if="$TREE/big.bin" bs=$BS skip="$1" count=1 2>/dev/null; }
blk "${OWNED[0]}" >"$TMP/flood.blk"
blk "${OWNED[1]}" >"$TMP/last.blk"

heap_kb() {
	timeout 30 "$WEIR_BIN" --state-dir "${STATE[1]}" stat -o json >"$TMP/stat.json" || fail "weir stat -o json on n1 failed"
	python3 - "$TMP/stat.json" <<'PY' || fail "weir stat -o json has no node_memory.malloc_in_use: $(head -c 400 "$TMP/stat.json")"
import json, sys
v = json.load(open(sys.argv[1]))
v = v[0] if isinstance(v, list) else v
print(v["node_memory"]["malloc_in_use"] // 1024)
PY
}

step "$AUTH slow signed pushes and $UNAUTH slow pushes with a bad MAC, held open at once"
heap0=$(heap_kb)
rm -f "$TMP/go"
on 1 python3 "$here/../helpers/push_flood.py" "$(ip_of 1)" "$PEER_PORT" "$TMP/key" n2 n1 "$SRC_ID" /big.bin "${OWNED[0]}" "$SIZE" "$MTIME" "$ETAG" "$TMP/flood.blk" "$AUTH" "$UNAUTH" "$TMP/go" >"$TMP/flood.out" 2>&1 &
FLOOD=$!
pid_track "$FLOOD"
at_exit "pid_stop $FLOOD"
until_ok 60 "push_flood.py opening its connections ($(cat "$TMP/flood.out" 2>/dev/null))" grep -q "^held" "$TMP/flood.out"
sleep 2 # every connection's headers and first KiB taken in
heap1=$(heap_kb)
touch "$TMP/go"
wait "$FLOOD" || fail "push_flood.py failed: $(cat "$TMP/flood.out")"
growth=$(((heap1 - heap0) / 1024))
note "n1's heap in use: $heap0 kB before, $heap1 kB with $((AUTH + UNAUTH)) pushes held (+$growth MiB)"
# the bound: 8 block buffers (32 MiB) and libmicrohttpd's per-connection pools (32 KiB each)
limit=$((BOUND_BLOCKS * BS / 1048576 + 16))
[ "$growth" -le "$limit" ] || fail "n1's heap grew $growth MiB with $AUTH signed and $UNAUTH bad pushes held open; the bound is $limit MiB ($BOUND_BLOCKS block buffers and connection overhead)"
ok "heap growth $growth MiB <= $limit MiB"
res="$(tail -1 "$TMP/flood.out")"
note "answers: $res"
python3 - "$res" "$AUTH" "$UNAUTH" "$BOUND_BLOCKS" <<'PY' || fail "the pushes' answers are not as expected: $res"
import json, sys
r, auth, unauth, bound = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
a, u = r["auth"], r["unauth"]
assert u == {"403": unauth}, f"bad MACs got {u}, expected {unauth} x 403"
taken = a.get("200", 0) + a.get("409", 0)
busy = a.get("503", 0)
assert taken + busy == auth, f"signed pushes got {a}: only 200, 409 or 503 expected"
assert 1 <= taken <= bound, f"{taken} signed pushes were taken in at once, bound {bound}"
assert busy >= auth - bound, f"{busy} signed pushes got 503, expected at least {auth - bound}"
assert r["retry_after_503"] == busy, f"{busy - r['retry_after_503']} 503s without Retry-After"
PY
ok "bad MACs 403; signed pushes past the bound 503 with Retry-After, the others taken"

step "a signed push of another block n1 owns is kept afterwards"
st="$(python3 "$here/../helpers/peer_request.py" "$N1" "$TMP/key" n2 "$SRC_ID" /big.bin "${OWNED[1]}" "$SIZE" "$MTIME" "$ETAG" --to n1 --push "$TMP/last.blk")"
[ "$st" = 200 ] || fail "a signed push of block ${OWNED[1]} after the flood got $st, expected 200"
st="$(python3 "$here/../helpers/peer_request.py" "$N1" "$TMP/key" n2 "$SRC_ID" /big.bin "${OWNED[1]}" "$SIZE" "$MTIME" "$ETAG" --to n1 --out "$TMP/back.blk")"
[ "$st" = 200 ] || fail "reading block ${OWNED[1]} back from n1 got $st"
cmp "$TMP/back.blk" "$TMP/last.blk" || fail "the block n1 serves differs from the one pushed"
ok "kept (200), and served back byte-exact (cmp)"

step "the same signed requests sent twice (a relay replaying them): each reply tags under a fresh reply nonce"
# a reply's Poly1305 key is made of the request's MAC and the reply's nonce: a node that reused
# a nonce for a replayed request would tag two answers under one key, which gives the key away
for what in "--out $TMP/twice.blk" "--push $TMP/last.blk"; do
	# shellcheck disable=SC2086 # two words each
	st="$(python3 "$here/../helpers/peer_request.py" "$N1" "$TMP/key" n2 "$SRC_ID" /big.bin "${OWNED[1]}" "$SIZE" "$MTIME" "$ETAG" --to n1 --twice $what)"
	case "$st" in 200 | 409) ;; *) fail "the same signed request ($what) sent twice got \"$st\", expected 200 or 409 under a fresh reply nonce each" ;; esac
done
cmp "$TMP/twice.blk" "$TMP/last.blk" || fail "the block n1 served the second time differs from the one pushed"
ok "a read and a push, each sent twice: every answer under its own reply nonce, each MAC checked"
