#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# deploy/crds/ against a real kube-apiserver (issue 8): the CRDs register, the walkthrough's YAML
# is accepted unchanged, Fluid fields weir does not use are kept, hostile objects are refused by
# the schema, and `kubectl get dataset|dataload -A` print the walkthrough's tables from a status
# written through the /status subresource in the form weir-controller writes it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/lib.sh"

CRDS="$WEIR_SRC/deploy/crds"
WALK="$WEIR_SRC/examples/walkthrough"
DS_HEADER="NAMESPACE NAME UFS TOTAL SIZE CACHED CACHE CAPACITY CACHED PERCENTAGE PHASE AGE"
DS_HEADER_NS="NAME UFS TOTAL SIZE CACHED CACHE CAPACITY CACHED PERCENTAGE PHASE AGE"
DL_HEADER="NAMESPACE NAME DATASET PHASE AGE DURATION"

TMP="$(mktemp -d /tmp/weir-k8s-crds.XXXXXX)"
at_exit 'rm -rf "$TMP"'

# squeeze: runs of spaces to one, no trailing space (kubectl pads its columns).
squeeze() { tr -s ' ' | sed 's/ $//'; }
# row TEXT NS NAME: the table row whose first two columns are NS NAME.
row() { printf '%s\n' "$1" | squeeze | awk -v ns="$2" -v n="$3" '$1 == ns && $2 == n'; }

# spec_of JSON-FILE: the object's spec, keys sorted (to compare what was sent with what is stored).
spec_of() { python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])).get("spec"), sort_keys=True))' "$1"; }

# expect_unchanged FILE: every object of FILE, read back from the apiserver, has the spec the file
# gave it, byte for byte after JSON normalization: nothing pruned, nothing defaulted.
expect_unchanged() {
	local file="$1" i kind ns name
	k8s_objects "$file" >"$TMP/sent.json"
	python3 -c '
import json, sys
for i, o in enumerate(json.load(open(sys.argv[1]))):
    json.dump(o, open(sys.argv[1][:-5] + ".%d.json" % i, "w"))' "$TMP/sent.json"
	for ((i = 0; ; i++)); do
		[ -f "$TMP/sent.$i.json" ] || break
		kind="$(json_get "$TMP/sent.$i.json" kind)" name="$(json_get "$TMP/sent.$i.json" metadata name)"
		ns="$(json_get "$TMP/sent.$i.json" metadata namespace)"
		kc get "$kind.data.fluid.io" "$name" -n "$ns" -o json >"$TMP/got.json" ||
			fail "$kind $ns/$name from $(basename "$file") is not in the apiserver"
		[ "$(spec_of "$TMP/sent.$i.json")" = "$(spec_of "$TMP/got.json")" ] ||
			fail "$kind $ns/$name from $(basename "$file") was changed by the apiserver:"$'\n'"sent   $(spec_of "$TMP/sent.$i.json")"$'\n'"stored $(spec_of "$TMP/got.json")"
		ok "$kind $ns/$name stored unchanged"
	done
	[ "$i" -gt 0 ] || fail "$(basename "$file") holds no object"
	rm -f "$TMP"/sent.*.json
}

# refused WHAT MESSAGE-PATTERN: the manifest on stdin is refused by kubectl create with a message
# matching the pattern (an extended regex).
refused() {
	local what="$1" pattern="$2" out rc=0
	out="$(kc create -f - 2>&1)" || rc=$?
	[ "$rc" -ne 0 ] || fail "$what was accepted; the schema must refuse it (kubectl said: $out)"
	grep -Eq "$pattern" <<<"$out" || fail "$what was refused, but not with /$pattern/: $out"
	ok "refused, $what: $(grep -Em1 "$pattern" <<<"$out" | sed 's/^[* ]*//' | cut -c1-160)"
}

