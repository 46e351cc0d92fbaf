#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# weir-controller on a real kube-apiserver (issue 8): the walkthrough's YAML applied with kubectl,
# `kubectl get dataset -A` Bound with the UFS total, the DataLoad Complete, the node's figures in
# its Lease, the production reference Bound with the same figures, a malformed Dataset Failed with
# a condition, an s3:// Dataset reading with the keys of a Kubernetes Secret (another namespace's
# refused; the Secret rotated under a mounted view, the old keys revoked, read on), PV/PVC with the right attributes (ReadWriteMany and the subpath for an rw grant's
# SubDataset), a referenced Dataset's delete refused by the webhook and held by the finalizer (an
# Event says why), and two replicas: one passive until the leader is killed mid-DataLoad, then
# leading within the lease and adding up the node's share of that load, no second one. weir-node
# (node-1) takes its work from the API; the controller dials no node.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/walkthrough.sh"
. "$here/../helpers/versitygw.sh"
. "$here/lib.sh"

SCALE="${WEIR_E2E_SCALE:-0.01}"
LEASE=6 # seconds: short, so the takeover is quick to test

require_root_fuse
find_weir_bins
find_controller_bin
TMP="$(mktemp -d /tmp/weir-k8s-controller.XXXXXX)"
at_exit 'rm -rf "$TMP"'
weir_setup "$TMP"
DS_HEADER="NAMESPACE NAME UFS TOTAL SIZE CACHED CACHE CAPACITY CACHED PERCENTAGE PHASE AGE"
DL_HEADER="NAMESPACE NAME DATASET PHASE AGE DURATION"
CAPACITY=$((4 * 1024 * 1024 * 1024))

KWAIT_STEP=0.3
row() { printf '%s\n' "$1" | tr -s ' ' | awk -v ns="$2" -v n="$3" '$1 == ns && $2 == n'; }
# deleted KIND NAME ARGS...: gone; no kube-controller-manager runs here, so weir-controller
# itself drops the pv-protection and pvc-protection finalizers of its volumes.
deleted() { ! jp "$@" >/dev/null; }
header() { printf '%s\n' "$1" | head -n 1 | tr -s ' ' | sed 's/ $//'; }

dump() {
	local f
	for f in "$WEIR_STATE/controller.log" "$TMP/replica2.log"; do
		[ -s "$f" ] || continue
		echo "---- last 40 lines of $f ----" >&2
		tail -n 40 "$f" >&2
	done
}
at_exit '[ "$WEIR_EXIT_RC" -eq 0 ] || dump'

step "a kube-apiserver and etcd on loopback; the CRDs"
k8s_start "$TMP/k8s"
k8s_apply_crds
ok "apiserver ready in ${K8S_START_SECONDS} s; CRDs established"

step "a Spark-mirror-shaped tree behind nginx; weir up with weir-controller --kubeconfig"
TREE="$TMP/tree"
wt_tree "$TREE" "$SCALE"
nginx_start "$TMP/nginx" "$TREE"
wt_manifests "$NGINX_URL" "$WEIR_TIER_DIR"
at_exit wt_teardown
# weir-node reads <state-dir>/node.conf: it reports its figures to the cluster as node-1
printf 'kubeconfig = %s\nnode-name = node-1\n' "$KUBECONFIG" >"$WEIR_STATE/node.conf"
# the delete webhook: the controller makes its certificate and registers itself
WH_PORT="$(free_port)"
# weir-node's own S3 keys (written in the s3 step): the administrator's, not every namespace's
AWS_SHARED_CREDENTIALS_FILE="$TMP/node-aws-credentials" AWS_CONFIG_FILE="$TMP/node-aws-config" \
	wt_run "starting weir-node and weir-controller on Kubernetes" up -- --kubeconfig "$KUBECONFIG" \
	--identity replica-1 --lease-duration "$LEASE" --webhook-url "https://127.0.0.1:$WH_PORT/validate" \
	--webhook-client-ca "$K8S_WEBHOOK_CLIENT_CA"
kwait 30 "weir get dataset -A answering through the kube store" w get dataset -A
kwait 30 "Lease default/weir-controller held by replica-1" \
	is replica-1 lease weir-controller -n default -o 'jsonpath={.spec.holderIdentity}'
ok "weir-controller (pid $(live_pid controller)) leads: Lease default/weir-controller held by replica-1"

T0=$(now)
step "(walkthrough 2-4) kubectl create ns development; kubectl create -f dataset.yaml; Bound with the UFS total"
k8s_namespace development
kc create -f "$WT_YAML/dataset.yaml" | sed 's/^/  /'
kwait 60 "development/spark Bound" is Bound dataset spark -n development -o 'jsonpath={.status.phase}'
kwait 60 "development/spark's ufsTotal $(fmt_quantity "$WT_TOTAL")" \
	is "$(fmt_quantity "$WT_TOTAL")" dataset spark -n development -o 'jsonpath={.status.ufsTotal}'
out="$(kc get dataset -A)"
printf '%s\n' "$out" | sed 's/^/  /'
[ "$(header "$out")" = "$DS_HEADER" ] || fail "kubectl get dataset -A prints \"$(header "$out")\"; the walkthrough prints \"$DS_HEADER\""
want="development spark $(fmt_quantity "$WT_TOTAL") 0.00B $(fmt_quantity "$CAPACITY") 0.0% Bound"
[ "$(row "$out" development spark | cut -d' ' -f1-7)" = "$want" ] ||
	fail "kubectl get dataset -A shows \"$(row "$out" development spark)\"; expected \"$want <age>\""
