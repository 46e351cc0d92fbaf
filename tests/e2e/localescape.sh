#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end: a local:// view never shows a byte from outside its source directory, whatever
# symlinks the source holds: relative ones that climb with "..", absolute ones (to a file, to a
# directory, to /etc), chains that end outside, and links swapped in at run time for a file or a
# directory the view already listed and read, including while readers race the swap, /proc magic
# links, and the source's root itself replaced by a link after the mount. Root and nobody (through
# setpriv) read. Links that stay inside keep working, and so does a name with a newline in it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"

require_root_fuse
find_weir_bins
command -v setpriv >/dev/null || fail "setpriv is missing: install util-linux (scripts/install-deps.sh)"
id nobody >/dev/null 2>&1 || fail "user nobody must exist to run the non-root checks"
TMP="$(mktemp -d /tmp/weir-e2e-localescape.XXXXXX)"
at_exit 'rm -rf "$TMP"'
chmod 0755 "$TMP" # nobody reaches the view; only the view may say no
weir_setup "$TMP"
printf 'metrics-listen =\n' >"$WEIR_STATE/node.conf"
TIERS="mem:$WEIR_TIER_DIR/mem:64MiB"
SRC="$TMP/src" OUT="$TMP/outside" MP="$TMP/mnt"
MARK="WEIR-SECRET-$RANDOM$RANDOM"
mkdir -p "$SRC/sub" "$SRC/swapd" "$OUT"
{
	echo "$MARK"
	head -c 100000 /dev/urandom | base64
	echo "$MARK"
} >"$OUT/secret"
rand_file "$SRC/file" 300000 localescape-file
rand_file "$SRC/swapf" 200000 localescape-swapf
rand_file "$SRC/swapd/x" 50000 localescape-swapd
ln -s file "$SRC/in"
ln -s ../file "$SRC/sub/in-up"
ln -s ../outside/secret "$SRC/up"
ln -s ../../outside/secret "$SRC/sub/deep"
ln -s "$OUT/secret" "$SRC/abs"
ln -s "$OUT" "$SRC/absdir"
ln -s .. "$SRC/dotdot"
ln -s /etc "$SRC/etc"
ln -s /etc/passwd "$SRC/passwd"
ln -s chain2 "$SRC/chain1"
ln -s up "$SRC/chain2"
ln -s "$SRC/file" "$SRC/abs-in" # absolute, but inside: still refused or the same bytes
ln -s /proc/self/root "$SRC/procroot" # magic links: weir-node's own root, its cwd, its fds
ln -s /proc/self/cwd "$SRC/proccwd"
ln -s /proc/self/fd "$SRC/procfd"
NL="$SRC/new"$'\n'"line"
rand_file "$NL" 70000 localescape-newline
N=200 # names the racing swapper turns into links, listed by the view from the start
for i in $(seq 1 "$N"); do head -c 65536 /dev/zero | tr '\0' 'i' >"$SRC/r$i"; done

# leaks FILE: FILE (a read through the view) holds a byte sequence from outside.
leaks() { grep -q "$MARK" "$1" 2>/dev/null || { [ -s "$1" ] && cmp -s "$1" /etc/passwd; }; }
# no_escape PATH [USER]: reading PATH through the view (as USER, root by default) fails or gives
# no outside bytes.
no_escape() {
	local rc=0 u="${2:-root}"
	timeout 20 setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups cat "$1" \
		>"$TMP/read.out" 2>"$TMP/read.err" || rc=$?
	[ "$rc" -ne 124 ] || fail "reading $1 as $u hung for 20 s"
	if leaks "$TMP/read.out"; then fail "$u read bytes from outside the source through $1 ($(wc -c <"$TMP/read.out") bytes read)"; fi
	note "$u: $1: $([ "$rc" -eq 0 ] && echo "read $(wc -c <"$TMP/read.out") inside bytes" || echo "refused: $(head -c 120 "$TMP/read.err")")"
}

step "mount local://$SRC"
# WEIR_NO_OPENAT2_LIB (localescape-noopenat2): weir-node runs as on a kernel without openat2
# (that library, preloaded, answers ENOSYS for it), and then follows no link at all.
[ -z "${WEIR_NO_OPENAT2_LIB:-}" ] || [ -f "$WEIR_NO_OPENAT2_LIB" ] ||
	fail "WEIR_NO_OPENAT2_LIB names no file: $WEIR_NO_OPENAT2_LIB"
LD_PRELOAD="${WEIR_NO_OPENAT2_LIB:-}" weir_mount "local://$SRC" "$MP" --tier "$TIERS" --no-prefetch
cmp "$SRC/file" "$MP/file" || fail "the view reads other bytes for file"
if [ -n "${WEIR_NO_OPENAT2_LIB:-}" ]; then
	for p in in sub/in-up; do
		if cat "$MP/$p" >/dev/null 2>&1; then fail "without openat2, the link $p was followed"; fi
	done
	note "without openat2 (preloaded $WEIR_NO_OPENAT2_LIB): links inside the source are refused too"
