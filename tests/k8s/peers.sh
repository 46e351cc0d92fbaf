#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the test peers (etcd, kube-apiserver, kubectl, kubelet, kube-controller-manager, helm; the S3 servers versitygw and
# SeaweedFS's weed) from the Go module proxy
# and caches them outside the clone, one directory per name and version, installed atomically.
#
#   tests/k8s/peers.sh [etcd|kube-apiserver|kubectl|kubelet|kube-controller-manager|helm|versitygw|weed ...]
#                                                                (default: all)
#   tests/k8s/peers.sh --print-dir NAME                          (where NAME's binary lives)
#   tests/k8s/peers.sh --missing [NAME ...]                      (prints those not cached yet)
#
# Cache: ${WEIR_PEERS_CACHE:-/var/cache/weir-peers}/<name>-<version>/<name>. A directory is only
# ever complete: the build goes to <name>-<version>.tmp.PID and is renamed into place, so a killed
# build leaves nothing that a later run would mistake for a binary. Delete a directory to rebuild.
set -euo pipefail

K8S_VERSION="${WEIR_K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${WEIR_ETCD_VERSION:-v3.6.16}"
HELM_VERSION="${WEIR_HELM_VERSION:-v4.3.2}"
VERSITYGW_VERSION="${WEIR_VERSITYGW_VERSION:-v1.8.0}"
# SeaweedFS publishes no semver tags the proxy lists; this pseudo-version is the one it serves.
WEED_VERSION="${WEIR_WEED_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"
CACHE="${WEIR_PEERS_CACHE:-/var/cache/weir-peers}"

export GOFLAGS="-trimpath -buildvcs=false"
# Two cores are shared with everything else on the machine; do not start more compilers than that.
GOPAR="${WEIR_PEERS_PAR:-2}"
# kubernetes 1.37 and etcd 3.6 need Go 1.26. An older go (Debian's is 1.23) fetches that toolchain
# from the module proxy (module golang.org/toolchain) and runs it; a new enough one is used as is.
GO_MIN=1.26
GO_PINNED=go1.26.8
GO=""

# find_go: sets GO (and GOTOOLCHAIN) the first time a build needs it: PATH's go, else /usr/local/go's,
# else Debian's golang-1.2x (scripts/install-deps.sh installs one when there is none).
find_go() {
	local g gov
	[ -z "$GO" ] || return 0
	GO="$(command -v go || true)"
	for g in /usr/local/go/bin/go /usr/lib/go-1.2[0-9]/bin/go; do
		if [ -z "$GO" ] && [ -x "$g" ]; then GO="$g"; fi
	done
	if [ -z "$GO" ]; then
		echo "peers: no Go toolchain (go on PATH, /usr/local/go or golang-1.2x); run scripts/install-deps.sh" >&2
		return 1
	fi
	# go keeps its module and build caches under HOME; a bare environment may have none.
	if [ -z "${HOME:-}" ] && [ -z "${GOPATH:-}" ]; then
		export GOPATH="$CACHE/gopath" GOCACHE="${GOCACHE:-$CACHE/gocache}"
	fi
	[ -z "${GOTOOLCHAIN:-}" ] || return 0
	gov="$(GOTOOLCHAIN=local "$GO" env GOVERSION)"
	if [ "$(printf '%s\n%s\n' "go$GO_MIN" "$gov" | sort -V | head -n 1)" = "go$GO_MIN" ]; then
		export GOTOOLCHAIN=local
	else
		export GOTOOLCHAIN="$GO_PINNED"
		echo "peers: $GO is $gov; building with $GO_PINNED from the module proxy" >&2
	fi
}

version_of() {
	case "$1" in
	etcd) echo "$ETCD_VERSION" ;;
	kube-apiserver | kubectl | kubelet | kube-controller-manager) echo "$K8S_VERSION" ;;
	helm) echo "$HELM_VERSION" ;;
	versitygw) echo "$VERSITYGW_VERSION" ;;
	weed) echo "$WEED_VERSION" ;;
	*) echo "peers: unknown peer \"$1\" (etcd, kube-apiserver, kubectl, kubelet, kube-controller-manager, helm, versitygw, weed)" >&2; return 1 ;;
	esac
}
dir_of() { echo "$CACHE/$1-$(version_of "$1")"; }

# wrapper_build TMP NAME MODULE VERSION PACKAGE LDFLAGS: builds PACKAGE from a throwaway module that
# requires MODULE@VERSION. `go install m@v` refuses modules whose go.mod has replace directives
# (kubernetes and etcd both have them); from a wrapper module those are ignored, and the wrapper
# says instead what they would have pointed to (extra lines in $WRAPPER_EXTRA).
wrapper_build() {
	local tmp="$1" name="$2" module="$3" version="$4" pkg="$5" ldflags="$6" mod
	mkdir -p "$tmp/src"
	mod="$(cd "$tmp/src" && "$GO" mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
	{
		echo "module weir.local/peers/$name"
		echo
		grep -m1 '^go ' "$mod"
		echo
		echo "require $module $version"
		echo
		printf '%s' "${WRAPPER_EXTRA:-}"
	} >"$tmp/src/go.mod"
	# -mod=mod fills go.sum with whatever the command needs (a command cannot be imported, so
	# there is no source file for `go mod tidy` to work from).
	(cd "$tmp/src" && "$GO" build -mod=mod -p "$GOPAR" -o "$tmp/$name" -ldflags "$ldflags" "$pkg")
}

