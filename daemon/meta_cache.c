// SPDX-License-Identifier: Apache-2.0
// Metadata cache: listings (refcounted, shared with readers) and validations in memory
// (strmap), written through to SQLite and loaded back at open. Neither the UFS nor SQLite is
// called with the map lock held; an outage of the UFS is tracked here, per source.
#include "meta_cache.h"

#include <errno.h>
#include <malloc.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "safe_dir.h"
#include "strmap.h"

/* While the UFS is down, one caller asks it again this often; the others serve from the
 * cache at once instead of each waiting for its retries to fail. */
#define META_CACHE_PROBE_MS 3000

struct cached_dir {
	struct meta_listing *l;
	bool changed;	 /* weir changed it, or an object disagreed: never served stale */
	bool refreshing; /* one caller asks the UFS for a newer l; the others serve l meanwhile */
	/* weir wrote an object in it since (or while) l was listed: a size l gives may lag the
	 * object's by those writes, which says nothing wrong of the listing */
	bool written;
};

struct validation {
	int64_t at_ms;
	bool changed; /* weir changed it: never served stale */
	/* the ask attr came from (mc->asks when it began; 0: read from meta.db): an answer to an
	 * older ask that comes after it is not stored over it */
	uint64_t seq;
	struct ufs_attr attr;
};

/* One validation asking the UFS for a path. The non-forced validations of that path that come
 * meanwhile wait for its answer instead of asking too (a reader's LOOKUP and the directory
 * stream's prefetch of the same next file sent two HEADs). All fields under lock; freed by the
 * last of the asker and its waiters to be done with it. */
struct asking {
	unsigned waiters; /* validations waiting for done */
	bool done;	  /* the asker has its answer (and has stored it, if it could) */
	/* done: the answer is not for the waiters, who look again: weir changed something while
	 * it was asked, or a newer ask (a forced one) stored its answer first */
	bool stale;
	int err; /* done: what the asker returns, 0 or -errno */
	/* done, err 0: the version, and whether it differs from the one validated before */
	bool changed;
	struct ufs_attr attr;
};

struct meta_cache {
	struct ufs *ufs;
	/* Guards dirs, valid, asking, down and the counters below; held for map operations only,
	 * never across a UFS call, SQLite or any other I/O. Released while waiting on asked. */
	pthread_mutex_t lock;
	/* With lock: broadcast when an ask (struct asking) is done. Waited on only by a
	 * non-forced validation that may ask, never while the UFS is known down (a probe there
	 * may take the full timeout; the others serve stale at once). */
	pthread_cond_t asked;
	/* Serialises SQLite transactions; held across disk I/O. lock may be taken briefly under
	 * it, never the other way round. */
	pthread_mutex_t db_lock;
	sqlite3 *db;	     /* under db_lock */
	bool persist_failed; /* under db_lock: a write failed and was logged (once, not per request)
			      */
	struct strmap *dirs; /* dir path -> struct cached_dir, under lock */
	struct strmap *valid; /* object path -> struct validation, under lock */
	/* object path -> struct asking, under lock: the newest ask of each path at the UFS */
	struct strmap *asking;
	uint64_t asks; /* under lock: asks begun, numbering them (struct validation.seq) */
	atomic_uint_fast64_t max_stale_ms;
	struct meta_cache_health down; /* under lock; max_stale_ms unused here */
	int64_t next_probe_ms;	       /* under lock: while down, when to ask the UFS again */
	/* Under lock: expiries so far (weir wrote, renamed, removed). A validation whose UFS answer
	 * came while one happened may predate it: it is stored expired. */
	uint64_t expiries;
	/* Under lock: listings expired so far (weir made, removed or renamed a name). A listing
	 * the UFS gave while one happened may predate it: it is stored expired. */
	uint64_t dir_expiries;
	/* Under lock: writes of weir's under way (meta_cache_writing, not yet meta_cache_written):
	 * an object's size may be past what any listing stored meanwhile gives, before the write
	 * marks that listing written (readwrite.sh warned once in a CI run: a listing made between
	 * an append's begin and its pwrite, compared after the pwrite) */
	unsigned writing;
	bool refusal_logged; /* under lock: this outage's first refusal was logged */
};

int64_t meta_cache_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Is an entry fetched at at_ms still within bound_ms of now? The times are the wall clock's (they
 * are kept in meta.db across restarts), so an entry dated after now was fetched before the clock
 * stepped back: its age is unknown, and it is not fresh (else it would stay fresh for as long as
 * the step, a day for a node whose clock ran a day ahead). */
static bool age_within(int64_t now, int64_t at_ms, int64_t bound_ms)
{
	return now >= at_ms && now - at_ms < bound_ms;
}

static void cached_dir_free(void *p)
{
	struct cached_dir *d = p;
	if (!d)
		return;
	meta_listing_unref(d->l);
	free(d);
}

