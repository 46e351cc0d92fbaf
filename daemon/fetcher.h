/* SPDX-License-Identifier: Apache-2.0 */
/* Fetch scheduler of one source: turns block misses into UFS range reads, many in flight,
 * one per block however many readers wait for it, and stores what arrives in the block store.
 * A reader waits only for the blocks it needs, and never behind blocks fetched ahead: its
 * requests go to the UFS before any prefetch's. All functions are thread-safe. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "block_store.h"
#include "cluster.h"
#include "peer_client.h"
#include "ufs.h"

/* Where a source's misses go in a cluster: to the block's owner first (cluster.h), to the UFS
 * when this node owns it, or when the owner fails. */
struct fetcher_route {
	struct cluster *cluster;   /* borrowed: outlives the fetcher */
	struct peer_client *peers; /* borrowed: outlives the fetcher */
	const char *source_id;	   /* copied */
	uint64_t near_cache;	   /* keep up to this many bytes of blocks read from peers in this
				    * node's tiers too, the oldest leaving first (0: none) */
	unsigned replicas;	   /* the source's cache nodes; 0: the cluster's default */
	uint64_t window;	   /* bytes a reader's stream is fetched ahead at most: blocks read
				    * from peers are kept in memory for that many (0: none known) */
};

struct fetcher_options {
	unsigned
	    max_prefetch; /* prefetch blocks in flight at most (demand reads are never refused) */
	unsigned store_threads; /* threads writing arrived blocks to the store (default 2) */
	uint32_t part_size;	/* a block is fetched as parallel range requests of this size
				 * (default 1 MiB) */
	unsigned max_requests;	/* range requests at the UFS at once (default 16): the UFS's
				 * connections, so that the fetcher, not the UFS's queue, picks
				 * what goes next: demand before prefetch */
	uint32_t max_request;	/* bytes one request carries at most where the UFS reads
				 * consecutive parts in one request (default 16 MiB): the
				 * parts queued and in flight are spread over max_requests
				 * requests, each between part_size and this */
	const struct fetcher_route *route; /* NULL: every miss goes to the UFS */
};

struct fetcher_stats {
	atomic_uint_fast64_t demand_blocks;   /* blocks fetched because a reader waited */
	atomic_uint_fast64_t prefetch_blocks; /* blocks fetched ahead of readers */
	atomic_uint_fast64_t prefetch_bytes;
	atomic_uint_fast64_t failed_blocks;
	atomic_uint_fast64_t peer_blocks;     /* blocks a peer answered (checked) */
	atomic_uint_fast64_t peer_fallbacks;  /* blocks a peer did not answer: read from the UFS */
	atomic_uint_fast64_t promoted_blocks; /* prefetches a reader waited for before they were in:
					       * the prefetch started too late */
};

struct fetcher;

int fetcher_new(struct ufs *u, struct block_store *bs, const struct fetcher_options *opts,
		struct fetcher **ret);
/* Waits for every fetch in flight, then frees. NULL is fine. */
void fetcher_free(struct fetcher *f);

/* What a block read yields: a pinned tier range (fd >= 0; release with block_store_release),
 * or, when the store had no room, the bytes in memory (mem, owned by the caller: free()). */
struct fetch_result {
	struct block_ref ref;
	char *mem;
	uint32_t len;
	bool peer_only; /* mem came from a peer, which keeps it (not this node's tiers) */
	void *hold;	/* fetcher_get_range: mem is the fetch's own buffer, held (not owned)
			 * until fetcher_result_release */
};

/* Returns block `block` of object obj (path, version attr), from the store or by fetching it
 * and waiting. Returns 0 with *ret set, or -errno: -EIO (UFS failed after retries),
 * -ESTALE (the object changed at the UFS: revalidate and retry), -ENOENT (gone). */
int fetcher_get(struct fetcher *f, uint64_t obj, const char *path, const struct ufs_attr *attr,
		uint64_t block, struct fetch_result *ret);

/* Whether a waiter gave up (its view is being removed): called with the fetcher's lock held,
 * so it may only read a flag. */
