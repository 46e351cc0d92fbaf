// SPDX-License-Identifier: Apache-2.0
// Tiered block store: one sparse file per object and tier, an in-memory index under one mutex and
// SQLite as its durable copy. A block's data reaches its tier file before its index row commits,
// and a block loaded from the index is served only after its xxh3 checksum matched once.
#include "block_store.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "block_sum.h"
#include "htable.h"
#include "log.h"
#include "quantity.h"
#include "safe_dir.h"
#include "tier_pool.h"
#include "uring_io.h"
#include "thread_class.h"

#define MIN_BLOCK_SIZE (64u << 10)
#define URING_RINGS 2  /* each with its reaper thread */
#define URING_DEPTH 64 /* requests in flight per ring: 4x this (the completion queue's half) */
#define HASH_INITIAL 1024
#define ATIME_FLUSH_MAX 4096			   /* pending atime updates before a flush */
#define ATIME_FLUSH_NS (5ULL * 1000 * 1000 * 1000) /* or this long since the last one */
#define ATIME_KEEP_MAX (64u * ATIME_FLUSH_MAX)	   /* beyond, until a flush, atimes are lost */
#define EVICT_BATCH 64 /* blocks evicted per index transaction and lock round */
#define EVICT_TICK_NS (1000ULL * 1000 * 1000) /* the evictor looks at least this often */
#define HEAP_NONE SIZE_MAX
#define HEAT_SETTLE_BATCH 1024 /* objects the evictor places in the heaps per lock round */
#define HEAT_SETTLE_TICKS 10	/* evictor wakeups between two such passes */
#define HEAT_PAGE 4096		/* the page that heat counts (eBPF's, the views') */
#define VICTIM_PEEK 64 /* heap entries looked at for one victim before falling back to a scan */

enum slot_state {
	SLOT_EMPTY, /* not cached; the slot lives on only for its pins or a write in flight */
	SLOT_VALID, /* data in tiers[tier] at block * block_size, indexed */
};

enum slot_busy {
	BUSY_NONE,
	BUSY_WRITING,	/* a put is writing it to the top tier */
	BUSY_VERIFYING, /* its first acquire is checking its checksum */
	BUSY_MOVING,	/* being demoted to the next tier */
	BUSY_EVICTING,	/* out of the cache in memory; its row and bytes go in evict_commit() */
	BUSY_PUNCHING,	/* its last release punches copies dropped while it was pinned */
};

struct bs_object;
TAILQ_HEAD(bs_block_list, bs_block);
LIST_HEAD(bs_slot_list, bs_block);
TAILQ_HEAD(bs_object_list, bs_object);

/* One (object, block). Every field is under block_store.lock. While busy != BUSY_NONE one thread
 * works on it with the lock dropped: nobody else changes, drops or frees it (they wait on idle). */
struct bs_block {
	struct htable_node hnode;  /* in block_store.slots, by (object id, block) */
	TAILQ_ENTRY(bs_block) lru; /* tier LRU, head most recent; only when SLOT_VALID */
	/* heat ranking: the object's blocks in this tier, head most recent; only when SLOT_VALID */
	TAILQ_ENTRY(bs_block) tl;
	LIST_ENTRY(bs_block) oslot; /* the object's slots */
	struct bs_object *o;
	uint64_t block;
	uint64_t csum;
	uint64_t atime; /* ns since the epoch, unique and increasing within a store */
	uint32_t len;
	uint32_t pins;
	uint8_t tier;
	uint8_t state;
	uint8_t busy;
	uint8_t punch_mask; /* tiers to punch once the last pin goes (dropped while pinned) */
	bool verified;
	/* On its tier's LRU (and heat list): SLOT_VALID and unpinned. A pinned block is off the
	 * lists, so choosing a victim never steps over it; its last release puts it back with
	 * atime = the time of that release. */
	bool listed;
};

/* What a tier file looked like when weir last wrote or checked it. Another writer changes its
 * ctime (which nobody can set back), a replacement its inode. */