static int exec_sql(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_debug("sqlite: %s: %s", sql, msg ? msg : "?");
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

static const char schema[] =
    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS dirs(path TEXT PRIMARY KEY, fetched_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS entries(dir TEXT NOT NULL, name TEXT NOT NULL,"
    " is_dir INTEGER, size INTEGER, size_known INTEGER, mtime INTEGER, etag TEXT,"
    " mode INTEGER, uid INTEGER, gid INTEGER, mtime_exact INTEGER, via_link INTEGER,"
    " PRIMARY KEY(dir, name));"
    "CREATE TABLE IF NOT EXISTS validated(path TEXT PRIMARY KEY, size INTEGER, mtime INTEGER,"
    " etag TEXT, at_ms INTEGER, mtime_exact INTEGER);";

/* mtime_exact as stored: NULL in a cache from before it was kept, where the one guess left is
 * the value (an HTML listing's minutes are whole minutes). */
static bool column_mtime_exact(sqlite3_stmt *st, int col, int64_t mtime)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return mtime % 60 != 0;
	return sqlite3_column_int(st, col) != 0;
}

static void copy_etag(char *dst, const unsigned char *src)
{
	snprintf(dst, UFS_ETAG_MAX, "%s", src ? (const char *)src : "");
}

/* Entries of one directory as they are read back from the database. */
struct loading {
	char *dir;
	int64_t fetched_ms;
	struct ufs_dirent *ents;
	size_t n, cap;
};

/* Turns what was read of one directory into a cached listing. */
static int loading_finish(struct meta_cache *mc, struct loading *ld)
{
	if (!ld->dir)
		return 0;
	struct cached_dir *d = calloc(1, sizeof(*d));
	int r = d ? meta_listing_new(ld->ents, ld->n, ld->fetched_ms, &d->l) : -ENOMEM;
	if (!d)
		ufs_dirents_free(ld->ents, ld->n);
	if (r == 0) {
		/* fetched_ms 0: invalidated before the restart */
		d->changed = ld->fetched_ms == 0;
		int err = 0;
		cached_dir_free(strmap_put(mc->dirs, ld->dir, d, &err));
		if (err < 0) {
			cached_dir_free(d);
			r = err;
		}
	} else {
		free(d);
	}
	free(ld->dir);
	*ld = (struct loading){0};
	return r;
}

static int load_all(struct meta_cache *mc)
{
	sqlite3_stmt *st = NULL;
	struct loading ld = {0};
	int r = -EIO;
	/* SQLite's ORDER BY uses memcmp order, the same as strcmp for UTF-8. */
	if (sqlite3_prepare_v2(
		mc->db,
		"SELECT d.path, d.fetched_ms, e.name, e.is_dir, e.size, e.size_known,"
		" e.mtime, e.etag, e.mode, e.uid, e.gid, e.mtime_exact, e.via_link FROM dirs d"
		" LEFT JOIN entries e ON e.dir = d.path ORDER BY d.path, e.name",
		-1, &st, NULL))
		goto out;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *dir = (const char *)sqlite3_column_text(st, 0);
		if (!dir)
			continue;
		if (!ld.dir || strcmp(ld.dir, dir) != 0) {
			if (loading_finish(mc, &ld) < 0)
				goto out;
			ld.dir = strdup(dir);
			if (!ld.dir)
				goto out;
			ld.fetched_ms = sqlite3_column_int64(st, 1);
		}
		if (sqlite3_column_type(st, 2) == SQLITE_NULL)
			continue; /* an empty directory */
		if (ld.n == ld.cap) {
			size_t cap = ld.cap ? ld.cap * 2 : 16;
			struct ufs_dirent *ne = realloc(ld.ents, cap * sizeof(*ne));
			if (!ne)
				goto out;
			ld.ents = ne;
			ld.cap = cap;
		}
		struct ufs_dirent *e = &ld.ents[ld.n];
		memset(e, 0, sizeof(*e));
		e->name = strdup((const char *)sqlite3_column_text(st, 2));
		if (!e->name)
			goto out;
		e->attr.is_dir = sqlite3_column_int(st, 3);
		e->attr.size = sqlite3_column_int64(st, 4);
		e->size_known = sqlite3_column_int(st, 5);
		e->attr.mtime = sqlite3_column_int64(st, 6);
		copy_etag(e->attr.etag, sqlite3_column_text(st, 7));
		e->attr.has_owner = sqlite3_column_type(st, 8) != SQLITE_NULL;
		e->attr.mode = (uint32_t)sqlite3_column_int64(st, 8);
		e->attr.uid = (uint32_t)sqlite3_column_int64(st, 9);
		e->attr.gid = (uint32_t)sqlite3_column_int64(st, 10);
		e->attr.mtime_exact = column_mtime_exact(st, 11, e->attr.mtime);
		e->via_link = sqlite3_column_int(st, 12) != 0;
		ld.n++;
	}
	if (loading_finish(mc, &ld) < 0)
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(mc->db,
			       "SELECT path, size, mtime, etag, at_ms, mtime_exact FROM validated",
			       -1, &st, NULL))
		goto out;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct validation *v = calloc(1, sizeof(*v));
		if (!v)
			goto out;
		v->attr.size = sqlite3_column_int64(st, 1);
		v->attr.mtime = sqlite3_column_int64(st, 2);
		copy_etag(v->attr.etag, sqlite3_column_text(st, 3));
		v->at_ms = sqlite3_column_int64(st, 4);
		v->attr.mtime_exact = column_mtime_exact(st, 5, v->attr.mtime);
		v->changed = v->at_ms == 0;
		free(strmap_put(mc->valid, (const char *)sqlite3_column_text(st, 0), v, NULL));
	}
	r = 0;
out:
	ufs_dirents_free(ld.ents, ld.n);
	free(ld.dir);
	sqlite3_finalize(st);
	return r;
}

static bool db_corrupt(sqlite3 *db)
{
	int e = db ? sqlite3_errcode(db) & 0xff : SQLITE_OK;
	return e == SQLITE_CORRUPT || e == SQLITE_NOTADB;
}

static int quick_check_row(void *arg, int ncols, char **vals, char **names)
{
	(void)names;
	if (ncols > 0 && vals[0] && strcmp(vals[0], "ok") != 0) {
		snprintf(arg, 256, "the integrity check failed: %s", vals[0]);
		for (char *m = arg; *m; m++)
			if (*m == '\n')
				*m = ' ';
		return 1;
	}
	return 0;
}

/* Opens db_path, checks it whole and loads it. -EBADMSG (why says what) when SQLite finds it
 * damaged, other -errno otherwise; mc->db is left open either way (meta_cache_free closes). */
