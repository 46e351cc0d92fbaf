#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes N small files of 1-16 KiB (random, reproducible bytes: seed 11) into DIR/d00..d19, as a
training set of small samples: gensmall.py DIR N (tests/e2e/s3.sh, bench/s3.sh)."""
import os
import random
import sys

if len(sys.argv) != 3 or not sys.argv[2].isdigit():
    sys.exit("usage: gensmall.py DIR N")
d, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(11)
for i in range(n):
    sub = os.path.join(d, "d%02d" % (i % 20))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "f%05d" % i), "wb") as f:
        f.write(rng.randbytes(rng.randint(1024, 16384)))
