// SPDX-License-Identifier: Apache-2.0
// weir bench's orders: a permutation holds every file exactly once, the workers' slices cover it
// exactly once between them, seeds reproduce and epochs differ.
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "bench_perm.h"
#include "suites.h"

/* every i in 0..n-1 exactly once */
static void assert_permutation(const uint32_t *idx, size_t n)
{
	unsigned char *seen = calloc(n ? n : 1, 1);
	ck_assert_ptr_nonnull(seen);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_lt(idx[i], n);
		ck_assert_msg(!seen[idx[i]], "index %u twice", idx[i]);
		seen[idx[i]] = 1;
	}
	free(seen);
}

START_TEST(test_permutation_covers_all)
{
	static const size_t sizes[] = {0, 1, 2, 3, 10, 1000, 100003};
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];
		uint32_t *idx = malloc((n ? n : 1) * sizeof(*idx));
		for (uint64_t seed = 0; seed < 3; seed++) {
			bench_perm_fill(idx, n, bench_perm_epoch_seed(seed, 1));
			assert_permutation(idx, n);
		}
		free(idx);
	}
}
END_TEST

START_TEST(test_reproducible_and_shuffled)
{
	enum { N = 5000 };
	static uint32_t a[N], b[N], c[N];
	bench_perm_fill(a, N, bench_perm_epoch_seed(1, 0));
	bench_perm_fill(b, N, bench_perm_epoch_seed(1, 0));
	bench_perm_fill(c, N, bench_perm_epoch_seed(1, 1));
	ck_assert_int_eq(memcmp(a, b, sizeof(a)), 0);
	ck_assert_int_ne(memcmp(a, c, sizeof(a)), 0);
	size_t fixed = 0;
	for (size_t i = 0; i < N; i++)
		fixed += a[i] == i;
	/* a random permutation has one fixed point on average; far more means no shuffle */
	ck_assert_uint_lt(fixed, 20);
}
END_TEST

START_TEST(test_uniform_enough)
{
	/* each of 4 values lands first about n/4 times over many seeds */
	unsigned first[4] = {0};
	uint32_t idx[4];
	for (uint64_t s = 0; s < 40000; s++) {
		bench_perm_fill(idx, 4, s);
		first[idx[0]]++;
	}
	for (int i = 0; i < 4; i++)
		ck_assert_msg(first[i] > 9500 && first[i] < 10500, "value %d first %u times", i,
			      first[i]);
}
END_TEST

START_TEST(test_slices_cover_once)
{
	static const size_t ns[] = {0, 1, 7, 8, 9, 100, 100003};
	static const unsigned ws[] = {1, 2, 3, 8, 13, 1024};
	for (size_t a = 0; a < sizeof(ns) / sizeof(ns[0]); a++) {
		for (size_t b = 0; b < sizeof(ws) / sizeof(ws[0]); b++) {
			size_t n = ns[a], next = 0, lo = (size_t)-1, hi = 0;
			for (unsigned w = 0; w < ws[b]; w++) {
				size_t beg, end;
				bench_perm_slice(n, ws[b], w, &beg, &end);
				ck_assert_uint_eq(beg, next); /* contiguous, no gap, no overlap */
				ck_assert_uint_le(beg, end);
				next = end;
				lo = end - beg < lo ? end - beg : lo;
				hi = end - beg > hi ? end - beg : hi;
			}
			ck_assert_uint_eq(next, n);
			ck_assert_uint_le(hi - lo, 1);
		}
	}
}
END_TEST

START_TEST(test_below_in_range)
{
	uint64_t st = 42;
	for (uint64_t bound = 1; bound < 2000; bound++)
		ck_assert_uint_lt(bench_perm_below(&st, bound), bound);
}
END_TEST

Suite *bench_perm_suite(void)
{
	Suite *s = suite_create("bench_perm");
	TCase *tc = tcase_create("order");
	tcase_add_test(tc, test_permutation_covers_all);
	tcase_add_test(tc, test_reproducible_and_shuffled);
	tcase_add_test(tc, test_uniform_enough);
	tcase_add_test(tc, test_slices_cover_once);
	tcase_add_test(tc, test_below_in_range);
	suite_add_tcase(s, tc);
	return s;
}
