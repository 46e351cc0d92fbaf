/* SPDX-License-Identifier: Apache-2.0 */
/* A one-file FUSE filesystem served by a child process, standing in for a weir
 * view in the BPF tests: /data, `size` bytes, opened with keep_cache. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct fuse_file_stats {
	uint64_t read_requests; /* FUSE READs the server answered */
	uint64_t read_bytes;
};

/* Mounts at mountpoint (an empty directory) and returns once the mount is
 * visible. *ret_stats points into memory shared with the server, updated as
 * it answers. Returns 0 and the server's pid, or -errno. */
int fuse_file_start(const char *mountpoint, size_t size, pid_t *ret_pid,
		    volatile struct fuse_file_stats **ret_stats);
/* Unmounts and reaps the server. */
void fuse_file_stop(const char *mountpoint, pid_t pid);
