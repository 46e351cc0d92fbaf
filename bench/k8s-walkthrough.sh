#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (issue 9), prints figures and never fails on targets: the walkthrough's three copies
# (cold, after the DataLoad, production) through pods on a real kubelet (tests/k8s/kubelet.sh),
# weir-csi publishing the PVCs, next to the same copies through `weir mount` on the host; the pod
# overhead (pod / host, target <= 1.05x) and the time from `kubectl apply` of a pod to Running with
# its volume mounted.
#
# Fair baselines: the same weir (one weir-node, one weir-controller on the same kube-apiserver),
# the same throttled mirror, the same program (Debian's busybox-static: `busybox cp -R
# spark-3.3.1/*` on the host, the same binary in the pods' image) into the same tmpfs, the page
# cache dropped before every copy. The host copies read Datasets of namespaces dev-host/prod-host,
# the pods those of development/production: the same YAML with the namespace renamed, so each side
# starts from a cold cache of its own. A cold copy happens once per side (host first); the copies
# from the cache run BENCH_RUNS times per side, alternating which side goes first; each run's
# pod/host ratio is taken and their median reported. On a shared machine a container's cgroups
# cost something whatever it reads, so the pods also copy the mirror itself (tmpfs, a hostPath at
# /mirror) against the host doing the same: weir_in_pod is weir's pod/host ratio over that one.
# Times on both sides come from /proc/uptime (10 ms steps), read right around the cp.
# Where the host copies run (BENCH_HOST_CGROUP): "pod" (the default), in a cgroup of their own
# beside the pods' (the kubelet's burstable QoS cgroup, every v1 hierarchy, the pod's cpu.shares),
# so the kernel's per-cgroup costs (memory charging, CPU weight against the machine's other load)
# are the same on both sides and pod/host is what weir-csi's path costs; "none", where this script
# runs: pod/host then includes the container tax, which the tmpfs rows show alone.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/walkthrough.sh"
. "$here/../tests/csi/lib.sh"
. "$here/../tests/k8s/lib.sh"
. "$here/../tests/k8s/kubelet.sh"
. "$here/../tests/k8s/pods_lib.sh"

SCALE="${BENCH_SCALE:-1}"      # 1: the walkthrough's sizes (spark-3.3.1: 1.34 GB)
RATE="${BENCH_RATE:-10000000}" # bytes/s per connection (10 MB/s), no burst
WT_POLL_SECONDS="${BENCH_LOAD_SECONDS:-1800}"
RUNS="${BENCH_RUNS:-5}"         # copies per side from the cache (after the DataLoad, production)
# A BestEffort pod's cgroup gets cpu.shares 2; a request of one CPU gives it what the host's cp has
# (1024), so both sides compete alike with whatever else the machine runs. One pod at a time.
PODS_CPU_REQUEST="${BENCH_POD_CPU:-1}"
HOST_CG_MODE="${BENCH_HOST_CGROUP:-pod}"
case "$HOST_CG_MODE" in pod | none) ;; *) echo "BENCH_HOST_CGROUP must be pod or none, not \"$HOST_CG_MODE\"" >&2; exit 2 ;; esac

require_root_fuse
find_weir_bins
find_controller_bin
csi_find_bins
k8s_peers
kubelet_peers
TMP="$(mktemp -d /tmp/weir-bench-k8s.XXXXXX)"
at_exit 'rm -rf "$TMP"'
# the mirror, the copies and the cache's MEM tier all in tmpfs: no disk in the path
SHM="$(mktemp -d /dev/shm/weir-bench-k8s.XXXXXX)"
at_exit 'rm -rf "$SHM"'
weir_setup "$TMP"
OUT="$SHM/out"
mkdir -p "$OUT"
PODS_MIRROR="$SHM/tree" # the pods' /mirror: the tmpfs baseline

