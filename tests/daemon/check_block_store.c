// SPDX-License-Identifier: Apache-2.0
// Block store: index and layout, persistence and crash recovery, checksums, watermarks, demotion,
// pins, version changes, config errors and concurrent use. Each test works in its own temp dir.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "block_store.h"
#include <xxhash.h>
#include "slow_syscalls.h"
#include "suites.h"
#include "tier_pool.h"
#include "uring_io.h"

#define BS (64u * 1024)

static char tmpdir[256];
static char index_path[512];

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/weir-bs-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	/* Traversable by the unprivileged child of the read-only test. */
	ck_assert_int_eq(chmod(tmpdir, 0755), 0);
	snprintf(index_path, sizeof(index_path), "%s/state/index.db", tmpdir);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ntiers tiers under tmpdir/t<i>, quotas in blocks. */
static void cfg_init(struct block_store_config *c, unsigned ntiers, const unsigned *quota_blocks,
		     double high, double low)
{
	static const char *const media[] = {"mem", "ssd", "hdd", "hdd"};

	memset(c, 0, sizeof(*c));
	c->index_path = index_path;
	c->source_id = "src";
	c->ntiers = ntiers;
	c->block_size = BS;
	c->high = high;
	c->low = low;
	c->lru = true;
	for (unsigned i = 0; i < ntiers; i++) {
		snprintf(c->tiers[i].medium, sizeof(c->tiers[i].medium), "%s", media[i]);
		snprintf(c->tiers[i].path, sizeof(c->tiers[i].path), "%s/t%u", tmpdir, i);
		c->tiers[i].quota = (uint64_t)quota_blocks[i] * BS;
	}
}

static struct block_store *open_ok(const struct block_store_config *c)
{
	struct block_store *bs = NULL;
	char err[512] = "";
	int r = block_store_open(c, &bs, err, sizeof(err));

	ck_assert_msg(r == 0, "block_store_open: %d %s", r, err);
	ck_assert_ptr_nonnull(bs);
	return bs;
}

static struct block_store *open_simple(unsigned quota_blocks, double high, double low)
{
	struct block_store_config c;

	cfg_init(&c, 1, &quota_blocks, high, low);
	return open_ok(&c);
}

static void fill(uint8_t *buf, uint32_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;

	for (uint32_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
}

static uint64_t seed_of(uint64_t obj, uint64_t block)
{
	return obj * 1000003 + block;
}

static uint64_t sync_obj(struct block_store *bs, const char *path, uint64_t size, int64_t mtime,
			 const char *etag)
{
	struct ufs_attr a = {.size = size, .mtime = mtime};
	uint64_t id = 0;

	snprintf(a.etag, sizeof(a.etag), "%s", etag);
	ck_assert_int_eq(block_store_object_sync(bs, path, &a, &id), 0);
	return id;
}

static int put_block(struct block_store *bs, uint64_t obj, uint64_t block, uint32_t len)
{
	static uint8_t buf[BS];

	fill(buf, len, seed_of(obj, block));
	return block_store_put(bs, obj, block, buf, len);
}

/* Data of a ref, compared with what put_block wrote. */
static void ref_check(const struct block_ref *ref, uint64_t obj, uint64_t block, uint32_t len)
{
	static uint8_t want[BS], got[BS];

	ck_assert_int_ge(ref->fd, 0);
	ck_assert_uint_eq(ref->off, block * BS);
	ck_assert_uint_eq(ref->len, len);
	fill(want, len, seed_of(obj, block));
	ck_assert_int_eq(pread(ref->fd, got, len, (off_t)ref->off), (ssize_t)len);
	ck_assert_msg(memcmp(want, got, len) == 0, "block %" PRIu64 " data differs", block);
}

/* Acquires, checks and releases; returns the tier. */
static int block_check(struct block_store *bs, uint64_t obj, uint64_t block, uint32_t len)
{
	struct block_ref ref;
	int r = block_store_acquire(bs, obj, block, &ref);

	ck_assert_msg(r == 0, "acquire block %" PRIu64 ": %d", block, r);
	ref_check(&ref, obj, block, len);
	block_store_release(bs, obj, block);
	return ref.tier;
}

static void touch(struct block_store *bs, uint64_t obj, uint64_t block)
{
	struct block_ref ref;

	ck_assert_int_eq(block_store_acquire(bs, obj, block, &ref), 0);
	block_store_release(bs, obj, block);
}

static void tier_file(char *buf, size_t len, unsigned tier, uint64_t obj)
{
	snprintf(buf, len, "%s/t%u/src/%016" PRIx64, tmpdir, tier, obj);
}

/* Overwrites bytes of a tier file behind the store's back, as a disk error or a stray writer. */
static void tier_scribble(unsigned tier, uint64_t obj, off_t off, const char *bytes)
{
	char path[600];
	int fd;

	tier_file(path, sizeof(path), tier, obj);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(pwrite(fd, bytes, strlen(bytes), off), (ssize_t)strlen(bytes));
	close(fd);
}

/* Offset of the first data at or after from in the object's file in dir/src, or -1 (a hole to
 * the end, errno ENXIO). */
static off_t data_at_path(const char *dir, uint64_t obj, off_t from)
{
	char path[700];
	int fd;
	off_t r;

	snprintf(path, sizeof(path), "%s/src/%016" PRIx64, dir, obj);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -2;
	r = lseek(fd, from, SEEK_DATA);
	close(fd);
	return r;
}

/* Offset of the first data at or after from in a tier file, or -1 (a hole to the end). */
static off_t data_at(unsigned tier, uint64_t obj, off_t from)
{
	char path[600];
	int fd;
	off_t r;

	tier_file(path, sizeof(path), tier, obj);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	r = lseek(fd, from, SEEK_DATA);
	close(fd);
	return r;
}

START_TEST(test_put_acquire)
{
	struct block_store *bs = open_simple(64, 0.9, 0.8);
	struct block_store_stats st;
	struct block_ref r1, r2;
	uint64_t obj = sync_obj(bs, "/data/a.bin", 3 * BS - 100, 1000, "\"e1\"");
	uint64_t other = sync_obj(bs, "/data/b.bin", BS, 1000, "");

	ck_assert_uint_ne(obj, other);
	ck_assert_uint_eq(block_store_block_size(bs), BS);
	ck_assert_int_eq(put_block(bs, obj, 0, BS), 0);
	ck_assert_int_eq(put_block(bs, obj, 1, BS), 0);
	ck_assert_int_eq(put_block(bs, obj, 2, BS - 100), 0);
	ck_assert_int_eq(put_block(bs, other, 0, BS), 0);

	ck_assert_int_eq(block_store_acquire(bs, obj, 1, &r1), 0);
	ref_check(&r1, obj, 1, BS);
	ck_assert_uint_eq(r1.tier, 0);
	ck_assert_int_eq(block_store_acquire(bs, obj, 2, &r2), 0);
	ref_check(&r2, obj, 2, BS - 100);
	/* One sparse file per object: consecutive blocks share the fd. */
	ck_assert_int_eq(r1.fd, r2.fd);
	block_store_release(bs, obj, 1);
	block_store_release(bs, obj, 2);
	block_check(bs, other, 0, BS);

	ck_assert(block_store_contains(bs, obj, 0));
	ck_assert(!block_store_contains(bs, obj, 3));
	ck_assert_int_eq(block_store_acquire(bs, obj, 3, &r1), -ENOENT);
	ck_assert_int_eq(block_store_acquire(bs, 12345, 0, &r1), -ENOENT);

	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.ntiers, 1);
	ck_assert_uint_eq(st.hits, 3);
	ck_assert_uint_eq(st.misses, 2);
	ck_assert_uint_eq(st.objects, 2);
	ck_assert_uint_eq(st.tiers[0].blocks, 4);
	ck_assert_uint_eq(st.tiers[0].used, 4 * BS - 100);
	ck_assert_uint_eq(st.tiers[0].quota, 64 * BS);
	ck_assert_uint_eq(block_store_object_cached(bs, obj), 3 * BS - 100);

	/* The block sits at its own offset of the object's file. */
	ck_assert_int_eq(data_at(0, obj, 0), 0);
	ck_assert_int_eq(put_block(bs, obj, 0, 0), -EINVAL);
	{
		uint8_t *big = calloc(1, BS + 1);

		ck_assert_int_eq(block_store_put(bs, obj, 9, big, BS + 1), -EINVAL);
		free(big);
	}
	ck_assert_int_eq(put_block(bs, 12345, 0, BS), -ENOENT);
	/* Storing a cached block again changes nothing. */
	ck_assert_int_eq(put_block(bs, obj, 0, BS), 0);
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.tiers[0].blocks, 4);
	block_store_free(bs);
}
END_TEST

START_TEST(test_persistence)
{
	struct block_store *bs = open_simple(64, 0.9, 0.8);
	struct block_store_stats st;
	uint64_t a = sync_obj(bs, "/a", 2 * BS, 1, "x");
	uint64_t b = sync_obj(bs, "/dir/b", BS / 2, 2, "");

	ck_assert_int_eq(put_block(bs, a, 0, BS), 0);
	ck_assert_int_eq(put_block(bs, a, 1, BS), 0);
	ck_assert_int_eq(put_block(bs, b, 0, BS / 2), 0);
	touch(bs, a, 0);
	block_store_free(bs);

	bs = open_simple(64, 0.9, 0.8);
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.objects, 2);
	ck_assert_uint_eq(st.tiers[0].blocks, 3);
	ck_assert_uint_eq(st.tiers[0].used, 2 * BS + BS / 2);
	ck_assert_uint_eq(block_store_object_cached(bs, a), 2 * BS);
	/* Same version: same id, nothing dropped. */
	ck_assert_uint_eq(sync_obj(bs, "/a", 2 * BS, 1, "x"), a);
	ck_assert_uint_eq(sync_obj(bs, "/dir/b", BS / 2, 2, ""), b);
	block_check(bs, a, 0, BS);
	block_check(bs, a, 1, BS);
	block_check(bs, b, 0, BS / 2);
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.checksum_failures, 0);
	ck_assert_uint_eq(st.hits, 3);
	block_store_free(bs);

	/* A smaller quota applies at open: down to the low watermark, least recently used first
	 * (the acquires above, in order a/0, a/1, b/0, were flushed at free). */
	bs = open_simple(2, 0.9, 0.5);
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.tiers[0].used, BS / 2);
	ck_assert(!block_store_contains(bs, a, 0));
	ck_assert(!block_store_contains(bs, a, 1));
	ck_assert(block_store_contains(bs, b, 0));
	block_store_free(bs);

	/* Another block size moves every offset: all blocks go, their files too. */
	{
		struct block_store_config c;
		unsigned q = 64;
		char path[600];
		struct stat sb;

		cfg_init(&c, 1, &q, 0.9, 0.8);
		c.block_size = 2 * BS;
		bs = open_ok(&c);
		block_store_get_stats(bs, &st);
		ck_assert_uint_eq(st.tiers[0].blocks, 0);
		ck_assert_uint_eq(st.objects, 2);
		ck_assert(!block_store_contains(bs, a, 0));
		tier_file(path, sizeof(path), 0, a);
		ck_assert_int_eq(stat(path, &sb), -1);
		block_store_free(bs);
	}
}
END_TEST

START_TEST(test_crash_recovery)
{
	struct block_store_stats st;
	struct block_store *bs;
	int status;
	pid_t pid;
	uint64_t obj;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct block_store *cbs = NULL;
		struct block_store_config c;
		unsigned q = 64;
		char err[256];
		struct ufs_attr a = {.size = 8 * BS, .mtime = 7};
		uint64_t id;
		static uint8_t buf[BS];

		cfg_init(&c, 1, &q, 0.9, 0.8);
		if (block_store_open(&c, &cbs, err, sizeof(err)) < 0 ||
		    block_store_object_sync(cbs, "/big", &a, &id) < 0)
			_exit(2);
		for (uint64_t i = 0; i < 8; i++) {
			fill(buf, BS, seed_of(id, i));
			if (block_store_put(cbs, id, i, buf, BS) < 0)
				_exit(3);
			/* Acquires leave atimes unflushed. */
			struct block_ref ref;

			if (block_store_acquire(cbs, id, i, &ref) < 0)
				_exit(4);
		}
		/* A write that never got indexed: half a block of garbage after the last one. */
		char path[600];
		int fd;

		tier_file(path, sizeof(path), 0, id);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || pwrite(fd, buf, BS / 2, 8 * BS) != BS / 2)
			_exit(5);
		kill(getpid(), SIGKILL);
		_exit(5);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %#x",
		      status);

	bs = open_simple(64, 0.9, 0.8);
	obj = sync_obj(bs, "/big", 8 * BS, 7, "");
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.objects, 1);
	ck_assert_uint_eq(st.tiers[0].blocks, 8);
	ck_assert(!block_store_contains(bs, obj, 8));
	/* The unindexed garbage was reclaimed at open. */
	errno = 0;
	ck_assert_int_eq(data_at(0, obj, 8 * BS), -1);
	ck_assert_int_eq(errno, ENXIO);
	for (uint64_t i = 0; i < 8; i++)
		block_check(bs, obj, i, BS);
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.checksum_failures, 0);
	ck_assert_uint_eq(block_store_object_cached(bs, obj), 8 * BS);
	block_store_free(bs);
}
END_TEST

/* kill -9 at an arbitrary moment of a stream of puts, demotions and evictions: whatever the index
 * holds afterwards must read back intact. */
