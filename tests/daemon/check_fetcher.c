// SPDX-License-Identifier: Apache-2.0
// The fetch scheduler's order and its sub-range assembly, over a real local:// UFS seen through a
// gate: each range request waits at the gate until the test lets it through (then the real UFS
// reads it), so the order in which the fetcher asks is observable, and one request can be failed.
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "block_store.h"
#include "fetcher.h"
#include "slow_syscalls.h"
#include "suites.h"
#include "ufs.h"

#define BLOCK 65536
#define PART 16384
#define NBLOCKS 4
#define MAX_REQS 64

static char dir[256];
static struct ufs *real; /* the local:// UFS behind the gate */

#define MAX_SEGS 16

/* One request held at the gate: one segment (read_async) or several (read_segs_async), of which
 * those before next were let through already. */
struct held {
	char path[64];
	uint64_t off;
	struct ufs_seg segs[MAX_SEGS];
	unsigned nsegs, next;
};

/* Guards everything below; never held while the real UFS reads or a done callback runs. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static struct held gate_q[MAX_REQS]; /* under gate_lock: requests not let through yet */
static size_t gate_n;
static uint64_t asked[MAX_REQS];   /* under gate_lock: offsets in the order the fetcher asked */
static size_t asked_len[MAX_REQS]; /* under gate_lock: their lengths */
static size_t nasked;
static uint64_t fail_at = UINT64_MAX; /* under gate_lock: this offset's request fails... */
static int fail_err = -EIO;	      /* under gate_lock: ...with this error */

static int gate_read_segs_async(struct ufs *u, const char *path, uint64_t off,
				const struct ufs_seg *segs, unsigned nsegs,
				const struct ufs_attr *expect)
{
	(void)u;
	(void)expect;
	pthread_mutex_lock(&gate_lock);
	ck_assert_uint_lt(gate_n, MAX_REQS);
	ck_assert_uint_lt(nasked, MAX_REQS);
	ck_assert_uint_le(nsegs, MAX_SEGS);
	struct held *h = &gate_q[gate_n++];
	*h = (struct held){.off = off, .nsegs = nsegs};
	memcpy(h->segs, segs, nsegs * sizeof(*segs));
	snprintf(h->path, sizeof(h->path), "%s", path);
	asked[nasked] = off;
	asked_len[nasked] = 0;
	for (unsigned i = 0; i < nsegs; i++)
		asked_len[nasked] += segs[i].len;
	nasked++;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
	return 0;
}

static int gate_read_async(struct ufs *u, const char *path, uint64_t off, size_t len, void *buf,
			   const struct ufs_attr *expect, ufs_read_done_fn done, void *userdata)
{
	struct ufs_seg seg = {.buf = buf, .len = len, .done = done, .userdata = userdata};
	return gate_read_segs_async(u, path, off, &seg, 1, expect);
}

static const struct ufs_ops gate_ops = {.scheme = "gate", .read_async = gate_read_async};
static struct ufs gate_ufs = {
    .ops = &gate_ops, .url = "gate://", .error_lock = PTHREAD_MUTEX_INITIALIZER};
/* The same gate for a UFS that reads consecutive parts in one request (as http and s3 do). */
static const struct ufs_ops gate_seg_ops = {
    .scheme = "gate", .read_async = gate_read_async, .read_segs_async = gate_read_segs_async};
static struct ufs gate_seg_ufs = {
    .ops = &gate_seg_ops, .url = "gate://", .error_lock = PTHREAD_MUTEX_INITIALIZER};

/* ... and one that, like s3, wants bytes fetched ahead asked for two blocks at a time at least. */
static const struct ufs_ops gate_min_ops = {.scheme = "gate",
					    .read_async = gate_read_async,
					    .read_segs_async = gate_read_segs_async,
					    .min_request = 2 * BLOCK};
static struct ufs gate_min_ufs = {
    .ops = &gate_min_ops, .url = "gate://", .error_lock = PTHREAD_MUTEX_INITIALIZER};

/* Lets up to max segments of the oldest held request through: the real UFS reads each (or the
 * request fails at fail_at: every segment left gets -EIO), then its done runs here, outside
 * the gate's lock; the request stays first while it has segments left. Fails the test if none
 * comes within 5 s. */
static void let_segments_through(unsigned max)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&gate_lock);
	while (gate_n == 0)
		ck_assert_int_eq(pthread_cond_timedwait(&gate_cond, &gate_lock, &until), 0);
	struct held h = gate_q[0];
	bool fail = h.off == fail_at;
	int err = fail_err;
	unsigned upto = fail || h.nsegs - h.next <= max ? h.nsegs : h.next + max;
	if (upto == h.nsegs)
		memmove(gate_q, gate_q + 1, --gate_n * sizeof(gate_q[0]));
	else
		gate_q[0].next = upto;
	pthread_mutex_unlock(&gate_lock);
	uint64_t off = h.off;
	for (unsigned i = 0; i < h.next; i++)
		off += h.segs[i].len;
	for (unsigned i = h.next; i < upto; i++) {
		struct ufs_seg *sg = &h.segs[i];
		if (fail) {
			sg->done(sg->userdata, err, 0);
			continue;
		}
		long n = ufs_read(real, h.path, off, sg->len, sg->buf, NULL);
		ck_assert_int_ge(n, 0);
		off += sg->len;
		sg->done(sg->userdata, 0, (size_t)n);
	}
}

static void let_one_through(void)
{
	let_segments_through(MAX_SEGS);
}

