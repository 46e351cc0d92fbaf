# SPDX-License-Identifier: Apache-2.0
# An envtest-style Kubernetes for tests (source after tests/helpers/lib.sh, bash only): a real etcd
# and kube-apiserver on loopback, in a directory of the test's, killed by the EXIT trap.
#
#   k8s_peers [helm]      binaries from the peer cache, built first when missing (tests/k8s/peers.sh):
#                         K8S_ETCD_BIN, K8S_APISERVER_BIN, KUBECTL_BIN (and HELM_BIN)
#   k8s_start DIR         etcd + kube-apiserver; writes DIR/kubeconfig (admin token + CA) and
#                         DIR/kubeconfig-cert (admin client certificate + CA), exports KUBECONFIG,
#                         K8S_URL, K8S_TOKEN, K8S_CA, K8S_DIR; K8S_START_SECONDS is the start time.
#                         The apiserver presents a client certificate to every admission webhook
#                         (its AdmissionConfiguration): K8S_WEBHOOK_CLIENT_CA signed it (give it to
#                         weir-controller --webhook-client-ca); K8S_FORGED_CERT/KEY are a client
#                         certificate of another CA, for forging a review
#   kc ARGS...            kubectl against it (60 s timeout); jp ARGS... its get, errors dropped;
#                         is WANT ARGS... get prints WANT; kwait SECONDS WHAT CMD... polls CMD
#   k8s_apply_crds        kubectl apply -f deploy/crds/, then waits until every CRD is Established
#   k8s_namespace NS      creates NS and its "default" ServiceAccount (no controller-manager runs)
#   k8s_api METHOD PATH [BODY]   curl the API as admin; prints the body, fails on HTTP >= 400
#   k8s_objects MANIFEST  prints the manifest's objects as one JSON array (kubectl's own parsing)
#
# No kube-controller-manager, scheduler or kubelet: PVCs do not bind by themselves (pre-bind them),
# pods stay Pending, and nothing garbage-collects; tests/k8s/kubelet.sh adds a real node, named
# localhost, which the apiserver dials by that name (kubectl exec and logs reach its 127.0.0.1).
# The apiserver's logs are DIR/*.log; a failing test prints their tails.

K8S_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

k8s_peers() {
	local names=(etcd kube-apiserver kubectl)
	[ "${1:-}" = helm ] && names+=(helm)
	"$K8S_HERE/peers.sh" "${names[@]}" >&2 || fail "building the Kubernetes test peers failed (tests/k8s/peers.sh, output above)"
	K8S_ETCD_BIN="$("$K8S_HERE/peers.sh" --print-dir etcd)/etcd"
	K8S_APISERVER_BIN="$("$K8S_HERE/peers.sh" --print-dir kube-apiserver)/kube-apiserver"
	KUBECTL_BIN="$("$K8S_HERE/peers.sh" --print-dir kubectl)/kubectl"
	export K8S_ETCD_BIN K8S_APISERVER_BIN KUBECTL_BIN
	if [ "${1:-}" = helm ]; then
		HELM_BIN="$("$K8S_HERE/peers.sh" --print-dir helm)/helm"
		export HELM_BIN
	fi
}

kc() { timeout -k 5 60 "$KUBECTL_BIN" --kubeconfig "$KUBECONFIG" "$@"; }

# kwait SECONDS WHAT CMD...: polls CMD every KWAIT_STEP seconds (0.2 unless set) until it
# succeeds; fails naming WHAT when SECONDS pass first.
kwait() { UNTIL_OK_STEP="${KWAIT_STEP:-0.2}" until_ok "$@"; }
# jp ARGS...: what kubectl get ARGS prints (errors dropped); is WANT ARGS...: it prints exactly WANT
jp() { kc get "$@" 2>/dev/null; }
is() { [ "$(jp "${@:2}")" = "$1" ]; }

k8s_stop() {
	if [ "${WEIR_EXIT_RC:-0}" -ne 0 ] && [ -n "${K8S_DIR:-}" ]; then
		local f
		for f in "$K8S_DIR/kube-apiserver.log" "$K8S_DIR/etcd.log"; do
			[ -s "$f" ] || continue
			printf '\n--- last lines of %s ---\n' "$f" >&2
			tail -n 25 "$f" >&2
		done
	fi
	pid_stop -t 10 "${K8S_APISERVER_PID:-}"
	pid_stop -t 10 "${K8S_ETCD_PID:-}"
	K8S_APISERVER_PID="" K8S_ETCD_PID=""
}

