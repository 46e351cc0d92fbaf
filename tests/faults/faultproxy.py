#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# An HTTP/1.1 fault proxy between weir and a real UFS server (nginx, versitygw): it parses each
# request and response (keep-alive, Content-Length and chunked bodies) and, when a rule matches,
# breaks the exchange the way networks and servers do. Requests pass through unchanged otherwise
# (an S3 signature stays valid: the client signed for the proxy's address).
#
# Usage: faultproxy.py UPSTREAM_PORT PORT_FILE LOG_FILE   (all on 127.0.0.1; a free port is
#   written to PORT_FILE once it accepts). LOG_FILE gets one line per request:
#   METHOD PATH range=R -> STATUS fault=KIND
# Control (never forwarded): POST /__fault__ with {"rules": [RULE, ...]} replaces the rules;
#   GET /__fault__ answers {"hits": [n per rule], "requests": N}.
# RULE: {"fault": KIND, "match": "substring of the path" (default any), "path": "exactly this
#   path", "method": "GET",
#   "range": true (only requests with a Range header), "range_from": N (only ranges that start at
#   byte N: one part of a block), "skip": K (let the first K matches
#   through), "times": N (then stop; default for ever), plus the kind's own fields:
#   reset                   reset the connection (RST) before any answer
#   reset_body  "after": B  pass the headers and B body bytes, then reset
#   status      "status": S answer S (500, 503, ...) with a short body, keep the connection
#   delay       "seconds": T wait T s, then pass the exchange through
#   truncate    "after": B  pass the headers and B body bytes, then close (FIN): a short body
#   stall       "after": B  pass the headers and B body bytes, then send nothing, for ever
#   run         "argv": [..] run a command (say, replace the object) before forwarding: a new
#                           version appears between two range requests of one read
#   lie_total   "delta": D  add D to the total in Content-Range and to Content-Length of HEAD
#                           and of whole-object answers: sizes that disagree with the listing
#   lie_range   "delta": D  shift the first byte in Content-Range by D (the server names a
#                           range other than the one it sends)
#   no_etag                 drop the ETag of the answer (a server with Last-Modified only)
#   no_range                drop the request's Range header (not signed): the server answers
#                           200 with the whole object, as one that ignores ranges does
# Rules are tried in order and the first that matches acts; a "run" or "no_etag" rule with
# "also": true lets the next matching rule act too (a replacement seen without ETags).
import asyncio
import json
import os
import re
import socket
import struct
import sys

UPSTREAM, PORT_FILE, LOG_FILE = int(sys.argv[1]), sys.argv[2], sys.argv[3]
STATE = {"rules": [], "hits": [], "seen": [], "requests": 0}
MAX_HEAD = 64 * 1024
CHUNK = 64 * 1024


def log(line):
    with open(LOG_FILE, "a") as f:
        f.write(line + "\n")


def parse_head(raw):
    """(first line, [(name, value)]) of a request or response head."""
    lines = raw.decode("latin-1").split("\r\n")
    hdrs = []
    for ln in lines[1:]:
        if not ln:
            continue
        k, _, v = ln.partition(":")
        hdrs.append((k.strip(), v.strip()))
    return lines[0], hdrs


def hget(hdrs, name):
    for k, v in hdrs:
        if k.lower() == name:
            return v
    return None


def build_head(first, hdrs):
    return (first + "\r\n" + "".join("%s: %s\r\n" % kv for kv in hdrs) + "\r\n").encode("latin-1")


def pick(method, path, rng):
    """The live rules acting on this request (counting them): the first that matches, and
    before it those that say "also"."""
    acting = []
    for i, r in enumerate(STATE["rules"]):
        if r.get("method") and r["method"] != method:
            continue
        if r.get("match") and r["match"] not in path:
            continue
        if r.get("path") and r["path"] != path:
            continue
        if r.get("range") and rng is None:
            continue
        if "range_from" in r and not (rng or "").startswith("bytes=%d-" % r["range_from"]):
            continue
        STATE["seen"][i] += 1
        if STATE["seen"][i] <= r.get("skip", 0):
            continue
        if "times" in r and STATE["hits"][i] >= r["times"]:
            continue
        STATE["hits"][i] += 1
        acting.append(r)
        if not r.get("also"):
            break
    return acting


