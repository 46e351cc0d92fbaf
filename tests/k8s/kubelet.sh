# SPDX-License-Identifier: Apache-2.0
# A real node for the test cluster (source after tests/k8s/lib.sh, bash only): containerd, runc and
# the CNI bridge from Debian, and the kubelet of tests/k8s/peers.sh, all under one directory of the
# test's, so that the kubelet itself registers CSI drivers and mounts pods' volumes. containerd's
# root, state and socket, runc's root, the CNI bridge (its own name and range, no gateway), the
# kubelet's root, logs and cgroup root are the test's. A few paths are fixed in the binaries and
# hold per-container names only: /var/run/netns/cni-<uuid>, /run/containerd/s/<hash>,
# /var/lib/cni/results/<network>-<id>-*, /var/log/containers/*-<id>.log links, and the kubelet's
# /var/lib/kubelet/device-plugins/kubelet.sock (no device plugins here). Everything is torn down
# by pid and by path, never by name, as other tests run on the same machine.
#
#   kubelet_peers           KUBELET_BIN (built by peers.sh when missing); checks the Debian parts
#   kubelet_start DIR       (after k8s_start) the images, containerd, the kubelet as node
#                           "localhost"; returns once the node is Ready. KUBELET_ROOT is its
#                           --root-dir (plugins in KUBELET_ROOT/plugins, registration in
#                           KUBELET_ROOT/plugins_registry); KUBELET_START_SECONDS the time taken
#   kubelet_restart         stops the kubelet (TERM) and starts it again with the same config
#   kubelet_stop            kubelet, containers, containerd, mounts, bridge, cgroups (at exit)
#   k8s_bind NS PVC         marks a PVC and its pre-bound PV Bound, as kube-controller-manager's PV
#                           binder would (it does not run here): claimRef.uid, then both statuses
#   KUBELET_IMAGES          weir.local/pause:test (the sandbox) and weir.local/busybox:test
#
# Recipe (issue 9): cgroupfs driver and failCgroupV1 false (this VM is cgroup v1), containerd's
# restrict_oom_score_adj (the VM withholds CAP_SYS_RESOURCE, so runc cannot lower oom_score_adj),
# node name localhost (any other makes the apiserver resolve it in DNS), anonymous kubelet auth
# with AlwaysAllow on 127.0.0.1, images packed locally (no registry is reachable): pods use
# imagePullPolicy: Never.

KUBELET_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KUBELET_IMAGES="weir.local/pause:test weir.local/busybox:test"
KUBELET_CNI_BIN="${WEIR_CNI_BIN_DIR:-/usr/lib/cni}"

kubelet_peers() {
	local b
	"$KUBELET_HERE/peers.sh" kubelet >&2 || fail "building the kubelet failed (tests/k8s/peers.sh kubelet, output above)"
	KUBELET_BIN="$("$KUBELET_HERE/peers.sh" --print-dir kubelet)/kubelet"
	export KUBELET_BIN
	for b in containerd containerd-shim-runc-v2 ctr runc busybox ip cc; do
		command -v "$b" >/dev/null || fail "$b is missing: run scripts/install-deps.sh (containerd, runc, busybox-static, iproute2, build-essential)"
	done
	for b in bridge host-local loopback; do
		[ -x "$KUBELET_CNI_BIN/$b" ] || fail "the CNI plugin $KUBELET_CNI_BIN/$b is missing: run scripts/install-deps.sh (containernetworking-plugins)"
	done
	ldd "$(command -v busybox)" >/dev/null 2>&1 &&
		fail "$(command -v busybox) is linked dynamically: the test image needs busybox-static (scripts/install-deps.sh)"
	return 0
}

