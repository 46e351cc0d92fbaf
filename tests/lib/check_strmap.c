// SPDX-License-Identifier: Apache-2.0
// strmap's byte count (weir stat's memory breakdown): it follows every put, overwrite, remove
// and growth of the table, and comes back to where it started.
#include <stdio.h>

#include "strmap.h"
#include "suites.h"

START_TEST(bytes_follow_the_entries)
{
	ck_assert_uint_eq(strmap_bytes(NULL), 0);
	struct strmap *m = strmap_new();
	ck_assert_ptr_nonnull(m);
	size_t empty = strmap_bytes(m);
	ck_assert_uint_gt(empty, 0);
	enum { N = 5000 };
	static int values[N];
	char key[64];
	size_t keys = 0;
	for (int i = 0; i < N; i++) {
		int len = snprintf(key, sizeof(key), "/data/train/%08d-%.*s.bin", i, i % 17,
				   "abcdefghijklmnopq");
		keys += (size_t)len + 1;
		int err = -1;
		ck_assert_ptr_null(strmap_put(m, key, &values[i], &err));
		ck_assert_int_eq(err, 0);
	}
	size_t full = strmap_bytes(m);
	/* every key copy and a node header, plus buckets grown past N */
	ck_assert_uint_ge(full, empty + keys + N * sizeof(void *) * 2);
	ck_assert_uint_le(full, empty + keys + N * 128);
	/* an overwrite allocates nothing */
	snprintf(key, sizeof(key), "/data/train/%08d-%.*s.bin", 7, 7, "abcdefghijklmnopq");
	ck_assert_ptr_eq(strmap_put(m, key, &values[0], NULL), &values[7]);
	ck_assert_uint_eq(strmap_bytes(m), full);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "/data/train/%08d-%.*s.bin", i, i % 17,
			 "abcdefghijklmnopq");
		ck_assert_ptr_nonnull(strmap_remove(m, key));
	}
	ck_assert_uint_eq(strmap_size(m), 0);
	/* the nodes are gone; the grown bucket array stays (it never shrinks) */
	size_t after = strmap_bytes(m);
	ck_assert_uint_lt(after, full - keys);
	ck_assert_uint_ge(after, empty);
	strmap_free(m, NULL);
}
END_TEST

Suite *strmap_suite(void)
{
	Suite *s = suite_create("strmap");
	TCase *tc = tcase_create("strmap");
	tcase_add_test(tc, bytes_follow_the_entries);
	suite_add_tcase(s, tc);
	return s;
}
