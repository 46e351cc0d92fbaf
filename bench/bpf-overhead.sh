#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CPU per warm read with the access tracker's programs detached, and attached and watching the
# file (the worst case: every read is counted) as weir-node attaches them, for this tree's
# programs ("after") and those of a base revision ("before", default main), side by side in the
# same rounds. Three 128 MiB files, each in a weir view as weir-node serves it: one mounted
# --no-passthrough and read from the view's page cache, and two open in FUSE passthrough, one
# from a tmpfs (MEM) tier and one from an SSD tier on an ext4 loop mount.
# Targets: <= 3% at 64 KiB and larger, <= 5% at 4 KiB. Needs root.
# Usage: bench/bpf-overhead.sh [build-dir] [runs]
# BENCH_BASE_REV: the "before" revision; BENCH_FILES, BENCH_SIZES: a subset of the runs, e.g.
# BENCH_FILES=pagecache BENCH_SIZES=4k for more rounds of one figure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/lib.sh"
. "$here/../tests/helpers/weir.sh"

build=$(cd "${1:-build}" && pwd)
runs=${2:-7}
base_rev=${BENCH_BASE_REV:-main}
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

# The "before" object, built from the base revision's sources with the flags of bpf/meson.build.
mkdir "$work/base"
git -C "$here/.." show "$base_rev:bpf/access.bpf.c" >"$work/base/access.bpf.c" ||
	fail "bpf-overhead: no bpf/access.bpf.c at $base_rev (set BENCH_BASE_REV)"
git -C "$here/.." show "$base_rev:bpf/access.h" >"$work/base/access.h"
clang -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -I"$build/bpf" -I"$work/base" \
	-c "$work/base/access.bpf.c" -o "$work/base/access.bpf.o" ||
	fail "bpf-overhead: cannot build $base_rev's access.bpf.c"
# The floor: programs that return at once, on the read tracepoint (and on sys_exit), to tell the
# cost of running any program there from the cost of what ours do.
cat >"$work/base/noop.bpf.c" <<'C'
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
char LICENSE[] SEC("license") = "GPL";
SEC("tp_btf/mm_filemap_get_pages")
int BPF_PROG(access_get_pages_btf, struct address_space *mapping) { return 0; }
SEC("tp_btf/sys_exit")
int BPF_PROG(access_sys_exit_btf, struct pt_regs *regs, long ret) { return 0; }
C
clang -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -I"$build/bpf" \
	-c "$work/base/noop.bpf.c" -o "$work/base/noop.bpf.o" || fail "bpf-overhead: cannot build the no-op programs"
declare -A objs=([before]="$work/base/access.bpf.o" [after]="$obj" [noop]="$work/base/noop.bpf.o")

size=$((128 << 20))
truncate -s 1G "$work/img"
mkfs.ext4 -q -F "$work/img"
mkdir "$work/mnt"
mount -o loop "$work/img" "$work/mnt"

# weir views whose node does not load the tracker (bpf = 0), so the programs below are the
# only ones attached. The page-cache view is not passed through: read twice, its file is in
# the view's page cache. The others: read once, a file is whole in its tier and its next opens
# are passed through.
weir_setup "$work/weir"
printf 'bpf = 0\nmetrics-listen =\n' >"$WEIR_STATE/node.conf"
mkdir -p "$work/psrc" "$work/src" "$work/ssrc" "$work/mnt/ssd"
head -c "$size" /dev/zero >"$work/psrc/file"
head -c "$size" /dev/zero >"$work/src/file"
head -c "$size" /dev/zero >"$work/ssrc/file"
weir_mount "local://$work/psrc" "$work/pview" --tier "mem:$WEIR_TIER_DIR/pmem:1GiB" \
	--no-passthrough >/dev/null
