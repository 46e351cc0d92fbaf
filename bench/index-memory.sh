#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (issue 10), prints figures: the block store's in-memory index (weir stat's
# node_memory.block_index) per cached small file, each file one object and one block, read whole
# through a view of a local:// source. BENCH_BASE_BUILD=<build dir of another tree> measures
# those binaries too, on the same files, one after the other.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/lib.sh"
. "$here/../tests/helpers/weir.sh"

N="${BENCH_FILES:-20000}" # small files read (each one object, one block)
BASE="${BENCH_BASE_BUILD:-}"

require_root_fuse
find_weir_bins
THIS_BUILD="$(dirname "$(dirname "$WEIR_BIN")")"
TMP="$(mktemp -d /tmp/weir-bench-idxmem.XXXXXX)"
at_exit 'rm -rf "$TMP"'
SRC="$(mktemp -d /dev/shm/weir-bench-idxmem.XXXXXX)"
at_exit 'rm -rf "$SRC"'
"$WEIR_BIN" bench --generate "files:${N}x4KiB" "$SRC" >/dev/null ||
	fail "weir bench --generate could not write $N files under $SRC"
(cd "$SRC" && find files -type f | sort) >"$TMP/list"
[ "$(wc -l <"$TMP/list")" -eq "$N" ] || fail "$SRC holds $(wc -l <"$TMP/list") files, not $N"

# measure LABEL BUILD: appends "LABEL block_index objects" to $TMP/results.
measure() {
	local label="$1" build="$2" dir="$TMP/$1" bi
	weir_use_build "$build"
	mkdir -p "$dir"
	weir_setup "$dir"
	printf 'metrics-listen =\n' >"$WEIR_STATE/node.conf"
	weir_mount "local://$SRC" "$dir/view" --tier "mem:$WEIR_TIER_DIR/mem:$((N * 8 / 1024 + 64))MiB" \
		--no-passthrough --no-prefetch >/dev/null
	(cd "$dir/view" && xargs cat <"$TMP/list") | cmp - <(cd "$SRC" && xargs cat <"$TMP/list") ||
		fail "$label: the view's bytes differ from the source's"
	w stat "$dir/view" -o json >"$dir/stat.json"
	bi="$(json_get "$dir/stat.json" node_memory block_index)"
	[ -n "$bi" ] && [ "$bi" -gt 0 ] || fail "$label: weir stat shows no node_memory.block_index"
	echo "$label $bi $(json_get "$dir/stat.json" hits) $(json_get "$dir/stat.json" misses)" >>"$TMP/results"
	weir_teardown >/dev/null 2>&1
	WEIR_MOUNTS=()
}

step "block index memory: $N files of 4 KiB read through a view, then weir stat (load: $(cut -d' ' -f1-3 /proc/loadavg))"
: >"$TMP/results"
[ -z "$BASE" ] || measure base "$BASE"
measure this "$THIS_BUILD"
echo
printf '%-5s %14s %14s %8s %8s\n' BUILD BLOCK_INDEX PER_FILE HITS MISSES
while read -r l bi h m; do
	printf '%-5s %14s %14s %8s %8s\n' "$l" "$bi" "$((bi / N))" "$h" "$m"
done <"$TMP/results"
awk -v n="$N" '{ v[$1] = $2 / n } END {
	printf "block_index_bytes_per_file: this %.0f", v["this"]
	if ("base" in v) printf ", base %.0f, this/base %.2f", v["base"], v["this"] / v["base"]
	printf "\n" }' "$TMP/results"
