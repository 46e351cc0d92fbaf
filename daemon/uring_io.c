// SPDX-License-Identifier: Apache-2.0
// io_uring as a queue: any thread queues requests under a short lock; one thread per ring (its
// reaper) hands them to the kernel, waits for completions, reaps every one that is ready in one
// pass, and wakes each request's own waiter (a futex on the request's state word). A request's
// completion is reaped exactly once, by the reaper, so none is ever lost or mixed up. Only the
// reaper enters the ring: the kernel finishes a request that had to wait (a page read in, a pipe
// that had no bytes) in task work of the thread that submitted it, and fails it (-EFAULT, "Bad
// address"; -ECANCELED) when that thread has ended, as FUSE workers do; the reaper lives as long
// as the ring.
#include "uring_io.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "thread_class.h"

/* The kernel carries a request from its submitter to the reaper (the SQE, then its CQE), an
 * edge ThreadSanitizer cannot see: without these it takes the submitter's last look at a request
 * and the callback's free of it for a race. They compile to nothing in other builds. */
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define HANDED_TO_KERNEL(req) __tsan_release(req)
#define HANDED_BACK(req) __tsan_acquire(req)
#else
#define HANDED_TO_KERNEL(req) ((void)(req))
#define HANDED_BACK(req) ((void)(req))
#endif

/* uring_io_req.state */
enum {
	REQ_PENDING = 0,  /* in flight, nobody asleep on it */
	REQ_SLEEPING = 1, /* in flight, its waiter asleep in futex_wait on the word */
	REQ_DONE = 2,	  /* reaped: res is final, the buffer is the caller's again */
};

struct uring_ring {
	/* Guards pending, each request's `queued` and stop. Held for list updates only: never
	 * across io_uring_enter(2), a wait or a callback. */
	pthread_mutex_t pending_lock;
	STAILQ_HEAD(, uring_io_req) pending; /* under pending_lock: queued, not yet submitted */
	bool stop;			     /* under pending_lock: uring_io_free asks the reaper */
	/* The reaper's own (no lock): requests handed to the kernel, not yet reaped; at most
	 * max_inflight, so the completion queue never overflows. */
	unsigned inflight;
	unsigned max_inflight; /* fixed */
	struct io_uring ring;  /* its submission queue is the reaper's alone */
	/* Signalled by the kernel for every completion (io_uring_register_eventfd) and by a
	 * submitter that queues onto an empty pending list: the reaper sleeps in read(2) on it and
	 * reaps without waiting in io_uring_enter(2) (where tools such as valgrind cannot let
	 * other threads run). Task work the kernel queues for the reaper interrupts that read. */
	int efd;
	pthread_t reaper;
	bool ready, locks_ready, reaper_started;
};

struct uring_io {
	unsigned nrings;  /* 0: plain pread/pwrite at submission */
	atomic_uint next; /* round-robin choice of a ring */
	struct uring_ring *rings;
};

/* Sleeps while *word is val, until deadline (CLOCK_MONOTONIC, NULL: none). Returns 0 when woken
 * or the word was not val, -ETIMEDOUT, or -EINTR. */
static int futex_wait(_Atomic uint32_t *word, uint32_t val, const struct timespec *deadline)
{
	/* WAIT_BITSET takes an absolute deadline on CLOCK_MONOTONIC: no recomputing after a
	 * spurious wake-up. */
	long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, val,
			 deadline, NULL, FUTEX_BITSET_MATCH_ANY);

	return r < 0 && errno != EAGAIN ? -errno : 0;
}

/* Wakes whoever sleeps on word. The word may be gone by now (its waiter saw it done and
 * returned): a private futex wake only uses the address as a key, it reads no memory. */
static void futex_wake(_Atomic uint32_t *word)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, INT_MAX, NULL, NULL,
		0);
}

/* Publishes req's result to its waiter (waking it only if it sleeps). req may be freed by its
 * owner as soon as this stores REQ_DONE. */
static void req_finish(struct uring_io_req *req, int res)
{
	req->res = res;
	if (atomic_exchange_explicit(&req->state, REQ_DONE, memory_order_acq_rel) == REQ_SLEEPING)
		futex_wake(&req->state);
}

/* An SQE, flushing the queue to the kernel when it is full. The reaper's. NULL when the ring
 * is broken. */
static struct io_uring_sqe *sqe_get(struct uring_ring *rg)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&rg->ring);

	while (!sqe) {
		int r = io_uring_submit(&rg->ring);

		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
			return NULL;
		if (r <= 0)
			usleep(100);
		sqe = io_uring_get_sqe(&rg->ring);
	}
	return sqe;
}

