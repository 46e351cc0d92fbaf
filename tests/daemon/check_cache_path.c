// SPDX-License-Identifier: Apache-2.0
// The metadata cache, the tree walk and the fetch scheduler over a real local:// UFS and a real
// block store in a temporary directory. Stats in a big directory share its listing (no copy per
// stat); while the UFS cannot be reached (a fake UFS here) cached metadata is served up to
// max-stale past its TTL, and a definite answer (404) is not an outage.
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block_store.h"
#include "fetcher.h"
#include "meta_cache.h"
#include "slow_syscalls.h"
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
	ck_assert_int_eq(meta_cache_open(db, u, &mc, NULL, 0), 0);
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

/* Overwrites len bytes of path at off with garbage. */
static void scribble(const char *path, long off, size_t len)
{
	FILE *f = fopen(path, "r+");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, off, SEEK_SET), 0);
	for (size_t i = 0; i < len; i++)
		fputc((int)(i * 131 + 7) & 0xff, f);
	fclose(f);
}

/* Counts the files in dir whose name starts with prefix. */
static int count_prefixed(const char *prefix)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "test $(ls -1 '%s' | grep -c '^%s') -eq 1", dir, prefix);
	return system(cmd) == 0 ? 1 : 0;
}

/* A damaged meta.db (a bad page, or not a database at all) is moved aside and the cache starts
 * empty: a source whose metadata file is damaged must stay mountable. */
START_TEST(damaged_meta_db_is_set_aside)
{
	char db[512], note[2048] = "";
	struct meta_listing *l;
	struct stat st;
	snprintf(db, sizeof(db), "%s/meta.db", dir);
	for (int variant = 0; variant < 2; variant++) {
		struct ufs *u = open_ufs();
		struct meta_cache *mc = open_meta(u);
		for (int i = 0; i < 40; i++) { /* enough listings for several pages */
			char sub[320];
			snprintf(sub, sizeof(sub), "%s/src/dir%02d", dir, i);
			mkdir(sub, 0755);
		}
		ck_assert_int_eq(meta_cache_list(mc, "/", 0, &l), 0);
		meta_listing_unref(l);
		meta_cache_free(mc);
		ufs_free(u);
		ck_assert_int_eq(stat(db, &st), 0);
		if (variant == 0)
			scribble(db, 4096,
				 (size_t)st.st_size - 4096); /* every page but the first */
		else
			scribble(db, 0, 200); /* the header: not a database */

		u = open_ufs();
		note[0] = '\0';
		ck_assert_int_eq(meta_cache_open(db, u, &mc, note, sizeof(note)), 0);
		ck_assert_msg(strstr(note, "moved it to") && strstr(note, "meta.db.corrupt-"),
			      "note: %s", note);
		ck_assert_int_eq(meta_cache_list(mc, "/", 60000, &l), 0);
		ck_assert_uint_eq(meta_listing_count(l), 42);
		meta_listing_unref(l);
		ck_assert_uint_gt(atomic_load(&u->stats.requests), 0); /* asked the UFS again */
		meta_cache_free(mc);
		ufs_free(u);
		ck_assert_int_eq(stat(db, &st), 0);
		ck_assert_uint_eq(st.st_mode & 0777, 0600);
		ck_assert_int_eq(count_prefixed("meta\\.db\\.corrupt-"), 1);
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -f '%s'/meta.db.corrupt-*", dir);
		ck_assert_int_eq(system(cmd), 0);
	}
}
END_TEST

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

/* What weir renamed or wrote is asked for again, across a restart too: below a renamed
 * directory (a name there may be another file now, here one with a UTF-8 name), and a file
 * written while open; nothing else. */
