#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes N small files of 1-16 KiB (random, reproducible bytes: seed 11) into DIRS directories
DIR/d00, d01, ... (20 unless given), as a training set of small samples:
gensmall.py DIR N [DIRS] (tests/e2e/s3.sh, bench/s3.sh)."""
import os
import random
import sys

if len(sys.argv) not in (3, 4) or not all(a.isdigit() for a in sys.argv[2:]) or \
        (len(sys.argv) == 4 and int(sys.argv[3]) == 0):
    sys.exit("usage: gensmall.py DIR N [DIRS]")
d, n = sys.argv[1], int(sys.argv[2])
dirs = int(sys.argv[3]) if len(sys.argv) == 4 else 20
rng = random.Random(11)
for i in range(n):
    sub = os.path.join(d, "d%02d" % (i % dirs))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "f%05d" % i), "wb") as f:
        f.write(rng.randbytes(rng.randint(1024, 16384)))
