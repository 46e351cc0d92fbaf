// SPDX-License-Identifier: Apache-2.0
// Metadata cache: listings and validations in memory (strmap), written through to SQLite and
// loaded back at open. The UFS is never called with the lock held.
#include "meta_cache.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "strmap.h"

struct dir_listing {
	int64_t fetched_ms;
	struct ufs_dirent *ents; /* sorted by name */
	size_t n;
};

struct validation {
	int64_t at_ms;
	struct ufs_attr attr;
};

struct meta_cache {
	struct ufs *ufs;
	pthread_mutex_t lock;
	sqlite3 *db;	      /* under lock */
	struct strmap *dirs;  /* dir path -> struct dir_listing, under lock */
	struct strmap *valid; /* object path -> struct validation, under lock */
	bool persist_failed; /* under lock: a write failed and was logged (once, not per request) */
};

/* A write to meta.db failed (typically: the state directory is full). Metadata stays valid in
 * memory, so requests go on; the log hears of it once, not once per request. Under lock. */
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

int64_t meta_cache_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void listing_free(void *p)
{
	struct dir_listing *d = p;
	if (!d)
		return;
	ufs_dirents_free(d->ents, d->n);
	free(d);
}

static int cmp_dirent(const void *a, const void *b)
{
	return strcmp(((const struct ufs_dirent *)a)->name, ((const struct ufs_dirent *)b)->name);
}

static int dup_dirents(const struct ufs_dirent *src, size_t n, struct ufs_dirent **ret)
{
	struct ufs_dirent *d = calloc(n ? n : 1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		d[i] = src[i];
		d[i].name = strdup(src[i].name);
		if (!d[i].name) {
			ufs_dirents_free(d, i);
			return -ENOMEM;
		}
	}
	*ret = d;
	return 0;
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
    " PRIMARY KEY(dir, name));"
    "CREATE TABLE IF NOT EXISTS validated(path TEXT PRIMARY KEY, size INTEGER, mtime INTEGER,"
    " etag TEXT, at_ms INTEGER);";

static void copy_etag(char *dst, const unsigned char *src)
{
	snprintf(dst, UFS_ETAG_MAX, "%s", src ? (const char *)src : "");
}

static int load_all(struct meta_cache *mc)
{
	sqlite3_stmt *st = NULL;
	int r = -EIO;
	if (sqlite3_prepare_v2(mc->db, "SELECT path, fetched_ms FROM dirs", -1, &st, NULL))
		goto out;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct dir_listing *d = calloc(1, sizeof(*d));
		if (!d)
			goto out;
		d->fetched_ms = sqlite3_column_int64(st, 1);
		strmap_put(mc->dirs, (const char *)sqlite3_column_text(st, 0), d, NULL);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(
		mc->db,
		"SELECT dir, name, is_dir, size, size_known, mtime, etag FROM entries"
		" ORDER BY dir, name",
		-1, &st, NULL))
		goto out;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct dir_listing *d =
		    strmap_get(mc->dirs, (const char *)sqlite3_column_text(st, 0));
		if (!d)
			continue;
		struct ufs_dirent *ne = realloc(d->ents, (d->n + 1) * sizeof(*ne));
		if (!ne)
			goto out;
		d->ents = ne;
		struct ufs_dirent *e = &d->ents[d->n];
		memset(e, 0, sizeof(*e));
		e->name = strdup((const char *)sqlite3_column_text(st, 1));
		if (!e->name)
			goto out;
		e->attr.is_dir = sqlite3_column_int(st, 2);
		e->attr.size = sqlite3_column_int64(st, 3);
		e->size_known = sqlite3_column_int(st, 4);
		e->attr.mtime = sqlite3_column_int64(st, 5);
		copy_etag(e->attr.etag, sqlite3_column_text(st, 6));
		d->n++;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* SQLite's ORDER BY uses memcmp order, the same as strcmp for UTF-8: already sorted. */
	if (sqlite3_prepare_v2(mc->db, "SELECT path, size, mtime, etag, at_ms FROM validated", -1,
			       &st, NULL))
		goto out;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct validation *v = calloc(1, sizeof(*v));
		if (!v)
			goto out;
		v->attr.size = sqlite3_column_int64(st, 1);
		v->attr.mtime = sqlite3_column_int64(st, 2);
		copy_etag(v->attr.etag, sqlite3_column_text(st, 3));
		v->at_ms = sqlite3_column_int64(st, 4);
		free(strmap_put(mc->valid, (const char *)sqlite3_column_text(st, 0), v, NULL));
	}
	r = 0;
out:
	sqlite3_finalize(st);
	return r;
}

