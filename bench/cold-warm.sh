#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (issues 2, 10), prints figures and never fails on targets: cold cp -R through a weir view
# (N connections) from a server capped at 10 MB/s per connection, against the link's limit for the
# same N (curl making N range requests in parallel), against rclone mount, and against a single
# curl stream; 8 cold readers of different files at once against the link's limit for them; warm
# and page-cache reads vs tmpfs. BENCH_BASE_BUILD=<build dir of another tree> adds cold copies of
# that build and of this one, interleaved with the link's limit, BENCH_COLD_ROUNDS times (medians).
# BENCH_ONLY=cold8: only the 8 cold readers; BENCH_ONLY=timeline: when each file's requests ran
# against when cp opened it (bench/cold_timeline.py).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/lib.sh"
. "$here/../tests/helpers/nginx.sh"
. "$here/../tests/helpers/weir.sh"

SCALE="${BENCH_SCALE:-0.2}"          # 0.2 -> 268 MiB in spark-3.3.1
RATE="${BENCH_RATE:-10000000}"       # bytes/s per connection (10 MB/s)
RUNS="${BENCH_RUNS:-5}"              # warm runs; the best is reported
CONNS="${BENCH_CONNS:-16}"           # weir's --fetch-concurrency = the parallel curl's connections
WEIR_ARGS=(--fetch-concurrency "$CONNS" ${BENCH_WEIR_ARGS:-}) # e.g. "--block-size 8MiB"
BASE="${BENCH_BASE_BUILD:-}"
CROUNDS="${BENCH_COLD_ROUNDS:-3}"
PART=$((1 << 20))                    # the range size of weir's requests (a block's part)

require_root_fuse
find_weir_bins
THIS_BUILD="$(dirname "$(dirname "$WEIR_BIN")")"
TMP="$(mktemp -d /tmp/weir-bench.XXXXXX)"
at_exit 'rm -rf "$TMP"'
SHM="$(mktemp -d /dev/shm/weir-bench.XXXXXX)" # sources and destinations in tmpfs: no disk in the path
at_exit 'rm -rf "$SHM"'
weir_setup "$TMP"
MP="$TMP/mnt"
TIERS="mem:$WEIR_TIER_DIR/mem:4GiB"

