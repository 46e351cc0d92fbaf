#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs weir's libFuzzer harnesses (tests/fuzz/) for SECONDS each (default 60), built with clang,
# ASan and UBSan in ./build-fuzz. Prints executions, new inputs and findings per fuzzer; exits
# non-zero if any fuzzer crashed (its input is kept under build-fuzz/findings/<name>/).
#
#   scripts/fuzz.sh [--build] [--keep] [SECONDS] [NAME...]
#     --build   only (re)build build-fuzz and exit (scripts/test.sh does this before the suite)
#     --keep    merge the new interesting inputs into tests/fuzz/corpus/<name>/
#   WEIR_FUZZ_NO_BUILD=1: use build-fuzz as it is (the meson 'fuzz' tests: no concurrent ninja).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
src=$PWD
bdir=$src/build-fuzz
build_only=0 keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--build) build_only=1 ;;
	--keep) keep=1 ;;
	*) break ;;
	esac
	shift
done
secs=${1:-60}
shift || true
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	names=()
	for f in tests/fuzz/*.c; do
		case $(basename "$f") in replay.c | fuzz_util.c) continue ;; esac
		names+=("$(basename "$f" .c)")
	done
fi

if [ "${WEIR_FUZZ_NO_BUILD:-0}" != 1 ]; then
	command -v clang >/dev/null || { echo "fuzz: clang is missing: run scripts/install-deps.sh" >&2; exit 1; }
	if [ ! -f "$bdir/meson-private/coredata.dat" ]; then
		# coverage instrumentation everywhere, libFuzzer's main only in the harnesses
		CC=clang meson setup "$bdir" -Dfuzz=true -Dtests=disabled -Dbpf=disabled \
			-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized \
			-Dc_args=-fsanitize=fuzzer-no-link -Dc_link_args=-fsanitize=fuzzer-no-link >/dev/null ||
			{ echo "fuzz: meson setup $bdir failed" >&2; exit 1; }
	fi
	targets=()
	for n in "${names[@]}"; do targets+=("tests/fuzz/fuzz_$n"); done
	ninja -C "$bdir" "${targets[@]}" >/dev/null || { echo "fuzz: building the fuzzers failed (ninja -C $bdir)" >&2; exit 1; }
fi
[ "$build_only" = 1 ] && { echo "fuzz: ${#names[@]} fuzzers built in $bdir"; exit 0; }

work=$(mktemp -d /tmp/weir-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failed=0
printf '%-12s %12s %8s %8s  %s\n' fuzzer executions exec/s new result
for n in "${names[@]}"; do
	bin=$bdir/tests/fuzz/fuzz_$n
	seeds=$src/tests/fuzz/corpus/$n
	[ -x "$bin" ] || { echo "fuzz: $bin is not built: run scripts/fuzz.sh --build" >&2; exit 1; }
	[ -d "$seeds" ] && [ -n "$(ls -A "$seeds")" ] || { echo "fuzz: the corpus $seeds is empty or missing" >&2; exit 1; }
	mkdir -p "$work/$n/new" "$work/$n/art"
	rc=0
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -max_len=65536 \
		-print_final_stats=1 -artifact_prefix="$work/$n/art/" \
		"$work/$n/new" "$seeds" >"$work/$n/log" 2>&1 || rc=$?
	execs=$(awk '/stat::number_of_executed_units:/ {v = $2} END {print v}' "$work/$n/log")
	rate=$(awk '/stat::average_exec_per_sec:/ {v = $2} END {print v}' "$work/$n/log")
	added=$(find "$work/$n/new" -type f | wc -l)
	# a unit libFuzzer saw run slowly (past -report_slow_units, with exit 0) is run once more:
	# a machine stalled by other work (CI's parallel tests) made a 0.03 s input take 11 s once;
	# one that is slow again stays a finding (a real hang exits non-zero at -timeout anyway)
	slow_note=""
	if [ "$rc" -eq 0 ]; then
		for u in "$work/$n/art"/slow-unit-*; do
			[ -e "$u" ] || continue
			if timeout 10 "$bin" "$u" >/dev/null 2>&1; then
				slow_note=" (a slow unit did not reproduce: $(basename "$u"))"
				rm -f "$u"
			fi
		done
	fi
	if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$work/$n/art")" ]; then
		failed=1
		mkdir -p "$bdir/findings/$n"
		cp "$work/$n/art/"* "$bdir/findings/$n/" 2>/dev/null || true
		printf '%-12s %12s %8s %8s  %s\n' "$n" "${execs:-?}" "${rate:-?}" "$added" "CRASH (exit $rc; inputs in $bdir/findings/$n/)"
		grep -E "ERROR: |runtime error|SUMMARY|==[0-9]+==" "$work/$n/log" | head -20 >&2 || tail -30 "$work/$n/log" >&2
		continue
	fi
	[ -n "$execs" ] || { failed=1; echo "fuzz: $n printed no statistics; log:" >&2; tail -20 "$work/$n/log" >&2; continue; }
	printf '%-12s %12s %8s %8s  %s\n' "$n" "$execs" "$rate" "$added" "no finding$slow_note"
	if [ "$keep" = 1 ] && [ "$added" -gt 0 ]; then
		"$bin" -merge=1 -rss_limit_mb=1024 "$seeds" "$work/$n/new" >/dev/null 2>&1 || true
	fi
done
exit "$failed"
