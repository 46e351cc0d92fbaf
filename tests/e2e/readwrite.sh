#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Read-write views (a grant that says rw): writes go through to a local:// source, and every view
# of that source — read-only ones included — reads the new bytes; an HTTP source stays read-only
# and weir says why.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/nginx.sh"
. "$here/../helpers/weir.sh"

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-e2e-rw.XXXXXX)"
at_exit 'rm -rf "$TMP"'
weir_setup "$TMP"
TIERS="mem:$WEIR_TIER_DIR/mem:256MiB"
SRC="$TMP/src"
mkdir -p "$SRC/d"
echo original >"$SRC/d/a.txt"
rand_file "$SRC/big.bin" $((9 << 20)) big
RW="$TMP/rw" RO="$TMP/ro"

step "a read-write view and a read-only view (metadata TTL 1 s) of one local:// source"
weir_mount "local://$SRC" "$RW" --tier "$TIERS" --read-write
weir_mount "local://$SRC" "$RO" --tier "$TIERS" --metadata-ttl 1
cmp "$SRC/big.bin" "$RO/big.bin" || fail "the read-only view differs before any write"
cmp "$SRC/big.bin" "$RO/big.bin" # twice: complete in the tier, cached by the kernel
ok "both views read the source; big.bin is cached"

step "files: create, write, append, overwrite, truncate — on the source at once"
echo hello >"$RW/new.txt"
[ "$(cat "$SRC/new.txt")" = hello ] || fail "a file created in the view is not on the source"
echo more >>"$RW/new.txt"
[ "$(cat "$RW/new.txt")" = "$(printf 'hello\nmore')" ] || fail "append: the view reads \"$(cat "$RW/new.txt")\""
echo changed >"$RW/d/a.txt"
[ "$(cat "$SRC/d/a.txt")" = changed ] || fail "overwriting d/a.txt did not reach the source"
[ "$(cat "$RW/d/a.txt")" = changed ] || fail "the view reads its own overwrite as \"$(cat "$RW/d/a.txt")\""
printf 'PATCHED' | dd of="$RW/big.bin" bs=1 seek=5000000 conv=notrunc status=none
cmp "$SRC/big.bin" "$RW/big.bin" || fail "after a write in the middle the view differs from the source"
truncate -s 4096 "$RW/new.txt"
[ "$(stat -c %s "$SRC/new.txt")" -eq 4096 ] || fail "truncate did not reach the source"
ok "every change is on the source and read back through the view"

step "the read-only view sees the new bytes of a file it had cached, after its TTL"
sleep 1.2
cmp "$SRC/big.bin" "$RO/big.bin" || fail "the read-only view still serves big.bin's old bytes"
[ "$(cat "$RO/d/a.txt")" = changed ] || fail "the read-only view still serves d/a.txt's old bytes"
if touch "$RO/x" 2>"$TMP/touch.err"; then fail "the read-only view accepted a new file"; fi
grep -q "Read-only file system" "$TMP/touch.err" || fail "writing the read-only view said: $(cat "$TMP/touch.err")"
ok "new bytes, and the read-only view refuses writes (EROFS)"

step "directories: mkdir, rename (a file and a directory), unlink, rmdir"
mkdir "$RW/nd"
mv "$RW/new.txt" "$RW/nd/moved.txt"
[ -f "$SRC/nd/moved.txt" ] && [ ! -e "$SRC/new.txt" ] || fail "rename of a file did not reach the source"
mv "$RW/nd" "$RW/nd2"
[ "$(stat -c %s "$RW/nd2/moved.txt")" -eq 4096 ] || fail "a file under a renamed directory is lost"
rm "$RW/nd2/moved.txt"
rmdir "$RW/nd2"
[ ! -e "$SRC/nd2" ] || fail "rmdir did not reach the source"
# a rename over a file, then a rename of the winner: the inode the first one displaced keeps
# its old path but must not take the second one's new name (z must read as x's bytes)
printf 'x-bytes' >"$RW/x"
printf 'y-bytes-longer' >"$RW/y"
exec 4<"$RW/y" # y's inode stays (the kernel would forget it otherwise)
cat "$RW/x" >/dev/null
mv "$RW/x" "$RW/y"
mv "$RW/y" "$RW/z"
echo 2 >/proc/sys/vm/drop_caches # z is looked up again: by weir's path index, not the kernel's dentry
[ "$(cat "$RW/z")" = x-bytes ] || fail "after x -> y -> z, z reads \"$(cat "$RW/z")\" (the overwritten y's inode took z's name), not x's bytes"
[ "$(stat -c %s "$RW/z")" -eq 7 ] || fail "after x -> y -> z, z has size $(stat -c %s "$RW/z"), not 7"
exec 4<&-
rm "$RW/z"
[ "$(ls "$RW" | tr '\n' ' ')" = "big.bin d " ] || fail "the view lists: $(ls "$RW")"
ok "the tree on the source and in the view agree; a rename over a file then of the winner reads the winner"

