#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (issue 4), prints figures and never fails on targets: a cold sequential read of large
# files from a UFS capped per connection, with stream prefetch vs without (--no-prefetch; the
# kernel's own read-ahead stays in both). Target: prefetch >= 1.5x faster.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/lib.sh"
. "$here/../tests/helpers/nginx.sh"
. "$here/../tests/helpers/weir.sh"

RATE="${BENCH_RATE:-10000000}" # bytes/s per connection
SIZE_MB="${BENCH_SIZE_MB:-96}" # per file
FILES="${BENCH_FILES:-2}"

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-bench-pf.XXXXXX)"
at_exit 'rm -rf "$TMP"'
SHM="$(mktemp -d /dev/shm/weir-bench-pf.XXXXXX)"
at_exit 'rm -rf "$SHM"'
weir_setup "$TMP"
TIERS="mem:$WEIR_TIER_DIR/mem:4GiB"

step "$FILES files of $SIZE_MB MiB behind a per-connection throttle of $RATE B/s"
mkdir -p "$SHM/tree"
for i in $(seq 1 "$FILES"); do rand_file "$SHM/tree/f$i.bin" $((SIZE_MB << 20)) "pf$i"; done
nginx_start "$TMP/nginx" "$SHM/tree"
TPORT="$(free_port)"
python3 "$here/../tests/helpers/throttle.py" "$TPORT" "$NGINX_PORT" "$RATE" >"$TMP/throttle.log" 2>&1 &
tpid=$!
pid_track "$tpid"
at_exit "pid_stop $tpid"
sleep 0.5
URL="http://127.0.0.1:$TPORT/"

# cold_read FLAGS...: a fresh source (new daemon state) each time, then dd of every file
cold_read() {
	local mp="$TMP/mnt" t0 t1 pid
	pid="$(weir_node_pid)"
	if [ -n "$pid" ]; then
		w umount "$mp" >/dev/null 2>&1 || true
		pid_signal TERM "$pid"
		pid_wait_gone 5 "$pid" || true
	fi
	rm -rf "$WEIR_STATE" "${WEIR_TIER_DIR:?}"/* && mkdir -p "$WEIR_STATE"
	weir_mount "$URL" "$mp" --tier "$TIERS" "$@" >/dev/null
	t0="$(now)"
	for i in $(seq 1 "$FILES"); do dd if="$mp/f$i.bin" of=/dev/null bs=1M status=none; done
	t1="$(now)"
	w stat "$mp" -o json >"$TMP/stat.json"
	elapsed "$t0" "$t1"
}

step "cold sequential read without prefetch (--no-prefetch)"
t_off="$(cold_read --no-prefetch)"
note "no prefetch: $t_off s, prefetched $(json_get "$TMP/stat.json" prefetch_bytes) bytes"
step "cold sequential read with stream prefetch"
t_on="$(cold_read)"
note "prefetch: $t_on s, prefetched $(json_get "$TMP/stat.json" prefetch_bytes) bytes, streams $(json_get "$TMP/stat.json" streams)"
w top --once -o json | sed -n '/"bpf"/p' | sed 's/^ */  /'
bytes=$((FILES * SIZE_MB << 20))
echo
echo "bytes: $bytes in $FILES files, per-connection cap $RATE B/s"
echo "no_prefetch: $t_off s ($(awk -v b=$bytes -v s="$t_off" 'BEGIN { printf "%.1f MB/s", b / s / 1e6 }'))"
echo "prefetch: $t_on s ($(awk -v b=$bytes -v s="$t_on" 'BEGIN { printf "%.1f MB/s", b / s / 1e6 }'))"
echo "prefetch_speedup: $(awk -v a="$t_off" -v b="$t_on" 'BEGIN { printf "%.2f", a / b }')x (target >= 1.5x)"
