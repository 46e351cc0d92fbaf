// SPDX-License-Identifier: Apache-2.0
// Prefetch policy: each table is a reader's sequence of events and the plan each gets. The
// expected plans are what the code before daemon/prefetch.c decided (fuse/view.c's
// maybe_prefetch, head_start, dir_stream and fill_ask; node/tracker.c's on_stream;
// daemon/loader.c's load_one; daemon/fetcher.c's sizing), traced by hand from it.
#include "prefetch.h"
#include "suites.h"

#define MiB (1024ull * 1024ull)
#define B (4 * MiB) /* the block size of these cases */

struct seq_case {
	uint64_t off;
	size_t len;
	uint64_t last_block;
	bool new_stream;
	uint64_t first, count; /* the plan; count 0: nothing */
};

static void run_seq(const struct seq_case *c, size_t n, unsigned max_blocks)
{
	struct prefetch_seq s;
	prefetch_seq_init(&s);
	for (size_t i = 0; i < n; i++) {
		struct prefetch_range p;
		bool ns =
		    prefetch_seq_read(&s, c[i].off, c[i].len, c[i].last_block, max_blocks, &p);
		ck_assert_msg(ns == c[i].new_stream, "read %zu: new_stream %d", i, ns);
		ck_assert_msg(p.count == c[i].count, "read %zu: count %llu, want %llu", i,
			      (unsigned long long)p.count, (unsigned long long)c[i].count);
		if (p.count)
			ck_assert_msg(p.first == c[i].first, "read %zu: first %llu, want %llu", i,
				      (unsigned long long)p.first, (unsigned long long)c[i].first);
	}
}

/* Whole-block reads in order: the window doubles 2, 4, 8 and stays at readahead (8); each
 * read asks only for the blocks the last ones did not. The read at 0 starts nothing. */
START_TEST(sequential_reader)
{
	static const struct seq_case c[] = {
	    {0, B, 0, false, 0, 0},	{B, B, 1, true, 2, 2},	     {2 * B, B, 2, false, 4, 3},
	    {3 * B, B, 3, false, 7, 5}, {4 * B, B, 4, false, 12, 1}, {5 * B, B, 5, false, 13, 1},
	};
	run_seq(c, sizeof(c) / sizeof(c[0]), 8);
}
END_TEST

/* 128 KiB reads inside one block: a stream after the second read, the window past the
 * current block. */
START_TEST(sequential_small_reads)
{
	static const struct seq_case c[] = {
	    {0, 128 * 1024, 0, false, 0, 0},	      {128 * 1024, 128 * 1024, 0, true, 1, 2},
	    {256 * 1024, 128 * 1024, 0, false, 3, 2}, {384 * 1024, 128 * 1024, 0, false, 5, 4},
	    {512 * 1024, 128 * 1024, 0, false, 9, 0}, /* window 8 reached: all asked for */
	};
	/* the last: window 8, end 0 + 1 + 8 = 9 = prefetched: nothing */
	run_seq(c, sizeof(c) / sizeof(c[0]), 8);
}
END_TEST

/* Seeks reset the window; two reads in a row anywhere make a stream again. A reread of the
 * same offset neither continues nor resets. */
START_TEST(random_reader)
{
	static const struct seq_case c[] = {
	    {10 * B, B, 10, false, 0, 0},  {3 * B, B, 3, false, 0, 0},	 {4 * B, B, 4, true, 5, 2},
	    {9 * B, B, 9, false, 0, 0},	   {10 * B, B, 10, true, 11, 2}, {B, 100, 1, false, 0, 0},
	    {B + 100, 100, 1, true, 2, 2},
	};
	run_seq(c, sizeof(c) / sizeof(c[0]), 8);
	/* a window of one block (readahead 1) never grows: one block ahead each read */
	static const struct seq_case one[] = {
	    {0, B, 0, false, 0, 0}, {B, B, 1, true, 2, 1}, {2 * B, B, 2, true, 3, 1}};
	run_seq(one, sizeof(one) / sizeof(one[0]), 1);
}
END_TEST

