/* SPDX-License-Identifier: Apache-2.0 */
/* Tiered block store: the cache of one source. Objects (UFS files, named by their path in the
 * source) are split into fixed blocks. Each tier keeps one sparse file per object with every
 * cached block at its own offset (block * block_size), so a run of cached blocks in one tier is
 * one contiguous (fd, offset) range, and a complete object could be passed through.
 * The index (which blocks are where, their xxh3 checksums, object versions) is persisted in
 * SQLite under the state directory; a kill -9 loses at most blocks whose write had not
 * finished, never serves a block that fails its checksum. Tier I/O goes through io_uring.
 * All functions are thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ufs.h"

struct tier_pools;

#define BLOCK_STORE_MAX_TIERS 4

struct tier_config {
	char medium[8];	 /* "mem", "ssd", "hdd" */
	char path[4096]; /* directory; created if missing */
	uint64_t quota;	 /* bytes */
};

struct block_store_config {
	const char *index_path; /* SQLite file, e.g. <state>/stores/<source>/index.db */
	const char *source_id;	/* subdirectory name under each tier path */
	struct tier_config tiers[BLOCK_STORE_MAX_TIERS]; /* fastest first */
	unsigned ntiers;
	uint32_t block_size;	 /* bytes, power of two >= 64 KiB */
	double high, low;	 /* watermarks, 0 < low <= high <= 1 */
	bool lru;		 /* true: least recently used goes first; false: coldest object
				  * by heat (block_store_set_heat), LRU among equals */
	double heat_half_life_s; /* heat halves in this long (default 30) */
	/* Quotas per tier path (tier_pool.h), shared with every store opened with the same pools;
	 * NULL: this store's own. Borrowed: must outlive the store. */
	struct tier_pools *pools;
};

struct block_store;

/* Where a cached block lives, valid until block_store_release(). */
struct block_ref {
	int fd;	       /* tier file of the object; borrowed */
	uint64_t off;  /* offset of the block in that file (= block * block_size) */
	uint32_t len;  /* bytes of data in the block (short for the last block) */
	uint8_t tier;  /* index into the config's tiers */
	uint64_t csum; /* XXH3_64bits of the block's bytes, as indexed */
};

struct tier_stats {
	uint64_t quota, used, blocks;
};

struct block_store_stats {
	unsigned ntiers;
	struct tier_stats tiers[BLOCK_STORE_MAX_TIERS];
	uint64_t hits, misses, evictions, demotions, checksum_failures;
	/* Blocks looked at while choosing eviction victims: one per victim when nothing is in
	 * the way (pinned blocks are off the lists). */
	uint64_t victim_steps;
	uint64_t objects;
	bool index_full; /* the state directory is full: reads are served uncached */
};

/* Opens (creating if needed) the store. Checks every tier path exists or can be created, is
 * writable and has room for a block: -ENOENT, -EACCES, -ENOSPC with a message in errbuf naming
 * the tier; -EPERM for a path another user could redirect (lib/safe_dir.h). Loads the persisted
 * index; a damaged one is moved aside (<index>.corrupt-<time>) and the store starts cold. Joins
 * each tier path's pool (cfg->pools): its quota is the path's. Returns 0 and an owned *ret; then
 * errbuf is empty or holds notes for the user (an index set aside, a path's quota that differs
 * from the one asked for, a directory another user had taken in /dev/shm and that was moved
 * aside). */
int block_store_open(const struct block_store_config *cfg, struct block_store **ret, char *errbuf,
		     size_t errlen);
/* Flushes the index and frees everything. NULL is fine. */
void block_store_free(struct block_store *bs);

/* Records the current version of the object at path. If a different version was recorded,
 * its cached blocks are dropped (in every tier). Returns 0 and the object's id. */
int block_store_object_sync(struct block_store *bs, const char *path, const struct ufs_attr *attr,
			    uint64_t *ret_obj);

/* Looks up a block and pins it until block_store_release(): a pinned block is out of the
 * eviction order, and its last release counts as its last use (its LRU age). The first
 * lookup of a block after open, and the first after its tier file was changed by someone else
 * (inode, size, mtime or ctime), verifies its checksum; a block that fails is dropped.
 * Returns 0 (hit, *ret set) or -ENOENT (miss). Counts hits and misses. */
