#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end (view handles under load): many threads open, list and close directories and open,
# read and close files of one view at once, so OPENDIR/READDIR/RELEASEDIR and OPEN/READ/RELEASE
# of many handles run on all of weir-node's request threads together and handle slots are reused
# while others are in flight. Every listing must equal the tree's and every read the file's bytes.
# Under build-tsan (scripts/test.sh's TSAN_E2E) this is the small test that reaches
# fuse/view.c's handle frees racing their last READDIR/OPEN/READ, which cluster reached before.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"

weir_test_setup e2e-handles
TIERS="mem:$WEIR_TIER_DIR/mem:256MiB"
ROUNDS=${WEIR_HANDLES_ROUNDS:-40}
THREADS=${WEIR_HANDLES_THREADS:-16}

step "a tree of 24 directories of 12 small files each, mounted as a local view in open mode"
TREE="$TMP/tree"
for d in $(seq -w 1 24); do
	mkdir -p "$TREE/d$d"
	for f in $(seq -w 1 12); do
		head -c $((RANDOM * 3 + 10#$f)) /dev/urandom >"$TREE/d$d/f$f.bin"
	done
done
weir_mount "local://$TREE" "$TMP/mp" --tier "$TIERS" --open-mode open --metadata-ttl 1
ok "mounted at $TMP/mp"

step "$THREADS threads x $ROUNDS rounds: list every directory, open/read/close every file"
timeout -k 5 300 python3 - "$TREE" "$TMP/mp" "$THREADS" "$ROUNDS" <<'PY' ||
import os, sys, threading, random
tree, mp, nthreads, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
dirs = sorted(os.listdir(tree))
want = {d: sorted(os.listdir(os.path.join(tree, d))) for d in dirs}
data = {}
for d in dirs:
    for f in want[d]:
        with open(os.path.join(tree, d, f), "rb") as fh:
            data[(d, f)] = fh.read()
errors = []
counts = [0, 0, 0]
lock = threading.Lock()

def worker(seed):
    rnd = random.Random(seed)
    n = [0, 0, 0]
    try:
        for _ in range(rounds):
            order = dirs[:]
            rnd.shuffle(order)
            for d in order:
                # opendir/readdir/closedir, often with the handle closed mid-listing
                with os.scandir(os.path.join(mp, d)) as it:
                    got = sorted(e.name for e in it)
                if got != want[d]:
                    raise AssertionError("listing of %s: %r, not %r" % (d, got, want[d]))
                n[0] += 1
                f = rnd.choice(want[d])
                p = os.path.join(mp, d, f)
                with open(p, "rb") as fh:
                    b = fh.read()
                if b != data[(d, f)]:
                    raise AssertionError("%s: %d bytes read differ from the tree's %d" %
                                         (p, len(b), len(data[(d, f)])))
                n[1] += 1
                # an open closed at once: RELEASE right behind its OPEN
                os.close(os.open(os.path.join(mp, d, rnd.choice(want[d])), os.O_RDONLY))
                n[2] += 1
    except Exception as e:  # noqa: BLE001 -- reported below with the thread's seed
        with lock:
            errors.append("thread %d: %s" % (seed, e))
    with lock:
        for i in range(3):
            counts[i] += n[i]

ts = [threading.Thread(target=worker, args=(i,)) for i in range(nthreads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
for e in errors:
    print("  " + e, file=sys.stderr)
print("  %d listings, %d reads compared, %d open/close" % tuple(counts))
expect = nthreads * rounds * len(dirs)
if errors or counts != [expect] * 3:
    sys.exit(1)
PY
	fail "a listing or a read through the view was wrong, or hung for 300 s (above)"
ok "every listing and every byte read equals the tree's"

step "every handle was released: weir-node holds no open file of the view, and is still up"
w stat "$TMP/mp" -o json >"$TMP/stat.json" 2>&1 || fail "weir stat failed: $(cat "$TMP/stat.json")"
open_files="$(json_get "$TMP/stat.json" open_files)" || fail "weir stat gives no open_files: $(cat "$TMP/stat.json")"
[ "$open_files" -eq 0 ] || fail "weir-node holds $open_files open files of $TMP/mp after every reader closed its own"
[ -n "$(weir_node_pid)" ] || fail "weir-node died under the load (log: $WEIR_STATE/node.log)"
ok "0 open files; weir-node $(weir_node_pid) up"
