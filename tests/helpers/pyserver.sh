# SPDX-License-Identifier: Apache-2.0
# The test's own Python servers (source after lib.sh): each binds a free port on 127.0.0.1 and
# writes it to a file, so no two tests on this machine race for one; killed at exit by pid.
#
#   py_server_start SCRIPT ARG DIR   runs python3 SCRIPT ARG DIR/port DIR/log (output in
#                        DIR/out) and waits for the port; sets PY_SERVER_PORT, PY_SERVER_PID,
#                        PY_SERVER_LOG
#   faultsrv_start TREE DIR          faultsrv.py serving TREE; sets FS_URL (http://127.0.0.1:PORT,
#                        no trailing slash), FS_LOG, FS_PID
#   knob JSON            sets faultsrv's knobs (POST /__ctl__); fails the test if refused

py_server_start() {
	local script="$1" arg="$2" dir="$3" i
	mkdir -p "$dir"
	rm -f "$dir/port"
	PY_SERVER_LOG="$dir/log"
	python3 "$script" "$arg" "$dir/port" "$PY_SERVER_LOG" >"$dir/out" 2>&1 &
	PY_SERVER_PID=$!
	pid_track "$PY_SERVER_PID"
	at_exit "pid_stop $PY_SERVER_PID"
	for i in $(seq 1 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
	[ -s "$dir/port" ] || fail "$(basename "$script") did not start: $(cat "$dir/out")"
	PY_SERVER_PORT="$(cat "$dir/port")"
}

faultsrv_start() {
	py_server_start "$WEIR_SRC/tests/helpers/faultsrv.py" "$1" "$2"
	FS_URL="http://127.0.0.1:$PY_SERVER_PORT" FS_LOG="$PY_SERVER_LOG" FS_PID="$PY_SERVER_PID"
}

knob() {
	curl -sf --max-time 10 -X POST --data "$1" "$FS_URL/__ctl__" >/dev/null ||
		fail "faultsrv refused knob $1"
}