else
	cmp "$SRC/file" "$MP/in" || fail "a link inside the source (in -> file) does not read as file"
	cmp "$SRC/file" "$MP/sub/in-up" || fail "a link inside the source (sub/in-up -> ../file) does not read as file"
	setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups cat "$MP/sub/in-up" >"$TMP/nobody.out" ||
		fail "nobody cannot read sub/in-up through the view"
	cmp "$SRC/file" "$TMP/nobody.out" || fail "nobody reads other bytes for sub/in-up"
fi
cmp "$NL" "$MP/new"$'\n'"line" || fail "a name with a newline in it does not read as its file"
[ "$(find "$MP" -maxdepth 1 -name 'new*line' -printf x | wc -c)" = 1 ] || fail "the listing does not show the name with a newline once"
ok "files and links that stay inside read byte-exact, as root and as nobody; a newline in a name is a name"

step "links that leave the source: relative, absolute, to directories, chained"
for p in up sub/deep abs absdir/secret dotdot/outside/secret dotdot/src/file etc/passwd passwd \
	chain1 chain2 abs-in procroot/etc/passwd "procroot$OUT/secret" proccwd/secret procfd/0; do
	no_escape "$MP/$p"
	no_escape "$MP/$p" nobody
done
listing="$(ls -la "$MP" "$MP/sub" 2>&1 || true)"
grep -q "$OUT" <<<"$listing" && note "the listing shows link targets: $listing"
for d in absdir dotdot etc; do
	out="$(timeout 20 ls "$MP/$d" 2>&1 || true)"
	grep -qE "secret|passwd|src" <<<"$out" && fail "listing $MP/$d shows what lies outside: $out"
done
ok "no link led out; no listing showed outside names"

step "a file the view has read is swapped for a link to outside"
cmp "$SRC/swapf" "$MP/swapf" || fail "swapf reads other bytes"
cmp "$SRC/swapd/x" "$MP/swapd/x" || fail "swapd/x reads other bytes"
exec {held}<"$MP/swapf" # a reader that opened it before the swap
ln -s "$OUT/secret" "$SRC/.swap.tmp"
mv -T "$SRC/.swap.tmp" "$SRC/swapf"
mv "$SRC/swapd" "$SRC/swapd.old"
ln -s "$OUT" "$SRC/swapd"
cat <&"$held" >"$TMP/held.out" 2>/dev/null || true
exec {held}<&-
leaks "$TMP/held.out" && fail "a descriptor opened before the swap read outside bytes"
no_escape "$MP/swapf"
no_escape "$MP/swapd/secret"
no_escape "$MP/swapd/x"
ok "after the swaps: old bytes, or a refusal; never outside bytes"

step "readers race a swapper for 200 names"
( # the swapper: each name the view listed as a file becomes, at some instant, a link to outside;
	# paced (10 ms a name), so the readers' three rounds overlap the swaps even when a loaded
	# machine starts the readers late (unpaced, the swaps could all land before the first read)
	for i in $(seq 1 "$N"); do
		ln -s "$OUT/secret" "$SRC/.r$i.tmp"
		mv -T "$SRC/.r$i.tmp" "$SRC/r$i"
		sleep 0.01
	done
) &
swapper=$!
pid_track "$swapper"
at_exit "pid_stop $swapper"
leaked=0 served=0
for round in 1 2 3; do
	for i in $(seq 1 "$N"); do
		if timeout 20 cat "$MP/r$i" >"$TMP/race.out" 2>/dev/null; then served=$((served + 1)); fi
		leaks "$TMP/race.out" && leaked=$((leaked + 1))
	done
done
wait "$swapper"
[ "$leaked" -eq 0 ] || fail "$leaked of $((3 * N)) racing reads returned outside bytes"
[ "$served" -gt 0 ] || fail "no racing read was served at all: the race tested nothing"
ok "$((3 * N)) racing reads: $served served inside bytes, the rest refused, 0 leaked"

step "the source's root is replaced by a link to outside after the mount"
mv "$SRC" "$TMP/src.moved"
ln -s "$OUT" "$SRC"
cmp "$TMP/src.moved/file" "$MP/file" || fail "file reads other bytes after the root moved"
for u in root nobody; do
	no_escape "$MP/secret" "$u"
	out="$(timeout 20 ls "$MP" 2>&1 || true)"
	grep -q "^secret$" <<<"$out" && fail "the view lists what the link that replaced its root names: $out"
done
ok "the view keeps serving the directory it mounted, never what the new link names"

echo
echo "PASS: no symlink leads a local:// view out of its source"
