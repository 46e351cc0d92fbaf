/* SPDX-License-Identifier: Apache-2.0 */
/* Metadata cache of one source: directory listings and validated object versions, kept in
 * memory and persisted in SQLite, so a restarted daemon serves a warm tree without asking the
 * UFS again while the entries are younger than the view's metadata TTL. Thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ufs.h"

struct meta_cache;

/* Opens (creating) the cache persisted at db_path for UFS u (borrowed). Returns 0 or -errno. */
int meta_cache_open(const char *db_path, struct ufs *u, struct meta_cache **ret);
void meta_cache_free(struct meta_cache *mc);

/* The listing of dir ("/" or "/a/b"), from the cache when younger than ttl_ms, else from the
 * UFS. On success *ret_ents is an owned copy (ufs_dirents_free), sorted by name. */
int meta_cache_list(struct meta_cache *mc, const char *dir, unsigned ttl_ms,
		    struct ufs_dirent **ret_ents, size_t *ret_n);

/* Attributes of path as its parent's listing gives them (a stat when the listing has no
 * size). "/" is a directory. -ENOENT when the parent lists no such name. */
int meta_cache_getattr(struct meta_cache *mc, const char *path, unsigned ttl_ms,
		       struct ufs_attr *ret);

/* The object's current version, validated at the UFS (stat) unless a validation younger than
 * ttl_ms is recorded and force is false. *ret_changed: a different version had been validated
 * before (its cached blocks are stale). */
int meta_cache_validate(struct meta_cache *mc, const char *path, unsigned ttl_ms, bool force,
			struct ufs_attr *ret, bool *ret_changed);

/* Forgets what is known of path after weir changed it: its validated version, its listing if
 * it is a directory, and its parent's listing, so the next look asks the UFS. */
void meta_cache_invalidate(struct meta_cache *mc, const char *path);

/* Milliseconds since the epoch; the clock the cache ages entries by. */
int64_t meta_cache_now_ms(void);
