#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A rolling upgrade of weir's DaemonSet under a reading pod, on a real kubelet (issue 12). weir-node
# and weir-csi run as the chart's weir-node DaemonSet pod and weir-keeper --listen as its
# weir-keeper DaemonSet pod (the default, keeper.separate), from an image of this build packed
# locally (tests/k8s/weir_image.sh); kube-controller-manager's DaemonSet controller rolls the pods
# (tests/k8s/kcm.sh; a binder stands in for the scheduler). weir-controller runs on the host.
# A workload pod mounts a Dataset's PVC through weir-csi and reads a 64 MiB file through one
# descriptor, slowly, stopping at three gates:
# - gate 0: `helm upgrade --set image.tag=v2`: the weir-node pod is replaced (new UID, new image),
#   the keeper pod is not; the workload pod is not restarted (same UID, restartCount 0);
# - gate 1: kill -9 of weir-node inside its pod: the weir-keeper there restarts it at once (the
#   container's restartCount stays 0: no kubelet back-off);
# - gate 2: kill -9 of that weir-keeper (the container's first process): the kubelet restarts the
#   container, and its weir-node takes the views back from the keeper pod;
# the reader then finishes through the same descriptor with every byte `cmp`-equal to the source,
# and new opens after both work, in the same pod and in a pod started after them.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/walkthrough.sh"
. "$here/../csi/lib.sh"
. "$here/lib.sh"
. "$here/kubelet.sh"
. "$here/kcm.sh"
. "$here/weir_image.sh"

require_root_fuse
find_weir_bins
find_controller_bin
csi_find_bins
WEIR_KEEPER_BIN="${WEIR_KEEPER_BIN:-$(dirname "$WEIR_NODE_BIN")/weir-keeper}"
[ -x "$WEIR_KEEPER_BIN" ] || fail "weir-keeper is not at $WEIR_KEEPER_BIN: build it (ninja -C build) or set WEIR_KEEPER_BIN"
k8s_peers helm
kubelet_peers
kcm_peers
TMP="$(mktemp -d /tmp/weir-k8s-upgrade.XXXXXX)"
at_exit 'rm -rf "$TMP"'
NS=weir-system
CHART="$WEIR_SRC/deploy/helm/weir"
STATE="$TMP/state"
TIER="$TMP/tier"
OUT="$TMP/out"
mkdir -p "$STATE" "$TIER" "$OUT" "$TMP/src"
export HELM_CACHE_HOME="$TMP/helm/cache" HELM_CONFIG_HOME="$TMP/helm/config" HELM_DATA_HOME="$TMP/helm/data"
h() { timeout -k 5 180 "$HELM_BIN" --kubeconfig "$KUBECONFIG" "$@"; }

# jp never fails here (lib.sh's fails when kubectl does)
jp() { kc get "$@" 2>/dev/null || true; }
# the weir-node DaemonSet's pod, if one runs and is ready: "<name> <uid> <image>"
node_pod() {
	kc get pods -n "$NS" -l app.kubernetes.io/component=node -o \
		'jsonpath={range .items[?(@.status.phase=="Running")]}{.metadata.name} {.metadata.uid} {.spec.containers[0].image} {.metadata.deletionTimestamp}{"\n"}{end}' 2>/dev/null |
		awk 'NF == 3' | head -n 1
}
node_ready() { # node_ready OLD-UID: a node pod other than OLD-UID runs, and weir-node answers in it
	local p
	p="$(node_pod)"
	[ -n "$p" ] && [ "$(echo "$p" | cut -d' ' -f2)" != "${1:-}" ] &&
		grep -q 'ready on' <(kc logs -n "$NS" "${p%% *}" -c weir-node 2>/dev/null)
}

