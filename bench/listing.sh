#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (issue 3), prints figures: a Dataset over a mirror of 100k files (nginx autoindex,
# 100 directories) is Bound at once, and its UFS total arrives when the background walk ends.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/lib.sh"
. "$here/../tests/helpers/nginx.sh"
. "$here/../tests/helpers/weir.sh"

DIRS="${BENCH_DIRS:-100}"
PER_DIR="${BENCH_PER_DIR:-1000}"

require_root_fuse
find_weir_bins
WEIR_CONTROLLER_BIN="${WEIR_CONTROLLER_BIN:-$(dirname "$WEIR_BIN")/../controller/weir-controller}"
export WEIR_CONTROLLER_BIN
TMP="$(mktemp -d /tmp/weir-bench-ls.XXXXXX)"
at_exit 'rm -rf "$TMP"'
SHM="$(mktemp -d /dev/shm/weir-bench-ls.XXXXXX)"
at_exit 'rm -rf "$SHM"'
weir_setup "$TMP"
at_exit 'w down >/dev/null 2>&1 || true'

step "$((DIRS * PER_DIR)) small files in $DIRS directories behind nginx"
python3 - "$SHM/tree" "$DIRS" "$PER_DIR" <<'PY'
import os, sys
root, dirs, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
total = 0
for d in range(dirs):
    os.makedirs(f"{root}/d{d:04d}")
    for f in range(per):
        n = f % 97 + 1
        with open(f"{root}/d{d:04d}/f{f:05d}.bin", "wb") as fh:
            fh.write(b"x" * n)
        total += n
open(f"{root}.total", "w").write(str(total))
PY
want="$(cat "$SHM/tree.total")"
nginx_start "$TMP/nginx" "$SHM/tree"
cat >"$TMP/ds.yaml" <<YAML
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata: {name: many, namespace: default}
spec:
  mounts: [{mountPoint: "$NGINX_URL", name: many}]
---
apiVersion: data.fluid.io/v1alpha1
kind: AlluxioRuntime
metadata: {name: many, namespace: default}
spec:
  replicas: 1
  tieredstore:
    levels: [{mediumtype: MEM, path: "$WEIR_TIER_DIR", quota: 1Gi, high: "0.95", low: "0.7"}]
YAML
w up >/dev/null
t0="$(now)"
w apply -f "$TMP/ds.yaml" >/dev/null
bound="" total=""
for _ in $(seq 1 1200); do
	w get dataset many -o json >"$TMP/ds.json"
	phase="$(json_get "$TMP/ds.json" status phase 2>/dev/null || true)"
	[ -z "$bound" ] && [ "$phase" = Bound ] && bound="$(elapsed "$t0" "$(now)")"
	total="$(json_get "$TMP/ds.json" status ufsTotalBytes 2>/dev/null || true)"
	[ -n "$total" ] && [ "$total" != None ] && [ "$total" != 0 ] && break
	sleep 0.1
done
t_total="$(elapsed "$t0" "$(now)")"
[ "$total" = "$want" ] || fail "UFS total $total bytes, expected $want"
files="$(json_get "$TMP/ds.json" status fileNum 2>/dev/null || echo ?)"
w get dataset many
echo
echo "files: $files; UFS total $total bytes (exact)"
echo "bound_after: ${bound:-?} s"
echo "ufs_total_after: $t_total s ($((DIRS * PER_DIR)) files; target: seconds, not minutes)"
