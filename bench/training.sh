#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (issue 13), prints figures and never fails on targets: weir bench's training workloads
# (files, shards, checkpoint) on a weir view of an HTTP tree capped at 10 MB/s per connection, vs
# the same tree in tmpfs (the limit), vs rclone mount --vfs-cache-mode full of the same URL, and vs
# s3fs (use_cache) of the same tree in an S3 bucket (versitygw, built by tests/k8s/peers.sh) behind
# the same per-connection cap.
# Epoch 1 is cold (fresh mounts, empty caches), epochs 2.. warm, all in one weir bench run that
# interleaves the three directories per epoch. Writes bench/results/training.{txt,json,png}.
# Needs root, /dev/fuse, nginx-light, gnuplot-nox, rclone and s3fs (installed here with apt-get if
# missing).
#
# Scale: BENCH_FILES (files:2000x110KiB), BENCH_SHARDS (shards:8x32MiB), BENCH_CHECKPOINT
# (checkpoint:1x128MiB), BENCH_WORKERS (8), BENCH_EPOCHS (3), BENCH_CONNS (8: weir's
# --fetch-concurrency; rclone 1.60 opens one stream per open file, so its connections are its
# concurrent readers, BENCH_WORKERS), BENCH_RATE (10000000 B/s per connection).
# BENCH_WORKLOAD: files, shards, checkpoint or all (the default).
# BENCH_WEIR_ARGS: more weir mount flags (default none: fully cached files are read through FUSE
# passthrough, as a user gets them; "--no-passthrough" measures the view's own page cache).
# The issue's full scale is BENCH_FILES=files:100000x110KiB BENCH_SHARDS=shards:32x256MiB.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/lib.sh"
. "$here/../tests/helpers/nginx.sh"
. "$here/../tests/helpers/throttle.sh"
. "$here/../tests/helpers/weir.sh"
. "$here/../tests/helpers/versitygw.sh"

FILES="${BENCH_FILES:-files:2000x110KiB}"
SHARDS="${BENCH_SHARDS:-shards:8x32MiB}"
CKPT="${BENCH_CHECKPOINT:-checkpoint:1x128MiB}"
WORKERS="${BENCH_WORKERS:-8}"
EPOCHS="${BENCH_EPOCHS:-3}"
CONNS="${BENCH_CONNS:-8}"
RATE="${BENCH_RATE:-10000000}"
WEIR_ARGS=(${BENCH_WEIR_ARGS:-})
WORKLOAD="${BENCH_WORKLOAD:-all}" # files, shards, checkpoint or all
OUT="${BENCH_RESULTS:-$here/results}"

