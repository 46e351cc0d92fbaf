# SPDX-License-Identifier: Apache-2.0
# The walkthrough's steps with weir in place of kubectl, shared by tests/e2e/walkthrough.sh,
# bench/walkthrough.sh and scripts/up.sh. Sourcing it sources lib.sh, nginx.sh and weir.sh, which
# it needs: the one opening line of every walkthrough-style test and benchmark.
# The manifests are examples/walkthrough/*.yaml with only the URL (and the tier path) changed.
#
#   wt_tree DIR SCALE          gentree.sh + sparse fillers in spark-3.1.3/3.2.3 so spark-3.3.1 is
#                              38.4% of the tree, as in the walkthrough; sets WT_TOTAL, WT_S331, WT_FILES
#   wt_manifests URL TIERPATH  copies the YAML to $WT_YAML/ with the mirror URL and tier path replaced
#   wt_up                      weir up in $WEIR_STATE; registers weir down + kills on exit
#   wt_mount NS NAME MP        weir mount -n NS NAME MP (fails the script with weir's words)
#   wt_json KIND NAME NS FILE  weir get KIND NAME -n NS -o json > FILE
#   wt_field FILE PATH         a dotted field of that object ("status.cacheStates.cachedBytes");
#                              fails the test, naming the field, when it is absent
#   wt_field_opt FILE PATH     the same, "" when absent (for polling before a field is written)
#   wt_wait_phase KIND NAME NS PHASE [SECONDS]   polls until status.phase is PHASE (default 60 s)
#   wt_dataset_yaml NS NAME URL [SPEC-LINES]   a Dataset over URL and its AlluxioRuntime (256Mi in
#                              $WEIR_TIER_DIR); SPEC-LINES go under the Dataset's spec (sharing:)
#   fmt_quantity BYTES         "%.2f" of bytes/1024^k with B KiB MiB GiB..., as the tables print sizes
#   fmt_percent PART TOTAL     "38.4%"

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/nginx.sh"
. "$(dirname "${BASH_SOURCE[0]}")/weir.sh"

WT_POLL_SECONDS="${WT_POLL_SECONDS:-60}"
WT_MOUNTS=()

wt_tree() {
	local dir="$1" scale="$2" others want fill
	"$WEIR_SRC/tests/helpers/gentree.sh" "$dir" "$scale" | sed 's/^/  /'
	WT_S331=$(($(find "$dir/spark-3.3.1" -type f -printf '%s+') 0))
	others=$(($(find "$dir/spark-3.1.3" "$dir/spark-3.2.3" -type f -printf '%s+') 0))
	# The walkthrough's mirror: 3.41GiB in all, 1.31GiB of it spark-3.3.1 (38.4%). The other two
	# releases are never read, so they are sparse files: their sizes count, their bytes cost nothing.
	want=$(awk -v s="$WT_S331" 'BEGIN { printf "%.0f", s * 100 / 38.36 }')
	fill=$((want - WT_S331 - others))
	if [ "$fill" -gt 4 ]; then
		truncate -s $((fill * 26 / 100)) "$dir/spark-3.1.3/spark-3.1.3-bin-hadoop3.2.tgz"
		truncate -s $((fill * 24 / 100)) "$dir/spark-3.1.3/spark-3.1.3-bin-hadoop2.7.tgz"
		truncate -s $((fill * 27 / 100)) "$dir/spark-3.2.3/spark-3.2.3-bin-hadoop3.2.tgz"
		truncate -s $((fill - fill * 26 / 100 - fill * 24 / 100 - fill * 27 / 100)) \
			"$dir/spark-3.2.3/spark-3.2.3-bin-hadoop2.7.tgz"
	fi
	WT_TOTAL=$(($(find "$dir" -type f -printf '%s+') 0))
	WT_FILES="$(find "$dir" -type f | wc -l)"
	note "tree: $WT_TOTAL bytes ($(fmt_quantity "$WT_TOTAL")) in $WT_FILES files; spark-3.3.1: $WT_S331 bytes ($(fmt_quantity "$WT_S331"), $(fmt_percent "$WT_S331" "$WT_TOTAL"))"
}

