#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# deploy/helm/weir against helm and a real kube-apiserver (issue 8): the chart lints, renders, and
# every rendered object passes the apiserver's server-side validation; then helm installs and
# upgrades it for real (the webhook certificate survives), and the RBAC is checked for least
# privilege with `kubectl auth can-i` as each service account.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/lib.sh"

CHART="$WEIR_SRC/deploy/helm/weir"
NS=weir-system
TMP="$(mktemp -d /tmp/weir-k8s-helm.XXXXXX)"
at_exit 'rm -rf "$TMP"'
# helm keeps caches and config under HOME; keep them in the test's directory.
export HELM_CACHE_HOME="$TMP/helm/cache" HELM_CONFIG_HOME="$TMP/helm/config" HELM_DATA_HOME="$TMP/helm/data"

k8s_peers helm
h() { timeout -k 5 120 "$HELM_BIN" "$@"; }

step "helm lint"
h lint --strict "$CHART" || fail "helm lint --strict $CHART failed (output above)"
ok "$("$HELM_BIN" version --short 2>/dev/null || true): lint clean"

step "helm template"
h template weir "$CHART" --namespace "$NS" --include-crds >"$TMP/rendered.yaml" ||
	fail "helm template failed (output above)"
# And with every optional part off or changed, it still renders.
h template weir "$CHART" --namespace "$NS" --set webhook.enabled=false \
	--set image.repository=example.invalid/weir --set image.tag=dev \
	--set 'node.tierPaths={/dev/shm,/mnt/ssd}' --set 'node.tierRoots={/dev/shm/weir:1GiB,/mnt/ssd:200GiB}' \
	--set-string 'ufsRoots=team-a=local:///data/a;*=https://public.example/' >"$TMP/rendered-nowebhook.yaml" ||
	fail "helm template with webhook.enabled=false failed (output above)"
