#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (issues 10 and 13), prints figures and never fails on targets: warm small files
# through a weir view vs tmpfs, and what the kernel sends the daemon per file. A generated tree
# (BENCH_FILES, default files:20000x4KiB-16KiB: issue 10's 20k files of 4-16 KiB, sizes spread
# over the range) in tmpfs is served by nginx on loopback and mounted with weir; one cold pass
# fills the cache, then BENCH_ROUNDS rounds of `weir bench --workload files --epochs 2 --compare
# TMPFS` (8 workers) run, the view and tmpfs interleaved per epoch by
# weir bench itself. Reported: files/s of the warm epochs (every round's last epoch), their
# medians and the ratio of medians, and FUSE requests per file by opcode for one warm epoch
# (fuse:fuse_request_send, counted for this view's connection only, so other FUSE users of
# the machine do not count). Needs root, /dev/fuse, nginx-light, perf (linux-perf).
# BENCH_WEIR_ARGS: more weir mount flags (e.g. --no-passthrough).
# BENCH_MODES: the open modes to mount one view each of, same source and weir-node (default
# "open no-open"); each is benched in the same runs, interleaved, and its FUSE requests and
# weir-node's request counters (weir stat) per file of a warm epoch are printed.
# BENCH_BASELINE_NODE: another weir-node binary (say, main's): a second view of the same tree is
# served by it, from its own state directory, and benched in the same runs, interleaved, so a
# change is compared with its baseline under the same load (this machine is shared and noisy).
# Its weir-keeper is the one next to it, else this build's. BENCH_BASELINE_CONF: its node.conf
# (e.g. BENCH_BASELINE_NODE=build/node/weir-node BENCH_BASELINE_CONF="bpf = 0": eBPF on vs off).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/lib.sh"
. "$here/../tests/helpers/nginx.sh"
. "$here/../tests/helpers/weir.sh"

FILES="${BENCH_FILES:-files:20000x4KiB-16KiB}"
WORKERS="${BENCH_WORKERS:-8}"
ROUNDS="${BENCH_ROUNDS:-5}"
WEIR_ARGS=(${BENCH_WEIR_ARGS:-})
MODES=(${BENCH_MODES:-open no-open})

require_root_fuse
find_weir_bins
command -v perf >/dev/null || fail "perf is missing: install linux-perf (scripts/install-deps.sh)"
TMP="$(mktemp -d /tmp/weir-smallfiles.XXXXXX)"
at_exit 'rm -rf "$TMP"'
SHM="$(mktemp -d /dev/shm/weir-smallfiles.XXXXXX)"
at_exit 'rm -rf "$SHM"'
weir_setup "$TMP"
MPS=()
for m in "${MODES[@]}"; do MPS+=("$TMP/weir-$m"); done
MP="${MPS[0]}"

step "generate $FILES in tmpfs, serve it with nginx, mount it with weir ${WEIR_ARGS[*]} in open modes ${MODES[*]}"
"$WEIR_BIN" bench --generate "$FILES" "$SHM/tree" >/dev/null
nginx_start "$TMP/nginx" "$SHM/tree"
for i in "${!MODES[@]}"; do
	weir_mount "$NGINX_URL" "${MPS[$i]}" --tier "mem:$WEIR_TIER_DIR/mem:4GiB" --open-mode "${MODES[$i]}" "${WEIR_ARGS[@]}"
done
BASE_MP=""
if [ -n "${BENCH_BASELINE_NODE:-}" ]; then
	[ -x "$BENCH_BASELINE_NODE" ] || fail "BENCH_BASELINE_NODE=$BENCH_BASELINE_NODE is not an executable"
	MAIN_STATE="$WEIR_STATE"
	weir_setup "$TMP/base"
	# BENCH_BASELINE_CONF: the baseline node's node.conf (e.g. "bpf = 0": the same build with
	# its eBPF accounting off)
	[ -z "${BENCH_BASELINE_CONF:-}" ] || printf '%s\n' "$BENCH_BASELINE_CONF" >"$WEIR_STATE/node.conf"
	BASE_MP="$TMP/base/weir"
	base_keeper="$(dirname "$BENCH_BASELINE_NODE")/weir-keeper"
	[ -x "$base_keeper" ] || base_keeper="$(dirname "$WEIR_NODE_BIN")/weir-keeper"
	WEIR_NODE_BIN="$BENCH_BASELINE_NODE" WEIR_KEEPER_BIN="$base_keeper" weir_mount "$NGINX_URL" "$BASE_MP" --tier "mem:$WEIR_TIER_DIR/mem:4GiB" "${WEIR_ARGS[@]}"
	WEIR_STATE="$MAIN_STATE"
	export WEIR_STATE_DIR="$WEIR_STATE"
	note "baseline view at $BASE_MP served by $(readlink "/proc/$(weir_node_pid "$TMP/base/state")/exe")"
