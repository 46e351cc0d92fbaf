#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Sends one block request to a weir-node's peer port as a peer would (daemon/peer_auth.h), or a
# hostile variant of it, and prints the HTTP status (and, with --out, saves the body). With
# --load it POSTs the same signed fields to /v1/load (a DataLoad share request: PATH is the spec
# or "", BLOCK the load id, SIZE the op: 1 start, 2 status, 3 cancel; MTIME 0, ETAG weir-load).
# With --push FILE it PUTs FILE's bytes to /v1/block as a node that fetched the block for its
# owner does: their SHA-256 in X-Weir-Body-Sha256, among the signed fields; --flip changes a
# byte after signing. The MAC covers the method and endpoint; --sign-as METHOD signs for
# another method than the one sent (a captured GET replayed as a PUT). A signed answer's MAC
# (daemon/peer_auth.h: Poly1305 under a one-time key from the key, our request's MAC and the
# reply's nonce, over status, length, XXH3 and body) is checked with python3-cryptography, an
# implementation of its own: a 200 whose MAC fails (or that has none) prints "bad-mac".
# Without --reply-mac it is a requester of an older build, which knows reply MAC v2 only; with
# --reply-mac v3 it asks for v3 (X-Weir-Reply-Mac: v3) and checks the reply is tagged v3: a
# Poly1305 tag under a one-time key over status, length, XXH3 and the body's Poly1305 hash under
# the body key (daemon/peer_auth.h).
# It is signed, as a member's are, by the identity of the node it claims to be (X-Weir-Id-Sig:
# Ed25519 over "weir-peer-request-id-v1\n" and the MAC, lib/node_id.h) when $WEIR_ID_KEY_DIR
# holds NODE.key (tests/helpers/cluster.sh makes them), or by the key file --id-key names (another
# node's: a holder of the cluster key claiming a member's name); --no-id sends none.
# The request is signed for the member --to names (the node at URL, or another one: a request
# addressed to one member and sent to another, as a relay at a member's address would).
#   peer_request.py URL KEYFILE NODE SOURCE PATH BLOCK SIZE MTIME ETAG --to NODE [--skew S] [--mac HEX]
#                   [--out FILE] [--load] [--push FILE [--flip]] [--sign-as METHOD] [--twice]
#                   [--reply-mac v3] [--id-key FILE | --no-id]
import argparse
import os
import hashlib
import hmac
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.poly1305 import Poly1305

ap = argparse.ArgumentParser()
for a in ("url", "keyfile", "node", "source", "path", "block", "size", "mtime", "etag"):
    ap.add_argument(a)
ap.add_argument("--to", required=True, help="the member name the request is addressed to")
ap.add_argument("--skew", type=int, default=0, help="seconds added to our clock")
ap.add_argument("--mac", help="send this MAC instead of the right one")
ap.add_argument("--out")
ap.add_argument("--load", action="store_true", help="POST /v1/load instead of GET /v1/block")
ap.add_argument("--push", help="PUT this file's bytes as the block")
ap.add_argument("--flip", action="store_true", help="with --push: spoil a byte after signing")
ap.add_argument("--sign-as", help="sign for this method instead of the one sent")
ap.add_argument("--twice", action="store_true",
                help="send the same signed request twice; print reply-nonce-reused if both "
                     "replies carry the same reply nonce")
ap.add_argument("--reply-mac", choices=("v3",), help="ask for (and demand) reply MAC v3")
ap.add_argument("--id-key", help="sign X-Weir-Id-Sig with this identity key file")
ap.add_argument("--no-id", action="store_true", help="send no X-Weir-Id-Sig")
a = ap.parse_args()
id_key = a.id_key
if not id_key and not a.no_id and os.environ.get("WEIR_ID_KEY_DIR"):
    cand = os.path.join(os.environ["WEIR_ID_KEY_DIR"], a.node + ".key")
    id_key = cand if os.path.exists(cand) else None

key = open(a.keyfile, "rb").read()
if key.endswith(b"\n"):
    key = key[:-1]
