#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark, prints figures and never fails on targets: a cold pass of READERS parallel cats over
# many small files of a local:// source (in the page cache: the UFS read costs no disk, so what
# weir adds per read shows) through a fresh no-open view, this build against BENCH_BASE_BUILD,
# alternated round by round on the same source, same readers, same cache state; medians and the
# ratio. BENCH_ROUNDS (default 5) rounds per side, BENCH_READERS (default 8), BENCH_FILES
# (default 3000, in 20 directories, 4-16 KiB).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/lib.sh"
. "$here/../tests/helpers/weir.sh"

ROUNDS="${BENCH_ROUNDS:-5}"
READERS="${BENCH_READERS:-8}"
FILES="${BENCH_FILES:-3000}"
BASE="${BENCH_BASE_BUILD:-}"
require_root_fuse
find_weir_bins
THIS_BUILD="$(dirname "$(dirname "$WEIR_BIN")")"
[ -n "$BASE" ] || fail "set BENCH_BASE_BUILD to the build directory to compare with"
TMP="$(mktemp -d /tmp/weir-bench-coldlocal.XXXXXX)"
at_exit 'rm -rf "$TMP"'
python3 - "$TMP/src" "$FILES" <<'PY'
import os, random, sys
r = random.Random(1)
n = int(sys.argv[2])
for i in range(n):
    d = f"{sys.argv[1]}/d{i % 20}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/f{i}", "wb") as f:
        f.write(r.randbytes(r.randint(4096, 16384)))
PY
cat "$TMP"/src/*/* >/dev/null # the source's pages in the page cache for every round

# one_pass SIDE BUILD ROUND: mounts a fresh view with BUILD, prints the seconds of one cold pass.
one_pass() {
	local side="$1" build="$2" round="$3" t0 t1
	weir_use_build "$build"
	export WEIR_KEEPER_BIN="$(dirname "$WEIR_NODE_BIN")/weir-keeper"
	weir_setup "$TMP/$side$round"
	weir_mount "local://$TMP/src" "$TMP/$side$round/v" --tier "mem:$WEIR_TIER_DIR/mem:1GiB" --open-mode no-open >/dev/null
	[ "$round" -gt 1 ] || echo "  $side: served by $(readlink "/proc/$(weir_node_pid)/exe")" >&2
	t0="$(now)"
	find "$TMP/$side$round/v" -type f -print0 | xargs -0 -P "$READERS" -n 100 cat >/dev/null
	t1="$(now)"
	grep -q "Bad address" "$WEIR_STATE/node.log" && echo "  ($side round $round: weir-node logged Bad address)" >&2
	weir_stop_node
	elapsed "$t0" "$t1"
}

echo "load before: $(uptime)"
declare -a A B
for r in $(seq 1 "$ROUNDS"); do
	A+=("$(one_pass base "$BASE" "$r")")
	B+=("$(one_pass this "$THIS_BUILD" "$r")")
	echo "round $r: base ${A[-1]} s, this ${B[-1]} s"
done
echo "load after: $(uptime)"
python3 - "$FILES" "$READERS" "${A[*]}" "${B[*]}" <<'PY'
import statistics, sys
files, readers = int(sys.argv[1]), int(sys.argv[2])
a = [float(x) for x in sys.argv[3].split()]
b = [float(x) for x in sys.argv[4].split()]
ma, mb = statistics.median(a), statistics.median(b)
print(f"cold pass, {files} files, {readers} readers, medians of {len(a)}: "
      f"base {ma:.2f} s ({files / ma:.0f} files/s), this {mb:.2f} s ({files / mb:.0f} files/s), "
      f"this/base time {mb / ma:.2f}")
PY
