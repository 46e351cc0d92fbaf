/* SPDX-License-Identifier: Apache-2.0 */
/* Arithmetic of reads over fixed blocks: which blocks a read covers, and the merging of the
 * pieces that answer it into as few contiguous segments as possible (one splice each). */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* One piece of a reply: a range of a tier file (fd >= 0) or of memory (mem != NULL). */
struct range_seg {
	int fd;
	uint64_t off; /* offset in fd, or 0 for memory */
	size_t len;
	const char *mem;
};

/* Clips the read [off, off+size) to file_size and returns the number of blocks it covers
 * (0 when off >= file_size or size == 0); *ret_first and *ret_len_clipped are set then. */
uint64_t ranges_blocks(uint64_t off, size_t size, uint64_t file_size, uint32_t block_size,
		       uint64_t *ret_first, size_t *ret_len_clipped);

/* Appends piece to segs[0..n) and returns the new count. The piece is merged into the last
 * segment when it continues it (same fd and adjacent offset, or adjacent memory). segs must
 * have room for n + 1 entries. Empty pieces are dropped. */
size_t ranges_append(struct range_seg *segs, size_t n, const struct range_seg *piece);
