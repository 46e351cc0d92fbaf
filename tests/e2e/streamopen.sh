#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Two opens of one file while the first waits for the whole file at its open (the next file of a
# directory stream, fetched whole, then passed through): the kernel keeps one I/O mode per inode,
# so if the second opened through READs (cached) the first's passthrough reply failed with EIO.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/nginx.sh"
. "$here/../helpers/weir.sh"

weir_test_setup e2e-streamopen
mkdir -p "$TMP/src/d"
# a.bin and b.bin over 1 MiB (VIEW_SMALL_FILE: smaller ones never pass through) and within the
# stream's window, so b.bin's open waits for its fill; a slow server makes that wait seconds.
# c.bin, which only moves the stream on, is small: its open never waits for a fill of its own
# (over 1 MiB it would, behind b.bin's, which its open asks for first, and B would open b.bin
# only after A's wait had ended)
rand_file "$TMP/src/d/a.bin" $(((1 << 20) + 5)) sa
rand_file "$TMP/src/d/b.bin" $(((3 << 20) + 7)) sb
rand_file "$TMP/src/d/c.bin" $((512 << 10)) sc
nginx_start "$TMP/nginx" "$TMP/src" --limit-rate 256k
at_exit nginx_stop
MP="$TMP/mnt"
weir_mount "$NGINX_URL" "$MP" --tier "mem:$WEIR_TIER_DIR/mem:256MiB" --open-mode open \
	--metadata-ttl 3600 >/dev/null
ls "$MP/d" >/dev/null

step "a.bin read: b.bin's open is then the next of a stream and waits for its whole version"
cmp "$TMP/src/d/a.bin" "$MP/d/a.bin" || fail "d/a.bin read cold differs from the source"

# reader A: opens b.bin (held for the fill), then reads it whole after B has opened it too.
# reader B: opens c.bin (the stream moves on: b.bin is no longer its next file), then b.bin
# while A's open still waits, and keeps it open until A is done.
python3 - "$MP/d" "$TMP/src/d/b.bin" "$TMP" <<'PY' >"$TMP/out" 2>&1 &
import os, sys, threading, time
d, src, tmp = sys.argv[1:4]
want = open(src, "rb").read()
res = {}
a_opened, a_done = threading.Event(), threading.Event()
def reader_a():
    t0 = time.monotonic()
    try:
        with open(os.path.join(d, "b.bin"), "rb") as f:
            res["a_open_ms"] = int((time.monotonic() - t0) * 1000)
            a_opened.set()
            got = f.read()
        res["a"] = "ok" if got == want else "wrong bytes (%d of %d)" % (len(got), len(want))
    except OSError as e:
        res["a"] = "error: %s" % e
    a_done.set()
ta = threading.Thread(target=reader_a)
ta.start()
time.sleep(0.5)
try:
    open(os.path.join(d, "c.bin"), "rb").close()
    t0 = time.monotonic()
    res["a_waiting"] = not a_opened.is_set() and not a_done.is_set()
    with open(os.path.join(d, "b.bin"), "rb") as f:
        res["b_open_ms"] = int((time.monotonic() - t0) * 1000)
        a_done.wait(60)
        got = f.read()
    res["b"] = "ok" if got == want else "wrong bytes (%d of %d)" % (len(got), len(want))
except OSError as e:
    res["b"] = "error: %s" % e
ta.join()
print(res)
PY
rpid=$!
pid_track "$rpid"
step "reader A opens b.bin (waits for its fill); reader B opens c.bin, then b.bin while A waits"
wait "$rpid" || fail "the readers' script failed: $(tail -c 400 "$TMP/out")"
res="$(tail -n 1 "$TMP/out")"
note "readers: $res"
python3 - "$res" <<'PY' || fail "the readers did not both get b.bin whole: $res"
import ast, sys
r = ast.literal_eval(sys.argv[1])
if "a_waiting" not in r:
    sys.exit("reader B never opened b.bin")
if r.get("a") != "ok" or r.get("b") != "ok":
    sys.exit(1)
PY
python3 - "$res" <<'PY' || fail "reader A's open of b.bin was answered before B began its own: the test did not race the fill ($res)"
import ast, sys
sys.exit(0 if ast.literal_eval(sys.argv[1]).get("a_waiting") else 1)
PY
ok "B opened b.bin while A's open waited for the fill; both read every byte"
w stat "$MP" -o json >"$TMP/stat.json"
pt="$(json_get "$TMP/stat.json" passthrough_opens)" || fail "weir stat has no passthrough_opens: $(head -c 300 "$TMP/stat.json")"
[ "$pt" -gt 0 ] || fail "no open of b.bin went through passthrough (passthrough_opens $pt): its open did not wait for the fill, the test proves nothing"
ok "passthrough opens: $pt"
echo
echo "PASS: opens racing a fill at open share its I/O mode"
