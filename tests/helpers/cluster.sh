# SPDX-License-Identifier: Apache-2.0
# Several weir-nodes on one machine, one per network namespace (sourcing it sources lib.sh,
# nginx.sh and weir.sh, which it needs): a bridge and namespaces of the caller's own (named after its pid, addresses it picks,
# removed on exit), and a weir-node per namespace with its own state directory, tier and node.conf.
#
#   cluster_net_setup N      bridge $CL_BR at $CL_SUBNET.1/24, namespaces ${CL_TAG}n1..N at ip_of I
#   ip_of I                  node I's address
#   on I CMD...              runs CMD in node I's network namespace (same mounts and files)
#   cluster_nodes PEERS      sets CL_PEERS for node_setup: "n1=http://ip_of1:PORT;id=KEY,..." of
#                            nodes PEERS, each node's identity made first in $CL_IDS/nI.key
#                            (exported as WEIR_ID_KEY_DIR: peer_request.py signs as the node it
#                            claims); CL_NO_IDS=1: entries without ;id= (the shared key only)
#   node_setup I DIR KEY [CONF...]   state dir, tier, key and node.conf of node I under DIR
#   mount_on I URL [ARGS...] mounts URL on node I at ${MP[I]} (its weir-node starts in its namespace)
#   stop_node I              unmounts node I's view, stops its keeper and weir-node (SIGTERM)
#   metric I NAME            NAME on node I's /metrics (summed over labels); fails if absent
#   ufs_body_bytes           body bytes nginx sent for objects, listings excluded
#   check_copy WHAT DEST     cmps every file of DEST with $TREE ($NFILES files)
#   copy_at_once PREFIX I... nodes I... copy their views to PREFIX$I at once; check_copy of each

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/nginx.sh"
. "$(dirname "${BASH_SOURCE[0]}")/weir.sh"

PEER_PORT=7070 # inside each node's own network namespace: no one else's port
CL_TAG="wc$$"
CL_BR="${CL_TAG}br"
CL_SUBNET="10.$((100 + $$ % 100)).$((RANDOM % 250 + 1))"
CL_N=0
declare -A TIERS STATE MP

cluster_net_cleanup() {
	local i
	for i in $(seq 1 "$CL_N"); do ip netns del "${CL_TAG}n$i" 2>/dev/null || true; done
	ip link del "$CL_BR" 2>/dev/null || true
}

cluster_net_setup() {
	local n="$1" i ns
	for t in ip nsenter curl python3; do
		command -v "$t" >/dev/null || fail "$t is missing: install iproute2, util-linux, curl, python3 (scripts/install-deps.sh)"
	done
	CL_N="$n"
	at_exit cluster_net_cleanup
	ip link add "$CL_BR" type bridge || fail "cannot create bridge $CL_BR (needs CAP_NET_ADMIN and the bridge module)"
	ip addr add "$CL_SUBNET.1/24" dev "$CL_BR"
	ip link set "$CL_BR" up
	for i in $(seq 1 "$n"); do
		ns="${CL_TAG}n$i"
		ip netns add "$ns" || fail "cannot create network namespace $ns"
		ip link add "${CL_TAG}v$i" type veth peer name eth0 netns "$ns" || fail "cannot create veth ${CL_TAG}v$i"
		ip link set "${CL_TAG}v$i" master "$CL_BR" up
		ip -n "$ns" addr add "$(ip_of "$i")/24" dev eth0
		ip -n "$ns" link set eth0 up
		ip -n "$ns" link set lo up
	done
}

ip_of() { echo "$CL_SUBNET.$((10 + $1))"; }

on() {
	local i="$1"
	shift
	WEIR_STATE_DIR="${STATE[$i]:-}" nsenter --net="/run/netns/${CL_TAG}n$i" "$@"
}

# cluster_ids_init: $CL_IDS, where the nodes' identities are made (once; not in a subshell)
cluster_ids_init() {
	if [ -z "${CL_IDS:-}" ]; then
		CL_IDS="$(mktemp -d /tmp/weir-ids.XXXXXX)"
		at_exit rm -rf "$CL_IDS"
		export WEIR_ID_KEY_DIR="$CL_IDS"
	fi
	find_weir_bins
}