static size_t held_now(void)
{
	pthread_mutex_lock(&gate_lock);
	size_t n = gate_n;
	pthread_mutex_unlock(&gate_lock);
	return n;
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/weir-fetcher-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char p[512], url[512], err[256];
	snprintf(p, sizeof(p), "%s/src", dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/src/a.bin", dir);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < NBLOCKS * BLOCK; i++)
		fputc((int)((i * 2654435761u + 5) >> 13) & 0xff, f);
	fclose(f);
	snprintf(url, sizeof(url), "local://%s/src", dir);
	ck_assert_int_eq(ufs_new(url, NULL, &real, err, sizeof(err)), 0);
	gate_n = nasked = 0;
	fail_at = UINT64_MAX;
	fail_err = -EIO;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void teardown(void)
{
	ufs_free(real);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct block_store *open_store(void)
{
	char err[256], idx[512];
	struct block_store_config c = {.index_path = idx,
				       .source_id = "s",
				       .ntiers = 1,
				       .block_size = BLOCK,
				       .high = 0.9,
				       .low = 0.5,
				       .lru = true};
	snprintf(idx, sizeof(idx), "%s/index.db", dir);
	snprintf(c.tiers[0].medium, sizeof(c.tiers[0].medium), "mem");
	snprintf(c.tiers[0].path, sizeof(c.tiers[0].path), "%s/tier", dir);
	c.tiers[0].quota = 64 * BLOCK;
	struct block_store *bs;
	ck_assert_int_eq(block_store_open(&c, &bs, err, sizeof(err)), 0);
	return bs;
}

struct getter {
	pthread_t t;
	struct fetcher *f;
	struct block_store *bs;
	uint64_t obj, block;
	struct ufs_attr a;
	int r;
	char bytes[BLOCK];
	uint32_t len;
};

static void *get_thread(void *arg)
{
	struct getter *g = arg;
	struct fetch_result fr;
	g->r = fetcher_get(g->f, g->obj, "/a.bin", &g->a, g->block, &fr);
	if (g->r == 0) {
		g->len = fr.len;
		if (fr.mem) {
			memcpy(g->bytes, fr.mem, fr.len);
			free(fr.mem);
		} else {
			g->r = pread(fr.ref.fd, g->bytes, fr.len, (off_t)fr.ref.off) == fr.len
				   ? 0
				   : -EIO;
			block_store_release(g->bs, g->obj, g->block);
		}
	}
	return NULL;
}

/* The source's bytes of block b equal what g got. */
static void assert_block_bytes(const struct getter *g, uint64_t b)
{
	char want[BLOCK];
	ck_assert_int_eq(g->r, 0);
	ck_assert_uint_eq(g->len, BLOCK);
	ck_assert_int_eq(ufs_read(real, "/a.bin", b * BLOCK, BLOCK, want, NULL), BLOCK);
	ck_assert_int_eq(memcmp(want, g->bytes, BLOCK), 0);
}

/* Block b of obj is in the store with the checksum of the source's bytes: a sum the fetcher
 * built part by part as they landed must be the whole block's. */
static void assert_block_sum(struct block_store *bs, uint64_t obj, uint64_t b)
{
	char want[BLOCK];
	struct block_ref ref;
	ck_assert_int_eq(ufs_read(real, "/a.bin", b * BLOCK, BLOCK, want, NULL), BLOCK);
	ck_assert_int_eq(block_store_acquire(bs, obj, b, &ref), 0);
	ck_assert_msg(ref.csum == XXH3_64bits(want, BLOCK),
		      "block %llu was stored with a checksum not its bytes'",
		      (unsigned long long)b);
	block_store_release(bs, obj, b);
}

static struct fetcher *open_fetcher(struct block_store *bs, struct ufs_attr *a, uint64_t *obj)
{
	struct fetcher_options fo = {.max_prefetch = 8, .part_size = PART, .max_requests = 1};
	struct fetcher *f;
	ck_assert_int_eq(fetcher_new(&gate_ufs, bs, &fo, &f), 0);
	ck_assert_int_eq(ufs_stat(real, "/a.bin", a), 0);
	ck_assert_int_eq(block_store_object_sync(bs, "/a.bin", a, obj), 0);
	return f;
}

static void wait_until(bool (*cond)(void *), void *arg)
{
	for (int i = 0; i < 500 && !cond(arg); i++)
		usleep(10000);
	ck_assert_msg(cond(arg), "the fetcher did not get there within 5 s");
}

static bool promoted(void *f)
{
	return atomic_load(&fetcher_get_stats(f)->promoted_blocks) == 1;
}

static bool four_inflight(void *f)
{
	return fetcher_inflight(f) == 4;
}

static bool none_inflight(void *f)
{
	return fetcher_inflight(f) == 0;
}

/* Blocks 1-3 are fetched ahead, one request at a time. A reader then waits for block 3 (fetched
 * ahead, not asked for yet) and another for block 0 (not in flight): their parts go to the UFS
 * before any other prefetch part, in the order the readers came; the prefetch resumes after. */
START_TEST(readers_go_before_prefetch)
{
	struct block_store *bs = open_store();
	struct ufs_attr a;
	uint64_t obj;
	struct fetcher *f = open_fetcher(bs, &a, &obj);
	ck_assert_uint_eq(fetcher_prefetch(f, obj, "/a.bin", &a, 1, 3), 3);
	ck_assert_uint_eq(held_now(), 1); /* one request slot: block 1's first part */

	struct getter *g3 = calloc(1, sizeof(*g3)), *g0 = calloc(1, sizeof(*g0));
	*g3 = (struct getter){.f = f, .bs = bs, .obj = obj, .block = 3, .a = a};
	*g0 = (struct getter){.f = f, .bs = bs, .obj = obj, .block = 0, .a = a};
	ck_assert_int_eq(pthread_create(&g3->t, NULL, get_thread, g3), 0);
	wait_until(promoted, f);
	ck_assert_int_eq(pthread_create(&g0->t, NULL, get_thread, g0), 0);
	wait_until(four_inflight, f);

	for (int i = 0; i < NBLOCKS * (BLOCK / PART); i++)
		let_one_through();
	pthread_join(g3->t, NULL);
	pthread_join(g0->t, NULL);
	assert_block_bytes(g3, 3);
	assert_block_bytes(g0, 0);

	const uint64_t want[] = {
	    1 * BLOCK, /* already out when the readers came */
	    3 * BLOCK,
	    3 * BLOCK + PART,
	    3 * BLOCK + 2 * PART,
	    3 * BLOCK + 3 * PART,
	    0,
	    PART,
	    2 * PART,
	    3 * PART,
	    1 * BLOCK + PART,
	    1 * BLOCK + 2 * PART,
	    1 * BLOCK + 3 * PART,
	    2 * BLOCK,
	    2 * BLOCK + PART,
	    2 * BLOCK + 2 * PART,
	    2 * BLOCK + 3 * PART,
	};
	ck_assert_uint_eq(nasked, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < nasked; i++)
		ck_assert_msg(asked[i] == want[i], "request %zu was at %llu, expected %llu", i,
			      (unsigned long long)asked[i], (unsigned long long)want[i]);
	wait_until(none_inflight, f); /* the prefetched blocks are stored by the store threads */
	for (uint64_t b = 0; b < NBLOCKS; b++) {
		ck_assert(block_store_contains(bs, obj, b));
		assert_block_sum(bs, obj, b);
	}
	fetcher_free(f);
	block_store_free(bs);
	free(g3);
	free(g0);
}
END_TEST

/* One part of a block fails: the reader gets the error, the parts after it are not asked for,
 * and the block is not stored (no block with a hole); asked again, the block is fetched whole. */
START_TEST(a_failed_part_fails_the_block_never_stores_a_hole)
{
	struct block_store *bs = open_store();
	struct ufs_attr a;
	uint64_t obj;
	struct fetcher *f = open_fetcher(bs, &a, &obj);
	fail_at = 2 * BLOCK + PART;

	struct getter *g = calloc(1, sizeof(*g));
	*g = (struct getter){.f = f, .bs = bs, .obj = obj, .block = 2, .a = a};
	ck_assert_int_eq(pthread_create(&g->t, NULL, get_thread, g), 0);
	let_one_through(); /* part 0 */
	let_one_through(); /* part 1: fails */
	pthread_join(g->t, NULL);
	ck_assert_int_eq(g->r, -EIO);
	ck_assert_uint_eq(nasked, 2); /* parts 2 and 3 were never asked for */
	ck_assert_uint_eq(held_now(), 0);
	ck_assert(!block_store_contains(bs, obj, 2));
	ck_assert_uint_eq(atomic_load(&fetcher_get_stats(f)->failed_blocks), 1);

	fail_at = UINT64_MAX;
	nasked = 0;
	/* The kernel's one more ask for a page its readahead could not get, late as on a loaded
	 * machine (a FUSE thread or the reader without a CPU for 400 ms): the same error at once,
	 * no second fetch through the retries (it was 250 ms: http.sh p_trickle took 18.7 s). */
	usleep(400 * 1000);
	ck_assert_int_eq(pthread_create(&g->t, NULL, get_thread, g), 0);
	pthread_join(g->t, NULL);
	ck_assert_int_eq(g->r, -EIO);
	ck_assert_uint_eq(nasked, 0);
	/* once: the next ask (a reader retrying by hand) fetches the block again */
	ck_assert_int_eq(pthread_create(&g->t, NULL, get_thread, g), 0);
	for (int i = 0; i < BLOCK / PART; i++)
		let_one_through();
	pthread_join(g->t, NULL);
	assert_block_bytes(g, 2);
	ck_assert_uint_eq(nasked, BLOCK / PART);
	ck_assert(block_store_contains(bs, obj, 2));
	fetcher_free(f);
	block_store_free(bs);
	free(g);
}
END_TEST

struct owner_getter {
	pthread_t t;
	struct fetcher *f;
	uint64_t obj, block;
	struct ufs_attr a;
	int r;
	struct fetch_result fr;
};

static void *owner_get_thread(void *arg)
{
	struct owner_getter *g = arg;
	g->r = fetcher_get_for_owner(g->f, g->obj, "/a.bin", &g->a, g->block, &g->fr);
	return NULL;
}

/* A block handed to its owner from this node's tier goes only as bytes that match the index's
 * checksum (the owner keeps them, signed by us, as its own copy): a tier copy that fails it is
 * dropped and fetched again from the UFS, not kept here; a good one goes as a copy, without a
 * UFS request. */
START_TEST(a_spoiled_tier_copy_is_never_handed_to_its_owner)
{
	struct block_store *bs = open_store();
	struct ufs_attr a;
	uint64_t obj;
	struct fetcher *f = open_fetcher(bs, &a, &obj);
	char want[BLOCK];
	ck_assert_int_eq(ufs_read(real, "/a.bin", BLOCK, BLOCK, want, NULL), BLOCK);
	/* the index and the bytes disagree, as after the media spoiled them */
	ck_assert_int_eq(block_store_put_summed(bs, obj, 1, want, BLOCK, 0x5eedull), 0);
	struct owner_getter *g = calloc(1, sizeof(*g));
	*g = (struct owner_getter){.f = f, .obj = obj, .block = 1, .a = a};
	ck_assert_int_eq(pthread_create(&g->t, NULL, owner_get_thread, g), 0);
	for (int i = 0; i < BLOCK / PART; i++)
		let_one_through();
	pthread_join(g->t, NULL);
	ck_assert_int_eq(g->r, 0);
	ck_assert_ptr_nonnull(g->fr.mem);
	ck_assert_uint_eq(g->fr.len, BLOCK);
	ck_assert_int_eq(memcmp(g->fr.mem, want, BLOCK), 0);
	fetcher_result_release(f, &g->fr);
	ck_assert(!block_store_contains(bs, obj, 1)); /* for its owner: not kept here */

	/* a good tier copy: handed as a copy, the UFS not asked */
	ck_assert_int_eq(ufs_read(real, "/a.bin", 2 * BLOCK, BLOCK, want, NULL), BLOCK);
	ck_assert_int_eq(block_store_put(bs, obj, 2, want, BLOCK), 0);
	nasked = 0;
	g->block = 2;
	owner_get_thread(g);
	ck_assert_int_eq(g->r, 0);
	ck_assert_ptr_nonnull(g->fr.mem);
	ck_assert_int_eq(memcmp(g->fr.mem, want, BLOCK), 0);
	ck_assert_uint_eq(nasked, 0);
	fetcher_result_release(f, &g->fr);
	ck_assert(block_store_contains(bs, obj, 2));
	fetcher_free(f);
	block_store_free(bs);
	free(g);
}
END_TEST

/* Guesses (spare) go to the UFS only on slots nothing else wants; a stream that reaches a guess
 * raises it to prefetch. */
START_TEST(guesses_take_only_idle_slots)
{
	struct block_store *bs = open_store();
	struct ufs_attr a;
	uint64_t obj;
	struct fetcher *f = open_fetcher(bs, &a, &obj);
	ck_assert_uint_eq(fetcher_prefetch_spare(f, obj, "/a.bin", &a, 0, 1), 1);
	ck_assert_uint_eq(fetcher_prefetch_spare(f, obj, "/a.bin", &a, 2, 1), 1);
	ck_assert_uint_eq(fetcher_prefetch(f, obj, "/a.bin", &a, 1, 1), 1);
	/* block 2 is in flight already: raised, not started again */
	ck_assert_uint_eq(fetcher_prefetch(f, obj, "/a.bin", &a, 2, 1), 0);
	for (int i = 0; i < 3 * (BLOCK / PART); i++)
		let_one_through();
	const uint64_t want[] = {
	    0, /* the slot was idle */
	    1 * BLOCK,
	    1 * BLOCK + PART,
	    1 * BLOCK + 2 * PART,
	    1 * BLOCK + 3 * PART,
	    2 * BLOCK,
	    2 * BLOCK + PART,
	    2 * BLOCK + 2 * PART,
	    2 * BLOCK + 3 * PART,
	    PART,
	    2 * PART,
	    3 * PART,
	};
	ck_assert_uint_eq(nasked, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < nasked; i++)
		ck_assert_msg(asked[i] == want[i], "request %zu was at %llu, expected %llu", i,
			      (unsigned long long)asked[i], (unsigned long long)want[i]);
	wait_until(none_inflight, f);
	for (uint64_t b = 0; b < 3; b++) {
		ck_assert(block_store_contains(bs, obj, b));
		assert_block_sum(bs, obj, b);
	}
	fetcher_free(f);
	block_store_free(bs);
}
END_TEST

struct ranger {
	pthread_t t;
	struct fetcher *f;
	uint64_t obj, block;
	struct ufs_attr a;
	uint32_t from, to;
	int r;
	atomic_bool finished;
	char bytes[BLOCK];
};

static void *range_thread(void *arg)
{
	struct ranger *g = arg;
	struct fetch_result fr;
	g->r = fetcher_get_range(g->f, g->obj, "/a.bin", &g->a, g->block, g->from, g->to, &fr);
	if (g->r == 0) {
		ck_assert_ptr_nonnull(fr.mem); /* from the fetch's buffer: not stored yet */
		memcpy(g->bytes, fr.mem + g->from, g->to - g->from);
		fetcher_result_release(g->f, &fr);
	}
	atomic_store(&g->finished, true);
	return NULL;
}

/* Lets the held parts through one at a time until nothing of f is in flight (5 s at most). */
static void let_all_through(struct fetcher *f)
{
	for (int i = 0; i < 500 && fetcher_inflight(f) > 0; i++) {
		if (held_now())
			let_one_through();
		else
			usleep(10000);
	}
}

/* Where one request can carry consecutive parts, a stream's blocks go in few requests, across
 * block ends, each as large as spreads the queued and asked bytes over the request slots (the
 * first ones still a part or two: a reader waits); each part is a reader's as soon as it lands,
 * before the rest of its request; every block stored whole and right. */
START_TEST(a_stream_goes_in_few_requests_each_part_usable_as_it_lands)
{
	struct block_store *bs = open_store();
	struct ufs_attr a;
	uint64_t obj;
	struct fetcher_options fo = {.max_prefetch = 8, .part_size = PART, .max_requests = 2};
	struct fetcher *f;
	ck_assert_int_eq(fetcher_new(&gate_seg_ufs, bs, &fo, &f), 0);
	ck_assert_int_eq(ufs_stat(real, "/a.bin", &a), 0);
	ck_assert_int_eq(block_store_object_sync(bs, "/a.bin", &a, &obj), 0);
	ck_assert_uint_eq(fetcher_prefetch(f, obj, "/a.bin", &a, 0, NBLOCKS), NBLOCKS);
	ck_assert_uint_eq(held_now(), 2); /* the slots: block 0 in two requests */
	let_one_through();		  /* [0, 2 parts): block 1 and most of 2 go next */
	ck_assert_uint_eq(held_now(), 2);

	/* a reader of block 2's first part: served once that part of the request landed */
	struct ranger *g = calloc(1, sizeof(*g));
	*g = (struct ranger){.f = f, .obj = obj, .block = 2, .a = a, .from = 0, .to = PART};
	ck_assert_int_eq(pthread_create(&g->t, NULL, range_thread, g), 0);
	/* the reader has joined block 2 (a demand now) before the next parts are asked for: else
	 * block 2's last part still is a prefetch and goes in one request with block 3 */
	wait_until(promoted, f);
	let_one_through();		    /* block 0's second half */
	let_segments_through(BLOCK / PART); /* block 1 */
	usleep(100 * 1000);
	ck_assert_msg(!atomic_load(&g->finished), "the reader did not wait for its part");
	let_segments_through(1); /* block 2's first part: the request goes on */
	pthread_join(g->t, NULL);
	ck_assert_int_eq(g->r, 0);
	char want[BLOCK];
	ck_assert_int_eq(ufs_read(real, "/a.bin", 2 * BLOCK, PART, want, NULL), PART);
	ck_assert_int_eq(memcmp(want, g->bytes, PART), 0);
	/* the rest of that request, and block 2's last part: the reader made block 2 a demand,
	 * and a demand's parts go before the prefetch's (block 3) */
	ck_assert_uint_eq(held_now(), 2);
	/* until every block is in: a part's completion may leave its pump to another thread
	 * (pump_locked), so the gate can be empty a moment before the next request comes */
	let_all_through(f);

	const uint64_t want_off[] = {
	    0, 2 * PART, BLOCK, 2 * BLOCK + 3 * PART, 3 * BLOCK, 3 * BLOCK + 2 * PART};
	const size_t want_len[] = {2 * PART, 2 * PART, BLOCK + 3 * PART, PART, 2 * PART, 2 * PART};
	ck_assert_uint_eq(nasked, 6);
	for (size_t i = 0; i < nasked; i++)
		ck_assert_msg(asked[i] == want_off[i] && asked_len[i] == want_len[i],
			      "request %zu was %zu bytes at %llu, expected %zu at %llu", i,
			      asked_len[i], (unsigned long long)asked[i], want_len[i],
			      (unsigned long long)want_off[i]);
	wait_until(none_inflight, f);
	for (uint64_t b = 0; b < NBLOCKS; b++) {
		struct getter gg = {.f = f, .bs = bs, .obj = obj, .block = b, .a = a};
		ck_assert(block_store_contains(bs, obj, b));
		assert_block_sum(bs, obj, b);
		get_thread(&gg);
		assert_block_bytes(&gg, b);
	}
	fetcher_free(f);
	block_store_free(bs);
	free(g);
}
END_TEST

/* A request of several parts fails after its first blocks landed: those are stored, the blocks
 * it did not finish fail (no block with a hole), and asked again they come whole. */
START_TEST(a_request_that_fails_midway_fails_only_its_unfinished_blocks)
{
	struct block_store *bs = open_store();
	struct ufs_attr a;
	uint64_t obj;
	struct fetcher_options fo = {.max_prefetch = 8, .part_size = PART, .max_requests = 1};
	struct fetcher *f;
	ck_assert_int_eq(fetcher_new(&gate_seg_ufs, bs, &fo, &f), 0);
	ck_assert_int_eq(ufs_stat(real, "/a.bin", &a), 0);
	ck_assert_int_eq(block_store_object_sync(bs, "/a.bin", &a, &obj), 0);
	ck_assert_uint_eq(fetcher_prefetch(f, obj, "/a.bin", &a, 0, NBLOCKS), NBLOCKS);
	/* one slot: block 0 alone was queued when the first request went; then the rest */
	let_one_through();
	ck_assert_uint_eq(nasked, 2);
	ck_assert_uint_eq(asked[1], BLOCK);
	ck_assert_uint_eq(asked_len[1], 3 * BLOCK);
	let_segments_through(BLOCK / PART + 1); /* block 1 and a part of block 2 */
	fail_at = BLOCK;			/* the rest of that request fails */
	let_one_through();
	wait_until(none_inflight, f);
	ck_assert(block_store_contains(bs, obj, 0));
	ck_assert(block_store_contains(bs, obj, 1));
	assert_block_sum(bs, obj, 0);
	assert_block_sum(bs, obj, 1);
	ck_assert(!block_store_contains(bs, obj, 2));
	ck_assert(!block_store_contains(bs, obj, 3));
	ck_assert_uint_eq(atomic_load(&fetcher_get_stats(f)->failed_blocks), 2);

	fail_at = UINT64_MAX;
	struct getter *g = calloc(1, sizeof(*g));
	*g = (struct getter){.f = f, .bs = bs, .obj = obj, .block = 2, .a = a};
	/* the fetcher's memo of the recent failure answers one ask; the next fetches */
	ck_assert_int_eq(pthread_create(&g->t, NULL, get_thread, g), 0);
	pthread_join(g->t, NULL);
	ck_assert_int_ne(g->r, 0);
	ck_assert_int_eq(pthread_create(&g->t, NULL, get_thread, g), 0);
	while (!atomic_load(&fetcher_get_stats(f)->demand_blocks))
		usleep(1000);
	while (held_now() || fetcher_inflight(f)) {
		if (held_now())
			let_one_through();
		else
			usleep(1000);
	}
	pthread_join(g->t, NULL);
	assert_block_bytes(g, 2);
	fetcher_free(f);
	block_store_free(bs);
	free(g);
}
END_TEST

/* A whole file an open waits for (fetcher_demand) is served only once every byte is in, so where
 * the UFS pays per request its blocks go in requests of the UFS's minimum for bytes fetched
 * ahead (two here), not spread over the slots as a reader's own block is; every block stored
 * whole and right. */
START_TEST(a_whole_file_demand_goes_in_requests_of_the_minimum)
{
	struct block_store *bs = open_store();
	struct ufs_attr a;
	uint64_t obj;
	struct fetcher_options fo = {.max_prefetch = 8, .part_size = PART, .max_requests = 4};
	struct fetcher *f;
	ck_assert_int_eq(fetcher_new(&gate_min_ufs, bs, &fo, &f), 0);
	ck_assert_int_eq(ufs_stat(real, "/a.bin", &a), 0);
	ck_assert_int_eq(block_store_object_sync(bs, "/a.bin", &a, &obj), 0);
	ck_assert_uint_eq(fetcher_demand(f, obj, "/a.bin", &a, 1, NBLOCKS - 1), NBLOCKS - 1);
	/* blocks 1-3: one request of two blocks, then the last block alone */
	ck_assert_uint_eq(held_now(), 2);
	ck_assert_uint_eq(asked[0], BLOCK);
	ck_assert_uint_eq(asked_len[0], 2 * BLOCK);
	ck_assert_uint_eq(asked[1], 3 * BLOCK);
	ck_assert_uint_eq(asked_len[1], BLOCK);
	let_all_through(f);
	ck_assert_uint_eq(nasked, 2);
	wait_until(none_inflight, f);
	for (uint64_t b = 1; b < NBLOCKS; b++) {
		struct getter gg = {.f = f, .bs = bs, .obj = obj, .block = b, .a = a};
		ck_assert(block_store_contains(bs, obj, b));
		assert_block_sum(bs, obj, b);
		get_thread(&gg);
		assert_block_bytes(&gg, b);
	}
	fetcher_free(f);
	block_store_free(bs);
}
END_TEST

/* With blocks 2-3 of a.bin held in both slots, blocks 0-1 asked for by a demand (guess false:
 * fetcher_demand) or a guess (fetcher_prefetch_spare) must go a block per request; what
 * names the asker in a failure. */
static void blocks_0_1_go_a_block_per_request(bool guess, const char *what)
{
	struct block_store *bs = open_store();
	struct ufs_attr a;
	uint64_t obj;
	struct fetcher_options fo = {.max_prefetch = 8, .part_size = PART, .max_requests = 2};
	struct fetcher *f;
	ck_assert_int_eq(fetcher_new(&gate_seg_ufs, bs, &fo, &f), 0);
	ck_assert_int_eq(ufs_stat(real, "/a.bin", &a), 0);
	ck_assert_int_eq(block_store_object_sync(bs, "/a.bin", &a, &obj), 0);
	ck_assert_uint_eq(fetcher_prefetch(f, obj, "/a.bin", &a, 2, 2), 2);
	ck_assert_uint_eq(held_now(), 2);
	size_t before = nasked;
	/* blocks 0-1: 128 KiB over 2 connections, a block per request */
	ck_assert_uint_eq(guess ? fetcher_prefetch_spare(f, obj, "/a.bin", &a, 0, 2)
				: fetcher_demand(f, obj, "/a.bin", &a, 0, 2),
			  2);
	let_all_through(f);
	wait_until(none_inflight, f);
	unsigned mine = 0;
	for (size_t i = before; i < nasked; i++) {
		if (asked[i] >= 2 * BLOCK)
			continue;
		ck_assert_msg(asked[i] == mine * BLOCK && asked_len[i] == BLOCK,
			      "the %s's request %u was %zu bytes at %llu, expected %d at %llu",
			      what, mine, asked_len[i], (unsigned long long)asked[i], BLOCK,
			      (unsigned long long)mine * BLOCK);
		mine++;
	}
	ck_assert_uint_eq(mine, 2);
	for (uint64_t b = 0; b < NBLOCKS; b++) {
		ck_assert(block_store_contains(bs, obj, b));
		assert_block_sum(bs, obj, b);
	}
	fetcher_free(f);
	block_store_free(bs);
}

/* Blocks 2-3 fetched ahead fill both slots (2 requests) and queue more: the queue's bytes over
 * the slots would put most of a later file in one request. Where the UFS has no minimum
 * request (http), a whole file an open waits for (fetcher_demand) instead goes in its own
 * share of the slots, what it asks for over the connections, so that its requests end
 * together and the link does not idle at its tail behind one long request. */
START_TEST(a_whole_file_goes_in_its_share_of_the_slots)
{
	blocks_0_1_go_a_block_per_request(false, "demand");
}
END_TEST

/* The same for a guess (the next file's head, on idle slots): its share is what it asks for
 * (blocks 0-1 of the 4) over the slots, not the whole file's nor the queue's. */
START_TEST(a_guess_goes_in_its_share_of_what_it_asks_for)
{
	blocks_0_1_go_a_block_per_request(true, "guess");
}
END_TEST

static void gate_fail(uint64_t off, int err)
{
	pthread_mutex_lock(&gate_lock);
	fail_at = off;
	fail_err = err;
	pthread_mutex_unlock(&gate_lock);
}

static size_t asked_now(void)
{
	pthread_mutex_lock(&gate_lock);
	size_t n = nasked;
	pthread_mutex_unlock(&gate_lock);
	return n;
}

/* The Secret rotation race, made deterministic by the gate: block 0 is fetched ahead under the
 * old keys (its first request held), the keys change, a reader joins the prefetch, and only then
 * does the UFS refuse the old keys. The reader must not get the revoked keys' EACCES: it fetches
 * the block again under the new ones and gets its bytes. */
START_TEST(a_read_joining_a_prefetch_refused_under_revoked_keys_fetches_again)
{
	struct block_store *bs = open_store();
	struct ufs_attr a;
	uint64_t obj;
	struct fetcher *f = open_fetcher(bs, &a, &obj);
	ck_assert_uint_eq(fetcher_prefetch(f, obj, "/a.bin", &a, 0, 1), 1);
	ck_assert_uint_eq(held_now(), 1); /* its first part, signed with the old keys */
	fetcher_keys_changed(f);

	struct getter *g = calloc(1, sizeof(*g));
	*g = (struct getter){.f = f, .bs = bs, .obj = obj, .block = 0, .a = a};
	ck_assert_int_eq(pthread_create(&g->t, NULL, get_thread, g), 0);
	wait_until(promoted, f); /* the reader waits on the prefetch */

	gate_fail(0, -EACCES);
	let_one_through(); /* the old keys' refusal */
	gate_fail(UINT64_MAX, -EIO);
	for (int i = 0; i < BLOCK / PART; i++)
		let_one_through(); /* the reader's own fetch, under the new keys */
	pthread_join(g->t, NULL);
	assert_block_bytes(g, 0);
	ck_assert_uint_eq(asked_now(), 1 + BLOCK / PART);
	ck_assert(block_store_contains(bs, obj, 0));
	wait_until(none_inflight, f);
	fetcher_free(f);
	block_store_free(bs);
	free(g);
}
END_TEST

/* A prefetch nobody waits for is refused after the keys changed: the refusal is not remembered
 * (FAIL_MEMO_MS) for the reader that comes next, which fetches under the new keys. */
START_TEST(a_refusal_after_a_rotation_is_not_remembered_for_the_next_reader)
{
	struct block_store *bs = open_store();
	struct ufs_attr a;
	uint64_t obj;
	struct fetcher *f = open_fetcher(bs, &a, &obj);
	ck_assert_uint_eq(fetcher_prefetch(f, obj, "/a.bin", &a, 1, 1), 1);
	ck_assert_uint_eq(held_now(), 1);
	fetcher_keys_changed(f);
	gate_fail(1 * BLOCK, -EACCES);
	let_one_through();
	gate_fail(UINT64_MAX, -EIO);
	wait_until(none_inflight, f);

	struct getter *g = calloc(1, sizeof(*g));
	*g = (struct getter){.f = f, .bs = bs, .obj = obj, .block = 1, .a = a};
	ck_assert_int_eq(pthread_create(&g->t, NULL, get_thread, g), 0);
	for (int i = 0; i < BLOCK / PART; i++)
		let_one_through();
	pthread_join(g->t, NULL);
	assert_block_bytes(g, 1);
	ck_assert_uint_eq(asked_now(), 1 + BLOCK / PART);
	wait_until(none_inflight, f);
	fetcher_free(f);
	block_store_free(bs);
	free(g);
}
END_TEST

/* A reader refused under the keys of the time gets the refusal (EACCES), and it is remembered
 * for a moment; a rotation forgets it: the next reader fetches under the new keys at once. */
START_TEST(a_rotation_forgets_the_old_keys_refusal)
{
	struct block_store *bs = open_store();
	struct ufs_attr a;
	uint64_t obj;
	struct fetcher *f = open_fetcher(bs, &a, &obj);
	struct getter *g = calloc(1, sizeof(*g));
	*g = (struct getter){.f = f, .bs = bs, .obj = obj, .block = 2, .a = a};
	gate_fail(2 * BLOCK, -EACCES);
	ck_assert_int_eq(pthread_create(&g->t, NULL, get_thread, g), 0);
	let_one_through();
	pthread_join(g->t, NULL);
	ck_assert_int_eq(g->r, -EACCES); /* refused under the keys it was read with */
	gate_fail(UINT64_MAX, -EIO);
	fetcher_keys_changed(f);

	ck_assert_int_eq(pthread_create(&g->t, NULL, get_thread, g), 0);
	for (int i = 0; i < BLOCK / PART; i++)
		let_one_through();
	pthread_join(g->t, NULL);
	assert_block_bytes(g, 2);
	ck_assert_uint_eq(asked_now(), 1 + BLOCK / PART);
	wait_until(none_inflight, f);
	fetcher_free(f);
	block_store_free(bs);
	free(g);
}
END_TEST

struct waiter {
	pthread_t t;
	struct fetcher *f;
	struct block_store *bs;
	uint64_t obj, block;
	struct ufs_attr a;
	int r;
	bool stored;
};

static atomic_bool wait_halted;

static bool halted(const void *arg)
{
	(void)arg;
	return atomic_load(&wait_halted);
}

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	struct fetch_result fr;
	const struct fetch_halt halt = {.halted = halted};
	w->r = fetcher_wait(w->f, w->obj, "/a.bin", &w->a, w->block, &halt, &fr);
	if (w->r == 0) {
		w->stored = !fr.mem;
		if (fr.mem)
			fetcher_result_release(w->f, &fr);
		else
			block_store_release(w->bs, w->obj, w->block);
	}
	return NULL;
}

/* What a fill at open waits with (fuse/view.c fill_whole): a block in flight is waited for and
 * returned stored; one that was stored and then evicted (a tier too small for the file) is not
 * fetched again while the opener waits: -ENOENT, and no request reaches the UFS. */
START_TEST(a_fill_waits_for_a_fetch_but_never_fetches_again)
{
	struct block_store *bs = open_store();
	struct ufs_attr a;
	uint64_t obj;
	struct fetcher *f = open_fetcher(bs, &a, &obj);
	ck_assert_uint_eq(fetcher_demand(f, obj, "/a.bin", &a, 0, 1), 1);
	struct waiter *w = calloc(1, sizeof(*w));
	*w = (struct waiter){.f = f, .bs = bs, .obj = obj, .block = 0, .a = a};
	ck_assert_int_eq(pthread_create(&w->t, NULL, wait_thread, w), 0);
	for (int i = 0; i < BLOCK / PART; i++)
		let_one_through();
	pthread_join(w->t, NULL);
	ck_assert_int_eq(w->r, 0);
	ck_assert(w->stored);
	ck_assert_uint_eq(asked_now(), BLOCK / PART);

	ck_assert_int_eq(block_store_evict_block(bs, obj, 0), 0); /* room for a later block */
	ck_assert(!block_store_contains(bs, obj, 0));
	ck_assert_int_eq(pthread_create(&w->t, NULL, wait_thread, w), 0);
	pthread_join(w->t, NULL);
	ck_assert_int_eq(w->r, -ENOENT);
	usleep(100 * 1000);
	ck_assert_uint_eq(asked_now(), BLOCK / PART); /* nothing asked again */
	ck_assert_uint_eq(held_now(), 0);
	fetcher_free(f);
	block_store_free(bs);
	free(w);
}
END_TEST

/* A fill's wait ends when its view goes (halt), while the fetch it waits for is still at the
 * UFS; the fetch goes on and stores the block. */
START_TEST(a_fill_gives_up_its_wait_when_halted)
{
	struct block_store *bs = open_store();
	struct ufs_attr a;
	uint64_t obj;
	struct fetcher *f = open_fetcher(bs, &a, &obj);
	atomic_store(&wait_halted, false);
	ck_assert_uint_eq(fetcher_demand(f, obj, "/a.bin", &a, 1, 1), 1);
	ck_assert_uint_eq(held_now(), 1);
	struct waiter *w = calloc(1, sizeof(*w));
	*w = (struct waiter){.f = f, .bs = bs, .obj = obj, .block = 1, .a = a, .r = 1};
	ck_assert_int_eq(pthread_create(&w->t, NULL, wait_thread, w), 0);
	usleep(200 * 1000);
	atomic_store(&wait_halted, true);
	pthread_join(w->t, NULL);
	ck_assert_int_eq(w->r, -ECANCELED);
	atomic_store(&wait_halted, false);
	for (int i = 0; i < BLOCK / PART; i++)
		let_one_through();
	wait_until(none_inflight, f);
	ck_assert(block_store_contains(bs, obj, 1));
	fetcher_free(f);
	block_store_free(bs);
	free(w);
}
END_TEST

/* A UFS that completes its requests as a loaded backend may: several threads take requests in
 * random order, each runs a request's segments in order (ufs.h) after a random delay, some
 * requests complete inline in the submitter, and one part in SCATTER_FAIL_IN fails (it and the
 * rest of its request get -EIO). So a block's parts land out of order, two of them on two
 * threads at once, and a part fails after its siblings were summed. */
#define SCATTER_THREADS 4
#define SCATTER_FAIL_IN 10

struct scatter_req {
	char path[64];
	uint64_t off;
	struct ufs_seg segs[MAX_SEGS];
	unsigned nsegs;
	unsigned seed;
};

static pthread_mutex_t scatter_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t scatter_cond = PTHREAD_COND_INITIALIZER;
static struct scatter_req *scatter_q[MAX_REQS]; /* under scatter_lock */
static size_t scatter_n;			/* under scatter_lock */
static bool scatter_stop;			/* under scatter_lock */
static atomic_uint scatter_seed;

static void scatter_run(struct scatter_req *rq)
{
	uint64_t off = rq->off;
	bool failed = false;
	for (unsigned i = 0; i < rq->nsegs; i++) {
		struct ufs_seg *sg = &rq->segs[i];
		usleep(rand_r(&rq->seed) % 300);
		if (failed || rand_r(&rq->seed) % SCATTER_FAIL_IN == 0) {
			failed = true;
			sg->done(sg->userdata, -EIO, 0);
			continue;
		}
		long n = ufs_read(real, rq->path, off, sg->len, sg->buf, NULL);
		ck_assert_int_ge(n, 0);
		off += sg->len;
		sg->done(sg->userdata, 0, (size_t)n);
	}
	free(rq);
}

static void *scatter_thread(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	pthread_mutex_lock(&scatter_lock);
	for (;;) {
		while (!scatter_n && !scatter_stop)
			pthread_cond_wait(&scatter_cond, &scatter_lock);
		if (!scatter_n)
			break;
		size_t k = (size_t)rand_r(&seed) % scatter_n; /* any of them, not the oldest */
		struct scatter_req *rq = scatter_q[k];
		scatter_q[k] = scatter_q[--scatter_n];
		pthread_mutex_unlock(&scatter_lock);
		scatter_run(rq);
		pthread_mutex_lock(&scatter_lock);
	}
	pthread_mutex_unlock(&scatter_lock);
	return NULL;
}

static int scatter_read_segs_async(struct ufs *u, const char *path, uint64_t off,
				   const struct ufs_seg *segs, unsigned nsegs,
				   const struct ufs_attr *expect)
{
	(void)u;
	(void)expect;
	ck_assert_uint_le(nsegs, MAX_SEGS);
	struct scatter_req *rq = calloc(1, sizeof(*rq));
	ck_assert_ptr_nonnull(rq);
	snprintf(rq->path, sizeof(rq->path), "%s", path);
	rq->off = off;
	memcpy(rq->segs, segs, nsegs * sizeof(*segs));
	rq->nsegs = nsegs;
	rq->seed = atomic_fetch_add(&scatter_seed, 1) * 2654435761u;
	if (rand_r(&rq->seed) % 4 == 0) {
		scatter_run(rq); /* inline, on the submitter's thread */
		return 0;
	}
	pthread_mutex_lock(&scatter_lock);
	ck_assert_uint_lt(scatter_n, MAX_REQS);
	scatter_q[scatter_n++] = rq;
	pthread_cond_signal(&scatter_cond);
	pthread_mutex_unlock(&scatter_lock);
	return 0;
}

static int scatter_read_async(struct ufs *u, const char *path, uint64_t off, size_t len, void *buf,
			      const struct ufs_attr *expect, ufs_read_done_fn done, void *userdata)
{
	struct ufs_seg seg = {.buf = buf, .len = len, .done = done, .userdata = userdata};
	return scatter_read_segs_async(u, path, off, &seg, 1, expect);
}

static const struct ufs_ops scatter_ops = {.scheme = "scatter", .read_async = scatter_read_async};
static struct ufs scatter_ufs = {
    .ops = &scatter_ops, .url = "scatter://", .error_lock = PTHREAD_MUTEX_INITIALIZER};
static const struct ufs_ops scatter_seg_ops = {.scheme = "scatter",
					       .read_async = scatter_read_async,
					       .read_segs_async = scatter_read_segs_async};
static struct ufs scatter_seg_ufs = {
    .ops = &scatter_seg_ops, .url = "scatter://", .error_lock = PTHREAD_MUTEX_INITIALIZER};

/* A file of its own whose last block ends in a short part (2 whole parts of 4 KiB and 777
 * bytes): a tail the running sum must cover exactly. */
#define TAIL_SIZE (3 * BLOCK + 2 * 4096 + 777)
#define TAIL_BLOCKS 4

static void tail_block(uint64_t b, char *want, uint32_t *len)
{
	uint64_t left = TAIL_SIZE - b * BLOCK;
	*len = left < BLOCK ? (uint32_t)left : BLOCK;
	ck_assert_int_eq(ufs_read(real, "/t.bin", b * BLOCK, *len, want, NULL), *len);
}

struct tail_getter {
	pthread_t t;
	struct fetcher *f;
	struct block_store *bs;
	uint64_t obj, block;
	struct ufs_attr a;
	int r;
};

/* Reads block g->block of /t.bin; when it gets it, its bytes must be the source's. */
static void *tail_get_thread(void *arg)
{
	struct tail_getter *g = arg;
	struct fetch_result fr;
	g->r = fetcher_get(g->f, g->obj, "/t.bin", &g->a, g->block, &fr);
	if (g->r < 0)
		return NULL;
	char want[BLOCK], got[BLOCK];
	uint32_t len;
	tail_block(g->block, want, &len);
	ck_assert_uint_eq(fr.len, len);
	if (fr.mem) {
		memcpy(got, fr.mem, len);
		free(fr.mem);
	} else {
		ck_assert_int_eq(pread(fr.ref.fd, got, len, (off_t)fr.ref.off), len);
		block_store_release(g->bs, g->obj, g->block);
	}
	ck_assert_int_eq(memcmp(want, got, len), 0);
	return NULL;
}

/* Every block the fetcher stores, whatever order and threads its parts landed in and whichever
 * of its parts failed, is indexed with its bytes' checksum (the last block's short part
 * included); the fetcher is freed while the backend's threads may still be returning from its
 * callbacks. Rounds of every block of the file read at once (and fetched ahead), a fresh
 * fetcher each, over both kinds of UFS. */
START_TEST(a_sum_summed_as_parts_land_anyhow_is_the_blocks)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/src/t.bin", dir);
	FILE *fp = fopen(p, "w");
	ck_assert_ptr_nonnull(fp);
	for (size_t i = 0; i < TAIL_SIZE; i++)
		fputc((int)((i * 2246822519u + 11) >> 9) & 0xff, fp);
	ck_assert_int_eq(fclose(fp), 0);
	struct block_store *bs = open_store();
	struct ufs_attr a;
	uint64_t obj;
	ck_assert_int_eq(ufs_stat(real, "/t.bin", &a), 0);
	ck_assert_int_eq(block_store_object_sync(bs, "/t.bin", &a, &obj), 0);
	scatter_stop = false;
	scatter_n = 0;
	pthread_t th[SCATTER_THREADS];
	for (uintptr_t i = 0; i < SCATTER_THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, scatter_thread, (void *)(i + 1)), 0);
	unsigned stored = 0, failed = 0;
	for (int round = 0; round < 120; round++) {
		struct fetcher_options fo = {.max_prefetch = 8,
					     .part_size = PART / 4,
					     .max_requests = 8,
					     .max_request = PART};
		struct fetcher *f;
		ck_assert_int_eq(
		    fetcher_new(round % 2 ? &scatter_seg_ufs : &scatter_ufs, bs, &fo, &f), 0);
		struct tail_getter g[TAIL_BLOCKS];
		if (round % 3 == 0)
			fetcher_prefetch(f, obj, "/t.bin", &a, 0, TAIL_BLOCKS);
		for (uint64_t b = 0; b < TAIL_BLOCKS; b++) {
			g[b] =
			    (struct tail_getter){.f = f, .bs = bs, .obj = obj, .block = b, .a = a};
			ck_assert_int_eq(pthread_create(&g[b].t, NULL, tail_get_thread, &g[b]), 0);
		}
		for (uint64_t b = 0; b < TAIL_BLOCKS; b++) {
			pthread_join(g[b].t, NULL);
			ck_assert(g[b].r == 0 || g[b].r == -EIO);
		}
		fetcher_free(f); /* waits for every fetch, prefetches included */
		for (uint64_t b = 0; b < TAIL_BLOCKS; b++) {
			if (!block_store_contains(bs, obj, b)) {
				failed++;
				continue;
			}
			stored++;
			char want[BLOCK];
			uint32_t len;
			tail_block(b, want, &len);
			struct block_ref ref;
			ck_assert_int_eq(block_store_acquire(bs, obj, b, &ref), 0);
			ck_assert_uint_eq(ref.len, len);
			ck_assert_msg(
			    ref.csum == XXH3_64bits(want, len),
			    "round %d: block %llu was stored with a checksum not its bytes'", round,
			    (unsigned long long)b);
			block_store_release(bs, obj, b);
			ck_assert_int_eq(block_store_evict_block(bs, obj, b), 0);
		}
	}
	pthread_mutex_lock(&scatter_lock);
	scatter_stop = true;
	pthread_cond_broadcast(&scatter_cond);
	pthread_mutex_unlock(&scatter_lock);
	for (int i = 0; i < SCATTER_THREADS; i++)
		pthread_join(th[i], NULL);
	/* both outcomes were exercised: blocks stored, and blocks a failed part kept out */
	ck_assert_uint_gt(stored, 0);
	ck_assert_uint_gt(failed, 0);
	block_store_free(bs);
}
END_TEST

