#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (issue 10's open path), prints figures and never fails: weir-node's CPU per warm
# small-file read with eBPF on, where each read sends a heat summary, for two weir-node binaries
# side by side (BENCH_NODE_A, default main's build at $WEIR_SRC/../main/build/weir-node if any;
# BENCH_NODE_B, default this build's). Each serves a no-open view of the same generated tree
# (BENCH_FILES, default files:20000x4KiB-16KiB) from nginx; rounds (BENCH_ROUNDS, default 11)
# alternate A and B: wait 1.1 s (a file's next read sends a summary again: at most one a second
# per file), read every file once in one random order (the same every time) with 8 `cat`s, and
# sum weir-node's threads' run time (/proc/PID/task/*/schedstat) over it. Only the files are
# read: no `weir bench`, whose STAT calls make weir-node walk its memory tables between epochs.
# Printed per round: us of weir-node CPU per file and files/s; then the medians. Needs root,
# /dev/fuse, nginx-light; run it alone (flock /tmp/weir-bench.lock).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/lib.sh"
. "$here/../tests/helpers/nginx.sh"
. "$here/../tests/helpers/weir.sh"

ROUNDS="${BENCH_ROUNDS:-11}"
require_root_fuse
find_weir_bins
NODE_A="${BENCH_NODE_A:-$WEIR_SRC/../main/build/weir-node}"
NODE_B="${BENCH_NODE_B:-$WEIR_NODE_BIN}"
for b in "$NODE_A" "$NODE_B"; do [ -x "$b" ] || fail "no weir-node at $b: set BENCH_NODE_A/BENCH_NODE_B"; done
TMP="$(mktemp -d /tmp/weir-heat-cpu.XXXXXX)"
at_exit 'rm -rf "$TMP"'
SHM="$(mktemp -d /dev/shm/weir-heat-cpu.XXXXXX)"
at_exit 'rm -rf "$SHM"'

step "generate ${BENCH_FILES:-files:20000x4KiB-16KiB}, serve it with nginx, one no-open view per weir-node"
"$WEIR_BIN" bench --generate "${BENCH_FILES:-files:20000x4KiB-16KiB}" "$SHM/tree" >/dev/null
nginx_start "$TMP/nginx" "$SHM/tree"
declare -A MPD PIDS
for side in A B; do
	bin="NODE_$side"
	bin="${!bin}"
	weir_setup "$TMP/$side"
	WEIR_NODE_BIN="$bin" WEIR_KEEPER_BIN="$(dirname "$bin")/weir-keeper" \
		weir_mount "$NGINX_URL" "$TMP/$side/mp" --tier "mem:$WEIR_TIER_DIR/mem:4GiB" --open-mode no-open
	PIDS[$side]="$(weir_node_pid)"
	[ -n "${PIDS[$side]}" ] || fail "no weir-node for side $side"
	MPD[$side]="$TMP/$side/mp"
	note "$side: $(readlink "/proc/${PIDS[$side]}/exe") (pid ${PIDS[$side]})"
done
(cd "$SHM/tree" && find files -type f) | shuf --random-source=<(yes) >"$TMP/list"
n=$(wc -l <"$TMP/list")
readall() { (cd "$1" && xargs -P8 -n 250 cat <"$TMP/list" >/dev/null); }
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { print s }'; }

step "cold pass and one warm pass per view, then $ROUNDS rounds of one warm pass each, alternated"
for side in A B; do readall "${MPD[$side]}"; readall "${MPD[$side]}"; done
uptime
for r in $(seq 1 "$ROUNDS"); do
	for side in A B; do
		sleep 1.1
		c0=$(cpu_ns "${PIDS[$side]}")
		t0=$(date +%s%N)
		readall "${MPD[$side]}"
		t1=$(date +%s%N)
		c1=$(cpu_ns "${PIDS[$side]}")
		awk -v r="$r" -v s="$side" -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v n="$n" \
			'BEGIN { printf "round %d %s cpu_us_per_file %.3f files_per_s %.0f\n", r, s, (b - a) / n / 1000, n / ((t1 - t0) / 1e9) }'
	done
done | tee "$TMP/rounds"
uptime
awk '{ cpu[$3] = cpu[$3] " " $5; fps[$3] = fps[$3] " " $7 }
	function med(s,   a, k, i, j, t) { k = split(s, a, " "); for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
	END { for (s in cpu) printf "  %s: weir-node CPU per file median %.3f us, files/s median %.0f\n", s, med(cpu[s]), med(fps[s])
	      printf "  B/A CPU per file: %.2f\n", med(cpu["B"]) / med(cpu["A"]) }' "$TMP/rounds"