# k8s_certs DIR: a CA, the apiserver's serving certificate (SAN 127.0.0.1 and localhost), an admin
# client certificate (O=system:masters) and the service-account signing key pair.
k8s_certs() {
	local d="$1/pki"
	mkdir -p "$d"
	(
		umask 077
		cd "$d"
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
			-subj "/CN=weir-test-ca" -addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
			-subj "/CN=kube-apiserver" 2>/dev/null
		printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc" \
			"extendedKeyUsage=serverAuth" "keyUsage=critical,digitalSignature,keyEncipherment" >apiserver.ext
		openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
			-extfile apiserver.ext -out apiserver.crt 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr \
			-subj "/O=system:masters/CN=weir-admin" 2>/dev/null
		printf '%s\n' "extendedKeyUsage=clientAuth" "keyUsage=critical,digitalSignature,keyEncipherment" >admin.ext
		openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
			-extfile admin.ext -out admin.crt 2>/dev/null
		# the apiserver's client certificate for webhooks, of a CA of its own (a webhook trusting
		# the cluster CA would trust every user's certificate), and one of a forger's CA
		for ca in webhook-client-ca forger-ca; do
			openssl req -x509 -newkey rsa:2048 -nodes -keyout $ca.key -out $ca.crt -days 2 \
				-subj "/CN=$ca" -addext "basicConstraints=critical,CA:TRUE" \
				-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
		done
		for c in webhook-client:webhook-client-ca forged:forger-ca; do
			openssl req -newkey rsa:2048 -nodes -keyout "${c%%:*}.key" -out "${c%%:*}.csr" \
				-subj "/CN=kube-apiserver-${c%%:*}" 2>/dev/null
			openssl x509 -req -in "${c%%:*}.csr" -CA "${c#*:}.crt" -CAkey "${c#*:}.key" \
				-CAcreateserial -days 2 -extfile admin.ext -out "${c%%:*}.crt" 2>/dev/null
		done
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
	) || fail "openssl could not make the test cluster's certificates in $d"
}

# k8s_write_kubeconfig FILE USER-LINES...: a kubeconfig for K8S_URL with the CA inlined.
k8s_write_kubeconfig() {
	local file="$1" ca
	shift
	ca="$(base64 -w0 <"$K8S_CA")"
	{
		cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: weir-test
  cluster:
    server: $K8S_URL
    certificate-authority-data: $ca
contexts:
- name: weir-test
  context:
    cluster: weir-test
    user: admin
current-context: weir-test
users:
- name: admin
  user:
EOF
		printf '    %s\n' "$@"
	} >"$file"
	chmod 600 "$file"
}

# k8s_wait_http URL SECONDS CURL-ARGS...: until URL answers 200 (returns 1 on timeout).
k8s_wait_http() {
	local url="$1" secs="$2" deadline
	shift 2
	deadline=$(($(date +%s) + secs))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$url" 2>/dev/null)" = 200 ] && return 0
		sleep 0.2
	done
	return 1
}

