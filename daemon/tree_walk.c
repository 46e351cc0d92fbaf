// SPDX-License-Identifier: Apache-2.0
// Depth-first tree walk over the metadata cache; recursion depth is bounded by path length.
#include "tree_walk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Whether the walk enters directory path: at a source with owners (local://), not when it is
 * reached through a symbolic link (ufs_open_dir), as find(1) does not: a -> . and b -> . would
 * make the walk list the same tree 2^40 times, and a link out of a DataLoad's target would
 * load what the target does not hold. */
static bool enters(struct meta_cache *mc, const char *path)
{
	int fd = ufs_open_dir(meta_cache_get_ufs(mc), path);
	if (fd == -ELOOP || fd == -EACCES) {
		log_debug("walk: not entering \"%s\": reached through a symbolic link", path);
		return false;
	}
	if (fd >= 0)
		close(fd);
	return true;
}

/* home (PATH_MAX bytes) := the deepest directory above path, a file listed through a link,
 * beneath which it resolves (tree_walk_fn). One open and stat per level climbed: links only. */
static void link_home(struct ufs *u, const char *path, char *home, size_t len)
{
	snprintf(home, len, "%s", path);
	for (;;) {
		char *slash = strrchr(home, '/');
		if (!slash || slash == home) {
			snprintf(home, len, "/");
			return;
		}
		*slash = '\0';
		int fd = ufs_open_dir(u, home);
		if (fd < 0)
			continue;
		struct ufs_attr a;
		int r = ufs_stat_beneath(u, fd, path + strlen(home) + 1, &a);
		close(fd);
		if (r == 0)
			return;
	}
}

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
			if (!enters(mc, path))
				continue;
			r = walk_dir(mc, path, ttl_ms, fn, userdata, stop);
			continue;
		}
		struct ufs_attr a = e->attr;
		if (!e->size_known) {
			r = meta_cache_getattr(mc, path, ttl_ms, &a);
			if (r < 0)
				break;
		}
		char home[4096];
		if (e->via_link)
			link_home(meta_cache_get_ufs(mc), path, home, sizeof(home));
		r = fn(path, e->via_link ? home : NULL, &a, userdata);
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
		return fn(root, NULL, &a, userdata);
	if (strcmp(root, "/") != 0 && !enters(mc, root))
		return -ELOOP;
	return walk_dir(mc, root, ttl_ms, fn, userdata, stop);
}
