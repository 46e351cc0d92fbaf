#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The walkthrough through a real kubelet (issue 9), with kubectl only: a single-node Kubernetes
# (etcd, kube-apiserver, containerd, the kubelet: tests/k8s/kubelet.sh), weir up with
# weir-controller --kubeconfig, and weir-csi registered by the kubelet through its own
# registration service (no node-driver-registrar). Pods mount the Datasets' PVCs:
# - development: a pod copies spark-3.3.1 cold, byte for byte the mirror's (cmp); DataLoad; another
#   pod copies it warm with no request to the mirror;
# - production (dataset://development/spark): a pod copies from development's cache, zero new UFS
#   requests in nginx's access log;
# - a pod in a namespace without a grant, on a hand-written PV naming development's Dataset, stays
#   ContainerCreating with a FailedMount event naming the reason;
# - a PV's subpath: a hand-written one shows one directory; a SubDataset (analytics, granted
#   /spark-3.3.1 only) mounts, and a PV of it asking for more is refused;
# - deleting a pod unmounts its target; weir.csi.io is registered within a second of weir-csi's
#   start, again after a kubelet restart and after its own restart (pods keep their volumes).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/walkthrough.sh"
. "$here/../csi/lib.sh"
. "$here/lib.sh"
. "$here/kubelet.sh"
. "$here/pods_lib.sh"

SCALE="${WEIR_E2E_SCALE:-0.01}" # ~13 MB in spark-3.3.1

require_root_fuse
find_weir_bins
find_controller_bin
csi_find_bins
k8s_peers
kubelet_peers
TMP="$(mktemp -d /tmp/weir-k8s-pods.XXXXXX)"
at_exit 'rm -rf "$TMP"'
weir_setup "$TMP"
OUT="$TMP/out"
mkdir -p "$OUT"

same_tree() { # same_tree A B: the same names and bytes (cmp of every file)
	local f
	diff <(cd "$1" && find . -type f | sort) <(cd "$2" && find . -type f | sort) >&2 ||
		fail "$2 has other files than $1 (diff above)"
	while read -r f; do
		cmp "$1/$f" "$2/$f" || fail "$2/$f differs from the mirror's $1/$f"
	done < <(cd "$1" && find . -type f)
}
# handwritten_pv NAME NS CLAIM ATTRS: a PV someone wrote by hand for weir.csi.io (ATTRS: its
# volumeAttributes as a flow mapping) and its PVC, bound
handwritten_pv() {
	kc apply -f - <<YAML | sed 's/^/  /'
apiVersion: v1
kind: PersistentVolume
metadata:
  name: $1
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadOnlyMany]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: weir-handwritten
  claimRef: {namespace: $2, name: $3}
  csi:
    driver: weir.csi.io
    volumeHandle: $1
    volumeAttributes: $4
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: $3
  namespace: $2
spec:
  accessModes: [ReadOnlyMany]
  storageClassName: weir-handwritten
  resources: {requests: {storage: 1Gi}}
  volumeName: $1
YAML
	k8s_bind "$2" "$3"
}
# pod_refused NS NAME TEXT: the pod gets a FailedMount event containing TEXT, stays Pending in
# ContainerCreating, and weir-csi published nothing into it; the event is in $TMP/refused.txt
pod_refused() {
	local ns="$1" name="$2" text="$3" uid why
	refused_event() {
		kc get events -n "$ns" --field-selector "involvedObject.name=$name,reason=FailedMount" \
			-o 'jsonpath={.items[*].message}' >"$TMP/refused.txt" 2>/dev/null &&
			grep -qF "$text" "$TMP/refused.txt"
	}
	kwait 60 "a FailedMount event on $ns/$name with \"$text\"" refused_event
	sleep 2
	[ "$(pod_phase "$ns" "$name")" = Pending ] || fail "pod $ns/$name is \"$(pod_phase "$ns" "$name")\"; it must stay Pending"
	why="$(kc get pod "$name" -n "$ns" -o 'jsonpath={.status.containerStatuses[0].state.waiting.reason}')"
	[ "$why" = ContainerCreating ] || fail "pod $ns/$name waits with reason \"$why\", not ContainerCreating"
	uid="$(kc get pod "$name" -n "$ns" -o 'jsonpath={.metadata.uid}')"
	! grep -q "on \"$KUBELET_ROOT/pods/$uid/" "$TMP/csi.log" || fail "weir-csi published a volume into $ns/$name"
	note "event: $(head -c 400 "$TMP/refused.txt")"
}
registrations() { grep -c 'the kubelet registered driver "weir.csi.io"' "$TMP/csi.log" || true; }
# log_s PATTERN N: the time of day (seconds) of the Nth line of weir-csi's log matching PATTERN
log_s() {
	grep -F "$1" "$TMP/csi.log" | sed -n "${2}p" | awk '{ split($1, t, ":"); printf "%.3f\n", t[1] * 3600 + t[2] * 60 + t[3] }' | grep . ||
		fail "weir-csi's log ($TMP/csi.log) has no line $2 with \"$1\""
}

