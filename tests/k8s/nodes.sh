#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Nodes take their work from the API (issue 8): two weir-nodes, node-1 and node-2, each with its
# own state directory and its own tiers (node-2 runs in a mount namespace of its own, a tmpfs over
# the tier path, as a second machine would have), and weir-controller with no node socket at all.
# The walkthrough binds from the nodes' Leases; a DataLoad splits across both nodes (each Lease
# shows its share, the cached bytes add up to the target once, the Dataset's CACHED is the sum);
# node-2 killed mid-load: its share moves to node-1 and the DataLoad completes; weir-csi's plan
# request answered by node-2 itself (production/spark reads development's source; a namespace
# without a grant is refused); two controller replicas registering the delete webhook keep one
# entry each, so killing the last to register leaves the other refusing; deletes purge every
# node and leave no Terminating PV or PVC, a claim used by a pod waiting for the pod. A tenant's
# Dataset outside ufs-roots is never fetched (nginx logs no request of it) and a Runtime tier
# outside tier-roots (or larger than it allows) is never made: each node refuses it itself.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/walkthrough.sh"
. "$here/lib.sh"

SCALE="${WEIR_E2E_SCALE:-0.01}"
INTERVAL=1 # seconds between node Lease renewals: a node is gone after 6 of them

[ "$(id -u)" -eq 0 ] || fail "nodes.sh needs root: node-2 gets its own tiers in a mount namespace (unshare -m)"
command -v unshare >/dev/null || fail "unshare (util-linux) is needed for node-2's mount namespace"
find_weir_bins
find_controller_bin
PLAN_CALL="${PLAN_CALL:-${WEIR_BUILD_DIR:-$WEIR_SRC/build}/tests/k8s/plan-call}"
[ -x "$PLAN_CALL" ] || fail "plan-call is not at $PLAN_CALL: build it (ninja -C build) or set PLAN_CALL"
TMP="$(mktemp -d /tmp/weir-k8s-nodes.XXXXXX)"
at_exit 'rm -rf "$TMP"'
weir_setup "$TMP"

KWAIT_STEP=0.3
gone() { ! jp "$@" >/dev/null; }

dump() {
	local f
	for f in "$TMP/node-1.log" "$TMP/node-2.log" "$TMP/controller.log"; do
		[ -s "$f" ] || continue
		echo "---- last 40 lines of $f ----" >&2
		tail -n 40 "$f" >&2
	done
}
at_exit '[ "$WEIR_EXIT_RC" -eq 0 ] || dump'

# lease_py NODE PYTHON...: runs PYTHON with l = Lease weir-node-NODE, src = its weir.io/sources,
# loads = its weir.io/loads; exits with the script's status.
lease_py() {
	local node="$1"
	shift
	kc get lease "weir-node-$node" -n default -o json >"$TMP/lease-$node.json" 2>/dev/null || return 1
	python3 - "$TMP/lease-$node.json" "$@" <<PY
import json, sys
l = json.load(open(sys.argv[1]))
a = l["metadata"].get("annotations", {})
src = json.loads(a.get("weir.io/sources", "{}"))
loads = json.loads(a.get("weir.io/loads", "{}"))
args = sys.argv[2:]
$(cat)
PY
}

# reports NODE SOURCE: node's Lease reports SOURCE open (no error)
reports() { lease_py "$1" "$2" <<<'sys.exit(not (args[0] in src and "error" not in src[args[0]]))'; }
# cached NODE SOURCE: the bytes node caches of SOURCE
cached() { lease_py "$1" "$2" <<<'print(src.get(args[0], {}).get("cachedBytes", 0))'; }

step "a kube-apiserver and etcd on loopback; the CRDs"
k8s_start "$TMP/k8s"
k8s_apply_crds
ok "apiserver ready in ${K8S_START_SECONDS} s"

step "a Spark-mirror-shaped tree behind nginx, and a slow way to it"
TREE="$TMP/tree"
wt_tree "$TREE" "$SCALE"
nginx_start "$TMP/nginx" "$TREE"
wt_manifests "$NGINX_URL" "$WEIR_TIER_DIR"
TPORT="$(free_port)"
python3 "$WEIR_SRC/tests/helpers/throttle.py" "$TPORT" "$NGINX_PORT" 30000 >"$TMP/throttle.log" 2>&1 &
TPID=$!
pid_track "$TPID"
at_exit "pid_stop $TPID"

