// SPDX-License-Identifier: Apache-2.0
// io_uring as a queue: any thread submits under a short submission lock; one reaper thread per
// ring waits for completions, reaps every one that is ready in one pass, and wakes each request's
// own waiter (a futex on the request's state word). A request's completion is reaped exactly once,
// by the reaper, so none is ever lost or mixed up.
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

/* user_data of requests that are not a uring_io_req: the reaper counts them and moves on. */
#define TAG_CANCEL ((uint64_t)1)
#define TAG_STOP ((uint64_t)2)

/* uring_io_req.state */
enum {
	REQ_PENDING = 0,  /* in flight, nobody asleep on it */
	REQ_SLEEPING = 1, /* in flight, its waiter asleep in futex_wait on the word */
	REQ_DONE = 2,	  /* reaped: res is final, the buffer is the caller's again */
};

struct uring_ring {
	/* Guards the submission queue (get_sqe, prep, io_uring_submit). Held across the
	 * io_uring_enter(2) that submits, which does not wait for the I/O (io_uring hands work
	 * that would block to its own workers); never across a wait for a completion. */
	pthread_mutex_t sq_lock;
	/* Guards inflight and room_waiters, for submitters waiting for room in the completion
	 * queue. Held for memory updates only: the reaper takes it once per batch, after the
	 * batch's waiters were woken; never held across a wait for a completion or a callback. */
	pthread_mutex_t room_lock;
	pthread_cond_t room_cond; /* inflight dropped while room_waiters > 0 */
	unsigned inflight;	  /* under room_lock: uring_io_reqs submitted, not yet reaped */
	unsigned room_waiters;	  /* under room_lock: submitters asleep on room_cond */
	unsigned max_inflight;	  /* fixed: the completion queue never overflows */
	struct io_uring ring;
	/* Signalled by the kernel for every completion (io_uring_register_eventfd): the reaper
	 * sleeps in read(2) on it and reaps without entering the ring, so it never sits in
	 * io_uring_enter(2) (where tools such as valgrind cannot let other threads run). */
	int efd;
	pthread_t reaper;
	bool ready, reaper_started;
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

/* Reaps completions until it sees TAG_STOP: every ready one in one pass, each waking only its
 * own waiter. */
static void *reaper_main(void *arg)
{
	struct uring_ring *rg = arg;
	bool stop = false;

	while (!stop) {
		struct io_uring_cqe *cqe;
		SLIST_HEAD(, uring_io_req) callbacks = SLIST_HEAD_INITIALIZER(callbacks);
		unsigned head, count = 0;
		eventfd_t v;

		if (io_uring_peek_cqe(&rg->ring, &cqe) != 0) {
			/* None ready: sleep until the kernel posts one (a completion between the
			 * peek and here has already counted on the eventfd). */
			if (eventfd_read(rg->efd, &v) < 0 && errno != EINTR) {
				log_err("io_uring: waiting for completions: %m");
				usleep(1000);
			}
			continue;
		}
		unsigned reaped = 0;

		io_uring_for_each_cqe(&rg->ring, head, cqe)
		{
			count++;
			if (cqe->user_data == TAG_STOP) {
				stop = true;
			} else if (cqe->user_data != TAG_CANCEL) {
				struct uring_io_req *req =
				    (struct uring_io_req *)(uintptr_t)cqe->user_data;

				HANDED_BACK(req);
				reaped++;
				if (req->complete) {
					/* nobody waits on it: the callback gets the result */
					req->res = cqe->res;
					atomic_store_explicit(&req->state, REQ_DONE,
							      memory_order_relaxed);
					SLIST_INSERT_HEAD(&callbacks, req, cb_link);
				} else {
					req_finish(req, cqe->res); /* req may be gone after */
				}
			}
		}
		io_uring_cq_advance(&rg->ring, count);
		if (reaped > 0) {
			pthread_mutex_lock(&rg->room_lock);
			rg->inflight -= reaped;
			if (rg->room_waiters > 0)
				pthread_cond_broadcast(&rg->room_cond);
			pthread_mutex_unlock(&rg->room_lock);
		}
		/* A callback may take its owner's locks, and free req. */
		struct uring_io_req *req;
		while ((req = SLIST_FIRST(&callbacks))) {
			SLIST_REMOVE_HEAD(&callbacks, cb_link);
			req->complete(req, req->res);
		}
	}
	return NULL;
}

/* An SQE, flushing the queue to the kernel when it is full. Under sq_lock. */
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

/* Sends what is queued. Under sq_lock. Returns 0 or -errno. */
static int sq_flush(struct uring_ring *rg)
{
	for (;;) {
		int r = io_uring_submit(&rg->ring);

		if (r >= 0)
			return 0;
		if (r != -EINTR && r != -EAGAIN && r != -EBUSY)
			return r;
		usleep(100); /* the kernel is short of memory or completions: let it reap */
	}
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
		/* Room for every request and the cancels of each. */
		rg->max_inflight = p.cq_entries / 2;
		pthread_mutex_init(&rg->sq_lock, NULL);
		pthread_mutex_init(&rg->room_lock, NULL);
		pthread_cond_init(&rg->room_cond, NULL);
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
			pthread_mutex_lock(&rg->sq_lock);
			struct io_uring_sqe *sqe = sqe_get(rg);

			if (sqe) {
				io_uring_prep_nop(sqe);
				sqe->user_data = TAG_STOP;
			}
			int r = sqe ? sq_flush(rg) : -EIO;
			pthread_mutex_unlock(&rg->sq_lock);
			if (r == 0)
				pthread_join(rg->reaper, NULL);
			else /* cannot happen with an idle ring; do not hang the exit on it */
				log_err("io_uring: cannot stop a reaper: %s", strerror(-r));
			pthread_mutex_destroy(&rg->sq_lock);
			pthread_mutex_destroy(&rg->room_lock);
			pthread_cond_destroy(&rg->room_cond);
			if (r != 0)
				continue; /* the ring stays mapped: its reaper may still use it */
		}
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

/* Queues n <= rg->max_inflight requests, waiting for room in the completion queue first. */
static int submit_chunk(struct uring_ring *rg, struct uring_io_req *const *reqs, unsigned n)
{
	int r;

	pthread_mutex_lock(&rg->room_lock);
	while (rg->inflight + n > rg->max_inflight) {
		rg->room_waiters++;
		pthread_cond_wait(&rg->room_cond, &rg->room_lock);
		rg->room_waiters--;
	}
	rg->inflight += n;
	pthread_mutex_unlock(&rg->room_lock);
	for (unsigned i = 0; i < n; i++) {
		reqs[i]->ring = rg;
		reqs[i]->res = 0;
		atomic_store_explicit(&reqs[i]->state, REQ_PENDING, memory_order_relaxed);
	}

	pthread_mutex_lock(&rg->sq_lock);
	for (unsigned i = 0; i < n; i++) {
		struct uring_io_req *req = reqs[i];
		struct io_uring_sqe *sqe = sqe_get(rg);

		if (!sqe) {
			/* The ring is broken: what was queued goes, the rest fails here. */
			if (i > 0)
				sq_flush(rg);
			pthread_mutex_unlock(&rg->sq_lock);
			pthread_mutex_lock(&rg->room_lock);
			rg->inflight -= n - i;
			if (rg->room_waiters > 0)
				pthread_cond_broadcast(&rg->room_cond);
			pthread_mutex_unlock(&rg->room_lock);
			for (unsigned k = i; k < n; k++) {
				if (reqs[k]->complete) {
					reqs[k]->res = -EIO;
					atomic_store(&reqs[k]->state, REQ_DONE);
					reqs[k]->complete(reqs[k], -EIO);
				} else {
					req_finish(reqs[k], -EIO);
				}
			}
			return i > 0 ? (int)i : -EIO;
		}
		if (req->write)
			io_uring_prep_write(sqe, req->fd, req->buf, req->len, req->off);
		else
			io_uring_prep_read(sqe, req->fd, req->buf, req->len, req->off);
		io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)req);
		HANDED_TO_KERNEL(req);
	}
	r = sq_flush(rg);
	pthread_mutex_unlock(&rg->sq_lock);
	if (r < 0)
		log_err("io_uring: submitting: %s; the requests stay queued", strerror(-r));
	return (int)n;
}

int uring_io_submit(struct uring_io *u, struct uring_io_req *const *reqs, unsigned n)
{
	struct uring_ring *rg;
	unsigned done = 0;

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
	while (done < n) {
		unsigned k = n - done < rg->max_inflight ? n - done : rg->max_inflight;
		int r = submit_chunk(rg, reqs + done, k);

		if (r < 0)
			return done > 0 ? (int)done : r;
		done += (unsigned)r;
		if ((unsigned)r < k)
			break;
	}
	return (int)done;
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
	if (atomic_load_explicit(&req->state, memory_order_acquire) != REQ_DONE) {
		pthread_mutex_lock(&rg->sq_lock);
		struct io_uring_sqe *sqe = sqe_get(rg);

		if (sqe) {
			io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)req, 0);
			io_uring_sqe_set_data64(sqe, TAG_CANCEL);
			sq_flush(rg);
		}
		pthread_mutex_unlock(&rg->sq_lock);
	}
	/* Cancelled or not (it may be past the point of cancelling), its completion comes: the
	 * buffer is the caller's only after it. */
	return uring_io_wait(u, req, -1);
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
