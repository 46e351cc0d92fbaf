/* SPDX-License-Identifier: Apache-2.0 */
/* One epoch of one weir bench workload on one directory: worker processes (fork), released
 * together, each reading its part; what they measured is merged in the parent. Processes, not
 * threads, because that is how training data loaders read (PyTorch's num_workers), and FUSE
 * and the page cache treat separate processes differently from threads of one. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_tree.h"

struct bench_job {
	unsigned workload; /* one enum bench_workload bit */
	const struct bench_tree *tree;
	const uint32_t *order; /* files, shards: the epoch's order of tree->files, tree->n long */
	size_t checkpoint;     /* checkpoint: the index in tree of the file every worker reads */
	unsigned workers;
	const char *progress_label; /* a progress line on stderr with this label, or NULL */
};

struct bench_epoch {
	double seconds;		 /* release of the workers to the last one done */
	uint64_t files;		 /* files read to the end, all workers (checkpoint: workers) */
	uint64_t bytes;		 /* bytes read, all workers */
	uint64_t p50_ns, p99_ns; /* per-file open-read-close (checkpoint: per reader) */
	int64_t ufs_bytes;	 /* fetched from the UFS meanwhile; -1 when not known */
};

/* Runs one epoch. Returns 0 with *ret filled (ufs_bytes -1: the caller measures it), or -errno
 * with a sentence in err naming the file and the error when a worker failed. */
int bench_run_epoch(const struct bench_job *job, struct bench_epoch *ret, char *err, size_t errlen);

/* Writes back dirty pages and drops the page cache, dentries and inodes
 * (/proc/sys/vm/drop_caches). Returns 0 or -errno (-EACCES/-EPERM when not root). */
int bench_run_drop_caches(void);