# node_id_of I: node I's identity (made first in $CL_IDS/nI.key), as weir-node prints it
node_id_of() {
	local id
	[ -n "${CL_IDS:-}" ] || fail "node_id_of: call cluster_ids_init first"
	id="$("$WEIR_NODE_BIN" --state-dir "$CL_IDS/state" --node-id-file "$CL_IDS/n$1.key" --print-node-id)" ||
		fail "weir-node --print-node-id failed for node $1"
	[[ "$id" =~ ^[0-9a-f]{64}$ ]] || fail "weir-node --print-node-id printed \"$id\", not a key"
	printf '%s\n' "$id"
}

cluster_nodes() {
	local i id
	CL_PEERS=""
	cluster_ids_init
	for i in "$@"; do
		id=""
		[ "${CL_NO_IDS:-0}" = 1 ] || id=";id=$(node_id_of "$i")"
		CL_PEERS+="${CL_PEERS:+,}n$i=http://$(ip_of "$i"):$PEER_PORT$id"
	done
}

node_setup() {
	local i="$1" dir="$2" key="$3" saved=("${WEIR_MOUNTS[@]}")
	shift 3
	weir_setup "$dir"
	WEIR_MOUNTS=("${saved[@]}")
	STATE[$i]="$WEIR_STATE"
	TIERS[$i]="mem:$WEIR_TIER_DIR/mem:${CL_TIER_QUOTA:-1GiB}"
	MP[$i]="$dir/mnt"
	{
		if [ -n "$CL_PEERS" ]; then
			printf '%s\n' "$key" >"${STATE[$i]}/peer.key"
			chmod 600 "${STATE[$i]}/peer.key"
			printf 'node-name = n%s\npeers = %s\npeer-listen = %s:%s\n' "$i" "$CL_PEERS" "$(ip_of "$i")" "$PEER_PORT"
			[ -z "${CL_IDS:-}" ] || [ "${CL_NO_IDS:-0}" = 1 ] || printf 'node-id-file = %s\n' "$CL_IDS/n$i.key"
		fi
		printf '%s\n' "$@"
	} >"${STATE[$i]}/node.conf"
}

mount_on() {
	local i="$1" url="$2"
	shift 2
	WEIR_STATE="${STATE[$i]}"
	mkdir -p "${MP[$i]}"
	on "$i" timeout -k 5 120 "$WEIR_BIN" --state-dir "${STATE[$i]}" mount "$url" "${MP[$i]}" \
		--tier "${TIERS[$i]}" --metadata-ttl 3600 "$@" </dev/null >"${STATE[$i]}/../mount.out" 2>&1 ||
		{ cat "${STATE[$i]}/../mount.out" >&2; tail -30 "${STATE[$i]}/node.log" >&2; fail "weir mount on node $i failed (above)"; }
	is_mounted "${MP[$i]}" || fail "weir mount on node $i returned 0 but ${MP[$i]} is not mounted"
	WEIR_MOUNTS+=("${MP[$i]}")
	if [ -n "$CL_PEERS" ]; then
		grep -q "cluster: node n$i of" "${STATE[$i]}/node.log" ||
			fail "node $i's weir-node did not join the cluster (no \"cluster: node n$i of\" in ${STATE[$i]}/node.log)"
	fi
}

stop_node() {
	local i="$1" pid k
	is_mounted "${MP[$i]}" && timeout -k 2 20 "$WEIR_BIN" --state-dir "${STATE[$i]}" umount "${MP[$i]}" >/dev/null 2>&1
	for k in weir_keeper_pid weir_node_pid; do
		pid="$($k "${STATE[$i]}")"
		[ -n "$pid" ] || continue
		pid_signal TERM "$pid" || continue
		pid_wait_gone 10 "$pid" || fail "weir $k of node $i ($pid) did not stop on SIGTERM"
	done
	return 0
}

