# SPDX-License-Identifier: Apache-2.0
# Shared steps of the CSI tests (source after lib.sh, weir.sh and walkthrough.sh):
#
#   csi_find_bins              WEIR_CSI_BIN and CSI_CALL (from meson, else the build dir)
#   csi_datasets DIR           weir up; development/spark over local://DIR (shared read-only with
#                              production only), production/spark and qa/spark referencing it
#   csi_start [FLAGS...]       starts weir-csi on $TMP/csi.sock (registration in $TMP/reg), its
#                              log in $TMP/csi.log; kills it on exit; sets CSI_PID
#   csi_stop                   SIGTERM and wait
#   cc ARGS...                 csi-call $TMP/csi.sock ARGS; output in $CC_OUT, status in $CC_RC

csi_find_bins() {
	local b="${WEIR_BUILD_DIR:-$WEIR_SRC/build}"
	WEIR_CSI_BIN="${WEIR_CSI_BIN:-$b/csi/weir-csi}"
	CSI_CALL="${CSI_CALL:-$b/tests/csi/csi-call}"
	[ -x "$WEIR_CSI_BIN" ] || fail "weir-csi is not at $WEIR_CSI_BIN: build it (ninja -C build) or set WEIR_CSI_BIN"
	[ -x "$CSI_CALL" ] || fail "csi-call is not at $CSI_CALL: build it (ninja -C build) or set CSI_CALL"
}

csi_datasets() {
	local d="$1" ns
	printf 'resync-interval = 0.5\n' >"$WEIR_STATE/controller.conf"
	printf 'metrics-listen =\n' >"$WEIR_STATE/node.conf"
	wt_up
	for ns in development production qa; do wt_run "creating namespace $ns" create namespace "$ns"; done
	wt_dataset_yaml development spark "local://$d" "  sharing:
    allow:
      - namespace: production
        mode: ro" >"$TMP/dev.yaml"
	# production's Dataset has no runtime of its own: it reads development's cache
	printf 'apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata:\n  name: spark\n  namespace: %s\nspec:\n  mounts:\n    - mountPoint: dataset://development/spark\n' \
		production >"$TMP/prod.yaml"
	printf 'apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata:\n  name: spark\n  namespace: %s\nspec:\n  mounts:\n    - mountPoint: dataset://development/spark\n' \
		qa >"$TMP/qa.yaml"
	wt_run "applying development/spark" apply -f "$TMP/dev.yaml"
	wt_wait_phase dataset spark development Bound 30
	wt_run "applying production/spark" apply -f "$TMP/prod.yaml"
	wt_run "applying qa/spark" apply -f "$TMP/qa.yaml"
	wt_wait_phase dataset spark production Bound 30
	ok "development/spark (local://$d) and its reference production/spark are Bound; qa/spark has no grant"
}

csi_start() {
	mkdir -p "$TMP/reg"
	"$WEIR_CSI_BIN" --endpoint "unix://$TMP/csi.sock" --node-id test-node --state-dir "$WEIR_STATE" \
		--registration-dir "$TMP/reg" --log-level debug "$@" </dev/null >>"$TMP/csi.log" 2>&1 &
	CSI_PID=$!
	pid_track "$CSI_PID"
	if [ -z "${_CSI_TRAP_SET:-}" ]; then
		at_exit csi_stop
		at_exit '[ "$WEIR_EXIT_RC" -eq 0 ] || { echo "---- last 40 lines of $TMP/csi.log ----" >&2; tail -n 40 "$TMP/csi.log" >&2; }'
		_CSI_TRAP_SET=1
	fi
	local i
	for i in $(seq 1 50); do
		[ -S "$TMP/csi.sock" ] && "$CSI_CALL" "$TMP/csi.sock" info >/dev/null 2>&1 && return 0
		pid_alive "$CSI_PID" || fail "weir-csi exited at start: $(tail -n 5 "$TMP/csi.log")"
		sleep 0.1
	done
	fail "weir-csi does not answer on $TMP/csi.sock after 5 s: $(tail -n 5 "$TMP/csi.log")"
}

csi_stop() {
	[ -n "${CSI_PID:-}" ] || return 0
	# time for a sanitizer build to write its report at exit
	pid_stop -t 30 "$CSI_PID"
	CSI_PID=""
	# a sanitizer build reports at exit: that is a failure too
	if grep -qE "ERROR: [A-Za-z]+Sanitizer|runtime error:" "$TMP/csi.log" 2>/dev/null; then
		grep -E -A 12 "ERROR: [A-Za-z]+Sanitizer|runtime error:" "$TMP/csi.log" | head -n 40 >&2
		fail "weir-csi reported a sanitizer error (above; $TMP/csi.log)"
	fi
}

cc() {
	CC_RC=0
	CC_OUT="$(timeout -k 2 60 "$CSI_CALL" "$TMP/csi.sock" "$@" 2>&1)" || CC_RC=$?
}

# expect CODE ARGS...: the call answers with gRPC status CODE (a name: OK, NOT_FOUND, ...).
expect() {
	local want="$1"
	shift
	cc "$@"
	grep -q "^$want: " <<<"$CC_OUT" || fail "csi-call $* answered \"$CC_OUT\"; expected $want"
}