ok "kubectl get dataset -A: $(row "$out" development spark)"
fins="$(jp dataset spark -n development -o 'jsonpath={.metadata.finalizers}')"
grep -q 'data.fluid.io/weir-cache' <<<"$fins" || fail "development/spark has finalizers \"$fins\"; expected data.fluid.io/weir-cache"
ok "finalizer data.fluid.io/weir-cache on development/spark"
# the whole output first: grep -q stops reading at its match, and a kubectl still writing then
# dies of SIGPIPE, which pipefail takes for a failure
desc="$(kc describe dataset spark -n development)" || fail "kubectl describe dataset spark failed"
grep -q 'NotBound -> Bound\|-> Bound' <<<"$desc" ||
	fail "kubectl describe dataset spark shows no Event for the phase change: $(tail -5 <<<"$desc")"
ok "kubectl describe dataset spark shows the phase change Event"

step "(walkthrough 7-9) kubectl create -f dataload.yaml; Complete; the cache holds spark-3.3.1"
kc create -f "$WT_YAML/dataload.yaml" | sed 's/^/  /'
kwait 120 "DataLoad development/spark Complete" is Complete dataload spark -n development -o 'jsonpath={.status.phase}'
out="$(kc get dataload -A)"
printf '%s\n' "$out" | sed 's/^/  /'
[ "$(header "$out")" = "$DL_HEADER" ] || fail "kubectl get dataload -A prints \"$(header "$out")\"; expected \"$DL_HEADER\""
PCT="$(fmt_percent "$WT_S331" "$WT_TOTAL")"
kwait 30 "development/spark cachedPercentage $PCT" \
	is "$PCT" dataset spark -n development -o 'jsonpath={.status.cacheStates.cachedPercentage}'
out="$(kc get dataset -A)"
printf '%s\n' "$out" | sed 's/^/  /'
ok "DataLoad Complete; development/spark caches $PCT"
# the node's own report (its Lease, renewed as a heartbeat), which the controller adds up
kwait 30 "Lease default/weir-node-node-1" jp lease weir-node-node-1 -n default
report_ok() {
	kc get lease weir-node-node-1 -n default -o json >"$TMP/report.json" &&
		python3 - "$TMP/report.json" "$WT_S331" "$WT_TOTAL" <<'PY'
import json, sys
l = json.load(open(sys.argv[1]))
s = json.loads(l["metadata"]["annotations"]["weir.io/sources"])["development_spark"]
sys.exit(not (s["cachedBytes"] == int(sys.argv[2]) and s["ufsTotalBytes"] == int(sys.argv[3])
              and s["complete"] and l["spec"]["holderIdentity"] == "node-1"))
PY
}
kwait 30 "node-1's report: development_spark cached $WT_S331 bytes" report_ok
ok "Lease default/weir-node-node-1 reports development_spark: $WT_S331 bytes cached of $WT_TOTAL"

step "(walkthrough 11-13) the production reference binds with the same figures, no second load"
k8s_namespace production
kc create -f "$WT_YAML/spark-production.yaml" | sed 's/^/  /'
kwait 60 "production/spark Bound" is Bound dataset spark -n production -o 'jsonpath={.status.phase}'
kwait 30 "production/spark cachedPercentage $PCT" \
	is "$PCT" dataset spark -n production -o 'jsonpath={.status.cacheStates.cachedPercentage}'
out="$(kc get dataset -A)"
printf '%s\n' "$out" | sed 's/^/  /'
[ "$(row "$out" production spark | cut -d' ' -f3-7)" = "$(row "$out" development spark | cut -d' ' -f3-7)" ] ||
	fail "production/spark shows \"$(row "$out" production spark)\"; development/spark \"$(row "$out" development spark)\""
[ "$(jp dataload -A -o name | wc -l)" = 1 ] || fail "a second DataLoad appeared"
ok "production/spark: $(row "$out" production spark)"
T_WALK="$(elapsed "$T0" "$(now)")"

step "a Dataset weir refuses (dataset:// without a name) gets a condition, not a crash"
kc create -f - <<'YAML' | sed 's/^/  /'
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata:
  name: broken
  namespace: development
spec:
  mounts:
    - mountPoint: dataset://production
YAML
kwait 30 "development/broken Failed" is Failed dataset broken -n development -o 'jsonpath={.status.phase}'
why="$(jp dataset broken -n development -o 'jsonpath={.status.conditions[?(@.reason=="InvalidSpec")].message}')"
[ -n "$why" ] || fail "development/broken is Failed without an InvalidSpec condition"
[ -n "$(live_pid controller)" ] || fail "weir-controller died on a malformed Dataset"
is Bound dataset spark -n development -o 'jsonpath={.status.phase}' || fail "development/spark left Bound"
ok "development/broken: Failed, InvalidSpec: \"$why\"; the controller runs on"
kc delete dataset broken -n development --timeout=30s | sed 's/^/  /'
# the reason quotes the mountPoint it refuses: a password in it is not written to status
kc create -f - <<'YAML' | sed 's/^/  /'
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata: {name: leaky, namespace: development}
spec:
  mounts: [{mountPoint: "ftp://alice:Leak3dPassw0rd@127.0.0.1/data/"}]