t = int(time.time()) + a.skew
method = "PUT" if a.push else "POST" if a.load else "GET"
endpoint = "/v1/load" if a.load else "/v1/block"
data = b"" if a.load else None
digest = ""
if a.push:
    data = bytearray(open(a.push, "rb").read())
    digest = hashlib.sha256(data).hexdigest()
signed = a.sign_as or method
nonce = secrets.token_hex(16)  # fresh per request: the reply's MAC is bound to it
text = "\n".join(["weir-peer-request-v4", signed, endpoint, a.node, a.to, str(t), nonce, a.source,
                  a.path, a.block, a.size, a.mtime, a.etag, digest if signed == "PUT" else ""])
mac = a.mac or hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
q = urllib.parse.urlencode({"source": a.source, "path": a.path, "block": a.block,
                            "size": a.size, "mtime": a.mtime, "etag": a.etag})
headers = {"X-Weir-Node": a.node, "X-Weir-Time": str(t), "X-Weir-Nonce": nonce,
           "X-Weir-Auth": mac}
if a.reply_mac:
    headers["X-Weir-Reply-Mac"] = a.reply_mac
if id_key:
    seed = bytes.fromhex(open(id_key).read().strip())
    headers["X-Weir-Id-Sig"] = Ed25519PrivateKey.from_private_bytes(seed).sign(
        b"weir-peer-request-id-v1\n" + mac.encode()).hex()
if a.push:
    headers["X-Weir-Body-Sha256"] = digest
    headers["Content-Type"] = "application/octet-stream"
    if a.flip:
        data[len(data) // 2] ^= 0x01
    data = bytes(data)


def ask():
    req = urllib.request.Request(
        a.url.rstrip("/") + ("/v1/load?" if a.load else "/v1/block?") + q, headers=headers,
        data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read(), r.status, r.headers
    except urllib.error.HTTPError as e:
        return e.read(), e.code, e.headers


def reply_mac_ok(body, status, rh):
    nonce_r, tag, xxh3 = (rh.get("X-Weir-Reply-Nonce"), rh.get("X-Weir-Auth"),
                          rh.get("X-Weir-Xxh3"))
    if not (nonce_r and tag and xxh3):
        return False
    if a.reply_mac == "v3" and status == 200 and not a.push and not a.load:
        if rh.get("X-Weir-Reply-Mac") != "v3":
            return False
        bk = hmac.new(key, b"weir-peer-body-key-v3", hashlib.sha256).digest()
        body_hash = Poly1305.generate_tag(bk, body)
        otk = hmac.new(key, f"weir-peer-reply-key-v3\n{mac}\n{nonce_r}".encode(),
                       hashlib.sha256).digest()
        try:
            Poly1305.verify_tag(otk, f"weir-peer-reply-v3\n{status}\n{len(body)}\n{xxh3}\n"
                                .encode() + body_hash, bytes.fromhex(tag))
            return True
        except Exception:
            return False
    if rh.get("X-Weir-Reply-Mac"):
        return False  # a requester that asked for nothing knows nothing newer than v2
    otk = hmac.new(key, f"weir-peer-reply-key-v2\n{mac}\n{nonce_r}".encode(),
                   hashlib.sha256).digest()
    p = Poly1305(otk)
    p.update(f"weir-peer-reply-v2\n{status}\n{len(body)}\n{xxh3}\n".encode())
    p.update(body)
    try:
        p.verify(bytes.fromhex(tag))
        return True
    except Exception:
        return False


replies = [ask() for _ in range(2 if a.twice else 1)]
for body, status, rh in replies:
    if (status == 200 or rh.get("X-Weir-Auth")) and not a.mac and not a.sign_as and \
            not reply_mac_ok(body, status, rh):
        print("bad-mac")
        sys.exit(0)
if a.twice:
    # the same request twice (a relay replaying it): each reply must tag under a key of its
    # own, so the node must pick each reply's nonce afresh
    nonces = [rh.get("X-Weir-Reply-Nonce") for _, _, rh in replies]
    if None in nonces or nonces[0] == nonces[1]:
        print("reply-nonce-reused")
        sys.exit(0)
if a.out:
    open(a.out, "wb").write(body)
print(status)
