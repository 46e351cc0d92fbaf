#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Set-up + main job: installs deps, builds, then shows weir's data path on one machine: nginx serves
# a walkthrough-shaped Spark mirror, weir mounts it, copies run cold then warm, weir stat reports.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
SCALE="${WEIR_UP_SCALE:-0.05}" # ~70 MB; 1 gives the walkthrough's 1.4 GB

[ "$(id -u)" -eq 0 ] || { echo "up: weir mounts FUSE file systems and needs root: run sudo scripts/up.sh" >&2; exit 1; }
scripts/install-deps.sh
if [ -f build/meson-private/coredata.dat ]; then meson setup --reconfigure build >/dev/null; else meson setup build >/dev/null; fi
ninja -C build

. tests/helpers/lib.sh
. tests/helpers/nginx.sh
. tests/helpers/weir.sh
require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-up.XXXXXX)"
at_exit 'rm -rf "$TMP"'
weir_setup "$TMP"
MP="$TMP/data"

step "a Spark-mirror-shaped tree (scale $SCALE), served by nginx on loopback at 10 MB/s per request"
tests/helpers/gentree.sh "$TMP/mirror" "$SCALE" | sed 's/^/  /'
nginx_start "$TMP/nginx" "$TMP/mirror" --limit-rate 10m

step "weir mount $NGINX_URL $MP --tier mem:$WEIR_TIER_DIR:4GiB"
weir_mount "$NGINX_URL" "$MP" --tier "mem:$WEIR_TIER_DIR:4GiB" --high 0.95 --low 0.7
ls -l "$MP" | sed 's/^/  /'

step "time cp -R $MP/spark-3.3.1/* (cold: fetched from nginx in parallel ranges)"
mkdir -p "$TMP/out1" "$TMP/out2"
time cp -R "$MP"/spark-3.3.1/* "$TMP/out1"
du -sh "$TMP"/out1/* | sed 's/^/  /'

step "drop the page cache, time cp -R again (warm: served from the mem tier)"
sync
echo 1 >/proc/sys/vm/drop_caches
time cp -R "$MP"/spark-3.3.1/* "$TMP/out2"
diff -r "$TMP/mirror/spark-3.3.1" "$TMP/out2" && ok "the copy is identical to the mirror"

step "weir stat $MP"
w stat "$MP"
echo
echo "up: done; everything started here is stopped and removed on exit"
