#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# An anonymous, path-style S3 server of one bucket "bkt" whose ListObjectsV2 answers lie the ways
# no real S3 server does, one lie per top-level prefix. HEAD and ranged GET of a key are truthful.
#
# Usage: s3lies.py UNUSED PORT_FILE LOG_FILE   (127.0.0.1, a free port written to PORT_FILE; each
# request logged to LOG_FILE as "METHOD PATH?QUERY STATUS")
#   longname/  "ok.txt" next to 1,001 keys whose names are 300 bytes (more than NAME_MAX)
#   dup/       "d.txt" twice (the second with another size), across two pages, and "e.txt"
#   loop/      every page: "loop/z", IsTruncated, and the very token that asked for it
#   cycle/     tokens A -> B -> A -> ...: each page one key already listed
#   huge/      "h.bin" with a Size of 2^64 - 1
#   bigpage/   one page of 1,000,000 tiny keys (62 MB; S3 sends at most 1,000 a page)
#   both/      what a real S3 server does send too, listed with the delimiter as S3 lists it: an
#              object "a" next to "a/b" (a name both file and directory), a directory marker
#              "m/" with a body, and keys under "./", "../" and "//"
#   skipped/   150 pages of 10 keys each whose names are longer than NAME_MAX, then "ok.txt":
#              a listing that advances although no page adds a name the view can hold
#   nolen/     "n.bin": no ETag in the listing (so its version is asked with HEAD), and HEAD answers
#              with no Content-Length (GET is truthful)
#   longetag/  "t.bin" whose ETag is 200 bytes long (listing, HEAD and GET; If-Match checked)
#   short/ long/  "s.bin", "l.bin" of 5,000 bytes listed as 6,000 and 4,000 (HEAD and GET
#              truthful, one ETag for all)
#   shadow/    1,000 objects "dNNN" each next to a directory "dNNN/" (an old tool's directory
#              objects): listed as S3 lists them, with the delimiter
#   tok/       "x.bin" lists and HEADs, and its GET is refused as AWS refuses an expired session
#              token: HTTP 400, ExpiredToken
#   ctl/       what AWS sends too: keys with a byte XML 1.0 cannot carry ("a\x01b"), next to
#              "ok.txt" and "sp ace+plus%": as a character reference no parser takes, unless
#              asked with encoding-type=url (then every key URL-encoded, a space as '+')
import os
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

PORT_FILE, LOG_FILE = sys.argv[2], sys.argv[3]
LOCK = threading.Lock()
BODIES = {
    "longname/ok.txt": b"hello from ok.txt\n",
    "longname/" + "L" * 300: b"long\n",
    **{"longname/%04d%s" % (i, "L" * 296): b"long\n" for i in range(1000)},
    "dup/d.txt": b"the first d.txt\n",
    "dup/e.txt": b"e\n",
    "loop/z": b"z\n",
    "cycle/a": b"a\n",
    "cycle/b": b"b\n",
    "huge/h.bin": b"h\n",
    "longetag/t.bin": b"a tag too long to keep\n",
    "nolen/n.bin": b"a HEAD without a length\n",
    "skipped/ok.txt": b"after 1,500 skipped keys\n",
    "both/a": b"the object a\n",
    "both/a/b": b"b under a\n",
    "both/m/": b"a marker with a body\n",
    "both/m/x": b"x under m\n",
    "tok/x.bin": b"a session token that expired\n",
    **{"shadow/d%03d" % i: b"" for i in range(1000)},
    **{"shadow/d%03d/f" % i: b"f\n" for i in range(1000)},
    "short/s.bin": b"S" * 5000,
    "long/l.bin": b"L" * 5000,
    "ctl/ok.txt": b"ok next to control bytes\n",
    "ctl/a\x01b": b"a key with U+0001\n",
    "ctl/sp ace+plus%": b"space, plus and percent\n",
    "ctl/sub\x02dir/f": b"f under a directory with U+0002\n",
    "both/./dot": b"dot\n",
    "both/../up": b"up\n",
    "both//empty": b"empty component\n",
}
LONG_ETAG = '"' + "t" * 198 + '"'


def etag(key):
    return LONG_ETAG if key.startswith("longetag/") else '"e-%d"' % len(BODIES[key])
DATE = "2026-12-01T10:00:00.000Z"


def obj(key, size=None):
    body = BODIES[key]
    tag = "" if key.startswith("nolen/") else "<ETag>%s</ETag>" % escape(etag(key))
    return ("<Contents><Key>%s</Key><LastModified>%s</LastModified>%s"
            "<Size>%d</Size></Contents>" % (escape(key), DATE, tag,
                                            len(body) if size is None else size))


def page(parts, token=None, encoded=False):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name>'
            "%s%s<IsTruncated>%s</IsTruncated>%s</ListBucketResult>" % (
                "<EncodingType>url</EncodingType>" if encoded else "",
                "".join(parts), "true" if token else "false",
                "<NextContinuationToken>%s</NextContinuationToken>" % token if token else ""))


def aws_text(s, encoded):
    """A key as AWS writes it: URL-encoded (quote_plus) when asked, else XML-escaped with the
    bytes XML 1.0 has no place for as character references (which no XML 1.0 parser takes)."""
    if encoded:
        return urllib.parse.quote_plus(s, safe="/")
    return "".join("&#x%x;" % ord(c) if ord(c) < 0x20 and c not in "\t\n\r" else c
                   for c in escape(s))