step "a kube-apiserver and etcd on loopback"
k8s_peers
k8s_start "$TMP/k8s"
ok "ready in $K8S_START_SECONDS s"
# Both kubeconfigs authenticate as a cluster admin: the token one and the client-certificate one.
for k in kubeconfig kubeconfig-cert; do
	who="$("$KUBECTL_BIN" --kubeconfig "$K8S_DIR/$k" auth whoami -o jsonpath='{.status.userInfo.username} {.status.userInfo.groups}')" ||
		fail "kubectl with $K8S_DIR/$k cannot reach the apiserver (output above)"
	grep -q 'system:masters' <<<"$who" || fail "$k authenticates as \"$who\", not in system:masters"
	"$KUBECTL_BIN" --kubeconfig "$K8S_DIR/$k" auth can-i '*' '*' >/dev/null || fail "$k is not allowed everything"
	ok "$k: $who"
done

step "kubectl apply -f deploy/crds/"
kc apply -f "$CRDS/" || fail "kubectl apply -f deploy/crds/ failed (output above)"
crds=(datasets.data.fluid.io alluxioruntimes.data.fluid.io runtimes.data.fluid.io dataloads.data.fluid.io)
for c in "${crds[@]}"; do
	kc wait --for condition=Established --timeout=60s "crd/$c" >/dev/null ||
		fail "CRD $c is not Established after 60 s: $(kc get crd "$c" -o jsonpath='{.status.conditions}')"
	[ "$(kc get crd "$c" -o jsonpath='{.status.conditions[?(@.type=="NamesAccepted")].status}')" = True ] ||
		fail "CRD $c: names not accepted"
done
ok "${#crds[@]} CRDs Established"
# What a REST client (weir-controller's) finds in discovery: the four kinds and their /status.
k8s_api GET /apis/data.fluid.io/v1alpha1 >"$TMP/discovery.json" || fail "GET /apis/data.fluid.io/v1alpha1 failed"
got="$(python3 -c 'import json,sys; print(" ".join(sorted(r["name"] for r in json.load(open(sys.argv[1]))["resources"])))' "$TMP/discovery.json")"
[ "$got" = "alluxioruntimes alluxioruntimes/status dataloads dataloads/status datasets datasets/status runtimes runtimes/status" ] ||
	fail "discovery of data.fluid.io/v1alpha1 lists: $got"
ok "discovery: $got"
# A second apply changes nothing (the files are the whole truth, nothing is defaulted in).
kc apply -f "$CRDS/" | grep -v unchanged && fail "a second kubectl apply -f deploy/crds/ changed something (above)"
ok "a second apply: unchanged"

step "the walkthrough's YAML, created unchanged"
for ns in development production analytics; do k8s_namespace "$ns"; done
for f in dataset.yaml dataload.yaml spark-production.yaml subdataset.yaml; do
	kc create -f "$WALK/$f" || fail "kubectl create -f examples/walkthrough/$f failed (output above)"
	expect_unchanged "$WALK/$f"
done
# The allow-list variant replaces dataset.yaml's Dataset: the server validates it in full.
kc apply --dry-run=server -f "$WALK/dataset-allow-list.yaml" -o json >"$TMP/allow.json" ||
	fail "examples/walkthrough/dataset-allow-list.yaml is refused by the apiserver (output above)"
k8s_objects "$WALK/dataset-allow-list.yaml" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)[0]))' >"$TMP/allow-sent.json"
[ "$(spec_of "$TMP/allow.json")" = "$(spec_of "$TMP/allow-sent.json")" ] ||
	fail "dataset-allow-list.yaml's spec would be changed: $(spec_of "$TMP/allow.json")"
ok "dataset-allow-list.yaml: accepted unchanged (server dry run)"

step "Fluid's fields that weir does not use are kept"
k8s_namespace fluid
cat >"$TMP/fluid.yaml" <<'EOF'
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata:
  name: imagenet
  namespace: fluid
spec:
  mounts:
    - mountPoint: https://example.invalid/imagenet/
      name: imagenet
      options:
        fs.oss.endpoint: oss-cn-hangzhou.aliyuncs.com
      readOnly: true
  accessModes: [ReadOnlyMany]
  placement: Shared
  owner: {uid: 1000, gid: 1000, user: alice, group: ml}
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions:
            - {key: node.kubernetes.io/instance-type, operator: In, values: [gpu]}
  tolerations:
    - {key: dedicated, operator: Equal, value: fluid, effect: NoSchedule}
  dataRestoreLocation: {path: "local:///host/backup", nodeName: node-1}
