# SPDX-License-Identifier: Apache-2.0
# A second real S3 server for a test (source after lib.sh and versitygw.sh): SeaweedFS's `weed
# server -s3` (master, volume, filer and S3 gateway in one process) on loopback, signatures
# checked against the identities of its -s3.config, built and cached by tests/k8s/peers.sh weed.
#
#   sw_start DIR [--tls] [--iam]   starts weed with its data, config and sockets under DIR, every port its
#                          own free one; sets what vgw_start sets (VGW_URL, VGW_PORT, VGW_PID,
#                          VGW_KEY, VGW_SECRET, VGW_DIR, VGW_CA), so versitygw.sh's vgw_curl,
#                          vgw_key_url and vgw_put_tree drive it too; stops it at exit. Bucket
#                          "pub" reads anonymously (its "anonymous" identity); --tls: the S3
#                          endpoint is https with a self-signed certificate for 127.0.0.1; --iam:
#                          its IAM API (same port) takes changes: users, access keys (sw_iam)
#   sw_iam PARAM=VALUE...  one IAM API call as the test's identity (Version added, values
#                          URL-encoded); prints the answer, fails on an error

sw_start() {
	local dir="$1" tls="" bin try i p a scheme=http ports=() tlsargs=() iamargs=(-s3.iam.readOnly=true)
	shift
	for a in "$@"; do
		case "$a" in
		--tls) tls=--tls ;;
		--iam) iamargs=(-s3.iam.readOnly=false) ;;
		*) fail "sw_start: unknown option \"$a\"" ;;
		esac
	done
	bin="$(s3_peer_bin weed weed 6-20)" || exit 1
	mkdir -p "$dir/data"
	s3_peer_prepare "$dir" weirsw Sw/ $tls
	[ -z "$VGW_CA" ] || scheme=https
	(
		umask 077
		printf '{"identities": [{"name": "weirtest", "credentials": [{"accessKey": "%s", "secretKey": "%s"}], "actions": ["Admin", "Read", "List", "Tagging", "Write"]}, {"name": "anonymous", "actions": ["Read:pub", "List:pub"]}]}\n' \
			"$VGW_KEY" "$VGW_SECRET" >"$VGW_DIR/s3.json"
	)
	for try in 1 2 3; do
		# master, volume, filer and S3, each with its gRPC port: none of weed's defaults, which
		# another test on this machine may hold
		mapfile -t ports < <(free_port 9)
		[ "${#ports[@]}" -eq 9 ] || fail "free_port 9 gave ${#ports[@]} ports"
		VGW_PORT="${ports[6]}"
		[ "$tls" = --tls ] && tlsargs=(-s3.port.https="${ports[8]}" -s3.cert.file="$VGW_DIR/cert.pem"
			-s3.key.file="$VGW_DIR/key.pem") && VGW_PORT="${ports[8]}"
		# weed puts its gRPC sockets in /tmp by port unless told: here, under DIR. Each bucket is
		# a collection that grows 7 volumes at its first write, more when writes race on a loaded
		# machine: 8 slots left the second bucket (pub) none ("Not enough data nodes", a 500 to
		# its upload). Volumes are not preallocated: 64 slots cost no disk.
		"$bin" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$VGW_DIR/data" \
			-master.port="${ports[0]}" -master.port.grpc="${ports[1]}" -master.volumeSizeLimitMB=256 \
			-volume.port="${ports[2]}" -volume.port.grpc="${ports[3]}" -volume.max=64 -volume.preStopSeconds=0 \
			-filer -filer.port="${ports[4]}" -filer.port.grpc="${ports[5]}" -filer.localSocket="$VGW_DIR/filer.sock" \
			-s3 -s3.port="${ports[6]}" -s3.port.grpc="${ports[7]}" -s3.port.iceberg=0 -s3.port.lance=0 \
			-s3.localSocket="$VGW_DIR/s3.sock" -s3.config="$VGW_DIR/s3.json" "${tlsargs[@]}" "${iamargs[@]}" \
			</dev/null >>"$VGW_DIR/weed.log" 2>&1 &
		VGW_PID=$!
		pid_track "$VGW_PID"
		# ready when the S3 gateway answers (403 to an unsigned request) and its filer takes a bucket
		for i in $(seq 1 300); do
			p="$(curl -s -k -o /dev/null -w '%{http_code}' "$scheme://127.0.0.1:$VGW_PORT/" || true)"
			if [ "$p" != 000 ] && curl -sS -K "$VGW_DIR/curl.conf" -f -o /dev/null \
				"$scheme://127.0.0.1:$VGW_PORT/" 2>/dev/null; then
				VGW_URL="$scheme://127.0.0.1:$VGW_PORT"
				SW_GRPC_PORTS="${ports[1]} ${ports[3]} ${ports[5]} ${ports[7]}"
				at_exit "sw_stop $VGW_PID $SW_GRPC_PORTS"
				return 0
			fi
			pid_alive "$VGW_PID" || break
			sleep 0.1
		done
		sw_stop "$VGW_PID" "${ports[1]}" "${ports[3]}" "${ports[5]}" "${ports[7]}"
	done
	fail "SeaweedFS did not start (log: $(tail -5 "$VGW_DIR/weed.log"))"
}

# sw_stop PID GRPC_PORT...: stops the weed sw_start started with that pid, then removes the gRPC
# sockets weed left in /tmp for those ports (each named by its port: ours alone).
sw_stop() {
	local pid="$1" p
	shift
	pid_stop "$pid"
	for p in "$@"; do rm -f /tmp/seaweedfs-{master,volume,filer,s3}-grpc-"$p".sock; done
}

sw_iam() {
	local args=(--data-urlencode Version=2010-05-08) a out
	for a in "$@"; do args+=(--data-urlencode "$a"); done
	out="$(curl -sS -K "$VGW_DIR/curl.conf" --aws-sigv4 aws:amz:us-east-1:iam -w '\n%{http_code}' -X POST \
		"${args[@]}" "$VGW_URL/")" || fail "SeaweedFS's IAM API did not answer $1"
	case "${out##*$'\n'}" in
	2??) printf '%s\n' "${out%$'\n'*}" ;;
	*) fail "SeaweedFS's IAM API refused $1: ${out%$'\n'*}" ;;
	esac
}
