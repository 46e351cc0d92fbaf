#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# slow_copy.py SRC DST PAUSE: copies the tree SRC to DST (files in sorted order within each
# directory) 256 KiB at a time, sleeping PAUSE seconds after each piece, so a reader is still
# reading when a test kills a node under it.
import os
import sys
import time

src, dst, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])
for root, dirs, files in os.walk(src):
    for name in sorted(files):
        p = os.path.join(root, name)
        q = os.path.join(dst, os.path.relpath(p, src))
        os.makedirs(os.path.dirname(q), exist_ok=True)
        with open(p, "rb") as f, open(q, "wb") as g:
            while True:
                b = f.read(1 << 18)
                if not b:
                    break
                g.write(b)
                time.sleep(pause)
