#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds csi-sanity from the Go module proxy (go install ...csi-test/v5/cmd/csi-sanity@v5.6.0: no
# replace directives, so no wrapper module) and caches it outside the clone, the way
# tests/k8s/peers.sh caches the Kubernetes peers: ${WEIR_PEERS_CACHE:-/var/cache/weir-peers}/
# csi-sanity-<version>/csi-sanity, built in a .tmp.PID directory and renamed into place, so a
# killed build never leaves something a later run takes for a binary. Prints the binary's path.
#   tests/csi/peer.sh --missing   prints "csi-sanity" if it is not cached yet, and builds nothing
set -euo pipefail
VERSION="${WEIR_CSI_SANITY_VERSION:-v5.6.0}"
CACHE="${WEIR_PEERS_CACHE:-/var/cache/weir-peers}"
DIR="$CACHE/csi-sanity-$VERSION"
if [ "${1:-}" = --missing ]; then
	[ -x "$DIR/csi-sanity" ] || echo csi-sanity
	exit 0
fi
if [ -x "$DIR/csi-sanity" ]; then
	echo "$DIR/csi-sanity"
	exit 0
fi
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" # csi-test v5.6.0 needs go 1.25: an older go fetches it
GO="$(command -v go || true)"
for g in /usr/local/go/bin/go /usr/lib/go-1.2[0-9]/bin/go; do
	if [ -z "$GO" ] && [ -x "$g" ]; then GO="$g"; fi
done
[ -n "$GO" ] || { echo "peer: no Go toolchain to build csi-sanity (run scripts/install-deps.sh)" >&2; exit 1; }
if [ -z "${HOME:-}" ] && [ -z "${GOPATH:-}" ]; then
	export GOPATH="$CACHE/gopath" GOCACHE="${GOCACHE:-$CACHE/gocache}"
fi
mkdir -p "$CACHE"
TMPD="$DIR.tmp.$$"
trap 'rm -rf "$TMPD"' EXIT
echo "peer: building csi-sanity $VERSION into $DIR (about a minute)" >&2
GOFLAGS="-trimpath -buildvcs=false" GOBIN="$TMPD" \
	"$GO" install "github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@$VERSION" >&2
[ -x "$TMPD/csi-sanity" ] || { echo "peer: go install left no csi-sanity in $TMPD" >&2; exit 1; }
mv -T "$TMPD" "$DIR" 2>/dev/null || [ -x "$DIR/csi-sanity" ]
echo "$DIR/csi-sanity"