step "a single-node Kubernetes: etcd, kube-apiserver, containerd and the kubelet (node localhost)"
k8s_start "$TMP/k8s"
kubelet_start "$TMP/node"
k8s_apply_crds
pods_csidriver
ok "apiserver in $K8S_START_SECONDS s; node localhost Ready in $KUBELET_START_SECONDS s; CRDs and CSIDriver weir.csi.io applied"

step "the mirror behind nginx; weir up with weir-controller --kubeconfig"
TREE="$TMP/tree"
wt_tree "$TREE" "$SCALE"
nginx_start "$TMP/nginx" "$TREE"
wt_manifests "$NGINX_URL" "$WEIR_TIER_DIR"
at_exit wt_teardown
printf 'kubeconfig = %s\nnode-name = localhost\nmetrics-listen =\n' "$KUBECONFIG" >"$WEIR_STATE/node.conf"
wt_run "starting weir-node and weir-controller on Kubernetes" up -- --kubeconfig "$KUBECONFIG"
kwait 30 "weir get dataset -A answering through the kube store" w get dataset -A
ok "weir-controller pid $(live_pid controller), weir-node pid $(live_pid node)"

step "weir-csi registers itself with the kubelet (plugins_registry, no node-driver-registrar)"
pods_csi_start
[ "$(registrations)" = 1 ] || fail "weir-csi logged $(registrations) registrations; expected 1"
# from weir-csi's registration socket to the kubelet's NotifyRegistrationStatus (weir-csi's clock)
T_REG="$(elapsed "$(log_s 'kubelet registration on' 1)" "$(log_s 'the kubelet registered driver' 1)")"
# The kubelet's plugin manager acts on a new socket at its next reconcile, once a second; then
# GetInfo, NodeGetInfo and the CSINode update. Within a second as a rule: 1.5 s leaves room for a
# loaded machine's API round trips without hiding a missed reconcile (that would be 2 s).
awk -v t="$T_REG" 'BEGIN { exit !(t >= 0 && t <= 1.5) }' ||
	fail "the kubelet registered weir.csi.io $T_REG s after weir-csi offered its registration socket; the target is 1 s (one reconcile period)"
ok "registered $T_REG s after weir-csi's registration socket appeared; CSINode localhost lists weir.csi.io $CSI_REGISTER_SECONDS s after weir-csi's start (kubectl polling included)"

step "(walkthrough 2-4) kubectl create ns development; kubectl create -f dataset.yaml; Bound"
k8s_namespace development
kc create -f "$WT_YAML/dataset.yaml" | sed 's/^/  /'
kwait 60 "development/spark Bound" is Bound dataset spark -n development -o 'jsonpath={.status.phase}'
kwait 30 "PVC development/spark" kc get pvc spark -n development
k8s_bind development spark
kc get dataset,pvc -n development | sed 's/^/  /'

step "(walkthrough 5-6) a pod with the PVC: ls /data, then time cp -R /data/spark-3.3.1/* (cold)"
pod_run development nginx spark "$OUT"
T_RUN_DEV="$POD_RUNNING_SECONDS"
ok "pod development/nginx Running $T_RUN_DEV s after kubectl apply"
kc exec -n development nginx -- ls -ltr /data | sed 's/^/  /'
kc exec -n development nginx -- ls /data | sort | tr '\n' ' ' | grep -q '^spark-3.1.3 spark-3.2.3 spark-3.3.1 $' ||
	fail "the pod's /data lists \"$(kc exec -n development nginx -- ls /data | tr '\n' ' ')\"; the mirror has spark-3.1.3 spark-3.2.3 spark-3.3.1"
if kc exec -n development nginx -- touch /data/x 2>"$TMP/touch.err"; then fail "a pod wrote into development/spark's read-only volume"; fi
grep -q 'Read-only file system' "$TMP/touch.err" || fail "writing into the volume failed otherwise than EROFS: $(cat "$TMP/touch.err")"
T_COLD="$(pod_copy development nginx cold)"
same_tree "$TREE/spark-3.3.1" "$OUT/cold"
ok "cold copy in the pod: $T_COLD s; every file cmp-equal to the mirror's; the volume is read-only (EROFS)"