static int db_load(struct meta_cache *mc, const char *db_path, char *why, size_t whylen)
{
	char bad[256] = "";
	int r = sqlite3_open_v2(db_path, &mc->db,
				SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
				NULL);
	if (r != SQLITE_OK) {
		snprintf(why, whylen, "%s", mc->db ? sqlite3_errmsg(mc->db) : sqlite3_errstr(r));
		return db_corrupt(mc->db) ? -EBADMSG : -EIO;
	}
	sqlite3_busy_timeout(mc->db, 5000);
	r = sqlite3_exec(mc->db, "PRAGMA quick_check", quick_check_row, bad, NULL);
	if (bad[0]) {
		snprintf(why, whylen, "%s", bad);
		return -EBADMSG;
	}
	r = r == SQLITE_OK ? exec_sql(mc->db, schema) : -EIO;
	/* A cache from before owners were kept: its listings would show every file with the
	 * view's default owner and mode, so they are dropped (they cost one listing each). */
	if (r == 0 && sqlite3_exec(mc->db, "ALTER TABLE entries ADD COLUMN mode INTEGER", NULL,
				   NULL, NULL) == SQLITE_OK)
		r = exec_sql(mc->db, "ALTER TABLE entries ADD COLUMN uid INTEGER;"
				     "ALTER TABLE entries ADD COLUMN gid INTEGER;"
				     "DELETE FROM entries; DELETE FROM dirs;");
	/* A cache from before mtime_exact was kept (NULL: see column_mtime_exact); a column
	 * that is already there fails to be added, which is fine. */
	if (r == 0) {
		sqlite3_exec(mc->db, "ALTER TABLE entries ADD COLUMN mtime_exact INTEGER", NULL,
			     NULL, NULL);
		sqlite3_exec(mc->db, "ALTER TABLE validated ADD COLUMN mtime_exact INTEGER", NULL,
			     NULL, NULL);
	}
	/* A cache from before via_link was kept cannot say which entries are links, which views
	 * of a subdirectory must check (view.c): its listings are dropped, as for owners. */
	if (r == 0 && sqlite3_exec(mc->db, "ALTER TABLE entries ADD COLUMN via_link INTEGER", NULL,
				   NULL, NULL) == SQLITE_OK)
		r = exec_sql(mc->db, "DELETE FROM entries; DELETE FROM dirs;");
	if (r == 0)
		r = load_all(mc);
	if (r < 0) {
		snprintf(why, whylen, "%s", sqlite3_errmsg(mc->db));
		return db_corrupt(mc->db) ? -EBADMSG : r;
	}
	return 0;
}

static void maps_clear(struct meta_cache *mc)
{
	strmap_free(mc->dirs, cached_dir_free);
	strmap_free(mc->valid, free);
	mc->dirs = strmap_new();
	mc->valid = strmap_new();
}

int meta_cache_open(const char *db_path, struct ufs *u, struct meta_cache **ret, char *note,
		    size_t notelen)
{
	struct meta_cache *mc = calloc(1, sizeof(*mc));
	char why[512] = "", aside[4200];
	if (!mc)
		return -ENOMEM;
	int r = -ENOMEM;
	mc->ufs = u;
	atomic_init(&mc->max_stale_ms, META_CACHE_MAX_STALE_DEFAULT_MS);
	pthread_mutex_init(&mc->lock, NULL);
	pthread_mutex_init(&mc->db_lock, NULL);
	pthread_cond_init(&mc->asked, NULL);
	mc->dirs = strmap_new();
	mc->valid = strmap_new();
	mc->asking = strmap_new();
	if (!mc->dirs || !mc->valid || !mc->asking)
		goto fail;
	r = db_load(mc, db_path, why, sizeof(why));
	if (r == -EBADMSG) {
		/* Only listings and validations, all of which the UFS gives again: a damaged
		 * file must not make the source unmountable (as a damaged index.db does not). */
		sqlite3_close(mc->db);
		mc->db = NULL;
		maps_clear(mc);
		r = mc->dirs && mc->valid ? safe_dir_set_aside(db_path, aside, sizeof(aside))
					  : -ENOMEM;
		if (r >= 0) /* as private as the one it replaces (SQLite would make it 0644) */
			r = safe_dir_private_file(db_path);
		if (r < 0) {
			log_err("metadata cache \"%s\": %s; it cannot be moved aside (%s): remove "
				"it",
				db_path, why, strerror(-r));
			goto fail;
		}
		char msg[9000];
		snprintf(msg, sizeof(msg),
			 "metadata cache \"%s\": %s; moved it to \"%s\" and starting with an "
			 "empty one: listings and versions are asked of the UFS again",
			 db_path, why, aside);
		log_warn("%s", msg);
		size_t used = note && notelen ? strnlen(note, notelen) : 0;
		if (note && used + 3 < notelen)
			snprintf(note + used, notelen - used, "%s%s", used ? "; " : "", msg);
		r = db_load(mc, db_path, why, sizeof(why));
	}
	if (r < 0 && mc->db &&
	    ((sqlite3_errcode(mc->db) & 0xff) == SQLITE_FULL ||
	     sqlite3_system_errno(mc->db) == ENOSPC || sqlite3_system_errno(mc->db) == EDQUOT)) {
		/* A full state directory: listings and versions in memory only (the UFS gives
		 * them again after a restart) rather than a source that cannot be mounted. */
		log_warn("metadata cache \"%s\": %s; keeping it in memory", db_path, why);
		sqlite3_close(mc->db);
		mc->db = NULL;
		maps_clear(mc);
		r = mc->dirs && mc->valid ? db_load(mc, ":memory:", why, sizeof(why)) : -ENOMEM;
	}
	if (r < 0) {
		log_err("cannot open metadata cache \"%s\": %s", db_path, why);
		goto fail;
	}
	*ret = mc;
	return 0;
fail:
	meta_cache_free(mc);
	return r;
}

struct ufs *meta_cache_get_ufs(struct meta_cache *mc)
{
	return mc->ufs;
}

void meta_cache_free(struct meta_cache *mc)
{
	if (!mc)
		return;
	strmap_free(mc->dirs, cached_dir_free);
	strmap_free(mc->valid, free);
	/* empty: every call of the cache's has returned, and an asker ends its ask before it
	 * returns (its waiters return after it) */
	strmap_free(mc->asking, free);
	if (mc->db)
		sqlite3_close(mc->db);
	pthread_cond_destroy(&mc->asked);
	pthread_mutex_destroy(&mc->lock);
	pthread_mutex_destroy(&mc->db_lock);
	free(mc);
}

void meta_cache_set_max_stale(struct meta_cache *mc, uint64_t max_stale_ms)
{
	atomic_store(&mc->max_stale_ms, max_stale_ms);
}

