// SPDX-License-Identifier: Apache-2.0
// Block checksums: libxxhash's XXH3-64, or the same function built from xxhash's own header for
// AVX2 (block_sum_avx2.c, compiled with -mavx2), picked once by what the CPU has. Debian's
// libxxhash is built for baseline x86-64 (SSE2): profiled, it was a tenth of weir-node's CPU
// on a cold copy (45 ms per 256 MiB out of cache here, AVX2 26 ms).
#include "block_sum.h"

#include <stdatomic.h>
#include <xxhash.h>

#ifdef WEIR_BLOCK_SUM_AVX2
#include "block_sum_avx2.h"

/* 0: not looked yet, 1: AVX2, 2: baseline. Written once per process, by whichever thread
 * gets there first (all write the same value). */
static atomic_int impl;

uint64_t block_sum(const void *buf, size_t len)
{
	int i = atomic_load_explicit(&impl, memory_order_relaxed);
	if (i == 0) {
		__builtin_cpu_init();
		i = __builtin_cpu_supports("avx2") ? 1 : 2;
		atomic_store_explicit(&impl, i, memory_order_relaxed);
	}
	return i == 1 ? block_sum_avx2(buf, len) : XXH3_64bits(buf, len);
}
#else
uint64_t block_sum(const void *buf, size_t len)
{
	return XXH3_64bits(buf, len);
}
#endif