/* A reader that starts a file asks for as many blocks as fill the request slots. */
/* A reader waiting without a thread (fetcher_get_range_async). */
struct async_reader {
	struct fetch_wait w;
	atomic_int ready; /* times w's ready came */
};

static void async_ready(struct fetch_wait *w)
{
	struct async_reader *ar = w->arg;
	atomic_fetch_add(&ar->ready, 1);
}

static bool async_ready_once(void *arg)
{
	return atomic_load(&((struct async_reader *)arg)->ready) == 1;
}

/* A wait without a thread is armed, not answered, while its bytes are out; its ready comes once,
 * when its part lands (not before, not for the parts before it), and the answer is the source's
 * bytes from the fetch's buffer; one taken back (cancel) never gets its ready, though its fetch
 * goes on; one whose block fails gets its ready once the block is done, and the failure. */
START_TEST(a_wait_without_a_thread_is_ready_once_its_part_lands)
{
	struct block_store *bs = open_store();
	struct ufs_attr a;
	uint64_t obj;
	struct fetcher *f = open_fetcher(bs, &a, &obj); /* one request at a time, one part each */
	struct async_reader ar = {.w = {.ready = async_ready}},
			    gone = {.w = {.ready = async_ready}};
	ar.w.arg = &ar;
	gone.w.arg = &gone;
	struct fetch_result fr;
	ck_assert_int_eq(
	    fetcher_get_range_async(f, obj, "/a.bin", &a, 0, PART, 2 * PART, &ar.w, &fr),
	    -EINPROGRESS);
	ck_assert_uint_eq(held_now(), 1);
	let_one_through(); /* part 0 */
	ck_assert_int_eq(atomic_load(&ar.ready), 0);
	let_one_through(); /* part 1: the reader's */
	ck_assert_int_eq(atomic_load(&ar.ready), 1);
	ck_assert_int_eq(fetcher_wait_result(f, obj, "/a.bin", &a, 0, &ar.w, &fr), 0);
	ck_assert_ptr_nonnull(fr.mem);
	char want[BLOCK];
	ck_assert_int_eq(ufs_read(real, "/a.bin", PART, PART, want, NULL), PART);
	ck_assert_int_eq(memcmp(want, fr.mem + PART, PART), 0);
	fetcher_result_release(f, &fr);
	ck_assert(!fetcher_wait_cancel(f, &ar.w)); /* answered: nothing to take back */

	/* block 1, taken back while it is out */
	ck_assert_int_eq(fetcher_get_range_async(f, obj, "/a.bin", &a, 1, 0, PART, &gone.w, &fr),
			 -EINPROGRESS);
	ck_assert(fetcher_wait_cancel(f, &gone.w));
	ck_assert(!fetcher_wait_cancel(f, &gone.w));

	/* block 2, whose first part fails */
	pthread_mutex_lock(&gate_lock);
	fail_at = 2 * BLOCK;
	pthread_mutex_unlock(&gate_lock);
	struct async_reader bad = {.w = {.ready = async_ready}};
	bad.w.arg = &bad;
	ck_assert_int_eq(fetcher_get_range_async(f, obj, "/a.bin", &a, 2, 0, PART, &bad.w, &fr),
			 -EINPROGRESS);
	let_all_through(f);
	wait_until(none_inflight, f);
	wait_until(async_ready_once, &bad); /* from a store thread, once the block is done */
	ck_assert_int_eq(fetcher_wait_result(f, obj, "/a.bin", &a, 2, &bad.w, &fr), -EIO);
	usleep(50 * 1000);
	ck_assert_int_eq(atomic_load(&gone.ready), 0);
	ck_assert_int_eq(atomic_load(&ar.ready), 1);
	ck_assert_int_eq(atomic_load(&bad.ready), 1);
	ck_assert(block_store_contains(bs, obj, 1)); /* the fetch went on without its reader */
	fetcher_free(f);
	block_store_free(bs);
}
END_TEST