START_TEST(test_crash_mid_write)
{
	struct block_store_config c;
	unsigned q[2] = {6, 10};
	struct block_store_stats st;
	struct block_store *bs;
	int status, pipefd[2];
	uint64_t obj;
	pid_t pid;
	char go;

	cfg_init(&c, 2, q, 0.75, 0.5);
	ck_assert_int_eq(pipe(pipefd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct block_store *cbs = NULL;
		char err[256];
		struct ufs_attr a = {.size = 1000 * BS, .mtime = 1};
		uint64_t id;
		static uint8_t buf[BS];
		bool told = false;

		close(pipefd[0]);
		if (block_store_open(&c, &cbs, err, sizeof(err)) < 0 ||
		    block_store_object_sync(cbs, "/stream", &a, &id) < 0)
			_exit(2);
		for (uint64_t i = 0;; i = (i + 1) % 1000) {
			fill(buf, BS, seed_of(id, i));
			if (block_store_put(cbs, id, i, buf, BS) < 0)
				_exit(4);
			/* "go" once a block is in: a slow run (ASan, a loaded machine) must not be
			 * killed before it wrote anything, or the test proves nothing and fails */
			if (!told && write(pipefd[1], "g", 1) != 1)
				_exit(3);
			told = true;
		}
	}
	close(pipefd[1]);
	ck_assert_int_eq(read(pipefd[0], &go, 1), 1);
	close(pipefd[0]);
	usleep(20000 + (unsigned)(getpid() % 7) * 10000);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status), "the writer exited by itself: %#x", status);

	bs = open_ok(&c);
	obj = sync_obj(bs, "/stream", 1000 * BS, 1, "");
	block_store_get_stats(bs, &st);
	ck_assert_uint_gt(st.tiers[0].blocks + st.tiers[1].blocks, 0);
	ck_assert_uint_le(st.tiers[0].used, 6 * BS);
	ck_assert_uint_le(st.tiers[1].used, 10 * BS);
	for (uint64_t i = 0; i < 1000; i++)
		if (block_store_contains(bs, obj, i))
			block_check(bs, obj, i, BS);
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.checksum_failures, 0);
	/* Nothing beyond the indexed blocks is left on disk in either tier. */
	for (unsigned t = 0; t < 2; t++) {
		char dir[600];
		off_t pos = 0, d;

		snprintf(dir, sizeof(dir), "%s/t%u", tmpdir, t);
		while ((d = data_at_path(dir, obj, pos)) >= 0) {
			uint64_t blk = (uint64_t)d / BS;
			struct block_ref ref;

			ck_assert_msg(block_store_contains(bs, obj, blk),
				      "unindexed data at block %" PRIu64 " in tier %u", blk, t);
			ck_assert_int_eq(block_store_acquire(bs, obj, blk, &ref), 0);
			ck_assert_uint_eq(ref.tier, t);
			block_store_release(bs, obj, blk);
			pos = (off_t)((blk + 1) * BS);
		}
	}
	block_store_free(bs);
}
END_TEST

/* A block put with the XXH3 its sender checked: the index keeps that sum, so a reopened store
 * serves the block when the sum is its bytes' and drops it when it is not. */
START_TEST(test_put_summed)
{
	static uint8_t buf[BS];
	struct block_store *bs = open_simple(64, 0.9, 0.8);
	struct block_store_stats st;
	struct block_ref ref;
	uint64_t obj = sync_obj(bs, "/p", 2 * BS, 1, "");

	fill(buf, BS, seed_of(obj, 0));
	ck_assert_int_eq(block_store_put_summed(bs, obj, 0, buf, BS, XXH3_64bits(buf, BS)), 0);
	fill(buf, BS, seed_of(obj, 1));
	ck_assert_int_eq(block_store_put_summed(bs, obj, 1, buf, BS, XXH3_64bits(buf, BS) ^ 1), 0);
	block_store_free(bs);

	bs = open_simple(64, 0.9, 0.8);
	block_check(bs, obj, 0, BS);
	ck_assert_int_eq(block_store_acquire(bs, obj, 1, &ref), -ENOENT);
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.checksum_failures, 1);
	block_store_free(bs);
}
END_TEST

START_TEST(test_corrupt_block)
{
	struct block_store *bs = open_simple(64, 0.9, 0.8);
	struct block_store_stats st;
	struct block_ref ref;
	uint64_t obj = sync_obj(bs, "/c", 3 * BS, 1, "");

	for (uint64_t i = 0; i < 3; i++)
		ck_assert_int_eq(put_block(bs, obj, i, BS), 0);
	block_store_free(bs);

	tier_scribble(0, obj, BS + 100, "garbage");

	bs = open_simple(64, 0.9, 0.8);
	ck_assert_int_eq(block_store_acquire(bs, obj, 1, &ref), -ENOENT);
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.checksum_failures, 1);
	ck_assert_uint_eq(st.tiers[0].blocks, 2);
	ck_assert_uint_eq(st.misses, 1);
	ck_assert(!block_store_contains(bs, obj, 1));
	ck_assert_int_eq(block_store_acquire(bs, obj, 1, &ref), -ENOENT);
	block_check(bs, obj, 0, BS);
	block_check(bs, obj, 2, BS);
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.checksum_failures, 1);
	/* The bad block's range is a hole now. */
	ck_assert_int_eq(data_at(0, obj, BS), 2 * BS);
	block_store_free(bs);

	/* Its row is gone too; a refetch stores it again. */
	bs = open_simple(64, 0.9, 0.8);
	ck_assert(!block_store_contains(bs, obj, 1));
	ck_assert_int_eq(put_block(bs, obj, 1, BS), 0);
	block_check(bs, obj, 1, BS);
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.checksum_failures, 0);
	ck_assert_uint_eq(st.tiers[0].blocks, 3);
	block_store_free(bs);
}
END_TEST

START_TEST(test_watermark_eviction)
{
	struct block_store *bs = open_simple(8, 0.75, 0.5);
	struct block_store_stats st;
	uint64_t obj = sync_obj(bs, "/w", 16 * BS, 1, "");

	for (uint64_t i = 0; i < 6; i++)
		ck_assert_int_eq(put_block(bs, obj, i, BS), 0);
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.tiers[0].blocks, 6);
	ck_assert_uint_eq(st.evictions, 0);
	touch(bs, obj, 0);
	touch(bs, obj, 2);
	touch(bs, obj, 4);
	/* 7 blocks > 6 (high): down to 4 (low), least recently used first: 1, 3, 5. */
	ck_assert_int_eq(put_block(bs, obj, 6, BS), 0);
	block_store_settle(bs);
	block_store_get_stats(bs, &st);
	ck_assert_uint_le(st.tiers[0].used, 4 * BS);
	ck_assert_uint_eq(st.tiers[0].blocks, 4);
	ck_assert_uint_eq(st.evictions, 3);
	for (uint64_t i = 0; i < 7; i++)
		ck_assert_msg(block_store_contains(bs, obj, i) == (i % 2 == 0),
			      "block %" PRIu64 " cached: %d", i, block_store_contains(bs, obj, i));
	ck_assert_uint_eq(block_store_object_cached(bs, obj), 4 * BS);
	/* Evicted blocks are holes. */
	ck_assert_int_eq(data_at(0, obj, BS), 2 * BS);
	ck_assert_int_eq(data_at(0, obj, 5 * BS), 6 * BS);
	block_check(bs, obj, 6, BS);
	block_store_free(bs);

	/* The LRU order survives a restart: 0 is now the oldest. */
	bs = open_simple(8, 0.75, 0.5);
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.tiers[0].blocks, 4);
	touch(bs, obj, 2);
	ck_assert_int_eq(put_block(bs, obj, 7, BS), 0);
	ck_assert_int_eq(put_block(bs, obj, 8, BS), 0);
	ck_assert_int_eq(put_block(bs, obj, 9, BS), 0);
	block_store_settle(bs);
	/* 2,4,6,7,8,9 + 0 = 7 > 6 at the put of 9: 0 and 4 and 6 go (4 is older than 6). */
	for (uint64_t i = 0; i < 10; i++)
		ck_assert_msg(block_store_contains(bs, obj, i) == (i == 2 || i >= 7),
			      "block %" PRIu64, i);
	block_store_get_stats(bs, &st);
	ck_assert_uint_le(st.tiers[0].used, 4 * BS);
	block_store_free(bs);
}
END_TEST

START_TEST(test_demotion)
{
	struct block_store_config c;
	unsigned q[2] = {4, 16};
	struct block_store_stats st;
	struct block_store *bs;
	struct block_ref ref;
	uint64_t obj;
	int fd0;

	cfg_init(&c, 2, q, 0.75, 0.5);
	bs = open_ok(&c);
	obj = sync_obj(bs, "/d", 64 * BS, 1, "");
	for (uint64_t i = 0; i < 4; i++)
		ck_assert_int_eq(put_block(bs, obj, i, BS), 0);
	/* 4 > 3 blocks: 0 and 1 go down to the second tier. */
	block_store_settle(bs);
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.ntiers, 2);
	ck_assert_uint_eq(st.tiers[0].blocks, 2);
	ck_assert_uint_eq(st.tiers[1].blocks, 2);
	ck_assert_uint_eq(st.tiers[1].used, 2 * BS);
	ck_assert_uint_eq(st.demotions, 2);
	ck_assert_uint_eq(st.evictions, 0);
	ck_assert_int_eq(block_check(bs, obj, 0, BS), 1);
	ck_assert_int_eq(block_check(bs, obj, 1, BS), 1);
	ck_assert_int_eq(block_store_acquire(bs, obj, 2, &ref), 0);
	ck_assert_uint_eq(ref.tier, 0);
	fd0 = ref.fd;
	ck_assert_int_eq(block_store_acquire(bs, obj, 0, &ref), 0);
	ck_assert_int_ne(ref.fd, fd0);
	block_store_release(bs, obj, 0);
	block_store_release(bs, obj, 2);
	/* Demoted ranges are holes in the top tier, data in the second. */
	ck_assert_int_eq(data_at(0, obj, 0), 2 * BS);
	ck_assert_int_eq(data_at(1, obj, 0), 0);
	ck_assert_uint_eq(block_store_object_cached(bs, obj), 4 * BS);
	block_store_free(bs);

	/* Reopened: the second tier's blocks verify and serve. */
	bs = open_ok(&c);
	ck_assert_int_eq(block_check(bs, obj, 1, BS), 1);
	ck_assert_int_eq(block_check(bs, obj, 3, BS), 0);
	block_store_free(bs);

	/* The top tier comes back empty (memory after a reboot): its blocks are forgotten at open,
	 * the second tier's stay. */
	{
		char path[600];

		tier_file(path, sizeof(path), 0, obj);
		ck_assert_int_eq(unlink(path), 0);
	}
	bs = open_ok(&c);
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.tiers[0].blocks, 0);
	ck_assert_uint_eq(st.tiers[0].used, 0);
	ck_assert_uint_eq(st.tiers[1].blocks, 2);
	ck_assert(!block_store_contains(bs, obj, 2));
	ck_assert(!block_store_contains(bs, obj, 3));
	ck_assert_int_eq(block_check(bs, obj, 0, BS), 1);
	ck_assert_uint_eq(block_store_object_cached(bs, obj), 2 * BS);
	ck_assert_int_eq(put_block(bs, obj, 2, BS), 0);
	ck_assert_int_eq(put_block(bs, obj, 3, BS), 0);
	block_store_free(bs);
	bs = open_ok(&c);
	ck_assert(block_store_contains(bs, obj, 3));
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.checksum_failures, 0);

	/* Many more: the second tier fills past its own high watermark and evicts. */
	for (uint64_t i = 4; i < 40; i++)
		ck_assert_int_eq(put_block(bs, obj, i, BS), 0);
	block_store_settle(bs);
	block_store_get_stats(bs, &st);
	ck_assert_uint_le(st.tiers[0].used, 4 * BS);
	ck_assert_uint_le(st.tiers[1].used, 16 * BS);
	ck_assert_uint_gt(st.evictions, 0);
	ck_assert_uint_gt(st.demotions, 30);
	ck_assert_uint_eq(st.checksum_failures, 0);
	ck_assert_uint_eq(block_store_object_cached(bs, obj),
			  (st.tiers[0].blocks + st.tiers[1].blocks) * BS);
	ck_assert(block_store_contains(bs, obj, 39));
	ck_assert(!block_store_contains(bs, obj, 4));
	for (uint64_t i = 0; i < 40; i++)
		if (block_store_contains(bs, obj, i))
			block_check(bs, obj, i, BS);
	block_store_free(bs);
}
END_TEST

/* Heat ranking: the coldest object's blocks go first, least recently used first among them; a
 * pinned block stays, and the next coldest object gives the rest. */
START_TEST(test_heat_victim_order)
{
	struct block_store_config c;
	unsigned q = 16;
	struct block_store *bs;
	struct block_ref ref;
	uint64_t cold, warm, hot;

	cfg_init(&c, 1, &q, 0.75, 0.5); /* high 12 blocks, low 8 */
	c.lru = false;
	bs = open_ok(&c);
	cold = sync_obj(bs, "/cold", 16 * BS, 1, "");
	warm = sync_obj(bs, "/warm", 16 * BS, 1, "");
	hot = sync_obj(bs, "/hot", 16 * BS, 1, "");
	/* Hot first, cold last: recency alone would evict hot. */
	for (uint64_t i = 0; i < 4; i++)
		ck_assert_int_eq(put_block(bs, hot, i, BS), 0);
	for (uint64_t i = 0; i < 4; i++)
		ck_assert_int_eq(put_block(bs, warm, i, BS), 0);
	for (uint64_t i = 0; i < 4; i++)
		ck_assert_int_eq(put_block(bs, cold, i, BS), 0);
	block_store_set_heat(bs, hot, 1000);
	block_store_set_heat(bs, warm, 10);
	touch(bs, warm, 0); /* warm's order: 1, 2, 3, 0 */
	ck_assert_int_eq(block_store_acquire(bs, cold, 0, &ref), 0);
	/* 13 > 12: 5 go, down to 8: cold 1..3 (0 is pinned), then warm 1 and 2. */
	ck_assert_int_eq(put_block(bs, hot, 4, BS), 0);
	block_store_settle(bs);
	for (uint64_t i = 0; i < 4; i++) {
		ck_assert_msg(block_store_contains(bs, cold, i) == (i == 0), "cold block %" PRIu64,
			      i);
		ck_assert_msg(block_store_contains(bs, warm, i) == (i == 0 || i == 3),
			      "warm block %" PRIu64, i);
	}
	for (uint64_t i = 0; i < 5; i++)
		ck_assert_msg(block_store_contains(bs, hot, i), "hot block %" PRIu64, i);
	ref_check(&ref, cold, 0, BS);
	block_store_release(bs, cold, 0);
	/* Heat that changes reorders: warm is now the hottest, hot the coldest. */
	block_store_set_heat(bs, warm, 1e6);
	block_store_set_heat(bs, hot, 1);
	for (uint64_t i = 5; i < 10; i++)
		ck_assert_int_eq(put_block(bs, warm, i, BS), 0);
	block_store_settle(bs);
	ck_assert(!block_store_contains(bs, cold, 0)); /* heat 0: first */
	ck_assert(block_store_contains(bs, warm, 0) && block_store_contains(bs, warm, 3));
	for (uint64_t i = 5; i < 10; i++)
		ck_assert_msg(block_store_contains(bs, warm, i), "warm block %" PRIu64, i);
	ck_assert(!block_store_contains(bs, hot, 0));
	block_store_free(bs);
}
END_TEST