/* A read at 0 asks for the blocks after it up to what fills the connections. */
START_TEST(head_start)
{
	static const struct {
		uint64_t next;
		unsigned fill;
		uint64_t first, count;
	} c[] = {{1, 4, 1, 3}, {1, 16, 1, 15}, {3, 4, 3, 1},
		 {4, 4, 0, 0}, {9, 4, 0, 0},   {1, 1, 0, 0}};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct prefetch_range p = prefetch_head(c[i].next, c[i].fill);
		ck_assert_uint_eq(p.count, c[i].count);
		if (p.count)
			ck_assert_uint_eq(p.first, c[i].first);
	}
}
END_TEST

struct dir_case {
	long idx;
	bool same;
	bool new_dir;
	size_t from, to, spare;
	bool next_before; /* prefetch_dir_is_next before this open */
};

static void run_dir(const struct dir_case *c, size_t n, size_t count, bool exact,
		    unsigned readahead)
{
	struct prefetch_dir d = {0};
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(prefetch_dir_is_next(&d, c[i].idx) == c[i].next_before,
			      "open %zu: is_next", i);
		struct prefetch_dir_open in = {.idx = c[i].idx,
					       .count = count,
					       .same = c[i].same,
					       .exact = exact,
					       .readahead = readahead};
		struct prefetch_dir_plan p;
		prefetch_dir_open(&d, &in, &p);
		ck_assert_msg(p.new_dir == c[i].new_dir, "open %zu: new_dir %d", i, p.new_dir);
		ck_assert_msg(p.spare == c[i].spare, "open %zu: spare %zu, want %zu", i, p.spare,
			      c[i].spare);
		ck_assert_msg(p.to - p.from == c[i].to - c[i].from, "open %zu: [%zu, %zu)", i,
			      p.from, p.to);
		if (p.to > p.from)
			ck_assert_msg(p.from == c[i].from && p.to == c[i].to,
				      "open %zu: [%zu, %zu), want [%zu, %zu)", i, p.from, p.to,
				      c[i].from, c[i].to);
	}
}

/* cp -R over an S3 listing (exact versions) of 10 files, readahead 3: the second open in
 * order guesses the next file's head, from the third on the first blocks of the next three
 * files not asked for yet; a reopen asks nothing more; a jump restarts the run; the last file
 * has no next to guess. */
START_TEST(dir_stream_exact)
{
	static const struct dir_case c[] = {
	    {0, false, true, 0, 0, 0, false},  {1, true, false, 0, 0, 2, true},
	    {2, true, false, 3, 6, 3, true},   {3, true, false, 6, 7, 4, true},
	    {3, true, false, 0, 0, 0, false},  {4, true, false, 7, 8, 5, true},
	    {7, true, false, 0, 0, 0, false},  {8, true, false, 0, 0, 9, true},
	    {9, true, false, 10, 10, 0, true},
	};
	/* the last: run 2, from 10, to min(13, 10) = 10: nothing; no file 10 to guess */
	run_dir(c, sizeof(c) / sizeof(c[0]), 10, true, 3);
}
END_TEST

/* Over HTTP (listings without exact versions) the head guess only; another directory or a
 * name not listed restarts the run (and the caller keeps the new directory, or none). */
START_TEST(dir_stream_next_file)
{
	static const struct dir_case c[] = {
	    {0, false, true, 0, 0, 0, false}, {1, true, false, 0, 0, 2, true},
	    {2, true, false, 0, 0, 3, true},  {3, true, false, 0, 0, 4, true},
	    {4, false, true, 0, 0, 0, true},  {5, true, false, 0, 0, 6, true},
	    {-1, true, true, 0, 0, 0, false}, {6, true, false, 0, 0, 7, true},
	};
	/* {-1}: not listed, so not the same directory's run; the index stays 5, so 6 continues
	 * the count from it (as the view's did) */
	run_dir(c, sizeof(c) / sizeof(c[0]), 10, false, 8);
	/* the clamp to the listing: readahead 8 over 5 files */
	static const struct dir_case small[] = {
	    {0, false, true, 0, 0, 0, false},
	    {1, true, false, 0, 0, 2, true},
	    {2, true, false, 3, 5, 3, true},
	};
	run_dir(small, sizeof(small) / sizeof(small[0]), 5, true, 8);
}
END_TEST

