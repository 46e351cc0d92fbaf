// SPDX-License-Identifier: Apache-2.0
// Reads the first BYTES of FILE through io_uring, 8 reads of 128 KiB in flight, and writes them
// to stdout: an io_uring reader for tests/e2e/access.sh (its reads make no read syscall).
// Usage: uring_read FILE BYTES
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
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

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: uring_read FILE BYTES\n");
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
