#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Warm read throughput with the access tracker's programs detached, attached but
# not watching the device, and attached and watching it (the worst case: every
# read is counted), on two files: one read through the page cache of an ext4
# loop mount (what a view's page-cache hits cost), and one of a weir view open
# in FUSE passthrough from a tmpfs tier (counted at sys_exit by the bytes read).
# Targets: <= 3% loss at 64 KiB and larger, <= 5% at 4 KiB. Needs root.
# Usage: bench/bpf-overhead.sh [build-dir] [runs]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/lib.sh"
. "$here/../tests/helpers/weir.sh"

build=$(cd "${1:-build}" && pwd)
runs=${2:-7}
obj="$build/bpf/access.bpf.o"
[ "$(id -u)" -eq 0 ] || fail "bpf-overhead: needs root (loads BPF programs, mounts a loop device and a FUSE view)"
[ -f "$obj" ] || fail "bpf-overhead: $obj not found: build with BPF first (ninja -C $build)"
require_root_fuse
WEIR_BUILD_DIR="$build"
find_weir_bins

work=$(mktemp -d /tmp/weir-bpf-bench-XXXXXX)
pins=/sys/fs/bpf/weir-bench-$$
at_exit "rm -rf '$work'"
at_exit "umount '$work/mnt' 2>/dev/null || umount -l '$work/mnt' 2>/dev/null || true"
at_exit "rm -rf '$pins' '$pins-maps' 2>/dev/null || true"
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

truncate -s 1G "$work/img"
mkfs.ext4 -q -F "$work/img"
mkdir "$work/mnt"
mount -o loop "$work/img" "$work/mnt"
dd if=/dev/zero of="$work/mnt/file" bs=1M count=256 status=none
sync
cat "$work/mnt/file" >/dev/null # warm: every read below is a page-cache hit

# The passthrough file: a weir view whose node does not load the tracker (bpf = 0), so the
# programs below are the only ones attached; read once, the file is whole in the tmpfs tier
# and its next opens are passed through.
weir_setup "$work/weir"
printf 'bpf = 0\nmetrics-listen =\n' >"$WEIR_STATE/node.conf"
mkdir -p "$work/src"
dd if=/dev/zero of="$work/src/file" bs=1M count=256 status=none
weir_mount "local://$work/src" "$work/view" --tier "mem:$WEIR_TIER_DIR/mem:1GiB" >/dev/null
cat "$work/view/file" >/dev/null
w stat "$work/view" -o json >"$work/stat.json"
opens0=$(json_get "$work/stat.json" passthrough_opens)
cat "$work/view/file" >/dev/null
w stat "$work/view" -o json >"$work/stat.json"
[ "$(json_get "$work/stat.json" passthrough_opens)" -gt "$opens0" ] ||
	fail "bpf-overhead: $work/view/file was not passed through after a whole read (kernel without FUSE passthrough?)"

# CPU time per read of one run of dd, in ns, from the kernel's account of the
# child's user + system time. CPU time, not wall time: other work on a shared machine changes
# how long a read waits for a CPU, not what it costs.
throughput() {
	python3 - "$1" "$2" 1 <<'PY'
import os, resource, subprocess, sys
f, bs, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
size = os.path.getsize(f)
nbytes = int(bs[:-1]) * {"k": 1024, "M": 1 << 20}[bs[-1]]
best = None
for _ in range(runs):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(["dd", "if=" + f, "of=/dev/null", "bs=" + bs, "status=none"], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    best = cpu if best is None or cpu < best else best
print(round(best * 1e9 / (size // nbytes)))
PY
}

sizes=(4k 64k 1M)
files=(pagecache passthrough)
declare -A path=([pagecache]="$work/mnt/file" [passthrough]="$work/view/file")
declare -A mp=([pagecache]="$work/mnt" [passthrough]="$work/view")
le32() { printf '%02x %02x %02x %02x' $(($1 & 255)) $((($1 >> 8) & 255)) $((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }
kdev_of() {
	local maj min
	read -r maj min < <(mountpoint -d "$1" | tr ':' ' ')
	echo $(((maj << 20) | min)) # the kernel's s_dev encoding, the watch_devs key
}

declare -A res
# One dd per file and size; each figure below is the least over $runs rounds, and every round
# measures every configuration, so that drift on a shared machine hits them all alike.
measure() { # COLUMN
	local f bs v
	for f in "${files[@]}"; do
		for bs in "${sizes[@]}"; do
			v=$(throughput "${path[$f]}" "$bs")
			if [ -z "${res[$f,$1,$bs]:-}" ] || [ "$v" -lt "${res[$f,$1,$bs]}" ]; then
				res[$f,$1,$bs]=$v
			fi
		done
	done
}

# The object has each program twice (tp_btf and raw_tp); the loader attaches
# one set. Here: load everything, then drop the other set's links.
vs_zero=$(printf '00 %.0s' $(seq 80)) # sizeof(struct access_view_stats)
for round in $(seq "$runs"); do
	measure detached
	for set in btf raw; do
		other=$([ $set = btf ] && echo raw || echo btf)
		bpftool prog loadall "$obj" "$pins" autoattach pinmaps "$pins-maps"
		rm -f "$pins"/*_"$other"
		measure "$set-unwatched"
		id=1
		for f in "${files[@]}"; do
			kdev=$(kdev_of "${mp[$f]}")
			bpftool map update pinned "$pins-maps/view_stats" key hex $(le32 $id) value hex $vs_zero
			bpftool map update pinned "$pins-maps/watch_devs" key hex $(le32 "$kdev") value hex $(le32 $id)
			# A loop device has a major number: what the loader does for such a view (FUSE
			# views have none, and reads of other block devices then stop at one compare).
			[ $((kdev >> 20)) -eq 0 ] ||
				bpftool map update pinned "$pins-maps/access_bss" key hex 00 00 00 00 value hex $(le32 1) 00 00 00 00
			id=$((id + 1))
		done
		measure "$set-watched"
		# weir-node attaches sys_exit only while some view file is open in passthrough
		rm -f "$pins"/access_sys_exit_*
		measure "$set-watched-nosys"
		rm -rf "$pins" "$pins-maps"
	done
done

cols=(btf-unwatched btf-watched btf-watched-nosys raw-unwatched raw-watched raw-watched-nosys)
echo "CPU ns per dd block (read + write to /dev/null), least of $runs rounds; in brackets the"
echo "overhead: extra CPU per block vs detached. -nosys: without the sys_exit program, which"
echo "weir-node attaches only while some view file is open in passthrough."
for f in "${files[@]}"; do
	echo
	echo "warm $f reads of a 256 MiB file"
	printf '%-5s %9s' bs detached
	for col in "${cols[@]}"; do printf ' %21s' "$col"; done
	echo
	for bs in "${sizes[@]}"; do
		b=${res[$f,detached,$bs]}
		printf '%-5s %9s' "$bs" "$b"
		for col in "${cols[@]}"; do
			v=${res[$f,$col,$bs]}
			printf ' %12s (%5s%%)' "$v" "$(awk -v a="$b" -v c="$v" 'BEGIN { printf "%.1f", (c - a) * 100 / a }')"
		done
		echo
	done
done