int meta_cache_open(const char *db_path, struct ufs *u, struct meta_cache **ret)
{
	struct meta_cache *mc = calloc(1, sizeof(*mc));
	if (!mc)
		return -ENOMEM;
	int r = -ENOMEM;
	mc->ufs = u;
	pthread_mutex_init(&mc->lock, NULL);
	mc->dirs = strmap_new();
	mc->valid = strmap_new();
	if (!mc->dirs || !mc->valid)
		goto fail;
	if (sqlite3_open_v2(db_path, &mc->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		log_err("cannot open metadata cache \"%s\": %s", db_path,
			mc->db ? sqlite3_errmsg(mc->db) : "out of memory");
		r = -EIO;
		goto fail;
	}
	sqlite3_busy_timeout(mc->db, 5000);
	r = exec_sql(mc->db, schema);
	if (r < 0)
		goto fail;
	r = load_all(mc);
	if (r < 0)
		goto fail;
	*ret = mc;
	return 0;
fail:
	meta_cache_free(mc);
	return r;
}

void meta_cache_free(struct meta_cache *mc)
{
	if (!mc)
		return;
	strmap_free(mc->dirs, listing_free);
	strmap_free(mc->valid, free);
	if (mc->db)
		sqlite3_close(mc->db);
	pthread_mutex_destroy(&mc->lock);
	free(mc);
}

/* Writes one listing through to SQLite; a failure only costs a refetch after a restart. */
static void persist_listing_locked(struct meta_cache *mc, const char *dir,
				   const struct dir_listing *d)
{
	sqlite3_stmt *del = NULL, *ins = NULL, *dirst = NULL;
	if (exec_sql(mc->db, "BEGIN") < 0)
		return;
	if (sqlite3_prepare_v2(mc->db, "DELETE FROM entries WHERE dir = ?", -1, &del, NULL) ||
	    sqlite3_prepare_v2(mc->db, "INSERT OR REPLACE INTO entries VALUES(?, ?, ?, ?, ?, ?, ?)",
			       -1, &ins, NULL) ||
	    sqlite3_prepare_v2(mc->db, "INSERT OR REPLACE INTO dirs VALUES(?, ?)", -1, &dirst,
			       NULL))
		goto rollback;
	sqlite3_bind_text(del, 1, dir, -1, SQLITE_STATIC);
	if (sqlite3_step(del) != SQLITE_DONE)
		goto rollback;
	for (size_t i = 0; i < d->n; i++) {
		const struct ufs_dirent *e = &d->ents[i];
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, dir, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, e->name, -1, SQLITE_STATIC);
		sqlite3_bind_int(ins, 3, e->attr.is_dir);
		sqlite3_bind_int64(ins, 4, (sqlite3_int64)e->attr.size);
		sqlite3_bind_int(ins, 5, e->size_known);
		sqlite3_bind_int64(ins, 6, e->attr.mtime);
		sqlite3_bind_text(ins, 7, e->attr.etag, -1, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE)
			goto rollback;
	}
	sqlite3_bind_text(dirst, 1, dir, -1, SQLITE_STATIC);
	sqlite3_bind_int64(dirst, 2, d->fetched_ms);
	if (sqlite3_step(dirst) != SQLITE_DONE)
		goto rollback;
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	sqlite3_finalize(dirst);
	exec_sql(mc->db, "COMMIT");
	return;
rollback:
	persist_failed_locked(mc, "listing", dir);
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	sqlite3_finalize(dirst);
	exec_sql(mc->db, "ROLLBACK");
}

int meta_cache_list(struct meta_cache *mc, const char *dir, unsigned ttl_ms,
		    struct ufs_dirent **ret_ents, size_t *ret_n)
{
	int64_t now = meta_cache_now_ms();
	pthread_mutex_lock(&mc->lock);
	struct dir_listing *d = strmap_get(mc->dirs, dir);
	if (d && now - d->fetched_ms < (int64_t)ttl_ms) {
		int r = dup_dirents(d->ents, d->n, ret_ents);
		if (r == 0)
			*ret_n = d->n;
		pthread_mutex_unlock(&mc->lock);
		return r;
	}
	pthread_mutex_unlock(&mc->lock);