struct tier_stamp {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

/* One version of a recorded object: a new version of a path is a new object (new id, new tier
 * files), so blocks of two versions never share an identity, and a reader bound to the old one
 * (a passthrough backing file above all) never sees the new bytes. A replaced version is
 * retired: its blocks dropped, its tier files unlinked (open fds keep reading them), nothing
 * stored under it; it is freed when the last pin goes. Current ones live as long as the store.
 * Fields under block_store.lock. */
/* An object's blocks in one tier, for heat ranking. */
struct bs_object_tier {
	struct bs_block_list blocks; /* blocks in tier t, most recently used first */
	size_t heap_idx;	     /* in tiers[t].heap, or HEAP_NONE */
	/* The rank tiers[t].heap orders it by: its rank when last placed there, never above its
	 * rank now (heat added since only raises that, see obj_rank_raise). */
	double key;
};

struct bs_object {
	struct htable_node hnode;     /* in block_store.objs, by id */
	struct htable_node path_node; /* in block_store.by_path while not retired */
	uint64_t id;
	char *path; /* in the object's own allocation, as etag is */
	uint64_t size;
	int64_t mtime;
	char *etag;
	int fd[BLOCK_STORE_MAX_TIERS]; /* tier files, opened on demand, -1 when closed */
	uint64_t tier_blocks[BLOCK_STORE_MAX_TIERS];
	uint64_t cached; /* bytes of SLOT_VALID blocks */
	uint64_t holds;	 /* pins plus busy slots: while > 0 no fd is closed */
	struct bs_slot_list blocks;
	TAILQ_ENTRY(bs_object) fd_lru; /* on block_store's open-fd LRU while nfds > 0 */
	unsigned nfds;
	uint8_t scrub_seen; /* tiers where tier_scrub() found its file */
	uint8_t stamped;    /* tiers whose stamp is set */
	/* One per tier of the store (ntiers, not BLOCK_STORE_MAX_TIERS), in the object's own
	 * allocation after it: the per-object cost of the index is most of weir-node's memory
	 * with many small files (weir stat), and one tier is the common case. */
	struct tier_stamp *stamp;
	unsigned writing[BLOCK_STORE_MAX_TIERS]; /* weir's writes in flight to each tier file */
	double heat;	  /* as of heat_ns; set by the owner (eBPF), decays with the half-life */
	uint64_t heat_ns; /* CLOCK_MONOTONIC */
	/* log2 of the heat at time 0: every object's heat decays at the same rate, so ranks
	 * compare as decayed heats do at any instant and change only when heat is set. */
	double rank;
	struct bs_object_tier *tl; /* heat ranking only; one per tier, allocated as stamp */
	/* On block_store.rank_stale while rank_stale: heat was added and the heaps still order
	 * it by an older (lower) rank. */
	TAILQ_ENTRY(bs_object) stale_link;
	bool rank_stale;
	bool retired; /* a newer version replaced it */
	/* Its index row is being written (block_store_object_sync, lock released): found by
	 * path only by syncs of the same path, which wait for it; lookups miss it. */
	bool indexing;
};

struct bs_tier {
	struct block_store *bs;
	unsigned index;
	struct tier_pool *pool; /* the tier path's shared quota; set once the store is loaded */
	struct tier_pool_member member;
	char name[16];
	char *dir;   /* <path>/<source_id>, for messages */
	int root_fd; /* the tier path, checked by safe_dir_open(); -1 when closed */
	int dir_fd; /* dir: every tier file is opened or removed relative to it, no link followed */
	bool dir_lost_warned;	   /* under lock: that dir cannot be made again was said (once) */
	uint64_t quota, high, low; /* the pool's: every store on the path shares them */
	uint64_t used;	  /* this store's bytes of valid blocks plus writes and moves in flight
			   * into it; the pool counts them too (tier_used_add/sub) */
	uint64_t leaving; /* bytes being moved out (still counted in used) */
	uint64_t blocks;
	struct bs_block_list lru; /* LRU, most recent first */
	/* Heat ranking: a min-heap of the objects with blocks here, by (rank, last use of their
	 * least recently used block here), so a victim costs O(log n), not a scan of the tier.
	 * heap_lost: an allocation failed and the heap misses objects; victims are scanned. */
	struct bs_object **heap;
	size_t nheap, heap_cap;
	bool heap_lost;
};

/* File work decided under block_store.lock and done after it is let go (bs_unlock). */
struct bs_work {
	struct bs_work *next;
	enum { WORK_CLOSE, WORK_UNLINK, WORK_WARN } kind;
	int fd;	       /* WORK_CLOSE: the fd; WORK_UNLINK: a dup of the tier directory's */
	char name[17]; /* WORK_UNLINK: the tier file */
	char msg[];    /* WORK_WARN */
};

struct atime_rec {
	uint64_t obj, block, atime;
};

enum stmt {
	ST_OBJ_INSERT,
	ST_BLK_INSERT,
	ST_BLK_DELETE,
	ST_BLK_DELETE_OBJ,
	ST_BLK_TIER,
	ST_BLK_ATIME,
	ST_COUNT,
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_OBJ_INSERT] = "INSERT OR REPLACE INTO objects(id, path, size, mtime, etag) "
		      "VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_BLK_INSERT] = "INSERT OR REPLACE INTO blocks(obj, block, tier, len, csum, atime) "
		      "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_BLK_DELETE] = "DELETE FROM blocks WHERE obj = ?1 AND block = ?2",
    [ST_BLK_DELETE_OBJ] = "DELETE FROM blocks WHERE obj = ?1",
    [ST_BLK_TIER] = "UPDATE blocks SET tier = ?3 WHERE obj = ?1 AND block = ?2",
    [ST_BLK_ATIME] = "UPDATE blocks SET atime = ?3 WHERE obj = ?1 AND block = ?2",
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS objects(id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE,"
    " size INTEGER NOT NULL, mtime INTEGER NOT NULL, etag TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS blocks(obj INTEGER NOT NULL, block INTEGER NOT NULL,"
    " tier INTEGER NOT NULL, len INTEGER NOT NULL, csum INTEGER NOT NULL,"
    " atime INTEGER NOT NULL, PRIMARY KEY(obj, block)) WITHOUT ROWID;";

struct block_store {
	struct tier_pools *pools;     /* the config's, or own_pools */
	struct tier_pools *own_pools; /* when the config gives none: pools of this store alone */
	/* Guards the in-memory index: objects, slots, tiers' LRU and heaps, counters, the fd cache,
	 * the pending atimes and the deferred work (work). Held for memory updates, fstat(2) and
	 * fcntl(F_DUPFD) only: never across tier reads or writes, hole punching, an open, close or
	 * unlink of a tier file, a log_warn, an SQLite statement (db_lock), or a wait on another
	 * thread but the conditions below. What is decided under it is queued on work (fds to
	 * close, files to unlink, warnings) and done by bs_unlock() after the lock is let go; an
	 * fd-cache miss opens the file with the lock dropped and installs it after (obj_fd_open).
	 * Two rare cases still do file I/O under it: remaking a tier directory that was removed
	 * while in use (tier_dir_reclaim, with the open that follows), and punch() of a copy
	 * dropped while its slot was busy (block_drop of a busy slot, a release that finds its
	 * slot busy, obj_drop_blocks without memory for its batch). A hit takes it once. */
	pthread_mutex_t lock;
	struct bs_work *work; /* under lock: done by bs_unlock() with the lock let go */
	pthread_cond_t idle; /* broadcast whenever a slot stops being busy */
	/* Guards db and stmts (the SQLite connection is used by one thread at a time). Held
	 * across SQLite I/O; may be taken under lock (a short write of one row) but lock is never
	 * taken under it, and the hit path never takes it. */
	pthread_mutex_t db_lock;
	pthread_cond_t evict_cond; /* under lock: kicks the evictor (a watermark passed, stop) */
	pthread_t evictor;
	bool evictor_started;
	bool evict_stop; /* under lock */
	bool evict_kick; /* under lock: look at the watermarks now */
	bool evict_busy; /* under lock: the evictor is at work (idle is broadcast after) */
	uint32_t block_size;
	unsigned ntiers;
	struct bs_tier tiers[BLOCK_STORE_MAX_TIERS]; /* under lock */
	struct uring_io *io;
	int lock_fd;	 /* flock()ed <index>.lock: one process per store */
	sqlite3 *db;	 /* under db_lock, with stmts; the rest under lock */
	bool db_corrupt; /* SQLite said the index file is damaged */
	sqlite3_stmt *stmts[ST_COUNT];
	/* The index in memory. Intrusive (the nodes live in the objects and slots): by_path costs
	 * no copy of the path, which is most of an object's memory with many small files. */
	struct htable objs;    /* bs_object by id, retired ones too */
	struct htable by_path; /* bs_object by path: the current (not retired) version */
	struct htable slots;   /* bs_block by (object id, block) */
	uint64_t clock;	       /* last atime handed out */
	/* The index could not be written for lack of space (the state directory is full):
	 * objects are kept in memory only and their blocks not cached, so reads go on,
	 * uncached, instead of failing. Said once in the log and in stats. */
	bool index_full;
	/* The state directory was full when the store opened: the index could not even be
	 * created, so it lives in memory (":memory:") and index_full stays set while it does. */
	bool index_memory;
	struct atime_rec *atimes; /* last uses not yet in the index: written by the evictor */
	size_t natimes, atimes_cap;
	uint64_t atimes_flushed;      /* CLOCK_MONOTONIC ns of the last flush */
	struct bs_object_list fd_lru; /* objects with open tier files, most recent first */
	size_t nfds, max_fds;
	uint64_t hits, misses, evictions, demotions, checksum_failures;
	uint64_t victim_steps; /* blocks looked at while choosing victims */
	bool by_heat; /* victims: coldest object first, LRU among equals; else pure LRU */
	double half_life_ns;
	/* Objects whose heat was added since the heaps last placed them (bs_object.rank_stale):
	 * a heat summary costs a hash lookup, not a heap walk per read; victim() fixes those it
	 * meets, the evictor places the rest every HEAT_SETTLE_TICKS wakeups, in batches. */
	struct bs_object_list rank_stale;
	unsigned settle_ticks; /* evictor wakeups since its last pass over rank_stale */
};

/* Lets go of bs->lock, then does the file work queued under it. */
static void bs_unlock(struct block_store *bs)
{
	struct bs_work *w = bs->work, *next;

	bs->work = NULL;
	pthread_mutex_unlock(&bs->lock);
	for (; w; w = next) {
		next = w->next;
		switch (w->kind) {
		case WORK_CLOSE:
			close(w->fd);
			break;
		case WORK_UNLINK:
			if (unlinkat(w->fd, w->name, 0) < 0 && errno != ENOENT)
				log_debug("block store: unlinking %s: %m", w->name);
			close(w->fd);
			break;
		case WORK_WARN:
			log_warn("%s", w->msg);
			break;
		}
		free(w);
	}
}

static struct bs_work *work_new(struct block_store *bs, size_t extra)
{
	struct bs_work *w = malloc(sizeof(*w) + extra);

	if (w) {
		w->next = bs->work;
		bs->work = w;
	}
	return w;
}

/* Under lock: closes fd once the lock is let go (now, without memory for the note). */
static void defer_close(struct block_store *bs, int fd)
{
	struct bs_work *w = work_new(bs, 0);

	if (!w) {
		close(fd);
		return;
	}
	w->kind = WORK_CLOSE;
	w->fd = fd;
}

/* Under lock: unlinks name in dir_fd once the lock is let go, through a dup of dir_fd (a
 * tier directory remade meanwhile closes the original). */
static void defer_unlink(struct block_store *bs, int dir_fd, const char *name)
{
	int dfd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
	struct bs_work *w = dfd >= 0 ? work_new(bs, 0) : NULL;

	if (!w) {
		if (dfd >= 0)
			close(dfd);
		if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
			log_debug("block store: unlinking %s: %m", name);
		return;
	}
	w->kind = WORK_UNLINK;
	w->fd = dfd;
	snprintf(w->name, sizeof(w->name), "%s", name);
}

/* Under lock: a log_warn once the lock is let go. */
__attribute__((format(printf, 2, 3))) static void defer_warn(struct block_store *bs,
							     const char *fmt, ...);
static void defer_warn(struct block_store *bs, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct bs_work *w = work_new(bs, strlen(msg) + 1);
	if (!w) {
		log_warn("%s", msg);
		return;
	}
	w->kind = WORK_WARN;
	memcpy(w->msg, msg, strlen(msg) + 1);
}

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void errmsg(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void errmsg(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errbuf || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

/* Logs a warning and appends it to errbuf, which block_store_open() returns even on success:
 * the user who mounted should hear it, not only the log. */
static void warn_note(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn_note(char *errbuf, size_t errlen, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	size_t used;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("%s", msg);
	if (!errbuf || errlen == 0)
		return;
	used = strnlen(errbuf, errlen);
	if (used + 3 < errlen)
		snprintf(errbuf + used, errlen - used, "%s%s", used ? "; " : "", msg);
}

/* ---- hash tables ---- */

static uint64_t obj_hash(const struct htable_node *n)
{
	return htable_hash_u64(htable_entry(n, struct bs_object, hnode)->id);
}

static bool obj_eq(const struct htable_node *n, const void *key)
{
	return htable_entry(n, struct bs_object, hnode)->id == *(const uint64_t *)key;
}

static uint64_t obj_path_hash(const struct htable_node *n)
{
	return htable_hash_str(htable_entry(n, struct bs_object, path_node)->path);
}

static bool obj_path_eq(const struct htable_node *n, const void *key)
{
	return strcmp(htable_entry(n, struct bs_object, path_node)->path, key) == 0;
}

struct slot_key {
	uint64_t obj, block;
};

static uint64_t slot_key_hash(uint64_t obj, uint64_t block)
{
	return htable_hash_u64_pair(obj, block);
}

static uint64_t slot_hash(const struct htable_node *n)
{
	const struct bs_block *b = htable_entry(n, struct bs_block, hnode);

	return slot_key_hash(b->o->id, b->block);
}

static bool slot_eq(const struct htable_node *n, const void *key)
{
	const struct bs_block *b = htable_entry(n, struct bs_block, hnode);
	const struct slot_key *k = key;

	return b->block == k->block && b->o->id == k->obj;
}

/* Empty index tables and lists (at open, and when a damaged index starts over). */
static int index_init(struct block_store *bs)
{
	if (htable_init(&bs->objs, HASH_INITIAL, obj_hash) < 0)
		return -ENOMEM;
	if (htable_init(&bs->by_path, HASH_INITIAL, obj_path_hash) < 0)
		goto free_objs;
	if (htable_init(&bs->slots, HASH_INITIAL, slot_hash) < 0)
		goto free_by_path;
	TAILQ_INIT(&bs->fd_lru);
	TAILQ_INIT(&bs->rank_stale);
	for (unsigned i = 0; i < BLOCK_STORE_MAX_TIERS; i++)
		TAILQ_INIT(&bs->tiers[i].lru);
	return 0;
free_by_path:
	htable_fini(&bs->by_path);
free_objs:
	htable_fini(&bs->objs);
	return -ENOMEM;
}

static struct bs_object *obj_find(struct block_store *bs, uint64_t id)
{
	struct htable_node *n = htable_find(&bs->objs, htable_hash_u64(id), obj_eq, &id);

	return n ? htable_entry(n, struct bs_object, hnode) : NULL;
}

/* The current (not retired) version of path, or NULL. */
static struct bs_object *obj_find_path(struct block_store *bs, const char *path)
{
	struct htable_node *n = htable_find(&bs->by_path, htable_hash_str(path), obj_path_eq, path);

	return n ? htable_entry(n, struct bs_object, path_node) : NULL;
}

static void obj_free(struct bs_object *o)
{
	if (!o)
		return;
	for (unsigned t = 0; t < BLOCK_STORE_MAX_TIERS; t++)
		if (o->fd[t] >= 0)
			close(o->fd[t]);
	free(o);
}

static struct bs_object *obj_new(unsigned ntiers, uint64_t id, const char *path, uint64_t size,
				 int64_t mtime, const char *etag)
{
	/* the per-tier parts, the path and the ETag in the object's own allocation: one malloc
	 * header per object, not three */
	size_t tiers = ntiers * (sizeof(struct tier_stamp) + sizeof(struct bs_object_tier));
	size_t plen = strlen(path) + 1, elen = strlen(etag) + 1;
	struct bs_object *o = calloc(1, sizeof(*o) + tiers + plen + elen);

	if (!o)
		return NULL;
	o->stamp = (struct tier_stamp *)(o + 1);
	o->tl = (struct bs_object_tier *)(o->stamp + ntiers);
	o->path = (char *)(o + 1) + tiers;
	o->etag = o->path + plen;
	memcpy(o->path, path, plen);
	memcpy(o->etag, etag, elen);
	for (unsigned t = 0; t < BLOCK_STORE_MAX_TIERS; t++)
		o->fd[t] = -1;
	for (unsigned t = 0; t < ntiers; t++) {
		TAILQ_INIT(&o->tl[t].blocks);
		o->tl[t].heap_idx = HEAP_NONE;
	}
	LIST_INIT(&o->blocks);
	o->rank = -INFINITY;
	o->id = id;
	o->size = size;
	o->mtime = mtime;
	return o;
}

/* Indexes o by id, and by path unless retired. Cannot fail: the tables grow when they can
 * and chain longer when they cannot. */
static void obj_insert(struct block_store *bs, struct bs_object *o)
{
	if (!o->retired)
		htable_insert(&bs->by_path, &o->path_node, htable_hash_str(o->path));
	htable_insert(&bs->objs, &o->hnode, htable_hash_u64(o->id));
}

static void obj_close_fd(struct block_store *bs, struct bs_object *o, unsigned t);

/* Takes a retired object out of the table and frees it. */
static void obj_reap(struct block_store *bs, struct bs_object *o)
{
	if (o->rank_stale)
		TAILQ_REMOVE(&bs->rank_stale, o, stale_link);
	htable_remove(&bs->objs, &o->hnode);
	for (unsigned t = 0; t < BLOCK_STORE_MAX_TIERS; t++)
		if (o->fd[t] >= 0)
			obj_close_fd(bs, o, t);
	obj_free(o);
}

static struct bs_block *slot_find(struct block_store *bs, uint64_t obj, uint64_t block)
{
	struct slot_key k = {obj, block};
	struct htable_node *n = htable_find(&bs->slots, slot_key_hash(obj, block), slot_eq, &k);

	return n ? htable_entry(n, struct bs_block, hnode) : NULL;
}

/* A new SLOT_EMPTY slot in the hash and the object's list, or NULL. */
static struct bs_block *slot_new(struct block_store *bs, struct bs_object *o, uint64_t block)
{
	struct bs_block *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->o = o;
	b->block = block;
	htable_insert(&bs->slots, &b->hnode, slot_key_hash(o->id, block));
	LIST_INSERT_HEAD(&o->blocks, b, oslot);
	return b;
}

/* Frees b if nothing refers to it any more. */
static void slot_maybe_free(struct block_store *bs, struct bs_block *b)
{
	if (b->state != SLOT_EMPTY || b->pins > 0 || b->busy != BUSY_NONE)
		return;
	htable_remove(&bs->slots, &b->hnode);
	LIST_REMOVE(b, oslot);
	free(b);
}

/* ---- usage ---- */

static void tier_used_add(struct bs_tier *t, uint64_t n)
{
	t->used += n;
	if (t->pool)
		tier_pool_add(t->pool, n);
}

static void tier_used_sub(struct bs_tier *t, uint64_t n)
{
	t->used -= n;
	if (t->pool)
		tier_pool_sub(t->pool, n);
}

/* What counts against the quota: every store's bytes on the tier path. */
static uint64_t tier_usage(const struct bs_tier *t)
{
	return t->pool ? tier_pool_used(t->pool) : t->used;
}

/* Tells the pool how old this tier's least recently used block is. */
static void tier_publish_oldest(struct bs_tier *t)
{
	struct bs_block *oldest = TAILQ_LAST(&t->lru, bs_block_list);

	atomic_store(&t->member.oldest, oldest ? oldest->atime : UINT64_MAX);
}

/* ---- heat ranking: per-object lists and a heap per tier ---- */

/* True when object a's blocks in tier ti go before b's. */
static bool heap_before(const struct bs_object *a, const struct bs_object *b, unsigned ti)
{
	if (a->tl[ti].key != b->tl[ti].key)
		return a->tl[ti].key < b->tl[ti].key;
	return TAILQ_LAST(&a->tl[ti].blocks, bs_block_list)->atime <
	       TAILQ_LAST(&b->tl[ti].blocks, bs_block_list)->atime;
}

static void heap_set(struct bs_tier *t, size_t i, struct bs_object *o)
{
	t->heap[i] = o;
	o->tl[t->index].heap_idx = i;
}

static void heap_up(struct bs_tier *t, size_t i)
{
	struct bs_object *o = t->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!heap_before(o, t->heap[parent], t->index))
			break;
		heap_set(t, i, t->heap[parent]);
		i = parent;
	}
	heap_set(t, i, o);
}

static void heap_down(struct bs_tier *t, size_t i)
{
	struct bs_object *o = t->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= t->nheap)
			break;
		if (c + 1 < t->nheap && heap_before(t->heap[c + 1], t->heap[c], t->index))
			c++;
		if (!heap_before(t->heap[c], o, t->index))
			break;
		heap_set(t, i, t->heap[c]);
		i = c;
	}
	heap_set(t, i, o);
}

/* Puts o where it belongs in t's heap after its rank or its blocks there changed: in when it
 * has blocks there, out when it has none. */
static void heap_update(struct bs_tier *t, struct bs_object *o)
{
	size_t i = o->tl[t->index].heap_idx;

	o->tl[t->index].key = o->rank;

	if (TAILQ_EMPTY(&o->tl[t->index].blocks)) {
		if (i == HEAP_NONE)
			return;
		o->tl[t->index].heap_idx = HEAP_NONE;
		if (i != --t->nheap) {
			struct bs_object *m = t->heap[t->nheap];

			heap_set(t, i, m);
			heap_up(t, i);
			heap_down(t, m->tl[t->index].heap_idx);
		}
		return;
	}
	if (i == HEAP_NONE) {
		if (t->nheap == t->heap_cap) {
			size_t cap = t->heap_cap ? 2 * t->heap_cap : 256;
			struct bs_object **h = realloc(t->heap, cap * sizeof(*h));

			if (!h) {
				t->heap_lost = true;
				return;
			}
			t->heap = h;
			t->heap_cap = cap;
		}
		i = t->nheap++;
		heap_set(t, i, o);
		heap_up(t, i);
		return;
	}
	heap_up(t, i);
	heap_down(t, o->tl[t->index].heap_idx);
}

static void tl_unlink(struct bs_tier *t, struct bs_block *b)
{
	struct bs_object *o = b->o;
	unsigned ti = t->index;

	TAILQ_REMOVE(&o->tl[ti].blocks, b, tl);
	heap_update(t, o);
}

/* Where its atime belongs: a use is the newest, so this starts at the head. */
static void tl_insert(struct bs_tier *t, struct bs_block *b)
{
	struct bs_object *o = b->o;
	unsigned ti = t->index;
	struct bs_block *before = TAILQ_FIRST(&o->tl[ti].blocks);

	while (before && before->atime > b->atime)
		before = TAILQ_NEXT(before, tl);
	if (before)
		TAILQ_INSERT_BEFORE(before, b, tl);
	else
		TAILQ_INSERT_TAIL(&o->tl[ti].blocks, b, tl);
	heap_update(t, o);
}

/* ---- LRU ---- */

static void lru_unlink(struct bs_tier *t, struct bs_block *b)
{
	if (!b->listed)
		return;
	b->listed = false;
	if (t->bs->by_heat)
		tl_unlink(t, b);
	TAILQ_REMOVE(&t->lru, b, lru);
	tier_publish_oldest(t);
}

/* Inserts b where its atime belongs; blocks arrive mostly newest-first, so start at the head. */
static void lru_insert(struct bs_tier *t, struct bs_block *b)
{
	struct bs_block *before = TAILQ_FIRST(&t->lru);

	if (b->listed || b->pins > 0)
		return; /* a pinned block goes on at its last release */
	b->listed = true;
	while (before && before->atime > b->atime)
		before = TAILQ_NEXT(before, lru);
	if (before)
		TAILQ_INSERT_BEFORE(before, b, lru);
	else
		TAILQ_INSERT_TAIL(&t->lru, b, lru);
	tier_publish_oldest(t);
	if (t->bs->by_heat)
		tl_insert(t, b);
}

static uint64_t clock_tick(struct block_store *bs)
{
	uint64_t now = now_ns(CLOCK_REALTIME);

	bs->clock = now > bs->clock ? now : bs->clock + 1;
	return bs->clock;
}

/* The least recently used block of t that may go, or NULL. */
static struct bs_block *lru_victim(struct bs_tier *t)
{
	struct bs_block *b;

	TAILQ_FOREACH_REVERSE(b, &t->lru, bs_block_list, lru) {
		t->bs->victim_steps++;
		if (b->pins == 0 && b->busy == BUSY_NONE)
			return b;
	}
	return NULL;
}

static double obj_heat_now(const struct block_store *bs, const struct bs_object *o, uint64_t now)
{
	if (o->heat <= 0)
		return 0;
	double age = now > o->heat_ns ? (double)(now - o->heat_ns) : 0;
	return o->heat * exp2(-age / bs->half_life_ns);
}

static double obj_rank(const struct block_store *bs, const struct bs_object *o)
{
	return o->heat > 0 ? log2(o->heat) + (double)o->heat_ns / bs->half_life_ns : -INFINITY;
}

/* Places o in each tier's heap by its rank now. */
static void obj_rank_place(struct block_store *bs, struct bs_object *o)
{
	if (o->rank_stale) {
		TAILQ_REMOVE(&bs->rank_stale, o, stale_link);
		o->rank_stale = false;
	}
	if (!bs->by_heat)
		return;
	for (unsigned t = 0; t < bs->ntiers; t++)
		if (o->tl[t].heap_idx != HEAP_NONE && o->tl[t].key != o->rank)
			heap_update(&bs->tiers[t], o);
}

/* After o's heat was set (to anything): its rank, and its place in each tier's heap. */
static void obj_rank_update(struct block_store *bs, struct bs_object *o)
{
	o->rank = obj_rank(bs, o);
	obj_rank_place(bs, o);
}

/* After heat was added to o's: its rank now, which the heaps take later (heap_fix() when o
 * comes up for a victim, heat_settle() on the evictor's tick). Until then they order o by its
 * older key and stay heaps of their keys. Every key is at most its object's rank (added heat
 * raises a rank: the decayed heat plus more, at a later time; a rank that rounding lowered is
 * placed at once), so an entry whose key is its rank is the coldest of its subtree. */
static void obj_rank_raise(struct block_store *bs, struct bs_object *o)
{
	double rank = obj_rank(bs, o);

	if (rank < o->rank) {
		o->rank = rank;
		obj_rank_place(bs, o);
		return;
	}
	o->rank = rank;
	if (bs->by_heat && !o->rank_stale) {
		TAILQ_INSERT_TAIL(&bs->rank_stale, o, stale_link);
		o->rank_stale = true;
	}
}

/* Places up to max objects whose heat was added since they were last placed. Returns true
 * while some are left. Under lock. */
static bool heat_settle(struct block_store *bs, size_t max)
{
	struct bs_object *o;

	while (max-- > 0 && (o = TAILQ_FIRST(&bs->rank_stale)))
		obj_rank_place(bs, o);
	return !TAILQ_EMPTY(&bs->rank_stale);
}

/* The least recently used block of o in tier ti that may go, or NULL. */
static struct bs_block *tl_victim(struct block_store *bs, const struct bs_object *o, unsigned ti)
{
	struct bs_block *b;

