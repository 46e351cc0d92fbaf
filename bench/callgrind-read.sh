#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (issue 10), prints figures: CPU instructions weir-node spends per MiB of tier hits it
# serves (FUSE READs answered from a tier, not passthrough, the page cache dropped first), counted
# by valgrind's callgrind over every thread of the daemon, from just before the reads to just
# after. BENCH_BASE_BUILD=<build dir of another tree> measures those binaries too.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/lib.sh"
. "$here/../tests/helpers/weir.sh"

MB="${BENCH_MB:-64}" # bytes read (and served) per measurement
BASE="${BENCH_BASE_BUILD:-}"

require_root_fuse
find_weir_bins
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
	fail "valgrind (callgrind) is missing: scripts/install-deps.sh installs it"
THIS_BUILD="$(dirname "$(dirname "$WEIR_BIN")")"
TMP="$(mktemp -d /tmp/weir-bench-cg.XXXXXX)"
at_exit 'rm -rf "$TMP"'
mkdir -p "$TMP/src"
rand_file "$TMP/src/f.bin" $((MB << 20)) cg

# measure LABEL BUILD: prints "LABEL instructions" for MB MiB of hits.
measure() {
	local label="$1" build="$2" dir="$TMP/$1" node pid out ir
	node="$build/daemon/weir-node"
	[ -x "$node" ] || node="$build/weir-node"
	[ -x "$node" ] && [ -x "$build/cli/weir" ] || fail "no weir binaries under $build"
	mkdir -p "$dir"
	# fuse-compatible: the daemon stats its own FUSE mount, which blocks until another of its
	# threads answers; valgrind must let that thread run meanwhile.
	printf '#!/bin/sh\nexec valgrind --tool=callgrind --sim-hints=fuse-compatible --callgrind-out-file=%s/cg.%%p %s "$@"\n' \
		"$dir" "$node" >"$dir/node.sh"
	chmod +x "$dir/node.sh"
	WEIR_BIN="$build/cli/weir"
	export WEIR_NODE_BIN="$dir/node.sh"
	weir_setup "$dir"
	# a mount whose weir mount failed (a timeout) is not in WEIR_MOUNTS: detach it anyway
	at_exit "umount -l '$dir/view' 2>/dev/null"
	printf 'metrics-listen =\nbpf = 0\n' >"$WEIR_STATE/node.conf" # valgrind knows no bpf(2) commands
	weir_mount "local://$TMP/src" "$dir/view" --tier "mem:$WEIR_TIER_DIR/mem:$((MB * 2))MiB" \
		--no-passthrough --no-prefetch >/dev/null
	cat "$dir/view/f.bin" >/dev/null # fills the tier
	cmp "$dir/view/f.bin" "$TMP/src/f.bin" || fail "$label: the view's bytes differ from the source's"
	pid="$(weir_node_pid)"
	[ -n "$pid" ] || fail "$label: no weir-node pid"
	w stat "$dir/view" -o json >"$dir/stat0.json"
	callgrind_control -z "$pid" >/dev/null
	# O_DIRECT: every 1 MiB read is a READ the daemon answers, none from the page cache
	dd if="$dir/view/f.bin" of=/dev/null bs=1M iflag=direct status=none ||
		fail "$label: O_DIRECT reads of the view failed"
	callgrind_control -d "$pid" >/dev/null
	sleep 1
	out="$(ls -t "$dir"/cg.* | head -1)"
	ir="$(awk '/^(summary|totals):/ { print $2; exit }' "$out")"
	[ -n "$ir" ] || fail "$label: no instruction count in $out"
	w stat "$dir/view" -o json >"$dir/stat.json"
	local reads=$(($(json_get "$dir/stat.json" read_bytes) - $(json_get "$dir/stat0.json" read_bytes)))
	[ "$reads" -ge $((MB << 20)) ] ||
		fail "$label: weir-node answered $reads bytes of READs, not the $MB MiB read"
	echo "$label $ir $(($(json_get "$dir/stat.json" hits) - $(json_get "$dir/stat0.json" hits))) $reads" >>"$TMP/results"
	weir_teardown >/dev/null 2>&1
	WEIR_MOUNTS=()
}

step "callgrind: instructions of weir-node per MiB of tier hits, ${MB} MiB read after the page cache was dropped"
: >"$TMP/results"
[ -z "$BASE" ] || measure base "$BASE"
measure this "$THIS_BUILD"
echo
printf '%-5s %16s %14s %8s %12s\n' BUILD INSTRUCTIONS PER_MIB HITS READ_BYTES
while read -r l ir h rb; do
	printf '%-5s %16s %14s %8s %12s\n' "$l" "$ir" "$((ir / MB))" "$h" "$rb"
done <"$TMP/results"
awk -v mb="$MB" '{ v[$1] = $2 / mb } END {
	printf "callgrind_instructions_per_mib: this %.0f", v["this"]
	if ("base" in v) printf ", base %.0f, this/base %.2f", v["base"], v["this"] / v["base"]
	printf "\n" }' "$TMP/results"
