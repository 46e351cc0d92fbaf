#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (issue 7 item 13), prints figures: `ls -l` and `find` of one flat directory of
# BENCH_FILES (default 50,000) files behind nginx, cold and warm, and weir-node's RSS before and
# after. A stat must cost O(1) by name, never a copy of its parent's listing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/lib.sh"
. "$here/../tests/helpers/nginx.sh"
. "$here/../tests/helpers/weir.sh"

FILES="${BENCH_FILES:-50000}"

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-bench-bigdir.XXXXXX)"
at_exit 'rm -rf "$TMP"'
SHM="$(mktemp -d /dev/shm/weir-bench-bigdir.XXXXXX)"
at_exit 'rm -rf "$SHM"'
weir_setup "$TMP"
MP="$TMP/mnt"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$(weir_node_pid)/status"; }

# timed LABEL CMD...: runs CMD with its output counted, prints the seconds and the count.
timed() {
	local label="$1" t0 t1 n
	shift
	t0="$(now)"
	n="$("$@" | wc -l)"
	t1="$(now)"
	printf '%-22s %8s s  (%s lines)\n' "$label:" "$(elapsed "$t0" "$t1")" "$n"
}

step "$FILES files in one directory behind nginx"
"$here/../tests/helpers/flatdir.sh" "$SHM/tree/flat" "$FILES"
nginx_start "$TMP/nginx" "$SHM/tree"
weir_mount "$NGINX_URL" "$MP" --tier "mem:$WEIR_TIER_DIR/mem:64MiB" --metadata-ttl 3600
rss0="$(rss_kb)"
echo
timed "ls -l (cold)" ls -l "$MP/flat"
rss1="$(rss_kb)"
timed "ls -l (warm)" ls -l "$MP/flat"
timed "find (warm)" find "$MP/flat"
rss2="$(rss_kb)"
# A new mount starts with no dentries in the kernel: every stat by name is a LOOKUP that weir
# answers from its (warm) metadata cache. This is where a copy per lookup cost minutes.
w umount "$MP" >/dev/null
weir_mount "$NGINX_URL" "$MP" --tier "mem:$WEIR_TIER_DIR/mem:64MiB" --metadata-ttl 3600
(cd "$SHM/tree/flat" && ls) >"$TMP/names"
cd "$MP/flat"
timed "stat by name (lookups)" xargs -a "$TMP/names" stat -c %s
cd /
rss3="$(rss_kb)"
timed "ls -l (after lookups)" ls -l "$MP/flat"
timed "find (warm)" find "$MP/flat"
rss4="$(rss_kb)"
echo
echo "weir-node RSS (kB): ${rss0} mounted, ${rss1} after the cold ls -l, ${rss2} after the warm runs,"
echo "  ${rss3} after $FILES stats by name, ${rss4} at the end"
echo "RSS growth: $(( (rss4 - rss0) / 1024 )) MiB over the whole run, $(( (rss3 - rss2) / 1024 )) MiB over the stats by name"