	TAILQ_FOREACH_REVERSE(b, &o->tl[ti].blocks, bs_block_list, tl) {
		bs->victim_steps++;
		if (b->pins == 0 && b->busy == BUSY_NONE)
			return b;
	}
	return NULL;
}

/* Makes the entry at i the coldest of its subtree by rank, not only by key: while its key
 * lags its rank (heat added since it was placed), it takes its rank and sinks, and the entry
 * that rises to i is looked at in turn. Only i's subtree moves. */
static void heap_fix(struct bs_tier *t, size_t i)
{
	for (;;) {
		struct bs_object *o = t->heap[i];

		if (o->tl[t->index].key == o->rank)
			return;
		o->tl[t->index].key = o->rank;
		heap_down(t, i);
	}
}

/* Heat ranking through the heap: the top object's least recently used block that may go. When
 * its blocks are all pinned, the next objects in heap order are looked at (a frontier of the
 * heap, smallest first), up to VICTIM_PEEK of them. Each entry is fixed (heap_fix) before it
 * joins the frontier: the frontier's entries head disjoint subtrees that hold every entry not
 * looked at yet, so its coldest by key is the coldest by rank. Sets *ret; false when the
 * frontier ran out (the caller scans). */
static bool heap_victim(struct bs_tier *t, struct bs_block **ret)
{
	size_t frontier[VICTIM_PEEK + 1];
	size_t n = 0, looked = 0;

	*ret = NULL;
	if (t->nheap > 0) {
		heap_fix(t, 0);
		frontier[n++] = 0;
	}
	while (n > 0) {
		size_t best = 0;

		for (size_t k = 1; k < n; k++)
			if (heap_before(t->heap[frontier[k]], t->heap[frontier[best]], t->index))
				best = k;
		size_t i = frontier[best];
		frontier[best] = frontier[--n];
		struct bs_block *b = tl_victim(t->bs, t->heap[i], t->index);
		if (b) {
			*ret = b;
			return true;
		}
		if (++looked >= VICTIM_PEEK)
			return false;
		for (size_t c = 2 * i + 1; c <= 2 * i + 2 && c < t->nheap; c++) {
			heap_fix(t, c);
			frontier[n++] = c;
		}
	}
	return true;
}

/* The block to evict next: with heat ranking, one of the coldest object (the least recently
 * used among those), else the least recently used. NULL when nothing may go. */
static struct bs_block *victim(struct block_store *bs, struct bs_tier *t)
{
	if (!bs->by_heat)
		return lru_victim(t);
	struct bs_block *hb;
	if (!t->heap_lost && heap_victim(t, &hb))
		return hb;
	uint64_t now = now_ns(CLOCK_MONOTONIC);
	struct bs_block *b, *best = NULL;
	double best_heat = 0;
	TAILQ_FOREACH_REVERSE(b, &t->lru, bs_block_list, lru) {
		bs->victim_steps++;
		if (b->pins != 0 || b->busy != BUSY_NONE)
			continue;
		double h = obj_heat_now(bs, b->o, now);
		if (!best || h < best_heat) {
			best = b;
			best_heat = h;
			if (h == 0)
				break; /* nothing is colder; the LRU-most of the cold ones */
		}
	}
	return best;
}

/* True if at least need bytes of t could be evicted. */
static bool tier_can_free(struct bs_tier *t, uint64_t need)
{
	uint64_t sum = 0;
	struct bs_block *b;

	TAILQ_FOREACH_REVERSE(b, &t->lru, bs_block_list, lru) {
		if (sum >= need)
			break;
		if (b->pins == 0 && b->busy == BUSY_NONE)
			sum += b->len;
	}
	return sum >= need;
}

/* ---- SQLite ---- */

static bool db_errcode_corrupt(sqlite3 *db)
{
	int e = db ? sqlite3_errcode(db) & 0xff : SQLITE_OK;

	return e == SQLITE_CORRUPT || e == SQLITE_NOTADB;
}

static int db_err(struct block_store *bs, const char *what)
{
	log_debug("block store index: %s: %s", what, sqlite3_errmsg(bs->db));
	if (db_errcode_corrupt(bs->db))
		bs->db_corrupt = true;
	int sys = sqlite3_system_errno(bs->db);
	if (sqlite3_errcode(bs->db) == SQLITE_FULL || sys == ENOSPC || sys == EDQUOT)
		return -ENOSPC;
	return -EIO;
}

/* An object's index row could not be written for lack of space: keep serving it (from the
 * UFS, uncached: its blocks cannot be indexed either) rather than fail every open. Under
 * lock. Returns r, or 0 for a full index. */
static int index_space(struct block_store *bs, int r)
{
	if (r == -ENOSPC && !bs->index_full) {
		defer_warn(bs,
			   "block store: the index \"%s\" cannot be written: no space left in the "
			   "state directory; files are served uncached until space is freed",
			   sqlite3_db_filename(bs->db, "main"));
		bs->index_full = true;
	} else if (r == 0 && bs->index_full && !bs->index_memory) {
		log_notice("block store: the index \"%s\" can be written again; caching resumes",
			   sqlite3_db_filename(bs->db, "main"));
		bs->index_full = false;
	}
	return r == -ENOSPC ? 0 : r;
}

/* Runs one prepared statement with n integer parameters. Under db_lock. */
static int db_step(struct block_store *bs, enum stmt which, unsigned n, const int64_t *args)
{
	sqlite3_stmt *st = bs->stmts[which];
	int r;

	for (unsigned i = 0; i < n; i++)
		sqlite3_bind_int64(st, (int)i + 1, args[i]);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (r != SQLITE_DONE)
		return db_err(bs, stmt_sql[which]);
	return 0;
}

/* db_step() in a transaction of its own, taking db_lock. */
static int db_run(struct block_store *bs, enum stmt which, unsigned n, const int64_t *args)
{
	pthread_mutex_lock(&bs->db_lock);
	int r = db_step(bs, which, n, args);
	pthread_mutex_unlock(&bs->db_lock);
	return r;
}

static int db_obj_write(struct block_store *bs, enum stmt which, const struct bs_object *o)
{
	sqlite3_stmt *st = bs->stmts[which];
	int r, i = 1;

	pthread_mutex_lock(&bs->db_lock);
	sqlite3_bind_int64(st, i++, (int64_t)o->id);
	if (which == ST_OBJ_INSERT)
		sqlite3_bind_text(st, i++, o->path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, i++, (int64_t)o->size);
	sqlite3_bind_int64(st, i++, o->mtime);
	sqlite3_bind_text(st, i++, o->etag, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	r = r == SQLITE_DONE ? 0 : db_err(bs, stmt_sql[which]);
	pthread_mutex_unlock(&bs->db_lock);
	return r;
}

/* Runs n statements of one kind in one transaction (args: n rows of nargs). Takes db_lock;
 * called without lock. A failed row is skipped; returns the last error or 0. */
static int db_batch(struct block_store *bs, enum stmt which, unsigned nargs, const int64_t *args,
		    size_t n)
{
	int r = 0;

	if (n == 0)
		return 0;
	pthread_mutex_lock(&bs->db_lock);
	if (sqlite3_exec(bs->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		r = db_err(bs, "BEGIN");
		goto unlock;
	}
	for (size_t i = 0; i < n; i++) {
		int e = db_step(bs, which, nargs, args + i * nargs);

		if (e < 0)
			r = e;
	}
	if (sqlite3_exec(bs->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		r = db_err(bs, "COMMIT");
		sqlite3_exec(bs->db, "ROLLBACK", NULL, NULL, NULL);
	}
unlock:
	pthread_mutex_unlock(&bs->db_lock);
	return r;
}

static int db_block_delete(struct block_store *bs, const struct bs_block *b)
{
	int64_t args[] = {(int64_t)b->o->id, (int64_t)b->block};

	return db_run(bs, ST_BLK_DELETE, 2, args);
}

/* Writes the pending atimes to the index in one transaction. Takes lock briefly to take them
 * over, then db_lock: call with neither held. Lost atimes only make the order after a restart a
 * little staler. */
static void atimes_flush(struct block_store *bs)
{
	struct atime_rec *recs;
	size_t n;

	pthread_mutex_lock(&bs->lock);
	recs = bs->atimes;
	n = bs->natimes;
	bs->atimes = NULL;
	bs->natimes = bs->atimes_cap = 0;
	bs->atimes_flushed = now_ns(CLOCK_MONOTONIC);
	bs_unlock(bs);
	if (n > 0) {
		int64_t *args = malloc(n * 3 * sizeof(*args));

		if (args) {
			for (size_t i = 0; i < n; i++) {
				args[3 * i] = (int64_t)recs[i].obj;
				args[3 * i + 1] = (int64_t)recs[i].block;
				args[3 * i + 2] = (int64_t)recs[i].atime;
			}
			db_batch(bs, ST_BLK_ATIME, 3, args, n);
			free(args);
		}
	}
	free(recs);
}

static void evictor_kick_locked(struct block_store *bs)
{
	bs->evict_kick = true;
	pthread_cond_signal(&bs->evict_cond);
}

/* Under lock: remembers b's last use for the index; the evictor thread writes them. */
static void atime_record(struct block_store *bs, const struct bs_block *b)
{
	if (bs->natimes == bs->atimes_cap) {
		size_t cap = bs->atimes_cap ? bs->atimes_cap * 2 : 256;
		struct atime_rec *a;

		if (cap > ATIME_KEEP_MAX)
			return;
		a = realloc(bs->atimes, cap * sizeof(*a));
		if (!a)
			return;
		bs->atimes = a;
		bs->atimes_cap = cap;
	}
	bs->atimes[bs->natimes++] = (struct atime_rec){b->o->id, b->block, b->atime};
	if (bs->natimes == ATIME_FLUSH_MAX)
		evictor_kick_locked(bs);
}

/* ---- tier files ---- */

static void obj_close_fd(struct block_store *bs, struct bs_object *o, unsigned t)
{
	defer_close(bs, o->fd[t]);
	o->fd[t] = -1;
	bs->nfds--;
	if (--o->nfds == 0)
		TAILQ_REMOVE(&bs->fd_lru, o, fd_lru);
}

/* Closes the tier files of the least recently used idle objects (not keep) to stay under
 * max_fds: a source with many cached objects must not exhaust the process's fds. */
static void fds_trim(struct block_store *bs, const struct bs_object *keep)
{
	struct bs_object *o, *prev;

	for (o = TAILQ_LAST(&bs->fd_lru, bs_object_list); o && bs->nfds >= bs->max_fds; o = prev) {
		prev = TAILQ_PREV(o, bs_object_list, fd_lru);
		if (o == keep || o->holds > 0)
			continue;
		for (unsigned t = 0; t < BLOCK_STORE_MAX_TIERS; t++)
			if (o->fd[t] >= 0)
				obj_close_fd(bs, o, t);
	}
}

/* The source's directory in tier t was removed while weir ran (rm -rf of a tier directory):
 * the held descriptor names a dead directory, and nothing new could be cached there again.
 * Makes it again beneath the tier path, as at open. Returns 0 when dir_fd is a live directory
 * again, or -errno (the directory was not removed, or cannot be made). */
static int tier_dir_reclaim(struct block_store *bs, unsigned t)
{
	struct bs_tier *tier = &bs->tiers[t];
	struct stat st;
	char note[1024] = "", why[512] = "";
	int fd, r;

	if (fstat(tier->dir_fd, &st) < 0)
		return -errno;
	if (st.st_nlink > 0)
		return -EEXIST; /* alive: the ENOENT was about the file, not the directory */
	const char *name = strrchr(tier->dir, '/');
	r = safe_dir_claim(tier->root_fd, name ? name + 1 : tier->dir, &fd, note, sizeof(note), why,
			   sizeof(why));
	if (r < 0 && name && fstat(tier->root_fd, &st) == 0 && st.st_nlink == 0) {
		/* The tier path itself went (rm -rf of it): made again as at open, checked the
		 * same way, then the source's directory in it. */
		char path[PATH_MAX];
		int root;

		snprintf(path, sizeof(path), "%.*s", (int)(name - tier->dir), tier->dir);
		why[0] = '\0';
		r = safe_dir_open(path, SAFE_DIR_CREATE | SAFE_DIR_STICKY_OK, &root, why,
				  sizeof(why));
		if (r >= 0) {
			defer_close(bs, tier->root_fd);
			tier->root_fd = root;
			why[0] = '\0';
			r = safe_dir_claim(tier->root_fd, name + 1, &fd, note, sizeof(note), why,
					   sizeof(why));
		}
	}
	if (r < 0) {
		/* Once per loss: every miss comes here while it lasts. */
		if (!tier->dir_lost_warned)
			defer_warn(bs,
				   "block store: tier %s directory \"%s\" was removed and cannot "
				   "be made again (%s); blocks are served without caching them "
				   "there",
				   tier->name, tier->dir, why[0] ? why : strerror(-r));
		tier->dir_lost_warned = true;
		return r;
	}
	tier->dir_lost_warned = false;
	defer_close(bs, tier->dir_fd);
	tier->dir_fd = fd;
	defer_warn(bs,
		   "block store: tier %s directory \"%s\" was removed while in use; made it again "
		   "(blocks cached there before are refetched as they are read)%s%s",
		   tier->name, tier->dir, note[0] ? "; " : "", note);
	return 0;
}

/* What a failed open (errno err) of o's file name in tier t returns: -EPERM with a warning (sent
 * once the lock is let go) for a symbolic link put there, else -err. Called with lock held. */
static int obj_open_failed(struct block_store *bs, const struct bs_object *o, unsigned t,
			   const char *name, int err)
{
	if (err == ELOOP) {
		defer_warn(bs,
			   "block store: \"%s/%s\" is a symbolic link; weir does not follow it and "
			   "caches \"%s\" without tier %s: remove the link",
			   bs->tiers[t].dir, name, o->path, bs->tiers[t].name);
		return -EPERM;
	}
	log_debug("open %s/%s: %s", bs->tiers[t].dir, name, strerror(err));
	return -err;
}

static int obj_fd(struct block_store *bs, struct bs_object *o, unsigned t, bool create)
{
	char name[17];
	int fd;

	if (o->fd[t] >= 0) {
		if (TAILQ_FIRST(&bs->fd_lru) != o) {
			TAILQ_REMOVE(&bs->fd_lru, o, fd_lru);
			TAILQ_INSERT_HEAD(&bs->fd_lru, o, fd_lru);
		}
		return o->fd[t];
	}
	if (bs->nfds >= bs->max_fds)
		fds_trim(bs, o);
	snprintf(name, sizeof(name), "%016" PRIx64, o->id);
	/* Beneath the held directory, following no link: nothing planted there redirects it. */
	fd = openat(bs->tiers[t].dir_fd, name,
		    O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600);
	if (fd < 0 && errno == ENOENT && create && tier_dir_reclaim(bs, t) == 0)
		fd = openat(bs->tiers[t].dir_fd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_CREAT,
			    0600);
	if (fd < 0)
		return obj_open_failed(bs, o, t, name, errno);
	o->fd[t] = fd;
	bs->nfds++;
	if (o->nfds++ == 0)
		TAILQ_INSERT_HEAD(&bs->fd_lru, o, fd_lru);
	return fd;
}

/* obj_fd() without the open under the lock: on an fd-cache miss the file is opened with the
 * lock let go, then installed (if another thread installed one meanwhile, this one is closed).
 * Called with lock held and o held (holds or a busy slot) by the caller; returns with the lock
 * held, but anything not held may have changed meanwhile. Only the removed-tier-directory
 * case (ENOENT with create) opens under the lock, through obj_fd(). */
static int obj_fd_open(struct block_store *bs, struct bs_object *o, unsigned t, bool create)
{
	char name[17];
	int dfd, fd, err;

	if (o->fd[t] >= 0)
		return obj_fd(bs, o, t, create);
	dfd = fcntl(bs->tiers[t].dir_fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0)
		return obj_fd(bs, o, t, create);
	snprintf(name, sizeof(name), "%016" PRIx64, o->id);
	o->holds++;
	bs_unlock(bs);
	fd = openat(dfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600);
	err = errno;
	close(dfd);
	pthread_mutex_lock(&bs->lock);
	o->holds--;
	if (fd < 0) {
		if (err == ENOENT && create)
			return obj_fd(bs, o, t, create); /* the directory may be gone: remade */
		return obj_open_failed(bs, o, t, name, err);
	}
	if (o->fd[t] >= 0) { /* another thread installed one meanwhile */
		defer_close(bs, fd);
		return obj_fd(bs, o, t, create);
	}
	if (create && o->retired) {
		/* Retired while the lock was let go: its retire may have unlinked the file before
		 * this open created it again. Unlinked again, unless the current version of the
		 * path is this very file (the same id: the version came back). */
		struct bs_object *cur = obj_find_path(bs, o->path);
		if (!cur || cur->id != o->id)
			defer_unlink(bs, bs->tiers[t].dir_fd, name);
	}
	if (bs->nfds >= bs->max_fds)
		fds_trim(bs, o);
	o->fd[t] = fd;
	bs->nfds++;
	if (o->nfds++ == 0)
		TAILQ_INSERT_HEAD(&bs->fd_lru, o, fd_lru);
	return fd;
}

/* Drops a hold on o taken around obj_fd_open(): frees a retired o nobody else holds. */
static void obj_unhold(struct block_store *bs, struct bs_object *o)
{
	if (--o->holds == 0 && o->retired && LIST_EMPTY(&o->blocks))
		obj_reap(bs, o);
}

/* Closes the tier files o no longer needs. */
static void obj_close_idle(struct block_store *bs, struct bs_object *o)
{
	if (o->holds > 0)
		return;
	for (unsigned t = 0; t < BLOCK_STORE_MAX_TIERS; t++)
		if (o->tier_blocks[t] == 0 && o->fd[t] >= 0)
			obj_close_fd(bs, o, t);
}

/* After weir changed tier file t of o (or checked it): what it looks like now is what weir
 * left. fstat reads the inode only: no device I/O under the lock. */
static void stamp_set(struct bs_object *o, unsigned t, const struct stat *stp)
{
	const struct stat st = *stp;

	o->stamp[t] = (struct tier_stamp){.dev = st.st_dev,
					  .ino = st.st_ino,
					  .size = st.st_size,
					  .mtime = st.st_mtim,
					  .ctime = st.st_ctim};
	o->stamped |= (uint8_t)(1u << t);
}

static void stamp_record(struct bs_object *o, unsigned t, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		o->stamped &= (uint8_t) ~(1u << t);
		return;
	}
	stamp_set(o, t, &st);
}

static bool stamp_same(const struct tier_stamp *a, const struct stat *st)
{
	return a->dev == st->st_dev && a->ino == st->st_ino && a->size == st->st_size &&
	       a->mtime.tv_sec == st->st_mtim.tv_sec && a->mtime.tv_nsec == st->st_mtim.tv_nsec &&
	       a->ctime.tv_sec == st->st_ctim.tv_sec && a->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* Before bytes of tier file t of o are trusted (served, passed through, written next to): if
 * it changed since weir last left it (another writer, a restored or replaced file), every
 * block of o there is verified again before its next use. While weir's own writes to the file
 * are in flight, a change cannot be told from them: the last of them records the file. */
static void stamp_check(struct block_store *bs, struct bs_object *o, unsigned t, int fd)
{
	struct stat st;
	uint64_t n = 0;

	if (o->writing[t] > 0)
		return;
	if ((o->stamped & (1u << t)) && fstat(fd, &st) == 0 && stamp_same(&o->stamp[t], &st))
		return;
	struct bs_block *b;

	LIST_FOREACH(b, &o->blocks, oslot) {
		if (b->state == SLOT_VALID && b->tier == t && b->verified) {
			b->verified = false;
			n++;
		}
	}
	if (n > 0)
		defer_warn(bs,
			   "block store: the tier %s file of \"%s\" (%s/%016" PRIx64
			   ") was changed outside weir; its %" PRIu64
			   " blocks there are verified again before use",
			   bs->tiers[t].name, o->path, bs->tiers[t].dir, o->id, n);
	stamp_record(o, t, fd);
}

static void punch(struct block_store *bs, struct bs_object *o, unsigned t, uint64_t block)
{
	int fd;

	/* A retired version's files are unlinked: they go whole with their last fd, and a
	 * passthrough reader of the old version must not read holes meanwhile. */
	if (o->retired)
		return;
	fd = obj_fd(bs, o, t, false);
	if (fd < 0)
		return;
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(block * bs->block_size), bs->block_size) < 0)
		log_debug("punching block %" PRIu64 " of %016" PRIx64 " in tier %s: %m", block,
			  o->id, bs->tiers[t].name);
	stamp_record(o, t, fd);
}

/* Reads a block back and checks its checksum. Returns 0, -EBADMSG (mismatch or short) or
 * -errno. Called without the lock. */
static int block_read_verify(struct block_store *bs, int fd, uint64_t block, uint32_t len,
			     uint64_t csum, void *buf)
{
	ssize_t n = uring_io_pread(bs->io, fd, buf, len, block * bs->block_size);

	if (n < 0)
		return (int)n;
	if ((size_t)n != len || block_sum(buf, len) != csum)
		return -EBADMSG;
	return 0;
}

/* Removes a valid, idle block from its tier, the index (if delete_row) and memory. The hole is
 * punched now, or when the last pin goes. b may be freed. */
static void block_drop(struct block_store *bs, struct bs_block *b, bool delete_row)
{
	struct bs_object *o = b->o;
	struct bs_tier *t = &bs->tiers[b->tier];

	if (delete_row)
		db_block_delete(bs, b);
	lru_unlink(t, b);
	tier_used_sub(t, b->len);
	t->blocks--;
	o->tier_blocks[b->tier]--;
	o->cached -= b->len;
	b->state = SLOT_EMPTY;
	if (b->pins > 0)
		b->punch_mask |= (uint8_t)(1u << b->tier);
	else
		punch(bs, o, b->tier, b->block);
	slot_maybe_free(bs, b);
	obj_close_idle(bs, o);
}

static void block_unbusy(struct block_store *bs, struct bs_block *b)
{
	b->busy = BUSY_NONE;
	b->o->holds--;
	pthread_cond_broadcast(&bs->idle);
}

static void tier_shrink(struct block_store *bs, unsigned ti, uint64_t target);
static void block_drop_unlocked(struct block_store *bs, struct bs_block *b);

/* Copies b from its tier to the next one, with the lock dropped around the I/O; on any failure
 * b is dropped instead. Returns true if b was demoted. b is valid and idle on entry. */
static bool block_demote(struct block_store *bs, struct bs_block *b)
{
	unsigned from = b->tier, to = from + 1;
	struct bs_tier *src = &bs->tiers[from], *dst = &bs->tiers[to];
	struct bs_object *o = b->o;
	uint64_t block = b->block, csum = b->csum;
	uint32_t len = b->len;
	bool reserved = false, corrupt = false, punched = false;
	int sfd, dfd, r;
	void *buf = NULL;
	ssize_t n;

	/* Busy from here: making room below may drop the lock, and b must stay put meanwhile. */
	b->busy = BUSY_MOVING;
	o->holds++;
	src->leaving += len;
	/* Room is made among this store's blocks only: taking other stores' locks here could
	 * deadlock. Without room the block is evicted instead. */
	if (tier_usage(dst) + len > dst->quota &&
	    tier_can_free(dst, tier_usage(dst) + len - dst->quota))
		tier_shrink(bs, to, dst->quota - len);
	if (tier_usage(dst) + len > dst->quota) {
		r = -ENOSPC;
		goto fail;
	}
	tier_used_add(dst, len);
	reserved = true;
	sfd = obj_fd_open(bs, o, from, false); /* b busy and o held: the lock may go */
	dfd = sfd >= 0 ? obj_fd_open(bs, o, to, true) : -1;
	if (sfd >= 0 && dfd >= 0 && o->fd[from] != sfd)
		sfd = obj_fd(bs, o, from, false); /* trimmed meanwhile: cannot be, o is held */
	buf = malloc(len);
	if (sfd < 0 || dfd < 0 || !buf) {
		r = sfd < 0 ? sfd : dfd < 0 ? dfd : -ENOMEM;
		goto fail;
	}
	stamp_check(bs, o, to, dfd);
	o->writing[to]++;
	o->writing[from]++; /* the old copy's hole, punched below: no stamp check meanwhile */

	bs_unlock(bs);
	r = block_read_verify(bs, sfd, block, len, csum, buf);
	if (r == 0) {
		n = uring_io_pwrite(bs->io, dfd, buf, len, block * bs->block_size);
		if (n == -ENOSPC) {
			pthread_mutex_lock(&bs->lock);
			tier_shrink(bs, to,
				    tier_usage(dst) > 2ULL * len ? tier_usage(dst) - 2ULL * len
								 : 0);
			bs_unlock(bs);
			n = uring_io_pwrite(bs->io, dfd, buf, len, block * bs->block_size);
		}
		r = n < 0 ? (int)n : 0;
	} else if (r == -EBADMSG) {
		corrupt = true;
	}
	/* The index row and the old copy's hole, still without the lock (the row waits on
	 * db_lock behind any batch, the punch on the file system): b is busy, so no reader or
	 * put touches the block meanwhile, and its unpinned bytes in tier from are nobody's.
	 * Row first: a crash between the two leaves unindexed bytes (scrubbed at open), never
	 * a row whose bytes are a hole. */
	if (r == 0) {
		int64_t args[] = {(int64_t)o->id, (int64_t)block, (int64_t)to};

		r = db_run(bs, ST_BLK_TIER, 3, args);
		if (r == 0 && fallocate(sfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					(off_t)(block * bs->block_size), bs->block_size) < 0)
			log_debug("punching block %" PRIu64 " of %016" PRIx64 " in tier %s: %m",
				  block, o->id, src->name);
	}
	/* Failed: whatever reached tier to goes, still without the lock (b is busy). */
	if (r < 0 && fallocate(dfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       (off_t)(block * bs->block_size), bs->block_size) < 0)
		log_debug("punching block %" PRIu64 " of %016" PRIx64 " in tier %s: %m", block,
			  o->id, dst->name);
	punched = true;
	pthread_mutex_lock(&bs->lock);
	if (--o->writing[to] == 0)
		stamp_record(o, to, dfd);
	if (--o->writing[from] == 0)
		stamp_record(o, from, sfd);
	free(buf);
	buf = NULL;
	if (r < 0)
		goto fail;
	src->leaving -= len;
	block_unbusy(bs, b);
	lru_unlink(src, b);
	tier_used_sub(src, len);
	src->blocks--;
	o->tier_blocks[from]--;
	b->tier = (uint8_t)to;
	b->verified = true; /* its bytes were just checked on the way */
	dst->blocks++;
	o->tier_blocks[to]++;
	lru_insert(dst, b);
	bs->demotions++;
	obj_close_idle(bs, o);
	return true;

fail:
	free(buf);
	if (reserved)
		tier_used_sub(dst, len); /* written to only past the unlocked part, which punched */
	(void)punched;
	src->leaving -= len;
	block_unbusy(bs, b);
	if (corrupt) {
		defer_warn(bs,
			   "block %" PRIu64 " of \"%s\" failed its checksum in tier %s; dropped",
			   block, o->path, src->name);
		bs->checksum_failures++;
	} else {
		log_debug("demoting block %" PRIu64 " of %016" PRIx64 " to tier %s: %s; evicting",
			  block, o->id, dst->name, strerror(-r));
		bs->evictions++;
	}
	block_drop_unlocked(bs, b);
	return false;
}

/* A block on its way out (evict_take to evict_commit). */
struct evict_item {
	struct bs_block *b;
	int fd; /* its tier file, kept open by the object's hold; -1: none open */
	/* When no fd was open and the file is there to punch: a dup of the tier directory, the
	 * file is opened through it by evict_punch() (lock let go), and closed after. */
	int dir_fd;
	struct stat st; /* the file after the punch (st_ok), recorded by evict_done() */
	bool st_ok;
	unsigned tier;
	uint64_t obj;
	uint64_t block;
	uint32_t len;
};

/* Takes b (valid, idle, unpinned) out of the cache in memory: from here a lookup misses it
 * (without waiting), a put of it waits for evict_commit(). Its bytes still count against the
 * quota (as leaving) until its hole is punched. Under lock. */
static void evict_take(struct block_store *bs, struct bs_block *b, struct evict_item *it)
{
	struct bs_object *o = b->o;
	struct bs_tier *t = &bs->tiers[b->tier];

	*it = (struct evict_item){.b = b,
				  .fd = -1,
				  .dir_fd = -1,
				  .tier = b->tier,
				  .obj = o->id,
				  .block = b->block,
				  .len = b->len};
	/* A retired version's files are unlinked: they go whole with their last fd. A file not
	 * open is opened by evict_punch(), without the lock. */
	if (!o->retired) {
		if (o->fd[b->tier] >= 0)
			it->fd = obj_fd(bs, o, b->tier, false);
		else
			it->dir_fd = fcntl(t->dir_fd, F_DUPFD_CLOEXEC, 0);
	}
	lru_unlink(t, b);
	t->blocks--;
	t->leaving += b->len;
	o->tier_blocks[b->tier]--;
	o->cached -= b->len;
	o->holds++;
	o->writing[b->tier]++; /* its punch changes the file: no stamp check meanwhile */
	b->state = SLOT_EMPTY;
	b->busy = BUSY_EVICTING;
}

/* The holes of taken blocks (lock not held). */
static void evict_punch(struct block_store *bs, struct evict_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct evict_item *it = &items[i];
		int fd = it->fd;

		if (fd < 0 && it->dir_fd >= 0) {
			char name[17];

			snprintf(name, sizeof(name), "%016" PRIx64, it->obj);
			fd = openat(it->dir_fd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
			close(it->dir_fd);
			it->dir_fd = -1;
		}
		if (fd < 0)
			continue;
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)(it->block * bs->block_size), bs->block_size) < 0)
			log_debug("punching block %" PRIu64 " in tier %s: %m", it->block,
				  bs->tiers[it->tier].name);
		it->st_ok = fstat(fd, &it->st) == 0;
		if (fd != it->fd)
			close(fd);
	}
}

