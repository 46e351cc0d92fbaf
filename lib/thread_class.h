/* SPDX-License-Identifier: Apache-2.0 */
/* How a weir thread shares the CPU: a thread that answers a request a reader is waiting for
 * now must get a CPU the moment that request comes, ahead of the bulk work (fetch
 * completions, tier writes, eviction, the replies of misses) that a streaming reader keeps
 * going beside it. Every long-lived thread says which it is, once, at its start. */
#pragma once

enum thread_class {
	/* Answers requests a reader waits for now (libfuse's workers: a tier hit is answered
	 * there, start to end): SCHED_OTHER with the shortest slice the kernel grants (0.1 ms). */
	THREAD_CLASS_REQUEST,
	/* Moves bytes for work already under way: SCHED_BATCH with a long slice (10 ms), its
	 * CPU share unchanged (the thread's nice stays). */
	THREAD_CLASS_BULK,
};

/* Puts the calling thread in class c; threads it starts later inherit it (until they set
 * their own). Returns 0 or -errno; a kernel without custom slices (before Linux 6.12) gets
 * the policy alone; a thread at a policy other than SCHED_OTHER or SCHED_BATCH (a process
 * started under chrt) is left as it is. Any thread may call it, for itself only. */
int thread_class_set(enum thread_class c);