/* Hands the kernel as many pending requests as the completion queue has room for, in the order
 * they were queued. The reaper's. Returns how many, or -errno when the kernel took none of what
 * was prepared (they stay in its queue for the next flush). */
static int submit_pending(struct uring_ring *rg)
{
	STAILQ_HEAD(, uring_io_req) batch = STAILQ_HEAD_INITIALIZER(batch);
	struct uring_io_req *req;
	unsigned n = 0, prepared = 0;

	pthread_mutex_lock(&rg->pending_lock);
	while (rg->inflight + n < rg->max_inflight && (req = STAILQ_FIRST(&rg->pending))) {
		STAILQ_REMOVE_HEAD(&rg->pending, link);
		req->queued = false;
		STAILQ_INSERT_TAIL(&batch, req, link);
		n++;
	}
	pthread_mutex_unlock(&rg->pending_lock);
	if (n == 0 && io_uring_sq_ready(&rg->ring) == 0)
		return 0; /* (SQEs a failed flush left are flushed again below) */
	/* Nobody but this thread reaps: every request of the batch stays alive until then. */
	while ((req = STAILQ_FIRST(&batch))) {
		struct io_uring_sqe *sqe = sqe_get(rg);

		if (!sqe)
			break; /* the ring is broken: the rest fail below */
		STAILQ_REMOVE_HEAD(&batch, link);
		if (req->write)
			io_uring_prep_write(sqe, req->fd, req->buf, req->len, req->off);
		else
			io_uring_prep_read(sqe, req->fd, req->buf, req->len, req->off);
		io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)req);
		HANDED_TO_KERNEL(req);
		prepared++;
	}
	rg->inflight += prepared;
	int r = io_uring_submit(&rg->ring);
	while ((req = STAILQ_FIRST(&batch))) {
		STAILQ_REMOVE_HEAD(&batch, link);
		if (req->complete) {
			req->res = -EIO;
			atomic_store(&req->state, REQ_DONE);
			req->complete(req, -EIO);
		} else {
			req_finish(req, -EIO);
		}
	}
	return r < 0 ? r : (int)prepared;
}

/* Submits what is queued and reaps completions until uring_io_free asks it to stop: every ready
 * completion in one pass, each waking only its own waiter. */
static void *reaper_main(void *arg)
{
	struct uring_ring *rg = arg;
	bool unflushed = false;
	/* Tier writes, fetches of local:// and promotions pass here, and a hit only for its
	 * block's first check since open (block_store_acquire): bulk, never ahead of a hit
	 * (thread_class.h). The kernel's io-wq workers it starts inherit the class. */
	pthread_setname_np(pthread_self(), "weir-uring"); /* top -H, perf */
	thread_class_set(THREAD_CLASS_BULK);

	for (;;) {
		struct io_uring_cqe *cqe;
		SLIST_HEAD(, uring_io_req) callbacks = SLIST_HEAD_INITIALIZER(callbacks);
		unsigned head, count = 0;
		eventfd_t v;

		int s = submit_pending(rg);
		if (s < 0 && s != -EINTR && s != -EAGAIN && s != -EBUSY && !unflushed)
			log_err("io_uring: submitting: %s; the requests stay queued", strerror(-s));
		/* an error, or SQEs the kernel has not consumed yet: flush again soon */
		unflushed = s < 0 || io_uring_sq_ready(&rg->ring) > 0;
		if (io_uring_peek_cqe(&rg->ring, &cqe) != 0) {
			if (s > 0)
				continue; /* more may be pending */
			if (unflushed) {
				/* the kernel is short of memory: let it breathe */
				usleep(100);
				continue;
			}
			pthread_mutex_lock(&rg->pending_lock);
			bool idle = STAILQ_EMPTY(&rg->pending) || rg->inflight >= rg->max_inflight;
			bool stop = rg->stop; /* with nothing in flight (uring_io_free) */
			pthread_mutex_unlock(&rg->pending_lock);
			if (stop)
				break;
			if (!idle)
				continue;
			/* Nothing to do: sleep until the kernel posts a completion or a submitter
			 * queues a request (either, since the looks above, has counted on the
			 * eventfd already). */
			if (eventfd_read(rg->efd, &v) < 0 && errno != EINTR) {
				log_err("io_uring: waiting for completions: %m");
				usleep(1000);
			}
			continue;
		}
		unsigned reaped = 0;

		io_uring_for_each_cqe(&rg->ring, head, cqe)
		{
			struct uring_io_req *req = (struct uring_io_req *)(uintptr_t)cqe->user_data;

			count++;
			reaped++;
			HANDED_BACK(req);
			if (req->complete) {
				/* nobody waits on it: the callback gets the result */
				req->res = cqe->res;
				atomic_store_explicit(&req->state, REQ_DONE, memory_order_relaxed);
				SLIST_INSERT_HEAD(&callbacks, req, cb_link);
			} else {
				req_finish(req, cqe->res); /* req may be gone after */
			}
		}
		io_uring_cq_advance(&rg->ring, count);
		rg->inflight -= reaped;
		/* A callback may take its owner's locks, free req, and queue more requests (onto
		 * the pending list: this thread never waits for room). */
		struct uring_io_req *req;
		while ((req = SLIST_FIRST(&callbacks))) {
			SLIST_REMOVE_HEAD(&callbacks, cb_link);
			req->complete(req, req->res);
		}
	}
	return NULL;
}

