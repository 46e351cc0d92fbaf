#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CPU per warm read with the access tracker's programs detached, and attached and watching the
# file (the worst case: every read is counted) as weir-node attaches them, for this tree's
# programs ("after") and those of a base revision ("before", default main), side by side in the
# same rounds. Three 128 MiB files, each in a weir view as weir-node serves it: one mounted
# --no-passthrough and read from the view's page cache, and two open in FUSE passthrough, one
# from a tmpfs (MEM) tier and one from an SSD tier on an ext4 loop mount.
# Targets: <= 3% at 64 KiB and larger, <= 5% at 4 KiB. Needs root.
# The measurement is the paired part (bench/bpf_paired.c): one reader thread pinned to one CPU
# (taskset) at a real-time priority (chrt -f), so that the machine's other work (nice 19) cannot
# preempt a batch, reads in short batches with each configuration attached in turn; per
# configuration the median, quartiles and minimum of the rounds. The whole-dd part (runs > 0)
# is the older, noisier method, kept for comparison.
# Usage: bench/bpf-overhead.sh [build-dir] [runs]   (runs: whole-dd rounds, default 0)
# BENCH_BASE_REV: the "before" revision; BENCH_FILES, BENCH_SIZES: a subset of the runs, e.g.
# BENCH_FILES=pagecache BENCH_SIZES=4k for more rounds of one figure; BENCH_COLUMNS (below);
# BENCH_PAIRED_ROUNDS: rounds of the paired part (default 150); BENCH_PAIRED_MIB: MiB read per
# batch (default 8); BENCH_CPU: the CPU the reader is pinned to (default the last one);
# BENCH_FLOORS: the no-op floors the paired part runs (default btf-get_pages
# tp-sys_exit_read tp-sys_exit_pread64; "all"; "none"); BENCH_PROG_STATS=1: the paired
# part also prints each program's own ns per run from the kernel's BPF statistics (which add two
# clock reads to every run: its block times are then not the overhead); BENCH_EXTRA_OBJS="NAME=OBJ
# ...": more objects the paired part measures beside before and after, with after's programs
# (variants of access.bpf.c built by hand, to tell what a part of the programs costs).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/lib.sh"
. "$here/../tests/helpers/weir.sh"

build=$(cd "${1:-build}" && pwd)
runs=${2:-0}
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
# The floors: programs that return at once, one object per candidate attach point, to tell the
# cost of running any program there from the cost of what ours do. Name: attach point,
# SEC line and the program's arguments. floor-* columns have one each; "noop" has the read
# tracepoint's and sys_exit's (+sys), as ours.
floor_points=(
	"btf-get_pages|tp_btf/mm_filemap_get_pages|BPF_PROG(noop_prog, struct address_space *mapping)"
	"raw-get_pages|raw_tp/mm_filemap_get_pages|BPF_PROG(noop_prog, struct address_space *mapping)"
	"tp-get_pages|tracepoint/filemap/mm_filemap_get_pages|noop_prog(void *ctx)"
	"btf-sys_exit|tp_btf/sys_exit|BPF_PROG(noop_prog, struct pt_regs *regs, long ret)"
	"tp-sys_exit_read|tracepoint/syscalls/sys_exit_read|noop_prog(void *ctx)"
	"tp-sys_exit_pread64|tracepoint/syscalls/sys_exit_pread64|noop_prog(void *ctx)"
	"tp-sys_enter_read|tracepoint/syscalls/sys_enter_read|noop_prog(void *ctx)"
	"btf-sched_switch|tp_btf/sched_switch|BPF_PROG(noop_prog, bool preempt)"
)
floor_obj() { # NAME SEC PROTO
	cat >"$work/base/floor-$1.bpf.c" <<C
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
char LICENSE[] SEC("license") = "GPL";
SEC("$2")
int $3 { return 0; }
C
	clang -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -I"$build/bpf" \
		-c "$work/base/floor-$1.bpf.c" -o "$work/base/floor-$1.bpf.o" ||
		fail "bpf-overhead: cannot build the no-op program on $2"
}
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
declare -A floor_sec
for fp in "${floor_points[@]}"; do
	IFS='|' read -r fname fsec fproto <<<"$fp"
	floor_obj "$fname" "$fsec" "$fproto"
	objs[floor-$fname]="$work/base/floor-$fname.bpf.o"
	floor_sec[floor-$fname]="$fsec"
