// SPDX-License-Identifier: Apache-2.0
// The workers of weir bench. They share one anonymous mapping with the parent: counters for the
// progress line, the first error, each worker's end time and every per-file latency, written at
// the file's position in the order so that no two workers write the same slot.
#include "bench_run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_args.h"
#include "bench_perm.h"
#include "bench_stats.h"

#define READ_BUF (1u << 20)
#define MAX_WORKERS 1024

struct shared {
	_Atomic uint64_t files;
	_Atomic uint64_t bytes;
	_Atomic int err;	  /* first worker error, -errno; 0 none */
	_Atomic size_t err_index; /* the tree index of the file it failed on */
	uint64_t end_ns[MAX_WORKERS];
	uint64_t lat_ns[]; /* one per position in the order (checkpoint: per worker) */
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Reads path to the end. Returns the bytes read or -errno. */
static int64_t read_whole(const char *path, char *buf)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int64_t total = 0;
	for (;;) {
		ssize_t n = read(fd, buf, READ_BUF);
		if (n > 0) {
			total += n;
		} else if (n == 0) {
			break;
		} else if (errno != EINTR) {
			total = -errno;
			break;
		}
	}
	if (close(fd) < 0 && total >= 0)
		total = -errno;
	return total;
}

static void fail_once(struct shared *sh, int err, size_t index)
{
	int none = 0;
	if (atomic_compare_exchange_strong(&sh->err, &none, err))
		atomic_store(&sh->err_index, index);
}

static void worker(const struct bench_job *job, struct shared *sh, unsigned w, int start_fd)
{
	char *buf = malloc(READ_BUF);
	char c;
	/* the barrier: the parent closes its end when every worker exists */
	while (read(start_fd, &c, 1) < 0 && errno == EINTR)
		;
	if (!buf) {
		fail_once(sh, -ENOMEM, 0);
		_exit(1);
	}
	size_t begin = w, end = w + 1;
	if (job->workload != BENCH_CHECKPOINT)
		bench_perm_slice(job->tree->n, job->workers, w, &begin, &end);
	for (size_t i = begin; i < end; i++) {
		size_t idx = job->workload == BENCH_CHECKPOINT ? job->checkpoint : job->order[i];
		uint64_t t0 = now_ns();
		int64_t n = read_whole(job->tree->files[idx].path, buf);
		uint64_t t1 = now_ns();
		if (n < 0) {
			fail_once(sh, (int)n, idx);
			_exit(1);
		}
		sh->lat_ns[i] = t1 - t0;
		atomic_fetch_add(&sh->files, 1);
		atomic_fetch_add(&sh->bytes, (uint64_t)n);
		if (atomic_load(&sh->err))
			_exit(1); /* another worker failed: the epoch is lost, stop early */
	}
	sh->end_ns[w] = now_ns();
	_exit(0);
}

static void progress_line(const struct bench_job *job, const struct shared *sh, uint64_t t0,
			  size_t total)
{
	double s = (double)(now_ns() - t0) / 1e9;
	uint64_t b = atomic_load(&sh->bytes);
	fprintf(stderr, "\r\033[K%s: %llu/%zu files, %.1f MB/s", job->progress_label,
		(unsigned long long)atomic_load(&sh->files), total,
		s > 0 ? (double)b / s / 1e6 : 0.0);
	fflush(stderr);
}

int bench_run_epoch(const struct bench_job *job, struct bench_epoch *ret, char *err, size_t errlen)
{
	int r = 0;
	if (job->workers == 0 || job->workers > MAX_WORKERS) {
		snprintf(err, errlen, "%u workers: from 1 to %d", job->workers, MAX_WORKERS);
		return -EINVAL;
	}
	size_t nlat = job->workload == BENCH_CHECKPOINT ? job->workers : job->tree->n;
	size_t maplen = sizeof(struct shared) + nlat * sizeof(uint64_t);
	struct shared *sh =
	    mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		r = -errno;
		snprintf(err, errlen, "cannot map %zu bytes for the workers: %s", maplen,
			 strerror(-r));
		return r;
	}
	pid_t *pids = calloc(job->workers, sizeof(*pids));
	int start[2] = {-1, -1};
	if (!pids) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto unmap;
	}
	if (pipe2(start, O_CLOEXEC) < 0) {
		r = -errno;
		snprintf(err, errlen, "pipe: %s", strerror(-r));
		goto free_pids;
	}
	fflush(stdout);
	fflush(stderr);
	unsigned started = 0;
	for (; started < job->workers; started++) {
		pid_t pid = fork();
		if (pid < 0) {
			r = -errno;
			snprintf(err, errlen, "cannot start worker %u: %s", started + 1,
				 strerror(-r));
			break;
		}
		if (pid == 0) {
			close(start[1]);
			worker(job, sh, started, start[0]);
		}
		pids[started] = pid;
	}
	uint64_t t0 = now_ns();
	close(start[0]);
	close(start[1]); /* releases the workers */
	if (r < 0) {
		/* those that started: they read nothing of use, stop them */
		for (unsigned i = 0; i < started; i++)
			kill(pids[i], SIGKILL);
	}
	size_t total = job->workload == BENCH_CHECKPOINT ? job->workers : job->tree->n;
	bool failed_exit = false;
	for (unsigned i = 0; i < started; i++) {
		int status;
		if (job->progress_label) {
			/* poll so the progress line moves while the workers read */
			while (waitpid(pids[i], &status, WNOHANG) == 0) {
				progress_line(job, sh, t0, total);
				nanosleep(&(struct timespec){.tv_nsec = 200000000}, NULL);
			}
		} else {
			while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
				;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed_exit = true;
	}
	if (job->progress_label)
		fprintf(stderr, "\r\033[K");
	if (r < 0)
		goto free_pids;
	if (atomic_load(&sh->err)) {
		r = atomic_load(&sh->err);
		snprintf(err, errlen, "reading \"%s\" failed: %s",
			 job->tree->files[atomic_load(&sh->err_index)].path, strerror(-r));
		goto free_pids;
	}
	if (failed_exit) {
		r = -ECHILD;
		snprintf(err, errlen, "a worker was killed before it finished");
		goto free_pids;
	}
	uint64_t t1 = t0;
	for (unsigned i = 0; i < started; i++)
		if (sh->end_ns[i] > t1)
			t1 = sh->end_ns[i];
	bench_stats_sort(sh->lat_ns, nlat);
	ret->seconds = (double)(t1 - t0) / 1e9;
	ret->files = atomic_load(&sh->files);
	ret->bytes = atomic_load(&sh->bytes);
	ret->p50_ns = bench_stats_percentile(sh->lat_ns, nlat, 50);
	ret->p99_ns = bench_stats_percentile(sh->lat_ns, nlat, 99);
	ret->ufs_bytes = -1;
free_pids:
	free(pids);
unmap:
	munmap(sh, maplen);
	return r;
}

int bench_run_drop_caches(void)
{
	sync();
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = 0;
	if (write(fd, "3\n", 2) != 2)
		r = -errno;
	close(fd);
	return r;
}