step "weir-node as node-1 and node-2 (own state, own tiers), weir-controller with no node socket"
node_args() {
	printf '%s\n' --state-dir "$TMP/$1" --kubeconfig "$KUBECONFIG" --node-name "$1" \
		--report-interval "$INTERVAL" --metrics-listen= --bpf 0 \
		--ufs-roots "$UFS_ROOTS" --tier-roots "$WEIR_TIER_DIR:8GiB:5GiB"
}
# the administrator's policies, as the chart sets them: the same ufs-roots on the nodes and the
# controller, and where tiers may live and how much they may take together, and one namespace's
# together (the walkthrough's Runtime asks 4Gi)
UFS_ROOTS="*=$NGINX_URL,http://127.0.0.1:$TPORT/"
mkdir -p "$TMP/node-1" "$TMP/node-2"
mapfile -t A1 < <(node_args node-1)
"$WEIR_NODE_BIN" "${A1[@]}" >"$TMP/node-1.log" 2>&1 &
N1=$!
pid_track "$N1"
at_exit "pid_stop -t 10 $N1"
# node-2: the same tier path, but its own tmpfs there, seen by it alone
mapfile -t A2 < <(node_args node-2)
unshare --mount --propagation private -- sh -c \
	'mount -t tmpfs -o size=256m,mode=0700 weir-node-2 "$1" && shift && exec "$@"' \
	sh "$WEIR_TIER_DIR" "$WEIR_NODE_BIN" "${A2[@]}" >"$TMP/node-2.log" 2>&1 &
N2=$!
pid_track "$N2"
at_exit "pid_stop -t 10 $N2"
WH1="$(free_port)"
"$WEIR_CONTROLLER_BIN" --kubeconfig "$KUBECONFIG" --state-dir "$TMP/ctl" --identity ctl-1 \
	--ufs-roots "$UFS_ROOTS" --lease-duration 6 --resync-interval 1 --webhook-url "https://127.0.0.1:$WH1/validate" \
	>"$TMP/controller.log" 2>&1 &
CTL=$!
pid_track "$CTL"
at_exit "pid_stop -t 10 $CTL"
kwait 30 "node-1 ready" grep -q 'ready on' "$TMP/node-1.log"
kwait 30 "node-2 ready" grep -q 'ready on' "$TMP/node-2.log"
kwait 30 "the controller leading" is ctl-1 lease weir-controller -n default -o 'jsonpath={.spec.holderIdentity}'
[ ! -e "$TMP/ctl/node.sock" ] || fail "a node socket exists in the controller's state directory"
ok "node-1 (pid $N1), node-2 (pid $N2, tiers on its own tmpfs), controller (pid $CTL)"

T0=$(now)
step "(walkthrough 2-4) kubectl create -f dataset.yaml: both nodes open the source; Bound from their Leases"
k8s_namespace development
kc create -f "$WT_YAML/dataset.yaml" | sed 's/^/  /'
kwait 60 "node-1 reports development_spark" reports node-1 development_spark
kwait 60 "node-2 reports development_spark" reports node-2 development_spark
kwait 60 "development/spark Bound" is Bound dataset spark -n development -o 'jsonpath={.status.phase}'
kwait 60 "development/spark's ufsTotal" is "$(fmt_quantity "$WT_TOTAL")" dataset spark -n development -o 'jsonpath={.status.ufsTotal}'
ok "Bound: $(kc get dataset -A | tail -n +2 | tr -s ' ')"

step "(walkthrough 7-9) the DataLoad splits across both nodes"
kc create -f "$WT_YAML/dataload.yaml" | sed 's/^/  /'
kwait 120 "DataLoad development/spark Complete" is Complete dataload spark -n development -o 'jsonpath={.status.phase}'
UID_SPARK="$(jp dataload spark -n development -o 'jsonpath={.metadata.uid}')"
for n in node-1 node-2; do
	lease_py "$n" "$UID_SPARK" "$n" <<'PY' || fail "$n's Lease does not show its finished share of the DataLoad (above)"