START_TEST(renames_and_writes_expire_their_validations)
{
	char p[600];
	snprintf(p, sizeof(p), "%s/src/s\xc3\xa9", dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	write_file("s\xc3\xa9/d.bin", 700, 4);
	struct ufs *u = open_ufs();
	struct meta_cache *mc = open_meta(u);
	struct ufs_attr a;
	bool changed;
	const char *paths[] = {"/a.bin", "/sub/b.bin", "/s\xc3\xa9/d.bin"};
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(meta_cache_validate(mc, paths[i], 60000, false, &a, &changed), 0);
	write_file("a.bin", 11, 5);
	write_file("sub/b.bin", 22, 6);
	write_file("s\xc3\xa9/d.bin", 33, 7);
	meta_cache_invalidate_below(mc, "/su"); /* not a parent of /sub/b.bin */
	ck_assert_int_eq(meta_cache_validate(mc, "/sub/b.bin", 60000, false, &a, &changed), 0);
	ck_assert_uint_eq(a.size, 1000);
	meta_cache_invalidate_below(mc, "/sub");
	meta_cache_invalidate_below(mc, "/s\xc3\xa9");
	meta_cache_free(mc);
	mc = open_meta(u); /* the expiry was persisted */
	ck_assert_int_eq(meta_cache_validate(mc, "/sub/b.bin", 60000, false, &a, &changed), 0);
	ck_assert(changed);
	ck_assert_uint_eq(a.size, 22);
	ck_assert_int_eq(meta_cache_validate(mc, "/s\xc3\xa9/d.bin", 60000, false, &a, &changed),
			 0);
	ck_assert(changed);
	ck_assert_uint_eq(a.size, 33);
	/* untouched: still the version validated before */
	ck_assert_int_eq(meta_cache_validate(mc, "/a.bin", 60000, false, &a, &changed), 0);
	ck_assert_uint_eq(a.size, 3 * 65536 + 100);
	meta_cache_written(mc, "/a.bin");
	meta_cache_written(mc, "/a.bin"); /* once expired, a lookup only */
	ck_assert_int_eq(meta_cache_validate(mc, "/a.bin", 60000, false, &a, &changed), 0);
	ck_assert(changed);
	ck_assert_uint_eq(a.size, 11);
	meta_cache_free(mc);
	ufs_free(u);
}
END_TEST

struct validating {
	struct meta_cache *mc;
	struct ufs_attr a;
	int r;
};

static void *validate_thread(void *arg)
{
	struct validating *w = arg;
	bool changed;
	w->r = meta_cache_validate(w->mc, "/a.bin", 60000, false, &w->a, &changed);
	return NULL;
}

/* A write that lands while a validation's stat is on its way (the stat answered, its close
 * held up) leaves that answer expired: the next open asks again instead of taking, within the
 * TTL, a version from before the write. */
START_TEST(a_write_during_a_validation_expires_its_answer)
{
	struct ufs *u = open_ufs();
	struct meta_cache *mc = open_meta(u);
	struct ufs_attr a;
	bool changed;
	ck_assert_int_eq(meta_cache_validate(mc, "/a.bin", 60000, false, &a, &changed), 0);
	meta_cache_written(mc, "/a.bin"); /* a first write: the next open asks */
	struct validating w = {.mc = mc};
	pthread_t t;
	slow_arm("a.bin", SLOW_CLOSE, 2000);
	ck_assert_int_eq(pthread_create(&t, NULL, validate_thread, &w), 0);
	ck_assert(slow_wait_entered(10000)); /* its stat has the old version */
	slow_disarm();
	write_file("a.bin", 5000, 9); /* a second write, and its expiry */
	meta_cache_written(mc, "/a.bin");
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(w.r, 0);
	/* it began before the write: the old version, for that open */
	ck_assert_uint_eq(w.a.size, 3 * 65536 + 100);
	ck_assert_int_eq(meta_cache_validate(mc, "/a.bin", 60000, false, &a, &changed), 0);
	ck_assert_uint_eq(a.size, 5000);
	meta_cache_free(mc);
	ufs_free(u);
}
END_TEST

struct listing_call {
	struct meta_cache *mc;
	int r;
};

static void *list_thread(void *arg)
{
	struct listing_call *c = arg;
	struct meta_listing *l;
	c->r = meta_cache_list(c->mc, "/", 60000, &l);
	if (c->r == 0)
		meta_listing_unref(l);
	return NULL;
}

/* A file weir makes while the directory is being listed (the listing read before it came, and
 * stored after its expiry): that listing is not kept for the TTL, or a lookup of the new file
 * answers ENOENT until it ends (open(name, "a") right after a create through a view). */
START_TEST(a_name_made_during_a_listing_expires_it)
{
	char p[512];
	write_file("slow-target.bin", 10, 4);
	snprintf(p, sizeof(p), "%s/src/link", dir);
	ck_assert_int_eq(symlink("slow-target.bin", p), 0);
	struct ufs *u = open_ufs();
	struct meta_cache *mc = open_meta(u);
	struct listing_call c = {.mc = mc};
	pthread_t t;
	/* the listing stats the link's target after it read the directory's names */
	slow_arm("slow-target", SLOW_CLOSE, 2000);
	ck_assert_int_eq(pthread_create(&t, NULL, list_thread, &c), 0);
	ck_assert(slow_wait_entered(10000));
	slow_disarm();
	write_file("new.bin", 7, 5);
	meta_cache_invalidate(mc, "/new.bin"); /* what a create through a view does */
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(c.r, 0);
	struct ufs_attr a;
	ck_assert_int_eq(meta_cache_getattr(mc, "/new.bin", 60000, &a), 0);
	ck_assert_uint_eq(a.size, 7);
	meta_cache_free(mc);
	ufs_free(u);
}
END_TEST

START_TEST(the_objects_size_beats_its_listing)
{
	struct ufs *u = open_ufs();
	struct meta_cache *mc = open_meta(u);
	struct ufs_attr a;
	bool changed;
	ck_assert_int_eq(meta_cache_getattr(mc, "/sub/b.bin", 60000, &a), 0);
	ck_assert_uint_eq(a.size, 1000);
	/* The listing (fresh for a minute) now says the wrong size... */
	write_file("sub/b.bin", 4000, 5);
	ck_assert_int_eq(meta_cache_getattr(mc, "/sub/b.bin", 60000, &a), 0);
	ck_assert_uint_eq(a.size, 1000);
	/* ...until the object's own attributes are fetched (an open): they win. */
	ck_assert_int_eq(meta_cache_validate(mc, "/sub/b.bin", 60000, false, &a, &changed), 0);
	ck_assert_uint_eq(a.size, 4000);
	ck_assert_int_eq(meta_cache_getattr(mc, "/sub/b.bin", 60000, &a), 0);
	ck_assert_uint_eq(a.size, 4000);
	/* A listing fetched after the validation is the newer word. */
	usleep(5000); /* a later millisecond than the validation */
	write_file("sub/b.bin", 3000, 6);
	struct meta_listing *l;
	ck_assert_int_eq(meta_cache_list(mc, "/sub", 0, &l), 0);
	meta_listing_unref(l);
	ck_assert_int_eq(meta_cache_getattr(mc, "/sub/b.bin", 60000, &a), 0);
	ck_assert_uint_eq(a.size, 3000);
	meta_cache_free(mc);
	ufs_free(u);
}
END_TEST

static int count_file(const char *path, const char *home, const struct ufs_attr *attr,
		      void *userdata)
{
	uint64_t *acc = userdata;
	acc[0]++;
	acc[1] += attr->size;
	return 0;
}

/* A walk of a local:// tree enters no directory through a symbolic link: loop -> . and up -> ..
 * would list the same tree again at every level (two of them: 2^40 listings), and a walk of /sub
 * would leave it. A link to a file is a file. */
START_TEST(walk_enters_no_directory_through_a_link)
{
	static const char *const links[][2] = {
	    {".", "src/loop"}, {".", "src/loop2"}, {"..", "src/sub/up"}, {"b.bin", "src/sub/b-link"}};
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		char p[512];
		snprintf(p, sizeof(p), "%s/%s", dir, links[i][1]);
		ck_assert_int_eq(symlink(links[i][0], p), 0);
	}
	struct ufs *u = open_ufs();
	struct meta_cache *mc = open_meta(u);
	uint64_t acc[2] = {0, 0};
	ck_assert_int_eq(tree_walk(mc, "/", 60000, count_file, acc, NULL), 0);
	ck_assert_uint_eq(acc[0], 4); /* a.bin, sub/b.bin, sub/c.bin, sub/b-link */
	ck_assert_uint_eq(acc[1], 3 * 65536 + 100 + 2 * 1000);
	acc[0] = acc[1] = 0;
	ck_assert_int_eq(tree_walk(mc, "/sub", 60000, count_file, acc, NULL), 0);
	ck_assert_uint_eq(acc[0], 3);
	ck_assert_int_eq(tree_walk(mc, "/loop", 60000, count_file, acc, NULL), -ELOOP);
	meta_cache_free(mc);
	ufs_free(u);
}
END_TEST

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