fi
n_files=$(find "$SHM/tree/files" -type f | wc -l)
note "$n_files files"

bench() { "$WEIR_BIN" --state-dir "$WEIR_STATE" bench --workload files --workers "$WORKERS" "$@"; }

step "cold epoch (fills the cache and each view's page cache), untimed here"
for mp in "${MPS[@]}"; do bench --epochs 1 -o json "$mp" >/dev/null; done
[ -z "$BASE_MP" ] || "$WEIR_BIN" --state-dir "$TMP/base/state" bench --workload files --workers "$WORKERS" --epochs 1 -o json "$BASE_MP" >/dev/null

# stat_req MP KIND: weir-node's count of KIND requests (open, release, lookup, getattr) of view MP
stat_req() {
	"$WEIR_BIN" --state-dir "$WEIR_STATE" stat "$1" -o json >"$TMP/stat.json" || fail "weir stat $1 failed"
	json_get "$TMP/stat.json" requests "$2" || fail "weir stat $1 has no requests.$2"
}
for i in "${!MODES[@]}"; do
	mp="${MPS[$i]}"
	step "${MODES[$i]}: FUSE requests per file in one warm epoch (fuse:fuse_request_send on this view's connection; weir stat)"
	conn=$(stat -c %d "$mp")
	declare -A before=()
	for k in open release lookup getattr; do before[$k]="$(stat_req "$mp" $k)"; done
	perf record -q -o "$TMP/perf.data" -e fuse:fuse_request_send -a -- \
		"$WEIR_BIN" --state-dir "$WEIR_STATE" bench --workload files --workers "$WORKERS" --epochs 1 -o json "$mp" >/dev/null 2>"$TMP/perf.err" ||
		fail "perf record failed: $(tail -3 "$TMP/perf.err")"
	perf script -i "$TMP/perf.data" 2>/dev/null | awk -v conn="$conn" -v n="$n_files" '
		{ for (i = 1; i <= NF; i++) if ($i == "connection" && $(i + 1) == conn) { for (j = i; j <= NF; j++) if ($j ~ /^\(FUSE_/) { gsub(/[()]/, "", $j); c[$j]++ } } }
		END { t = 0; for (k in c) { printf "  %-22s %8d  %.3f per file\n", k, c[k], c[k] / n; t += c[k] }
		      printf "  %-22s %8d  %.3f per file\n", "all", t, t / n }' | sort
	for k in open release lookup getattr; do
		d=$(($(stat_req "$mp" $k) - before[$k]))
		printf '  weir stat: %-8s %8d  %s per file\n' "$k" "$d" "$(awk -v d="$d" -v n="$n_files" 'BEGIN { printf "%.3f", d / n }')"
	done
	unset before
done

step "$ROUNDS rounds of 2 warm epochs, views (${MODES[*]})${BASE_MP:+, baseline view} and tmpfs interleaved by weir bench"
others=()
for mp in "${MPS[@]:1}"; do others+=(--compare "$mp"); done
uptime
for r in $(seq 1 "$ROUNDS"); do
	# the baseline view answers to its own weir-node: weir bench cannot ask ours for its UFS bytes
	bench --epochs 2 "${others[@]}" ${BASE_MP:+--compare "$BASE_MP"} --compare "$SHM/tree" -o json "$MP" >"$TMP/round$r.json" \
		2> >(grep -v "did not say its UFS bytes" >&2)
done
uptime
names=()
for i in "${!MODES[@]}"; do names+=("${MPS[$i]}=view ${MODES[$i]}"); done
[ -z "$BASE_MP" ] || names+=("$BASE_MP=baseline")
python3 - "$SHM/tree" "$TMP"/round*.json -- "${names[@]}" <<'PY'
import json, statistics, sys
tree = sys.argv[1]
sep = sys.argv.index("--")
runs, named = sys.argv[2:sep], sys.argv[sep + 1:]
names = dict(a.split("=", 1) for a in named)
names[tree] = "tmpfs"
got = {k: [] for k in names}
for p in runs:
    j = json.load(open(p))
    for r in j["results"]:
        got[r["dir"]].append(r["epochs"][-1]["files_per_s"])
med = {k: statistics.median(v) for k, v in got.items() if v}
for k, name in names.items():
    if k in med:
        print(f"  {name:16s} files/s: " + " ".join(f"{x:.0f}" for x in got[k]) + f"  median {med[k]:.0f}")
for k, name in names.items():
    if k != tree and k in med:
        print(f"  {name}/tmpfs (ratio of medians): {med[k] / med[tree]:.2f}x")
PY
pid="$(weir_node_pid)"
note "weir-node RSS: $(awk '/VmRSS/ { print $2 " " $3 }' "/proc/$pid/status" 2>/dev/null || echo unknown)"
