#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# A TCP proxy in front of an S3 server that fails some requests the way S3 does under load: every
# EVERY-th new connection gets its first request answered "503 SlowDown" (S3's XML body) or, every
# other time, is reset without an answer. Other connections pass through untouched (the Host line
# and the signature stay valid: the client signed for the proxy's address).
# Usage: s3faults.py LISTEN_PORT UPSTREAM_PORT EVERY COUNT_FILE   (both on 127.0.0.1)
# COUNT_FILE holds "slowdowns resets" after each injected fault.
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from throttle import pipe  # noqa: E402  (the same byte pump, with no rate)

LISTEN, UPSTREAM, EVERY, COUNT_FILE = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
state = {"conns": 0, "slowdown": 0, "reset": 0}
BODY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
        b'<Message>Please reduce your request rate.</Message></Error>')


def record():
    with open(COUNT_FILE, "w") as f:
        f.write("%d %d\n" % (state["slowdown"], state["reset"]))


async def handle(creader, cwriter):
    state["conns"] += 1
    n = state["conns"]
    try:
        head = await creader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        cwriter.close()
        return
    if n % EVERY == 0:
        if (n // EVERY) % 2:
            state["slowdown"] += 1
            record()
            cwriter.write(b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
                          b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(BODY) + BODY)
            await cwriter.drain()
        else:
            state["reset"] += 1
            record()
            cwriter.transport.abort()
            return
        cwriter.close()
        return
    try:
        ureader, uwriter = await asyncio.open_connection("127.0.0.1", UPSTREAM)
    except OSError:
        cwriter.close()
        return
    uwriter.write(head)
    await asyncio.gather(pipe(creader, uwriter, 0), pipe(ureader, cwriter, 0))


async def main():
    record()
    server = await asyncio.start_server(handle, "127.0.0.1", LISTEN)
    async with server:
        await server.serve_forever()

asyncio.run(main())
