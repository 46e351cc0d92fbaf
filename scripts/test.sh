#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# THE test command: installs deps, builds in ./build, runs every meson suite (unit, e2e, k8s,
# fuzz), then the sanitizer part: ./build-asan (ASan+UBSan) runs the unit suite and the e2e tests
# in $SANITIZE_E2E, ./build-tsan (ThreadSanitizer) the unit suite and the e2e tests in $TSAN_E2E;
# any sanitizer report fails the run and is printed. Ends with one line "N passed, N failed" over
# every testlog.json; non-zero on failure. Each phase prints "test: PHASE took N s".
#   scripts/test.sh [MESON TEST ARGS]   everything above (CI: .ci/run)
#   scripts/test.sh --sanitize          only the sanitizer builds and their tests
#   scripts/test.sh --no-sanitize ...   skip the sanitizer part (quick local runs)
# meson test runs WEIR_TEST_PROCESSES (2) tests at a time: the unit tests and the e2e tests
# marked is_parallel (tests/meson.build says which); the others alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mode=all
case ${1:-} in
--sanitize) mode=sanitize; shift ;;
--no-sanitize) mode=plain; shift ;;
esac
SANITIZE_E2E=${SANITIZE_E2E:-localufs mount concurrency asyncread}
TSAN_E2E=${TSAN_E2E:-localufs concurrency handles asyncread}
PROCS=${WEIR_TEST_PROCESSES:-2}

# Whatever stops us before the tests, the last line keeps its form.
broken() {
	echo "test: $1" >&2
	echo "0 passed, 1 failed"
	exit 1
}

# Where the time goes: phase NAME closes the phase that ran since the last call.
t_start=$(date +%s)
t_last=$t_start
phases=()
phase() {
	local t
	t=$(date +%s)
	phases+=("$1 $((t - t_last)) s")
	echo "test: $1 took $((t - t_last)) s"
	t_last=$t
}

# Background jobs (fuzzers, sanitizer builds, test peers) end with the run, however it ends:
# each one that still runs, with what it started (found through their parent pids). Only pids
# tracked (tests/helpers/lib.sh): a job that ended long ago left its pid to some other process.
. tests/helpers/lib.sh
bg_pids=()
kill_tree() {
	local kid
	for kid in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		pid_track "$kid"
		kill_tree "$kid"
	done
	pid_signal TERM "$1" || true
}
stop_bg() {
	local p
	for p in "${bg_pids[@]}"; do pid_alive "$p" && kill_tree "$p"; done
	return 0
}
at_exit stop_bg

scripts/install-deps.sh || broken "installing the dependencies failed (scripts/install-deps.sh, output above)"
phase "install-deps"

# setup_build DIR [MESON OPTIONS]: configures DIR once (reconfigures later) and builds it.
setup_build() {
	local dir=$1
	shift
	if [ -f "$dir/meson-private/coredata.dat" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null || broken "meson setup --reconfigure $dir failed (run it to see why)"
	else
		meson setup "$dir" "$@" || broken "meson setup $dir failed (output above)"
	fi
	ninja -C "$dir" || broken "the build in $dir failed (errors above); fix it and run scripts/test.sh again"
}

# setup_build_quiet DIR -jN [MESON OPTIONS]: as setup_build, at a low priority with N jobs, and
# returns non-zero instead of stopping the run (for a build in the background).
setup_build_quiet() {
	local dir=$1 jobs=$2
	shift 2
	if [ -f "$dir/meson-private/coredata.dat" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null || return 1
	else
		meson setup "$dir" "$@" || return 1
	fi
	nice -n 15 ninja -C "$dir" "$jobs"
}

logs=()
rc=0
# run_tests DIR [MESON TEST ARGS]: runs the tests, keeps DIR's testlog.json for the count.
run_tests() {
	local dir=$1
	shift
	rm -f "$dir/meson-logs/testlog.json"
	meson test -C "$dir" --print-errorlogs --num-processes "$PROCS" "$@" || rc=$?
	[ -s "$dir/meson-logs/testlog.json" ] || broken "meson test wrote no $dir/meson-logs/testlog.json (exit $rc); see the output above"
	# a second run in DIR rewrites the file: count from a copy
	logs+=("$dir/meson-logs/testlog.$((${#logs[@]} + 1)).json")
	cp "$dir/meson-logs/testlog.json" "${logs[-1]}"
}

# The sanitizer builds abort on the first report; every process (the daemons the e2e tests start
# write to logs nobody reads) writes its report to a file in $reports, and any such file fails
# the run and is printed at the end.
reports=$(mktemp -d /tmp/weir-sanitizers.XXXXXX)
asan_opts=(-Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all)
tsan_opts=(-Db_sanitize=thread -Db_lundef=false)
# san_env asan|tsan: the environment of a run under that build
san_env() {
	case $1 in
	asan) echo "ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:log_path=$reports/asan" \
		"UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan" ;;
	tsan) echo "TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:log_path=$reports/tsan:suppressions=$PWD/tests/tsan.supp" ;;
	esac
}
# Instrumented code runs several times slower (TSan 5-15x): their tests get 3x the time.
SAN_TIMEOUT=(--timeout-multiplier 3)

