# SPDX-License-Identifier: Apache-2.0
# weir's image for the test node (source after tests/k8s/kubelet.sh): the binaries under test (the
# build's weir-node, weir-keeper, weir-csi, weir), every shared library ldd names for them with the
# dynamic loader, fusermount3, and the static busybox of the test images (sh, kill, cat for kubectl
# exec), packed by oci_pack.py and imported into the test's containerd. Pods use it with
# imagePullPolicy: Never (no registry is reachable).
#
#   weir_image_pack DIR REF     packs the image as REF into DIR/<tag>.tar and imports it; each
#                               image holds /etc/weir-image (its REF), so two tags of one build
#                               are two images, as two releases would be

weir_image_root() {
	local root="$1" b lib a
	mkdir -p "$root/bin" "$root/usr/bin" "$root/etc" "$root/tmp" "$root/lib64"
	chmod 1777 "$root/tmp"
	cp "$(command -v busybox)" "$root/bin/busybox"
	for a in $(busybox --list); do
		[ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
	done
	echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
	echo 'root:x:0:' >"$root/etc/group"
	command -v fusermount3 >/dev/null || fail "fusermount3 is missing: run scripts/install-deps.sh (fuse3)"
	for b in "$WEIR_NODE_BIN" "$WEIR_KEEPER_BIN" "$WEIR_CSI_BIN" "$WEIR_BIN" "$(command -v fusermount3)"; do
		[ -x "$b" ] || fail "the weir image needs \"$b\", which is not an executable"
		cp "$b" "$root/usr/bin/"
		# ldd prints "name => /path (addr)" and the loader as "/path (addr)"
		for lib in $(ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
			[ -e "$root$lib" ] && continue
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib" || fail "cannot copy $lib (a library of $b) into the weir image"
		done
	done
}

weir_image_pack() {
	local dir="$1" ref="$2" tag root out
	tag="${ref##*:}"
	root="$dir/weir-root-$tag"
	out="$dir/weir-$tag.tar"
	weir_image_root "$root"
	echo "$ref" >"$root/etc/weir-image"
	python3 "$KUBELET_HERE/oci_pack.py" "$root" "$ref" "$out" /usr/bin/weir-node ||
		fail "packing the weir image $ref failed"
	rm -rf "$root"
	kctr images import "$out" >"$dir/import-weir-$tag.log" 2>&1 ||
		fail "ctr images import $out failed: $(cat "$dir/import-weir-$tag.log")"
	kctr images ls -q | grep -qx "$ref" || fail "containerd lists no image $ref after the import"
	rm -f "$out"
}