done

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
# Whole from the view's page cache: a read that reaches weir-node for none of it. This machine's
# own reclaim (DAMON) drops a few pages at times, which the next read fetches again: up to five
# reads to get one that is whole.
# read_delta VIEW FIELD: how much weir stat's FIELD of VIEW grows over one whole read of its file
# (the stat after it stays in $work/stat.json)
read_delta() {
	local before after
	w stat "$work/$1" -o json >"$work/stat.json" && before=$(json_get "$work/stat.json" "$2") &&
		cat "$work/$1/file" >/dev/null && w stat "$work/$1" -o json >"$work/stat.json" &&
		after=$(json_get "$work/stat.json" "$2") || fail "bpf-overhead: no $2 in weir stat of $work/$1"
	echo $((after - before))
}
cached=0
for try in 1 2 3 4 5; do
	missed=$(read_delta pview read_bytes)
	[ "$(json_get "$work/stat.json" passthrough_opens)" -eq 0 ] ||
		fail "bpf-overhead: $work/pview/file was passed through despite --no-passthrough"
	if [ "$missed" -eq 0 ]; then
		cached=1
		break
	fi
	note "bpf-overhead: a read of $work/pview/file reached weir-node for $missed bytes (pages the kernel dropped): again"
done
[ "$cached" = 1 ] ||
	fail "bpf-overhead: five reads of $work/pview/file each reached weir-node (the last for $missed bytes): not from the view's page cache"
for v in view sview; do
	cat "$work/$v/file" >/dev/null
	# the tier's writes of the last blocks may still be in flight when cat ends (SSD: an ext4
	# loop mount): a few more opens before saying the kernel cannot pass through
	passed=0
	for try in 1 2 3 4 5; do
		opened=$(read_delta "$v" passthrough_opens)
		if [ "$opened" -gt 0 ]; then
			passed=1
			break
		fi
		sleep 0.5
	done
	[ "$passed" = 1 ] ||
		fail "bpf-overhead: $work/$v/file was not passed through after a whole read and 5 more opens (kernel without FUSE passthrough?)"
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
	[ "$2" = 1 ] || rm -f "$pins"/access_sys_exit_* "$pins"/access_sx_*
	# weir-node takes the reading syscalls' exits where it has them, sys_exit where not
	[ ! -e "$pins/access_sx_read" ] || rm -f "$pins"/access_sys_exit_*
	[ "$1" != noop ] && [ "${1#floor-}" = "$1" ] || return 0
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

# One dd per file, size and column, each value on a line of $work/res (round, column, file, size,
# CPU ns per block). Every round measures every column, in an order rotated by one each round,
# so that drift on a shared machine hits them all alike; "detached" is measured first and again
# last ("again": how far two measurements of the same thing differ here, the noise any overhead
# below sits in). The summary takes each round's column against that round's detached (paired)
# and gives the median of the rounds and their spread (quartiles).
measure() { # ROUND COLUMN
	local f bs
	echo "$1 $2 faults - $(fault_cost)" >>"$work/res"
	for f in "${files[@]}"; do
		for bs in "${sizes[@]}"; do
			echo "$1 $2 $f $bs $(throughput "${path[$f]}" "$bs")" >>"$work/res"
		done
	done
}

others_sys_exit() { # links to sys_exit of other processes change every column: say so
	bpftool link list 2>/dev/null | grep -c "tp 'sys_exit'" || true
}

# BENCH_COLUMNS: the columns to run (default all): noop, noop+sys, before, before+sys, after,
# after+sys and the floors floor-<name> (see floor_points); none: no dd runs, the paired part
# below only
all_cols=(noop noop+sys before before+sys after after+sys)
for fp in "${floor_points[@]}"; do all_cols+=("floor-${fp%%|*}"); done
read -r -a cols <<<"${BENCH_COLUMNS:-${all_cols[*]}}"
[ "${cols[*]}" != none ] || { cols=(); runs=0; } # none: the paired part only
for col in "${cols[@]}"; do
	[ -n "${objs[${col%+sys}]:-}" ] || fail "bpf-overhead: no column \"$col\" (have: ${all_cols[*]})"
