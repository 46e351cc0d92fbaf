#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A write applied to the source whose reply weir-node had not sent when it died is resent to the
# next weir-node (FUSE_NOTIFY_RESEND); applying it again must give the bytes of one write. The
# kill lands right there every time: die_after_write.so (LD_PRELOAD into weir-node) kills the
# process with SIGKILL just after the armed pwrite/ftruncate has returned. An append through a
# descriptor opened O_APPEND used to land twice (the source file was opened O_APPEND and the
# resent WRITE appended again). Likewise mkdir, unlink, rmdir, an O_EXCL create and a rename, which
# failed (EEXIST, ENOENT) although they had been done.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"

weir_test_setup writeresend
lib="${WEIR_DIE_AFTER_WRITE:-${WEIR_BUILD_DIR:-$WEIR_SRC/build}/tests/crash/die_after_write.so}"
[ -f "$lib" ] || fail "no $lib: build tests/crash/die_after_write.so (ninja -C build)"
SRC="$TMP/src" RW="$TMP/rw" DIE="$TMP/die"
mkdir -p "$SRC" "$DIE"
printf 'line0\n' >"$SRC/log.txt"
rand_file "$SRC/data.bin" 100000 wr-data
rand_file "$SRC/trunc.bin" 300000 wr-trunc
mkdir -m 0777 "$SRC/pub" # where nobody creates
chmod 0755 "$TMP"
chmod 0777 "$DIE" # the shim takes the arm with the rights of the reader weir-node acts for
WEIR_TEST_DIE_DIR="$DIE" LD_PRELOAD="$lib" \
	weir_mount "local://$SRC" "$RW" --tier "mem:$WEIR_TIER_DIR/mem:64MiB" --read-write >/dev/null

# die_at CALL FILE CMD...: arms the kill for CALL on FILE, runs CMD (which blocks through the
# takeover), then checks the kill happened there and a new weir-node took over.
die_at() {
	local call="$1" file="$2" old new
	shift 2
	old="$(weir_node_pid)"
	rm -f "$DIE/fired"
	echo "$call $file" >"$DIE/arm"
	timeout 60 "$@" || fail "\"$*\" failed across the takeover"
	[ -e "$DIE/fired" ] || fail "weir-node never made the armed $call on $file: the test proves nothing"
	new="$(weir_wait_new_node "$old")"
	note "killed after $(tail -n1 "$DIE/fired" | cut -d' ' -f1,3,4); weir-node $new took over"
}

step "an O_APPEND write applied, weir-node killed before the reply"
die_at pwrite log.txt sh -c "printf 'line1\n' >>'$RW/log.txt'"
printf 'line0\nline1\n' >"$TMP/want.log"
cmp "$TMP/want.log" "$SRC/log.txt" || fail "log.txt after one append and a resend: $(od -c "$SRC/log.txt" | head -5)"
printf 'line2\n' >>"$RW/log.txt"
printf 'line2\n' >>"$TMP/want.log"
cmp "$TMP/want.log" "$RW/log.txt" || fail "the next append through the view: $(od -c "$SRC/log.txt" | head -5)"
ok "one append's bytes, once; the next append lands after them"

step "the same with a descriptor that stays open: two appends, the kill after the second"
python3 - "$RW/log.txt" "$DIE" <<'PY' || fail "the appending process failed"
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
os.write(fd, b"line3\n")
open(sys.argv[2] + "/arm", "w").write("pwrite log.txt\n")
os.write(fd, b"line4\n")  # the kill, the takeover, the resend
os.write(fd, b"line5\n")
os.close(fd)
PY
[ -e "$DIE/fired" ] || fail "weir-node never made the armed write: the test proves nothing"
weir_wait_new_node "$(sed -n 's/.* pid //p' "$DIE/fired")" >/dev/null
rm -f "$DIE/fired"
printf 'line3\nline4\nline5\n' >>"$TMP/want.log"
cmp "$TMP/want.log" "$SRC/log.txt" || fail "log.txt: $(od -c "$SRC/log.txt" | tail -5)"
ok "line3, line4, line5 once each"

step "a write past the end (the size grows), killed before the reply"
cp "$SRC/data.bin" "$TMP/want.data"
printf 'TAIL' | dd of="$TMP/want.data" bs=1 seek=150000 conv=notrunc status=none
die_at pwrite data.bin dd of="$RW/data.bin" bs=1 seek=150000 conv=notrunc status=none if=<(printf 'TAIL')
cmp "$TMP/want.data" "$SRC/data.bin" || fail "data.bin after a write past its end and a resend differs"
ok "a positional write applied twice is the same write"

step "a truncate, killed before the reply, then a write"
head -c 1000 "$SRC/trunc.bin" >"$TMP/want.trunc"
die_at ftruncate trunc.bin truncate -s 1000 "$RW/trunc.bin"
cmp "$TMP/want.trunc" "$SRC/trunc.bin" || fail "trunc.bin after a truncate and a resend differs"
printf 'more' >>"$RW/trunc.bin"
printf 'more' >>"$TMP/want.trunc"
cmp "$TMP/want.trunc" "$SRC/trunc.bin" || fail "trunc.bin after the append that followed differs"
ok "truncated once"

