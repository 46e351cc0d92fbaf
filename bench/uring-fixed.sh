#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (issue 10), prints figures and never fails on them: do io_uring's registered buffers
# (WRITE_FIXED/READ_FIXED) and registered files (IOSQE_FIXED_FILE) save CPU on weir's tier I/O?
# bench/uring_fixed.c does the tier's kinds of requests four ways (plain, fbuf, ffile, both) on a
# tmpfs file (BENCH_DIR, default /dev/shm: a mem tier) with BENCH_DEPTH in flight: 4 MiB and 64
# KiB writes to a fresh file (a block landing after eviction), 64 KiB and 4 KiB reads of warm
# pages. BENCH_ROUNDS rounds, the ways alternating in a rotated order each round, every way the
# same requests and the same file state; it reports the median CPU (user + system, io-wq
# workers included) per request of each way and its ratio to plain.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/lib.sh"

ROUNDS="${BENCH_ROUNDS:-7}"
DEPTH="${BENCH_DEPTH:-8}"
DIR="${BENCH_DIR:-/dev/shm}"
command -v cc >/dev/null || fail "cc is missing (build-essential)"
[ -e /usr/include/liburing.h ] || fail "liburing.h is missing (liburing-dev)"
TMP="$(mktemp -d /tmp/weir-bench-uring.XXXXXX)"
at_exit 'rm -rf "$TMP"'
WORK="$(mktemp -d "$DIR/weir-bench-uring.XXXXXX")"
at_exit 'rm -rf "$WORK"'
cc -O2 -Wall -o "$TMP/uring_fixed" "$here/uring_fixed.c" -luring || fail "building uring_fixed failed"

# op block total
CASES=("write 4194304 268435456" "write 65536 268435456" "read 65536 268435456" "read 4096 67108864")
WAYS=(plain fbuf ffile both)
step "$ROUNDS rounds, $DEPTH requests in flight, files in $DIR (load $(cut -d' ' -f1-3 /proc/loadavg))"
: >"$TMP/runs"
for r in $(seq 1 "$ROUNDS"); do
	k=$(((r - 1) % ${#WAYS[@]}))
	order=("${WAYS[@]:$k}" "${WAYS[@]:0:$k}")
	for c in "${CASES[@]}"; do
		read -r op block total <<<"$c"
		for way in "${order[@]}"; do
			f="$WORK/$way"
			# a read reads what a write of the same way left; make it when missing
			[ "$op" = write ] || [ -s "$f" ] ||
				"$TMP/uring_fixed" "$f" write 4194304 "$total" "$DEPTH" plain >/dev/null
			"$TMP/uring_fixed" "$f" "$op" "$block" "$total" "$DEPTH" "$way" >>"$TMP/runs" ||
				fail "uring_fixed $op $block $way failed"
		done
	done
done
note "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$TMP/runs" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    way, op, block, ops, wall, cpu = line.split()
    runs.setdefault((op, int(block)), {}).setdefault(way, []).append((int(ops), float(wall), float(cpu)))
print("%-6s %8s %-6s %5s %12s %12s %10s" % ("OP", "BLOCK", "WAY", "RUNS", "CPU_US/OP", "CPU_MS/GIB", "VS_PLAIN"))
for (op, block), ways in runs.items():
    med = {w: statistics.median(c / n for n, _, c in v) for w, v in ways.items()}
    for w in ("plain", "fbuf", "ffile", "both"):
        if w not in med:
            continue
        per_gib = med[w] * (1 << 30) / block
        print("%-6s %8d %-6s %5d %12.2f %12.1f %10.3f" % (op, block, w, len(ways[w]), med[w] * 1e6, per_gib * 1e3, med[w] / med["plain"]))
for (op, block), ways in runs.items():
    med = {w: statistics.median(c / n for n, _, c in v) for w, v in ways.items()}
    print("uring_fixed_%s_%d: fbuf/plain %.3f, ffile/plain %.3f, both/plain %.3f (median CPU per request, lower is better)"
          % (op, block, med["fbuf"] / med["plain"], med["ffile"] / med["plain"], med["both"] / med["plain"]))
PY
