#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One cache across three weir-nodes whose members come from the API (issue 15): node-1..3 run
# against a real kube-apiserver with no `peers` list; each writes its peer URL into its Lease
# (weir.io/peer) and takes the others from theirs, and reads the cluster's key from a Secret.
# Loopback ports, not network namespaces: the test apiserver listens on 127.0.0.1 only (its
# certificate names nothing else). Each node has its own state directory and its own tier (a
# directory of its own bind-mounted over the Runtime's tier path in a mount namespace of its own);
# views are mounted with `weir mount -n NS DATASET` on the node's own plan and read inside the
# node's mount namespace. Checks: a tree read through a view on every node at once makes nginx
# serve each byte once, and the Dataset's CACHED and CACHE CAPACITY are the sums over the nodes;
# a node serves a source's blocks only to a node whose pods mount it (status.viewNodes, from the
# pods weir-controller sees: no kubelet runs them, a pod bound to a node is what counts): a node
# without such a pod reads the UFS instead, and is served again once a pod (of another
# namespace, through a reference) is bound to it; a DataLoad completes with the grants on;
# node-2 killed while node-1 and node-3 read: their readers see no error and the same bytes
# (cmp), node-2's Lease expires and the members shrink; node-2 restarted on its kept tier rejoins
# and serves what it kept: a fresh read of the first tree costs the UFS no byte. Prints the time a
# dead node takes to leave and a new one to join.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/walkthrough.sh"
. "$here/../helpers/cluster_top.sh"
. "$here/lib.sh"

INTERVAL=1 # seconds between Lease renewals: a node is out 6 of them after its last
QUOTA_MI=256

[ "$(id -u)" -eq 0 ] || fail "members.sh needs root: each weir-node gets its own tier in a mount namespace (unshare -m) and serves FUSE views"
[ -c /dev/fuse ] || fail "members.sh needs /dev/fuse"
command -v unshare >/dev/null && command -v nsenter >/dev/null || fail "unshare and nsenter (util-linux) are needed"
find_weir_bins
find_controller_bin
TMP="$(mktemp -d /tmp/weir-k8s-members.XXXXXX)"
TIERS="$(mktemp -d /dev/shm/weir-k8s-members.XXXXXX)"
at_exit 'rm -rf "$TMP" "$TIERS"'
weir_setup "$TMP"


declare -A NPID PPORT MPORT ID
dump() {
	local f
	for f in "$TMP"/node-*.log "$TMP/controller.log"; do
		[ -s "$f" ] || continue
		echo "---- last 30 lines of $f ----" >&2
		tail -n 30 "$f" >&2
	done
}
at_exit '[ "$WEIR_EXIT_RC" -eq 0 ] || dump'
stop_all() {
	local i
	for i in "${!NPID[@]}"; do pid_stop -t 10 "${NPID[$i]}"; done
}
at_exit stop_all

# start_node I: weir-node node-I in a mount namespace of its own, where its own tier directory
# covers the Runtime's tier path; no peers list: its members come from the Leases.
start_node() {
	local i="$1"
	mkdir -p "$TMP/node-$i" "$TIERS/node-$i"
	chmod 700 "$TIERS/node-$i"
	# `weir mount -n NS DATASET` asks the state directory's controller socket for the plan;
	# on Kubernetes the node answers plan requests itself
	ln -sfn node.sock "$TMP/node-$i/controller.sock"
	unshare --mount --propagation private -- sh -c \
		'mount --bind "$1" "$2" && shift 2 && exec "$@"' sh "$TIERS/node-$i" "$WEIR_TIER_DIR" \
		"$WEIR_NODE_BIN" --state-dir "$TMP/node-$i" --kubeconfig "$KUBECONFIG" --node-name "node-$i" \
		--report-interval "$INTERVAL" --peer-listen "127.0.0.1:${PPORT[$i]}" \
		--peer-key-secret weir-peer --near-cache 0 --metrics-listen "127.0.0.1:${MPORT[$i]}" \
		--bpf 0 >>"$TMP/node-$i.log" 2>&1 &
	NPID[$i]=$!
	pid_track "${NPID[$i]}"
}

# members_line I NAMES: node-I's log says its members are now NAMES, more than SEEN[I] times.
declare -A SEEN
members_count() { grep -c "cluster: members now $2 " "$TMP/node-$1.log" || true; }
members_now() { [ "$(members_count "$1" "$2")" -gt "${SEEN[$1,$2]:-0}" ]; }

# in_ns I CMD...: CMD in node-I's mount namespace (where its views are)
in_ns() {
	local i="$1"
	shift
	nsenter -m -t "${NPID[$i]}" "$@"
}

# metric I NAME: NAME on node-I's /metrics (summed over labels); fails if absent
metric() {
	local out
	out="$(curl -fsS --max-time 10 -H "Authorization: Bearer $(cat "$TMP/node-$1/metrics.token")" "http://127.0.0.1:${MPORT[$1]}/metrics")" || fail "node-$1's /metrics does not answer"
	printf '%s\n' "$out" | awk -v n="$2" '$1 ~ ("^" n "([{]|$)") { s += $2; found = 1 } END { if (!found) exit 1; printf "%d\n", s }' ||
		fail "node-$1's /metrics has no $2"
}

# ufs_bytes PREFIX: object body bytes nginx sent for paths under PREFIX (listings excluded)
ufs_bytes() {
	awk -F'"' -v p="$1" '$2 ~ /^GET / { split($2, r, " "); if (index(r[2], p) == 1 && r[2] !~ /\/$/) { split($3, f, " "); s += f[2] } } END { printf "%d\n", s }' "$NGINX_ACCESS_LOG"
}

# mount_view I DIR: Dataset members/tree at DIR on node-I (the node's own plan)
mount_view() {
	mkdir -p "$2"
	timeout -k 5 120 "$WEIR_BIN" --state-dir "$TMP/node-$1" mount -n members tree "$2" \
		>"$TMP/mount-$1.out" 2>&1 || { cat "$TMP/mount-$1.out" >&2; fail "weir mount -n members tree on node-$1 failed (above)"; }
	kwait 10 "node-$1's view at $2" in_ns "$1" mountpoint -q "$2"
}

# check_copy WHAT SUB DEST: cmps every file of the tree's SUB with DEST's
check_copy() {
	local what="$1" sub="$2" dst="$3" f n=0 want
	want=$(find "$TREE/$sub" -type f | wc -l)
	while IFS= read -r f; do
		cmp "$TREE/$sub/$f" "$dst/$f" || fail "$sub/$f read through $what differs from the server's copy"
		n=$((n + 1))
	done < <(cd "$TREE/$sub" && find . -type f -printf '%P\n')
	[ "$n" -eq "$want" ] || fail "compared $n files of $sub, expected $want"
}

