// SPDX-License-Identifier: Apache-2.0
// A pool of io_uring instances, each under its own mutex, for blocking file I/O from any thread.
// A ring is submitted to and reaped by one caller at a time, so completions never mix.
#include "uring_io.h"

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"

struct ring {
	pthread_mutex_t lock; /* guards ring */
	struct io_uring ring;
	bool ready;
};

struct uring_io {
	unsigned nrings; /* 0: plain pread/pwrite */
	atomic_uint next; /* round-robin start for picking a ring */
	struct ring *rings;
};

int uring_io_new(unsigned nrings, unsigned depth, struct uring_io **ret)
{
	struct uring_io *u;
	int r;

	if (nrings > 0 && depth == 0)
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	if (nrings == 0) {
		*ret = u;
		return 0;
	}
	u->rings = calloc(nrings, sizeof(*u->rings));
	if (!u->rings) {
		r = -ENOMEM;
		goto free_u;
	}
	u->nrings = nrings;
	atomic_init(&u->next, 0);
	for (unsigned i = 0; i < nrings; i++) {
		struct ring *rg = &u->rings[i];

		r = io_uring_queue_init(depth, &rg->ring, 0);
		if (r < 0) {
			log_debug("io_uring_queue_init(%u): %d", depth, r);
			goto free_rings;
		}
		pthread_mutex_init(&rg->lock, NULL);
		rg->ready = true;
	}
	*ret = u;
	return 0;

free_rings:
	uring_io_free(u);
	return r;
free_u:
	free(u);
	return r;
}

void uring_io_free(struct uring_io *u)
{
	if (!u)
		return;
	for (unsigned i = 0; i < u->nrings; i++) {
		if (!u->rings[i].ready)
			continue;
		io_uring_queue_exit(&u->rings[i].ring);
		pthread_mutex_destroy(&u->rings[i].lock);
	}
	free(u->rings);
	free(u);
}

/* Takes a free ring if there is one, else waits for the round-robin choice. */
static struct ring *ring_get(struct uring_io *u)
{
	unsigned start = atomic_fetch_add(&u->next, 1) % u->nrings;

	for (unsigned i = 0; i < u->nrings; i++) {
		struct ring *rg = &u->rings[(start + i) % u->nrings];

		if (pthread_mutex_trylock(&rg->lock) == 0)
			return rg;
	}
	pthread_mutex_lock(&u->rings[start].lock);
	return &u->rings[start];
}

static void ring_put(struct ring *rg)
{
	pthread_mutex_unlock(&rg->lock);
}

/* One request, submitted and reaped. Returns the completion's result. */
static int ring_rw(struct ring *rg, bool write, int fd, void *buf, unsigned len, uint64_t off)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&rg->ring);
	struct io_uring_cqe *cqe;
	int r;

	if (!sqe)
		return -EBUSY; /* cannot happen: every request is reaped before the next */
	if (write)
		io_uring_prep_write(sqe, fd, buf, len, off);
	else
		io_uring_prep_read(sqe, fd, buf, len, off);
	do
		r = io_uring_submit(&rg->ring);
	while (r == -EINTR);
	if (r < 0)
		return r;
	do
		r = io_uring_wait_cqe(&rg->ring, &cqe);
	while (r == -EINTR);
	if (r < 0)
		return r;
	r = cqe->res;
	io_uring_cqe_seen(&rg->ring, cqe);
	return r;
}

static ssize_t sync_rw(bool write, int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write ? pwrite(fd, (char *)buf + done, len - done, (off_t)(off + done))
				  : pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			if (write)
				return -EIO;
			break;
		}
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static ssize_t uring_io_rw(struct uring_io *u, bool write, int fd, void *buf, size_t len,
			   uint64_t off)
{
	struct ring *rg;
	size_t done = 0;
	ssize_t ret;

	if (u->nrings == 0)
		return sync_rw(write, fd, buf, len, off);
	rg = ring_get(u);

	while (done < len) {
		size_t chunk = len - done;
		int r;

		if (chunk > (1u << 30))
			chunk = 1u << 30;
		r = ring_rw(rg, write, fd, (char *)buf + done, (unsigned)chunk, off + done);
		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r < 0) {
			ret = r;
			goto put_ring;
		}
		if (r == 0) {
			if (write) {
				ret = -EIO;
				goto put_ring;
			}
			break; /* end of file */
		}
		done += (size_t)r;
	}
	ret = (ssize_t)done;
put_ring:
	ring_put(rg);
	return ret;
}

ssize_t uring_io_pwrite(struct uring_io *u, int fd, const void *buf, size_t len, uint64_t off)
{
	return uring_io_rw(u, true, fd, (void *)buf, len, off);
}

ssize_t uring_io_pread(struct uring_io *u, int fd, void *buf, size_t len, uint64_t off)
{
	return uring_io_rw(u, false, fd, buf, len, off);
}
