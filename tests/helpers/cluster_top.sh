# SPDX-License-Identifier: Apache-2.0
# `weir top`'s cluster line against the nodes' own figures (source after lib.sh and weir.sh; the
# caller defines `metric I NAME`, node I's /metrics value of NAME, failing when it is absent).
#
#   cluster_sums N                   "UFS PEER_IN PEER_OUT " summed over nodes 1..N's /metrics
#   cluster_top_total DIR OUT NODES UFS IN OUT_B
#                                    weir top --once -o json on state dir DIR (saved at OUT) shows
#                                    a cluster total of NODES nodes and these bytes; prints both
#   cluster_top_is_sum DIR OUT N     cluster_top_total against cluster_sums N taken now (a node
#                                    may still count a late fetch ahead after its readers end)

cluster_sums() {
	local n="$1" m s i
	for m in weir_source_ufs_fetched_bytes_total weir_peer_in_bytes_total weir_peer_out_bytes_total; do
		s=0
		for i in $(seq 1 "$n"); do s=$((s + $(metric "$i" "$m"))); done
		printf '%s ' "$s"
	done
}

cluster_top_total() {
	local dir="$1" out="$2"
	shift 2
	timeout 30 "$WEIR_BIN" --state-dir "$dir" top --once -o json >"$out" || return 1
	python3 - "$out" "$@" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["cluster"].get("total", {})
want = dict(zip(["nodes", "ufs_bytes", "peer_in_bytes", "peer_out_bytes"], map(int, sys.argv[2:])))
got = {k: t.get(k) for k in want}
print("  weir top:", got, "want", want)
sys.exit(got != want)
PY
}

cluster_top_is_sum() {
	local sums
	sums="$(cluster_sums "$3")" || return 1
	# shellcheck disable=SC2086
	cluster_top_total "$1" "$2" "$3" $sums
}