/* Heat ranking among objects of equal heat is least recently used first, across objects. */
START_TEST(test_heat_equal_lru)
{
	struct block_store_config c;
	unsigned q = 8;
	struct block_store *bs;
	uint64_t a, b;

	cfg_init(&c, 1, &q, 0.75, 0.5); /* high 6 blocks, low 4 */
	c.lru = false;
	bs = open_ok(&c);
	a = sync_obj(bs, "/a", 16 * BS, 1, "");
	b = sync_obj(bs, "/b", 16 * BS, 1, "");
	for (uint64_t i = 0; i < 3; i++) {
		ck_assert_int_eq(put_block(bs, a, i, BS), 0);
		ck_assert_int_eq(put_block(bs, b, i, BS), 0);
	}
	touch(bs, a, 0);
	/* 7 > 6: b0, a1, b1 go (oldest first, whichever object). */
	ck_assert_int_eq(put_block(bs, b, 3, BS), 0);
	block_store_settle(bs);
	ck_assert(block_store_contains(bs, a, 0));
	ck_assert(!block_store_contains(bs, a, 1));
	ck_assert(block_store_contains(bs, a, 2));
	ck_assert(!block_store_contains(bs, b, 0));
	ck_assert(!block_store_contains(bs, b, 1));
	ck_assert(block_store_contains(bs, b, 2));
	ck_assert(block_store_contains(bs, b, 3));
	block_store_free(bs);
}
END_TEST

/* For the two tests of 40 objects with two blocks each, object i at heat (i * 17) % 40 + 1,
 * in a tier of high 90 / low 30 blocks: a hot trigger object's 11 blocks cross the high mark
 * (80 + 11 = 91 > 90), down to 30, so 61 go: the 30 coldest objects and the older block of the
 * 31st; checks exactly that. Returns the trigger's id. */
static uint64_t evict_by_heat_40(struct block_store *bs, const uint64_t objs[40])
{
	uint64_t trigger = sync_obj(bs, "/trigger", 16 * BS, 1, "");
	block_store_set_heat(bs, trigger, 1e9);
	for (uint64_t k = 0; k < 11; k++)
		ck_assert_int_eq(put_block(bs, trigger, k, BS), 0);
	block_store_settle(bs);
	for (unsigned i = 0; i < 40; i++) {
		unsigned heat = (i * 17) % 40 + 1;
		bool b0 = block_store_contains(bs, objs[i], 0);
		bool b1 = block_store_contains(bs, objs[i], 1);

		if (heat <= 30)
			ck_assert_msg(!b0 && !b1, "object of heat %u kept a block", heat);
		else if (heat == 31)
			ck_assert_msg(!b0 && b1, "object of heat 31: block 0 %d, block 1 %d", b0,
				      b1);
		else
			ck_assert_msg(b0 && b1, "object of heat %u lost a block", heat);
	}
	return trigger;
}

/* Many objects of distinct heats: a descent from high to low takes exactly the coldest ones'
 * blocks, as a scan of the tier would. */
START_TEST(test_heat_victims_many)
{
	struct block_store_config c;
	unsigned q = 100;
	struct block_store *bs;
	uint64_t objs[40], trigger;
	char path[32];

	cfg_init(&c, 1, &q, 0.9, 0.3); /* high 90 blocks, low 30 */
	c.lru = false;
	bs = open_ok(&c);
	for (unsigned i = 0; i < 40; i++) {
		snprintf(path, sizeof(path), "/o%u", i);
		objs[i] = sync_obj(bs, path, 4 * BS, 1, "");
		/* heat (i * 17) % 40 + 1: a permutation of 1..40, unrelated to put order */
		block_store_set_heat(bs, objs[i], (double)((i * 17) % 40 + 1));
	}
	for (unsigned i = 0; i < 40; i++)
		for (uint64_t k = 0; k < 2; k++)
			ck_assert_int_eq(put_block(bs, objs[i], k, BS), 0);
	trigger = evict_by_heat_40(bs, objs);
	for (uint64_t k = 0; k < 11; k++)
		ck_assert(block_store_contains(bs, trigger, k));
	block_store_free(bs);
}
END_TEST

/* Heat added a little at a time (eBPF's summaries: block_store_add_heat per read), in an
 * order unrelated to the totals, with blocks already in the tier: the heaps take it lazily, yet
 * a descent takes exactly the coldest objects' blocks, and heat added after that descent
 * reorders the next one. */
START_TEST(test_heat_added_victims_many)
{
	struct block_store_config c;
	unsigned q = 100;
	struct block_store *bs;
	uint64_t objs[40], trigger;
	char path[32];

	cfg_init(&c, 1, &q, 0.9, 0.3); /* high 90 blocks, low 30 */
	c.lru = false;
	bs = open_ok(&c);
	for (unsigned i = 0; i < 40; i++) {
		snprintf(path, sizeof(path), "/o%u", i);
		objs[i] = sync_obj(bs, path, 4 * BS, 1, "");
	}
	/* blocks in before any heat: every object is in the heap, at heat 0 */
	for (unsigned i = 0; i < 40; i++)
		for (uint64_t k = 0; k < 2; k++)
			ck_assert_int_eq(put_block(bs, objs[i], k, BS), 0);
	/* object i ends with (i * 17) % 40 + 1 units, one unit per round to each that has not
	 * had its total yet, visiting the objects in another permuted order each round */
	for (unsigned r = 0; r < 40; r++)
		for (unsigned j = 0; j < 40; j++) {
			unsigned i = (j * 7 + r * 3) % 40;
			if (r < (i * 17) % 40 + 1)
				block_store_add_heat(bs, objs[i], 1.0, 1.0);
		}
	trigger = evict_by_heat_40(bs, objs);
	/* Now the object of heat 32 gets far more than the others left (33..40) and the trigger:
	 * the next descent takes those others first and keeps it. */
	uint64_t was32 = 0;
	for (unsigned i = 0; i < 40; i++)
		if ((i * 17) % 40 + 1 == 32)
			was32 = objs[i];
	for (unsigned u = 0; u < 100; u++)
		block_store_add_heat(bs, was32, 1, 1e8); /* a heavy namespace's */
	/* 19 + 2 + 70 = 91 > 90 again: 61 go, every block but was32's two, the trigger's newest
	 * 27 and the 2 blocks its descent would take last. */
	for (uint64_t k = 11; k < 81; k++)
		ck_assert_int_eq(put_block(bs, trigger, k, BS), 0);
	block_store_settle(bs);
	ck_assert_msg(block_store_contains(bs, was32, 0) && block_store_contains(bs, was32, 1),
		      "the object given the most heat lost a block");
	for (unsigned i = 0; i < 40; i++)
		if (objs[i] != was32)
			for (uint64_t k = 0; k < 2; k++)
				ck_assert_msg(!block_store_contains(bs, objs[i], k),
					      "object of heat %u kept block %" PRIu64,
					      (i * 17) % 40 + 1, k);
	block_store_free(bs);
}
END_TEST

/* Heat added after the objects were placed, with the coldest one (x) pinned: the next victims
 * come from the frontier below it, which must order them by the heat they have now (z, 3,
 * before y, 12), not by the heat they were placed with (y 2, z 2.5: y would go first). */
START_TEST(test_heat_added_pinned_frontier)
{
	struct block_store_config c;
	unsigned q = 8;
	struct block_store *bs;
	struct block_ref r0, r1;

	cfg_init(&c, 1, &q, 0.75, 0.625); /* high 6 blocks, low 5 */
	c.lru = false;
	bs = open_ok(&c);
	uint64_t x = sync_obj(bs, "/x", 4 * BS, 1, "");
	uint64_t y = sync_obj(bs, "/y", 4 * BS, 1, "");
	uint64_t z = sync_obj(bs, "/z", 4 * BS, 1, "");
	for (uint64_t k = 0; k < 2; k++)
		ck_assert_int_eq(put_block(bs, x, k, BS), 0);
	for (uint64_t k = 0; k < 2; k++)
		ck_assert_int_eq(put_block(bs, y, k, BS), 0);
	for (uint64_t k = 0; k < 2; k++)
		ck_assert_int_eq(put_block(bs, z, k, BS), 0);
	block_store_set_heat(bs, y, 2);
	block_store_set_heat(bs, z, 2.5);
	block_store_set_heat(bs, x, 1);
	block_store_add_heat(bs, y, 10, 1);
	block_store_add_heat(bs, z, 0.5, 1);
	ck_assert_int_eq(block_store_acquire(bs, x, 0, &r0), 0);
	ck_assert_int_eq(block_store_acquire(bs, x, 1, &r1), 0);
	uint64_t trig = sync_obj(bs, "/t", 4 * BS, 1, "");
	block_store_set_heat(bs, trig, 1e9);
	/* 7 > 6: 2 go, down to 5: x is pinned, so z's two; a victim of y would refresh its key
	 * and hide the fault, so y must lose none */
	ck_assert_int_eq(put_block(bs, trig, 0, BS), 0);
	block_store_settle(bs);
	ck_assert(block_store_contains(bs, x, 0) && block_store_contains(bs, x, 1));
	ck_assert_msg(!block_store_contains(bs, z, 0) && !block_store_contains(bs, z, 1),
		      "z (heat 3) kept a block while y (heat 12) lost one");
	ck_assert(block_store_contains(bs, y, 0) && block_store_contains(bs, y, 1));
	ck_assert(block_store_contains(bs, trig, 0));
	block_store_release(bs, x, 0);
	block_store_release(bs, x, 1);
	block_store_free(bs);
}
END_TEST

/* Heat is bounded (BLOCK_STORE_HEAT_CAP_READS reads of the object): namespace A re-reads its
 * small page-cached file h 1000 times, namespace B reads its working set b1, b2 (5 blocks each)
 * once. When the tier must give up 3 blocks, c (read once, half h's heat at the cap) goes, then
 * h: B's once-read data outranks h's 4 reads' worth (80 pages > 4 * 16), while hot data stays
 * (h over c). Unbounded, h's 1000 re-reads would keep it and take a block of b1. */
START_TEST(test_heat_cap)
{
	struct block_store_config c;
	unsigned q = 14;
	struct block_store *bs;

	cfg_init(&c, 1, &q, 0.9, 0.72); /* high 12.6 blocks, low 10.08 */
	c.lru = false;
	bs = open_ok(&c);
	uint64_t h = sync_obj(bs, "/a/h", BS, 1, "");
	uint64_t co = sync_obj(bs, "/a/c", 2 * BS, 1, "");
	uint64_t b1 = sync_obj(bs, "/b/1", 5 * BS, 1, "");
	uint64_t b2 = sync_obj(bs, "/b/2", 5 * BS, 1, "");
	double page = 4096, hp = BS / page;
	ck_assert_int_eq(put_block(bs, h, 0, BS), 0);
	for (int i = 0; i < 1000; i++) /* A's re-reads: eBPF counts each, weir sees none */
		ck_assert_int_eq(block_store_add_heat_current(bs, h, hp, 1), 0);
	for (uint64_t k = 0; k < 2; k++)
		ck_assert_int_eq(put_block(bs, co, k, BS), 0);
	block_store_add_heat(bs, co, 2 * hp, 1);
	block_store_add_heat(bs, b1, 5 * hp, 1);
	block_store_add_heat(bs, b2, 5 * hp, 1);
	for (uint64_t k = 0; k < 5; k++)
		ck_assert_int_eq(put_block(bs, b1, k, BS), 0);
	/* 1 + 2 + 5 + 5 = 13 > 12.6: down to 10 */
	for (uint64_t k = 0; k < 5; k++)
		ck_assert_int_eq(put_block(bs, b2, k, BS), 0);
	block_store_settle(bs);
	ck_assert(!block_store_contains(bs, co, 0) && !block_store_contains(bs, co, 1));
	for (uint64_t k = 0; k < 5; k++) {
		ck_assert_msg(block_store_contains(bs, b1, k),
			      "B's block %" PRIu64 " went for A's re-read file", k);
		ck_assert(block_store_contains(bs, b2, k));
	}
	ck_assert_msg(!block_store_contains(bs, h, 0), "A's re-read file outranked B's data");
	block_store_free(bs);
}
END_TEST

/* The bound scales with the adder's weight, and a lighter namespace's reads never lower heat a
 * heavier one gave: o (1 block, 16 pages) read 10 times at weight 10 holds 640 (its cap there),
 * and a read at weight 1 (cap 64) leaves it at 640, above p's 300; and o stays at 640, under
 * q's 700 (unbounded, 1616). One block goes per put of a hot trigger. */
