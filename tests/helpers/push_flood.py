#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Many slow pushes at once to a weir-node's peer port (PUT /v1/block, daemon/peer_auth.h): AUTH
# connections signed with the key and UNAUTH ones with a MAC of zeros, each sending its headers
# and the first KiB of the block's bytes, then holding until the file GO exists (the test
# measures weir-node's heap meanwhile), then sending the rest and reading the answer. Prints
# "held N" once every connection has sent its first KiB, then one JSON line: the count of each
# status per kind and how many 503s carried Retry-After. TO is the member the pushes are addressed
# to (the node at HOST).
#   push_flood.py HOST PORT KEYFILE NODE TO SOURCE PATH BLOCK SIZE MTIME ETAG BLOCKFILE AUTH UNAUTH GO
import hashlib
import hmac
import json
import os
import secrets
import socket
import sys
import time
import urllib.parse

(host, port, keyfile, node, to, source, path, block, size, mtime, etag, blockfile, n_auth,
 n_unauth, go) = sys.argv[1:16]
key = open(keyfile, "rb").read().rstrip(b"\n")
body = open(blockfile, "rb").read()
digest = hashlib.sha256(body).hexdigest()
q = urllib.parse.urlencode({"source": source, "path": path, "block": block, "size": size,
                            "mtime": mtime, "etag": etag})


# signed as the node it claims, as a member's are (X-Weir-Id-Sig, peer_request.py), when
# $WEIR_ID_KEY_DIR holds NODE.key
id_key = None
if os.environ.get("WEIR_ID_KEY_DIR"):
    cand = os.path.join(os.environ["WEIR_ID_KEY_DIR"], node + ".key")
    if os.path.exists(cand):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        id_key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(open(cand).read().strip()))


def open_push(signed):
    t = int(time.time())
    nonce = secrets.token_hex(16)
    text = "\n".join(["weir-peer-request-v4", "PUT", "/v1/block", node, to, str(t), nonce, source,
                      path, block, size, mtime, etag, digest])
    mac = hmac.new(key, text.encode(), hashlib.sha256).hexdigest() if signed else "0" * 64
    idsig = ""
    if id_key:
        idsig = "X-Weir-Id-Sig: " + id_key.sign(b"weir-peer-request-id-v1\n" + mac.encode()).hex() + "\r\n"
    s = socket.create_connection((host, int(port)), timeout=60)
    head = (f"PUT /v1/block?{q} HTTP/1.1\r\nHost: {host}\r\nX-Weir-Node: {node}\r\n{idsig}"
            f"X-Weir-Time: {t}\r\nX-Weir-Nonce: {nonce}\r\nX-Weir-Auth: {mac}\r\nX-Weir-Body-Sha256: {digest}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n\r\n")
    s.sendall(head.encode() + body[:1024])
    return s


def answer(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        got = s.recv(65536)
        if not got:
            return "closed", False
        buf += got
    head = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = head[0].split(" ")[1]
    retry = any(h.lower().startswith("retry-after:") for h in head[1:])
    return status, retry


conns = [("auth", open_push(True)) for _ in range(int(n_auth))]
conns += [("unauth", open_push(False)) for _ in range(int(n_unauth))]
print(f"held {len(conns)}", flush=True)
while not os.path.exists(go):
    time.sleep(0.1)
out = {"auth": {}, "unauth": {}, "retry_after_503": 0}
for kind, s in conns:
    try:
        s.sendall(body[1024:])
        status, retry = answer(s)
    except OSError as e:
        status, retry = "error:" + e.__class__.__name__, False
    s.close()
    out[kind][status] = out[kind].get(status, 0) + 1
    if status == "503" and retry:
        out["retry_after_503"] += 1
print(json.dumps(out, sort_keys=True), flush=True)