/* The next file's open waits for the whole file when it fits the readahead window. */
START_TEST(fill_fits)
{
	uint64_t n = 99;
	ck_assert(prefetch_fill_fits(0, B, 8, &n));
	ck_assert_uint_eq(n, 0);
	ck_assert(prefetch_fill_fits(1, B, 8, &n));
	ck_assert_uint_eq(n, 1);
	ck_assert(prefetch_fill_fits(8 * B, B, 8, &n));
	ck_assert_uint_eq(n, 8);
	n = 99;
	ck_assert(!prefetch_fill_fits(8 * B + 1, B, 8, &n));
	ck_assert_uint_eq(n, 99);
}
END_TEST

/* The tracker's records: a START (no speed yet) gets prefetch-max, an ADVANCE four seconds of
 * its speed within [4 blocks, the namespace's cap]. */
START_TEST(tracker_stream)
{
	static const struct {
		uint64_t pages, start_ns, ts_ns, cap, window;
	} c[] = {
	    {1, 1000, 1000, 128 * MiB, 128 * MiB},	  /* START: no time yet */
	    {1, 2000, 1000, 128 * MiB, 128 * MiB},	  /* clock backwards: as START */
	    {25600, 0, 1000000000, 128 * MiB, 128 * MiB}, /* 100 MiB/s: capped */
	    {1280, 0, 1000000000, 128 * MiB, 20 * MiB},	  /* 5 MiB/s: 20 MiB */
	    {256, 0, 1000000000, 128 * MiB, 16 * MiB},	  /* 1 MiB/s: four blocks */
	    {1280, 0, 2000000000, 128 * MiB, 16 * MiB},	  /* 2.5 MiB/s: 10 MiB, four blocks */
	    {896, 0, 1000000000, 128 * MiB, 16 * MiB},	  /* 3.5 MiB/s: 14 MiB, four blocks */
	    {1280, 0, 1000000000, 8 * MiB, 8 * MiB},	  /* the cap over four blocks */
	    {1, 1000, 1000, 8 * MiB, 8 * MiB},		  /* START under a namespace cap */
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct prefetch_stream in = {.run_pages = c[i].pages,
					     .run_start_ns = c[i].start_ns,
					     .ts_ns = c[i].ts_ns,
					     .page_size = 4096,
					     .block_size = B,
					     .prefetch_max = 128 * MiB,
					     .cap = c[i].cap};
		ck_assert_msg(prefetch_stream_window(&in) == c[i].window, "case %zu: %llu", i,
			      (unsigned long long)prefetch_stream_window(&in));
	}
	struct prefetch_range p = prefetch_stream_blocks(5 * B + 100, 16 * MiB, B);
	ck_assert_uint_eq(p.first, 5);
	ck_assert_uint_eq(p.count, 4);
	p = prefetch_stream_blocks(0, 16 * MiB + 1, B);
	ck_assert_uint_eq(p.first, 0);
	ck_assert_uint_eq(p.count, 5);
}
END_TEST

static bool own_all(void *arg, uint64_t b)
{
	(void)arg;
	(void)b;
	return true;
}

static bool own_even(void *arg, uint64_t b)
{
	(void)arg;
	return b % 2 == 0;
}