# same_names DIR: DIR holds spark-3.3.1's files with their sizes (then it is removed)
same_names() {
	diff <(cd "$TREE/spark-3.3.1" && find . -type f -printf '%p %s\n' | sort) \
		<(cd "$1" && find . -type f -printf '%p %s\n' | sort) >&2 ||
		fail "the copy in $1 differs in names or sizes from the mirror (diff above)"
	rm -rf "$1"
}
# v1 hierarchies a process joins (the kubelet's own: not the named systemd one, not unified)
cg_hierarchies() {
	local h
	for h in /sys/fs/cgroup/*/; do
		case "$(basename "$h")" in unified | systemd) continue ;; esac
		echo "${h%/}"
	done
}
# host_cgroup_make: HOST_CG beside the pods' cgroups, with the pod's CPU request as cpu.shares,
# in every hierarchy where the kubelet keeps its burstable QoS cgroup (HOST_CG_IN)
host_cgroup_make() {
	local h shares i
	HOST_CG="" HOST_CG_IN=()
	[ "$HOST_CG_MODE" = pod ] || return 0
	local qos=""
	shares="$(awk -v r="$PODS_CPU_REQUEST" 'BEGIN { if (r ~ /m$/) printf "%d", substr(r, 1, length(r) - 1) * 1024 / 1000; else if (r ~ /^[0-9.]+$/) printf "%d", r * 1024 }')"
	[ -n "$shares" ] && [ "$shares" -ge 2 ] || fail "BENCH_POD_CPU=$PODS_CPU_REQUEST: not a CPU quantity (1, 0.5, 500m) this script can turn into cpu.shares"
	# cgroupfs driver: <root>/kubepods/burstable
	for i in $(seq 1 300); do
		qos="$(cd /sys/fs/cgroup/cpu && find "$KUBELET_CGROOT" -maxdepth 3 -type d -name burstable 2>/dev/null | head -1)"
		[ -n "$qos" ] && [ -d "/sys/fs/cgroup/memory/$qos" ] && break
		sleep 0.1
	done
	[ -n "$qos" ] && [ -d "/sys/fs/cgroup/memory/$qos" ] ||
		fail "the kubelet made no burstable QoS cgroup under /$KUBELET_CGROOT in the cpu and memory hierarchies within 30 s: nowhere to put the host copies beside the pods"
	HOST_CG="$qos/weir-bench-host"
	for h in $(cg_hierarchies); do
		[ -d "$h/$qos" ] || continue
		mkdir -p "$h/$HOST_CG" || fail "cannot create cgroup $h/$HOST_CG"
		if [ -e "$h/$HOST_CG/cpuset.cpus" ]; then
			cat "$h/$qos/cpuset.cpus" >"$h/$HOST_CG/cpuset.cpus"
			cat "$h/$qos/cpuset.mems" >"$h/$HOST_CG/cpuset.mems"
		fi
		HOST_CG_IN+=("$h")
	done
	echo "$shares" >"/sys/fs/cgroup/cpu/$HOST_CG/cpu.shares" || fail "cannot set cpu.shares of /sys/fs/cgroup/cpu/$HOST_CG"
	note "host copies run in $HOST_CG (${HOST_CG_IN[*]##*/}), cpu.shares $shares"
}
# in_host_cgroup CMD...: runs CMD in HOST_CG (or here, without one)
in_host_cgroup() {
	[ -n "$HOST_CG" ] || { "$@"; return; }
	local procs=() h
	for h in "${HOST_CG_IN[@]}"; do procs+=("$h/$HOST_CG/cgroup.procs"); done
	# shellcheck disable=SC2016 # expanded by the inner shell, which joins and then execs CMD
	sh -c 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ >"$1" || { echo "cannot join the cgroup of $1" >&2; exit 125; }; shift; n=$((n - 1)); done; exec "$@"' \
		sh "${#procs[@]}" "${procs[@]}" "$@"
}
# host_copy DIR NAME: busybox cp -R DIR/spark-3.3.1/*; prints the seconds. Timed as a pod's copy
# is (pod_copy): /proc/uptime read by the shell right before and after the one cp it forks, so
# neither side counts starting its shell, joining cgroups or kubectl exec.
host_copy() {
	local out a b
	drop_caches
	rm -rf "${OUT:?}/$2"
	mkdir -p "$OUT/$2"
	# shellcheck disable=SC2016 # expanded by the inner shell
	out="$(in_host_cgroup timeout -k 5 1800 sh -c 'read a _ </proc/uptime && busybox cp -R "$@" && read b _ </proc/uptime && echo "$a $b"' \
		sh "$1"/spark-3.3.1/* "$OUT/$2")" || fail "busybox cp -R $1/spark-3.3.1/* $OUT/$2 failed"
	read -r a b <<<"$out"
	[ -n "$b" ] || fail "the host copy printed \"$out\", not two /proc/uptime readings"
	same_names "$OUT/$2"
	elapsed "$a" "$b"
}
pod_copy_checked() { # pod_copy_checked NS POD NAME [SRC]: prints the seconds
	local t
	drop_caches
	t="$(pod_copy "$1" "$2" "$3" "${4:-}")"
	same_names "$OUT/$3"
	echo "$t"
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# runs VIEW NS POD NAME [tmpfs]: RUNS copies per side, alternating which goes first; with tmpfs,
# each run also copies the mirror itself on the host and in the pod. Sets HOST_T, POD_T (and
# THOST_T, TPOD_T), their medians HOST_M, POD_M, and R (RT): the median of the runs' pod/host.
runs() {
	local i h p th tp rs=() rts=()
	HOST_T=() POD_T=() THOST_T=() TPOD_T=()
	for i in $(seq 1 "$RUNS"); do
		if [ $((i % 2)) = 1 ]; then
			h="$(host_copy "$1" "$4-host")" p="$(pod_copy_checked "$2" "$3" "$4-pod")"
		else
			p="$(pod_copy_checked "$2" "$3" "$4-pod")" h="$(host_copy "$1" "$4-host")"
		fi
		HOST_T+=("$h") POD_T+=("$p") rs+=("$(ratio "$p" "$h")")
		[ "${5:-}" = tmpfs ] || continue
		if [ $((i % 2)) = 1 ]; then
			tp="$(pod_copy_checked "$2" "$3" "$4-tpod" /mirror/spark-3.3.1)" th="$(host_copy "$TREE" "$4-thost")"
		else
			th="$(host_copy "$TREE" "$4-thost")" tp="$(pod_copy_checked "$2" "$3" "$4-tpod" /mirror/spark-3.3.1)"
		fi
		THOST_T+=("$th") TPOD_T+=("$tp") rts+=("$(ratio "$tp" "$th")")
	done
	HOST_M="$(median "${HOST_T[@]}")" POD_M="$(median "${POD_T[@]}")" R="$(median "${rs[@]}")" RT=""
	note "host: ${HOST_T[*]} s (median $HOST_M); pod $2/$3: ${POD_T[*]} s (median $POD_M); pod/host per run: ${rs[*]} (median $R)"
	[ "${5:-}" = tmpfs ] || return 0
	RT="$(median "${rts[@]}")"
	note "the mirror itself (tmpfs, no weir): host ${THOST_T[*]} s; pod ${TPOD_T[*]} s; pod/host per run: ${rts[*]} (median $RT)"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else printf "inf" }'; }

step "a single-node Kubernetes (etcd, kube-apiserver, containerd, kubelet); CRDs and CSIDriver"
k8s_start "$TMP/k8s"
kubelet_start "$TMP/node"
host_cgroup_make
k8s_apply_crds
pods_csidriver

step "the mirror (scale $SCALE) in tmpfs behind nginx and a per-connection cap of $RATE B/s"
TREE="$SHM/tree"
wt_tree "$TREE" "$SCALE"
nginx_start "$TMP/nginx" "$TREE"
TPORT="$(free_port)"
python3 "$here/../tests/helpers/throttle.py" "$TPORT" "$NGINX_PORT" "$RATE" >"$TMP/throttle.log" 2>&1 &
tpid=$!
pid_track "$tpid"
at_exit "pid_stop $tpid"
sleep 0.5
pid_alive "$tpid" || fail "throttle.py exited at start: $(cat "$TMP/throttle.log")"
wt_manifests "http://127.0.0.1:$TPORT/" "$WEIR_TIER_DIR"
for f in dataset dataload spark-production; do
	sed -e 's/\bdevelopment\b/dev-host/g' -e 's/\bproduction\b/prod-host/g' "$WT_YAML/$f.yaml" >"$WT_YAML/host-$f.yaml"
done

step "weir up with weir-controller --kubeconfig; weir-csi registered by the kubelet"
at_exit wt_teardown
printf 'kubeconfig = %s\nnode-name = localhost\nmetrics-listen =\n' "$KUBECONFIG" >"$WEIR_STATE/node.conf"
wt_run "starting weir-node and weir-controller on Kubernetes" up -- --kubeconfig "$KUBECONFIG"
kwait 30 "weir get dataset -A answering" w get dataset -A
pods_csi_start
note "weir.csi.io in CSINode localhost $CSI_REGISTER_SECONDS s after weir-csi started"

step "development and dev-host: Dataset + AlluxioRuntime (dataset.yaml), Bound"
for ns in development dev-host; do k8s_namespace "$ns"; done
kc create -f "$WT_YAML/dataset.yaml" >/dev/null
kc create -f "$WT_YAML/host-dataset.yaml" >/dev/null
for ns in development dev-host; do
	kwait 120 "$ns/spark Bound" is Bound dataset spark -n "$ns" -o 'jsonpath={.status.phase}'
done
kwait 30 "PVC development/spark" kc get pvc spark -n development
k8s_bind development spark
kc get dataset -A | sed 's/^/  /'

step "cold (before the DataLoad): time cp -R /data/spark-3.3.1/* /tmp"
wt_mount dev-host spark "$TMP/host-dev"
t_cold_host="$(host_copy "$TMP/host-dev" cold-host)"
note "host (weir mount): ${t_cold_host} s"
pod_run development nginx spark "$OUT"
run_dev="$POD_RUNNING_SECONDS"
t_cold_pod="$(pod_copy_checked development nginx cold-pod)"
note "pod development/nginx: ${t_cold_pod} s (kubectl apply to Running: ${run_dev} s)"
pod_delete development nginx

step "DataLoad (dataload.yaml) in both namespaces; Complete"
kc create -f "$WT_YAML/dataload.yaml" >/dev/null
kc create -f "$WT_YAML/host-dataload.yaml" >/dev/null
for ns in development dev-host; do
	kwait "$WT_POLL_SECONDS" "DataLoad $ns/spark Complete" is Complete dataload spark -n "$ns" -o 'jsonpath={.status.phase}'
done
kc get dataload -A | sed 's/^/  /'

step "after the DataLoad: time cp -R /data/spark-3.3.1/* /tmp (another pod), $RUNS times each"
pod_run development nginx2 spark "$OUT"
run_warm="$POD_RUNNING_SECONDS"
note "pod development/nginx2: kubectl apply to Running in ${run_warm} s"
runs "$TMP/host-dev" development nginx2 warm tmpfs
t_warm_host="$HOST_M" t_warm_pod="$POD_M" r_warm="$R" r_tmpfs="$RT"
t_tmpfs_host="$(median "${THOST_T[@]}")" t_tmpfs_pod="$(median "${TPOD_T[@]}")"
pod_delete development nginx2

step "production and prod-host: dataset://<dev>/spark (spark-production.yaml); time cp"
for ns in production prod-host; do k8s_namespace "$ns"; done
kc create -f "$WT_YAML/spark-production.yaml" >/dev/null
kc create -f "$WT_YAML/host-spark-production.yaml" >/dev/null
for ns in production prod-host; do
	kwait 120 "$ns/spark Bound" is Bound dataset spark -n "$ns" -o 'jsonpath={.status.phase}'
done
kwait 30 "PVC production/spark" kc get pvc spark -n production
k8s_bind production spark
wt_mount prod-host spark "$TMP/host-prod"
pod_run production nginx spark "$OUT"
run_prod="$POD_RUNNING_SECONDS"
note "pod production/nginx: kubectl apply to Running in ${run_prod} s"
req0="$(nginx_requests)"
runs "$TMP/host-prod" production nginx prod
req1="$(nginx_requests)"
t_prod_host="$HOST_M" t_prod_pod="$POD_M" r_prod="$R"
note "mirror requests during these $((2 * RUNS)) copies: $((req1 - req0))"

echo
host_where="${HOST_CG:-}"
[ -n "$host_where" ] || host_where="this script's cgroup"
echo "bytes: $WT_S331 in spark-3.3.1 (scale $SCALE); per-connection cap $RATE B/s; busybox cp -R on both sides; page cache dropped before each copy; pods request ${PODS_CPU_REQUEST:-no} CPU; host copies in $host_where (BENCH_HOST_CGROUP=$HOST_CG_MODE)"
printf '%-38s %10s %10s %10s\n' "copy (cache: medians of $RUNS runs)" "host s" "pod s" "pod/host"
printf '%-38s %10s %10s %10s\n' "development cold (before DataLoad)" "$t_cold_host" "$t_cold_pod" "$(ratio "$t_cold_pod" "$t_cold_host")x"
printf '%-38s %10s %10s %10s\n' "development after DataLoad" "$t_warm_host" "$t_warm_pod" "${r_warm}x"
printf '%-38s %10s %10s %10s\n' "production" "$t_prod_host" "$t_prod_pod" "${r_prod}x"
printf '%-38s %10s %10s %10s\n' "the mirror on tmpfs (no weir)" "$t_tmpfs_host" "$t_tmpfs_pod" "${r_tmpfs}x"
echo "pod_overhead: after DataLoad ${r_warm}x, production ${r_prod}x (median of the runs' pod/host; target <= 1.05); cold $(ratio "$t_cold_pod" "$t_cold_host")x (waits on the mirror)"
echo "container_tax: ${r_tmpfs}x (a pod copying tmpfs to tmpfs against the host doing the same: cgroups on this machine, no weir)"
echo "weir_in_pod: $(ratio "$r_warm" "$r_tmpfs")x (after-DataLoad pod/host over the container tax: what weir-csi's path adds in a pod)"
echo "kubectl apply to Running (volume mounted; each pod starts its view, the previous pod gone): development ${run_dev} s, after DataLoad ${run_warm} s, production ${run_prod} s"
echo "mirror requests during the production copies (both sides): $((req1 - req0))"
echo "weir.csi.io registered (CSINode) ${CSI_REGISTER_SECONDS} s after weir-csi started"

# the kubelet unpublishes while weir-csi still runs
pod_delete production nginx
