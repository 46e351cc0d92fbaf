#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Writers of a read-write view see the source's real, current size: an append through a file
# held open past the metadata TTL lands at the end, never at offset 0. The whole class: O_RDWR +
# lseek(SEEK_END), O_APPEND, ftruncate vs truncate by path, two writers through two views, a
# rename over an open file, a file grown at the source while open; and a write read back by
# another process's open while its writer is still open; directories renamed over each other's
# names; a writer whose file was renamed over, across a kill -9 of weir-node (its writes must not
# land in the file that took the name). Each case compares bytes.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"

require_root_fuse
find_weir_bins
command -v python3 >/dev/null || fail "python3 is missing: install it (scripts/install-deps.sh)"
TMP="$(mktemp -d /tmp/weir-e2e-rwclass.XXXXXX)"
at_exit 'rm -rf "$TMP"'
weir_setup "$TMP"
TIERS="mem:$WEIR_TIER_DIR/mem:64MiB"
SRC="$TMP/src" EXP="$TMP/expected"
mkdir -p "$SRC" "$EXP"
A="$TMP/a" B="$TMP/b"

# fresh NAME: a 5000-byte file NAME on the source and its copy as the expected result.
fresh() {
	rand_file "$SRC/$1" 5000 "$1"
	cp "$SRC/$1" "$EXP/$1"
}
# same NAME [VIEW]: the source, and the file read back through VIEW (default A), hold EXP/NAME.
same() {
	cmp "$EXP/$1" "$SRC/$1" || fail "$1 on the source differs from what the writes should give"
	cmp "$EXP/$1" "${2:-$A}/$1" || fail "$1 read through ${2:-$A} differs from the source"
}
# py SCRIPT ARGS...: runs a python snippet that does the syscalls and asserts what they return.
py() {
	local s="$1"
	shift
	python3 -c "import os, sys, time
def check(what, got, want):
    if got != want:
        sys.exit('%s: got %r, want %r' % (what, got, want))
$s" "$@" || fail "the syscalls above did not see the source's real size"
}

# Every file exists before the views do: one created at the source later would stay unseen
# for up to the TTL, by design.
for f in rdwr append trunc two victim grown live kept victim2; do fresh $f.bin; done
rand_file "$SRC/new.bin" 7000 new.bin
rand_file "$SRC/taker.bin" 7000 taker.bin

step "two read-write views of one local:// source, metadata TTL 1 s; a third, TTL 300 s"
weir_mount "local://$SRC" "$A" --tier "$TIERS" --read-write --metadata-ttl 1
weir_mount "local://$SRC" "$B" --tier "$TIERS" --read-write --metadata-ttl 1
C="$TMP/c"
weir_mount "local://$SRC" "$C" --tier "$TIERS" --read-write --metadata-ttl 300

step "O_RDWR, held past the TTL: lseek(SEEK_END) and fstat give 5000, the append lands at 5000"
printf 'APPENDED' >>"$EXP/rdwr.bin"
py '
fd = os.open(sys.argv[1], os.O_RDWR)
time.sleep(1.5)
check("lseek(SEEK_END)", os.lseek(fd, 0, os.SEEK_END), 5000)
check("fstat size", os.fstat(fd).st_size, 5000)
os.write(fd, b"APPENDED")
check("fstat after the write", os.fstat(fd).st_size, 5008)
os.close(fd)' "$A/rdwr.bin"
same rdwr.bin
ok "append at 5000; the first bytes are intact"

step "O_APPEND, held past the TTL: both writes go to the end"
printf 'one-two-' >>"$EXP/append.bin"
py '
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
time.sleep(1.5)
os.write(fd, b"one-")
time.sleep(1.5)
os.write(fd, b"two-")
check("fstat", os.fstat(fd).st_size, 5008)
os.close(fd)' "$A/append.bin"
same append.bin
ok "O_APPEND appends"