START_TEST(fill_blocks_cover_the_request_slots)
{
	struct block_store *bs = open_store();
	struct fetcher *f;
	struct fetcher_options fo = {.part_size = PART, .max_requests = 16};
	ck_assert_int_eq(fetcher_new(&gate_ufs, bs, &fo, &f), 0);
	ck_assert_uint_eq(fetcher_fill_blocks(f), 16 * PART / BLOCK);
	fetcher_free(f);
	fo.max_requests = 1;
	ck_assert_int_eq(fetcher_new(&gate_ufs, bs, &fo, &f), 0);
	ck_assert_uint_eq(fetcher_fill_blocks(f), 1);
	fetcher_free(f);
	block_store_free(bs);
}
END_TEST

struct stale_read {
	struct ufs_attr v;
	char buf[BLOCK];
	long got;
};

static void *stale_read_thread(void *arg)
{
	struct stale_read *r = arg;
	r->got = ufs_read(real, "/a.bin", 0, BLOCK, r->buf, &r->v);
	return NULL;
}

/* A local:// read checks its version when it opens the file, then reads: a write landing in
 * between must fail the read as stale, not hand over the new bytes as the version asked for
 * (which the fetcher would cache under it). The check's fstat is held until the write is in. */
START_TEST(a_local_read_overtaken_by_a_write_is_stale)
{
	static struct stale_read r;
	char p[512];
	ck_assert_int_eq(ufs_stat(real, "/a.bin", &r.v), 0);
	slow_arm("a.bin", SLOW_FSTAT, 300);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, stale_read_thread, &r), 0);
	ck_assert(slow_wait_entered(5000));
	/* the same size, another mtime: the next version of the file */
	snprintf(p, sizeof(p), "%s/src/a.bin", dir);
	int fd = open(p, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	char new_bytes[PART];
	memset(new_bytes, 0x5a, sizeof(new_bytes));
	ck_assert_int_eq(pwrite(fd, new_bytes, sizeof(new_bytes), 0), (ssize_t)sizeof(new_bytes));
	struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = 1700000000}};
	ck_assert_int_eq(futimens(fd, ts), 0);
	close(fd);
	slow_disarm();
	pthread_join(t, NULL);
	ck_assert_msg(r.got == -ESTALE, "a read of the old version overtaken by a write gave %ld "
		      "(first byte 0x%02x), not -ESTALE", r.got, (unsigned char)r.buf[0]);
}
END_TEST

