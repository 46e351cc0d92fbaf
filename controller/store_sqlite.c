// SPDX-License-Identifier: Apache-2.0
// The embedded store: one SQLite file in WAL mode, table objects(kind, namespace, name, json,
// created). synchronous=FULL so a committed apply survives kill -9 and power loss.
#include "store_sqlite.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct store_sqlite {
	struct store base;
	sqlite3 *db;
	bool in_txn;
};

static struct store_sqlite *sq(struct store *st)
{
	return (struct store_sqlite *)st;
}

static int sq_err(struct store_sqlite *s, int rc, const char *what)
{
	log_debug("sqlite: %s: %s", what, sqlite3_errmsg(s->db));
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return -EBUSY;
	if (rc == SQLITE_FULL)
		return -ENOSPC;
	if (rc == SQLITE_NOMEM)
		return -ENOMEM;
	if (rc == SQLITE_READONLY || rc == SQLITE_PERM)
		return -EACCES;
	return -EIO;
}

static int sq_exec(struct store_sqlite *s, const char *sql)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : sq_err(s, rc, sql);
}

static int sq_begin(struct store *st)
{
	int r = sq_exec(sq(st), "BEGIN IMMEDIATE");
	if (r == 0)
		sq(st)->in_txn = true;
	return r;
}

static int sq_commit(struct store *st)
{
	int r = sq_exec(sq(st), "COMMIT");
	sq(st)->in_txn = false;
	return r;
}

static void sq_rollback(struct store *st)
{
	if (sq(st)->in_txn)
		sq_exec(sq(st), "ROLLBACK");
	sq(st)->in_txn = false;
}

static int sq_prepare(struct store_sqlite *s, const char *sql, sqlite3_stmt **ret)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, ret, NULL);
	return rc == SQLITE_OK ? 0 : sq_err(s, rc, sql);
}

static int sq_get(struct store *st, const char *kind, const char *ns, const char *name,
		  char **ret_json)
{
	struct store_sqlite *s = sq(st);
	sqlite3_stmt *stmt;
	int r = sq_prepare(s, "SELECT json FROM objects WHERE kind=?1 AND namespace=?2 AND name=?3",
			   &stmt);
	if (r < 0)
		return r;
	sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		char *j = strdup((const char *)sqlite3_column_text(stmt, 0));
		if (!j) {
			r = -ENOMEM;
			goto out;
		}
		*ret_json = j;
		r = 0;
	} else if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else {
		r = sq_err(s, rc, "get");
	}
out:
	sqlite3_finalize(stmt);
	return r;
}

static int sq_put(struct store *st, const char *kind, const char *ns, const char *name,
		  const char *json, int64_t now)
{
	struct store_sqlite *s = sq(st);
	sqlite3_stmt *stmt;
	int r = sq_prepare(s,
			   "INSERT INTO objects(kind, namespace, name, json, created) "
			   "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(kind, namespace, name) "
			   "DO UPDATE SET json=excluded.json",
			   &stmt);
	if (r < 0)
		return r;
	sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, json, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 5, now);
	int rc = sqlite3_step(stmt);
	r = rc == SQLITE_DONE ? 0 : sq_err(s, rc, "put");
	sqlite3_finalize(stmt);
	return r;
}

static int sq_del(struct store *st, const char *kind, const char *ns, const char *name)
{
	struct store_sqlite *s = sq(st);
	sqlite3_stmt *stmt;
	int r =
	    sq_prepare(s, "DELETE FROM objects WHERE kind=?1 AND namespace=?2 AND name=?3", &stmt);
	if (r < 0)
		return r;
	sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		r = sq_err(s, rc, "delete");
	else
		r = sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
	sqlite3_finalize(stmt);
	return r;
}

static int sq_list(struct store *st, const char *kind, const char *ns, struct store_list *ret)
{
	struct store_sqlite *s = sq(st);
	sqlite3_stmt *stmt;
	int r = sq_prepare(s,
			   "SELECT kind, namespace, name, json, created FROM objects "
			   "WHERE (?1 IS NULL OR kind=?1) AND (?2 IS NULL OR namespace=?2) "
			   "ORDER BY kind, namespace, name",
			   &stmt);
	if (r < 0)
		return r;
	if (kind)
		sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC);
	if (ns)
		sqlite3_bind_text(stmt, 2, ns, -1, SQLITE_STATIC);
	struct store_list l = {0};
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (l.n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct store_object *it = realloc(l.items, nc * sizeof(*it));
			if (!it) {
				r = -ENOMEM;
				goto fail;
			}
			l.items = it;
			cap = nc;
		}
		struct store_object *o = &l.items[l.n];
		o->kind = strdup((const char *)sqlite3_column_text(stmt, 0));
		o->namespace = strdup((const char *)sqlite3_column_text(stmt, 1));
		o->name = strdup((const char *)sqlite3_column_text(stmt, 2));
		o->json = strdup((const char *)sqlite3_column_text(stmt, 3));
		o->created = sqlite3_column_int64(stmt, 4);
		l.n++;
		if (!o->kind || !o->namespace || !o->name || !o->json) {
			r = -ENOMEM;
			goto fail;
		}
	}
	if (rc != SQLITE_DONE) {
		r = sq_err(s, rc, "list");
		goto fail;
	}
	sqlite3_finalize(stmt);
	*ret = l;
	return 0;
fail:
	sqlite3_finalize(stmt);
	store_list_free(&l);
	return r;
}

static void sq_close(struct store *st)
{
	struct store_sqlite *s = sq(st);
	sqlite3_close(s->db);
	free(s);
}

static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .get = sq_get,
    .put = sq_put,
    .del = sq_del,
    .list = sq_list,
    .close = sq_close,
};

int store_sqlite_open(const char *path, struct store **ret, char *errbuf, size_t errlen)
{
	struct store_sqlite *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &sqlite_ops;
	int rc = sqlite3_open_v2(
	    path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	int r = 0;
	if (rc != SQLITE_OK) {
		snprintf(errbuf, errlen, "cannot open \"%s\": %s", path,
			 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		r = rc == SQLITE_CANTOPEN ? -ENOENT : -EIO;
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 5000);
	static const char *const setup[] = {
	    "PRAGMA journal_mode=WAL",
	    "PRAGMA synchronous=FULL",
	    "CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, namespace TEXT NOT NULL, "
	    "name TEXT NOT NULL, json TEXT NOT NULL, created INTEGER NOT NULL, "
	    "PRIMARY KEY (kind, namespace, name))",
	};
	for (size_t i = 0; i < sizeof(setup) / sizeof(setup[0]); i++) {
		r = sq_exec(s, setup[i]);
		if (r < 0) {
			snprintf(errbuf, errlen, "\"%s\": %s", path, sqlite3_errmsg(s->db));
			goto fail;
		}
	}
	*ret = &s->base;
	return 0;
fail:
	sqlite3_close(s->db);
	free(s);
	return r;
}
