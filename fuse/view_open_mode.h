/* SPDX-License-Identifier: Apache-2.0 */
/* How a view opens its files, chosen once at mount: "open" (each open and close is a request;
 * a descriptor is bound to one version; large complete files are passed through), "no-open"
 * (the kernel opens files by itself; an inode is bound to one version; read-only views), or
 * "auto", which picks between them from what the tree holds. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "meta_cache.h"

enum view_open_mode {
	VIEW_OPEN_AUTO,
	VIEW_OPEN_OPEN,
	VIEW_OPEN_NO_OPEN,
};

/* The mode named s ("auto", "open", "no-open"). Returns 0 and *ret, or -EINVAL. */
int view_open_mode_parse(const char *s, enum view_open_mode *ret);
/* "open" or "no-open". */
const char *view_open_mode_name(bool no_open);

/* Decides whether a view of subpath in meta's source is served without OPEN. auto: no-open for
 * a read-only view when at least half of the regular files found in its first listings (up to
 * 16 directories, breadth first, through the metadata cache: at most 16 UFS listings, which
 * the view's first lookups reuse) are small (VIEW_SMALL_FILE) and hold at least 5% of their
 * bytes; open otherwise, or when none is found. A read-write view is always open; asking no-open
 * for it is an error. Writes the reason (or the error) into why. Returns 0 and *ret_no_open, or
 * -EINVAL. May ask the UFS: call with no lock held. */
int view_open_mode_pick(enum view_open_mode mode, bool read_write, struct meta_cache *meta,
			const char *subpath, unsigned ttl_ms, bool *ret_no_open, char *why,
			size_t len);
