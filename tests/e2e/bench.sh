#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end (issue 13): weir bench's own correctness on a tiny generated tree, through a weir view
# of it (local://) compared with the tmpfs source: files and bytes counted exactly, JSON complete
# and sane, a cold checkpoint read by 4 processes fetched once from the UFS, --plot draws a PNG,
# and hostile arguments fail with a message that names them. Timings are printed, never judged.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"

require_root_fuse
find_weir_bins
command -v gnuplot >/dev/null || fail "gnuplot is missing: install gnuplot-nox (scripts/install-deps.sh)"
TMP="$(mktemp -d /tmp/weir-e2e-bench.XXXXXX)"
at_exit 'rm -rf "$TMP"'
SRC="$(mktemp -d /dev/shm/weir-e2e-bench.XXXXXX)"
at_exit 'rm -rf "$SRC"'
MP="$TMP/mnt"
weir_setup "$TMP"
CKPT=5000123 # an odd size: the last block is partial

step "generate the tree in tmpfs: 300 small files, 3 shards, a checkpoint"
w bench --generate files:300x12KiB --generate shards:3x3MiB --generate "checkpoint:1x$CKPT" "$SRC" |
	sed 's/^/  /'
FILES_N=$(find "$SRC/files" -type f | wc -l)
FILES_B=$(( $(find "$SRC/files" -type f -printf '%s+') 0 ))
SHARDS_N=$(find "$SRC/shards" -type f | wc -l)
SHARDS_B=$(( $(find "$SRC/shards" -type f -printf '%s+') 0 ))
[ "$FILES_N" -eq 300 ] && [ "$FILES_B" -eq $((300 * 12288)) ] || fail "generated $FILES_N small files of $FILES_B bytes, want 300 of 12288 each"
[ "$SHARDS_N" -eq 3 ] && [ "$SHARDS_B" -eq $((3 * 3145728)) ] || fail "generated $SHARDS_N shards of $SHARDS_B bytes"
[ "$(stat -c %s "$SRC/checkpoint/checkpoint-000000.pt")" -eq "$CKPT" ] || fail "the checkpoint is not $CKPT bytes"
# incompressible and reproducible: gzip gains nothing; a second generation is byte-identical
gz=$(gzip -c "$SRC/shards/shard-000000.tar" | wc -c)
[ "$gz" -ge 3145728 ] || fail "shard-000000.tar compresses to $gz bytes: the data is not random"
w bench --generate files:3x12KiB "$TMP/again" >/dev/null
cmp "$SRC/files/0000/00000002.bin" "$TMP/again/files/0000/00000002.bin" || fail "a regenerated file differs"
cmp -s "$SRC/files/0000/00000001.bin" "$SRC/files/0000/00000002.bin" && fail "two generated files are identical"
ok "$FILES_N files ($FILES_B bytes), $SHARDS_N shards ($SHARDS_B bytes), a $CKPT-byte checkpoint; random, reproducible"

step "weir mount local://$SRC $MP"
# With passthrough, as a user mounts it: the warm epochs' concurrent opens of one complete file
# (the checkpoint workload) share its backing file; before that was fixed they failed with EIO,
# which is how weir bench found the bug.
weir_mount "local://$SRC" "$MP" --tier "mem:$WEIR_TIER_DIR/mem:256MiB"
ok "mounted"

# check_json FILE WORKLOAD N BYTES EPOCHS: the results of one workload on the view and on tmpfs.
check_json() {
	python3 - "$@" "$MP" "$SRC" <<'PY' || fail "weir bench -o json for $2: the checks above failed ($1)"
import json, sys
path, workload, n, nbytes, epochs, mp, src = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7]
j = json.load(open(path))
def need(cond, what):
    if not cond:
        print(f"  {workload}: {what}", file=sys.stderr)
        sys.exit(1)
need(j["epochs"] == epochs and j["dirs"] == [mp, src], f"header {j['epochs']} {j['dirs']}")
res = [r for r in j["results"] if r["workload"] == workload]
need([r["dir"] for r in res] == [mp, src], f"results for {[r['dir'] for r in res]}, want the view then tmpfs")
for r in res:
    view = r["dir"] == mp
    need(r["weir_view"] == view, f"{r['dir']}: weir_view {r['weir_view']}")
    need(r["bytes_per_epoch"] == nbytes, f"{r['dir']}: bytes_per_epoch {r['bytes_per_epoch']} != {nbytes}")
    need(len(r["epochs"]) == epochs, f"{r['dir']}: {len(r['epochs'])} epochs")
    for e in r["epochs"]:
        where = f"{r['dir']} epoch {e['epoch']}"
        need(e["files"] == n, f"{where}: files {e['files']} != {n}")
        need(e["bytes"] == nbytes, f"{where}: bytes {e['bytes']} != {nbytes}")
        need(e["seconds"] > 0 and e["files_per_s"] > 0 and e["mb_per_s"] > 0, f"{where}: no throughput")
        mbs = nbytes / e["seconds"] / 1e6
        need(abs(e["mb_per_s"] - mbs) <= 1e-6 * mbs, f"{where}: mb_per_s {e['mb_per_s']} is not bytes/seconds")
        need(0 < e["p50_ms"] <= e["p99_ms"] <= e["seconds"] * 1000, f"{where}: p50 {e['p50_ms']} p99 {e['p99_ms']}")
        need((e["ufs_bytes"] is not None) == view, f"{where}: ufs_bytes {e['ufs_bytes']}")
        need((e["first_vs_this"] is not None) == (not view), f"{where}: first_vs_this {e['first_vs_this']}")
        print(f"  {workload:10} {'view ' if view else 'tmpfs'} epoch {e['epoch']}: {e['files_per_s']:9.0f} files/s {e['mb_per_s']:8.1f} MB/s p99 {e['p99_ms']:.3f} ms ufs {e['ufs_bytes']}")