# kubelet_images DIR: DIR/pause.tar and DIR/busybox.tar, OCI layouts ctr imports.
kubelet_images() {
	local d="$1" a
	mkdir -p "$d/pause-root" "$d/busybox-root/bin" "$d/busybox-root/tmp" "$d/busybox-root/etc"
	# `command`: tests/csi/lib.sh has a function named cc
	command cc -static -O2 -o "$d/pause-root/pause" "$KUBELET_HERE/pause.c" ||
		fail "cc -static could not build the pause image's binary from tests/k8s/pause.c"
	cp "$(command -v busybox)" "$d/busybox-root/bin/busybox"
	for a in $(busybox --list); do
		[ "$a" = busybox ] || ln -sf busybox "$d/busybox-root/bin/$a"
	done
	chmod 1777 "$d/busybox-root/tmp"
	echo 'root:x:0:0:root:/:/bin/sh' >"$d/busybox-root/etc/passwd"
	echo 'root:x:0:' >"$d/busybox-root/etc/group"
	python3 "$KUBELET_HERE/oci_pack.py" "$d/pause-root" weir.local/pause:test "$d/pause.tar" /pause ||
		fail "packing the pause image failed"
	python3 "$KUBELET_HERE/oci_pack.py" "$d/busybox-root" weir.local/busybox:test "$d/busybox.tar" /bin/sh ||
		fail "packing the busybox image failed"
}

kctr() { timeout -k 5 60 ctr --address "$KUBELET_CTR_SOCK" --namespace k8s.io "$@"; }

# A bridge name (at most 15 bytes) and a /24 no interface or route of the machine uses.
kubelet_pick_net() {
	local i n a b
	for i in $(seq 1 50); do
		n="$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
		KUBELET_BRIDGE="weirk$n"
		a=$((100 + 0x${n:0:2} % 100)) b=$((0x${n:2:2}))
		KUBELET_SUBNET="10.$a.$b.0/24"
		ip link show "$KUBELET_BRIDGE" >/dev/null 2>&1 && continue
		ip -4 route show | grep -q "^10\.$a\.$b\." && continue
		ip -4 addr show | grep -q "inet 10\.$a\.$b\." && continue
		return 0
	done
	fail "no free bridge name and 10.x.y.0/24 range after 50 tries"
}

# Each v1 hierarchy needs the cgroup root to exist before the kubelet starts (it checks).
kubelet_cgroups_make() {
	local h
	for h in /sys/fs/cgroup/*/; do
		[ -d "$h" ] && [ "$(basename "$h")" != unified ] || continue
		mkdir -p "$h$KUBELET_CGROOT" 2>/dev/null || fail "cannot create cgroup $h$KUBELET_CGROOT (the kubelet's cgroup root)"
	done
}

kubelet_cgroups_remove() {
	local h d p
	[ -n "${KUBELET_CGROOT:-}" ] || return 0
	for h in /sys/fs/cgroup/*/; do
		[ -d "$h$KUBELET_CGROOT" ] || continue
		# processes left in our own cgroups are ours: a container the runtime did not stop
		for p in $(find "$h$KUBELET_CGROOT" -name cgroup.procs -exec cat {} + 2>/dev/null); do
			pid_track "$p"
			pid_signal KILL "$p" || true
		done
		find "$h$KUBELET_CGROOT" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
}

kubelet_write_containerd_conf() {
	local d="$KUBELET_DIR"
	cat >"$d/containerd.toml" <<EOF
version = 2
root = "$d/containerd/root"
state = "$d/containerd/state"
plugin_dir = ""
disabled_plugins = ["io.containerd.internal.v1.tracing", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
oom_score = 0

[grpc]
  address = "$KUBELET_CTR_SOCK"
[ttrpc]
  address = "$KUBELET_CTR_SOCK.ttrpc"
[debug]
  address = ""
  level = "warn"
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$d/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "weir.local/pause:test"
  # runc cannot lower oom_score_adj without CAP_SYS_RESOURCE, which this VM withholds from root
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_tls_streaming = false
  max_container_log_line_size = 16384
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    discard_unpacked_layers = false
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$d/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$KUBELET_CNI_BIN"
    conf_dir = "$d/cni/net.d"
    max_conf_num = 1
EOF
	# No gateway: the test's pods talk to nobody, and a gateway bridge would turn on the machine's
	# net.ipv4.ip_forward. Pods get an address on the bridge, nothing is masqueraded.
	cat >"$d/cni/net.d/10-weir-test.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$KUBELET_BRIDGE",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$KUBELET_BRIDGE",
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": false,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "$KUBELET_SUBNET"}]], "dataDir": "$d/cni/ipam"}
    }
  ]
}
EOF
}

