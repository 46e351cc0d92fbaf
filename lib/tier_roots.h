/* SPDX-License-Identifier: Apache-2.0 */
/* The administrator's tier roots (weir-node's tier-roots setting): the host directories under
 * which a Runtime's tiers may live and the largest quota one tier there may ask. In a cluster
 * any namespace can write a Runtime, and root weir-node creates and fills its tiers: without
 * this a tenant picks the directory (/, /var/lib/kubelet) and the size (node RAM through
 * /dev/shm). Syntax "PATH:SIZE[:PER-NS][,PATH:SIZE[:PER-NS]...]", SIZE a quantity (quantity.h):
 *   /dev/shm/weir:8GiB:2GiB,/var/cache/weir:200GiB
 * PER-NS, at most SIZE, bounds what the tiers of one namespace's Datasets may take under the
 * root together (tier_budget.h), so one namespace cannot take all of it.
 * A tier path is allowed when it is a root or below it, segment-wise (/dev/shm/weir allows
 * /dev/shm/weir/x, not /dev/shm/weirx), has no "." or ".." segment and no symbolic link below
 * the root, and its quota is at most that root's SIZE (what all the tiers open under a root may
 * ask together is tier_budget.h's). No roots (an empty setting) allows
 * everything: the embedded control plane's CLI is root's alone. A parsed value is immutable. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tier_roots;

/* Parses spec. "" gives NULL (no roots: every path allowed). Returns 0 and an owned *ret
 * (tier_roots_free), or -EINVAL with a message naming the bad entry in err. */
int tier_roots_parse(const char *spec, struct tier_roots **ret, char *err, size_t errlen);

void tier_roots_free(struct tier_roots *t);

/* May a tier live at path with quota bytes? Returns 0 (always with NULL roots), or -EACCES with
 * a message for the user in err naming the roots and their sizes. Reads the file system (lstat
 * of the path's components below its root); no lock needed. */
int tier_roots_check(const struct tier_roots *t, const char *path, uint64_t quota, char *err,
		     size_t errlen);

/* The roots, by index 0..tier_roots_n()-1 (0 for NULL): a root's path ("/" for the root
 * directory) and SIZE, and whether path is at or under it, segment-wise (false for a path
 * that is not absolute or has a "." or ".." segment). No file system access. */
size_t tier_roots_n(const struct tier_roots *t);
const char *tier_roots_path(const struct tier_roots *t, size_t i);
uint64_t tier_roots_size(const struct tier_roots *t, size_t i);
/* Root i's per-namespace size; 0 when it has none. */
uint64_t tier_roots_ns_size(const struct tier_roots *t, size_t i);
bool tier_roots_holds(const struct tier_roots *t, size_t i, const char *path);
