#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What checking a peer block costs (issue 15): builds bench/mac_speed.c against this tree's
# daemon/peer_auth.c and prints, per 4 MiB block, the median GB/s and µs of XXH3, SHA-256 (a
# pushed body's digest), weir's reply MAC (HMAC-SHA256 key derivation + Poly1305, what every
# block read's reply now carries), GMAC (AES-256-GCM) for comparison, and the reply MAC over a
# block mapped from a tmpfs tier file (what the serving node does before sendfile), all in the
# same process over the same blocks in alternating rounds, with ratios against SHA-256 and XXH3.
# Prints figures, never fails on them; needs cc, libssl-dev, libxxhash-dev (install-deps).
# Usage: bench/mac.sh [rounds]   (BENCH_BLOCK_B: block bytes, default 4 MiB; BENCH_BLOCKS: blocks
# per round, default 16: 64 MiB, more than the caches, as blocks off the wire are)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
rounds="${1:-15}"
work="$(mktemp -d /tmp/weir-bench-mac.XXXXXX)"
tier="$(mktemp /dev/shm/weir-bench-mac.XXXXXX)"
trap 'rm -rf "$work" "$tier"' EXIT
cc -O2 -I"$here/../daemon" -o "$work/mac_speed" "$here/mac_speed.c" "$here/../daemon/peer_auth.c" \
	-lcrypto -lxxhash || { echo "mac.sh: cannot build bench/mac_speed.c" >&2; exit 1; }
echo "load: $(uptime)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo "openssl: $(openssl version)"
"$work/mac_speed" "${BENCH_BLOCK_B:-4194304}" "${BENCH_BLOCKS:-16}" "$rounds" "$tier"
echo "load: $(uptime)"
