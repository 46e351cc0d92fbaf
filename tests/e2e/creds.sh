#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end (issue 7, item 8): a password in a UFS URL is never shown — not in mountinfo (the
# mount source), node.log, weir stat, /metrics or an error message — while the state directory
# is 0700 with 0600 files (the stored URL keeps it for a remount, readable by root alone), and a
# state directory others could write is refused.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/nginx.sh"
. "$here/../helpers/weir.sh"

require_root_fuse
find_weir_bins
command -v setpriv >/dev/null || fail "setpriv is missing: install util-linux (scripts/install-deps.sh)"
TMP="$(mktemp -d /tmp/weir-e2e-creds.XXXXXX)"
at_exit 'rm -rf "$TMP"'
weir_setup "$TMP"
TIERS="mem:$WEIR_TIER_DIR/mem:256MiB"
PASS='Hunter2-s3cr3t' TOKEN='tok3n-Xyz987'
MP="$TMP/mnt"

# no_secret WHAT FILE: fails if FILE holds the password or the token.
no_secret() {
	if grep -a -n -e "$PASS" -e "$TOKEN" "$2" >&2; then
		fail "$1 shows a credential (lines above)"
	fi
	ok "$1 shows no credential"
}

step "serve a tree with nginx; weir mount it through a URL with a password"
mkdir -p "$TMP/tree/d"
rand_file "$TMP/tree/d/blob" 3000000 creds
nginx_start "$TMP/nginx" "$TMP/tree"
URL="http://weir:$PASS@127.0.0.1:$NGINX_PORT/"
mport="$(free_port)"
# metrics-timeout: idle /metrics connections closed after 10 s (the idle-connection step below:
# longer than its scrape's 5 s, so that a scrape cannot just wait for a slot to free)
printf 'metrics-listen = 127.0.0.1:%s\nmetrics-timeout = 10\n' "$mport" >"$WEIR_STATE/node.conf"
chmod 0755 "$WEIR_STATE" # as an older weir left it: must be tightened, not refused
weir_mount "$URL" "$MP" --tier "$TIERS" --label tenant-zeta/payroll-q3
cmp "$TMP/tree/d/blob" "$MP/d/blob" || fail "d/blob read through the view differs from the server's"
ok "mounted; d/blob matches"

step "the credentials are nowhere users can see them"
grep -F " $MP " /proc/self/mountinfo >"$TMP/mountinfo" || fail "$MP is not in /proc/self/mountinfo"
note "mountinfo: $(cat "$TMP/mountinfo")"
no_secret "/proc/self/mountinfo" "$TMP/mountinfo"
grep -q 'weir:\*\*\*' "$TMP/mountinfo" || fail "the mount source does not show the masked user (weir:***): $(cat "$TMP/mountinfo")"
w stat "$MP" >"$TMP/stat.txt" || fail "weir stat $MP exited with $?"
w stat "$MP" -o json >"$TMP/stat.json" || fail "weir stat -o json exited with $?"
no_secret "weir stat" "$TMP/stat.txt"
no_secret "weir stat -o json" "$TMP/stat.json"
note "weir stat shows: $(json_get "$TMP/stat.json" ufs_url)"
metrics_get "http://127.0.0.1:$mport/metrics" >"$TMP/metrics" || fail "GET /metrics on port $mport with the token failed"
no_secret "/metrics" "$TMP/metrics"

step "/metrics names tenants' datasets: only the holder of weir-node's token reads it"
MURL="http://127.0.0.1:$mport/metrics"
grep -q 'namespace="tenant-zeta",dataset="payroll-q3"' "$TMP/metrics" ||
	fail "the token holder's /metrics does not name tenant-zeta/payroll-q3: $(grep -m1 weir_view_read "$TMP/metrics")"
ok "with the token (root reads $WEIR_STATE/metrics.token): $(grep -m1 '^weir_view_read_bytes_total' "$TMP/metrics")"
[ "$(stat -c '%a %U' "$WEIR_STATE/metrics.token")" = "600 root" ] ||
	fail "metrics.token is $(stat -c '%a %U' "$WEIR_STATE/metrics.token"), not 600 root"
TOKEN_NOW="$(cat "$WEIR_STATE/metrics.token")"
# as_nobody OUT [CURL ARGS...]: GET /metrics as user nobody; the body in OUT, the HTTP status on
# stdout (curl writes to the descriptors this root shell opened: nobody may not open OUT)
as_nobody() {
	local out="$1"
	shift
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		curl -s --max-time 5 "$@" -o - -w '%{stderr}%{http_code}' "$MURL" >"$out" 2>"$TMP/code" || true
	cat "$TMP/code"
}
# names_nothing WHO FILE CODE: FILE (the /metrics answer WHO got, HTTP status CODE) names nothing
names_nothing() {
	if grep -n -e tenant-zeta -e payroll-q3 -e "$MP" "$2" >&2; then
		fail "$1 read the view's names from /metrics (lines above)"
	fi
	[ "$3" = 401 ] || fail "$1 got HTTP $3 from /metrics, not 401"
	ok "$1: HTTP $3, no namespace, dataset or mountpoint: $(head -c 100 "$2")"
}
names_nothing "user nobody (no token)" "$TMP/m-nobody" "$(as_nobody "$TMP/m-nobody")"
if setpriv --reuid=nobody --regid=nogroup --clear-groups cat "$WEIR_STATE/metrics.token" >/dev/null 2>&1; then
	fail "user nobody can read metrics.token"
