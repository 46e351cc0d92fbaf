// SPDX-License-Identifier: Apache-2.0
// A directory listing's name index: every entry found by name (the last of duplicate names, as
// before), absent names and near misses not found, entries in name order, the index's memory a
// fraction of the names' (it holds no copy of them).
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta_listing.h"
#include "suites.h"

static struct ufs_dirent *make(size_t n)
{
	struct ufs_dirent *ents = calloc(n, sizeof(*ents));
	char name[64];

	ck_assert_ptr_nonnull(ents);
	/* reverse order: the listing sorts */
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "train-%07zu.tar", n - 1 - i);
		ents[i].name = strdup(name);
		ck_assert_ptr_nonnull(ents[i].name);
		ents[i].attr.size = n - 1 - i;
	}
	return ents;
}

START_TEST(finds_every_name)
{
	enum { N = 50000 };
	struct meta_listing *l;
	char name[64];

	ck_assert_int_eq(meta_listing_new(make(N), N, 1, &l), 0);
	ck_assert_uint_eq(meta_listing_count(l), N);
	for (size_t i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "train-%07zu.tar", i);
		const struct ufs_dirent *e = meta_listing_find(l, name);
		ck_assert_ptr_nonnull(e);
		ck_assert_str_eq(e->name, name);
		ck_assert_uint_eq(e->attr.size, i);
		ck_assert_ptr_eq(meta_listing_at(l, i), e); /* sorted: entry i is name i */
	}
	ck_assert_ptr_null(meta_listing_find(l, "train-0050000.tar"));
	ck_assert_ptr_null(meta_listing_find(l, "train-0000001.ta"));
	ck_assert_ptr_null(meta_listing_find(l, "train-0000001.tar/"));
	ck_assert_ptr_null(meta_listing_find(l, ""));
	/* names alone are N allocations of ~24 bytes; the index adds less than 40 per entry */
	uint64_t names = 0;
	for (size_t i = 0; i < N; i++)
		names += malloc_usable_size(meta_listing_at(l, i)->name);
	uint64_t all = meta_listing_bytes(l);
	ck_assert_uint_gt(all, names + N * sizeof(struct ufs_dirent));
	ck_assert_uint_lt(all, names + N * (sizeof(struct ufs_dirent) + 40));
	meta_listing_unref(l);
}
END_TEST

START_TEST(empty_and_duplicates)
{
	struct meta_listing *l;

	ck_assert_int_eq(meta_listing_new(NULL, 0, 1, &l), 0);
	ck_assert_uint_eq(meta_listing_count(l), 0);
	ck_assert_ptr_null(meta_listing_find(l, "x"));
	meta_listing_unref(l);

	struct ufs_dirent *ents = calloc(3, sizeof(*ents));
	ck_assert_ptr_nonnull(ents);
	ents[0].name = strdup("b");
	ents[1].name = strdup("a");
	ents[2].name = strdup("b");
	ents[0].attr.size = 1;
	ents[2].attr.size = 2;
	ck_assert_int_eq(meta_listing_new(ents, 3, 1, &l), 0);
	const struct ufs_dirent *b = meta_listing_find(l, "b");
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(b->name, "b");
	ck_assert_str_eq(meta_listing_find(l, "a")->name, "a");
	/* one of the two "b"s, the later one in name order, as a map that overwrote would give */
	ck_assert_ptr_eq(b, meta_listing_at(l, 2));
	meta_listing_unref(l);
}
END_TEST

Suite *meta_listing_suite(void)
{
	Suite *s = suite_create("meta_listing");
	TCase *tc = tcase_create("meta_listing");
	tcase_add_test(tc, finds_every_name);
	tcase_add_test(tc, empty_and_duplicates);
	suite_add_tcase(s, tc);
	return s;
}