step "a kube-apiserver and etcd on loopback; the CRDs; the cluster's peer key in Secret weir-peer"
k8s_start "$TMP/k8s"
k8s_apply_crds
PEER_KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
kc create secret generic weir-peer -n default --from-literal=peer.key="$PEER_KEY" | sed 's/^/  /'
ok "apiserver ready in ${K8S_START_SECONDS} s"

step "two trees behind nginx: first/ (read by all) and second/ (read while a node dies)"
TREE="$TMP/tree"
mkdir -p "$TREE/first/sub" "$TREE/second"
rand_file "$TREE/first/a.bin" $((20 * 1048576 + 123)) a
rand_file "$TREE/first/b.bin" $((13 * 1048576 + 7)) b
rand_file "$TREE/first/sub/c.bin" $((9 * 1048576 + 1)) c
rand_file "$TREE/first/sub/e.bin" 70000 e
rand_file "$TREE/second/f.bin" $((24 * 1048576 + 5)) f
rand_file "$TREE/second/g.bin" $((11 * 1048576)) g
mkdir -p "$TREE/third"
rand_file "$TREE/third/h.bin" $((18 * 1048576 + 3)) h
rand_file "$TREE/third/i.bin" $((10 * 1048576 + 9)) i
FIRST=$(($(find "$TREE/first" -type f -printf '%s+') 0))
SECOND=$(($(find "$TREE/second" -type f -printf '%s+') 0))
nginx_start "$TMP/nginx" "$TREE"
ok "nginx (pid $NGINX_PID) at $NGINX_URL: first/ $FIRST bytes, second/ $SECOND bytes"

step "three weir-nodes, no peers list: each finds the others in their Leases (and their pods)"
# node_pod NODE PORT: the pod of the chart's DaemonSet on NODE, as weir-nodes see it (no kubelet
# runs it: the weir-nodes here are processes of this test): the DaemonSet's labels, Running, at
# 127.0.0.1, its container port "peer" PORT, where the node serves its blocks. A Lease is a
# member only while one runs (at its URL's address and port).
node_pod() {
	kc create -f - <<YAML | sed 's/^/  /'
apiVersion: v1
kind: Pod
metadata:
  name: weir-node-$1
  namespace: default
  labels: {app.kubernetes.io/name: weir, app.kubernetes.io/component: node}
spec:
  nodeName: $1
  automountServiceAccountToken: false
  containers: [{name: weir-node, image: weir, ports: [{name: peer, containerPort: $2}]}]
YAML
	kc patch pod "weir-node-$1" -n default --subresource=status --type=merge \
		-p '{"status":{"phase":"Running","podIP":"127.0.0.1","podIPs":[{"ip":"127.0.0.1"}],"conditions":[{"type":"Ready","status":"True"},{"type":"ContainersReady","status":"True"}]}}' | sed 's/^/  /'
}
k8s_namespace default
for i in 1 2 3; do
	PPORT[$i]="$(free_port)"
	MPORT[$i]="$(free_port)"
done
for i in 1 2 3; do node_pod "node-$i" "${PPORT[$i]}"; done
T0=$(now)
for i in 1 2 3; do start_node "$i"; done
for i in 1 2 3; do kwait 60 "node-$i ready" grep -q 'ready on' "$TMP/node-$i.log"; done
for i in 1 2 3; do kwait 30 "node-$i's members node-1,node-2,node-3" members_now "$i" node-1,node-2,node-3; done
T_FORM="$(elapsed "$T0" "$(now)")"
for i in 1 2 3; do
	[ "$(jp lease "weir-node-node-$i" -n default -o 'jsonpath={.metadata.annotations.weir\.io/peer}')" = "http://127.0.0.1:${PPORT[$i]}" ] ||
		fail "Lease weir-node-node-$i does not carry node-$i's peer URL http://127.0.0.1:${PPORT[$i]}"
	grep -q 'peers = ' "$TMP/node-$i/node.conf" 2>/dev/null && fail "node-$i has a peers list"
	ID[$i]="$("$WEIR_NODE_BIN" --state-dir "$TMP/node-$i" --print-node-id)" || fail "weir-node --print-node-id for node-$i failed"
	[ "$(jp lease "weir-node-node-$i" -n default -o 'jsonpath={.metadata.annotations.weir\.io/node-id}')" = "${ID[$i]}" ] ||
		fail "Lease weir-node-node-$i does not carry node-$i's identity ${ID[$i]} (weir-node --print-node-id)"
done
ok "three members on every node $T_FORM s after start; each Lease names its node's peer URL and identity"

