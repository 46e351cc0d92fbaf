// SPDX-License-Identifier: Apache-2.0
// The metadata cache, the tree walk and the fetch scheduler over a real local:// UFS and a real
// block store in a temporary directory.
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block_store.h"
#include "fetcher.h"
#include "meta_cache.h"
#include "suites.h"
#include "tree_walk.h"
#include "ufs.h"
#include "usage.h"

static char dir[256];

static void write_file(const char *rel, size_t len, unsigned seed)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/src/%s", dir, rel);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < len; i++)
		fputc((int)((i * 2654435761u + seed) >> 13) & 0xff, f);
	fclose(f);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/weir-cp-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char p[512];
	snprintf(p, sizeof(p), "%s/src", dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/src/sub", dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	write_file("a.bin", 3 * 65536 + 100, 1);
	write_file("sub/b.bin", 1000, 2);
	write_file("sub/c.bin", 0, 3);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void teardown(void)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct ufs *open_ufs(void)
{
	char url[512], err[256];
	struct ufs *u;
	snprintf(url, sizeof(url), "local://%s/src", dir);
	ck_assert_int_eq(ufs_new(url, NULL, &u, err, sizeof(err)), 0);
	return u;
}

static struct meta_cache *open_meta(struct ufs *u)
{
	char db[512];
	struct meta_cache *mc;
	snprintf(db, sizeof(db), "%s/meta.db", dir);
	ck_assert_int_eq(meta_cache_open(db, u, &mc), 0);
	return mc;
}

/* One 4 MiB tier of 64 KiB blocks under dir. */
static struct block_store *open_store(void)
{
	char err[256], idx[512];
	struct block_store_config c = {.index_path = idx,
				       .source_id = "s",
				       .ntiers = 1,
				       .block_size = 65536,
				       .high = 0.9,
				       .low = 0.5,
				       .lru = true};
	snprintf(idx, sizeof(idx), "%s/index.db", dir);
	snprintf(c.tiers[0].medium, sizeof(c.tiers[0].medium), "mem");
	snprintf(c.tiers[0].path, sizeof(c.tiers[0].path), "%s/tier", dir);
	c.tiers[0].quota = 64 * 65536;
	struct block_store *bs;
	ck_assert_int_eq(block_store_open(&c, &bs, err, sizeof(err)), 0);
	return bs;
}

START_TEST(listings_are_cached_and_persisted)
{
	struct ufs *u = open_ufs();
	struct meta_cache *mc = open_meta(u);
	struct meta_listing *l;
	ck_assert_int_eq(meta_cache_list(mc, "/", 60000, &l), 0);
	ck_assert_uint_eq(meta_listing_count(l), 2);
	ck_assert_str_eq(meta_listing_at(l, 0)->name, "a.bin"); /* sorted */
	ck_assert_str_eq(meta_listing_at(l, 1)->name, "sub");
	ck_assert(meta_listing_at(l, 1)->attr.is_dir);
	meta_listing_unref(l);
	uint64_t requests = atomic_load(&u->stats.requests);

	/* A new file on the UFS is not seen while the listing is fresh... */
	write_file("new.bin", 10, 4);
	ck_assert_int_eq(meta_cache_list(mc, "/", 60000, &l), 0);
	ck_assert_uint_eq(meta_listing_count(l), 2);
	meta_listing_unref(l);
	ck_assert_uint_eq(atomic_load(&u->stats.requests), requests);
	/* ...and is once the TTL has passed. */
	ck_assert_int_eq(meta_cache_list(mc, "/", 0, &l), 0);
	ck_assert_uint_eq(meta_listing_count(l), 3);
	meta_listing_unref(l);

	/* Reopened (a restarted daemon), the listing comes from disk, not the UFS. */
	meta_cache_free(mc);
	ufs_free(u);
	u = open_ufs();
	mc = open_meta(u);
	ck_assert_int_eq(meta_cache_list(mc, "/", 60000, &l), 0);
	ck_assert_uint_eq(meta_listing_count(l), 3);
	meta_listing_unref(l);
	ck_assert_uint_eq(atomic_load(&u->stats.requests), 0);
	struct ufs_attr a;
	ck_assert_int_eq(meta_cache_getattr(mc, "/sub/b.bin", 60000, &a), 0);
	ck_assert_uint_eq(a.size, 1000);
	ck_assert_int_eq(meta_cache_getattr(mc, "/nope", 60000, &a), -ENOENT);
	meta_cache_free(mc);
	ufs_free(u);
}
END_TEST

START_TEST(validation_detects_a_change)
{
	struct ufs *u = open_ufs();
	struct meta_cache *mc = open_meta(u);
	struct ufs_attr a, b;
	bool changed;
	ck_assert_int_eq(meta_cache_validate(mc, "/a.bin", 60000, false, &a, &changed), 0);
	ck_assert(!changed);
	ck_assert_uint_eq(a.size, 3 * 65536 + 100);
	sleep(1); /* a new mtime second */
	write_file("a.bin", 5000, 9);
	/* fresh: the recorded version is trusted */
	ck_assert_int_eq(meta_cache_validate(mc, "/a.bin", 60000, false, &b, &changed), 0);
	ck_assert_uint_eq(b.size, a.size);
	/* invalidated (weir wrote it) or expired: the change is seen and reported */
	meta_cache_invalidate(mc, "/a.bin");
	ck_assert_int_eq(meta_cache_validate(mc, "/a.bin", 60000, false, &b, &changed), 0);
	ck_assert(changed);
	ck_assert_uint_eq(b.size, 5000);
	meta_cache_free(mc);
	ufs_free(u);
}
END_TEST

static int count_file(const char *path, const struct ufs_attr *attr, void *userdata)
{
	uint64_t *acc = userdata;
	acc[0]++;
	acc[1] += attr->size;
	return 0;
}

START_TEST(walk_and_usage_total_the_tree)
{
	struct ufs *u = open_ufs();
	struct meta_cache *mc = open_meta(u);
	uint64_t acc[2] = {0, 0};
	ck_assert_int_eq(tree_walk(mc, "/", 60000, count_file, acc, NULL), 0);
	ck_assert_uint_eq(acc[0], 3);
	ck_assert_uint_eq(acc[1], 3 * 65536 + 100 + 1000);
	acc[0] = acc[1] = 0;
	ck_assert_int_eq(tree_walk(mc, "/sub", 60000, count_file, acc, NULL), 0);
	ck_assert_uint_eq(acc[0], 2);
	ck_assert_int_eq(tree_walk(mc, "/missing", 60000, count_file, acc, NULL), -ENOENT);

	struct block_store *bs = open_store();
	struct usage *us;
	ck_assert_int_eq(usage_new(mc, bs, 60000, &us), 0);
	struct usage_totals t;
	usage_start(us, false);
	for (int i = 0; i < 200; i++) {
		usage_get(us, "/", &t);
		if (t.complete)
			break;
		usleep(10000);
	}
	ck_assert(t.complete);
	ck_assert_uint_eq(t.file_num, 3);
	ck_assert_uint_eq(t.ufs_total, 3 * 65536 + 100 + 1000);
	ck_assert_uint_eq(t.cached, 0);
	usage_get(us, "/sub/", &t);
	ck_assert_uint_eq(t.file_num, 2);
	ck_assert_uint_eq(t.ufs_total, 1000);
	usage_free(us);
	block_store_free(bs);
	meta_cache_free(mc);
	ufs_free(u);
}
END_TEST

START_TEST(fetcher_fetches_once_and_serves_the_bytes)
{
	struct ufs *u = open_ufs();
	struct meta_cache *mc = open_meta(u);
	struct block_store *bs = open_store();
	/* 16 KiB parts: each 64 KiB block is four range requests */
	struct fetcher_options fo = {.max_prefetch = 4, .part_size = 16384};
	struct fetcher *f;
	ck_assert_int_eq(fetcher_new(u, bs, &fo, &f), 0);
	struct ufs_attr a;
	bool changed;
	uint64_t obj;
	ck_assert_int_eq(meta_cache_validate(mc, "/a.bin", 60000, false, &a, &changed), 0);
	ck_assert_int_eq(block_store_object_sync(bs, "/a.bin", &a, &obj), 0);

	char want[65536], got[65536], path[512];
	snprintf(path, sizeof(path), "%s/src/a.bin", dir);
	FILE *src = fopen(path, "r");
	ck_assert_ptr_nonnull(src);
	for (uint64_t b = 0; b < 4; b++) {
		size_t n = fread(want, 1, sizeof(want), src);
		struct fetch_result fr;
		ck_assert_int_eq(fetcher_get(f, obj, "/a.bin", &a, b, &fr), 0);
		ck_assert_uint_eq(fr.len, n);
		ck_assert_int_ge(fr.ref.fd, 0);
		ck_assert_int_eq(pread(fr.ref.fd, got, fr.len, (off_t)fr.ref.off), (ssize_t)n);
		ck_assert_int_eq(memcmp(want, got, n), 0);
		block_store_release(bs, obj, b);
	}
	fclose(src);
	uint64_t bytes = atomic_load(&u->stats.bytes);
	ck_assert_uint_eq(bytes, a.size);
	/* Cached now: a second pass asks the UFS nothing. */
	for (uint64_t b = 0; b < 4; b++) {
		struct fetch_result fr;
		ck_assert_int_eq(fetcher_get(f, obj, "/a.bin", &a, b, &fr), 0);
		block_store_release(bs, obj, b);
	}
	ck_assert_uint_eq(atomic_load(&u->stats.bytes), bytes);
	/* A block past the end is refused, not fetched. */
	struct fetch_result fr;
	ck_assert_int_lt(fetcher_get(f, obj, "/a.bin", &a, 9, &fr), 0);
	fetcher_free(f);
	block_store_free(bs);
	meta_cache_free(mc);
	ufs_free(u);
}
END_TEST

START_TEST(fetcher_reports_a_changed_object)
{
	struct ufs *u = open_ufs();
	struct meta_cache *mc = open_meta(u);
	struct block_store *bs = open_store();
	struct fetcher *f;
	ck_assert_int_eq(fetcher_new(u, bs, NULL, &f), 0);
	struct ufs_attr a;
	bool changed;
	uint64_t obj;
	ck_assert_int_eq(meta_cache_validate(mc, "/a.bin", 60000, false, &a, &changed), 0);
	ck_assert_int_eq(block_store_object_sync(bs, "/a.bin", &a, &obj), 0);
	sleep(1);
	write_file("a.bin", 1000, 7); /* shorter, newer: the recorded version is gone */
	struct fetch_result fr;
	ck_assert_int_eq(fetcher_get(f, obj, "/a.bin", &a, 2, &fr), -ESTALE);
	ck_assert(!block_store_contains(bs, obj, 2));
	fetcher_free(f);
	block_store_free(bs);
	meta_cache_free(mc);
	ufs_free(u);
}
END_TEST

Suite *cache_path_suite(void)
{
	Suite *s = suite_create("cache_path");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, listings_are_cached_and_persisted);
	tcase_add_test(tc, validation_detects_a_change);
	tcase_add_test(tc, walk_and_usage_total_the_tree);
	tcase_add_test(tc, fetcher_fetches_once_and_serves_the_bytes);
	tcase_add_test(tc, fetcher_reports_a_changed_object);
	suite_add_tcase(s, tc);
	return s;
}
