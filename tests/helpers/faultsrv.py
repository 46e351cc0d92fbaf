#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# A fault-injecting HTTP file server for weir's tests: serves ROOT like nginx (autoindex JSON
# listings, Range, ETag, Last-Modified, If-Match / If-Unmodified-Since -> 412) and lies on demand.
#
# Usage: faultsrv.py ROOT PORT_FILE LOG_FILE
#   Listens on 127.0.0.1 (a free port, written to PORT_FILE once it accepts). Each request is
#   logged to LOG_FILE as: METHOD PATH STATUS range=R if-match=M if-unmodified-since=U
#   Files are read from disk per request: replace or truncate them under ROOT to change them.
# Control: POST /__ctl__ with a JSON object merged into the knobs:
#   "listing_size": {"/dir/name": N}   the listing says N bytes (HEAD and GET stay truthful);
#                                      N null: the listing gives no size
#   "listing_extra": {"/dir/": [E, ...]}  JSON entries appended as they are to the listing of /dir/
#   "no_etag": true                    no ETag at all (validators: Last-Modified and size)
#   "ignore_preconditions": true       never answer 412 (a server that does not check)
#   "truncate_body": {"/path": N}      responses of /path stop after N body bytes, then close
#   "stall": ["/prefix/", ...]         requests whose path starts with a prefix hang (at most 60 s)
#                                      until the knob no longer lists it; each is logged on
#                                      arrival as: STALL METHOD PATH
#   "status": {"/prefix/": CODE}       requests under the prefix are answered CODE, no body
#   "fail_range": {"/path@N": [S, K]}  the next K range GETs of /path whose range holds byte N are
#                                      answered status S (K -1: all of them); others are served
#   "ignore_range": ["/path", ...]     GETs of /path are answered 200 with the whole object, Range
#                                      or not (a server that does not do ranges)
#   "max_range": {"/path": N}          a range GET of /path is answered with its first N bytes at
#                                      most: a whole 206 whose Content-Range names fewer bytes
#                                      than asked (a server that caps its ranges)
#   "head_no_length": ["/path", ...]   HEADs of /path are answered without Content-Length (and the
#                                      connection closed): a dynamic server's
#   "redirect": {"/path": "LOCATION"}  requests of /path are answered 302 to LOCATION
import email.utils
import json
import os
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.realpath(sys.argv[1])
PORT_FILE = sys.argv[2]
LOG_FILE = sys.argv[3]
KNOBS = {"listing_size": {}, "no_etag": False, "ignore_preconditions": False,
         "truncate_body": {}, "stall": [], "status": {}, "fail_range": {}, "ignore_range": [],
         "max_range": {}, "head_no_length": [], "redirect": {}, "listing_extra": {}}
LOCK = threading.Lock()


def etag_of(st):
    # like nginx ("mtime-size" in hex), plus the inode and nanoseconds: a same-size
    # replacement within one second is a new version too
    return '"%x-%x-%x"' % (st.st_mtime_ns, st.st_size, st.st_ino)