fi
# (the last byte changed: to 0, or to 1 when it is 0, or the "wrong" token was the right one in
# 1 run of 16)
alt=0
[ "${TOKEN_NOW: -1}" != 0 ] || alt=1
for bad in "Bearer ${TOKEN_NOW%?}" "Bearer ${TOKEN_NOW%?}$alt" "Bearer ${TOKEN_NOW}x" "Bearer " "Basic $TOKEN_NOW" "$TOKEN_NOW"; do
	names_nothing "a wrong token (Authorization: ${bad:0:14}...)" "$TMP/m-bad" \
		"$(as_nobody "$TMP/m-bad" -H "Authorization: $bad")"
done
code="$(as_nobody "$TMP/m-holder" -H "Authorization: Bearer $TOKEN_NOW")"
[ "$code" = 200 ] && grep -q 'dataset="payroll-q3"' "$TMP/m-holder" ||
	fail "user nobody with the right token got HTTP $code: $(head -c 200 "$TMP/m-holder")"
ok "user nobody holding the token: HTTP 200 with the names"
# a new token in the file (a rotated Secret) counts at the next scrape: the old one is refused
printf 'rotated-%s\n' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$WEIR_STATE/metrics.token"
names_nothing "the token before rotation" "$TMP/m-old" "$(as_nobody "$TMP/m-old" -H "Authorization: Bearer $TOKEN_NOW")"
# (the page into a file first: grep -q quits at its match, and curl's SIGPIPE would fail the
# pipeline under pipefail)
metrics_get "$MURL" >"$TMP/m-rotated" && grep -q 'dataset="payroll-q3"' "$TMP/m-rotated" ||
	fail "the rotated token is refused"
ok "the rotated token is taken at the next scrape, without a restart"
# a token file others can read serves nothing
chmod 0644 "$WEIR_STATE/metrics.token"
code="$(curl -s --max-time 5 -H "Authorization: Bearer $(cat "$WEIR_STATE/metrics.token")" -o "$TMP/m-loose" -w '%{http_code}' "$MURL")" || true
[ "$code" = 503 ] && ! grep -q payroll-q3 "$TMP/m-loose" || fail "/metrics with a token file of mode 0644 answered HTTP $code: $(head -c 200 "$TMP/m-loose")"
grep -q 'metrics token .*mode 644' "$WEIR_STATE/node.log" || fail "node.log does not say why /metrics is refused"
chmod 0600 "$WEIR_STATE/metrics.token"
ok "a token file others can read: HTTP 503, node.log says why"

step "idle connections to /metrics cannot starve scrapes: each closed after metrics-timeout, 8 per user"
# user nobody holds 90 connections (more than the 64 in all), 10 from each of 127.0.0.1..9 (the
# old 8 per address let 8 addresses take all 64), and sends nothing or half a request line; for
# 6 s it opens again whatever weir-node closes, as an attacker would. The server must close every
# one (read gives EOF) before a generous deadline: the old listener kept them all open, for ever.
IDLE_N=90
setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 - "$mport" "$IDLE_N" 6 http \
	<"$here/../helpers/hold_conns.py" >"$TMP/idle.out" 2>&1 &
IDLE=$!
until_ok 10 "user nobody holding $IDLE_N idle connections" grep -q held "$TMP/idle.out"
# root's scrape from the same address (127.0.0.1) is another client: nobody holds only its 8 (the
# old listener gave nobody 8 per address, all 64 slots, and the scrape waited the 10 s timeout)
code="$(curl -s --max-time 5 -H "Authorization: Bearer $(cat "$WEIR_STATE/metrics.token")" \
	-o "$TMP/m-other" -w '%{http_code}' "$MURL")" || true
[ "$code" = 200 ] || fail "a scrape from 127.0.0.1 while user nobody holds idle connections from 127.0.0.1..9 got HTTP $code"
wait "$IDLE" || fail "weir-node left idle /metrics connections open: $(cat "$TMP/idle.out")"
ok "another user's scrape: HTTP 200 at once; all $IDLE_N idle connections closed by weir-node"
metrics_get "$MURL" >"$TMP/m-after" && grep -q 'dataset="payroll-q3"' "$TMP/m-after" ||
	fail "a scrape with the token after the idle connections were closed did not get the names"
ok "a scrape from the same address after metrics-timeout: HTTP 200 with the names"

step "a user's slowloris connections do not lock that user out of /metrics"
# user nobody holds its 8 connections, each sending one byte of a header every 1.5 s: never silent
# for metrics-timeout, so never closed for it. Past 5 s (CONN_SHARE_STALE_MS) with no request
# completed they are stale: nobody's own scrape takes one over and gets an answer (401: no token).
# The old listener refused a 9th connection of nobody's at once (curl: 000) while the 8 dribbled.
setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 - "$mport" 8 9 dribble \
	<"$here/../helpers/hold_conns.py" >"$TMP/drib.out" 2>&1 &
