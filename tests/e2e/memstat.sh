#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end (issue 13): weir stat's breakdown of weir-node's memory is measured, not made up.
# A view of 2000 small files and one 64 MiB file served by nginx is read whole; then every field
# exists and is non-zero, the kernel's parts add up to the RSS, the subsystems fit in the heap in
# use, the heap and the block buffers kept spare (mappings of their own) explain the anonymous
# memory to within a factor of two, and each view's tables grow with
# its inodes (a second view over more files holds more per the same count, never less).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/nginx.sh"
. "$here/../helpers/weir.sh"

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-e2e-memstat.XXXXXX)"
at_exit 'rm -rf "$TMP"'
SRC="$(mktemp -d /dev/shm/weir-e2e-memstat.XXXXXX)"
at_exit 'rm -rf "$SRC"'
weir_setup "$TMP"

step "2000 small files behind nginx, a weir view of them, every file read through it"
w bench --generate files:2000x4KiB "$SRC" >/dev/null
head -c $((64 << 20)) /dev/urandom >"$SRC/big.bin"
nginx_start "$TMP/nginx" "$SRC"
at_exit nginx_stop
MP="$TMP/mnt"
weir_mount "$NGINX_URL" "$MP" --tier "mem:$WEIR_TIER_DIR/mem:256MiB"
n=$(find "$MP/files" -type f | wc -l)
[ "$n" -eq 2000 ] || fail "the view lists $n files, want 2000"
(cd "$SRC" && find files -type f | sort) >"$TMP/list"
(cd "$MP" && xargs cat <"$TMP/list") | cmp - <(cd "$SRC" && xargs cat <"$TMP/list") ||
	fail "bytes read through the view differ from the source"
ok "2000 files read, bytes identical"
cmp "$MP/big.bin" "$SRC/big.bin" || fail "the 64 MiB file read through the view differs from the source"
ok "a 64 MiB file read, bytes identical"

# check_memory JSON: the checks on one weir stat -o json (a list of views)
check_memory() {
	python3 - "$1" <<'PY' || fail "weir stat's memory breakdown is wrong (above); weir stat: $(head -c 600 "$1")"
import json, sys
views = json.load(open(sys.argv[1]))
if isinstance(views, dict):
    views = [views]
def need(cond, what):
    if not cond:
        print("  " + what, file=sys.stderr)
        sys.exit(1)
need(views, "no view in weir stat")
m = views[0].get("node_memory")
need(isinstance(m, dict), "no node_memory object in weir stat -o json")
print("  node_memory: " + json.dumps(m), file=sys.stderr)
fields = ["rss", "rss_anon", "rss_file", "rss_shmem", "threads", "malloc_in_use", "malloc_free",
          "block_index", "metadata", "views", "sqlite", "curl", "malloc_other", "fetch_buffers"]
for f in fields:
    need(f in m, f"node_memory has no field \"{f}\"")
for f in ["rss", "rss_anon", "rss_file", "threads", "malloc_in_use", "block_index", "metadata",
          "views", "sqlite", "curl", "fetch_buffers"]:
    need(m[f] > 0, f"node_memory.{f} is 0")
parts = m["rss_anon"] + m["rss_file"] + m["rss_shmem"]
need(abs(parts - m["rss"]) <= 0.02 * m["rss"],
     f"rss_anon + rss_file + rss_shmem = {parts}, rss = {m['rss']}: more than 2% apart")
known = m["block_index"] + m["metadata"] + m["views"] + m["sqlite"] + m["curl"]
need(known <= m["malloc_in_use"], f"the subsystems hold {known} bytes, more than the heap in use {m['malloc_in_use']}")
need(known + m["malloc_other"] == m["malloc_in_use"], f"the heap's parts ({known} + {m['malloc_other']}) are not its {m['malloc_in_use']} bytes")
need(m.get("allocator") in ("glibc", "asan"), f"node_memory.allocator is {m.get('allocator')!r}")
if m["allocator"] == "glibc":
    # The heap holds what is in use and what was freed but kept (malloc_free): after a burst of
    # block buffers (3000 small files fetched at once under a loaded CI) the freed chunks' pages
    # stay resident, so the heap in use alone may be well under half of rss_anon. The block
    # buffers of blocks of 2 MiB or more are mappings of their own (fetch_buffers), beside it.
    held = m["malloc_in_use"] + m["malloc_free"] + m["fetch_buffers"]
    need(m["malloc_in_use"] <= 2 * m["rss_anon"] and 0.5 * m["rss_anon"] <= held,
         f"the heap (in use {m['malloc_in_use']}, free {m['malloc_free']}) and the block buffers ({m['fetch_buffers']}) do not explain the anonymous memory ({m['rss_anon']}) to within 2x")
else:
    # ASan's shadow memory and quarantine are anonymous memory no heap count explains
    need(m["malloc_in_use"] <= m["rss_anon"], f"ASan's heap in use ({m['malloc_in_use']}) exceeds the anonymous memory ({m['rss_anon']})")
    print("  ASan build: the heap is ASan's; its shadow memory keeps rss_anon far above it (not compared within 2x)")
vsum = sum(v["memory_bytes"] for v in views)
need(abs(vsum - m["views"]) <= 0.01 * m["views"], f"the views' memory_bytes add up to {vsum}, node_memory.views is {m['views']}")
for v in views:
    need(v["inodes"] > 0 and 32 <= v["memory_bytes"] / v["inodes"] <= 4096,
         f"{v['mountpoint']}: {v['memory_bytes']} bytes for {v['inodes']} inodes")
    print(f"  {v['mountpoint']}: {v['inodes']} inodes, {v['memory_bytes']} bytes ({v['memory_bytes'] / v['inodes']:.0f} per inode)")
print("  " + ", ".join(f"{f} {m[f]}" for f in fields))
PY
}