/* After evict_punch(), under lock: the quota given back, the slots freed, waiters woken. */
static void evict_done(struct block_store *bs, struct evict_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct bs_block *b = items[i].b;
		struct bs_object *o = b->o;
		struct bs_tier *t = &bs->tiers[items[i].tier];

		/* The file as it is now, if it is open: a put may have written to it since the
		 * punch's fstat (its end saw this punch in flight and recorded nothing), and that
		 * stale stamp would take weir's own write for a change made behind its back. */
		if (--o->writing[items[i].tier] == 0) {
			if (o->fd[items[i].tier] >= 0)
				stamp_record(o, items[i].tier, o->fd[items[i].tier]);
			else if (items[i].st_ok)
				stamp_set(o, items[i].tier, &items[i].st);
		}
		t->leaving -= items[i].len;
		tier_used_sub(t, items[i].len);
		b->busy = BUSY_NONE;
		o->holds--;
		slot_maybe_free(bs, b);
		obj_close_idle(bs, o);
		if (o->retired && o->holds == 0 && LIST_EMPTY(&o->blocks))
			obj_reap(bs, o);
	}
	pthread_cond_broadcast(&bs->idle);
}

/* Finishes a batch of evict_take(): one index transaction for every row, the holes punched,
 * with lock dropped throughout (called and returns with it held), then the quota given back
 * and the slots freed. */
static void evict_commit(struct block_store *bs, struct evict_item *items, size_t n)
{
	int64_t args[EVICT_BATCH * 2];
	int r;

	for (size_t i = 0; i < n; i++) {
		args[2 * i] = (int64_t)items[i].b->o->id;
		args[2 * i + 1] = (int64_t)items[i].block;
	}
	bs_unlock(bs);
	/* The rows go first: a crash between the two leaves bytes nobody indexes, not a row
	 * whose bytes are holes (and a row whose commit a crash lost fails its checksum at its
	 * first use after the next open). */
	r = db_batch(bs, ST_BLK_DELETE, 2, args, n);
	if (r < 0)
		log_debug("block store: evicting %zu blocks: the index kept their rows (%s); "
			  "their checksums drop them at the next open",
			  n, strerror(-r));
	evict_punch(bs, items, n);
	pthread_mutex_lock(&bs->lock);
	bs->evictions += n;
	evict_done(bs, items, n);
}

/* block_drop(bs, b, true) for a block the store itself gives up (it failed its checksum, its
 * tier file is gone, its demotion failed): the row's DELETE and the punch run with the lock
 * dropped (called and returns with it held), as for an evicted block, without counting it as
 * an eviction. A pinned or busy block is dropped under the lock as before (its punch waits for
 * its last release anyway). b may be freed. */
