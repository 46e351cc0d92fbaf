#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (issue 3), prints figures and never fails on targets: the walkthrough's three copies at
# full size (spark-3.3.1, 1.34 GB) from a mirror capped per connection; cold vs warm, production vs dev.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/walkthrough.sh"

SCALE="${BENCH_SCALE:-1}"        # 1: the walkthrough's sizes (348K, 269M, 262M, 293M, 286M, 201M, 28M)
RATE="${BENCH_RATE:-10000000}"   # bytes/s per connection (10 MB/s), no burst
WT_POLL_SECONDS="${BENCH_LOAD_SECONDS:-1800}"

require_root_fuse
find_weir_bins
find_controller_bin
TMP="$(mktemp -d /tmp/weir-bench-wt.XXXXXX)"
at_exit 'rm -rf "$TMP"'
# mirror and copies in tmpfs, as the cache's MEM tier is: no disk in the path
SHM="$(mktemp -d /dev/shm/weir-bench-wt.XXXXXX)"
at_exit 'rm -rf "$SHM"'
weir_setup "$TMP"
DEV="$TMP/dev-data" PROD="$TMP/prod-data"

step "the mirror (scale $SCALE) in tmpfs; nginx on loopback behind a per-connection cap of $RATE B/s"
wt_tree "$SHM/tree" "$SCALE"
TREE="$SHM/tree"
nginx_start "$TMP/nginx" "$TREE"
TPORT="$(free_port)"
# nginx's limit_rate grants each request a one-second burst that short range requests escape;
# throttle.py caps every connection with none, as a distant mirror does
python3 "$here/../tests/helpers/throttle.py" "$TPORT" "$NGINX_PORT" "$RATE" >"$TMP/throttle.log" 2>&1 &
tpid=$!
pid_track "$tpid"
at_exit "pid_stop $tpid"
sleep 0.5
pid_alive "$tpid" || fail "throttle.py exited at start: $(cat "$TMP/throttle.log")"
MIRROR="http://127.0.0.1:$TPORT/"
wt_manifests "$MIRROR" "$WEIR_TIER_DIR"
note "mirror $MIRROR (throttled), nginx $NGINX_URL"
wt_up

copy() { # copy VIEW NAME: drop the page cache, time cp -R VIEW/spark-3.3.1/* DEST, check sizes
	local view="$1" name="$2" t
	drop_caches
	t="$(timed_cp "$view/spark-3.3.1" "$SHM/$name")"
	diff <(cd "$TREE/spark-3.3.1" && find . -type f -printf '%p %s\n' | sort) \
		<(cd "$SHM/$name" && find . -type f -printf '%p %s\n' | sort) >&2 ||
		fail "the $name copy differs in names or sizes from the mirror (diff above)"
	du -sh "$SHM/$name"/* | sed "s#$SHM/$name#/tmp#; s/^/  /" >&2
	rm -rf "${SHM:?}/$name"
	echo "$t"
}

step "development: namespace, Dataset + AlluxioRuntime (dataset.yaml, URL changed); wait for Bound"
show create namespace development
show create -f "$WT_YAML/dataset.yaml"
wt_wait_phase dataset spark development Bound 120
wt_wait_field dataset spark development status.ufsTotal "$(fmt_quantity "$WT_TOTAL")" 120
show get dataset -A

echo
echo "Each timed copy runs after echo 3 > /proc/sys/vm/drop_caches, so it measures weir (its tiers"
echo "and its FUSE view), not the page cache of an earlier copy."

step "development, cold (before the DataLoad): time cp -R /data/spark-3.3.1/* /tmp"
wt_mount development spark "$DEV"
ls -ltr "$DEV" | sed 's/^/  /'
t_cold="$(copy "$DEV" cold)"
note "real ${t_cold}s"

step "DataLoad (dataload.yaml, /spark-3.3.1)"
show create -f "$WT_YAML/dataload.yaml"
wt_wait_phase dataload spark development Complete
show get dataload -A
show get dataset -n development

step "development, after the DataLoad: time cp -R /data/spark-3.3.1/* /tmp"
t_warm="$(copy "$DEV" warm)"
note "real ${t_warm}s"

step "production: namespace, reference (spark-production.yaml), Bound"
show create namespace production
show create -f "$WT_YAML/spark-production.yaml"
wt_wait_phase dataset spark production Bound
show get dataset -n production

step "production: time cp -R /data/spark-3.3.1/* /tmp"
wt_mount production spark "$PROD"
ls -ltr "$PROD" | sed 's/^/  /'
req0="$(nginx_requests)"
t_prod="$(copy "$PROD" production)"
req1="$(nginx_requests)"
note "real ${t_prod}s; nginx requests during it: $((req1 - req0))"

ratio() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { if (b > 0) printf "%.*f", n, a / b; else printf "inf" }'; }
echo
echo "bytes: $WT_S331 in spark-3.3.1 (scale $SCALE) of $WT_TOTAL; per-connection cap $RATE B/s; page cache dropped before each copy"
echo "development cold copy (before DataLoad): ${t_cold} s (walkthrough: 196.761 s)"
echo "development copy after DataLoad:         ${t_warm} s (walkthrough: 0.872 s)"
echo "production copy:                         ${t_prod} s (walkthrough: 0.878 s)"
echo "cold throughput: $(awk -v b="$WT_S331" -v t="$t_cold" 'BEGIN { printf "%.1f", b / t / 1e6 }') MB/s through a cap of $(awk -v r="$RATE" 'BEGIN { printf "%.1f", r / 1e6 }') MB/s per connection (the walkthrough's cold copy: 7.1 MB/s)"
echo "cold_vs_warm: $(ratio "$t_cold" "$t_warm" 1)x (walkthrough: 245x)"
echo "walkthrough_cold_vs_our_warm: $(ratio 196.761 "$t_warm" 1)x (informational: the walkthrough's 196.761 s cold copy over our warm copy)"
echo "production_vs_development: $(ratio "$t_prod" "$t_warm" 2)x (target <= 1.1)"