step "a single-node Kubernetes with kube-controller-manager's DaemonSet controller; weir's image v1 and v2"
k8s_start "$TMP/k8s"
kubelet_start "$TMP/node"
kcm_start "$TMP/kcm"
k8s_apply_crds
t0="$(now)"
weir_image_pack "$TMP/node/images" weir.local/weir:v1
weir_image_pack "$TMP/node/images" weir.local/weir:v2
ok "apiserver in $K8S_START_SECONDS s; node Ready in $KUBELET_START_SECONDS s; images weir.local/weir:v1 and :v2 of this build packed and imported in $(elapsed "$t0" "$(now)") s"

step "helm install (keeper.separate default) with image v1; weir-controller on the host"
# The views are mounted under the state directory with Bidirectional propagation: its host side
# must be a shared mount (this machine's / is private), as /var/lib/weir is on a systemd host.
mount --bind "$STATE" "$STATE" && mount --make-rshared "$STATE" || fail "cannot make $STATE a shared mount"
at_exit 'umount -R -l "$STATE" 2>/dev/null || true'
cat >"$TMP/values.yaml" <<EOF
image: {repository: weir.local/weir, tag: v1, pullPolicy: Never}
webhook: {enabled: false}
controller: {replicas: 0}
# /metrics on the pod IP (here the host's) behind the chart's token Secret: a port nobody holds
metrics: {port: $(free_port)}
# one cache across the nodes (on by default): on the host network, a port nobody else holds
cluster: {peerPort: $(free_port)}
node:
  stateDir: $STATE
  tierPaths: [$TIER]
  tierRoots: ["$TIER:1GiB"]
  # no kube-proxy here: the apiserver's Service address leads nowhere, its own address does
  hostNetwork: true
  extraEnv:
    - {name: KUBERNETES_SERVICE_HOST, value: "127.0.0.1"}
    - {name: KUBERNETES_SERVICE_PORT, value: "${K8S_URL##*:}"}
  extraArgs: [--bpf=0, --log-level=debug]
csi:
  kubeletDir: $KUBELET_ROOT
EOF
# the keeper pod runs as the namespace's default ServiceAccount, which no controller makes here
k8s_namespace "$NS"
h install weir "$CHART" --namespace "$NS" -f "$TMP/values.yaml" >"$TMP/install.out" 2>&1 ||
	fail "helm install failed: $(cat "$TMP/install.out")"
"$WEIR_CONTROLLER_BIN" --kubeconfig "$KUBECONFIG" --state-dir "$TMP/ctl" --lease-namespace "$NS" \
	--identity ctl-1 --resync-interval 1 >"$TMP/controller.log" 2>&1 &
CTL=$!
pid_track "$CTL"
at_exit "pid_stop -t 10 $CTL"
at_exit '[ "$WEIR_EXIT_RC" -eq 0 ] || { for p in $(kc get pods -n '"$NS"' -o name 2>/dev/null); do for c in weir-node weir-csi weir-keeper; do echo "---- $p $c ----" >&2; kc logs -n '"$NS"' "$p" -c $c --tail 30 >&2 2>/dev/null; done; done; kc get pods -A -o wide >&2; kc get events -A >&2; echo "---- controller ----" >&2; tail -n 30 "$TMP/controller.log" >&2; }'
kwait 180 "the weir-node DaemonSet's pod running weir-node" node_ready ""
KEEPER_POD="$(jp pods -n "$NS" -l app.kubernetes.io/component=keeper -o 'jsonpath={.items[0].metadata.name} {.items[0].metadata.uid}')"
[ -n "$KEEPER_POD" ] || fail "no pod of the weir-keeper DaemonSet"
kwait 60 "weir-keeper's pod Running" is Running pod "${KEEPER_POD% *}" -n "$NS" -o 'jsonpath={.status.phase}'
read -r POD1 UID1 IMG1 <<<"$(node_pod)"
[ "$IMG1" = weir.local/weir:v1 ] || fail "the weir-node pod runs image $IMG1, not weir.local/weir:v1"
[ "$(jp pod "$POD1" -n "$NS" -o 'jsonpath={.spec.containers[?(@.name=="weir-node")].command[0]}')" = weir-keeper ] &&
	jp pod "$POD1" -n "$NS" -o 'jsonpath={.spec.containers[?(@.name=="weir-node")].args}' | grep -q -- '"--no-store"' ||
	fail "the weir-node container of $POD1 does not run weir-node under weir-keeper --no-store"