step "ftruncate through the descriptor, then truncate by path while it is open"
head -c 1000 "$SRC/trunc.bin" >"$EXP/trunc.bin"
printf 'X' >>"$EXP/trunc.bin"
head -c 3000 "$EXP/trunc.bin" >"$EXP/t" && mv "$EXP/t" "$EXP/trunc.bin"
printf 'Y' >>"$EXP/trunc.bin"
py '
fd = os.open(sys.argv[1], os.O_RDWR)
time.sleep(1.5)
os.ftruncate(fd, 1000)
check("fstat after ftruncate", os.fstat(fd).st_size, 1000)
check("lseek(SEEK_END) after ftruncate", os.lseek(fd, 0, os.SEEK_END), 1000)
os.write(fd, b"X")
os.truncate(sys.argv[1], 3000)
check("stat by path after truncate", os.stat(sys.argv[1]).st_size, 3000)
check("fstat after truncate by path", os.fstat(fd).st_size, 3000)
check("lseek(SEEK_END) after truncate by path", os.lseek(fd, 0, os.SEEK_END), 3000)
os.write(fd, b"Y")
os.close(fd)' "$A/trunc.bin"
# the bytes between 1001 and 3000 are the zeros truncate grew the file with
head -c 1001 "$EXP/trunc.bin" >"$EXP/t" && head -c 1999 /dev/zero >>"$EXP/t" && printf 'Y' >>"$EXP/t"
mv "$EXP/t" "$EXP/trunc.bin"
same trunc.bin
ok "each writer sees the size the other truncation left"

step "two writers through two views of one file take turns appending at SEEK_END"
printf 'A1B1A2B2' >>"$EXP/two.bin"
py '
fa = os.open(sys.argv[1], os.O_RDWR)
fb = os.open(sys.argv[2], os.O_RDWR)
time.sleep(1.5)
for fd, tag, size in ((fa, b"A1", 5000), (fb, b"B1", 5002), (fa, b"A2", 5004), (fb, b"B2", 5006)):
    check("lseek(SEEK_END) before %s" % tag.decode(), os.lseek(fd, 0, os.SEEK_END), size)
    os.write(fd, tag)
os.close(fa)
os.close(fb)' "$A/two.bin" "$B/two.bin"
same two.bin
same two.bin "$B"
ok "no writer overwrote the other"

step "a rename over a file open for writing: the writer keeps the old file, the name the new"
cp "$SRC/new.bin" "$EXP/victim.bin"
py '
fd = os.open(sys.argv[1], os.O_RDWR)
time.sleep(1.5)
os.rename(sys.argv[2], sys.argv[1])
check("fstat of the renamed-over file", os.fstat(fd).st_size, 5000)
check("lseek(SEEK_END) of the renamed-over file", os.lseek(fd, 0, os.SEEK_END), 5000)
os.write(fd, b"LOST")
check("stat of the new file by name", os.stat(sys.argv[1]).st_size, 7000)
os.close(fd)' "$A/victim.bin" "$A/new.bin"
same victim.bin
[ ! -e "$SRC/new.bin" ] || fail "new.bin is still on the source after the rename"
ok "the new file is whole; the old one took the write"

step "a file grown at the source by someone else while open: SEEK_END sees it at once"
head -c 3000 /dev/zero | tr '\0' 'g' >>"$EXP/grown.bin"
printf 'END' >>"$EXP/grown.bin"
py '
fd = os.open(sys.argv[1], os.O_RDWR)
check("fstat at open", os.fstat(fd).st_size, 5000)
with open(sys.argv[2], "ab") as f:
    f.write(b"g" * 3000)
check("fstat after the source grew", os.fstat(fd).st_size, 8000)
check("lseek(SEEK_END) after the source grew", os.lseek(fd, 0, os.SEEK_END), 8000)
os.write(fd, b"END")
os.close(fd)' "$A/grown.bin" "$SRC/grown.bin"
same grown.bin
same grown.bin "$B"
ok "the write landed after the other writer's bytes"

step "a write read back by another process while its writer is still open (TTL 300 s)"
# The new open of the reader after the write (fsync'd) must read the written bytes: not the
# version it had validated and cached within the TTL, in the page cache or in the tier.
head -c 2000 "$SRC/live.bin" >"$EXP/live.bin"
head -c 3000 /dev/zero | tr '\0' 'w' >>"$EXP/live.bin"
printf 'TAIL' >>"$EXP/live.bin"
head -c 5000 "$EXP/live.bin" >"$TMP/live.mid"
py '
import subprocess
def read_by_another(path):
    return subprocess.run(["cat", path], check=True, capture_output=True).stdout
old, mid, new = (open(p, "rb").read() for p in sys.argv[2:5])
check("the file before the write", read_by_another(sys.argv[1]) == old, True)
fd = os.open(sys.argv[1], os.O_WRONLY)
os.pwrite(fd, b"w" * 3000, 2000)
os.fsync(fd)
check("another open after a write in place (writer open)", read_by_another(sys.argv[1]) == mid, True)
os.pwrite(fd, b"TAIL", 5000)
check("another open after a write that grew it (writer open)", read_by_another(sys.argv[1]) == new, True)
os.rename(sys.argv[1], sys.argv[5])
check("another open by the new name", read_by_another(sys.argv[5]) == new, True)
os.pwrite(fd, b"W", 0)
check("another open by the new name after a write (writer open)", read_by_another(sys.argv[5]) == b"W" + new[1:], True)
os.pwrite(fd, new[:1], 0)
check("another open by the new name after a write back (writer open)", read_by_another(sys.argv[5]) == new, True)
os.close(fd)' "$C/live.bin" "$SRC/live.bin" "$TMP/live.mid" "$EXP/live.bin" "$C/live2.bin"
mv "$EXP/live.bin" "$EXP/live2.bin"
same live2.bin "$C"
ok "each open after a write read the written bytes, before and after a rename"

