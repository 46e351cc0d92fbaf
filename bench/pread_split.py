#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Where a probe's slow pread(2)s spent their time (bench/evict-stall.sh BENCH_SPLIT=1): from
# `perf script -F pid,time,event,trace` of syscalls:sys_{enter,exit}_pread64 and
# fuse:fuse_request_{send,end}, for the preads of process PID over LIMIT_MS: the time before its
# first FUSE request was sent, inside its requests (by opcode: READ 15, GETATTR 3, ...), between
# them, and after the last reply until the syscall returned. With sched:sched_switch in the
# trace (BENCH_OFFCPU=1), the time before the first request is split too: the probe off its CPU
# runnable (preempted, and by whom) or asleep (blocked, in which state). A request is matched
# to a pread only when the probe itself sent it: one the kernel left in its background queue and
# another process's reply sent later is not seen, and its time counts before the first request
# (where the probe waited for it) or as "no FUSE request".
# usage: perf script ... | pread_split.py LABEL PID LIMIT_MS
import collections
import re
import sys

label, pid, limit = sys.argv[1], sys.argv[2], float(sys.argv[3]) / 1e3
line_re = re.compile(r"^\s*(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)$")
preads, cur, reqs = [], None, {}
switch_re = re.compile(r"prev_comm=(.*?) prev_pid=(\d+) .*?prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)")
offs = []  # (out, in, state, who took the CPU, stack) of the probe
stack_of = None  # the switch whose call stack (perf script's ip sym lines) follows
frame_re = re.compile(r"^\s+[0-9a-f]+\s+(\S+)")
for line in sys.stdin:
    m = line_re.match(line)
    if not m:
        f = frame_re.match(line)
        if f and stack_of is not None:
            sym = f.group(1).split("+")[0]
            if sym not in ("__schedule", "schedule", "schedule_preempt_disabled", "io_schedule") \
                    and len(stack_of[4]) < 4:
                stack_of[4].append(sym)
        elif not line.strip():
            stack_of = None
        continue
    stack_of = None
    p, t, ev, rest = m.group(1), float(m.group(2)), m.group(3), m.group(4)
    if ev.endswith("sys_enter_pread64") and p == pid:
        cur = {"t0": t, "req": []}
    elif ev.endswith("sys_exit_pread64") and p == pid and cur:
        cur["t1"] = t
        preads.append(cur)
        cur = None
    elif ev.endswith("fuse_request_send") and p == pid and cur:
        f = dict(re.findall(r"(\w+) (\S+)", rest))
        key = (f.get("connection"), f.get("req"))
        r = {"op": f.get("opcode", "?"), "send": t}
        reqs[key] = r
        cur["req"].append(r)
    elif ev.endswith("sched_switch"):
        sm = switch_re.search(rest)
        if sm and sm.group(2) == pid:
            offs.append([t, None, sm.group(3), sm.group(4), []])
            stack_of = offs[-1]
        elif sm and sm.group(5) == pid and offs and offs[-1][1] is None:
            offs[-1][1] = t
    elif ev.endswith("fuse_request_end"):
        f = dict(re.findall(r"(\w+) (\S+)", rest))
        r = reqs.pop((f.get("connection"), f.get("req")), None)
        if r:
            r["end"] = t
slow = [x for x in preads if "t1" in x and x["t1"] - x["t0"] > limit]
if not preads:
    sys.exit(f"{label}: the trace holds no pread of process {pid}")
parts = collections.Counter()
before = collections.Counter()
total = 0.0
for x in slow:
    total += x["t1"] - x["t0"]
    done = [r for r in x["req"] if "end" in r]
    if not done:
        parts["no FUSE request"] += x["t1"] - x["t0"]
        continue
    parts["before the first request"] += done[0]["send"] - x["t0"]
    for o in offs:
        if o[1] is None or o[1] <= x["t0"] or o[0] >= done[0]["send"]:
            continue
        span = min(o[1], done[0]["send"]) - max(o[0], x["t0"])
        kind = ("runnable, CPU taken by " + o[3] if o[2].startswith("R")
                else "asleep (" + o[2] + ": " + ";".join(o[4]) + ")")
        before[kind] += span
    for i, r in enumerate(done):
        parts[f"in FUSE opcode {r['op']}"] += r["end"] - r["send"]
        if i:
            parts["between requests"] += r["send"] - done[i - 1]["end"]
    parts["after the last reply"] += x["t1"] - done[-1]["end"]
print(f"pread split {label}: {len(slow)} of {len(preads)} preads over {limit * 1e3:g} ms, "
      f"{total * 1e3:.1f} ms in all: "
      + ", ".join(f"{k} {v * 1e3:.1f} ms ({v / total:.0%})" for k, v in parts.most_common())
      if total else f"pread split {label}: none of {len(preads)} preads over {limit * 1e3:g} ms")
if before:
    print(f"pread split {label}, before the first request, off the CPU: "
          + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in before.most_common(6)))
