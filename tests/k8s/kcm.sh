# SPDX-License-Identifier: Apache-2.0
# The controllers a DaemonSet needs on the test node (source after tests/k8s/lib.sh and kubelet.sh):
# kube-controller-manager (tests/k8s/peers.sh) running only its DaemonSet controller, which creates
# and rolls the DaemonSets' pods, and its root-ca-cert-publisher (ConfigMap kube-root-ca.crt, which
# pods' service-account token volumes need); and, since no kube-scheduler runs, a binder that does
# what the scheduler would do on a one-node cluster: binds each pod without a node to "localhost"
# (the DaemonSet controller names that node in the pod's affinity; the binder checks it does).
#
#   kcm_peers        KCM_BIN (built by peers.sh when missing)
#   kcm_start DIR    (after kubelet_start) both, their logs in DIR; stopped at exit by pid
#   kcm_stop         stops both

KCM_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

kcm_peers() {
	"$KCM_HERE/peers.sh" kube-controller-manager >&2 ||
		fail "building kube-controller-manager failed (tests/k8s/peers.sh kube-controller-manager, output above)"
	KCM_BIN="$("$KCM_HERE/peers.sh" --print-dir kube-controller-manager)/kube-controller-manager"
	export KCM_BIN
}

# One pass: bind every pod that names no node to localhost, if its affinity allows that node.
kcm_bind_pass() {
	local ns name aff
	while read -r ns name aff; do
		[ -n "$name" ] || continue
		case "$aff" in *localhost*) ;; *) [ -z "$aff" ] || continue ;; esac
		k8s_api POST "/api/v1/namespaces/$ns/pods/$name/binding" \
			"{\"apiVersion\":\"v1\",\"kind\":\"Binding\",\"metadata\":{\"name\":\"$name\"},\"target\":{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"name\":\"localhost\"}}" \
			>/dev/null 2>&1 && echo "$(date +%T.%N) bound $ns/$name to localhost" >>"$KCM_DIR/binder.log"
	done < <(kc get pods -A --field-selector spec.nodeName= -o \
		'jsonpath={range .items[*]}{.metadata.namespace} {.metadata.name} {.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[*].matchFields[*].values}{"\n"}{end}' 2>/dev/null)
}

kcm_start() {
	local dir i
	dir="$(realpath -m "$1")"
	mkdir -p "$dir"
	KCM_DIR="$dir"
	[ -n "${KCM_BIN:-}" ] || kcm_peers
	at_exit kcm_stop
	"$KCM_BIN" --kubeconfig "$K8S_DIR/kubeconfig-cert" --controllers daemonset,root-ca-cert-publisher \
		--root-ca-file "$K8S_CA" --leader-elect=false --secure-port 0 \
		--concurrent-daemonset-syncs 1 -v 1 </dev/null >"$dir/kube-controller-manager.log" 2>&1 &
	KCM_PID=$!
	pid_track "$KCM_PID" $$
	(
		# the binder: a child of ours that stops when we do
		while pid_alive $$; do
			kcm_bind_pass
			sleep 0.3
		done
	) </dev/null >/dev/null 2>&1 &
	KCM_BINDER_PID=$!
	pid_track "$KCM_BINDER_PID"
	for i in $(seq 1 300); do
		kc get configmap kube-root-ca.crt -n default >/dev/null 2>&1 && return 0
		pid_alive "$KCM_PID" || fail "kube-controller-manager exited: $(tail -n 15 "$dir/kube-controller-manager.log")"
		sleep 0.2
	done
	fail "kube-controller-manager published no ConfigMap kube-root-ca.crt within 60 s (log: $dir/kube-controller-manager.log)"
}

kcm_stop() {
	pid_stop -t 10 "${KCM_BINDER_PID:-}"
	pid_stop -t 10 "${KCM_PID:-}"
	KCM_PID="" KCM_BINDER_PID=""
}