kwait 30 "weir.csi.io registered by the kubelet" sh -c "'$KUBECTL_BIN' --kubeconfig '$KUBECONFIG' get csinode localhost -o 'jsonpath={.spec.drivers[*].name}' | grep -qw weir.csi.io"
grep -q "views kept by the weir-keeper on \"$STATE/keeper.sock\"" <(kc logs -n "$NS" "$POD1" -c weir-node) ||
	fail "weir-node in $POD1 does not say it keeps its views with the keeper pod ($STATE/keeper.sock)"
# its own Lease is a member only with its pod (member-pods): the pod's IP as the kubelet reports
# it must be the one its peer URL names
lease_taken() { grep -qF "cluster: node \"localhost\"'s Lease taken with its weir-node pod ($2 at " <(kc logs -n "$NS" "$1" -c weir-node 2>/dev/null); }
kwait 30 "weir-node in $POD1 taking its own Lease with its pod" lease_taken "$POD1" "$UID1"
kc logs -n "$NS" "$POD1" -c weir-node >"$TMP/pod1.log" 2>&1 || fail "kubectl logs of $POD1 failed"
! grep -q 'no weir-node pod' "$TMP/pod1.log" ||
	fail "weir-node in $POD1 finds no weir-node pod for a Lease: $(grep 'no weir-node pod' "$TMP/pod1.log")"
ok "weir-node pod $POD1 (image v1, under weir-keeper --no-store), keeper pod ${KEEPER_POD% *}, weir.csi.io registered; its Lease a member with its pod: $(grep -o "Lease taken with its weir-node pod.*" "$TMP/pod1.log" | head -1)"

step "a Dataset over nginx, its PVC, and a workload pod reading 64 MiB through one descriptor"
rand_file "$TMP/src/big.bin" $((64 << 20)) kupgrade-big
rand_file "$TMP/src/after.bin" $((8 << 20)) kupgrade-after
nginx_start "$TMP/nginx" "$TMP/src"
k8s_namespace work
kc apply -f - >/dev/null <<YAML || fail "kubectl apply of the Dataset failed"
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata: {name: data, namespace: work}
spec:
  mounts: [{mountPoint: "$NGINX_URL/", name: data, path: /}]
---
apiVersion: data.fluid.io/v1alpha1
kind: AlluxioRuntime
metadata: {name: data, namespace: work}
spec:
  replicas: 1
  tieredstore:
    levels: [{mediumtype: MEM, path: "$TIER", quota: 1Gi, high: "0.95", low: "0.7"}]
YAML
kwait 120 "work/data Bound" is Bound dataset data -n work -o 'jsonpath={.status.phase}'
kwait 30 "PVC work/data" kc get pvc data -n work
k8s_bind work data
# The reader: one descriptor (fd 3) for the whole file, 1 MiB per dd, paced; at MiB 16 and 40 it
# stops at a gate (/out/readyN, then waits for /out/goN); and at MiB 52. Any failed read ends it
# with ERR.
cat >"$OUT/reader.sh" <<'SH'
exec 3</data/big.bin || { echo "ERR open" >/out/status; exit 1; }
: >/out/copy
n=0
while :; do
	g=""
	case $n in
	16) g=0 ;;
	40) g=1 ;;
	52) g=2 ;;
	esac
	if [ -n "$g" ]; then
		: >/out/ready$g
		while [ ! -e /out/go$g ]; do sleep 0.1; done
	fi
	dd bs=1048576 count=1 <&3 >>/out/part 2>/out/dd.err || { echo "ERR at MiB $n: $(cat /out/dd.err)" >/out/status; exit 1; }
	s=$(wc -c </out/part)
	[ "$s" -eq 0 ] && break
	cat /out/part >>/out/copy && rm /out/part
	n=$((n + 1))
	sleep 0.05