kubelet_write_config() {
	local d="$KUBELET_DIR"
	cat >"$d/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://$KUBELET_CTR_SOCK
cgroupDriver: cgroupfs
cgroupRoot: /$KUBELET_CGROOT
cgroupsPerQOS: true
failCgroupV1: false
failSwapOn: false
podLogsDir: $d/pod-logs
volumePluginDir: $d/volume-plugins
makeIPTablesUtilChains: false
# a shared test machine: neither its disk nor its memory may evict the test's pods or images
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
imageMinimumGCAge: 24h
registerNode: true
syncFrequency: 10s
nodeStatusUpdateFrequency: 2s
shutdownGracePeriod: 0s
EOF
}

kubelet_run() {
	"$KUBELET_BIN" --config "$KUBELET_DIR/kubelet.yaml" --kubeconfig "$K8S_DIR/kubeconfig-cert" \
		--hostname-override localhost --root-dir "$KUBELET_ROOT" --cert-dir "$KUBELET_ROOT/pki" \
		-v "${KUBELET_V:-1}" </dev/null >>"$KUBELET_DIR/kubelet.log" 2>&1 &
	KUBELET_PID=$!
	pid_track "$KUBELET_PID"
}

# kubelet_wait_healthz SECONDS: the kubelet's /healthz answers ok.
kubelet_wait_healthz() {
	k8s_wait_http "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz" "$1" || {
		pid_alive "$KUBELET_PID" || fail "the kubelet exited: $(tail -n 15 "$KUBELET_DIR/kubelet.log")"
		fail "the kubelet's /healthz did not answer within $1 s (log: $KUBELET_DIR/kubelet.log)"
	}
}

