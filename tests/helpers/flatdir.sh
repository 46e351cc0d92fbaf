#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Generates one flat directory of N small files (file i holds i % 97 + 1 bytes of "x"), as a
# big-directory test or benchmark lists and stats them.
# Usage: flatdir.sh DIR N [PREFIX]      files are DIR/PREFIX<i, 6 digits>.bin (PREFIX "file-")
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: flatdir.sh DIR N [PREFIX]" >&2; exit 2; }
python3 - "$1" "$2" "${3:-file-}" <<'PY'
import os, sys
root, n, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(root)
for i in range(n):
    with open(f"{root}/{prefix}{i:06d}.bin", "wb") as fh:
        fh.write(b"x" * (i % 97 + 1))
PY