require_root_fuse
find_weir_bins
need=()
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
command -v rclone >/dev/null || need+=(rclone)
command -v s3fs >/dev/null || need+=(s3fs)
if [ ${#need[@]} -gt 0 ]; then
	step "installing ${need[*]} (apt-get)"
	apt-get install -y "${need[@]}" >/dev/null || fail "apt-get install ${need[*]} failed; install them and rerun"
fi
mkdir -p "$OUT"
TMP="$(mktemp -d /tmp/weir-training.XXXXXX)"
at_exit 'rm -rf "$TMP"'
SHM="$(mktemp -d /dev/shm/weir-training.XXXXXX)"
at_exit 'rm -rf "$SHM"'
weir_setup "$TMP"
MP="$TMP/weir" RMP="$TMP/rclone" SMP="$TMP/s3fs"
t_start="$(now)"

step "generate $FILES, $SHARDS, $CKPT in tmpfs"
"$WEIR_BIN" bench --generate "$FILES" --generate "$SHARDS" --generate "$CKPT" "$SHM/tree" | sed 's/^/  /'
note "$(du -sb "$SHM/tree" | cut -f1) bytes"

step "nginx on loopback, a per-connection throttle at $RATE B/s in front (tests/helpers/throttle.py)"
nginx_start "$TMP/nginx" "$SHM/tree" --limit-rate "$((RATE / 1000000))m"
throttle_start "$NGINX_PORT" "$RATE"
URL="$THROTTLE_URL"
note "throttled tree: $URL"

step "the same tree in an S3 bucket (versitygw), behind the same per-connection throttle"
"$here/../tests/k8s/peers.sh" versitygw | sed 's/^/  /'
vgw_start "$SHM/vgw"
vgw_curl -f -X PUT "$VGW_URL/train" -o /dev/null || fail "creating the bucket failed"
vgw_put_tree "$SHM/tree" train
throttle_start "${VGW_URL##*:}" "$RATE"
S3_URL="${THROTTLE_URL%/}"
note "bucket train at $VGW_URL, throttled: $S3_URL"

step "weir view of $URL (--fetch-concurrency $CONNS ${WEIR_ARGS[*]}), rclone mount of the same URL (--vfs-cache-mode full)"
weir_mount "$URL" "$MP" --tier "mem:$WEIR_TIER_DIR/mem:8GiB" --fetch-concurrency "$CONNS" "${WEIR_ARGS[@]}"
mkdir -p "$RMP"
# rclone reads AWS_CA_BUNDLE even for http and fails if it names a missing file
(unset AWS_CA_BUNDLE; exec rclone mount :http: "$RMP" --http-url "$URL" --read-only \
	--vfs-cache-mode full --cache-dir "$TMP/rclone-cache" --vfs-cache-max-size 16G \
	--dir-cache-time 1h --log-file "$TMP/rclone.log" --log-level NOTICE) &
rpid=$!
pid_track "$rpid"
at_exit "fusermount3 -uz '$RMP' 2>/dev/null; pid_stop $rpid"
for i in $(seq 1 100); do is_mounted "$RMP" && break; pid_alive "$rpid" || break; sleep 0.1; done
is_mounted "$RMP" || fail "rclone mount did not come up: $(tail -5 "$TMP/rclone.log" 2>/dev/null)"
(umask 077 && printf '%s:%s\n' "$VGW_KEY" "$VGW_SECRET" >"$TMP/s3fs.passwd")
mkdir -p "$SMP"
s3fs train "$SMP" -o ro -o url="$S3_URL" -o use_path_request_style -o passwd_file="$TMP/s3fs.passwd" \
	-o use_cache="$SHM/s3fs-cache" -o parallel_count="$CONNS" -o logfile="$TMP/s3fs.log" ||
	fail "s3fs did not mount: $(tail -5 "$TMP/s3fs.log" 2>/dev/null)"
at_exit "fusermount3 -uz '$SMP' 2>/dev/null"
for i in $(seq 1 100); do is_mounted "$SMP" && break; sleep 0.1; done
is_mounted "$SMP" || fail "s3fs did not mount at $SMP: $(tail -5 "$TMP/s3fs.log" 2>/dev/null)"
note "weir at $MP, rclone at $RMP (pid $rpid), s3fs at $SMP (parallel_count $CONNS)"

step "weir bench --workload $WORKLOAD --workers $WORKERS --epochs $EPOCHS: weir view, tmpfs, rclone, s3fs"
"$WEIR_BIN" --state-dir "$WEIR_STATE" bench --workload "$WORKLOAD" --workers "$WORKERS" --epochs "$EPOCHS" \
	--compare "$SHM/tree" --compare "$RMP" --compare "$SMP" -o json --plot "$OUT/training.png" "$MP" \
	>"$OUT/training.json" || fail "weir bench failed"

python3 - "$OUT/training.json" "$MP" "$SHM/tree" "$RMP" "$SMP" >"$OUT/training.txt" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
name = {sys.argv[2]: "weir", sys.argv[3]: "tmpfs", sys.argv[4]: "rclone", sys.argv[5]: "s3fs"}
rows = {}
for r in j["results"]:
    for e in r["epochs"]:
        rows[(r["workload"], e["epoch"], name[r["dir"]])] = (r, e)
print(f"weir bench, {j['workers']} workers, {j['epochs']} epochs (1 cold, the rest warm)")
print(f"{'workload':11}{'epoch':>6}{'system':>8}{'seconds':>10}{'files/s':>10}{'MB/s':>9}{'p50 ms':>10}{'p99 ms':>10}{'UFS MB':>9}{'weir/this':>10}")
for wl in ("files", "shards", "checkpoint"):
    if (wl, 1, "weir") not in rows:
        continue
    for ep in range(1, j["epochs"] + 1):
        first = rows[(wl, ep, "weir")][1]
        key = "files_per_s" if wl == "files" else "mb_per_s"
        for sysname in ("weir", "tmpfs", "rclone", "s3fs"):
            r, e = rows[(wl, ep, sysname)]
            ufs = "-" if e["ufs_bytes"] is None else f"{e['ufs_bytes'] / 1e6:.1f}"
            ratio = "-" if sysname == "weir" else f"{first[key] / e[key]:.2f}x"
            print(f"{wl:11}{ep:>6}{sysname:>8}{e['seconds']:>10.3f}{e['files_per_s']:>10.0f}{e['mb_per_s']:>9.1f}{e['p50_ms']:>10.3f}{e['p99_ms']:>10.3f}{ufs:>9}{ratio:>10}")
ck = ([r for r in j["results"] if r["workload"] == "checkpoint" and name[r["dir"]] == "weir"] or [None])[0]
if ck is None:
    sys.exit(0)
size = ck["bytes_per_epoch"] // j["workers"]
cold = ck["epochs"][0]["ufs_bytes"]
if cold is not None:
    print(f"checkpoint: {j['workers']} readers, cold UFS bytes {cold} = {cold / size:.2f}x the file ({size} bytes)")
PY
cat "$OUT/training.txt"
pid="$(weir_node_pid)"
echo "weir-node peak RSS: $(awk '/VmHWM/ { print $2 " " $3 }' "/proc/$pid/status" 2>/dev/null || echo unknown)"
echo "results: $OUT/training.txt, $OUT/training.json, $OUT/training.png; $(elapsed "$t_start" "$(now)") s in all"