/* A usage total of /sub counts no file that a link out of sub/ names (sub/out -> ../a.bin):
 * dataset://ns/name/sub does not show it. The whole tree's total counts it, and a link that
 * stays in sub/ (sub/in -> b.bin) counts in both. */
START_TEST(usage_of_a_subdirectory_counts_no_link_out_of_it)
{
	static const char *const links[][2] = {{"../a.bin", "src/sub/out"}, {"b.bin", "src/sub/in"}};
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		char p[512];
		snprintf(p, sizeof(p), "%s/%s", dir, links[i][1]);
		ck_assert_int_eq(symlink(links[i][0], p), 0);
	}
	struct ufs *u = open_ufs();
	struct meta_cache *mc = open_meta(u);
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
	ck_assert_uint_eq(t.file_num, 5);
	ck_assert_uint_eq(t.ufs_total, 2 * (3 * 65536 + 100) + 2 * 1000);
	usage_get(us, "/sub", &t);
	ck_assert_uint_eq(t.file_num, 3); /* b.bin, c.bin, in */
	ck_assert_uint_eq(t.ufs_total, 2 * 1000);
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

/* What a READDIRPLUS may bind without a request: a version known within the TTL (never asked
 * of the UFS here) and an object at exactly that version with every byte cached. */
START_TEST(cached_versions_and_complete_objects_ask_nothing)
{
	struct ufs *u = open_ufs();
	struct meta_cache *mc = open_meta(u);
	struct block_store *bs = open_store();
	struct fetcher *f;
	ck_assert_int_eq(fetcher_new(u, bs, NULL, &f), 0);
	struct ufs_attr a, b;
	bool changed;
	uint64_t obj, found = 0;
	/* nothing validated yet (a local listing gives no exact version): no answer, no request */
	uint64_t reqs = atomic_load(&u->stats.requests);
	ck_assert_int_eq(meta_cache_validate_cached(mc, "/a.bin", 60000, &a, &changed), -EAGAIN);
	ck_assert_uint_eq(atomic_load(&u->stats.requests), reqs);
	ck_assert_int_eq(meta_cache_validate(mc, "/a.bin", 60000, false, &a, &changed), 0);
	reqs = atomic_load(&u->stats.requests);
	ck_assert_int_eq(meta_cache_validate_cached(mc, "/a.bin", 60000, &b, &changed), 0);
	ck_assert(!changed);
	ck_assert_uint_eq(b.size, a.size);
	ck_assert_str_eq(b.etag, a.etag);
	ck_assert_uint_eq(atomic_load(&u->stats.requests), reqs);
	/* a sign of change (weir wrote it): only the UFS can say, so no answer */
	meta_cache_invalidate(mc, "/a.bin");
	ck_assert_int_eq(meta_cache_validate_cached(mc, "/a.bin", 60000, &b, &changed), -EAGAIN);
	ck_assert_uint_eq(atomic_load(&u->stats.requests), reqs);

	/* recorded but not cached, then partly, then whole */
	ck_assert_int_eq(block_store_object_complete(bs, "/a.bin", &a, &found), -ENOENT);
	ck_assert_int_eq(block_store_object_sync(bs, "/a.bin", &a, &obj), 0);
	ck_assert_int_eq(block_store_object_complete(bs, "/a.bin", &a, &found), -ENOENT);
	for (uint64_t blk = 0; blk < 4; blk++) {
		struct fetch_result fr;
		ck_assert_int_eq(fetcher_get(f, obj, "/a.bin", &a, blk, &fr), 0);
		block_store_release(bs, obj, blk);
		if (blk < 3)
			ck_assert_int_eq(block_store_object_complete(bs, "/a.bin", &a, &found),
					 -ENOENT);
	}
	ck_assert_int_eq(block_store_object_complete(bs, "/a.bin", &a, &found), 0);
	ck_assert_uint_eq(found, obj);
	/* another version of the path: not this object */
	b = a;
	b.size++;
	ck_assert_int_eq(block_store_object_complete(bs, "/a.bin", &b, &found), -ENOENT);
	b = a;
	b.mtime++;
	ck_assert_int_eq(block_store_object_complete(bs, "/a.bin", &b, &found), -ENOENT);
	ck_assert_int_eq(block_store_object_complete(bs, "/nope", &a, &found), -ENOENT);
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

/* ---- a big directory: stats share its listing ---- */

#define BIG_FILES 50000
#define SHARED_FILES 5000

/* A flat directory of n files, file i holding i % 97 + 1 bytes (sparse), under a local UFS. */
static struct ufs *big_tree(int n)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/src/big", dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	for (int i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/src/big/file-%06d", dir, i);
		int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(ftruncate(fd, i % 97 + 1), 0);
		close(fd);
	}
	return open_ufs();
}