step "directories swapped by renames through a view (TTL 300 s): each name reads the file now there"
# d1/f and d3/f are read (validated, cached), then d1 -> d2 and d3 -> d1: d1/f is d3's file now,
# whatever was validated under that name before
mkdir "$C/d1" "$C/d3" "$C/d1/sub"
rand_file "$EXP/one" 9000 one
rand_file "$EXP/three" 7000 three
cp "$EXP/one" "$C/d1/f"
cp "$EXP/three" "$C/d3/f"
cp "$EXP/one" "$C/d1/sub/g"
for f in d1/f d3/f d1/sub/g; do cat "$C/$f" >/dev/null; done
mv "$C/d1" "$C/d2"
mv "$C/d3" "$C/d1"
mkdir "$C/d1/sub"
cp "$EXP/three" "$SRC/d1/sub/g" # at the source: the view knows only its directory is new
cmp "$EXP/three" "$C/d1/f" || fail "d1/f after the renames is not the file renamed there (d3's)"
cmp "$EXP/one" "$C/d2/f" || fail "d2/f after the renames is not d1's old file"
cmp "$EXP/one" "$C/d2/sub/g" || fail "d2/sub/g after the renames is not d1's old sub/g"
cmp "$EXP/three" "$C/d1/sub/g" || fail "d1/sub/g in the new d1 shows the old d1's sub/g"
ok "d1/f, d1/sub/g, d2/f and d2/sub/g each read the file now at that name"

step "kill -9 of weir-node under two writers: one keeps its file, one's file was renamed over"
# After the takeover each writer's handle is reopened by name: kept.bin's writer takes its next
# write; victim2's file is gone from its name (taker.bin was renamed over it), so its write must
# fail rather than land in taker.bin.
cp "$SRC/taker.bin" "$EXP/victim2.bin"
printf 'AFTER' | dd of="$EXP/kept.bin" bs=1 seek=100 conv=notrunc 2>/dev/null
rm -f "$TMP/ready" "$TMP/go"
python3 -c '
import os, sys, time
kept, victim, taker, ready, go = sys.argv[1:6]
fk = os.open(kept, os.O_RDWR)
fv = os.open(victim, os.O_RDWR)
os.rename(taker, victim)
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.02)
os.pwrite(fk, b"AFTER", 100)
try:
    os.pwrite(fv, b"LOST", 0)
    print("victim write: went through")
except OSError as e:
    print("victim write: %s" % e.strerror)
# an fsync of a writer that lost its file must not report its data safe
try:
    os.fsync(fv)
    print("victim fsync: ok")
except OSError as e:
    print("victim fsync: %s" % e.strerror)
os.fsync(fk)
os.close(fk)
os.close(fv)' "$A/kept.bin" "$A/victim2.bin" "$A/taker.bin" "$TMP/ready" "$TMP/go" >"$TMP/writers.out" 2>&1 &
writers=$!
until_ok 30 "the writers opening their files" test -e "$TMP/ready"
old="$(weir_node_pid)"
kill -9 "$old"
weir_wait_new_node "$old" >/dev/null
touch "$TMP/go"
wait "$writers" || fail "the writers failed: $(cat "$TMP/writers.out")"
note "$(cat "$TMP/writers.out")"
cmp "$EXP/victim2.bin" "$SRC/victim2.bin" || fail "the file renamed over victim2.bin took the old writer's write after the restart"
cmp "$EXP/kept.bin" "$SRC/kept.bin" || fail "kept.bin's writer lost its write after the restart"
grep -q '^victim fsync: ok' "$TMP/writers.out" && fail "fsync of the writer whose file was renamed over answered 0 after its writes failed"
grep -q '^victim fsync: ' "$TMP/writers.out" || fail "the writers did not report the victim's fsync: $(cat "$TMP/writers.out")"
ok "kept.bin took its writer's write and fsync; the file now at victim2.bin is intact and its writer's fsync fails"

echo
echo "PASS: read-write views see the source's real size"
