// SPDX-License-Identifier: Apache-2.0
// String-keyed map on the tree's hash table (htable): each entry one allocation holding its node,
// its FNV-1a hash (so growth and misses compare no strings) and its key copy.
#include "strmap.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "htable.h"

struct entry {
	struct htable_node node;
	uint64_t hash;
	void *value;
	char key[];
};

struct strmap {
	struct htable t;
	size_t entry_bytes; /* malloc_usable_size of the entries (keys included) */
};

struct lookup {
	const char *key;
	uint64_t hash;
};

static uint64_t entry_hash(const struct htable_node *n)
{
	return htable_entry(n, struct entry, node)->hash;
}

static bool entry_eq(const struct htable_node *n, const void *key)
{
	const struct entry *e = htable_entry(n, struct entry, node);
	const struct lookup *l = key;

	return e->hash == l->hash && strcmp(e->key, l->key) == 0;
}

struct strmap *strmap_new(void)
{
	struct strmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	if (htable_init(&m->t, 64, entry_hash) < 0) {
		free(m);
		return NULL;
	}
	return m;
}

void strmap_free(struct strmap *m, void (*free_value)(void *))
{
	struct htable_iter it;
	struct htable_node *n;

	if (!m)
		return;
	htable_iter_init(&it, &m->t);
	while ((n = htable_iter_next(&it))) {
		struct entry *e = htable_entry(n, struct entry, node);

		if (free_value)
			free_value(e->value);
		free(e);
	}
	htable_fini(&m->t);
	free(m);
}

static struct entry *find(const struct strmap *m, const char *key)
{
	struct lookup l = {key, htable_hash_str(key)};
	struct htable_node *n = htable_find(&m->t, l.hash, entry_eq, &l);

	return n ? htable_entry(n, struct entry, node) : NULL;
}

void *strmap_get(const struct strmap *m, const char *key)
{
	struct entry *e = find(m, key);

	return e ? e->value : NULL;
}

void *strmap_put(struct strmap *m, const char *key, void *value, int *ret_err)
{
	struct entry *e = find(m, key);

	if (ret_err)
		*ret_err = 0;
	if (e) {
		void *old = e->value;

		e->value = value;
		return old;
	}
	size_t klen = strlen(key);
	e = malloc(sizeof(*e) + klen + 1);
	if (!e) {
		if (ret_err)
			*ret_err = -ENOMEM;
		return NULL;
	}
	memcpy(e->key, key, klen + 1);
	e->hash = htable_hash_str(key);
	e->value = value;
	m->entry_bytes += malloc_usable_size(e);
	htable_insert(&m->t, &e->node, e->hash);
	return NULL;
}

void *strmap_remove(struct strmap *m, const char *key)
{
	struct entry *e = find(m, key);
	void *v;

	if (!e)
		return NULL;
	htable_remove(&m->t, &e->node);
	v = e->value;
	m->entry_bytes -= malloc_usable_size(e);
	free(e);
	return v;
}

size_t strmap_size(const struct strmap *m)
{
	return htable_size(&m->t);
}

size_t strmap_bytes(const struct strmap *m)
{
	return m ? malloc_usable_size((void *)m) + htable_bytes(&m->t) + m->entry_bytes : 0;
}

int strmap_each(const struct strmap *m, int (*fn)(const char *key, void *value, void *arg),
		void *arg)
{
	struct htable_iter it;
	struct htable_node *n;

	htable_iter_init(&it, &m->t);
	while ((n = htable_iter_next(&it))) {
		struct entry *e = htable_entry(n, struct entry, node);
		int r = fn(e->key, e->value, arg);

		if (r)
			return r;
	}
	return 0;
}
