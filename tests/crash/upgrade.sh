#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# weir node restart replaces weir-node with the binary on disk now, with no unmount: readers of a
# cold copy through nginx keep their descriptors across three restarts and finish with every
# byte right, and the new process runs the new file (another inode), not the old one.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/nginx.sh"
. "$here/../helpers/weir.sh"

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-upgrade.XXXXXX)"
at_exit 'rm -rf "$TMP"'
mkdir -p "$TMP/bin"
cp "$WEIR_NODE_BIN" "$TMP/bin/weir-node"
WEIR_NODE_BIN="$TMP/bin/weir-node"
export WEIR_NODE_BIN
[ -x "$(dirname "$WEIR_BIN")/../weir-keeper" ] || [ -n "${WEIR_KEEPER_BIN:-}" ] ||
	fail "weir-keeper is not next to the build's weir-node: build it (ninja -C build)"
WEIR_KEEPER_BIN="${WEIR_KEEPER_BIN:-$(cd "$(dirname "$WEIR_BIN")/.." && pwd)/weir-keeper}"
export WEIR_KEEPER_BIN

step "a tree behind a rate-limited nginx, mounted; 4 readers open every file and read"
"$WEIR_SRC/tests/helpers/gentree.sh" "$TMP/tree" 0.03 | sed 's/^/  /'
nginx_start "$TMP/nginx" "$TMP/tree" --limit-rate 2m
at_exit nginx_stop
weir_setup "$TMP"
printf 'metrics-listen = 127.0.0.1:%s\nbpf = 0\n' "$(free_port)" >"$WEIR_STATE/node.conf"
weir_mount "$NGINX_URL" "$TMP/mnt" --tier "mem:$WEIR_TIER_DIR/mem:512MiB"
total=$(($(find "$TMP/tree" -type f -printf '%s+') 0))
pids=()
for r in 1 2 3 4; do
	(cd "$TMP/tree" && find . -type f -printf '%P\n' | shuf) |
		while IFS= read -r f; do printf '%s\t%s\n' "$TMP/mnt/$f" "$TMP/tree/$f"; done >"$TMP/list.$r"
	timeout -k 5 180 python3 "$here/reader.py" <"$TMP/list.$r" >"$TMP/out.$r" 2>&1 &
	pids+=($!)
	pid_track "$!"
done

for round in 1 2 3; do
	step "upgrade $round: a new weir-node file in place, weir node restart while the readers read"
	old="$(weir_node_pid)"
	cp "$TMP/bin/weir-node" "$TMP/bin/weir-node.new"
	mv -f "$TMP/bin/weir-node.new" "$TMP/bin/weir-node"
	want_ino="$(stat -c %i "$TMP/bin/weir-node")"
	running=0
	for p in "${pids[@]}"; do pid_alive "$p" && running=$((running + 1)); done
	out="$(w node restart 2>&1)" || fail "weir node restart exited with $?: $out"
	note "weir: $out"
	new="$(weir_node_pid)"
	[ -n "$new" ] && [ "$new" != "$old" ] || fail "after weir node restart, node.pid names \"$new\" (was $old)"
	got_ino="$(stat -L -c %i "/proc/$new/exe")"
	[ "$got_ino" = "$want_ino" ] || fail "the new weir-node $new runs inode $got_ino, not the binary now on disk (inode $want_ino)"
	is_mounted "$TMP/mnt" || fail "$TMP/mnt is no longer mounted after weir node restart"
	ok "weir-node $old -> $new, running the new file; $running of 4 readers were reading"
done

step "every reader finishes with every byte"
bad=0
for i in "${!pids[@]}"; do
	rc=0
	wait "${pids[$i]}" || rc=$?
	line="$(tail -n 1 "$TMP/out.$((i + 1))")"
	res="$(printf '%s' "$line" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["errors"], d["wrong"], d["bytes"])' 2>/dev/null || echo "x x x")"
	read -r ne nw nb <<<"$res"
	if [ "$rc" -ne 0 ] || [ "$ne" != 0 ] || [ "$nw" != 0 ] || [ "$nb" != "$total" ]; then
		bad=$((bad + 1))
		note "reader $((i + 1)): exit $rc: $line"
	fi
done
[ "$bad" -eq 0 ] || fail "$bad of 4 readers saw an error or wrong bytes across weir node restart"
ok "4 of 4 readers read $total bytes each, all equal to the source"
grep -q 'restarting node from .* (upgrade)' "$WEIR_STATE/node.log" || fail "node.log does not say the keeper restarted weir-node for an upgrade"
echo
echo "PASS: three upgrades of weir-node under readers, no unmount, no reader error"
