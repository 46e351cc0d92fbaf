#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end: the control sockets of weir-node and weir-controller answer root (and the group
# "weir") only. Their socket files are 0600 (0660 group weir where it exists); and with the
# files opened up to everyone (a wrong chmod, a bind mount into a pod), the daemons themselves
# refuse a caller that is not root by its kernel credentials. As nobody, through the weir CLI and
# through a raw client: no mount, unmount, apply, delete or load happens.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/walkthrough.sh"

require_root_fuse
find_weir_bins
find_controller_bin
command -v setpriv >/dev/null || fail "setpriv is missing: install util-linux (scripts/install-deps.sh)"
id nobody >/dev/null 2>&1 && getent group nogroup >/dev/null ||
	fail "user nobody and group nogroup must exist to run the non-root checks"
getent group weir >/dev/null && fail "a group \"weir\" exists on this machine: this test expects root-only sockets"
TMP="$(mktemp -d /tmp/weir-e2e-ctlperm.XXXXXX)"
at_exit 'rm -rf "$TMP"'
chmod 0755 "$TMP"
weir_setup "$TMP"
WT_POLL_SECONDS=30
WT_MOUNTS=()
printf 'metrics-listen =\n' >"$WEIR_STATE/node.conf"
SRC="$TMP/src"
mkdir -p "$SRC"
rand_file "$SRC/file" 200000 ctlperm
chmod -R a+rX "$SRC"

as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
# refused WHAT CMD...: CMD run as nobody must fail; its words are kept in $TMP/refused.out.
refused() {
	local what="$1" rc=0
	shift
	as_nobody timeout -k 2 30 "$@" </dev/null >"$TMP/refused.out" 2>&1 || rc=$?
	[ "$rc" -ne 0 ] || fail "nobody could $what: $* exited 0 ($(head -c 300 "$TMP/refused.out"))"
	# a refusal for the wrong reason proves nothing: the command itself must have run
	! grep -q "failed to run command" "$TMP/refused.out" ||
		fail "the test could not run $1 as nobody: $(cat "$TMP/refused.out")"
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "$* as nobody hung for 30 s instead of being refused"
	note "nobody cannot $what: $(head -n 1 "$TMP/refused.out")"
}

step "weir up; a Dataset, its view and a plain view, as root"
wt_up
wt_dataset_yaml default d "local://$SRC" >"$TMP/d.yaml"
show apply -f "$TMP/d.yaml"
wt_wait_phase dataset d default Bound
MP="$TMP/mnt" MP2="$TMP/mnt2" MP3="$TMP/mnt3"
wt_mount default d "$MP"
weir_mount "local://$SRC" "$MP2" --no-prefetch
mkdir -p "$MP3" && chmod 0777 "$MP3"
cmp "$SRC/file" "$MP/file" || fail "root reads other bytes through $MP"
ok "root applied, mounted and read"

step "the socket files are root's, mode 0600"
for s in node controller; do
	f="$WEIR_STATE/$s.sock"
	[ -S "$f" ] || fail "$f is not a socket"
	got="$(stat -c '%U %a' "$f")"
	[ "$got" = "root 600" ] || fail "$f is \"$got\", want \"root 600\""
done
ok "node.sock and controller.sock: root 600"