wt_dataset_yaml() {
	cat <<YAML
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata:
  name: $2
  namespace: $1
spec:
  mounts:
    - mountPoint: $3
      name: $2
${4:-}
---
apiVersion: data.fluid.io/v1alpha1
kind: AlluxioRuntime
metadata:
  name: $2
  namespace: $1
spec:
  replicas: 1
  tieredstore:
    levels:
      - mediumtype: MEM
        path: $WEIR_TIER_DIR
        quota: 256Mi
YAML
}

fmt_quantity() {
	awk -v b="$1" 'BEGIN { split("B KiB MiB GiB TiB PiB EiB", u, " "); v = b; k = 1
		while (v >= 1024 && k < 7) { v /= 1024; k++ }
		printf "%.2f%s\n", v, u[k] }'
}

fmt_percent() {
	awk -v p="$1" -v t="$2" 'BEGIN { v = t ? p * 100 / t : 0; if (v > 100) v = 100; printf "%.1f%%\n", v }'
}

wt_manifests() {
	local url="$1" tierpath="$2" f
	WT_YAML="${WT_YAML:-$TMP/yaml}"
	mkdir -p "$WT_YAML"
	for f in dataset dataload spark-production dataset-allow-list subdataset; do
		[ -f "$WEIR_SRC/examples/walkthrough/$f.yaml" ] ||
			fail "examples/walkthrough/$f.yaml is missing from the repository"
		sed -e "s#https://mirrors.bit.edu.cn/apache/spark/#$url#" -e "s#path: /dev/shm\$#path: $tierpath#" \
			"$WEIR_SRC/examples/walkthrough/$f.yaml" >"$WT_YAML/$f.yaml"
	done
	grep -qF "$url" "$WT_YAML/dataset.yaml" || fail "could not put $url into the copy of dataset.yaml"
}

# Locates weir-controller like find_weir_bins does the others (WEIR_CONTROLLER_BIN from meson).
find_controller_bin() {
	local b="${WEIR_BUILD_DIR:-$WEIR_SRC/build}"
	if [ -z "${WEIR_CONTROLLER_BIN:-}" ]; then
		WEIR_CONTROLLER_BIN="$b/controller/weir-controller"
		[ -x "$WEIR_CONTROLLER_BIN" ] || WEIR_CONTROLLER_BIN="$b/weir-controller"
	fi
	[ -x "$WEIR_CONTROLLER_BIN" ] ||
		fail "weir-controller is not at $WEIR_CONTROLLER_BIN: build it (ninja -C build) or set WEIR_CONTROLLER_BIN"
	export WEIR_CONTROLLER_BIN
	PATH="$(dirname "$WEIR_CONTROLLER_BIN"):$PATH"
	export PATH
}

# live_pid NAME: the pid in $WEIR_STATE/NAME.pid if that process is this state dir's weir-NAME,
# else ""; tracked (pid_track), for pid_signal and pid_stop.
live_pid() { pid_from_file "$WEIR_STATE/$1.pid" "weir-$1" --state-dir "$WEIR_STATE"; }

# wt_run WHAT ARGS...: runs weir ARGS, output in $WT_OUT (a file: a detached daemon holding a
# pipe would hang $(...)); fails with weir's words unless it exits 0.
wt_run() {
	local what="$1" rc=0
	shift
	w "$@" </dev/null >"$TMP/weir.out" 2>&1 || rc=$?
	WT_OUT="$(cat "$TMP/weir.out")"
	if [ "$rc" -ne 0 ]; then
		printf '%s\n' "$WT_OUT" | sed 's/^/  weir: /' >&2
		fail "$what: weir $* exited with $rc (output above; logs in $WEIR_STATE)"
	fi
}