static int add_dir_bytes(const char *key, void *value, void *arg)
{
	(void)key;
	const struct cached_dir *d = value;
	*(uint64_t *)arg += malloc_usable_size((void *)d) + meta_listing_bytes(d->l);
	return 0;
}

static int add_valid_bytes(const char *key, void *value, void *arg)
{
	(void)key;
	*(uint64_t *)arg += malloc_usable_size(value);
	return 0;
}

uint64_t meta_cache_memory(struct meta_cache *mc)
{
	if (!mc)
		return 0;
	uint64_t bytes = malloc_usable_size(mc);
	pthread_mutex_lock(&mc->lock);
	bytes += strmap_bytes(mc->dirs) + strmap_bytes(mc->valid) + strmap_bytes(mc->asking);
	strmap_each(mc->dirs, add_dir_bytes, &bytes);
	strmap_each(mc->valid, add_valid_bytes, &bytes);
	pthread_mutex_unlock(&mc->lock);
	return bytes;
}

void meta_cache_get_health(struct meta_cache *mc, struct meta_cache_health *ret)
{
	pthread_mutex_lock(&mc->lock);
	*ret = mc->down;
	pthread_mutex_unlock(&mc->lock);
	ret->max_stale_ms = atomic_load(&mc->max_stale_ms);
}

/* ---- the UFS's reachability (stale-if-error) ---- */

/* Whether to ask the UFS now: always while it answers; while it is down, one caller per probe
 * interval (the others get the outage's error at once and serve what is cached). */
static bool should_ask_locked(struct meta_cache *mc, int64_t now, int *ret_err)
{
	if (!mc->down.down_since_ms)
		return true;
	if (now < mc->next_probe_ms) {
		*ret_err = mc->down.down_err;
		return false;
	}
	mc->next_probe_ms = now + META_CACHE_PROBE_MS;
	return true;
}

/* Records the outcome of a UFS call: an outage starts or goes on, or the UFS answered. */
static void note_ufs_result(struct meta_cache *mc, int err, int64_t now)
{
	bool outage = err < 0 && ufs_error_is_outage(err);
	char cause[sizeof(mc->down.cause)];
	if (outage) {
		/* The backend's message is "<url>: <cause>"; a URL has no spaces, and may carry
		 * credentials: keep the cause only. */
		char msg[sizeof(mc->ufs->last_error)];
		ufs_error_copy(mc->ufs, msg, sizeof(msg));
		const char *sep = strstr(msg, ": ");
		snprintf(cause, sizeof(cause), "%s", sep ? sep + 2 : strerror(-err));
	}
	pthread_mutex_lock(&mc->lock);
	int64_t since = mc->down.down_since_ms;
	if (outage) {
		if (!since) {
			mc->down = (struct meta_cache_health){.down_since_ms = now};
			mc->refusal_logged = false;
		}
		mc->down.down_err = err;
		memcpy(mc->down.cause, cause, sizeof(cause));
		mc->next_probe_ms = now + META_CACHE_PROBE_MS;
	} else if (since) {
		mc->down = (struct meta_cache_health){0};
	}
	pthread_mutex_unlock(&mc->lock);
	if (outage && !since)
		log_warn("UFS %s cannot be reached (%s): serving cached metadata up to %llu s past "
			 "its TTL until it answers",
			 mc->ufs->url, cause,
			 (unsigned long long)(atomic_load(&mc->max_stale_ms) / 1000));
	else if (!outage && since)
		log_notice("UFS %s answers again after %lld s", mc->ufs->url,
			   (long long)((now - since) / 1000));
}

/* During an outage (err), may an entry of age age_ms, trusted for ttl_ms, still be served?
 * Counts the answer for stat. */
static bool may_serve_stale(struct meta_cache *mc, int err, int64_t age_ms, unsigned ttl_ms,
			    const char *path)
{
	if (!ufs_error_is_outage(err))
		return false;
	uint64_t max_stale = atomic_load(&mc->max_stale_ms);
	bool ok = age_ms < (int64_t)ttl_ms + (int64_t)max_stale;
	bool log_refusal = false;
	pthread_mutex_lock(&mc->lock);
	if (ok) {
		mc->down.stale_served++;
		if (age_ms > mc->down.stale_age_ms)
			mc->down.stale_age_ms = age_ms;
	} else {
		mc->down.stale_refused++;
		log_refusal = !mc->refusal_logged;
		mc->refusal_logged = true;
	}
	pthread_mutex_unlock(&mc->lock);
	if (log_refusal)
		log_warn("UFS %s is unreachable and the cached metadata of \"%s\" is %.1f s old, "
			 "more than max-stale (%.1f s) past its TTL (%.1f s): it is not served, "
			 "readers get EIO; raise max-stale to serve older metadata",
			 mc->ufs->url, path, age_ms / 1000.0, max_stale / 1000.0, ttl_ms / 1000.0);
	return ok;
}

/* ---- persistence: under db_lock only ---- */

/* A write to meta.db failed (typically: the state directory is full). Metadata stays valid in
 * memory, so requests go on; the log hears of it once, not once per request. Under db_lock. */
static void persist_failed_locked(struct meta_cache *mc, const char *what, const char *path)
{
	if (mc->persist_failed) {
		log_debug("metadata cache: cannot persist the %s of \"%s\": %s", what, path,
			  sqlite3_errmsg(mc->db));
		return;
	}
	mc->persist_failed = true;
	log_warn("metadata cache: cannot persist the %s of \"%s\": %s; metadata is kept in "
		 "memory only (further failures are logged at debug level)",
		 what, path, sqlite3_errmsg(mc->db));
}

/* Writes one listing through to SQLite, unless the cache has replaced it meanwhile (its
 * successor is written by whoever fetched it). A failure only costs a refetch after a restart. */