Suite *fetcher_suite(void)
{
	Suite *s = suite_create("fetcher");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, readers_go_before_prefetch);
	tcase_add_test(tc, a_failed_part_fails_the_block_never_stores_a_hole);
	tcase_add_test(tc, a_spoiled_tier_copy_is_never_handed_to_its_owner);
	tcase_add_test(tc, guesses_take_only_idle_slots);
	tcase_add_test(tc, fill_blocks_cover_the_request_slots);
	tcase_add_test(tc, a_stream_goes_in_few_requests_each_part_usable_as_it_lands);
	tcase_add_test(tc, a_request_that_fails_midway_fails_only_its_unfinished_blocks);
	tcase_add_test(tc, a_whole_file_demand_goes_in_requests_of_the_minimum);
	tcase_add_test(tc, a_whole_file_goes_in_its_share_of_the_slots);
	tcase_add_test(tc, a_guess_goes_in_its_share_of_what_it_asks_for);
	tcase_add_test(tc, a_read_joining_a_prefetch_refused_under_revoked_keys_fetches_again);
	tcase_add_test(tc, a_refusal_after_a_rotation_is_not_remembered_for_the_next_reader);
	tcase_add_test(tc, a_rotation_forgets_the_old_keys_refusal);
	tcase_add_test(tc, a_fill_waits_for_a_fetch_but_never_fetches_again);
	tcase_add_test(tc, a_fill_gives_up_its_wait_when_halted);
	tcase_add_test(tc, a_sum_summed_as_parts_land_anyhow_is_the_blocks);
	tcase_add_test(tc, a_wait_without_a_thread_is_ready_once_its_part_lands);
	tcase_add_test(tc, a_local_read_overtaken_by_a_write_is_stale);
	suite_add_tcase(s, tc);
	return s;
}