done
echo "done $n" >/out/status
sleep 3600
SH
workload_pod() { # NAME COMMAND
	kc apply -f - >/dev/null <<YAML || fail "kubectl apply of pod work/$1 failed"
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: work}
spec:
  nodeName: localhost
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  containers:
    - name: reader
      image: weir.local/busybox:test
      imagePullPolicy: Never
      command: [sh, -c, "$2"]
      volumeMounts: [{mountPath: /data, name: data, readOnly: true}, {mountPath: /out, name: out}]
  volumes:
    - {name: data, persistentVolumeClaim: {claimName: data, readOnly: true}}
    - {name: out, hostPath: {path: "$OUT", type: Directory}}
YAML
	kwait 120 "pod work/$1 Running" is Running pod "$1" -n work -o 'jsonpath={.status.phase}'
}
workload_pod reader "sh /out/reader.sh"
RUID="$(jp pod reader -n work -o 'jsonpath={.metadata.uid}')"
kwait 120 "the reader at its first gate (MiB 16): $(cat "$OUT/status" 2>/dev/null)" test -e "$OUT/ready0"
[ ! -e "$OUT/status" ] || fail "the reader stopped early: $(cat "$OUT/status")"
ok "pod work/reader (uid $RUID) holds /data/big.bin open at MiB 16"

step "weir-node's /metrics on its pod IP answers the chart's token Secret only"
MURL="http://$(jp pod "$POD1" -n "$NS" -o 'jsonpath={.status.podIP}'):$(jp pod "$POD1" -n "$NS" -o 'jsonpath={.spec.containers[?(@.name=="weir-node")].ports[?(@.name=="metrics")].containerPort}')/metrics"
MTOKEN="$(jp secret weir-metrics-token -n "$NS" -o 'jsonpath={.data.token}' | base64 -d)"
[ -n "$MTOKEN" ] || fail "the chart made no token in Secret $NS/weir-metrics-token"
code="$(curl -s --max-time 5 -o "$TMP/m-none" -w '%{http_code}' "$MURL")" || true
[ "$code" = 401 ] && ! grep -q 'dataset="data"' "$TMP/m-none" || fail "$MURL without the token: HTTP $code: $(head -c 200 "$TMP/m-none")"
code="$(curl -s --max-time 5 -H "Authorization: Bearer $MTOKEN" -o "$TMP/m-tok" -w '%{http_code}' "$MURL")" || true
[ "$code" = 200 ] && grep -q 'namespace="work",dataset="data"' "$TMP/m-tok" ||
	fail "$MURL with the Secret's token: HTTP $code: $(head -c 300 "$TMP/m-tok")"
ok "$MURL: 401 without the token; with the Secret's (mounted 0400 into weir-node): $(grep -m1 '^weir_view_read_bytes_total{namespace="work"' "$TMP/m-tok")"

restarts() { jp pod reader -n work -o 'jsonpath={.status.containerStatuses[0].restartCount}'; }

step "helm upgrade --set image.tag=v2: the DaemonSet rolls weir-node's pod; the reader's pod stays"
t0="$(now)"
h upgrade weir "$CHART" --namespace "$NS" -f "$TMP/values.yaml" --set image.tag=v2 >"$TMP/upgrade.out" 2>&1 ||
	fail "helm upgrade failed: $(cat "$TMP/upgrade.out")"
