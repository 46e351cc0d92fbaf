#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (issue 10), prints figures and never fails on them: latency of 4 KiB reads of cached
# files (tier hits served by weir-node, the page cache bypassed) while another reader streams a
# working set twice the tier through the same view, so eviction runs all along. Target: max
# <= 10 ms, p99 <= 1 ms. The probe runs all along and the streamer alternates: BENCH_PHASE
# seconds quiet, BENCH_PHASE seconds streaming, and so on; each probe read is counted as alone
# (nothing streaming, eviction finished: the machine's own floor) or under eviction by when it
# started, so both figures come from the same run, under the same load. With perf (linux-perf),
# the FUSE tracepoints time each probe read from its request to weir-node's reply (WEIR_*:
# weir-node's share, queueing for its threads included; the rest is the machine's scheduling of
# the probe itself); BENCH_TRACE=0 turns that off. BENCH_BASE_BUILD=<build dir of another tree> runs the same on those
# binaries first (e.g. main's, built in a scratch copy) and prints both with their ratios.
# A control probe runs beside the first on tmpfs copies of the hot files (no FUSE, no weir): its
# figures under the stream (C*) are how this machine schedules a reader of cached bytes under
# the same load. BENCH_NODE_CONF adds lines to weir-node's config (e.g. 'bpf = 0\n').
# BENCH_RT=1 also runs each build and mode again with the probe and every weir-node thread at
# real-time priority (SCHED_FIFO 10, chrt), the streamer and the rest of the machine not: the
# machine's scheduling of the probe and of weir-node drops out and what remains is weir's own
# waits. Its rows (BUILD this-rt, base-rt) are printed beside the normal-priority ones, which
# stay the figures of record.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/lib.sh"
. "$here/../tests/helpers/weir.sh"

TIER_MB="${BENCH_TIER_MB:-512}"	   # the tier; the streamed working set is twice this
BLOCK="${BENCH_BLOCK:-64KiB}"	   # small blocks: many of them (8192 in 512 MiB)
SECONDS_RUN="${BENCH_SECONDS:-20}" # streaming time per run (as much probing alone besides)
PHASE="${BENCH_PHASE:-2}"	   # seconds per phase: quiet and streaming alternate
MODES="${BENCH_MODES:-heat lru}"
TRACE="${BENCH_TRACE:-1}"
if [ "$TRACE" = 1 ] && ! command -v perf >/dev/null; then
	note "perf is missing (apt-get install linux-perf): weir-node's share of each read is not measured"
	TRACE=0
fi
# BENCH_OFFCPU=1 (with the trace): the scheduler's switches too, with call stacks, and for each
# run where the probe's READs slower than 1 ms spent weir-node's share (bench/offcpu_reads.py):
# waiting for a CPU (and whom the worker took it from), preempted, or blocked (a lock, I/O).
# Large traces (~100 MB per 10 s): one mode at a time is enough.
OFFCPU="${BENCH_OFFCPU:-0}"
# BENCH_SPLIT=1 (with the trace): the probe's pread syscalls too, and for those over 1 ms where
# their time went: before its first FUSE request, inside its FUSE requests (by opcode), between
# them, and after the last one's reply (bench/pread_split.py).
SPLIT="${BENCH_SPLIT:-0}"
[ "$SPLIT" != 1 ] || [ "$TRACE" = 1 ] || fail "BENCH_SPLIT=1 needs the trace (perf, BENCH_TRACE=1)"
[ "$OFFCPU" != 1 ] || [ "$TRACE" = 1 ] || fail "BENCH_OFFCPU=1 needs the trace (perf, BENCH_TRACE=1)"
BASE="${BENCH_BASE_BUILD:-}"
RT="${BENCH_RT:-0}"
if [ "$RT" = 1 ]; then
	command -v chrt >/dev/null || fail "BENCH_RT=1 needs chrt (util-linux)"
	chrt -f 10 true || fail "BENCH_RT=1: cannot run at SCHED_FIFO 10 here (chrt -f 10 true failed)"