static void block_drop_unlocked(struct block_store *bs, struct bs_block *b)
{
	struct evict_item it;
	int64_t args[2];

	if (b->pins > 0 || b->busy != BUSY_NONE) {
		block_drop(bs, b, true);
		return;
	}
	evict_take(bs, b, &it);
	args[0] = (int64_t)b->o->id;
	args[1] = (int64_t)it.block;
	bs_unlock(bs);
	if (db_run(bs, ST_BLK_DELETE, 2, args) < 0)
		log_debug("block store: dropping block %" PRIu64 ": the index kept its row; its "
			  "checksum drops it at the next open",
			  it.block);
	evict_punch(bs, &it, 1);
	pthread_mutex_lock(&bs->lock);
	evict_done(bs, &it, 1);
}

/* Evicts (or demotes, where there is a next tier) this store's blocks of tier ti, least
 * recently used (or coldest) first, until the tier path's usage (every store's) is at most
 * target, nothing more may go, or (after the first) the next one was used later than until.
 * Evicts one batch of at most EVICT_BATCH blocks per call. Called with lock held, which it
 * drops around I/O. Returns the bytes it took out of the tier. */
static uint64_t tier_shrink_until(struct block_store *bs, unsigned ti, uint64_t target,
				  uint64_t until)
{
	struct bs_tier *t = &bs->tiers[ti];
	struct evict_item items[EVICT_BATCH];
	bool demoted = false;
	uint64_t freed = 0;
	size_t n = 0;

	while (tier_usage(t) - t->leaving > target) {
		struct bs_block *b = victim(bs, t);

		if (!b || (freed > 0 && b->atime > until))
			break;
		freed += b->len; /* demoted or dropped, it leaves this tier */
		if (ti + 1 < bs->ntiers) {
			demoted |= block_demote(bs, b);
			continue;
		}
		evict_take(bs, b, &items[n++]);
		if (n == EVICT_BATCH)
			break;
	}
	if (n > 0)
		evict_commit(bs, items, n);
	if (demoted && tier_usage(&bs->tiers[ti + 1]) > bs->tiers[ti + 1].high)
		tier_shrink(bs, ti + 1, bs->tiers[ti + 1].low);
	return freed;
}

static void tier_shrink(struct block_store *bs, unsigned ti, uint64_t target)
{
	uint64_t usage;

	do {
		usage = tier_usage(&bs->tiers[ti]);
	} while (usage > target && tier_shrink_until(bs, ti, target, UINT64_MAX) > 0);
}

/* The pool's way in (tier_pool_member.reclaim): called with no lock held. */
static uint64_t tier_reclaim(struct tier_pool_member *m, uint64_t target, uint64_t until)
{
	struct bs_tier *t = (struct bs_tier *)((char *)m - offsetof(struct bs_tier, member));
	struct block_store *bs = t->bs;
	uint64_t freed;

	pthread_mutex_lock(&bs->lock);
	/* Leaving (block_store_free): nothing of it counts any more. */
	freed = t->pool ? tier_shrink_until(bs, t->index, target, until) : 0;
	bs_unlock(bs);
	return freed;
}

/* Brings every tier path above its high watermark down to its low one, taking the least
 * recently used blocks of any store there. Called with no lock held. */
static void tiers_settle(struct block_store *bs)
{
	for (unsigned i = 0; i < bs->ntiers; i++) {
		struct bs_tier *t = &bs->tiers[i];

		if (t->pool && tier_pool_used(t->pool) > t->high)
			tier_pool_reclaim(t->pool, t->low);
	}
}

/* Brings every tier path above its high watermark down to its low one, EVICT_BATCH blocks per
 * pool reclaim, so a miss that needs room (and reclaims the pool itself) waits for one batch at
 * most, not for the whole descent. Called with no lock held. */
static void tiers_settle_stepwise(struct block_store *bs)
{
	uint64_t step = (uint64_t)EVICT_BATCH * bs->block_size;

	for (unsigned i = 0; i < bs->ntiers; i++) {
		struct bs_tier *t = &bs->tiers[i];
		uint64_t used;

		if (!t->pool || tier_pool_used(t->pool) <= t->high)
			continue;
		while ((used = tier_pool_used(t->pool)) > t->low) {
			uint64_t target = used - t->low > step ? used - step : t->low;
			bool stop;

			if (tier_pool_reclaim(t->pool, target) == 0)
				break;
			pthread_mutex_lock(&bs->lock);
			stop = bs->evict_stop;
			bs_unlock(bs);
			if (stop)
				return;
		}
	}
}

/* The evictor: off the read path, it writes the pending atimes and keeps every tier between its
 * watermarks. Woken by a put that passes a high watermark, by ATIME_FLUSH_MAX pending atimes,
 * and every EVICT_TICK_NS. */
static void *evictor_main(void *arg)
{
	struct block_store *bs = arg;
	pthread_setname_np(pthread_self(), "weir-evict"); /* top -H, perf */
	thread_class_set(THREAD_CLASS_BULK); /* never ahead of a hit (thread_class.h) */

	pthread_mutex_lock(&bs->lock);
	while (!bs->evict_stop) {
		if (!bs->evict_kick) {
			struct timespec ts;
			uint64_t at = now_ns(CLOCK_MONOTONIC) + EVICT_TICK_NS;

			ts.tv_sec = (time_t)(at / 1000000000ULL);
			ts.tv_nsec = (long)(at % 1000000000ULL);
			pthread_cond_timedwait(&bs->evict_cond, &bs->lock, &ts);
		}
		bs->evict_kick = false;
		if (bs->evict_stop)
			break;
		bool flush = bs->natimes >= ATIME_FLUSH_MAX ||
			     (bs->natimes > 0 &&
			      now_ns(CLOCK_MONOTONIC) - bs->atimes_flushed >= ATIME_FLUSH_NS);
		bs->evict_busy = true;
		bs_unlock(bs);
		if (flush)
			atimes_flush(bs);
		tiers_settle_stepwise(bs);
		pthread_mutex_lock(&bs->lock);
		/* Heat added lately goes into the heaps here every HEAT_SETTLE_TICKS ticks, a batch
		 * per lock round: an object read once a second is placed once per pass, not per
		 * read, and a victim() finds at most that many ticks' worth of stale keys to fix. */
		if (++bs->settle_ticks >= HEAT_SETTLE_TICKS) {
			bs->settle_ticks = 0;
			while (!bs->evict_stop && heat_settle(bs, HEAT_SETTLE_BATCH)) {
				bs_unlock(bs);
				pthread_mutex_lock(&bs->lock);
			}
		}
		bs->evict_busy = false;
		pthread_cond_broadcast(&bs->idle);
	}
	bs_unlock(bs);
	return NULL;
}

/* Drops every valid block of o, waiting for busy ones. As an eviction batch does: the blocks
 * leave memory first (a lookup misses them from here, a put of one waits), then their rows go
 * (one statement) and their holes are punched with the lock dropped (called and returns with it
 * held). A pinned block keeps its bytes until its last release. Returns the statement's result:
 * when it fails the rows stay, and their checksums drop them at the next open. */
static int obj_drop_blocks(struct block_store *bs, struct bs_object *o)
{
	struct bs_block *b, *next;
	struct evict_item *items = NULL;
	size_t n = 0, cap = 0;
	int64_t id = (int64_t)o->id;
	int r;

	/* o stays while the lock is dropped, here and below, whatever the items do: a retire
	 * of o (obj_retire) while an invalidate waits for a busy block would otherwise free it
	 * under the wait (a general protection fault here, seen under a rw view's appends) */
	o->holds++;
again:
	LIST_FOREACH(b, &o->blocks, oslot) {
		if (b->busy != BUSY_NONE) {
			pthread_cond_wait(&bs->idle, &bs->lock);
			goto again;
		}
	}
	for (b = LIST_FIRST(&o->blocks); b; b = next) {
		next = LIST_NEXT(b, oslot);
		if (b->state != SLOT_VALID)
			continue;
		if (b->pins == 0 && n == cap) {
			size_t c = cap ? 2 * cap : 16;
			struct evict_item *m = realloc(items, c * sizeof(*m));

			if (m) {
				items = m;
				cap = c;
			}
		}
		if (b->pins > 0 || n == cap)
			block_drop(bs, b, false); /* pinned: punched at its release; or no memory */
		else
			evict_take(bs, b, &items[n++]);
	}
	bs_unlock(bs);
	r = db_run(bs, ST_BLK_DELETE_OBJ, 1, &id);
	if (r < 0)
		log_debug("block store: dropping the blocks of %016" PRIx64
			  ": the index kept their rows (%s); their checksums drop them at the "
			  "next open",
			  o->id, strerror(-r));
	evict_punch(bs, items, n);
	pthread_mutex_lock(&bs->lock);
	evict_done(bs, items, n);
	free(items);
	/* Whoever lets go of a retired object last frees it: a retire and an invalidate of one
	 * object can both be in the unlocked part above. */
	if (--o->holds == 0) {
		obj_close_idle(bs, o);
		if (o->retired && LIST_EMPTY(&o->blocks))
			obj_reap(bs, o);
	}
	return r;
}

/* ---- open ---- */

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	struct stat st;
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = c;
		if (c == '\0')
			break;
	}
	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return 0;
}

static int errno_class(int e)
{
	switch (e) {
	case EACCES:
	case EPERM:
	case EROFS:
		return -EACCES;
	case ENOSPC:
	case EDQUOT:
		return -ENOSPC;
	default:
		return -ENOENT;
	}
}

static int config_check(const struct block_store_config *cfg, char *errbuf, size_t errlen)
{
	if (!cfg->index_path || !cfg->index_path[0]) {
		errmsg(errbuf, errlen, "block store: no index path");
		return -EINVAL;
	}
	if (!cfg->source_id || !cfg->source_id[0] || strchr(cfg->source_id, '/') ||
	    strcmp(cfg->source_id, ".") == 0 || strcmp(cfg->source_id, "..") == 0) {
		errmsg(errbuf, errlen,
		       "block store: source id \"%s\" is not a valid directory name",
		       cfg->source_id ? cfg->source_id : "");
		return -EINVAL;
	}
	if (cfg->ntiers < 1 || cfg->ntiers > BLOCK_STORE_MAX_TIERS) {
		errmsg(errbuf, errlen, "block store: %u tiers; give 1 to %d", cfg->ntiers,
		       BLOCK_STORE_MAX_TIERS);
		return -EINVAL;
	}
	if (cfg->block_size < MIN_BLOCK_SIZE || (cfg->block_size & (cfg->block_size - 1))) {
		errmsg(errbuf, errlen,
		       "block store: block size %" PRIu32 " is not a power of two >= 64 KiB",
		       cfg->block_size);
		return -EINVAL;
	}
	if (!(cfg->low > 0 && cfg->low <= cfg->high && cfg->high <= 1)) {
		errmsg(errbuf, errlen,
		       "block store: watermarks low %g, high %g; need 0 < low <= high <= 1",
		       cfg->low, cfg->high);
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->ntiers; i++) {
		const struct tier_config *tc = &cfg->tiers[i];

		if (!tc->path[0] || tc->path[0] != '/' ||
		    strnlen(tc->path, sizeof(tc->path)) >= sizeof(tc->path) - 64) {
			errmsg(errbuf, errlen, "tier %u: path \"%.*s\" is not an absolute path", i,
			       (int)strnlen(tc->path, sizeof(tc->path)), tc->path);
			return -EINVAL;
		}
		if (tc->quota < cfg->block_size) {
			errmsg(errbuf, errlen,
			       "tier %u at \"%s\": quota %" PRIu64
			       " is less than one block (%" PRIu32 ")",
			       i, tc->path, tc->quota, cfg->block_size);
			return -EINVAL;
		}
	}
	return 0;
}

/* The bytes this source's tier files take in dir_fd: room eviction can make, which a file
 * system full of them (weir fills a tier path whose quota is larger than it) still has. */
static uint64_t tier_dir_own_bytes(int dir_fd)
{
	int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	uint64_t n = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.' ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		n += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
	return n;
}

/* Makes sure the tier's directory is safe to write in as root (see safe_dir_open), takes files
 * and has room for a block (free, or taken by this source's own blocks, which eviction frees:
 * else a weir-node restarted over a tier it filled could not take its views back); holds
 * descriptors of it and of this source's directory in it. */
