#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (issue 12): 100 rounds of the crash test (tests/crash/crash.sh): kill -9 of weir-node
# under 4 readers of the walkthrough tree, cold and then in passthrough. Prints kills, readers
# with an error, wrong chunks, recovery p50/p99/max (target: 0, 0, p99 <= 1 s); never fails on
# them. CRASH_ROUNDS overrides the 100.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$here/../tests/crash/crash.sh" --n "${CRASH_ROUNDS:-100}" --report-only "$@"