s = loads.get(args[0])
ok = s and s["finished"] and not s["error"] and s["nodes"] == ["node-1", "node-2"] and s["filesTotal"] > 0
print(f"  {args[1]}: share {s}" if s else f"  {args[1]}: no share in {loads}", file=sys.stderr if not ok else sys.stdout)
sys.exit(not ok)
PY
done
C1="$(cached node-1 development_spark)"
C2="$(cached node-2 development_spark)"
[ "$C1" -gt 0 ] && [ "$C2" -gt 0 ] || fail "cached bytes node-1 $C1, node-2 $C2: one node loaded everything"
[ $((C1 + C2)) -eq "$WT_S331" ] ||
	fail "node-1 caches $C1 and node-2 $C2 bytes: $((C1 + C2)) in all; the target is $WT_S331 bytes, loaded once"
U="$(($(for n in node-1 node-2; do lease_py "$n" "$UID_SPARK" <<<'print(loads[args[0]]["ufsBytes"])'; done | paste -sd+)))"
[ "$U" -eq "$WT_S331" ] || fail "the two shares fetched $U bytes from the UFS; spark-3.3.1 is $WT_S331 bytes, fetched once"
ok "node-1 caches $C1 bytes, node-2 $C2: $((C1 + C2)) = spark-3.3.1's $WT_S331 bytes; $U fetched from the UFS: no file twice"
kwait 30 "development/spark's cachedBytes the sum over the nodes" \
	is "$WT_S331" dataset spark -n development -o 'jsonpath={.status.cacheStates.cachedBytes}'
PCT="$(fmt_percent "$WT_S331" "$WT_TOTAL")"
kwait 30 "development/spark CACHED the sum, $PCT" \
	is "$PCT" dataset spark -n development -o 'jsonpath={.status.cacheStates.cachedPercentage}'
ok "kubectl get dataset: $(kc get dataset spark -n development | tail -n 1 | tr -s ' ')"
note "DataLoad status: $(jp dataload spark -n development -o 'jsonpath={.status}' | head -c 400)"

step "(walkthrough 11-13) the production reference; node-2 answers weir-csi's plan request itself"
k8s_namespace production
kc create -f "$WT_YAML/spark-production.yaml" | sed 's/^/  /'
kwait 60 "production/spark Bound" is Bound dataset spark -n production -o 'jsonpath={.status.phase}'
kwait 30 "node-2 plans production/spark" "$PLAN_CALL" "$TMP/node-2/node.sock" production spark
out="$("$PLAN_CALL" "$TMP/node-2/node.sock" production spark)"
printf '%s\n' "$out" | sed 's/^/  /'
grep -qx 'source_id=development_spark' <<<"$out" || fail "node-2 plans production/spark on \"$(grep source_id <<<"$out")\"; expected development's source"
grep -qx 'read_write=false' <<<"$out" || fail "node-2 plans production/spark read-write"
# an allow-list on the source: production and analytics only; qa references it anyway
kc apply -f "$WT_YAML/dataset-allow-list.yaml" 2>&1 | grep -v '^Warning' | sed 's/^/  /'
k8s_namespace qa
kc create -f - <<'YAML' | sed 's/^/  /'
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata: {name: spark, namespace: qa}
spec:
  mounts:
    - mountPoint: dataset://development/spark
YAML
refused_plan() {
	! "$PLAN_CALL" "$TMP/node-2/node.sock" qa spark >/dev/null 2>"$TMP/plan.err" &&
		grep -q 'not in the sharing.allow list' "$TMP/plan.err"
}
kwait 30 "node-2 refusing qa/spark's plan with the grant's reason" refused_plan
note "$(cat "$TMP/plan.err")"
"$PLAN_CALL" "$TMP/node-2/node.sock" production spark >/dev/null || fail "production/spark's plan refused after the allow-list"
ok "node-2: production/spark -> development_spark (read-only); qa/spark refused: $(cat "$TMP/plan.err")"
T_WALK="$(elapsed "$T0" "$(now)")"

