/* SPDX-License-Identifier: Apache-2.0 */
/* File I/O as a queue on io_uring: requests are queued (many at once, from any thread), stay in
 * flight together, and each ring's reaper thread hands them to the kernel, reaps completions in
 * batches and wakes their waiters. A request outlives the thread that queued it (the kernel ties
 * a waiting request to the thread that entered it into the ring: here always the reaper). A request
 * owns its buffer from its submission until its completion is reaped: a wait that gives up (a
 * timeout) leaves it in flight, and only uring_io_cancel() (which waits for the completion) or a
 * later wait hands the buffer back. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

struct uring_io;
struct uring_ring;

/* One read or write. The caller owns the struct and fills fd, buf, len, off and write; it must
 * stay valid, and buf untouched, from uring_io_submit() until a uring_io_wait() returned its
 * result or uring_io_cancel() returned. */
struct uring_io_req {
	int fd;
	bool write;
	void *buf;
	unsigned len;
	uint64_t off;
	/* NULL: a waiter takes the result (uring_io_wait/cancel). Else the queue calls it with the
	 * result once the completion is reaped, on the reaper thread (inline at submission in
	 * the pread/pwrite fallback): it must not block (the reaper reaps nothing meanwhile), may
	 * queue more requests (uring_io_submit never waits), may free req; nobody waits on req. */
	void (*complete)(struct uring_io_req *req, int res);
	/* Private: set by the queue. */
	STAILQ_ENTRY(uring_io_req) link;   /* in its ring's pending list while queued */
	bool queued;			   /* under the ring's pending_lock: in that list */
	SLIST_ENTRY(uring_io_req) cb_link; /* the reaper's batch of callbacks */
	int res; /* the completion's result: written before state turns done, read after */
	/* pending, pending with a waiter asleep on it (a futex word), or done: the reaper wakes
	 * only the waiter of the request it reaped, never the ring's other waiters. */
	_Atomic uint32_t state;
	struct uring_ring *ring; /* where it was submitted; NULL for the pread/pwrite fallback */
};

/* Creates nrings rings of depth entries each, with a reaper thread per ring. Returns 0 and an
 * owned *ret, or -errno (-ENOSYS or -EPERM where io_uring is unavailable: seccomp,
 * io_uring_disabled). nrings 0 makes an instance that does the same I/O with pread(2)/pwrite(2)
 * at submission, for such hosts. */
int uring_io_new(unsigned nrings, unsigned depth, struct uring_io **ret);
/* NULL is fine. No request may be in flight. */
void uring_io_free(struct uring_io *u);

/* Queues n requests on one ring; its reaper hands them to the kernel in as few io_uring_enter(2)
 * calls as it can, as many at once as its completion queue has room for. Never waits (a
 * completion callback may call it). Returns n (a request the ring could not take completes with
 * -EIO). From here each request owns its buffer until its completion is reaped: wait for every
 * one (or cancel it). Any thread, which may end before the requests do. */
int uring_io_submit(struct uring_io *u, struct uring_io_req *const *reqs, unsigned n);
/* Waits for req's completion up to timeout_ms (-1: no limit), asleep until the reaper reaps that
 * request (other requests' completions do not wake it). Returns its result (bytes or -errno),
 * or -ETIMEDOUT with req still in flight, still owning its buffer. One waiter per request. */
int uring_io_wait(struct uring_io *u, struct uring_io_req *req, int timeout_ms);
/* Asks the kernel to cancel req (a request without a complete callback) and waits for its
 * completion, however it ends: when this returns, the kernel is done with the buffer. Returns
 * req's result (-ECANCELED when the cancel won, or when req was not yet submitted). */
int uring_io_cancel(struct uring_io *u, struct uring_io_req *req);

/* Blocking helpers on the queue. Writes all len bytes of buf at off (short writes are
 * continued). Returns len or -errno (-ENOSPC when the filesystem is full, -EIO when the kernel
 * writes nothing). */
ssize_t uring_io_pwrite(struct uring_io *u, int fd, const void *buf, size_t len, uint64_t off);
/* Reads up to len bytes at off into buf, stopping early only at end of file. Returns the
 * bytes read or -errno. */
ssize_t uring_io_pread(struct uring_io *u, int fd, void *buf, size_t len, uint64_t off);
