// SPDX-License-Identifier: Apache-2.0
// Block checksums: libxxhash's XXH3-64, or the same function built from xxhash's own header for
// AVX2 (block_sum_avx2.c, compiled with -mavx2), picked once by what the CPU has. Debian's
// libxxhash is built for baseline x86-64 (SSE2): profiled, it was a tenth of weir-node's CPU
// on a cold copy (45 ms per 256 MiB out of cache here, AVX2 26 ms). The running form lets the
// fetcher sum each part of a block as it lands, while its bytes are still in the CPU's cache.
#include "block_sum.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <xxhash.h>

#ifdef WEIR_BLOCK_SUM_AVX2
#include "block_sum_avx2.h"

/* 0: not looked yet, 1: AVX2, 2: baseline. Written once per process, by whichever thread
 * gets there first (all write the same value). */
static atomic_int impl;

static bool avx2(void)
{
	int i = atomic_load_explicit(&impl, memory_order_relaxed);
	if (i == 0) {
		__builtin_cpu_init();
		i = __builtin_cpu_supports("avx2") ? 1 : 2;
		atomic_store_explicit(&impl, i, memory_order_relaxed);
	}
	return i == 1;
}
#else
static bool avx2(void)
{
	return false;
}
#define block_sum_avx2(b, n) XXH3_64bits(b, n)
#define block_sum_avx2_new() NULL
#define block_sum_avx2_update(s, b, n) (void)0
#define block_sum_avx2_digest(s) 0
#define block_sum_avx2_free(s) (void)0
#endif

uint64_t block_sum(const void *buf, size_t len)
{
	return avx2() ? block_sum_avx2(buf, len) : XXH3_64bits(buf, len);
}

/* Either implementation's XXH3 state, never mixed: avx2() does not change within a process. */
struct block_sum_state *block_sum_new(void)
{
	if (avx2())
		return block_sum_avx2_new();
	XXH3_state_t *s = XXH3_createState();
	if (s)
		XXH3_64bits_reset(s);
	return (struct block_sum_state *)s;
}

void block_sum_update(struct block_sum_state *s, const void *buf, size_t len)
{
	if (avx2())
		block_sum_avx2_update(s, buf, len);
	else
		XXH3_64bits_update((XXH3_state_t *)s, buf, len);
}

uint64_t block_sum_digest(const struct block_sum_state *s)
{
	return avx2() ? block_sum_avx2_digest(s) : XXH3_64bits_digest((const XXH3_state_t *)s);
}

void block_sum_free(struct block_sum_state *s)
{
	if (!s)
		return;
	if (avx2())
		block_sum_avx2_free(s);
	else
		XXH3_freeState((XXH3_state_t *)s);
}
