#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end (issue 7 item 12): stale-if-error. Two views of one nginx (HTML and JSON
# autoindex: two sources) with --metadata-ttl 1 are read fully; nginx stops. Past the TTL the
# view with the default max-stale still lists and reads every cached file byte-exact, and weir
# stat / weir top say the UFS is unreachable and stale metadata is served. The view with
# --max-stale 2 refuses metadata older than that (EIO) and says so. When nginx is back, the
# views say it is reachable again.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/nginx.sh"
. "$here/../helpers/weir.sh"

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-e2e-outage.XXXXXX)"
at_exit 'rm -rf "$TMP"'
TREE="$TMP/tree" MP="$TMP/mnt" MP2="$TMP/mnt2"
weir_setup "$TMP"
TIERS="mem:$WEIR_TIER_DIR/mem:256MiB"

# the_tree DIR: "path size" of every file and "path/" of every directory under DIR, sorted,
# never looking inside never/ (a directory the views must not have listed before the outage).
the_tree() { (cd "$1" && find . -mindepth 1 \( -path ./never -printf 'never/\n' -prune \) -o \( -type d -printf '%P/\n' \) -o \( -type f -printf '%P %s\n' \) | LC_ALL=C sort); }

# read_all MP: every file of the tree read through MP must equal the server's (cmp).
read_all() {
	local f
	while IFS= read -r f; do
		cmp "$TREE/$f" "$1/$f" || fail "\"$f\" read through $1 differs from the server's copy"
	done < <(cd "$TREE" && find . -type f ! -path './never/*' -printf '%P\n')
}

# stat_line MP: the "ufs status" line of weir stat MP.
stat_line() { w stat "$1" | sed -n 's/^  ufs status *//p'; }

# top_health MP KEY: one field of the view's ufs_health in weir top --once -o json.
top_health() {
	w top --once -o json >"$TMP/top.json" || fail "weir top --once -o json failed"
	python3 - "$TMP/top.json" "$1" "$2" <<'PY'
import json, sys
top = json.load(open(sys.argv[1]))
for v in top["views"]:
    if v["mountpoint"] == sys.argv[2]:
        print(json.dumps(v["ufs_health"][sys.argv[3]]))
        break
else:
    sys.exit("no view at " + sys.argv[2])
PY
}

step "a small tree behind nginx (HTML and JSON autoindex); two views with --metadata-ttl 1"
mkdir -p "$TREE/dir/sub" "$TREE/never"
rand_file "$TREE/big.bin" $((3 * 1024 * 1024 + 12345)) big
rand_file "$TREE/dir/b.bin" 100000 b
rand_file "$TREE/dir/sub/c.txt" 777 c
rand_file "$TREE/never/d.bin" 1000 d
nginx_start "$TMP/nginx" "$TREE" --json
port="$NGINX_PORT"
# open mode named: auto lists the tree's first directories at mount to choose (never/ among
# them), and never/ must stay unlisted until the outage
weir_mount "$NGINX_URL" "$MP" --tier "$TIERS" --block-size 1MiB --metadata-ttl 1 --open-mode open
weir_mount "$NGINX_JSON_URL" "$MP2" --tier "$TIERS" --block-size 1MiB --metadata-ttl 1 --max-stale 2
ok "$MP: default max-stale; $MP2: --max-stale 2"

step "read both views fully while nginx answers"
for m in "$MP" "$MP2"; do
	diff <(the_tree "$TREE") <(the_tree "$m") >&2 ||
		fail "$m lists other paths or sizes than the server (diff above)"
	read_all "$m"
done
line="$(stat_line "$MP")"
[ "$line" = reachable ] || fail "weir stat $MP says the UFS is \"$line\" while nginx answers"
ok "every file cmp-equal through both views; weir stat: ufs $line"

step "stop nginx, wait 2 s (past the 1 s TTL): the default view serves what it cached"
nginx_stop
t_stop="$(now)"
sleep 2
diff <(the_tree "$TREE") <(the_tree "$MP") >&2 ||
	fail "with nginx stopped, $MP lists other paths or sizes than before (diff above)"
read_all "$MP"
ok "ls and cat of every cached file through $MP work and are cmp-equal"
if ls "$MP/never" >/dev/null 2>&1; then
	fail "ls $MP/never (never listed while nginx answered) succeeded with nginx stopped"
fi
ok "a directory never listed fails: nothing to serve"