---
apiVersion: data.fluid.io/v1alpha1
kind: AlluxioRuntime
metadata:
  name: imagenet
  namespace: fluid
spec:
  replicas: 2
  alluxioVersion: {image: registry.example.invalid/alluxio, imageTag: "2.9.0"}
  properties:
    alluxio.user.block.size.bytes.default: 256MB
  master: {jvmOptions: ["-Xmx4G"], replicas: 1}
  fuse: {args: [fuse, --fuse-opts=kernel_cache], cleanPolicy: OnRuntimeDeleted}
  tieredstore:
    levels:
      - mediumtype: SSD
        path: /mnt/ssd1
        quota: 100Gi
        high: "0.9"
        low: "0.8"
        volumeType: emptyDir
        quotaList: 50Gi,50Gi
---
apiVersion: data.fluid.io/v1alpha1
kind: DataLoad
metadata:
  name: imagenet-warmup
  namespace: fluid
spec:
  dataset: {name: imagenet, namespace: fluid}
  loadMetadata: true
  target:
    - {path: /train, replicas: 1}
  policy: Cron
  schedule: "0 3 * * *"
  options: {atomicCache: "true"}
  affinity:
    nodeAffinity: {}
  ttlSecondsAfterFinished: 600
EOF
kc create -f "$TMP/fluid.yaml" || fail "Fluid objects with fields weir does not use were refused (output above)"
expect_unchanged "$TMP/fluid.yaml"
[ "$(kc get alluxioruntime imagenet -n fluid -o jsonpath='{.spec.properties.alluxio\.user\.block\.size\.bytes\.default}')" = 256MB ] ||
	fail "AlluxioRuntime spec.properties did not survive the round trip"
ok "spec.properties, spec.fuse, levels[].volumeType, nodeAffinity, DataLoad options: kept"
# weir's own Runtime kind takes the same spec.
sed 's/^kind: AlluxioRuntime/kind: Runtime/; s/name: imagenet$/name: imagenet-weir/' "$TMP/fluid.yaml" |
	awk 'BEGIN { RS = "---\n"; ORS = "---\n" } /kind: Runtime/' >"$TMP/runtime.yaml"
kc create -f "$TMP/runtime.yaml" || fail "a weir Runtime was refused (output above)"
expect_unchanged "$TMP/runtime.yaml"

step "hostile or malformed objects are refused by the schema"
ds() { # ds NAME SPEC-LINES: a Dataset in namespace fluid
	printf 'apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: %s, namespace: fluid}\nspec:\n%s\n' "$1" "$2"
}
rt() { # rt NAME LEVEL-LINES: an AlluxioRuntime in namespace fluid with one level
	printf 'apiVersion: data.fluid.io/v1alpha1\nkind: AlluxioRuntime\nmetadata: {name: %s, namespace: fluid}\nspec:\n  tieredstore:\n    levels:\n    - mediumtype: MEM\n      path: /dev/shm\n%s\n' "$1" "$2"
}
MOUNT='  mounts: [{mountPoint: "https://example.invalid/x/"}]'
ds grant-admin "$MOUNT
  sharing: {allow: [{namespace: production, mode: admin}]}" |
	refused 'a grant with mode "admin"' 'spec.sharing.allow\[0\].mode.*Unsupported value: "admin"'
ds grant-dotdot "$MOUNT
  sharing: {allow: [{namespace: production, subPaths: [/spark/../../etc]}]}" |
	refused 'a grant subPath with ".."' 'subPaths\[0\].*should match'
ds grant-badns "$MOUNT
  sharing: {allow: [{namespace: Prod_NS}]}" |
	refused 'a grant for namespace "Prod_NS"' 'allow\[0\].namespace.*should match'
ds grant-nons "$MOUNT
  sharing: {allow: [{mode: ro}]}" |
	refused 'a grant without a namespace' 'allow\[0\].namespace: Required value'
