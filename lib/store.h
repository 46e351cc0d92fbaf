/* SPDX-License-Identifier: Apache-2.0 */
/* The object store behind a small ops struct: the controller's embedded SQLite file
 * (controller/store_sqlite.h) or kube-apiserver (store_kube.h, which weir-node reads too). Objects
 * are JSON text keyed by (kind, namespace, name); kind is objmodel_kind_name() ("Runtime" for
 * AlluxioRuntime too), namespace "" for a Namespace. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objmodel.h"

struct store_object {
	char *kind;
	char *namespace;
	char *name;
	char *json;
	int64_t created; /* epoch seconds of the first put */
};

struct store_list {
	size_t n;
	struct store_object *items;
};

struct store;

/* A backend. Every call returns >= 0 or -errno; ret_* are set only on success. A transaction
 * (begin .. commit/rollback) makes the puts and deletes in it all or nothing; calls outside one
 * commit each on their own. Not thread-safe: the caller serializes (the controller's lock). */
struct store_ops {
	const char *name;
	int (*begin)(struct store *st);
	int (*commit)(struct store *st);
	void (*rollback)(struct store *st);
	/* -ENOENT when absent; *ret_json owned (free()). */
	int (*get)(struct store *st, const char *kind, const char *ns, const char *name,
		   char **ret_json);
	/* Inserts or replaces; keeps the created time of a replaced object. The kube store
	 * returns -ENOENT for an object it read from the apiserver (metadata.uid set) that is gone
	 * from its cache since (deleted meanwhile): not written, not created anew. */
	int (*put)(struct store *st, const char *kind, const char *ns, const char *name,
		   const char *json, int64_t now);
	/* -ENOENT when absent. */
	int (*del)(struct store *st, const char *kind, const char *ns, const char *name);
	/* Objects of kind (NULL = every kind) in ns (NULL = every namespace), sorted by
	 * namespace, name; *ret owned (store_list_free). */
	int (*list)(struct store *st, const char *kind, const char *ns, struct store_list *ret);
	void (*close)(struct store *st);
};

struct secret_box;

struct store {
	const struct store_ops *ops;
	/* Seals Secrets' data before apply puts them (the embedded store); NULL: this store keeps
	 * no Secrets (on Kubernetes the apiserver does). Borrowed: its opener frees it. */
	const struct secret_box *secret_box;
};

static inline int store_begin(struct store *st)
{
	return st->ops->begin(st);
}
static inline int store_commit(struct store *st)
{
	return st->ops->commit(st);
}
static inline void store_rollback(struct store *st)
{
	st->ops->rollback(st);
}
static inline int store_get(struct store *st, const char *kind, const char *ns, const char *name,
			    char **ret_json)
{
	return st->ops->get(st, kind, ns ? ns : "", name, ret_json);
}
static inline int store_put(struct store *st, const char *kind, const char *ns, const char *name,
			    const char *json, int64_t now)
{
	return st->ops->put(st, kind, ns ? ns : "", name, json, now);
}
static inline int store_del(struct store *st, const char *kind, const char *ns, const char *name)
{
	return st->ops->del(st, kind, ns ? ns : "", name);
}
static inline int store_list(struct store *st, const char *kind, const char *ns,
			     struct store_list *ret)
{
	return st->ops->list(st, kind, ns, ret);
}

/* Closes a store; accepts NULL. */
void store_close(struct store *st);

/* Frees the items of a list (not the list itself) and zeroes it; accepts an empty list. */
void store_list_free(struct store_list *l);

/* Loads every stored object of kind (NULL = all kinds) as objmodels. Returns 0 and an owned
 * *ret (objmodel_list_free), or -errno with errbuf naming the object that does not parse.
 * Not thread-safe, like the store: the caller serializes. */
int store_load_models(struct store *st, const char *kind, struct objmodel_list **ret, char *errbuf,
		      size_t errlen);
