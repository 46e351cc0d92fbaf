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

/* A request outlives the thread that submitted it: a FUSE worker or a connection thread queues
 * a read and ends (libfuse ends idle workers) while the read is still in flight. The kernel ties
 * the work it must finish later (a retry once a page is read in, a wake-up of a pipe read) to the
 * submitting thread; were that thread the submitter, the read would end -ECANCELED or -EFAULT
 * ("Bad address") with its buffer intact. The queue submits on a thread of its own, so it gets
 * its bytes. */
struct submitter {
	struct uring_io *u;
	struct uring_io_req *req;
	int r;
};

static void *submit_and_exit(void *arg)
{
	struct submitter *s = arg;

	s->r = uring_io_submit(s->u, &s->req, 1);
	return NULL;
}

static void submit_from_ended_thread(struct uring_io *u, struct uring_io_req *req)
{
	struct submitter s = {.u = u, .req = req};
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, submit_and_exit, &s), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(s.r, 1);
}

/* A pipe read armed by a thread that ended before any byte came. */
START_TEST(test_submitter_gone_pipe)
{
	struct uring_io *u;
	int p[2];
	char buf[64];

	ck_assert_int_eq(uring_io_new(1, 8, &u), 0);
	ck_assert_int_eq(pipe(p), 0);
	memset(buf, 'x', sizeof(buf));
	struct uring_io_req req = {.fd = p[0], .buf = buf, .len = sizeof(buf), .off = (uint64_t)-1};
	submit_from_ended_thread(u, &req);
	ck_assert_int_eq(uring_io_wait(u, &req, 50), -ETIMEDOUT); /* no byte yet */
	ck_assert_int_eq(write(p[1], "late bytes", 10), 10);
	int r = uring_io_wait(u, &req, 10000);
	ck_assert_msg(r == 10, "the read of a thread that ended returned %d (%s), not 10 bytes", r,
		      r < 0 ? strerror(-r) : "short");
	ck_assert_int_eq(memcmp(buf, "late bytes", 10), 0);
	ck_assert_msg(buf[10] == 'x', "bytes past the result written");
	close(p[0]);
	close(p[1]);
	uring_io_free(u);
}
END_TEST

#define GONE_READS 32
#define GONE_LEN (256u << 10)

/* Reads of a file whose pages are not in memory (dropped from the page cache), each queued by a
 * thread that ends at once: the kernel reads the pages in and finishes each read later, after
 * its submitter is gone; every read gets all its bytes, the right ones. (Where the file sits on
 * tmpfs the pages cannot be dropped and the reads end at submission: the pipe case above still
 * covers the queue.) */
START_TEST(test_submitter_gone_file)
{
	struct uring_io *u;
	static uint8_t data[GONE_READS][GONE_LEN], back[GONE_READS][GONE_LEN];
	struct uring_io_req req[GONE_READS];

	for (unsigned c = 0; c < GONE_READS; c++)
		for (unsigned i = 0; i < GONE_LEN; i++)
			data[c][i] = pattern(c, i);
	ck_assert_int_eq(pwrite(fd, data, sizeof(data), 0), (ssize_t)sizeof(data));
	ck_assert_int_eq(fsync(fd), 0);
	ck_assert_int_eq(uring_io_new(1, 64, &u), 0);
	for (unsigned round = 0; round < 4; round++) {
		ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
		memset(back, 0, sizeof(back));
		for (unsigned c = 0; c < GONE_READS; c++) {
			req[c] = (struct uring_io_req){.fd = fd,
						       .buf = back[c],
						       .len = GONE_LEN,
						       .off = (uint64_t)c * GONE_LEN};
			submit_from_ended_thread(u, &req[c]);
		}
		for (unsigned c = 0; c < GONE_READS; c++) {
			int r = uring_io_wait(u, &req[c], 10000);
			ck_assert_msg(r == (int)GONE_LEN,
				      "round %u: read %u of a thread that ended returned %d (%s)",
				      round, c, r, r < 0 ? strerror(-r) : "short");
			ck_assert_msg(memcmp(back[c], data[c], GONE_LEN) == 0,
				      "round %u: read %u got wrong bytes", round, c);
		}
	}
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
	tcase_add_test(tc, test_submitter_gone_pipe);
	tcase_add_test(tc, test_submitter_gone_file);
	suite_add_tcase(s, tc);
	return s;
}
