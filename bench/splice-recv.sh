#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Estimate (issue 15 (c) and cold S3): would reading a peer's HTTP body with splice(socket -> pipe
# -> tier file) instead of through curl save the reading weir-node's CPU? Two network namespaces on
# a bridge, as bench/cluster.sh's nodes (tests/helpers/cluster.sh); node 1 serves a BENCH_MIB MiB
# tmpfs file with sendfile (as weir's peer server does), node 2 reads it into a fresh tmpfs tier
# file in 4 MiB blocks, each block's XXH3 and reply tag (Poly1305) taken, by each route of
# bench/splice_recv.c (curl, direct, splice, splice-hot; splice-nosum and curl-nosum without sum
# or tag), alternated, BENCH_RUNS rounds. Prints per run the wall time and
# the CPU-s of the receiver, the sender and the whole machine (/proc/stat, softirqs included),
# medians, and the receiver's CPU by splice over its CPU by the curl route. Decision rule of the
# assignment: build it only if it saves >= 25% of the reading node's CPU.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/cluster.sh"

MIB="${BENCH_MIB:-256}"
RUNS="${BENCH_RUNS:-7}"
MODES="${BENCH_MODES:-curl direct splice splice-hot splice-nosum curl-nosum}"
[ "$(id -u)" -eq 0 ] || fail "needs root: network namespaces and a bridge (CAP_NET_ADMIN)"
command -v cc >/dev/null || fail "cc is missing (build-essential)"
[ -e /usr/include/xxhash.h ] || fail "xxhash.h is missing (libxxhash-dev)"

TMP="$(mktemp -d /tmp/weir-bench-splice.XXXXXX)"
at_exit 'rm -rf "$TMP"'
SHM="$(mktemp -d /dev/shm/weir-bench-splice.XXXXXX)"
at_exit 'rm -rf "$SHM"'
cc -O2 -Wall -o "$TMP/splice_recv" "$here/splice_recv.c" -lxxhash -lcrypto || fail "building splice_recv failed"
head -c $((MIB << 20)) /dev/urandom >"$SHM/src"
cluster_net_setup 2
PORT=7071
on 1 "$TMP/splice_recv" send "$PORT" "$SHM/src" >"$TMP/send.log" 2>&1 &
opid=$! # the subshell running the function on: the sender is its child
pid_track "$opid"
at_exit "pid_stop $opid"
for _ in $(seq 1 50); do grep -q listening "$TMP/send.log" && break; sleep 0.1; done
grep -q listening "$TMP/send.log" || fail "the sender did not listen: $(cat "$TMP/send.log")"
spid="$(awk '/^listening/ { print $2 }' "$TMP/send.log")" # its own pid, which it prints
pid_track "$spid"
at_exit "pid_stop $spid"
[ "$(cat "/proc/$spid/comm")" = splice_recv ] || fail "pid $spid is not the sender"
TICK="$(getconf CLK_TCK)"
# ticks PID: utime + stime of PID so far (every thread)
ticks() { local f; f="$(cat "/proc/$1/stat")"; f="${f##*) }"; awk '{ print $12 + $13 }' <<<"$f"; }
# busy: the machine's busy ticks so far (everything but idle and iowait)
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
secs() { awk -v t="$1" -v h="$TICK" 'BEGIN { printf "%.2f", t / h }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'; }

step "$MIB MiB over veth+bridge, node 1 -> node 2 ($(ip_of 1) -> $(ip_of 2)), $RUNS rounds of: $MODES"
declare -A W R S M X
for r in $(seq 1 "$RUNS"); do
	line=""
	for m in $MODES; do
		rm -f "$SHM/tier"
		s0="$(ticks "$spid")" b0="$(busy)"
		out="$(on 2 "$TMP/splice_recv" recv "$(ip_of 1)" "$PORT" "$m" "$SHM/tier")" || fail "$m: the receiver failed"
		s1="$(ticks "$spid")" b1="$(busy)"
		read -r _ bytes wall us ss xs <<<"$out"
		[ "$bytes" -eq $((MIB << 20)) ] || fail "$m: $bytes bytes received"
		cmp -s "$SHM/src" "$SHM/tier" || fail "$m: the tier file differs from the source"
		[[ "$m" == *-nosum ]] || X[$m]="$xs"
		rc="$(awk -v a="$us" -v b="$ss" 'BEGIN { printf "%.3f", a + b }')"
		W[$m]+=" $wall" R[$m]+=" $rc" S[$m]+=" $(secs $((s1 - s0)))" M[$m]+=" $(secs $((b1 - b0)))"
		line+=" $m ${wall}s recv ${rc} (u $us s $ss) send $(secs $((s1 - s0))) machine $(secs $((b1 - b0)));"
	done
	note "round $r:$line"
done
sums="$(printf '%s\n' "${X[@]}" | sort -u | wc -l)"
[ "$sums" -eq 1 ] || fail "the routes' block sums differ: ${X[*]}"
rm -f "$SHM/tier"
echo
echo "== bench/splice-recv.sh: $MIB MiB, 4 MiB blocks with XXH3 + Poly1305, veth + bridge, $RUNS rounds; medians (per run) =="
for m in $MODES; do
	printf '%-13s wall %6.3f s  receiver CPU-s %6.3f  sender %5.2f  machine %5.2f   (receiver:%s)\n' "$m" \
		"$(median ${W[$m]})" "$(median ${R[$m]})" "$(median ${S[$m]})" "$(median ${M[$m]})" "${R[$m]}"
done
for m in direct splice splice-hot splice-nosum curl-nosum; do
	[[ " $MODES " == *" $m "* ]] || continue
	echo "receiver_cpu_${m}_vs_curl: $(ratio "$(median ${R[$m]})" "$(median ${R[curl]})")x  machine_cpu_${m}_vs_curl: $(ratio "$(median ${M[$m]})" "$(median ${M[curl]})")x"
done
echo "every route's blocks summed and tagged alike ($sums distinct XXH3^Poly1305 set); every tier file cmp-equal to the source"
echo "load: $(uptime)"
