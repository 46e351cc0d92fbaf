#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Set-up + main job: installs deps, builds, then runs the Fluid walkthrough end to end on one machine
# with weir in place of kubectl (weir up, its YAML, its tables and copy times); cleans up on exit.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
SCALE="${WEIR_UP_SCALE:-0.2}"       # 0.2: 268 MiB in spark-3.3.1; 1: the walkthrough's 1.34 GB
RATE="${WEIR_UP_RATE:-10000000}"    # the mirror's cap per connection, bytes/s (a distant mirror)
KEEP="${WEIR_UP_KEEP:-0}"           # 1: leave everything up until Enter, then clean up

[ "$(id -u)" -eq 0 ] || { echo "up: weir mounts FUSE file systems and needs root: run sudo scripts/up.sh" >&2; exit 1; }
scripts/install-deps.sh
if [ -f build/meson-private/coredata.dat ]; then meson setup --reconfigure build >/dev/null; else meson setup build >/dev/null; fi
ninja -C build

. tests/helpers/walkthrough.sh
require_root_fuse
find_weir_bins
find_controller_bin
TMP="$(mktemp -d /tmp/weir-up.XXXXXX)"
at_exit 'rm -rf "$TMP"'
weir_setup "$TMP"
DEV="$TMP/dev/data" PROD="$TMP/prod/data"

# pod_cp VIEW NAME: the pod's `time cp -R /data/spark-3.3.1/* /tmp` and `du -sh /tmp/*`, after
# dropping the page cache so the time is weir's, not an earlier copy's.
pod_cp() {
	local t
	drop_caches
	printf '  root@nginx:/# time cp -R /data/spark-3.3.1/* /tmp\n'
	t="$(timed_cp "$1/spark-3.3.1" "$TMP/$2")"
	printf '  real %ss\n' "$t"
	diff -r "$TMP/tree/spark-3.3.1" "$TMP/$2" >/dev/null || fail "the $2 copy differs from the mirror's spark-3.3.1"
	printf '  root@nginx:/# du -sh /tmp/*\n'
	du -sh "$TMP/$2"/* | sed "s#$TMP/$2#/tmp#; s/^/  /"
	rm -rf "${TMP:?}/$2"
	eval "t_$2=$t"
}

step "a mirror shaped like mirrors.bit.edu.cn/apache/spark/ (scale $SCALE), served on loopback at $RATE B/s per connection"
wt_tree "$TMP/tree" "$SCALE"
nginx_start "$TMP/nginx" "$TMP/tree"
TPORT="$(free_port)"
python3 tests/helpers/throttle.py "$TPORT" "$NGINX_PORT" "$RATE" >"$TMP/throttle.log" 2>&1 &
tpid=$!
pid_track "$tpid"
at_exit "pid_stop $tpid"
sleep 0.5
MIRROR="http://127.0.0.1:$TPORT/"
wt_manifests "$MIRROR" "$WEIR_TIER_DIR"
note "the walkthrough's YAML with mountPoint $MIRROR and the tier under $WEIR_TIER_DIR: $WT_YAML"

step "(walkthrough 1) weir up (weir-controller with its SQLite store, and weir-node, state in $WEIR_STATE)"
wt_up

step "(walkthrough 2) create namespace development"
show create namespace development

step "(walkthrough 3) create the Dataset and AlluxioRuntime (dataset.yaml)"
show create -f "$WT_YAML/dataset.yaml"

step "(walkthrough 4) the status of the Dataset"
wt_wait_phase dataset spark development Bound
wt_wait_field dataset spark development status.ufsTotal "$(fmt_quantity "$WT_TOTAL")"
show get dataset -A

step "(walkthrough 5-6) the pod's view (weir mount -n development spark) and the first copy"
wt_mount development spark "$DEV"
printf '  root@nginx:/# ls -ltr /data\n'
ls -ltr "$DEV" | sed 's/^/  /'
pod_cp "$DEV" cold

step "(walkthrough 7) load /spark-3.3.1 with a DataLoad (dataload.yaml)"
show create -f "$WT_YAML/dataload.yaml"

step "(walkthrough 8) the DataLoad's status"
wt_wait_phase dataload spark development Complete 600
show get dataload -A

step "(walkthrough 9) the cache effect"
show get dataset -n development

step "(walkthrough 10) copy again"
pod_cp "$DEV" warm

step "(walkthrough 11) create namespace production"
show create namespace production

step "(walkthrough 12) the reference dataset://development/spark (spark-production.yaml)"
show create -f "$WT_YAML/spark-production.yaml"

step "(walkthrough 13) the Dataset in production shows development's cache"
wt_wait_phase dataset spark production Bound
show get dataset -n production

step "(walkthrough 14-15) the production pod's view and its copy"
wt_mount production spark "$PROD"
printf '  root@nginx:/# ls -ltr /data\n'
ls -ltr "$PROD" | sed 's/^/  /'
req0="$(nginx_requests)"
pod_cp "$PROD" production
note "requests to the mirror during the production copy: $(($(nginx_requests) - req0))"

echo
echo "copies of spark-3.3.1 ($(fmt_quantity "$WT_S331"), page cache dropped before each):"
echo "  development, cold:           ${t_cold} s   (walkthrough: 196.761 s)"
echo "  development, after DataLoad: ${t_warm} s   (walkthrough: 0.872 s)"
echo "  production:                  ${t_production} s   (walkthrough: 0.878 s)"
awk -v c="$t_cold" -v w="$t_warm" -v p="$t_production" 'BEGIN {
	if (w > 0) printf "  cold/warm: %.1fx (walkthrough: 245x); production/development: %.2fx\n", c / w, p / w }'
if [ "$KEEP" = 1 ] && [ -t 0 ]; then
	echo
	echo "up: everything is still up: views $DEV and $PROD, state $WEIR_STATE (try:"
	echo "    $WEIR_BIN --state-dir $WEIR_STATE get dataset -A)"
	read -r -p "up: press Enter to stop weir and nginx and remove it all: " _
fi
# nginx stops here with SIGTERM: the exit's SIGKILL (for a test's sake) made bash print
# "Killed" with nginx's command line as the run's last words
nginx_stop
echo
echo "up: done; weir down, nginx stopped, views unmounted and temporary files removed on exit"
echo "    (WEIR_UP_KEEP=1 keeps it up until Enter; WEIR_UP_SCALE=1 runs the walkthrough's full 1.34 GB)"
