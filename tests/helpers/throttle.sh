# SPDX-License-Identifier: Apache-2.0
# A per-connection throttle in front of a local server (source after lib.sh): throttle.py caps
# every connection at RATE bytes/s with no burst, as a distant mirror does (nginx's limit_rate
# grants each request a one-second burst that short range requests escape). Killed on exit.
#
#   throttle_start UPSTREAM_PORT RATE    sets THROTTLE_PORT, THROTTLE_URL (http://127.0.0.1:P/)
#                                        and THROTTLE_PID; its log is in $TMP/throttle.log

throttle_start() {
	local upstream="$1" rate="$2"
	THROTTLE_PORT="$(free_port)"
	python3 "$WEIR_SRC/tests/helpers/throttle.py" "$THROTTLE_PORT" "$upstream" "$rate" \
		>"$TMP/throttle.log" 2>&1 &
	THROTTLE_PID=$!
	pid_track "$THROTTLE_PID"
	at_exit "pid_stop $THROTTLE_PID"
	sleep 0.5
	pid_alive "$THROTTLE_PID" || fail "throttle.py exited at start: $(cat "$TMP/throttle.log")"
	THROTTLE_URL="http://127.0.0.1:$THROTTLE_PORT/"
}