int uring_io_new(unsigned nrings, unsigned depth, struct uring_io **ret)
{
	struct uring_io *u;
	int r;

	if (nrings > 0 && depth == 0)
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	atomic_init(&u->next, 0);
	if (nrings == 0) {
		*ret = u;
		return 0;
	}
	u->rings = calloc(nrings, sizeof(*u->rings));
	if (!u->rings) {
		free(u);
		return -ENOMEM;
	}
	u->nrings = nrings;
	for (unsigned i = 0; i < nrings; i++) {
		struct uring_ring *rg = &u->rings[i];
		struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE, .cq_entries = 8 * depth};

		rg->efd = -1;
		r = io_uring_queue_init_params(depth, &rg->ring, &p);
		if (r < 0) {
			log_debug("io_uring_queue_init(%u): %s", depth, strerror(-r));
			goto fail;
		}
		rg->ready = true;
		rg->efd = eventfd(0, EFD_CLOEXEC);
		if (rg->efd < 0) {
			r = -errno;
			goto fail;
		}
		r = io_uring_register_eventfd(&rg->ring, rg->efd);
		if (r < 0)
			goto fail;
		/* Room for every request, and to spare. */
		rg->max_inflight = p.cq_entries / 2;
		pthread_mutex_init(&rg->pending_lock, NULL);
		STAILQ_INIT(&rg->pending);
		rg->locks_ready = true;
		r = -pthread_create(&rg->reaper, NULL, reaper_main, rg);
		if (r < 0)
			goto fail;
		rg->reaper_started = true;
	}
	*ret = u;
	return 0;

fail:
	uring_io_free(u);
	return r;
}

void uring_io_free(struct uring_io *u)
{
	if (!u)
		return;
	for (unsigned i = 0; i < u->nrings; i++) {
		struct uring_ring *rg = &u->rings[i];

		if (!rg->ready)
			continue;
		if (rg->reaper_started) {
			pthread_mutex_lock(&rg->pending_lock);
			rg->stop = true;
			pthread_mutex_unlock(&rg->pending_lock);
			if (eventfd_write(rg->efd, 1) < 0) {
				/* cannot happen with a valid eventfd; do not hang the exit on it */
				log_err("io_uring: cannot stop a reaper: %m");
				continue; /* the ring stays mapped: its reaper may still use it */
			}
			pthread_join(rg->reaper, NULL);
		}
		if (rg->locks_ready)
			pthread_mutex_destroy(&rg->pending_lock);
		io_uring_queue_exit(&rg->ring);
		if (rg->efd >= 0)
			close(rg->efd);
	}
	free(u->rings);
	free(u);
}

static int sync_rw(struct uring_io_req *req)
{
	ssize_t n;

	do
		n = req->write ? pwrite(req->fd, req->buf, req->len, (off_t)req->off)
			       : pread(req->fd, req->buf, req->len, (off_t)req->off);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : (int)n;
}

int uring_io_submit(struct uring_io *u, struct uring_io_req *const *reqs, unsigned n)
{
	struct uring_ring *rg;

	if (n == 0)
		return 0;
	if (u->nrings == 0) {
		for (unsigned i = 0; i < n; i++) {
			reqs[i]->ring = NULL;
			reqs[i]->res = sync_rw(reqs[i]);
			atomic_store_explicit(&reqs[i]->state, REQ_DONE, memory_order_relaxed);
			if (reqs[i]->complete)
				reqs[i]->complete(reqs[i], reqs[i]->res);
		}
		return (int)n;
	}
	rg = &u->rings[atomic_fetch_add(&u->next, 1) % u->nrings];
	for (unsigned i = 0; i < n; i++) {
		reqs[i]->ring = rg;
		reqs[i]->res = 0;
		atomic_store_explicit(&reqs[i]->state, REQ_PENDING, memory_order_relaxed);
	}
	pthread_mutex_lock(&rg->pending_lock);
	/* Requests already in the list have woken the reaper (or it waits for room, and the
	 * completion that makes it wakes it). */
	bool wake = STAILQ_EMPTY(&rg->pending);
	for (unsigned i = 0; i < n; i++) {
		reqs[i]->queued = true;
		STAILQ_INSERT_TAIL(&rg->pending, reqs[i], link);
	}
	pthread_mutex_unlock(&rg->pending_lock);
	if (wake && eventfd_write(rg->efd, 1) < 0)
		log_err("io_uring: waking the reaper: %m"); /* not with a valid eventfd */
	return (int)n;
}

