#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# THE test command: installs deps, builds in ./build, runs every meson suite (unit, e2e, k8s), and
# ends with one line "N passed, N failed" from build/meson-logs/testlog.json; non-zero on failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Whatever stops us before the tests, the last line keeps its form.
broken() {
	echo "test: $1" >&2
	echo "0 passed, 1 failed"
	exit 1
}

scripts/install-deps.sh || broken "installing the dependencies failed (scripts/install-deps.sh, output above)"
if [ -f build/meson-private/coredata.dat ]; then
	meson setup --reconfigure build || broken "meson setup --reconfigure build failed (output above)"
else
	meson setup build || broken "meson setup build failed (output above)"
fi
ninja -C build || broken "the build failed (errors above); fix it and run scripts/test.sh again"

# The test peers (kube-apiserver, etcd, kubectl, helm; versitygw for tests/e2e/s3.sh) from the Go module proxy, cached
# outside the clone: minutes on a fresh machine, nothing once cached.
tests/k8s/peers.sh || broken "building the Kubernetes test peers failed (tests/k8s/peers.sh, output above)"

# The libFuzzer harnesses (clang, ASan, UBSan) in ./build-fuzz; the 'fuzz' suite runs each 30 s.
scripts/fuzz.sh --build || broken "building the fuzzers failed (scripts/fuzz.sh --build, output above)"

rm -f build/meson-logs/testlog.json
rc=0
meson test -C build --print-errorlogs "$@" || rc=$?

log=build/meson-logs/testlog.json
[ -s "$log" ] || broken "meson test wrote no $log (exit $rc); see the output above"
# A skipped test counts as failed: on CI every suite must run (a missing privilege is a failure).
read -r passed failed < <(python3 - "$log" <<'PY'
import json, sys
passed = failed = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    r = json.loads(line)
    if r.get("result") in ("OK", "EXPECTEDFAIL"):
        passed += 1
    else:
        failed += 1
        print(f"test: {r.get('name')}: {r.get('result')}", file=sys.stderr)
print(passed, failed)
PY
)
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$rc" -eq 0 ]
