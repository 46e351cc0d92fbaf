// SPDX-License-Identifier: Apache-2.0
// Owners and modes through the metadata cache: a local:// listing carries each entry's owner and
// mode, a restarted cache still has them, and a cache written before owners were kept is not
// trusted (its listings would show every file with the view's default mode).
#include <errno.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta_cache.h"
#include "suites.h"
#include "ufs.h"

static char dir[256], db[512];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/weir-mo-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char p[512];
	snprintf(p, sizeof(p), "%s/src", dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/src/secret", dir);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs("x", f);
	fclose(f);
	ck_assert_int_eq(chmod(p, 0600), 0);
	ck_assert_int_eq(chown(p, 65534, 65534) == 0 || geteuid() != 0, 1);
	snprintf(p, sizeof(p), "%s/src/private", dir);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	snprintf(db, sizeof(db), "%s/meta.db", dir);
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
	struct ufs_options o = {.max_connections = 2};
	snprintf(url, sizeof(url), "local://%s/src", dir);
	ck_assert_int_eq(ufs_new(url, &o, &u, err, sizeof(err)), 0);
	return u;
}

static void assert_owned(struct meta_cache *mc)
{
	struct ufs_attr a;
	struct stat st;
	char p[512];
	snprintf(p, sizeof(p), "%s/src/secret", dir);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(meta_cache_getattr(mc, "/secret", 60000, &a), 0);
	ck_assert(a.has_owner);
	ck_assert_uint_eq(a.mode, 0600);
	ck_assert_uint_eq(a.uid, st.st_uid);
	ck_assert_uint_eq(a.gid, st.st_gid);
	ck_assert_int_eq(meta_cache_getattr(mc, "/private", 60000, &a), 0);
	ck_assert(a.has_owner && a.is_dir);
	ck_assert_uint_eq(a.mode, 0700);
}

START_TEST(test_listing_has_owner_and_survives_restart)
{
	struct ufs *u = open_ufs();
	struct meta_cache *mc;
	ck_assert_int_eq(meta_cache_open(db, u, &mc), 0);
	assert_owned(mc);
	meta_cache_free(mc);
	/* The source changes; within the TTL the reopened cache answers what it persisted. */
	char p[512];
	snprintf(p, sizeof(p), "%s/src/secret", dir);
	ck_assert_int_eq(chmod(p, 0644), 0);
	ck_assert_int_eq(meta_cache_open(db, u, &mc), 0);
	uint64_t req = atomic_load(&u->stats.requests);
	struct ufs_attr a;
	ck_assert_int_eq(meta_cache_getattr(mc, "/secret", 60000, &a), 0);
	ck_assert_uint_eq(atomic_load(&u->stats.requests), req); /* from the persisted listing */
	ck_assert(a.has_owner);
	ck_assert_uint_eq(a.mode, 0600);
	meta_cache_free(mc);
	ufs_free(u);
}
END_TEST

START_TEST(test_cache_from_before_owners_is_dropped)
{
	/* The schema before owners were kept, with a fresh listing of "/" in it. */
	sqlite3 *s;
	ck_assert_int_eq(sqlite3_open(db, &s), SQLITE_OK);
	char sql[1024];
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE dirs(path TEXT PRIMARY KEY, fetched_ms INTEGER NOT NULL);"
		 "CREATE TABLE entries(dir TEXT NOT NULL, name TEXT NOT NULL, is_dir INTEGER,"
		 " size INTEGER, size_known INTEGER, mtime INTEGER, etag TEXT,"
		 " PRIMARY KEY(dir, name));"
		 "INSERT INTO dirs VALUES('/', %lld);"
		 "INSERT INTO entries VALUES('/', 'secret', 0, 1, 1, 0, '');",
		 (long long)meta_cache_now_ms());
	ck_assert_int_eq(sqlite3_exec(s, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(s);
	struct ufs *u = open_ufs();
	struct meta_cache *mc;
	ck_assert_int_eq(meta_cache_open(db, u, &mc), 0);
	assert_owned(mc); /* listed again: the old listing had no owners */
	meta_cache_free(mc);
	ufs_free(u);
}
END_TEST

Suite *meta_owner_suite(void)
{
	Suite *s = suite_create("meta_owner");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_listing_has_owner_and_survives_restart);
	tcase_add_test(tc, test_cache_from_before_owners_is_dropped);
	suite_add_tcase(s, tc);
	return s;
}
