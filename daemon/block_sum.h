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
