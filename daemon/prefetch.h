/* SPDX-License-Identifier: Apache-2.0 */
/* Prefetch policy, in one place: what to fetch ahead of a reader (how far, how big, when a run
 * of reads or opens is a stream, when to guess the next file). Pure decisions over small input
 * structs: no I/O, no locks, no fetcher. The callers (fuse/view.c, node/tracker.c,
 * daemon/loader.c, daemon/fetcher.c's sizing) hold whatever lock guards the state they pass and
 * act on the plan through the fetcher, which keeps the mechanism (queues, requests, slots). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A view's window of files (or blocks) fetched ahead of a stream when none is configured. */
#define PREFETCH_READAHEAD_DEFAULT 8

/* Blocks [first, first + count) to ask for; count 0: nothing. */
struct prefetch_range {
	uint64_t first;
	uint64_t count;
};

/* ---- one descriptor's reads (the view's READs, without eBPF) ---- */

/* A descriptor's sequential-read state. The caller guards it (the view: the handle's lock). */
struct prefetch_seq {
	uint64_t next_off;   /* where a sequential reader reads next */
	uint64_t prefetched; /* blocks below this were asked for */
	unsigned window;     /* current window in blocks */
};

void prefetch_seq_init(struct prefetch_seq *s);

/* A read of len bytes at off whose last block is last_block: a read continuing the last one
 * (not at 0) doubles the window up to max_blocks and asks for the window's blocks after
 * last_block not asked for yet; a seek resets the window to one block. Returns whether this read
 * made the descriptor a stream (its first continuing read). */
bool prefetch_seq_read(struct prefetch_seq *s, uint64_t off, size_t len, uint64_t last_block,
		       unsigned max_blocks, struct prefetch_range *ret_plan);

/* A read at offset 0 asking for blocks up to next (exclusive): the blocks after it up to
 * fill_blocks (what keeps the source's connections busy), or nothing when the read alone fills
 * them. */
struct prefetch_range prefetch_head(uint64_t next, unsigned fill_blocks);

/* ---- a directory read file after file (cp -R, tar) ---- */

/* A view's run of opens in listing order within one directory (the caller keeps which
 * directory, and guards this with it). */
struct prefetch_dir {
	size_t idx;    /* listing index of the last open */
	size_t ahead;  /* files below this had their first block asked for */
	size_t spared; /* the next file whose head was fetched as a guess; 0: none */
	unsigned run;  /* opens in order so far, after the first */
};

/* One open, at listing index idx (-1: not listed) of a listing of count entries; same: the
 * open is in the directory of the run. exact: listings give exact versions (S3). */
struct prefetch_dir_open {
	long idx;
	size_t count;
	bool same;
	bool exact;
	unsigned readahead; /* files whose first block is fetched ahead */
};

/* What an open of a directory stream asks for. */
struct prefetch_dir_plan {
	bool new_dir; /* the run left its directory: the caller keeps this one (or none: idx < 0) */
	size_t from, to; /* listing entries [from, to): their first block each */
	size_t spare;	 /* listing entry whose head is a spare guess; 0: none */
};

/* Whether an open at idx (in the run's directory) is the file after the last one opened. */
bool prefetch_dir_is_next(const struct prefetch_dir *d, long idx);

/* Moves the run on by one open: an open of the next file continues it, a reopen of the same
 * file keeps it, any other open restarts it. After two opens in order the next file's head is
 * a spare guess (once per file); after three, where listings are exact, the first block of each
 * of the next readahead files not yet asked for. */
void prefetch_dir_open(struct prefetch_dir *d, const struct prefetch_dir_open *in,
		       struct prefetch_dir_plan *ret_plan);

/* Whether an open of the stream's next file waits for the whole file (it fits the window the
 * stream fetched ahead): then *ret_nblocks blocks. */
bool prefetch_fill_fits(uint64_t size, uint32_t block_size, unsigned readahead,
			uint64_t *ret_nblocks);

/* ---- a stream seen by eBPF (page-cache hits included) ---- */

struct prefetch_stream {
	uint64_t run_pages;    /* pages read in the run */
	uint64_t run_start_ns; /* the run's first read */
	uint64_t ts_ns;	       /* this record */
	uint64_t page_size;
	uint64_t block_size;
	uint64_t prefetch_max; /* the node's prefetch-max: the window of a speed not known yet */
	uint64_t cap;	       /* the namespace's prefetch-max */
};

/* Bytes to fetch ahead of the stream: four seconds of its speed, at least four blocks, at most
 * cap. */
uint64_t prefetch_stream_window(const struct prefetch_stream *in);

/* The blocks a stream's window of bytes from byte next covers. */
struct prefetch_range prefetch_stream_blocks(uint64_t next, uint64_t window, uint32_t block_size);

/* ---- the loader: a window of blocks ahead of the one it waits for ---- */

/* Blocks a loader worker keeps in flight ahead of the block it waits for. */
unsigned prefetch_load_window(unsigned fetch_concurrency);

/* A worker's window over one file. */
struct prefetch_load {
	uint64_t pf;	/* the next block to consider */
	unsigned ahead; /* blocks of its own asked for in (b, pf) */
};

/* The worker waits for block b next (one of its own). */
void prefetch_load_at(struct prefetch_load *s, uint64_t b);

/* The next block to ask for ahead, into *ret_block: true while the window has room and a block
 * of the file's nblocks is left; own(arg, b) says which blocks are the worker's own. */
bool prefetch_load_next(struct prefetch_load *s, uint64_t nblocks, unsigned window,
			bool (*own)(void *arg, uint64_t b), void *arg, uint64_t *ret_block);

/* ---- the fetcher's sizing ---- */

/* Prefetch blocks in flight at most: asked (16 when 0), at most a quarter of the top tier
 * (tier_quota bytes), at least one. */
unsigned prefetch_max_inflight(unsigned asked, uint64_t tier_quota, uint32_t block_size);

/* Blocks that keep max_requests requests of part_size bytes busy: at least one. */
unsigned prefetch_fill_blocks(unsigned max_requests, uint32_t part_size, uint32_t block_size);
