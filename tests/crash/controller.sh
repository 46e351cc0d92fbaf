#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kill -9 of weir-controller (under weir up's keeper), N rounds (issue 12):
#   during an apply of 60 Datasets, each carrying its round in 40 labels and 20 mount options:
#   afterwards every Dataset is whole, of the old round or the new one, never a mix;
#   during a DataLoad (a directory of its own per round, behind a rate-limited nginx): the load
#   ends Complete, or Failed with a reason, within 90 s; never stuck in Pending/Executing.
# Prints: kills, objects checked, half-applied objects, loads complete / failed / stuck, and the
# controller's time to answer again (p50/p99).
#   controller.sh [--n N]   (default 20)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/walkthrough.sh"

N=20
while [ $# -gt 0 ]; do
	case "$1" in
	--n) N="$2"; shift 2 ;;
	*) fail "usage: controller.sh [--n N]" ;;
	esac
done
require_root_fuse
find_weir_bins
find_controller_bin
TMP="$(mktemp -d /tmp/weir-crash-controller.XXXXXX)"
at_exit 'rm -rf "$TMP"'
weir_setup "$TMP"
printf 'metrics-listen = 127.0.0.1:%s\n' "$(free_port)" >"$WEIR_STATE/node.conf"
NDS=60 NLABELS=40 NOPTS=20

step "a tree of $N directories behind nginx (256 KiB/s per request: a load lasts ~3 s); weir up"
TREE="$TMP/tree"
for r in $(seq 1 "$N"); do
	mkdir -p "$TREE/r$r"
	for i in 1 2 3 4; do rand_file "$TREE/r$r/f$i" $((3 * 1024 * 1024 + r * 1000 + i)) "cc-$r-$i"; done
done
nginx_start "$TMP/nginx" "$TREE" --limit-rate 256k
wt_up
ckeeper="$(pid_from_file "$WEIR_STATE/controller-keeper.pid" weir-keeper --state-dir "$WEIR_STATE" --name controller)"
[ -n "$ckeeper" ] || fail "weir up left weir-controller under no weir-keeper"
wt_dataset_yaml default data "$NGINX_URL" >"$TMP/data.yaml"
wt_run "applying dataset default/data" apply -f "$TMP/data.yaml"
wt_wait_phase dataset data default Bound 60
ok "dataset default/data is Bound"

# manifest ROUND: NDS Datasets, each with NLABELS labels and NOPTS mount options all saying ROUND.
manifest() {
	local r="$1" d i
	for d in $(seq 1 "$NDS"); do
		printf -- '---\napiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata:\n  name: obj%s\n  namespace: crash\n  labels:\n' "$d"
		for i in $(seq 1 "$NLABELS"); do printf '    l%s: "%s"\n' "$i" "$r"; done
		printf 'spec:\n  mounts:\n    - mountPoint: %s\n      name: obj%s\n      options:\n' "$NGINX_URL" "$d"
		for i in $(seq 1 "$NOPTS"); do printf '        o%s: "%s"\n' "$i" "$r"; done
	done
}

# the rounds each Dataset carries: one line per object, "name round" or "name MIXED ..."
rounds_of() {
	w get dataset -n crash -o json </dev/null >"$TMP/all.json" 2>"$TMP/all.err" || fail "weir get dataset -n crash failed: $(cat "$TMP/all.err")"
	python3 - "$TMP/all.json" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
items = v["items"] if isinstance(v, dict) and "items" in v else (v if isinstance(v, list) else [v])
for o in items:
    labels = (o.get("metadata") or {}).get("labels") or {}
    opts = {}
    for m in (o.get("spec") or {}).get("mounts") or []:
        opts.update(m.get("options") or {})
    vals = set(labels.values()) | set(opts.values())
    n = len(labels) + len(opts)
    name = o["metadata"]["name"]
    if len(vals) == 1:
        print(name, vals.pop(), n)
    else:
        print(name, "MIXED", n, sorted(vals))
PY
}

# wait_controller: seconds until weir get answers again (the keeper restarts the controller)
wait_controller() {
	local t0 i
	t0="$(now)"
	for i in $(seq 1 400); do
		if w get dataset -n default data </dev/null >/dev/null 2>&1; then
			elapsed "$t0" "$(now)"
			return 0
		fi
		sleep 0.05
	done
	fail "weir-controller did not answer within 20 s of kill -9 (keeper $ckeeper)"
}

kill_controller() {
	local pid
	pid="$(live_pid controller)"
	[ -n "$pid" ] || fail "no weir-controller runs to kill"
	pid_signal 9 "$pid"
	pid_wait_gone 1 "$pid" || true
	KILLS=$((KILLS + 1))
}

KILLS=0 CUT=0 CHECKED=0 HALF=0 COMPLETE=0 FAILED=0 STUCK=0 RESUMED=0 SEEN_EXEC=0
RECOVER=()
wt_run "creating namespace crash" create namespace crash
manifest 0 >"$TMP/m0.yaml"
t0="$(now)"
wt_run "applying round 0" apply -f "$TMP/m0.yaml"
APPLY_MS="$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%d", (b - a) * 1000 }')"
note "an apply of $NDS Datasets takes $APPLY_MS ms: each round's kill lands at random within it"

