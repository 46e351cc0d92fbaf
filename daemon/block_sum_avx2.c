// SPDX-License-Identifier: Apache-2.0
// XXH3-64 from xxhash's header, its AVX2 code path, in a file of its own: everything here is
// compiled with -mavx2, so nothing else may live in it (block_sum.c calls it only on a CPU
// with AVX2). XXH3's output does not depend on the code path.
#include "block_sum_avx2.h"

#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_AVX2
#include <xxhash.h>

uint64_t block_sum_avx2(const void *buf, size_t len)
{
	return XXH3_64bits(buf, len);
}

void *block_sum_avx2_new(void)
{
	XXH3_state_t *s = XXH3_createState();
	if (s)
		XXH3_64bits_reset(s);
	return s;
}

void block_sum_avx2_update(void *s, const void *buf, size_t len)
{
	XXH3_64bits_update(s, buf, len);
}

uint64_t block_sum_avx2_digest(const void *s)
{
	return XXH3_64bits_digest(s);
}

void block_sum_avx2_free(void *s)
{
	XXH3_freeState(s);
}