# show ARGS...: prints "$ weir ARGS" and its output, as the walkthrough does; fails on non-zero.
show() {
	printf '  $ weir %s\n' "$*"
	wt_run "weir $1" "$@"
	printf '%s\n' "$WT_OUT" | sed 's/^/  /'
}

wt_up() {
	at_exit wt_teardown
	at_exit '[ "$WEIR_EXIT_RC" -eq 0 ] || wt_dump_logs'
	wt_run "starting the controller and the node daemon" up
	[ -n "$WT_OUT" ] && printf '%s\n' "$WT_OUT" | sed 's/^/  weir: /'
	local i
	for i in $(seq 1 100); do
		w get dataset -A </dev/null >/dev/null 2>&1 && break
		sleep 0.2
	done
	w get dataset -A </dev/null >/dev/null 2>&1 ||
		fail "weir up returned but weir get dataset -A does not answer after 20 s (logs: $WEIR_STATE/controller.log)"
	[ -n "$(live_pid controller)" ] ||
		fail "weir up returned but $WEIR_STATE/controller.pid names no running weir-controller"
	[ -n "$(live_pid node)" ] || fail "weir up returned but $WEIR_STATE/node.pid names no running weir-node"
	ok "weir-controller pid $(live_pid controller), weir-node pid $(live_pid node)"
}

wt_mount() {
	local ns="$1" name="$2" mp="$3"
	mkdir -p "$mp"
	wt_run "mounting $ns/$name" mount -n "$ns" "$name" "$mp"
	is_mounted "$mp" || fail "weir mount -n $ns $name $mp returned 0 but $mp is not in /proc/self/mountinfo"
	WT_MOUNTS+=("$mp")
	WEIR_MOUNTS+=("$mp") # weir_teardown unmounts it lazily if all else fails
}

wt_umount() {
	wt_run "unmounting $1" umount "$1"
	! is_mounted "$1" || fail "weir umount $1 returned 0 but $1 is still mounted"
}

# Unmount the views, weir down, then kill what is left (only our own pids: live_pid).
wt_teardown() {
	local mp name pid
	for mp in "${WT_MOUNTS[@]}"; do
		is_mounted "$mp" && timeout -k 2 20 "$WEIR_BIN" --state-dir "$WEIR_STATE" umount "$mp" >/dev/null 2>&1
	done
	timeout -k 2 30 "$WEIR_BIN" --state-dir "$WEIR_STATE" down </dev/null >/dev/null 2>&1
	for name in controller node; do
		# a keeper would restart what is killed below
		pid="$(pid_from_file "$WEIR_STATE/$name-keeper.pid" weir-keeper --state-dir "$WEIR_STATE" --name "$name")"
		[ -n "$pid" ] || continue
		echo "cleanup: weir-keeper of weir-$name (pid $pid) still runs after weir down; stopping it" >&2
		pid_stop -t 5 "$pid"
	done
	for name in controller node; do
		pid="$(live_pid "$name")"
		[ -n "$pid" ] || continue
		echo "cleanup: weir-$name (pid $pid) still runs after weir down; killing it" >&2
		pid_stop -t 3 "$pid"
	done
	return 0
}

wt_dump_logs() {
	[ -f "$WEIR_STATE/controller.log" ] || return 0
	echo "---- last 60 lines of $WEIR_STATE/controller.log ----" >&2
	tail -n 60 "$WEIR_STATE/controller.log" >&2
}

wt_json() {
	local kind="$1" name="$2" ns="$3" file="$4" rc=0
	w get "$kind" "$name" -n "$ns" -o json </dev/null >"$file" 2>"$file.err" || rc=$?
	[ "$rc" -eq 0 ] || return "$rc"
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$file" 2>/dev/null ||
		fail "weir get $kind $name -n $ns -o json did not print JSON: $(head -c 300 "$file")"
}

