#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# A TCP proxy that caps each connection's download at RATE bytes/s with no burst (nginx's
# limit_rate grants every request a one-second burst, so short range requests escape it).
# Usage: throttle.py LISTEN_PORT UPSTREAM_PORT RATE_BYTES_PER_S   (both on 127.0.0.1)
import asyncio
import sys
import time

CHUNK = 32 * 1024


async def pipe(reader, writer, rate):
    nxt = time.monotonic()
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            if rate:
                now = time.monotonic()
                nxt = max(nxt, now)
                if nxt > now:
                    await asyncio.sleep(nxt - now)
                nxt += len(data) / rate
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main():
    listen, upstream, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])

    async def handle(creader, cwriter):
        try:
            ureader, uwriter = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            cwriter.close()
            return
        await asyncio.gather(pipe(creader, uwriter, 0), pipe(ureader, cwriter, rate))

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    print(f"throttle: 127.0.0.1:{listen} -> 127.0.0.1:{upstream} at {rate:.0f} B/s per connection",
          flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
