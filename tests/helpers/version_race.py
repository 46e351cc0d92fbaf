#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Provokes, in a fixed order, what once gave a reader a silent short read in CI: a descriptor of
# version 1 open past the size of version 2, another process stats and reads the path after the
# metadata TTL (so the kernel learns version 2), then the old descriptor reads on. A descriptor
# must read all of its version or fail with ESTALE: never end early with no error, never get
# another version's bytes. Used by tests/e2e/sizechange.sh.
#
# Usage: version_race.py SCENARIO TREE_DIR VIEW_DIR ROUNDS TTL_S [--keep-going]
#   TREE_DIR is what the view at VIEW_DIR serves (the source's own directory), created here.
#   SCENARIO:
#     shrink   9 MiB -> 2 MiB; the old descriptor is 4 MiB in when it reads on
#     grow     2 MiB -> 9 MiB (other bytes); the old descriptor reads to its end, then a
#              descriptor of the new version that was open meanwhile reads on
#     etag     9 MiB -> 9 MiB of other bytes, same mtime second (only the ETag tells)
#     mmap     9 MiB -> 2 MiB; the old version is mapped and read whole before the change and
#              read again through the mapping after (SIGBUS is the only error a mapping has)
#     shrink-warm  as shrink, the file read whole once first (complete in the tier: passthrough
#              where the view has it)
#     retype   9 MiB file -> a directory of that name; a listing of it after the TTL, then the
#              old descriptor reads on (its inode must not turn into the directory's)
#     takeover as shrink, and once the new version has its own inode the shell command in
#              $VERSION_RACE_TAKEOVER runs (it kills weir-node and waits for the next one to take
#              the view over) before the old descriptor reads on
# Prints one line per round ("ok ..." or "FAIL ...") and a summary; exits 1 on the first failure,
# or, with --keep-going, after all rounds when any failed (the summary counts them).
import os
import random
import signal
import subprocess
import sys
import time

MIB = 1 << 20
ESTALE = 116


def data(seed, size):
    return random.Random(seed).randbytes(size)


def put(path, content, mtime):
    # a new file renamed over the old one: a new inode, so a new ETag even at the same mtime
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".new"
    with open(tmp, "wb") as f:
        f.write(content)
    os.utime(tmp, (mtime, mtime))
    os.rename(tmp, path)


def shrink_in_place(path, size, mtime):
    os.truncate(path, size)
    os.utime(path, (mtime, mtime))


CLOSE_ERRORS = []


def close(fd):
    """Closes fd; a failure (EIO from an inode the kernel made bad) fails the round."""
    try:
        os.close(fd)
    except OSError as e:
        CLOSE_ERRORS.append("close of a descriptor failed: %s" % e.strerror)


def read_exactly(fd, n):
    got = bytearray()
    while len(got) < n:
        b = os.read(fd, min(n - len(got), MIB))
        if not b:
            break
        got += b
    return bytes(got)


def read_rest(fd):
    """Reads to EOF. Returns (bytes, errno or 0)."""
    got = bytearray()
    try:
        while True:
            b = os.read(fd, MIB)
            if not b:
                return bytes(got), 0
            got += b
    except OSError as e:
        return bytes(got), e.errno


def judge(what, got, err, old, extra_ok=()):
    """A descriptor of version `old`: all of it, or a prefix of it then ESTALE."""
    if err == 0:
        if got == old:
            return None, "%s read all %d bytes of its version" % (what, len(got))
        if len(got) < len(old) and old.startswith(got):
            return ("%s: SHORT READ: the read ended with no error after %d of its version's "
                    "%d bytes" % (what, len(got), len(old))), None
        return ("%s: the read succeeded with %d bytes that are not its version's (first "
                "difference at %d)" % (what, len(got), first_diff(got, old))), None
    if err not in (ESTALE,) + tuple(extra_ok):
        return "%s: the read failed with %s after %d bytes; a changed version must give ESTALE" % (
            what, os.strerror(err), len(got)), None
    if not old.startswith(got):
        return "%s: the %d bytes before %s are not its version's (first difference at %d)" % (
            what, len(got), os.strerror(err), first_diff(got, old)), None
    return None, "%s read %d bytes of its version, then %s" % (what, len(got), os.strerror(err))


