#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end, cold reads of many small files under churn: a local:// source whose pages are
# dropped from the page cache (so each UFS read waits for the disk and the kernel finishes it
# later), a no-open view with a fresh state and tier each round, and more parallel readers than
# weir-node keeps idle FUSE workers (libfuse ends the extra ones, with the prefetch reads they
# queued still in flight). Every file a reader gets is compared with the source (cmp) and no read
# may fail: a read queued by a thread that ended used to come back "Bad address" (EFAULT).
#   COLDSTRESS_ROUNDS (default 4), COLDSTRESS_READERS (default 24)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"

weir_test_tmp e2e-coldstress
command -v fincore >/dev/null || fail "fincore is missing: install util-linux (scripts/install-deps.sh)"
ROUNDS="${COLDSTRESS_ROUNDS:-4}"
READERS="${COLDSTRESS_READERS:-24}"
echo "weir: $WEIR_BIN; weir-node: $WEIR_NODE_BIN; work dir: $TMP"

step "a source of 20 directories x 150 small files (4-16 KiB) and 4 of 6 MiB, on disk"
SRC="$TMP/src"
python3 - "$SRC" <<'PY'
import os, random, sys
r = random.Random(7)
root = sys.argv[1]
for d in range(20):
    os.makedirs(f"{root}/d{d}", exist_ok=True)
    for i in range(150):
        with open(f"{root}/d{d}/f{i}", "wb") as f:
            f.write(r.randbytes(r.randint(4096, 16384)))
for i in range(4):
    with open(f"{root}/big{i}", "wb") as f:
        f.write(r.randbytes(6 * 1024 * 1024 + r.randint(1, 65536)))
PY
sync -f "$SRC"
NFILES="$(find "$SRC" -type f | wc -l)"
ok "$NFILES files"

# drop_source: the source's pages out of the page cache (only its own files: no machine-wide
# drop), and a check that they went, since a source whose pages stay (tmpfs) would test nothing.
drop_source() {
	find "$SRC" -type f -print0 | python3 -c '
import os, sys
for p in sys.stdin.buffer.read().split(b"\0"):
    if p:
        fd = os.open(p, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)'
	local res
	res="$(fincore -b -n -o RES "$SRC/d0/f0" "$SRC/d7/f3" "$SRC/big0" | awk '{ s += $1 } END { print s + 0 }')"
	[ "$res" -eq 0 ] || fail "the source's pages stay in the page cache ($res bytes resident after POSIX_FADV_DONTNEED; is $TMP on tmpfs?): the cold reads this test needs cannot happen"
}

for round in $(seq 1 "$ROUNDS"); do
	step "round $round of $ROUNDS: fresh state and tier, source pages dropped, $READERS readers compare every file"
	weir_setup "$TMP/r$round"
	drop_source
	V="$TMP/r$round/v"
	weir_mount "local://$SRC" "$V" --tier "mem:$WEIR_TIER_DIR/mem:1GiB" --open-mode no-open >/dev/null
	# each reader compares a batch of files and prints the ones that differ or fail to read
	(cd "$SRC" && find . -type f -print0 | shuf -z --random-source=<(yes "$round")) |
		xargs -0 -P "$READERS" -n 30 sh -c 'v="$1"; shift; for f; do cmp -s "$0/$f" "$v/$f" || echo "$f"; done' "$SRC" "$V" \
			>"$TMP/bad.$round" || true
	nbad="$(wc -l <"$TMP/bad.$round")"
	if [ "$nbad" -gt 0 ]; then
		note "differ or failed: $(head -5 "$TMP/bad.$round" | tr '\n' ' ')"
		grep -E "failed|Bad address" "$WEIR_STATE/node.log" | head -5 >&2 || true
		fail "round $round: $nbad of $NFILES files read through the view differ from the source or failed"
	fi
	if grep -q "Bad address" "$WEIR_STATE/node.log"; then
		grep "Bad address" "$WEIR_STATE/node.log" | head -5 >&2
		fail "round $round: weir-node logged a read that failed with Bad address (EFAULT)"
	fi
	ok "$NFILES files read cold, all bytes the source's; no failed read logged"
	weir_stop_node
done