step "a tenant's Dataset outside ufs-roots and Runtime tier outside tier-roots: nothing fetched, nothing written"
# ssrf: a UFS the administrator did not allow (the host an internal address would be): the
# nodes must not ask it once, whatever the controller's verdict and whenever it lands in status.
# outside: an allowed UFS, but its tier in a directory the administrator did not give tiers.
# huge: an allowed directory, but more than it may hold. moved: Bound over an allowed UFS, then
# its mountPoint changed to the denied one (status still says Bound when the nodes see it).
k8s_namespace team-d
mkdir -p "$TMP/outside"
# tenant_dataset NAME TIER QUOTA URL: the YAML of Dataset team-d/NAME over URL and its Runtime,
# one MEM level at TIER of QUOTA
tenant_dataset() {
	cat <<YAML
---
apiVersion: data.fluid.io/v1alpha1
kind: AlluxioRuntime
metadata: {name: $1, namespace: team-d}
spec:
  tieredstore:
    levels:
      - {mediumtype: MEM, path: $2, quota: $3}
---
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata: {name: $1, namespace: team-d}
spec:
  mounts:
    - mountPoint: $4
YAML
}
{
	tenant_dataset ssrf "$WEIR_TIER_DIR" 1Gi "http://localhost:$NGINX_PORT/denied-probe/"
	tenant_dataset outside "$TMP/outside" 1Gi "$NGINX_URL"
	tenant_dataset huge "$WEIR_TIER_DIR" 9Gi "$NGINX_URL"
	tenant_dataset moved "$WEIR_TIER_DIR" 1Gi "$NGINX_URL"
} | kc create -f - | sed 's/^/  /'
# refused NODE SOURCE WORD: node's Lease reports SOURCE's error, naming WORD
refused() { lease_py "$1" "$2" "$3" <<<'sys.exit(not (args[1] in src.get(args[0], {}).get("error", "")))'; }
for n in node-1 node-2; do
	kwait 30 "$n refusing team-d/ssrf (ufs-roots)" refused "$n" team-d_ssrf ufs-roots
	kwait 30 "$n refusing team-d/outside (tier-roots)" refused "$n" team-d_outside tier-roots
	kwait 30 "$n refusing team-d/huge (tier-roots)" refused "$n" team-d_huge "at most 8.00GiB"
done
kwait 30 "team-d/ssrf Failed" is Failed dataset ssrf -n team-d -o 'jsonpath={.status.phase}'
# The controller's verdict first (node-1 stopped meanwhile): node-1 still refuses it by its own
# ufs-roots, in its Lease (it skipped a Dataset the controller had failed, silently)
pid_signal STOP "$N1" || fail "node-1 ($N1) is gone"
tenant_dataset ssrf2 "$WEIR_TIER_DIR" 1Gi "http://localhost:$NGINX_PORT/denied-probe-2/" | kc create -f - | sed 's/^/  /'
kwait 30 "team-d/ssrf2 Failed by the controller" is Failed dataset ssrf2 -n team-d -o 'jsonpath={.status.phase}'
pid_signal CONT "$N1" || fail "node-1 ($N1) is gone"
kwait 30 "node-1 refusing team-d/ssrf2 (ufs-roots), failed by the controller before node-1 saw it" refused node-1 team-d_ssrf2 ufs-roots
ok "node-1 refuses team-d/ssrf2 by its own ufs-roots though the controller had failed it first"
kwait 30 "team-d/moved Bound" is Bound dataset moved -n team-d -o 'jsonpath={.status.phase}'
kc patch dataset moved -n team-d --type=json \
	-p "[{\"op\": \"replace\", \"path\": \"/spec/mounts/0/mountPoint\", \"value\": \"http://localhost:$NGINX_PORT/denied-probe-moved/\"}]" | sed 's/^/  /'
kwait 30 "team-d/moved Failed" is Failed dataset moved -n team-d -o 'jsonpath={.status.phase}'
says_tier_roots() {
	local c
	c="$(jp dataset outside -n team-d -o 'jsonpath={.status.conditions}')" && grep -q "not under weir-node's tier-roots" <<<"$c"
}
kwait 30 "team-d/outside Failed with the node's reason" says_tier_roots
! "$PLAN_CALL" "$TMP/node-2/node.sock" team-d outside >/dev/null 2>"$TMP/plan.err" ||
	fail "node-2 gave weir-csi a plan for team-d/outside, whose tier is outside tier-roots"
grep -q "tier-roots" "$TMP/plan.err" || fail "node-2 refused team-d/outside's plan, but not for its tier: $(cat "$TMP/plan.err")"
! "$PLAN_CALL" "$TMP/node-2/node.sock" team-d ssrf >/dev/null 2>"$TMP/plan.err" ||
	fail "node-2 gave weir-csi a plan for team-d/ssrf, whose UFS is outside ufs-roots"