# A listing ({"kind": "List", "items": [...]}) of one object counts as that object.
# Prints the field; exits 3 when it is absent (2 for an unreadable file).
wt_field_py() {
	python3 - "$@" <<'PY'
import json, sys
try:
    v = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    print(f"{sys.argv[1]}: not JSON: {e}", file=sys.stderr)
    sys.exit(2)
if isinstance(v, dict) and "items" in v and isinstance(v["items"], list) and len(v["items"]) == 1:
    v = v["items"][0]
for k in sys.argv[2].split("."):
    if isinstance(v, list):
        try:
            v = v[int(k)]
        except (ValueError, IndexError):
            sys.exit(3)
    elif isinstance(v, dict) and k in v:
        v = v[k]
    else:
        sys.exit(3)
print(json.dumps(v) if isinstance(v, (dict, list)) else v)
PY
}
wt_field() {
	wt_field_py "$1" "$2" || fail "field \"$2\" is missing from $1: $(head -c 400 "$1")"
}
wt_field_opt() {
	local rc=0
	wt_field_py "$1" "$2" || rc=$?
	[ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || fail "cannot read \"$2\" from $1"
}

# wt_conditions FILE: the object's status.conditions as "type=status reason: message" lines.
wt_conditions() {
	python3 - "$1" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
if isinstance(v, dict) and "items" in v and len(v.get("items") or []) == 1:
    v = v["items"][0]
for c in (v.get("status") or {}).get("conditions") or []:
    print(f'{c.get("type")}={c.get("status")} {c.get("reason", "")}: {c.get("message", "")}')
PY
}

wt_wait_phase() {
	local kind="$1" name="$2" ns="$3" want="$4" secs="${5:-$WT_POLL_SECONDS}" f="$TMP/$1-$3-$2.json"
	local t0 phase=""
	t0="$(date +%s)"
	while :; do
		if wt_json "$kind" "$name" "$ns" "$f"; then
			phase="$(wt_field_opt "$f" status.phase)"
			[ "$phase" = "$want" ] && return 0
			if [ "$phase" = Failed ]; then
				{ wt_conditions "$f" || true; } | sed 's/^/  condition: /' >&2
				fail "$kind $ns/$name is Failed (conditions above); expected $want"
			fi
		fi
		if [ $(($(date +%s) - t0)) -ge "$secs" ]; then
			cat "$f.err" >&2 2>/dev/null || true
			{ wt_conditions "$f" 2>/dev/null || true; } | sed 's/^/  condition: /' >&2
			fail "$kind $ns/$name: phase is \"$phase\" after $secs s, expected $want (weir get $kind $name -n $ns -o json; its errors, if any, above)"
		fi
		sleep 0.5
	done
}

# wt_wait_field KIND NAME NS FIELD VALUE [SECONDS]: polls until FIELD equals VALUE (status
# figures such as the UFS total are filled in after the phase).
wt_wait_field() {
	local kind="$1" name="$2" ns="$3" field="$4" want="$5" secs="${6:-$WT_POLL_SECONDS}"
	local f="$TMP/$1-$3-$2.json" t0 got=""
	t0="$(date +%s)"
	while :; do
		if wt_json "$kind" "$name" "$ns" "$f"; then
			got="$(wt_field_opt "$f" "$field")"
			[ "$got" = "$want" ] && return 0
		fi
		[ $(($(date +%s) - t0)) -lt "$secs" ] ||
			fail "$kind $ns/$name: $field is \"$got\" after $secs s, expected \"$want\" ($f)"
		sleep 0.5
	done
}

# timed_cp SRC_GLOB_DIR DEST: the walkthrough's `time cp -R /data/spark-3.3.1/* /tmp`; prints
# the seconds to stdout, cp's errors to stderr.
timed_cp() {
	local src="$1" dst="$2" t0 t1
	rm -rf "$dst"
	mkdir -p "$dst"
	t0="$(now)"
	timeout -k 5 1800 cp -R "$src"/* "$dst" >&2 || fail "cp -R $src/* $dst failed (exit $?)"
	t1="$(now)"
	elapsed "$t0" "$t1"
}

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null ||
		note "(could not write /proc/sys/vm/drop_caches: the timing includes the page cache)"
}