START_TEST(test_heat_cap_weight)
{
	struct block_store_config c;
	unsigned q = 4;
	struct block_store *bs;

	cfg_init(&c, 1, &q, 0.75, 0.75); /* 3 blocks */
	c.lru = false;
	bs = open_ok(&c);
	uint64_t o = sync_obj(bs, "/o", BS, 1, "");
	uint64_t p = sync_obj(bs, "/p", BS, 1, "");
	uint64_t qo = sync_obj(bs, "/q", BS, 1, "");
	uint64_t t = sync_obj(bs, "/t", 2 * BS, 1, "");
	double pages = BS / 4096.0;
	ck_assert_int_eq(put_block(bs, o, 0, BS), 0);
	ck_assert_int_eq(put_block(bs, p, 0, BS), 0);
	ck_assert_int_eq(put_block(bs, qo, 0, BS), 0);
	for (int i = 0; i < 10; i++)
		block_store_add_heat(bs, o, pages, 10);
	block_store_add_heat(bs, o, pages, 1);
	block_store_set_heat(bs, p, 300);
	block_store_set_heat(bs, qo, 700);
	block_store_set_heat(bs, t, 1e9);
	ck_assert_int_eq(put_block(bs, t, 0, BS), 0);
	block_store_settle(bs);
	ck_assert_msg(!block_store_contains(bs, p, 0), "p (300) outlived o");
	ck_assert_msg(block_store_contains(bs, o, 0), "a read at weight 1 lowered o's heat");
	ck_assert_int_eq(put_block(bs, t, 1, BS), 0);
	block_store_settle(bs);
	ck_assert_msg(!block_store_contains(bs, o, 0), "o went over its cap at weight 10 (640)");
	ck_assert(block_store_contains(bs, qo, 0) && block_store_contains(bs, t, 0) &&
		  block_store_contains(bs, t, 1));
	block_store_free(bs);
}
END_TEST

/* Heat for the version a path has now: a replaced version, or an id the store never had,
 * refuses it (the caller then looks the path up again); the current one takes it. */
START_TEST(test_add_heat_current)
{
	struct block_store *bs = open_simple(16, 0.75, 0.5);
	uint64_t v1 = sync_obj(bs, "/f", 4 * BS, 1, "\"a\"");

	ck_assert_int_eq(block_store_add_heat_current(bs, v1, 5, 1), 0);
	ck_assert_int_eq(block_store_add_heat_current(bs, v1 ^ 0x5a5a5a5a5a5aull, 5, 1), -ESTALE);
	ck_assert_int_eq(put_block(bs, v1, 0, BS), 0); /* held by its block: not reaped */
	uint64_t v2 = sync_obj(bs, "/f", 4 * BS, 2, "\"b\"");
	ck_assert_uint_ne(v1, v2);
	ck_assert_int_eq(block_store_add_heat_current(bs, v1, 5, 1), -ESTALE);
	ck_assert_int_eq(block_store_add_heat_current(bs, v2, 5, 1), 0);
	uint64_t found;
	ck_assert_int_eq(block_store_object_find(bs, "/f", &found), 0);
	ck_assert_uint_eq(found, v2);
	block_store_free(bs);
}
END_TEST

START_TEST(test_pinned_not_evicted)
{
	struct block_store *bs = open_simple(8, 0.75, 0.5);
	struct block_ref refs[3];
	struct block_store_stats st;
	uint64_t obj = sync_obj(bs, "/p", 16 * BS, 1, "");

	for (uint64_t i = 0; i < 6; i++)
		ck_assert_int_eq(put_block(bs, obj, i, BS), 0);
	/* 0..2 are the least recently used, and pinned. */
	for (uint64_t i = 0; i < 3; i++)
		ck_assert_int_eq(block_store_acquire(bs, obj, i, &refs[i]), 0);
	for (uint64_t i = 3; i < 6; i++)
		touch(bs, obj, i);
	ck_assert_int_eq(put_block(bs, obj, 6, BS), 0);
	block_store_settle(bs);
	for (uint64_t i = 0; i < 7; i++)
		ck_assert_msg(block_store_contains(bs, obj, i) == (i < 3 || i == 6),
			      "block %" PRIu64, i);
	for (uint64_t i = 0; i < 3; i++) {
		ref_check(&refs[i], obj, i, BS);
		block_store_release(bs, obj, i);
	}
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.evictions, 3);
	block_store_free(bs);
}
END_TEST

START_TEST(test_all_pinned_enospc)
{
	struct block_store *bs = open_simple(4, 1.0, 1.0);
	struct block_store_stats st;
	struct block_ref ref;
	uint64_t obj = sync_obj(bs, "/full", 16 * BS, 1, "");

	for (uint64_t i = 0; i < 4; i++) {
		ck_assert_int_eq(put_block(bs, obj, i, BS), 0);
		ck_assert_int_eq(block_store_acquire(bs, obj, i, &ref), 0);
	}
	ck_assert_int_eq(put_block(bs, obj, 4, BS), -ENOSPC);
	ck_assert(!block_store_contains(bs, obj, 4));
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.tiers[0].blocks, 4);
	ck_assert_uint_eq(st.tiers[0].used, 4 * BS);
	ck_assert_uint_eq(st.evictions, 0);
	/* Nothing of block 4 reached the tier file. */
	errno = 0;
	ck_assert_int_eq(data_at(0, obj, 4 * BS), -1);
	ck_assert_int_eq(errno, ENXIO);

	/* One unpinned block makes room for one more. */
	block_store_release(bs, obj, 1);
	ck_assert_int_eq(put_block(bs, obj, 4, BS), 0);
	ck_assert(!block_store_contains(bs, obj, 1));
	ck_assert(block_store_contains(bs, obj, 4));
	ck_assert_int_eq(block_store_acquire(bs, obj, 4, &ref), 0);
	ck_assert_int_eq(put_block(bs, obj, 5, BS), -ENOSPC);
	for (uint64_t i = 0; i < 5; i++)
		if (i != 1)
			block_store_release(bs, obj, i);
	/* Released, the LRU one (0) makes room. */
	ck_assert_int_eq(put_block(bs, obj, 5, BS), 0);
	ck_assert(!block_store_contains(bs, obj, 0));
	ck_assert(block_store_contains(bs, obj, 2));
	block_store_free(bs);
}
END_TEST

/* Pinned blocks are off the LRU while pinned: with 280 of 300 blocks pinned at the LRU end,
 * each of 20 evictions looks at one block, not at the 280 pinned ones first (main: 5,620). */
START_TEST(test_victim_skips_pinned)
{
	struct block_store *bs = open_simple(300, 1.0, 1.0);
	struct block_store_stats st;
	struct block_ref ref;
	uint64_t obj = sync_obj(bs, "/pins", 400ull * BS, 1, "");

	for (uint64_t i = 0; i < 300; i++)
		ck_assert_int_eq(put_block(bs, obj, i, BS), 0);
	for (uint64_t i = 0; i < 280; i++)
		ck_assert_int_eq(block_store_acquire(bs, obj, i, &ref), 0);
	for (uint64_t i = 280; i < 300; i++)
		touch(bs, obj, i); /* the 20 unpinned ones are the most recent */
	block_store_get_stats(bs, &st);
	uint64_t steps0 = st.victim_steps;
	for (uint64_t i = 300; i < 320; i++)
		ck_assert_int_eq(put_block(bs, obj, i, BS), 0);
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.evictions, 20);
	ck_assert_msg(st.victim_steps - steps0 <= 20, "%" PRIu64 " steps for 20 victims",
		      st.victim_steps - steps0);
	for (uint64_t i = 0; i < 280; i++) {
		ck_assert(block_store_contains(bs, obj, i));
		block_store_release(bs, obj, i);
	}
	/* Released, they are back on the LRU, aged by their release: newer than 300..319. */
	ck_assert_int_eq(put_block(bs, obj, 320, BS), 0);
	ck_assert(!block_store_contains(bs, obj, 300));
	ck_assert(block_store_contains(bs, obj, 0));
	block_store_free(bs);
}
END_TEST

/* ---- no file system call under the store's lock ---- */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum slow_kind { SLOW_PUT, SLOW_HIT, SLOW_EVICT, SLOW_RESYNC };

struct slow_job {
	struct block_store *bs;
	enum slow_kind kind;
	uint64_t obj;
	int r;
};

static void *slow_job_run(void *arg)
{
	struct slow_job *j = arg;
	struct block_ref ref;
	struct ufs_attr a = {.size = 16 * BS, .mtime = 2};
	uint64_t id;

	switch (j->kind) {
	case SLOW_PUT:
		j->r = put_block(j->bs, j->obj, 0, BS);
		break;
	case SLOW_HIT:
		j->r = block_store_acquire(j->bs, j->obj, 0, &ref);
		if (j->r == 0)
			block_store_release(j->bs, j->obj, 0);
		break;
	case SLOW_EVICT:
		j->r = block_store_evict_block(j->bs, j->obj, 0);
		break;
	case SLOW_RESYNC:
		snprintf(a.etag, sizeof(a.etag), "v2");
		j->r = block_store_object_sync(j->bs, "/a", &a, &id);
		break;
	}
	return NULL;
}

/* How long a hit on other (cached, its file open) waits while job's call on its own object's
 * file (the ops of slow_syscalls.h) sleeps 2 s. */
static int64_t hit_wait_during(struct slow_job *job, unsigned ops, uint64_t other)
{
	struct block_ref ref;
	pthread_t th;
	char name[32];
	int64_t t0, t1;

	touch(job->bs, other, 0); /* its file open, its block verified */
	snprintf(name, sizeof(name), "%016" PRIx64, job->obj);
	slow_arm(name, ops, 2000);
	ck_assert_int_eq(pthread_create(&th, NULL, slow_job_run, job), 0);
	ck_assert_msg(slow_wait_entered(5000), "the slow call on %s never came", name);
	usleep(20 * 1000); /* well inside the 2 s sleep */
	t0 = mono_ms();
	ck_assert_int_eq(block_store_acquire(job->bs, other, 0, &ref), 0);
	t1 = mono_ms();
	block_store_release(job->bs, other, 0);
	pthread_join(th, NULL);
	slow_disarm();
	return t1 - t0;
}

/* Two objects, /a and /b, block 0 of each cached (of /a only with with_a); reopened when
 * cold: no tier file open. */
static struct block_store *two_objects(bool with_a, bool cold, uint64_t *a, uint64_t *b)
{
	struct block_store *bs = open_simple(16, 1.0, 1.0);

	*a = sync_obj(bs, "/a", 16 * BS, 1, "v1");
	*b = sync_obj(bs, "/b", 16 * BS, 1, "v1");
	ck_assert_int_eq(put_block(bs, *b, 0, BS), 0);
	if (with_a)
		ck_assert_int_eq(put_block(bs, *a, 0, BS), 0);
	if (cold) {
		block_store_free(bs);
		bs = open_simple(16, 1.0, 1.0);
	}
	return bs;
}

/* A put creating its object's tier file (openat O_CREAT on an fd-cache miss). */
START_TEST(test_slow_open_create)
{
	uint64_t a, b;
	struct block_store *bs = two_objects(false, false, &a, &b);
	struct slow_job j = {.bs = bs, .kind = SLOW_PUT, .obj = a};
	int64_t ms = hit_wait_during(&j, SLOW_OPEN, b);

	ck_assert_int_eq(j.r, 0);
	ck_assert_msg(ms < 100, "a hit waited %" PRId64 " ms behind a tier file's create", ms);
	ck_assert(block_store_contains(bs, a, 0));
	block_store_free(bs);
}
END_TEST

/* A hit on a file whose fd is not cached (openat). */
START_TEST(test_slow_open_hit)
{
	uint64_t a, b;
	struct block_store *bs = two_objects(true, true, &a, &b);
	struct slow_job j = {.bs = bs, .kind = SLOW_HIT, .obj = a};
	int64_t ms = hit_wait_during(&j, SLOW_OPEN, b);

	ck_assert_int_eq(j.r, 0);
	ck_assert_msg(ms < 100, "a hit waited %" PRId64 " ms behind another file's open", ms);
	block_store_free(bs);
}
END_TEST

/* An eviction of a block whose file is not open (it opens the file to punch the hole). */
START_TEST(test_slow_open_evict)
{
	uint64_t a, b;
	struct block_store *bs = two_objects(true, true, &a, &b);
	struct slow_job j = {.bs = bs, .kind = SLOW_EVICT, .obj = a};
	int64_t ms = hit_wait_during(&j, SLOW_OPEN | SLOW_FALLOCATE, b);

	ck_assert_int_eq(j.r, 0);
	ck_assert_msg(ms < 100, "a hit waited %" PRId64 " ms behind an eviction's open", ms);
	ck_assert(!block_store_contains(bs, a, 0));
	/* Its hole was punched all the same. */
	errno = 0;
	ck_assert_int_eq(data_at(0, a, 0), -1);
	ck_assert_int_eq(errno, ENXIO);
	block_store_free(bs);
}
END_TEST

/* The close of a file whose last block was evicted. */
START_TEST(test_slow_close)
{
	uint64_t a, b;
	struct block_store *bs = two_objects(true, false, &a, &b);
	struct slow_job j = {.bs = bs, .kind = SLOW_EVICT, .obj = a};
	int64_t ms = hit_wait_during(&j, SLOW_CLOSE, b);

	ck_assert_int_eq(j.r, 0);
	ck_assert_msg(ms < 100, "a hit waited %" PRId64 " ms behind another file's close", ms);
	block_store_free(bs);
}
END_TEST

