#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A view eBPF refuses (bpf-max-views views watched already, as when its 4,096 slots are taken)
# is counted by weir-node instead: an open whose reads the kernel may serve from the page cache
# as a read of the whole file, else the READs it answers; `weir top` and /metrics say so per
# view. Reading the whole file counts its size, either way.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"

weir_test_setup e2e-bpfrefused
SRC="$TMP/src"
mkdir -p "$SRC"
SIZE=$((5 << 20))
rand_file "$SRC/f.bin" "$SIZE" refused
mport="$(free_port)"
printf 'bpf-max-views = 1\nmetrics-listen = 127.0.0.1:%s\n' "$mport" >"$WEIR_STATE/node.conf"
TIERS="mem:$WEIR_TIER_DIR/mem:64MiB"

# top_get MOUNTPOINT KEY: one figure of one view from `weir top --once -o json`
top_get() {
	w top --once -o json >"$TMP/top.json" || fail "weir top --once -o json failed"
	python3 - "$TMP/top.json" "$1" "$2" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
v = next((v for v in doc["views"] if v["mountpoint"] == sys.argv[2]), None)
if v is None:
    sys.exit("no view at " + sys.argv[2])
print(v[sys.argv[3]])
PY
}

step "two views, eBPF has room for one (bpf-max-views = 1)"
weir_mount "local://$SRC" "$TMP/a" --tier "$TIERS" --label team-a/first --no-passthrough
weir_mount "local://$SRC" "$TMP/b" --tier "$TIERS" --label team-b/second --no-passthrough
w top --once -o json >"$TMP/top.json"
bpf="$(json_get "$TMP/top.json" bpf)"
ta="$(top_get "$TMP/a" tracking)" || fail "weir top shows no tracking for a view"
tb="$(top_get "$TMP/b" tracking)"
note "eBPF: $bpf; view a: $ta; view b: $tb"
case "$bpf" in
attached*) [ "$ta" = ebpf ] || fail "eBPF is attached and had room, but the first view is tracked by \"$ta\"" ;;
*) note "eBPF did not attach here: both views are counted by weir-node" ;;
esac
case "$tb" in
"weir-node: eBPF refused the view"*bpf-max-views*) ok "the second view: $tb" ;;
weir-node:*) [ "${bpf%% *}" != attached ] || fail "view b: \"$tb\"" ;;
*) fail "eBPF had no room for the second view, yet weir top says it is tracked by \"$tb\"" ;;
esac
grep -q "eBPF will not see \"$TMP/b\"" "$WEIR_STATE/node.log" || fail "weir-node did not log the refusal"

step "a cold read of the refused view: weir-node counts the bytes it served"
python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$TMP/b/f.bin"
r0="$(top_get "$TMP/b" read_bytes)"
c0="$(top_get "$TMP/b" counted_read_bytes)"
cmp "$TMP/b/f.bin" "$SRC/f.bin" || fail "f.bin reads wrong through the refused view"
rb=$(($(top_get "$TMP/b" read_bytes) - r0))
cb=$(($(top_get "$TMP/b" counted_read_bytes) - c0))
note "READ bytes $rb, counted $cb (file $SIZE)"
[ "$rb" -eq "$SIZE" ] || fail "the cold read reached weir-node for $rb of $SIZE bytes: the page cache was not dropped"
[ "$cb" -eq "$SIZE" ] || fail "weir-node served $rb bytes of a $SIZE-byte file to the refused view but counted $cb"
ok "counted_read_bytes = READ bytes = $cb"

step "a re-read: the file counts once more (its open, if the page cache may serve it; else its READs)"
r0="$(top_get "$TMP/b" read_bytes)"
c0="$(top_get "$TMP/b" counted_read_bytes)"
cmp "$TMP/b/f.bin" "$SRC/f.bin" || fail "f.bin reads wrong through the refused view"
rb=$(($(top_get "$TMP/b" read_bytes) - r0))
cb=$(($(top_get "$TMP/b" counted_read_bytes) - c0))
note "READ bytes $rb (what the page cache did not have), counted $cb"
[ "$cb" -eq "$SIZE" ] || fail "a re-read of $SIZE bytes ($rb of them READs) counted $cb"
ok "counted: the file ($SIZE), $rb bytes of it READs"
if [ "$ta" = ebpf ]; then
	cat "$TMP/a/f.bin" >/dev/null
	[ "$(top_get "$TMP/a" counted_read_bytes)" -eq 0 ] || fail "weir-node counted reads of a view eBPF watches"
	ok "the view eBPF watches is not counted twice"
fi

step "/metrics flags the view weir-node counts"
metrics_get "http://127.0.0.1:$mport/metrics" >"$TMP/metrics" || fail "GET /metrics on 127.0.0.1:$mport failed"
grep -q '^weir_view_ebpf_tracked{namespace="team-b",dataset="second",.*} 0$' "$TMP/metrics" ||
	fail "/metrics does not flag team-b/second as counted by weir-node: $(grep ebpf_tracked "$TMP/metrics")"
line="$(grep '^weir_view_counted_read_bytes_total{namespace="team-b"' "$TMP/metrics")" ||
	fail "no weir_view_counted_read_bytes_total for team-b in /metrics"
[ "${line##* }" -eq "$(top_get "$TMP/b" counted_read_bytes)" ] || fail "/metrics says $line, weir top disagrees"
ok "$line"

step "unmounting the watched view gives its eBPF slot to the refused one"
w umount "$TMP/a"
weir_mount "local://$SRC" "$TMP/c" --tier "$TIERS" --label team-c/third --no-passthrough
tb="$(top_get "$TMP/b" tracking)"
tc="$(top_get "$TMP/c" tracking)"
note "view b: $tb; view c: $tc"
if [ "${bpf%% *}" = attached ]; then
	[ "$tb" = ebpf ] || fail "the slot view a left did not go to view b, still tracked by \"$tb\""
	case "$tc" in "weir-node: eBPF refused"*) ;; *) fail "view c took a slot eBPF does not have: \"$tc\"" ;; esac
	c0="$(top_get "$TMP/b" counted_read_bytes)"
	k0="$(top_get "$TMP/b" kernel_read_bytes)"
	cat "$TMP/b/f.bin" >/dev/null
	[ "$(top_get "$TMP/b" counted_read_bytes)" -eq "$c0" ] || fail "weir-node still counts view b's reads after eBPF took it"
	[ "$(top_get "$TMP/b" kernel_read_bytes)" -ge $((k0 + SIZE)) ] || fail "eBPF took view b but did not count a read of it"
	ok "view b is watched by eBPF now (its read counted there, not by weir-node); view c is refused"
fi
echo
echo "PASS: a view eBPF refuses is counted by weir-node, and says so"