step "weir stat and weir top say the UFS is unreachable and stale metadata is served"
line="$(stat_line "$MP")"
note "weir stat: ufs status $line"
case "$line" in
"unreachable since "*"serving stale metadata (age "*) ;;
*) fail "weir stat $MP says \"$line\"; expected \"unreachable since ..., serving stale metadata (age N s ...)\"" ;;
esac
[ "$(top_health "$MP" reachable)" = false ] || fail "weir top -o json: ufs_health.reachable of $MP is not false"
[ "$(top_health "$MP" serving_stale)" = true ] || fail "weir top -o json: ufs_health.serving_stale of $MP is not true"
err="$(top_health "$MP" error)"
case "$err" in *"http://"*) fail "weir top shows a URL in the UFS error ($err): it may hold credentials" ;; esac
ok "weir top: reachable false, serving_stale true, error $err"

step "past --max-stale 2 (metadata over 4 s old), $MP2 refuses: EIO, and says so"
sleep "$(awk -v t="$t_stop" -v n="$(now)" 'BEGIN { d = 4.2 - (n - t); print (d > 0 ? d : 0) }')"
if out="$(ls "$MP2/dir" 2>&1)"; then
	fail "ls $MP2/dir succeeded with metadata older than max-stale: $out"
fi
case "$out" in *"Input/output error"*) ;; *) fail "ls $MP2/dir failed with \"$out\", expected EIO" ;; esac
if out="$(cat "$MP2/dir/b.bin" 2>&1 >/dev/null)"; then
	fail "cat $MP2/dir/b.bin succeeded with metadata older than max-stale"
fi
case "$out" in *"Input/output error"*) ;; *) fail "cat $MP2/dir/b.bin failed with \"$out\", expected EIO" ;; esac
ok "ls: $(printf '%s' "$(ls "$MP2/dir" 2>&1)" | head -1)"
line="$(stat_line "$MP2")"
note "weir stat: ufs status $line"
case "$line" in
"unreachable since "*"refused"*"max-stale 2 s"*) ;;
*) fail "weir stat $MP2 says \"$line\"; expected it to say lookups were refused past max-stale 2 s" ;;
esac
[ "$(top_health "$MP2" stale_refused)" -gt 0 ] || fail "weir top -o json: ufs_health.stale_refused of $MP2 is 0"
ok "weir stat and weir top report the refusals"

step "kill -9 weir-node during the outage: a new one mounts the cache and serves it"
[ -n "$(weir_node_pid)" ] || fail "no weir-node runs for $WEIR_STATE"
weir_kill_all # the keeper too: this is about a new weir-node, not a takeover
w umount "$MP" >/dev/null 2>&1 || fail "weir umount of the dead mount $MP failed"
w umount "$MP2" >/dev/null 2>&1 || fail "weir umount of the dead mount $MP2 failed"
# open mode named: auto lists the tree's first directories at mount to choose (never/ among
# them), and never/ must stay unlisted until the outage
weir_mount "$NGINX_URL" "$MP" --tier "$TIERS" --block-size 1MiB --metadata-ttl 1 --open-mode open
weir_mount "$NGINX_JSON_URL" "$MP2" --tier "$TIERS" --block-size 1MiB --metadata-ttl 1 --max-stale 2
diff <(the_tree "$TREE") <(the_tree "$MP") >&2 ||
	fail "after the restart, $MP lists other paths or sizes than the server had (diff above)"
read_all "$MP"
line="$(stat_line "$MP")"
case "$line" in
"unreachable since "*"serving stale metadata"*) ;;
*) fail "after the restart weir stat $MP says \"$line\"; expected unreachable, serving stale metadata" ;;
esac
ok "remounted with nginx down; every cached file cmp-equal; weir stat: $line"

step "nginx back on port $port: the views see it again"
nginx_start "$TMP/nginx" "$TREE" --json --port "$port"
back=""
for _ in $(seq 1 40); do
	ls -R "$MP" >/dev/null 2>&1 || true
	ls -R "$MP2" >/dev/null 2>&1 || true
	if [ "$(stat_line "$MP")" = reachable ] && [ "$(stat_line "$MP2")" = reachable ]; then
		back=1
		break
	fi
	sleep 0.25
done
[ -n "$back" ] || fail "10 s after nginx came back, weir stat says \"$(stat_line "$MP")\" / \"$(stat_line "$MP2")\""
read_all "$MP2"
ok "both views say reachable; $MP2 reads every file cmp-equal again"
