# SPDX-License-Identifier: Apache-2.0
# hold_conns.py PORT N SECONDS [http] (run as an unprivileged user, script on stdin): an attacker
# holding N idle TCP connections to 127.0.0.1:PORT, from 127.0.0.1..9 in turn (with "http": every
# other one with half a request line; else nothing sent, as before a TLS handshake). Prints "held" once all are open; for SECONDS opens again whatever the server
# closes; then waits (30 s at most) for the server to close every one, prints "still open: K"
# and exits 1 if any stayed open.
# With "dribble" instead (slowloris): each sends a request line, then one byte of a header that
# never ends every 1.5 s (never silent for the server's timeout), for SECONDS, opening nothing
# again; then prints "closed: K", how many the server closed, and exits 0. "dribble-tls": the same
# with the header of a TLS record of 16 KiB that never ends, for a TLS listener.
import resource, selectors, socket, sys, time
port, n, press = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
http = sys.argv[4:] == ["http"]
dribble = sys.argv[4:5] in (["dribble"], ["dribble-tls"])
start = b"\x16\x03\x01\x3f\xff" if sys.argv[4:] == ["dribble-tls"] else b"GET /metrics HTTP/1.1\r\nX-"
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
sel = selectors.DefaultSelector()  # epoll: select() takes no descriptor past 1023
def conn(i):
    s = socket.create_connection(("127.0.0.1", port), timeout=5,
                                 source_address=("127.0.0.%d" % (1 + i % 9), 0))
    if http and i % 2:
        s.sendall(b"GET /metrics HTTP/1.1\r\n")  # a request never finished
    sel.register(s, selectors.EVENT_READ)
    return s
socks = {conn(i): i for i in range(n)}
print("held", flush=True)  # stdout: a file the root shell opened
if dribble:
    end, closed = time.monotonic() + press, 0
    for s in socks:
        s.settimeout(None)  # blocking: MSG_DONTWAIT below then polls nothing
        s.sendall(start)
    while time.monotonic() < end:
        time.sleep(1.5)
        for s in list(socks):
            try:
                s.sendall(b"a")
                if s.recv(1, socket.MSG_DONTWAIT) == b"":
                    raise ConnectionResetError
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
                socks.pop(s)
                s.close()
    print("closed:", closed, flush=True)
    sys.exit(0)
press += time.monotonic()  # keep up the pressure this long
deadline = press + 30  # a bound for a hung test, not a speed check
while socks and time.monotonic() < deadline:
    for key, _ in sel.select(1):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
        if not data:
            i = socks.pop(s)
            sel.unregister(s)
            s.close()
            if time.monotonic() < press:
                time.sleep(0.005)
                try:
                    socks[conn(i)] = i
                except OSError:
                    pass
print("still open:", len(socks))
sys.exit(1 if socks else 0)