YAML
kwait 30 "development/leaky Failed" is Failed dataset leaky -n development -o 'jsonpath={.status.phase}'
why="$(jp dataset leaky -n development -o 'jsonpath={.status.conditions[?(@.reason=="InvalidSpec")].message}')"
[ -n "$why" ] || fail "development/leaky is Failed without an InvalidSpec condition"
case "$why" in *Leak3dPassw0rd*) fail "the InvalidSpec condition shows the mountPoint's password: \"$why\"" ;; esac
! grep -q Leak3dPassw0rd "$WEIR_STATE/controller.log" || fail "controller.log shows the mountPoint's password"
kc delete dataset leaky -n development --timeout=30s | sed 's/^/  /'
ok "development/leaky: Failed, \"$why\" (no password)"

step "a PersistentVolume and a pre-bound PVC per Bound Dataset"
for ns in development production; do
	kwait 30 "PV weir-$ns-spark" jp pv "weir-$ns-spark"
	kwait 30 "PVC $ns/spark" jp pvc spark -n "$ns"
	kc get pv "weir-$ns-spark" -o json >"$TMP/pv.json"
	python3 - "$ns" "$TMP/pv.json" <<'PY' || fail "PV weir-$ns-spark: wrong attributes (above)"
import json, sys
ns = sys.argv[1]
pv = json.load(open(sys.argv[2]))
s = pv["spec"]
a = s["csi"]["volumeAttributes"]
want = {"namespace": ns, "dataset": "spark", "readOnly": "true"}
bad = {k: a.get(k) for k in want if a.get(k) != want[k]}
if s["csi"]["driver"] != "weir.csi.io": bad["driver"] = s["csi"]["driver"]
if s["accessModes"] != ["ReadOnlyMany"]: bad["accessModes"] = s["accessModes"]
if s["claimRef"]["namespace"] != ns or s["claimRef"]["name"] != "spark": bad["claimRef"] = s["claimRef"]
if bad:
    print("  unexpected:", bad, file=sys.stderr)
    sys.exit(1)
print(f"  PV weir-{ns}-spark: driver {s['csi']['driver']}, {s['accessModes'][0]}, attributes {a}")
PY
	[ "$(jp pvc spark -n "$ns" -o 'jsonpath={.spec.volumeName}')" = "weir-$ns-spark" ] ||
		fail "PVC $ns/spark is not pre-bound to weir-$ns-spark"
done
ok "PV weir-{development,production}-spark (weir.csi.io, ReadOnlyMany) and PVCs pre-bound to them"

# a claim of the Dataset's name that the user made before (not weir's, another volume) is not
# weir's to delete when the Dataset goes
kc create -f - <<'YAML' | sed 's/^/  /'
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: mine, namespace: development}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  resources: {requests: {storage: 1Gi}}
YAML
sed -e 's/^  name: spark$/  name: mine/' "$WT_YAML/dataset.yaml" | kc create -f - | sed 's/^/  /'
kwait 60 "development/mine Bound" is Bound dataset mine -n development -o 'jsonpath={.status.phase}'
kwait 30 "PV weir-development-mine" jp pv weir-development-mine
claim_event() { jp events -n development --field-selector reason=ClaimNotWeirs -o name | grep -q .; }
kwait 30 "a ClaimNotWeirs Event: development/mine's claim is the user's" claim_event
kc delete dataset mine -n development --wait=false | sed 's/^/  /'
kwait 60 "PV weir-development-mine deleted" deleted pv weir-development-mine
[ "$(jp pvc mine -n development -o 'jsonpath={.spec.storageClassName}')" = manual ] ||
	fail "deleting Dataset development/mine deleted the user's own PVC development/mine"
kc delete pvc mine -n development --wait=false | sed 's/^/  /'
ok "the user's own PVC development/mine: a Warning Event says it is not weir's; it outlives Dataset development/mine"

step "an rw grant on a subdirectory: analytics/spark-331's PV says ReadWriteMany, /spark-3.3.1"
kc apply -f "$WT_YAML/dataset-allow-list.yaml" 2>&1 | grep -v '^Warning' | sed 's/^/  /'
k8s_namespace analytics
kc create -f "$WT_YAML/subdataset.yaml" | sed 's/^/  /'
kwait 60 "analytics/spark-331 Bound" is Bound dataset spark-331 -n analytics -o 'jsonpath={.status.phase}'
kwait 30 "PV weir-analytics-spark-331" jp pv weir-analytics-spark-331
kc get pv weir-analytics-spark-331 -o json >"$TMP/pv.json"
python3 - "$TMP/pv.json" <<'PY' || fail "PV weir-analytics-spark-331: wrong attributes (above)"
import json, sys
s = json.load(open(sys.argv[1]))["spec"]
a = s["csi"]["volumeAttributes"]
want = {"namespace": "analytics", "dataset": "spark-331", "subpath": "/spark-3.3.1", "readOnly": "false",
        "sourceNamespace": "development", "sourceDataset": "spark"}
