# SPDX-License-Identifier: Apache-2.0
# Helpers of the fault suite (source after lib.sh and weir.sh): the fault proxy in front of a
# UFS server, and readers that judge what a view gave back.
#
#   faults_setup NAME [STALL RETRIES]   weir_test_setup faults-NAME, sets MIB; with STALL and
#                                RETRIES, weir-node gives a block up after RETRIES + 1 attempts of
#                                at most STALL s each (node.conf), and BOUND is the seconds within
#                                which a lasting fault must fail a read (those attempts + backoff)
#   fp_start UPSTREAM_PORT DIR   starts faultproxy.py; sets FP_PORT, FP_PID, FP_LOG
#   fp_rules JSON                replaces the proxy's rules ('[]': no fault)
#   fp_hits                      prints the proxy's hit count per rule, space-separated
#   drop_view_cache PATH         drops PATH's pages from the page cache (that file only)
#   read_ok WHAT PATH WANT       a fresh read of PATH must equal WANT (cmp); sets READ_SECS
#   read_fails WHAT PATH WANT BOUND   the read must fail (EIO/ESTALE) within BOUND s, what it
#                                got before must be WANT's prefix; sets READ_SECS, READ_ERR
#   read_clean WHAT PATH WANT    read_ok with the page cache of PATH dropped first: what the
#                                tier holds is what is read
#   mid_read_swap MATCH PATH OLD NEW ARGV   the third range request for MATCH first runs ARGV (a
#                                JSON array: what replaces the object at the server); the read
#                                of PATH gets one version whole or ESTALE (one_version), and a
#                                fresh open after the 1 s metadata TTL reads NEW whole
#   passing NAME RULE            with RULE on, $VIEW/NAME reads as $WANT/NAME; again from the tier
#   lasting NAME RULE            with RULE on, $VIEW/NAME fails within $BOUND s; once it is off,
#                                a read from the tier is right

. "$WEIR_SRC/tests/helpers/pyserver.sh"

