#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The pid guard of tests/helpers/lib.sh (pid_track, pid_signal, pid_stop, pid_from_file): a test
# signals only a process it started. Runs in a pid namespace of its own (unshare --pid), where it
# makes a new process take the very pid of a child that ended (ns_last_pid), the way a CI run that
# forks past pid_max does, and checks that pid_stop of the old child leaves the new process alone,
# while the old `kill -0 && kill` does kill it. Root: unshare --pid and ns_last_pid need it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ "${1:-}" != --in-pidns ]; then
	[ "$(id -u)" -eq 0 ] || {
		echo "FAIL: this test makes a pid namespace (unshare --pid) and writes /proc/sys/kernel/ns_last_pid in it: run it as root (uid is $(id -u))" >&2
		exit 1
	}
	command -v unshare >/dev/null || { echo "FAIL: unshare is missing: install util-linux" >&2; exit 1; }
	exec unshare --pid --fork --mount-proc -- bash "$here/check_pids.sh" --in-pidns
fi
. "$here/lib.sh"
. "$here/weir.sh"
TMP="$(mktemp -d /tmp/weir-check-pids.XXXXXX)"
at_exit 'rm -rf "$TMP"'
[ -w /proc/sys/kernel/ns_last_pid ] || fail "/proc/sys/kernel/ns_last_pid is not writable in the new pid namespace (a kernel without it, or no CAP_SYS_ADMIN)"

# zombie PID, runs PID: the state of the process holding PID now, read without lib.sh. Nothing
# started here needs stopping at the end: the namespace's processes die with its first one.
zombie() { awk '{ sub(/.*\) /, ""); exit $1 != "Z" }' "/proc/$1/stat" 2>/dev/null; }
runs() { [ -r "/proc/$1/stat" ] && ! zombie "$1"; }
# field22 PID: the start time as python reads it (a second parser, not lib.sh's)
field22() { python3 -c 'import sys; s = open("/proc/%s/stat" % sys.argv[1]).read(); print(s[s.rindex(")") + 2:].split()[19])' "$1"; }

step "the start time is read after the last ')': a command name with spaces and parentheses"
cp "$(command -v sleep)" "$TMP/a) 1 2 (b"
"$TMP/a) 1 2 (b" 1000 &
odd=$!
pid_track "$odd"
want="$(field22 "$odd")"
got="$(cat "$WEIR_PID_DIR/$odd")"
[ "$got" = "$want" ] || fail "pid_track recorded \"$got\" for \"$(cat "/proc/$odd/comm")\"; /proc/$odd/stat field 22 is $want"
pid_alive "$odd" || fail "pid_alive: the running \"$(cat "/proc/$odd/comm")\" ($odd) reads as ended"
pid_stop "$odd"
! runs "$odd" || fail "pid_stop left its own tracked child $odd running"
ok "start time $want recorded for comm \"a) 1 2 (b\"; pid_stop ended it"

step "a pid reused by another process: a child ends and is reaped; a new process gets its pid"
# the namespace is ours alone: the next fork after ns_last_pid = P - 1 gets P
sleep 0.1 &
child=$!
pid_track "$child"
wait "$child"
sleep 0.1 # a later clock tick: the start times differ
reused=""
for try in 1 2 3 4 5; do
	echo $((child - 1)) >/proc/sys/kernel/ns_last_pid
	sleep 1000 &
	new=$!
	if [ "$new" -eq "$child" ]; then
		reused="$new"
		break
	fi
	kill -KILL "$new"
	wait "$new" 2>/dev/null || true
done
[ -n "$reused" ] || fail "no process got pid $child again (the last got $new): the test would prove nothing"
[ "$(field22 "$reused")" != "$(cat "$WEIR_PID_DIR/$child")" ] ||
	fail "the new process on pid $reused started in the same clock tick as the child that ended: the test would prove nothing"