metric() {
	local i="$1" name="$2" out
	out="$(on "$i" curl -fsS --max-time 10 -H "Authorization: Bearer $(cat "${STATE[$i]}/metrics.token")" http://127.0.0.1:9477/metrics)" || fail "node $i's /metrics does not answer"
	printf '%s\n' "$out" | awk -v n="$name" '$1 ~ ("^" n "([{]|$)") { s += $2; found = 1 } END { if (!found) exit 1; printf "%d\n", s }' ||
		fail "node $i's /metrics has no $name"
}

ufs_body_bytes() {
	awk -F'"' '$2 ~ /^GET / { split($2, r, " "); if (r[2] !~ /\/$/) { split($3, f, " "); s += f[2] } } END { printf "%d\n", s }' "$NGINX_ACCESS_LOG"
}

# check_copy WHAT DEST: cmps every file of DEST with the server's tree $TREE (of $NFILES files);
# fails naming the first file that differs, or a count that is not $NFILES.
check_copy() {
	local what="$1" dst="$2" f n=0
	while IFS= read -r f; do
		cmp "$TREE/$f" "$dst/$f" || fail "$f read through $what differs from the server's copy"
		n=$((n + 1))
	done < <(cd "$TREE" && find . -type f -printf '%P\n')
	[ "$n" -eq "$NFILES" ] || fail "compared $n files, expected $NFILES"
}

# copy_at_once PREFIX I...: nodes I... each cp -R their view ${MP[I]} to PREFIX$I, all at once;
# then check_copy of each. Fails naming the node whose cp failed or whose copy differs.
copy_at_once() {
	local pre="$1" i k=0 pids=()
	shift
	for i in "$@"; do
		timeout -k 5 300 cp -R "${MP[$i]}/." "$pre$i" &
		pids+=($!)
		pid_track "$!"
	done
	for i in "$@"; do
		wait "${pids[$k]}" || fail "cp -R of node $i's view failed"
		k=$((k + 1))
	done
	for i in "$@"; do check_copy "node $i" "$pre$i"; done
}

# one_node_with_test_peer FILE BYTES SEED: node n1 alone in its namespace on the test's bridge,
# in a cluster n1, n2 where n2 is the test itself (at $CL_SUBNET.250, holding the key): nginx
# serves $TMP/tree/FILE (BYTES random bytes from SEED) and n1 mounts it. Sets TREE, SIZE, MTIME,
# ETAG (the file's version as nginx gives it), KEY and $TMP/key (mode 0600), SRC_ID and N1 (n1's
# peer URL), for tests that talk to n1's peer port as a member would (peer_request.py).
one_node_with_test_peer() {
	local file="$1" bytes="$2" seed="$3"
	cluster_net_setup 1
	TREE="$TMP/tree"
	mkdir -p "$TREE"
	rand_file "$TREE/$file" "$bytes" "$seed"
	nginx_start "$TMP/nginx" "$TREE" --addr "$CL_SUBNET.1"
	SIZE=$(stat -c %s "$TREE/$file") MTIME=$(stat -c %Y "$TREE/$file")
	ETAG="$(printf '"%x-%x"' "$MTIME" "$SIZE")"
	ok "nginx (pid $NGINX_PID) at $NGINX_URL"
	KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	# n2 is the test: peer_request.py signs as n2 with $CL_IDS/n2.key
	cluster_ids_init
	CL_PEERS="n1=http://$(ip_of 1):$PEER_PORT;id=$(node_id_of 1),n2=http://$CL_SUBNET.250:$PEER_PORT;id=$(node_id_of 2)"
	node_setup 1 "$TMP/n1" "$KEY"
	mount_on 1 "$NGINX_URL"
	SRC_ID="$(ls "${STATE[1]}/stores")"
	[ -n "$SRC_ID" ] || fail "no source id under ${STATE[1]}/stores"
	printf '%s\n' "$KEY" >"$TMP/key" && chmod 600 "$TMP/key"
	N1="http://$(ip_of 1):$PEER_PORT"
}
