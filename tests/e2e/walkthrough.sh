#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end (issue 3): the Fluid walkthrough's steps in order with weir in place of kubectl, on its
# YAML with only the URL changed, against nginx on loopback serving a scaled-down Spark mirror.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/walkthrough.sh"

SCALE="${WEIR_E2E_SCALE:-0.03}" # ~42 MB in spark-3.3.1

require_root_fuse
find_weir_bins
find_controller_bin
TMP="$(mktemp -d /tmp/weir-e2e-walkthrough.XXXXXX)"
at_exit 'rm -rf "$TMP"'
weir_setup "$TMP"
TREE="$TMP/tree" DEV="$TMP/dev-data" PROD="$TMP/prod-data"
echo "weir: $WEIR_BIN; weir-node: $WEIR_NODE_BIN; weir-controller: $WEIR_CONTROLLER_BIN; work dir: $TMP"

DS_HEADER="NAMESPACE NAME UFS TOTAL SIZE CACHED CACHE CAPACITY CACHED PERCENTAGE PHASE AGE"
DL_HEADER="NAMESPACE NAME DATASET PHASE AGE DURATION"
CAPACITY=$((4 * 1024 * 1024 * 1024)) # quota: 4Gi in dataset.yaml

# expect_header TEXT WANT: the table's first line, runs of spaces squeezed, is WANT.
expect_header() {
	local got
	got="$(printf '%s\n' "$1" | head -n 1 | tr -s ' ' | sed 's/ $//')"
	[ "$got" = "$2" ] || fail "the table's header is \"$got\"; the walkthrough prints \"$2\""
}

# row TEXT NS NAME: the table row of NS/NAME (first two columns), spaces squeezed.
row() { printf '%s\n' "$1" | tr -s ' ' | awk -v ns="$2" -v n="$3" '$1 == ns && $2 == n'; }

# expect_dataset_row NS TOTAL CACHED PCT: the -A table's row for NS/spark shows these figures,
# the walkthrough's capacity and phase Bound.
expect_dataset_row() {
	local ns="$1" r want
	wt_run "listing datasets" get dataset -A
	r="$(row "$WT_OUT" "$ns" spark)"
	[ -n "$r" ] || fail "weir get dataset -A has no row for $ns/spark:"$'\n'"$WT_OUT"
	want="$ns spark $2 $3 $(fmt_quantity "$CAPACITY") $4 Bound"
	[ "$(cut -d' ' -f1-7 <<<"$r")" = "$want" ] ||
		fail "weir get dataset -A shows \"$r\" for $ns/spark; expected \"$want <age>\""
	ok "weir get dataset -A: $r"
}