/* Before the fix every stat copied the whole parent listing: 50,000 stats in a directory of
 * 50,000 entries copied 2.5 billion entries and ran far past the test's timeout. */
START_TEST(stats_in_a_big_directory_share_its_listing)
{
	struct ufs *u = big_tree(BIG_FILES);
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
	struct ufs *u = big_tree(SHARED_FILES);
	struct meta_cache *mc = open_meta(u);
	struct meta_listing *l1, *l2, *l3;
	ck_assert_int_eq(meta_cache_list(mc, "/big", 60000, &l1), 0);
	ck_assert_int_eq(meta_cache_list(mc, "/big", 60000, &l2), 0);
	ck_assert_ptr_eq(l1, l2);
	ck_assert_uint_eq(meta_listing_count(l1), SHARED_FILES);
	const struct ufs_dirent *e = meta_listing_find(l1, "file-001234");
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_eq(e, meta_listing_at(l1, 1234)); /* sorted, and indexed in place */
	ck_assert_ptr_null(meta_listing_find(l1, "file-1234"));

	char p[512];
	snprintf(p, sizeof(p), "%s/src/big/zzz-new", dir);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(meta_cache_list(mc, "/big", 0, &l3), 0); /* expired: listed again */
	ck_assert_ptr_ne(l3, l1);
	ck_assert_uint_eq(meta_listing_count(l3), SHARED_FILES + 1);
	ck_assert_ptr_nonnull(meta_listing_find(l3, "zzz-new"));
	meta_listing_unref(l3);
	/* the replaced listing is intact for the readers that hold it */
	ck_assert_uint_eq(meta_listing_count(l1), SHARED_FILES);
	ck_assert_str_eq(meta_listing_at(l1, SHARED_FILES - 1)->name, "file-004999");
	ck_assert_ptr_null(meta_listing_find(l1, "zzz-new"));
	meta_listing_unref(l1);
	meta_listing_unref(l2);
	meta_cache_free(mc);
	ufs_free(u);
}
END_TEST

