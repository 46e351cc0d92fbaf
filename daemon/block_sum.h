/* SPDX-License-Identifier: Apache-2.0 */
/* The checksum of a block's bytes: XXH3-64, the value the index keeps, a tier read is checked
 * against and peers sign and compare. It must stay XXH3-64 bit for bit: the index and other
 * nodes hold sums computed by older builds and by libxxhash. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* XXH3_64bits(buf, len), by the fastest implementation this CPU runs (xxhash's AVX2 one where
 * the CPU has AVX2, else libxxhash's); the same value either way. Any thread. */
uint64_t block_sum(const void *buf, size_t len);

/* A running block_sum over bytes given in order, for a block whose bytes arrive in pieces:
 * block_sum_digest() is block_sum() of every byte given to block_sum_update() so far, in that
 * order. block_sum_new() returns NULL when out of memory; block_sum_free() accepts NULL. One
 * thread at a time per state. */
struct block_sum_state;
struct block_sum_state *block_sum_new(void);
void block_sum_update(struct block_sum_state *s, const void *buf, size_t len);
uint64_t block_sum_digest(const struct block_sum_state *s);
void block_sum_free(struct block_sum_state *s);
