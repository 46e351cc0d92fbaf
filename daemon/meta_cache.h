/* SPDX-License-Identifier: Apache-2.0 */
/* Metadata cache of one source: directory listings and validated object versions, kept in
 * memory and persisted in SQLite, so a restarted daemon serves a warm tree without asking the
 * UFS again while the entries are younger than the view's metadata TTL. When the UFS cannot be
 * reached (a connection failure, timeout or 5xx, never a 404), entries past their TTL are still
 * served up to max-stale longer (stale-if-error), and the outage is reported. Thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta_listing.h"
#include "ufs.h"

struct meta_cache;

/* How long past its TTL an entry may be served while the UFS is unreachable, by default. */
#define META_CACHE_MAX_STALE_DEFAULT_MS (24u * 3600 * 1000)

/* Opens (creating) the cache persisted at db_path for UFS u (borrowed). A file SQLite finds
 * damaged is moved to <db_path>.corrupt-<UTC time> and the cache starts empty; that is logged
 * and appended to note (if not NULL), for the user who mounted. Returns 0 or -errno. */
int meta_cache_open(const char *db_path, struct ufs *u, struct meta_cache **ret, char *note,
		    size_t notelen);
void meta_cache_free(struct meta_cache *mc);
/* The UFS mc lists (borrowed: as long as mc). */
struct ufs *meta_cache_get_ufs(struct meta_cache *mc);

/* Sets how long past its TTL a listing or version may be served while the UFS is unreachable
 * (0: never). Any thread; applies from the next call. */
void meta_cache_set_max_stale(struct meta_cache *mc, uint64_t max_stale_ms);

/* The listing of dir ("/" or "/a/b"), from the cache when younger than ttl_ms, else from the
 * UFS (or, while the UFS is unreachable, from the cache up to max-stale past ttl_ms; and while
 * another caller is listing dir again, the expired listing, within the same bound). On
 * success *ret holds a reference the caller drops with meta_listing_unref(); the entries are
 * shared, never copied. */
int meta_cache_list(struct meta_cache *mc, const char *dir, unsigned ttl_ms,
		    struct meta_listing **ret);

/* Attributes of path as its parent's listing gives them (a stat when the listing has no
 * size): one hash lookup in a cached listing. "/" is a directory. -ENOENT when the parent
 * lists no such name. */
int meta_cache_getattr(struct meta_cache *mc, const char *path, unsigned ttl_ms,
		       struct ufs_attr *ret);

/* The object's current version, validated at the UFS (stat) unless a validation younger than
 * ttl_ms is recorded and force is false (or, unless force, the UFS is unreachable and the
 * validation is within max-stale). *ret_changed: a different version had been validated
 * before (its cached blocks are stale). One ask of the UFS per path at a time: a call without
 * force that comes while another asks for path waits for that answer (its error too) instead
 * of asking; a forced one asks itself, and an older answer that comes last is not stored over
 * its own. Any thread; blocks for a UFS round trip at most (its own or the one it waits for). */
int meta_cache_validate(struct meta_cache *mc, const char *path, unsigned ttl_ms, bool force,
			struct ufs_attr *ret, bool *ret_changed);

/* As meta_cache_validate() without force, but never asks the UFS: the version a validation or
 * an exact listing (S3) younger than ttl_ms gives, else -EAGAIN. For a reply that may guess
 * (READDIRPLUS) and leave the rest to a later request that may wait for the UFS. */
int meta_cache_validate_cached(struct meta_cache *mc, const char *path, unsigned ttl_ms,
			       struct ufs_attr *ret, bool *ret_changed);

/* Forgets what is known of path after weir changed it: its validated version, its listing if
 * it is a directory, and its parent's listing, so the next look asks the UFS (and never serves
 * them stale). */
void meta_cache_invalidate(struct meta_cache *mc, const char *path);

/* As meta_cache_invalidate() for every path below directory dir ("/d/...", not "/d"), after
 * weir renamed it: a name below it that was validated or listed before names another file now
 * (or none). O(paths cached). Any thread. */
void meta_cache_invalidate_below(struct meta_cache *mc, const char *dir);

/* A write through weir changed the bytes of file path (its writer still open): its validated
 * version is expired, so that the next open asks the UFS. A hash lookup, and a database update
 * only for the first write after a validation. The parent's listing (its sizes) is left to
 * meta_cache_invalidate() once the writer is done: a lookup per write would list it again; until
 * it is listed again, a size of it that lags the object's is not reported as a wrong listing. Any
 * thread. */
void meta_cache_written(struct meta_cache *mc, const char *path);

/* A write through weir of file path begins (meta_cache_written follows once it is done, exactly
 * once): a listing of its parent until it is listed again may give a size that lags the file's
 * by it, which is not reported as a wrong listing, nor is any listing while a write is under
 * way; a validation under way is stored expired. Any thread. */
void meta_cache_writing(struct meta_cache *mc, const char *path);

/* What the cache knows of the UFS's reachability, for stat and top. */
struct meta_cache_health {
	int64_t down_since_ms;	/* 0: the UFS answered the last time it was asked */
	int down_err;		/* -errno of the last failure while down */
	char cause[256];	/* the UFS's message for it ("http://h/: Connection refused") */
	uint64_t stale_served;	/* listings and versions served past their TTL, this outage */
	uint64_t stale_refused; /* ...refused as older than max-stale (readers got an error) */
	int64_t stale_age_ms;	/* age of the oldest entry served stale, this outage */
	uint64_t max_stale_ms;
};
void meta_cache_get_health(struct meta_cache *mc, struct meta_cache_health *ret);
/* Heap bytes of the cached listings and versions, as malloc counts them; not SQLite's. A walk
 * under the cache's lock (memory only; only when someone asks: weir stat). Any thread. */
uint64_t meta_cache_memory(struct meta_cache *mc);

/* Milliseconds since the epoch; the clock the cache ages entries by. */
int64_t meta_cache_now_ms(void);