bad = {k: a.get(k) for k in want if a.get(k) != want[k]}
if s["accessModes"] != ["ReadWriteMany"]: bad["accessModes"] = s["accessModes"]
if bad:
    print("  unexpected:", bad, file=sys.stderr)
    sys.exit(1)
print(f"  PV weir-analytics-spark-331: {s['accessModes'][0]}, attributes {a}")
PY
[ "$(jp pvc spark-331 -n analytics -o 'jsonpath={.spec.accessModes[0]}')" = ReadWriteMany ] ||
	fail "PVC analytics/spark-331 is not ReadWriteMany"
# PVs are cluster-wide: namespace analytics-spark's Dataset "331" gets a PV of its own, never
# analytics/spark-331's (both were weir-analytics-spark-331), and deleting it leaves that one alone
k8s_namespace analytics-spark
sed -e 's/^  name: spark$/  name: "331"/' -e 's/namespace: development/namespace: analytics-spark/' \
	"$WT_YAML/dataset.yaml" | kc create -f - | sed 's/^/  /'
kwait 60 "analytics-spark/331 Bound" is Bound dataset 331 -n analytics-spark -o 'jsonpath={.status.phase}'
kwait 30 "PVC analytics-spark/331" jp pvc 331 -n analytics-spark
pvn="$(jp pvc 331 -n analytics-spark -o 'jsonpath={.spec.volumeName}')"
[ "$pvn" != weir-analytics-spark-331 ] ||
	fail "PVC analytics-spark/331 is pre-bound to weir-analytics-spark-331, the PV of analytics/spark-331"
kwait 30 "PV $pvn" jp pv "$pvn"
claim="$(jp pv "$pvn" -o 'jsonpath={.spec.claimRef.namespace}/{.spec.claimRef.name}')"
[ "$claim" = analytics-spark/331 ] || fail "PV $pvn is claimed by $claim, not analytics-spark/331"
kc delete dataset 331 -n analytics-spark --wait=false | sed 's/^/  /'
kwait 30 "PV $pvn deleted" deleted pv "$pvn"
[ "$(jp pv weir-analytics-spark-331 -o 'jsonpath={.spec.claimRef.namespace}/{.spec.claimRef.name}')" = analytics/spark-331 ] ||
	fail "deleting analytics-spark/331 took PV weir-analytics-spark-331 of analytics/spark-331 with it"
ok "analytics-spark/331 had PV $pvn of its own; its delete left weir-analytics-spark-331 alone"
kc delete dataset spark-331 -n analytics --wait=false | sed 's/^/  /'
kwait 30 "analytics/spark-331 gone" sh -c "! '$KUBECTL_BIN' --kubeconfig '$KUBECONFIG' get dataset spark-331 -n analytics"
kwait 30 "PV weir-analytics-spark-331 deleted" deleted pv weir-analytics-spark-331
ok "rw grant: ReadWriteMany PV and PVC for /spark-3.3.1; both deleted with the Dataset"

step "an s3:// Dataset's keys from a Kubernetes Secret (kubectl create secret), read by the controller"
vgw_start "$TMP/vgw" --iam
vgw_curl -f -X PUT "$VGW_URL/kbkt" -o /dev/null || fail "creating bucket kbkt failed"
rand_file "$TMP/obj.bin" 3000001 kobj
rand_file "$TMP/obj2.bin" 3000002 kobj2
vgw_curl -f -T "$TMP/obj.bin" "$(vgw_key_url kbkt data/obj.bin)" -o /dev/null || fail "upload of data/obj.bin failed"
vgw_curl -f -T "$TMP/obj2.bin" "$(vgw_key_url kbkt data/obj2.bin)" -o /dev/null || fail "upload of data/obj2.bin failed"
# the Secret's keys are a user's of their own, so they can be revoked (versitygw admin)
K1="kuser1$(openssl rand -hex 4)" S1="k1/$(openssl rand -hex 12)"
K2="kuser2$(openssl rand -hex 4)" S2="k2/$(openssl rand -hex 12)"
vgw_admin create-user --access "$K1" --secret "$S1" --role admin >"$TMP/vgw-admin.out" 2>&1 ||
	fail "versitygw admin create-user failed: $(cat "$TMP/vgw-admin.out")"
kc create secret generic s3-keys -n development --from-literal=access-key="$K1" \
	--from-literal=secret-key="$S1" | sed 's/^/  /'
# k8s_s3_dataset NS NAME: a Fluid Dataset of s3://kbkt/data, keys from Secret s3-keys, and its Runtime
k8s_s3_dataset() {
	kc create -f - <<YAML | sed 's/^/  /'
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata: {name: $2, namespace: $1}
spec:
  mounts:
    - mountPoint: s3://kbkt/data
      options: {endpoint: "$VGW_URL", region: us-east-1, path-style: "true"}
      encryptOptions:
        - {name: aws.accessKeyId, valueFrom: {secretKeyRef: {name: s3-keys, key: access-key}}}
        - {name: aws.secretKey, valueFrom: {secretKeyRef: {name: s3-keys, key: secret-key}}}
---
apiVersion: data.fluid.io/v1alpha1
kind: AlluxioRuntime
metadata: {name: $2, namespace: $1}
spec:
  replicas: 1
  tieredstore:
    levels: [{mediumtype: MEM, path: "$WEIR_TIER_DIR", quota: 1Gi, high: "0.95", low: "0.7"}]
YAML
}
k8s_s3_dataset development s3data
kwait 60 "development/s3data Bound" is Bound dataset s3data -n development -o 'jsonpath={.status.phase}'
mkdir -p "$TMP/mnt-s3"
w mount -n development s3data "$TMP/mnt-s3" </dev/null >"$TMP/s3mount.out" 2>&1 ||
	fail "weir mount -n development s3data failed: $(cat "$TMP/s3mount.out")"