ok "pid $child: the child (start $(cat "$WEIR_PID_DIR/$child")) ended; sleep 1000 holds it now (start $(field22 "$reused"))"

step "pid_alive, pid_signal and pid_stop of the old child leave the new process alone"
! pid_alive "$child" || fail "pid_alive says the child $child that ended runs (the new process on its pid fooled it)"
rc=0
pid_signal TERM "$child" 2>/dev/null || rc=$?
[ "$rc" -eq 1 ] || fail "pid_signal TERM of the child that ended returned $rc, expected 1 (ended)"
pid_stop "$child"
pid_stop -t 1 "$child" # a second stop, as an exit handler does after the test stopped it
sleep 0.2
runs "$reused" || fail "pid_stop of the child that ended killed the new process that holds pid $reused now"
ok "the new process on pid $reused still runs after pid_signal TERM and two pid_stop of the old child"

step "the old way, kill -0 then kill, on the same pid kills the new process (what this guards against)"
if kill -0 "$child" 2>/dev/null; then kill -TERM "$child"; fi
wait "$reused" 2>/dev/null || true
! runs "$reused" || fail "kill -0 && kill of pid $child did not end the process on it: the reuse above was not real"
ok "kill -0 && kill ended the unrelated process on pid $reused"

step "a recorded start time that differs (reuse simulated by rewriting the record)"
sleep 1000 &
s=$!
pid_track "$s"
echo 1 >"$WEIR_PID_DIR/$s"
pid_stop "$s"
runs "$s" || fail "pid_stop signalled $s, whose start time is not the one recorded"
ok "pid_stop left $s alone"

step "a zombie (ended, not yet reaped by its parent) has ended"
python3 -c '
import os, sys, time
p = os.fork()
if p == 0:
    time.sleep(0.5)
    os._exit(0)
print(p, flush=True)
time.sleep(1000)
' >"$TMP/zparent.out" &
zparent=$!
until_ok 10 "the python parent printing its child" test -s "$TMP/zparent.out"
z="$(cat "$TMP/zparent.out")"
pid_track "$z"
pid_alive "$z" || fail "pid_alive: the python child $z reads as ended while it sleeps"
until_ok 10 "python child $z a zombie" zombie "$z"
! pid_alive "$z" || fail "pid_alive says the zombie $z runs"
ok "zombie $z reads as ended"

step "a zombie leader whose other thread still runs has not ended: it still holds its files"
# the main thread ends first (pthread_exit), as at exit_group or a daemon's main returning early;
# the process's descriptors (here a FUSE connection, in the tests) stay open with its threads
python3 -c '
import ctypes, os, threading, time
threading.Thread(target=lambda: time.sleep(1000)).start()
print(os.getpid(), flush=True)
ctypes.CDLL(None).pthread_exit(None)
' >"$TMP/zlead.out" &
zl=$!
pid_track "$zl"
until_ok 10 "python $zl's leader a zombie" zombie "$zl"
pid_alive "$zl" || fail "pid_alive says $zl ended while its leader is a zombie and its other thread runs"
pid_stop "$zl"
until_ok 10 "python $zl gone after pid_stop" bash -c "! [ -e /proc/$zl/stat ] || [ \$(ls /proc/$zl/task | wc -l) -le 1 ]"
ok "a zombie leader with a live thread reads as running; pid_stop ends it"