step "deleting the pod unmounts its target"
TGT="$(pod_target development nginx)"
is_mounted "$TGT" || fail "the pod's CSI target $TGT is not a mount point while the pod runs"
pod_delete development nginx
! is_mounted "$TGT" || fail "pod development/nginx is gone but its target $TGT is still mounted"
[ ! -e "$TGT" ] || fail "pod development/nginx is gone but its target directory $TGT is left behind"
grep -q "unpublished \"$TGT\"" "$TMP/csi.log" || fail "weir-csi logged no NodeUnpublishVolume of $TGT"
ok "target $TGT unmounted and removed by weir-csi's NodeUnpublishVolume"

step "(walkthrough 7-9) kubectl create -f dataload.yaml; Complete"
kc create -f "$WT_YAML/dataload.yaml" | sed 's/^/  /'
kwait 120 "DataLoad development/spark Complete" is Complete dataload spark -n development -o 'jsonpath={.status.phase}'
kc get dataload -A | sed 's/^/  /'

step "(walkthrough 10) another pod copies spark-3.3.1 after the DataLoad: no request to the mirror"
pod_run development nginx2 spark "$OUT"
drop_caches
before="$(nginx_requests)"
T_WARM="$(pod_copy development nginx2 warm)"
after="$(nginx_requests)"
[ "$after" -eq "$before" ] || { nginx_requests_since "$before" | head | sed 's/^/  nginx: /' >&2; fail "the warm copy made $((after - before)) request(s) to the mirror"; }
same_tree "$TREE/spark-3.3.1" "$OUT/warm"
ok "warm copy in pod development/nginx2: $T_WARM s, 0 requests to the mirror, cmp-equal"

step "(walkthrough 11-15) production: dataset://development/spark; a pod copies from development's cache"
k8s_namespace production
kc create -f "$WT_YAML/spark-production.yaml" | sed 's/^/  /'
kwait 60 "production/spark Bound" is Bound dataset spark -n production -o 'jsonpath={.status.phase}'
kwait 30 "PVC production/spark" kc get pvc spark -n production
k8s_bind production spark
kc get dataset -A | sed 's/^/  /'
pod_run production nginx spark "$OUT"
T_RUN_PROD="$POD_RUNNING_SECONDS"
drop_caches
before="$(nginx_requests)"
T_PROD="$(pod_copy production nginx prod)"
after="$(nginx_requests)"
[ "$after" -eq "$before" ] || { nginx_requests_since "$before" | head | sed 's/^/  nginx: /' >&2; fail "the production copy made $((after - before)) request(s) to the mirror; it must read development's cache"; }
same_tree "$TREE/spark-3.3.1" "$OUT/prod"
ok "production pod Running in $T_RUN_PROD s; copy $T_PROD s with 0 new UFS requests, cmp-equal"

step "a pod in a namespace without a grant, on a hand-written PV naming development/spark, is refused"
k8s_namespace staging
handwritten_pv stolen-spark staging stolen '{namespace: development, dataset: spark, subpath: /, readOnly: "true"}'
pod_yaml staging thief stolen "$OUT" | kc apply -f - | sed 's/^/  /'
pod_refused staging thief 'pod namespace "staging" may not mount dataset development/spark'
ok "staging/thief stays ContainerCreating; FailedMount names the reason"
kc delete pod thief -n staging --wait=false >/dev/null

step "the PV's subpath: a hand-written PV shows one directory; a SubDataset's PV cannot be widened"
handwritten_pv dev-spark-331 development spark-331 '{namespace: development, dataset: spark, subpath: /spark-3.3.1, readOnly: "true"}'
pod_run development sub spark-331 "$OUT"
[ "$(kc exec -n development sub -- ls /data | sort)" = "$(ls "$TREE/spark-3.3.1" | sort)" ] ||
	fail "the subpath=/spark-3.3.1 volume lists \"$(kc exec -n development sub -- ls /data | tr '\n' ' ')\"; expected spark-3.3.1's entries"