/* The unlink of a replaced version's file. */
START_TEST(test_slow_unlink)
{
	uint64_t a, b;
	char path[600];
	struct block_store *bs = two_objects(true, false, &a, &b);
	struct slow_job j = {.bs = bs, .kind = SLOW_RESYNC, .obj = a};
	int64_t ms = hit_wait_during(&j, SLOW_UNLINK, b);

	ck_assert_int_eq(j.r, 0);
	ck_assert_msg(ms < 100, "a hit waited %" PRId64 " ms behind a replaced file's unlink", ms);
	tier_file(path, sizeof(path), 0, a);
	ck_assert_int_eq(access(path, F_OK), -1); /* unlinked all the same */
	block_store_free(bs);
}
END_TEST

/* A put's create, done with the lock let go, racing the retire of its version: the retire
 * unlinks the file while the open is under way, the open creates it again; no stray file of the
 * retired version may stay in the tier directory. */
START_TEST(test_slow_open_create_then_retired)
{
	uint64_t a, b, id;
	char path[PATH_MAX], name[32];
	pthread_t th;
	struct ufs_attr at = {.size = 16 * BS, .mtime = 2};
	struct block_store *bs = two_objects(false, false, &a, &b);
	struct slow_job j = {.bs = bs, .kind = SLOW_PUT, .obj = a};

	snprintf(name, sizeof(name), "%016" PRIx64, a);
	slow_arm(name, SLOW_OPEN, 500);
	ck_assert_int_eq(pthread_create(&th, NULL, slow_job_run, &j), 0);
	ck_assert(slow_wait_entered(5000));
	snprintf(at.etag, sizeof(at.etag), "v2");
	ck_assert_int_eq(block_store_object_sync(bs, "/a", &at, &id), 0);
	ck_assert_uint_ne(id, a);
	pthread_join(th, NULL);
	slow_disarm();
	ck_assert_msg(j.r == -ESTALE || j.r == -ENOENT, "put into a retired version: %d", j.r);
	tier_file(path, sizeof(path), 0, a);
	ck_assert_msg(access(path, F_OK) < 0, "the retired version's tier file %s is back", path);
	block_store_free(bs);
}
END_TEST

START_TEST(test_object_sync)
{
	struct block_store *bs = open_simple(64, 0.9, 0.8);
	struct block_store_stats st;
	struct block_ref ref;
	char path[PATH_MAX];
	uint64_t obj = sync_obj(bs, "/v", 2 * BS, 100, "\"a\"");
	uint64_t found;

	ck_assert_int_eq(put_block(bs, obj, 0, BS), 0);
	ck_assert_int_eq(put_block(bs, obj, 1, BS), 0);
	ck_assert_uint_eq(sync_obj(bs, "/v", 2 * BS, 100, "\"a\""), obj);
	ck_assert_uint_eq(block_store_object_cached(bs, obj), 2 * BS);

	/* New etag: a new identity with nothing cached; the old one's blocks and file are gone
	 * and nothing more is stored under it. */
	uint64_t obj_b = sync_obj(bs, "/v", 2 * BS, 100, "\"b\"");
	ck_assert_uint_ne(obj_b, obj);
	ck_assert_int_eq(block_store_object_find(bs, "/v", &found), 0);
	ck_assert_uint_eq(found, obj_b);
	ck_assert_uint_eq(block_store_object_cached(bs, obj_b), 0);
	ck_assert(!block_store_contains(bs, obj, 0));
	ck_assert(!block_store_contains(bs, obj, 1));
	ck_assert(!block_store_contains(bs, obj_b, 0));
	ck_assert_int_eq(put_block(bs, obj, 0, BS), -ENOENT); /* freed: nobody held it */
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.tiers[0].blocks, 0);
	ck_assert_uint_eq(st.tiers[0].used, 0);
	ck_assert_uint_eq(st.objects, 1);
	tier_file(path, sizeof(path), 0, obj);
	ck_assert_int_eq(access(path, F_OK), -1);

	ck_assert_int_eq(put_block(bs, obj_b, 0, BS), 0);
	block_store_free(bs);

	/* The new version was recorded durably. */
	bs = open_simple(64, 0.9, 0.8);
	ck_assert_uint_eq(sync_obj(bs, "/v", 2 * BS, 100, "\"b\""), obj_b);
	ck_assert_uint_eq(block_store_object_cached(bs, obj_b), BS);
	/* A change of mtime or size gives a new identity too, even while a block is pinned:
	 * the pinned reader keeps the old bytes (its fd is the old, unlinked file), the new
	 * version's blocks go to a file of their own, and the old identity takes no blocks. */
	ck_assert_int_eq(block_store_acquire(bs, obj_b, 0, &ref), 0);
	uint64_t obj_c = sync_obj(bs, "/v", 2 * BS, 101, "\"b\"");
	ck_assert_uint_ne(obj_c, obj_b);
	ck_assert(!block_store_contains(bs, obj_b, 0));
	ck_assert_int_eq(put_block(bs, obj_b, 1, BS), -ESTALE);
	ck_assert_int_eq(put_block(bs, obj_c, 0, BS), 0);
	ref_check(&ref, obj_b, 0, BS);
	block_check(bs, obj_c, 0, BS);
	block_store_release(bs, obj_b, 0);
	ck_assert_int_eq(put_block(bs, obj_b, 1, BS), -ENOENT); /* freed with its last pin */
	block_check(bs, obj_c, 0, BS);
	uint64_t obj_d = sync_obj(bs, "/v", 3 * BS, 101, "\"b\"");
	ck_assert_uint_ne(obj_d, obj_c);
	ck_assert_uint_eq(block_store_object_cached(bs, obj_d), 0);
	ck_assert(!block_store_contains(bs, obj_c, 0));
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.objects, 1);
	ck_assert_uint_eq(st.tiers[0].used, 0);

	/* invalidate drops the same way. */
	ck_assert_int_eq(put_block(bs, obj_d, 2, BS), 0);
	ck_assert_int_eq(block_store_invalidate(bs, obj_d), 0);
	ck_assert(!block_store_contains(bs, obj_d, 2));
	block_store_free(bs);
}
END_TEST

static int open_err(const struct block_store_config *c, char *err, size_t errlen)
{
	struct block_store *bs = NULL;
	int r;

	err[0] = '\0';
	r = block_store_open(c, &bs, err, errlen);
	ck_assert_ptr_null(bs);
	return r;
}