hits="$(grep -c 'denied-probe' "$NGINX_ACCESS_LOG" || true)"
[ "$hits" = 0 ] || fail "nginx logged $hits request(s) of team-d/ssrf's or team-d/moved's UFS, outside ufs-roots: $(grep 'denied-probe' "$NGINX_ACCESS_LOG" | head -2)"
[ -z "$(find "$TMP/outside" -mindepth 1 | head -1)" ] ||
	fail "weir-node wrote under $TMP/outside, outside tier-roots: $(find "$TMP/outside" -mindepth 1 | head -3)"
[ ! -e "$WEIR_TIER_DIR/weir/team-d_huge" ] || fail "weir-node made team-d/huge's 9Gi tier"
kc delete dataset ssrf outside huge moved -n team-d --wait=false | sed 's/^/  /'
for d in ssrf outside huge moved; do kwait 30 "team-d/$d gone" gone dataset "$d" -n team-d; done
ok "0 requests of the denied UFS in nginx's log; nothing under $TMP/outside; plans refused: $(head -c 300 "$TMP/plan.err")"

step "tier-roots is a budget per root: Runtimes of 3Gi in two namespaces under an 8GiB root that development's 4Gi shares"
# runtime_yaml NS NAME QUOTA: a Runtime and its Dataset over nginx, the tier under the root
runtime_yaml() {
	cat <<YAML
apiVersion: data.fluid.io/v1alpha1
kind: AlluxioRuntime
metadata: {name: $2, namespace: $1}
spec:
  tieredstore:
    levels:
      - {mediumtype: MEM, path: $WEIR_TIER_DIR, quota: $3}
---
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata: {name: $2, namespace: $1}
spec:
  mounts:
    - mountPoint: $NGINX_URL
YAML
}
k8s_namespace team-e
k8s_namespace team-f
runtime_yaml team-e one 3Gi | kc create -f - | sed 's/^/  /'
for n in node-1 node-2; do kwait 30 "$n reports team-e_one (4Gi + 3Gi of 8GiB)" reports "$n" team-e_one; done
runtime_yaml team-f two 3Gi | kc create -f - | sed 's/^/  /'
for n in node-1 node-2; do
	kwait 30 "$n refusing team-f/two (7.00GiB of 8.00GiB taken)" refused "$n" team-f_two "already have 7.00GiB"
done
refused node-1 team-f_two "tier root $WEIR_TIER_DIR of weir-node's tier-roots holds 8.00GiB" ||
	fail "node-1's refusal of team-f/two does not name the root and its size: $(lease_py node-1 team-f_two <<<'print(src.get(args[0]))')"
says_budget() {
	local c
	c="$(jp dataset two -n team-f -o 'jsonpath={.status.conditions}')" && grep -q "already have 7.00GiB" <<<"$c"
}
kwait 30 "team-f/two's status says why" says_budget
sleep 3 # a retry or two of the node agent: still refused, still no tier
refused node-1 team-f_two "already have 7.00GiB" || fail "node-1 opened team-f/two over its tier-roots budget"
refused node-2 team-f_two "already have 7.00GiB" || fail "node-2 opened team-f/two over its tier-roots budget"
[ ! -e "$WEIR_TIER_DIR/weir/team-f_two" ] || fail "node-1 made team-f/two's tier over its tier-roots budget"
n_logged="$(grep -c 'team-f_two": tier root' "$TMP/node-1.log" || true)"
[ "$n_logged" = 1 ] || fail "node-1 logged team-f/two's refusal $n_logged times, not once"
# closing a source gives its share back: team-e/one goes, team-f/two opens
kc delete dataset one -n team-e --wait=false | sed 's/^/  /'
for n in node-1 node-2; do kwait 45 "$n reports team-f_two once team-e/one is gone" reports "$n" team-f_two; done
[ -e "$WEIR_TIER_DIR/weir/team-f_two" ] || fail "node-1 reports team-f/two open, but its tier is not there"
kc delete dataset two -n team-f --wait=false | sed 's/^/  /'
kwait 30 "team-e/one gone" gone dataset one -n team-e
kwait 30 "team-f/two gone" gone dataset two -n team-f
ok "the second 3Gi tier under the 8GiB root refused on both nodes, logged once, until the first closed"