step "O_APPEND follows the descriptor: cleared with fcntl, a pwrite lands at its offset"
# weir-node used to open the source file O_APPEND as the view's was opened, so a pwrite after
# fcntl had cleared O_APPEND still went to the end (on Linux pwrite of an O_APPEND file appends)
python3 - "$RW/app.txt" <<'PY' || fail "writing app.txt through the view failed"
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.write(fd, b"0123456789")
fl = fcntl.fcntl(fd, fcntl.F_GETFL)
fcntl.fcntl(fd, fcntl.F_SETFL, fl & ~os.O_APPEND)
os.pwrite(fd, b"AB", 2)
fcntl.fcntl(fd, fcntl.F_SETFL, fl)
os.write(fd, b"xy")
os.close(fd)
PY
printf '01AB456789xy' >"$TMP/want.app"
cmp "$TMP/want.app" "$SRC/app.txt" || fail "app.txt on the source is \"$(cat "$SRC/app.txt")\", not 01AB456789xy"
rm "$RW/app.txt"
ok "01AB456789xy: the pwrite at 2 in place, the appends at the end"

step "a descriptor opened before a write through the view reads it; a change made elsewhere does not"
# as on a local file system: an append, an overwrite and a truncate through the view reach a
# reader that opened the file before them (weir used to give it EOF at its old size, then
# ESTALE); a change on the source itself still never mixes into what it reads
printf 'one\n' >"$RW/c.txt"
python3 - "$RW/c.txt" "$SRC/c.txt" <<'PY' || fail "a reader opened before the writes: see above"
import errno, os, subprocess, sys
view, src = sys.argv[1], sys.argv[2]
def sh(cmd):
    subprocess.run(["sh", "-c", cmd, "sh", view], check=True)
def expect(what, got, want):
    if got != want:
        sys.exit(f"{what}: read {got!r}, not {want!r}")
fd = os.open(view, os.O_RDONLY)
expect("before any write", os.read(fd, 100), b"one\n")
sh("printf 'two\\n' >>\"$1\"")
expect("after an append (the writer closed)", os.read(fd, 100), b"two\n")
w = os.open(view, os.O_WRONLY)
sh("printf 'ONE' | dd of=\"$1\" conv=notrunc status=none")
os.write(w, b"o")
expect("an overwrite while another writer is open", os.pread(fd, 100, 0), b"oNE\ntwo\n")
os.close(w)
expect("size", os.fstat(fd).st_size, 8)
sh("truncate -s 4 \"$1\"")
expect("after a truncate", os.pread(fd, 100, 0), b"oNE\n")
expect("size after a truncate", os.fstat(fd).st_size, 4)
sh("printf 'Two\\n' >\"$1\"")  # an O_TRUNC open, then a write
expect("after a rewrite", os.pread(fd, 100, 0), b"Two\n")
with open(src, "ab") as f:  # elsewhere: on the source, not through the view
    f.write(b"host\n")
sh("printf 'view\\n' >>\"$1\"")  # a write through the view on top of it
for what in ("after a change elsewhere", "again"):
    try:
        got = os.pread(fd, 100, 0)
    except OSError as e:
        if e.errno != errno.ESTALE:
            raise
        continue
    expect(what, got, b"Two\n")  # its own version, or ESTALE: never host's bytes
os.close(fd)
PY
printf 'Two\nhost\nview\n' >"$TMP/want.c"
cmp "$TMP/want.c" "$RW/c.txt" || fail "c.txt reopened reads \"$(cat "$RW/c.txt")\""
# tail -f: polling (FUSE is remote to it), each line written through the view shows up
: >"$RW/t.log"
tail -n +1 -s 0.1 ---disable-inotify -f "$RW/t.log" >"$TMP/tail.out" 2>"$TMP/tail.err" &
tailpid=$!
pid_track "$tailpid"
for i in 1 2 3 4 5; do
	echo "line $i" >>"$RW/t.log"
	sleep 0.2
done
seq 1 5 | sed 's/^/line /' >"$TMP/want.tail"
for i in $(seq 1 100); do cmp -s "$TMP/want.tail" "$TMP/tail.out" && break; sleep 0.1; done
pid_stop "$tailpid"
cmp -s "$TMP/want.tail" "$TMP/tail.out" ||
	fail "tail -f of a file written through the view showed \"$(cat "$TMP/tail.out")\" in 10 s ($(cat "$TMP/tail.err"))"
