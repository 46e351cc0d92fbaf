#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs every Debian package weir's build, tests and benchmarks need.
# Idempotent: a second run on a provisioned machine only checks.
set -euo pipefail

pkgs=(
  build-essential meson ninja-build pkg-config clang llvm clang-format libclang-rt-14-dev
  libfuse3-dev fuse3 liburing-dev libcurl4-openssl-dev libxxhash-dev
  libyaml-dev libjson-c-dev libsqlite3-dev sqlite3 check
  libprotobuf-c-dev protobuf-c-compiler libmicrohttpd-dev libgnutls28-dev libnghttp2-dev libxml2-dev libssl-dev
  nginx-light curl python3 python3-cryptography python3-botocore procps psmisc openssl e2fsprogs util-linux mawk
  gnuplot-nox valgrind fio rclone s3fs
  containerd runc containernetworking-plugins busybox-static iproute2
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
new_containerd=0
case " ${missing[*]} " in *" containerd "*) new_containerd=1 ;; esac
# containerd's package would start a system containerd on /run/containerd; tests/k8s/kubelet.sh runs
# its own, with its own root, state and socket. policy-rc.d's 101 keeps invoke-rc.d from starting
# any service during this install (one already there is left as it was).
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -q --no-install-recommends "${pkgs[@]}"
apt-get install -y -q --no-install-recommends -t bookworm-backports "${backports[@]}"
# Under systemd the unit would still start at the next boot; a containerd that was there before
# (a Docker host's) is left alone.
if [ "$new_containerd" = 1 ]; then
  systemctl disable --now containerd >/dev/null 2>&1 || true
fi
# nginx-light's package starts a system nginx on :80; weir's tests run their own.
systemctl disable --now nginx >/dev/null 2>&1 || service nginx stop >/dev/null 2>&1 || true
echo "install-deps: done"