done
: >"$work/res"
note "sys_exit links on the node before the runs (other tests): $(others_sys_exit)"
load0=$(uptime)
for round in $(seq "$runs"); do
	measure "$round" detached
	n=${#cols[@]}
	for i in $(seq 0 $((n - 1))); do
		col=${cols[$(((i + round) % n))]}
		attach "${col%+sys}" "$([ "${col#*+}" = sys ] && echo 1 || echo 0)"
		measure "$round" "$col"
		detach
	done
	measure "$round" again
done
note "sys_exit links on the node after the runs (other tests): $(others_sys_exit)"

if [ "$runs" -gt 0 ]; then
echo "CPU ns per dd block (read + write to /dev/null) of warm reads of $((size >> 20)) MiB files,"
echo "$runs rounds. Each column: the median of its rounds, and its overhead: the median over the"
echo "rounds of (column - that round's detached) / detached, with the quartiles of those [q1, q3]."
echo "again: detached measured again at the end of each round (the noise). before: $base_rev's"
echo "programs; after: this tree's. +sys: with the syscall-exit programs attached (sys_exit; after: the reading syscalls' exits; weir-node attaches them"
echo "while a view file is open in passthrough from a tmpfs tier). noop: programs that return at"
echo "once on the read tracepoint (+sys: and on sys_exit); floor-*: one that returns at once on one"
echo "attach point (the floor of any program there):"
for fp in "${floor_points[@]}"; do
	IFS='|' read -r fname fsec _ <<<"$fp"
	printf '  floor-%-18s %s\n' "$fname" "$fsec"
done
python3 - "$work/res" "${cols[*]}" "${files[*]}" "${sizes[*]}" <<'PY'
import statistics as st, sys
from collections import defaultdict
res, cols, files, sizes = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4].split()
v = defaultdict(dict)  # (col, file, bs) -> {round: ns}
for line in open(res):
    r, col, f, bs, ns = line.split()
    v[(col, f, bs)][int(r)] = int(ns)
def quart(xs):
    xs = sorted(xs)
    if len(xs) < 2:
        return xs[0], xs[0], xs[0]
    q = st.quantiles(xs, n=4, method="inclusive")
    return q[0], st.median(xs), q[2]
def ovh(col, f, bs):
    d, c = v[("detached", f, bs)], v[(col, f, bs)]
    return quart([(c[r] - d[r]) * 100.0 / d[r] for r in c if r in d and d[r] > 0])
def cell(col, f, bs):
    q1, m, q3 = ovh(col, f, bs)
    return "%6d %6.1f%% [%5.1f,%5.1f]" % (st.median(v[(col, f, bs)].values()), m, q1, q3)
show = ["again"] + cols
rows = [(f, bs) for f in files for bs in sizes] + [("faults", "-")]
print()
print("%-16s %-5s %7s" % ("file", "bs", "detach") + "".join(" %-27s" % c for c in show))
for f, bs in rows:
    print("%-16s %-5s %7d" % (f if f != "faults" else "anon-fault", bs,
                              st.median(v[("detached", f, bs)].values()))
          + "".join(" %-27s" % cell(c, f, bs) for c in show))
# as weir-node runs: the page-cache and SSD files without sys_exit, the MEM file with it
was = {"pagecache": "before", "pt-mem": "before+sys", "pt-ssd": "before"}
now = {"pagecache": "after", "pt-mem": "after+sys", "pt-ssd": "after"}
if all(c in cols for c in set(was.values()) | set(now.values())):
    print()
    print("as weir-node runs, median overhead vs detached: before -> after (again: the noise)")
    for f in files:
        print("%-10s" % f + "".join("  %s %5.1f%% -> %5.1f%% (%5.1f%%)" % (
            bs, ovh(was[f], f, bs)[1], ovh(now[f], f, bs)[1], ovh("again", f, bs)[1])
            for bs in sizes))
floors = [c for c in cols if c.startswith("floor-")]
if floors:
    print()
    print("floors: extra CPU ns per block of a no-op program (median of paired rounds), and % of")
    print("the block; again = the noise")
    print("%-22s" % "attach point" + "".join(" %-20s" % ("%s %s" % (f, bs)) for f in files for bs in sizes))
    for c in ["again"] + floors:
        out = "%-22s" % c
        for f in files:
            for bs in sizes:
                d, x = v[("detached", f, bs)], v[(c, f, bs)]
                ns = st.median([x[r] - d[r] for r in x if r in d])
                out += " %-20s" % ("%5d ns %5.1f%%" % (ns, ovh(c, f, bs)[1]))
        print(out)
PY
echo "load: before $load0"
echo "load: after  $(uptime)"
fi

# Paired, in one process (bench/bpf_paired.c): batches of reads with each configuration attached
# in turn, CPU time of the reading thread, each compared with the unattached batch of its own
# round. Far less noisy here than whole dd runs; the floors and our programs as weir-node
# attaches them (tp_btf; the PMD programs are not: they cost page faults, not reads). The SSD
# tier file's reads are not watched here (its backing entry is not set up), so "ours" there is
# the cost to a file weir does not watch.
cc -O2 -o "$work/bpf_paired" "$here/bpf_paired.c" -lbpf -lpthread || fail "bpf-overhead: cannot build bench/bpf_paired.c"
paired_rounds=${BENCH_PAIRED_ROUNDS:-150}
paired_bytes=$((${BENCH_PAIRED_MIB:-8} << 20))
cpu=${BENCH_CPU:-$(($(nproc) - 1))}
# tp-sys_exit_pread64: the exit of the syscall the paired reader makes (pread), where ours runs
# for a MEM-tier passthrough file: the floor of that program, dispatch included (sys_exit_read's
# no-op only puts the reader's syscalls on the tracing slow path, it never runs)
read -r -a floors <<<"${BENCH_FLOORS:-btf-get_pages tp-sys_exit_read tp-sys_exit_pread64}"
[ "${floors[*]}" != all ] || floors=("${floor_points[@]%%|*}")
[ "${floors[*]}" != none ] || floors=()
for fl in "${floors[@]}"; do
	[ -n "${objs[floor-$fl]:-}" ] || fail "bpf-overhead: no floor \"$fl\" (have: ${floor_points[*]%%|*})"
done
# Hardware counters would count instructions per read regardless of the machine's load: say
# whether this machine has them.
if perf stat -x, -e instructions,cycles true 2>&1 >/dev/null | grep -q "not supported"; then
	note "perf stat: instructions and cycles are not supported on this machine (no PMU exposed to the VM): CPU time only"
elif ! command -v perf >/dev/null; then
	note "perf: not installed: CPU time only"
else
	note "perf stat counts instructions here: $(perf stat -x, -e instructions true 2>&1 >/dev/null | head -1)"
fi
# the reader at a real-time priority on one CPU: a missing privilege is an error, not a skip
taskset -c "$cpu" chrt -f 10 true || fail "bpf-overhead: cannot run the reader pinned to CPU $cpu at SCHED_FIFO 10 (taskset -c $cpu chrt -f 10)"
ours=access_get_pages_btf,access_fault_btf,access_map_pages_btf,access_add_to_page_cache,access_switch_btf
echo
echo "paired: $paired_rounds rounds per file and size, $((paired_bytes >> 20)) MiB per batch, reader on CPU $cpu at"
echo "SCHED_FIFO 10; ns/block: median of the rounds, min: their minimum; extra CPU ns per block vs"
echo "unattached (median of the paired differences); the overhead's median and quartiles over the"
echo "rounds, min/min: the minimum's against the unattached minimum, p10/p10: the same of the 10th"
echo "percentiles; again: nothing attached (the noise of each statistic)"
load0=$(uptime)
for f in "${files[@]}"; do
	for bs in "${sizes[@]}"; do
		bytes=$(($(numfmt --from=iec "${bs^^}")))
		sys= label=
		# the syscall-exit programs as weir-node attaches them: the reading syscalls' exits,
		# or sys_exit in a base revision that has no such programs
		sx=,access_sx_read,access_sx_pread64,access_sx_readv,access_sx_preadv,access_sx_preadv2,access_sx_sendfile64,access_sx_splice,access_sx_copy_file_range
		base_sx=$sx
		grep -q 'ACCESS_SYSCALL_EXIT(pread64' "$work/base/access.bpf.c" || base_sx=,access_sys_exit_btf
		[ "$f" != pt-mem ] || { sys=$base_sx label=+sys; }
		cfgs=(again=)
		for fl in "${floors[@]}"; do
			cfgs+=("floor-$fl=$work/base/floor-$fl.bpf.o")
		done
		cfgs+=("before$label=$work/base/access.bpf.o:$ours$sys")
		[ -z "$sys" ] || sys=$sx
		cfgs+=("after$label=$obj:$ours$sys")
		for extra in ${BENCH_EXTRA_OBJS:-}; do
			[ -f "${extra#*=}" ] || fail "bpf-overhead: no object ${extra#*=} (BENCH_EXTRA_OBJS)"
			cfgs+=("${extra%%=*}$label=${extra#*=}:$ours$sys")
		done
		echo
		echo "$f, $bs blocks:"
		BPF_PAIRED_PROG_STATS=${BENCH_PROG_STATS:-0} taskset -c "$cpu" chrt -f 10 \
			"$work/bpf_paired" "${path[$f]}" "$bytes" "$paired_rounds" $((paired_bytes / bytes > 50 ? paired_bytes / bytes : 50)) \
			"$(kdev_of "${mp[$f]}")" "${cfgs[@]}" || fail "bpf-overhead: the paired measurement of $f failed"
	done
done
echo "load: before $load0"
echo "load: after  $(uptime)"