# cmp_tree DIR: DIR holds exactly spark-3.3.1's files, byte for byte.
cmp_tree() {
	local dst="$1" f
	diff <(cd "$TREE/spark-3.3.1" && ls -A) <(cd "$dst" && ls -A) >&2 ||
		fail "the copy in $dst has other names than the mirror's spark-3.3.1 (diff above)"
	for f in "$TREE/spark-3.3.1"/*; do
		cmp "$f" "$dst/$(basename "$f")" || fail "$(basename "$f") copied from the view differs from the mirror's"
	done
}

# stat_field MP KEY: a field of weir stat MP -o json.
stat_field() {
	w stat "$1" -o json </dev/null >"$TMP/stat.json" 2>&1 || fail "weir stat $1 -o json exited with $?: $(cat "$TMP/stat.json")"
	local v
	v="$(wt_field "$TMP/stat.json" "$2")"
	[ -n "$v" ] || fail "weir stat $1 -o json has no \"$2\": $(head -c 400 "$TMP/stat.json")"
	echo "$v"
}

step "(walkthrough 1) a Spark-mirror-shaped tree (scale $SCALE) served by nginx on loopback; weir up"
wt_tree "$TREE" "$SCALE"
nginx_start "$TMP/nginx" "$TREE"
wt_manifests "$NGINX_URL" "$WEIR_TIER_DIR"
ok "nginx (pid $NGINX_PID) serves $NGINX_URL; manifests in $WT_YAML (mountPoint and tier path changed)"
wt_up

step "(walkthrough 2) weir create namespace development"
show create namespace development

step "(walkthrough 3) create the Dataset and AlluxioRuntime of dataset.yaml"
diff "$WEIR_SRC/examples/walkthrough/dataset.yaml" "$WT_YAML/dataset.yaml" | sed 's/^/  /' || true
show create -f "$WT_YAML/dataset.yaml"

step "(walkthrough 4) the Dataset is Bound and its UFS total is the mirror's size ($WT_TOTAL bytes, $(fmt_quantity "$WT_TOTAL"))"
wt_wait_phase dataset spark development Bound
ok "phase Bound"
# the UFS total is filled in after Bound (it is walked without blocking the Dataset)
wt_wait_field dataset spark development status.ufsTotal "$(fmt_quantity "$WT_TOTAL")"
ok "status.ufsTotal = $(fmt_quantity "$WT_TOTAL")"
f="$TMP/dataset-development-spark.json"
exact="$(wt_field "$f" status.ufsTotalBytes)"
if [ -n "$exact" ]; then
	wt_wait_field dataset spark development status.ufsTotalBytes "$WT_TOTAL" 15
	ok "status.ufsTotalBytes = $WT_TOTAL"
else
	note "(-o json has no status.ufsTotalBytes: checked the formatted figure only)"
fi
n="$(wt_field "$f" status.fileNum)"
if [ -n "$n" ]; then
	[ "$n" = "$WT_FILES" ] || fail "status.fileNum is $n; the mirror holds $WT_FILES files"
	ok "status.fileNum = $WT_FILES"
fi
show get dataset -A
expect_header "$WT_OUT" "$DS_HEADER"
expect_dataset_row development "$(fmt_quantity "$WT_TOTAL")" 0.00B 0.0%

step "(walkthrough 5-6) weir mount -n development spark (the pod's /data); ls -ltr; time cp -R spark-3.3.1/* (cold)"
wt_mount development spark "$DEV"
ls -ltr "$DEV" | sed 's/^/  /'
diff <(printf '%s\n' spark-3.1.3 spark-3.2.3 spark-3.3.1) <(ls -A "$DEV") >&2 ||
	fail "ls $DEV does not list exactly spark-3.1.3 spark-3.2.3 spark-3.3.1 (diff above)"
if touch "$DEV/spark-3.3.1/new" 2>/dev/null; then fail "creating a file in the development view succeeded; it must be read-only"; fi
t_cold="$(timed_cp "$DEV/spark-3.3.1" "$TMP/copy1")"
cmp_tree "$TMP/copy1"
du -sh "$TMP"/copy1/* | sed 's/^/  /'
ok "cold copy: $(ls "$TMP/copy1" | wc -l) files, $WT_S331 bytes in $t_cold s; each equals the mirror's (cmp)"

step "(walkthrough 7) create the DataLoad of dataload.yaml (target /spark-3.3.1)"
show create -f "$WT_YAML/dataload.yaml"

step "(walkthrough 8) the DataLoad ends Complete"
wt_wait_phase dataload spark development Complete
show get dataload -A
expect_header "$WT_OUT" "$DL_HEADER"
r="$(row "$WT_OUT" development spark)"
[ "$(cut -d' ' -f3,4 <<<"$r")" = "spark Complete" ] || fail "weir get dataload -A shows \"$r\"; expected DATASET spark, PHASE Complete"
d="$(cut -d' ' -f6 <<<"$r")"
[[ "$d" =~ ^[0-9]+(s|m|h|d)([0-9]+(s|m|h))?$ ]] || fail "DURATION of the complete DataLoad is \"$d\"; expected a kubectl duration such as 2m1s"
ok "DataLoad Complete, duration $d"

PCT="$(fmt_percent "$WT_S331" "$WT_TOTAL")"
step "(walkthrough 9) the cache holds spark-3.3.1: cached $(fmt_quantity "$WT_S331"), $PCT of the dataset"
f="$TMP/dataset-development-spark.json"
wt_wait_field dataset spark development status.cacheStates.cachedPercentage "$PCT" 30
exact="$(wt_field "$f" status.cacheStates.cachedBytes)"
if [ -n "$exact" ]; then
	[ "$exact" = "$WT_S331" ] || fail "status.cacheStates.cachedBytes is $exact; spark-3.3.1 holds $WT_S331 bytes"
	ok "status.cacheStates.cachedBytes = $WT_S331"
fi
[ "$(wt_field "$f" status.cacheStates.cached)" = "$(fmt_quantity "$WT_S331")" ] ||
	fail "status.cacheStates.cached is \"$(wt_field "$f" status.cacheStates.cached)\"; expected $(fmt_quantity "$WT_S331")"
show get dataset -n development
expect_dataset_row development "$(fmt_quantity "$WT_TOTAL")" "$(fmt_quantity "$WT_S331")" "$PCT"
DEV_JSON="$TMP/dev-status.json"
cp "$f" "$DEV_JSON"
# No byte fetched twice: the cold copy fetched spark-3.3.1 once, the DataLoad found it cached.
ufs="$(stat_field "$DEV" ufs_bytes)"
[ "$ufs" = "$WT_S331" ] || fail "weir stat says the source fetched $ufs bytes from the UFS; spark-3.3.1 holds $WT_S331 (each byte once)"
served="$(python3 - "$NGINX_ACCESS_LOG" <<'PY'
import re, sys
# bytes of files: 200 and 206 bodies; an error page (a 404's 153 bytes) is no file's, but is
# shown, as it says weir asked for something the tree does not have
n = 0
for line in open(sys.argv[1]):
    m = re.search(r'"(GET|HEAD) (\S+) [^"]*" (\d+) (\d+)', line)
    if m and not m.group(2).endswith("/"):
        if m.group(3) in ("200", "206"):
            n += int(m.group(4))
        else:
            print("  note: nginx answered " + line.strip(), file=sys.stderr)
print(n)
PY
)"
[ "$served" = "$WT_S331" ] || fail "nginx sent $served bytes of files; spark-3.3.1 holds $WT_S331 (each byte once)"
ok "ufs_bytes = nginx's file bytes = $WT_S331: each byte of spark-3.3.1 fetched once"

step "(walkthrough 10) time cp -R spark-3.3.1/* again (warm: no request to nginx)"
before="$(nginx_requests)"
t_warm="$(timed_cp "$DEV/spark-3.3.1" "$TMP/copy2")"
cmp_tree "$TMP/copy2"
after="$(nginx_requests)"
[ "$after" -eq "$before" ] || { { nginx_requests_since "$before" | head | sed 's/^/  nginx: /' >&2; } || true; fail "the warm copy made $((after - before)) request(s) to nginx"; }
ok "warm copy: $t_warm s (cold $t_cold s), no request to nginx, bytes equal"

step "(walkthrough 11) weir create namespace production"
show create namespace production

step "(walkthrough 12) create the reference of spark-production.yaml (dataset://development/spark)"
show create -f "$WT_YAML/spark-production.yaml"

step "(walkthrough 13) production/spark is Bound and shows the same figures as development/spark"
wt_wait_phase dataset spark production Bound
f="$TMP/dataset-production-spark.json"
for k in ufsTotal ufsTotalBytes cacheStates.cached cacheStates.cachedBytes cacheStates.cacheCapacity \
	cacheStates.cacheCapacityBytes cacheStates.cachedPercentage; do
	want="$(wt_field "$DEV_JSON" "status.$k")"
	wt_wait_field dataset spark production "status.$k" "$want" 15
	ok "status.$k = $want in both"
done
show get dataset -n production
expect_dataset_row production "$(fmt_quantity "$WT_TOTAL")" "$(fmt_quantity "$WT_S331")" "$PCT"
wt_json dataset spark development "$DEV_JSON"
refs="$(wt_field "$DEV_JSON" status.datasetRef)"
grep -q 'production/spark' <<<"$refs" || fail "development/spark's status.datasetRef is \"$refs\"; it must list production/spark"
ok "development/spark's status.datasetRef: $refs"

step "(walkthrough 14-15) weir mount -n production spark; ls -ltr; time cp -R spark-3.3.1/* fetches nothing from nginx"
wt_mount production spark "$PROD"
ls -ltr "$PROD" | sed 's/^/  /'
diff <(printf '%s\n' spark-3.1.3 spark-3.2.3 spark-3.3.1) <(ls -A "$PROD") >&2 ||
	fail "ls $PROD does not list exactly spark-3.1.3 spark-3.2.3 spark-3.3.1 (diff above)"
if touch "$PROD/spark-3.3.1/new" 2>/dev/null; then fail "creating a file in the production view succeeded; a reference without an rw grant is read-only"; fi
ufs0="$(stat_field "$PROD" ufs_bytes)"
before="$(nginx_requests)"
t_prod="$(timed_cp "$PROD/spark-3.3.1" "$TMP/copy3")"
after="$(nginx_requests)"
ufs1="$(stat_field "$PROD" ufs_bytes)"
cmp_tree "$TMP/copy3"
if [ "$after" -ne "$before" ]; then
	{ nginx_requests_since "$before" | head -20 | sed 's/^/  nginx: /' >&2; } || true
	fail "the copy from the production view made $((after - before)) request(s) to nginx (first ones above); it must read development's cache"
fi
[ "$ufs1" = "$ufs0" ] || fail "ufs_bytes of the production view's source went from $ufs0 to $ufs1 during the copy; it must fetch nothing"
ok "production copy: $t_prod s, bytes equal, no request to nginx, ufs_bytes stays $ufs1"

step "beyond Fluid: an allow-list on development/spark (dataset-allow-list.yaml) denies other namespaces"
show apply -f "$WT_YAML/dataset-allow-list.yaml"
wt_wait_phase dataset spark development Bound
wt_wait_phase dataset spark production Bound 15
ok "production is on the list (ro): production/spark stays Bound"
show create namespace staging
sed 's/namespace: production/namespace: staging/' "$WT_YAML/spark-production.yaml" >"$WT_YAML/spark-staging.yaml"
show create -f "$WT_YAML/spark-staging.yaml"
wt_wait_phase dataset spark staging Failed
wt_conditions "$TMP/dataset-staging-spark.json" | sed 's/^/  condition: /'
[ -n "$(wt_conditions "$TMP/dataset-staging-spark.json")" ] || fail "staging/spark is Failed with no condition saying why"
ok "staging/spark (not on the list) is Failed"
# A DataLoad is no way around the list: one in staging naming development's Dataset would fill
# (and evict from) development's cache on staging's behalf.
cat >"$WT_YAML/dataload-staging.yaml" <<'EOF2'
apiVersion: data.fluid.io/v1alpha1
kind: DataLoad
metadata: {name: sneak, namespace: staging}
spec:
  dataset: {name: spark, namespace: development}
  target: [{path: /spark-3.2.3}]
EOF2
rc=0
w create -f "$WT_YAML/dataload-staging.yaml" </dev/null >"$TMP/dl-staging.out" 2>&1 || rc=$?
sed 's/^/  weir: /' "$TMP/dl-staging.out"
[ "$rc" -ne 0 ] || fail "a DataLoad in staging naming development/spark was accepted; a DataLoad loads only its own namespace's Datasets"
grep -q 'dataset://development/spark' "$TMP/dl-staging.out" || fail "the refusal does not say how to preheat a shared cache (a dataset:// reference)"
ok "a DataLoad in staging naming development/spark is refused (exit $rc)"

step "beyond Fluid: the SubDataset of subdataset.yaml (analytics, granted /spark-3.3.1) sees that subtree"
show create namespace analytics
show create -f "$WT_YAML/subdataset.yaml"
wt_wait_phase dataset spark-331 analytics Bound
f="$TMP/dataset-analytics-spark-331.json"
wt_wait_field dataset spark-331 analytics status.ufsTotal "$(fmt_quantity "$WT_S331")" 30
wt_wait_field dataset spark-331 analytics status.ufsTotalBytes "$WT_S331" 15
wt_wait_field dataset spark-331 analytics status.cacheStates.cachedPercentage 100.0% 15
ok "analytics/spark-331: UFS total $(fmt_quantity "$WT_S331"), 100.0% cached"

step "deleting the referenced source is refused, counting its references in other namespaces"
rc=0
w delete dataset spark -n development </dev/null >"$TMP/delete.out" 2>&1 || rc=$?
sed 's/^/  weir: /' "$TMP/delete.out"
[ "$rc" -ne 0 ] || fail "weir delete dataset spark -n development exited 0; deleting a referenced Dataset must be refused"
# another namespace's Dataset names are that namespace's business: the refusal counts them (a
# cluster admin reads them in status.datasetRef, checked above)
# (production/spark and analytics/spark-331; staging/spark is denied and holds nothing)
grep -q 'referenced by 2 datasets of other namespaces' "$TMP/delete.out" ||
	fail "the refusal does not count the 2 references production/spark and analytics/spark-331"
! grep -q 'production' "$TMP/delete.out" || fail "the refusal names production's Dataset to development"
# staging/spark was never granted: it holds nothing (else any namespace could keep the owner from deleting)
! grep -q 'staging' "$TMP/delete.out" || fail "the refusal counts staging/spark, a reference development/spark denies"
wt_wait_phase dataset spark development Bound 5
ok "refused (exit $rc); development/spark is still there and Bound"

step "the views unmount; with its references gone the source can be deleted, and its cache goes"
wt_umount "$PROD"
wt_umount "$DEV"
cache_dir="$WEIR_TIER_DIR/weir/development_spark"
[ -n "$(find "$cache_dir" -type f 2>/dev/null)" ] || fail "no cache files under $cache_dir before the delete"
for ref in "spark production" "spark staging" "spark-331 analytics"; do
	set -- $ref
	wt_run "deleting $2/$1" delete dataset "$1" -n "$2"
done
wt_run "deleting development/spark" delete dataset spark -n development
for i in $(seq 1 50); do [ -e "$cache_dir" ] || break; sleep 0.1; done
[ ! -e "$cache_dir" ] || fail "development/spark is deleted but its cache is still in $cache_dir"
[ -z "$(ls "$WEIR_STATE/stores" 2>/dev/null | grep development_spark)" ] ||
	fail "development/spark is deleted but its block index is still in $WEIR_STATE/stores"
ok "deleted; its tier files and block index are gone"

step "weir down stops both daemons"
wt_run "stopping weir" down
for name in controller node; do
	for i in $(seq 1 50); do [ -z "$(live_pid "$name")" ] && break; sleep 0.1; done
	[ -z "$(live_pid "$name")" ] || fail "weir-$name still runs 5 s after weir down"
done
ok "weir-controller and weir-node stopped"

echo
echo "copy times: cold $t_cold s, warm $t_warm s, production $t_prod s (scale $SCALE, unthrottled)"
echo "PASS: walkthrough end to end"
