// SPDX-License-Identifier: Apache-2.0
// Thread classes on the kernel's EEVDF scheduler (see thread_class.h). Measured with
// bench/evict-stall.sh (bench/README.md): a tier hit's 4 KiB READ waited milliseconds for a CPU,
// never for a lock, while a streaming reader's fetches, tier writes, evictions and miss replies
// ran beside it; the reader the hit answers waits again for a CPU after the reply.
// What the two classes use, and why not nice or SCHED_IDLE:
// - The slice (sched_attr.sched_runtime, Linux >= 6.12): among the runnable tasks that are
//   owed CPU time, the one with the earliest virtual deadline (vruntime + slice / weight) runs
//   first, and a running task keeps its CPU against a waking one for a protected slice that
//   no queued task's shorter slice outlasts (RUN_TO_PARITY); a wake-up that does not preempt
//   waits for a sleep or the next tick (4 ms at HZ 250). REQUEST threads take the shortest
//   slice there is (0.1 ms): they go first and cut short whatever runs while they wait. BULK
//   threads take a long one: they go after the readers and after the requests.
// - SCHED_BATCH for BULK threads: their own wake-ups (a completion, a queued block) never
//   preempt anything; they run when a CPU frees up or at the next tick. Their weight stays
//   nice's, so bulk work keeps its share of the CPU under load, only ever delayed by a few ms
//   at a time, which a fetch or a tier write does not notice (bench/cold-local.sh).
// - nice (tried: the evictor and fetch threads at nice +5 changed nothing measurable) scales
//   a task's share, not when it runs; SCHED_IDLE would starve a miss's fetch behind any busy
//   process on the machine.
#include "thread_class.h"

#include <errno.h>
#include <linux/sched.h>
#include <linux/sched/types.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

#define REQUEST_SLICE_NS 100000ull /* the kernel's minimum custom slice */
#define BULK_SLICE_NS 10000000ull

int thread_class_set(enum thread_class c)
{
	/* The thread's nice stays (sched_setattr sets it too: from what sched_getattr said). */
	struct sched_attr a = {0};
	if (syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0) < 0)
		return -errno;
	/* A policy someone chose for the whole process (chrt: FIFO, RR, IDLE) stays. */
	if (a.sched_policy != SCHED_NORMAL && a.sched_policy != SCHED_BATCH)
		return 0;
	a.size = sizeof(a);
	a.sched_flags = 0;
	a.sched_policy = c == THREAD_CLASS_BULK ? SCHED_BATCH : SCHED_NORMAL;
	a.sched_runtime = c == THREAD_CLASS_BULK ? BULK_SLICE_NS : REQUEST_SLICE_NS;
	/* pid 0: the calling thread (sched_setattr acts on a thread, not the process) */
	int r = syscall(SYS_sched_setattr, 0, &a, 0) == 0 ? 0 : -errno;
	if (r == -EINVAL) {
		/* a kernel that takes no slice for a fair policy (sched_runtime must be 0 there) */
		a.sched_runtime = 0;
		r = syscall(SYS_sched_setattr, 0, &a, 0) == 0 ? 0 : -errno;
	}
	if (r < 0)
		log_debug("thread class %s: sched_setattr: %s",
			  c == THREAD_CLASS_BULK ? "bulk" : "request", strerror(-r));
	return r;
}