static void persist_listing(struct meta_cache *mc, const char *dir, struct meta_listing *l)
{
	sqlite3_stmt *del = NULL, *ins = NULL, *dirst = NULL;
	pthread_mutex_lock(&mc->db_lock);
	pthread_mutex_lock(&mc->lock);
	struct cached_dir *cur = strmap_get(mc->dirs, dir);
	bool current = cur && cur->l == l;
	pthread_mutex_unlock(&mc->lock);
	if (!current || exec_sql(mc->db, "BEGIN") < 0)
		goto out;
	if (sqlite3_prepare_v2(mc->db, "DELETE FROM entries WHERE dir = ?", -1, &del, NULL) ||
	    sqlite3_prepare_v2(
		mc->db, "INSERT OR REPLACE INTO entries VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		-1, &ins, NULL) ||
	    sqlite3_prepare_v2(mc->db, "INSERT OR REPLACE INTO dirs VALUES(?, ?)", -1, &dirst,
			       NULL))
		goto rollback;
	sqlite3_bind_text(del, 1, dir, -1, SQLITE_STATIC);
	if (sqlite3_step(del) != SQLITE_DONE)
		goto rollback;
	size_t n = meta_listing_count(l);
	for (size_t i = 0; i < n; i++) {
		const struct ufs_dirent *e = meta_listing_at(l, i);
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, dir, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, e->name, -1, SQLITE_STATIC);
		sqlite3_bind_int(ins, 3, e->attr.is_dir);
		sqlite3_bind_int64(ins, 4, (sqlite3_int64)e->attr.size);
		sqlite3_bind_int(ins, 5, e->size_known);
		sqlite3_bind_int64(ins, 6, e->attr.mtime);
		sqlite3_bind_text(ins, 7, e->attr.etag, -1, SQLITE_STATIC);
		if (e->attr.has_owner) {
			sqlite3_bind_int64(ins, 8, e->attr.mode);
			sqlite3_bind_int64(ins, 9, e->attr.uid);
			sqlite3_bind_int64(ins, 10, e->attr.gid);
		} else {
			sqlite3_bind_null(ins, 8);
			sqlite3_bind_null(ins, 9);
			sqlite3_bind_null(ins, 10);
		}
		sqlite3_bind_int(ins, 11, e->attr.mtime_exact);
		sqlite3_bind_int(ins, 12, e->via_link);
		if (sqlite3_step(ins) != SQLITE_DONE)
			goto rollback;
	}
	sqlite3_bind_text(dirst, 1, dir, -1, SQLITE_STATIC);
	sqlite3_bind_int64(dirst, 2, meta_listing_fetched_ms(l));
	if (sqlite3_step(dirst) != SQLITE_DONE)
		goto rollback;
	exec_sql(mc->db, "COMMIT");
	goto out;
rollback:
	persist_failed_locked(mc, "listing", dir);
	exec_sql(mc->db, "ROLLBACK");
out:
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	sqlite3_finalize(dirst);
	pthread_mutex_unlock(&mc->db_lock);
}

static void persist_validation(struct meta_cache *mc, const char *path, const struct ufs_attr *a,
			       int64_t at_ms)
{
	sqlite3_stmt *st = NULL;
	pthread_mutex_lock(&mc->db_lock);
	if (sqlite3_prepare_v2(mc->db, "INSERT OR REPLACE INTO validated VALUES(?, ?, ?, ?, ?, ?)",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)a->size);
		sqlite3_bind_int64(st, 3, a->mtime);
		sqlite3_bind_text(st, 4, a->etag, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, at_ms);
		sqlite3_bind_int(st, 6, a->mtime_exact);
		if (sqlite3_step(st) != SQLITE_DONE)
			persist_failed_locked(mc, "version", path);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&mc->db_lock);
}