weir_mount "local://$work/src" "$work/view" --tier "mem:$WEIR_TIER_DIR/mem:1GiB" >/dev/null
weir_mount "local://$work/ssrc" "$work/sview" --tier "ssd:$work/mnt/ssd:1GiB" >/dev/null
cat "$work/pview/file" >/dev/null
cat "$work/pview/file" >/dev/null
w stat "$work/pview" -o json >"$work/stat.json"
read0=$(json_get "$work/stat.json" read_bytes)
cat "$work/pview/file" >/dev/null
w stat "$work/pview" -o json >"$work/stat.json"
[ "$(json_get "$work/stat.json" passthrough_opens)" -eq 0 ] ||
	fail "bpf-overhead: $work/pview/file was passed through despite --no-passthrough"
[ "$(json_get "$work/stat.json" read_bytes)" -eq "$read0" ] ||
	fail "bpf-overhead: a third read of $work/pview/file reached weir-node ($(($(json_get "$work/stat.json" read_bytes) - read0)) bytes): not from the view's page cache"
for v in view sview; do
	cat "$work/$v/file" >/dev/null
	w stat "$work/$v" -o json >"$work/stat.json"
	opens0=$(json_get "$work/stat.json" passthrough_opens)
	cat "$work/$v/file" >/dev/null
	w stat "$work/$v" -o json >"$work/stat.json"
	[ "$(json_get "$work/stat.json" passthrough_opens)" -gt "$opens0" ] ||
		fail "bpf-overhead: $work/$v/file was not passed through after a whole read (kernel without FUSE passthrough?)"
done
tierfile=$(find "$work/mnt/ssd" -type f -size +100M | head -1)
[ -n "$tierfile" ] || fail "bpf-overhead: no tier file of $size bytes under $work/mnt/ssd"
cat "$tierfile" >/dev/null # the SSD tier's page cache is warm too