/* The blocks asked for ahead at each block waited for, -1 ending each list. */
static void run_load(bool (*own)(void *, uint64_t), uint64_t nblocks, unsigned window,
		     const uint64_t *waits, size_t nwaits, const long (*asked)[8])
{
	struct prefetch_load s = {0};
	for (size_t i = 0; i < nwaits; i++) {
		prefetch_load_at(&s, waits[i]);
		uint64_t pf;
		size_t k = 0;
		while (prefetch_load_next(&s, nblocks, window, own, NULL, &pf)) {
			ck_assert_msg(asked[i][k] == (long)pf, "wait %zu: asked %llu, want %ld", i,
				      (unsigned long long)pf, asked[i][k]);
			k++;
		}
		ck_assert_msg(asked[i][k] == -1, "wait %zu: %zu asked, more wanted", i, k);
	}
}

/* The loader keeps window blocks of its own in flight ahead of the one it waits for. */
START_TEST(loader_plan)
{
	ck_assert_uint_eq(prefetch_load_window(0), 1);
	ck_assert_uint_eq(prefetch_load_window(1), 1);
	ck_assert_uint_eq(prefetch_load_window(3), 1);
	ck_assert_uint_eq(prefetch_load_window(16), 8);
	ck_assert_uint_eq(prefetch_load_window(17), 8);
	/* a whole file of 6 blocks, window 3 */
	static const uint64_t w1[] = {0, 1, 2, 3, 4, 5};
	static const long a1[][8] = {{1, 2, 3, -1}, {4, -1}, {5, -1}, {-1}, {-1}, {-1}};
	run_load(own_all, 6, 3, w1, 6, a1);
	/* a shared load: the even blocks are this node's */
	static const uint64_t w2[] = {0, 2, 4, 6, 8};
	static const long a2[][8] = {{2, 4, 6, -1}, {8, -1}, {-1}, {-1}, {-1}};
	run_load(own_even, 10, 3, w2, 5, a2);
	/* a wait past the window (blocks handed over in between): it starts again after it */
	static const uint64_t w3[] = {0, 5};
	static const long a3[][8] = {{1, 2, -1}, {6, 7, -1}};
	run_load(own_all, 10, 2, w3, 2, a3);
}
END_TEST

/* The fetcher's sizing: prefetches in flight within a quarter of the top tier, and the blocks
 * that fill the connections. */
START_TEST(fetcher_sizing)
{
	ck_assert_uint_eq(prefetch_max_inflight(0, 0, B), 1);
	ck_assert_uint_eq(prefetch_max_inflight(0, 1024 * MiB, B), 16);
	ck_assert_uint_eq(prefetch_max_inflight(32, 64 * MiB, B), 4);
	ck_assert_uint_eq(prefetch_max_inflight(8, 1024 * 1024 * MiB, B), 8);
	ck_assert_uint_eq(prefetch_max_inflight(8, 15 * MiB, B), 1);
	ck_assert_uint_eq(prefetch_fill_blocks(16, 1 * MiB, B), 4);
	ck_assert_uint_eq(prefetch_fill_blocks(16, 4 * MiB, B), 16);
	ck_assert_uint_eq(prefetch_fill_blocks(3, 1 * MiB, B), 1);
	ck_assert_uint_eq(prefetch_fill_blocks(0, 1 * MiB, B), 1);
	ck_assert_uint_eq(prefetch_fill_blocks(5, 1 * MiB, B), 2);
}
END_TEST

Suite *prefetch_suite(void)
{
	Suite *s = suite_create("prefetch");
	TCase *tc = tcase_create("policy");
	tcase_add_test(tc, sequential_reader);
	tcase_add_test(tc, sequential_small_reads);
	tcase_add_test(tc, random_reader);
	tcase_add_test(tc, head_start);
	tcase_add_test(tc, dir_stream_exact);
	tcase_add_test(tc, dir_stream_next_file);
	tcase_add_test(tc, fill_fits);
	tcase_add_test(tc, tracker_stream);
	tcase_add_test(tc, loader_plan);
	tcase_add_test(tc, fetcher_sizing);
	suite_add_tcase(s, tc);
	return s;
}