/* ---- stale-if-error, over a UFS whose answers the test decides ---- */

static int fake_err;		   /* what list and stat answer: 0 or -errno */
static atomic_uint fake_calls;	   /* how often the UFS was asked */
static atomic_bool fake_hold_next; /* the next list waits for fake_release */
static atomic_bool fake_hold_stat; /* the next stat waits for fake_release */
static atomic_int fake_version = 1; /* the version stat gives: ETag "v<n>", as it is asked */
static sem_t fake_entered, fake_release;

static int fake_list(struct ufs *u, const char *path, struct ufs_dirent **ret_ents, size_t *ret_n)
{
	fake_calls++;
	if (atomic_exchange(&fake_hold_next, false)) {
		sem_post(&fake_entered);
		sem_wait(&fake_release);
	}
	if (fake_err) {
		ufs_set_error(u, "fake://%s: %s", path, strerror(-fake_err));
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
	int version = atomic_load(&fake_version); /* a HEAD's answer is the object when it came */
	if (atomic_exchange(&fake_hold_stat, false)) {
		sem_post(&fake_entered);
		sem_wait(&fake_release);
	}
	if (fake_err)
		return fake_err;
	*ret = (struct ufs_attr){.size = 5, .mtime = 1000};
	snprintf(ret->etag, sizeof(ret->etag), "\"v%d\"", version);
	return 0;
}

static const struct ufs_ops fake_ops = {.scheme = "fake", .list = fake_list, .stat = fake_stat};

static struct ufs fake_ufs = {
    .ops = &fake_ops, .url = "fake://server", .error_lock = PTHREAD_MUTEX_INITIALIZER};

/* A cache over the fake UFS holding the listing of "/" and the version of "/a.bin". */
static struct meta_cache *open_warm_fake(void)
{
	fake_err = 0;
	struct meta_cache *mc = open_meta(&fake_ufs);
	struct meta_listing *l;
	struct ufs_attr a;
	bool changed;
	ck_assert_int_eq(meta_cache_list(mc, "/", 60000, &l), 0);
	meta_listing_unref(l);
	ck_assert_int_eq(meta_cache_validate(mc, "/a.bin", 60000, false, &a, &changed), 0);
	return mc;
}

START_TEST(an_unreachable_ufs_serves_cached_metadata_until_max_stale)
{
	struct meta_cache *mc = open_warm_fake();
	struct meta_listing *l;
	struct ufs_attr a;
	bool changed;
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
	struct meta_cache *mc = open_warm_fake();
	struct meta_listing *l;
	struct ufs_attr a;
	bool changed;
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

static void *list_root(void *arg)
{
	struct meta_listing *l;
	if (meta_cache_list(arg, "/", 0, &l) == 0)
		meta_listing_unref(l);
	return NULL;
}

/* While one caller lists an expired directory again, the others serve the expired listing
 * instead of each listing it too (64 FUSE threads over a 50,000-entry directory). */
START_TEST(one_caller_refreshes_an_expired_listing)
{
	struct meta_cache *mc = open_warm_fake();
	ck_assert_int_eq(sem_init(&fake_entered, 0, 0), 0);
	ck_assert_int_eq(sem_init(&fake_release, 0, 0), 0);
	unsigned calls = fake_calls;
	atomic_store(&fake_hold_next, true);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, list_root, mc), 0);
	sem_wait(&fake_entered); /* t is asking the UFS */
	struct meta_listing *l;
	for (int i = 0; i < 10; i++) {
		ck_assert_int_eq(meta_cache_list(mc, "/", 0, &l), 0);
		ck_assert_uint_eq(meta_listing_count(l), 2);
		meta_listing_unref(l);
	}
	ck_assert_uint_eq(fake_calls, calls + 1);
	sem_post(&fake_release);
	pthread_join(t, NULL);
	/* refreshed: the next expired look asks the UFS again */
	ck_assert_int_eq(meta_cache_list(mc, "/", 0, &l), 0);
	meta_listing_unref(l);
	ck_assert_uint_eq(fake_calls, calls + 2);
	meta_cache_free(mc);
}
END_TEST