step "weir stat -o json: fields, sums, the heap against the anonymous memory"
w stat -o json >"$TMP/stat1.json" || fail "weir stat -o json failed"
check_memory "$TMP/stat1.json"
w stat | grep -q "^weir-node memory (malloc: " || fail "weir stat (text) prints no \"weir-node memory\" section"
ok "the breakdown adds up"

step "a second view over 3000 more files, read: its table is counted too, and the sums still hold"
w bench --generate files:3000x1KiB "$SRC/more" >/dev/null
MP2="$TMP/mnt2"
weir_mount "${NGINX_URL}more/" "$MP2" --tier "mem:$WEIR_TIER_DIR/mem2:64MiB"
n2=$(find "$MP2/files" -type f | wc -l)
[ "$n2" -eq 3000 ] || fail "the second view lists $n2 files, want 3000"
# read, so that the store records each file (a listing alone creates no block-index object)
find "$MP2/files" -type f -print0 | xargs -0 cat >/dev/null || fail "reading the second view failed"
w stat -o json >"$TMP/stat2.json" || fail "weir stat -o json failed"
check_memory "$TMP/stat2.json"
python3 - "$TMP/stat1.json" "$TMP/stat2.json" "$MP2" <<'PY' || fail "the second view's tables were not counted"
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
a = a if isinstance(a, list) else [a]; b = b if isinstance(b, list) else [b]
v2 = [v for v in b if v["mountpoint"] == sys.argv[3]]
if not v2 or v2[0]["inodes"] < 3000:
    sys.exit(f"  the second view has {v2[0]['inodes'] if v2 else 'no'} inodes, want >= 3000")
# bytes fetched ahead are bytes of these files: never more than the 3000 x 1 KiB there are
if v2[0]["prefetch_bytes"] > 3000 * 1024:
    sys.exit(f"  the second view says it fetched {v2[0]['prefetch_bytes']} bytes ahead of 3000 files of 1 KiB")
ma, mb = a[0]["node_memory"], b[0]["node_memory"]
for f in ("views", "metadata", "block_index"):
    if mb[f] <= ma[f]:
        sys.exit(f"  node_memory.{f} did not grow with 3000 more files listed and read ({ma[f]} -> {mb[f]})")
print(f"  views {ma['views']} -> {mb['views']}, metadata {ma['metadata']} -> {mb['metadata']}, block index {ma['block_index']} -> {mb['block_index']}")
PY
ok "second view counted"

echo
echo "PASS: weir stat's memory breakdown is measured and adds up"