# attempts: everything nobody tries, each must fail and change nothing
attempts() {
	cat >"$TMP/load.yaml" <<YAML
apiVersion: data.fluid.io/v1alpha1
kind: DataLoad
metadata: {name: sneaky, namespace: default}
spec: {dataset: {name: d, namespace: default}}
YAML
	chmod 0644 "$TMP/load.yaml" "$TMP/d.yaml"
	refused "delete the Dataset" "$WEIR_BIN" --state-dir "$WEIR_STATE" delete dataset d -n default
	refused "delete by manifest" "$WEIR_BIN" --state-dir "$WEIR_STATE" delete -f "$TMP/d.yaml"
	refused "unmount the Dataset's view" "$WEIR_BIN" --state-dir "$WEIR_STATE" umount "$MP"
	refused "unmount the plain view" "$WEIR_BIN" --state-dir "$WEIR_STATE" umount "$MP2"
	refused "mount a source" "$WEIR_BIN" --state-dir "$WEIR_STATE" mount "local://$SRC" "$MP3" --no-prefetch
	refused "apply a DataLoad" "$WEIR_BIN" --state-dir "$WEIR_STATE" apply -f "$TMP/load.yaml"
	refused "load the Dataset" "$WEIR_BIN" --state-dir "$WEIR_STATE" load -n default d --no-wait
	# weir down as nobody through a closed state dir cannot reach the daemons: it must fail
	# saying to run it as root, not report them "not running" and exit 0 (a user who forgot sudo
	# believed weir stopped); with the sockets open the daemons refuse it. Either way they still
	# run afterwards (unchanged).
	if [ "${OPEN_SOCKETS:-0}" = 1 ]; then
		refused "stop the daemons" "$WEIR_BIN" --state-dir "$WEIR_STATE" down
		grep -q "refused to stop: permission denied" "$TMP/refused.out" ||
			fail "nobody's weir down did not say it was refused: $(cat "$TMP/refused.out")"
	else
		refused "stop the daemons" "$WEIR_BIN" --state-dir "$WEIR_STATE" down
		! grep -q "not running" "$TMP/refused.out" ||
			fail "nobody's weir down says a daemon is not running while both run: $(cat "$TMP/refused.out")"
		# the other readers too: each says the sockets are root's, not what a dead daemon needs
		for cmd in down stat top get; do
			args=("$cmd")
			[ "$cmd" = top ] && args+=(--once)
			[ "$cmd" = get ] && args+=(dataset -A)
			refused "run weir ${args[*]}" "$WEIR_BIN" --state-dir "$WEIR_STATE" "${args[@]}"
			grep -q "run it as root" "$TMP/refused.out" ||
				fail "nobody's weir ${args[*]} does not say to run it as root: $(cat "$TMP/refused.out")"
		done
	fi
	# a raw client: one Ping frame, then whatever answer comes
	for s in node controller; do
		as_nobody /usr/bin/python3 - "$WEIR_STATE/$s.sock" >"$TMP/raw.out" 2>&1 <<'PY' || true
import socket, sys
c = socket.socket(socket.AF_UNIX)
try:
    c.connect(sys.argv[1])
except OSError as e:
    print("connect:", e.strerror); sys.exit(1)
try:
    c.sendall(b"\x00\x00\x00\x02\x2a\x00")  # Request { ping {} }
except OSError:
    pass  # a refusal may come before the request is read: read it anyway
c.settimeout(5)
data = b""
try:
    while True:
        b = c.recv(4096)
        if not b: break
        data += b
except OSError as e:
    print("recv:", e); sys.exit(1)
print("answer:", data[4:].decode("latin-1"))
PY
		if grep -q '^answer:' "$TMP/raw.out"; then
			grep -q "permission denied: weir-$s" "$TMP/raw.out" ||
				fail "$s.sock answered nobody's Ping with something else than a refusal: $(cat "$TMP/raw.out")"
		elif [ "${OPEN_SOCKETS:-0}" = 1 ]; then
			fail "with $s.sock open to all, nobody's Ping got no refusal: $(cat "$TMP/raw.out")"
		fi
		note "raw Ping to $s.sock as nobody: $(cat "$TMP/raw.out")"
	done
}
# unchanged: root still sees everything as it was
unchanged() {
	is_mounted "$MP" || fail "$MP is no longer mounted"
	is_mounted "$MP2" || fail "$MP2 is no longer mounted"
	! is_mounted "$MP3" || fail "$MP3 got mounted by nobody"
	cmp "$SRC/file" "$MP/file" || fail "root reads other bytes through $MP"
	wt_json dataset d default "$TMP/d.json" || fail "the Dataset default/d is gone"
	! w get dataload sneaky -n default </dev/null >/dev/null 2>&1 || fail "nobody's DataLoad exists"
	[ -z "$(w get dataload -n default </dev/null 2>/dev/null | grep -v '^NAME' || true)" ] ||
		fail "a DataLoad was created: $(w get dataload -n default </dev/null)"
	[ -n "$(live_pid controller)" ] && [ -n "$(live_pid node)" ] || fail "a daemon stopped"
}

step "as nobody, through the file permissions: everything refused"
attempts
unchanged
ok "nothing changed"

step "socket files opened to everyone: the daemons refuse by the caller's credentials"
chmod 0711 "$WEIR_STATE"
chmod 0666 "$WEIR_STATE/node.sock" "$WEIR_STATE/controller.sock"
OPEN_SOCKETS=1 attempts
unchanged
for s in node controller; do
	grep -q "refused a request from uid $(id -u nobody)" "$WEIR_STATE/$s.log" ||
		fail "weir-$s did not log refusing uid $(id -u nobody) (the refusals above came from elsewhere)"
done
chmod 0600 "$WEIR_STATE/node.sock" "$WEIR_STATE/controller.sock"
chmod 0700 "$WEIR_STATE"
ok "both daemons refused uid $(id -u nobody) and said so; nothing changed"

step "root still has full control"
wt_umount "$MP2"
show delete dataset d -n default
ok "root unmounted and deleted"

echo
echo "PASS: only root can drive weir-node and weir-controller"
