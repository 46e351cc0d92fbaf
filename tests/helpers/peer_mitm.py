#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# A man in the middle between weir-nodes: forwards each block request to a real peer and passes
# its answer back with one byte of the body flipped, as a faulty link or a lying relay would.
# With --fix-xxh3 it also rewrites X-Weir-Xxh3 to the spoiled body's XXH3 (libxxhash through
# ctypes), as a relay that knows the checksum would, so that only the reply's MAC over the body
# can catch it. With --pass it changes nothing: a member's address that leads to another node
# (a Lease or peers list pointing a member at a relay). Prints "mitm: listening" once it listens
# and one line per block it spoiled ("mitm: flipped ...") or, with --pass, per request it passed
# ("mitm: passed STATUS PATH"). With --trickle BPS it changes no byte but sends each 200's body
# at BPS bytes a second (a slow or overloaded member, just fast enough for a low-speed limit),
# printing "mitm: asked TIME PATH" when the request comes, "mitm: trickle start TIME PATH" as the
# body begins (TIME: CLOCK_MONOTONIC seconds) and "mitm: trickle end PATH" when the body is out
# or the asker hung up.
#   peer_mitm.py LISTEN_HOST LISTEN_PORT UPSTREAM_URL [--fix-xxh3 | --pass | --trickle BPS]
import ctypes
import http.server
import socketserver
import sys
import time
import urllib.error
import urllib.request

host, port, upstream = sys.argv[1], int(sys.argv[2]), sys.argv[3].rstrip("/")
FIX = "--fix-xxh3" in sys.argv[4:]
PASS_ONLY = "--pass" in sys.argv[4:]
TRICKLE = int(sys.argv[sys.argv.index("--trickle") + 1]) if "--trickle" in sys.argv else 0
PASS = ("X-Weir-Node", "X-Weir-Time", "X-Weir-Nonce", "X-Weir-Auth", "X-Weir-Reply-Mac", "X-Weir-Id-Sig")
if FIX:
    xxh = ctypes.CDLL("libxxhash.so.0")
    xxh.XXH3_64bits.restype = ctypes.c_uint64
    xxh.XXH3_64bits.argtypes = (ctypes.c_char_p, ctypes.c_size_t)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if TRICKLE:
            print(f"mitm: asked {time.monotonic():.3f} {self.path}", flush=True)
        req = urllib.request.Request(upstream + self.path,
                                     headers={h: self.headers[h] for h in PASS if self.headers[h]})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, headers, body = r.status, r.getheaders(), bytearray(r.read())
        except urllib.error.HTTPError as e:
            status, headers, body = e.code, e.headers.items(), bytearray(e.read())
        except Exception as e:  # said, not a silent hang-up: the asker counts a failed peer
            print(f"mitm: upstream failed {e!r} {self.path}", flush=True)
            status, headers, body = 502, [], bytearray()
        fixed = None
        if TRICKLE:
            pass
        elif PASS_ONLY:
            print(f"mitm: passed {status} {self.path}", flush=True)
        elif status == 200 and body:
            body[len(body) // 2] ^= 0x01
            if FIX:
                fixed = "%016x" % xxh.XXH3_64bits(bytes(body), len(body))
            print(f"mitm: flipped a byte of {self.path[:80]}"
                  f"{' and wrote its XXH3 ' + fixed if fixed else ''}", flush=True)
        self.send_response(status)
        for k, v in headers:
            if k.lower() == "x-weir-xxh3" and fixed:
                v = fixed
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "date",
                                 "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not (TRICKLE and status == 200):
            self.wfile.write(body)
            return
        print(f"mitm: trickle start {time.monotonic():.3f} {self.path}", flush=True)
        step = max(1, TRICKLE // 4)
        try:
            for off in range(0, len(body), step):
                self.wfile.write(body[off:off + step])
                time.sleep(0.25)
        except OSError:
            pass
        print(f"mitm: trickle end {self.path}", flush=True)
        self.close_connection = True

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # a node's many requests at once: a SYN dropped would cost 1-3 s


srv = Server((host, port), Handler)
print("mitm: listening", flush=True)
srv.serve_forever()