ds two-refs '  mounts: [{mountPoint: "dataset://development/spark"}, {mountPoint: "https://example.invalid/"}]' |
	refused 'a reference with two mounts' 'exactly one mount'
ds no-mountpoint '  mounts: [{name: x}]' |
	refused 'a mount without mountPoint' 'mountPoint: Required value'
ds typo "$MOUNT
  sharingg: {allow: []}" |
	refused 'an unknown field "sharingg"' 'unknown field "spec.sharingg"'
ds neg-uid "$MOUNT
  owner: {uid: -1}" |
	refused 'a negative owner uid' 'spec.owner.uid.*greater than or equal to 0'
rt neg-quota '      quota: -4Gi' | refused 'a negative quota' 'quota.*should match'
rt neg-quota-int '      quota: -1' | refused 'a negative integer quota' 'quota.*greater than or equal to 0'
rt typo-quota '      quoat: 4Gi
      quota: 4Gi' | refused 'a level with "quoat"' 'unknown field "spec.tieredstore.levels\[0\].quoat"'
rt high-big '      quota: 4Gi
      high: "1.5"' | refused 'high watermark 1.5' 'high.*should match'
rt low-above '      quota: 4Gi
      high: "0.5"
      low: "0.7"' | refused 'low above high' 'low must not be above high'
rt replicas-zero '      quota: 4Gi' | sed 's/^spec:$/spec:\n  replicas: 0/' |
	refused 'replicas: 0 (in Fluid: no cache workers)' 'spec.replicas: Invalid value.*no node caches the Dataset'
rt medium '      quota: 4Gi' | sed 's/mediumtype: MEM/mediumtype: NVRAM/' |
	refused 'mediumtype NVRAM' 'mediumtype: Unsupported value: "NVRAM"'
printf 'apiVersion: data.fluid.io/v1alpha1\nkind: DataLoad\nmetadata: {name: cron, namespace: fluid}\nspec:\n  dataset: {name: imagenet}\n  policy: Cron\n' |
	refused 'a Cron DataLoad without schedule' 'schedule is required'
printf 'apiVersion: data.fluid.io/v1alpha1\nkind: DataLoad\nmetadata: {name: nods, namespace: fluid}\nspec:\n  target: [{path: /x}]\n' |
	refused 'a DataLoad without spec.dataset' 'spec.dataset: Required value'

step "kubectl get dataset -A / dataload -A: the walkthrough's tables"
out="$(kc get dataset -A)"
printf '%s\n' "$out"
[ "$(head -n 1 <<<"$out" | squeeze)" = "$DS_HEADER" ] ||
	fail "kubectl get dataset -A prints header \"$(head -n 1 <<<"$out" | squeeze)\"; the walkthrough's is \"$DS_HEADER\""
ok "header: $DS_HEADER"
out="$(kc get dataload -A)"
printf '%s\n' "$out"
[ "$(head -n 1 <<<"$out" | squeeze)" = "$DL_HEADER" ] ||
	fail "kubectl get dataload -A prints header \"$(head -n 1 <<<"$out" | squeeze)\"; the walkthrough's is \"$DL_HEADER\""
ok "header: $DL_HEADER"

step "status written through /status shows in the tables"
# As lib/objmodel.c serializes a Bound Dataset's status (weir-controller reuses that JSON).
STATUS='{"status":{"phase":"Bound","ufsTotal":"3.41GiB","ufsTotalBytes":3661319045,
 "cacheStates":{"cached":"1.31GiB","cachedBytes":1406601216,"cacheCapacity":"4.00GiB",
  "cacheCapacityBytes":4294967296,"cachedPercentage":"38.4%","cacheHitRatio":"92.0%"},
 "fileNum":"21","conditions":[{"type":"Ready","status":"True","reason":"Bound",
  "message":"bound to runtime development/spark","lastTransitionTime":"2026-12-02T18:00:00Z"}],
 "datasetRef":["production/spark"]}}'
kc patch dataset spark -n development --subresource=status --type=merge -p "$STATUS" >/dev/null ||
	fail "patching development/spark's status through /status failed (output above)"
