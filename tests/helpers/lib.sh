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
	# a pid refused in a cleanup (never tracked) fails the test, however it ended
	[ "$rc" -ne 0 ] || [ "${WEIR_PID_REFUSED:-0}" -eq 0 ] || exit 1
	return "$rc"
}
trap weir_run_at_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Pids: a test signals only a process it started, never whatever holds that pid number now. A
# CI run forks tens of thousands of processes and pid_max is 32768: a child that exited and was
# reaped long ago (kill -0 cannot tell) may now be another test's process, such as a unit test
# runner that a stray SIGTERM fails. So every pid a test will signal is tracked where it is
# started (`cmd & pid_track $!`) or read (from a pid file: weir_node_pid): the process's start
# time, field 22 of /proc/PID/stat, is recorded, and pid_signal/pid_stop/pid_alive act only while
# /proc/PID/stat shows that start time. A pid found gone once stays gone; a pid never tracked is
# refused with a message, not signalled, so no site can forget it. The records are files (pid ->
# start time, or "gone") in WEIR_PID_DIR, so a pid tracked in a subshell, as $(weir_node_pid)
# runs, is known to the script. A pid tracked again (reused by a process the test started later)
# names that process from then on: both are the test's own.
#   pid_track PID...          records each PID's start time ("gone" if it is no longer there)
#   pid_alive PID             true while that process runs (a zombie has ended)
#   pid_started PID           prints its recorded start time while it runs; false if it ended
#   pid_signal SIG PID...     kill -SIG each one still running; false if any had ended
#   pid_wait_gone SECS PID... true once none runs; false if one still runs after SECS (whole)
#   pid_stop [-t SECS] PID... TERM, up to SECS (5) for them to end, then KILL; reaps its children;
#                             an empty PID is skipped (a daemon never started)
WEIR_PID_DIR="$(mktemp -d /tmp/weir-pids.XXXXXX)"
WEIR_PID_REFUSED=0
at_exit 'rm -rf "$WEIR_PID_DIR"'

