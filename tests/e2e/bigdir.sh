#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end (issue 7 item 13): a flat directory of 20,000 files behind nginx. find lists every
# entry with the server's sizes; on a fresh mount (no dentries in the kernel) a stat of every
# name, each a LOOKUP answered from the warm metadata cache, takes seconds, not the minutes a
# copy of the listing per lookup took, and weir-node's RSS does not grow per stat.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/nginx.sh"
. "$here/../helpers/weir.sh"

FILES=20000
STAT_LIMIT_S=15 # measured under 1 s; with a copy per lookup, ~40 s (50k names: 250 s)

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-e2e-bigdir.XXXXXX)"
at_exit 'rm -rf "$TMP"'
TREE="$TMP/tree" MP="$TMP/mnt"
weir_setup "$TMP"
TIERS="mem:$WEIR_TIER_DIR/mem:64MiB"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$(weir_node_pid)/status"; }
# heap_kb: weir-node's heap in use (weir stat's node_memory.malloc_in_use), in kB. The RSS also
# counts the arenas glibc gives FUSE threads the kernel's queue made start (more under load).
heap_kb() {
	w stat -o json >"$TMP/stat.json" || fail "weir stat -o json failed"
	python3 - "$TMP/stat.json" <<'PY' || fail "weir stat -o json has no node_memory.malloc_in_use: $(head -c 400 "$TMP/stat.json")"
import json, sys
v = json.load(open(sys.argv[1]))
v = v[0] if isinstance(v, list) else v
print(v["node_memory"]["malloc_in_use"] // 1024)
PY
}
sizes() { (cd "$1" && find flat -mindepth 1 -printf '%P %s\n' | LC_ALL=C sort); }

step "$FILES files in one directory behind nginx"
"$here/../helpers/flatdir.sh" "$TREE/flat" "$FILES"
nginx_start "$TMP/nginx" "$TREE"
weir_mount "$NGINX_URL" "$MP" --tier "$TIERS" --metadata-ttl 3600

step "find lists every entry with the server's size"
diff <(sizes "$TREE") <(sizes "$MP") >&2 || fail "find over $MP differs from the server's tree (diff above)"
n="$(find "$MP/flat" | wc -l)"
[ "$n" -eq $((FILES + 1)) ] || fail "find $MP/flat printed $n lines, expected $((FILES + 1))"
t0="$(now)"
find "$MP/flat" -printf '%s\n' >/dev/null
ok "$n entries, sizes equal; warm find -printf %s in $(elapsed "$t0" "$(now)") s"

step "fresh mount: stat every name (one LOOKUP each) from the warm metadata cache"
w umount "$MP" >/dev/null || fail "weir umount $MP failed"
weir_mount "$NGINX_URL" "$MP" --tier "$TIERS" --metadata-ttl 3600
(cd "$TREE/flat" && ls) >"$TMP/names"
rss0="$(rss_kb)" heap0="$(heap_kb)"
t0="$(now)"
(cd "$MP/flat" && timeout "$STAT_LIMIT_S" xargs -a "$TMP/names" stat -c %s) >"$TMP/stat.out" ||
	fail "stat of $FILES names did not finish within $STAT_LIMIT_S s (exit $?): a lookup costs more than O(1)"
t="$(elapsed "$t0" "$(now)")"
rss1="$(rss_kb)" heap1="$(heap_kb)"
[ "$(wc -l <"$TMP/stat.out")" -eq "$FILES" ] || fail "stat printed $(wc -l <"$TMP/stat.out") sizes, expected $FILES"
ok "$FILES stats by name in $t s; weir-node RSS $rss0 kB -> $rss1 kB, heap in use $heap0 kB -> $heap1 kB"
growth=$(((heap1 - heap0) / 1024))
[ "$growth" -lt 32 ] || fail "weir-node's heap in use grew by $growth MiB over $FILES stats: a stat must not copy its directory's listing"
ok "heap in use grew $growth MiB (inodes for $FILES names, no listing copies)"