! grep -q ValidatingWebhookConfiguration "$TMP/rendered-nowebhook.yaml" || fail "webhook.enabled=false still renders the webhook"
grep -q 'image: example.invalid/weir:dev' "$TMP/rendered-nowebhook.yaml" || fail "image.repository/tag are not used"
grep -q 'mountPath: /mnt/ssd' "$TMP/rendered-nowebhook.yaml" || fail "node.tierPaths are not mounted"
# one ufsRoots value for the controller and the nodes; tier-roots for the nodes, safe by default
[ "$(grep -c -F -e '- "--ufs-roots=team-a=local:///data/a;*=https://public.example/"' "$TMP/rendered-nowebhook.yaml")" = 2 ] ||
	fail "ufsRoots does not reach both weir-controller and weir-node"
grep -q -F -e '- "--tier-roots=/dev/shm/weir:1GiB,/mnt/ssd:200GiB"' "$TMP/rendered-nowebhook.yaml" || fail "node.tierRoots does not reach weir-node"
grep -q -F -e '- "--tier-roots=/dev/shm:4GiB"' "$TMP/rendered.yaml" || fail "weir-node has no tier-roots by default"
! grep -q -e '--ufs-roots' "$TMP/rendered.yaml" || fail "ufs-roots rendered although ufsRoots is empty"
ok "$(grep -c '^kind:' "$TMP/rendered.yaml") objects rendered"
# keeper.separate (the default): weir-keeper in a DaemonSet of its own, whose template an image
# update of weir does not change (so it never restarts, and the views it holds outlive weir-node's
# pods); keeper.separate=false: one weir-keeper in weir-node's container holds them.
h template weir "$CHART" --namespace "$NS" --set keeper.separate=false >"$TMP/rendered-inner.yaml" ||
	fail "helm template with keeper.separate=false failed (output above)"
for tag in v1 v2; do
	h template weir "$CHART" --namespace "$NS" --set image.tag="$tag" \
		--set keeper.image.tag=keeper-pinned >"$TMP/rendered-keeper-$tag.yaml" ||
		fail "helm template with image.tag=$tag failed (output above)"
done

step "the rendered objects against the apiserver (server-side dry run)"
k8s_start "$TMP/k8s"
kc create namespace "$NS" >/dev/null
kc apply --dry-run=server -f "$TMP/rendered.yaml" >"$TMP/dry.out" ||
	fail "kubectl apply --dry-run=server refused the rendered chart (output above)"
kc apply --dry-run=server -f "$TMP/rendered-inner.yaml" >>"$TMP/dry.out" ||
	fail "kubectl apply --dry-run=server refused the chart with keeper.separate=false (output above)"
k8s_objects "$TMP/rendered-keeper-v1.yaml" >"$TMP/rendered-keeper-v1.json"
k8s_objects "$TMP/rendered-keeper-v2.yaml" >"$TMP/rendered-keeper-v2.json"
k8s_objects "$TMP/rendered-inner.yaml" >"$TMP/rendered-inner.json"
python3 - "$TMP/rendered-keeper-v1.json" "$TMP/rendered-keeper-v2.json" "$TMP/rendered-inner.json" <<'PY' || fail "keeper.separate renders wrong (above)"
import json, sys
def daemonsets(path):
    return {o["metadata"]["name"]: o for o in json.load(open(path)) if o.get("kind") == "DaemonSet"}
a, b, inner = daemonsets(sys.argv[1]), daemonsets(sys.argv[2]), daemonsets(sys.argv[3])
assert set(a) == {"weir-node", "weir-keeper"}, f"DaemonSets rendered: {sorted(a)}"
k = a["weir-keeper"]
assert k["spec"]["updateStrategy"]["type"] == "OnDelete", "the keeper's pods would be rolled by helm upgrade"
kc = k["spec"]["template"]["spec"]["containers"][0]
assert kc["command"] == ["weir-keeper"] and kc["args"][-2:] == ["--listen", "/var/lib/weir/keeper.sock"], kc["args"]
assert kc["args"][kc["args"].index("--name") + 1] != "node", "the keeper pod's pid file is the name of the one restarting weir-node" 
assert kc["image"].endswith(":keeper-pinned"), kc["image"]
assert a["weir-keeper"] == b["weir-keeper"], "an image update of weir changes the keeper's DaemonSet"
assert a["weir-node"] != b["weir-node"], "the image tag did not reach weir-node"
node = {c["name"]: c for c in a["weir-node"]["spec"]["template"]["spec"]["containers"]}["weir-node"]
# under a weir-keeper that restarts it at once (no kubelet back-off) and holds nothing itself
args = node["args"]
assert node["command"] == ["weir-keeper"] and "--no-store" in args[:args.index("--")], f"weir-node runs as {node['command']} {args}"
assert args[args.index("--") + 1] == "weir-node", args
assert "--keeper-socket=/var/lib/weir/keeper.sock" in args[args.index("--"):], args
assert set(inner) == {"weir-node"}, f"keeper.separate=false renders DaemonSets {sorted(inner)}"
node = {c["name"]: c for c in inner["weir-node"]["spec"]["template"]["spec"]["containers"]}["weir-node"]
args = node["args"]
assert node["command"] == ["weir-keeper"] and "--no-store" not in args and args[args.index("--") + 1] == "weir-node", args
assert not any(x.startswith("--keeper-socket") for x in args), args
vol = {v["name"]: v for v in k["spec"]["template"]["spec"]["volumes"]}["state"]
assert vol["hostPath"]["path"] == "/var/lib/weir", vol
PY
ok "keeper.separate (default): a weir-keeper DaemonSet (OnDelete, --listen in the state directory) the image tag leaves unchanged; weir-node connects to it under a --no-store weir-keeper; =false: one keeper in weir-node's container"
cat "$TMP/dry.out"
ok "every object accepted (dry run)"

step "what the chart renders"
k8s_objects "$TMP/rendered.yaml" >"$TMP/rendered.json"
python3 - "$TMP/rendered.json" "$WEIR_SRC/deploy/crds" "$NS" <<'PY' || fail "the rendered chart is not as expected (above)"
import glob, json, os, sys
items = json.load(open(sys.argv[1]))
ns = sys.argv[3]
by = {}
for o in items:
    by.setdefault(o["kind"], []).append(o)
def one(kind, name=None):
    objs = [o for o in by.get(kind, []) if name is None or o["metadata"]["name"] == name]
    assert len(objs) == 1, f"want one {kind} {name or ''}, rendered {len(objs)}"
    return objs[0]
bad = []
def check(cond, msg):
    if not cond:
        bad.append(msg)

# The CRDs are deploy/crds' files, not copies.
crds = sorted(o["metadata"]["name"] for o in by.get("CustomResourceDefinition", []))
want = sorted(os.path.basename(f).split("_", 1)[1][:-5] + ".data.fluid.io"
              for f in glob.glob(os.path.join(sys.argv[2], "*.yaml")))
check(crds == want, f"CRDs rendered {crds}, deploy/crds has {want}")

d = one("Deployment")
check(d["spec"]["replicas"] == 2, "the controller Deployment does not have 2 replicas")
c = d["spec"]["template"]["spec"]["containers"][0]
check(c["command"] == ["weir-controller"], "the controller container does not run weir-controller")
check(not c.get("securityContext", {}).get("privileged"), "the controller is privileged")
check(c["securityContext"].get("allowPrivilegeEscalation") is False, "the controller may escalate privileges")
check(not d["spec"]["template"]["spec"].get("volumes") or
      all("hostPath" not in v for v in d["spec"]["template"]["spec"]["volumes"]), "the controller mounts a host path")

ds = one("DaemonSet", "weir-node")
spec = ds["spec"]["template"]["spec"]
cs = {c["name"]: c for c in spec["containers"]}
check(set(cs) == {"weir-node", "weir-csi"}, f"DaemonSet containers: {sorted(cs)} (weir-csi registers itself: no sidecar)")
node = cs["weir-node"]
check(node["command"] == ["weir-keeper"] and "--" in node["args"] and
      node["args"][node["args"].index("--") + 1] == "weir-node",
      "weir-node does not run under weir-keeper (a crash would end its views)")
check("--node-name=$(NODE_NAME)" in node["args"], "weir-node is not told its node name")
env = {e["name"]: e for e in node["env"]}
check(env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName", "NODE_NAME is not from the downward API")
check(node["securityContext"].get("privileged") is True, "weir-node is not privileged (FUSE and BPF need it)")
check(cs["weir-csi"]["securityContext"].get("privileged") is True, "weir-csi is not privileged (bind mounts into pods)")
mounts = {m["mountPath"]: m for m in node["volumeMounts"]}
check(mounts.get("/var/lib/weir", {}).get("mountPropagation") == "Bidirectional", "/var/lib/weir is not Bidirectional in weir-node")
check("/dev/shm" in mounts and "/dev/fuse" in mounts, "weir-node lacks /dev/shm or /dev/fuse")
vols = {v["name"]: v for v in spec["volumes"]}
check(vols["state"]["hostPath"]["path"] == "/var/lib/weir", "the state volume is not hostPath /var/lib/weir")
# The kubelet dials the endpoint weir-csi names in GetInfo: its socket must sit at its host path.
csi_args = cs["weir-csi"]["args"]
check("--endpoint=unix:///var/lib/kubelet/plugins/weir.csi.io/csi.sock" in csi_args, f"weir-csi args {csi_args}")
check("--registration-dir=/var/lib/kubelet/plugins_registry" in csi_args, f"weir-csi args {csi_args}")
pods = {m["mountPath"]: m for m in cs["weir-csi"]["volumeMounts"]}
check(pods.get("/var/lib/kubelet/plugins/weir.csi.io", {}).get("name") == "plugin-dir", "weir-csi's plugin dir is not at its host path")
check(pods.get("/var/lib/kubelet/plugins_registry", {}).get("name") == "registration-dir", "weir-csi does not see plugins_registry at its host path")
check(vols["plugin-dir"]["hostPath"]["path"] == "/var/lib/kubelet/plugins/weir.csi.io", "plugin-dir is not the kubelet's plugin directory")
check(vols["registration-dir"]["hostPath"]["path"] == "/var/lib/kubelet/plugins_registry", "registration-dir is not plugins_registry")
check(pods.get("/var/lib/kubelet/pods", {}).get("mountPropagation") == "Bidirectional", "weir-csi's pods dir is not Bidirectional")

drv = one("CSIDriver", "weir.csi.io")["spec"]
check(drv["attachRequired"] is False and drv["podInfoOnMount"] is True and drv["volumeLifecycleModes"] == ["Persistent"], f"CSIDriver spec {drv}")

vwc = one("ValidatingWebhookConfiguration")
wh = vwc["webhooks"][0]
svc = one("Service", "weir-webhook")
sec = one("Secret", "weir-webhook-tls")
check(wh["clientConfig"]["service"]["name"] == svc["metadata"]["name"], "the webhook names another Service")
check(wh["clientConfig"]["service"]["namespace"] == ns, "the webhook's Service is in another namespace")
check(wh["clientConfig"]["caBundle"] == sec["data"]["ca.crt"] and wh["clientConfig"]["caBundle"], "caBundle is not the Secret's CA")
check(wh["rules"][0]["operations"] == ["DELETE"] and "datasets" in wh["rules"][0]["resources"], f"webhook rules {wh['rules']}")
check(svc["spec"]["selector"] == d["spec"]["selector"]["matchLabels"], "the webhook Service does not select the controller pods")

# One cache across the nodes: each weir-node serves blocks on its pod IP and reads the peer key
# from the Secret the chart makes.
peer = one("Secret", "weir-peer-key")
check(len(peer["data"]["peer.key"]) >= 24, "the peer key Secret holds no key")
node_args = cs["weir-node"]["args"]
check("--peer-listen=$(POD_IP):7070" in node_args, f"weir-node serves no peer port: {node_args}")
check("--peer-key-secret=weir-peer-key" in node_args, f"weir-node is not given the peer key Secret: {node_args}")
check(any(e["name"] == "POD_IP" and e["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP" for e in cs["weir-node"]["env"]), "POD_IP is not the pod's IP")

# /metrics names every tenant's Datasets: on the pod IP, behind the token of a Secret the chart
# makes, mounted 0400 (weir-node refuses a token file others can read); a headless Service to
# scrape it by
tok = one("Secret", "weir-metrics-token")
check(len(tok["data"]["token"]) >= 24, "the metrics token Secret holds no token")
check("--metrics-listen=$(POD_IP):9477" in node_args and "--metrics-token-file=/etc/weir/metrics/token" in node_args,
      f"weir-node's /metrics is not on the pod IP behind the token: {node_args}")
tv = vols.get("metrics-token", {}).get("secret", {})
check(tv.get("secretName") == "weir-metrics-token" and tv.get("defaultMode") == 0o400, f"the metrics token volume: {tv}")
check(mounts.get("/etc/weir/metrics", {}).get("name") == "metrics-token", "weir-node does not mount the metrics token")
msvc = one("Service", "weir-node-metrics")
check(msvc["spec"]["selector"] == ds["spec"]["selector"]["matchLabels"] and msvc["spec"]["ports"][0]["targetPort"] == "metrics",
      f"the metrics Service does not select weir-node's metrics port: {msvc['spec']}")
check("ServiceMonitor" not in by, "a ServiceMonitor rendered although metrics.serviceMonitor.enabled is false")

for b in bad:
    print("  wrong:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
h template weir "$CHART" --namespace "$NS" --set metrics.serviceMonitor.enabled=true >"$TMP/rendered-sm.yaml" ||
	fail "helm template with metrics.serviceMonitor.enabled=true failed (output above)"
# (its kind is unknown to this apiserver: the document read as text)
awk '/^kind: ServiceMonitor/ { sm = 1 } sm && /^---/ { exit } sm { print }' "$TMP/rendered-sm.yaml" >"$TMP/sm.yaml"
grep -q '^kind: ServiceMonitor' "$TMP/sm.yaml" && grep -q -e '- port: metrics' "$TMP/sm.yaml" &&
	grep -q 'path: /metrics' "$TMP/sm.yaml" && grep -A2 'bearerTokenSecret:' "$TMP/sm.yaml" | grep -q 'name: weir-metrics-token' &&
	grep -A2 'bearerTokenSecret:' "$TMP/sm.yaml" | grep -q 'key: token' ||
	fail "the ServiceMonitor does not scrape weir-node's metrics port with the token: $(cat "$TMP/sm.yaml")"
# webhook.clientCA: the controller answers only the apiserver's client certificate of that CA
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/wcca.key" -out "$TMP/wcca.crt" -days 1 \
	-subj "/CN=apiserver-webhook-client-ca" 2>/dev/null
h template weir "$CHART" --namespace "$NS" --set-file webhook.clientCA="$TMP/wcca.crt" >"$TMP/rendered-wcca.yaml" ||
	fail "helm template with webhook.clientCA failed (output above)"
k8s_objects "$TMP/rendered-wcca.yaml" >"$TMP/wcca.json"
python3 - "$TMP/wcca.json" "$TMP/wcca.crt" <<'PY' || fail "webhook.clientCA does not reach weir-controller (above)"
import json, sys
doc = json.load(open(sys.argv[1]))
items = doc if isinstance(doc, list) else doc.get("items", [doc])
ca = open(sys.argv[2]).read()
cm = [o for o in items if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "weir-webhook-client-ca"]
dep = [o for o in items if o["kind"] == "Deployment" and "controller" in o["metadata"]["name"]]
assert cm and cm[0]["data"]["ca.crt"] == ca, "no ConfigMap weir-webhook-client-ca with the CA"
spec = dep[0]["spec"]["template"]["spec"]
c = spec["containers"][0]
assert "--webhook-client-ca=/etc/weir/webhook-client/ca.crt" in c["args"], c["args"]
assert any(m["mountPath"] == "/etc/weir/webhook-client" and m["name"] == "webhook-client-ca" for m in c["volumeMounts"]), c["volumeMounts"]
assert any(v["name"] == "webhook-client-ca" and v["configMap"]["name"] == "weir-webhook-client-ca" for v in spec["volumes"]), spec["volumes"]
PY
! grep -q -e '--webhook-client-ca' "$TMP/rendered.yaml" || fail "--webhook-client-ca rendered although webhook.clientCA is empty"
ok "webhook.clientCA: a ConfigMap with the CA, mounted, --webhook-client-ca given; none by default"
h template weir "$CHART" --namespace "$NS" --set metrics.enabled=false >"$TMP/rendered-nometrics.yaml" ||
	fail "helm template with metrics.enabled=false failed (output above)"
grep -q -F -e '- --metrics-listen=' "$TMP/rendered-nometrics.yaml" && ! grep -q -e 'metrics-token' "$TMP/rendered-nometrics.yaml" ||
	fail "metrics.enabled=false still renders a /metrics listener or its token"
ok "CRDs from deploy/crds; Deployment x2; DaemonSet weir-node+weir-csi privileged, weir-csi self-registering (no registrar); CSIDriver; webhook wired to its Service and CA; /metrics on the pod IP behind a token Secret (0400), a ServiceMonitor with it as bearerTokenSecret"

step "the chart gives weir's binaries only flags they have"
b="${WEIR_BUILD_DIR:-$WEIR_SRC/build}"
for spec in "weir-controller:${WEIR_CONTROLLER_BIN:-$b/controller/weir-controller}:kubeconfig" \
	"weir-node:${WEIR_NODE_BIN:-$b/weir-node}:node-name" "weir-csi:${WEIR_CSI_BIN:-$b/csi/weir-csi}:endpoint"; do
	IFS=: read -r prog bin gate <<<"$spec"
	if [ ! -x "$bin" ]; then
		note "$prog: not built here ($bin), its flags not checked"
		continue
	fi
	help="$("$bin" --help 2>&1 || true)"
	# A binary from before the Kubernetes work has none of the in-cluster flags yet.
	if ! grep -q -- "--$gate\b" <<<"$help"; then
		note "$prog has no --$gate yet: its flags not checked"
		continue
	fi
	python3 - "$TMP/rendered.json" "$prog" <<'PY' >"$TMP/flags"
import json, sys
for o in json.load(open(sys.argv[1])):
    spec = o.get("spec", {}).get("template", {}).get("spec", {})
    for c in spec.get("containers", []):
        args = c.get("args", [])
        if c.get("command", [None])[0] == "weir-keeper" and "--" in args:
            # weir-keeper's own flags, then "--", then the program it runs and its flags
            prog, args = args[args.index("--") + 1], args[args.index("--") + 2:]
        else:
            prog = c.get("command", [None])[0]
        if prog == sys.argv[2]:
            for a in args:
                if a.startswith("--"):
                    print(a[2:].split("=", 1)[0])
PY
	[ -s "$TMP/flags" ] || fail "the chart runs no $prog with flags"
	while read -r f; do
		grep -q -- "^ *--$f\b" <<<"$help" || fail "the chart runs $prog --$f, which $bin does not have ($prog --help)"
	done <"$TMP/flags"
	ok "$prog: $(tr '\n' ' ' <"$TMP/flags")"
done

step "helm install, helm upgrade"
h install weir "$CHART" --namespace "$NS" --kubeconfig "$KUBECONFIG" >"$TMP/install.out" ||
	fail "helm install failed: $(cat "$TMP/install.out")"
[ "$(kc get crd -l app.kubernetes.io/part-of=weir -o name | wc -l)" -eq 4 ] || fail "helm install did not install the 4 CRDs"
[ "$(kc get deployment weir-controller -n "$NS" -o jsonpath='{.spec.replicas}')" = 2 ] || fail "no controller Deployment with 2 replicas"
ca1="$(kc get validatingwebhookconfiguration weir -o jsonpath='{.webhooks[0].clientConfig.caBundle}')"
pk1="$(kc get secret weir-peer-key -n "$NS" -o jsonpath='{.data.peer\.key}')"
h upgrade weir "$CHART" --namespace "$NS" --kubeconfig "$KUBECONFIG" --set logLevel=debug >"$TMP/upgrade.out" ||
	fail "helm upgrade failed: $(cat "$TMP/upgrade.out")"
ca2="$(kc get validatingwebhookconfiguration weir -o jsonpath='{.webhooks[0].clientConfig.caBundle}')"
[ -n "$ca1" ] && [ "$ca1" = "$ca2" ] || fail "helm upgrade changed the webhook's CA: the serving certificate must be kept"
[ "$(kc get secret weir-webhook-tls -n "$NS" -o jsonpath='{.data.ca\.crt}')" = "$ca2" ] ||
	fail "the webhook's caBundle is not the CA in Secret weir-webhook-tls"
[ -n "$pk1" ] && [ "$(kc get secret weir-peer-key -n "$NS" -o jsonpath='{.data.peer\.key}')" = "$pk1" ] ||
	fail "helm upgrade changed the peer key in Secret weir-peer-key: the nodes of a rolling update would refuse each other"
kc get deployment weir-controller -n "$NS" -o jsonpath='{.spec.template.spec.containers[0].args}' | grep -q -- '--log-level=debug' ||
	fail "helm upgrade --set logLevel=debug did not reach the controller's args"
ok "installed; an upgrade keeps the webhook certificate and the peer key and applies the new values"

step "least privilege"
ctl="system:serviceaccount:$NS:weir-controller" nodesa="system:serviceaccount:$NS:weir-node"
can() { # can AS VERB RESOURCE [NS]: prints yes/no
	kc auth can-i --as "$1" "$2" "$3" ${4:+-n "$4"} 2>/dev/null || true
}
expect_can() {
	local got
	got="$(can "$@")"
	[ "$got" = yes ] || fail "$1 cannot $2 $3${4:+ in $4}; the chart must allow it"
}
expect_cannot() {
	local got
	got="$(can "$@")"
	[ "$got" = no ] || fail "$1 can $2 $3${4:+ in $4}; the chart must not allow it"
}
expect_can "$ctl" update datasets.data.fluid.io/status development
expect_can "$ctl" update dataloads.data.fluid.io/status development
expect_can "$ctl" update datasets.data.fluid.io/finalizers development
expect_can "$ctl" watch runtimes.data.fluid.io
expect_can "$ctl" create persistentvolumes
expect_can "$ctl" delete persistentvolumeclaims development
expect_can "$ctl" create events development
expect_can "$ctl" update leases.coordination.k8s.io "$NS"
expect_can "$ctl" patch validatingwebhookconfigurations/weir
expect_can "$ctl" list pods development
# the view grants (status.viewNodes) follow the scheduled pods; only the controller writes them
expect_can "$ctl" watch pods development
expect_can "$ctl" update persistentvolumeclaims development
expect_can "$ctl" update persistentvolumes
expect_can "$ctl" get secrets development
expect_cannot "$ctl" list secrets development
expect_cannot "$ctl" watch secrets development
expect_cannot "$ctl" update secrets development
expect_cannot "$ctl" create secrets development
expect_cannot "$ctl" create pods development
expect_cannot "$ctl" delete pods development
expect_cannot "$ctl" delete datasets.data.fluid.io development
expect_cannot "$ctl" update leases.coordination.k8s.io kube-system
expect_cannot "$ctl" patch validatingwebhookconfigurations/someone-elses
expect_can "$nodesa" watch dataloads.data.fluid.io
expect_can "$nodesa" update leases.coordination.k8s.io "$NS"
expect_can "$nodesa" watch leases.coordination.k8s.io "$NS"
expect_can "$nodesa" list namespaces
expect_cannot "$nodesa" list pods development
# the weir-nodes' own pods, in the release namespace only: a Lease is a member only while one runs
expect_can "$nodesa" watch pods "$NS"
expect_can "$nodesa" list pods "$NS"
expect_cannot "$nodesa" update pods "$NS"
expect_cannot "$nodesa" create pods "$NS"
expect_cannot "$nodesa" update datasets.data.fluid.io/status development
expect_cannot "$nodesa" update datasets.data.fluid.io development
expect_cannot "$nodesa" create persistentvolumes
expect_can "$nodesa" get secrets development
expect_cannot "$nodesa" list secrets development
expect_cannot "$nodesa" watch secrets development
ok "controller: CRs + status + finalizers, PV/PVC, pods read and watched, events, leases in $NS, its own webhook, Secrets one by one (no list/watch/write); node: read CRs and namespaces, the leases and pods in $NS, Secrets one by one"

echo
echo "k8s helm: all checks passed"
