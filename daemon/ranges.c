// SPDX-License-Identifier: Apache-2.0
// Read-to-block arithmetic and segment merging; pure functions.
#include "ranges.h"

uint64_t ranges_blocks(uint64_t off, size_t size, uint64_t file_size, uint32_t block_size,
		       uint64_t *ret_first, size_t *ret_len_clipped)
{
	if (size == 0 || off >= file_size || block_size == 0)
		return 0;
	uint64_t end = off + size;
	if (end > file_size || end < off)
		end = file_size;
	uint64_t first = off / block_size;
	uint64_t last = (end - 1) / block_size;
	*ret_first = first;
	*ret_len_clipped = (size_t)(end - off);
	return last - first + 1;
}

size_t ranges_append(struct range_seg *segs, size_t n, const struct range_seg *piece)
{
	if (piece->len == 0)
		return n;
	if (n > 0) {
		struct range_seg *last = &segs[n - 1];
		if (piece->mem == NULL && last->mem == NULL && last->fd == piece->fd &&
		    last->off + last->len == piece->off) {
			last->len += piece->len;
			return n;
		}
		if (piece->mem != NULL && last->mem != NULL &&
		    last->mem + last->len == piece->mem) {
			last->len += piece->len;
			return n;
		}
	}
	segs[n] = *piece;
	return n + 1;
}
