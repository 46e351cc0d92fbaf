// SPDX-License-Identifier: Apache-2.0
// Percentiles by nearest rank: the answer is always a latency that was measured, never an
// interpolation between two.
#include "bench_stats.h"

#include <math.h>
#include <stdlib.h>

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

void bench_stats_sort(uint64_t *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_u64);
}

uint64_t bench_stats_percentile(const uint64_t *sorted, size_t n, double p)
{
	if (n == 0)
		return 0;
	if (p <= 0)
		return sorted[0];
	/* rank = ceil(p/100 * n), computed so that 50% of 10 is rank 5, not 5.0000001 -> 6 */
	double r = ceil(p / 100.0 * (double)n - 1e-9);
	size_t rank = r < 1 ? 1 : (size_t)r;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}