static int tier_open(struct bs_tier *t, const struct tier_config *tc, const char *source_id,
		     uint32_t block_size, char *errbuf, size_t errlen)
{
	char why[512] = "", probe[64];
	struct statvfs vfs;
	size_t dlen;
	int r, fd;

	r = safe_dir_open(tc->path, SAFE_DIR_CREATE | SAFE_DIR_STICKY_OK, &t->root_fd, why,
			  sizeof(why));
	if (r < 0) {
		errmsg(errbuf, errlen, "tier \"%s\" at \"%s\": %s", t->name, tc->path, why);
		return r == -EPERM || r == -EINVAL ? -EPERM : errno_class(-r);
	}
	if (why[0]) /* a component another user had taken in /dev/shm, taken back */
		warn_note(errbuf, errlen, "tier \"%s\" at \"%s\": %s", t->name, tc->path, why);
	why[0] = '\0';
	if (faccessat(t->root_fd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
		r = errno;
		errmsg(errbuf, errlen, "tier \"%s\" at \"%s\": not writable (%s)", t->name,
		       tc->path, strerror(r));
		return r == ENOENT ? -ENOENT : -EACCES;
	}
	dlen = strlen(tc->path) + 1 + strlen(source_id) + 1;
	t->dir = malloc(dlen);
	if (!t->dir)
		return -ENOMEM;
	snprintf(t->dir, dlen, "%s/%s", tc->path, source_id);
	/* The source's directory is named by its id, which anyone can work out: in a shared
	 * tier path (/dev/shm) another user may have taken the name to keep the source out. */
	char taken[1024] = "";
	r = safe_dir_claim(t->root_fd, source_id, &t->dir_fd, taken, sizeof(taken), why,
			   sizeof(why));
	if (r < 0) {
		errmsg(errbuf, errlen, "tier \"%s\" at \"%s\": %s", t->name, tc->path, why);
		return r == -EPERM || r == -EINVAL ? -EPERM : errno_class(-r);
	}
	if (taken[0])
		warn_note(errbuf, errlen, "tier \"%s\" at \"%s\": %s", t->name, tc->path, taken);
	snprintf(probe, sizeof(probe), ".weir-probe-%ld", (long)getpid());
	unlinkat(t->dir_fd, probe, 0); /* left by a crash */
	fd = openat(t->dir_fd, probe, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = errno;
		errmsg(errbuf, errlen, "tier \"%s\" at \"%s\": not writable (%s)", t->name,
		       tc->path, strerror(r));
		return r == ENOSPC || r == EDQUOT ? -ENOSPC : -EACCES;
	}
	close(fd);
	unlinkat(t->dir_fd, probe, 0);
	if (fstatvfs(t->dir_fd, &vfs) < 0) {
		r = errno;
		errmsg(errbuf, errlen, "tier \"%s\" at \"%s\": statvfs: %s", t->name, tc->path,
		       strerror(r));
		return -r;
	}
	if ((uint64_t)vfs.f_bavail * vfs.f_frsize < block_size &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize + tier_dir_own_bytes(t->dir_fd) < block_size) {
		errmsg(errbuf, errlen,
		       "tier \"%s\" at \"%s\": %" PRIu64
		       " bytes free, less than one block (%" PRIu32
		       "); free some space or choose another path",
		       t->name, tc->path, (uint64_t)vfs.f_bavail * vfs.f_frsize, block_size);
		return -ENOSPC;
	}
	t->quota = tc->quota;
	return 0;
}

static int db_open(struct block_store *bs, const char *path, char *errbuf, size_t errlen)
{
	char dir[PATH_MAX], lock[PATH_MAX + 8];
	char *slash;
	int r;

	if (strlen(path) >= sizeof(dir)) {
		errmsg(errbuf, errlen, "index \"%s\": path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		r = mkdir_p(dir);
		if (r < 0) {
			errmsg(errbuf, errlen, "index \"%s\": cannot create \"%s\" (%s)", path, dir,
			       strerror(-r));
			return r;
		}
	}
	/* Two processes on one store would each trust their own in-memory index. */
	snprintf(lock, sizeof(lock), "%s.lock", path);
	bs->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (bs->lock_fd < 0) {
		r = -errno;
		errmsg(errbuf, errlen, "index \"%s\": cannot create \"%s\" (%s)", path, lock,
		       strerror(-r));
		return r;
	}
	if (flock(bs->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		errmsg(errbuf, errlen,
		       "index \"%s\": in use by another process (%s); is another weir-node running "
		       "on this state directory?",
		       path, strerror(-r));
		return r == -EWOULDBLOCK ? -EBUSY : r;
	}
	return 0;
}

static void db_disconnect(struct block_store *bs)
{
	for (unsigned i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(bs->stmts[i]);
		bs->stmts[i] = NULL;
	}
	if (bs->db && sqlite3_close(bs->db) != SQLITE_OK)
		log_debug("block store index: close: %s", sqlite3_errmsg(bs->db));
	bs->db = NULL;
}

static int quick_check_row(void *arg, int ncols, char **vals, char **names)
{
	(void)names;
	if (ncols > 0 && vals[0] && strcmp(vals[0], "ok") != 0) {
		char *m = arg;

		snprintf(m, 256, "the integrity check failed: %s", vals[0]);
		for (; *m; m++)
			if (*m == '\n')
				*m = ' ';
		return 1;
	}
	return 0;
}

/* Opens the SQLite file and checks it whole (a damaged page not read at load would fail a
 * write later). -EBADMSG with bs->db_corrupt when SQLite finds it damaged. */
static int db_connect(struct block_store *bs, const char *path, char *errbuf, size_t errlen)
{
	char bad[256] = "";
	int r;

	r = sqlite3_open_v2(path, &bs->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (r != SQLITE_OK) {
		errmsg(errbuf, errlen, "index \"%s\": cannot open (%s)", path,
		       bs->db ? sqlite3_errmsg(bs->db) : sqlite3_errstr(r));
		goto fail;
	}
	sqlite3_busy_timeout(bs->db, 5000);
	if (sqlite3_exec(bs->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
			 NULL) != SQLITE_OK)
		goto sqlite_fail;
	r = sqlite3_exec(bs->db, "PRAGMA quick_check", quick_check_row, bad, NULL);
	if (bad[0]) {
		errmsg(errbuf, errlen, "index \"%s\": %s", path, bad);
		bs->db_corrupt = true;
		return -EBADMSG;
	}
	if (r != SQLITE_OK || sqlite3_exec(bs->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK)
		goto sqlite_fail;
	for (unsigned i = 0; i < ST_COUNT; i++)
		if (sqlite3_prepare_v2(bs->db, stmt_sql[i], -1, &bs->stmts[i], NULL) != SQLITE_OK)
			goto sqlite_fail;
	return 0;

sqlite_fail:
	errmsg(errbuf, errlen, "index \"%s\": %s", path, sqlite3_errmsg(bs->db));
fail:
	if (db_errcode_corrupt(bs->db)) {
		bs->db_corrupt = true;
		return -EBADMSG;
	}
	return -EIO;
}

/* Blocks laid out for another block size are at the wrong offsets: forget them all. */
static int db_check_block_size(struct block_store *bs)
{
	sqlite3_stmt *st;
	int64_t old = -1;
	char sql[128];

	if (sqlite3_prepare_v2(bs->db, "SELECT value FROM meta WHERE key = 'block_size'", -1, &st,
			       NULL) != SQLITE_OK)
		return db_err(bs, "meta");
	if (sqlite3_step(st) == SQLITE_ROW)
		old = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (old == (int64_t)bs->block_size)
		return 0;
	if (old >= 0) {
		log_debug("block store: block size changed from %" PRId64 " to %" PRIu32
			  "; dropping every cached block",
			  old, bs->block_size);
		if (sqlite3_exec(bs->db, "DELETE FROM blocks", NULL, NULL, NULL) != SQLITE_OK)
			return db_err(bs, "DELETE FROM blocks");
		/* Their tier files go in tier_scrub(). */
	}
	snprintf(sql, sizeof(sql),
		 "INSERT OR REPLACE INTO meta(key, value) VALUES('block_size', %" PRIu32 ")",
		 bs->block_size);
	if (sqlite3_exec(bs->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_err(bs, "meta");
	return 0;
}

static int db_load(struct block_store *bs)
{
	sqlite3_stmt *st;
	char sql[256];
	int r;

	if (sqlite3_prepare_v2(bs->db, "SELECT id, path, size, mtime, etag FROM objects", -1, &st,
			       NULL) != SQLITE_OK)
		return db_err(bs, "SELECT objects");
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *path = (const char *)sqlite3_column_text(st, 1);
		const char *etag = (const char *)sqlite3_column_text(st, 4);
		struct bs_object *o;

		o = obj_new(bs->ntiers, (uint64_t)sqlite3_column_int64(st, 0), path ? path : "",
			    (uint64_t)sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
			    etag ? etag : "");
		if (!o) {
			sqlite3_finalize(st);
			return -ENOMEM;
		}
		obj_insert(bs, o);
	}
	sqlite3_finalize(st);
	if (r != SQLITE_DONE)
		return db_err(bs, "SELECT objects");

	/* Rows weir never writes, which a hand-edited or half-restored index that passes the
	 * integrity check may hold: a tier index out of the table's bounds (a negative one
	 * wrapped to 255 in b->tier), a block before the start or past the object's end. */
	snprintf(sql, sizeof(sql),
		 "DELETE FROM blocks WHERE tier < 0 OR tier >= %u OR len <= 0 OR len > %" PRIu32
		 " OR block < 0 OR obj NOT IN (SELECT id FROM objects)"
		 " OR block * %" PRIu32 " >= (SELECT size FROM objects WHERE id = obj)",
		 bs->ntiers, bs->block_size, bs->block_size);
	if (sqlite3_exec(bs->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_err(bs, "DELETE stray blocks");

	if (sqlite3_prepare_v2(bs->db,
			       "SELECT obj, block, tier, len, csum, atime FROM blocks"
			       " ORDER BY atime",
			       -1, &st, NULL) != SQLITE_OK)
		return db_err(bs, "SELECT blocks");
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct bs_object *o = obj_find(bs, (uint64_t)sqlite3_column_int64(st, 0));
		struct bs_block *b;
		struct bs_tier *t;

		if (!o)
			continue;
		b = slot_new(bs, o, (uint64_t)sqlite3_column_int64(st, 1));
		if (!b) {
			sqlite3_finalize(st);
			return -ENOMEM;
		}
		b->tier = (uint8_t)sqlite3_column_int(st, 2);
		b->len = (uint32_t)sqlite3_column_int64(st, 3);
		b->csum = (uint64_t)sqlite3_column_int64(st, 4);
		b->atime = (uint64_t)sqlite3_column_int64(st, 5);
		b->state = SLOT_VALID;
		t = &bs->tiers[b->tier];
		tier_used_add(t, b->len);
		t->blocks++;
		o->tier_blocks[b->tier]++;
		o->cached += b->len;
		lru_insert(t, b);
		if (b->atime > bs->clock)
			bs->clock = b->atime;
	}
	sqlite3_finalize(st);
	if (r != SQLITE_DONE)
		return db_err(bs, "SELECT blocks");
	return 0;
}

/* Two tiers in one directory would share their object files: a demotion would punch its copy. */
static int tiers_distinct(struct block_store *bs, const struct block_store_config *cfg,
			  char *errbuf, size_t errlen)
{
	struct stat st[BLOCK_STORE_MAX_TIERS];

	for (unsigned i = 0; i < bs->ntiers; i++) {
		if (fstat(bs->tiers[i].dir_fd, &st[i]) < 0) {
			int r = -errno;

			errmsg(errbuf, errlen, "tier \"%s\" at \"%s\": %s", bs->tiers[i].name,
			       cfg->tiers[i].path, strerror(-r));
			return r;
		}
		for (unsigned j = 0; j < i; j++) {
			if (st[i].st_dev == st[j].st_dev && st[i].st_ino == st[j].st_ino) {
				errmsg(errbuf, errlen,
				       "tiers \"%s\" and \"%s\" are the same directory (\"%s\", "
				       "\"%s\"); give each tier its own path",
				       bs->tiers[j].name, bs->tiers[i].name, cfg->tiers[j].path,
				       cfg->tiers[i].path);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* A quarter of the fd limit: other sources, sockets and FUSE need the rest. */
static size_t fd_budget(void)
{
	struct rlimit rl;
	size_t n = 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		n = rl.rlim_cur == RLIM_INFINITY ? 65536 : (size_t)rl.rlim_cur / 4;
	if (n < 16)
		n = 16;
	if (n > 65536)
		n = 65536;
	return n;
}

/* Punches every block range of one tier file that the index does not place in that tier: writes
 * and demotions cut short by a crash leave bytes that nothing counts. */
static void tier_file_scrub(struct block_store *bs, unsigned ti, struct bs_object *o, int fd)
{
	off_t pos = 0, data, hole;

	while ((data = lseek(fd, pos, SEEK_DATA)) >= 0) {
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole <= data)
			break;
		for (uint64_t blk = (uint64_t)data / bs->block_size;
		     blk * bs->block_size < (uint64_t)hole; blk++) {
			struct bs_block *b = slot_find(bs, o->id, blk);

			if (b && b->state == SLOT_VALID && b->tier == ti)
				continue;
			log_debug("block store: reclaiming unindexed block %" PRIu64
				  " of %016" PRIx64 " in tier %s",
				  blk, o->id, bs->tiers[ti].name);
			if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      (off_t)(blk * bs->block_size), bs->block_size) < 0)
				return;
		}
		pos = hole;
	}
}

/* Removes tier files of unknown objects and reclaims unindexed ranges of the others; forgets
 * blocks whose file is gone (a memory tier after a reboot), so stats and contains() tell the truth.
 */
static void tier_scrub(struct block_store *bs, unsigned ti)
{
	/* Its own descriptor: readdir moves the offset, which a dup would share. */
	int fd = openat(bs->tiers[ti].dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct htable_iter it;
	struct htable_node *n;

	htable_iter_init(&it, &bs->objs);
	while ((n = htable_iter_next(&it)))
		htable_entry(n, struct bs_object, hnode)->scrub_seen &= (uint8_t) ~(1u << ti);
	while ((de = readdir(d))) {
		struct bs_object *o;
		char *end;
		uint64_t id;

		if (de->d_name[0] == '.' || strlen(de->d_name) != 16)
			continue;
		errno = 0;
		id = strtoull(de->d_name, &end, 16);
		if (*end || errno)
			continue;
		o = obj_find(bs, id);
		if (!o || o->tier_blocks[ti] == 0) {
			unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		int ffd = openat(dirfd(d), de->d_name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);

		if (ffd < 0)
			continue;
		o->scrub_seen |= (uint8_t)(1u << ti);
		tier_file_scrub(bs, ti, o, ffd);
		close(ffd);
	}
	closedir(d);

	sqlite3_exec(bs->db, "BEGIN", NULL, NULL, NULL);
	htable_iter_init(&it, &bs->objs);
	while ((n = htable_iter_next(&it))) {
		struct bs_object *o = htable_entry(n, struct bs_object, hnode);
		struct bs_block *b, *next;

		if (o->tier_blocks[ti] == 0 || (o->scrub_seen & (1u << ti)))
			continue;
		log_debug("block store: the tier %s file of \"%s\" is gone; forgetting its "
			  "%" PRIu64 " blocks there",
			  bs->tiers[ti].name, o->path, o->tier_blocks[ti]);
		for (b = LIST_FIRST(&o->blocks); b; b = next) {
			next = LIST_NEXT(b, oslot);
			if (b->state == SLOT_VALID && b->tier == ti)
				block_drop(bs, b, true);
		}
	}
	if (sqlite3_exec(bs->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		db_err(bs, "COMMIT");
}

/* Frees every object and slot in memory, and the tables. */
static void index_free(struct block_store *bs)
{
	struct htable_iter it;
	struct htable_node *n;

	if (bs->slots.buckets) {
		htable_iter_init(&it, &bs->slots);
		while ((n = htable_iter_next(&it)))
			free(htable_entry(n, struct bs_block, hnode));
	}
	if (bs->objs.buckets) {
		htable_iter_init(&it, &bs->objs);
		while ((n = htable_iter_next(&it)))
			obj_free(htable_entry(n, struct bs_object, hnode));
	}
	htable_fini(&bs->slots);
	htable_fini(&bs->by_path);
	htable_fini(&bs->objs);
}

/* Loads the index. One that SQLite finds damaged (a disk error, a truncated copy, garbage)
 * would make the source unmountable for good: it is moved aside and the store starts cold. The
 * tier files cannot rebuild it: they are named by a hash of the object's path and carry neither
 * the path, the object's version nor the blocks' checksums, so tier_scrub() removes them. */
static int index_load(struct block_store *bs, const char *path, const char *source_id, char *errbuf,
		      size_t errlen)
{
	char why[512] = "", aside[PATH_MAX + 40];
	int r;

	r = db_connect(bs, path, why, sizeof(why));
	if (r >= 0)
		r = db_check_block_size(bs);
	if (r >= 0)
		r = db_load(bs);
	if (r >= 0)
		return 0;
	if (!bs->db_corrupt && bs->db &&
	    ((sqlite3_errcode(bs->db) & 0xff) == SQLITE_FULL ||
	     sqlite3_system_errno(bs->db) == ENOSPC || sqlite3_system_errno(bs->db) == EDQUOT)) {
		/* A full state directory must not make a new source unmountable: serve it with an
		 * index in memory, said in the log and weir stat, as a full one while running. */
		db_disconnect(bs);
		r = db_connect(bs, ":memory:", errbuf, errlen);
		if (r >= 0)
			r = db_check_block_size(bs);
		if (r < 0)
			return r;
		bs->index_full = bs->index_memory = true;
		warn_note(errbuf, errlen,
			  "block store \"%s\": the state directory is full, index \"%s\" cannot "
			  "be created: it is kept in memory (not across a restart); free space in "
			  "the state directory",
			  source_id, path);
		return 0;
	}
	if (!bs->db_corrupt) {
		if (why[0])
			errmsg(errbuf, errlen, "%s", why);
		else
			errmsg(errbuf, errlen, "index \"%s\": cannot load (%s)", path,
			       strerror(-r));
		return r;
	}
	if (!why[0] && bs->db)
		snprintf(why, sizeof(why), "index \"%s\": %s", path, sqlite3_errmsg(bs->db));
	db_disconnect(bs);
	index_free(bs);
	bs->db_corrupt = false;
	bs->clock = 0;
	bs->nfds = 0; /* obj_free() closed them */
	for (unsigned i = 0; i < bs->ntiers; i++) {
		struct bs_tier *t = &bs->tiers[i];

		t->used = t->leaving = t->blocks = 0;
		t->nheap = 0; /* it held the freed objects */
		t->heap_lost = false;
	}
	if (index_init(bs) < 0)
		return -ENOMEM;
	r = safe_dir_set_aside(path, aside, sizeof(aside));
	if (r < 0) {
		errmsg(errbuf, errlen, "%s; it cannot be moved aside (%s): remove it to start cold",
		       why, strerror(-r));
		return r;
	}
	warn_note(errbuf, errlen,
		  "block store \"%s\": %s; moved it to \"%s\" and starting with an empty cache: "
		  "the tier files are dropped and refetched on use",
		  source_id, why, aside);
	/* The new index is as private as the old one was (SQLite would make it 0644). */
	r = safe_dir_private_file(path);
	if (r < 0) {
		errmsg(errbuf, errlen, "index \"%s\": cannot create it (%s)", path, strerror(-r));
		return r;
	}
	r = db_connect(bs, path, errbuf, errlen);
	if (r >= 0)
		r = db_check_block_size(bs);
	return r;
}

/* Joins tier i to its path's pool: from here on its bytes count against the path's quota. */
static int tiers_join(struct block_store *bs, const struct block_store_config *cfg, unsigned i,
		      char *errbuf, size_t errlen)
{
	struct tier_pools *pools = bs->pools;
	const struct tier_config *tc = &cfg->tiers[i];
	struct bs_tier *t = &bs->tiers[i];
	struct tier_pool *pool;
	int r;

	pthread_mutex_lock(&bs->lock);
	tier_publish_oldest(t);
	bs_unlock(bs);
	r = tier_pool_join(pools, t->root_fd, tc->quota, cfg->high, cfg->low, &t->member, &pool);
	if (r < 0) {
		errmsg(errbuf, errlen, "tier \"%s\" at \"%s\": %s", t->name, tc->path,
		       strerror(-r));
		return r;
	}
	pthread_mutex_lock(&bs->lock);
	t->pool = pool;
	t->quota = tier_pool_quota(pool);
	t->high = tier_pool_high(pool);
	t->low = tier_pool_low(pool);
	tier_pool_add(pool, t->used);
	bs_unlock(bs);
	if (r == 1) {
		char asked[32], quota[32], high[32], low[32];

		quantity_format(tc->quota, asked, sizeof(asked));
		quantity_format(t->quota, quota, sizeof(quota));
		quantity_format(t->high, high, sizeof(high));
		quantity_format(t->low, low, sizeof(low));
		/* both sides in the same terms: the same quota with other watermarks read as
		 * "asked for 64MiB, but the path's quota is 64MiB" */
		warn_note(errbuf, errlen,
			  "tier \"%s\" at \"%s\": source \"%s\" asked for %s with watermarks "
			  "%g/%g; the path has %s with watermarks %.3g/%.3g (high %s, low %s), "
			  "set by the first source on it and shared by every source there; to "
			  "change them, unmount every source on the path",
			  t->name, tc->path, cfg->source_id, asked, cfg->high, cfg->low, quota,
			  (double)t->high / (double)t->quota, (double)t->low / (double)t->quota,
			  high, low);
	}
	return 0;
}

int block_store_open(const struct block_store_config *cfg, struct block_store **ret, char *errbuf,
		     size_t errlen)
{
	struct block_store *bs;
	int r;

	if (!cfg || !ret)
		return -EINVAL;
	if (errbuf && errlen > 0)
		errbuf[0] = '\0'; /* notes only from here on, on success */
	r = config_check(cfg, errbuf, errlen);
	if (r < 0)
		return r;
	bs = calloc(1, sizeof(*bs));
	if (!bs)
		return -ENOMEM;
	pthread_mutex_init(&bs->lock, NULL);
	pthread_mutex_init(&bs->db_lock, NULL);
	pthread_cond_init(&bs->idle, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&bs->evict_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	bs->lock_fd = -1;
	for (unsigned i = 0; i < BLOCK_STORE_MAX_TIERS; i++)
		bs->tiers[i].root_fd = bs->tiers[i].dir_fd = -1;
	bs->block_size = cfg->block_size;
	bs->by_heat = !cfg->lru;
	bs->half_life_ns = (cfg->heat_half_life_s > 0 ? cfg->heat_half_life_s : 30) * 1e9;
	bs->ntiers = cfg->ntiers;
	bs->max_fds = fd_budget();
	if (index_init(bs) < 0) {
		r = -ENOMEM;
		errmsg(errbuf, errlen, "block store: out of memory");
		goto free_bs;
	}
	for (unsigned i = 0; i < cfg->ntiers; i++) {
		struct bs_tier *t = &bs->tiers[i];
		const struct tier_config *tc = &cfg->tiers[i];
		size_t mlen = strnlen(tc->medium, sizeof(tc->medium));

		if (mlen > 0)
			snprintf(t->name, sizeof(t->name), "%.*s", (int)mlen, tc->medium);
		else
			snprintf(t->name, sizeof(t->name), "%u", i);
		t->bs = bs;
		t->index = i;
		t->member.reclaim = tier_reclaim;
		r = tier_open(t, tc, cfg->source_id, cfg->block_size, errbuf, errlen);
		if (r < 0)
			goto free_bs;
	}
	r = tiers_distinct(bs, cfg, errbuf, errlen);
	if (r < 0)
		goto free_bs;
	r = uring_io_new(URING_RINGS, URING_DEPTH, &bs->io);
	if (r == -ENOSYS || r == -EPERM || r == -EACCES) {
		log_warn("io_uring is unavailable (%s; a seccomp profile or "
			 "kernel.io_uring_disabled?); tier I/O of \"%s\" uses pread/pwrite",
			 strerror(-r), cfg->source_id);
		r = uring_io_new(0, 0, &bs->io);
	}
	if (r < 0) {
		errmsg(errbuf, errlen, "block store: cannot set up tier I/O (%s)", strerror(-r));
		goto free_bs;
	}
	r = db_open(bs, cfg->index_path, errbuf, errlen);
	if (r < 0)
		goto free_bs;
	r = index_load(bs, cfg->index_path, cfg->source_id, errbuf, errlen);
	if (r < 0)
		goto free_bs;
	bs->atimes_flushed = now_ns(CLOCK_MONOTONIC);
	for (unsigned i = 0; i < bs->ntiers; i++)
		tier_scrub(bs, i);

	bs->pools = cfg->pools;
	if (!bs->pools) {
		r = tier_pools_new(&bs->own_pools);
		if (r < 0) {
			errmsg(errbuf, errlen, "block store: out of memory");
			goto free_bs;
		}
		bs->pools = bs->own_pools;
	}
	for (unsigned i = 0; i < bs->ntiers; i++) {
		r = tiers_join(bs, cfg, i, errbuf, errlen);
		if (r < 0)
			goto free_bs;
	}
	/* The quotas may have shrunk since the index was written, or other stores fill the paths.
	 */
	tiers_settle(bs);
	r = -pthread_create(&bs->evictor, NULL, evictor_main, bs);
	if (r < 0) {
		errmsg(errbuf, errlen, "block store: cannot start its evictor (%s)", strerror(-r));
		goto free_bs;
	}
	bs->evictor_started = true;

	log_debug("block store \"%s\": %zu objects, %zu blocks loaded from \"%s\"", cfg->source_id,
		  htable_size(&bs->objs), htable_size(&bs->slots), cfg->index_path);
	*ret = bs;
	return 0;

free_bs:
	block_store_free(bs);
	return r;
}

void block_store_free(struct block_store *bs)
{
	if (!bs)
		return;
	if (bs->evictor_started) {
		pthread_mutex_lock(&bs->lock);
		bs->evict_stop = true;
		pthread_cond_signal(&bs->evict_cond);
		bs_unlock(bs);
		pthread_join(bs->evictor, NULL);
	}
	/* First: other stores on the paths may be reclaiming from this one. Its bytes stay on
	 * disk but leave the count: only open stores can make room. */
	for (unsigned i = 0; i < bs->ntiers; i++) {
		struct bs_tier *t = &bs->tiers[i];
		struct tier_pool *pool = t->pool;

		if (!pool)
			continue;
		pthread_mutex_lock(&bs->lock);
		tier_pool_sub(pool, t->used);
		t->pool = NULL;
		bs_unlock(bs);
		tier_pool_leave(bs->pools, pool, &t->member);
	}
	tier_pools_free(bs->own_pools);
	if (bs->db)
		atimes_flush(bs);
	db_disconnect(bs);
	pthread_mutex_lock(&bs->lock); /* file work still queued, if any, is done here */
	bs_unlock(bs);
	index_free(bs);
	free(bs->atimes);
	for (unsigned i = 0; i < BLOCK_STORE_MAX_TIERS; i++) {
		free(bs->tiers[i].dir);
		if (bs->tiers[i].root_fd >= 0)
			close(bs->tiers[i].root_fd);
		if (bs->tiers[i].dir_fd >= 0)
			close(bs->tiers[i].dir_fd);
	}
	uring_io_free(bs->io);
	if (bs->lock_fd >= 0)
		close(bs->lock_fd);
	for (unsigned i = 0; i < BLOCK_STORE_MAX_TIERS; i++)
		free(bs->tiers[i].heap);
	pthread_cond_destroy(&bs->evict_cond);
	pthread_cond_destroy(&bs->idle);
	pthread_mutex_destroy(&bs->db_lock);
	pthread_mutex_destroy(&bs->lock);
	free(bs);
}

/* ---- operations ---- */

/* A free id for a version of path: derived from the path and the version, so a fetch still in
 * flight for a replaced version cannot land in a later one that happens to reuse its id. */
static uint64_t obj_new_id(struct block_store *bs, const char *path, const struct ufs_attr *attr)
{
	uint64_t version = XXH3_64bits(attr->etag, strlen(attr->etag)) ^ htable_hash_u64(attr->size) ^
			   htable_hash_u64((uint64_t)attr->mtime + 1);
	uint64_t id = XXH3_64bits_withSeed(path, strlen(path), version);

	while (obj_find(bs, id))
		id++;
	return id;
}

/* Unlinks o's tier files: readers holding them open (pins, passthrough) keep the old bytes, and
 * the next version's blocks go to files of their own. */
/* Under lock: the unlinks are done once it is let go. */
static void obj_unlink_files(struct block_store *bs, const struct bs_object *o)
{
	char name[17];

	snprintf(name, sizeof(name), "%016" PRIx64, o->id);
	for (unsigned t = 0; t < bs->ntiers; t++)
		defer_unlink(bs, bs->tiers[t].dir_fd, name);
}

/* Replaces the current version o: out of the path map first (a sync racing with the waits
 * below creates the new version, never finds this one), then its blocks and files go; freed
 * here if nobody holds it, else by the last release. May drop the lock while a block is busy. */
static void obj_retire(struct block_store *bs, struct bs_object *o)
{
	log_debug("block store: \"%s\" changed; dropping its %" PRIu64 " cached bytes", o->path,
		  o->cached);
	o->retired = true; /* from here no punch: the files go whole */
	htable_remove(&bs->by_path, &o->path_node);
	/* Memory stops serving them whatever the index does: rows a failed DELETE kept go at the
	 * next load (their object's row is replaced). The hold keeps o until the end here. */
	o->holds++;
	obj_drop_blocks(bs, o);
	o->holds--;
	obj_unlink_files(bs, o);
	obj_close_idle(bs, o);
	if (o->holds == 0 && LIST_EMPTY(&o->blocks))
		obj_reap(bs, o);
}

int block_store_object_sync(struct block_store *bs, const char *path, const struct ufs_attr *attr,
			    uint64_t *ret_obj)
{
	struct bs_object *o;
	int r;

	if (!bs || !path || !attr)
		return -EINVAL;
	pthread_mutex_lock(&bs->lock);
	while ((o = obj_find_path(bs, path))) {
		if (o->indexing) { /* another open of this path writes its row: take its result */
			pthread_cond_wait(&bs->idle, &bs->lock);
			continue;
		}
		if (o->size == attr->size && o->mtime == attr->mtime &&
		    strcmp(o->etag, attr->etag) == 0) {
			*ret_obj = o->id;
			r = 0;
			goto unlock;
		}
		obj_retire(bs, o); /* drops the lock at times: look again */
	}
	o = obj_new(bs->ntiers, obj_new_id(bs, path, attr), path, attr->size, attr->mtime,
		    attr->etag);
	if (!o) {
		r = -ENOMEM;
		goto unlock;
	}
	/* In the tables while its row is written, so that its id is not taken again and a sync of
	 * the same path waits for it; the lock is not held across the INSERT (it may wait behind a
	 * batch of evictions or atimes on db_lock, or on disk), so hits go on meanwhile. id, path,
	 * size, mtime and etag do not change after obj_new: db_obj_write reads them unlocked. */
	o->indexing = true;
	obj_insert(bs, o);
	bs_unlock(bs);
	/* INSERT OR REPLACE: the row of the retired version (same path) goes */
	r = db_obj_write(bs, ST_OBJ_INSERT, o);
	pthread_mutex_lock(&bs->lock);
	r = index_space(bs, r);
	o->indexing = false;
	pthread_cond_broadcast(&bs->idle);
	if (r < 0) {
		htable_remove(&bs->by_path, &o->path_node);
		htable_remove(&bs->objs, &o->hnode);
		if (o->rank_stale) /* heat added by id while its row was written */
			TAILQ_REMOVE(&bs->rank_stale, o, stale_link);
		obj_free(o);
		goto unlock;
	}
	*ret_obj = o->id;
unlock:
	bs_unlock(bs);
	return r;
}

int block_store_acquire(struct block_store *bs, uint64_t obj, uint64_t block, struct block_ref *ret)
{
	struct bs_block *b;
	struct bs_object *o;
	void *buf;
	int fd, r;

	if (!bs || !ret)
		return -EINVAL;
	pthread_mutex_lock(&bs->lock);
	for (;;) {
		b = slot_find(bs, obj, block);
		if (b && (b->busy == BUSY_EVICTING ||
			  (b->busy == BUSY_PUNCHING && b->state != SLOT_VALID))) {
			r = -ENOENT; /* going: a miss now, not a wait for the batch or the punch */
			goto miss;
		}
		if (b && b->busy != BUSY_NONE) {
			pthread_cond_wait(&bs->idle, &bs->lock);
			continue;
		}
		if (!b || b->state != SLOT_VALID) {
			r = -ENOENT;
			goto miss;
		}
		o = b->o;
		if (o->fd[b->tier] < 0) {
			/* Opened with the lock let go; then the lookup again (b may have gone). */
			o->holds++;
			fd = obj_fd_open(bs, o, b->tier, false);
			obj_unhold(bs, o);
			if (fd >= 0)
				continue;
			b = slot_find(bs, obj, block);
			if (b && b->state == SLOT_VALID && b->busy == BUSY_NONE &&
			    b->o->fd[b->tier] < 0 && fd == -ENOENT)
				block_drop_unlocked(bs, b); /* the tier was emptied under us */
			log_debug("block %" PRIu64 " of %016" PRIx64 ": opening its tier file: %s",
				  block, obj, strerror(-fd));
			r = -ENOENT;
			goto miss;
		}
		fd = obj_fd(bs, o, b->tier, false);
		if (fd < 0) {
			log_debug("block %" PRIu64 " of %016" PRIx64 ": opening its tier file: %s",
				  block, obj, strerror(-fd));
			if (fd == -ENOENT)
				block_drop_unlocked(bs, b); /* the tier was emptied under us */
			r = -ENOENT;
			goto miss;
		}
		stamp_check(bs, o, b->tier, fd);
		if (b->verified)
			break;

		/* First use since open (the bytes may predate a crash) or since the file was
		 * changed behind weir's back. */
		uint32_t len = b->len;
		uint64_t csum = b->csum;

		b->busy = BUSY_VERIFYING;
		o->holds++;
		bs_unlock(bs);
		buf = malloc(len);
		r = buf ? block_read_verify(bs, fd, block, len, csum, buf) : -ENOMEM;
		free(buf);
		pthread_mutex_lock(&bs->lock);
		block_unbusy(bs, b);
		if (r == -ENOMEM)
			goto miss;
		if (r < 0) {
			if (r == -EBADMSG) {
				defer_warn(bs,
					   "block %" PRIu64
					   " of \"%s\" failed its checksum in tier "
					   "%s; dropped",
					   block, o->path, bs->tiers[b->tier].name);
				bs->checksum_failures++;
			} else {
				log_debug("block %" PRIu64 " of %016" PRIx64 ": reading: %s", block,
					  obj, strerror(-r));
			}
			block_drop_unlocked(bs, b);
			r = -ENOENT;
			goto miss;
		}
		b->verified = true;
	}
	/* Off the LRU and heat lists while pinned: back on at the last release. */
	lru_unlink(&bs->tiers[b->tier], b);
	b->pins++;
	o->holds++;
	bs->hits++;
	*ret = (struct block_ref){
	    .fd = fd,
	    .off = block * bs->block_size,
	    .len = b->len,
	    .tier = b->tier,
	    .csum = b->csum,
	};
	bs_unlock(bs);
	return 0;

miss:
	bs->misses++;
	bs_unlock(bs);
	return r;
}

int block_store_evict_block(struct block_store *bs, uint64_t obj, uint64_t block)
{
	struct evict_item it;
	struct bs_block *b;
	int r = 0;

	pthread_mutex_lock(&bs->lock);
	b = slot_find(bs, obj, block);
	if (!b || b->state != SLOT_VALID) {
		r = -ENOENT;
	} else if (b->pins > 0 || b->busy != BUSY_NONE) {
		r = -EBUSY;
	} else {
		evict_take(bs, b, &it);
		evict_commit(bs, &it, 1); /* drops the lock around the index and the punch */
	}
	bs_unlock(bs);
	return r;
}

void block_store_release(struct block_store *bs, uint64_t obj, uint64_t block)
{
	struct bs_block *b;
	struct bs_object *o;

	if (!bs)
		return;
	pthread_mutex_lock(&bs->lock);
	b = slot_find(bs, obj, block);
	if (!b || b->pins == 0) {
		log_debug("block store: release of unpinned block %" PRIu64 " of %016" PRIx64,
			  block, obj);
		goto unlock;
	}
	o = b->o;
	b->pins--;
	o->holds--;
	if (b->pins == 0 && b->punch_mask && b->busy == BUSY_NONE && !o->retired) {
		/* The copies dropped while it was pinned (its file changed upstream, say) are
		 * punched with the lock dropped: busy, the slot is neither freed nor written (a
		 * put waits, a lookup of a dropped slot misses), its fds stay open (the hold). */
		int fds[BLOCK_STORE_MAX_TIERS];
		unsigned mask = 0, want = b->punch_mask;

		b->punch_mask = 0;
		b->busy = BUSY_PUNCHING; /* from here the lock may go (a file to open) */
		o->holds++;
		for (unsigned t = 0; t < bs->ntiers; t++) {
			if (!(want & (1u << t)) || (b->state == SLOT_VALID && b->tier == t))
				continue;
			fds[t] = obj_fd_open(bs, o, t, false);
			if (fds[t] >= 0) {
				mask |= 1u << t;
				o->writing[t]++; /* the punch changes the file: no stamp check */
			}
		}
		for (unsigned t = 0; t < bs->ntiers; t++) /* an fd another open trimmed */
			if ((mask & (1u << t)) && o->fd[t] != fds[t])
				fds[t] = obj_fd(bs, o, t, false);
		if (!mask) {
			block_unbusy(bs, b);
		} else {
			bs_unlock(bs);
			for (unsigned t = 0; t < bs->ntiers; t++)
				if ((mask & (1u << t)) &&
				    fallocate(fds[t], FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					      (off_t)(block * bs->block_size), bs->block_size) < 0)
					log_debug("punching block %" PRIu64 " of %016" PRIx64
						  " in tier %s: %m",
						  block, obj, bs->tiers[t].name);
			pthread_mutex_lock(&bs->lock);
			for (unsigned t = 0; t < bs->ntiers; t++)
				if ((mask & (1u << t)) && --o->writing[t] == 0)
					stamp_record(o, t, fds[t]);
			block_unbusy(bs, b); /* and the hold */
		}
	} else if (b->pins == 0 && b->punch_mask) {
		for (unsigned t = 0; t < bs->ntiers; t++)
			if ((b->punch_mask & (1u << t)) &&
			    !(b->state == SLOT_VALID && b->tier == t))
				punch(bs, o, t, block); /* retired (a no-op) or busy: as before */
		b->punch_mask = 0;
	}
	if (b->pins == 0 && b->state == SLOT_VALID && !b->listed) {
		/* Back on the lists, as used now: its LRU age is the time of its last release. */
		b->atime = clock_tick(bs);
		lru_insert(&bs->tiers[b->tier], b);
		atime_record(bs, b);
	}
	slot_maybe_free(bs, b);
	obj_close_idle(bs, o);
	if (o->retired && o->holds == 0 && LIST_EMPTY(&o->blocks))
		obj_reap(bs, o);
unlock:
	bs_unlock(bs);
}

bool block_store_contains(struct block_store *bs, uint64_t obj, uint64_t block)
{
	struct bs_block *b;
	bool ret;

	if (!bs)
		return false;
	pthread_mutex_lock(&bs->lock);
	b = slot_find(bs, obj, block);
	ret = b && b->state == SLOT_VALID;
	bs_unlock(bs);
	return ret;
}

static int put(struct block_store *bs, uint64_t obj, uint64_t block, const void *data, uint32_t len,
	       const uint64_t *known_sum);

int block_store_put(struct block_store *bs, uint64_t obj, uint64_t block, const void *data,
		    uint32_t len)
{
	return put(bs, obj, block, data, len, NULL);
}

int block_store_put_summed(struct block_store *bs, uint64_t obj, uint64_t block, const void *data,
			   uint32_t len, uint64_t xxh3)
{
	return put(bs, obj, block, data, len, &xxh3);
}

static int put(struct block_store *bs, uint64_t obj, uint64_t block, const void *data, uint32_t len,
	       const uint64_t *known_sum)
{
	struct bs_tier *t;
	struct bs_object *o;
	struct bs_block *b;
	uint64_t csum, off;
	ssize_t n;
	int fd, r, fruitless = 0;

	if (!bs || !data || len == 0 || len > bs->block_size)
		return -EINVAL;
	t = &bs->tiers[0];
	off = block * bs->block_size;
	pthread_mutex_lock(&bs->lock);
again:
	o = obj_find(bs, obj);
	if (!o) {
		r = -ENOENT;
		goto unlock;
	}
	if (o->retired) {
		r = -ESTALE; /* bytes of a replaced version: its reader gets them, the cache not */
		goto unlock;
	}
	b = slot_find(bs, obj, block);
	if (b && b->busy != BUSY_NONE) {
		pthread_cond_wait(&bs->idle, &bs->lock);
		goto again;
	}
	if (b && b->state == SLOT_VALID) {
		r = 0; /* the same version is cached already (object_sync drops changed ones) */
		goto unlock;
	}
	if (tier_usage(t) + len > t->quota) {
		uint64_t freed;

		if (tier_usage(t) - t->leaving + len <= t->quota) {
			/* A demotion in flight will make the room. */
			pthread_cond_wait(&bs->idle, &bs->lock);
			goto again;
		}
		/* The least recently used blocks on the tier path go, whichever store's: the
		 * pool calls into each store, this one included, so this one's lock is dropped. */
		bs_unlock(bs);
		freed = tier_pool_reclaim(t->pool, t->quota - len);
		pthread_mutex_lock(&bs->lock);
		/* Nothing freed by this call can mean another reclaim (the evictor's) made the
		 * room first and a concurrent put took it: try again before giving up. */
		if (freed == 0 && tier_usage(t) + len > t->quota && ++fruitless >= 8) {
			log_debug("block store: tier %s full of pinned blocks", t->name);
			r = -ENOSPC;
			goto unlock;
		}
		goto again;
	}
	if (o->fd[0] < 0) {
		/* Opened (created) with the lock let go; then everything again. */
		o->holds++;
		fd = obj_fd_open(bs, o, 0, true);
		obj_unhold(bs, o);
		if (fd >= 0)
			goto again;
		r = fd == -ENOSPC ? -ENOSPC : -EIO;
		goto unlock;
	}
	fd = obj_fd(bs, o, 0, true);
	if (fd < 0) {
		r = fd == -ENOSPC ? -ENOSPC : -EIO;
		goto unlock;
	}
	if (!b) {
		b = slot_new(bs, o, block);
		if (!b) {
			r = -ENOMEM;
			goto close_idle;
		}
	}
	stamp_check(bs, o, 0, fd);
	b->busy = BUSY_WRITING;
	/* A pin left from a dropped version must not punch the range being written. */
	b->punch_mask &= (uint8_t)~1u;
	o->holds++;
	o->writing[0]++;
	tier_used_add(t, len);
	bs_unlock(bs);

	csum = known_sum ? *known_sum : block_sum(data, len);
	r = 0;
	n = uring_io_pwrite(bs->io, fd, data, len, off);
	if (n == -ENOSPC) {
		/* The filesystem is fuller than the quota thinks: make room and try once more. */
		pthread_mutex_lock(&bs->lock);
		tier_shrink(bs, 0, tier_usage(t) > 2ULL * len ? tier_usage(t) - 2ULL * len : 0);
		bs_unlock(bs);
		n = uring_io_pwrite(bs->io, fd, data, len, off);
	}
	if (n >= 0) {
		/* Its row, before lock: the slot is busy, so nothing drops the object's rows
		 * (obj_drop_blocks waits for it) until the row is in. */
		int64_t args[] = {(int64_t)obj, (int64_t)block, 0,
				  (int64_t)len, (int64_t)csum,	(int64_t)now_ns(CLOCK_REALTIME)};

		r = db_run(bs, ST_BLK_INSERT, 6, args);
	}
	/* Failed: whatever reached the tier goes, still without the lock (b is busy). */
	if ((n < 0 || r < 0) && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					  (off_t)off, bs->block_size) < 0)
		log_debug("punching block %" PRIu64 " of %016" PRIx64 " in tier %s: %m", block, obj,
			  t->name);

	pthread_mutex_lock(&bs->lock);
	if (--o->writing[0] == 0)
		stamp_record(o, 0, fd);
	if (n >= 0) {
		b->atime = clock_tick(bs);
	} else {
		log_debug("block store: writing block %" PRIu64 " of %016" PRIx64 " to tier %s: %s",
			  block, obj, t->name, strerror((int)-n));
		r = n == -ENOSPC ? -ENOSPC : -EIO;
	}
	block_unbusy(bs, b);
	if (r < 0) {
		tier_used_sub(t, len); /* its bytes were punched above */
		slot_maybe_free(bs, b);
		goto close_idle;
	}
	b->state = SLOT_VALID;
	b->tier = 0;
	b->len = len;
	b->csum = csum;
	b->verified = true;
	t->blocks++;
	o->tier_blocks[0]++;
	o->cached += len;
	lru_insert(t, b);
	r = 0;
	if (tier_usage(t) > t->high)
		evictor_kick_locked(bs); /* down to the low watermark, in the background */
close_idle:
	obj_close_idle(bs, o);
unlock:
	bs_unlock(bs);
	return r;
}

void block_store_settle(struct block_store *bs)
{
	if (!bs)
		return;
	/* A round of the evictor that is due or running ends first: from here the figures hold
	 * still until the next put. */
	pthread_mutex_lock(&bs->lock);
	while (bs->evictor_started && !bs->evict_stop && (bs->evict_busy || bs->evict_kick))
		pthread_cond_wait(&bs->idle, &bs->lock);
	bs_unlock(bs);
	tiers_settle(bs);
}

int block_store_invalidate(struct block_store *bs, uint64_t obj)
{
	struct bs_object *o;
	int r = 0;

	if (!bs)
		return -EINVAL;
	pthread_mutex_lock(&bs->lock);
	o = obj_find(bs, obj);
	if (o)
		r = obj_drop_blocks(bs, o);
	bs_unlock(bs);
	return r;
}

/* A walk of the object table under the store's lock: memory only (a hit waits about a
 * millisecond per 100k objects), and only when someone asks (weir stat). Blocks are all one
 * allocation size: one is measured, the rest counted. */
uint64_t block_store_memory(struct block_store *bs)
{
	if (!bs)
		return 0;
	uint64_t bytes = malloc_usable_size(bs);
	pthread_mutex_lock(&bs->lock);
	bytes += htable_bytes(&bs->objs) + htable_bytes(&bs->slots) + htable_bytes(&bs->by_path) +
		 malloc_usable_size(bs->atimes);
	for (unsigned t = 0; t < bs->ntiers; t++)
		bytes += malloc_usable_size(bs->tiers[t].heap);
	struct htable_iter it;
	struct htable_node *n;
	htable_iter_init(&it, &bs->objs);
	while ((n = htable_iter_next(&it))) {
		const struct bs_object *o = htable_entry(n, struct bs_object, hnode);
		bytes += malloc_usable_size((void *)o); /* its path and ETag too */
	}
	htable_iter_init(&it, &bs->slots);
	n = htable_iter_next(&it);
	if (n)
		bytes += (uint64_t)htable_size(&bs->slots) *
			 malloc_usable_size(htable_entry(n, struct bs_block, hnode));
	bs_unlock(bs);
	return bytes;
}

void block_store_get_stats(struct block_store *bs, struct block_store_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (!bs)
		return;
	pthread_mutex_lock(&bs->lock);
	ret->ntiers = bs->ntiers;
	for (unsigned i = 0; i < bs->ntiers; i++) {
		ret->tiers[i].quota = bs->tiers[i].quota;
		ret->tiers[i].used = bs->tiers[i].used;
		ret->tiers[i].blocks = bs->tiers[i].blocks;
	}
	ret->hits = bs->hits;
	ret->misses = bs->misses;
	ret->evictions = bs->evictions;
	ret->demotions = bs->demotions;
	ret->checksum_failures = bs->checksum_failures;
	ret->victim_steps = bs->victim_steps;
	ret->objects = htable_size(&bs->objs);
	ret->index_full = bs->index_full;
	bs_unlock(bs);
}

uint64_t block_store_object_cached(struct block_store *bs, uint64_t obj)
{
	struct bs_object *o;
	uint64_t ret = 0;

	if (!bs)
		return 0;
	pthread_mutex_lock(&bs->lock);
	o = obj_find(bs, obj);
	if (o)
		ret = o->cached;
	bs_unlock(bs);
	return ret;
}

uint32_t block_store_block_size(const struct block_store *bs)
{
	return bs->block_size;
}

int block_store_object_complete(struct block_store *bs, const char *path,
				const struct ufs_attr *attr, uint64_t *ret_obj)
{
	struct bs_object *o;
	int r = -ENOENT;

	pthread_mutex_lock(&bs->lock);
	o = obj_find_path(bs, path);
	if (o && !o->indexing && o->size == attr->size && o->mtime == attr->mtime &&
	    strcmp(o->etag, attr->etag) == 0 && o->cached >= o->size) {
		*ret_obj = o->id;
		r = 0;
	}
	bs_unlock(bs);
	return r;
}

int block_store_object_find(struct block_store *bs, const char *path, uint64_t *ret_obj)
{
	struct bs_object *o;
	int r = -ENOENT;

	pthread_mutex_lock(&bs->lock);
	o = obj_find_path(bs, path);
	if (o && !o->indexing) {
		*ret_obj = o->id;
		r = 0;
	}
	bs_unlock(bs);
	return r;
}

void block_store_set_heat(struct block_store *bs, uint64_t obj, double heat)
{
	pthread_mutex_lock(&bs->lock);
	struct bs_object *o = obj_find(bs, obj);
	if (o) {
		o->heat = heat;
		o->heat_ns = now_ns(CLOCK_MONOTONIC);
		obj_rank_update(bs, o);
	}
	bs_unlock(bs);
}

/* Adds pages read, times weight, to o's decayed heat, which this adder may take up to
 * BLOCK_STORE_HEAT_CAP_READS reads of the whole object at its weight: re-reads of the same
 * (page-cached) bytes beyond that add nothing, so no reader can make an object look hotter
 * than that many recent reads of it. Heat above the cap that a heavier namespace gave stays (and
 * decays). Under lock. */
static void heat_add(struct block_store *bs, struct bs_object *o, double pages, double weight)
{
	uint64_t now = now_ns(CLOCK_MONOTONIC);
	double w = weight > 0 ? weight : 1.0;
	double size_pages = (double)((o->size + HEAT_PAGE - 1) / HEAT_PAGE);
	double cap = BLOCK_STORE_HEAT_CAP_READS * (size_pages > 1 ? size_pages : 1) * w;
	double before = obj_heat_now(bs, o, now);
	double after = before + (pages > 0 ? pages : 0) * w;

	if (after > cap)
		after = before > cap ? before : cap;
	o->heat = after;
	o->heat_ns = now;
	obj_rank_raise(bs, o);
}

void block_store_add_heat(struct block_store *bs, uint64_t obj, double pages, double weight)
{
	pthread_mutex_lock(&bs->lock);
	struct bs_object *o = obj_find(bs, obj);
	if (o)
		heat_add(bs, o, pages, weight);
	bs_unlock(bs);
}

int block_store_add_heat_current(struct block_store *bs, uint64_t obj, double pages, double weight)
{
	int r = -ESTALE;

	pthread_mutex_lock(&bs->lock);
	struct bs_object *o = obj_find(bs, obj);
	if (o && !o->retired) {
		heat_add(bs, o, pages, weight);
		r = 0;
	}
	bs_unlock(bs);
	return r;
}