# readers opened while an appender writes through the view, each round on an emptied file: every
# one reads the file as it ends. The first reader of a round used to bind, when it could not catch
# up with the writes, to a version a few writes old that no later write followed: every reader
# of the round got ESTALE. Nothing but this view writes the source meanwhile, so node.log must
# not call the listing of / wrong: its sizes lagged the view's own appends (about 15 warnings a
# round)
wrong() { grep -c 'the listing of "/" is wrong' "$WEIR_STATE/node.log" || true; }
warned="$(wrong)"
python3 - "$RW/race.log" 150 <<'PY' || fail "readers opened during appends: see above"
import errno, os, sys, threading
path, rounds = sys.argv[1], int(sys.argv[2])
bad = []
for rnd in range(rounds):
    open(path, "w").close()  # emptied: no reader open, the next one binds alone
    stop = threading.Event()
    def appender():
        with open(path, "a") as f:
            for n in range(3000):
                if stop.is_set() and n >= 200:
                    break
                f.write("line %06d\n" % n)
                f.flush()
    t = threading.Thread(target=appender)
    t.start()
    readers = []
    while t.is_alive() and len(readers) < 50:
        readers.append(os.open(path, os.O_RDONLY))
    stop.set()
    t.join()
    with open(path, "rb") as f:
        want = f.read()
    for i, fd in enumerate(readers):
        got = b""
        try:
            while True:
                b = os.pread(fd, 1 << 20, len(got))
                if not b:
                    break
                got += b
            if got != want:
                bad.append(f"round {rnd} reader {i}: {len(got)} of {len(want)} bytes")
        except OSError as e:
            bad.append(f"round {rnd} reader {i}: {errno.errorcode[e.errno]}")
        os.close(fd)
if bad:
    sys.exit(f"{len(bad)} readers did not read the file as it ends: " + "; ".join(bad[:5]))
PY
# the same with a new name each round: made, appended to at once through another descriptor
# (open(name, "a") right after the create must find it) while readers open it, then removed
python3 - "$RW" 60 <<'PY' || fail "new files appended to while readers open them: see above"
import errno, os, sys, threading
d, rounds = sys.argv[1], int(sys.argv[2])
bad = []
for rnd in range(rounds):
    path = f"{d}/new{rnd}.log"
    stop = threading.Event()
    def appender():
        try:
            with open(path, "a") as f:
                for n in range(1000):
                    if stop.is_set() and n >= 100:
                        break
                    f.write("line %06d\n" % n)
                    f.flush()
        except OSError as e:
            bad.append(f"round {rnd}: open(name, \"a\") after the create: {e}")
    try:
        open(path, "w").close()
        t = threading.Thread(target=appender)
        t.start()
        readers = []
        while t.is_alive() and len(readers) < 20:
            readers.append(os.open(path, os.O_RDONLY))
        stop.set()
        t.join()
        for fd in readers:
            os.close(fd)
        os.unlink(path)
    except OSError as e:
        bad.append(f"round {rnd}: {e}")
if bad:
    sys.exit(f"{len(bad)} rounds failed: " + "; ".join(bad[:5]))
PY
[ "$(wrong)" = "$warned" ] ||
	fail "$(($(wrong) - warned)) warnings in node.log that the listing of / is wrong, while only this view's appends changed it: $(grep -m1 'the listing of "/" is wrong' "$WEIR_STATE/node.log")"
rm "$RW/c.txt" "$RW/t.log" "$RW/race.log"
ok "append, overwrite, truncate and rewrite through the view reach an open reader; tail -f follows; readers opened during appends read them all; a change elsewhere stays out"

# a reader kept open that follows the view's writes must not make a change made elsewhere
# invisible to new opens: they read what the source holds now
printf 'one\n' >"$RW/o.txt"
exec 7<"$RW/o.txt"
printf 'two\n' >>"$RW/o.txt"
printf 'host\n' >>"$SRC/o.txt"
sleep 1.1 # past the metadata TTL of a change the view did not make
for i in 1 2 3; do
	cat "$RW/o.txt" >"$TMP/o.got" 2>"$TMP/o.err" && cmp -s "$SRC/o.txt" "$TMP/o.got" && break
	sleep 1
done
cmp -s "$SRC/o.txt" "$TMP/o.got" ||
	fail "with a reader open, a new open of o.txt after a change on the host read \"$(cat "$TMP/o.got")\" ($(cat "$TMP/o.err")), not the source's \"$(cat "$SRC/o.txt")\""
exec 7<&-
rm "$RW/o.txt"
ok "a change on the host, with a reader of the view's writes open: a new open reads the source as it is"