step "hostile Leases do not become members; a node whose key Secret is missing does not start"
now_micro() { date -u +%Y-%m-%dT%H:%M:%S.000000Z; }
# member_mac NODE URL ID: the key's proof a node puts in its Lease (daemon/peer_auth.h)
member_mac() {
	python3 -c 'import hashlib, hmac, sys
print(hmac.new(sys.argv[1].encode(), ("weir-peer-member-v2\n%s\n%s\n%s" % (sys.argv[2], sys.argv[3], sys.argv[4])).encode(), hashlib.sha256).hexdigest())' "$PEER_KEY" "$1" "$2" "$3"
}
# forge_start N ID: a holder of the key rewrites node-N's Lease with identity ID and the key's
# MAC for it every 0.2 s, until forge_stop N; FORGER[N] is its pid
declare -A FORGER
forge_start() {
	local n="$1" id="$2" mac
	mac="$(member_mac "node-$n" "http://127.0.0.1:${PPORT[$n]}" "$id")"
	(
		while [ -d "$TMP" ] && [ ! -e "$TMP/forge-$n.stop" ]; do
			kc annotate lease "weir-node-node-$n" -n default --overwrite "weir.io/node-id=$id" \
				"weir.io/peer-mac=$mac" >/dev/null 2>&1 || true
			sleep 0.2
		done
	) &
	FORGER[$n]=$!
	pid_track "${FORGER[$n]}"
	at_exit "touch '$TMP/forge-$n.stop'; pid_stop -t 5 ${FORGER[$n]}"
}
forge_stop() {
	touch "$TMP/forge-$1.stop"
	wait "${FORGER[$1]}" || true
}
# not_proven I N ID: node-I's log refuses node-N's Lease naming identity ID (not proven at its URL)
not_proven() { grep -q "cluster: node \"node-$2\"'s Lease names identity ${3:0:16}..., which the weir-node at its URL does not prove" "$TMP/node-$1.log"; }
# an identity's form (64 lower-case hex digits) whose private key nobody has
EVIL_ID="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# the first four carry the key's MAC (as a node holding the key would write them): their names
# and URLs are refused as such; the last two are well-formed, but
# written by someone without the key (no MAC; a MAC for another URL): not members either
EVIL_PORT="$(free_port)"
# two of them on a node that runs a weir-node pod (at their URL's address and port): nothing
# there proves their identity; the other two have none
node_pod evil-path 1
node_pod evil-creds 1
for evil in "evil node|http://127.0.0.1:1|sign" "evil-url|file:///etc/passwd|sign" "evil-path|http://127.0.0.1:1/x?y|sign" \
	"evil-creds|http://u:p@127.0.0.1:1|sign" "evil-nomac|http://127.0.0.1:$EVIL_PORT|" \
	"evil-othermac|http://127.0.0.1:$EVIL_PORT|other"; do
	IFS='|' read -r holder url how <<<"$evil"
	case "$how" in
	sign) mac="$(member_mac "$holder" "$url" "$EVIL_ID")" ;;
	other) mac="$(member_mac "$holder" "http://127.0.0.1:1" "$EVIL_ID")" ;;
	*) mac="" ;;
	esac
	kc create -f - <<YAML | sed 's/^/  /'
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: weir-node-${holder// /-}
  namespace: default
  labels: {app.kubernetes.io/name: weir-node}
  annotations: {weir.io/peer: "$url", weir.io/node-id: "$EVIL_ID"${mac:+, weir.io/peer-mac: "$mac"}}
spec: {holderIdentity: "$holder", leaseDurationSeconds: 3600, renewTime: "$(now_micro)"}
YAML
done
# the two with a pod: nobody at their URL proves their identity
unproven_evil() { grep -q "cluster: node \"evil-$2\"'s Lease names identity ${EVIL_ID:0:16}..., which the weir-node at its URL does not prove" "$TMP/node-$1.log"; }
for i in 1 2 3; do for e in path creds; do kwait 10 "node-$i refusing evil-$e's unproven identity" unproven_evil "$i" "$e"; done; done
sleep 1.5 # three rounds of every node's member sync
for i in 1 2 3; do
	[ "$(members_count "$i" node-1,node-2,node-3)" -eq 1 ] && ! grep -q 'members now .*evil' "$TMP/node-$i.log" ||
		fail "node-$i's members changed with the hostile Leases: $(grep 'members now' "$TMP/node-$i.log")"
done
for i in 1 2 3; do kwait 10 "node-$i refusing the Leases without the key's MAC" grep -q 'cluster: Lease(s) of "evil-nomac", "evil-othermac": no weir.io/peer-mac' "$TMP/node-$i.log"; done
for i in 1 2 3; do kwait 10 "node-$i refusing the Leases of nodes with no weir-node pod" grep -q 'cluster: Lease(s) of "evil-url": no weir-node pod' "$TMP/node-$i.log"; done
kc delete lease -n default weir-node-evil-node weir-node-evil-url weir-node-evil-path weir-node-evil-creds \
	weir-node-evil-nomac weir-node-evil-othermac | sed 's/^/  /'
kc delete pod -n default weir-node-evil-path weir-node-evil-creds --grace-period=0 --force 2>/dev/null | sed 's/^/  /'
note "$(grep -h 'evil-path.*does not prove' "$TMP/node-1.log" | head -1)"
mkdir -p "$TMP/node-x"
if timeout 30 unshare --mount --propagation private -- "$WEIR_NODE_BIN" --state-dir "$TMP/node-x" \
	--kubeconfig "$KUBECONFIG" --node-name node-x --peer-listen "127.0.0.1:$(free_port)" \
	--peer-key-secret no-such-secret --metrics-listen= --bpf 0 >"$TMP/node-x.log" 2>&1; then
	fail "weir-node started with a peer key Secret that does not exist"
fi
grep -q 'peer-key-secret: Secret "default/no-such-secret" is not there' "$TMP/node-x.log" ||
	fail "weir-node's error does not name the missing Secret: $(tail -3 "$TMP/node-x.log")"
ok "6 hostile Leases skipped (2 of them for want of the key's MAC, 1 for want of a weir-node pod, 2 for want of a proof at their URL), members unchanged; a missing Secret: $(grep -m1 'Secret "default/no-such-secret"' "$TMP/node-x.log" | cut -c1-300)"

step "a Lease is a member only while its node runs a weir-node pod: node-3's pod deleted, then a new one"
# What a holder of the cluster key who may write Leases cannot do now: make a member of a node
# the cluster does not run (its Lease well signed, as node-3's is)
for i in 1 2; do SEEN[$i,node-1,node-2]=$(members_count "$i" node-1,node-2); done
kc delete pod -n default weir-node-node-3 --grace-period=0 --force 2>/dev/null | sed 's/^/  /'
for i in 1 2; do kwait 15 "node-$i's members shrinking to node-1,node-2 (node-3's Lease fresh, its pod gone)" members_now "$i" node-1,node-2; done
for i in 1 2; do grep -q 'cluster: Lease(s) of "node-3": no weir-node pod' "$TMP/node-$i.log" || fail "node-$i does not say why node-3 is out"; done
renewed="$(jp lease weir-node-node-3 -n default -o 'jsonpath={.spec.renewTime}')"
age=$(($(date +%s) - $(date -d "$renewed" +%s 2>/dev/null || echo 0)))
[ "$age" -le 5 ] || fail "node-3's Lease was last renewed $age s ago ($renewed): it is not fresh, the step proves nothing"
for i in 1 2; do SEEN[$i,node-1,node-2,node-3]=$(members_count "$i" node-1,node-2,node-3); done
# a pod on node-3 at another port than node-3's URL's attests nothing either
node_pod node-3 "$(free_port)"
sleep 1.5 # three member rounds
for i in 1 2; do members_now "$i" node-1,node-2,node-3 && fail "node-$i took node-3 back with a pod at another port"; done
kc delete pod -n default weir-node-node-3 --grace-period=0 --force 2>/dev/null | sed 's/^/  /'
# A holder of the key rewrites node-3's Lease with its own identity (the key's MAC for it) while
# node-3's new pod comes: a new pod's Lease is taken only once the weir-node at its URL proves
# the identity, and node-3's own weir-node answers with its own key
FORGED3="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
forge_start 3 "$FORGED3"
node_pod node-3 "${PPORT[3]}"
for i in 1 2; do kwait 15 "node-$i's members back to node-1,node-2,node-3 (a new pod on node-3)" members_now "$i" node-1,node-2,node-3; done
for i in 1 2; do kwait 15 "node-$i refusing node-3's forged identity (not proven)" not_proven "$i" 3 "$FORGED3"; done
forge_stop 3
for i in 1 2; do
	kwait 10 "node-$i's pins naming node-3's own identity" grep -q "^node-3	${ID[3]}	" "$TMP/node-$i/member-pins"
	! grep -q "$FORGED3" "$TMP/node-$i/member-pins" || fail "node-$i pinned the forged identity of node-3: $(cat "$TMP/node-$i/member-pins")"
done
# the node controller marks the pods of a node it lost not Ready (ContainersReady left True),
# their phase still Running: such a pod attests nothing; weir-csi not ready (ContainersReady
# False, weir-node's container ready) takes nothing away
for i in 1 2; do SEEN[$i,node-1,node-2]=$(members_count "$i" node-1,node-2); done
pod_status() { kc patch pod weir-node-node-3 -n default --subresource=status --type=merge -p "{\"status\":$1}" | sed 's/^/  /'; }
pod_status '{"conditions":[{"type":"Ready","status":"False"},{"type":"ContainersReady","status":"False"}],"containerStatuses":[{"name":"weir-node","ready":true,"restartCount":0,"image":"weir","imageID":"","state":{"running":{}}},{"name":"weir-csi","ready":false,"restartCount":1,"image":"weir","imageID":"","state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}'
sleep 1.5 # three member rounds
for i in 1 2; do members_now "$i" node-1,node-2 && fail "node-$i took node-3 out for its weir-csi container"; done
pod_status '{"conditions":[{"type":"Ready","status":"False"},{"type":"ContainersReady","status":"True"}]}'
for i in 1 2; do kwait 15 "node-$i's members without node-3 (its pod marked not Ready by the node controller)" members_now "$i" node-1,node-2; done
for i in 1 2; do SEEN[$i,node-1,node-2,node-3]=$(members_count "$i" node-1,node-2,node-3); done
pod_status '{"conditions":[{"type":"Ready","status":"True"},{"type":"ContainersReady","status":"True"}]}'
for i in 1 2; do kwait 15 "node-$i's members with node-3 again (Ready)" members_now "$i" node-1,node-2,node-3; done
ok "node-3 out while no weir-node pod ran on it, back with a new one under its own identity; a forged one written meanwhile not proven, not taken; out while its pod was marked not Ready, not for its weir-csi container"

step "Dataset members/tree with a Runtime of 3 replicas; a view of it on every node"
k8s_namespace members
# dataset_with_runtime NAME URL: Dataset members/NAME over URL with a Runtime of 3 replicas
dataset_with_runtime() {
	kc create -f - <<YAML | sed 's/^/  /'
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata: {name: $1, namespace: members}
spec:
  mounts:
    - mountPoint: $2
---
apiVersion: data.fluid.io/v1alpha1
kind: AlluxioRuntime
metadata: {name: $1, namespace: members}
spec:
  replicas: 3
  tieredstore:
    levels:
      - {mediumtype: MEM, path: $WEIR_TIER_DIR, quota: ${QUOTA_MI}Mi}
YAML
}
dataset_with_runtime tree "$NGINX_URL"
"$WEIR_CONTROLLER_BIN" --kubeconfig "$KUBECONFIG" --state-dir "$TMP/ctl" --identity ctl-1 \
	--lease-duration 6 --resync-interval 1 >"$TMP/controller.log" 2>&1 &
CTL=$!
pid_track "$CTL"
at_exit "pid_stop -t 10 $CTL"
kwait 60 "members/tree Bound" is Bound dataset tree -n members -o 'jsonpath={.status.phase}'
# pod NAME NS NODE [CLAIM]: a pod bound to NODE that mounts claim CLAIM (default tree); no kubelet
# runs it: what the controller sees is a pod scheduled there
pod() {
	kc create -f - <<YAML | sed 's/^/  /'
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: $2}
spec:
  nodeName: $3
  automountServiceAccountToken: false
  containers: [{name: c, image: busybox, command: [sleep, "3600"], volumeMounts: [{name: d, mountPath: /data}]}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: ${4:-tree}}}]
