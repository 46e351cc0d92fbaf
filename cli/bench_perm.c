// SPDX-License-Identifier: Apache-2.0
// Seeded shuffles for weir bench: splitmix64 (Steele, Lea, Flood 2014) is tiny, passes BigCrush
// and has no bad seeds, which is all a benchmark's order needs.
#include "bench_perm.h"

uint64_t bench_perm_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t bench_perm_below(uint64_t *state, uint64_t bound)
{
	/* Lemire's multiply-shift; its bias is below 2^-32 for any bound a file count reaches. */
	return (uint64_t)(((unsigned __int128)bench_perm_next(state) * bound) >> 64);
}

void bench_perm_fill(uint32_t *idx, size_t n, uint64_t seed)
{
	uint64_t st = seed;
	for (size_t i = 0; i < n; i++)
		idx[i] = (uint32_t)i;
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)bench_perm_below(&st, i);
		uint32_t t = idx[i - 1];
		idx[i - 1] = idx[j];
		idx[j] = t;
	}
}

uint64_t bench_perm_epoch_seed(uint64_t seed, unsigned epoch)
{
	uint64_t st = seed ^ ((uint64_t)epoch * 0xd1b54a32d192ed03ull);
	return bench_perm_next(&st);
}

void bench_perm_slice(size_t n, unsigned workers, unsigned w, size_t *ret_begin, size_t *ret_end)
{
	size_t base = n / workers, extra = n % workers;
	/* the first `extra` workers take one more */
	*ret_begin = w * base + (w < extra ? w : extra);
	*ret_end = *ret_begin + base + (w < extra ? 1 : 0);
}
