#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# A TCP proxy that caps each connection's download at RATE bytes/s with no burst (nginx's
# limit_rate grants every request a one-second burst, so short range requests escape it).
# Usage: throttle.py LISTEN_PORT UPSTREAM_PORT RATE_BYTES_PER_S [LISTEN_HOST [UPSTREAM_HOST]]
#   (it listens on 127.0.0.1 unless LISTEN_HOST says where, e.g. a test's bridge; the upstream is
#   on 127.0.0.1 unless UPSTREAM_HOST says where)
# THROTTLE_WORKERS=N runs N processes on the port (SO_REUSEPORT), so that the proxy's own CPU is
# not what caps many connections on a loaded machine; each dies with the first.
# SIGUSR1 lifts the cap, on open connections too (a test that has seen what it needed the slow
# transfer for need not wait for the rest of it).
# THROTTLE_CHUNK=BYTES: the most it reads and paces at once (default 32 KiB). Python's cost is per
# chunk: a benchmark whose client also needs the CPU uses larger ones, so that the link's own CPU
# is not what limits the side that uses more of it.
# THROTTLE_PACE=1: the kernel caps each connection instead (SO_MAX_PACING_RATE on the socket
# toward the client: TCP's own pacing, no burst) and the bytes go through by splice(2), never
# through Python: the proxy's CPU no longer grows with the bytes passed, so one node and three
# meet the same link (bench/cluster.sh). One process, two threads per connection.
import asyncio
import fcntl
import os
import signal
import socket
import sys
import threading
import time

CHUNK = int(os.environ.get("THROTTLE_CHUNK", 32 * 1024))
# the cap in bytes/s per connection, 0 for none; main sets it, SIGUSR1 sets it to 0
limit = [0.0]


async def pipe(reader, writer, capped):
    nxt = time.monotonic()
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            rate = limit[0] if capped else 0
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


async def orphan_watch(parent):
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
    os._exit(0)


async def main(reuse=False, parent=None, quiet=False):
    listen, upstream, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    limit[0] = rate
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, lambda: limit.__setitem__(0, 0.0))
    host = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1"
    uhost = sys.argv[5] if len(sys.argv) > 5 else "127.0.0.1"

    async def handle(creader, cwriter):
        try:
            ureader, uwriter = await asyncio.open_connection(uhost, upstream)
        except OSError:
            cwriter.close()
            return
        await asyncio.gather(pipe(creader, uwriter, False), pipe(ureader, cwriter, True))

    server = await asyncio.start_server(handle, host, listen, reuse_port=reuse or None)
    if parent:
        asyncio.ensure_future(orphan_watch(parent))
    if not quiet:
        print(f"throttle: {host}:{listen} -> {uhost}:{upstream} at {rate:.0f} B/s per connection",
              flush=True)
    async with server:
        await server.serve_forever()


def workers(n):
    parent, kids = os.getpid(), []

    def tell(sig):  # every worker still there
        for k in kids:
            try:
                os.kill(k, sig)
            except OSError:
                pass

    def stop(*_):
        tell(signal.SIGTERM)
        os._exit(0)

    def lift(*_):
        tell(signal.SIGUSR1)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR1, lift)
    for i in range(n):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            asyncio.run(main(True, parent, quiet=i > 0))
            os._exit(0)
        kids.append(pid)
    os.wait()  # one worker gone: the proxy is broken, stop the others
    stop()


SO_MAX_PACING_RATE = getattr(socket, "SO_MAX_PACING_RATE", 47)
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
SPLICE_MAX = 1 << 20


def set_pace(sock, rate):
    # bytes/s; ~0 (unsigned) is no cap. The kernel takes a u32 or a u64.
    val = int(rate) if rate else (1 << 64) - 1
    sock.setsockopt(socket.SOL_SOCKET, SO_MAX_PACING_RATE, val.to_bytes(8, sys.byteorder))


def relay(src, dst):
    """Moves src's bytes to dst through a pipe (splice: no copy into Python) until EOF."""
    r, w = os.pipe()
    try:
        try:
            fcntl.fcntl(w, F_SETPIPE_SZ, SPLICE_MAX)
        except OSError:
            pass  # a smaller pipe only means more calls
        while True:
            n = os.splice(src.fileno(), w, SPLICE_MAX)
            if n == 0:
                break
            while n:
                n -= os.splice(r, dst.fileno(), n)
    except OSError:
        pass
    finally:
        os.close(r)
        os.close(w)
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def paced():
    listen, upstream, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    host = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1"
    uhost = sys.argv[5] if len(sys.argv) > 5 else "127.0.0.1"
    lock = threading.Lock()
    live = set()  # client sockets open now, under lock: SIGUSR1 lifts their cap
    cap = [rate]  # under lock

    def lift(*_):
        with lock:
            cap[0] = 0
            for c in live:
                try:
                    set_pace(c, 0)
                except OSError:
                    pass

    def serve(c):
        try:
            u = socket.create_connection((uhost, upstream))
        except OSError:
            c.close()
            return
        with lock:
            set_pace(c, cap[0])
            live.add(c)
        up = threading.Thread(target=relay, args=(c, u), daemon=True)
        up.start()
        relay(u, c)
        up.join()
        with lock:
            live.discard(c)
        c.close()
        u.close()

    signal.signal(signal.SIGUSR1, lift)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, listen))
    srv.listen(256)
    print(f"throttle: {host}:{listen} -> {uhost}:{upstream} at {rate:.0f} B/s per connection "
          "(kernel pacing)", flush=True)
    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    n = int(os.environ.get("THROTTLE_WORKERS", "1"))
    if os.environ.get("THROTTLE_PACE") == "1":
        paced()
    elif n > 1:
        workers(n)
    else:
        asyncio.run(main())