# _pid_now PID: sets WEIR_PID_ST to the start time of the running process PID (not a zombie);
# false if there is none. No fork: this runs in wait loops.
_pid_now() {
	local line
	local -a f
	WEIR_PID_ST=
	[[ "$1" =~ ^[1-9][0-9]*$ ]] || return 1
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
	# after the last ')': comm (field 2) may hold spaces and parentheses
	read -ra f <<<"${line##*)}"
	# f[0] is field 3 (state), f[19] field 22 (start time in clock ticks after boot)
	case "${f[0]:-}" in
	X | x | '') return 1 ;;
	Z)
		# A zombie leader whose other threads still run (exit_group under way, or the main
		# thread ended first) still holds the process's files: a FUSE connection, a socket, a
		# lock. Only a zombie with no thread left has let them go.
		local -a tasks=(/proc/"$1"/task/*)
		[ "${#tasks[@]}" -gt 1 ] || return 1
		;;
	esac
	WEIR_PID_ST="${f[19]:-}"
	[ -n "$WEIR_PID_ST" ]
}

# pid_from_file FILE PROG [OPT VALUE]...: the pid FILE names, if that process still runs PROG
# (the first word of its command line whose base name starts with "weir-", so a wrapper such as
# valgrind may come first) with each OPT followed by VALUE (a path: the same file); "" if not. A
# pid file outlives its daemon, and its pid may since have gone to another test's daemon. The pid
# is tracked (pid_track) with the start time it had when the command line was read.
pid_from_file() {
	local file="$1" prog="$2" pid= st a i ok
	local -a argv
	shift 2
	{ read -r pid <"$file"; } 2>/dev/null || true
	pid="${pid//[^0-9]/}"
	_pid_now "$pid" || return 0
	st="$WEIR_PID_ST"
	mapfile -d '' -t argv <"/proc/$pid/cmdline" 2>/dev/null || return 0
	ok=0
	for a in "${argv[@]}"; do
		case "${a##*/}" in weir-*) [ "${a##*/}" = "$prog" ] && ok=1 && break || return 0 ;; esac
	done
	[ "$ok" -eq 1 ] || return 0
	while [ $# -ge 2 ]; do
		ok=0
		for ((i = 0; i + 1 < ${#argv[@]}; i++)); do
			[ "${argv[i]}" = "$1" ] || continue
			if [ "${argv[i + 1]}" = "$2" ] || [ "${argv[i + 1]}" -ef "$2" ]; then
				ok=1
				break
			fi
		done
		[ "$ok" -eq 1 ] || return 0
		shift 2
	done
	# the same process all along: its command line was not read from a newer one
	_pid_now "$pid" && [ "$WEIR_PID_ST" = "$st" ] || return 0
	printf '%s\n' "$st" >"$WEIR_PID_DIR/$pid"
	echo "$pid"
}

pid_track() {
	local pid
	for pid; do
		[[ "$pid" =~ ^[1-9][0-9]*$ ]] || fail "pid_track: \"$pid\" is not a pid"
		if _pid_now "$pid"; then
			printf '%s\n' "$WEIR_PID_ST" >"$WEIR_PID_DIR/$pid"
		else
			echo gone >"$WEIR_PID_DIR/$pid"
		fi
	done
}

# _pid_refuse PID WHAT: a pid that was never tracked; outside the exit cleanups the test fails,
# in them it goes on with the other cleanups and the test exits non-zero.
_pid_refuse() {
	WEIR_PID_REFUSED=1
	printf '\nBUG: %s of pid "%s" refused: it was never tracked (pid_track it where it is started or read); not signalled\n' "$2" "$1" >&2
	[ -n "${WEIR_EXIT_RC:-}" ] || fail "$2 of untracked pid \"$1\""
	return 2
}

# _pid_known PID WHAT: 0 if PID runs with its recorded start time, 1 if it ended (recorded so),
# 2 (after _pid_refuse) if it was never tracked.
_pid_known() {
	local rec=
	[[ "$1" =~ ^[1-9][0-9]*$ ]] && { read -r rec <"$WEIR_PID_DIR/$1"; } 2>/dev/null ||
		{
			_pid_refuse "$1" "$2"
			return 2
		}
	[ "$rec" != gone ] || return 1
	if _pid_now "$1" && [ "$WEIR_PID_ST" = "$rec" ]; then return 0; fi
	echo gone >"$WEIR_PID_DIR/$1"
	return 1
}

pid_alive() { _pid_known "$1" pid_alive; }

# pid_started PID: the start time recorded for PID while that process runs (for a signal sent
# from another language: compare it with field 22 of /proc/PID/stat through a pidfd); false if
# it ended.
pid_started() {
	_pid_known "$1" pid_started || return 1
	printf '%s\n' "$WEIR_PID_ST"
}

pid_signal() {
	local sig="$1" pid rc=0
	shift
	[ $# -gt 0 ] || {
		printf 'pid_signal %s: no pid given\n' "$sig" >&2
		return 1
	}
	for pid; do
		if [ -z "$pid" ]; then
			printf 'pid_signal %s: no process to signal (an empty pid)\n' "$sig" >&2
			rc=1
		elif _pid_known "$pid" "pid_signal $sig"; then
			kill -"$sig" "$pid" 2>/dev/null || rc=1
		else
			rc=1
		fi
	done
	return "$rc"
}

pid_wait_gone() {
	local secs="$1" pid deadline left
	shift
	# in microseconds: $SECONDS counts whole seconds, which would make a 1 s wait anything from 0
	deadline=$((${EPOCHREALTIME/./} + secs * 1000000))
	while :; do
		left=0
		for pid; do
			_pid_known "$pid" pid_wait_gone && left=1
		done
		[ "$left" -eq 1 ] || return 0
		[ "${EPOCHREALTIME/./}" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

pid_stop() {
	local secs=5 pid k
	local -a live=() known=()
	if [ "${1:-}" = -t ]; then
		secs="$2"
		shift 2
	fi
	for pid; do
		# an empty word is no process (a daemon that was never started): nothing to stop
		[ -n "$pid" ] || continue
		_pid_known "$pid" pid_stop && k=0 || k=$?
		[ "$k" -ne 0 ] || live+=("$pid")
		[ "$k" -eq 2 ] || known+=("$pid")
	done
	if [ ${#live[@]} -gt 0 ]; then
		pid_signal TERM "${live[@]}" || true
		if ! pid_wait_gone "$secs" "${live[@]}"; then
			pid_signal KILL "${live[@]}" || true
			pid_wait_gone 10 "${live[@]}" || printf 'pid_stop: %s still there 10 s after SIGKILL\n' "${live[*]}" >&2
		fi
	fi
	# a child of this shell: collect its status so that it leaves no zombie (others: no-op).
	# Never while a process holds the pid: one still there (in D state after SIGKILL), or a
	# newer child of ours that got the number, which wait would block on.
	for pid in ${known[@]+"${known[@]}"}; do
		_pid_known "$pid" pid_stop && k=0 || k=$?
		[ "$k" -ne 1 ] || _pid_now "$pid" || wait "$pid" 2>/dev/null || true
	done
	return 0
}

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