/* Zeroes the time of a row, so that a restarted daemon asks the UFS again. */
static void persist_expired(struct meta_cache *mc, const char *sql, const char *key)
{
	sqlite3_stmt *st = NULL;
	pthread_mutex_lock(&mc->db_lock);
	if (sqlite3_prepare_v2(mc->db, sql, -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&mc->db_lock);
}

/* ---- listings ---- */

/* The caller that set refreshing on the listing old of dir is done without replacing it. */
static void end_refresh(struct meta_cache *mc, const char *dir, const struct meta_listing *old)
{
	if (!old)
		return;
	pthread_mutex_lock(&mc->lock);
	struct cached_dir *cur = strmap_get(mc->dirs, dir);
	if (cur && cur->l == old)
		cur->refreshing = false;
	pthread_mutex_unlock(&mc->lock);
}

int meta_cache_list(struct meta_cache *mc, const char *dir, unsigned ttl_ms,
		    struct meta_listing **ret)
{
	int64_t now = meta_cache_now_ms();
	struct meta_listing *old = NULL;
	bool old_changed = false;
	int r = 0;
	pthread_mutex_lock(&mc->lock);
	struct cached_dir *d = strmap_get(mc->dirs, dir);
	if (d) {
		if (!d->changed &&
		    age_within(now, meta_listing_fetched_ms(d->l), (int64_t)ttl_ms)) {
			*ret = meta_listing_ref(d->l);
			pthread_mutex_unlock(&mc->lock);
			return 0;
		}
		/* While one caller lists a big directory again, the others do not list it too:
		 * they serve the expired listing, within the bound on staleness. */
		if (d->refreshing && !d->changed &&
		    age_within(now, meta_listing_fetched_ms(d->l),
			       (int64_t)ttl_ms + (int64_t)atomic_load(&mc->max_stale_ms))) {
			*ret = meta_listing_ref(d->l);
			pthread_mutex_unlock(&mc->lock);
			return 0;
		}
		/* kept in case the UFS cannot be reached */
		old = meta_listing_ref(d->l);
		old_changed = d->changed;
	}
	bool ask = should_ask_locked(mc, now, &r);
	if (d && ask)
		d->refreshing = true;
	uint64_t expiries = mc->expiries, dir_expiries = mc->dir_expiries;
	pthread_mutex_unlock(&mc->lock);

	struct ufs_dirent *ents = NULL;
	size_t n = 0;
	if (ask) {
		r = ufs_list(mc->ufs, dir, &ents, &n);
		note_ufs_result(mc, r, now);
	}
	if (r < 0) {
		if (ask)
			end_refresh(mc, dir, old);
		if (old && !old_changed &&
		    may_serve_stale(mc, r, now - meta_listing_fetched_ms(old), ttl_ms, dir)) {
			*ret = old;
			return 0;
		}
		meta_listing_unref(old);
		return r;
	}
	struct cached_dir *nd = calloc(1, sizeof(*nd));
	r = nd ? meta_listing_new(ents, n, now, &nd->l) : -ENOMEM;
	if (r < 0) {
		if (!nd)
			ufs_dirents_free(ents, n);
		free(nd);
		end_refresh(mc, dir, old);
		meta_listing_unref(old);
		return r;
	}
	*ret = meta_listing_ref(nd->l);
	pthread_mutex_lock(&mc->lock);
	nd->written = mc->expiries != expiries; /* weir changed something while it was listed */
	/* A name weir made or removed while it was listed (the expiry went to the listing this
	 * one replaces): served once, then listed again, not kept for the TTL without it (a
	 * lookup of a file just created answered ENOENT, and the kernel kept that). */
	bool raced = mc->dir_expiries != dir_expiries;
	nd->changed = raced;
	int err = 0;
	cached_dir_free(strmap_put(mc->dirs, dir, nd, &err));
	pthread_mutex_unlock(&mc->lock);
	if (err < 0) {
		cached_dir_free(nd); /* served once, not cached */
		end_refresh(mc, dir, old);
	} else {
		persist_listing(mc, dir, *ret);
		if (raced)
			persist_expired(mc, "UPDATE dirs SET fetched_ms = 0 WHERE path = ?", dir);
	}
	meta_listing_unref(old);
	return 0;
}

static void split_path(const char *path, char *parent, size_t plen, const char **ret_name)
{
	const char *slash = strrchr(path, '/');
	size_t len = slash ? (size_t)(slash - path) : 0;
	if (len == 0)
		snprintf(parent, plen, "/");
	else
		snprintf(parent, plen, "%.*s", (int)len, path);
	*ret_name = slash ? slash + 1 : path;
}

/* The object's own headers beat its parent's listing (which may lie about a size): when path
 * was validated within ttl_ms and not before the listing (fetched at listed_ms) came, *attr
 * takes that version. Returns true if it did. */
static bool validated_over_listing(struct meta_cache *mc, const char *path, unsigned ttl_ms,
				   int64_t listed_ms, struct ufs_attr *attr)
{
	bool used = false;
	pthread_mutex_lock(&mc->lock);
	struct validation *v = strmap_get(mc->valid, path);
	if (v && !v->changed && age_within(meta_cache_now_ms(), v->at_ms, (int64_t)ttl_ms) &&
	    v->at_ms >= listed_ms && v->attr.size != attr->size) {
		*attr = v->attr;
		used = true;
	}
	pthread_mutex_unlock(&mc->lock);
	return used;
}

/* Says so when the parent's listing gives path another size than the object's own headers. */
static void check_listing_locked(struct meta_cache *mc, const char *path,
				 const struct ufs_attr *real)
{
	char parent[4096];
	const char *name;
	split_path(path, parent, sizeof(parent), &name);
	struct cached_dir *d = strmap_get(mc->dirs, parent);
	if (!d || !d->l || d->written || mc->writing)
		return;
	const struct ufs_dirent *e = meta_listing_find(d->l, name);
	if (e && e->size_known && !e->attr.is_dir && e->attr.size != real->size)
		log_warn("the listing of \"%s\" is wrong (or out of date): it gives \"%s\" %" PRIu64
			 " bytes, the object's own headers %" PRIu64 "; serving %" PRIu64 " bytes",
			 parent, name, e->attr.size, real->size, real->size);
}

int meta_cache_getattr(struct meta_cache *mc, const char *path, unsigned ttl_ms,
		       struct ufs_attr *ret)
{
	if (strcmp(path, "/") == 0) {
		*ret = (struct ufs_attr){.is_dir = true};
		return 0;
	}
	char parent[4096];
	const char *name;
	split_path(path, parent, sizeof(parent), &name);
	struct meta_listing *l;
	int r = meta_cache_list(mc, parent, ttl_ms, &l);
	if (r < 0)
		return r;
	const struct ufs_dirent *e = meta_listing_find(l, name);
	if (!e) {
		meta_listing_unref(l);
		return -ENOENT;
	}
	struct ufs_attr attr = e->attr;
	bool known = e->size_known || e->attr.is_dir;
	int64_t listed_ms = meta_listing_fetched_ms(l);
	meta_listing_unref(l);
	if (known && !attr.is_dir)
		known = !validated_over_listing(mc, path, ttl_ms, listed_ms, &attr);
	if (!known) {
		bool changed;
		r = meta_cache_validate(mc, path, ttl_ms, false, &attr, &changed);
		if (r < 0)
			return r;
	}
	*ret = attr;
	return 0;
}

/* ---- versions ---- */

static bool same_version(const struct ufs_attr *a, const struct ufs_attr *b)
{
	if (a->size != b->size)
		return false;
	if (a->etag[0] && b->etag[0])
		return strcmp(a->etag, b->etag) == 0;
	return a->mtime == b->mtime;
}

/* Under lock: path is asked of the UFS by the caller, whose validations of path that do not
 * follow a sign of change wait for its answer from now on. NULL when there is no memory for
 * that: the caller asks alone. */
static struct asking *ask_begin_locked(struct meta_cache *mc, const char *path)
{
	struct asking *f = calloc(1, sizeof(*f));
	int err = 0;
	/* The one it replaces, if any (a forced ask does not take the answer of an ask that began
	 * before it), still answers its own waiters; later ones wait for f. */
	if (f)
		strmap_put(mc->asking, path, f, &err);
	if (err < 0) {
		free(f);
		f = NULL;
	}
	return f;
}

/* Under lock: the asker of f (path's) has its answer: err, or attr and changed; stale: not for
 * the waiters (struct asking). Wakes them; f is theirs or freed. f NULL: nothing to do. */
static void ask_end_locked(struct meta_cache *mc, const char *path, struct asking *f, int err,
			   const struct ufs_attr *attr, bool changed, bool stale)
{
	if (!f)
		return;
	if (strmap_get(mc->asking, path) == f)
		strmap_remove(mc->asking, path);
	f->done = true;
	f->err = err;
	f->stale = stale;
	f->changed = changed;
	if (err == 0)
		f->attr = *attr;
	if (f->waiters)
		pthread_cond_broadcast(&mc->asked);
	else
		free(f);
}

static void ask_end(struct meta_cache *mc, const char *path, struct asking *f, int err)
{
	if (!f)
		return;
	pthread_mutex_lock(&mc->lock);
	ask_end_locked(mc, path, f, err, NULL, false, false);
	pthread_mutex_unlock(&mc->lock);
}

/* Under lock (released while asleep): waits for the asker of f to be done and copies out what
 * it got. */
static void ask_wait_locked(struct meta_cache *mc, struct asking *f, struct asking *ret)
{
	f->waiters++;
	while (!f->done)
		pthread_cond_wait(&mc->asked, &mc->lock);
	*ret = *f;
	if (--f->waiters == 0)
		free(f); /* its asker left it to its waiters: the last one frees it */
}

/* meta_cache_validate(), and with may_ask false meta_cache_validate_cached(). */
static int validate(struct meta_cache *mc, const char *path, unsigned ttl_ms, bool force,
		    bool may_ask, struct ufs_attr *ret, bool *ret_changed)
{
	int64_t now;
	struct validation old;
	bool have_old;
	int r;
	uint64_t expiries;
	struct validation *v;
again:
	now = meta_cache_now_ms();
	old = (struct validation){0};
	have_old = false;
	r = 0;
	pthread_mutex_lock(&mc->lock);
	expiries = mc->expiries;
	v = strmap_get(mc->valid, path);
	if (v && !force && !v->changed && age_within(now, v->at_ms, (int64_t)ttl_ms)) {
		*ret = v->attr;
		*ret_changed = false;
		pthread_mutex_unlock(&mc->lock);
		return 0;
	}
	if (v && !force && !v->changed) {
		old = *v; /* kept in case the UFS cannot be reached */
		have_old = true;
	}
	/* Where a listing gives exact versions (S3), one younger than the TTL is as good as a
	 * HEAD of the object: no request per open. Not after a sign of change (force). */
	struct ufs_attr attr;
	bool from_listing = false;
	if (!force && !(v && v->changed) && ufs_listing_versions(mc->ufs)) {
		char dir[4096];
		const char *base;
		split_path(path, dir, sizeof(dir), &base);
		struct cached_dir *d = strmap_get(mc->dirs, dir);
		const struct ufs_dirent *e =
		    d && d->l && !d->changed &&
			    age_within(now, meta_listing_fetched_ms(d->l), (int64_t)ttl_ms)
			? meta_listing_find(d->l, base)
			: NULL;
		if (e && e->size_known && !e->attr.is_dir && e->attr.etag[0]) {
			attr = e->attr;
			from_listing = true;
		}
	}
	/* A forced validation follows a sign of change: it waits for the UFS's answer. */
	if (!from_listing && !may_ask) {
		pthread_mutex_unlock(&mc->lock);
		return -EAGAIN;
	}
	/* Another caller asks the UFS for path now: its answer is as fresh as ours would be,
	 * unless ours follows a sign of change (force), which an ask begun before it may predate.
	 * While the UFS is down, the others serve stale at once instead (should_ask_locked). */
	struct asking *cur = !from_listing && !force && !mc->down.down_since_ms
				 ? strmap_get(mc->asking, path)
				 : NULL;
	bool ask = false;
	struct asking *mine = NULL;
	uint64_t seq = 0;
	if (cur) {
		struct asking res;
		ask_wait_locked(mc, cur, &res);
		pthread_mutex_unlock(&mc->lock);
		if (res.err == 0 && !res.stale) {
			*ret = res.attr;
			*ret_changed = res.changed;
			return 0;
		}
		if (res.err == 0)
			goto again; /* the answer may predate what weir changed since */
		r = res.err;	    /* served stale below, as if this caller had asked */
	} else {
		ask = !from_listing && (force || should_ask_locked(mc, now, &r));
		if (ask) {
			seq = ++mc->asks;
			mine = ask_begin_locked(mc, path);
		}
		pthread_mutex_unlock(&mc->lock);
	}

	if (ask) {
		r = ufs_stat(mc->ufs, path, &attr);
		note_ufs_result(mc, r, now);
	}
	if (r == 0 && attr.is_dir)
		r = -EISDIR;
	if (r < 0) {
		ask_end(mc, path, mine, r);
		if (have_old && may_serve_stale(mc, r, now - old.at_ms, ttl_ms, path)) {
			*ret = old.attr;
			*ret_changed = false;
			return 0;
		}
		return r;
	}

	char parent[4096];
	const char *name;
	split_path(path, parent, sizeof(parent), &name);
	pthread_mutex_lock(&mc->lock);
	v = strmap_get(mc->valid, path);
	bool changed = v && !same_version(&v->attr, &attr);
	/* weir changed something while the UFS was asked: this answer may be from before */
	bool raced = mc->expiries != expiries;
	/* A forced ask that began after this one stored its answer first: that one stays, and
	 * is this caller's answer too (its own, older, would make it drop the newer version's
	 * blocks and serve the older size: the store flipping between the two). */
	if (v && seq && v->seq > seq) {
		struct ufs_attr newer = v->attr;
		ask_end_locked(mc, path, mine, 0, &newer, false, true);
		pthread_mutex_unlock(&mc->lock);
		*ret = newer;
		*ret_changed = false;
		return 0;
	}
	if ((!v || changed) && !raced) /* else a listing since may well be newer */
		check_listing_locked(mc, path, &attr);
	if (!v) {
		v = calloc(1, sizeof(*v));
		int err = 0;
		if (v)
			strmap_put(mc->valid, path, v, &err);
		if (!v || err < 0) {
			free(v);
			ask_end_locked(mc, path, mine, -ENOMEM, NULL, false, false);
			pthread_mutex_unlock(&mc->lock);
			return -ENOMEM;
		}
	}
	v->attr = attr;
	v->at_ms = now;
	v->changed = raced;
	if (seq > v->seq) /* a listing's or the db's (0) never lowers it */
		v->seq = seq;
	/* A listing that disagrees with the object is stale: the next lookup lists again (and
	 * never serves it stale), so sizes agree. */
	if (changed) {
		struct cached_dir *d = strmap_get(mc->dirs, parent);
		if (d)
			d->changed = true;
	}
	/* in the same hold as the store: a validation that comes after finds one or the other */
	ask_end_locked(mc, path, mine, 0, &attr, changed, raced);
	pthread_mutex_unlock(&mc->lock);
	persist_validation(mc, path, &attr, raced ? 0 : now);
	if (changed)
		persist_expired(mc, "UPDATE dirs SET fetched_ms = 0 WHERE path = ?", parent);
	*ret = attr;
	*ret_changed = changed;
	return 0;
}

int meta_cache_validate(struct meta_cache *mc, const char *path, unsigned ttl_ms, bool force,
			struct ufs_attr *ret, bool *ret_changed)
{
	return validate(mc, path, ttl_ms, force, true, ret, ret_changed);
}

int meta_cache_validate_cached(struct meta_cache *mc, const char *path, unsigned ttl_ms,
			       struct ufs_attr *ret, bool *ret_changed)
{
	return validate(mc, path, ttl_ms, false, false, ret, ret_changed);
}

void meta_cache_invalidate(struct meta_cache *mc, const char *path)
{
	char parent[4096];
	const char *name;
	split_path(path, parent, sizeof(parent), &name);
	pthread_mutex_lock(&mc->lock);
	mc->expiries++;
	mc->dir_expiries++;
	/* Expire the validation but keep the version: the next validate compares against it,
	 * sees the change, and every view drops its page cache of the old bytes. */
	struct validation *v = strmap_get(mc->valid, path);
	if (v)
		v->changed = true;
	struct cached_dir *d = strmap_get(mc->dirs, path);
	if (d)
		d->changed = true;
	d = strmap_get(mc->dirs, parent);
	if (d)
		d->changed = true;
	pthread_mutex_unlock(&mc->lock);
	persist_expired(mc, "UPDATE validated SET at_ms = 0 WHERE path = ?", path);
	persist_expired(mc, "UPDATE dirs SET fetched_ms = 0 WHERE path = ?", path);
	persist_expired(mc, "UPDATE dirs SET fetched_ms = 0 WHERE path = ?", parent);
}

/* The paths below a directory: "/d/..." for "/d" (never "/dx"). */
struct below {
	const char *dir;
	size_t len;
	bool found;
};

static bool is_below(const char *path, const struct below *b)
{
	return strncmp(path, b->dir, b->len) == 0 && path[b->len] == '/';
}

static int expire_valid_below(const char *key, void *value, void *arg)
{
	struct below *b = arg;
	if (is_below(key, b)) {
		((struct validation *)value)->changed = true;
		b->found = true;
	}
	return 0;
}

static int expire_dir_below(const char *key, void *value, void *arg)
{
	struct below *b = arg;
	if (is_below(key, b)) {
		((struct cached_dir *)value)->changed = true;
		b->found = true;
	}
	return 0;
}

void meta_cache_invalidate_below(struct meta_cache *mc, const char *dir)
{
	struct below b = {.dir = dir, .len = strlen(dir)};
	if (b.len == 0 || (b.len == 1 && dir[0] == '/'))
		return; /* the root is never renamed */
	pthread_mutex_lock(&mc->lock);
	mc->expiries++;
	mc->dir_expiries++;
	strmap_each(mc->valid, expire_valid_below, &b);
	strmap_each(mc->dirs, expire_dir_below, &b);
	pthread_mutex_unlock(&mc->lock);
	if (!b.found)
		return;
	/* as blobs: substr then counts bytes, not UTF-8 characters */
	static const char *const sql[] = {
	    "UPDATE validated SET at_ms = 0 WHERE substr(CAST(path AS BLOB), 1, ?2) = "
	    "CAST(?1 AS BLOB)",
	    "UPDATE dirs SET fetched_ms = 0 WHERE substr(CAST(path AS BLOB), 1, ?2) = "
	    "CAST(?1 AS BLOB)"};
	char *prefix;
	if (asprintf(&prefix, "%s/", dir) < 0)
		return;
	pthread_mutex_lock(&mc->db_lock);
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(mc->db, sql[i], -1, &st, NULL) == SQLITE_OK) {
			sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, (sqlite3_int64)b.len + 1);
			sqlite3_step(st);
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&mc->db_lock);
	free(prefix);
}