int block_store_acquire(struct block_store *bs, uint64_t obj, uint64_t block,
			struct block_ref *ret);
void block_store_release(struct block_store *bs, uint64_t obj, uint64_t block);
/* Takes one block out of the cache (its index row and its bytes), as eviction does: 0, -ENOENT
 * (not cached) or -EBUSY (pinned by a reader, or being written or moved: ask again later). */
int block_store_evict_block(struct block_store *bs, uint64_t obj, uint64_t block);
/* True when the block is cached; no pin, no counting. */
bool block_store_contains(struct block_store *bs, uint64_t obj, uint64_t block);

/* Stores a block (copies data), writes it to the top tier through io_uring, checksums and
 * indexes it. Past the high watermark it wakes the store's evictor; without room for the block
 * it evicts what the block needs first. Returns 0, or -ENOSPC when no room
 * could be made (everything pinned), -EIO on a tier write error. */
/* block_store_put of bytes whose XXH3 the caller computed already (checked on arrival from a
 * peer): the index records xxh3 without a second pass over them. */
int block_store_put_summed(struct block_store *bs, uint64_t obj, uint64_t block, const void *data,
			   uint32_t len, uint64_t xxh3);

int block_store_put(struct block_store *bs, uint64_t obj, uint64_t block, const void *data,
		    uint32_t len);

/* Evicts (or demotes) every tier above its high watermark down to its low one now, in the
 * caller, and returns when done. A background thread of the store does the same after a put
 * passes a high watermark (a put that finds no room at all makes only the room it needs); this
 * is for tests and benchmarks that need the result at once. Any thread, no lock held. */
void block_store_settle(struct block_store *bs);

/* Drops every cached block of obj. */
int block_store_invalidate(struct block_store *bs, uint64_t obj);

void block_store_get_stats(struct block_store *bs, struct block_store_stats *ret);
/* Heap bytes of the in-memory index (objects, their paths and ETags, block slots, hash tables,
 * heaps), as malloc counts them; not SQLite's (sqlite3_status64 has those). Any thread. */
uint64_t block_store_memory(struct block_store *bs);
/* The id of the object recorded at path at exactly version attr (size, mtime, ETag) with every
 * byte of it cached; -ENOENT otherwise. Touches nothing: no object is recorded or retired. Any
 * thread. */
int block_store_object_complete(struct block_store *bs, const char *path,
				const struct ufs_attr *attr, uint64_t *ret_obj);
/* The id of the object recorded at path, without touching its version. -ENOENT if none. */
int block_store_object_find(struct block_store *bs, const char *path, uint64_t *ret_obj);
/* Sets obj's heat as of now (decayed accesses, e.g. eBPF page counts weighted per namespace),
 * used when the store ranks by heat, unbounded. Unknown objects are ignored. */
void block_store_set_heat(struct block_store *bs, uint64_t obj, double heat);
/* Heat an object can hold, in reads of its whole size (4 KiB pages) times the adder's weight:
 * an object read more than this often within a half-life looks no hotter than one read this
 * often, so re-reading page-cached bytes (which costs the tier nothing) cannot hold a tier for
 * ever against other data. */
#define BLOCK_STORE_HEAT_CAP_READS 4
/* Adds pages read (4 KiB) times weight (a namespace's; <= 0 means 1) to obj's (decayed) heat,
 * bounded by BLOCK_STORE_HEAT_CAP_READS reads of obj at that weight: for accesses eBPF cannot
 * see, such as passthrough reads. */
void block_store_add_heat(struct block_store *bs, uint64_t obj, double pages, double weight);
/* block_store_add_heat() if obj is the current version of its path: 0, or -ESTALE
 * (heat not added) when obj is unknown or a newer version replaced it. O(1): a lookup by id;
 * the eviction order takes the new heat before its next victim. Any thread. */
int block_store_add_heat_current(struct block_store *bs, uint64_t obj, double pages, double weight);
/* Cached bytes of one object (sum of its cached blocks' lengths). */
uint64_t block_store_object_cached(struct block_store *bs, uint64_t obj);
uint32_t block_store_block_size(const struct block_store *bs);
