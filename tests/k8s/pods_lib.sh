# SPDX-License-Identifier: Apache-2.0
# The walkthrough's pods on the test node (source after tests/k8s/lib.sh and kubelet.sh, and
# tests/csi/lib.sh for WEIR_CSI_BIN): weir-csi registered by the kubelet, pods that mount a Dataset's
# PVC at /data, copies through kubectl exec. Shared by tests/k8s/pods.sh and bench/k8s-walkthrough.sh.
#
#   pods_csi_start [FLAGS]     weir-csi on the kubelet's plugin paths, registering itself; returns
#                              once CSINode localhost lists weir.csi.io. CSI_REGISTER_SECONDS: the
#                              time from its start to that; CSI_PID, its log $TMP/csi.log
#   pods_csidriver             kubectl apply of the chart's CSIDriver (podInfoOnMount, no attach)
#   pod_yaml NS NAME CLAIM OUT examples/walkthrough/app.yaml for the test node: busybox in place
#                              of nginx, PVC CLAIM at /data, host directory OUT at /out for copies
#                              (PODS_CPU_REQUEST: the container's CPU request; none by default)
#   pod_run NS NAME CLAIM OUT  kubectl apply of that pod, then waits until it is Running;
#                              POD_RUNNING_SECONDS: kubectl apply to Running (volume mounted)
#   pod_copy NS NAME DEST [SRC]   kubectl exec: cp -R SRC/* /out/DEST (SRC: /data/spark-3.3.1),
#                              timed inside the pod (/proc/uptime is the host's clock); prints
#                              the seconds. PODS_MIRROR: a host directory pods see at /mirror
#   pod_target NS NAME         the pod's CSI target (<kubelet root>/pods/<uid>/volumes/...)
#   pod_delete NS NAME         kubectl delete, waits until the pod is gone

PODS_IMAGE="weir.local/busybox:test"
PODS_APP_YAML="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/examples/walkthrough/app.yaml"

pods_csidriver() {
	kc apply -f - >/dev/null <<'YAML' || fail "kubectl apply of CSIDriver weir.csi.io failed"
apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata:
  name: weir.csi.io
spec:
  attachRequired: false
  podInfoOnMount: true
  volumeLifecycleModes: [Persistent]
  fsGroupPolicy: None
  requiresRepublish: false
YAML
}

pods_csi_registered() {
	kc get csinode localhost -o 'jsonpath={.spec.drivers[*].name}' 2>/dev/null | grep -qw weir.csi.io
}

pods_csi_start() {
	local t0 i
	rm -f "$KUBELET_ROOT/plugins_registry/weir.csi.io-reg.sock"
	t0="$(now)"
	"$WEIR_CSI_BIN" --endpoint "unix://$KUBELET_ROOT/plugins/weir.csi.io/csi.sock" --node-id localhost \
		--state-dir "$WEIR_STATE" --registration-dir "$KUBELET_ROOT/plugins_registry" \
		--view-grace "${PODS_VIEW_GRACE:-5}" --log-level debug "$@" </dev/null >>"$TMP/csi.log" 2>&1 &
	CSI_PID=$!
	pid_track "$CSI_PID"
	at_exit 'pid_stop -t 10 "$CSI_PID"'
	at_exit '[ "$WEIR_EXIT_RC" -eq 0 ] || { echo "---- last 40 lines of $TMP/csi.log ----" >&2; tail -n 40 "$TMP/csi.log" >&2; }'
	for i in $(seq 1 400); do
		pods_csi_registered && break
		pid_alive "$CSI_PID" || fail "weir-csi exited at start: $(tail -n 5 "$TMP/csi.log")"
		sleep 0.025
	done
	pods_csi_registered || fail "the kubelet did not register weir.csi.io within 10 s (CSINode localhost: $(kc get csinode localhost -o 'jsonpath={.spec.drivers}' 2>&1); logs $TMP/csi.log, $KUBELET_DIR/kubelet.log)"
	CSI_REGISTER_SECONDS="$(elapsed "$t0" "$(now)")"
}