step "a pid never tracked is refused, not signalled: in the test (it fails) and in a cleanup (the test exits 1)"
sleep 1000 &
u=$!
rc=0
(pid_signal TERM "$u") 2>"$TMP/refused.err" || rc=$?
[ "$rc" -ne 0 ] || fail "pid_signal TERM of the untracked $u succeeded"
grep -q 'never tracked' "$TMP/refused.err" || fail "pid_signal of an untracked pid said: $(cat "$TMP/refused.err")"
runs "$u" || fail "the untracked $u was signalled"
cat >"$TMP/cleanup.sh" <<EOF
set -euo pipefail
. "$here/lib.sh"
at_exit 'touch "$TMP/later-cleanup-ran"'
at_exit 'pid_stop $u'
EOF
rc=0
bash "$TMP/cleanup.sh" 2>"$TMP/cleanup.err" || rc=$?
[ "$rc" -eq 1 ] || fail "a script whose cleanup stops an untracked pid exited $rc, expected 1: $(cat "$TMP/cleanup.err")"
grep -q 'never tracked' "$TMP/cleanup.err" || fail "the cleanup's refusal said: $(cat "$TMP/cleanup.err")"
[ -e "$TMP/later-cleanup-ran" ] || fail "the cleanups after the refused one did not run"
runs "$u" || fail "the untracked $u was signalled by a cleanup"
ok "refused both times ($(grep -m1 -o 'BUG: .*refused' "$TMP/refused.err")); $u still runs"

step "pid files: weir_node_pid and weir_keeper_pid name only this state dir's daemon"
# The interpreter itself, not a wrapper such as pyenv's shim: a shim's command line already
# holds the script's arguments and is replaced by each exec of its chain, so a read between two
# of them found no command line ("did not find", once in ten runs under load).
py="$(python3 -c 'import sys; print(sys.executable)')"
[ -x "$py" ] || fail "python3 names no interpreter (sys.executable is \"$py\")"
WEIR_STATE="$TMP/state"
mkdir -p "$WEIR_STATE" "$TMP/other"
# a process whose command line names weir-node, but another state dir: another test's daemon
"$py" -c 'import time; time.sleep(1000)' /x/weir-node --state-dir "$TMP/other" &
foreign=$!
until_ok 10 "python $foreign started (its command line read)" grep -qs time.sleep "/proc/$foreign/cmdline"
echo "$foreign" >"$WEIR_STATE/node.pid"
[ -z "$(weir_node_pid)" ] || fail "weir_node_pid took $foreign, a weir-node of $TMP/other, for the one of $WEIR_STATE"
grep -qs weir-node "/proc/$foreign/cmdline" || fail "the old check (grep weir-node cmdline) would not have matched either: the case proves nothing"
# the keeper's command line names weir-node too, after its own name
"$py" -c 'import time; time.sleep(1000)' weir-keeper --state-dir "$WEIR_STATE" --name node -- /x/weir-node --state-dir "$WEIR_STATE" &
keeper=$!
until_ok 10 "python $keeper started (its command line read)" grep -qs time.sleep "/proc/$keeper/cmdline"
echo "$keeper" >"$WEIR_STATE/node.pid"
echo "$keeper" >"$WEIR_STATE/node-keeper.pid"
[ -z "$(weir_node_pid)" ] || fail "weir_node_pid took the weir-keeper $keeper for weir-node"
[ "$(weir_keeper_pid)" = "$keeper" ] || fail "weir_keeper_pid did not find the keeper $keeper of $WEIR_STATE"
# ours, through a path written differently (the same directory)
"$py" -c 'import time; time.sleep(1000)' /x/weir-node --state-dir "$TMP/./state" &
mine=$!
until_ok 10 "python $mine started (its command line read)" grep -qs time.sleep "/proc/$mine/cmdline"
echo "$mine" >"$WEIR_STATE/node.pid"
[ "$(weir_node_pid)" = "$mine" ] || fail "weir_node_pid did not find $mine, weir-node --state-dir $TMP/./state"
# read in a subshell, as $(weir_node_pid) is: tracked for the script all the same
pid_stop "$mine"
! runs "$mine" || fail "pid_stop of the pid weir_node_pid read did not end $mine"
pid_track "$keeper"
pid_stop "$keeper"
echo "$mine" >"$WEIR_STATE/node.pid"
[ -z "$(weir_node_pid)" ] || fail "weir_node_pid named $mine, which ended"
ok "foreign state dir, a keeper and an ended pid refused; our weir-node found and stopped"

echo "PASS: pids are signalled only while the process that had them runs"