WEIR_MOUNTS+=("$TMP/mnt-s3")
cmp "$TMP/obj.bin" "$TMP/mnt-s3/obj.bin" || fail "obj.bin read with the Kubernetes Secret's keys differs"
# the Secret rotates (a new resourceVersion): weir-node signs with the new keys, the view reads on
vgw_admin create-user --access "$K2" --secret "$S2" --role admin >"$TMP/vgw-admin.out" 2>&1 ||
	fail "versitygw admin create-user failed: $(cat "$TMP/vgw-admin.out")"
rotated="$(grep -c 'its Secret changed; its requests are signed with the new keys' "$WEIR_STATE/node.log" || true)"
kc create secret generic s3-keys -n development --from-literal=access-key="$K2" \
	--from-literal=secret-key="$S2" --dry-run=client -o yaml | kc apply -f - | sed 's/^/  /'
# rotated_since N: weir-node has switched a source's keys more than N times
rotated_since() {
	[ "$(grep -c 'its Secret changed; its requests are signed with the new keys' "$WEIR_STATE/node.log")" -gt "$1" ]
}
kwait 30 "weir-node switching development/s3data to the rotated Secret's keys" rotated_since "$rotated"
vgw_admin delete-user --access "$K1" >"$TMP/vgw-admin.out" 2>&1 ||
	fail "versitygw admin delete-user failed: $(cat "$TMP/vgw-admin.out")"
