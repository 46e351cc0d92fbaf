// SPDX-License-Identifier: Apache-2.0
// Depth-first tree walk over the metadata cache; recursion depth is bounded by path length.
#include "tree_walk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int walk_dir(struct meta_cache *mc, const char *dir, unsigned ttl_ms, tree_walk_fn fn,
		    void *userdata, const atomic_int *stop)
{
	if (stop && atomic_load(stop))
		return -ECANCELED;
	struct meta_listing *l;
	int r = meta_cache_list(mc, dir, ttl_ms, &l);
	if (r < 0)
		return r;
	size_t n = meta_listing_count(l);
	for (size_t i = 0; i < n && r == 0; i++) {
		const struct ufs_dirent *e = meta_listing_at(l, i);
		char path[4096];
		int len =
		    snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") ? dir : "", e->name);
		if (len >= (int)sizeof(path))
			continue; /* deeper than any real tree; skip rather than truncate */
		if (e->attr.is_dir) {
			r = walk_dir(mc, path, ttl_ms, fn, userdata, stop);
			continue;
		}
		struct ufs_attr a = e->attr;
		if (!e->size_known) {
			r = meta_cache_getattr(mc, path, ttl_ms, &a);
			if (r < 0)
				break;
		}
		r = fn(path, &a, userdata);
	}
	meta_listing_unref(l);
	return r;
}

int tree_walk(struct meta_cache *mc, const char *root, unsigned ttl_ms, tree_walk_fn fn,
	      void *userdata, const atomic_int *stop)
{
	struct ufs_attr a;
	int r = meta_cache_getattr(mc, root, ttl_ms, &a);
	if (r < 0)
		return r;
	if (!a.is_dir)
		return fn(root, &a, userdata);
	return walk_dir(mc, root, ttl_ms, fn, userdata, stop);
}
