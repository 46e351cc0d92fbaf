// SPDX-License-Identifier: Apache-2.0
// Reads the first BYTES of FILE through io_uring, 8 reads of 128 KiB in flight, and writes them
// to stdout: an io_uring reader for tests/e2e/access.sh (its reads make no read syscall).
// With --splice, io_uring SPLICE requests move them into a pipe instead, 64 KiB each (the first
// half at explicit offsets, the rest from the file's position), and the pipe is read out.
// Usage: uring_read [--splice] FILE BYTES
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEPTH 8
#define CHUNK (128 * 1024)

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One SPLICE of up to a pipe's 64 KiB from fd into the pipe at off (-1: fd's position), waited
 * for, then drained to stdout. Returns the bytes moved (0: end of file) or -1. */
static long splice_chunk(struct io_uring *ring, int fd, int pipe_fds[2], long long off,
			 unsigned len)
{
	static char buf[64 * 1024];
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	io_uring_prep_splice(sqe, fd, off, pipe_fds[1], -1, len, 0);
	int r = io_uring_submit_and_wait(ring, 1);
	if (r >= 0)
		r = io_uring_wait_cqe(ring, &cqe);
	if (r < 0) {
		fprintf(stderr, "uring_read: splice submit/wait: %s\n", strerror(-r));
		return -1;
	}
	int res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	if (res < 0) {
		fprintf(stderr, "uring_read: splice at %lld: %s\n", off, strerror(-res));
		return -1;
	}
	for (int left = res; left > 0;) {
		ssize_t n =
		    read(pipe_fds[0], buf, (size_t)left < sizeof(buf) ? (size_t)left : sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || write_all(1, buf, (size_t)n) < 0)
			return -1;
		left -= (int)n;
	}
	return res;
}

/* --splice: BYTES from the start of fd through io_uring SPLICE */
static int splice_all(struct io_uring *ring, int fd, unsigned long long want)
{
	int pipe_fds[2];
	if (pipe(pipe_fds) < 0) {
		fprintf(stderr, "uring_read: pipe: %s\n", strerror(errno));
		return 1;
	}
	unsigned long long done = 0, half = want / 2;
	bool positioned = false;
	while (done < want) {
		/* the second half from the file's position: the kernel moves it, not the request */
		if (done >= half && !positioned) {
			if (lseek(fd, (off_t)done, SEEK_SET) < 0) {
				fprintf(stderr, "uring_read: lseek: %s\n", strerror(errno));
				return 1;
			}
			positioned = true;
		}
		unsigned len = want - done < 65536 ? (unsigned)(want - done) : 65536;
		long n = splice_chunk(ring, fd, pipe_fds, positioned ? -1 : (long long)done, len);
		if (n < 0)
			return 1;
		if (n == 0)
			break; /* the file ends here */
		done += (unsigned long long)n;
	}
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	return 0;
}

int main(int argc, char **argv)
{
	bool splice = argc == 4 && strcmp(argv[1], "--splice") == 0;
	if (splice) {
		argv++;
		argc--;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: uring_read [--splice] FILE BYTES\n");
		return 2;
	}
	char *end;
	unsigned long long want = strtoull(argv[2], &end, 10);
	if (*end || want == 0) {
		fprintf(stderr, "uring_read: BYTES \"%s\" is not a positive number\n", argv[2]);
		return 2;
	}
	int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "uring_read: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	struct io_uring ring;
	int r = io_uring_queue_init(DEPTH, &ring, 0);
	if (r < 0) {
		fprintf(stderr, "uring_read: io_uring_queue_init: %s\n", strerror(-r));
		return 1;
	}
	if (splice)
		return splice_all(&ring, fd, want);
	static char bufs[DEPTH][CHUNK];
	unsigned long long off[DEPTH];
	unsigned lens[DEPTH];
	unsigned long long next = 0, done = 0;
	unsigned inflight = 0;
	/* Completions come in any order: the chunks of a round are written out when all are in. */
	while (done < want) {
		unsigned n = 0;
		for (; n < DEPTH && next < want; n++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			unsigned len = want - next < CHUNK ? (unsigned)(want - next) : CHUNK;
			io_uring_prep_read(sqe, fd, bufs[n], len, next);
			io_uring_sqe_set_data64(sqe, n);
			off[n] = next;
			lens[n] = len;
			next += len;
		}
		inflight = n;
		r = io_uring_submit_and_wait(&ring, inflight);
		if (r < 0) {
			fprintf(stderr, "uring_read: submit: %s\n", strerror(-r));
			return 1;
		}
		int got[DEPTH] = {0};
		for (unsigned i = 0; i < inflight; i++) {
			struct io_uring_cqe *cqe;
			r = io_uring_wait_cqe(&ring, &cqe);
			if (r < 0) {
				fprintf(stderr, "uring_read: wait: %s\n", strerror(-r));
				return 1;
			}
			unsigned k = (unsigned)io_uring_cqe_get_data64(cqe);
			if (cqe->res < 0) {
				fprintf(stderr, "uring_read: read at %llu: %s\n", off[k],
					strerror(-cqe->res));
				return 1;
			}
			got[k] = cqe->res;
			io_uring_cqe_seen(&ring, cqe);
		}
		for (unsigned k = 0; k < inflight; k++) {
			if (write_all(1, bufs[k], (size_t)got[k]) < 0)
				return 1;
			done += (unsigned long long)got[k];
			if ((unsigned)got[k] < lens[k]) {
				want = done; /* a short read: the file ends here */
				break;
			}
		}
	}
	io_uring_queue_exit(&ring);
	close(fd);
	return 0;
}