step "no setuid or setgid file reaches the source: weir-node writes it as root on the host"
# a pod's root (or any uid) with an rw grant would otherwise leave a set-user-ID program, owned
# by root or by a uid of its choosing, in the host's directory (the pod's own mount is nosuid,
# the host's directory is not)
mkdir -m 1777 "$SRC/shared"
chmod 711 "$TMP" "$SRC" # uid 4242 reaches $RW/shared
cp /bin/true "$RW/suid-root"
if chmod 4755 "$RW/suid-root" 2>/dev/null; then :; fi
if chmod 2755 "$RW/suid-root" 2>/dev/null; then :; fi
setpriv --reuid 4242 --regid 4242 --clear-groups sh -c "cp /bin/true '$RW/shared/suid-user'; chmod 6755 '$RW/shared/suid-user' 2>/dev/null" || true
python3 - "$RW/shared/created" <<'PY'
import os, sys
os.close(os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o6755))
PY
for f in "$SRC/shared/suid-user" "$SRC/shared/created" "$SRC/suid-root"; do
	[ -e "$f" ] || fail "$f was not created through the view"
	m="$(stat -c '%a %U' "$f")"
	case "$m" in [4-7]???\ * | [2-3]???\ *) fail "$f is on the source with mode $m: set-user/group-ID through the view" ;; esac
done
chmod 755 "$RW/suid-root" || fail "a plain chmod through the read-write view failed"
rm -rf "$RW/suid-root" "$RW/shared"
ok "set-user/group-ID bits never reach the source (chmod refused, create strips them); plain chmod works"

step "chmod and touch of a directory reach the source; only its owner may chmod it"
mkdir -p "$RW/modes/sub"
[ -d "$SRC/modes/sub" ] || fail "mkdir through the view did not reach the source"
chmod 0777 "$RW/modes" || fail "chmod 0777 of a directory through the view failed"
[ "$(stat -c %a "$SRC/modes")" = 777 ] ||
	fail "chmod 0777 through the view answered success and left the source's directory at $(stat -c %a "$SRC/modes")"
[ "$(stat -c %a "$RW/modes")" = 777 ] || fail "the view shows $(stat -c %a "$RW/modes") after chmod 0777"
touch -m -d '2001-02-03 04:05:06 UTC' "$RW/modes/sub" || fail "touch of a directory through the view failed"
[ "$(stat -c %Y "$SRC/modes/sub")" = 981173106 ] ||
	fail "touch -d through the view answered success and left the source's mtime at $(stat -c %Y "$SRC/modes/sub")"
chmod 0700 "$RW/modes/sub"
if setpriv --reuid 4242 --regid 4242 --clear-groups chmod 0777 "$RW/modes/sub" 2>/dev/null; then
	fail "user 4242 chmod-ed root's directory through the view"
fi
[ "$(stat -c %a "$SRC/modes/sub")" = 700 ] || fail "user 4242's refused chmod changed the source to $(stat -c %a "$SRC/modes/sub")"
# set-ID bits: a directory's setgid grants nothing, and a bit the host set may stay
mkdir "$RW/modes/sgid" && chmod 2755 "$SRC/modes/sgid" # (made through the view: it knows the name)
chmod 2775 "$RW/modes/sgid" || fail "chmod 2775 of a setgid directory through the view was refused"
[ "$(stat -c %a "$SRC/modes/sgid")" = 2775 ] || fail "chmod 2775 left the source's setgid directory at $(stat -c %a "$SRC/modes/sgid")"
cp /bin/true "$RW/modes/hostsuid" && chmod 4755 "$SRC/modes/hostsuid"
chmod 4775 "$RW/modes/hostsuid" || fail "chmod g+w of the host's setuid file through the view was refused"
[ "$(stat -c %a "$SRC/modes/hostsuid")" = 4775 ] || fail "the host's setuid file is $(stat -c %a "$SRC/modes/hostsuid") after chmod 4775"
if chmod 6775 "$RW/modes/hostsuid" 2>/dev/null; then fail "chmod added setgid to a file through the view"; fi
rm -rf "$RW/modes"
ok "a directory's mode and mtime set through the view are the source's; another user's chmod is refused; setgid directories and the host's set-ID bits survive a chmod, none is added to a file"

step "an HTTP source cannot be written: mounted read-only, and weir says so"
mkdir -p "$TMP/www" "$TMP/http" && echo x >"$TMP/www/f.txt"
nginx_start "$TMP/nginx" "$TMP/www"
out="$(w mount "$NGINX_URL" "$TMP/http" --tier "$TIERS" --read-write </dev/null 2>&1)" ||
	fail "weir mount --read-write of an HTTP source failed: $out"
WEIR_MOUNTS+=("$TMP/http")
case "$out" in *"cannot be written"*) ok "weir mount: $out" ;; *) fail "no note that $NGINX_URL is read-only: \"$out\"" ;; esac
if touch "$TMP/http/y" 2>/dev/null; then fail "the HTTP view accepted a write"; fi
ok "writes to the HTTP view fail with EROFS"
echo
echo "PASS: read-write views"