DRIB=$!
until_ok 10 "user nobody holding 8 dribbling connections" grep -q held "$TMP/drib.out"
sleep 6
code="$(as_nobody "$TMP/m-drib")"
[ "$code" = 401 ] || fail "user nobody's scrape while its 8 dribbling connections were stale got HTTP $code, not 401"
wait "$DRIB" || fail "the dribbling client failed: $(cat "$TMP/drib.out")"
grep -qx 'closed: 1' "$TMP/drib.out" || fail "not exactly one stale dribbling connection closed for the scrape: $(cat "$TMP/drib.out")"
ok "user nobody's scrape got HTTP 401 past its 8 stale dribbling connections; exactly one of them closed"

step "an error about the URL does not show it either"
rc=0
mkdir -p "$TMP/mnt2"
for bad in "http://weir:$PASS@127.0.0.1:$NGINX_PORT/no-such-dir/" \
	"http://weir:$PASS@127.0.0.1:$NGINX_PORT/d/?token=$TOKEN"; do
	rc=0
	w mount "$bad" "$TMP/mnt2" --tier "$TIERS" >"$TMP/err.out" 2>&1 </dev/null || rc=$?
	[ "$rc" -ne 0 ] || fail "weir mount of a bad URL (missing directory, or a query) succeeded"
	note "weir mount says: $(head -c 300 "$TMP/err.out")"
	no_secret "weir mount's error" "$TMP/err.out"
done
no_secret "node.log" "$WEIR_STATE/node.log"

step "the state directory is 0700 and its files 0600; nobody cannot read the stored URL"
mode="$(stat -c %a "$WEIR_STATE")"
[ "$mode" = 700 ] || fail "the state directory $WEIR_STATE is mode $mode, not 700"
# node.conf is the administrator's, not weir's
find "$WEIR_STATE" -type f ! -name node.conf -perm /077 -printf '%m %p\n' >"$TMP/loose"
[ ! -s "$TMP/loose" ] || fail "files in the state directory are readable by others: $(cat "$TMP/loose")"
find "$WEIR_STATE" -mindepth 1 -type d -perm /077 -printf '%m %p\n' >"$TMP/loose"
[ ! -s "$TMP/loose" ] || fail "directories in the state directory are open to others: $(cat "$TMP/loose")"
for f in node.log stores/*/url stores/*/index.db stores/*/meta.db; do
	[ -e "$WEIR_STATE/"$f ] || fail "$WEIR_STATE/$f is missing"
done
grep -qF "$PASS" "$WEIR_STATE"/stores/*/url || fail "stores/*/url lost the password: a remount would fail"
ok "state dir 700, $(find "$WEIR_STATE" -type f | wc -l) files all 0600; stores/*/url keeps the URL for remounts"
if setpriv --reuid=nobody --regid=nogroup --clear-groups cat "$WEIR_STATE"/stores/*/url >/dev/null 2>&1; then
	fail "user nobody can read stores/*/url (the URL with its password)"
fi
ok "user nobody cannot read the stored URL"

step "a state directory that others could write, or that someone else owns, is refused"
w umount "$MP" >/dev/null 2>&1 || fail "weir umount $MP failed"
pid_signal TERM "$(weir_node_pid)"
for i in $(seq 1 50); do [ -z "$(weir_node_pid)" ] && break; sleep 0.1; done
# refused DIR WHAT WORDS: weir mount with state directory DIR fails, saying WORDS.
refused() {
	local rc=0
	timeout 60 "$WEIR_BIN" --state-dir "$1" mount "local://$TMP/tree" "$MP" --tier "$TIERS" \
		>"$TMP/bad.out" 2>&1 </dev/null || rc=$?
	[ "$rc" -ne 0 ] || { umount -l "$MP" 2>/dev/null; fail "weir mount with a state directory $2 succeeded"; }
	grep -q "$3" "$TMP/bad.out" || fail "weir mount with a state directory $2 failed without saying why: $(cat "$TMP/bad.out")"
	ok "$2: refused: $(head -n 1 "$TMP/bad.out")"
}
for bad in 0777 0775; do
	mkdir -p "$TMP/bad-$bad" && chmod "$bad" "$TMP/bad-$bad"
	refused "$TMP/bad-$bad" "of mode $bad" "writable by"
done
BAD="$TMP/bad-owner"
mkdir -p "$BAD" && chmod 0700 "$BAD" && chown nobody "$BAD"
refused "$BAD" "owned by nobody" "belongs to uid"
# weir-node itself checks too (started by hand, not through weir)
rc=0
timeout 20 "$WEIR_NODE_BIN" --state-dir "$BAD" >"$TMP/bad.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "weir-node started on a state directory owned by nobody"
grep -q "belongs to uid" "$TMP/bad.out" || fail "weir-node refused the state dir without saying why: $(cat "$TMP/bad.out")"
ok "weir-node refuses it too"

echo
echo "PASS: credentials end to end"