fi

require_root_fuse
find_weir_bins
THIS_BUILD="$(dirname "$(dirname "$WEIR_BIN")")"
TMP="$(mktemp -d /tmp/weir-bench-stall.XXXXXX)"
at_exit 'rm -rf "$TMP"'
SRC="$TMP/src"
mkdir -p "$SRC/hot" "$SRC/stream"
for i in $(seq 1 8); do rand_file "$SRC/hot/h$i.bin" $((256 << 10)) "h$i"; done
# The control: the same probe, beside the first, on tmpfs copies of the hot files (the kernel
# answers them from memory, no FUSE, no weir): how this machine schedules a reader of cached
# bytes under the same load, weir out of its path.
CTL="$(mktemp -d /dev/shm/weir-bench-stall-ctl.XXXXXX)"
at_exit 'rm -rf "$CTL"'
cp "$SRC"/hot/*.bin "$CTL/"
NSTREAM=$((TIER_MB * 2 / 32))
for i in $(seq 1 "$NSTREAM"); do rand_file "$SRC/stream/s$i.bin" $((32 << 20)) "s$i"; done

cat >"$TMP/probe.py" <<'PY'
# Reads 4 KiB at random offsets of the hot files, each time dropping that page from the page
# cache first (so weir-node answers it), until the stop file appears; prints one line per read:
# its start (CLOCK_MONOTONIC, ns) and its latency (us). POSIX_FADV_RANDOM: no read-ahead, the
# request is the 4 KiB asked for.
import os, random, sys, time
files, stop = sys.argv[1:-1], sys.argv[-1]
fds = [os.open(f, os.O_RDONLY) for f in files]
sizes = [os.fstat(fd).st_size for fd in fds]
for fd in fds:
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
rng = random.Random(7)
out = []
while not os.path.exists(stop):
    k = rng.randrange(len(fds))
    off = rng.randrange(sizes[k] // 4096) * 4096
    os.posix_fadvise(fds[k], off, 4096, os.POSIX_FADV_DONTNEED)
    t0 = time.monotonic_ns()
    n = len(os.pread(fds[k], 4096, off))
    t1 = time.monotonic_ns()
    if n != 4096:
        sys.exit(f"short read of {files[k]} at {off}: {n} bytes")
    out.append((t0, (t1 - t0) / 1000))
    time.sleep(0.0005)
print("\n".join(f"{t} {x:.1f}" for t, x in out))
PY
cat >"$TMP/stream.py" <<'PY'
# Alternates phase-long quiet and streaming phases, quiet first and last, until it streamed for
# the given seconds and at least one whole pass of the files. Streams in order, 1 MiB reads,
# dropping each file from the page cache after it, resuming where the last phase stopped.
# Writes each phase's kind and span (CLOCK_MONOTONIC ns) to the phases file; prints bytes read.
import os, sys, time
phase, secs, phases, files = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4:]
log = open(phases, "w")
def quiet():
    t0 = time.monotonic_ns()
    time.sleep(phase)
    log.write(f"quiet {t0} {time.monotonic_ns()}\n")
total, streamed, passes, k, fd = 0, 0.0, 0, 0, -1
while passes == 0 or streamed < secs:
    quiet()
    t0 = time.monotonic_ns()
    end = time.monotonic() + phase
    while time.monotonic() < end:
        if fd < 0:
            fd = os.open(files[k], os.O_RDONLY)
        b = os.read(fd, 1 << 20)
        total += len(b)
        if not b:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
            fd, k = -1, k + 1
            if k == len(files):
                k, passes = 0, passes + 1
    t1 = time.monotonic_ns()
    streamed += (t1 - t0) / 1e9
    log.write(f"evict {t0} {t1}\n")
quiet()
log.close()
print(total)
PY

# run LABEL BUILD MODE [rt]: one weir-node of BUILD, eviction MODE; with rt, the probe and
# weir-node at SCHED_FIFO 10; appends a result line.
run() {
	local label="$1" build="$2" mode="$3" rt="${4:-}" dir="$TMP/$1-$3" mp hot=() f
	local prio=()
	if [ -n "$rt" ]; then
		label="$label-rt"
		dir="$TMP/$label-$mode"
		prio=(chrt -f 10)
	fi
	weir_use_build "$build"
	mkdir -p "$dir"
	weir_setup "$dir"
	printf 'eviction = %s\nmetrics-listen =\n%b' "$mode" "${BENCH_NODE_CONF:-}" >"$WEIR_STATE/node.conf"
	mp="$dir/view"
	weir_mount "local://$SRC" "$mp" --tier "mem:$WEIR_TIER_DIR/mem:${TIER_MB}MiB" \
		--block-size "$BLOCK" --high 0.9 --low 0.7 --no-passthrough --no-prefetch >/dev/null
	for f in "$mp"/hot/*.bin; do
		cat "$f" >/dev/null
		hot+=("$f")
	done
	if [ -n "$rt" ]; then
		# every thread now; the FUSE workers libfuse starts later inherit it from the worker
		# that starts them
		chrt -a -f -p 10 "$(weir_node_pid)" >/dev/null ||
			fail "cannot raise weir-node $(weir_node_pid) to SCHED_FIFO 10"
	fi
	local perfpid=""
	if [ "$TRACE" = 1 ]; then
		local sched=()
		[ "$OFFCPU" != 1 ] || sched=(-g -e sched:sched_switch -e sched:sched_wakeup)
		[ "$SPLIT" != 1 ] || sched+=(-e syscalls:sys_enter_pread64 -e syscalls:sys_exit_pread64)
		perf record -q -k mono -e fuse:fuse_request_send -e fuse:fuse_request_end "${sched[@]}" \
			-a -o "$dir/perf.data" >"$dir/perf.log" 2>&1 &
		perfpid=$!
		pid_track "$perfpid"
		sleep 1
	fi
	"${prio[@]}" python3 "$TMP/probe.py" "${hot[@]}" "$dir/stop" >"$dir/lat" &
	local probe=$!
	pid_track "$probe"
	"${prio[@]}" python3 "$TMP/probe.py" "$CTL"/*.bin "$dir/stop" >"$dir/ctl" &
	local ctlprobe=$!
	pid_track "$ctlprobe"
	python3 "$TMP/stream.py" "$PHASE" "$SECONDS_RUN" "$dir/phases" "$mp"/stream/*.bin \
		>"$dir/streamed" || fail "the streamer of $label/$mode failed"
	: >"$dir/stop"
	wait "$probe" || fail "the probe of $label/$mode failed"
	wait "$ctlprobe" || fail "the control probe of $label/$mode failed"
	: >"$dir/weirlat"
	if [ -n "$perfpid" ]; then
		pid_signal INT "$perfpid"
		wait "$perfpid" || true
		# each READ the probe sent: its request time and weir-node's reply, by request id
		perf script -i "$dir/perf.data" -F pid,time,event,trace 2>/dev/null | awk -v p="$probe" '
			/fuse_request_send:/ && $1 == p && / opcode 15 / {
				for (i = 1; i <= NF; i++) { if ($i == "connection") c = $(i + 1); if ($i == "req") r = $(i + 1) }
				t = $2; sub(":", "", t); sent[c " " r] = t
			}
			/fuse_request_end:/ {
				for (i = 1; i <= NF; i++) { if ($i == "connection") c = $(i + 1); if ($i == "req") r = $(i + 1) }
				k = c " " r
				if (k in sent) { t = $2; sub(":", "", t); printf "%.0f %.1f\n", sent[k] * 1e9, (t - sent[k]) * 1e6; delete sent[k] }
			}' >"$dir/weirlat"
		[ -s "$dir/weirlat" ] || note "perf saw none of the probe's READs ($label/$mode): $(tail -2 "$dir/perf.log")"
		if [ "$SPLIT" = 1 ]; then
			perf script -i "$dir/perf.data" -F pid,time,event,trace,ip,sym 2>/dev/null |
				python3 "$here/pread_split.py" "$label/$mode" "$probe" 1 >>"$TMP/offcpu" ||
				fail "the pread split of $label/$mode failed"
		fi
		if [ "$OFFCPU" = 1 ]; then
			perf script -i "$dir/perf.data" -F comm,pid,tid,cpu,time,event,trace,ip,sym 2>/dev/null |
				python3 "$here/offcpu_reads.py" "$label/$mode" "$probe" 1 >>"$TMP/offcpu" ||
				fail "the off-CPU split of $label/$mode failed"
		fi
		rm -f "$dir/perf.data"
	fi
	w stat "$mp" -o json >"$dir/stat.json"
	python3 - "$label" "$mode" "$dir/lat" "$dir/streamed" "$dir/stat.json" "$dir/phases" \
		"$dir/weirlat" "$dir/ctl" >>"$TMP/results" <<'PY'
import json, sys
label, mode, lat, streamed, stat, phases, weirlat, ctl = sys.argv[1:]
# A read counts for the phase it started in. The first 0.5 s of a quiet phase count for
# neither: the evictor may still be finishing what the stream began (it is counted when it
# overlaps a streaming phase).
GUARD = 500_000_000
spans = []
for line in open(phases):
    kind, t0, t1 = line.split()
    t0, t1 = int(t0), int(t1)
    spans.append((kind, t0 + GUARD if kind == "quiet" else t0, t1))
def split(path):
    q, v = [], []
    for line in open(path):
        if not line.strip():
            continue
        t, us = line.split()
        t, us = int(float(t)), float(us)
        for kind, t0, t1 in spans:
            if t0 <= t < t1:
                (q if kind == "quiet" else v).append(us)
                break
    return sorted(q), sorted(v)
q, v = split(lat)
if not q or not v:
    sys.exit(f"{label}/{mode}: no probe reads in the quiet ({len(q)}) or streaming ({len(v)}) phases")
wq, wv = split(weirlat)
cq, cv = split(ctl)
def fig(x, p):
    return f"{x[min(len(x) - 1, int(p * len(x)))] / 1000:.3f}" if x else "-"
st = json.load(open(stat))
st = st[0] if isinstance(st, list) else st
st = st.get("views", [st])[0] if isinstance(st, dict) and "views" in st else st
def pct(p):
    return v[min(len(v) - 1, int(p * len(v)))] / 1000
print(label, mode, len(v), f"{pct(0.5):.3f}", f"{pct(0.99):.3f}", f"{v[-1] / 1000:.3f}",
      int(open(streamed).read()) >> 20, st.get("evictions", "?"), st.get("hits", "?"),
      st.get("misses", "?"), len(q), f"{q[min(len(q) - 1, int(0.99 * len(q)))] / 1000:.3f}",
      f"{q[-1] / 1000:.3f}", fig(wv, 0.99), fig(wv, 1), fig(wq, 0.99), fig(wq, 1), fig(wv, 0.5),
      fig(wq, 0.5), fig(cv, 0.99), fig(cv, 1))
PY
	weir_teardown >/dev/null 2>&1
	WEIR_MOUNTS=()
}

step "tier ${TIER_MB} MiB of $BLOCK blocks, hot set 2 MiB, streamed set $((NSTREAM * 32)) MiB, ${SECONDS_RUN} s per run"
: >"$TMP/results"
for mode in $MODES; do
	[ -z "$BASE" ] || run base "$BASE" "$mode"
	run this "$THIS_BUILD" "$mode"
	if [ "$RT" = 1 ]; then
		[ -z "$BASE" ] || run base "$BASE" "$mode" rt
		run this "$THIS_BUILD" "$mode" rt
	fi
done
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
printf '%-7s %-5s %7s %8s %8s %8s %9s %9s %8s %8s %7s %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n' BUILD MODE \
	READS P50_MS P99_MS MAX_MS STREAM_MB EVICTIONS HITS MISSES QREADS QP99_MS QMAX_MS WP50_MS \
	WP99_MS WMAX_MS WQP50_MS WQP99_MS WQMAX_MS CP99_MS CMAX_MS
while read -r l m n p50 p99 mx mb ev h mi qn qp qm wp wm wqp wqm w50 wq50 cp cm; do
	printf '%-7s %-5s %7s %8s %8s %8s %9s %9s %8s %8s %7s %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n' "$l" \
		"$m" "$n" "$p50" "$p99" "$mx" "$mb" "$ev" "$h" "$mi" "$qn" "$qp" "$qm" "$w50" "$wp" "$wm" \
		"$wq50" "$wqp" "$wqm" "$cp" "$cm"
done <"$TMP/results"
echo "READS/P*_MS/MAX_MS: probe reads that started while the stream ran; QREADS/QP99/QMAX: those of the quiet phases between (nothing streaming: the machine's floor), alternated every $PHASE s in the same run; W*: the same reads from request to weir-node's reply (fuse tracepoints; - without perf); HITS/MISSES: the view's block reads (the stream's included); C*: the control probe's reads of tmpfs copies under the stream (no FUSE, no weir: the machine's scheduling of such a reader)"
[ ! -s "$TMP/offcpu" ] || cat "$TMP/offcpu"
for mode in $MODES; do
	awk -v m="$mode" '
		$2 == m { p99[$1] = $5; mx[$1] = $6; qp99[$1] = $12; qmx[$1] = $13; wp[$1] = $14; wm[$1] = $15; wqp[$1] = $16; wqm[$1] = $17; w50[$1] = $18; wq50[$1] = $19; cp99[$1] = $20; cmx[$1] = $21 }
		END {
			printf "evict_stall_%s: under eviction p99 %s ms, max %s ms; alone p99 %s ms, max %s ms (target p99 <= 1, max <= 10); weir-node'"'"'s share: under eviction p50 %s ms, p99 %s ms, max %s ms, alone p50 %s ms, p99 %s ms, max %s ms", m, p99["this"], mx["this"], qp99["this"], qmx["this"], w50["this"], wp["this"], wm["this"], wq50["this"], wqp["this"], wqm["this"]
			if ("base" in p99 && p99["this"] > 0 && mx["this"] > 0)
				printf "; base/this: p99 %.1fx, max %.1fx", p99["base"] / p99["this"], mx["base"] / mx["this"]
			printf "; the control (tmpfs, no weir) beside it: p99 %s ms, max %s ms\n", cp99["this"], cmx["this"]
			if ("this-rt" in p99) {
				printf "evict_stall_%s_rt (probe and weir-node at SCHED_FIFO 10): under eviction p99 %s ms, max %s ms; alone p99 %s ms, max %s ms; weir-node'"'"'s share: under eviction p50 %s ms, p99 %s ms, max %s ms, alone p50 %s ms, p99 %s ms, max %s ms", m, p99["this-rt"], mx["this-rt"], qp99["this-rt"], qmx["this-rt"], w50["this-rt"], wp["this-rt"], wm["this-rt"], wq50["this-rt"], wqp["this-rt"], wqm["this-rt"]
				if ("base-rt" in p99 && p99["this-rt"] > 0 && mx["this-rt"] > 0)
					printf "; base/this: p99 %.1fx, max %.1fx", p99["base-rt"] / p99["this-rt"], mx["base-rt"] / mx["this-rt"]
				printf "\n"
			}
		}' "$TMP/results"
done
