#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (issue 4), prints figures and never fails: tier hit ratio per namespace under heat
# ranking vs LRU, on a skewed workload over a tier smaller than the working set. team-a reads a
# few hot files again and again (mostly from the page cache, which LRU never sees), team-b reads
# with a Zipf skew, team-c scans; the page cache is dropped between rounds (memory pressure).
# BENCH_RUNS runs of each policy (default 3), interleaved (lru, heat, lru, heat, ...) so that a
# noisy moment hits both; every run's hit ratios are printed (both distributions), then the
# ratio of all runs' hits together.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/lib.sh"
. "$here/../tests/helpers/weir.sh"

ROUNDS="${BENCH_ROUNDS:-6}"
RUNS="${BENCH_RUNS:-3}"
TIER_MB="${BENCH_TIER_MB:-96}"

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-bench-ev.XXXXXX)"
at_exit 'rm -rf "$TMP"'
SRC="$TMP/src"
mkdir -p "$SRC/a" "$SRC/b" "$SRC/c"
for i in 1 2 3 4; do rand_file "$SRC/a/hot$i.bin" $((4 << 20)) "a$i"; done
for i in $(seq 1 16); do rand_file "$SRC/b/z$i.bin" $((4 << 20)) "b$i"; done
for i in $(seq 1 48); do rand_file "$SRC/c/s$i.bin" $((4 << 20)) "c$i"; done

# The same access sequence for both modes (seeded): a list of "view file" lines per round.
python3 - "$ROUNDS" >"$TMP/plan" <<'PY'
import random, sys
rng = random.Random(42)
for r in range(int(sys.argv[1])):
    for rep in range(5):
        for i in range(1, 5):
            print(f"{r} a a/hot{i}.bin")
        for _ in range(4):
            z = min(16, int(rng.paretovariate(1.2)))
            print(f"{r} b b/z{z}.bin")
        for k in range(2):
            print(f"{r} c c/s{(r * 10 + rep * 2 + k) % 48 + 1}.bin")
PY

# run MODE N: prints "MODE team-X HITS MISSES N" per namespace
run() {
	local mode="$1" n="$2" dir="$TMP/$1-$2" last=-1 r v f ns
	mkdir -p "$dir"
	weir_setup "$dir"
	printf 'eviction = %s\nmetrics-listen =\n' "$mode" >"$WEIR_STATE/node.conf"
	for ns in a b c; do
		weir_mount "local://$SRC" "$dir/$ns" --tier "mem:$WEIR_TIER_DIR/mem:${TIER_MB}MiB" \
			--high 0.9 --low 0.7 --label "team-$ns/data" --no-passthrough >/dev/null
	done
	while read -r r v f; do
		if [ "$r" != "$last" ]; then
			sync
			echo 3 >/proc/sys/vm/drop_caches
			sleep 1.2 # heat summaries arrive at most once a second per file
			last="$r"
		fi
		cat "$dir/$v/$f" >/dev/null
	done <"$TMP/plan"
	for ns in a b c; do
		w stat "$dir/$ns" -o json >"$TMP/stat.json"
		echo "$mode team-$ns $(json_get "$TMP/stat.json" hits) $(json_get "$TMP/stat.json" misses) $n"
	done
	weir_teardown >/dev/null 2>&1
	WEIR_MOUNTS=()
}

step "$ROUNDS rounds, tier ${TIER_MB} MiB, working set $(((4 + 16 + 48) * 4)) MiB; LRU and heat, $RUNS runs each, interleaved"
: >"$TMP/results"
for n in $(seq 1 "$RUNS"); do
	for mode in lru heat; do
		run "$mode" "$n" >>"$TMP/results" # not in a subshell: a failure must still run the EXIT cleanup
	done
done
echo
printf '%-6s %-8s %4s %8s %8s %10s\n' MODE NS RUN HITS MISSES HIT_RATIO
while read -r mode ns h m n; do
	printf '%-6s %-8s %4s %8s %8s %10s\n' "$mode" "$ns" "$n" "$h" "$m" \
		"$(awk -v h="$h" -v m="$m" 'BEGIN { printf "%.3f", (h + m) ? h / (h + m) : 0 }')"
done <"$TMP/results"
# per run, then all runs' hits over all runs' reads
dist() { awk -v p="$1" -v n="$2" '$1 == p && $2 == n { printf "%.3f ", ($3 + $4) ? $3 / ($3 + $4) : 0 }' "$TMP/results"; }
total() { awk -v p="$1" -v n="$2" '$1 == p && $2 == n { h += $3; m += $4 } END { printf "%.3f", (h + m) ? h / (h + m) : 0 }' "$TMP/results"; }
for ns in team-a team-b team-c; do
	echo "tier_hit_ratio_${ns//-/_}: heat $(total heat "$ns") (runs: $(dist heat "$ns")), lru $(total lru "$ns") (runs: $(dist lru "$ns"))"
done
