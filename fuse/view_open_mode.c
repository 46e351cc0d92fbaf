// SPDX-License-Identifier: Apache-2.0
// A view's open mode, chosen at mount (view_open_mode.h). auto samples the tree through the
// metadata cache; what it finds is said in the reason that weir stat and weir top show.
#include "view_open_mode.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta_listing.h"
#include "view.h"

#define SAMPLE_DIRS 16
/* the small files' share of the sampled bytes (per mille) that makes auto choose no-open */
#define AUTO_SMALL_SHARE 50

static const struct {
	const char *name;
	enum view_open_mode mode;
} modes[] = {
    {"auto", VIEW_OPEN_AUTO},
    {"open", VIEW_OPEN_OPEN},
    {"no-open", VIEW_OPEN_NO_OPEN},
};

int view_open_mode_parse(const char *s, enum view_open_mode *ret)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (s && strcmp(s, modes[i].name) == 0) {
			*ret = modes[i].mode;
			return 0;
		}
	return -EINVAL;
}

const char *view_open_mode_name(bool no_open)
{
	return no_open ? "no-open" : "open";
}

static char *join(const char *dir, const char *name)
{
	char *p;
	if (strcmp(dir, "/") == 0)
		return asprintf(&p, "/%s", name) < 0 ? NULL : p;
	return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

/* Counts the regular files of the first SAMPLE_DIRS directories under root, breadth first, and
 * the bytes of the small and of the large ones (sizes the listing knows). */
static void sample(struct meta_cache *meta, const char *root, unsigned ttl_ms, size_t *ret_small,
		   size_t *ret_files, size_t *ret_dirs, uint64_t *ret_small_bytes,
		   uint64_t *ret_large_bytes)
{
	char *queue[SAMPLE_DIRS];
	size_t head = 0, tail = 0, small = 0, files = 0;
	uint64_t small_bytes = 0, large_bytes = 0;
	queue[tail++] = strdup(root);
	while (head < tail) {
		char *dir = queue[head++];
		struct meta_listing *l = NULL;
		if (dir && meta_cache_list(meta, dir, ttl_ms, &l) == 0) {
			for (size_t i = 0; i < meta_listing_count(l); i++) {
				const struct ufs_dirent *e = meta_listing_at(l, i);
				if (e->attr.is_dir) {
					if (tail < SAMPLE_DIRS)
						queue[tail++] = join(dir, e->name);
					continue;
				}
				files++;
				/* a listing without sizes: such files are counted large */
				bool is_small = e->size_known && e->attr.size <= VIEW_SMALL_FILE;
				small += is_small;
				if (e->size_known)
					*(is_small ? &small_bytes : &large_bytes) += e->attr.size;
			}
			meta_listing_unref(l);
		}
		free(dir);
	}
	*ret_small = small;
	*ret_files = files;
	*ret_dirs = head;
	*ret_small_bytes = small_bytes;
	*ret_large_bytes = large_bytes;
}

int view_open_mode_pick(enum view_open_mode mode, bool read_write, struct meta_cache *meta,
			const char *subpath, unsigned ttl_ms, bool *ret_no_open, char *why,
			size_t len)
{
	if (read_write && mode == VIEW_OPEN_NO_OPEN) {
		snprintf(why, len,
			 "open mode no-open serves read-only views only: the kernel would open "
			 "files for writing without weir-node; mount it read-only, or with open "
			 "mode open or auto");
		return -EINVAL;
	}
	if (mode != VIEW_OPEN_AUTO) {
		*ret_no_open = mode == VIEW_OPEN_NO_OPEN;
		snprintf(why, len, "asked");
		return 0;
	}
	if (read_write) {
		*ret_no_open = false;
		snprintf(why, len, "auto: a read-write view opens its files");
		return 0;
	}
	size_t small, files, dirs;
	uint64_t small_bytes, large_bytes;
	sample(meta, subpath && *subpath ? subpath : "/", ttl_ms, &small, &files, &dirs,
	       &small_bytes, &large_bytes);
	/* No-open saves the requests of each open, which small files pay most for; it costs
	 * large files their passthrough (and a second copy of their bytes in the view's page
	 * cache). So the small files must be many, and hold a share of the bytes that their
	 * reads matter: a mirror of archives with a checksum file beside each (half the files,
	 * a thousandth of the bytes) stays open. */
	uint64_t bytes = small_bytes + large_bytes;
	unsigned share = bytes ? (unsigned)(small_bytes * 1000 / bytes) : 0; /* per mille */
	*ret_no_open = files > 0 && small * 2 >= files && share >= AUTO_SMALL_SHARE;
	snprintf(why, len,
		 "auto: %zu of %zu files in %zu directories are at most 1 MiB, with %u.%u%% of "
		 "their bytes",
		 small, files, dirs, share / 10, share % 10);
	return 0;
}
