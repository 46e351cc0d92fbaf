// SPDX-License-Identifier: Apache-2.0
// The io_uring queue: many requests in flight at once land where they should, a wait that times
// out leaves its request (and buffer) with the kernel, and a cancel hands the buffer back only
// once the kernel is done with it, without a stale completion reaching a later request; many
// threads waiting on one ring at once each get their own request's result.
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suites.h"
#include "uring_io.h"

#define NREQ 200
#define CHUNK 4096

static char path[64];
static int fd = -1;

static void setup(void)
{
	snprintf(path, sizeof(path), "/tmp/check_uring_io.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
}

static void teardown(void)
{
	if (fd >= 0)
		close(fd);
	unlink(path);
}

static uint8_t pattern(unsigned chunk, unsigned i)
{
	return (uint8_t)(chunk * 131 + i * 7 + 1);
}

/* NREQ writes, then NREQ reads, each batch submitted at once and in flight together; every
 * chunk read back in its own buffer matches what its own write put there. */
START_TEST(test_many_in_flight)
{
	struct uring_io *u;
	static uint8_t wbuf[NREQ][CHUNK], rbuf[NREQ][CHUNK];
	struct uring_io_req w[NREQ], r[NREQ], *ptr[NREQ];

	ck_assert_int_eq(uring_io_new(_i == 0 ? 1 : 0, 32, &u), 0);
	for (unsigned c = 0; c < NREQ; c++) {
		for (unsigned i = 0; i < CHUNK; i++)
			wbuf[c][i] = pattern(c, i);
		/* Out of order on disk: chunk c at slot (c * 7) % NREQ. */
		w[c] = (struct uring_io_req){.fd = fd,
					     .write = true,
					     .buf = wbuf[c],
					     .len = CHUNK,
					     .off = (uint64_t)((c * 7) % NREQ) * CHUNK};
		ptr[c] = &w[c];
	}
	/* More than the queue's depth in one call: it is flushed to the kernel as it fills. */
	ck_assert_int_eq(uring_io_submit(u, ptr, NREQ), NREQ);
	for (unsigned c = 0; c < NREQ; c++)
		ck_assert_int_eq(uring_io_wait(u, &w[c], 10000), CHUNK);
	memset(rbuf, 0, sizeof(rbuf));
	for (unsigned c = 0; c < NREQ; c++) {
		r[c] = (struct uring_io_req){.fd = fd,
					     .buf = rbuf[c],
					     .len = CHUNK,
					     .off = (uint64_t)((c * 7) % NREQ) * CHUNK};
		ptr[c] = &r[c];
	}
	ck_assert_int_eq(uring_io_submit(u, ptr, NREQ), NREQ);
	/* Reaped in any order: wait for them backwards. */
	for (unsigned c = NREQ; c-- > 0;)
		ck_assert_int_eq(uring_io_wait(u, &r[c], 10000), CHUNK);
	for (unsigned c = 0; c < NREQ; c++)
		ck_assert_msg(memcmp(rbuf[c], wbuf[c], CHUNK) == 0, "chunk %u read back wrong", c);
	/* Errors come back per request. */
	struct uring_io_req bad = {.fd = -1, .buf = rbuf[0], .len = CHUNK}, *one = &bad;
	ck_assert_int_eq(uring_io_submit(u, &one, 1), 1);
	ck_assert_int_eq(uring_io_wait(u, &bad, 10000), -EBADF);
	uring_io_free(u);
}
END_TEST

/* A read of an empty pipe never completes by itself: the wait times out and the request stays
 * with the kernel; the cancel returns only once its completion is reaped, and afterwards the
 * kernel writes nothing into the buffer (bytes written to the pipe stay in the pipe). */
START_TEST(test_cancelled_wait)
{
	struct uring_io *u;
	int p[2];
	char buf[64], after[16];
	struct uring_io_req req, *one = &req;

	ck_assert_int_eq(uring_io_new(1, 8, &u), 0);
	ck_assert_int_eq(pipe(p), 0);
	memset(buf, 'x', sizeof(buf));
	req =
	    (struct uring_io_req){.fd = p[0], .buf = buf, .len = sizeof(buf), .off = (uint64_t)-1};
	ck_assert_int_eq(uring_io_submit(u, &one, 1), 1);
	ck_assert_int_eq(uring_io_wait(u, &req, 100), -ETIMEDOUT);
	ck_assert_int_eq(uring_io_wait(u, &req, 0), -ETIMEDOUT); /* still in flight */
	int r = uring_io_cancel(u, &req);
	ck_assert_msg(r == -ECANCELED || r == -EINTR, "the cancelled read returned %d", r);
	/* The kernel no longer owns buf: what is written now is not read into it. */
	ck_assert_int_eq(write(p[1], "fresh bytes", 11), 11);
	usleep(50 * 1000);
	for (size_t i = 0; i < sizeof(buf); i++)
		ck_assert_msg(buf[i] == 'x', "byte %zu of the buffer changed after the cancel", i);
	ck_assert_int_eq(read(p[0], after, sizeof(after)), 11);
	ck_assert_int_eq(memcmp(after, "fresh bytes", 11), 0);

	/* The ring goes on: the next request gets its own completion, not a stale one. */
	static const char text[] = "after the cancel";
	struct uring_io_req w = {.fd = fd, .write = true, .buf = (void *)text, .len = sizeof(text)};
	one = &w;
	ck_assert_int_eq(uring_io_submit(u, &one, 1), 1);
	ck_assert_int_eq(uring_io_wait(u, &w, 10000), (int)sizeof(text));
	/* A cancel of a request already done returns its result. */
	ck_assert_int_eq(uring_io_cancel(u, &w), (int)sizeof(text));
	ck_assert_int_eq(uring_io_pread(u, fd, buf, sizeof(text), 0), (ssize_t)sizeof(text));
	ck_assert_str_eq(buf, text);
	close(p[0]);
	close(p[1]);
	uring_io_free(u);
}
END_TEST

#define WAITERS 24
#define ROUNDS 40

struct waiter {
	struct uring_io *u;
	unsigned id;
	int pipe[2];
	pthread_barrier_t *armed, *fed;
	_Atomic unsigned failures;
	char why[160];
};

static void waiter_fail(struct waiter *w, const char *what, unsigned round, long got)
{
	if (atomic_fetch_add(&w->failures, 1) == 0)
		snprintf(w->why, sizeof(w->why), "waiter %u round %u: %s (%ld)", w->id, round, what,
			 got);
}

/* Each round: submit a read of its own empty pipe, see the wait time out with the buffer
 * untouched (the kernel owns it), let the main thread feed the pipes in an order unrelated to
 * submission, then get exactly its own byte count and bytes, with nothing past them written. */
static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	char buf[256];

	for (unsigned round = 0; round < ROUNDS; round++) {
		unsigned want = 1 + (w->id * 7 + round) % 200;
		struct uring_io_req req = {
		    .fd = w->pipe[0], .buf = buf, .len = sizeof(buf), .off = (uint64_t)-1};
		struct uring_io_req *one = &req;
		int r;

		memset(buf, 'x', sizeof(buf));
		if (uring_io_submit(w->u, &one, 1) != 1)
			waiter_fail(w, "submit", round, 0);
		r = uring_io_wait(w->u, &req, round % 4 == 0 ? 20 : 0);
		if (r != -ETIMEDOUT)
			waiter_fail(w, "wait on an empty pipe did not time out", round, r);
		for (size_t i = 0; i < sizeof(buf); i++)
			if (buf[i] != 'x') {
				waiter_fail(w, "buffer written before any byte was sent", round,
					    (long)i);
				break;
			}
		pthread_barrier_wait(w->armed);
		pthread_barrier_wait(w->fed);
		r = uring_io_wait(w->u, &req, 10000);
		if (r != (int)want) {
			waiter_fail(w, "got another request's result", round, r);
			continue;
		}
		for (unsigned i = 0; i < want; i++)
			if (buf[i] != (char)('A' + (w->id + round + i) % 26)) {
				waiter_fail(w, "got another request's bytes", round, (long)i);
				break;
			}
		for (size_t i = want; i < sizeof(buf); i++)
			if (buf[i] != 'x') {
				waiter_fail(w, "bytes past the result written", round, (long)i);
				break;
			}
	}
	return NULL;
}