int uring_io_wait(struct uring_io *u, struct uring_io_req *req, int timeout_ms)
{
	struct timespec at, *deadline = NULL;
	uint32_t st;

	(void)u;
	if (!req->ring)
		return req->res;
	st = atomic_load_explicit(&req->state, memory_order_acquire);
	if (st == REQ_DONE)
		return req->res;
	if (timeout_ms >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &at);
		at.tv_sec += timeout_ms / 1000;
		at.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (at.tv_nsec >= 1000000000L) {
			at.tv_sec++;
			at.tv_nsec -= 1000000000L;
		}
		deadline = &at;
	}
	for (;;) {
		/* Say we sleep, unless the reaper got there first; then sleep only while the word
		 * still says so (the reaper's exchange to done makes the futex return at once). */
		if (st == REQ_PENDING &&
		    !atomic_compare_exchange_strong_explicit(
			&req->state, &st, REQ_SLEEPING, memory_order_acquire, memory_order_acquire))
			continue; /* st now holds what the reaper stored */
		if (st == REQ_DONE)
			return req->res;
		if (futex_wait(&req->state, REQ_SLEEPING, deadline) == -ETIMEDOUT) {
			st = atomic_load_explicit(&req->state, memory_order_acquire);
			return st == REQ_DONE ? req->res : -ETIMEDOUT;
		}
		st = atomic_load_explicit(&req->state, memory_order_acquire);
		if (st == REQ_DONE)
			return req->res;
	}
}

int uring_io_cancel(struct uring_io *u, struct uring_io_req *req)
{
	struct uring_ring *rg = req->ring;

	if (!rg)
		return req->res;
	pthread_mutex_lock(&rg->pending_lock);
	bool queued = req->queued;
	if (queued) {
		/* Not yet the kernel's, and now it never will be. */
		STAILQ_REMOVE(&rg->pending, req, uring_io_req, link);
		req->queued = false;
	}
	pthread_mutex_unlock(&rg->pending_lock);
	if (queued) {
		req_finish(req, -ECANCELED);
		return -ECANCELED;
	}
	/* Cancelled or not (it may be past the point of cancelling, or between the pending list
	 * and the ring: then asked again), its completion comes: the buffer is the caller's only
	 * after it. A synchronous cancel puts no SQE in the queue, which is the reaper's. */
	for (;;) {
		int r = uring_io_wait(u, req, 0);

		if (r != -ETIMEDOUT)
			return r;
		struct io_uring_sync_cancel_reg reg = {
		    .addr = (uint64_t)(uintptr_t)req,
		    .timeout = {.tv_sec = 0, .tv_nsec = 100 * 1000000L}};
		r = io_uring_register_sync_cancel(&rg->ring, &reg);
		if (r == 0)
			return uring_io_wait(u, req, -1);
		r = uring_io_wait(u, req, r == -ENOENT || r == -EALREADY ? 1 : 10);
		if (r != -ETIMEDOUT)
			return r;
	}
}

static ssize_t uring_io_rw(struct uring_io *u, bool write, int fd, void *buf, size_t len,
			   uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		size_t chunk = len - done;
		struct uring_io_req req = {
		    .fd = fd, .write = write, .buf = (char *)buf + done, .off = off + done};
		struct uring_io_req *one = &req;
		int r;

		if (chunk > (1u << 30))
			chunk = 1u << 30;
		req.len = (unsigned)chunk;
		r = uring_io_submit(u, &one, 1);
		if (r < 0)
			return r;
		r = uring_io_wait(u, &req, -1);
		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r < 0)
			return r;
		if (r == 0) {
			if (write)
				return -EIO;
			break; /* end of file */
		}
		done += (size_t)r;
	}
	return (ssize_t)done;
}

ssize_t uring_io_pwrite(struct uring_io *u, int fd, const void *buf, size_t len, uint64_t off)
{
	return uring_io_rw(u, true, fd, (void *)buf, len, off);
}

ssize_t uring_io_pread(struct uring_io *u, int fd, void *buf, size_t len, uint64_t off)
{
	return uring_io_rw(u, false, fd, buf, len, off);
}
