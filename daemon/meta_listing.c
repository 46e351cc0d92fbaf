// SPDX-License-Identifier: Apache-2.0
// Immutable, refcounted directory listing: a sorted entry array (readdir order) and a hash table
// from name to entry (lookup) whose nodes are one array beside it, no copy of any name. Nothing
// changes after construction, so readers need no lock.
#include "meta_listing.h"

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "htable.h"

struct meta_listing {
	atomic_uint refs;
	int64_t fetched_ms;
	size_t n;
	struct ufs_dirent *ents; /* sorted by name */
	struct name_node *nodes; /* nodes[i] indexes ents[i] in by_name */
	struct htable by_name;
};

struct name_node {
	struct htable_node hn;
	const struct ufs_dirent *e;
};

static uint64_t name_hash(const struct htable_node *n)
{
	return htable_hash_str(htable_entry(n, struct name_node, hn)->e->name);
}

static bool name_eq(const struct htable_node *n, const void *key)
{
	return strcmp(htable_entry(n, struct name_node, hn)->e->name, key) == 0;
}

static int cmp_dirent(const void *a, const void *b)
{
	return strcmp(((const struct ufs_dirent *)a)->name, ((const struct ufs_dirent *)b)->name);
}

int meta_listing_new(struct ufs_dirent *ents, size_t n, int64_t fetched_ms,
		     struct meta_listing **ret)
{
	struct meta_listing *l = calloc(1, sizeof(*l));
	if (!l)
		goto nomem;
	l->nodes = malloc((n ? n : 1) * sizeof(*l->nodes));
	/* sized for n at once: no growth while indexing */
	if (!l->nodes || htable_init(&l->by_name, n, name_hash) < 0)
		goto nomem;
	if (n > 1)
		qsort(ents, n, sizeof(*ents), cmp_dirent);
	for (size_t i = 0; i < n; i++) {
		l->nodes[i].e = &ents[i];
		htable_insert(&l->by_name, &l->nodes[i].hn, htable_hash_str(ents[i].name));
	}
	atomic_init(&l->refs, 1);
	l->fetched_ms = fetched_ms;
	l->ents = ents;
	l->n = n;
	*ret = l;
	return 0;
nomem:
	if (l) {
		htable_fini(&l->by_name);
		free(l->nodes);
	}
	free(l);
	ufs_dirents_free(ents, n);
	return -ENOMEM;
}

struct meta_listing *meta_listing_ref(struct meta_listing *l)
{
	atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
	return l;
}

void meta_listing_unref(struct meta_listing *l)
{
	if (!l || atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1)
		return;
	htable_fini(&l->by_name);
	free(l->nodes);
	ufs_dirents_free(l->ents, l->n);
	free(l);
}

size_t meta_listing_count(const struct meta_listing *l)
{
	return l->n;
}

const struct ufs_dirent *meta_listing_at(const struct meta_listing *l, size_t i)
{
	return &l->ents[i];
}

const struct ufs_dirent *meta_listing_find(const struct meta_listing *l, const char *name)
{
	struct htable_node *n = htable_find(&l->by_name, htable_hash_str(name), name_eq, name);

	return n ? htable_entry(n, struct name_node, hn)->e : NULL;
}

int64_t meta_listing_fetched_ms(const struct meta_listing *l)
{
	return l->fetched_ms;
}

uint64_t meta_listing_bytes(const struct meta_listing *l)
{
	if (!l)
		return 0;
	uint64_t bytes = malloc_usable_size((void *)l) + malloc_usable_size(l->ents) +
			 malloc_usable_size(l->nodes) + htable_bytes(&l->by_name);
	for (size_t i = 0; i < l->n; i++)
		bytes += malloc_usable_size(l->ents[i].name);
	return bytes;
}
