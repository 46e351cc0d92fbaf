# SPDX-License-Identifier: Apache-2.0
# Runs weir in a private state directory for a test (source after lib.sh): mount/umount/stat
# wrappers with timeouts, and an EXIT cleanup that unmounts and kills the daemon it started.
#
#   weir_setup TMPDIR    sets WEIR_STATE (TMPDIR/state) and WEIR_TIER_DIR (a private dir in /dev/shm)
#   weir_test_setup NAME what a test that mounts does first: weir_test_tmp NAME, weir_setup TMP
#   weir_test_tmp NAME   root and /dev/fuse, the weir binaries, TMP (/tmp/weir-NAME.XXXXXX,
#                        removed at exit): for a test that runs weir_setup itself (one per round)
#   w ARGS...            runs weir --state-dir WEIR_STATE ARGS (120 s timeout)
#   weir_mount URL MP ARGS...   mounts; on failure prints weir's output and fails the test.
#                        WEIR_OPEN_MODE (auto|open|no-open) adds --open-mode to mounts that
#                        name none and are not --read-write: a test runs in either mode
#   weir_node_pid        pid of the running weir-node from its pid file ("" if none)
#   weir_keeper_pid      pid of the weir-keeper it runs under ("" if none)
#   weir_link_holders [PREFIX]   pids of the link holders (weir-links, bpf/link_holder.h) of
#                        the weir-nodes whose state dir starts with PREFIX (WEIR_STATE), one a line
#   weir_kill_all        kill -9 keeper and weir-node: the views die (no takeover)
#   weir_stop_node       unmounts every view, then SIGTERM to the keeper and weir-node; fails
#                        if weir-node is still alive 5 s later (the next mount starts a new one)
#   weir_wait_new_node OLD   waits for the weir-node the keeper restarts; prints its pid
#   weir_use_build BUILD   WEIR_BIN and WEIR_NODE_BIN (exported) from the build directory BUILD
#                        (a benchmark's two sides); fails naming BUILD when either is missing
[ -z "${WEIR_WEIR_SH:-}" ] || return 0 # sourced once (walkthrough.sh brings it along)
WEIR_WEIR_SH=1

weir_setup() {
	WEIR_STATE="$1/state"
	mkdir -p "$WEIR_STATE"
	WEIR_TIER_DIR="$(mktemp -d /dev/shm/weir-test.XXXXXX)"
	export WEIR_STATE_DIR="$WEIR_STATE"
	WEIR_MOUNTS=()
	# a test may set up several times (one weir per scenario): teardown covers them all
	WEIR_ALL_STATES+=("$WEIR_STATE")
	WEIR_ALL_TIERS+=("$WEIR_TIER_DIR")
	if [ -z "${_WEIR_TRAP_SET:-}" ]; then
		at_exit weir_teardown
		at_exit '[ "$WEIR_EXIT_RC" -eq 0 ] || weir_dump_logs'
		_WEIR_TRAP_SET=1
	fi
}
WEIR_ALL_STATES=()
WEIR_ALL_TIERS=()

weir_use_build() {
	WEIR_BIN="$1/cli/weir" WEIR_NODE_BIN="$1/weir-node"
	[ -x "$WEIR_NODE_BIN" ] || WEIR_NODE_BIN="$1/daemon/weir-node"
	[ -x "$WEIR_BIN" ] && [ -x "$WEIR_NODE_BIN" ] || fail "no weir binaries under $1 (cli/weir and weir-node or daemon/weir-node)"
	export WEIR_BIN WEIR_NODE_BIN
}

weir_test_tmp() {
	require_root_fuse
	find_weir_bins
	TMP="$(mktemp -d "/tmp/weir-$1.XXXXXX")"
	at_exit 'rm -rf "$TMP"'
}

weir_test_setup() {
	weir_test_tmp "$1"
	weir_setup "$TMP"
}

w() { timeout -k 5 120 "$WEIR_BIN" --state-dir "$WEIR_STATE" "$@"; }

# metrics_get URL [STATE_DIR]: GET URL (a weir-node's /metrics) with the bearer token weir-node
# keeps in STATE_DIR/metrics.token (default $WEIR_STATE); curl's exit status, the page on stdout.
metrics_get() {
	local tok
	tok="$(cat "${2:-$WEIR_STATE}/metrics.token")" || return 1
	curl -fsS --max-time 10 -H "Authorization: Bearer $tok" "$1"
}

# weir_node_pid [STATE_DIR]: the live weir-node of that state dir (default $WEIR_STATE), or "";
# tracked (pid_track), so pid_signal and pid_stop take it. A stale pid file, or one whose pid a
# weir-node of another test's state dir holds now, gives "".
# conn_id MP: the FUSE connection of the view at MP (its name under /sys/fs/fuse/connections:
# the kernel's device number, major << 20 | minor).
conn_id() {
	python3 -c 'import os, sys; d = os.stat(sys.argv[1]).st_dev; print((os.major(d) << 20) | os.minor(d))' "$1"
}

weir_node_pid() { pid_from_file "${1:-$WEIR_STATE}/node.pid" weir-node --state-dir "${1:-$WEIR_STATE}"; }

# weir_link_holders [PREFIX]: a link holder is weir-node run again (bpf/link_holder.h), with its
# environment: told apart from other tests' by WEIR_STATE_DIR
weir_link_holders() {
	local prefix="${1:-$WEIR_STATE}" p
	for p in $(pgrep -x weir-links); do
		tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q "^WEIR_STATE_DIR=$prefix" && echo "$p"
	done
	return 0
}

