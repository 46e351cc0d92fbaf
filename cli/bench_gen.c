// SPDX-License-Identifier: Apache-2.0
// Data-set generation for weir bench. Every file's bytes come from splitmix64 seeded by its kind
// and index, so a regenerated set is byte-identical (a cache keyed by content sees no change)
// and no compressing transport or store can make it look faster than real data.
#include "bench_gen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "bench_perm.h"
#include "quantity.h"

#define GEN_BUF (1u << 20)

const char *bench_gen_subdir(unsigned kind)
{
	return bench_args_workload_name(kind);
}

static int mkdir_p(const char *path)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	return -errno;
}

static int write_file(const char *path, uint64_t size, uint64_t seed, uint64_t *buf)
{
	int r = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	uint64_t st = seed;
	for (uint64_t off = 0; off < size;) {
		size_t len = size - off < GEN_BUF ? (size_t)(size - off) : GEN_BUF;
		for (size_t i = 0; i < (len + 7) / 8; i++)
			buf[i] = bench_perm_next(&st);
		ssize_t w = write(fd, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto close_fd;
		}
		/* a regular file writes short only when its file system is full */
		if ((size_t)w != len) {
			r = -ENOSPC;
			goto close_fd;
		}
		off += len;
	}
close_fd:
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

int bench_gen_run(const char *dir, const struct bench_gen_spec *spec, bool progress, char *err,
		  size_t errlen)
{
	int r;
	char path[4096];
	const char *sub = bench_gen_subdir(spec->kind);
	if ((r = mkdir_p(dir)) < 0) {
		snprintf(err, errlen, "cannot create \"%s\": %s", dir, strerror(-r));
		return r;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if ((r = mkdir_p(path)) < 0) {
		snprintf(err, errlen, "cannot create \"%s\": %s", path, strerror(-r));
		return r;
	}
	struct statvfs vfs;
	/* a range: its top bounds what the files may need */
	uint64_t top = spec->size_max > spec->size ? spec->size_max : spec->size;
	unsigned __int128 need = (unsigned __int128)spec->count * top;
	if (statvfs(path, &vfs) == 0 && need > (unsigned __int128)vfs.f_bavail * vfs.f_frsize) {
		char a[32], b[32];
		snprintf(err, errlen, "%s:%llux%s needs %s but \"%s\" has %s free", sub,
			 (unsigned long long)spec->count, quantity_format(top, a, sizeof(a)),
			 need > UINT64_MAX ? "more than 16EiB"
					   : quantity_format((uint64_t)need, b, sizeof(b)),
			 dir, quantity_format((uint64_t)vfs.f_bavail * vfs.f_frsize, a, sizeof(a)));
		return -ENOSPC;
	}
	uint64_t *buf = malloc(GEN_BUF + 8);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < spec->count; i++) {
		if (spec->kind == BENCH_FILES) {
			snprintf(path, sizeof(path), "%s/files/%04llu", dir,
				 (unsigned long long)(i / 1000));
			if (i % 1000 == 0 && (r = mkdir_p(path)) < 0) {
				snprintf(err, errlen, "cannot create \"%s\": %s", path,
					 strerror(-r));
				goto free_buf;
			}
			snprintf(path, sizeof(path), "%s/files/%04llu/%08llu.bin", dir,
				 (unsigned long long)(i / 1000), (unsigned long long)i);
		} else if (spec->kind == BENCH_SHARDS) {
			snprintf(path, sizeof(path), "%s/shards/shard-%06llu.tar", dir,
				 (unsigned long long)i);
		} else {
			snprintf(path, sizeof(path), "%s/checkpoint/checkpoint-%06llu.pt", dir,
				 (unsigned long long)i);
		}
		uint64_t seed = ((uint64_t)spec->kind << 56) ^ (i * 0x2545f4914f6cdd1dull);
		uint64_t size = spec->size;
		if (spec->size_max >
		    spec->size) { /* drawn from the index: the same set each time */
			uint64_t st = i ^ 0x9e3779b97f4a7c15ull;
			size += bench_perm_next(&st) % (spec->size_max - spec->size + 1);
		}
		if ((r = write_file(path, size, seed, buf)) < 0) {
			snprintf(err, errlen, "cannot write \"%s\": %s", path, strerror(-r));
			goto free_buf;
		}
		if (progress && (i % 256 == 0 || i + 1 == spec->count || spec->size >= GEN_BUF)) {
			fprintf(stderr, "\rgenerate %s: %llu/%llu", sub,
				(unsigned long long)(i + 1), (unsigned long long)spec->count);
			fflush(stderr);
		}
	}
	r = 0;
free_buf:
	if (progress)
		fprintf(stderr, "\r\033[K");
	free(buf);
	return r;
}