step "$N rounds: kill -9 weir-controller during an apply, then during a DataLoad"
for r in $(seq 1 "$N"); do
	manifest "$r" >"$TMP/m.yaml"
	prev=$((r - 1))
		w apply -f "$TMP/m.yaml" </dev/null >"$TMP/apply.out" 2>&1 &
	apid=$!
	pid_track "$apid"
	sleep "$(awk -v r="$RANDOM" -v ms="$APPLY_MS" 'BEGIN { printf "%.3f", (r % (ms + 1)) / 1000 }')"
	kill_controller
	wait "$apid" || CUT=$((CUT + 1))
	RECOVER+=("$(wait_controller)")
	rounds_of >"$TMP/rounds"
	[ "$(wc -l <"$TMP/rounds")" -eq "$NDS" ] || fail "round $r: weir get shows $(wc -l <"$TMP/rounds") Datasets in crash/, not $NDS"
	while read -r name got n rest; do
		CHECKED=$((CHECKED + 1))
		if [ "$got" = MIXED ] || { [ "$got" != "$r" ] && [ "$got" != "$prev" ]; } || [ "$n" -ne $((NLABELS + NOPTS)) ]; then
			HALF=$((HALF + 1))
			note "round $r: $name is half-applied: $got $n $rest"
		fi
	done <"$TMP/rounds"
	# the round the next one builds on: re-apply it whole (the kill may have left the old one)
	wt_run "re-applying round $r" apply -f "$TMP/m.yaml"

	cat >"$TMP/load.yaml" <<YAML
apiVersion: data.fluid.io/v1alpha1
kind: DataLoad
metadata:
  name: load$r
  namespace: default
spec:
  dataset:
    name: data
    namespace: default
  target:
    - path: /r$r
YAML
	wt_run "creating DataLoad load$r" apply -f "$TMP/load.yaml"
	sleep "$((RANDOM % 2)).$((RANDOM % 10))"
	phase="$(w get dataload "load$r" -n default -o json </dev/null 2>/dev/null | python3 -c 'import json,sys; print((json.load(sys.stdin).get("status") or {}).get("phase") or "none")' 2>/dev/null || echo "?")"
	[ "$phase" = Executing ] && SEEN_EXEC=$((SEEN_EXEC + 1))
	kill_controller
	RECOVER+=("$(wait_controller)")
	t0="$(date +%s)"
	final=""
	while [ $(($(date +%s) - t0)) -lt 90 ]; do
		if wt_json dataload "load$r" default "$TMP/dl.json"; then
			final="$(wt_field_opt "$TMP/dl.json" status.phase)"
			[ "$final" = Complete ] || [ "$final" = Failed ] && break
		fi
		sleep 0.5
	done
	case "$final" in
	Complete)
		COMPLETE=$((COMPLETE + 1))
		[ "$phase" = Complete ] || RESUMED=$((RESUMED + 1))
		;;
	Failed)
		FAILED=$((FAILED + 1))
		reason="$(wt_conditions "$TMP/dl.json" | grep '^Failed=True' || true)"
		[ -n "$reason" ] || fail "round $r: DataLoad load$r is Failed with no Failed condition: $(head -c 400 "$TMP/dl.json")"
		note "round $r: load$r Failed: $reason"
		;;
	*)
		STUCK=$((STUCK + 1))
		note "round $r: load$r still \"$final\" 90 s after the kill (phase at the kill: $phase)"
		;;
	esac
	note "round $r: apply killed ($(cut -d' ' -f2 "$TMP/rounds" | sort | uniq -c | awk '{ printf "%s of round %s ", $1, $2 }')), whole; load$r killed while $phase -> $final"
done

p50="$(printf '%s\n' "${RECOVER[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
p99="$(printf '%s\n' "${RECOVER[@]}" | sort -n | awk '{ a[NR] = $1 } END { i = int(NR * 0.99 + 0.999); if (i > NR) i = NR; print a[i] }')"
echo
echo "kills: $KILLS"
echo "applies cut short by the kill: $CUT of $N; objects checked: $CHECKED, half-applied: $HALF"
echo "dataloads: $N, killed while Executing: $SEEN_EXEC, complete: $COMPLETE (resumed after the kill: $RESUMED), failed with a reason: $FAILED, stuck: $STUCK"
echo "controller answering again after kill -9: p50 ${p50} s, p99 ${p99} s"
[ "$HALF" -eq 0 ] || fail "$HALF objects were half-applied"
[ "$STUCK" -eq 0 ] || fail "$STUCK DataLoads were stuck after the kill"
grep -q "restarting it" "$WEIR_STATE/controller.log" || fail "controller.log does not say its keeper restarted weir-controller"
echo "PASS: weir-controller killed $KILLS times: nothing half-applied, no DataLoad stuck"