step "tier-roots' per-namespace size: development, at 4GiB of its 5GiB under the root, cannot take 2Gi more of it"
runtime_yaml development extra 2Gi | kc create -f - | sed 's/^/  /'
for n in node-1 node-2; do
	kwait 30 "$n refusing development/extra (its namespace's 5GiB)" refused "$n" development_extra \
		"gives each namespace at most 5.00GiB, and namespace development's tiers open under it on this node already have 4.00GiB"
done
[ ! -e "$WEIR_TIER_DIR/weir/development_extra" ] || fail "node-1 made development/extra's tier over its namespace's share"
kc delete dataset extra -n development --wait=false | sed 's/^/  /'
kwait 30 "development/extra gone" gone dataset extra -n development
ok "development/extra refused on both nodes by its namespace's share, with 4GiB of the 8GiB root free"

step "two controller replicas share the webhook configuration: one entry each, neither's CA overwritten"
WH2="$(free_port)"
"$WEIR_CONTROLLER_BIN" --kubeconfig "$KUBECONFIG" --state-dir "$TMP/ctl2" --identity ctl-2 \
	--lease-duration 6 --webhook-url "https://127.0.0.1:$WH2/validate" >"$TMP/controller-2.log" 2>&1 &
C2=$!
pid_track "$C2"
at_exit "pid_stop -t 10 $C2"
two_entries() {
	kc get validatingwebhookconfiguration weir-controller -o json >"$TMP/vwc.json" &&
		python3 - "$TMP/vwc.json" <<'PY'
import json, sys
hooks = {h["name"]: h["clientConfig"] for h in json.load(open(sys.argv[1]))["webhooks"]}
want = {"ctl-1.delete.weir.data.fluid.io", "ctl-2.delete.weir.data.fluid.io"}
ok = set(hooks) == want and len({c["caBundle"] for c in hooks.values()}) == 2
print("  entries:", {n: c["url"] for n, c in hooks.items()})
sys.exit(not ok)
PY
}
kwait 30 "ValidatingWebhookConfiguration weir-controller with ctl-1's and ctl-2's entries" two_entries
two_entries
# ctl-2 registered last; killed outright, it takes nothing with it: ctl-1's entry still refuses
pid_signal KILL "$C2"
wait "$C2" 2>/dev/null || true
if out="$(kc delete dataset spark -n development 2>&1)"; then
	fail "kubectl delete dataset spark -n development was not refused after ctl-2 died: $out"
fi
grep -q 'referenced by 1 dataset of another namespace' <<<"$out" || fail "the delete failed, but not with weir's refusal: $out"
! grep -q production <<<"$out" || fail "the refusal names another namespace's Dataset: $out"
[ -z "$(jp dataset spark -n development -o 'jsonpath={.metadata.deletionTimestamp}')" ] ||
	fail "development/spark is marked deleting although the webhook refused"
ok "two entries with their own CAs; ctl-2 killed, ctl-1 still refuses: $(head -1 <<<"$out")"

step "node-2 killed mid-load: its share moves to node-1, the DataLoad completes"
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
kwait 60 "node-1 reports development_slow" reports node-1 development_slow
kwait 60 "node-2 reports development_slow" reports node-2 development_slow
kwait 60 "development/slow Bound" is Bound dataset slow -n development -o 'jsonpath={.status.phase}'
kc create -f - <<'YAML' | sed 's/^/  /'
apiVersion: data.fluid.io/v1alpha1
kind: DataLoad
metadata: {name: slow, namespace: development}
spec:
  dataset: {name: slow, namespace: development}
  target:
    - path: /spark-3.3.1
