# SPDX-License-Identifier: Apache-2.0
# A real S3 server for a test (source after lib.sh): versitygw's posix backend on loopback,
# signature checking on, built and cached by tests/k8s/peers.sh; and uploads through curl's own
# SigV4 (a second signer, so weir's requests are not checked against themselves).
#
#   vgw_start DIR [--tls] [--iam]   starts versitygw serving DIR/root; sets VGW_URL, VGW_PID,
#                        VGW_KEY, VGW_SECRET (random, exported to nothing); stops it at exit. --tls:
#                        https with a self-signed certificate for 127.0.0.1, VGW_CA names its file;
#                        --iam: accounts besides the root one (vgw_admin), kept in DIR/iam
#   vgw_admin ARGS...    versitygw's admin tool as root (create-user, delete-user ...)
#   vgw_curl ARGS...     curl signed with VGW_KEY/VGW_SECRET (the keys in a 0600 config file)
#   vgw_put_tree SRC BUCKET [PREFIX]   uploads every file under SRC (one curl, 8 PUTs at a time)

. "$(dirname "${BASH_SOURCE[0]}")/s3_peer.sh"

vgw_start() {
	local dir="$1" tls="" bin try i scheme=http tlsargs=() iamargs=() a
	shift
	for a in "$@"; do
		case "$a" in
		--tls) tls=--tls ;;
		--iam) mkdir -p "$dir/iam" && iamargs=(--iam-dir "$dir/iam" --iam-cache-disable) ;;
		*) fail "vgw_start: unknown option \"$a\"" ;;
		esac
	done
	bin="$(s3_peer_bin versitygw versitygw 2-4)" || exit 1
	mkdir -p "$dir/root"
	s3_peer_prepare "$dir" weirtest S3cr3t/ $tls
	VGW_BIN="$bin"
	[ -z "$VGW_CA" ] || scheme=https tlsargs=(--cert "$VGW_DIR/cert.pem" --key "$VGW_DIR/key.pem")
	for try in 1 2 3; do
		VGW_PORT="$(free_port)"
		# the root keys through the environment: not on the command line for ps to show
		ROOT_ACCESS_KEY="$VGW_KEY" ROOT_SECRET_KEY="$VGW_SECRET" \
			"$bin" --port "127.0.0.1:$VGW_PORT" --quiet "${tlsargs[@]}" "${iamargs[@]}" posix "$VGW_DIR/root" \
			</dev/null >>"$VGW_DIR/vgw.log" 2>&1 &
		VGW_PID=$!
		pid_track "$VGW_PID"
		for i in $(seq 1 100); do
			if curl -s -k -o /dev/null "$scheme://127.0.0.1:$VGW_PORT/"; then
				VGW_URL="$scheme://127.0.0.1:$VGW_PORT"
				at_exit "vgw_stop $VGW_PID"
				return 0
			fi
			pid_alive "$VGW_PID" || break
			sleep 0.05
		done
		vgw_stop "$VGW_PID"
	done
	fail "versitygw did not start (log: $(tail -5 "$VGW_DIR/vgw.log"))"
}

# vgw_stop PID: stops the versitygw vgw_start started with that pid.
vgw_stop() { pid_stop "$1"; }

vgw_curl() { curl -sS -K "$VGW_DIR/curl.conf" "$@"; }

# the root keys through the environment, not the command line
vgw_admin() {
	ADMIN_ACCESS_KEY_ID="$VGW_KEY" ADMIN_SECRET_ACCESS_KEY="$VGW_SECRET" \
		"$VGW_BIN" admin --endpoint-url "$VGW_URL" ${VGW_CA:+--allow-insecure} "$@"
}

# vgw_key_url BUCKET KEY: the object's URL, the key AWS-encoded (only unreserved bytes and "/" kept).
vgw_key_url() {
	python3 -c 'import sys, urllib.parse as u; print(sys.argv[1] + "/" + sys.argv[2] + "/" + u.quote(sys.argv[3], safe="/~"))' \
		"$VGW_URL" "$1" "$2"
}

vgw_put_tree() {
	local src="$1" bucket="$2" prefix="${3:-}" cfg
	cfg="$VGW_DIR/put.$$.conf"
	(cd "$src" && find . -type f -print0) | python3 -c '
import sys, urllib.parse as u
src, url, bucket, prefix = sys.argv[1:5]
for p in sys.stdin.buffer.read().split(b"\0"):
    if not p:
        continue
    rel = p[2:].decode("utf-8", "surrogateescape")
    key = prefix + rel
    q = lambda s: s.replace("\\", "\\\\").replace("\"", "\\\"")
    print("upload-file = \"%s\"" % q(src + "/" + rel))
    print("url = \"%s\"" % q(url + "/" + bucket + "/" + u.quote(key, safe="/~")))
    print("output = /dev/null")
' "$src" "$VGW_URL" "$bucket" "$prefix" >"$cfg"
	# 8 PUTs at a time: 20,000 small files one after the other took 32 s of a CI run
	vgw_curl -f --fail-early --parallel --parallel-max 8 -K "$cfg" || fail "uploading $src to bucket $bucket failed"
	rm -f "$cfg"
}