START_TEST(test_config_errors)
{
	struct block_store_config c;
	unsigned q = 16;
	char err[512], path[600];
	int fd;

	cfg_init(&c, 1, &q, 0.9, 0.8);
	c.block_size = 100000;
	ck_assert_int_eq(open_err(&c, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "100000"), "%s", err);
	c.block_size = 32 * 1024;
	ck_assert_int_eq(open_err(&c, err, sizeof(err)), -EINVAL);
	cfg_init(&c, 1, &q, 0.5, 0.8);
	ck_assert_int_eq(open_err(&c, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "watermark"), "%s", err);
	cfg_init(&c, 1, &q, 1.5, 0.8);
	ck_assert_int_eq(open_err(&c, err, sizeof(err)), -EINVAL);
	cfg_init(&c, 1, &q, 0.9, 0.0);
	ck_assert_int_eq(open_err(&c, err, sizeof(err)), -EINVAL);
	cfg_init(&c, 1, &q, 0.9, 0.8);
	c.ntiers = 0;
	ck_assert_int_eq(open_err(&c, err, sizeof(err)), -EINVAL);
	c.ntiers = 5;
	ck_assert_int_eq(open_err(&c, err, sizeof(err)), -EINVAL);
	cfg_init(&c, 1, &q, 0.9, 0.8);
	c.tiers[0].quota = BS - 1;
	ck_assert_int_eq(open_err(&c, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "quota"), "%s", err);

	/* A path that cannot be created: under a regular file. */
	snprintf(path, sizeof(path), "%s/file", tmpdir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	cfg_init(&c, 1, &q, 0.9, 0.8);
	snprintf(c.tiers[0].medium, sizeof(c.tiers[0].medium), "ssd");
	snprintf(c.tiers[0].path, sizeof(c.tiers[0].path), "%s/file/cache", tmpdir);
	ck_assert_int_eq(open_err(&c, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "tier \"ssd\"") && strstr(err, "/file/cache\""), "%s", err);

	/* Two tiers in one directory (spelled differently). */
	{
		unsigned q2[2] = {16, 16};

		cfg_init(&c, 2, q2, 0.9, 0.8);
		snprintf(c.tiers[1].path, sizeof(c.tiers[1].path), "%s/t0/", tmpdir);
		ck_assert_int_eq(open_err(&c, err, sizeof(err)), -EINVAL);
		ck_assert_msg(strstr(err, "same directory"), "%s", err);
		cfg_init(&c, 1, &q, 0.9, 0.8);
	}

	/* A missing path is created, deep. */
	snprintf(c.tiers[0].path, sizeof(c.tiers[0].path), "%s/x/y/z", tmpdir);
	{
		struct block_store *bs = open_ok(&c);
		struct stat st;

		snprintf(path, sizeof(path), "%s/x/y/z/src", tmpdir);
		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert(S_ISDIR(st.st_mode));
		block_store_free(bs);
	}
}
END_TEST

START_TEST(test_config_readonly)
{
	struct block_store_config c;
	unsigned q = 16;
	char ro[600];
	int status;
	pid_t pid;

	snprintf(ro, sizeof(ro), "%s/ro", tmpdir);
	ck_assert_int_eq(mkdir(ro, 0555), 0);
	ck_assert_int_eq(chmod(ro, 0555), 0);
	cfg_init(&c, 1, &q, 0.9, 0.8);
	snprintf(c.tiers[0].medium, sizeof(c.tiers[0].medium), "ssd");
	snprintf(c.tiers[0].path, sizeof(c.tiers[0].path), "%s", ro);

	/* root writes anywhere: check as nobody. */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct block_store *bs = NULL;
		char err[512] = "";
		int r;

		if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(10);
		r = block_store_open(&c, &bs, err, sizeof(err));
		if (r != -EACCES) {
			fprintf(stderr, "open: %d %s\n", r, err);
			_exit(11);
		}
		if (!strstr(err, "tier \"ssd\"") || !strstr(err, "not writable") ||
		    !strstr(err, "/ro\"")) {
			fprintf(stderr, "message: %s\n", err);
			_exit(12);
		}
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
}
END_TEST

static unsigned count_fds(void)
{
	unsigned n = 0;

	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

START_TEST(test_fd_budget)
{
	struct rlimit rl = {.rlim_cur = 64, .rlim_max = 64};
	struct block_store *bs;
	struct block_ref refs[24];
	uint64_t objs[40];
	unsigned base;

	/* A budget of 16 tier files (a quarter of the limit). */
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	bs = open_simple(64, 0.9, 0.8);
	base = count_fds();
	for (unsigned i = 0; i < 40; i++) {
		char path[32];

		snprintf(path, sizeof(path), "/many/%u", i);
		objs[i] = sync_obj(bs, path, BS, 1, "");
		ck_assert_int_eq(put_block(bs, objs[i], 0, BS), 0);
	}
	ck_assert_uint_le(count_fds(), base + 17);
	for (unsigned i = 0; i < 40; i++)
		block_check(bs, objs[i], 0, BS);
	ck_assert_uint_le(count_fds(), base + 17);
	/* Pinned blocks keep their files open past the budget. */
	for (unsigned i = 0; i < 24; i++)
		ck_assert_int_eq(block_store_acquire(bs, objs[i], 0, &refs[i]), 0);
	for (unsigned i = 24; i < 40; i++)
		block_check(bs, objs[i], 0, BS);
	for (unsigned i = 0; i < 24; i++) {
		ref_check(&refs[i], objs[i], 0, BS);
		block_store_release(bs, objs[i], 0);
	}
	block_store_free(bs);
	ck_assert_uint_le(count_fds(), base);
}
END_TEST

/* Runs fn in a child with a small tmpfs at tmpdir/small (a private mount namespace). Needs
 * root; without it the check is skipped with a note. */
static void with_small_fs(const char *size, int (*fn)(const char *dir))
{
	char dir[600];
	int status;
	pid_t pid;

	snprintf(dir, sizeof(dir), "%s/small", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("weir-test", dir, "tmpfs", 0, size) < 0)
			_exit(77);
		_exit(fn(dir));
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "child status %#x", status);
	if (WEXITSTATUS(status) == 77) {
		fprintf(stderr, "block_store: no tmpfs in a mount namespace (not root?); "
				"filesystem-full checks skipped\n");
		return;
	}
	ck_assert_msg(WEXITSTATUS(status) == 0, "filesystem-full check failed at step %d",
		      WEXITSTATUS(status));
}

static int small_fs_full(const char *dir)
{
	struct block_store_config c;
	struct block_store_stats st;
	struct block_store *bs = NULL;
	struct block_ref ref;
	unsigned q = 64; /* far more than the filesystem holds */
	char err[512];
	uint64_t obj;
	int step = 1;

	cfg_init(&c, 1, &q, 1.0, 1.0);
	snprintf(c.tiers[0].path, sizeof(c.tiers[0].path), "%s", dir);
	if (block_store_open(&c, &bs, err, sizeof(err)) < 0)
		return step;
	step++;
	obj = sync_obj(bs, "/f", 64 * BS, 1, "");
	/* 512 KiB hold 8 blocks; the 9th write hits ENOSPC, evicts and retries. */
	for (uint64_t i = 0; i < 12; i++)
		if (put_block(bs, obj, i, BS) < 0)
			return step;
	step++;
	block_store_get_stats(bs, &st);
	if (st.evictions == 0 || st.tiers[0].used > 8 * BS || block_store_contains(bs, obj, 0) ||
	    !block_store_contains(bs, obj, 11))
		return step;
	step++;
	/* Everything pinned and the filesystem full: -ENOSPC, and nothing of the block stays. */
	for (uint64_t i = 0; i < 12; i++)
		if (block_store_contains(bs, obj, i) && block_store_acquire(bs, obj, i, &ref) < 0)
			return step;
	step++;
	block_store_get_stats(bs, &st);
	uint64_t used = st.tiers[0].used;

	if (put_block(bs, obj, 20, BS) != -ENOSPC || block_store_contains(bs, obj, 20))
		return step;
	step++;
	block_store_get_stats(bs, &st);
	if (st.tiers[0].used != used || data_at_path(dir, obj, 20 * BS) != -1)
		return step;
	step++;
	for (uint64_t i = 0; i < 12; i++)
		if (block_store_contains(bs, obj, i)) {
			struct block_ref r2;

			if (block_store_acquire(bs, obj, i, &r2) < 0)
				return step;
			ref_check(&r2, obj, i, BS);
			block_store_release(bs, obj, i);
			block_store_release(bs, obj, i);
		}
	block_store_free(bs);
	return 0;
}

static int small_fs_no_room(const char *dir)
{
	struct block_store_config c;
	struct block_store *bs = NULL;
	unsigned q = 4;
	char err[512], path[700];
	static uint8_t junk[BS];
	int fd, r;

	/* Leave less than one block free. */
	snprintf(path, sizeof(path), "%s/junk", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return 1;
	while (write(fd, junk, sizeof(junk) / 4) > 0)
		;
	close(fd);
	cfg_init(&c, 1, &q, 1.0, 1.0);
	snprintf(c.tiers[0].medium, sizeof(c.tiers[0].medium), "ssd");
	snprintf(c.tiers[0].path, sizeof(c.tiers[0].path), "%s", dir);
	r = block_store_open(&c, &bs, err, sizeof(err));
	if (r != -ENOSPC || !strstr(err, "tier \"ssd\"")) {
		fprintf(stderr, "open: %d %s\n", r, err);
		return 2;
	}
	return 0;
}

START_TEST(test_filesystem_full)
{
	with_small_fs("size=512k", small_fs_full);
	teardown();
	setup();
	with_small_fs("size=512k", small_fs_no_room);
}
END_TEST

START_TEST(test_single_process)
{
	struct block_store_config c;
	struct block_store *bs, *bs2 = NULL;
	unsigned q = 16;
	char err[512] = "";

	cfg_init(&c, 1, &q, 0.9, 0.8);
	bs = open_ok(&c);
	ck_assert_int_eq(block_store_open(&c, &bs2, err, sizeof(err)), -EBUSY);
	ck_assert_ptr_null(bs2);
	ck_assert_msg(strstr(err, "in use"), "%s", err);
	block_store_free(bs);
	bs = open_ok(&c);
	block_store_free(bs);
	block_store_free(NULL);
}
END_TEST

/* The tier I/O layer alone, with io_uring and with its pread/pwrite fallback. */
START_TEST(test_uring_io)
{
	static uint8_t in[3 * BS + 17], out[3 * BS + 17];
	char path[600];
	struct uring_io *u;
	int fd;

	ck_assert_int_eq(uring_io_new(_i == 0 ? 2 : 0, 2, &u), 0);
	snprintf(path, sizeof(path), "%s/io", tmpdir);
	fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	fill(in, sizeof(in), 42);
	ck_assert_int_eq(uring_io_pwrite(u, fd, in, sizeof(in), BS), (ssize_t)sizeof(in));
	ck_assert_int_eq(uring_io_pread(u, fd, out, sizeof(out), BS), (ssize_t)sizeof(out));
	ck_assert_mem_eq(in, out, sizeof(in));
	/* A read past the end stops there; a hole reads as zeros. */
	ck_assert_int_eq(uring_io_pread(u, fd, out, sizeof(out), 2 * BS),
			 (ssize_t)sizeof(out) - BS);
	ck_assert_int_eq(uring_io_pread(u, fd, out, 100, 0), 100);
	ck_assert_int_eq(out[0] | out[50] | out[99], 0);
	ck_assert_int_eq(uring_io_pread(u, -1, out, 100, 0), -EBADF);
	close(fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_lt(uring_io_pwrite(u, fd, in, 100, 0), 0);
	close(fd);
	uring_io_free(u);
	uring_io_free(NULL);
}
END_TEST

struct worker {
	struct block_store *bs;
	uint64_t objs[2];
	unsigned seed;
	atomic_int *bad;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	uint8_t *want = malloc(BS), *got = malloc(BS), *data = malloc(BS);

	for (int i = 0; i < 1500; i++) {
		uint64_t obj = w->objs[rand_r(&w->seed) % 2];
		uint64_t block = rand_r(&w->seed) % 24;
		uint32_t len = block == 23 ? BS / 3 : BS;
		struct block_ref ref;
		int r;

		/* Now and then drop an object under the others' pins (same bytes come back). */
		if (rand_r(&w->seed) % 64 == 0 && block_store_invalidate(w->bs, obj) < 0)
			atomic_fetch_add(w->bad, 1);
		r = block_store_acquire(w->bs, obj, block, &ref);
		if (r == 0) {
			fill(want, len, seed_of(obj, block));
			if (ref.len != len || pread(ref.fd, got, len, (off_t)ref.off) != len ||
			    memcmp(want, got, len) != 0)
				atomic_fetch_add(w->bad, 1);
			block_store_release(w->bs, obj, block);
		} else if (r == -ENOENT) {
			fill(data, len, seed_of(obj, block));
			r = block_store_put(w->bs, obj, block, data, len);
			if (r < 0 && r != -ENOSPC)
				atomic_fetch_add(w->bad, 1);
		} else {
			atomic_fetch_add(w->bad, 1);
		}
	}
	free(want);
	free(got);
	free(data);
	return NULL;
}

START_TEST(test_concurrent)
{
	struct block_store_config c;
	unsigned q[2] = {8, 12};
	struct block_store_stats st;
	struct block_store *bs;
	struct worker w[4];
	pthread_t th[4];
	atomic_int bad;
	uint64_t a, b;

	atomic_init(&bad, 0);
	cfg_init(&c, 2, q, 0.75, 0.5);
	bs = open_ok(&c);
	a = sync_obj(bs, "/ca", 23 * BS + BS / 3, 1, "");
	b = sync_obj(bs, "/cb", 23 * BS + BS / 3, 1, "");
	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct worker){.bs = bs, .objs = {a, b}, .seed = i + 1, .bad = &bad};
		ck_assert_int_eq(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(atomic_load(&bad), 0);
	block_store_settle(bs);
	block_store_get_stats(bs, &st);
	ck_assert_uint_le(st.tiers[0].used, 8 * BS);
	ck_assert_uint_le(st.tiers[1].used, 12 * BS);
	ck_assert_uint_gt(st.demotions, 0);
	ck_assert_uint_eq(st.checksum_failures, 0);
	ck_assert_uint_eq(st.hits + st.misses, 4 * 1500);
	ck_assert_uint_eq(block_store_object_cached(bs, a) + block_store_object_cached(bs, b),
			  st.tiers[0].used + st.tiers[1].used);
	block_store_free(bs);

	/* Whatever survived is intact after a reopen. */
	bs = open_ok(&c);
	for (uint64_t i = 0; i < 24; i++) {
		uint32_t len = i == 23 ? BS / 3 : BS;

		if (block_store_contains(bs, a, i))
			block_check(bs, a, i, len);
		if (block_store_contains(bs, b, i))
			block_check(bs, b, i, len);
	}
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.checksum_failures, 0);
	block_store_free(bs);
}
END_TEST

/* A tier file changed behind the store's back while it runs: the changed block is verified
 * again before it is served (and dropped), the others too before their next use. */
START_TEST(test_tier_file_changed)
{
	struct block_store *bs = open_simple(64, 0.9, 0.8);
	struct block_store_stats st;
	struct block_ref ref;
	uint64_t obj = sync_obj(bs, "/changed", 3 * BS, 1, "");

	for (uint64_t i = 0; i < 3; i++)
		ck_assert_int_eq(put_block(bs, obj, i, BS), 0);
	for (uint64_t i = 0; i < 3; i++)
		block_check(bs, obj, i, BS); /* verified, and served since */
	/* Past the filesystem's timestamp tick: a change within the tick of weir's own last
	 * write is not seen (README, "What a tier guarantees"). */
	usleep(20000);
	tier_scribble(0, obj, BS + 100, "garbage");

	ck_assert_int_eq(block_store_acquire(bs, obj, 1, &ref), -ENOENT);
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.checksum_failures, 1);
	ck_assert(!block_store_contains(bs, obj, 1));
	block_check(bs, obj, 0, BS);
	block_check(bs, obj, 2, BS);
	/* Refetched, it is served again. */
	ck_assert_int_eq(put_block(bs, obj, 1, BS), 0);
	block_check(bs, obj, 1, BS);

	/* Corrupted again while pinned (as a passthrough open pins it): the next acquire, a new
	 * open, still refuses it. */
	ck_assert_int_eq(block_store_acquire(bs, obj, 2, &ref), 0);
	usleep(20000);
	tier_scribble(0, obj, 2 * BS + 5, "x");
	block_store_release(bs, obj, 2);
	ck_assert_int_eq(block_store_acquire(bs, obj, 2, &ref), -ENOENT);
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.checksum_failures, 2);
	block_check(bs, obj, 0, BS);
	block_store_free(bs);
}
END_TEST

/* A tier path another user controls is refused: it could redirect root's writes. */
START_TEST(test_tier_path_unsafe)
{
	struct block_store_config c;
	unsigned q = 16;
	char err[512], dir[600], sub[700];

	if (geteuid() != 0)
		ck_abort_msg("test_tier_path_unsafe needs root (chown to nobody)");
	cfg_init(&c, 1, &q, 0.9, 0.8);
	/* Owned by nobody. */
	snprintf(dir, sizeof(dir), "%s/t0", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(chown(dir, 65534, 65534), 0);
	ck_assert_int_eq(open_err(&c, err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, "tier \"mem\"") && strstr(err, "/t0\"") &&
			  strstr(err, "owned by uid 65534"),
		      "%s", err);
	snprintf(sub, sizeof(sub), "%s/src", dir);
	ck_assert_int_eq(access(sub, F_OK), -1); /* nothing created in it */
	/* Root's, but writable by everyone. */
	ck_assert_int_eq(chown(dir, 0, 0), 0);
	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert_int_eq(open_err(&c, err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, "writable by everyone") && strstr(err, "/t0\""), "%s", err);
	ck_assert_int_eq(access(sub, F_OK), -1);
	/* A sticky one (like /dev/shm) is fine: weir's own directory in it is 0700. */
	ck_assert_int_eq(chmod(dir, 01777), 0);
	{
		struct block_store *bs = open_ok(&c);
		struct stat st;

		ck_assert_int_eq(lstat(sub, &st), 0);
		ck_assert(S_ISDIR(st.st_mode));
		ck_assert_uint_eq(st.st_mode & 07777, 0700);
		block_store_free(bs);
	}
	/* ...even when someone else made that directory first (its name, the source id, is
	 * predictable): theirs is moved aside, not written in, and does not keep the source out. */
	ck_assert_int_eq(chown(sub, 65534, 65534), 0);
	ck_assert_int_eq(chmod(sub, 0777), 0);
	{
		struct block_store *bs = open_ok(&c);
		struct stat st;

		ck_assert_int_eq(lstat(sub, &st), 0);
		ck_assert(S_ISDIR(st.st_mode) && st.st_uid == 0);
		ck_assert_uint_eq(st.st_mode & 07777, 0700);
		block_store_free(bs);
	}
	/* In a tier path only root writes, an entry not weir's own is refused. */
	ck_assert_int_eq(chmod(dir, 0700), 0);
	ck_assert_int_eq(chown(sub, 65534, 65534), 0);
	ck_assert_int_eq(open_err(&c, err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, "\"src\" is someone else's (uid 65534"), "%s", err);
	ck_assert_int_eq(chmod(dir, 01777), 0);
	/* A symbolic link as the tier path, or on the way to it. */
	snprintf(dir, sizeof(dir), "%s/link", tmpdir);
	ck_assert_int_eq(symlink("t0", dir), 0);
	snprintf(c.tiers[0].path, sizeof(c.tiers[0].path), "%s/link", tmpdir);
	ck_assert_int_eq(open_err(&c, err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, "symbolic link") && strstr(err, "/link\""), "%s", err);
	snprintf(c.tiers[0].path, sizeof(c.tiers[0].path), "%s/link/deeper", tmpdir);
	ck_assert_int_eq(open_err(&c, err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, "symbolic link"), "%s", err);
	/* Missing components are created 0700. */
	snprintf(c.tiers[0].path, sizeof(c.tiers[0].path), "%s/new/tier", tmpdir);
	{
		struct block_store *bs = open_ok(&c);
		struct stat st;

		snprintf(dir, sizeof(dir), "%s/new", tmpdir);
		ck_assert_int_eq(stat(dir, &st), 0);
		ck_assert_uint_eq(st.st_mode & 07777, 0700);
		snprintf(dir, sizeof(dir), "%s/new/tier", tmpdir);
		ck_assert_int_eq(stat(dir, &st), 0);
		ck_assert_uint_eq(st.st_mode & 07777, 0700);
		block_store_free(bs);
	}
}
END_TEST

/* A symbolic link planted at a tier file's name is not written through, nor removed through. */
START_TEST(test_tier_symlink_planted)
{
	struct block_store *bs = open_simple(64, 0.9, 0.8);
	uint64_t obj = sync_obj(bs, "/planted", 2 * BS, 1, "");
	char path[600], victim[600];
	struct stat st;
	int fd;

	snprintf(victim, sizeof(victim), "%s/victim", tmpdir);
	fd = open(victim, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "keep", 4), 4);
	close(fd);
	tier_file(path, sizeof(path), 0, obj);
	ck_assert_int_eq(symlink(victim, path), 0);

	ck_assert_int_lt(put_block(bs, obj, 0, BS), 0);
	ck_assert(!block_store_contains(bs, obj, 0));
	ck_assert_int_eq(block_store_invalidate(bs, obj), 0);
	block_store_free(bs);
	ck_assert_int_eq(stat(victim, &st), 0);
	ck_assert_int_eq(st.st_size, 4);
	/* Reopening scrubs the unknown name: the link goes, its target stays. */
	bs = open_simple(64, 0.9, 0.8);
	ck_assert_int_eq(lstat(path, &st), -1);
	ck_assert_int_eq(stat(victim, &st), 0);
	ck_assert_int_eq(st.st_size, 4);
	block_store_free(bs);
}
END_TEST