YAML
}
for i in 1 2 3; do pod "view-$i" members "node-$i"; done
kwait 30 "members/tree's viewNodes naming the three nodes" is "node-1 node-2 node-3" dataset tree -n members -o 'jsonpath={.status.viewNodes[*]}'
for i in 1 2 3; do mount_view "$i" "$TMP/mnt-$i"; done
ok "Bound; a pod mounting its claim on each node (viewNodes $(jp dataset tree -n members -o 'jsonpath={.status.viewNodes}')); views at $TMP/mnt-{1,2,3}"

step "first/ read through the three views at once while node-2's Lease names another identity: nginx serves each byte once"
# A holder of the cluster key who may write Leases rewrites node-2's Lease with its own
# identity and the key's correct (v2) MAC for it, again and again against node-2's renewals, to
# then ask the others as node-2. node-1 and node-3 keep the identity they pinned: their members
# do not change, node-2's own requests to them still pass, and the read costs the UFS no extra
# byte (without the pin node-2's requests would be refused as another node's and it would read
# the UFS).
FORGED_ID="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
refusals() { grep -c 'claiming to be node "node-2"' "$TMP/node-$1.log" || true; }
declare -A REFUSED
for i in 1 3; do
	SEEN[$i,node-1,node-2,node-3]=$(members_count "$i" node-1,node-2,node-3)
	REFUSED[$i]=$(refusals "$i")
done
forge_start 2 "$FORGED_ID"
for i in 1 3; do kwait 15 "node-$i keeping node-2's pinned identity" not_proven "$i" 2 "$FORGED_ID"; done
: >"$NGINX_ACCESS_LOG"
pids=()
for i in 1 2 3; do
	in_ns "$i" timeout -k 5 300 cp -R "$TMP/mnt-$i/first/." "$TMP/copy-$i" &
	pids+=($!)
	pid_track "$!"
done
for i in 1 2 3; do wait "${pids[$((i - 1))]}" || fail "cp -R of node-$i's view failed"; done
forge_stop 2
for i in 1 2 3; do check_copy "node-$i" first "$TMP/copy-$i"; done
for i in 1 3; do
	[ "$(members_count "$i" node-1,node-2,node-3)" -eq "${SEEN[$i,node-1,node-2,node-3]}" ] ||
		fail "node-$i's members changed while node-2's Lease named another identity: $(grep 'members now' "$TMP/node-$i.log" | tail -3)"
	[ "$(refusals "$i")" -eq "${REFUSED[$i]}" ] ||
		fail "node-$i refused node-2's requests: $(grep 'claiming to be node "node-2"' "$TMP/node-$i.log" | tail -1)"