/* ---- one ask per path at a time ---- */

#define SHARERS 8

struct sharer {
	struct meta_cache *mc;
	const char *path;
	atomic_uint *started;
	struct ufs_attr a;
	bool changed;
	int r;
};

static void *validate_path(void *arg)
{
	struct sharer *s = arg;
	atomic_fetch_add(s->started, 1);
	s->r = meta_cache_validate(s->mc, s->path, 60000, false, &s->a, &s->changed);
	return NULL;
}

/* SHARERS validations of path at once, the first one's stat held until the others are in the
 * cache; err is what that stat answers once released. Returns the stats the UFS got. */
static unsigned validate_together(struct meta_cache *mc, const char *path, int err,
				  struct sharer *s)
{
	atomic_uint started = 0;
	pthread_t t[SHARERS];
	unsigned calls = fake_calls;
	fake_err = 0;
	atomic_store(&fake_hold_stat, true);
	for (int i = 0; i < SHARERS; i++) {
		s[i] = (struct sharer){.mc = mc, .path = path, .started = &started};
		ck_assert_int_eq(pthread_create(&t[i], NULL, validate_path, &s[i]), 0);
		if (i == 0)
			sem_wait(&fake_entered); /* the first one asks the UFS */
	}
	while (atomic_load(&started) < SHARERS)
		usleep(1000);
	usleep(200000); /* each is in meta_cache_validate: on its own, each would ask now */
	fake_err = err;
	sem_post(&fake_release);
	for (int i = 0; i < SHARERS; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	return fake_calls - calls;
}

/* Validations of one path that come while it is asked of the UFS take that answer: a reader's
 * LOOKUP and the directory stream's prefetch of the same file sent two HEADs (a cold tar of
 * 2,000 small files over HTTP: 35% of its HEADs were repeats). A failed ask fails its waiters
 * too; none hangs. */
START_TEST(validations_of_a_path_share_one_ask)
{
	fake_err = 0;
	struct meta_cache *mc = open_meta(&fake_ufs); /* cold: nothing validated */
	ck_assert_int_eq(sem_init(&fake_entered, 0, 0), 0);
	ck_assert_int_eq(sem_init(&fake_release, 0, 0), 0);
	struct sharer s[SHARERS];
	ck_assert_uint_eq(validate_together(mc, "/a.bin", 0, s), 1);
	for (int i = 0; i < SHARERS; i++) {
		ck_assert_int_eq(s[i].r, 0);
		ck_assert_str_eq(s[i].a.etag, "\"v1\"");
		ck_assert_uint_eq(s[i].a.size, 5);
		ck_assert(!s[i].changed);
	}
	ck_assert_uint_eq(validate_together(mc, "/gone.bin", -ENOENT, s), 1);
	for (int i = 0; i < SHARERS; i++)
		ck_assert_int_eq(s[i].r, -ENOENT);
	fake_err = 0;
	meta_cache_free(mc);
}
END_TEST

/* A forced validation follows a sign of change: it does not take (nor wait for) the answer of
 * an ask that began before it, and that older answer, coming last, is not stored over its
 * newer one. */
START_TEST(a_forced_validation_asks_again)
{
	fake_err = 0;
	atomic_store(&fake_version, 1);
	struct meta_cache *mc = open_meta(&fake_ufs);
	ck_assert_int_eq(sem_init(&fake_entered, 0, 0), 0);
	ck_assert_int_eq(sem_init(&fake_release, 0, 0), 0);
	atomic_uint started = 0;
	struct sharer first = {.mc = mc, .path = "/a.bin", .started = &started};
	unsigned calls = fake_calls;
	atomic_store(&fake_hold_stat, true);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, validate_path, &first), 0);
	sem_wait(&fake_entered); /* its answer will be v1 */
	atomic_store(&fake_version, 2);
	struct ufs_attr a;
	bool changed;
	ck_assert_int_eq(meta_cache_validate(mc, "/a.bin", 60000, true, &a, &changed), 0);
	ck_assert_str_eq(a.etag, "\"v2\"");
	ck_assert_uint_eq(fake_calls, calls + 2);
	sem_post(&fake_release);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(first.r, 0);
	/* its own ask found v1, but the newer forced one stored v2 first: v2, unchanged */
	ck_assert_str_eq(first.a.etag, "\"v2\"");
	ck_assert(!first.changed);
	ck_assert_int_eq(meta_cache_validate(mc, "/a.bin", 60000, false, &a, &changed), 0);
	ck_assert_str_eq(a.etag, "\"v2\"");
	ck_assert_uint_eq(fake_calls, calls + 2);
	atomic_store(&fake_version, 1);
	meta_cache_free(mc);
}
END_TEST

