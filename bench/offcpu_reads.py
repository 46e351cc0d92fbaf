# SPDX-License-Identifier: Apache-2.0
# Where the slow READs of one process spent weir-node's share (bench/evict-stall.sh with
# BENCH_OFFCPU=1): reads `perf script` of a trace holding fuse:fuse_request_send/_end and
# sched:sched_switch with call stacks (-g), and for each READ of PID slower than LIMIT ms splits
# the time from its request to weir-node's reply into: waiting for a CPU (the worker woken, not
# yet running: the task it finally took the CPU from is named), preempted, and blocked (a lock,
# I/O: the worker's stack when it slept). Prints one summary line. With sched:sched_wakeup in
# the trace too, a second line: what follows weir-node's reply, the wait of PID itself from its
# wake-up (the reply) to running again, which no thread of weir-node's does, and whom it took the
# CPU from when that was over LIMIT ms; with the p99 of each part over all READs.
# usage: perf script -F comm,pid,tid,cpu,time,event,trace,ip,sym | offcpu_reads.py LABEL PID LIMIT_MS
import bisect
import collections
import re
import sys

label, probe, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) / 1e3
hdr = re.compile(r"^\s*(\S.*?)\s+(\d+)/(\d+)\s+\[\d+\]\s+([\d.]+):\s+(\S+):\s*(.*)$")
switch = re.compile(r"prev_comm=(.*?) prev_pid=(\d+) .*?prev_state=(\S+) ==> next_comm=.*? next_pid=(\d+)")
wakeup = re.compile(r" pid=(\d+) ")


def field(trace, key):
    p = trace.split()
    for i, x in enumerate(p[:-1]):
        if x == key:
            return p[i + 1]
    return None


sent, reads, tgid = {}, [], {}
runs = collections.defaultdict(list)  # tid -> [(t, "in"|"out", prev comm, prev tgid, state, stack)]
woken = []  # times PID was woken (sched_wakeup), in order
cur = None
for line in sys.stdin:
    m = hdr.match(line)
    if not m:
        if cur is not None and line.strip():
            cur.append(line.split()[-1])
        continue
    cur = None
    pid, tid, t, event, trace = int(m.group(2)), int(m.group(3)), float(m.group(4)), m.group(5), m.group(6)
    tgid[tid] = pid
    if event == "fuse:fuse_request_send" and pid == probe and "FUSE_READ" in trace:
        sent[(field(trace, "connection"), field(trace, "req"))] = t
    elif event == "fuse:fuse_request_end":
        t0 = sent.pop((field(trace, "connection"), field(trace, "req")), None)
        if t0 is not None:
            reads.append((t0, t, tid))
    elif event == "sched:sched_switch":
        s = switch.search(trace)
        if s:
            stack = []
            runs[int(s.group(2))].append((t, "out", None, None, s.group(3), stack))
            runs[int(s.group(4))].append((t, "in", s.group(1), pid, None, None))
            cur = stack
    elif event == "sched:sched_wakeup":
        w = wakeup.search(trace)
        if w and int(w.group(1)) == probe:
            woken.append(t)
if not reads:
    sys.exit(f"{label}: the trace holds no READ of process {probe} with its reply")
slow = [r for r in reads if r[1] - r[0] > limit]
total = wait = pre = blocked = 0.0
behind, stacks = collections.Counter(), collections.Counter()
for t0, t1, worker in slow:
    total += t1 - t0
    ev = [e for e in runs[worker] if t0 <= e[0] <= t1]
    first = next((e for e in ev if e[1] == "in"), None)
    if first is None:
        continue  # ran all along (it answered without a switch)
    wait += first[0] - t0
    # weir-node's threads by their names (weir-fuse, weir-uring, iou-wrk-N: its io_uring workers)
    name = f"this weir-node:{first[2]}" if first[3] == tgid.get(worker) else first[2]
    behind[name] += first[0] - t0
    out = None
    for e in ev:
        if e[0] < first[0]:
            continue
        if e[1] == "out":
            out = e
        elif out is not None:
            if out[4].startswith("R"):
                pre += e[0] - out[0]
            else:
                blocked += e[0] - out[0]
                frames = [f for f in out[5] if not f.startswith(("__traceiter", "__schedule", "schedule"))]
                stacks[";".join(frames[:4])] += e[0] - out[0]
            out = None


def pct(x):
    return f"{100 * x / total:.0f}%" if total else "-"


print(f"offcpu {label}: {len(slow)} of {len(reads)} READs over {limit * 1e3:g} ms, {total * 1e3:.1f} ms of "
      f"weir-node's share in all: waiting for a CPU {pct(wait)} (took it from: "
      + ", ".join(f"{k} {v * 1e3:.1f}" for k, v in behind.most_common(5))
      + f"), preempted {pct(pre)}, blocked {pct(blocked)}"
      + (" (" + ", ".join(f"{k} {v * 1e3:.1f}" for k, v in stacks.most_common(3)) + ")" if stacks else ""))


def p99(x):
    x = sorted(x)
    return x[min(len(x) - 1, int(0.99 * len(x)))] if x else 0.0


if woken:
    # The probe's wake-up by the reply: the first at or after it (within 0.5 ms: its own);
    # running again: its next switch in.
    ins = [e[0] for e in runs[probe] if e[1] == "in"]
    weir = {tgid.get(r[2]) for r in reads}  # the process that replied
    prevs = {e[0]: f"this weir-node:{e[2]}" if e[3] in weir else e[2] for e in runs[probe] if e[1] == "in"}
    share, own, late, took = [], [], 0, collections.Counter()
    for t0, t1, _ in reads:
        i = bisect.bisect_left(woken, t1)
        if i == len(woken) or woken[i] - t1 > 5e-4:
            continue
        j = bisect.bisect_left(ins, woken[i])
        if j == len(ins):
            continue
        w = ins[j] - woken[i]
        share.append(t1 - t0)
        own.append(w)
        if w > limit:
            late += 1
            took[prevs[ins[j]]] += w
    print(f"offcpu {label}: after the reply, {late} of {len(own)} READs waited over {limit * 1e3:g} ms for a CPU "
          f"in process {probe} itself, {sum(x for x in own if x > limit) * 1e3:.1f} ms in all (took it from: "
          + ", ".join(f"{k} {v * 1e3:.1f}" for k, v in took.most_common(5))
          + f"); p99 request to reply {p99(share) * 1e3:.2f} ms, reply to running {p99(own) * 1e3:.2f} ms, "
          f"both {p99([a + b for a, b in zip(share, own)]) * 1e3:.2f} ms")
