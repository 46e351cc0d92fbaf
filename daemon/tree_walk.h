/* SPDX-License-Identifier: Apache-2.0 */
/* Walks a source's tree through its metadata cache, depth first, calling back for each file.
 * Listings younger than the TTL come from the cache, so a second walk asks the UFS nothing. */
#pragma once

#include <stdatomic.h>

#include "meta_cache.h"

/* Called for each regular file; a non-zero return stops the walk and is returned. home: NULL, or
 * for a file listed through a symbolic link (ufs_dirent.via_link) the deepest directory above
 * path beneath which the link resolves ("/" if none below the root): a view of a directory
 * below home refuses the file (ufs_stat_beneath), so its size is not that view's. */
typedef int (*tree_walk_fn)(const char *path, const char *home, const struct ufs_attr *attr,
			    void *userdata);

/* Walks root (a directory or a file, "/" for the whole source). At a source with owners
 * (local://) no directory reached through a symbolic link is entered (-ELOOP for root itself).
 * Returns 0, the callback's
 * non-zero value, or -errno from a listing (-ENOENT when root does not exist). *stop, if not
 * NULL, is polled between listings to abandon the walk (then -ECANCELED). */
int tree_walk(struct meta_cache *mc, const char *root, unsigned ttl_ms, tree_walk_fn fn,
	      void *userdata, const atomic_int *stop);