done
note "$(grep -h -m1 "node-2.s Lease names identity.*does not prove" "$TMP/node-1.log")"
UFS_A=$(ufs_bytes /first/)
[ "$UFS_A" -eq "$FIRST" ] || fail "nginx sent $UFS_A bytes of first/ ($FIRST bytes) read on three nodes: each byte must be fetched once per cluster"
for i in 1 2 3; do
	note "node-$i: UFS $(metric "$i" weir_source_ufs_fetched_bytes_total) bytes, from peers $(metric "$i" weir_peer_in_bytes_total), to peers $(metric "$i" weir_peer_out_bytes_total)"
	[ "$(metric "$i" weir_peer_out_bytes_total)" -gt 0 ] || fail "node-$i served no block to its peers: it owns none?"
done
ok "UFS bytes $UFS_A = 1.00x first/; every copy byte-exact (cmp)"

step "the Dataset's CACHED and CACHE CAPACITY are the sums over the three nodes"
kwait 30 "members/tree cachedBytes $FIRST (each block once, on its owner)" \
	is "$FIRST" dataset tree -n members -o 'jsonpath={.status.cacheStates.cachedBytes}'
CAP=$((3 * QUOTA_MI * 1048576))
kwait 30 "members/tree cacheCapacityBytes $CAP (three ${QUOTA_MI}Mi tiers)" \
	is "$CAP" dataset tree -n members -o 'jsonpath={.status.cacheStates.cacheCapacityBytes}'
ok "kubectl get dataset: $(kc get dataset tree -n members | tail -n 1 | tr -s ' ')"
kwait 30 "members/tree's spread: 3 cache nodes" is 3 dataset tree -n members -o 'jsonpath={.status.cacheStates.cacheNodes}'
lo="$(jp dataset tree -n members -o 'jsonpath={.status.cacheStates.nodeCachedMinBytes}')"
hi="$(jp dataset tree -n members -o 'jsonpath={.status.cacheStates.nodeCachedMaxBytes}')"
[ "$lo" -gt 0 ] && [ "$hi" -ge "$lo" ] && [ "$((lo + hi))" -le "$FIRST" ] ||
	fail "members/tree's spread: least $lo, most $hi bytes on a node, for $FIRST cached in all"
wide="$(timeout 30 "$WEIR_BIN" --state-dir "$TMP/ctl" get dataset tree -n members -o wide)" || fail "weir get dataset -o wide failed"
printf '%s\n' "$wide" | sed 's/^/  /'
head -1 <<<"$wide" | grep -q 'CACHE NODES' || fail "weir get dataset -o wide has no CACHE NODES column"
grep -q ' 3 (' <<<"$(tail -1 <<<"$wide")" || fail "weir get dataset -o wide does not show the 3 nodes holding the cache"
ok "spread: 3 nodes, $lo to $hi bytes each; kubectl get -o wide: $(kc get dataset tree -n members -o wide | tail -n 1 | tr -s ' ')"

step "node-2 killed while node-1 and node-3 read second/ slowly: no error, same bytes; node-2 leaves"
for i in 1 3; do
	in_ns "$i" python3 "$here/../helpers/slow_copy.py" "$TMP/mnt-$i/second" "$TMP/slow-$i" 0.05 >"$TMP/reader-$i.out" 2>&1 &
	READER[$i]=$!
	pid_track "${READER[$i]}"
done
sleep 2
for i in 1 3; do pid_alive "${READER[$i]}" || fail "node-$i's reader finished before the kill: $(cat "$TMP/reader-$i.out")"; done
for i in 1 3; do SEEN[$i,node-1,node-3]=$(members_count "$i" node-1,node-3); done
t_kill=$(now)
pid_signal KILL "${NPID[2]}"
wait "${NPID[2]}" 2>/dev/null || true
ok "killed node-2 (pid ${NPID[2]}) mid-read"
for i in 1 3; do kwait 30 "node-$i's members shrinking to node-1,node-3" members_now "$i" node-1,node-3; done
T_LEAVE="$(elapsed "$t_kill" "$(now)")"
for i in 1 3; do wait "${READER[$i]}" || fail "node-$i's reader failed after node-2 died: $(cat "$TMP/reader-$i.out")"; done
for i in 1 3; do check_copy "node-$i (node-2 killed)" second "$TMP/slow-$i"; done
failed=$(($(metric 1 weir_peer_failed_total) + $(metric 3 weir_peer_failed_total)))
UFS_B=$(ufs_bytes /second/)
ok "node-2 out of node-1's and node-3's members $T_LEAVE s after the kill (Lease $((INTERVAL * 6)) s); readers byte-exact; $failed peer request(s) failed over; UFS sent $UFS_B bytes for second/ ($SECOND)"

step "node-2 restarted on its kept tier: it rejoins and serves what it kept"
for i in 1 3; do SEEN[$i,node-1,node-2,node-3]=$(members_count "$i" node-1,node-2,node-3); done
t_start=$(now)
start_node 2
for i in 1 3; do kwait 60 "node-$i's members back to node-1,node-2,node-3" members_now "$i" node-1,node-2,node-3; done
T_JOIN="$(elapsed "$t_start" "$(now)")"
kwait 30 "node-2 ready" grep -q 'ready on' "$TMP/node-2.log"
kwait 60 "node-2's members node-1,node-2,node-3" members_now 2 node-1,node-2,node-3
# the identities it had pinned came back with it (a Lease rewritten while it restarts pins
# nothing new)
pins="$(grep -o "cluster: [0-9]* pinned member identities read from $TMP/node-2/member-pins" "$TMP/node-2.log" | awk '{print $2}' | tail -1 || true)"
[ "${pins:-0}" -ge 3 ] ||
	fail "the restarted node-2 did not read its pinned member identities back (node-1..3 at least): $(grep -i 'pinned member' "$TMP/node-2.log" | tail -2)"