/* A damaged index.db (truncated, garbage header, garbage page) does not make the store
 * unopenable: it is moved aside, the store starts cold, and caches again. */
START_TEST(test_index_corrupt)
{
	struct block_store *bs = open_simple(512, 0.9, 0.8);
	struct block_store_stats st;
	uint64_t objs[200], obj;
	char path[600];
	struct stat sb;
	int fd, found = 0;

	for (unsigned i = 0; i < 200; i++) {
		char name[32];

		snprintf(name, sizeof(name), "/index/%u", i);
		objs[i] = sync_obj(bs, name, BS, 1, "an etag long enough to need a few pages");
		ck_assert_int_eq(put_block(bs, objs[i], 0, BS / 4), 0);
	}
	block_store_free(bs);
	ck_assert_int_eq(stat(index_path, &sb), 0);
	ck_assert_int_gt(sb.st_size, 8192);
	fd = open(index_path, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	switch (_i) {
	case 0: /* truncated */
		ck_assert_int_eq(ftruncate(fd, sb.st_size / 2), 0);
		break;
	case 1: /* not a database at all */
		ck_assert_int_eq(pwrite(fd, "garbage garbage garbage", 23, 0), 23);
		break;
	default: { /* one page of garbage in the middle */
		static char junk[4096];

		memset(junk, 0x5a, sizeof(junk));
		ck_assert_int_eq(pwrite(fd, junk, sizeof(junk), (sb.st_size / 8192) * 4096),
				 (ssize_t)sizeof(junk));
		break;
	}
	}
	close(fd);

	bs = open_simple(512, 0.9, 0.8);
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.objects, 0);
	ck_assert_uint_eq(st.tiers[0].blocks, 0);
	ck_assert_uint_eq(st.tiers[0].used, 0);
	/* Cold: the old tier files are gone; the bad index was kept aside. */
	tier_file(path, sizeof(path), 0, objs[0]);
	ck_assert_int_eq(access(path, F_OK), -1);
	{
		char dir[600];
		struct dirent *de;
		DIR *d;

		snprintf(dir, sizeof(dir), "%s/state", tmpdir);
		d = opendir(dir);
		ck_assert_ptr_nonnull(d);
		while ((de = readdir(d)))
			found += strncmp(de->d_name, "index.db.corrupt-", 17) == 0 &&
				 !strstr(de->d_name, "-wal");
		closedir(d);
	}
	ck_assert_int_eq(found, 1);
	ck_assert_int_eq(stat(index_path, &sb), 0);
	ck_assert_msg((sb.st_mode & 077) == 0, "the new index is mode %o", sb.st_mode & 0777);
	obj = sync_obj(bs, "/index/0", BS, 1, "an etag long enough to need a few pages");
	ck_assert_int_eq(put_block(bs, obj, 0, BS), 0);
	block_check(bs, obj, 0, BS);
	block_store_free(bs);
	/* The new index is sound. */
	bs = open_simple(512, 0.9, 0.8);
	block_check(bs, obj, 0, BS);
	block_store_free(bs);
}
END_TEST

/* Bytes of every tier file under dir (allocated, as du counts them). */
static uint64_t du_bytes(const char *dir)
{
	char path[1200];
	struct dirent *de;
	uint64_t sum = 0;
	struct stat st;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			sum += du_bytes(path);
		else
			sum += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
	return sum;
}

/* Two stores on one tier path share its quota: together they never pass it, and the least
 * recently used blocks go whichever store holds them. The first store's quota wins. */
START_TEST(test_shared_tier_quota)
{
	struct block_store_config ca, cb;
	struct block_store_stats sa, sb;
	struct block_store *a, *b;
	struct tier_pools *pools;
	char ia[600], ib[600], tier[600];
	unsigned q = 16, q2 = 32;
	uint64_t oa, ob;

	ck_assert_int_eq(tier_pools_new(&pools), 0);
	snprintf(ia, sizeof(ia), "%s/a/index.db", tmpdir);
	snprintf(ib, sizeof(ib), "%s/b/index.db", tmpdir);
	snprintf(tier, sizeof(tier), "%s/t0", tmpdir);
	cfg_init(&ca, 1, &q, 1.0, 0.75);
	ca.index_path = ia;
	ca.source_id = "a";
	ca.pools = pools;
	cfg_init(&cb, 1, &q2, 1.0, 0.5); /* asks for more: the path's 16 blocks win */
	cb.index_path = ib;
	cb.source_id = "b";
	cb.pools = pools;
	snprintf(cb.tiers[0].path, sizeof(cb.tiers[0].path), "%s/t0/", tmpdir); /* same dir */
	a = open_ok(&ca);
	b = open_ok(&cb);
	block_store_get_stats(b, &sb);
	ck_assert_uint_eq(sb.tiers[0].quota, 16 * BS);

	oa = sync_obj(a, "/a", 64 * BS, 1, "");
	ob = sync_obj(b, "/b", 64 * BS, 1, "");
	for (uint64_t i = 0; i < 12; i++)
		ck_assert_int_eq(put_block(a, oa, i, BS), 0);
	for (uint64_t i = 0; i < 12; i++) {
		ck_assert_int_eq(put_block(b, ob, i, BS), 0);
		block_store_get_stats(a, &sa);
		block_store_get_stats(b, &sb);
		ck_assert_msg(sa.tiers[0].used + sb.tiers[0].used <= 16 * BS,
			      "after %" PRIu64 " puts to b: a %" PRIu64 " + b %" PRIu64
			      " bytes > the path's quota",
			      i + 1, sa.tiers[0].used, sb.tiers[0].used);
		ck_assert_uint_le(du_bytes(tier), 16 * BS);
	}
	/* a's blocks were older: they went first; b kept all of its own. */
	block_store_get_stats(a, &sa);
	block_store_get_stats(b, &sb);
	ck_assert_uint_eq(sb.tiers[0].blocks, 12);
	ck_assert_uint_le(sa.tiers[0].blocks, 4);
	ck_assert_uint_gt(sa.evictions, 0);
	ck_assert(!block_store_contains(a, oa, 0));
	ck_assert(block_store_contains(b, ob, 0));
	for (uint64_t i = 0; i < 12; i++)
		block_check(b, ob, i, BS);
	block_store_free(a);
	block_store_free(b);
	tier_pools_free(pools);
}
END_TEST

struct pool_worker {
	struct block_store *bs;
	uint64_t obj;
	int errors;
};

static void *pool_worker_run(void *arg)
{
	struct pool_worker *w = arg;
	static _Thread_local uint8_t buf[BS];
	struct block_ref ref;

	for (uint64_t i = 0; i < 300; i++) {
		uint64_t blk = i % 40;

		fill(buf, BS, seed_of(w->obj, blk));
		if (block_store_put(w->bs, w->obj, blk, buf, BS) < 0)
			w->errors++;
		if (block_store_acquire(w->bs, w->obj, (blk * 7) % 40, &ref) == 0)
			block_store_release(w->bs, w->obj, (blk * 7) % 40);
	}
	return NULL;
}

/* A hit is served while a batch of evictions is under way: the batch's index transaction is held
 * up (another connection holds the index's write lock), and a lookup of a cached block of the
 * same store still answers at once, before a single eviction of the batch has finished. */