	struct ufs_dirent *ents;
	size_t n;
	int r = ufs_list(mc->ufs, dir, &ents, &n);
	if (r < 0)
		return r;
	qsort(ents, n, sizeof(*ents), cmp_dirent);
	struct dir_listing *nd = calloc(1, sizeof(*nd));
	struct ufs_dirent *copy = NULL;
	if (!nd || dup_dirents(ents, n, &copy) < 0) {
		free(nd);
		ufs_dirents_free(ents, n);
		return -ENOMEM;
	}
	nd->fetched_ms = now;
	nd->ents = ents;
	nd->n = n;
	pthread_mutex_lock(&mc->lock);
	int err = 0;
	listing_free(strmap_put(mc->dirs, dir, nd, &err));
	if (err < 0)
		listing_free(nd);
	else
		persist_listing_locked(mc, dir, nd);
	pthread_mutex_unlock(&mc->lock);
	*ret_ents = copy;
	*ret_n = n;
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
	struct ufs_dirent *ents;
	size_t n;
	int r = meta_cache_list(mc, parent, ttl_ms, &ents, &n);
	if (r < 0)
		return r;
	struct ufs_dirent key = {.name = (char *)name};
	struct ufs_dirent *e = bsearch(&key, ents, n, sizeof(*ents), cmp_dirent);
	if (!e) {
		ufs_dirents_free(ents, n);
		return -ENOENT;
	}
	struct ufs_attr attr = e->attr;
	bool known = e->size_known || e->attr.is_dir;
	ufs_dirents_free(ents, n);
	if (!known) {
		bool changed;
		r = meta_cache_validate(mc, path, ttl_ms, false, &attr, &changed);
		if (r < 0)
			return r;
	}
	*ret = attr;
	return 0;
}

static bool same_version(const struct ufs_attr *a, const struct ufs_attr *b)
{
	if (a->size != b->size)
		return false;
	if (a->etag[0] && b->etag[0])
		return strcmp(a->etag, b->etag) == 0;
	return a->mtime == b->mtime;
}

int meta_cache_validate(struct meta_cache *mc, const char *path, unsigned ttl_ms, bool force,
			struct ufs_attr *ret, bool *ret_changed)
{
	int64_t now = meta_cache_now_ms();
	pthread_mutex_lock(&mc->lock);
	struct validation *v = strmap_get(mc->valid, path);
	if (v && !force && now - v->at_ms < (int64_t)ttl_ms) {
		*ret = v->attr;
		*ret_changed = false;
		pthread_mutex_unlock(&mc->lock);
		return 0;
	}
	pthread_mutex_unlock(&mc->lock);

	struct ufs_attr attr;
	int r = ufs_stat(mc->ufs, path, &attr);
	if (r < 0)
		return r;
	if (attr.is_dir)
		return -EISDIR;

	pthread_mutex_lock(&mc->lock);
	v = strmap_get(mc->valid, path);
	bool changed = v && !same_version(&v->attr, &attr);
	if (!v) {
		v = calloc(1, sizeof(*v));
		int err = 0;
		if (v)
			strmap_put(mc->valid, path, v, &err);
		if (!v || err < 0) {
			free(v);
			pthread_mutex_unlock(&mc->lock);
			return -ENOMEM;
		}
	}
	v->attr = attr;
	v->at_ms = now;
	/* A listing that disagrees with the object is stale: drop it so the next lookup lists
	 * again and sizes agree. */
	if (changed) {
		char parent[4096];
		const char *name;
		split_path(path, parent, sizeof(parent), &name);
		struct dir_listing *d = strmap_get(mc->dirs, parent);
		if (d)
			d->fetched_ms = 0;
	}
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(mc->db, "INSERT OR REPLACE INTO validated VALUES(?, ?, ?, ?, ?)", -1,
			       &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)attr.size);
		sqlite3_bind_int64(st, 3, attr.mtime);
		sqlite3_bind_text(st, 4, attr.etag, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, now);
		if (sqlite3_step(st) != SQLITE_DONE)
			persist_failed_locked(mc, "version", path);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&mc->lock);
	*ret = attr;
	*ret_changed = changed;
	return 0;
}

static void mark_stale_locked(struct meta_cache *mc, const char *dir)
{
	struct dir_listing *d = strmap_get(mc->dirs, dir);
	if (d)
		d->fetched_ms = 0;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(mc->db, "UPDATE dirs SET fetched_ms = 0 WHERE path = ?", -1, &st,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, dir, -1, SQLITE_STATIC);
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
}

void meta_cache_invalidate(struct meta_cache *mc, const char *path)
{
	char parent[4096];
	const char *name;
	split_path(path, parent, sizeof(parent), &name);
	pthread_mutex_lock(&mc->lock);
	/* Expire the validation but keep the version: the next validate compares against it,
	 * sees the change, and every view drops its page cache of the old bytes. */
	struct validation *v = strmap_get(mc->valid, path);
	if (v)
		v->at_ms = 0;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(mc->db, "UPDATE validated SET at_ms = 0 WHERE path = ?", -1, &st,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
	mark_stale_locked(mc, path);
	mark_stale_locked(mc, parent);
	pthread_mutex_unlock(&mc->lock);
}
