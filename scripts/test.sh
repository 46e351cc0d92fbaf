#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# THE test command: installs deps, builds in ./build, runs every meson suite (unit, e2e, k8s,
# fuzz), then the sanitizer part: ./build-asan (ASan+UBSan) runs the unit suite and the e2e tests
# in $SANITIZE_E2E. Ends with one line "N passed, N failed" over every testlog.json; non-zero on
# failure.
#   scripts/test.sh [MESON TEST ARGS]   everything above (CI: .ci/run)
#   scripts/test.sh --sanitize          only the sanitizer builds: ASan+UBSan as above, and
#                                       ./build-tsan (ThreadSanitizer) running the unit suite
#   scripts/test.sh --no-sanitize ...   skip the sanitizer part (quick local runs)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mode=all
case ${1:-} in
--sanitize) mode=sanitize; shift ;;
--no-sanitize) mode=plain; shift ;;
esac
SANITIZE_E2E=${SANITIZE_E2E:-localufs mount concurrency}

# Whatever stops us before the tests, the last line keeps its form.
broken() {
	echo "test: $1" >&2
	echo "0 passed, 1 failed"
	exit 1
}

scripts/install-deps.sh || broken "installing the dependencies failed (scripts/install-deps.sh, output above)"

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
	meson test -C "$dir" --print-errorlogs "$@" || rc=$?
	[ -s "$dir/meson-logs/testlog.json" ] || broken "meson test wrote no $dir/meson-logs/testlog.json (exit $rc); see the output above"
	# a second run in DIR rewrites the file: count from a copy
	logs+=("$dir/meson-logs/testlog.$((${#logs[@]} + 1)).json")
	cp "$dir/meson-logs/testlog.json" "${logs[-1]}"
}

# The sanitizer builds abort on the first report; daemons the e2e tests start write theirs to
# files (their stderr may be a log nobody reads), and any such file fails the run.
asan_opts=(-Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all)
run_asan() {
	setup_build build-asan "${asan_opts[@]}"
	local reports
	reports=$(mktemp -d /tmp/weir-asan.XXXXXX)
	ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:log_path=$reports/asan" \
	UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan" \
		run_tests build-asan --suite unit
	# shellcheck disable=SC2086 # a list of test names
	ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:log_path=$reports/asan" \
	UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan" \
		run_tests build-asan $SANITIZE_E2E
	if [ -n "$(ls -A "$reports")" ]; then
		echo "test: the sanitizers reported errors (reports in $reports):" >&2
		head -50 "$reports"/* >&2
		rc=1
		sanitizer_failed=1
	else
		rm -rf "$reports"
	fi
}

# ThreadSanitizer: the unit suite (the e2e daemons under TSan are too slow for the suite's timeouts).
run_tsan() {
	setup_build build-tsan -Db_sanitize=thread -Db_lundef=false
	TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" run_tests build-tsan --suite unit
}

sanitizer_failed=0
if [ "$mode" != sanitize ]; then
	setup_build build
	# The test peers (kube-apiserver, etcd, kubectl, the kubelet, helm; versitygw and SeaweedFS's weed for tests/e2e/s3.sh) from the Go module proxy, cached
	# outside the clone: minutes on a fresh machine, nothing once cached.
	tests/k8s/peers.sh || broken "building the Kubernetes test peers failed (tests/k8s/peers.sh, output above)"
	# The libFuzzer harnesses (clang, ASan, UBSan) in ./build-fuzz; the 'fuzz' suite runs each 30 s.
	scripts/fuzz.sh --build || broken "building the fuzzers failed (scripts/fuzz.sh --build, output above)"
	if [ $# -eq 0 ] && [ "$mode" = all ]; then
		# The whole suite. The e2e and k8s tests run one at a time and mostly wait (rate-limited
		# servers, timeouts, an apiserver), while the fuzzers (30 s each) and the ASan build only
		# need CPU: they run beside them at a lower priority, one at a time, which takes minutes
		# off the suite's time. Each keeps its own log (fuzzlog.json, build-asan's ninja log).
		bg_log=$(mktemp -d /tmp/weir-test-bg.XXXXXX)
		rm -f build/meson-logs/fuzzlog.json # a run that writes none must not count the last one's
		(
			# each step's status goes to a file whatever it is (no set -e here: a failed fuzzer
			# must neither skip the ASan build nor leave its status unwritten)
			set +e
			nice -n 10 meson test -C build --no-rebuild --suite fuzz --num-processes 1 \
				--logbase fuzzlog >"$bg_log/fuzz.out" 2>&1
			echo $? >"$bg_log/fuzz.rc"
			setup_build_quiet build-asan -j1 "${asan_opts[@]}" >"$bg_log/asan-build.out" 2>&1
			echo $? >"$bg_log/asan-build.rc"
		) &
		bg_pid=$!
		run_tests build --no-suite fuzz
		wait "$bg_pid" || true
		echo "== the fuzz suite, run beside the others (output follows) =="
		cat "$bg_log/fuzz.out" 2>/dev/null || true
		[ -s build/meson-logs/fuzzlog.json ] || broken "the fuzz suite wrote no build/meson-logs/fuzzlog.json (exit $(cat "$bg_log/fuzz.rc" 2>/dev/null)); see its output above"
		[ "$(cat "$bg_log/fuzz.rc" 2>/dev/null)" = 0 ] || rc=1
		logs+=("build/meson-logs/fuzzlog.json")
		if [ "$(cat "$bg_log/asan-build.rc" 2>/dev/null)" != 0 ]; then
			cat "$bg_log/asan-build.out" 2>/dev/null || true
			broken "the ASan+UBSan build in build-asan failed or did not run (output above, if any)"
		fi
		rm -rf "$bg_log"
	else
		run_tests build "$@"
	fi
fi
[ "$mode" = plain ] || run_asan
[ "$mode" = sanitize ] && run_tsan

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
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$rc" -eq 0 ]