grep -q "^node-1	${ID[1]}	" "$TMP/node-2/member-pins" || fail "node-2's member-pins does not pin node-1's identity: $(cat "$TMP/node-2/member-pins")"
mount_view 2 "$TMP/mnt-2b"
before=$(ufs_bytes /first/)
in_ns 2 timeout -k 5 300 cp -R "$TMP/mnt-2b/first/." "$TMP/copy-2b" || fail "cp -R of the restarted node-2's view failed"
check_copy "node-2 (restarted)" first "$TMP/copy-2b"
more=$(($(ufs_bytes /first/) - before))
[ "$more" -eq 0 ] || fail "reading first/ on the restarted node-2 made nginx send $more bytes: its kept blocks and its peers' should serve it all"
[ "$(metric 2 weir_source_ufs_fetched_bytes_total)" -eq 0 ] || fail "the restarted node-2 fetched from the UFS"
[ "$(metric 2 weir_peer_in_bytes_total)" -gt 0 ] || fail "the restarted node-2 read nothing from its peers"
# and node-1, through a view with a cold page cache, reads node-2's share from node-2 (after the
# peer blocks node-1 holds in memory, with --near-cache 0, are gone: 9 s after they came at most
# on an idle node)
timeout -k 5 60 "$WEIR_BIN" --state-dir "$TMP/node-1" umount "$TMP/mnt-1" >/dev/null 2>&1 || true
sleep 10
mount_view 1 "$TMP/mnt-1b"
out2=$(metric 2 weir_peer_out_bytes_total)
in_ns 1 timeout -k 5 300 cp -R "$TMP/mnt-1b/first/." "$TMP/copy-1b" || fail "cp -R of node-1's new view failed"
check_copy "node-1 (node-2 back)" first "$TMP/copy-1b"
[ "$(metric 2 weir_peer_out_bytes_total)" -gt "$out2" ] || fail "node-1 read nothing from the restarted node-2"
more=$(($(ufs_bytes /first/) - before))
[ "$more" -eq 0 ] || fail "node-1's fresh read of first/ made nginx send $more bytes"
ok "node-2 back in $T_JOIN s; first/ read on node-2 and again on node-1 with no UFS byte; node-2 served $(($(metric 2 weir_peer_out_bytes_total) - out2)) bytes to node-1"
# leases_sum: "BYTES NODES": members/tree's cachedBytes added up over the node Leases, and how
# many of them report the source
leases_sum() {
	kc get lease -n default -l app.kubernetes.io/name=weir-node -o json | python3 -c '
import json, sys
t = n = 0
for l in json.load(sys.stdin)["items"]:
    s = json.loads(l["metadata"].get("annotations", {}).get("weir.io/sources", "{}"))
    if "members_tree" in s:
        t += s["members_tree"].get("cachedBytes", 0)
        n += 1
print(t, n)'
}
# cached_is_sum: the Dataset's cachedBytes equal the sum the three nodes' Leases report, read
# before and after the status (a Lease renewed between two reads is no answer either way)
cached_is_sum() {
	local a b st
	a="$(leases_sum)" || return 1
	st="$(jp dataset tree -n members -o 'jsonpath={.status.cacheStates.cachedBytes}')"
	b="$(leases_sum)" || return 1
	echo "Leases (bytes nodes) $a then $b, status $st" >"$TMP/cached_is_sum"
	[ "$a" = "$b" ] && [ "$a" = "$st 3" ]
}
# The controller follows the Leases within a renewal, a pass and a status write. Right after the
# reads the restarted node-2's Lease may not report the source its view opened yet (it renews
# every $INTERVAL s), and it then adds node-2's share (32 MiB, 8 blocks). The former "KNOWN BUG"
# (status 89199096 vs Leases 55644664, exactly node-2's 33554432 apart) was one such pair: the
# Leases read just before node-2's renewal, the status read just after the controller took it;
# the comparison before had agreed (without node-2), and CI's step 9 -> 10 took about 1 s, not
# the 30 s it claimed. So: wait for the three nodes to report, the Leases to hold still across
# the status read, and the status to equal their sum; fail if that does not come in 30 s.
t_sum=$(now) agreed=""
for _ in $(seq 1 100); do
	if cached_is_sum; then agreed=1 && break; fi
	sleep 0.3
done
[ -n "$agreed" ] || fail "members/tree cachedBytes is not the sum of the three Leases' after 30 s: $(cat "$TMP/cached_is_sum")"
note "the status equals the three Leases' sum $(elapsed "$t_sum" "$(now)") s after the reads: $(cat "$TMP/cached_is_sum")"
ok "kubectl get dataset: $(kc get dataset tree -n members | tail -n 1 | tr -s ' ')"

step "weir top on a node shows the cluster's traffic, as weir-controller adds it up over the nodes' Leases"
kwait 30 "weir top's cluster totals equal to the sums of the three nodes' /metrics" cluster_top_is_sum "$TMP/node-1" "$TMP/top.json" 3
timeout 30 "$WEIR_BIN" --state-dir "$TMP/node-1" top --once | grep '^cluster' | sed 's/^/  /'
timeout 30 "$WEIR_BIN" --state-dir "$TMP/node-1" top --once | grep -q '^cluster: 3 nodes — UFS' ||
	fail "weir top --once has no cluster-wide line"
# the line is the controller's sum (Lease weir-cluster), not the node's own over the Leases
[ "$(jp lease weir-cluster -n default -o 'jsonpath={.spec.holderIdentity}')" = weir-controller ] ||
	fail "no Lease default/weir-cluster held by weir-controller: the cluster's traffic is not the controller's"
jp lease weir-cluster -n default -o 'jsonpath={.metadata.annotations.weir\.io/cluster-traffic}' >"$TMP/cluster-traffic.json"
timeout 30 "$WEIR_BIN" --state-dir "$TMP/node-1" top --once -o json >"$TMP/top.json"
python3 - "$TMP/cluster-traffic.json" "$TMP/top.json" <<'PY' || fail "weir top's cluster line differs from the controller's Lease weir-cluster"
import json, sys
c = json.load(open(sys.argv[1]))
t = json.load(open(sys.argv[2]))["cluster"]["total"]
pairs = [("nodes", "nodes"), ("ufsBytes", "ufs_bytes"), ("peerInBytes", "peer_in_bytes"), ("peerOutBytes", "peer_out_bytes"), ("hitBytes", "hit_bytes"), ("missBytes", "miss_bytes")]
bad = [(a, c.get(a), t.get(b)) for a, b in pairs if c.get(a) != t.get(b)]
print("  Lease weir-cluster:", c)
sys.exit(1 if bad else 0)
PY
ok "weir top: 3 nodes, cluster UFS and peer bytes equal to the nodes' /metrics summed, as weir-controller's Lease weir-cluster says"