no_temp() {
	if ls -a "$SRC" "$SRC"/* 2>/dev/null | grep -q '^\.weir-tmp-'; then
		fail "a temporary name was left in the source: $(ls -aR "$SRC" | grep weir-tmp)"
	fi
	if ls -a "$RW" | grep -q weir-tmp; then fail "the view lists a temporary name"; fi
}
# python3 $excl PATH BYTES [MODE]: an exclusive create (O_CREAT|O_EXCL) that writes BYTES.
excl="$TMP/excl.py"
cat >"$excl" <<'PY'
import os, sys
mode = int(sys.argv[3], 8) if len(sys.argv) > 3 else 0o644
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
os.write(fd, sys.argv[2].encode())
os.close(fd)
PY

step "a mkdir applied, weir-node killed before the reply: once after the directory was made, once after it was put in place"
die_at renamefrom '.weir-tmp-*' mkdir "$RW/d1"
die_at renameat2 d2 mkdir "$RW/d2"
[ -d "$SRC/d1" ] && [ -d "$SRC/d2" ] || fail "d1 or d2 is not a directory in the source"
no_temp
ok "mkdir succeeded both times: one directory each, no temporary name left or listed"

step "mkdir stays exclusive: another creator's directory, made before the resend, gives EEXIST"
echo "$SRC/d3" >"$DIE/compete"
die_at renamefrom '.weir-tmp-*' sh -c "! mkdir '$RW/d3' 2>'$TMP/err'"
rm -f "$DIE/compete"
grep -q 'File exists' "$TMP/err" || fail "mkdir of d3: $(cat "$TMP/err")"
mkdir "$SRC/d4"
if mkdir "$RW/d4" 2>"$TMP/err"; then fail "mkdir of a directory the host made succeeded"; fi
grep -q 'File exists' "$TMP/err" || fail "mkdir of d4: $(cat "$TMP/err")"
no_temp
ok "EEXIST for another creator's directory, with and without a kill"

step "an unlink and an rmdir applied, killed before the reply"
printf "gone\n" >"$RW/gone1"
die_at unlinkat gone1 rm "$RW/gone1"
die_at unlinkat d1 rmdir "$RW/d1"
[ ! -e "$SRC/gone1" ] && [ ! -e "$SRC/d1" ] || fail "gone1 or d1 is still in the source"
ok "rm and rmdir succeeded"

step "an exclusive create, killed after the file was made, and after it was put in place"
die_at renamefrom '.weir-tmp-*' python3 "$excl" "$RW/new1" "new1"
die_at fstat new2 python3 "$excl" "$RW/new2" "new2"
printf 'new1' | cmp - "$SRC/new1" || fail "new1 differs"
printf 'new2' | cmp - "$SRC/new2" || fail "new2 differs"
echo "$SRC/new3" >"$DIE/compete"
die_at renamefrom '.weir-tmp-*' sh -c "! python3 '$excl' '$RW/new3' x 2>'$TMP/err'"
rm -f "$DIE/compete"
grep -q 'FileExistsError' "$TMP/err" || fail "create of new3: $(cat "$TMP/err")"
no_temp
ok "O_EXCL creates succeeded once each; another creator's name still gives EEXIST"

step "the same by a user (not root), of a file made read-only (0444): taken up with weir's rights"
command -v setpriv >/dev/null || fail "setpriv is missing: install util-linux (scripts/install-deps.sh)"
nobody=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
py=/usr/bin/python3 # one nobody may run (not a python under /root)
[ -x "$py" ] || py=python3
die_at renamefrom '.weir-tmp-*' "${nobody[@]}" "$py" "$excl" "$RW/pub/ro1" "ro1" 444
die_at fstat ro2 "${nobody[@]}" "$py" "$excl" "$RW/pub/ro2" "ro2" 444
for f in ro1 ro2; do
	printf '%s' "$f" | cmp - "$SRC/pub/$f" || fail "$f differs"
	[ "$(stat -c %U:%a "$SRC/pub/$f")" = nobody:444 ] || fail "$f: $(stat -c %U:%a "$SRC/pub/$f")"
done
no_temp
ok "created once each, nobody's, mode 444, with the bytes written through the create's descriptor"

step "a host user replaces the temporary name in the outage: the resend does not take that object up"
# Files of root's, 0600, that nobody may not write, in a directory nobody may write: renamed to
# the temporary name in the outage. Taken up, the file was renamed into place and opened to
# write, as root, for nobody.
printf 'secret\n' >"$SRC/pub/secret1"
printf 'secret\n' >"$SRC/pub/secret2"
chmod 0600 "$SRC/pub/secret1" "$SRC/pub/secret2"
ino1="$(stat -c %i "$SRC/pub/secret1")" ino2="$(stat -c %i "$SRC/pub/secret2")"
# killed after the file was made and its identity recorded, before the rename
echo "$SRC/pub/secret1" >"$DIE/swap"
die_at renamefrom '.weir-tmp-*' "${nobody[@]}" "$py" "$excl" "$RW/pub/new4" "new4"
# killed before its identity was recorded: nothing to check an object against, none taken up
echo "$SRC/pub/secret2" >"$DIE/swap"
die_at fstatat '.weir-tmp-*' "${nobody[@]}" mkdir "$RW/pub/d6"
rm -f "$DIE/swap"
printf 'new4' | cmp - "$SRC/pub/new4" || fail "new4 is not the new file with its bytes: $(od -c "$SRC/pub/new4" | head -3)"
[ "$(stat -c %U "$SRC/pub/new4")" = nobody ] && [ "$(stat -c %i "$SRC/pub/new4")" != "$ino1" ] || fail "new4 is root's file: $(stat -c %U:%a:%i "$SRC/pub/new4")"
[ -d "$SRC/pub/d6" ] && [ "$(stat -c %U:%F "$SRC/pub/d6")" = nobody:directory ] || fail "d6: $(ls -ld "$SRC/pub/d6")"
if ls -a "$RW/pub" | grep -q weir-tmp; then fail "the view lists a temporary name"; fi
for ino in "$ino1" "$ino2"; do
	t="$(find "$SRC/pub" -maxdepth 1 -inum "$ino")"
	case "$t" in "$SRC/pub/.weir-tmp-"*) ;; *) fail "root's file (inode $ino) is at \"$t\", not left at the temporary name" ;; esac
	printf 'secret\n' | cmp - "$t" || fail "root's file was written through the view: $(od -c "$t" | head -3)"
	[ "$(stat -c %U:%a "$t")" = root:600 ] || fail "root's file: $(stat -c %U:%a "$t")"
	rm "$t"
done
no_temp
ok "root's files unchanged and not placed; new4 and d6 made afresh; the substitutes left where they were"

step "temporary objects a killed weir-node left (no identity recorded) do not block rmdir"
# killed after the temporary directory and file were made, before their identities were
# recorded: the resends make them afresh under the spare name and leave the first ones, which
# the view does not list; an rmdir of their directory found it not empty (ENOTEMPTY). So did
# one of a view whose weir-node and weir-keeper both died (another journal's), from before
# this weir-node started the view.
mkdir "$RW/d7" "$RW/d8"
: >"$SRC/d7/.weir-tmp-00000000000000ee-3"
# a host user's own file whose name only begins like weir's: never weir's to remove
printf 'alice' >"$SRC/d8/.weir-tmp-notes"
sleep 1.1 # the view is started again after them, to the second
die_at fstatat '.weir-tmp-*' mkdir "$RW/d7/sub"
die_at fstatat '.weir-tmp-*' python3 "$excl" "$RW/d7/f" "f7"
[ -d "$SRC/d7/sub" ] && printf 'f7' | cmp -s - "$SRC/d7/f" || fail "d7/sub or d7/f was not made"
n="$(ls -a "$SRC/d7" | grep '^\.weir-tmp-' | grep -vc '^\.weir-tmp-00000000000000ee-3$' || true)"
[ "$n" = 2 ] || fail "$n temporary names left in d7, not 2 (the kills were not where this step needs them): $(ls -a "$SRC/d7")"
# one in flight in another view of the source is not this view's to remove
mkdir "$SRC/d7/sub/.weir-tmp-00000000000000ff-1"
rm "$RW/d7/f"
rmdir "$RW/d7/sub" 2>"$TMP/err" && fail "rmdir of d7/sub removed another view's temporary directory"
grep -q "not empty" "$TMP/err" || fail "rmdir of d7/sub: $(cat "$TMP/err")"
rmdir "$SRC/d7/sub/.weir-tmp-00000000000000ff-1"
rmdir "$RW/d7/sub" "$RW/d7" 2>"$TMP/err" || fail "rmdir through the view: $(cat "$TMP/err"); the source's d7: $(ls -aR "$SRC/d7")"
[ ! -e "$SRC/d7" ] || fail "d7 is still in the source: $(ls -aR "$SRC/d7")"
rmdir "$RW/d8" 2>"$TMP/err" && fail "rmdir of d8 removed a host user's .weir-tmp-notes"
grep -q "not empty" "$TMP/err" || fail "rmdir of d8: $(cat "$TMP/err")"
printf 'alice' | cmp -s - "$SRC/d8/.weir-tmp-notes" || fail "a host user's .weir-tmp-notes was changed or removed"
rm -r "$SRC/d8"
no_temp
ok "rmdir removed this view's leftover temporary objects and a dead view's, not a live view's nor a host user's file named like one"

step "a rename applied, killed before the reply"
printf "moved\n" >"$RW/r1"
die_at renameat2 r2 python3 -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' "$RW/r1" "$RW/r2"
[ ! -e "$SRC/r1" ] || fail "r1 is still in the source"
printf 'moved\n' | cmp - "$RW/r2" || fail "r2 differs"
ok "the rename succeeded"

n="$(grep -c 'requests in flight were resent' "$WEIR_STATE/node.log" || true)"
[ "$n" -ge 4 ] || fail "node.log says \"requests in flight were resent\" $n times, not 4"
echo
echo "PASS: writes and namespace changes in flight at a kill -9 are applied once"