/* Owners and modes: a local:// listing carries each entry's, a reopened cache still has them,
 * and a cache written before owners were kept is listed again, not trusted (its listings would
 * show every file with the view's default mode). */
static void assert_owned(struct meta_cache *mc)
{
	char p[512];
	struct stat st;
	struct ufs_attr a;
	snprintf(p, sizeof(p), "%s/src/a.bin", dir);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(meta_cache_getattr(mc, "/a.bin", 60000, &a), 0);
	ck_assert(a.has_owner);
	ck_assert_uint_eq(a.mode, 0600);
	ck_assert_uint_eq(a.uid, st.st_uid);
	ck_assert_uint_eq(a.gid, st.st_gid);
	ck_assert_int_eq(meta_cache_getattr(mc, "/sub", 60000, &a), 0);
	ck_assert(a.has_owner && a.is_dir);
	ck_assert_uint_eq(a.mode, 0710);
}

static void restrict_modes(void)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/src/a.bin", dir);
	ck_assert_int_eq(chmod(p, 0600), 0);
	snprintf(p, sizeof(p), "%s/src/sub", dir);
	ck_assert_int_eq(chmod(p, 0710), 0);
}

START_TEST(listings_keep_owners_across_restarts)
{
	restrict_modes();
	struct ufs *u = open_ufs();
	struct meta_cache *mc = open_meta(u);
	assert_owned(mc);
	meta_cache_free(mc);
	char p[512];
	snprintf(p, sizeof(p), "%s/src/a.bin", dir);
	ck_assert_int_eq(chmod(p, 0644), 0);
	mc = open_meta(u);
	uint64_t req = atomic_load(&u->stats.requests);
	struct ufs_attr a;
	ck_assert_int_eq(meta_cache_getattr(mc, "/a.bin", 60000, &a), 0);
	ck_assert_uint_eq(atomic_load(&u->stats.requests), req); /* the persisted listing */
	ck_assert(a.has_owner);
	ck_assert_uint_eq(a.mode, 0600);
	meta_cache_free(mc);
	ufs_free(u);
}
END_TEST

