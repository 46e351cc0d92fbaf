#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# A reader for the crash test: opens every file it is given (view path and source path) before
# reading any, keeps the descriptors open the whole time, reads each in 1 MiB chunks and compares
# every chunk with the source. Prints one JSON line: files, bytes, errors (with the first one's
# message) and wrong (chunks that differ). Exit 0 whatever it found: the caller counts.
import json
import os
import sys
import time

CHUNK = 1 << 20


def main():
    pairs = [a.split("\t", 1) for a in sys.stdin.read().splitlines() if a]
    out = {"files": len(pairs), "bytes": 0, "errors": 0, "wrong": 0, "first_error": ""}
    fds = []
    for view, src in pairs:
        try:
            fds.append((os.open(view, os.O_RDONLY), open(src, "rb"), view))
        except OSError as e:
            out["errors"] += 1
            out["first_error"] = out["first_error"] or f"open {view}: {e}"
    for fd, src, view in fds:
        off = 0
        while True:
            try:
                b = os.pread(fd, CHUNK, off)
            except OSError as e:
                out["errors"] += 1
                out["first_error"] = out["first_error"] or f"read {view} at {off}: {e}"
                break
            want = src.read(CHUNK)
            if b != want:
                out["wrong"] += 1
                out["first_error"] = out["first_error"] or (
                    f"{view} at {off}: {len(b)} bytes differ from the source's {len(want)}")
                break
            if not b:
                break
            off += len(b)
            out["bytes"] += len(b)
        os.close(fd)
        src.close()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
