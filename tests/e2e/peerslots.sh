#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end (issue 15 review): one host without the key cannot take every connection slot of a
# weir-node's peer port. The test host opens 300 connections to n1's peer port and holds each
# open with half a request's headers (slowloris); n1 keeps at most 64 of them (its per-address
# bound), and a signed block read from another address (n1's own namespace) is still answered
# 200 with the block's bytes (cmp), while the 300 are held.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/nginx.sh"
. "$here/../helpers/weir.sh"
. "$here/../helpers/cluster.sh"

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-e2e-peerslots.XXXXXX)"
at_exit 'rm -rf "$TMP"'
HOLD=300 PER_IP=64 BS=4194304 FLOOD=3000

step "one namespace for node n1 on a bridge of the test's own; nginx serves a 8 MiB file; n1 in a cluster n1, n2 (n2 is the test, holding the key)"
one_node_with_test_peer f.bin $((2 * BS)) slots
dd if="$TREE/f.bin" bs=$BS count=1 2>/dev/null >"$TMP/b0"
ok "n1 mounted $NGINX_URL (source $SRC_ID); its peer port is $N1"

step "the host ($CL_SUBNET.1) opens $HOLD connections to $N1 and holds them with half a request"
rm -f "$TMP/go"
python3 - "$(ip_of 1)" "$PEER_PORT" "$HOLD" "$TMP/go" >"$TMP/hold.out" 2>&1 <<'PY' &
import os, socket, sys, time
host, port, n, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
socks = []
for i in range(n):
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(b"GET /v1/block?source=x HTTP/1.1\r\nHost: n1\r\nX-Weir-Node: n2\r\n")
    socks.append(s)
time.sleep(2) # the node closes those past its bound
held = 0
for s in socks:
    s.setblocking(False)
    try:
        held += 0 if s.recv(1) == b"" else 1 # an answer: never to half a request
    except BlockingIOError:
        held += 1
    except OSError:
        pass
print(f"held {held}", flush=True)
while not os.path.exists(go):
    time.sleep(0.1)
PY
HOLDER=$!
pid_track "$HOLDER"
at_exit "pid_stop $HOLDER"
until_ok 60 "the holder opening its connections ($(cat "$TMP/hold.out" 2>/dev/null))" grep -q "^held" "$TMP/hold.out"
held="$(sed -n 's/^held //p' "$TMP/hold.out")"
note "n1 kept $held of the host's $HOLD half-open connections"
[ "$held" -ge 1 ] || fail "n1 kept none of the host's connections: the test did not hold any"
[ "$held" -le "$PER_IP" ] || fail "n1 kept $held connections from one address; its bound is $PER_IP"
ok "$held <= $PER_IP held from one address"

step "a signed read of block 0 from n1's own address while the host holds its connections"
st="$(on 1 python3 "$here/../helpers/peer_request.py" "$N1" "$TMP/key" n2 "$SRC_ID" /f.bin 0 "$SIZE" "$MTIME" "$ETAG" --to n1 --out "$TMP/got" 2>"$TMP/read.err")" ||
	fail "the signed read failed with the host's $held connections held: $(tail -1 "$TMP/read.err")"
[ "$st" = 200 ] || fail "the signed read got $st, expected 200"
cmp "$TMP/got" "$TMP/b0" || fail "the block n1 served differs from the file's first block"
ok "200, byte-exact (cmp)"
touch "$TMP/go"
wait "$HOLDER" || fail "the holder failed: $(cat "$TMP/hold.out")"

step "the host sends $FLOOD forged requests (no key): n1 refuses each, and its log does not grow by a line for each"
before="$(grep -c 'refused a' "${STATE[1]}/node.log" || true)"
python3 - "$(ip_of 1)" "$PEER_PORT" "$FLOOD" >"$TMP/flood.out" 2>&1 <<'PY'
import http.client, secrets, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
codes = {}
c = http.client.HTTPConnection(host, port, timeout=10)
for i in range(n):
    h = {"X-Weir-Node": "n2", "X-Weir-Time": str(int(time.time())),
         "X-Weir-Nonce": secrets.token_hex(16), "X-Weir-Auth": "00" * 32}
    try:
        c.request("GET", "/v1/block?source=x&path=/f.bin&block=0&size=1&mtime=1&etag=e", headers=h)
        r = c.getresponse()
        r.read()
        codes[r.status] = codes.get(r.status, 0) + 1
    except (OSError, http.client.HTTPException):
        c.close()
        c = http.client.HTTPConnection(host, port, timeout=10)
print(" ".join(f"{k}:{v}" for k, v in sorted(codes.items())), flush=True)
PY
note "answers: $(cat "$TMP/flood.out")"
grep -q "^403:$FLOOD\$" "$TMP/flood.out" || fail "the $FLOOD forged requests were not all refused with 403: $(cat "$TMP/flood.out")"
after="$(grep -c 'refused a' "${STATE[1]}/node.log" || true)"
lines=$((after - before))
note "node.log grew by $lines \"refused\" lines for $FLOOD refusals"
[ "$lines" -ge 1 ] || fail "n1 logged no refusal at all"
[ "$lines" -le 60 ] || fail "n1 logged $lines lines for $FLOOD forged requests: a host without the key fills its state directory's disk"
ok "$FLOOD refused with 403; $lines log lines"