kwait 240 "a new weir-node pod (image v2) ready" node_ready "$UID1"
T_ROLL="$(elapsed "$t0" "$(now)")"
read -r POD2 UID2 IMG2 <<<"$(node_pod)"
[ "$IMG2" = weir.local/weir:v2 ] || fail "the new weir-node pod $POD2 runs $IMG2, not weir.local/weir:v2"
kc get pod "$POD1" -n "$NS" >/dev/null 2>&1 && [ -z "$(jp pod "$POD1" -n "$NS" -o 'jsonpath={.metadata.deletionTimestamp}')" ] &&
	fail "the old weir-node pod $POD1 is still there, not being deleted"
[ "$(jp pods -n "$NS" -l app.kubernetes.io/component=keeper -o 'jsonpath={.items[0].metadata.name} {.items[0].metadata.uid}')" = "$KEEPER_POD" ] ||
	fail "helm upgrade replaced the weir-keeper pod (OnDelete: it must not)"
grep -q 'took over 1 views' <(kc logs -n "$NS" "$POD2" -c weir-node) ||
	fail "weir-node in $POD2 did not take the view over: $(kc logs -n "$NS" "$POD2" -c weir-node | tail -n 5)"
[ "$(jp pod reader -n work -o 'jsonpath={.metadata.uid}')" = "$RUID" ] || fail "pod work/reader was replaced during the upgrade"
[ "$(restarts)" = 0 ] || fail "pod work/reader's container restarted $(restarts) times during the upgrade"
# what the reader reads next must come from the new weir-node, not from pages read ahead before
drop_caches
touch "$OUT/go0"
kwait 120 "the reader at its second gate (MiB 40): $(cat "$OUT/status" 2>/dev/null)" test -e "$OUT/ready1"
[ ! -e "$OUT/status" ] || fail "the reader failed after the upgrade: $(cat "$OUT/status")"
RESTORED="$(kc logs -n "$NS" "$POD2" -c weir-node | grep -o 'restored [0-9]* inodes[^,]*, [0-9]* open files ([0-9]* in passthrough)' | head -n 1)" ||
	fail "weir-node in $POD2 logged no \"restored N inodes ..., N open files\" line: $(kc logs -n "$NS" "$POD2" -c weir-node | grep restored)"
ok "$POD1 (v1) -> $POD2 (v2) in $T_ROLL s (helm upgrade to weir-node ready; it $RESTORED); keeper pod unchanged; reader read MiB 16-40 through its descriptor, page cache dropped"

step "kill -9 of weir-node inside its pod: the weir-keeper there restarts it at once"
OLDPID="$(kc exec -n "$NS" "$POD2" -c weir-node -- cat "$STATE/node.pid")"
[ -n "$OLDPID" ] || fail "no $STATE/node.pid in $POD2"
t0="$(now)"
kc exec -n "$NS" "$POD2" -c weir-node -- kill -9 "$OLDPID" || fail "kill -9 $OLDPID in $POD2 failed"
newpid() { p="$(kc exec -n "$NS" "$POD2" -c weir-node -- cat "$STATE/node.pid" 2>/dev/null)" && [ -n "$p" ] && [ "$p" != "$OLDPID" ]; }
kwait 30 "a new weir-node in $POD2" newpid
kwait 30 "the new weir-node taking the view over" sh -c "'$KUBECTL_BIN' --kubeconfig '$KUBECONFIG' logs -n $NS $POD2 -c weir-node | grep -c 'took over 1 views' | grep -qx 2"
T_KILL="$(elapsed "$t0" "$(now)")"
NR="$(jp pod "$POD2" -n "$NS" -o 'jsonpath={.status.containerStatuses[?(@.name=="weir-node")].restartCount}')"
[ "$NR" = 0 ] || fail "the weir-node container restarted ($NR): the kubelet, not weir-keeper, brought weir-node back"
LAT="$(kc logs -n "$NS" "$POD2" -c weir-node | grep -o 'killed by signal 9 after [0-9]* ms; restarting it in [0-9]* ms' | tail -n 1)"
[ -n "$LAT" ] || fail "weir-keeper in $POD2 did not log the restart of the killed weir-node"
drop_caches
touch "$OUT/go1"
kwait 120 "the reader at its third gate (MiB 52): $(cat "$OUT/status" 2>/dev/null)" test -e "$OUT/ready2"
[ ! -e "$OUT/status" ] || fail "the reader failed after kill -9 of weir-node: $(cat "$OUT/status")"
ok "weir-node $OLDPID -> $(kc exec -n "$NS" "$POD2" -c weir-node -- cat "$STATE/node.pid") within the pod (weir-keeper: \"$LAT\"), container restartCount 0; view back in $T_KILL s (kubectl polling included); reader read MiB 40-52"

