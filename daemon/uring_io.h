/* SPDX-License-Identifier: Apache-2.0 */
/* Blocking whole-buffer file reads and writes through a small pool of io_uring instances.
 * Any thread may call; each call holds one ring until its request completes, so the caller's
 * buffer is owned by the kernel only for the duration of the call. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct uring_io;

/* Creates nrings rings of depth entries each. Returns 0 and an owned *ret, or -errno
 * (-ENOSYS or -EPERM where io_uring is unavailable: seccomp, io_uring_disabled).
 * nrings 0 makes an instance that does the same I/O with pread(2)/pwrite(2), for such hosts. */
int uring_io_new(unsigned nrings, unsigned depth, struct uring_io **ret);
/* NULL is fine. No call may be in flight. */
void uring_io_free(struct uring_io *u);

/* Writes all len bytes of buf at off (short writes are continued). Returns len or -errno
 * (-ENOSPC when the filesystem is full, -EIO when the kernel writes nothing). */
ssize_t uring_io_pwrite(struct uring_io *u, int fd, const void *buf, size_t len, uint64_t off);
/* Reads up to len bytes at off into buf, stopping early only at end of file. Returns the
 * bytes read or -errno. */
ssize_t uring_io_pread(struct uring_io *u, int fd, void *buf, size_t len, uint64_t off);