/* Under mc->lock: the listing of path's parent (if cached) may lag path's size by a write of
 * weir's, which says nothing wrong of it (check_listing_locked). */
static void listing_written_locked(struct meta_cache *mc, const char *path)
{
	char parent[4096];
	const char *name;
	split_path(path, parent, sizeof(parent), &name);
	struct cached_dir *d = strmap_get(mc->dirs, parent);
	if (d)
		d->written = true;
}

void meta_cache_writing(struct meta_cache *mc, const char *path)
{
	pthread_mutex_lock(&mc->lock);
	mc->expiries++; /* a listing or validation under way may have seen the size before */
	mc->writing++;
	listing_written_locked(mc, path);
	pthread_mutex_unlock(&mc->lock);
}

void meta_cache_written(struct meta_cache *mc, const char *path)
{
	pthread_mutex_lock(&mc->lock);
	mc->expiries++; /* even when expired already: a validation may be under way */
	if (mc->writing)
		mc->writing--;
	struct validation *v = strmap_get(mc->valid, path);
	bool trusted = v && !v->changed;
	if (trusted)
		v->changed = true;
	listing_written_locked(mc, path);
	pthread_mutex_unlock(&mc->lock);
	if (trusted)
		persist_expired(mc, "UPDATE validated SET at_ms = 0 WHERE path = ?", path);
}