# timed DEST CMD...: runs CMD, prints seconds; DEST is emptied first
timed() {
	local dst="$1" t0 t1
	shift
	rm -rf "$dst"
	t0="$(now)"
	"$@" >&2 || fail "$* failed"
	t1="$(now)"
	elapsed "$t0" "$t1"
}
best() { printf '%s\n' "$@" | sort -g | head -n 1; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f MB/s", b / s / 1e6 }'; }
remount() {
	w umount "$MP" >/dev/null || fail "weir umount $MP failed"
	weir_mount "$1" "$MP" --tier "$TIERS" "${WEIR_ARGS[@]}"
}

step "tree (scale $SCALE) in tmpfs; nginx with limit_rate; a per-connection throttle at $RATE B/s in front"
"$here/../tests/helpers/gentree.sh" "$SHM/tree" "$SCALE" | sed 's/^/  /'
BYTES=$(( $(find "$SHM/tree/spark-3.3.1" -type f -printf '%s+') 0 ))
nginx_start "$TMP/nginx" "$SHM/tree" --limit-rate "$((RATE / 1000000))m"
TPORT="$(free_port)"
# 256 KiB chunks: throttle.py's CPU is per chunk, and with 32 KiB ones it needed most of a CPU
# for 16 connections (a link that slowed down whenever weir-node took a CPU, and not for curl,
# which needs next to none). Paced at 10 MB/s a chunk is 26 ms: a 1 MiB range is still 105 ms.
THROTTLE_CHUNK="${BENCH_THROTTLE_CHUNK:-262144}" python3 "$here/../tests/helpers/throttle.py" \
	"$TPORT" "$NGINX_PORT" "$RATE" >"$TMP/throttle.log" 2>&1 &
tpid=$!
pid_track "$tpid"
at_exit "pid_stop $tpid"
# a loaded machine starts python slowly: wait until the throttle accepts, not a fixed time
for i in $(seq 1 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$TPORT") 2>/dev/null && break
	pid_alive "$tpid" || break
	sleep 0.1
done
pid_alive "$tpid" || fail "throttle.py exited at start: $(cat "$TMP/throttle.log")"
(exec 3<>"/dev/tcp/127.0.0.1/$TPORT") 2>/dev/null || fail "throttle.py does not accept on $TPORT after 10 s"
THROTTLED="http://127.0.0.1:$TPORT/"
note "spark-3.3.1: $BYTES bytes; nginx $NGINX_URL (limit_rate, 1 s burst per request); throttled $THROTTLED"

# par_curl N FILE...: fetches the files as 1 MiB ranges over N connections at once (curl
# --parallel), the way weir fetches: the link's limit for N connections.
par_curl() {
	local n="$1" f size off sep=""
	shift
	: >"$TMP/curl.cfg"
	for f in "$@"; do
		size="$(stat -c %s "$SHM/tree/$f")"
		for ((off = 0; off < size; off += PART)); do
			# "next" between transfers, not after the last (curl wants a URL after it)
			printf '%surl = "%s%s"\noutput = "/dev/null"\nrange = "%d-%d"\n' "$sep" \
				"$THROTTLED" "$f" "$off" "$((off + PART - 1))" >>"$TMP/curl.cfg"
			sep=$'next\n'
		done
	done
	curl -sS --fail --parallel --parallel-max "$n" -K "$TMP/curl.cfg"
}
files=()
for f in "$SHM/tree/spark-3.3.1"/*; do [ -f "$f" ] && files+=("spark-3.3.1/$(basename "$f")"); done

big=($(cd "$SHM/tree" && find spark-3.3.1 -type f -printf '%s %p\n' | sort -rn | head -8 | cut -d' ' -f2))
BYTES8=$(( $(for f in "${big[@]}"; do stat -c %s "$SHM/tree/$f"; done | paste -sd+) ))

# cold_of BUILD [8 [CONF]]: a cold cp -R through a fresh weir-node of BUILD (its own state and
# tier), or with 8, the 8 cold readers of different files; seconds. CONF: more node.conf lines.
cold_of() {
	local build="$1" eight="${2:-}" conf="${3:-}" dir t f
	dir="$(mktemp -d "$TMP/side.XXXXXX")"
	weir_use_build "$build"
	weir_setup "$dir"
	printf 'metrics-listen =\n%b' "${conf:+$conf\n}" >"$WEIR_STATE/node.conf"
	weir_mount "$THROTTLED" "$dir/mnt" --tier "mem:$WEIR_TIER_DIR/mem:4GiB" "${WEIR_ARGS[@]}" >/dev/null
	if [ -n "$eight" ]; then
		local pid cpu0 cpu1 flt0 flt1
		pid="$(weir_node_pid)"
		cpu0="$(awk '{ print $14 + $15 }' "/proc/$pid/stat")"
		flt0="$(awk '{ print $10 }' "/proc/$pid/stat")"
		t="$(cd "$dir/mnt" && timed "$TMP/none" sh -c 't0=$(date +%s%N); for f in "$@"; do (cat "$f" >/dev/null; echo "$(( ($(date +%s%N) - t0) / 1000000 ))") & done; wait' sh "${big[@]}" 2>"$dir/ends")"
		cpu1="$(awk '{ print $14 + $15 }' "/proc/$pid/stat")"
		flt1="$(awk '{ print $10 }' "/proc/$pid/stat")"
		# what the round cost weir-node, and when each reader ended (ms): a tail shows here
		echo "weir-node CPU $(awk -v a="$cpu0" -v b="$cpu1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }') s, $((flt1 - flt0)) page faults; readers ended at $(sort -n "$dir/ends" | paste -sd' ') ms" >>"$TMP/cold8.diag"
	else
		t="$(timed "$SHM/out" cp -R "$dir/mnt/spark-3.3.1" "$SHM/out")"
		diff -rq "$SHM/tree/spark-3.3.1" "$SHM/out" >/dev/null || fail "$build: the cold copy differs from the source"
	fi
	weir_teardown >/dev/null 2>&1
	WEIR_MOUNTS=()
	echo "$t"
}
spread() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "min %s max %s", v[1], v[NR] }'; }

# BENCH_ONLY=cold8: only the 8 cold readers against the link's limit for them, CROUNDS rounds
# alternated (link, weir, link, weir...), medians with their spread. BENCH_CONF_B="lines":
# each round also runs weir with these node.conf lines (e.g. "bpf = 0"), an A/B in one run.
if [ "${BENCH_ONLY:-}" = cold8 ]; then
	step "8 cold readers of different files ($BYTES8 bytes) against $CONNS parallel curl of them; $CROUNDS rounds alternated"
	cl8=() ct8=() cx8=() cb8=()
	# the throttle's CPU seconds during each side's run: a link that costs a side more CPU
	# than the other is not the same link
	tcpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$tpid/stat"; }
	for i in $(seq 1 "$CROUNDS"); do
		c0="$(tcpu)"
		cl8+=("$(timed "$TMP/none" par_curl "$CONNS" "${big[@]}")")
		c1="$(tcpu)"
		ct8+=("$(cold_of "$THIS_BUILD" 8)")
		c2="$(tcpu)"
		[ -n "${ct8[-1]}" ] || fail "the 8 cold readers failed (round $i)"
		note "round $i: link limit ${cl8[-1]} s, weir ${ct8[-1]} s ($(ratio "${cl8[-1]}" "${ct8[-1]}")x); load $(cut -d' ' -f1 /proc/loadavg); throttle CPU $(awk -v a="$c0" -v b="$c1" -v c="$c2" 'BEGIN { printf "%.2f s (curl) / %.2f s (weir)", b - a, c - b }'); $(tail -1 "$TMP/cold8.diag")"
		if [ -n "$BASE" ]; then
			cb8+=("$(cold_of "$BASE" 8)")
			[ -n "${cb8[-1]}" ] || fail "the 8 cold readers of $BASE failed (round $i)"
			note "round $i: base ${cb8[-1]} s ($(ratio "${cl8[-1]}" "${cb8[-1]}")x); $(tail -1 "$TMP/cold8.diag")"
		fi
		if [ -n "${BENCH_CONF_B:-}" ]; then
			cx8+=("$(cold_of "$THIS_BUILD" 8 "$BENCH_CONF_B")")
			[ -n "${cx8[-1]}" ] || fail "the 8 cold readers with \"$BENCH_CONF_B\" failed (round $i)"
			note "round $i: weir with \"$BENCH_CONF_B\" ${cx8[-1]} s ($(ratio "${cl8[-1]}" "${cx8[-1]}")x); $(tail -1 "$TMP/cold8.diag")"
		fi
	done
	m_cl8="$(median "${cl8[@]}")" m_ct8="$(median "${ct8[@]}")"
	echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
	echo "link limit: median ${m_cl8} s ($(spread "${cl8[@]}")): ${cl8[*]}"
	echo "weir:       median ${m_ct8} s ($(spread "${ct8[@]}")): ${ct8[*]}"
	r=(); for i in "${!cl8[@]}"; do r+=("$(ratio "${cl8[$i]}" "${ct8[$i]}")"); done
	echo "per-round ratios: ${r[*]}"
	echo "cold8_vs_link_limit: $(ratio "$m_cl8" "$m_ct8")x of medians, per-round median $(median "${r[@]}")x ($(spread "${r[@]}")) (target >= 0.9x)"
	if [ -n "$BASE" ]; then
		r=(); for i in "${!cl8[@]}"; do r+=("$(ratio "${cl8[$i]}" "${cb8[$i]}")"); done
		echo "base $BASE: median $(median "${cb8[@]}") s ($(spread "${cb8[@]}")): ${cb8[*]}"
		echo "cold8_base_vs_link_limit: $(ratio "$m_cl8" "$(median "${cb8[@]}")")x of medians, per-round median $(median "${r[@]}")x ($(spread "${r[@]}"))"
		r=(); for i in "${!ct8[@]}"; do r+=("$(ratio "${cb8[$i]}" "${ct8[$i]}")"); done
		echo "cold8_this_vs_base: per-round median $(median "${r[@]}")x ($(spread "${r[@]}")) (base's time over this build's)"
	fi
	if [ -n "${BENCH_CONF_B:-}" ]; then
		r=(); for i in "${!cl8[@]}"; do r+=("$(ratio "${cl8[$i]}" "${cx8[$i]}")"); done
		echo "weir with \"$BENCH_CONF_B\": median $(median "${cx8[@]}") s ($(spread "${cx8[@]}")): ${cx8[*]}"
		echo "cold8_b_vs_link_limit: $(ratio "$m_cl8" "$(median "${cx8[@]}")")x of medians, per-round median $(median "${r[@]}")x ($(spread "${r[@]}"))"
	fi
	exit 0
fi

# BENCH_ONLY=timeline: one cold cp -R of this build (and of BENCH_BASE_BUILD's), cp under strace
# for the time of each open, nginx's timing.log for each request's start and end:
# bench/cold_timeline.py prints, per file, when cp opened it against when its requests began and
# ended, and how long the link had each number of requests in flight (idle slots show there).
if [ "${BENCH_ONLY:-}" = timeline ]; then
	command -v strace >/dev/null || fail "BENCH_ONLY=timeline needs strace"
	for build in "$THIS_BUILD" ${BASE:+"$BASE"}; do
		step "timeline of a cold cp -R through $build"
		dir="$(mktemp -d "$TMP/side.XXXXXX")"
		weir_use_build "$build"
		weir_setup "$dir"
		printf 'metrics-listen =\n' >"$WEIR_STATE/node.conf"
		weir_mount "$THROTTLED" "$dir/mnt" --tier "mem:$WEIR_TIER_DIR/mem:4GiB" "${WEIR_ARGS[@]}" >/dev/null
		: >"$NGINX_DIR/timing.log"
		t="$(timed "$SHM/out" strace -f -ttt -e trace=openat -o "$dir/opens.txt" cp -R "$dir/mnt/spark-3.3.1" "$SHM/out")"
		diff -rq "$SHM/tree/spark-3.3.1" "$SHM/out" >/dev/null || fail "$build: the cold copy differs from the source"
		note "cold cp -R (under strace): $t s; load $(cut -d' ' -f1 /proc/loadavg)"
		python3 "$here/cold_timeline.py" "$NGINX_DIR/timing.log" "$dir/opens.txt" spark-3.3.1 "$CONNS"
		weir_teardown >/dev/null 2>&1
		WEIR_MOUNTS=()
	done
	exit 0
fi

step "single-stream curl of spark-3.3.1 through the throttle (one connection, files in turn)"
urls=()
for f in "$SHM/tree/spark-3.3.1"/*; do urls+=("${THROTTLED}spark-3.3.1/$(basename "$f")" -o /dev/null); done
t_curl="$(timed "$TMP/none" curl -sS --fail "${urls[@]}")"
note "curl: $t_curl s ($(mbps "$BYTES" "$t_curl"))"

step "the link's limit for $CONNS connections: curl, $CONNS parallel 1 MiB range requests of the same files"
t_par="$(timed "$TMP/none" par_curl "$CONNS" "${files[@]}")"
note "parallel curl: $t_par s ($(mbps "$BYTES" "$t_par"))"

step "rclone mount --vfs-cache-mode full of the same URL: cold cp -R"
RMP="$TMP/rclone"
mkdir -p "$RMP"
command -v rclone >/dev/null || fail "rclone is missing (apt-get install rclone)"
(unset AWS_CA_BUNDLE; exec rclone mount :http: "$RMP" --http-url "$THROTTLED" --read-only \
	--vfs-cache-mode full --cache-dir "$TMP/rclone-cache" --dir-cache-time 1h \
	--log-file "$TMP/rclone.log" --log-level NOTICE) &
rpid=$!
pid_track "$rpid"
at_exit "fusermount3 -uz '$RMP' 2>/dev/null; pid_stop $rpid"
for i in $(seq 1 100); do is_mounted "$RMP" && break; pid_alive "$rpid" || break; sleep 0.1; done
is_mounted "$RMP" || fail "rclone mount did not come up: $(tail -5 "$TMP/rclone.log" 2>/dev/null)"
t_rclone="$(timed "$SHM/out" cp -R "$RMP/spark-3.3.1" "$SHM/out")"
note "rclone cold cp -R: $t_rclone s ($(mbps "$BYTES" "$t_rclone"))"
fusermount3 -uz "$RMP" 2>/dev/null || true

step "cold: cp -R through a fresh weir view of the throttled URL"
weir_mount "$THROTTLED" "$MP" --tier "$TIERS" "${WEIR_ARGS[@]}"
t_cold="$(timed "$SHM/out" cp -R "$MP/spark-3.3.1" "$SHM/out")"
note "cold cp -R: $t_cold s ($(mbps "$BYTES" "$t_cold"))"
diff -rq "$SHM/tree/spark-3.3.1" "$SHM/out" >/dev/null || fail "the cold copy differs from the source"

step "warm, page cache and tmpfs, interleaved so the machine's noise hits all three; best of $RUNS"
# each round: remount (empty page cache) -> cp through the daemon (warm) -> cp again (page cache)
# -> cp of the same tree from /dev/shm (tmpfs)
warm=() pc=() tmpfs=()
for i in $(seq 1 "$RUNS"); do
	remount "$THROTTLED"
	warm+=("$(timed "$SHM/out" cp -R "$MP/spark-3.3.1" "$SHM/out")")
	pc+=("$(timed "$SHM/out" cp -R "$MP/spark-3.3.1" "$SHM/out")")
	tmpfs+=("$(timed "$SHM/out" cp -R "$SHM/tree/spark-3.3.1" "$SHM/out")")
done
t_warm="$(best "${warm[@]}")" t_pc="$(best "${pc[@]}")" t_tmpfs="$(best "${tmpfs[@]}")"
note "warm runs:       ${warm[*]} s; best $t_warm s ($(mbps "$BYTES" "$t_warm"))"
note "page-cache runs: ${pc[*]} s; best $t_pc s ($(mbps "$BYTES" "$t_pc"))"
note "tmpfs runs:      ${tmpfs[*]} s; best $t_tmpfs s ($(mbps "$BYTES" "$t_tmpfs"))"

step "the same reads without cp's copy_file_range: cat of every file to /dev/null; best of $RUNS"
# cp between two tmpfs paths copies inside the kernel (copy_file_range on one file system);
# from any other file system, a FUSE view included, it gets EXDEV and reads and writes. These
# runs compare what a reader (a training job) sees: bytes read, nothing written.
catv=() catt=()
for i in $(seq 1 "$RUNS"); do
	catv+=("$(timed "$TMP/none" sh -c 'cat "$1"/* >/dev/null' sh "$MP/spark-3.3.1")")
	catt+=("$(timed "$TMP/none" sh -c 'cat "$1"/* >/dev/null' sh "$SHM/tree/spark-3.3.1")")
done
t_catv="$(best "${catv[@]}")" t_catt="$(best "${catt[@]}")"
note "page-cache reads: ${catv[*]} s; tmpfs reads: ${catt[*]} s"

pid="$(weir_node_pid)"
rss="$(awk '/VmHWM/ { print $2 " " $3 }' "/proc/$pid/status" 2>/dev/null || echo unknown)"
w stat "$MP" >"$TMP/stat.txt" 2>&1 || true

step "8 cold readers of different files at once: a fresh view, against the link's limit for them"
t_par8="$(timed "$TMP/none" par_curl "$CONNS" "${big[@]}")"
w umount "$MP" >/dev/null || fail "weir umount $MP failed"
pid_signal TERM "$pid" || true
pid_wait_gone 5 "$pid" || true
rm -rf "$WEIR_STATE" "$WEIR_TIER_DIR"/* && mkdir -p "$WEIR_STATE"
weir_mount "$THROTTLED" "$MP" --tier "$TIERS" "${WEIR_ARGS[@]}"
read8() { local f; for f in "$@"; do cat "$MP/$f" >/dev/null & done; wait; }
t_cold8="$(timed "$TMP/none" read8 "${big[@]}")"
note "8 readers: $t_cold8 s ($(mbps "$BYTES8" "$t_cold8")); parallel curl of the same: $t_par8 s ($(mbps "$BYTES8" "$t_par8"))"
pid="$(weir_node_pid)"

step "cold against nginx's own limit_rate (informational: its 1 s burst per request favours short ranges)"
w umount "$MP" >/dev/null || fail "weir umount failed"
pid_old="$pid"
pid_signal TERM "$pid_old" || true
pid_wait_gone 5 "$pid_old" || true
rm -rf "$WEIR_STATE" "$WEIR_TIER_DIR"/* && mkdir -p "$WEIR_STATE"
weir_mount "$NGINX_URL" "$MP" --tier "$TIERS" "${WEIR_ARGS[@]}"
t_cold_nginx="$(timed "$SHM/out" cp -R "$MP/spark-3.3.1" "$SHM/out")"
note "cold cp -R via nginx limit_rate: $t_cold_nginx s"

if [ -n "$BASE" ]; then
	step "cold side by side: the link's limit, $BASE, this build; $CROUNDS rounds interleaved"
	cl=() cb=() ct=() cl8=() cb8=() ct8=()
	for i in $(seq 1 "$CROUNDS"); do
		cl+=("$(timed "$TMP/none" par_curl "$CONNS" "${files[@]}")")
		cb+=("$(cold_of "$BASE")")
		ct+=("$(cold_of "$THIS_BUILD")")
		cl8+=("$(timed "$TMP/none" par_curl "$CONNS" "${big[@]}")")
		cb8+=("$(cold_of "$BASE" 8)")
		ct8+=("$(cold_of "$THIS_BUILD" 8)")
		[ -n "${cb[-1]}" ] && [ -n "${ct[-1]}" ] && [ -n "${cb8[-1]}" ] && [ -n "${ct8[-1]}" ] ||
			fail "a side-by-side cold copy failed (round $i)"
		note "round $i: cp -R: link limit ${cl[-1]} s, base ${cb[-1]} s, this ${ct[-1]} s; 8 readers: link limit ${cl8[-1]} s, base ${cb8[-1]} s, this ${ct8[-1]} s"
	done
	m_cl="$(median "${cl[@]}")" m_cb="$(median "${cb[@]}")" m_ct="$(median "${ct[@]}")"
	m_cl8="$(median "${cl8[@]}")" m_cb8="$(median "${cb8[@]}")" m_ct8="$(median "${ct8[@]}")"
fi

echo
echo "weir stat after the warm runs:"
sed 's/^/  /' "$TMP/stat.txt"
echo
echo "bytes: $BYTES (spark-3.3.1 at scale $SCALE), per-connection cap $RATE B/s"
echo "curl single stream: ${t_curl} s; curl $CONNS parallel: ${t_par} s; rclone: ${t_rclone} s; cold: ${t_cold} s; warm: ${t_warm} s; page cache: ${t_pc} s; tmpfs: ${t_tmpfs} s"
echo "cold_vs_link_limit: $(ratio "$t_par" "$t_cold")x of $CONNS parallel curl range requests (target >= 0.9x)"
echo "cold_vs_rclone: $(ratio "$t_rclone" "$t_cold")x (rclone's time over weir's)"
echo "cold8_vs_link_limit: $(ratio "$t_par8" "$t_cold8")x: 8 cold readers of different files vs $CONNS parallel curl of them (target >= 0.9x)"
echo "cold_speedup_single_stream: $(ratio "$t_curl" "$t_cold")x (informational: one connection is no peer's choice)"
echo "warm_vs_tmpfs: $(ratio "$t_warm" "$t_tmpfs")x (target <= 1.25x)"
echo "pagecache_vs_tmpfs: $(ratio "$t_pc" "$t_tmpfs")x (target <= 1.05x; cp from tmpfs to tmpfs uses copy_file_range)"
echo "pagecache_read_vs_tmpfs: $(ratio "$t_catv" "$t_catt")x (reads only: cat to /dev/null)"
echo "cold_speedup_nginx_limit_rate: $(ratio "$t_curl" "$t_cold_nginx")x (informational)"
echo "weir_node_peak_rss: $rss"
if [ -n "$BASE" ]; then
	echo "side by side, medians of $CROUNDS interleaved rounds: link limit ${m_cl} s (${cl[*]}), base ${m_cb} s (${cb[*]}), this ${m_ct} s (${ct[*]})"
	echo "side_cold_base_vs_link_limit: $(ratio "$m_cl" "$m_cb")x"
	echo "side_cold_this_vs_link_limit: $(ratio "$m_cl" "$m_ct")x (target >= 0.9x)"
	echo "side_cold_this_vs_base: $(ratio "$m_cb" "$m_ct")x (base's time over this build's)"
	echo "side by side, 8 readers: link limit ${m_cl8} s (${cl8[*]}), base ${m_cb8} s (${cb8[*]}), this ${m_ct8} s (${ct8[*]})"
	echo "side_cold8_base_vs_link_limit: $(ratio "$m_cl8" "$m_cb8")x"
	echo "side_cold8_this_vs_link_limit: $(ratio "$m_cl8" "$m_ct8")x (target >= 0.9x)"
fi