step "a node whose pods do not mount the source is served none of its blocks; a pod bound to it brings them back"
# no_view I: how many times node-I refused a node for want of a view
no_view() { grep -c 'no view of its source [^ ]* is granted to it' "$TMP/node-$1.log" || true; }
# cold_read_3 DIR FILE...: node-3 reads FILEs of first/ through a fresh view at DIR (no page
# cache) and cmps them; MORE: the bytes nginx sent for them. node-3 last read first/ from its
# peers in step 6, so the blocks it held in memory then (--near-cache 0: 9 s at most) are gone;
# blocks node-3 reads from the UFS itself it keeps, so each read takes files the other did not.
cold_read_3() {
	local dir="$1" before f
	shift
	mount_view 3 "$dir"
	before=$(ufs_bytes /first/)
	for f in "$@"; do
		in_ns 3 timeout -k 5 300 cat "$dir/first/$f" >"$TMP/copy-3n" || fail "reading first/$f on node-3's view $dir failed"
		cmp "$TREE/first/$f" "$TMP/copy-3n" || fail "first/$f read on node-3 ($dir) differs from the server's copy"
	done
	MORE=$(($(ufs_bytes /first/) - before))
}
kc delete pod view-3 -n members --grace-period=0 --force 2>/dev/null | sed 's/^/  /'
kwait 30 "members/tree's viewNodes without node-3" is "node-1 node-2" dataset tree -n members -o 'jsonpath={.status.viewNodes[*]}'
# hostile: a pod bound to node-3 that mounts a claim of the same name in a namespace with no
# such Dataset, one that mounts it in members but has ended, another claim of members: none
# grants node-3 anything
k8s_namespace intruder
pod claim-alike intruder node-3
pod ended members node-3
kc patch pod ended -n members --subresource=status --type=merge -p '{"status":{"phase":"Succeeded"}}' | sed 's/^/  /'
pod other-claim members node-3 treeish
# and in the same batch one that does grant (node-x: no weir-node runs there): once it shows,
# the controller has seen the hostile ones too
pod witness members node-x
kwait 30 "members/tree's viewNodes naming node-x, not node-3" is "node-1 node-2 node-x" dataset tree -n members -o 'jsonpath={.status.viewNodes[*]}'
sleep 2 # two more passes of the controller (resync 1 s)
is "node-1 node-2 node-x" dataset tree -n members -o 'jsonpath={.status.viewNodes[*]}' ||
	fail "members/tree's viewNodes changed with pods that do not mount it: $(jp dataset tree -n members -o 'jsonpath={.status.viewNodes}')"
kc delete pod witness -n members --grace-period=0 --force 2>/dev/null | sed 's/^/  /'
kwait 30 "members/tree's viewNodes without node-x" is "node-1 node-2" dataset tree -n members -o 'jsonpath={.status.viewNodes[*]}'
refused1=$(no_view 1) refused2=$(no_view 2) in3=$(metric 3 weir_peer_in_bytes_total)
t0=$(now)
cold_read_3 "$TMP/mnt-3c" a.bin sub/e.bin
T_REFUSED=$(date +%s.%N) # node-3 asks no peer for the source for 10 s after the last refusal
more=$MORE
T_NOVIEW="$(elapsed "$t0" "$(now)")"
[ "$more" -gt 0 ] || fail "node-3, with no pod mounting members/tree, read first/ and nginx sent no byte: its peers served it"
[ "$(metric 3 weir_peer_in_bytes_total)" -eq "$in3" ] || fail "node-3, with no pod mounting members/tree, was served $(($(metric 3 weir_peer_in_bytes_total) - in3)) bytes by its peers"
[ "$(no_view 1)" -gt "$refused1" ] || [ "$(no_view 2)" -gt "$refused2" ] ||
	fail "neither node-1 nor node-2 logged refusing node-3 for want of a view"
[ "$(metric 3 weir_peer_no_view_total)" -gt 0 ] || fail "node-3's weir_peer_no_view_total did not count its peers' refusals"
grep -q 'source members_tree: the peers serve this node none of its blocks: no pod on this node mounts it' "$TMP/node-3.log" ||
	fail "node-3 does not say why its peers serve it nothing"
note "$(grep -h -m1 'no view of its source [^ ]* is granted to it' "$TMP/node-1.log" "$TMP/node-2.log" | head -1 | cut -c1-260)"
ok "node-3 without a pod: nginx sent $more bytes of first/a.bin and sub/e.bin (the blocks node-1 and node-2 hold), its peers none; byte-exact ($T_NOVIEW s)"
# node-3 asks node-1 itself, with the cluster key and its own identity: a block, a load that
# would have node-1 hand it blocks, a push of a block: each refused for want of a view (451)
A_SIZE=$(stat -c %s "$TREE/first/a.bin") A_MTIME=$(stat -c %Y "$TREE/first/a.bin")
A_ETAG="$(printf '"%x-%x"' "$A_MTIME" "$A_SIZE")"
printf '%s\n' "$PEER_KEY" >"$TMP/peer.key" && chmod 600 "$TMP/peer.key"
# as3 ARGS...: peer_request.py to node-1 as node-3, signed by node-3's identity
as3() {
	python3 "$here/../helpers/peer_request.py" "http://127.0.0.1:${PPORT[1]}" "$TMP/peer.key" node-3 members_tree "$@" \
		--to node-1 --id-key "$TMP/node-3/node-id.key"
}
dd if="$TREE/first/a.bin" bs=4M skip=1 count=1 of="$TMP/block1" 2>/dev/null
for what in "a block|/first/a.bin 1 $A_SIZE $A_MTIME $A_ETAG" \
	"a load handing node-3 blocks|{\"paths\":[\"/first/a.bin\"],\"nodes\":[\"node-1\",\"node-3\"]} $RANDOM$RANDOM 1 0 weir-load --load" \
	"a push of a block|/first/a.bin 1 $A_SIZE $A_MTIME $A_ETAG --push $TMP/block1"; do
	IFS='|' read -r label args <<<"$what"
	read -r -a argv <<<"$args"
	got="$(as3 "${argv[@]}")" || fail "peer_request.py failed for $label"
	[ "$got" = 451 ] || fail "node-3 without a pod asked node-1 for $label: answered $got, expected 451"
done
# node-2 may read the source, but a load it asks of node-1 that names node-3 among its nodes
# would have node-1 hand node-3 blocks: refused too
got="$(python3 "$here/../helpers/peer_request.py" "http://127.0.0.1:${PPORT[1]}" "$TMP/peer.key" node-2 members_tree \
	'{"paths":["/first/a.bin"],"nodes":["node-1","node-2","node-3"]}' "$RANDOM$RANDOM" 1 0 weir-load --load \
	--to node-1 --id-key "$TMP/node-2/node-id.key")" || fail "peer_request.py failed for node-2's load"
[ "$got" = 451 ] || fail "node-2 asked node-1 for a load naming node-3 (no pod): answered $got, expected 451"
ok "node-3's own requests to node-1 without a pod: a block, a load, a push: 451 each; node-2's load naming node-3: 451"
# the grant comes back through a reference from another namespace: Dataset others/tree-ref
# (dataset://members/tree; no sharing list: any namespace may read it) and a pod of others bound
# to node-3 that mounts the reference's claim
k8s_namespace others
kc create -f - <<YAML | sed 's/^/  /'
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata: {name: tree-ref, namespace: others}
spec:
  mounts:
    - mountPoint: dataset://members/tree