YAML
kwait 30 "DataLoad development/slow Executing" is Executing dataload slow -n development -o 'jsonpath={.status.phase}'
UID_SLOW="$(jp dataload slow -n development -o 'jsonpath={.metadata.uid}')"
running_share() {
	lease_py node-2 "$UID_SLOW" <<'PY'
s = loads.get(args[0])
sys.exit(not (s and s["filesTotal"] > 0 and not s["finished"]))
PY
}
kwait 60 "node-2 loading its share of development/slow" running_share
lease_py node-2 "$UID_SLOW" <<<'print("  node-2 before the kill:", loads[args[0]])'
t_kill=$(now)
pid_signal KILL "$N2"
wait "$N2" 2>/dev/null || true
redone() {
	lease_py node-1 "$UID_SLOW" <<'PY'
s = loads.get(args[0])
sys.exit(not (s and s["nodes"] == ["node-1"]))
PY
}
kwait 60 "node-1 taking node-2's share (its Lease expired)" redone
T_MOVE="$(elapsed "$t_kill" "$(now)")"
# The share moved while the load was under way, which is what the throttle was for: lift it, so
# the rest of the load (~13 MB at 30 KB/s per connection: a minute) takes no waiting.
pid_signal USR1 "$TPID" || fail "throttle.py ($TPID) is gone"
kwait 180 "DataLoad development/slow Complete" is Complete dataload slow -n development -o 'jsonpath={.status.phase}'
lease_py node-1 "$UID_SLOW" <<<'print("  node-1 after:", loads[args[0]])'
S1="$(cached node-1 development_slow)"
[ "$S1" -eq "$WT_S331" ] || fail "node-1 caches $S1 bytes of development/slow; the whole target is $WT_S331"
grep -q 'the nodes caching it changed' "$TMP/node-1.log" || fail "node-1 did not redo its share when node-2 went"
ok "node-1 took over $T_MOVE s after the kill; DataLoad Complete; node-1 caches all $S1 bytes"

step "deletes: every node purges, the finalizers go, no PV or PVC stays Terminating"
# a pod (Pending for ever: no scheduler here) holds production's claim: kcm's rule, no pod, no go
kc create -f - <<'YAML' | sed 's/^/  /'
apiVersion: v1
kind: Pod
metadata: {name: reader, namespace: production}
spec:
  containers:
    - {name: c, image: busybox, command: [sleep, "3600"], volumeMounts: [{name: d, mountPath: /data}]}
  volumes:
    - name: d
      persistentVolumeClaim: {claimName: spark}
YAML
kwait 30 "PVC production/spark" jp pvc spark -n production
kc delete dataset spark -n production --wait=false | sed 's/^/  /'
kc delete dataset spark -n qa --wait=false | sed 's/^/  /'
kwait 30 "production/spark gone" gone dataset spark -n production
sleep 3
[ -n "$(jp pvc spark -n production -o 'jsonpath={.metadata.deletionTimestamp}')" ] ||
	fail "PVC production/spark is not Terminating while pod production/reader uses it"
ok "PVC production/spark waits for pod production/reader: $(jp pvc spark -n production -o 'jsonpath={.metadata.finalizers}')"
kc delete pod reader -n production --grace-period=0 --force 2>&1 | grep -v '^Warning' | sed 's/^/  /'
kwait 30 "PVC production/spark gone once the pod went" gone pvc spark -n production
kwait 30 "PV weir-production-spark gone" gone pv weir-production-spark
kc delete dataset spark slow -n development --wait=false | sed 's/^/  /'
kwait 60 "development/spark gone" gone dataset spark -n development
kwait 60 "development/slow gone" gone dataset slow -n development
for s in development_spark development_slow; do
	reports node-1 "$s" && fail "node-1 still reports $s after its Dataset went"
done
for pv in weir-development-spark weir-development-slow; do
	kwait 30 "PV $pv gone" gone pv "$pv"
done
kwait 30 "PVC development/spark gone" gone pvc spark -n development
left="$(jp pv -o name | grep weir- || true)$(jp pvc -A -o name || true)"
[ -z "$left" ] || fail "left behind: $left"
[ -z "$(find "$WEIR_TIER_DIR" -type f 2>/dev/null | head -1)" ] || fail "node-1's tier still holds files: $(find "$WEIR_TIER_DIR" -type f | head -3)"
if grep -q 'does not answer on' "$TMP/controller.log"; then
	fail "the controller dialled a node: $(grep 'does not answer on' "$TMP/controller.log" | head -1)"
fi
ok "Datasets gone, node-1's cache purged, no PV or PVC left, the controller dialled no node"