START_TEST(a_cache_without_owners_is_listed_again)
{
	restrict_modes();
	char db[512], sql[1024];
	snprintf(db, sizeof(db), "%s/meta.db", dir);
	sqlite3 *s;
	ck_assert_int_eq(sqlite3_open(db, &s), SQLITE_OK);
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE dirs(path TEXT PRIMARY KEY, fetched_ms INTEGER NOT NULL);"
		 "CREATE TABLE entries(dir TEXT NOT NULL, name TEXT NOT NULL, is_dir INTEGER,"
		 " size INTEGER, size_known INTEGER, mtime INTEGER, etag TEXT,"
		 " PRIMARY KEY(dir, name));"
		 "INSERT INTO dirs VALUES('/', %lld);"
		 "INSERT INTO entries VALUES('/', 'a.bin', 0, 1, 1, 0, '');"
		 "INSERT INTO entries VALUES('/', 'sub', 1, 0, 1, 0, '');",
		 (long long)meta_cache_now_ms());
	ck_assert_int_eq(sqlite3_exec(s, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(s);
	struct ufs *u = open_ufs();
	struct meta_cache *mc = open_meta(u);
	assert_owned(mc);
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
	tcase_add_test(tc, damaged_meta_db_is_set_aside);
	tcase_add_test(tc, validation_detects_a_change);
	tcase_add_test(tc, renames_and_writes_expire_their_validations);
	tcase_add_test(tc, a_write_during_a_validation_expires_its_answer);
	tcase_add_test(tc, a_name_made_during_a_listing_expires_it);
	tcase_add_test(tc, the_objects_size_beats_its_listing);
	tcase_add_test(tc, walk_and_usage_total_the_tree);
	tcase_add_test(tc, walk_enters_no_directory_through_a_link);
	tcase_add_test(tc, usage_of_a_subdirectory_counts_no_link_out_of_it);
	tcase_add_test(tc, fetcher_fetches_once_and_serves_the_bytes);
	tcase_add_test(tc, cached_versions_and_complete_objects_ask_nothing);
	tcase_add_test(tc, fetcher_reports_a_changed_object);
	tcase_add_test(tc, listings_keep_owners_across_restarts);
	tcase_add_test(tc, a_cache_without_owners_is_listed_again);
	suite_add_tcase(s, tc);
	tc = tcase_create("big_directory");
	tcase_add_checked_fixture(tc, setup, teardown);
	/* Generous: making 50,000 files on a loaded machine takes a while; a copy per stat (the
	 * bug) takes minutes. */
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, stats_in_a_big_directory_share_its_listing);
	tcase_add_test(tc, listings_are_shared_and_outlive_their_replacement);
	suite_add_tcase(s, tc);
	tc = tcase_create("stale_if_error");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, an_unreachable_ufs_serves_cached_metadata_until_max_stale);
	tcase_add_test(tc, a_definite_answer_is_not_an_outage);
	tcase_add_test(tc, one_caller_refreshes_an_expired_listing);
	tcase_add_test(tc, validations_of_a_path_share_one_ask);
	tcase_add_test(tc, a_forced_validation_asks_again);
	suite_add_tcase(s, tc);
	return s;
}
