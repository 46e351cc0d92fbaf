#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# weir up leaves weir-node and weir-controller under keepers: after kill -9 of both, with no
# command typed, both answer again; an open file keeps reading, an open directory lists, a file
# open for writing in a read-write view takes the rest of its writes; weir down stops everything,
# keepers included.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"

require_root_fuse
find_weir_bins
[ -n "${WEIR_CONTROLLER_BIN:-}" ] || WEIR_CONTROLLER_BIN="${WEIR_BUILD_DIR:-$WEIR_SRC/build}/controller/weir-controller"
[ -x "$WEIR_CONTROLLER_BIN" ] || fail "weir-controller is not at $WEIR_CONTROLLER_BIN: build it (ninja -C build)"
export WEIR_CONTROLLER_BIN
TMP="$(mktemp -d /tmp/weir-up-crash.XXXXXX)"
at_exit 'rm -rf "$TMP"'
weir_setup "$TMP"
at_exit 'timeout -k 2 30 "$WEIR_BIN" --state-dir "$WEIR_STATE" down >/dev/null 2>&1 || true'
printf 'metrics-listen = 127.0.0.1:%s\n' "$(free_port)" >"$WEIR_STATE/node.conf"
mkdir -p "$TMP/src/dir" "$TMP/rw"
rand_file "$TMP/src/big.bin" $((48 << 20)) upcrash
for i in $(seq 1 300); do echo "$i" >"$TMP/src/dir/file-$i"; done
chmod 0777 "$TMP/rw"

step "weir up: both daemons under keepers"
w up >"$TMP/up.out" 2>&1 || fail "weir up failed: $(cat "$TMP/up.out")"
nk="$(weir_keeper_pid)"
ck="$(pid_from_file "$WEIR_STATE/controller-keeper.pid" weir-keeper --state-dir "$WEIR_STATE" --name controller)"
[ -n "$nk" ] || fail "weir up started no weir-keeper for weir-node ($WEIR_STATE/node-keeper.pid)"
[ -n "$ck" ] || fail "weir up started no weir-keeper for weir-controller"
cpid="$(pid_from_file "$WEIR_STATE/controller.pid" weir-controller --state-dir "$WEIR_STATE")"
[ -n "$cpid" ] || fail "$WEIR_STATE/controller.pid names no weir-controller of this state directory"
ok "keepers $nk (node) and $ck (controller); controller pid $cpid"

weir_mount "local://$TMP/src" "$TMP/mnt" --tier "mem:$WEIR_TIER_DIR/mem:256MiB"
weir_mount "local://$TMP/rw" "$TMP/mnt-rw" --tier "mem:$WEIR_TIER_DIR/mem2:64MiB" --read-write

step "a slow reader, an open directory and a writer hold their descriptors; kill -9 both daemons"
cat >"$TMP/hold.py" <<'PY'
import os, sys, time
mp, rw, src, ready, go = sys.argv[1:6]
f = os.open(mp + "/big.bin", os.O_RDONLY)
d = os.open(mp + "/dir", os.O_RDONLY | os.O_DIRECTORY)
w = os.open(rw + "/out.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
first = os.pread(f, 1 << 20, 0)
os.write(w, b"before the kill\n")
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.02)
# after the kill: the same descriptors
rest, off = [first], len(first)
while True:
    b = os.pread(f, 1 << 20, off)
    if not b:
        break
    rest.append(b)
    off += len(b)
ok = b"".join(rest) == open(src + "/big.bin", "rb").read()
names = sorted(os.listdir(d))
os.write(w, b"after the kill\n")
os.close(w)
print("read", "ok" if ok else "WRONG", "listed", len(names), flush=True)
PY
python3 "$TMP/hold.py" "$TMP/mnt" "$TMP/mnt-rw" "$TMP/src" "$TMP/ready" "$TMP/go" >"$TMP/hold.out" 2>&1 &
holder=$!
pid_track "$holder"
for i in $(seq 1 100); do [ -e "$TMP/ready" ] && break; sleep 0.1; done
[ -e "$TMP/ready" ] || fail "the holder did not open its files: $(cat "$TMP/hold.out")"
npid="$(weir_node_pid)"
pid_signal 9 "$npid" "$cpid"
touch "$TMP/go"
newn="$(weir_wait_new_node "$npid")"
for i in $(seq 1 100); do
	newc="$(cat "$WEIR_STATE/controller.pid" 2>/dev/null || true)"
	w get dataset -A >/dev/null 2>&1 && break
	sleep 0.1
done
w get dataset -A >/dev/null 2>&1 || fail "no weir-controller answers 10 s after kill -9 of $cpid (keeper $ck)"
grep -q "restarting it" "$WEIR_STATE/controller.log" || fail "controller.log does not say its keeper restarted weir-controller"
ok "weir-node $npid -> $newn, weir-controller restarted, no command typed"

step "the holder's descriptors work after the restart"
rc=0
pid_wait_gone 60 "$holder" || rc=124
wait "$holder" || rc=$?
out="$(cat "$TMP/hold.out")"
[ "$rc" -eq 0 ] || fail "the holder failed (exit $rc): $out"
[ "$out" = "read ok listed 300" ] || fail "after the restart the holder says \"$out\", expected \"read ok listed 300\""
printf 'before the kill\nafter the kill\n' | cmp - "$TMP/rw/out.bin" || fail "the writer's file holds $(od -c "$TMP/rw/out.bin" | head -3)"
grep -q "restored .* open files" "$WEIR_STATE/node.log" || fail "node.log does not say what the new weir-node restored"
ok "$out; the writer's two writes are in the source file"

step "weir down stops the daemons and their keepers"
w umount "$TMP/mnt" && w umount "$TMP/mnt-rw" || fail "weir umount failed"
WEIR_MOUNTS=()
w down >"$TMP/down.out" 2>&1 || fail "weir down failed: $(cat "$TMP/down.out")"
for p in "$nk" "$ck"; do
	pid_wait_gone 5 "$p" || fail "weir-keeper $p still runs after weir down"
done
[ -z "$(weir_node_pid)" ] || fail "weir-node still runs after weir down"
ok "nothing left running"
echo
echo "PASS: weir up supervises weir-node and weir-controller; descriptors survive kill -9"