def reset(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


async def read_head(reader):
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise ConnectionError("head too large")
    except asyncio.IncompleteReadError as e:
        if e.partial:
            raise ConnectionError("head cut short")
        return None


class Cut(Exception):
    """The body was cut on purpose: the connection must not be reused."""


async def copy_body(reader, writer, hdrs, method, status, rule):
    """Copies one response body (as the framing says). With a cutting rule, stops after its
    'after' bytes and raises Cut once it acted."""
    kind = rule["fault"] if rule else None
    cut = rule.get("after", 0) if kind in ("truncate", "reset_body", "stall") else None
    sent = 0

    async def emit(data):
        nonlocal sent
        if cut is not None and sent + len(data) >= cut:
            writer.write(data[:cut - sent])
            await writer.drain()
            sent = cut
            raise Cut()
        writer.write(data)
        await writer.drain()
        sent += len(data)

    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        if cut is not None:
            raise Cut()
        return True
    te = (hget(hdrs, "transfer-encoding") or "").lower()
    cl = hget(hdrs, "content-length")
    if "chunked" in te:
        while True:
            line = await reader.readuntil(b"\r\n")
            await emit(line)
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:  # trailers, then the empty line
                    t = await reader.readuntil(b"\r\n")
                    await emit(t)
                    if t == b"\r\n":
                        break
                break
            left = size + 2
            while left:
                data = await reader.read(min(left, CHUNK))
                if not data:
                    raise ConnectionError("upstream closed in a chunk")
                left -= len(data)
                await emit(data)
    elif cl is not None:
        left = int(cl)
        while left:
            data = await reader.read(min(left, CHUNK))
            if not data:
                raise ConnectionError("upstream closed in a body")
            left -= len(data)
            await emit(data)
    else:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            await emit(data)
        if cut is not None:
            raise Cut()
        return False  # delimited by the close
    if cut is not None:
        raise Cut()
    return True


def lie(rule, method, status, hdrs):
    kind, d = rule["fault"], int(rule.get("delta", 0))
    out = []
    for k, v in hdrs:
        kl = k.lower()
        m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", v) if kl == "content-range" else None
        if m and kind == "lie_total":
            v = "bytes %s-%s/%d" % (m.group(1), m.group(2), int(m.group(3)) + d)
        elif m and kind == "lie_range":
            a, b = int(m.group(1)) + d, int(m.group(2)) + d
            v = "bytes %d-%d/%s" % (max(a, 0), max(b, 0), m.group(3))
        elif kl == "content-length" and kind == "lie_total" and method == "HEAD":
            v = str(int(v) + d)
        out.append((k, v))
    return out


async def control(method, body, writer):
    if method == "POST":
        rules = json.loads(body or b"{}").get("rules", [])
        STATE["rules"] = rules
        STATE["hits"] = [0] * len(rules)
        STATE["seen"] = [0] * len(rules)
        out = b"ok\n"
    else:
        out = json.dumps({"hits": STATE["hits"], "requests": STATE["requests"]}).encode()
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(out) + out)
    await writer.drain()


async def handle(creader, cwriter):
    up = None
    try:
        while True:
            raw = await read_head(creader)
            if raw is None:
                return
            first, hdrs = parse_head(raw)
            parts = first.split(" ")
            if len(parts) != 3:
                return
            method, path = parts[0], parts[1]
            n = int(hget(hdrs, "content-length") or 0)
            body = await creader.readexactly(n) if n else b""
            if path.startswith("/__fault__"):
                await control(method, body, cwriter)
                continue
            STATE["requests"] += 1
            rng = hget(hdrs, "range")
            acting = pick(method, path, rng)
            no_etag = any(r["fault"] == "no_etag" for r in acting)
            for r in acting:
                if r["fault"] == "run":
                    p = await asyncio.create_subprocess_exec(*r["argv"])
                    await p.wait()
            acting = [r for r in acting if r["fault"] not in ("run", "no_etag")]
            rule = acting[-1] if acting else None
            kind = rule["fault"] if rule else "-"
            tag = "%s %s range=%s" % (method, path, rng or "-")
            if kind == "reset":
                log(tag + " -> reset fault=reset")
                reset(cwriter)
                return
            if kind == "status":
                st = int(rule.get("status", 503))
                msg = b"injected fault\n"
                log("%s -> %d fault=status" % (tag, st))
                cwriter.write(b"HTTP/1.1 %d Injected\r\nContent-Type: text/plain\r\n"
                              b"Content-Length: %d\r\n\r\n" % (st, len(msg)) + msg)
                await cwriter.drain()
                continue
            if kind == "delay":
                await asyncio.sleep(float(rule.get("seconds", 1)))
            if kind == "no_range":
                raw = build_head(first, [(k, v) for k, v in hdrs if k.lower() != "range"])
            if up is None:
                up = await asyncio.open_connection("127.0.0.1", UPSTREAM, limit=MAX_HEAD)
            ureader, uwriter = up
            uwriter.write(raw + body)
            await uwriter.drain()
            rhead = await read_head(ureader)
            if rhead is None:
                raise ConnectionError("upstream closed before answering")
            rfirst, rhdrs = parse_head(rhead)
            status = int(rfirst.split(" ")[1])
            if kind in ("lie_total", "lie_range"):
                rhdrs = lie(rule, method, status, rhdrs)
            if no_etag:
                rhdrs = [(k, v) for k, v in rhdrs if k.lower() != "etag"]
            log("%s -> %d fault=%s" % (tag, status, kind))
            cwriter.write(build_head(rfirst, rhdrs))
            try:
                keep = await copy_body(ureader, cwriter, rhdrs, method, status, rule)
            except Cut:
                if kind == "reset_body":
                    reset(cwriter)
                elif kind == "stall":
                    # hold the connection, sending nothing, until the client gives up
                    while await creader.read(CHUNK):
                        pass
                return
            if not keep or (hget(rhdrs, "connection") or "").lower() == "close":
                return
    except (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        return
    finally:
        if up is not None:
            up[1].close()
        if not cwriter.transport.is_closing():
            cwriter.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=MAX_HEAD)
    port = server.sockets[0].getsockname()[1]
    with open(PORT_FILE + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(PORT_FILE + ".tmp", PORT_FILE)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