pod_yaml() {
	local ns="$1" name="$2" claim="$3" out="$4" res=""
	# A pod without requests is BestEffort: cpu.shares 2 against 1024 for a process on the host
	[ -z "${PODS_CPU_REQUEST:-}" ] || res=", \"resources\": {\"requests\": {\"cpu\": \"$PODS_CPU_REQUEST\"}}"
	local mm="" mv=""
	if [ -n "${PODS_MIRROR:-}" ]; then
		mm=', {"mountPath": "/mirror", "name": "mirror", "readOnly": true}'
		mv=", {\"name\": \"mirror\", \"hostPath\": {\"path\": \"$PODS_MIRROR\", \"type\": \"Directory\"}}"
	fi
	# examples/walkthrough/app.yaml, changed only where this node needs it: no scheduler runs
	# (nodeName), no registry is reachable (the local busybox, never pulled), no service account
	# token (kube-controller-manager, which publishes its CA, does not run either)
	"$KUBECTL_BIN" patch --local -f "$PODS_APP_YAML" --type strategic -o yaml -p "$(
		cat <<JSON
{"metadata": {"name": "$name", "namespace": "$ns"},
 "spec": {"nodeName": "localhost", "automountServiceAccountToken": false, "enableServiceLinks": false,
  "terminationGracePeriodSeconds": 1,
  "containers": [{"name": "nginx", "image": "$PODS_IMAGE", "imagePullPolicy": "Never", "command": ["sleep", "3600"],
   "volumeMounts": [{"mountPath": "/out", "name": "out"}$mm]$res}],
  "volumes": [{"name": "spark", "persistentVolumeClaim": {"claimName": "$claim"}},
   {"name": "out", "hostPath": {"path": "$out", "type": "DirectoryOrCreate"}}$mv]}}
JSON
	)" || fail "kubectl patch --local of $PODS_APP_YAML failed"
}

pod_phase() { kc get pod "$2" -n "$1" -o 'jsonpath={.status.phase}' 2>/dev/null; }

pod_run() {
	local ns="$1" name="$2" t0 i phase=""
	pod_yaml "$@" >"$TMP/pod-$ns-$name.yaml"
	t0="$(now)"
	kc apply -f "$TMP/pod-$ns-$name.yaml" >/dev/null || fail "kubectl apply of pod $ns/$name failed"
	for i in $(seq 1 1200); do
		phase="$(pod_phase "$ns" "$name")"
		[ "$phase" = Running ] && break
		[ "$phase" = Failed ] || [ "$phase" = Succeeded ] && break
		sleep 0.025
	done
	POD_RUNNING_SECONDS="$(elapsed "$t0" "$(now)")"
	[ "$phase" = Running ] || {
		kc get events -n "$ns" --field-selector "involvedObject.name=$name" >&2 || true
		fail "pod $ns/$name is \"$phase\", not Running, $POD_RUNNING_SECONDS s after kubectl apply (events above)"
	}
}

pod_copy() {
	local ns="$1" name="$2" dest="$3" src="${4:-/data/spark-3.3.1}" out a b
	out="$(timeout -k 5 1800 "$KUBECTL_BIN" --kubeconfig "$KUBECONFIG" exec -n "$ns" "$name" -- sh -c \
		"rm -rf /out/$dest && mkdir /out/$dest && read a _ </proc/uptime && cp -R $src/* /out/$dest && read b _ </proc/uptime && echo \$a \$b")" ||
		fail "kubectl exec -n $ns $name -- cp -R $src/* /out/$dest failed: $out"
	read -r a b <<<"$out"
	[ -n "$b" ] || fail "the copy in pod $ns/$name printed \"$out\", not two /proc/uptime readings"
	elapsed "$a" "$b"
}

pod_target() {
	local uid pv
	uid="$(kc get pod "$2" -n "$1" -o 'jsonpath={.metadata.uid}')"
	pv="$(kc get pvc "$(kc get pod "$2" -n "$1" -o 'jsonpath={.spec.volumes[0].persistentVolumeClaim.claimName}')" \
		-n "$1" -o 'jsonpath={.spec.volumeName}')"
	[ -n "$uid" ] && [ -n "$pv" ] || fail "pod $1/$2: no uid or no PV behind its claim"
	echo "$KUBELET_ROOT/pods/$uid/volumes/kubernetes.io~csi/$pv/mount"
}

pod_delete() {
	local i
	kc delete pod "$2" -n "$1" --wait=false >/dev/null || fail "kubectl delete pod $2 -n $1 failed"
	for i in $(seq 1 600); do
		kc get pod "$2" -n "$1" >/dev/null 2>&1 || return 0
		sleep 0.1
	done
	fail "pod $1/$2 is still there 60 s after kubectl delete ($(pod_phase "$1" "$2"))"
}