F="$(cd "$TREE/spark-3.3.1" && find . -type f | head -n 1)"
kc exec -n development sub -- cmp "/data/$F" "/out/warm/$F" || fail "/data/$F in pod development/sub differs from the mirror's"
ok "subpath /spark-3.3.1: the pod's /data is that directory (cmp $F)"
kc apply -f "$WT_YAML/dataset-allow-list.yaml" 2>&1 | grep -v '^Warning' | sed 's/^/  /'
k8s_namespace analytics
kc create -f "$WT_YAML/subdataset.yaml" | sed 's/^/  /'
kwait 60 "analytics/spark-331 Bound" is Bound dataset spark-331 -n analytics -o 'jsonpath={.status.phase}'
kwait 30 "PVC analytics/spark-331" kc get pvc spark-331 -n analytics
k8s_bind analytics spark-331
pod_run analytics nginx spark-331 "$OUT"
[ "$(kc exec -n analytics nginx -- ls /data | sort)" = "$(ls "$TREE/spark-3.3.1" | sort)" ] ||
	fail "analytics/spark-331's volume lists \"$(kc exec -n analytics nginx -- ls /data | tr '\n' ' ')\"; expected spark-3.3.1's entries"
handwritten_pv widen-spark-331 analytics widened '{namespace: analytics, dataset: spark-331, subpath: /, readOnly: "true"}'
pod_yaml analytics widen widened "$OUT" | kc apply -f - | sed 's/^/  /'
pod_refused analytics widen 'volume_context subpath "/" is outside what dataset analytics/spark-331 shows'
ok "analytics/spark-331 (granted /spark-3.3.1 only) mounts it; a PV asking for subpath / is refused"
kc delete pod widen -n analytics --wait=false >/dev/null
pod_delete development sub
pod_delete analytics nginx

step "a kubelet restart: weir-csi is registered again"
n0="$(registrations)"
t0="$(now)"
kubelet_restart
kwait 30 "a second registration of weir.csi.io after the kubelet restart" sh -c "[ \"\$(grep -c 'the kubelet registered driver \"weir.csi.io\"' '$TMP/csi.log')\" -gt $n0 ]"
T_REREG="$(elapsed "$t0" "$(now)")"
awk -v t="$T_REREG" 'BEGIN { exit !(t <= 10) }' || fail "the restarted kubelet took $T_REREG s to register weir.csi.io again"
pods_csi_registered || fail "CSINode localhost does not list weir.csi.io after the kubelet restart"
kwait 60 "node localhost Ready after the restart" kubelet_node_ready
# the pods survive the restart, their volume still readable
[ "$(pod_phase production nginx)" = Running ] || fail "production/nginx is \"$(pod_phase production nginx)\" after the kubelet restart"
# (the restarted kubelet answers exec once it has listed its pods again)
F="$(cd "$TREE/spark-3.3.1" && find . -type f | head -n 1)"
kwait 30 "production/nginx reading /data/spark-3.3.1/$F after the kubelet restart" \
	kc exec -n production nginx -- cmp "/data/spark-3.3.1/$F" "/out/prod/$F"
ok "registered again $T_REREG s after the kubelet was restarted (its start included); pods keep their volumes"

step "weir-csi restarts under running pods: their volumes stay; the kubelet registers it again"
n0="$(registrations)"
pid_stop -t 10 "$CSI_PID"
kc exec -n production nginx -- cmp "/data/spark-3.3.1/$F" "/out/prod/$F" ||
	fail "production/nginx cannot read its volume while weir-csi is down"
pods_csi_start
kwait 10 "the kubelet registering the restarted weir-csi" sh -c "[ \"\$(grep -c 'the kubelet registered driver \"weir.csi.io\"' '$TMP/csi.log')\" -gt $n0 ]"
T_REG2="$(elapsed "$(log_s 'kubelet registration on' 2)" "$(log_s 'the kubelet registered driver' "$((n0 + 1))")")"
kc exec -n production nginx -- cmp "/data/spark-3.3.1/$F" "/out/prod/$F" ||
	fail "production/nginx cannot read its volume after weir-csi restarted"
ok "volumes read while weir-csi was down and after; registered again $T_REG2 s after its registration socket reappeared"

step "deleting the remaining pods unmounts their targets"
for p in development/nginx2 production/nginx; do
	TGT="$(pod_target "${p%/*}" "${p#*/}")"
	is_mounted "$TGT" || fail "pod $p's target $TGT is not mounted"
	pod_delete "${p%/*}" "${p#*/}"
	! is_mounted "$TGT" || fail "pod $p is gone but $TGT is still mounted"
done
ok "both targets unmounted"

note "figures: CSI registered ${T_REG} s after its socket appeared (CSINode ${CSI_REGISTER_SECONDS} s after start), again ${T_REREG} s after a kubelet restart, ${T_REG2} s after its own; apply to Running ${T_RUN_DEV} s (development), ${T_RUN_PROD} s (production); copies: cold ${T_COLD} s, warm ${T_WARM} s, production ${T_PROD} s"
echo "PASS"