k8s_start() {
	local dir t0 t1 t2 eport pport aport
	dir="$(realpath -m "$1")"
	mkdir -p "$dir"
	[ -n "${K8S_APISERVER_BIN:-}" ] || k8s_peers
	K8S_DIR="$dir"
	at_exit k8s_stop
	k8s_certs "$dir"
	K8S_CA="$dir/pki/ca.crt"
	K8S_TOKEN="$(openssl rand -hex 24)"
	(umask 077 && printf '%s,weir-admin,weir-admin-uid,"system:masters"\n' "$K8S_TOKEN" >"$dir/tokens.csv")

	t0=$(now)
	eport=$(free_port) pport=$(free_port)
	"$K8S_ETCD_BIN" --name weir-test --data-dir "$dir/etcd" \
		--listen-client-urls "http://127.0.0.1:$eport" --advertise-client-urls "http://127.0.0.1:$eport" \
		--listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
		--initial-cluster "weir-test=http://127.0.0.1:$pport" --unsafe-no-fsync \
		--log-level warn >"$dir/etcd.log" 2>&1 &
	K8S_ETCD_PID=$!
	pid_track "$K8S_ETCD_PID"
	k8s_wait_http "http://127.0.0.1:$eport/health" 30 ||
		fail "etcd did not answer on 127.0.0.1:$eport within 30 s (log: $dir/etcd.log)"
	t1=$(now)

	aport=$(free_port)
	K8S_URL="https://127.0.0.1:$aport"
	# every webhook ("*") gets the apiserver's client certificate
	cat >"$dir/webhook-kubeconfig" <<EOF
apiVersion: v1
kind: Config
users:
- name: "*"
  user:
    client-certificate: $dir/pki/webhook-client.crt
    client-key: $dir/pki/webhook-client.key
EOF
	cat >"$dir/admission.yaml" <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: ValidatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: $dir/webhook-kubeconfig
EOF
	"$K8S_APISERVER_BIN" --etcd-servers "http://127.0.0.1:$eport" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$aport" \
		--cert-dir "$dir/pki" --tls-cert-file "$dir/pki/apiserver.crt" \
		--tls-private-key-file "$dir/pki/apiserver.key" --client-ca-file "$K8S_CA" \
		--token-auth-file "$dir/tokens.csv" --authorization-mode RBAC \
		--service-account-key-file "$dir/pki/sa.pub" \
		--service-account-signing-key-file "$dir/pki/sa.key" \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--api-audiences https://kubernetes.default.svc.cluster.local \
		--service-cluster-ip-range 10.0.0.0/24 --endpoint-reconciler-type none \
		--allow-privileged=true --profiling=false --enable-priority-and-fairness=false \
		--kubelet-preferred-address-types Hostname,InternalIP,ExternalIP \
		--admission-control-config-file "$dir/admission.yaml" \
		-v 1 >"$dir/kube-apiserver.log" 2>&1 &
	K8S_APISERVER_PID=$!
	pid_track "$K8S_APISERVER_PID"
	k8s_wait_http "$K8S_URL/readyz" 90 --cacert "$K8S_CA" -H "Authorization: Bearer $K8S_TOKEN" || {
		pid_alive "$K8S_APISERVER_PID" || fail "kube-apiserver exited at start (log: $dir/kube-apiserver.log)"
		fail "kube-apiserver was not ready on $K8S_URL within 90 s (log: $dir/kube-apiserver.log)"
	}
	t2=$(now)

	k8s_write_kubeconfig "$dir/kubeconfig" "token: $K8S_TOKEN"
	k8s_write_kubeconfig "$dir/kubeconfig-cert" \
		"client-certificate-data: $(base64 -w0 <"$dir/pki/admin.crt")" \
		"client-key-data: $(base64 -w0 <"$dir/pki/admin.key")"
	KUBECONFIG="$dir/kubeconfig"
	# kubectl's discovery cache, per server, would otherwise pile up under ~/.kube/cache.
	KUBECACHEDIR="$dir/kube-cache"
	K8S_WEBHOOK_CLIENT_CA="$dir/pki/webhook-client-ca.crt"
	K8S_FORGED_CERT="$dir/pki/forged.crt" K8S_FORGED_KEY="$dir/pki/forged.key"
	export KUBECONFIG KUBECACHEDIR K8S_URL K8S_TOKEN K8S_CA K8S_DIR K8S_WEBHOOK_CLIENT_CA \
		K8S_FORGED_CERT K8S_FORGED_KEY
	K8S_START_SECONDS="$(elapsed "$t0" "$t2")"
	note "k8s: etcd ready in $(elapsed "$t0" "$t1") s, kube-apiserver in $(elapsed "$t1" "$t2") s ($K8S_URL, kubeconfig $KUBECONFIG)"
}

k8s_apply_crds() {
	local src crd
	src="$(cd "$K8S_HERE/../.." && pwd)/deploy/crds"
	kc apply -f "$src/" >/dev/null || fail "kubectl apply -f deploy/crds/ failed (output above)"
	for crd in $(kc get crd -l app.kubernetes.io/part-of=weir -o name); do
		kc wait --for condition=Established --timeout=60s "$crd" >/dev/null ||
			fail "$crd is not Established after 60 s: $(kc get "$crd" -o jsonpath='{.status.conditions}')"
	done
}

k8s_namespace() {
	kc get namespace "$1" >/dev/null 2>&1 || kc create namespace "$1" >/dev/null ||
		fail "kubectl could not create namespace \"$1\""
	# Pods need it; without kube-controller-manager nobody else makes it.
	kc -n "$1" get serviceaccount default >/dev/null 2>&1 || kc -n "$1" create serviceaccount default >/dev/null ||
		fail "kubectl could not create the default ServiceAccount in \"$1\""
}

k8s_api() {
	local method="$1" path="$2" body="${3:-}" out code
	out="$(mktemp)"
	code="$(curl -s -o "$out" -w '%{http_code}' --max-time 30 --cacert "$K8S_CA" \
		-H "Authorization: Bearer $K8S_TOKEN" -H 'Content-Type: application/json' \
		-X "$method" ${body:+--data "$body"} "$K8S_URL$path")" || code=000
	cat "$out"
	rm -f "$out"
	[ "$code" -lt 400 ] && [ "$code" != 000 ] || { echo >&2; echo "k8s_api: $method $path: HTTP $code" >&2; return 1; }
}

k8s_objects() {
	# kubectl prints one JSON document per object (a List for a file that is one).
	kc create --dry-run=client -o json -f "$1" | python3 -c '
import json, sys
text, dec, pos, out = sys.stdin.read(), json.JSONDecoder(), 0, []
while True:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos >= len(text):
        break
    obj, pos = dec.raw_decode(text, pos)
    out += obj["items"] if obj.get("kind") == "List" else [obj]
print(json.dumps(out))'
}
