#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Warm page-cache read throughput with the access tracker's programs detached,
# attached but not watching the device, and attached and watching it (the
# worst case: every read is counted). Target: <= 3% loss. Needs root.
# Usage: bench/bpf-overhead.sh [build-dir] [runs]
set -euo pipefail

build=${1:-build}
runs=${2:-7}
obj="$build/bpf/access.bpf.o"
[ "$(id -u)" -eq 0 ] || { echo "bpf-overhead: needs root (loads BPF programs, mounts a loop device)" >&2; exit 1; }
[ -f "$obj" ] || { echo "bpf-overhead: $obj not found: build with BPF first (ninja -C $build)" >&2; exit 1; }

work=$(mktemp -d /tmp/weir-bpf-bench-XXXXXX)
pins=/sys/fs/bpf/weir-bench-$$
cleanup() {
  rm -rf "$pins" "$pins-maps" 2>/dev/null || true
  umount "$work/mnt" 2>/dev/null || umount -l "$work/mnt" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

truncate -s 1G "$work/img"
mkfs.ext4 -q -F "$work/img"
mkdir "$work/mnt"
mount -o loop "$work/img" "$work/mnt"
dd if=/dev/zero of="$work/mnt/file" bs=1M count=256 status=none
sync
cat "$work/mnt/file" >/dev/null   # warm: every read below is a page-cache hit

# Best of $runs, in MB/s.
throughput() {
  local bs=$1 best=0 r
  for _ in $(seq "$runs"); do
    r=$(dd if="$work/mnt/file" of=/dev/null bs="$bs" 2>&1 | awk '/copied/ {
          for (i = 1; i <= NF; i++) if ($i == "copied,") { printf "%.0f", $1 / $(i + 1) / 1e6; exit } }')
    [ "$r" -gt "$best" ] && best=$r
  done
  echo "$best"
}

sizes=(4k 64k 1M)
le32() { printf '%02x %02x %02x %02x' $(($1 & 255)) $((($1 >> 8) & 255)) $((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }
read -r maj min < <(mountpoint -d "$work/mnt" | tr ':' ' ')
kdev=$(( (maj << 20) | min ))   # the kernel's s_dev encoding, the watch_devs key

declare -A res
for bs in "${sizes[@]}"; do res[detached,$bs]=$(throughput "$bs"); done

# The object has each filemap program twice (tp_btf and raw_tp); the loader
# attaches one set. Here: load everything, then drop the other set's links.
for build in btf raw; do
  other=$([ $build = btf ] && echo raw || echo btf)
  bpftool prog loadall "$obj" "$pins" autoattach pinmaps "$pins-maps"
  rm -f "$pins"/*_"$other"
  for bs in "${sizes[@]}"; do res[$build-unwatched,$bs]=$(throughput "$bs"); done
  bpftool map update pinned "$pins-maps/view_stats" key hex $(le32 1) value hex $(printf '00 %.0s' $(seq 64))
  bpftool map update pinned "$pins-maps/watch_devs" key hex $(le32 $kdev) value hex $(le32 1)
  # A loop device has a major number: what the loader does for such a view (FUSE views have
  # none, and reads of other block devices then stop at one compare).
  [ "$maj" -eq 0 ] || bpftool map update pinned "$pins-maps/access_bss" key hex 00 00 00 00 value hex $(le32 1)
  for bs in "${sizes[@]}"; do res[$build-watched,$bs]=$(throughput "$bs"); done
  rm -rf "$pins" "$pins-maps"
done

echo "warm page-cache reads of a 256 MiB file, best of $runs, MB/s (loss vs detached)"
printf '%-5s %10s' bs detached
for col in btf-unwatched btf-watched raw-unwatched raw-watched; do printf ' %22s' "$col"; done
echo
for bs in "${sizes[@]}"; do
  b=${res[detached,$bs]}
  printf '%-5s %10s' "$bs" "$b"
  for col in btf-unwatched btf-watched raw-unwatched raw-watched; do
    v=${res[$col,$bs]}
    printf ' %13s (%5s%%)' "$v" "$(awk -v a="$b" -v c="$v" 'BEGIN { printf "%.1f", (a - c) * 100 / a }')"
  done
  echo
done