YAML
kwait 60 "others/tree-ref Bound" is Bound dataset tree-ref -n others -o 'jsonpath={.status.phase}'
pod view-3b others node-3 tree-ref
kwait 30 "members/tree's viewNodes naming node-3 again (its pod mounts others/tree-ref)" is "node-1 node-2 node-3" dataset tree -n members -o 'jsonpath={.status.viewNodes[*]}'
in3=$(metric 3 weir_peer_in_bytes_total)
# the refusals' memo on node-3 (FETCH_NO_VIEW_MS, 10 s) ends before it asks again
sleep "$(python3 -c 'import sys, time; print(max(0.0, 11 - (time.time() - float(sys.argv[1]))))' "$T_REFUSED")"
cold_read_3 "$TMP/mnt-3d" b.bin sub/c.bin
more=$MORE
[ "$more" -eq 0 ] || fail "node-3, with a pod mounting a reference to members/tree, made nginx send $more bytes of first/"
[ "$(metric 3 weir_peer_in_bytes_total)" -gt "$in3" ] || fail "node-3, with a pod mounting a reference to members/tree, read nothing from its peers"
# Read again at once with the page cache dropped, b.bin comes from the blocks node-3 keeps in
# memory (--near-cache 0: 6 s): READs answered there are hits, not misses (they counted as
# misses: the hit ratio of a node reading from its peers stayed 0)
hm() { in_ns 3 "$WEIR_BIN" --state-dir "$TMP/node-3" stat "$TMP/mnt-3d" -o json >"$TMP/stat3.json" &&
	echo "$(json_get "$TMP/stat3.json" hits) $(json_get "$TMP/stat3.json" misses)"; }
read -r h0 m0 <<<"$(hm)" || fail "weir stat of node-3's view failed"
sync && echo 1 >/proc/sys/vm/drop_caches
in_ns 3 timeout -k 5 60 cat "$TMP/mnt-3d/first/b.bin" >"$TMP/copy-3n" || fail "reading first/b.bin again on node-3 failed"
cmp "$TREE/first/b.bin" "$TMP/copy-3n" || fail "first/b.bin read again on node-3 differs"
read -r h1 m1 <<<"$(hm)" || fail "weir stat of node-3's view failed"
[ "$((h1 - h0))" -gt 0 ] && [ "$((m1 - m0))" -eq 0 ] ||
	fail "node-3's re-read of first/b.bin from its memory counted $((h1 - h0)) hit(s) and $((m1 - m0)) miss(es): expected hits only"
note "node-3's re-read of first/b.bin from memory: $((h1 - h0)) hits, no miss"
got="$(as3 /first/a.bin 1 "$A_SIZE" "$A_MTIME" "$A_ETAG" --out "$TMP/block1-got")" || fail "peer_request.py failed"
[ "$got" = 200 ] || fail "node-3 with a pod asked node-1 for a block of first/a.bin: $got, expected 200"
cmp "$TMP/block1" "$TMP/block1-got" || fail "the block node-1 served node-3 differs from bytes 4-8 MiB of first/a.bin"
ok "a pod bound to node-3 that mounts a reference to members/tree from another namespace: first/b.bin and sub/c.bin read with no UFS byte, $(($(metric 3 weir_peer_in_bytes_total) - in3)) bytes from its peers"

step "a DataLoad of a Dataset no pod mounts completes on the three nodes, no node refusing another; no grant is left after it (the grant while it runs: check_view_nodes)"
# refused_all: the refusals the three nodes counted (weir_peer_refused_total: every one, logged or not)
refused_all() { echo $(($(metric 1 weir_peer_refused_total) + $(metric 2 weir_peer_refused_total) + $(metric 3 weir_peer_refused_total))); }
r0=$(refused_all)
# The DataLoad comes with its Dataset, before any node opened the source: Bound comes with the
# first node's report, and a run started then had its shares hashed over the nodes each node
# saw (one that saw two fetched what one that saw three fetched too: nginx sent 1.36x once);
# the run waits for the three nodes to report the source (controller/reconciler.c).
dataset_with_runtime third "${NGINX_URL}third/"
kc create -f - <<YAML | sed 's/^/  /'
apiVersion: data.fluid.io/v1alpha1
kind: DataLoad
metadata: {name: warm-third, namespace: members}
spec:
  dataset: {name: third, namespace: members}
YAML
kwait 60 "members/third Bound" is Bound dataset third -n members -o 'jsonpath={.status.phase}'
kwait 120 "DataLoad members/warm-third Complete" is Complete dataload warm-third -n members -o 'jsonpath={.status.phase}'
# the run's one node set: each node's share (its Lease) was computed over the three, and no node
# redid its share for a set that changed under it (the race: a node that saw fewer)
UID_T="$(jp dataload warm-third -n members -o 'jsonpath={.metadata.uid}')"
for i in 1 2 3; do
	sets="$(kc get lease "weir-node-node-$i" -n default -o 'jsonpath={.metadata.annotations.weir\.io/loads}' |
		python3 -c 'import json, sys; s = json.load(sys.stdin).get(sys.argv[1]); print(",".join(s["nodes"]) if s else "none")' "$UID_T")" ||
		fail "reading node-$i's share of DataLoad warm-third from its Lease failed"
	[ "$sets" = node-1,node-2,node-3 ] || fail "node-$i's share of DataLoad warm-third was computed over \"$sets\", not the three nodes"
done
! grep -h "dataload members/warm-third: the nodes caching it changed" "$TMP"/node-[123].log ||
	fail "a node redid its share of DataLoad warm-third (above): the nodes did not agree on the set when the run started"
note "controller: $(grep -h 'dataload members/warm-third' "$TMP/controller.log" | head -3 | cut -c1-220 | tr '\n' ' ')"
THIRD=$(($(find "$TREE/third" -type f -printf '%s+') 0))
UFS_T=$(ufs_bytes /third/)
[ "$UFS_T" -eq "$THIRD" ] || fail "the DataLoad of third/ ($THIRD bytes) made nginx send $UFS_T bytes: each byte once"
[ "$(refused_all)" -eq "$r0" ] || fail "the nodes refused $(($(refused_all) - r0)) peer request(s) during the DataLoad of members/third: $(grep -h 'refused a' "$TMP"/node-[123].log | tail -2)"
kwait 30 "members/third cachedBytes $THIRD" is "$THIRD" dataset third -n members -o 'jsonpath={.status.cacheStates.cachedBytes}'
kwait 30 "members/third's viewNodes empty again once the load is Complete" is "" dataset third -n members -o 'jsonpath={.status.viewNodes[*]}'
ok "DataLoad Complete: nginx sent $UFS_T bytes for third/ ($THIRD, 1.00x), no node refused another; members/third cached whole, no grant left"

note "figures: members formed $T_FORM s after start; a dead node left in $T_LEAVE s (Lease $((INTERVAL * 6)) s, renewal every $INTERVAL s); a restarted node joined in $T_JOIN s; UFS bytes: first/ $UFS_A for $FIRST read on 3 nodes (1.00x), second/ $UFS_B for $SECOND read on 2 nodes across the kill"
echo "PASS"