/* WAITERS threads wait at once on requests of the same rings (two rings, so each has many
 * waiters); the pipes are fed in a shuffled order each round, so completions arrive unrelated
 * to submission and every completion but one per waiter belongs to someone else. */
START_TEST(test_concurrent_waiters)
{
	struct uring_io *u;
	static struct waiter w[WAITERS];
	pthread_t t[WAITERS];
	pthread_barrier_t armed, fed;
	unsigned order[WAITERS];
	char msg[256];

	ck_assert_int_eq(uring_io_new(2, 8, &u), 0);
	pthread_barrier_init(&armed, NULL, WAITERS + 1);
	pthread_barrier_init(&fed, NULL, WAITERS + 1);
	for (unsigned i = 0; i < WAITERS; i++) {
		w[i] = (struct waiter){.u = u, .id = i, .armed = &armed, .fed = &fed};
		atomic_init(&w[i].failures, 0);
		ck_assert_int_eq(pipe(w[i].pipe), 0);
		order[i] = i;
		ck_assert_int_eq(pthread_create(&t[i], NULL, waiter_main, &w[i]), 0);
	}
	srand(1234);
	for (unsigned round = 0; round < ROUNDS; round++) {
		pthread_barrier_wait(&armed);
		for (unsigned i = WAITERS; i-- > 1;) {
			unsigned j = (unsigned)rand() % (i + 1), k = order[i];

			order[i] = order[j];
			order[j] = k;
		}
		for (unsigned n = 0; n < WAITERS; n++) {
			unsigned id = order[n], want = 1 + (id * 7 + round) % 200;

			for (unsigned i = 0; i < want; i++)
				msg[i] = (char)('A' + (id + round + i) % 26);
			ck_assert_int_eq(write(w[id].pipe[1], msg, want), (ssize_t)want);
		}
		pthread_barrier_wait(&fed);
	}
	for (unsigned i = 0; i < WAITERS; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	for (unsigned i = 0; i < WAITERS; i++) {
		ck_assert_msg(atomic_load(&w[i].failures) == 0, "%s", w[i].why);
		close(w[i].pipe[0]);
		close(w[i].pipe[1]);
	}
	pthread_barrier_destroy(&armed);
	pthread_barrier_destroy(&fed);
	uring_io_free(u);
}
END_TEST

Suite *uring_io_suite(void)
{
	Suite *s = suite_create("uring_io");
	TCase *tc = tcase_create("queue");

	tcase_add_checked_fixture(tc, setup, teardown);
	/* _i 0: io_uring; 1: the pread/pwrite fallback behind the same calls */
	tcase_add_loop_test(tc, test_many_in_flight, 0, 2);
	tcase_add_test(tc, test_cancelled_wait);
	tcase_add_test(tc, test_concurrent_waiters);
	suite_add_tcase(s, tc);
	return s;
}