# build_k8s TMP NAME: kubernetes replaces every staging module k8s.io/X with ./staging/src/k8s.io/X;
# those are published as k8s.io/X v0.<minor>.<patch>, which the wrapper pins instead.
build_k8s() {
	local tmp="$1" name="$2" v="$K8S_VERSION" sv mod minor vpkg=k8s.io/component-base/version
	sv="v0.${v#v1.}"
	minor="$(echo "$v" | cut -d. -f2)"
	mod="$(cd /tmp && "$GO" mod download -json "k8s.io/kubernetes@$v" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
	WRAPPER_EXTRA="$(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*#replace \1 => \1 '"$sv"'#p' "$mod")"
	[ -n "$WRAPPER_EXTRA" ] || { echo "peers: no staging modules found in $mod" >&2; return 1; }
	WRAPPER_EXTRA="$WRAPPER_EXTRA
" wrapper_build "$tmp" "$name" k8s.io/kubernetes "$v" "k8s.io/kubernetes/cmd/$name" \
		"-s -w -X $vpkg.gitVersion=$v -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean"
}

# build_weed TMP: SeaweedFS, the second S3 server of tests/e2e/s3.sh. Its go.mod has a replace
# directive (go-bip39), which `go install m@v` refuses; so the downloaded module itself is the main
# module, built with its own go.mod and go.sum (a writable copy: the module cache is read-only).
build_weed() {
	local tmp="$1" dir
	dir="$(cd /tmp && "$GO" mod download -json "github.com/seaweedfs/seaweedfs@$WEED_VERSION" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
	cp -R "$dir" "$tmp/src"
	chmod -R u+w "$tmp/src"
	(cd "$tmp/src" && "$GO" build -mod=mod -p "$GOPAR" -o "$tmp/weed" -ldflags "-s -w" ./weed)
}

# build_into NAME TMP: compiles NAME into TMP/NAME and checks that it runs (in a subshell of
# build_one, with errexit on).
build_into() {
	local name="$1" tmp="$2"
	case "$name" in
	etcd)
		# server/v3's own replaces point at its sibling modules of the same release, which
		# its requires name at that version already.
		wrapper_build "$tmp" etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3 "-s -w"
		;;
	kube-apiserver | kubectl | kubelet | kube-controller-manager) build_k8s "$tmp" "$name" ;;
	helm)
		local major="${HELM_VERSION%%.*}"
		GOBIN="$tmp" "$GO" install -p "$GOPAR" \
			-ldflags "-s -w -X helm.sh/helm/$major/internal/version.version=$HELM_VERSION" \
			"helm.sh/helm/$major/cmd/helm@$HELM_VERSION"
		;;
	versitygw)
		# The S3 server of tests/e2e/s3.sh (posix backend: a bucket is a directory).
		GOBIN="$tmp" "$GO" install -p "$GOPAR" -ldflags "-s -w" \
			"github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
		;;
	weed) build_weed "$tmp" ;;
	esac
	rm -rf "$tmp/src"
	[ -x "$tmp/$name" ] || { echo "peers: the $name build produced no binary" >&2; return 1; }
	local check=(--version)
	[ "$name" = kubectl ] && check=(version --client)
	[ "$name" = helm ] && check=(version)
	[ "$name" = versitygw ] && check=(--version)
	[ "$name" = weed ] && check=(version)
	"$tmp/$name" "${check[@]}" >"$tmp/version.txt" 2>&1 ||
		{ echo "peers: the built $name does not run: $name ${check[*]}: $(cat "$tmp/version.txt")" >&2; return 1; }
	rm -f "$tmp/version.txt"
}

build_one() {
	local name="$1" dir tmp t0 rc=0 lock
	dir="$(dir_of "$name")"
	if [ -x "$dir/$name" ]; then
		echo "peers: $name $(version_of "$name") cached in $dir"
		return 0
	fi
	find_go
	mkdir -p "$CACHE"
	# One build of a peer at a time: a second caller waits for the first and then finds it cached.
	exec {lock}>"$dir.lock"
	flock "$lock"
	if [ -x "$dir/$name" ]; then
		exec {lock}>&-
		echo "peers: $name $(version_of "$name") cached in $dir (built by another run meanwhile)"
		return 0
	fi
	# Left by a build that was killed (we hold the lock, so no build is running).
	rm -rf "$dir".tmp.*
	tmp="$dir.tmp.$$"
	mkdir -p "$tmp"
	echo "peers: building $name $(version_of "$name") (GOFLAGS=$GOFLAGS, -p $GOPAR) ..."
	t0=$(date +%s)
	set +e
	(
		set -e
		build_into "$name" "$tmp"
	)
	rc=$?
	set -e
	if [ "$rc" -ne 0 ]; then
		rm -rf "$tmp"
		exec {lock}>&-
		echo "peers: building $name $(version_of "$name") failed (output above)" >&2
		return 1
	fi
	# A rename of a complete directory: a cache entry either is whole or does not exist.
	mv -T "$tmp" "$dir"
	exec {lock}>&-
	echo "peers: built $name $(version_of "$name") in $(($(date +%s) - t0)) s -> $dir"
}

if [ "${1:-}" = --print-dir ]; then
	dir_of "${2:?peers: --print-dir needs a name}"
	exit 0
fi
missing=0
if [ "${1:-}" = --missing ]; then
	missing=1
	shift
fi
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(etcd kube-apiserver kubectl kubelet kube-controller-manager helm versitygw weed)
for n in "${names[@]}"; do version_of "$n" >/dev/null; done
if [ "$missing" = 1 ]; then
	for n in "${names[@]}"; do
		[ -x "$(dir_of "$n")/$n" ] || echo "$n"
	done
	exit 0
fi
for n in "${names[@]}"; do build_one "$n"; done