PY
}

step "checkpoint, 4 readers, cold then warm: the view fetches the file once"
w bench --workload checkpoint --workers 4 --epochs 2 --compare "$SRC" -o json "$MP" >"$TMP/ckpt.json" ||
	fail "weir bench --workload checkpoint exited with $?"
check_json "$TMP/ckpt.json" checkpoint 4 $((4 * CKPT)) 2
cold=$(json_get "$TMP/ckpt.json" results 0 epochs 0 ufs_bytes)
warm=$(json_get "$TMP/ckpt.json" results 0 epochs 1 ufs_bytes)
[ "$cold" -eq "$CKPT" ] || fail "4 cold readers of the checkpoint fetched $cold bytes from the UFS; want exactly $CKPT (1x the file)"
[ "$warm" -eq 0 ] || fail "a warm checkpoint read fetched $warm bytes from the UFS; want 0"
[ "$(json_get "$TMP/ckpt.json" results 0 checkpoint)" = "$MP/checkpoint/checkpoint-000000.pt" ] || fail "the checkpoint read is not the generated one"
ok "cold: $cold bytes from the UFS (1.00x the file) for 4 readers; warm: 0"

step "files, 3 workers, 2 epochs, compared with tmpfs"
w bench --workload files --workers 3 --epochs 2 --compare "$SRC" -o json "$MP" >"$TMP/files.json" ||
	fail "weir bench --workload files exited with $?"
check_json "$TMP/files.json" files "$FILES_N" "$FILES_B" 2
ok "every epoch read all $FILES_N files and $FILES_B bytes on both"

step "shards, 2 workers, 2 epochs, compared with tmpfs"
w bench --workload shards --workers 2 --epochs 2 --compare "$SRC" -o json "$MP" >"$TMP/shards.json" ||
	fail "weir bench --workload shards exited with $?"
check_json "$TMP/shards.json" shards "$SHARDS_N" "$SHARDS_B" 2
ok "every epoch read all $SHARDS_N shards and $SHARDS_B bytes on both"

step "all workloads, table output and --plot"
w bench --workers 2 --epochs 2 --compare "$SRC" --plot "$TMP/out.png" "$MP" >"$TMP/table.txt" ||
	fail "weir bench --plot exited with $?"
sed 's/^/  /' "$TMP/table.txt"
for wl in files shards checkpoint; do
	[ "$(grep -c "^$wl " "$TMP/table.txt")" -eq 4 ] || fail "the table has not 4 rows (2 epochs x 2 dirs) for $wl"
done
[ -s "$TMP/out.png" ] || fail "--plot wrote no $TMP/out.png"
[ "$(head -c 8 "$TMP/out.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
	fail "$TMP/out.png does not start with the PNG signature"
ok "a table of 12 rows and a $(stat -c %s "$TMP/out.png")-byte PNG"

step "hostile arguments fail with a message that names them"
# expect_fail RC TEXT ARGS...: weir bench ARGS must exit RC and say TEXT on stderr
expect_fail() {
	local want="$1" text="$2" rc=0
	shift 2
	w bench "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
	[ "$rc" -eq "$want" ] || fail "weir bench $* exited with $rc, want $want (stderr: $(cat "$TMP/err"))"
	grep -qF -- "$text" "$TMP/err" || fail "weir bench $* said \"$(cat "$TMP/err")\", which does not contain: $text"
	ok "weir bench $*: $(head -n 1 "$TMP/err")"
}
expect_fail 2 'unknown workload "videos"' --workload videos "$SRC"
expect_fail 2 '--workers "0"' --workers 0 "$SRC"
expect_fail 2 '--workers "-2"' --workers -2 "$SRC"
expect_fail 2 '--workers "1025"' --workers 1025 "$SRC"
expect_fail 2 '--epochs "two"' --epochs two "$SRC"
expect_fail 2 'cannot open "/nonexistent/weir"' /nonexistent/weir
expect_fail 2 "\"$SRC/checkpoint/checkpoint-000000.pt\" is not a directory" "$SRC/checkpoint/checkpoint-000000.pt"
expect_fail 2 'cannot open "/nonexistent/cmp"' --compare /nonexistent/cmp "$SRC"
expect_fail 2 'which directory?'
expect_fail 2 'one DIR to bench, got 2' "$SRC" "$MP"
expect_fail 2 'unknown output "xml"' -o xml "$SRC"
expect_fail 2 'size "12QB"' --generate files:10x12QB "$TMP/gen"
expect_fail 2 'count "0"' --generate files:0x1KiB "$TMP/gen"
expect_fail 2 'unknown kind "videos"' --generate videos:1x1KiB "$TMP/gen"
expect_fail 2 'cannot write the plot "/nonexistent/p.png"' --plot /nonexistent/p.png "$SRC"
mkdir -p "$TMP/empty"
expect_fail 1 "no files under \"$TMP/empty\"" --workload files "$TMP/empty"
if command -v setpriv >/dev/null; then
	rc=0
	setpriv --reuid=65534 --regid=65534 --clear-groups "$WEIR_BIN" bench --drop-caches "$SRC" 2>"$TMP/err" >/dev/null || rc=$?
	[ "$rc" -eq 2 ] && grep -q "only root" "$TMP/err" || fail "--drop-caches as uid 65534 exited $rc: $(cat "$TMP/err")"
	ok "--drop-caches as uid 65534: $(cat "$TMP/err" | head -n 1)"
fi
[ ! -e "$TMP/gen" ] || fail "a rejected --generate created $TMP/gen"
echo
echo "bench: all checks passed"