def http_date(t):
    return email.utils.formatdate(t, usegmt=True)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def log_request_line(self, status):
        with LOCK, open(LOG_FILE, "a") as f:
            f.write("%s %s %d range=%s if-match=%s if-unmodified-since=%s\n" % (
                self.command, self.path, status, self.headers.get("Range", "-"),
                self.headers.get("If-Match", "-"),
                (self.headers.get("If-Unmodified-Since") or "-").replace(" ", "_")))

    def send_simple(self, status, body=b"", headers=None):
        self.log_request_line(status)
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_POST(self):
        if self.path != "/__ctl__":
            return self.send_simple(405)
        n = int(self.headers.get("Content-Length", "0"))
        upd = json.loads(self.rfile.read(n) or b"{}")
        with LOCK:
            KNOBS.update(upd)
        self.send_simple(200, b"ok\n")

    def do_HEAD(self):
        self.do_GET()

    def stalled(self, path):
        with LOCK:
            return any(path.startswith(p) for p in KNOBS["stall"])

    def stall(self, path):
        if not self.stalled(path):
            return
        with LOCK, open(LOG_FILE, "a") as f:
            f.write("STALL %s %s\n" % (self.command, self.path))
        deadline = time.monotonic() + 60
        while self.stalled(path) and time.monotonic() < deadline:
            time.sleep(0.05)

    def do_GET(self):
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        self.stall(path)
        with LOCK:
            forced = [c for p, c in KNOBS["status"].items() if path.startswith(p)]
        if forced:
            return self.send_simple(int(forced[0]))
        with LOCK:
            to = KNOBS["redirect"].get(path)
        if to:
            return self.send_simple(302, b"moved\n", {"Location": to})
        local = os.path.realpath(os.path.join(ROOT, path.lstrip("/")))
        if local != ROOT and not local.startswith(ROOT + "/"):
            return self.send_simple(403)
        if os.path.isdir(local):
            if not path.endswith("/"):
                return self.send_simple(301, headers={"Location": path + "/"})
            return self.listing(path, local)
        try:
            f = open(local, "rb")
        except OSError:
            return self.send_simple(404)
        with f:
            self.file(path, f)

    def listing(self, path, local):
        with LOCK:
            lie = dict(KNOBS["listing_size"])
            extra = list(KNOBS["listing_extra"].get(path, []))
        ents = []
        for name in sorted(os.listdir(local)):
            st = os.stat(os.path.join(local, name))
            e = {"name": name, "mtime": http_date(st.st_mtime)}
            if os.path.isdir(os.path.join(local, name)):
                e["type"] = "directory"
            else:
                e["type"] = "file"
                size = lie.get(path + name, st.st_size)
                if size is not None:
                    e["size"] = size
            ents.append(e)
        body = json.dumps(ents + extra).encode()
        self.send_simple(200, body, {"Content-Type": "application/json"})

    def file(self, path, f):
        st = os.fstat(f.fileno())
        size = st.st_size
        with LOCK:
            no_etag = KNOBS["no_etag"]
            check = not KNOBS["ignore_preconditions"]
            cut = KNOBS["truncate_body"].get(path)
        etag = etag_of(st)
        hdrs = {"Last-Modified": http_date(st.st_mtime), "Accept-Ranges": "bytes",
                "Content-Type": "application/octet-stream"}
        if not no_etag:
            hdrs["ETag"] = etag
        if check:
            im = self.headers.get("If-Match")
            if im is not None and im.strip() != "*" and (
                    no_etag or etag not in [t.strip() for t in im.split(",")]):
                return self.send_simple(412, headers=hdrs)
            ius = self.headers.get("If-Unmodified-Since")
            if im is None and ius is not None:
                t = email.utils.parsedate_to_datetime(ius).timestamp()
                if int(st.st_mtime) > t:
                    return self.send_simple(412, headers=hdrs)
        status, first, last = 200, 0, size - 1
        rng = self.headers.get("Range")
        with LOCK:
            if path in KNOBS["ignore_range"]:
                rng = None
            cap = KNOBS["max_range"].get(path)
        if rng:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if m and (m.group(1) or m.group(2)):
                if m.group(1):
                    first = int(m.group(1))
                    last = int(m.group(2)) if m.group(2) else size - 1
                else:
                    first, last = max(0, size - int(m.group(2))), size - 1
                last = min(last, size - 1)
                if cap:
                    last = min(last, first + cap - 1)
                if first >= size or first > last:
                    hdrs["Content-Range"] = "bytes */%d" % size
                    return self.send_simple(416, headers=hdrs)
                status = 206
                hdrs["Content-Range"] = "bytes %d-%d/%d" % (first, last, size)
        if status == 206 and self.command == "GET":
            with LOCK:
                # weir merges consecutive parts into one request: a fault is a byte, and hits
                # any range that holds it
                fault = None
                for key, knob in KNOBS["fail_range"].items():
                    kpath, _, at = key.rpartition("@")
                    if kpath == path and first <= int(at) <= last and knob[1] != 0:
                        knob[1] -= 1 if knob[1] > 0 else 0
                        fault = knob
                        break
            if fault:
                return self.send_simple(fault[0], b"injected fault\n")
        length = last - first + 1 if size else 0
        self.log_request_line(status)
        self.send_response(status)
        for k, v in hdrs.items():
            self.send_header(k, v)
        with LOCK:
            hide = self.command == "HEAD" and path in KNOBS["head_no_length"]
        if hide:
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD":
            return
        f.seek(first)
        left = length if cut is None else min(length, max(0, cut - first))
        while left > 0:
            chunk = f.read(min(left, 1 << 16))
            if not chunk:
                break
            self.wfile.write(chunk)
            left -= len(chunk)
        if cut is not None:
            self.close_connection = True


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(PORT_FILE + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(PORT_FILE + ".tmp", PORT_FILE)
    srv.serve_forever()


if __name__ == "__main__":
    main()