# CPU time per read of one run of dd, in ns, from the kernel's account of the child's user +
# system time. CPU time, not wall time: other work on a shared machine changes how long a read
# waits for a CPU, not what it costs.
throughput() {
	python3 - "$1" "$2" <<'PY'
import os, resource, subprocess, sys
f, bs = sys.argv[1], sys.argv[2]
nbytes = int(bs[:-1]) * {"k": 1024, "M": 1 << 20}[bs[-1]]
before = resource.getrusage(resource.RUSAGE_CHILDREN)
subprocess.run(["dd", "if=" + f, "of=/dev/null", "bs=" + bs, "status=none"], check=True)
after = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
print(round(cpu * 1e9 / (os.path.getsize(f) // nbytes)))
PY
}

# CPU time per page fault of a process writing one byte to each page of 64 MiB of fresh
# anonymous memory: the programs on exceptions:page_fault_user and kmem:rss_stat (mmap reads
# mapped by PMD) run on every fault of every process of the node, watched files or not.
fault_cost() {
	python3 - <<'PY'
import mmap, resource
n = 64 << 20
m = mmap.mmap(-1, n)
r0 = resource.getrusage(resource.RUSAGE_SELF)
m[::4096] = b"x" * (n // 4096)
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(round(((r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)) * 1e9 / (n // 4096)))
PY
}

read -r -a sizes <<<"${BENCH_SIZES:-4k 64k 1M}"
read -r -a files <<<"${BENCH_FILES:-pagecache pt-mem pt-ssd}"
declare -A path=([pagecache]="$work/pview/file" [pt-mem]="$work/view/file" [pt-ssd]="$work/sview/file")
declare -A mp=([pagecache]="$work/pview" [pt-mem]="$work/view" [pt-ssd]="$work/sview")
kdev_of() {
	local maj min
	read -r maj min < <(stat -c '%Hd %Ld' "$1")
	echo $(((maj << 20) | min)) # the kernel's s_dev encoding
}
# hex BYTES of little-endian integers: hex FMT VALUES... (python struct format)
hex() { python3 -c 'import struct,sys; print(" ".join("%02x" % b for b in struct.pack(sys.argv[1], *map(int, sys.argv[2:]))))' "$@"; }
# set_bss OBJ VAR=VALUE...: writes the named __u32 .bss variables of the loaded OBJ (others 0)
set_bss() {
	local o="$1"
	shift
	python3 - "$o" "$pins-maps/access_bss" "$@" <<'PY'
import json, struct, subprocess, sys
obj, pin, sets = sys.argv[1], sys.argv[2], dict(a.split("=") for a in sys.argv[3:])
def bpftool(*args):
    return json.loads(subprocess.run(["bpftool", "-j"] + list(args), check=True,
                                     capture_output=True, text=True).stdout)
# the loaded map's BTF: the object file's has the section's offsets still unset
types = bpftool("btf", "dump", "id", str(bpftool("map", "show", "pinned", pin)["btf_id"]))["types"]
byid = {t["id"]: t for t in types}
sec = next(t for t in types if t["kind"] == "DATASEC" and t["name"] == ".bss")
val = bytearray(sec["size"])
found = set()
for v in sec["vars"]:
    name = byid[v["type_id"]]["name"]
    if name in sets:
        struct.pack_into("<I", val, v["offset"], int(sets[name]))
        found.add(name)
missing = set(sets) - found
if missing:
    sys.exit("bpf-overhead: no .bss variable %s in %s" % (", ".join(sorted(missing)), obj))
subprocess.run(["bpftool", "map", "update", "pinned", pin, "key", "hex", "00", "00", "00", "00",
                "value", "hex"] + ["%02x" % b for b in val], check=True)
PY
}

# attach WHICH SYS: loads WHICH's object, watches the three files as weir-node would, and keeps
# the sys_exit program if SYS is 1 (weir-node attaches it while a view file is open in
# passthrough: "before" for any tier, "after" for a tmpfs tier only).
attach() {
	local o="${objs[$1]}" other id f kdev
	bpftool prog loadall "$o" "$pins" autoattach pinmaps "$pins-maps"
	other=$([ -e "$pins/access_get_pages_btf" ] && echo raw || echo btf)
	rm -f "$pins"/*_"$other" # the loader attaches the tp_btf set where the kernel takes it
	[ "$2" = 1 ] || rm -f "$pins"/access_sys_exit_*
	[ "$1" != noop ] || return 0
	vs_zero=$(printf '00 %.0s' $(seq 80)) # sizeof(struct access_view_stats)
	id=1
	for f in "${files[@]}"; do
		kdev=$(kdev_of "${mp[$f]}")
		bpftool map update pinned "$pins-maps/view_stats" key hex $(hex '<I' $id) value hex $vs_zero
		bpftool map update pinned "$pins-maps/watch_devs" key hex $(hex '<I' "$kdev") value hex $(hex '<I' $id)
		id=$((id + 1))
	done
	# Map the SSD tier file to its view file, as weir-node does at a passthrough open (on a
	# block device: the programs look such files up only while backing_nonanon says some are).
	local tdev vdev
	tdev=$(kdev_of "$tierfile")
	vdev=$(kdev_of "$work/sview")
	bpftool map update pinned "$pins-maps/backing" \
		key hex $(hex '<QII' "$(stat -c %i "$tierfile")" "$tdev" 0) \
		value hex $(hex '<QII' "$(stat -c %i "$work/sview/file")" "$vdev" 1)
	set_bss "$o" backing_nonanon=1
}
detach() { rm -rf "$pins" "$pins-maps"; }

declare -A res
# One dd per file, size and configuration; each figure below is the least over $runs rounds,
# and every round measures every configuration, so that drift on a shared machine hits them
# all alike. "detached" is measured twice a round (first and last): the second, "again", says
# how far two measurements of the same thing differ here, the noise any overhead below sits in.
measure() { # COLUMN
	local f bs v
	v=$(fault_cost)
	if [ -z "${res[faults,$1]:-}" ] || [ "$v" -lt "${res[faults,$1]}" ]; then
		res[faults,$1]=$v
	fi
	for f in "${files[@]}"; do
		for bs in "${sizes[@]}"; do
			v=$(throughput "${path[$f]}" "$bs")
			if [ -z "${res[$f,$1,$bs]:-}" ] || [ "$v" -lt "${res[$f,$1,$bs]}" ]; then
				res[$f,$1,$bs]=$v
			fi
		done
	done
}

others_sys_exit() { # links to sys_exit of other processes change every column: say so
	bpftool link list 2>/dev/null | grep -c "tp 'sys_exit'" || true
}

note "sys_exit links on the node before the runs (other tests): $(others_sys_exit)"
cols=(noop noop+sys before before+sys after after+sys)
for round in $(seq "$runs"); do
	measure detached
	for col in "${cols[@]}"; do
		attach "${col%+sys}" "$([ "${col#*+}" = sys ] && echo 1 || echo 0)"
		measure "$col"
		detach
	done
	measure again
done
note "sys_exit links on the node after the runs (other tests): $(others_sys_exit)"

pct() { awk -v a="$1" -v c="$2" 'BEGIN { printf "%.1f", (c - a) * 100 / a }'; }
echo "CPU ns per dd block (read + write to /dev/null), least of $runs rounds; in brackets the"
echo "overhead: extra CPU per block vs detached. again: detached measured again at the end of each"
echo "round (the noise). before: $base_rev's programs; after: this tree's."
echo "+sys: with the sys_exit program attached (weir-node attaches it while a view file is open in"
echo "passthrough from a tmpfs tier). noop: programs that return at once, on the read tracepoint"
echo "(+sys: and on sys_exit): the floor of any program there."
for f in "${files[@]}"; do
	echo
	echo "warm $f reads of a $((size >> 20)) MiB file"
	printf '%-5s %9s %17s' bs detached again
	for col in "${cols[@]}"; do printf ' %17s' "$col"; done
	echo
	for bs in "${sizes[@]}"; do
		b=${res[$f,detached,$bs]}
		printf '%-5s %9s %8s (%5s%%)' "$bs" "$b" "${res[$f,again,$bs]}" "$(pct "$b" "${res[$f,again,$bs]}")"
		for col in "${cols[@]}"; do
			v=${res[$f,$col,$bs]}
			printf ' %8s (%5s%%)' "$v" "$(pct "$b" "$v")"
		done
		echo
	done
done
echo
echo "anonymous write faults, CPU ns per fault"
printf '%-5s %9s %17s' "" detached again
for col in "${cols[@]}"; do printf ' %17s' "$col"; done
echo
b=${res[faults,detached]}
printf '%-5s %9s %8s (%5s%%)' fault "$b" "${res[faults,again]}" "$(pct "$b" "${res[faults,again]}")"
for col in "${cols[@]}"; do printf ' %8s (%5s%%)' "${res[faults,$col]}" "$(pct "$b" "${res[faults,$col]}")"; done
echo
# What each file costs as weir-node runs: the page-cache and SSD-tier passthrough files without
# sys_exit, the MEM-tier passthrough file with it.
declare -A was=([pagecache]=before [pt-mem]=before+sys [pt-ssd]=before)
declare -A now=([pagecache]=after [pt-mem]=after+sys [pt-ssd]=after)
echo
echo "as weir-node runs, overhead vs detached: before -> after (again: the noise)"
for f in "${files[@]}"; do
	printf '%-10s' "$f"
	for bs in "${sizes[@]}"; do
		b=${res[$f,detached,$bs]}
		printf '  %s %5s%% -> %5s%% (%5s%%)' "$bs" "$(pct "$b" "${res[$f,${was[$f]},$bs]}")" \
			"$(pct "$b" "${res[$f,${now[$f]},$bs]}")" "$(pct "$b" "${res[$f,again,$bs]}")"
	done
	echo
done
echo "load: $(uptime)"
