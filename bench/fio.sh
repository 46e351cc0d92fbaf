#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (issue 13), prints figures and never fails on targets: fio on one fully cached file,
# read from tmpfs (the limit), through a weir view with FUSE passthrough (open mode open, how a
# user mounts a view of large files), through the view's own page cache (--no-passthrough) and
# through a view in open mode no-open (the kernel opens the file itself: no OPEN, so no
# passthrough; its page cache answers). 1 MiB sequential and 4 KiB random
# reads, psync, with 1 job and with as many jobs as cores. Every system gets the same runs
# (BENCH_RUNS, interleaved: tmpfs, passthrough, page cache, tmpfs, ...); the best run of each is
# reported, and every ratio is against tmpfs measured in the same round.
#
# BENCH_SIZE (1GiB), BENCH_RUNS (3), BENCH_JOBS (nproc), BENCH_SECONDS (5 per fio run).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/lib.sh"
. "$here/../tests/helpers/weir.sh"

SIZE="${BENCH_SIZE:-1GiB}"
RUNS="${BENCH_RUNS:-3}"
JOBS="${BENCH_JOBS:-$(nproc)}"
SECS="${BENCH_SECONDS:-5}"

require_root_fuse
find_weir_bins
if ! command -v fio >/dev/null; then
	step "installing fio (apt-get)"
	apt-get install -y -q fio >/dev/null || fail "apt-get install fio failed; install fio and rerun"
fi
TMP="$(mktemp -d /tmp/weir-bench-fio.XXXXXX)"
at_exit 'rm -rf "$TMP"'
SHM="$(mktemp -d /dev/shm/weir-bench-fio.XXXXXX)"
at_exit 'rm -rf "$SHM"'
weir_setup "$TMP"

bytes="$(numfmt --from=iec-i "${SIZE%B}")"
step "a $SIZE file in tmpfs, three views of it (passthrough, page cache, no-open), each read once whole"
mkdir -p "$SHM/src"
head -c "$bytes" /dev/urandom >"$SHM/src/data.bin"
tier_bytes=$((bytes * 3 + 256 * 1024 * 1024))
weir_mount "local://$SHM/src" "$TMP/pt" --tier "mem:$WEIR_TIER_DIR/mem:$tier_bytes"
weir_mount "local://$SHM/src" "$TMP/pc" --tier "mem:$WEIR_TIER_DIR/mem:$tier_bytes" --no-passthrough
weir_mount "local://$SHM/src" "$TMP/no" --tier "mem:$WEIR_TIER_DIR/mem:$tier_bytes" --open-mode no-open
for v in pt pc no; do
	cmp "$SHM/src/data.bin" "$TMP/$v/data.bin" || fail "the $v view returned other bytes than the source"
	cat "$TMP/$v/data.bin" >/dev/null # the page-cache view keeps its pages: fio --invalidate=0
done
ok "$bytes bytes, the three views cmp-equal to the source"

# fio_run FILE BS RW JOBS: prints "MB/s IOPS" of one run (the jobs' sum).
fio_run() {
	local out
	out="$(fio --name=b --filename="$1" --bs="$2" --rw="$3" --numjobs="$4" --group_reporting \
		--ioengine=psync --invalidate=0 --time_based --runtime="$SECS" --size="$bytes" \
		--output-format=json 2>"$TMP/fio.err")" || fail "fio on $1 failed: $(cat "$TMP/fio.err")"
	python3 -c '
import json, sys
r = json.load(sys.stdin)["jobs"][0]["read"]
if not r.get("io_bytes"):
    sys.exit("fio read nothing")
print("%.1f %.0f" % (r["bw_bytes"] / 1e6, r["iops"]))' <<<"$out" || fail "fio printed no read figures for $1"
}

declare -A best_mb best_iops
systems=(tmpfs pt pc no)
declare -A path=([tmpfs]="$SHM/src/data.bin" [pt]="$TMP/pt/data.bin" [pc]="$TMP/pc/data.bin" [no]="$TMP/no/data.bin")
declare -A label=([tmpfs]="tmpfs" [pt]="weir passthrough" [pc]="weir page cache" [no]="weir no-open")
cases=("1m read 1" "1m read $JOBS" "4k randread 1" "4k randread $JOBS")

step "fio psync, $SECS s per run, $RUNS interleaved runs per system and case; the best is reported"
for c in "${cases[@]}"; do
	read -r bs rw jobs <<<"$c"
	for r in $(seq 1 "$RUNS"); do
		for s in "${systems[@]}"; do
			read -r mb iops < <(fio_run "${path[$s]}" "$bs" "$rw" "$jobs")
			k="$c|$s"
			if [ -z "${best_mb[$k]:-}" ] || awk -v a="$mb" -v b="${best_mb[$k]}" 'BEGIN { exit !(a > b) }'; then
				best_mb[$k]="$mb"
				best_iops[$k]="$iops"
			fi
			note "run $r: $bs $rw x$jobs on ${label[$s]}: $mb MB/s, $iops IOPS"
		done
	done
done

step "results (best of $RUNS runs each)"
printf '  %-16s %-10s %5s %12s %12s %10s\n' system case jobs MB/s IOPS vs_tmpfs
for c in "${cases[@]}"; do
	read -r bs rw jobs <<<"$c"
	for s in "${systems[@]}"; do
		k="$c|$s"
		printf '  %-16s %-10s %5s %12s %12s %10s\n' "${label[$s]}" "$bs-$rw" "$jobs" \
			"${best_mb[$k]}" "${best_iops[$k]}" \
			"$(awk -v a="${best_mb[$k]}" -v b="${best_mb[$c|tmpfs]}" 'BEGIN { printf "%.2fx", a / b }')"
	done
done
for c in "${cases[@]}"; do
	read -r bs rw jobs <<<"$c"
	for s in pt pc no; do
		echo "ratio_${s}_vs_tmpfs_${bs}_${rw}_${jobs}jobs: $(awk -v a="${best_mb[$c|$s]}" -v b="${best_mb[$c|tmpfs]}" 'BEGIN { printf "%.2f", a / b }')"
	done
done