kubelet_node_ready() {
	[ "$(kc get node localhost -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

kubelet_start() {
	local dir t0 t1 t2 i img
	dir="$(realpath -m "$1")"
	[ -n "${K8S_DIR:-}" ] || fail "kubelet_start needs the apiserver: call k8s_start first"
	[ -n "${KUBELET_BIN:-}" ] || kubelet_peers
	KUBELET_DIR="$dir"
	KUBELET_ROOT="$dir/kubelet"
	KUBELET_CTR_SOCK="$dir/containerd.sock"
	KUBELET_CGROOT="weir-k8s-$$-$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')"
	mkdir -p "$dir/containerd/root" "$dir/containerd/state" "$dir/runc" "$dir/cni/net.d" "$dir/cni/ipam" \
		"$dir/pod-logs" "$dir/volume-plugins" "$dir/images" "$KUBELET_ROOT"
	at_exit kubelet_stop
	kubelet_pick_net
	KUBELET_PORT="$(free_port)" KUBELET_HEALTHZ_PORT="$(free_port)"
	export KUBELET_DIR KUBELET_ROOT KUBELET_CTR_SOCK

	t0=$(now)
	kubelet_images "$dir/images"
	kubelet_write_containerd_conf
	containerd --config "$dir/containerd.toml" </dev/null >"$dir/containerd.log" 2>&1 &
	KUBELET_CTR_PID=$!
	pid_track "$KUBELET_CTR_PID"
	for i in $(seq 1 100); do
		[ -S "$KUBELET_CTR_SOCK" ] && kctr version >/dev/null 2>&1 && break
		pid_alive "$KUBELET_CTR_PID" || fail "containerd exited at start: $(tail -n 15 "$dir/containerd.log")"
		sleep 0.1
	done
	kctr version >/dev/null 2>&1 || fail "containerd does not answer on $KUBELET_CTR_SOCK after 10 s (log: $dir/containerd.log)"
	for img in pause busybox; do
		kctr images import "$dir/images/$img.tar" >"$dir/import-$img.log" 2>&1 ||
			fail "ctr images import $img.tar failed: $(cat "$dir/import-$img.log")"
	done
	# the whole list first: grep -q stops reading at its match, and a ctr still writing then dies
	# of SIGPIPE, which pipefail took for a missing image (CI under load, the image listed)
	local imgs
	imgs="$(kctr images ls -q)" || fail "ctr images ls failed"
	for img in $KUBELET_IMAGES; do
		grep -qx "$img" <<<"$imgs" || fail "containerd lists no image $img after the import: $(tr '\n' ' ' <<<"$imgs")"
	done
	t1=$(now)

	kubelet_cgroups_make
	kubelet_write_config
	kubelet_run
	kubelet_wait_healthz 60
	for i in $(seq 1 600); do
		kubelet_node_ready && break
		pid_alive "$KUBELET_PID" || fail "the kubelet exited: $(tail -n 15 "$dir/kubelet.log")"
		sleep 0.1
	done
	kubelet_node_ready || {
		kc get node localhost -o 'jsonpath={range .status.conditions[*]}{.type}={.status} {.message}{"\n"}{end}' >&2 || true
		fail "node localhost is not Ready 60 s after the kubelet started (conditions above; log: $dir/kubelet.log)"
	}
	t2=$(now)
	KUBELET_START_SECONDS="$(elapsed "$t0" "$t2")"
	note "node: images + containerd in $(elapsed "$t0" "$t1") s, kubelet to node localhost Ready in $(elapsed "$t1" "$t2") s (bridge $KUBELET_BRIDGE $KUBELET_SUBNET, cgroup root /$KUBELET_CGROOT, root $KUBELET_ROOT)"
}

kubelet_restart() {
	pid_stop -t 10 "${KUBELET_PID:-}"
	kubelet_run
	kubelet_wait_healthz 60
}

# Mount points under DIR, deepest first (mountinfo escapes spaces as \040).
kubelet_mounts_under() {
	awk -v d="$1/" '{ m = $5; gsub(/\\040/, " ", m); if (index(m, d) == 1) print m }' /proc/self/mountinfo | sort -r
}

kubelet_stop() {
	local ids id ns pid m l
	[ -n "${KUBELET_DIR:-}" ] || return 0
	if [ "${WEIR_EXIT_RC:-0}" -ne 0 ]; then
		for l in "$KUBELET_DIR/kubelet.log" "$KUBELET_DIR/containerd.log"; do
			[ -s "$l" ] || continue
			printf '\n--- last lines of %s ---\n' "$l" >&2
			grep -v '^I' "$l" | tail -n 25 >&2
		done
	fi
	# Pods left running: the kubelet stops them properly (CNI DEL, unpublish) if it can, briefly.
	if [ -n "${KUBELET_PID:-}" ] && pid_alive "$KUBELET_PID" &&
		[ -n "$(kc get pods -A -o name 2>/dev/null)" ]; then
		kc delete pods --all -A --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
		for l in $(seq 1 50); do
			[ -z "$(kctr tasks ls -q 2>/dev/null)" ] && break
			sleep 0.2
		done
	fi
	pid_stop -t 10 "${KUBELET_PID:-}"
	KUBELET_PID=""
	local netns=()
	if [ -n "${KUBELET_CTR_PID:-}" ] && pid_alive "$KUBELET_CTR_PID"; then
		ids="$(kctr containers ls -q 2>/dev/null || true)"
		for id in $ids; do
			# a sandbox's network namespace is a bind mount the CRI made (under /var/run/netns)
			ns="$(kctr containers info "$id" 2>/dev/null | python3 -c '
import json, sys
try:
    for n in json.load(sys.stdin)["Spec"]["linux"]["namespaces"]:
        if n.get("type") == "network" and n.get("path"):
            print(n["path"])
except Exception:
    pass' || true)"
			[ -n "$ns" ] && netns+=("$ns")
			kctr tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
		done
		for id in $ids; do
			kctr tasks delete -f "$id" >/dev/null 2>&1 || true
			kctr containers delete "$id" >/dev/null 2>&1 || true
			# what a sandbox stopped without CNI DEL or a killed shim leaves at fixed paths:
			# libcni's cached results and the shim's socket (sha256 of address/namespace/id)
			rm -f "/var/lib/cni/results/cni-loopback-$id-lo" "/var/lib/cni/results/$KUBELET_BRIDGE-$id-eth0"
			rm -f "/run/containerd/s/$(printf '%s' "$KUBELET_CTR_SOCK/k8s.io/$id" | sha256sum | cut -d' ' -f1)"
		done
	fi
	pid_stop -t 10 "${KUBELET_CTR_PID:-}"
	KUBELET_CTR_PID=""
	# shims our containerd started and that outlived it: their command line names our socket
	# (tracked before it is read: the signal goes to the process whose command line it was)
	for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $KUBELET_CTR_SOCK" 2>/dev/null || true); do
		pid_track "$pid"
		grep -qsF "$KUBELET_CTR_SOCK" "/proc/$pid/cmdline" && pid_signal KILL "$pid" 2>/dev/null
	done
	kubelet_cgroups_remove
	for m in "${netns[@]}"; do
		case "$m" in /proc/*) continue ;; esac
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		rm -f "$m"
	done
	while read -r m; do
		[ -n "$m" ] && { umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; }
	done < <(kubelet_mounts_under "$KUBELET_DIR")
	[ -n "${KUBELET_BRIDGE:-}" ] && ip link del "$KUBELET_BRIDGE" 2>/dev/null
	# the kubelet's links to our pods' logs (its log directory for them is fixed)
	find /var/log/containers -maxdepth 1 -type l -lname "$KUBELET_DIR/*" -delete 2>/dev/null || true
	KUBELET_DIR=""
	return 0
}

k8s_bind() {
	local ns="$1" pvc="$2" pv uid modes size
	pv="$(kc get pvc "$pvc" -n "$ns" -o 'jsonpath={.spec.volumeName}')"
	[ -n "$pv" ] || fail "PVC $ns/$pvc names no volume (spec.volumeName): it is not pre-bound"
	uid="$(kc get pvc "$pvc" -n "$ns" -o 'jsonpath={.metadata.uid}')"
	modes="$(kc get pv "$pv" -o 'jsonpath={.spec.accessModes}')"
	size="$(kc get pv "$pv" -o 'jsonpath={.spec.capacity.storage}')"
	[ -n "$uid" ] && [ -n "$modes" ] && [ -n "$size" ] || fail "PV $pv or PVC $ns/$pvc lacks uid, accessModes or capacity"
	kc patch pv "$pv" --type merge -p "{\"spec\":{\"claimRef\":{\"uid\":\"$uid\",\"namespace\":\"$ns\",\"name\":\"$pvc\"}}}" >/dev/null ||
		fail "kubectl patch pv $pv (claimRef.uid) failed"
	kc patch pv "$pv" --subresource status --type merge -p '{"status":{"phase":"Bound"}}' >/dev/null ||
		fail "kubectl patch pv $pv --subresource status failed"
	kc patch pvc "$pvc" -n "$ns" --subresource status --type merge \
		-p "{\"status\":{\"phase\":\"Bound\",\"accessModes\":$modes,\"capacity\":{\"storage\":\"$size\"}}}" >/dev/null ||
		fail "kubectl patch pvc $pvc -n $ns --subresource status failed"
}
