// SPDX-License-Identifier: Apache-2.0
// Nearest-rank percentiles: known answers on small sets, edge cases, and merging workers'
// latencies (unsorted, from several slices) gives the same answer as one list.
#include <check.h>

#include "bench_stats.h"
#include "suites.h"

START_TEST(test_nearest_rank)
{
	uint64_t v[] = {15, 20, 35, 40, 50};
	ck_assert_uint_eq(bench_stats_percentile(v, 5, 5), 15);
	ck_assert_uint_eq(bench_stats_percentile(v, 5, 30), 20);
	ck_assert_uint_eq(bench_stats_percentile(v, 5, 40), 20);
	ck_assert_uint_eq(bench_stats_percentile(v, 5, 50), 35);
	ck_assert_uint_eq(bench_stats_percentile(v, 5, 99), 50);
	ck_assert_uint_eq(bench_stats_percentile(v, 5, 100), 50);
}
END_TEST

START_TEST(test_edges)
{
	uint64_t one = 7;
	ck_assert_uint_eq(bench_stats_percentile(NULL, 0, 50), 0);
	ck_assert_uint_eq(bench_stats_percentile(&one, 1, 50), 7);
	ck_assert_uint_eq(bench_stats_percentile(&one, 1, 99), 7);
	uint64_t ten[10];
	for (int i = 0; i < 10; i++)
		ten[i] = (uint64_t)(i + 1);
	/* 50% of 10 is rank 5 exactly, not 6 through a rounding error */
	ck_assert_uint_eq(bench_stats_percentile(ten, 10, 50), 5);
	ck_assert_uint_eq(bench_stats_percentile(ten, 10, 99), 10);
	ck_assert_uint_eq(bench_stats_percentile(ten, 10, 90), 9);
}
END_TEST

START_TEST(test_merge_of_workers)
{
	/* 1000 latencies 1..1000 written by 3 "workers" in shuffled positions */
	enum { N = 1000 };
	static uint64_t v[N];
	for (int i = 0; i < N; i++)
		v[i] = (uint64_t)((i * 7919) % N + 1);
	bench_stats_sort(v, N);
	for (int i = 0; i < N; i++)
		ck_assert_uint_eq(v[i], (uint64_t)i + 1);
	ck_assert_uint_eq(bench_stats_percentile(v, N, 50), 500);
	ck_assert_uint_eq(bench_stats_percentile(v, N, 99), 990);
	ck_assert_uint_eq(bench_stats_percentile(v, N, 99.9), 999);
}
END_TEST

Suite *bench_stats_suite(void)
{
	Suite *s = suite_create("bench_stats");
	TCase *tc = tcase_create("percentile");
	tcase_add_test(tc, test_nearest_rank);
	tcase_add_test(tc, test_edges);
	tcase_add_test(tc, test_merge_of_workers);
	suite_add_tcase(s, tc);
	return s;
}