# bg_sanitizer_units KIND OUTDIR: builds build-KIND at a low priority and runs its unit suite
# (logbase unitlog), writing KIND-build.rc / KIND-unit.rc and the output to OUTDIR; never stops
# the run (for the background job).
bg_sanitizer_units() {
	local kind=$1 out=$2 opts
	if [ "$kind" = asan ]; then opts=("${asan_opts[@]}"); else opts=("${tsan_opts[@]}"); fi
	rm -f "build-$kind/meson-logs/unitlog.json"
	setup_build_quiet "build-$kind" -j1 "${opts[@]}" >"$out/$kind-build.out" 2>&1
	echo $? >"$out/$kind-build.rc"
	[ "$(cat "$out/$kind-build.rc")" = 0 ] || return 0
	# shellcheck disable=SC2046 # san_env prints NAME=VALUE words without spaces
	env $(san_env "$kind") nice -n 10 meson test -C "build-$kind" --no-rebuild --suite unit \
		--num-processes 1 "${SAN_TIMEOUT[@]}" --logbase unitlog >"$out/$kind-unit.out" 2>&1
	echo $? >"$out/$kind-unit.rc"
}

# collect_sanitizer_units KIND OUTDIR: the result of bg_sanitizer_units, into the count.
collect_sanitizer_units() {
	local kind=$1 out=$2
	if [ "$(cat "$out/$kind-build.rc" 2>/dev/null)" != 0 ]; then
		cat "$out/$kind-build.out" 2>/dev/null || true
		broken "the $kind build in build-$kind failed or did not run (output above, if any)"
	fi
	echo "== the unit suite under $kind, run beside the others (output follows) =="
	cat "$out/$kind-unit.out" 2>/dev/null || true
	[ -s "build-$kind/meson-logs/unitlog.json" ] || broken "the unit suite under $kind wrote no build-$kind/meson-logs/unitlog.json"
	[ "$(cat "$out/$kind-unit.rc" 2>/dev/null)" = 0 ] || rc=1
	logs+=("build-$kind/meson-logs/unitlog.json")
}

# sanitizer_e2e KIND TESTS...: the e2e tests under build-KIND (built already).
sanitizer_e2e() {
	local kind=$1
	shift
	rm -f "build-$kind/meson-logs/testlog.json"
	# shellcheck disable=SC2046 # san_env prints NAME=VALUE words without spaces
	env $(san_env "$kind") meson test -C "build-$kind" --no-rebuild --print-errorlogs \
		--num-processes "$PROCS" "${SAN_TIMEOUT[@]}" "$@" || rc=$?
	[ -s "build-$kind/meson-logs/testlog.json" ] || broken "meson test wrote no build-$kind/meson-logs/testlog.json; see the output above"
	logs+=("build-$kind/meson-logs/testlog.$((${#logs[@]} + 1)).json")
	cp "build-$kind/meson-logs/testlog.json" "${logs[-1]}"
}

# The test peers a machine has not built yet (minutes each, weed ~17 min; tests/k8s/peers.sh).
peers_missing() {
	tests/k8s/peers.sh --missing
	tests/csi/peer.sh --missing
}