# weir_keeper_pid [STATE_DIR]: the live weir-keeper over that state dir's weir-node, or "".
weir_keeper_pid() {
	pid_from_file "${1:-$WEIR_STATE}/node-keeper.pid" weir-keeper --state-dir "${1:-$WEIR_STATE}" --name node
}

# weir_kill_all: kill -9 the keeper and then weir-node, so nothing restarts it and its views die
# with it (the keeper held their connections): what a machine without the keeper would see.
weir_kill_all() {
	local kp np
	kp="$(weir_keeper_pid)"
	np="$(weir_node_pid)"
	[ -z "$kp" ] || pid_signal KILL "$kp" || true
	[ -z "$np" ] || pid_signal KILL "$np" || true
	pid_wait_gone 5 $kp $np || fail "weir-keeper $kp or weir-node $np survived kill -9"
}

weir_stop_node() {
	local mp pid
	for mp in "${WEIR_MOUNTS[@]}"; do
		is_mounted "$mp" && w umount "$mp" >/dev/null
	done
	WEIR_MOUNTS=()
	# the keeper first: it would restart the weir-node stopped below
	pid="$(weir_keeper_pid)"
	[ -z "$pid" ] || pid_signal TERM "$pid" || true
	pid="$(weir_node_pid)"
	[ -n "$pid" ] || return 0
	pid_signal TERM "$pid" || return 0
	pid_wait_gone 5 "$pid" || fail "weir-node $pid did not stop within 5 s of SIGTERM"
}

# weir_wait_new_node OLD_PID [SECONDS]: waits until a weir-node other than OLD_PID answers
# (the keeper restarted it); prints its pid.
weir_wait_new_node() {
	local old="$1" secs="${2:-10}" i pid
	for i in $(seq 1 $((secs * 20))); do
		pid="$(weir_node_pid)"
		if [ -n "$pid" ] && [ "$pid" != "$old" ] && [ -S "$WEIR_STATE/node.sock" ] &&
			timeout 5 "$WEIR_BIN" --state-dir "$WEIR_STATE" stat >/dev/null 2>&1; then
			echo "$pid"
			return 0
		fi
		sleep 0.05
	done
	fail "no new weir-node answered within $secs s of the death of $old (keeper: $(weir_keeper_pid))"
}

weir_mount() {
	local url="$1" mp="$2" out rc=0
	shift 2
	mkdir -p "$mp"
	if [ -n "${WEIR_OPEN_MODE:-}" ] && [[ " $* " != *" --open-mode "* ]] &&
		[[ " $* " != *" --read-write "* ]]; then
		set -- "$@" --open-mode "$WEIR_OPEN_MODE"
	fi
	# a file, not a pipe: a daemon that kept the pipe open would hang $(...) (and meson test)
	w mount "$url" "$mp" "$@" </dev/null >"$WEIR_STATE/../mount.out" 2>&1 || rc=$?
	out="$(cat "$WEIR_STATE/../mount.out")"
	[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/  weir: /'
	[ "$rc" -eq 0 ] || fail "weir mount $url $mp $* exited with $rc (weir-node log: $WEIR_STATE/node.log)"
	is_mounted "$mp" || fail "weir mount $url $mp returned 0 but $mp is not in /proc/self/mountinfo"
	WEIR_MOUNTS+=("$mp")
	if [ -n "${WEIR_OPEN_MODE:-}" ] && [ "$WEIR_OPEN_MODE" != auto ] &&
		[[ " $* " == *" --open-mode $WEIR_OPEN_MODE "* ]]; then
		w stat "$mp" -o json >"$WEIR_STATE/../mount-stat.json" 2>&1 ||
			fail "weir stat $mp failed: $(cat "$WEIR_STATE/../mount-stat.json")"
		out="$(json_get "$WEIR_STATE/../mount-stat.json" open_mode)" ||
			fail "weir stat $mp gives no open_mode: $(cat "$WEIR_STATE/../mount-stat.json")"
		[ "$out" = "$WEIR_OPEN_MODE" ] || fail "$mp was mounted with --open-mode $WEIR_OPEN_MODE but serves in mode $out"
	fi
}

weir_teardown() {
	local mp pid st td
	for mp in "${WEIR_MOUNTS[@]}"; do
		if is_mounted "$mp"; then
			timeout -k 2 20 "$WEIR_BIN" --state-dir "$WEIR_STATE" umount "$mp" >/dev/null 2>&1 || true
		fi
	done
	for st in "${WEIR_ALL_STATES[@]}"; do
		# the keeper first: it would restart a weir-node killed below
		pid="$(weir_keeper_pid "$st")"
		[ -z "$pid" ] || pid_stop -t 5 "$pid"
		pid="$(weir_node_pid "$st")"
		[ -z "$pid" ] || pid_stop -t 3 "$pid"
	done
	# whatever weir umount could not do, so that no dead mount outlives the test
	for mp in "${WEIR_MOUNTS[@]}"; do
		if is_mounted "$mp"; then
			echo "cleanup: $mp still mounted after weir umount; unmounting it lazily" >&2
			umount -l "$mp" 2>/dev/null || fusermount3 -uz "$mp" 2>/dev/null || true
		fi
	done
	for td in "${WEIR_ALL_TIERS[@]}"; do rm -rf "$td"; done
}

# On failure, the daemon's last words help more than anything else.
weir_dump_logs() {
	[ -f "$WEIR_STATE/node.log" ] || return 0
	echo "---- last 60 lines of $WEIR_STATE/node.log ----" >&2
	tail -n 60 "$WEIR_STATE/node.log" >&2
}