kc patch dataset spark -n production --subresource=status --type=merge -p "$STATUS" >/dev/null
# The main resource ignores status, the status subresource ignores spec.
kc patch dataset spark -n development --type=merge -p '{"status":{"phase":"Failed"}}' >/dev/null
kc patch dataset spark -n development --subresource=status --type=merge \
	-p '{"spec":{"placement":"Shared"}}' >/dev/null
[ "$(kc get dataset spark -n development -o jsonpath='{.status.phase}/{.spec.placement}')" = Bound/ ] ||
	fail "status and spec are not separated by the /status subresource: $(kc get dataset spark -n development -o json)"
ok "spec writes ignore status, /status writes ignore spec"
out="$(kc get dataset -A)"
printf '%s\n' "$out"
for ns in development production; do
	r="$(row "$out" "$ns" spark)"
	[ "$(cut -d' ' -f1-7 <<<"$r")" = "$ns spark 3.41GiB 1.31GiB 4.00GiB 38.4% Bound" ] ||
		fail "kubectl get dataset -A shows \"$r\" for $ns/spark; expected \"$ns spark 3.41GiB 1.31GiB 4.00GiB 38.4% Bound <age>\""
	ok "$r"
done
out="$(kc get dataset -n development)"
[ "$(head -n 1 <<<"$out" | squeeze)" = "$DS_HEADER_NS" ] || fail "kubectl get dataset -n development prints header \"$(head -n 1 <<<"$out" | squeeze)\""
# kubectl's whole output first: in a pipe into head, a kubectl still writing when head has its
# line dies of SIGPIPE, and pipefail took that for a missing column (seen under load)
wide="$(kc get dataset -n development -o wide)" || fail "kubectl get dataset -n development -o wide failed"
head -n 1 <<<"$wide" | grep -q 'HIT RATIO' || fail "-o wide has no HIT RATIO column: $(head -n 1 <<<"$wide")"
ok "-n development: $(tail -n 1 <<<"$out" | squeeze)"
kc patch dataset spark -n development --subresource=status --type=merge \
	-p '{"status":{"cacheStates":{"cachedBytes":-1}}}' >"$TMP/neg.out" 2>&1 &&
	fail "a negative status.cacheStates.cachedBytes was accepted"
ok "a negative cachedBytes in status is refused"

DLSTATUS='{"status":{"phase":"Complete","duration":"2m1s","durationSeconds":121,
 "startTime":"2026-12-02T18:00:00Z","completionTime":"2026-12-02T18:02:01Z",
 "progress":{"bytesDone":1406601216,"bytesTotal":1406601216,"filesDone":7,"filesTotal":7},
 "conditions":[{"type":"Complete","status":"True","reason":"DataLoadComplete","message":"7 files",
  "lastTransitionTime":"2026-12-02T18:02:01Z"}]}}'
kc patch dataload spark -n development --subresource=status --type=merge -p "$DLSTATUS" >/dev/null ||
	fail "patching development/spark's DataLoad status failed (output above)"
out="$(kc get dataload -A)"
printf '%s\n' "$out"
r="$(row "$out" development spark)"
[ "$(cut -d' ' -f1-4 <<<"$r") $(cut -d' ' -f6 <<<"$r")" = "development spark spark Complete 2m1s" ] ||
	fail "kubectl get dataload -A shows \"$r\"; expected \"development spark spark Complete <age> 2m1s\""
ok "$r"
kc patch alluxioruntime spark -n development --subresource=status --type=merge \
	-p '{"status":{"phase":"Ready","cacheCapacityBytes":4294967296,"cachedBytes":1406601216}}' >/dev/null ||
	fail "patching the AlluxioRuntime's status failed"
out="$(kc get alluxioruntime spark -n development -o wide | tail -n 1 | squeeze)"
[ "$(cut -d' ' -f1-4 <<<"$out")" = "spark Ready 4294967296 1406601216" ] ||
	fail "kubectl get alluxioruntime -o wide shows \"$out\"; expected \"spark Ready 4294967296 1406601216 <age>\""
ok "AlluxioRuntime: $out"

echo
echo "k8s crds: all checks passed (apiserver start $K8S_START_SECONDS s)"
