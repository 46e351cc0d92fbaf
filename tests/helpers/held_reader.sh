# SPDX-License-Identifier: Apache-2.0
# A reader held open across a change at the source, shared by tests/e2e/noopen.sh and versions.sh
# (source after lib.sh). The test writes $TMP/reader.py first: reader.py PATH OUT FIRST opens
# PATH, reads FIRST bytes, makes OUT.ready, waits for OUT.go, reads the rest into OUT and writes
# OUT.status.
#
#   start_reader PATH OUT FIRST   runs reader.py in the background and waits until it holds PATH
#   finish_reader OUT             lets it read on and waits for it; fails when it left no status

start_reader() {
	rm -f "$2" "$2".*
	timeout -k 5 120 python3 "$TMP/reader.py" "$1" "$2" "$3" &
	READER_PID=$!
	pid_track "$READER_PID"
	local i
	for i in $(seq 1 200); do
		[ -e "$2.ready" ] && return 0
		[ -e "$2.status" ] && fail "the reader of $1 failed before it was ready: $(cat "$2.status")"
		sleep 0.05
	done
	fail "the reader of $1 did not get its first $3 bytes in 10 s"
}
finish_reader() {
	touch "$1.go"
	wait "$READER_PID" || true
	[ -e "$1.status" ] || fail "the reader writing $1 died without a status"
}
