# SPDX-License-Identifier: Apache-2.0
# What starting any S3 test server takes before the server itself (sourced by versitygw.sh, so
# seaweedfs.sh has it too): its directory, random root keys, a curl config that signs with them,
# and with --tls a self-signed certificate for 127.0.0.1.
#
#   s3_peer_bin PEER BIN MINUTES   prints the path of BIN, built and cached by
#                        tests/k8s/peers.sh PEER; fails saying how to build it (about MINUTES)
#   s3_peer_prepare DIR KEY_PREFIX SECRET_PREFIX [--tls]   sets VGW_DIR (DIR, absolute), VGW_KEY
#                        (KEY_PREFIX and 8 random hex digits), VGW_SECRET (SECRET_PREFIX, 24 hex
#                        digits, "+Key"), VGW_CA (the certificate's file, or ""); writes
#                        DIR/curl.conf (mode 0600: it holds the keys) for vgw_curl; with --tls also
#                        DIR/cert.pem and DIR/key.pem, and curl.conf trusts the certificate

s3_peer_bin() {
	local bin
	bin="$("$WEIR_SRC/tests/k8s/peers.sh" --print-dir "$1")/$2"
	[ -x "$bin" ] || fail "$2 is not built at $bin: run tests/k8s/peers.sh $1 (about $3 minutes, cached afterwards)"
	printf '%s\n' "$bin"
}

s3_peer_prepare() {
	local dir="$1" key_prefix="$2" secret_prefix="$3" tls="${4:-}"
	case "$tls" in
	"" | --tls) ;;
	*) fail "s3_peer_prepare: unknown option \"$tls\"" ;;
	esac
	[ -d "$dir" ] || fail "s3_peer_prepare: no directory \"$dir\""
	VGW_DIR="$(cd "$dir" && pwd)"
	VGW_KEY="$key_prefix$(openssl rand -hex 4)"
	VGW_SECRET="$secret_prefix$(openssl rand -hex 12)+Key"
	VGW_CA=""
	(
		umask 077
		printf 'user = "%s:%s"\naws-sigv4 = "aws:amz:us-east-1:s3"\nheader = "x-amz-content-sha256: UNSIGNED-PAYLOAD"\n' \
			"$VGW_KEY" "$VGW_SECRET" >"$VGW_DIR/curl.conf"
		if [ "$tls" = --tls ]; then
			openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
				-addext subjectAltName=IP:127.0.0.1 -keyout "$VGW_DIR/key.pem" -out "$VGW_DIR/cert.pem" \
				>/dev/null 2>&1 || exit 1
			printf 'cacert = "%s"\n' "$VGW_DIR/cert.pem" >>"$VGW_DIR/curl.conf"
		fi
	) || fail "s3_peer_prepare: could not write $VGW_DIR/curl.conf or make a test certificate (openssl)"
	[ "$tls" = --tls ] && VGW_CA="$VGW_DIR/cert.pem"
	return 0
}
