// SPDX-License-Identifier: Apache-2.0
// The metadata cache's cost and availability: lookups in a big directory share one listing
// (no copy per stat), and while the UFS cannot be reached cached metadata is served up to
// max-stale past its TTL (stale-if-error), a definite answer (404) never counting as an outage.
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta_cache.h"
#include "suites.h"
#include "ufs.h"

#define BIG_FILES 50000

static char dir[256];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/weir-mc-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void teardown(void)
{
	nftw(dir, rm_one, 64, FTW_DEPTH | FTW_PHYS);
}

static struct meta_cache *open_meta(struct ufs *u)
{
	char db[512];
	struct meta_cache *mc;
	snprintf(db, sizeof(db), "%s/meta.db", dir);
	ck_assert_int_eq(meta_cache_open(db, u, &mc), 0);
	return mc;
}

/* A flat directory of BIG_FILES files, file i holding i % 97 + 1 bytes, under a local UFS. */
static struct ufs *big_tree(void)
{
	char p[512], err[256];
	snprintf(p, sizeof(p), "%s/src", dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/src/big", dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	static const char bytes[97] = {0};
	for (int i = 0; i < BIG_FILES; i++) {
		snprintf(p, sizeof(p), "%s/src/big/file-%06d", dir, i);
		FILE *f = fopen(p, "w");
		ck_assert_ptr_nonnull(f);
		ck_assert_uint_eq(fwrite(bytes, 1, i % 97 + 1, f), (size_t)(i % 97 + 1));
		fclose(f);
	}
	struct ufs *u;
	snprintf(p, sizeof(p), "local://%s/src", dir);
	ck_assert_int_eq(ufs_new(p, NULL, &u, err, sizeof(err)), 0);
	return u;
}

/* Before the fix every stat copied the whole parent listing: 50,000 stats in a directory of
 * 50,000 entries copied 2.5 billion entries and ran far past the test's timeout. */
START_TEST(stats_in_a_big_directory_share_its_listing)
{
	struct ufs *u = big_tree();
	struct meta_cache *mc = open_meta(u);
	struct ufs_attr a;
	ck_assert_int_eq(meta_cache_getattr(mc, "/big/file-000000", 60000, &a), 0);
	uint64_t requests = atomic_load(&u->stats.requests);
	char path[64];
	for (int i = 0; i < BIG_FILES; i++) {
		snprintf(path, sizeof(path), "/big/file-%06d", i);
		ck_assert_int_eq(meta_cache_getattr(mc, path, 60000, &a), 0);
		ck_assert_uint_eq(a.size, i % 97 + 1);
		ck_assert(!a.is_dir);
	}
	ck_assert_int_eq(meta_cache_getattr(mc, "/big/file-999999", 60000, &a), -ENOENT);
	ck_assert_uint_eq(atomic_load(&u->stats.requests), requests);
	meta_cache_free(mc);
	ufs_free(u);
}
END_TEST

/* Readers borrow the cached listing itself: the same object for every reader, never a copy,
 * and it stays valid for its holders after the cache replaced it. */
START_TEST(listings_are_shared_and_outlive_their_replacement)
{
	struct ufs *u = big_tree();
	struct meta_cache *mc = open_meta(u);
	struct meta_listing *l1, *l2, *l3;
	ck_assert_int_eq(meta_cache_list(mc, "/big", 60000, &l1), 0);
	ck_assert_int_eq(meta_cache_list(mc, "/big", 60000, &l2), 0);
	ck_assert_ptr_eq(l1, l2);
	ck_assert_uint_eq(meta_listing_count(l1), BIG_FILES);
	const struct ufs_dirent *e = meta_listing_find(l1, "file-012345");
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_eq(e, meta_listing_at(l1, 12345)); /* sorted, and indexed in place */
	ck_assert_ptr_null(meta_listing_find(l1, "file-12345"));

	char p[512];
	snprintf(p, sizeof(p), "%s/src/big/zzz-new", dir);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(meta_cache_list(mc, "/big", 0, &l3), 0); /* expired: listed again */
	ck_assert_ptr_ne(l3, l1);
	ck_assert_uint_eq(meta_listing_count(l3), BIG_FILES + 1);
	ck_assert_ptr_nonnull(meta_listing_find(l3, "zzz-new"));
	meta_listing_unref(l3);
	/* the replaced listing is intact for the readers that hold it */
	ck_assert_uint_eq(meta_listing_count(l1), BIG_FILES);
	ck_assert_str_eq(meta_listing_at(l1, BIG_FILES - 1)->name, "file-049999");
	ck_assert_ptr_null(meta_listing_find(l1, "zzz-new"));
	meta_listing_unref(l1);
	meta_listing_unref(l2);
	meta_cache_free(mc);
	ufs_free(u);
}
END_TEST

/* ---- stale-if-error, over a UFS whose answers the test decides ---- */

static int fake_err;	    /* what list and stat answer: 0 or -errno */
static unsigned fake_calls; /* how often the UFS was asked */

static int fake_list(struct ufs *u, const char *path, struct ufs_dirent **ret_ents, size_t *ret_n)
{
	fake_calls++;
	if (fake_err) {
		snprintf(u->last_error, sizeof(u->last_error), "fake://%s: %s", path,
			 strerror(-fake_err));
		return fake_err;
	}
	struct ufs_dirent *e = calloc(2, sizeof(*e));
	ck_assert_ptr_nonnull(e);
	e[0] =
	    (struct ufs_dirent){.name = strdup("b.bin"), .attr = {.size = 7}, .size_known = true};
	e[1] =
	    (struct ufs_dirent){.name = strdup("a.bin"), .attr = {.size = 5}, .size_known = true};
	*ret_ents = e;
	*ret_n = 2;
	return 0;
}

static int fake_stat(struct ufs *u, const char *path, struct ufs_attr *ret)
{
	fake_calls++;
	if (fake_err)
		return fake_err;
	*ret = (struct ufs_attr){.size = 5, .mtime = 1000};
	snprintf(ret->etag, sizeof(ret->etag), "\"v1\"");
	return 0;
}

static const struct ufs_ops fake_ops = {.scheme = "fake", .list = fake_list, .stat = fake_stat};

static struct ufs fake_ufs = {.ops = &fake_ops, .url = "fake://server"};

START_TEST(an_unreachable_ufs_serves_cached_metadata_until_max_stale)
{
	fake_err = 0;
	struct meta_cache *mc = open_meta(&fake_ufs);
	struct meta_listing *l;
	struct ufs_attr a;
	bool changed;
	ck_assert_int_eq(meta_cache_list(mc, "/", 60000, &l), 0);
	meta_listing_unref(l);
	ck_assert_int_eq(meta_cache_validate(mc, "/a.bin", 60000, false, &a, &changed), 0);
	struct meta_cache_health h;
	meta_cache_get_health(mc, &h);
	ck_assert_int_eq(h.down_since_ms, 0);
	ck_assert_uint_eq(h.max_stale_ms, META_CACHE_MAX_STALE_DEFAULT_MS);

	/* The server goes away; every entry is past its TTL (0 ms), within max-stale. */
	fake_err = -ECONNREFUSED;
	usleep(5000);
	ck_assert_int_eq(meta_cache_list(mc, "/", 0, &l), 0);
	ck_assert_uint_eq(meta_listing_count(l), 2);
	meta_listing_unref(l);
	ck_assert_int_eq(meta_cache_getattr(mc, "/b.bin", 0, &a), 0);
	ck_assert_uint_eq(a.size, 7);
	ck_assert_int_eq(meta_cache_validate(mc, "/a.bin", 0, false, &a, &changed), 0);
	ck_assert_str_eq(a.etag, "\"v1\"");
	ck_assert(!changed);
	meta_cache_get_health(mc, &h);
	ck_assert_int_ne(h.down_since_ms, 0);
	ck_assert_int_eq(h.down_err, -ECONNREFUSED);
	ck_assert_str_eq(h.cause, "Connection refused"); /* no URL: it may hold credentials */
	ck_assert_uint_ge(h.stale_served, 3);
	ck_assert_int_gt(h.stale_age_ms, 0);
	ck_assert_uint_eq(h.stale_refused, 0);
	/* While down, the UFS is asked once per probe interval, not once per lookup. */
	ck_assert_uint_eq(fake_calls, 3);
	/* What was never cached fails with the outage's error. */
	ck_assert_int_eq(meta_cache_list(mc, "/other", 0, &l), -ECONNREFUSED);

	/* Past max-stale the cache refuses: readers get the error. */
	meta_cache_set_max_stale(mc, 1);
	usleep(5000);
	ck_assert_int_eq(meta_cache_list(mc, "/", 0, &l), -ECONNREFUSED);
	ck_assert_int_eq(meta_cache_validate(mc, "/a.bin", 0, false, &a, &changed), -ECONNREFUSED);
	meta_cache_get_health(mc, &h);
	ck_assert_uint_ge(h.stale_refused, 2);
	meta_cache_free(mc);
}
END_TEST

START_TEST(a_definite_answer_is_not_an_outage)
{
	fake_err = 0;
	struct meta_cache *mc = open_meta(&fake_ufs);
	struct meta_listing *l;
	struct ufs_attr a;
	bool changed;
	ck_assert_int_eq(meta_cache_list(mc, "/", 60000, &l), 0);
	meta_listing_unref(l);
	ck_assert_int_eq(meta_cache_validate(mc, "/a.bin", 60000, false, &a, &changed), 0);
	/* A 404 is the UFS saying the directory is gone: nothing stale is served. */
	fake_err = -ENOENT;
	usleep(5000);
	ck_assert_int_eq(meta_cache_list(mc, "/", 0, &l), -ENOENT);
	ck_assert_int_eq(meta_cache_validate(mc, "/a.bin", 0, false, &a, &changed), -ENOENT);
	struct meta_cache_health h;
	meta_cache_get_health(mc, &h);
	ck_assert_int_eq(h.down_since_ms, 0);
	ck_assert_uint_eq(h.stale_served, 0);

	/* What weir itself changed is never served stale, outage or not. */
	fake_err = 0;
	ck_assert_int_eq(meta_cache_list(mc, "/", 60000, &l), 0);
	meta_listing_unref(l);
	meta_cache_invalidate(mc, "/a.bin");
	fake_err = -ETIMEDOUT;
	ck_assert_int_eq(meta_cache_list(mc, "/", 60000, &l), -ETIMEDOUT);
	ck_assert_int_eq(meta_cache_validate(mc, "/a.bin", 60000, false, &a, &changed), -ETIMEDOUT);
	meta_cache_free(mc);
}
END_TEST

Suite *meta_cache_suite(void)
{
	Suite *s = suite_create("meta_cache");
	TCase *tc = tcase_create("big_directory");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, stats_in_a_big_directory_share_its_listing);
	tcase_add_test(tc, listings_are_shared_and_outlive_their_replacement);
	suite_add_tcase(s, tc);
	tc = tcase_create("stale_if_error");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, an_unreachable_ufs_serves_cached_metadata_until_max_stale);
	tcase_add_test(tc, a_definite_answer_is_not_an_outage);
	suite_add_tcase(s, tc);
	return s;
}