cmp "$TMP/obj2.bin" "$TMP/mnt-s3/obj2.bin" || fail "obj2.bin, read after the rotation (the old keys revoked), differs"
w umount "$TMP/mnt-s3" >/dev/null 2>&1 || true
# production has no Secret s3-keys: development's is not its own
k8s_s3_dataset production s3data
kwait 60 "production/s3data Failed" is Failed dataset s3data -n production -o 'jsonpath={.status.phase}'
msg="$(jp dataset s3data -n production -o 'jsonpath={.status.conditions[0].message}')"
case "$msg" in *'secret "s3-keys" not found in namespace "production"'*) ;;
*) fail "production/s3data failed with \"$msg\", not for want of its own Secret" ;; esac
for f in "$WEIR_STATE"/*.log; do
	for v in "$VGW_SECRET" "$S1" "$S2" "$K1" "$K2"; do
		if grep -a -n -F -e "$v" "$f" >&2; then fail "$f shows the Secret's value (lines above)"; fi
	done
done
kc delete dataset s3data -n production --wait=false >/dev/null
kc delete alluxioruntime s3data -n production --wait=false >/dev/null
kc delete dataset s3data -n development --wait=false >/dev/null
kc delete alluxioruntime s3data -n development --wait=false >/dev/null
ok "development/s3data Bound with Secret s3-keys from the apiserver, obj.bin matches; rotated under the mounted view, obj2.bin matches with the old keys revoked; production/s3data: \"$msg\"; no value in the logs"

step "an s3:// Dataset with no keys of its own is not read with weir-node's keys"
# weir-node has keys of its own (its AWS profile) that open kbkt; production writes a Dataset of
# kbkt with no Secret: s3-node-keys lists no namespace, so it is read anonymously and refused
K3="knode$(openssl rand -hex 4)" S3K="k3/$(openssl rand -hex 12)"
vgw_admin create-user --access "$K3" --secret "$S3K" --role admin >"$TMP/vgw-admin.out" 2>&1 ||
	fail "versitygw admin create-user failed: $(cat "$TMP/vgw-admin.out")"
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$K3" "$S3K" >"$TMP/node-aws-credentials"
# nokeys2: a '#' in the mountPoint must not carry the anonymous mark into a URL fragment;
# nokeys3: a Secret of its own whose keys are empty must not fall back to the node's either
kc create secret generic empty-keys -n production --from-literal=access-key= \
	--from-literal=secret-key= | sed 's/^/  /'
EMPTY_KEYS='
      encryptOptions:
        - {name: aws.accessKeyId, valueFrom: {secretKeyRef: {name: empty-keys, key: access-key}}}
        - {name: aws.secretKey, valueFrom: {secretKeyRef: {name: empty-keys, key: secret-key}}}'
for nk in "nokeys s3://kbkt/data" "nokeys2 s3://kbkt/data#x" "nokeys3 s3://kbkt/data"; do
	set -- $nk
	kc create -f - <<YAML | sed 's/^/  /'
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata: {name: $1, namespace: production}
spec:
  mounts:
    - mountPoint: "$2"
      options: {endpoint: "$VGW_URL", region: us-east-1, path-style: "true"}$([ "$1" = nokeys3 ] && printf '%s' "$EMPTY_KEYS")
---
apiVersion: data.fluid.io/v1alpha1
kind: AlluxioRuntime
metadata: {name: $1, namespace: production}
spec:
  tieredstore:
    levels: [{mediumtype: MEM, path: "$WEIR_TIER_DIR", quota: 1Gi, high: "0.95", low: "0.7"}]
YAML
done
settled() { case "$(jp dataset "$1" -n production -o 'jsonpath={.status.phase}')" in Bound | Failed) ;; *) return 1 ;; esac; }
for nk in nokeys nokeys2 nokeys3; do
	kwait 60 "production/$nk Bound or Failed" settled "$nk"
	phase="$(jp dataset "$nk" -n production -o 'jsonpath={.status.phase}')"
	msg="$(jp dataset "$nk" -n production -o 'jsonpath={.status.conditions[0].message}')"
	[ "$phase" = Failed ] || fail "production/$nk is $phase: weir-node read kbkt for it with its own keys"
	case "$nk:$msg" in nokeys3:*'key "access-key" of secret "empty-keys" in namespace "production" is empty'*) ;;
	nokeys3:*) fail "production/nokeys3 failed with \"$msg\", not for its empty Secret keys" ;;
	*AccessDenied*s3-node-keys*production*) ;;
	*) fail "production/$nk failed with \"$msg\": not S3's AccessDenied and why it read anonymously" ;; esac
	mkdir -p "$TMP/mnt-$nk"
	if w mount -n production "$nk" "$TMP/mnt-$nk" </dev/null >"$TMP/nokeys.out" 2>&1; then
		WEIR_MOUNTS+=("$TMP/mnt-$nk")
		! cmp -s "$TMP/obj.bin" "$TMP/mnt-$nk/obj.bin" || fail "production/$nk reads obj.bin with weir-node's keys"
		w umount "$TMP/mnt-$nk" >/dev/null 2>&1 || true
	fi
	kc delete dataset "$nk" -n production --wait=false >/dev/null
	kc delete alluxioruntime "$nk" -n production --wait=false >/dev/null
done
kc delete secret empty-keys -n production >/dev/null
grep -a -q -F -e "$S3K" "$WEIR_STATE"/*.log && fail "a log shows weir-node's secret key"
ok "production/nokeys, nokeys2 (a '#' in its mountPoint), nokeys3 (empty Secret keys): Failed; the last: \"$msg\""

step "kubectl delete of a referenced Dataset is refused by the webhook, with weir's message"
jp validatingwebhookconfiguration weir-controller >/dev/null ||
	fail "weir-controller --webhook-url registered no ValidatingWebhookConfiguration \"weir-controller\""
refused() {
	local out
	out="$(kc delete dataset spark -n development 2>&1)" && return 1
	printf '%s\n' "$out" >"$TMP/refused.txt"
	grep -q 'referenced by 1 dataset of another namespace' <<<"$out" &&
		! grep -q 'production' <<<"$out" # no other tenant's name
}
# the apiserver picks a new webhook configuration up within a second or so
kwait 20 "kubectl delete dataset spark -n development refused" refused
sed 's/^/  /' "$TMP/refused.txt"
[ -z "$(jp dataset spark -n development -o 'jsonpath={.metadata.deletionTimestamp}')" ] ||
	fail "development/spark is marked deleting although the webhook refused"
ok "refused at kubectl delete time; development/spark is not even marked deleting"

step "a forged AdmissionReview without the apiserver's client certificate is refused unread"
REVIEW='{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","operation":"DELETE","kind":{"kind":"Dataset"},"namespace":"development","name":"spark"}}'
# forge WHO [CURL ARGS...]: POST the review to the webhook; the HTTP status on stdout, the body in
# $TMP/forged.out (000: refused at TLS)
forge() {
	curl -sk --max-time 10 -o "$TMP/forged.out" -w '%{http_code}' -H 'Content-Type: application/json' \
		--data "$REVIEW" "$@" "https://127.0.0.1:$WH_PORT/validate" || true
}
for who in "no certificate" "a certificate of another CA"; do
	if [ "$who" = "no certificate" ]; then code="$(forge)"; else
		code="$(forge --cert "$K8S_FORGED_CERT" --key "$K8S_FORGED_KEY")"
	fi
	case "$code" in 401 | 403 | 000) ;; *) fail "a forged review with $who got HTTP $code: $(head -c 300 "$TMP/forged.out")" ;; esac
	grep -q -e referenced -e allowed "$TMP/forged.out" 2>/dev/null &&
		fail "a forged review with $who was answered: $(head -c 300 "$TMP/forged.out")"
	ok "a review with $who: HTTP $code, no answer about development/spark"
done
# the apiserver's certificate is what it takes (kubectl delete above went through with it)
code="$(forge --cert "$K8S_DIR/pki/webhook-client.crt" --key "$K8S_DIR/pki/webhook-client.key")"
[ "$code" = 200 ] && grep -q '"allowed":false' "$TMP/forged.out" ||
	fail "the review with the apiserver's client certificate got HTTP $code: $(head -c 300 "$TMP/forged.out")"
ok "with the apiserver's client certificate: HTTP 200, refused (the check is not a blanket refusal)"

step "idle connections to the webhook cannot starve the apiserver's reviews: 32 per user"
# user nobody holds 1100 connections (more than the old listener's 1020) from 127.0.0.1..9 and
# sends nothing; for 8 s it opens again whatever the controller closes. The old listener took
# connections until it was full, and the apiserver's review then failed (failurePolicy Ignore:
# the delete went ahead to the finalizer).
command -v setpriv >/dev/null || fail "setpriv is missing: install util-linux (scripts/install-deps.sh)"
setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 - "$WH_PORT" 1100 8 \
	<"$WEIR_SRC/tests/helpers/hold_conns.py" >"$TMP/whidle.out" 2>&1 &
WHIDLE=$!
until_ok 20 "user nobody holding 1100 idle connections to the webhook" grep -q held "$TMP/whidle.out"
rm -f "$TMP/forged.out"
code="$(forge --cert "$K8S_DIR/pki/webhook-client.crt" --key "$K8S_DIR/pki/webhook-client.key")"
[ "$code" = 200 ] && grep -q '"allowed":false' "$TMP/forged.out" ||
	fail "while user nobody holds idle connections, a review with the apiserver's certificate got HTTP $code: $(head -c 300 "$TMP/forged.out")"
refused || fail "while user nobody holds idle connections, kubectl delete dataset spark -n development was not refused: $(cat "$TMP/refused.txt" 2>/dev/null)"
wait "$WHIDLE" || fail "the webhook left idle connections open: $(cat "$TMP/whidle.out")"
ok "a review and kubectl delete answered (refused) under 1100 idle connections; all of them closed"

step "a user's slowloris connections to the webhook do not lock that user out"
# user nobody holds its 32 connections, each sending the header of a 16 KiB TLS record, then one
# byte of it every 1.5 s: never silent for the 10 s timeout. Past 5 s (CONN_SHARE_STALE_MS) with
# no request completed they are stale, and nobody's own review (with the apiserver's client
# certificate, copied for it) takes one over and is answered. The old listener refused a 33rd
# connection of nobody's at once (curl: 000) while the 32 dribbled.
NB="$(mktemp -d /tmp/weir-k8s-nobody.XXXXXX)" # $TMP stays closed to nobody
at_exit 'rm -rf "$NB"'
chmod 0711 "$NB"
install -m 0400 -o nobody "$K8S_DIR/pki/webhook-client.crt" "$NB/c.crt"
install -m 0400 -o nobody "$K8S_DIR/pki/webhook-client.key" "$NB/c.key"
setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 - "$WH_PORT" 32 9 dribble-tls \
	<"$WEIR_SRC/tests/helpers/hold_conns.py" >"$TMP/whdrib.out" 2>&1 &
WHDRIB=$!
until_ok 10 "user nobody holding 32 dribbling connections to the webhook" grep -q held "$TMP/whdrib.out"
sleep 6
code="$(setpriv --reuid=nobody --regid=nogroup --clear-groups curl -sk --max-time 10 -o - \
	-w '%{stderr}%{http_code}' -H 'Content-Type: application/json' --data "$REVIEW" \
	--cert "$NB/c.crt" --key "$NB/c.key" "https://127.0.0.1:$WH_PORT/validate" 2>&1 >"$TMP/whdrib.body")" || true
[ "$code" = 200 ] && grep -q '"allowed":false' "$TMP/whdrib.body" ||
	fail "user nobody's review while its 32 dribbling connections were stale got HTTP $code: $(head -c 300 "$TMP/whdrib.body")"
wait "$WHDRIB" || fail "the dribbling client failed: $(cat "$TMP/whdrib.out")"
grep -q '^closed: [1-9]' "$TMP/whdrib.out" || fail "no stale dribbling connection was closed: $(cat "$TMP/whdrib.out")"
ok "user nobody's review answered (HTTP 200, refused) past its 32 stale dribbling connections ($(cat "$TMP/whdrib.out" | tail -1))"
kc delete validatingwebhookconfiguration weir-controller >/dev/null

step "without the webhook, the finalizer holds the delete; an Event says why"
kc delete dataset spark -n development --wait=false | sed 's/^/  /'
sleep 3
jp dataset spark -n development >/dev/null || fail "development/spark is gone although production/spark references it"
kwait 20 "the DeleteRefused Event" sh -c "'$KUBECTL_BIN' --kubeconfig '$KUBECONFIG' get events -n development -o jsonpath='{.items[*].reason}' | grep -q DeleteRefused"
msg="$(kc get events -n development -o jsonpath='{range .items[?(@.reason=="DeleteRefused")]}{.message}{"\n"}{end}' | head -1)"
# an Event in development is for development's readers: it counts production's reference, never names it
grep -q 'referenced by 1 dataset of another namespace' <<<"$msg" ||
	fail "the DeleteRefused Event says \"$msg\"; it must count the other namespace's reference"
grep -q 'production' <<<"$msg" && fail "the DeleteRefused Event names another namespace's Dataset: \"$msg\""
ok "development/spark stays while referenced: \"$msg\""

step "a second replica stays passive"
"$WEIR_CONTROLLER_BIN" --kubeconfig "$KUBECONFIG" --state-dir "$TMP/replica2" \
	--node-socket "$WEIR_STATE/node.sock" --identity replica-2 --lease-duration "$LEASE" \
	>"$TMP/replica2.log" 2>&1 &
R2=$!
pid_track "$R2"
at_exit "pid_stop -t 10 $R2"
kwait 30 "replica-2 standing by" grep -q 'standby: Lease' "$TMP/replica2.log"
sleep 2
is replica-1 lease weir-controller -n default -o 'jsonpath={.spec.holderIdentity}' ||
	fail "the Lease moved to replica-2 while replica-1 lives"
grep -q 'leading' "$TMP/replica2.log" && fail "replica-2 leads while replica-1 holds the Lease"
ok "replica-2 (pid $R2) is passive"
step "a DataLoad under way when the leader dies: the next leader adds the same shares up, no second load"
# a slow mirror: the same tree through a proxy capping each connection at 100 kB/s
TPORT="$(free_port)"
python3 "$WEIR_SRC/tests/helpers/throttle.py" "$TPORT" "$NGINX_PORT" 100000 >"$TMP/throttle.log" 2>&1 &
TPID=$!
pid_track "$TPID"
at_exit "pid_stop $TPID"
kc create -f - <<YAML | sed 's/^/  /'
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata: {name: slow, namespace: development}
spec:
  mounts:
    - mountPoint: http://127.0.0.1:$TPORT/
---
apiVersion: data.fluid.io/v1alpha1
kind: AlluxioRuntime
metadata: {name: slow, namespace: development}
spec:
  tieredstore:
    levels:
      - {mediumtype: MEM, path: $WEIR_TIER_DIR, quota: 1Gi}
YAML
kwait 60 "development/slow Bound" is Bound dataset slow -n development -o 'jsonpath={.status.phase}'
kc create -f - <<'YAML' | sed 's/^/  /'
apiVersion: data.fluid.io/v1alpha1
kind: DataLoad
metadata: {name: slow, namespace: development}
spec:
  dataset: {name: slow, namespace: development}
  target:
    - path: /spark-3.1.3
YAML
kwait 30 "DataLoad development/slow Executing" is Executing dataload slow -n development -o 'jsonpath={.status.phase}'
share_running() {
	kc get lease weir-node-node-1 -n default -o 'jsonpath={.metadata.annotations.weir\.io/loads}' |
		grep -q "$(jp dataload slow -n development -o 'jsonpath={.metadata.uid}')"
}
kwait 10 "node-1's Lease showing its share of development/slow" share_running
ok "DataLoad development/slow Executing; node-1 reports its share in its Lease"

step "killing the leader hands over within the lease"
R1="$(live_pid controller)"
# weir up left replica-1 under a keeper, which would restart it: this is about a leader that
# is gone for good (a node lost), so the keeper goes first
K1="$(pid_from_file "$WEIR_STATE/controller-keeper.pid" weir-keeper --state-dir "$WEIR_STATE" --name controller)"
[ -z "$K1" ] || pid_signal KILL "$K1"
t_kill=$(now)
pid_signal KILL "$R1"
kwait $((LEASE * 3)) "replica-2 leading" grep -q 'leading: holding Lease' "$TMP/replica2.log"
T_TAKEOVER="$(elapsed "$t_kill" "$(now)")"
is replica-2 lease weir-controller -n default -o 'jsonpath={.spec.holderIdentity}' ||
	fail "replica-2 says it leads but the Lease names \"$(jp lease weir-controller -n default -o 'jsonpath={.spec.holderIdentity}')\""
# what was left of the lease, plus one renew period (a third of it), plus a second of slack
awk -v t="$T_TAKEOVER" -v l="$LEASE" 'BEGIN { exit !(t <= l + l / 3 + 1.5) }' ||
	fail "replica-2 took $T_TAKEOVER s to lead; the lease is $LEASE s"
ok "replica-2 leads $T_TAKEOVER s after replica-1 was killed (lease $LEASE s)"
# the load was under way across the handover, what the throttle was for: the rest needs no wait
pid_signal USR1 "$TPID" || fail "throttle.py ($TPID) is gone"
kwait 120 "DataLoad development/slow Complete" is Complete dataload slow -n development -o 'jsonpath={.status.phase}'
n="$(grep -c "load [0-9]* of .* path(s) of http://127.0.0.1:$TPORT/ started" "$WEIR_STATE/node.log" || true)"
[ "$n" = 1 ] || fail "weir-node started $n loads of development/slow; the new leader must follow the running one"
n="$(grep -c "load [0-9]* of .* path(s) of $NGINX_URL started" "$WEIR_STATE/node.log" || true)"
[ "$n" = 1 ] || fail "weir-node started $n loads of development/spark; its DataLoad was Complete before the kill"
ok "replica-2 added node-1's share up to Complete; one load per DataLoad on weir-node"

step "the new leader finishes the delete once the reference goes"
kc delete dataset spark -n production --wait=false | sed 's/^/  /'
kwait 30 "production/spark gone" sh -c "! '$KUBECTL_BIN' --kubeconfig '$KUBECONFIG' get dataset spark -n production"
kwait 30 "development/spark gone" sh -c "! '$KUBECTL_BIN' --kubeconfig '$KUBECONFIG' get dataset spark -n development"
for ns in development production; do
	kwait 30 "PV weir-$ns-spark deleted" deleted pv "weir-$ns-spark"
	kwait 30 "PVC $ns/spark deleted" deleted pvc spark -n "$ns"
done
ok "both Datasets are gone; so are their PVs and PVCs, none left Terminating"

note "times: apiserver start ${K8S_START_SECONDS} s, walkthrough (create to production Bound) $T_WALK s, takeover $T_TAKEOVER s"
echo "PASS"