START_TEST(test_hit_during_eviction)
{
	struct block_store_config ca, cb;
	struct block_store_stats sa;
	struct block_store *a, *b;
	struct tier_pools *pools;
	struct block_ref ref;
	char ia[600], ib[600];
	unsigned q = 256;
	uint64_t oa, ob;
	sqlite3 *db;
	int waited_ms = 0;

	ck_assert_int_eq(tier_pools_new(&pools), 0);
	snprintf(ia, sizeof(ia), "%s/a/index.db", tmpdir);
	snprintf(ib, sizeof(ib), "%s/b/index.db", tmpdir);
	cfg_init(&ca, 1, &q, 0.5, 0.25); /* high 128 blocks, low 64 */
	ca.index_path = ia;
	ca.source_id = "a";
	ca.pools = pools;
	cb = ca;
	cb.index_path = ib;
	cb.source_id = "b";
	a = open_ok(&ca);
	b = open_ok(&cb);
	oa = sync_obj(a, "/a", 128 * BS, 1, "");
	ob = sync_obj(b, "/b", 128 * BS, 1, "");
	for (uint64_t i = 0; i < 100; i++)
		ck_assert_int_eq(put_block(a, oa, i, BS), 0);
	for (uint64_t i = 0; i < 28; i++)
		ck_assert_int_eq(put_block(b, ob, i, BS), 0);
	touch(a, oa, 99); /* the hot block: never a victim here */

	ck_assert_int_eq(sqlite3_open(ia, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	/* 129 > 128 blocks on the path: b's evictor takes a batch of a's older blocks, whose
	 * index transaction now waits for the lock above. */
	ck_assert_int_eq(put_block(b, ob, 28, BS), 0);
	while (block_store_contains(a, oa, 0) && waited_ms < 4000) {
		usleep(1000);
		waited_ms++;
	}
	ck_assert_msg(!block_store_contains(a, oa, 0),
		      "no eviction started within 4 s of passing the high watermark");
	ck_assert_int_eq(block_store_acquire(a, oa, 99, &ref), 0);
	block_store_get_stats(a, &sa);
	ck_assert_msg(sa.evictions == 0,
		      "the hit was answered only after %" PRIu64 " evictions had finished",
		      sa.evictions);
	ref_check(&ref, oa, 99, BS);
	block_store_release(a, oa, 99);
	ck_assert_int_eq(block_store_acquire(b, ob, 0, &ref), 0);
	block_store_release(b, ob, 0);

	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	block_store_settle(b);
	block_store_settle(a);
	block_store_get_stats(a, &sa);
	ck_assert_uint_ge(sa.evictions, 64);
	ck_assert(block_store_contains(a, oa, 99));
	block_check(a, oa, 99, BS);
	block_store_free(a);
	block_store_free(b);
	/* The batch's rows went: a reopened store does not list the evicted blocks. */
	a = open_ok(&ca);
	ck_assert(!block_store_contains(a, oa, 0));
	ck_assert(block_store_contains(a, oa, 99));
	block_store_free(a);
	tier_pools_free(pools);
}
END_TEST

struct sync_worker {
	struct block_store *bs;
	const char *path;
	uint64_t id;
	int r;
	atomic_bool done;
};

static void *sync_worker_run(void *arg)
{
	struct sync_worker *w = arg;
	struct ufs_attr a = {.size = 3 * BS, .mtime = 7};

	snprintf(a.etag, sizeof(a.etag), "v7");
	w->r = block_store_object_sync(w->bs, w->path, &a, &w->id);
	atomic_store(&w->done, true);
	return NULL;
}

/* A new file's index row is written without the store's lock: while its INSERT waits for the
 * index (another connection holds the write lock, as a batch of evictions or atimes does), a
 * hit on another file is answered at once, and a second open of the same new file waits for the
 * first and gets the same object. */
START_TEST(test_hit_during_object_insert)
{
	struct sync_worker w[2];
	struct block_ref ref;
	struct block_store *bs = open_simple(64, 0.9, 0.6);
	uint64_t old = sync_obj(bs, "/old", 4 * BS, 1, "a"), id;
	pthread_t th[2];
	sqlite3 *db;
	int64_t t0, hit_ms;

	for (uint64_t i = 0; i < 4; i++)
		ck_assert_int_eq(put_block(bs, old, i, BS), 0);
	ck_assert_int_eq(sqlite3_open(index_path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	for (unsigned i = 0; i < 2; i++) {
		w[i] = (struct sync_worker){.bs = bs, .path = "/new"};
		ck_assert_int_eq(pthread_create(&th[i], NULL, sync_worker_run, &w[i]), 0);
		usleep(200 * 1000); /* the first is in its INSERT, waiting for the index */
	}
	t0 = mono_ms();
	ck_assert_int_eq(block_store_acquire(bs, old, 2, &ref), 0);
	hit_ms = mono_ms() - t0;
	ck_assert_msg(!atomic_load(&w[0].done) && hit_ms < 1000,
		      "the hit waited %" PRId64 " ms, for a new file's index row (insert %s)",
		      hit_ms, atomic_load(&w[0].done) ? "finished first" : "still waiting");
	ref_check(&ref, old, 2, BS);
	block_store_release(bs, old, 2);
	/* Not found by path until its row is written: nobody puts blocks under an unwritten id. */
	ck_assert_int_eq(block_store_object_find(bs, "/new", &id), -ENOENT);
	ck_assert(!atomic_load(&w[1].done));

	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	for (unsigned i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(w[i].r, 0);
	}
	ck_assert_uint_eq(w[0].id, w[1].id);
	ck_assert_int_eq(block_store_object_find(bs, "/new", &id), 0);
	ck_assert_uint_eq(id, w[0].id);
	ck_assert_int_eq(put_block(bs, id, 0, BS), 0);
	block_store_free(bs);
	/* The row was written: the reopened store knows the object and its block. */
	bs = open_simple(64, 0.9, 0.6);
	ck_assert_int_eq(block_store_object_find(bs, "/new", &id), 0);
	ck_assert_uint_eq(id, w[0].id);
	ck_assert(block_store_contains(bs, id, 0));
	block_check(bs, id, 0, BS);
	block_store_free(bs);
}
END_TEST

struct put_worker {
	struct block_store *bs;
	uint64_t obj, block;
	int r;
	atomic_bool done;
};

static void *put_worker_run(void *arg)
{
	struct put_worker *w = arg;

	w->r = put_block(w->bs, w->obj, w->block, BS);
	atomic_store(&w->done, true);
	return NULL;
}

/* A demotion writes its block's new tier to the index and punches the old copy without the
 * store's lock: while its UPDATE waits for the index (another connection holds the write lock),
 * a hit on another block of the store is answered at once. */
START_TEST(test_hit_during_demotion)
{
	struct block_store_config c;
	struct block_store_stats st;
	struct put_worker w;
	struct block_ref ref;
	struct block_store *bs;
	unsigned q[2] = {8, 64};
	pthread_t th;
	sqlite3 *db;
	uint64_t obj;
	int64_t t0, hit_ms;

	cfg_init(&c, 2, q, 1.0, 0.5); /* no evictor below the quota: the put makes its own room */
	bs = open_ok(&c);
	obj = sync_obj(bs, "/d", 16 * BS, 1, "");
	for (uint64_t i = 0; i < 8; i++)
		ck_assert_int_eq(put_block(bs, obj, i, BS), 0);
	for (uint64_t i = 1; i < 8; i++)
		touch(bs, obj, i); /* block 0 is the least recently used: the one demoted */
	ck_assert_int_eq(sqlite3_open(index_path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	w = (struct put_worker){.bs = bs, .obj = obj, .block = 8};
	ck_assert_int_eq(pthread_create(&th, NULL, put_worker_run, &w), 0);
	usleep(300 * 1000); /* the put demotes block 0 and waits for the index */
	t0 = mono_ms();
	ck_assert_int_eq(block_store_acquire(bs, obj, 7, &ref), 0);
	hit_ms = mono_ms() - t0;
	ck_assert_msg(!atomic_load(&w.done) && hit_ms < 1000,
		      "the hit waited %" PRId64 " ms, for a demotion's index update (put %s)",
		      hit_ms, atomic_load(&w.done) ? "finished first" : "still waiting");
	ref_check(&ref, obj, 7, BS);
	block_store_release(bs, obj, 7);
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.demotions, 0); /* it was still under way */

	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	pthread_join(th, NULL);
	ck_assert_int_eq(w.r, 0);
	block_store_get_stats(bs, &st);
	ck_assert_uint_ge(st.demotions, 1);
	ck_assert_int_eq(block_check(bs, obj, 0, BS), 1);
	ck_assert_int_eq(block_check(bs, obj, 8, BS), 0);
	block_store_free(bs);
	/* The index says where the block went. */
	bs = open_ok(&c);
	ck_assert_int_eq(block_check(bs, obj, 0, BS), 1);
	for (uint64_t i = 1; i <= 8; i++)
		block_check(bs, obj, i, BS);
	block_store_free(bs);
}
END_TEST

struct inval_worker {
	struct block_store *bs;
	uint64_t obj;
	int r;
	atomic_bool done;
};

static void *inval_worker_run(void *arg)
{
	struct inval_worker *w = arg;

	w->r = block_store_invalidate(w->bs, w->obj);
	atomic_store(&w->done, true);
	return NULL;
}

/* Dropping a changed file's blocks deletes their rows and punches their holes without the
 * store's lock: while the DELETE waits for the index (another connection holds the write lock),
 * a hit on another file is answered at once, and the dropped blocks already miss. */
START_TEST(test_hit_during_invalidate)
{
	struct inval_worker w;
	struct block_ref ref, pinned;
	struct block_store *bs = open_simple(64, 0.9, 0.6);
	uint64_t a = sync_obj(bs, "/changed", 8 * BS, 1, "a"),
		 keep = sync_obj(bs, "/kept", BS, 1, "k");
	pthread_t th;
	sqlite3 *db;
	int64_t t0, hit_ms;

	for (uint64_t i = 0; i < 8; i++)
		ck_assert_int_eq(put_block(bs, a, i, BS), 0);
	ck_assert_int_eq(put_block(bs, keep, 0, BS), 0);
	ck_assert_int_eq(block_store_acquire(bs, a, 3, &pinned), 0); /* pinned across the drop */
	ck_assert_int_eq(sqlite3_open(index_path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	w = (struct inval_worker){.bs = bs, .obj = a};
	ck_assert_int_eq(pthread_create(&th, NULL, inval_worker_run, &w), 0);
	usleep(200 * 1000); /* the drop waits for the index */
	t0 = mono_ms();
	ck_assert_int_eq(block_store_acquire(bs, keep, 0, &ref), 0);
	hit_ms = mono_ms() - t0;
	ck_assert_msg(!atomic_load(&w.done) && hit_ms < 1000,
		      "the hit waited %" PRId64 " ms, for another file's dropped rows (drop %s)",
		      hit_ms, atomic_load(&w.done) ? "finished first" : "still waiting");
	ref_check(&ref, keep, 0, BS);
	block_store_release(bs, keep, 0);

	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	pthread_join(th, NULL);
	ck_assert_int_eq(w.r, 0);
	for (uint64_t i = 0; i < 8; i++)
		ck_assert_msg(!block_store_contains(bs, a, i), "block %" PRIu64 " survived", i);
	/* The pinned block's reader still reads its bytes; the hole comes with its release. */
	ref_check(&pinned, a, 3, BS);
	block_store_release(bs, a, 3);
	{
		/* Its release punched it: the file of the dropped blocks holds no data now. */
		char name[600];
		int fd;

		snprintf(name, sizeof(name), "%s/t0/src/%016" PRIx64, tmpdir, a);
		fd = open(name, O_RDONLY | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		errno = 0;
		ck_assert_msg(lseek(fd, 0, SEEK_DATA) < 0 && errno == ENXIO,
			      "the dropped blocks' bytes are still in the tier file");
		close(fd);
	}
	/* A put after the drop is kept (its row too), and nothing else of the old file is. */
	ck_assert_int_eq(put_block(bs, a, 5, BS), 0);
	block_check(bs, a, 5, BS);
	block_store_free(bs);
	bs = open_simple(64, 0.9, 0.6);
	for (uint64_t i = 0; i < 8; i++)
		ck_assert_int_eq(block_store_contains(bs, a, i), i == 5);
	block_check(bs, a, 5, BS);
	block_check(bs, keep, 0, BS);
	block_store_free(bs);
}
END_TEST

struct acquire_worker {
	struct block_store *bs;
	uint64_t obj, block;
	int r;
	atomic_bool done;
};

static void *acquire_worker_run(void *arg)
{
	struct acquire_worker *w = arg;
	struct block_ref ref;

	w->r = block_store_acquire(w->bs, w->obj, w->block, &ref);
	if (w->r == 0)
		block_store_release(w->bs, w->obj, w->block);
	atomic_store(&w->done, true);
	return NULL;
}

/* A block that fails its checksum is dropped with its row deleted and its hole punched without
 * the store's lock: while that DELETE waits for the index (another connection holds the write
 * lock), a hit on another file is answered at once. */
START_TEST(test_hit_during_corrupt_drop)
{
	struct block_store *bs = open_simple(64, 0.9, 0.8);
	struct block_store_stats st;
	struct acquire_worker w;
	struct block_ref ref;
	uint64_t obj = sync_obj(bs, "/spoiled", 3 * BS, 1, ""),
		 keep = sync_obj(bs, "/kept", BS, 1, "");
	pthread_t th;
	sqlite3 *db;
	int64_t t0, hit_ms;

	for (uint64_t i = 0; i < 3; i++)
		ck_assert_int_eq(put_block(bs, obj, i, BS), 0);
	ck_assert_int_eq(put_block(bs, keep, 0, BS), 0);
	block_check(bs, keep, 0, BS);
	usleep(20000); /* past the filesystem's timestamp tick (see test_tier_file_changed) */
	tier_scribble(0, obj, BS + 100, "garbage");
	ck_assert_int_eq(sqlite3_open(index_path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	w = (struct acquire_worker){.bs = bs, .obj = obj, .block = 1};
	ck_assert_int_eq(pthread_create(&th, NULL, acquire_worker_run, &w), 0);
	usleep(200 * 1000); /* the spoiled block was read, failed, and its row waits */
	t0 = mono_ms();
	ck_assert_int_eq(block_store_acquire(bs, keep, 0, &ref), 0);
	hit_ms = mono_ms() - t0;
	ck_assert_msg(!atomic_load(&w.done) && hit_ms < 1000,
		      "the hit waited %" PRId64 " ms, for a spoiled block's row (its acquire %s)",
		      hit_ms, atomic_load(&w.done) ? "finished first" : "still waiting");
	ref_check(&ref, keep, 0, BS);
	block_store_release(bs, keep, 0);

	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	pthread_join(th, NULL);
	ck_assert_int_eq(w.r, -ENOENT);
	block_store_get_stats(bs, &st);
	ck_assert_uint_eq(st.checksum_failures, 1);
	ck_assert(!block_store_contains(bs, obj, 1));
	block_check(bs, obj, 0, BS);
	block_check(bs, obj, 2, BS);
	ck_assert_int_eq(put_block(bs, obj, 1, BS), 0); /* refetched: served again */
	block_check(bs, obj, 1, BS);
	block_store_free(bs);
	bs = open_simple(64, 0.9, 0.8);
	for (uint64_t i = 0; i < 3; i++)
		block_check(bs, obj, i, BS);
	block_store_free(bs);
}
END_TEST

/* Stores on one path filling it at once, each evicting the other's blocks: no deadlock, the
 * quota holds, and what stays is right. */
START_TEST(test_shared_tier_concurrent)
{
	struct block_store_config c[3];
	struct pool_worker w[3];
	struct block_store_stats st;
	struct tier_pools *pools;
	char idx[3][600];
	unsigned q = 16;
	pthread_t th[3];
	uint64_t used = 0;

	ck_assert_int_eq(tier_pools_new(&pools), 0);
	for (unsigned i = 0; i < 3; i++) {
		static const char *const ids[] = {"x", "y", "z"};

		snprintf(idx[i], sizeof(idx[i]), "%s/%s/index.db", tmpdir, ids[i]);
		cfg_init(&c[i], 1, &q, 0.9, 0.6);
		c[i].index_path = idx[i];
		c[i].source_id = ids[i];
		c[i].pools = pools;
		w[i].bs = open_ok(&c[i]);
		w[i].obj = sync_obj(w[i].bs, ids[i], 40 * BS, 1, "");
		w[i].errors = 0;
	}
	for (unsigned i = 0; i < 3; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, pool_worker_run, &w[i]), 0);
	for (unsigned i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i < 3; i++) {
		ck_assert_int_eq(w[i].errors, 0);
		block_store_get_stats(w[i].bs, &st);
		used += st.tiers[0].used;
		for (uint64_t b = 0; b < 40; b++)
			if (block_store_contains(w[i].bs, w[i].obj, b))
				block_check(w[i].bs, w[i].obj, b, BS);
	}
	ck_assert_uint_le(used, 16 * BS);
	for (unsigned i = 0; i < 3; i++)
		block_store_free(w[i].bs);
	tier_pools_free(pools);
}
END_TEST

Suite *block_store_suite(void)
{
	Suite *s = suite_create("block_store");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_put_acquire);
	tcase_add_test(tc, test_persistence);
	tcase_add_test(tc, test_crash_recovery);
	tcase_add_loop_test(tc, test_crash_mid_write, 0, 5);
	tcase_add_test(tc, test_corrupt_block);
	tcase_add_test(tc, test_put_summed);
	tcase_add_test(tc, test_watermark_eviction);
	tcase_add_test(tc, test_demotion);
	tcase_add_test(tc, test_pinned_not_evicted);
	tcase_add_test(tc, test_victim_skips_pinned);
	tcase_add_test(tc, test_slow_open_create);
	tcase_add_test(tc, test_slow_open_hit);
	tcase_add_test(tc, test_slow_open_evict);
	tcase_add_test(tc, test_slow_close);
	tcase_add_test(tc, test_slow_unlink);
	tcase_add_test(tc, test_slow_open_create_then_retired);
	tcase_add_test(tc, test_heat_victim_order);
	tcase_add_test(tc, test_heat_victims_many);
	tcase_add_test(tc, test_heat_equal_lru);
	tcase_add_test(tc, test_heat_added_victims_many);
	tcase_add_test(tc, test_add_heat_current);
	tcase_add_test(tc, test_heat_cap);
	tcase_add_test(tc, test_heat_cap_weight);
	tcase_add_test(tc, test_heat_added_pinned_frontier);
	tcase_add_test(tc, test_hit_during_eviction);
	tcase_add_test(tc, test_hit_during_object_insert);
	tcase_add_test(tc, test_hit_during_demotion);
	tcase_add_test(tc, test_hit_during_invalidate);
	tcase_add_test(tc, test_hit_during_corrupt_drop);
	tcase_add_test(tc, test_all_pinned_enospc);
	tcase_add_test(tc, test_object_sync);
	tcase_add_test(tc, test_config_errors);
	tcase_add_test(tc, test_config_readonly);
	tcase_add_test(tc, test_concurrent);
	tcase_add_test(tc, test_fd_budget);
	tcase_add_test(tc, test_filesystem_full);
	tcase_add_test(tc, test_single_process);
	tcase_add_loop_test(tc, test_uring_io, 0, 2);
	tcase_add_test(tc, test_tier_file_changed);
	tcase_add_test(tc, test_tier_path_unsafe);
	tcase_add_test(tc, test_tier_symlink_planted);
	tcase_add_loop_test(tc, test_index_corrupt, 0, 3);
	tcase_add_test(tc, test_shared_tier_quota);
	tcase_add_test(tc, test_shared_tier_concurrent);
	suite_add_tcase(s, tc);
	return s;
}