def listing(prefix, token, encoded=False):
    top = prefix.split("/")[0] + "/" if prefix else ""
    if prefix == "":
        return page(["<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>" % p
                     for p in ("bigpage/", "both/", "ctl/", "cycle/", "dup/", "huge/", "long/", "longetag/", "longname/",
                               "loop/", "nolen/", "shadow/", "short/", "skipped/", "tok/")])
    if top == "ctl/":
        objs, pfx = [], []
        for k in sorted(BODIES):
            if not k.startswith(prefix):
                continue
            cut = k.find("/", len(prefix))
            if cut < 0:
                objs.append("<Contents><Key>%s</Key><LastModified>%s</LastModified><ETag>%s</ETag>"
                            "<Size>%d</Size></Contents>" % (aws_text(k, encoded), DATE,
                                                            escape(etag(k)), len(BODIES[k])))
            elif k[:cut + 1] not in pfx:
                pfx.append(k[:cut + 1])
        return page(objs + ["<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>" % aws_text(p, encoded)
                            for p in pfx], encoded=encoded)
    if top == "longname/":
        return page([obj(k) for k in sorted(BODIES) if k.startswith("longname/")])
    if top == "dup/":
        if token is None:
            return page([obj("dup/d.txt"), obj("dup/d.txt", 99999)], "p2")
        return page([obj("dup/d.txt", 12345), obj("dup/e.txt")])
    if top == "loop/":
        return page([obj("loop/z")], token or "again")
    if top == "cycle/":
        nxt = {None: "A", "A": "B", "B": "A"}[token]
        return page([obj("cycle/a" if nxt == "A" else "cycle/b")], nxt)
    if top == "bigpage/":
        return "".join(['<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult>'] +
                       ["<Contents><Key>bigpage/k%07d</Key><Size>1</Size></Contents>" % i
                        for i in range(1000000)] +
                       ["<IsTruncated>false</IsTruncated></ListBucketResult>"])
    if top in ("both/", "shadow/"):
        # as S3 does: keys under prefix, those with a "/" after it rolled up to a common prefix
        objs, pfx = [], []
        for k in sorted(BODIES):
            if not k.startswith(prefix):
                continue
            cut = k.find("/", len(prefix))
            if cut < 0:
                objs.append(obj(k))
            elif k[:cut + 1] not in pfx:
                pfx.append(k[:cut + 1])
        return page(objs + ["<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>" % escape(p)
                            for p in pfx])
    if top == "skipped/":
        k = int(token[1:]) if token else 0
        if k == 150:
            return page([obj("skipped/ok.txt")])
        return page(["<Contents><Key>skipped/%04d%s</Key><Size>1</Size></Contents>" % (k * 10 + i, "S" * 296)
                     for i in range(10)], "s%d" % (k + 1))
    if top == "tok/":
        return page([obj("tok/x.bin")])
    if top == "short/":
        return page([obj("short/s.bin", 6000)])
    if top == "long/":
        return page([obj("long/l.bin", 4000)])
    if top == "longetag/":
        return page([obj("longetag/t.bin")])
    if top == "nolen/":
        return page([obj("nolen/n.bin")])
    if top == "huge/":
        return page([obj("huge/h.bin", 2**64 - 1)])
    return page([])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms ACK wait

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body=b"", ctype="application/xml", extra=()):
        with LOCK, open(LOG_FILE, "a") as f:
            f.write("%s %s %d\n" % (self.command, self.path, status))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        if not (self.command == "HEAD" and self.path.startswith("/bkt/nolen/")):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_one(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        path = urllib.parse.unquote(u.path)
        if path in ("/bkt", "/bkt/") and "list-type" in q:
            tok = q.get("continuation-token", [None])[0]
            enc = q.get("encoding-type", [""])[0] == "url"
            return self.answer(200, listing(q.get("prefix", [""])[0], tok, enc).encode())
        key = path[len("/bkt/"):] if path.startswith("/bkt/") else None
        if key not in BODIES:
            return self.answer(404, b"<Error><Code>NoSuchKey</Code></Error>")
        body = BODIES[key]
        if key.startswith("tok/") and self.command == "GET":
            return self.answer(400, b"<Error><Code>ExpiredToken</Code><Message>The provided token "
                               b"has expired.</Message></Error>")
        im = self.headers.get("If-Match")
        if im is not None and im != etag(key):
            return self.answer(412, b"<Error><Code>PreconditionFailed</Code></Error>")
        hdrs = [("ETag", etag(key)), ("Last-Modified", "Tue, 01 Dec 2026 10:00:00 GMT"),
                ("Accept-Ranges", "bytes")]
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and self.command == "GET":
            a, _, b = rng[6:].partition("-")
            a = int(a)
            b = min(int(b) if b else len(body) - 1, len(body) - 1)
            if a >= len(body):
                return self.answer(416, b"", extra=[("Content-Range", "bytes */%d" % len(body))])
            hdrs.append(("Content-Range", "bytes %d-%d/%d" % (a, b, len(body))))
            return self.answer(206, body[a:b + 1], "application/octet-stream", hdrs)
        return self.answer(200, body, "application/octet-stream", hdrs)

    do_GET = handle_one
    do_HEAD = handle_one


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
