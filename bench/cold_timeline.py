#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A cold cp -R's timeline (bench/cold-warm.sh BENCH_ONLY=timeline): for each file, in the order
cp opened it, when cp opened it, when the server began its first request and ended its last
(nginx's timing.log: each request's end and duration), and how many requests it took; then how
long the link had each number of requests in flight, so idle connections at a file's tail or
between files show up.

usage: cold_timeline.py TIMING_LOG STRACE_OPENS PREFIX CONNS
  TIMING_LOG    nginx's log of '$msec $request_time "$request" "$http_range"' lines
  STRACE_OPENS  strace -f -ttt -e trace=openat output of the cp
  PREFIX        the tree's directory (spark-3.3.1): only its files are counted
  CONNS         the connections the reader had (weir's --fetch-concurrency)
"""
import re
import sys


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    timing, opens_path, prefix, conns = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    reqs = {}  # name -> [(start, end)]
    spans = []
    for line in open(timing):
        m = re.match(r'(\S+) (\S+) "(\S+) (\S+) [^"]*" "([^"]*)"', line)
        if not m or m.group(3) != "GET":
            continue
        end, dur, path = float(m.group(1)), float(m.group(2)), m.group(4)
        pre = "/" + prefix + "/"
        if not path.startswith(pre):
            continue
        name = path[len(pre):]
        reqs.setdefault(name, []).append((end - dur, end))
        spans.append((end - dur, end))
    opened = {}  # name -> first open
    for line in open(opens_path):
        m = re.match(r'(?:\d+ +)?(\d+\.\d+) openat\([^,]*, "([^"]*)", ([^,)]*)', line)
        if not m or "O_RDONLY" not in m.group(3) or "O_DIRECTORY" in m.group(3):
            continue
        path = m.group(2)
        i = path.find("/" + prefix + "/")
        if i < 0:
            continue
        name = path[i + len(prefix) + 2:]
        if name and name not in opened:
            opened[name] = float(m.group(1))
    if not spans or not opened:
        sys.exit("no requests or no opens of %s/ in the logs" % prefix)
    t0 = min(min(s for s, _ in spans), min(opened.values()))
    print("%-44s %8s %8s %8s %5s  %s" % ("file (in cp's order)", "open s", "1st req", "last end",
                                          "reqs", "open - last end"))
    for name in sorted(opened, key=opened.get):
        r = reqs.get(name, [])
        first = min((s for s, _ in r), default=None)
        last = max((e for _, e in r), default=None)
        fmt = lambda t: "%8.3f" % (t - t0) if t is not None else "%8s" % "-"
        # negative: cp's open came before the file's bytes were all in (it waited for them)
        lag = "%+.3f" % (opened[name] - last) if last is not None else "-"
        print("%-44s %s %s %s %5d  %s" % (name[-44:], fmt(opened[name]), fmt(first), fmt(last),
                                          len(r), lag))
    # requests in flight over time: the time spent at each count (0 = the link idle)
    ev = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    hist = {}
    n, prev = 0, ev[0][0]
    for t, d in ev:
        hist[n] = hist.get(n, 0.0) + (t - prev)
        n += d
        prev = t
    total = ev[-1][0] - ev[0][0]
    print("first request to last end: %.3f s; time with k requests in flight:" % total)
    buckets = [("0 (idle)", 0, 0), ("1-%d" % (conns // 2), 1, conns // 2),
               ("%d-%d" % (conns // 2 + 1, conns - 1), conns // 2 + 1, conns - 1),
               (">= %d" % conns, conns, 1 << 30)]
    for label, lo, hi in buckets:
        s = sum(v for k, v in hist.items() if lo <= k <= hi)
        print("  %-10s %.3f s (%.0f%%)" % (label, s, 100 * s / total if total else 0))
    slot = sum(v * max(0, conns - k) for k, v in hist.items())
    print("idle connection-seconds: %.3f (%.0f%% of %d connections over the span)" %
          (slot, 100 * slot / (conns * total) if total else 0, conns))


if __name__ == "__main__":
    main()
