#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end (issue 7, item 11): when the state directory fills up (its index and metadata
# databases cannot grow), opens and reads go on, served uncached; the log says so once, not
# per request, and so does `weir stat`; once space is freed, caching resumes.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/nginx.sh"
. "$here/../helpers/weir.sh"

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-e2e-statefull.XXXXXX)"
at_exit 'rm -rf "$TMP"'
STATE="$TMP/state"
mkdir -p "$STATE"
mount -t tmpfs -o size=2m,mode=0700 weir-statefull "$STATE" ||
	fail "cannot mount a 2 MiB tmpfs at $STATE for the state directory (mount -t tmpfs needs root)"
# runs after weir's teardown (cleanups run in reverse): keep the log of a failure first
at_exit '[ "$WEIR_EXIT_RC" -eq 0 ] || cp "$STATE/node.log" "$TMP.node.log" 2>/dev/null; umount -l "$STATE"'
weir_setup "$TMP"
[ "$WEIR_STATE" = "$STATE" ] || fail "weir_setup chose $WEIR_STATE, expected $STATE"
printf 'metrics-listen =\n' >"$WEIR_STATE/node.conf"
MP="$TMP/mnt"

step "nginx serves five 5 MB files; weir mounts them (state dir: a 2 MiB tmpfs)"
mkdir -p "$TMP/tree/d"
for i in 1 2 3 4 5; do rand_file "$TMP/tree/d/f$i" 5000000 "statefull-$i"; done
nginx_start "$TMP/nginx" "$TMP/tree"
weir_mount "$NGINX_URL" "$MP" --tier "mem:$WEIR_TIER_DIR/mem:256MiB" --metadata-ttl 1
cmp "$TMP/tree/d/f1" "$MP/d/f1" || fail "d/f1 differs before the state directory is full"
ok "d/f1 read and cached"

step "fill the state directory, then read four files never opened before"
dd if=/dev/zero of="$WEIR_STATE/fill" bs=64k status=none 2>/dev/null || true
avail="$(df --output=avail -B1 "$WEIR_STATE" | tail -n 1 | tr -d ' ')"
[ "$avail" -lt 65536 ] || fail "the state directory still has $avail bytes free after filling it"
note "state directory: $avail bytes free"
for i in 2 3 4 5; do
	cmp "$TMP/tree/d/f$i" "$MP/d/f$i" || fail "d/f$i: reading it with the state directory full failed or differs (it must be served uncached)"
	cmp "$TMP/tree/d/f$i" "$MP/d/f$i" || fail "d/f$i: a second read with the state directory full failed or differs"
done
cmp "$TMP/tree/d/f1" "$MP/d/f1" || fail "d/f1 (cached before) cannot be read with the state directory full"
ok "every file reads byte-exact, twice"

step "weir stat and the log say so, the log once"
w stat "$MP" >"$TMP/stat.txt" || fail "weir stat $MP exited with $?"
sed 's/^/  /' "$TMP/stat.txt"
grep -q "state directory is full" "$TMP/stat.txt" || fail "weir stat does not say that the state directory is full"
w stat "$MP" -o json >"$TMP/stat.json" || fail "weir stat -o json exited with $?"
json_get "$TMP/stat.json" state_warning | grep -q "state directory is full" ||
	fail "weir stat -o json has no state_warning about the full state directory"
n="$(grep -c 'served uncached until space is freed' "$WEIR_STATE/node.log" || true)"
[ "$n" -eq 1 ] || fail "node.log says the state directory is full $n times; expected once (not per request)"
n="$(grep -c 'warning: metadata cache' "$WEIR_STATE/node.log" || true)"
[ "$n" -le 1 ] || fail "node.log has $n metadata cache warnings; expected at most one (not per request)"
ok "weir stat warns; node.log says it once"

step "weir up with the state directory full says why it cannot start"
rc=0
w up </dev/null >"$TMP/up.out" 2>&1 || rc=$?
sed 's/^/  weir: /' "$TMP/up.out"
if [ "$rc" -eq 0 ]; then
	w down </dev/null >/dev/null 2>&1 || true
	note "weir up started with the state directory full (it found room)"
else
	grep -q "state directory .* is full" "$TMP/up.out" || fail "weir up failed with the state directory full without saying so: $(cat "$TMP/up.out")"
	ok "weir up refused: $(grep -m1 'is full' "$TMP/up.out")"
fi

step "a new source mounts with the state directory full and reads byte-exact"
mkdir -p "$TMP/src2"
rand_file "$TMP/src2/g" 3000000 statefull-new
weir_mount "local://$TMP/src2" "$TMP/mnt2" --tier "mem:$WEIR_TIER_DIR/mem2:64MiB"
cmp "$TMP/src2/g" "$TMP/mnt2/g" || fail "g, of a source mounted with the state directory full, differs"
cmp "$TMP/src2/g" "$TMP/mnt2/g" || fail "a second read of g differs"
grep -q "state directory is full" "$TMP/mount.out" || fail "weir mount of a new source did not say the state directory is full"
w stat "$TMP/mnt2" >"$TMP/stat2.txt" || fail "weir stat $TMP/mnt2 exited with $?"
grep -q "state directory is full" "$TMP/stat2.txt" || fail "weir stat of the new source does not warn that the state directory is full"
ok "mounted (weir mount: $(grep -o 'index "[^"]*" cannot be created[^;]*' "$TMP/mount.out" | head -n 1)); g reads byte-exact"

step "space freed: the next new file is cached again and the warning goes"
rm -f "$WEIR_STATE/fill"
rand_file "$TMP/tree/d/f6" 5000000 statefull-6
sleep 1.5 # the listing's TTL
cmp "$TMP/tree/d/f6" "$MP/d/f6" || fail "d/f6 differs after space was freed"
w stat "$MP" >"$TMP/stat.txt" || fail "weir stat $MP exited with $?"
! grep -q "state directory is full" "$TMP/stat.txt" || fail "weir stat still warns after space was freed and a new file was read"
grep -q 'can be written again' "$WEIR_STATE/node.log" || fail "node.log does not say that caching resumed"
ok "caching resumed"

echo
echo "PASS: a full state directory serves uncached"
