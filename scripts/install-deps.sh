#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs every Debian package weir's build, tests and benchmarks need.
# Idempotent: a second run on a provisioned machine only checks.
set -euo pipefail

pkgs=(
  build-essential meson ninja-build pkg-config clang llvm clang-format libclang-rt-14-dev
  libfuse3-dev fuse3 liburing-dev libcurl4-openssl-dev libxxhash-dev
  libyaml-dev libjson-c-dev libsqlite3-dev sqlite3 check
  libprotobuf-c-dev protobuf-c-compiler libmicrohttpd-dev libnghttp2-dev libxml2-dev libssl-dev
  nginx-light curl python3 procps psmisc openssl e2fsprogs util-linux mawk
  gnuplot-nox
)
backports=(libbpf-dev bpftool linux-libc-dev)

missing=()
for p in "${pkgs[@]}" "${backports[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done
# libbpf must be >= 1.4 (CO-RE with the kernel's BTF, ring buffers with the newer API).
if ! pkg-config --atleast-version=1.4 libbpf 2>/dev/null; then missing+=(libbpf-dev); fi
# tests/k8s/peers.sh builds kube-apiserver, etcd, kubectl and helm with Go. Any go >= 1.21 will do:
# an older one than the builds need fetches the right toolchain from the Go module proxy.
have_go() {
  local g
  for g in "$(command -v go || true)" /usr/local/go/bin/go /usr/lib/go-1.2[1-9]/bin/go; do
    [ -n "$g" ] && [ -x "$g" ] && return 0
  done
  return 1
}
if ! have_go; then
  backports+=(golang-1.23-go)
  missing+=(golang-1.23-go)
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}) and not root: run this script as root" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat > /etc/apt/sources.list.d/weir-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
apt-get update -q
apt-get install -y -q --no-install-recommends "${pkgs[@]}"
apt-get install -y -q --no-install-recommends -t bookworm-backports "${backports[@]}"
# nginx-light's package starts a system nginx on :80; weir's tests run their own.
systemctl disable --now nginx >/dev/null 2>&1 || service nginx stop >/dev/null 2>&1 || true
echo "install-deps: done"
