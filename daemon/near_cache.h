/* SPDX-License-Identifier: Apache-2.0 */
/* The blocks a node keeps in its own tiers though a peer owns them (near-cache): at most a
 * given number of bytes, the oldest leaving first when a new one passes the bound, so copies
 * of other nodes' blocks never crowd out the blocks this node owns. It keeps the account only;
 * the caller takes the blocks it names out of the block store. Thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>

struct near_block {
	uint64_t obj, block;
	uint32_t len;
};

struct near_cache;

/* max: the bound in bytes (> 0). Returns 0 and an owned *ret, or -ENOMEM. */
int near_cache_new(uint64_t max, struct near_cache **ret);
void near_cache_free(struct near_cache *nc);

/* Records a block about to be stored (again: it becomes the newest, counted once) and writes
 * into out[0..cap) the oldest blocks that must leave for the total to stay within the bound,
 * taking them off the account. Returns how many; or, with young_ms > 0, -EBUSY and no change
 * when one that must leave was added less than young_ms ago (near_cache_churns, in the same
 * hold of the lock: two adds at once cannot both pass it and push out a young block). */
ssize_t near_cache_add(struct near_cache *nc, uint64_t obj, uint64_t block, uint32_t len,
		       uint64_t young_ms, struct near_block *out, size_t cap);

/* Puts back, as the oldest, a block near_cache_add named that could not leave (pinned by a
 * reader): it is named again at the next add. */
void near_cache_keep(struct near_cache *nc, const struct near_block *b);

/* Whether adding a block of len bytes now would push out a block added less than window_ms ago:
 * the account is too small for what the readers need at once (a stream's window), so storing
 * would take out blocks before they are read. */
bool near_cache_churns(struct near_cache *nc, uint32_t len, uint64_t window_ms);

/* Forgets a block that left the store another way (eviction, a new version). */
void near_cache_forget(struct near_cache *nc, uint64_t obj, uint64_t block);

/* Bytes on the account now. */
uint64_t near_cache_bytes(struct near_cache *nc);