def first_diff(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return min(len(a), len(b))


def stat_size(path):
    out = subprocess.run(["stat", "-c", "%s", path], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        return "stat failed: " + out.stderr.strip()
    return int(out.stdout)


def cat(path):
    out = subprocess.run(["cat", path], capture_output=True, timeout=120)
    return out.returncode, out.stdout, out.stderr.decode(errors="replace").strip()


def fresh_checks(path, new):
    """Another process reads the path after the change: the new version, whole; stat agrees."""
    rc, got, err = cat(path)
    if rc != 0:
        return "a fresh cat of %s failed (%d): %s" % (path, rc, err)
    if got != new:
        return "a fresh cat of %s read %d bytes that are not the new version's %d" % (
            path, len(got), len(new))
    sz = stat_size(path)
    if sz != len(new):
        return "stat %s says %s after a fresh read of the new version (%d bytes)" % (
            path, sz, len(new))
    return None


def mapped_read(m, size):
    """Reads mapping m in a child (a SIGBUS kills the child, not us). Returns (bytes, how the
    child ended: 0, a signal's name, or an exit code)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        for off in range(0, size, 65536):
            os.write(w, m[off:off + 65536])
        os._exit(0)
    os.close(w)
    got = bytearray()
    while True:
        b = os.read(r, 1 << 16)
        if not b:
            break
        got += b
    os.close(r)
    _, st = os.waitpid(pid, 0)
    if os.WIFSIGNALED(st):
        return bytes(got), signal.Signals(os.WTERMSIG(st)).name
    return bytes(got), os.WEXITSTATUS(st)


def fstat_check(what, fd, old):
    """A descriptor's fstat gives its own version's size (a reader that sizes its buffer or
    its copy by it, as tar does, must not see the next version's)."""
    sz = os.fstat(fd).st_size
    if sz != len(old):
        return "%s: fstat says %d bytes, not its version's %d" % (what, sz, len(old))
    return None


def takeover():
    cmd = os.environ.get("VERSION_RACE_TAKEOVER")
    if not cmd:
        sys.exit("scenario takeover needs VERSION_RACE_TAKEOVER (a command that restarts weir-node)")
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        return "the takeover command failed (%d): %s" % (out.returncode,
                                                         (out.stdout + out.stderr).strip())
    return None


def round_shrink(tree, view, i, ttl, warm, scenario=None):
    name = round_name(scenario or ("shrink-warm" if warm else "shrink"), i)
    src, path = os.path.join(tree, name), os.path.join(view, name)
    old = data("s1-%d" % i, 9 * MIB)
    new = old[:2 * MIB]
    if warm:
        rc, got, err = cat(path)
        if rc != 0 or got != old:
            return "warming %s: cat gave %d bytes, rc %d %s" % (path, len(got), rc, err), None
    fd = os.open(path, os.O_RDONLY)
    try:
        first = read_exactly(fd, 4 * MIB + 49152)
        if first != old[:len(first)] or len(first) != 4 * MIB + 49152:
            return "the old descriptor's first read got %d wrong bytes" % len(first), None
        shrink_in_place(src, 2 * MIB, int(time.time()) + 10)
        time.sleep(ttl + 0.2)
        # another process learns the new size (LOOKUP/GETATTR after the TTL) and reads it
        sz1 = stat_size(path)
        err = fresh_checks(path, new)
        if err:
            return err, None
        if scenario == "takeover":
            err = takeover() or fresh_checks(path, new)
            if err:
                return err, None
        sz2 = stat_size(path)
        # within the attribute TTL of that stat: the old descriptor reads on
        rest, e = read_rest(fd)
        what = "the descriptor opened at 9 MiB"
        bad, good = judge(what, first + rest, e, old)
        if bad:
            return bad + " (stat by path said %s, then %s)" % (sz1, sz2), None
        return fstat_check(what, fd, old), good
    finally:
        close(fd)


def changed_under_descriptor(path, old, what, change):
    """Opens path (version old), reads its first 4 MiB + 48 KiB, lets change() alter the source
    (it returns an error text or None), then reads the rest through the same descriptor: the
    bytes must all be old's or end in an error, never a mix. Returns (bad, good)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        first = read_exactly(fd, 4 * MIB + 49152)
        if first != old[:len(first)]:
            return "the old descriptor's first read got wrong bytes", None
        err = change()
        if err:
            return err, None
        rest, e = read_rest(fd)
        bad, good = judge(what, first + rest, e, old)
        return bad or fstat_check(what, fd, old), good
    finally:
        close(fd)


def round_etag(tree, view, i, ttl):
    name = round_name("etag", i)
    src, path = os.path.join(tree, name), os.path.join(view, name)
    old = data("e1-%d" % i, 9 * MIB)
    new = data("e2-%d" % i, 9 * MIB)
    mtime = int(os.stat(src).st_mtime)

    def change():
        put(src, new, mtime)
        time.sleep(ttl + 0.2)
        return fresh_checks(path, new)
    return changed_under_descriptor(path, old, "the descriptor of the first ETag", change)


def round_grow(tree, view, i, ttl):
    name = round_name("grow", i)
    src, path = os.path.join(tree, name), os.path.join(view, name)
    old = data("g1-%d" % i, 2 * MIB)
    new = data("g2-%d" % i, 9 * MIB)
    fd = os.open(path, os.O_RDONLY)
    fd2 = -1
    try:
        first = read_exactly(fd, MIB)
        if first != old[:MIB]:
            return "the old descriptor's first read got wrong bytes", None
        put(src, new, int(time.time()) + 10)
        time.sleep(ttl + 0.2)
        fd2 = os.open(path, os.O_RDONLY)
        first2 = read_exactly(fd2, MIB)
        sz = stat_size(path)
        rest, e = read_rest(fd)  # to the old version's end: 2 MiB
        bad, good = judge("the descriptor opened at 2 MiB", first + rest, e, old)
        if bad:
            return bad, None
        bad = fstat_check("the descriptor opened at 2 MiB", fd, old)
        if bad:
            return bad, None
        rest2, e2 = read_rest(fd2)
    finally:
        close(fd)
        if fd2 >= 0:
            close(fd2)
    bad2, good2 = judge("the descriptor opened at 9 MiB", first2 + rest2, e2, new)
    if bad2 is None and e2 != 0:
        bad2 = ("the descriptor opened at 9 MiB (the current version) failed: %s after %d "
                "bytes" % (os.strerror(e2), len(first2 + rest2)))
    if bad2:
        return bad2 + " (stat by path said %s)" % sz, None
    return None, good + "; " + good2


def round_retype(tree, view, i, ttl):
    name = round_name("retype", i)
    src, path = os.path.join(tree, name), os.path.join(view, name)
    old = data("t1-%d" % i, 9 * MIB)

    def change():
        os.unlink(src)
        os.mkdir(src)
        with open(os.path.join(src, "inside"), "wb") as f:
            f.write(b"a file in the directory that replaced f.bin\n")
        time.sleep(ttl + 0.2)
        out = subprocess.run(["ls", path], capture_output=True, text=True, timeout=60)
        if out.returncode != 0 or out.stdout.split() != ["inside"]:
            return "ls %s (now a directory at the source) gave %d: %s %s" % (
                path, out.returncode, out.stdout.strip(), out.stderr.strip())
        return None
    return changed_under_descriptor(path, old, "the descriptor of the file", change)


def round_mmap(tree, view, i, ttl):
    import mmap
    name = round_name("mmap", i)
    src, path = os.path.join(tree, name), os.path.join(view, name)
    old = data("m1-%d" % i, 9 * MIB)
    new = old[:2 * MIB]
    fd = os.open(path, os.O_RDONLY)
    m = mmap.mmap(fd, len(old), prot=mmap.PROT_READ)
    try:
        got, end = mapped_read(m, len(old))
        if end != 0 or got != old:
            return "the mapping read %d bytes (end: %s) before any change, not the file's" % (
                len(got), end), None
        shrink_in_place(src, 2 * MIB, int(time.time()) + 10)
        time.sleep(ttl + 0.2)
        err = fresh_checks(path, new)
        if err:
            return err, None
        stat_size(path)
        got, end = mapped_read(m, len(old))
    finally:
        m.close()
        close(fd)
    if not old.startswith(got):
        return "the old mapping read bytes that are not its version's (first difference at %d)" % (
            first_diff(got, old)), None
    if end != 0:
        return None, "the old mapping read %d bytes of its version, then %s" % (len(got), end)
    return None, "the old mapping read all %d bytes of its version" % len(got)


def round_name(scenario, i):
    # one directory per round: opens of a directory's files in listing order make the view
    # fetch the next files ahead, and a file complete in the tier opens in passthrough, whose
    # reads do not go through the inode's size (shrink-warm asks for that on purpose)
    return "%s-%d/f.bin" % (scenario, i)


def setup(scenario, tree, rounds):
    now = int(time.time()) - 100
    first = {"shrink": ("s1", 9), "shrink-warm": ("s1", 9), "etag": ("e1", 9), "grow": ("g1", 2),
             "mmap": ("m1", 9), "takeover": ("s1", 9), "retype": ("t1", 9)}
    if scenario not in first:
        sys.exit("unknown scenario \"%s\"" % scenario)
    seed, mib = first[scenario]
    for i in range(rounds):
        put(os.path.join(tree, round_name(scenario, i)), data("%s-%d" % (seed, i), mib * MIB), now)


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__ if __doc__ else "usage: version_race.py SCENARIO TREE VIEW ROUNDS TTL_S")
    scenario, tree, view, rounds, ttl = sys.argv[1], sys.argv[2], sys.argv[3], int(
        sys.argv[4]), float(sys.argv[5])
    keep_going = "--keep-going" in sys.argv[6:]
    os.makedirs(tree, exist_ok=True)
    setup(scenario, tree, rounds)
    time.sleep(ttl + 0.2)  # the view's listing of the directory predates the files
    fails = 0
    for i in range(rounds):
        if scenario == "shrink":
            bad, good = round_shrink(tree, view, i, ttl, False)
        elif scenario == "shrink-warm":
            bad, good = round_shrink(tree, view, i, ttl, True)
        elif scenario == "takeover":
            bad, good = round_shrink(tree, view, i, ttl, False, "takeover")
        elif scenario == "retype":
            bad, good = round_retype(tree, view, i, ttl)
        elif scenario == "etag":
            bad, good = round_etag(tree, view, i, ttl)
        elif scenario == "grow":
            bad, good = round_grow(tree, view, i, ttl)
        else:
            bad, good = round_mmap(tree, view, i, ttl)
        if not bad and CLOSE_ERRORS:
            bad = CLOSE_ERRORS[0]
        del CLOSE_ERRORS[:]
        if bad:
            fails += 1
            print("FAIL %s round %d: %s" % (scenario, i, bad), flush=True)
            if not keep_going:
                break
        else:
            print("ok %s round %d: %s" % (scenario, i, good), flush=True)
    print("%s: %d of %d rounds failed" % (scenario, fails, i + 1), flush=True)
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