# wait_file FILE WHAT: waits for a background step's status file; fails the run unless it says 0.
wait_file() {
	while [ ! -e "$1" ]; do sleep 2; done
	[ "$(cat "$1")" = 0 ] || {
		cat "${1%.rc}.out" 2>/dev/null || true
		broken "$2 failed (output above)"
	}
}

# The whole suite, with its slow parts beside the tests; or what the arguments chose, one by one.
whole=0
[ $# -eq 0 ] && [ "$mode" = all ] && whole=1
sanitizer_failed=0
if [ "$mode" != sanitize ]; then
	setup_build build
	phase "build"
	if [ "$whole" = 1 ]; then
		# The whole suite. The e2e and k8s tests mostly wait (rate-limited servers, timeouts, an
		# apiserver), while the fuzzers (30 s each) and the sanitizer builds and unit suites only
		# need CPU: they run beside them at a lower priority, one at a time. Each keeps its own log
		# (fuzzlog.json, unitlog.json, the builds' output).
		bg=$(mktemp -d /tmp/weir-test-bg.XXXXXX)
		rm -f build/meson-logs/fuzzlog.json # a run that writes none must not count the last one's
		(
			# each step's status goes to a file whatever it is (no set -e here: a failed fuzzer
			# must neither skip the sanitizer builds nor leave its status unwritten)
			set +e
			# the libFuzzer harnesses (clang, ASan, UBSan) in ./build-fuzz
			nice -n 15 scripts/fuzz.sh --build >"$bg/fuzz-build.out" 2>&1
			echo $? >"$bg/fuzz-build.rc"
			if [ "$(cat "$bg/fuzz-build.rc")" = 0 ]; then
				nice -n 10 meson test -C build --no-rebuild --suite fuzz --num-processes 1 \
					--logbase fuzzlog >"$bg/fuzz.out" 2>&1
				echo $? >"$bg/fuzz.rc"
			fi
			bg_sanitizer_units asan "$bg"
			bg_sanitizer_units tsan "$bg"
			date +%s >"$bg/done"
		) &
		bg_pids+=($!)
		pid_track "$!"
		missing=$(peers_missing | tr '\n' ' ')
		if [ -z "$missing" ]; then
			phase "peers check"
			run_tests build --no-suite fuzz
		else
			# A machine without the peers (a fresh one): they build in the background, in three
			# groups, while the tests that need none run; each group's tests run as soon as it is
			# there, beside the next group's build. 'peers-api' (etcd, kube-apiserver, kubectl,
			# versitygw: the apiserver tests and s3), then 'peers' (helm, the kubelet,
			# kube-controller-manager, csi-sanity), then 'weed' (SeaweedFS, for s3-seaweedfs only,
			# the longest build).
			echo "test: building the test peers $missing in the background (tests/k8s/peers.sh)"
			(
				set +e
				nice -n 5 tests/k8s/peers.sh etcd kube-apiserver kubectl versitygw >"$bg/peers-api.out" 2>&1
				echo $? >"$bg/peers-api.rc"
				{ nice -n 5 tests/k8s/peers.sh helm kubelet kube-controller-manager &&
					nice -n 5 tests/csi/peer.sh; } >"$bg/peers.out" 2>&1
				echo $? >"$bg/peers.rc"
				nice -n 5 tests/k8s/peers.sh weed >"$bg/weed.out" 2>&1
				echo $? >"$bg/weed.rc"
			) &
			bg_pids+=($!)
			pid_track "$!"
			phase "peers check"
			run_tests build --no-suite fuzz --no-suite peers-api --no-suite peers --no-suite weed
			phase "the tests that need no peer"
			wait_file "$bg/peers-api.rc" "building the apiserver peers and versitygw (tests/k8s/peers.sh)"
			cat "$bg/peers-api.out"
			phase "waiting for the apiserver peers"
			run_tests build --suite peers-api
			phase "the tests that need the apiserver peers"
			wait_file "$bg/peers.rc" "building the node peers (tests/k8s/peers.sh, tests/csi/peer.sh)"
			cat "$bg/peers.out"
			phase "waiting for the node peers"
			run_tests build --suite peers
			phase "the tests that need the node peers"
			wait_file "$bg/weed.rc" "building weed (tests/k8s/peers.sh weed)"
			cat "$bg/weed.out"
			phase "waiting for weed"
			run_tests build --suite weed
		fi
		phase "tests in ./build"
		wait "${bg_pids[0]}" || true
		phase "waiting for the background job"
		echo "== the fuzz suite, run beside the others (output follows) =="
		cat "$bg/fuzz-build.out" "$bg/fuzz.out" 2>/dev/null || true
		[ "$(cat "$bg/fuzz-build.rc" 2>/dev/null)" = 0 ] || broken "building the fuzzers failed (scripts/fuzz.sh --build, output above)"
		[ -s build/meson-logs/fuzzlog.json ] || broken "the fuzz suite wrote no build/meson-logs/fuzzlog.json (exit $(cat "$bg/fuzz.rc" 2>/dev/null)); see its output above"
		[ "$(cat "$bg/fuzz.rc" 2>/dev/null)" = 0 ] || rc=1
		logs+=("build/meson-logs/fuzzlog.json")
		collect_sanitizer_units asan "$bg"
		collect_sanitizer_units tsan "$bg"
		rm -rf "$bg"
	else
		# The test peers (kube-apiserver, etcd, kubectl, the kubelet, helm; versitygw and
		# SeaweedFS's weed for tests/e2e/s3.sh) from the Go module proxy, cached outside the clone:
		# minutes on a fresh machine, nothing once cached.
		tests/k8s/peers.sh || broken "building the Kubernetes test peers failed (tests/k8s/peers.sh, output above)"
		scripts/fuzz.sh --build || broken "building the fuzzers failed (scripts/fuzz.sh --build, output above)"
		phase "peers and fuzzers"
		run_tests build "$@"
		phase "tests in ./build"
	fi
fi
if [ "$mode" = sanitize ] || { [ "$mode" = all ] && [ "$whole" = 0 ]; }; then
	setup_build build-asan "${asan_opts[@]}"
	setup_build build-tsan "${tsan_opts[@]}"
	phase "sanitizer builds"
	for kind in asan tsan; do
		# shellcheck disable=SC2046 # san_env prints NAME=VALUE words without spaces
		env $(san_env "$kind") meson test -C "build-$kind" --no-rebuild --print-errorlogs \
			--suite unit --num-processes "$PROCS" "${SAN_TIMEOUT[@]}" --logbase unitlog || rc=$?
		logs+=("build-$kind/meson-logs/unitlog.json")
	done
	phase "sanitizer unit suites"
fi
if [ "$mode" != plain ]; then
	# Alone at the end: the daemons under the sanitizers are slow and the e2e tests judge time.
	# shellcheck disable=SC2086 # lists of test names
	sanitizer_e2e asan $SANITIZE_E2E
	# shellcheck disable=SC2086
	sanitizer_e2e tsan $TSAN_E2E
	phase "sanitizer e2e tests"
	if [ -n "$(ls -A "$reports")" ]; then
		echo "test: the sanitizers reported errors (reports in $reports):" >&2
		for f in "$reports"/*; do
			echo "== $f" >&2
			head -80 "$f" >&2
		done
		rc=1
		sanitizer_failed=1
	fi
fi
[ "$sanitizer_failed" = 1 ] || rm -rf "$reports"

# A skipped test counts as failed: on CI every suite must run (a missing privilege is a failure).
read -r passed failed < <(python3 - "${logs[@]}" <<'PY'
import json, sys
passed = failed = 0
for path in sys.argv[1:]:
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        if r.get("result") in ("OK", "EXPECTEDFAIL"):
            passed += 1
        else:
            failed += 1
            print(f"test: {path.split('/')[0]}: {r.get('name')}: {r.get('result')}", file=sys.stderr)
print(passed, failed)
PY
)
failed=$((failed + sanitizer_failed))
echo "test: times: ${phases[*]/%/,} total $(($(date +%s) - t_start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$rc" -eq 0 ]
