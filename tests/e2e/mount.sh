#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end (issue 2): nginx on loopback serves a walkthrough-shaped tree (HTML and JSON autoindex);
# weir mounts it; copies are byte-exact, warm copies make no UFS request (also after kill -9 of
# weir-node, which its keeper restarts, and after kill -9 of both and a remount, also a remount
# right after that with no umount), a corrupted tier block is refetched, and server-side changes show up after the TTL.
# A cold tar of 500 small files through an HTML-listed view (no ETags) sends each file one HEAD.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/nginx.sh"
. "$here/../helpers/weir.sh"

SCALE="${WEIR_E2E_SCALE:-0.03}" # ~42 MB in spark-3.3.1

require_root_fuse
find_weir_bins
TMP="$(mktemp -d /tmp/weir-e2e-mount.XXXXXX)"
at_exit 'rm -rf "$TMP"'
TREE="$TMP/tree" MP="$TMP/mnt"
weir_setup "$TMP"
TIERS="mem:$WEIR_TIER_DIR/mem:1GiB"
echo "weir: $WEIR_BIN; weir-node: $WEIR_NODE_BIN; work dir: $TMP"

# copy_and_check DEST: cp -R the view's spark-3.3.1 to DEST and cmp every file with the source.
copy_and_check() {
	local dst="$1" t0 t1 f n=0
	rm -rf "$dst"
	t0="$(now)"
	timeout -k 5 300 cp -R "$MP/spark-3.3.1" "$dst" || fail "cp -R $MP/spark-3.3.1 $dst failed (exit $?)"
	t1="$(now)"
	diff <(cd "$TREE/spark-3.3.1" && ls -A) <(cd "$dst" && ls -A) >&2 ||
		fail "the copy of spark-3.3.1 has other names than the server's tree (diff above)"
	for f in "$TREE/spark-3.3.1"/*; do
		cmp "$f" "$dst/$(basename "$f")" || fail "$(basename "$f") differs from the server's copy"
		n=$((n + 1))
	done
	ok "copied $n files, $(( $(find "$dst" -type f -printf '%s+') 0 )) bytes in $(elapsed "$t0" "$t1") s; every file matches (cmp)"
}

# expect_no_requests BEFORE WHAT: fails if nginx logged any request after the first BEFORE lines.
expect_no_requests() {
	local before="$1" what="$2" after
	after="$(nginx_requests)"
	if [ "$after" -ne "$before" ]; then
		nginx_requests_since "$before" | head -20 | sed 's/^/  nginx: /' >&2
		fail "$what made $((after - before)) request(s) to nginx (first ones above); it must be served from the cache"
	fi
	ok "$what made no request to nginx"
}

stat_json() {
	w stat "$MP" -o json >"$TMP/stat.json" || fail "weir stat $MP -o json exited with $?"
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/stat.json" 2>/dev/null ||
		fail "weir stat -o json did not print one JSON object: $(head -c 300 "$TMP/stat.json")"
}

step "generate the tree (scale $SCALE) and serve it with nginx on loopback"
"$here/../helpers/gentree.sh" "$TREE" "$SCALE" | sed 's/^/  /'
nginx_start "$TMP/nginx" "$TREE" --json
TOTAL=$(( $(find "$TREE/spark-3.3.1" -type f -printf '%s+') 0 ))
ok "nginx (pid $NGINX_PID) serves $NGINX_URL; spark-3.3.1 holds $TOTAL bytes"

step "weir mount $NGINX_URL $MP --tier $TIERS --metadata-ttl 3600"
weir_mount "$NGINX_URL" "$MP" --tier "$TIERS" --metadata-ttl 3600
pid1="$(weir_node_pid)"
[ -n "$pid1" ] || fail "weir mount succeeded but $WEIR_STATE/node.pid names no running weir-node"
ok "mounted; weir-node pid $pid1"

step "ls of the view's root shows the three release directories"
ls -la "$MP" | sed 's/^/  /'
diff <(printf '%s\n' spark-3.1.3 spark-3.2.3 spark-3.3.1) <(ls -A "$MP") >&2 ||
	fail "ls $MP does not list exactly spark-3.1.3 spark-3.2.3 spark-3.3.1 (diff above)"
for d in spark-3.1.3 spark-3.2.3 spark-3.3.1; do
	[ -d "$MP/$d" ] || fail "$MP/$d is not a directory"
done
if touch "$MP/spark-3.3.1/new" 2>/dev/null; then fail "creating a file in the view succeeded; the mount must be read-only"; fi
ok "three directories; the view refuses writes"

step "the whole view has the server's paths and sizes (find)"
tree_of() { (cd "$1" && find . -mindepth 1 \( -type d -printf '%P/\n' \) -o \( -type f -printf '%P %s\n' \) | LC_ALL=C sort); }
diff <(tree_of "$TREE") <(tree_of "$MP") >&2 || fail "the view's paths or sizes differ from the server's tree (diff above: < server, > view)"
ok "$(tree_of "$MP" | wc -l) paths, all with the server's sizes"

step "sizes in the view match the server's"
for f in "$TREE/spark-3.3.1"/*; do
	s1="$(stat -c %s "$f")" s2="$(stat -c %s "$MP/spark-3.3.1/$(basename "$f")")" ||
		fail "stat of $(basename "$f") in the view failed"
	[ "$s1" = "$s2" ] || fail "$(basename "$f"): the view says $s2 bytes, the server has $s1"
done
ok "all seven sizes match"

step "first copy (cold): cp -R $MP/spark-3.3.1 out, cmp every file"
before="$(nginx_requests)"
copy_and_check "$TMP/copy1"
note "nginx served $(($(nginx_requests) - before)) request(s) for it"
stat_json
note "weir stat: $(cat "$TMP/stat.json")"
for k in mountpoint ufs_url ufs_bytes ufs_requests hits misses read_bytes cached_bytes evictions tiers; do
	json_get "$TMP/stat.json" "$k" >/dev/null 2>&1 || fail "weir stat -o json has no \"$k\" field"
done
for k in medium path quota used blocks; do
	json_get "$TMP/stat.json" tiers 0 "$k" >/dev/null 2>&1 || fail "weir stat -o json: tiers[0] has no \"$k\" field"
done
ufs_bytes="$(json_get "$TMP/stat.json" ufs_bytes)"
cached="$(json_get "$TMP/stat.json" cached_bytes)"
[ "$ufs_bytes" -ge "$TOTAL" ] || fail "weir stat says ufs_bytes=$ufs_bytes after a cold copy of $TOTAL bytes"
[ "$cached" -ge "$TOTAL" ] || fail "weir stat says cached_bytes=$cached after reading $TOTAL bytes into a 1 GiB tier"
ok "stat has every field; ufs_bytes=$ufs_bytes cached_bytes=$cached (>= $TOTAL)"

step "second copy makes no request to nginx"
before="$(nginx_requests)"
copy_and_check "$TMP/copy2"
expect_no_requests "$before" "the second copy"

step "names with a space, non-ASCII and a percent sign read correctly"
for rel in "spark-3.1.3/release notes 3.1.3.txt" "spark-3.2.3/Überblick-données-データ.txt" \
	"spark-3.2.3/docs/api/index 100%.html" "spark-3.1.3/EMPTY" "spark-3.1.3/spark-3.1.3.tgz"; do
	[ -e "$MP/$rel" ] || fail "\"$rel\" is missing from the view (ls: $(ls -A "$(dirname "$MP/$rel")" 2>&1 | tr '\n' ' '))"
	cmp "$TREE/$rel" "$MP/$rel" || fail "\"$rel\" read through the view differs from the server's"
	ok "\"$rel\""
done

step "kill -9 weir-node: its keeper restarts it and the view stays live"
pid_signal 9 "$pid1"
pidk="$(weir_wait_new_node "$pid1")"
cmp "$TREE/spark-3.3.1/spark-3.3.1.tgz" "$MP/spark-3.3.1/spark-3.3.1.tgz" ||
	fail "after kill -9 and the keeper's restart, spark-3.3.1.tgz differs"
grep -q 'took over 1 views' "$WEIR_STATE/node.log" || fail "node.log does not say weir-node $pidk took the view over"
ok "weir-node $pidk took the view over; bytes match"
pid1="$pidk"

step "kill -9 the keeper and weir-node: the mount point goes dead"
weir_kill_all
err="$(stat "$MP/spark-3.3.1" 2>&1 || true)"
case "$err" in
*"not connected"*) ok "stat says: ${err##*: }" ;;
*) fail "after kill -9 of weir-node, stat $MP/spark-3.3.1 says \"$err\", expected \"Transport endpoint is not connected\"" ;;
esac

step "weir umount cleans the dead mount"
out="$(w umount "$MP" 2>&1)" || fail "weir umount $MP of a dead mount exited with $?: $out"
! is_mounted "$MP" || fail "weir umount $MP returned 0 but $MP is still in /proc/self/mountinfo"
ok "unmounted"

step "remount: a new weir-node finds its cache intact"
weir_mount "$NGINX_URL" "$MP" --tier "$TIERS" --metadata-ttl 3600
pid2="$(weir_node_pid)"
[ -n "$pid2" ] && [ "$pid2" != "$pid1" ] || fail "after remount, node.pid names \"$pid2\" (old daemon was $pid1)"
stat_json
cached="$(json_get "$TMP/stat.json" cached_bytes)"
[ "$cached" -ge "$TOTAL" ] || fail "after kill -9 and restart, cached_bytes=$cached < $TOTAL: the cache was not recovered"
ok "weir-node pid $pid2; cached_bytes=$cached"

step "third copy (new daemon, new page cache) makes no request to nginx"
before="$(nginx_requests)"
copy_and_check "$TMP/copy3"
expect_no_requests "$before" "the third copy"
stat_json
note "weir stat: $(cat "$TMP/stat.json")"
hits="$(json_get "$TMP/stat.json" hits)"
pt="$(json_get "$TMP/stat.json" passthrough_opens)"
# A complete object is read by the kernel straight from the tier file (FUSE passthrough): its
# reads never reach weir, so count those opens as hits too.
[ "$((hits + pt))" -gt 0 ] ||
	fail "weir stat says hits=$hits, passthrough_opens=$pt after a copy served from the cache"

step "the same tree through nginx's JSON autoindex ($NGINX_JSON_URL)"
MPJ="$TMP/mnt-json"
weir_mount "$NGINX_JSON_URL" "$MPJ" --tier "$TIERS" --metadata-ttl 3600
diff <(printf '%s\n' spark-3.1.3 spark-3.2.3 spark-3.3.1) <(ls -A "$MPJ") >&2 ||
	fail "ls $MPJ (JSON listing) does not list exactly the three release directories (diff above)"
diff <(cd "$TREE" && find . | sort) <(cd "$MPJ" && find . | sort) >&2 ||
	fail "the JSON-listed view holds other paths than the server's tree (diff above)"
for rel in "spark-3.2.3/Überblick-données-データ.txt" "spark-3.1.3/release notes 3.1.3.txt" \
	"spark-3.2.3/docs/api/index 100%.html" "spark-3.3.1/spark-3.3.1.tgz"; do
	cmp "$TREE/$rel" "$MPJ/$rel" || fail "\"$rel\" read through the JSON-listed view differs from the server's"
done
ok "same paths as the server's tree; four files match, awkward names included"
out="$(w umount "$MPJ" 2>&1)" || fail "weir umount $MPJ exited with $?: $out"

step "a cold tar of 500 small files through an HTML-listed view asks each one's version once"
# An HTML listing gives no ETag and whole minutes: each file's version takes a HEAD, once. The reader's LOOKUP or
# OPEN of a file and the directory stream's prefetch of that same next file both validate it; one
# must wait for the other's HEAD, not send its own (35% of the HEADs of a cold tar were repeats).
mkdir "$TREE/small"
python3 -c '
import os, random, sys
r = random.Random(17)
for i in range(500):
    with open(os.path.join(sys.argv[1], "%05d.bin" % i), "wb") as f:
        f.write(r.randbytes(r.randint(4096, 16384)))' "$TREE/small"
MPS="$TMP/mnt-small"
weir_mount "${NGINX_URL}small/" "$MPS" --tier "$TIERS" --metadata-ttl 3600
before="$(nginx_requests)"
timeout -k 5 300 tar -C "$MPS" -cf - . >"$TMP/small.tar" || fail "tar of $MPS failed (exit $?)"
mkdir "$TMP/small-out"
tar -C "$TMP/small-out" -xf "$TMP/small.tar"
diff -r "$TREE/small" "$TMP/small-out" >&2 || fail "the tar of $MPS differs from the server's files"
nginx_requests_since "$before" | awk -F'"' '{ split($2, rq, " "); if (rq[1] == "HEAD") print rq[2] }' |
	sort | uniq -c | sort -rn >"$TMP/small-heads"
heads=$(awk '{ n += $1 } END { print n + 0 }' "$TMP/small-heads")
gets=$(nginx_requests_since "$before" | grep -c '"GET ' || true)
twice=$(awk '$1 > 1' "$TMP/small-heads" | wc -l)
if [ "$twice" -gt 0 ]; then
	head -n 5 "$TMP/small-heads" | sed 's/^/  nginx HEADs: /' >&2
	fail "a cold tar of 500 files sent $heads HEADs and $gets GETs; $twice file(s) got more than one HEAD, the worst $(head -n 1 "$TMP/small-heads" | awk '{ print $2 ": " $1 }') (above)"
fi
ok "500 files match; $heads HEADs and $gets GETs, no file asked twice"
out="$(w umount "$MPS" 2>&1)" || fail "weir umount $MPS exited with $?: $out"

step "kill -9 keeper and weir-node, then weir mount at once (no umount): the dead mount is cleared, not stacked on"
mounts_at() { awk -v d="$(realpath -m "$1")" '{ m = $5; gsub(/\\040/, " ", m); if (m == d) n++ } END { print n + 0 }' /proc/self/mountinfo; }
for round in 1 2 3; do
	weir_kill_all
	weir_mount "$NGINX_URL" "$MP" --tier "$TIERS" --metadata-ttl 3600
	n="$(mounts_at "$MP")"
	[ "$n" -eq 1 ] || fail "round $round: after kill -9 and a remount, /proc/self/mountinfo lists $n mounts at $MP (dead ones stacked under the new one)"
	cmp "$TREE/spark-3.3.1/spark-3.3.1.tgz" "$MP/spark-3.3.1/spark-3.3.1.tgz" ||
		fail "round $round: spark-3.3.1.tgz differs after the remount"
done
grep -q 'detached the dead weir mount' "$WEIR_STATE/node.log" ||
	fail "node.log does not say that weir-node detached the dead mount"
ok "three rounds: one mount at $MP each time, bytes match, node.log says the dead one was detached"

step "a block corrupted in the tier while weir-node was down is dropped and refetched, never served"
weir_kill_all
out="$(w umount "$MP" 2>&1)" || fail "weir umount $MP of a dead mount exited with $?: $out"
victim="$(find "$WEIR_TIER_DIR" -type f -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2-)"
[ -n "$victim" ] || fail "found no file under the tier $WEIR_TIER_DIR to corrupt"
printf 'CORRUPTED' | dd of="$victim" bs=1 seek=1000000 conv=notrunc status=none
note "overwrote 9 bytes at offset 1000000 of $victim"
weir_mount "$NGINX_URL" "$MP" --tier "$TIERS" --metadata-ttl 3600
before="$(nginx_requests)"
for f in "$TREE/spark-3.3.1"/*; do
	cmp "$f" "$MP/spark-3.3.1/$(basename "$f")" || fail "$(basename "$f"): weir served a block whose tier copy was corrupted"
done
refetched=$(($(nginx_requests) - before))
[ "$refetched" -gt 0 ] || fail "every file matched but nginx saw no request: was the corrupted block checked at all?"
ok "every file matches; the bad block was refetched ($refetched request(s) to nginx)"

step "a file changed on the server reads new bytes after the metadata TTL (--metadata-ttl 1)"
out="$(w umount "$MP" 2>&1)" || fail "weir umount $MP exited with $?: $out"
weir_mount "$NGINX_URL" "$MP" --tier "$TIERS" --metadata-ttl 1
grow="spark-3.3.1/spark-3.3.1.tgz" same="spark-3.3.1/SparkR_3.3.1.tar.gz"
cmp "$TREE/$grow" "$MP/$grow" || fail "$grow differs before the change"
cmp "$TREE/$same" "$MP/$same" || fail "$same differs before the change"
sleep 1.1 # nginx's ETag has 1 s mtime resolution
rand_file "$TMP/new1" $(($(stat -c %s "$TREE/$grow") + 777777)) changed-size
rand_file "$TMP/new2" "$(stat -c %s "$TREE/$same")" changed-same-size
cat "$TMP/new1" >"$TREE/$grow"
cat "$TMP/new2" >"$TREE/$same"
sleep 2.5
cmp "$TREE/$grow" "$MP/$grow" || fail "$grow: after the server changed it (new size) and the TTL passed, the view still returns old bytes"
ok "$grow (new size $(stat -c %s "$MP/$grow")) reads the new content"
cmp "$TREE/$same" "$MP/$same" || fail "$same: after the server changed it (same size) and the TTL passed, the view still returns old bytes"
ok "$same (same size) reads the new content"

echo
echo "PASS: mount end to end"
