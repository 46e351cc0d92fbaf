# SPDX-License-Identifier: Apache-2.0
# Shared shell helpers for weir's end-to-end tests and benchmarks (source it, bash only):
# step/fail messages, one EXIT trap that runs registered cleanups in reverse, preconditions.
# Sourced once: a second source (a helper that brings it along) would forget the cleanups so far.
[ -z "${WEIR_LIB_SH:-}" ] || return 0
WEIR_LIB_SH=1

# Cleanups registered with at_exit run in reverse order from the single EXIT trap, so the
# helpers and the test can each add their own without overwriting one another's trap.
WEIR_AT_EXIT=()
at_exit() { WEIR_AT_EXIT+=("$*"); }
weir_run_at_exit() {
	local rc=$? i
	set +e
	WEIR_EXIT_RC=$rc
	for ((i = ${#WEIR_AT_EXIT[@]} - 1; i >= 0; i--)); do
		eval "${WEIR_AT_EXIT[$i]}"
	done
	WEIR_AT_EXIT=()
	return "$rc"
}
trap weir_run_at_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

WEIR_STEP_N=0
step() { WEIR_STEP_N=$((WEIR_STEP_N + 1)); printf '\n[%s] step %d: %s\n' "$(date +%T)" "$WEIR_STEP_N" "$*"; }
ok() { printf '  ok: %s\n' "$*"; }
note() { printf '  %s\n' "$*"; }
fail() { printf '\nFAIL: %s\n' "$*" >&2; exit 1; }

# The repository root (tests/helpers/..).
WEIR_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Tests that mount need root and /dev/fuse; on CI both are there, so their absence is a failure.
require_root_fuse() {
	[ "$(id -u)" -eq 0 ] || fail "this test mounts FUSE file systems and must run as root (uid is $(id -u)); run it with sudo"
	[ -c /dev/fuse ] || fail "/dev/fuse is missing: load the fuse module (modprobe fuse) or give the container --device /dev/fuse"
	[ -r /dev/fuse ] && [ -w /dev/fuse ] || fail "/dev/fuse is not readable and writable by uid $(id -u)"
	command -v fusermount3 >/dev/null || fail "fusermount3 is missing: install the fuse3 package (scripts/install-deps.sh)"
}

# Locates the binaries: WEIR_BIN/WEIR_NODE_BIN from meson, else WEIR_BUILD_DIR, else ./build.
find_weir_bins() {
	local b="${WEIR_BUILD_DIR:-$WEIR_SRC/build}"
	WEIR_BIN="${WEIR_BIN:-$b/cli/weir}"
	if [ -z "${WEIR_NODE_BIN:-}" ]; then
		WEIR_NODE_BIN="$b/daemon/weir-node"
		[ -x "$WEIR_NODE_BIN" ] || WEIR_NODE_BIN="$b/weir-node"
	fi
	[ -x "$WEIR_BIN" ] || fail "the weir CLI is not at $WEIR_BIN: build it (ninja -C build) or set WEIR_BIN"
	[ -x "$WEIR_NODE_BIN" ] || fail "weir-node is not at $WEIR_NODE_BIN: build it (ninja -C build) or set WEIR_NODE_BIN"
	export WEIR_BIN WEIR_NODE_BIN
	# weir mount starts weir-node; make sure it finds the one under test.
	PATH="$(dirname "$WEIR_NODE_BIN"):$PATH"
	export PATH
}

# is_mounted DIR: true if DIR is a mount point in this mount namespace.
is_mounted() {
	local d
	d="$(realpath -m "$1")"
	# mountinfo field 5 is the mount point, with spaces etc. octal-escaped.
	awk -v d="$d" '{ m = $5; gsub(/\\040/, " ", m); if (m == d) { found = 1 } } END { exit !found }' /proc/self/mountinfo
}

# now: seconds since the epoch with nanoseconds, for timing.
now() { date +%s.%N; }
# until_ok SECONDS WHAT CMD...: runs CMD (output dropped) every $UNTIL_OK_STEP s (0.1) until it
# succeeds; fails naming WHAT after SECONDS.
until_ok() {
	local secs="$1" what="$2" deadline
	shift 2
	deadline=$(($(date +%s) + secs))
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$deadline" ] || fail "$what: not within $secs s"
		sleep "${UNTIL_OK_STEP:-0.1}"
	done
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# rand_file PATH BYTES SEED: incompressible, reproducible content (AES-CTR keystream).
rand_file() {
	local path="$1" bytes="$2" seed="$3"
	if [ "$bytes" -eq 0 ]; then
		: >"$path"
		return
	fi
	openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass "pass:$seed" </dev/zero 2>/dev/null |
		head -c "$bytes" >"$path" || true
	[ "$(stat -c %s "$path")" -eq "$bytes" ] || fail "could not write $bytes random bytes to $path"
}

# free_port [N]: a TCP port (N ports, one a line) on 127.0.0.1 that nothing listens on right now,
# reserved for this test script while it runs (a file in $WEIR_PORT_DIR naming its pid). Tests run
# two at a time: without the reservation a port one test frees when it stops its server (to
# restart it on the same port) could be handed to the other test's server, which then answers in
# its place. N ports in one call: one python start-up (a large part of a second on a loaded machine).
free_port() {
	python3 - "$$" "${WEIR_PORT_DIR:-/tmp/weir-test-ports}" "${1:-1}" <<'PY'
import os, socket, sys
owner, d, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(d, exist_ok=True)
for _ in range(500 * want):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    path = os.path.join(d, str(port))
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        try:
            os.kill(int(open(path).read().strip() or "0"), 0)
        except (ValueError, ProcessLookupError):
            os.unlink(path)  # its test is gone; the port can be handed out again later
        except PermissionError:
            pass
        continue
    os.write(fd, owner.encode())
    os.close(fd)
    print(port)
    want -= 1
    if want == 0:
        sys.exit(0)
sys.exit("free_port: no port of 500 tried was free of another test's reservation (see " + d + ")")
PY
}

# json_get FILE KEY...: prints a value from a JSON object (nested keys / list indexes).
json_get() {
	python3 - "$@" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[int(k)] if isinstance(v, list) else v[k]
print(json.dumps(v) if isinstance(v, (dict, list)) else v)
PY
}