step "kill -9 of the weir-node container's weir-keeper: the kubelet restarts the container; the views wait"
CID="$(jp pod "$POD2" -n "$NS" -o 'jsonpath={.status.containerStatuses[?(@.name=="weir-node")].containerID}')"
CID="${CID#containerd://}"
KPID="$(kctr tasks ls | awk -v id="$CID" '$1 == id { print $2 }')"
# tracked before its command line is read: the signal below goes to that process or to none
[ -z "$KPID" ] || pid_track "$KPID"
[ -n "$KPID" ] && tr '\0' ' ' <"/proc/$KPID/cmdline" | grep -q "weir-keeper .*--no-store" ||
	fail "the weir-node container's ($CID) first process ${KPID:-?} is not weir-keeper --no-store"
t0="$(now)"
pid_signal 9 "$KPID"
restarted() { [ "$(jp pod "$POD2" -n "$NS" -o 'jsonpath={.status.containerStatuses[?(@.name=="weir-node")].restartCount}')" = 1 ] &&
	kc logs -n "$NS" "$POD2" -c weir-node 2>/dev/null | grep -q 'took over 1 views'; }
kwait 120 "the weir-node container restarted by the kubelet, its weir-node taking the view over" restarted
T_CONTAINER="$(elapsed "$t0" "$(now)")"
drop_caches
touch "$OUT/go2"
kwait 120 "the reader finishing: $(cat "$OUT/status" 2>/dev/null)" test -e "$OUT/status"
grep -q '^done 64$' "$OUT/status" || fail "the reader says \"$(cat "$OUT/status")\""
cmp "$OUT/copy" "$TMP/src/big.bin" || fail "the bytes the reader got through its descriptor differ from the source"
ok "weir-keeper (host pid $KPID) killed; the kubelet restarted the container (restartCount 1) and its weir-node took the view over in $T_CONTAINER s; the reader finished: 64 MiB cmp-equal"

step "the workload pod was never restarted; new opens work, in it and in a new pod"
[ "$(jp pod reader -n work -o 'jsonpath={.metadata.uid}')" = "$RUID" ] || fail "pod work/reader was replaced"
[ "$(restarts)" = 0 ] || fail "pod work/reader's container restarted $(restarts) times"
kc exec -n work reader -- cat /data/after.bin >"$TMP/after.read" || fail "a new open of /data/after.bin in work/reader failed"
cmp "$TMP/after.read" "$TMP/src/after.bin" || fail "/data/after.bin read in work/reader differs from the source"
workload_pod fresh "cp /data/after.bin /out/after.fresh && echo ok >/out/fresh.status; sleep 3600"
kwait 60 "pod work/fresh copying /data/after.bin" test -e "$OUT/fresh.status"
cmp "$OUT/after.fresh" "$TMP/src/after.bin" || fail "/data/after.bin copied in the new pod work/fresh differs from the source"
ok "work/reader: same uid $RUID, restartCount 0; a new open there and a new pod's copy are cmp-equal"

note "figures: rolling upgrade (helm upgrade to the new weir-node ready) $T_ROLL s; kill -9 of weir-node in the pod to the view taken over $T_KILL s; kill -9 of the container's weir-keeper to the view taken over $T_CONTAINER s; reader paused, never failed; load: $(uptime | sed 's/.*load/load/')"
echo "PASS"