struct fetch_halt {
	bool (*halted)(const void *arg);
	const void *arg;
};

/* fetcher_get for a block that was asked for already (fetcher_demand) and is wanted only if that
 * one fetch brings it: waits for it while it is in flight and returns it stored (or in memory),
 * but never fetches it again: a block neither stored nor in flight (evicted since it was
 * stored, or failed) gives -ENOENT. With halt (NULL: none), the wait ends with -ECANCELED
 * within 50 ms of halt saying so; the fetch goes on. Any thread. */
int fetcher_wait(struct fetcher *f, uint64_t obj, const char *path, const struct ufs_attr *attr,
		 uint64_t block, const struct fetch_halt *halt, struct fetch_result *ret);

/* fetcher_get for a reader of the bytes [from, to) of the block: returns as soon as the range
 * requests covering them have landed, from the fetch's buffer (no copy, no wait for the other
 * parts nor for the tier write), or, when the block is in the store, a pinned tier range as
 * fetcher_get does. An in-memory result (mem set) is released with fetcher_result_release. */
int fetcher_get_range(struct fetcher *f, uint64_t obj, const char *path,
		      const struct ufs_attr *attr, uint64_t block, uint32_t from, uint32_t to,
		      struct fetch_result *ret);

/* A reader's wait for a range of a block that does not hold a thread (fetcher_get_range_async):
 * the caller owns it (usually inside its own continuation) and keeps it alive until ready has
 * been called or fetcher_wait_cancel said true. Fields after ready are the fetcher's. */
struct fetch_wait {
	/* Called once per -EINPROGRESS, on a fetcher thread (the UFS's, a peer client's or a store
	 * thread), never under the fetcher's lock; it must not block nor do I/O: hand w to a
	 * thread of the caller's, which calls fetcher_wait_result. */
	void (*ready)(struct fetch_wait *w);
	void *arg;	    /* the caller's */
	struct inflight *e; /* under the fetcher's lock */
	bool armed;	    /* under the fetcher's lock: in e's list */
	bool landed;	    /* set before ready: the range landed before the block's end */
	uint32_t from, to;
	int round;
	uint64_t t0;
	LIST_ENTRY(fetch_wait) link; /* under the fetcher's lock: e's waiters, then ready's list */
};

/* fetcher_get_range without a thread waiting: returns 0 with *ret set when no wait is needed
 * (stored, or the range is in), -errno as fetcher_get_range, or -EINPROGRESS: w is armed, and
 * w->ready(w) comes exactly once when the range lands or the fetch ends (unless
 * fetcher_wait_cancel takes w back first); then fetcher_wait_result gives the answer. path
 * and attr are copied. Any thread. */
int fetcher_get_range_async(struct fetcher *f, uint64_t obj, const char *path,
			    const struct ufs_attr *attr, uint64_t block, uint32_t from, uint32_t to,
			    struct fetch_wait *w, struct fetch_result *ret);

/* After w->ready: what fetcher_get_range would have returned, or -EINPROGRESS again (rare: the
 * block was stored, then evicted before it could be pinned: a new fetch, w armed again).
 * obj, path and attr as given to fetcher_get_range_async. Any thread but ready's. */
int fetcher_wait_result(struct fetcher *f, uint64_t obj, const char *path,
			const struct ufs_attr *attr, uint64_t block, struct fetch_wait *w,
			struct fetch_result *ret);

/* Takes an armed w back (its reader is going away): true when w was armed and now is not (ready
 * will not come; the fetch goes on for its other waiters), false when ready has been or is
 * being called. Any thread; the caller may hold its own locks (ready takes none of the
 * fetcher's). */
bool fetcher_wait_cancel(struct fetcher *f, struct fetch_wait *w);

/* Releases the memory of a fetch_result whose mem is set (a held buffer, or an owned copy). */
void fetcher_result_release(struct fetcher *f, struct fetch_result *r);

/* fetcher_get for a peer's request: a miss goes to the UFS, never to another peer (so two nodes
 * that disagree on an owner cannot ask each other in a circle); -EAGAIN when this node is
 * itself fetching the block from a peer. */