faults_setup() {
	weir_test_setup "faults-$1"
	MIB=$((1024 * 1024))
	[ $# -eq 1 ] && return 0
	[ $# -eq 3 ] || fail "faults_setup: want NAME or NAME STALL RETRIES, got \"$*\""
	STALL="$2" RETRIES="$3"
	# backoff adds less than a second here; 6 s for a loaded machine
	BOUND=$(((RETRIES + 1) * STALL + 6))
	printf 'ufs-stall-timeout = %s\nufs-retries = %s\n' "$STALL" "$RETRIES" >"$WEIR_STATE/node.conf"
}

fp_start() {
	py_server_start "$WEIR_SRC/tests/faults/faultproxy.py" "$1" "$2"
	FP_PORT="$PY_SERVER_PORT" FP_PID="$PY_SERVER_PID" FP_LOG="$PY_SERVER_LOG"
}

fp_rules() {
	curl -sf --max-time 10 -X POST --data "{\"rules\": $1}" "http://127.0.0.1:$FP_PORT/__fault__" \
		>/dev/null || fail "the fault proxy refused rules $1"
}

fp_hits() {
	curl -sf --max-time 10 "http://127.0.0.1:$FP_PORT/__fault__" |
		python3 -c 'import json,sys; print(" ".join(map(str, json.load(sys.stdin)["hits"])))' ||
		fail "the fault proxy did not answer GET /__fault__"
}

drop_view_cache() {
	python3 - "$1" <<'PY' || fail "cannot drop the page cache of $1"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)
PY
}

read_ok() {
	local what="$1" path="$2" want="$3" t0 rc=0
	t0="$(now)"
	timeout -k 5 300 cat "$path" >"$TMP/read.out" 2>"$TMP/read.err" || rc=$?
	READ_SECS="$(elapsed "$t0" "$(now)")"
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "$what: the read of $path hung for 300 s"
	[ "$rc" -eq 0 ] || fail "$what: the read of $path failed after $READ_SECS s: $(cat "$TMP/read.err")"
	cmp "$TMP/read.out" "$want" || fail "$what: $path read wrong bytes (cmp above)"
}

# one_version WHAT RC OUT ERR OLD NEW: a read that exited RC, its bytes in OUT and its stderr in
# ERR, got all of OLD or all of NEW, or a prefix of OLD and then ESTALE; never a mix.
one_version() {
	local what="$1" rc="$2" out="$3" err="$4" old="$5" new="$6" got
	got="$(stat -c %s "$out")"
	if [ "$rc" -eq 0 ]; then
		cmp -s "$out" "$old" || cmp -s "$out" "$new" ||
			fail "$what: the read succeeded with $got bytes that are neither version (mixed)"
		ok "$what: one whole version"
		return
	fi
	grep -q "Stale file handle" "$err" || fail "$what: failed with $(cat "$err"), not ESTALE"
	cmp -s -n "$got" "$out" "$old" || fail "$what: the $got bytes before ESTALE are not the old version's"
	ok "$what: $got bytes of the old version, then ESTALE"
}

mid_read_swap() {
	local match="$1" path="$2" old="$3" new="$4" argv="$5" rc=0
	fp_rules "[{\"fault\": \"run\", \"match\": \"$match\", \"range\": true, \"skip\": 2, \"times\": 1, \"argv\": $argv}]"
	timeout -k 5 300 cat "$path" >"$TMP/sw.out" 2>"$TMP/sw.err" || rc=$?
	[ "$(fp_hits)" = 1 ] || fail "swap: the object was not replaced mid-read"
	fp_rules '[]'
	one_version swap "$rc" "$TMP/sw.out" "$TMP/sw.err" "$old" "$new"
	sleep 1.1
	read_clean "swap, a fresh open" "$path" "$new"
	ok "swap: a fresh open reads the new version whole"
}

read_clean() {
	drop_view_cache "$2"
	read_ok "$@"
}

read_fails() {
	local what="$1" path="$2" want="$3" bound="$4" t0 rc=0 got
	t0="$(now)"
	timeout -k 5 300 cat "$path" >"$TMP/read.out" 2>"$TMP/read.err" || rc=$?
	READ_SECS="$(elapsed "$t0" "$(now)")"
	READ_ERR="$(cat "$TMP/read.err")"
	got="$(stat -c %s "$TMP/read.out")"
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "$what: the read of $path hung for 300 s"
	[ "$rc" -ne 0 ] || {
		cmp -s "$TMP/read.out" "$want" || fail "$what: the read of $path succeeded with WRONG bytes ($got bytes)"
		fail "$what: the read of $path succeeded although the fault never cleared"
	}
	case "$READ_ERR" in
	*"Input/output error"* | *"Stale file handle"*) ;;
	*) fail "$what: the read of $path failed with \"$READ_ERR\", not EIO or ESTALE" ;;
	esac
	cmp -s -n "$got" "$TMP/read.out" "$want" || fail "$what: the $got bytes read before the error are wrong"
	awk -v s="$READ_SECS" -v b="$bound" 'BEGIN { exit !(s <= b) }' ||
		fail "$what: the read took $READ_SECS s to fail; the bound is $bound s"
}

# passing FILE RULE: the fault hits the first range requests, then clears; the read is right.
passing() {
	local f="$1" rule="$2" hits secs
	fp_rules "[$rule]"
	read_ok "$f" "$VIEW/$f" "$WANT/$f"
	hits="$(fp_hits)"
	secs="$READ_SECS"
	fp_rules '[]'
	[ "$hits" -gt 0 ] || fail "$f: the fault never hit (rule $rule)"
	read_clean "$f, again from the tier" "$VIEW/$f" "$WANT/$f"
	ok "$f: right bytes in $secs s after $hits injected faults; from the tier too"
}

# lasting FILE RULE: the fault never clears while the file is read: a clean error in bounded
# time; with the fault gone, the read from the tier is right.
lasting() {
	local f="$1" rule="$2" hits err secs warned
	fp_rules "[$rule]"
	read_fails "$f" "$VIEW/$f" "$WANT/$f" "$BOUND"
	hits="$(fp_hits)"
	err="$READ_ERR" secs="$READ_SECS"
	fp_rules '[]'
	[ "$hits" -gt 0 ] || fail "$f: the fault never hit (rule $rule)"
	# the daemon logs a fault once per read, not once per READ request or retry
	warned="$(grep -c "warning: read of \"[^\"]*/$f\" at .* failed" "$WEIR_STATE/node.log" || true)"
	[ "$warned" -eq 1 ] || fail "$f: node.log has $warned warnings of the failed read, not one"
	read_clean "$f, after the fault cleared" "$VIEW/$f" "$WANT/$f"
	ok "$f: failed in $secs s (bound $BOUND) after $hits faults: ${err#cat: }; right bytes once it cleared"
}