step "root's weir mount of two sources on one --tier path: one quota under tier-roots, counted once"
# Every Dataset is gone: the 8GiB root is free. One 5GiB directory for both sources (one pool,
# one quota) takes 5GiB of it; counted per source (10GiB), the second mount was refused.
n1() { timeout -k 5 120 "$WEIR_BIN" --state-dir "$TMP/node-1" "$@"; }
mkdir -p "$TMP/plain-a" "$TMP/plain-b" "$TMP/plain-c"
PLAIN_A="$(cd "$TREE" && find spark-3.3.1 -type f -size -2M | head -n 1)"
PLAIN_B="$(cd "$TREE" && find spark-3.2.3 -type f -size -2M | head -n 1)"
[ -n "$PLAIN_A" ] && [ -n "$PLAIN_B" ] || fail "no small file in spark-3.3.1 or spark-3.2.3 of $TREE"
for x in "a spark-3.3.1 $PLAIN_A" "b spark-3.2.3 $PLAIN_B"; do
	set -- $x
	n1 mount "${NGINX_URL}$2/" "$TMP/plain-$1" --tier "mem:$WEIR_TIER_DIR/plain:5GiB" >"$TMP/plain.out" 2>&1 </dev/null ||
		fail "root's weir mount of ${NGINX_URL}$2/ on the shared 5GiB tier path was refused: $(cat "$TMP/plain.out")"
	cmp "$TREE/$3" "$TMP/plain-$1/${3#*/}" || fail "$3 differs through the plain mount $TMP/plain-$1"
done
ok "both mounted on $WEIR_TIER_DIR/plain; $PLAIN_A and $PLAIN_B byte-exact"
# the budget still counts it, once: 4GiB more on another path do not fit beside 5 of 8GiB
rc=0
n1 mount "${NGINX_URL}spark-3.1.3/" "$TMP/plain-c" --tier "mem:$WEIR_TIER_DIR/other:4GiB" >"$TMP/plain.out" 2>&1 </dev/null || rc=$?
[ "$rc" -ne 0 ] || fail "a 4GiB tier fit beside the shared 5GiB under the 8GiB root"
grep -q 'already have 5.00GiB' "$TMP/plain.out" || fail "the 4GiB tier was refused, but not at 5GiB taken: $(cat "$TMP/plain.out")"
ok "a 4GiB tier elsewhere under the root: $(grep -o 'tier root.*does not fit' "$TMP/plain.out")"
# weir umount gives a plain mount's share back: the 4GiB tier fits once both are unmounted (it
# stayed refused until weir-node stopped)
n1 umount "$TMP/plain-a" >/dev/null || fail "weir umount $TMP/plain-a failed"
rc=0
n1 mount "${NGINX_URL}spark-3.1.3/" "$TMP/plain-c" --tier "mem:$WEIR_TIER_DIR/other:4GiB" >"$TMP/plain.out" 2>&1 </dev/null || rc=$?
[ "$rc" -ne 0 ] || fail "the 4GiB tier fit while $TMP/plain-b still held the shared 5GiB"
n1 umount "$TMP/plain-b" >/dev/null || fail "weir umount $TMP/plain-b failed"
n1 mount "${NGINX_URL}spark-3.1.3/" "$TMP/plain-c" --tier "mem:$WEIR_TIER_DIR/other:4GiB" >"$TMP/plain.out" 2>&1 </dev/null ||
	fail "the 4GiB tier was refused after both sources of the shared 5GiB were unmounted: $(cat "$TMP/plain.out")"
n1 umount "$TMP/plain-c" >/dev/null || fail "weir umount $TMP/plain-c failed"
# unmounted and mounted again, a source is read as before (its cache stayed on disk)
n1 mount "${NGINX_URL}spark-3.3.1/" "$TMP/plain-a" --tier "mem:$WEIR_TIER_DIR/plain:5GiB" >"$TMP/plain.out" 2>&1 </dev/null ||
	fail "mounting ${NGINX_URL}spark-3.3.1/ again failed: $(cat "$TMP/plain.out")"
cmp "$TREE/$PLAIN_A" "$TMP/plain-a/${PLAIN_A#*/}" || fail "$PLAIN_A differs through the plain mount mounted again"
n1 umount "$TMP/plain-a" >/dev/null || fail "weir umount $TMP/plain-a failed"
ok "weir umount gave the shares back: the 4GiB tier refused while one source held the path, mounted once both were unmounted; a source mounted again reads byte-exact"

note "times: apiserver start ${K8S_START_SECONDS} s, walkthrough with two nodes $T_WALK s, share moved $T_MOVE s after the kill (Lease $((INTERVAL * 6)) s)"
echo "PASS"