int fetcher_get_local(struct fetcher *f, uint64_t obj, const char *path,
		      const struct ufs_attr *attr, uint64_t block, struct fetch_result *ret);

/* For a DataLoad that fetches a block another node owns, to hand it to that owner: a miss goes
 * to the UFS (never to a peer) and is not kept in this node's tiers; returns when all its bytes
 * landed, in memory (ret->mem, always) until fetcher_result_release. When this node's tier had
 * the block, a copy checked against the index's checksum; a tier copy that fails it is dropped
 * and the block fetched again (-EBADMSG when it cannot be dropped: a reader holds it). Errors
 * otherwise as fetcher_get_local. */
int fetcher_get_for_owner(struct fetcher *f, uint64_t obj, const char *path,
			  const struct ufs_attr *attr, uint64_t block, struct fetch_result *ret);

/* Stores block `block` of obj that another node fetched for this node (its owner), its bytes
 * already checked by the caller against xxh3. Returns 0 (stored, or the store had it), -EEXIST
 * (this node is fetching it itself), or block_store_put's -errno. */
int fetcher_put(struct fetcher *f, uint64_t obj, uint64_t block, const void *buf, uint32_t len,
		uint64_t xxh3);

/* Starts fetching up to count blocks from first (those neither cached nor in flight), within
 * the prefetch budget; does not wait. Returns how many fetches it started. */
unsigned fetcher_prefetch(struct fetcher *f, uint64_t obj, const char *path,
			  const struct ufs_attr *attr, uint64_t first, uint64_t count);

/* For a reader about to wait for all of blocks [first, first + count) (a whole file opened to
 * be read through): starts their fetches as demand, outside the prefetch budget, and raises
 * those in flight (a guess, a prefetch) to demand; does not wait (fetcher_get waits). Returns
 * how many fetches it started. */
unsigned fetcher_demand(struct fetcher *f, uint64_t obj, const char *path,
			const struct ufs_attr *attr, uint64_t first, uint64_t count);

/* The UFS's keys changed (a rotated Secret): fetches refused under the old keys are not
 * handed to readers that come after, nor remembered; those readers fetch again. */
void fetcher_keys_changed(struct fetcher *f);

/* fetcher_prefetch for a guess (the next file a reader of a directory may open): its requests
 * go to the UFS only when no reader and no stream wants a request slot, so they fill the idle
 * slots at the end of a file instead of delaying it. A later fetcher_prefetch or fetcher_get of
 * the same block raises it to theirs. */
unsigned fetcher_prefetch_spare(struct fetcher *f, uint64_t obj, const char *path,
				const struct ufs_attr *attr, uint64_t first, uint64_t count);

/* The UFS's words on the last failed fetch of (obj, block) (the object's URL and the server's
 * answer), copied to buf; not another object's, as the UFS's last error (ufs_error_copy) may
 * be by the time a reader logs. Returns 0, or -ENOENT when none is recorded. */
int fetcher_failure_cause(struct fetcher *f, uint64_t obj, uint64_t block, char *buf, size_t len);

/* How many blocks it takes to keep every request slot busy (max_requests parts): a reader
 * that starts a file fetches this many at once, not one block's few parts. At least 1. */
unsigned fetcher_fill_blocks(const struct fetcher *f);

/* Where the source's misses go in a cluster (its source_id is the fetcher's copy), or NULL when
 * every miss goes to the UFS. Borrowed: lives as long as the fetcher. */
const struct fetcher_route *fetcher_get_route(const struct fetcher *f);

/* Bytes of block buffers the fetcher mapped outside the heap (blocks of 2 MiB or more: in
 * flight, held by readers, or kept spare): anonymous memory mallinfo2 does not count. */
uint64_t fetcher_buffer_memory(struct fetcher *f);

/* Blocks in flight now. */
unsigned fetcher_inflight(struct fetcher *f);
const struct fetcher_stats *fetcher_get_stats(struct fetcher *f);
