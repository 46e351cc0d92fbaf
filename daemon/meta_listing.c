// SPDX-License-Identifier: Apache-2.0
// Immutable, refcounted directory listing: a sorted entry array (readdir order) and a strmap
// from name to entry (lookup). Nothing changes after construction, so readers need no lock.
#include "meta_listing.h"

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

struct meta_listing {
	atomic_uint refs;
	int64_t fetched_ms;
	size_t n;
	struct ufs_dirent *ents; /* sorted by name */
	struct strmap *by_name;	 /* name -> entry of ents */
};

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
	l->by_name = strmap_new();
	if (!l->by_name)
		goto nomem;
	if (n > 1)
		qsort(ents, n, sizeof(*ents), cmp_dirent);
	for (size_t i = 0; i < n; i++) {
		int err = 0;
		strmap_put(l->by_name, ents[i].name, &ents[i], &err);
		if (err < 0)
			goto nomem;
	}
	atomic_init(&l->refs, 1);
	l->fetched_ms = fetched_ms;
	l->ents = ents;
	l->n = n;
	*ret = l;
	return 0;
nomem:
	if (l)
		strmap_free(l->by_name, NULL);
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
	strmap_free(l->by_name, NULL);
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
	return strmap_get(l->by_name, name);
}

int64_t meta_listing_fetched_ms(const struct meta_listing *l)
{
	return l->fetched_ms;
}

uint64_t meta_listing_bytes(const struct meta_listing *l)
{
	if (!l)
		return 0;
	uint64_t bytes =
	    malloc_usable_size((void *)l) + malloc_usable_size(l->ents) + strmap_bytes(l->by_name);
	for (size_t i = 0; i < l->n; i++)
		bytes += malloc_usable_size(l->ents[i].name);
	return bytes;
}
