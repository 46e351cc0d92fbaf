# SPDX-License-Identifier: Apache-2.0
# Runs weir in a private state directory for a test (source after lib.sh): mount/umount/stat
# wrappers with timeouts, and an EXIT cleanup that unmounts and kills the daemon it started.
#
#   weir_setup TMPDIR    sets WEIR_STATE (TMPDIR/state) and WEIR_TIER_DIR (a private dir in /dev/shm)
#   w ARGS...            runs weir --state-dir WEIR_STATE ARGS (120 s timeout)
#   weir_mount URL MP ARGS...   mounts; on failure prints weir's output and fails the test
#   weir_node_pid        pid of the running weir-node from its pid file ("" if none)

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

w() { timeout -k 5 120 "$WEIR_BIN" --state-dir "$WEIR_STATE" "$@"; }

# weir_node_pid [STATE_DIR]: the live weir-node of that state dir (default $WEIR_STATE), or "".
weir_node_pid() {
	local pid
	pid="$(cat "${1:-$WEIR_STATE}/node.pid" 2>/dev/null || true)"
	pid="${pid//[^0-9]/}"
	# only a live weir-node: a stale pid file must not make us kill someone else
	if [ -n "$pid" ] && grep -qs weir-node "/proc/$pid/cmdline"; then echo "$pid"; fi
}

weir_mount() {
	local url="$1" mp="$2" out rc=0
	shift 2
	mkdir -p "$mp"
	# a file, not a pipe: a daemon that kept the pipe open would hang $(...) (and meson test)
	w mount "$url" "$mp" "$@" </dev/null >"$WEIR_STATE/../mount.out" 2>&1 || rc=$?
	out="$(cat "$WEIR_STATE/../mount.out")"
	[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/  weir: /'
	[ "$rc" -eq 0 ] || fail "weir mount $url $mp $* exited with $rc (weir-node log: $WEIR_STATE/node.log)"
	is_mounted "$mp" || fail "weir mount $url $mp returned 0 but $mp is not in /proc/self/mountinfo"
	WEIR_MOUNTS+=("$mp")
}

weir_teardown() {
	local mp pid i st td
	for mp in "${WEIR_MOUNTS[@]}"; do
		if is_mounted "$mp"; then
			timeout -k 2 20 "$WEIR_BIN" --state-dir "$WEIR_STATE" umount "$mp" >/dev/null 2>&1 || true
		fi
	done
	for st in "${WEIR_ALL_STATES[@]}"; do
		pid="$(weir_node_pid "$st")"
		[ -n "$pid" ] || continue
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
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
