/* SPDX-License-Identifier: Apache-2.0 */
/* Latency percentiles for weir bench: every worker's per-file times, merged and ranked. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Sorts v[0..n) ascending in place. */
void bench_stats_sort(uint64_t *v, size_t n);

/* The nearest-rank p-th percentile (0 < p <= 100) of sorted[0..n): the smallest value with at
 * least p% of the values at or below it. 0 when n is 0. */
uint64_t bench_stats_percentile(const uint64_t *sorted, size_t n, double p);
