// SPDX-License-Identifier: Apache-2.0
// Do io_uring's registered buffers and files help weir's tier I/O (bench/uring-fixed.sh, issue
// 10)? weir's tier writes and reads (daemon/block_store.c through daemon/uring_io.c) are
// buffered I/O on a tmpfs or ext4 tier file, many in flight, completions reaped in batches.
// This does the same I/O four ways, side by side in one process:
//   plain  IORING_OP_WRITE / READ with a plain buffer and descriptor (weir today)
//   fbuf   WRITE_FIXED / READ_FIXED from buffers registered once (no page pinning per request)
//   ffile  IOSQE_FIXED_FILE: the tier file registered (no descriptor lookup per request)
//   both   the two together
// and prints, per way, the CPU (user + system of the whole process, io-wq workers included)
// per operation and per MiB.
//   uring_fixed FILE OP BLOCK TOTAL DEPTH WAY
//     OP: write (a fresh file: truncated first, as a tier block lands on pages just freed by
//     eviction) or read (the file as written: warm pages); BLOCK and TOTAL in bytes
//   prints "way op block ops wall_s cpu_s"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage r;
	getrusage(RUSAGE_SELF, &r);
	return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
	       (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "uring_fixed: %s: %s\n", what, strerror(err));
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: uring_fixed FILE write|read BLOCK TOTAL DEPTH "
				"plain|fbuf|ffile|both\n");
		return 2;
	}
	const char *path = argv[1], *op = argv[2], *way = argv[6];
	size_t block = strtoull(argv[3], NULL, 0), total = strtoull(argv[4], NULL, 0);
	unsigned depth = (unsigned)strtoul(argv[5], NULL, 0);
	int write_op = strcmp(op, "write") == 0;
	int fbuf = strcmp(way, "fbuf") == 0 || strcmp(way, "both") == 0;
	int ffile = strcmp(way, "ffile") == 0 || strcmp(way, "both") == 0;
	if (!block || total % block || !depth || depth > 256 || (!write_op && strcmp(op, "read")))
		die("arguments", EINVAL);
	int fd = open(path, write_op ? O_RDWR | O_CREAT | O_TRUNC : O_RDONLY, 0600);
	if (fd < 0)
		die(path, errno);
	struct io_uring ring;
	int r = io_uring_queue_init(depth * 2, &ring, 0);
	if (r < 0)
		die("io_uring_queue_init", -r);
	/* one buffer per request slot, touched once so no run pays its first faults */
	struct iovec *iov = calloc(depth, sizeof(*iov));
	for (unsigned i = 0; i < depth; i++) {
		iov[i].iov_base = aligned_alloc(4096, block);
		iov[i].iov_len = block;
		if (!iov[i].iov_base)
			die("aligned_alloc", ENOMEM);
		memset(iov[i].iov_base, 0x5a + (int)i, block);
	}
	if (fbuf && (r = io_uring_register_buffers(&ring, iov, depth)) < 0)
		die("io_uring_register_buffers", -r);
	if (ffile && (r = io_uring_register_files(&ring, &fd, 1)) < 0)
		die("io_uring_register_files", -r);
	size_t nops = total / block, sent = 0, done = 0;
	unsigned free_slots[256], nfree = depth;
	for (unsigned i = 0; i < depth; i++)
		free_slots[i] = i;
	double t0 = now_s(), c0 = cpu_s();
	while (done < nops) {
		/* keep depth requests in flight */
		while (sent < nops && nfree) {
			unsigned slot = free_slots[--nfree];
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			int f = ffile ? 0 : fd;
			off_t off = (off_t)(sent * block);
			void *b = iov[slot].iov_base;
			if (fbuf && write_op)
				io_uring_prep_write_fixed(sqe, f, b, (unsigned)block, off, (int)slot);
			else if (fbuf)
				io_uring_prep_read_fixed(sqe, f, b, (unsigned)block, off, (int)slot);
			else if (write_op)
				io_uring_prep_write(sqe, f, b, (unsigned)block, off);
			else
				io_uring_prep_read(sqe, f, b, (unsigned)block, off);
			if (ffile)
				sqe->flags |= IOSQE_FIXED_FILE;
			io_uring_sqe_set_data64(sqe, slot);
			sent++;
		}
		/* hand them over and wait for at least one, then reap the whole batch */
		r = io_uring_submit_and_wait(&ring, 1);
		if (r < 0 && r != -EINTR)
			die("io_uring_submit_and_wait", -r);
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&ring, head, cqe)
		{
			if (cqe->res != (int)block)
				die("a request's result", cqe->res < 0 ? -cqe->res : EIO);
			free_slots[nfree++] = (unsigned)io_uring_cqe_get_data64(cqe);
			n++;
		}
		io_uring_cq_advance(&ring, n);
		done += n;
	}
	double wall = now_s() - t0, cpu = cpu_s() - c0;
	printf("%s %s %zu %zu %.6f %.6f\n", way, op, block, nops, wall, cpu);
	io_uring_queue_exit(&ring);
	close(fd);
	return 0;
}
