/* SPDX-License-Identifier: Apache-2.0 */
/* weir's FUSE mounts as the kernel lists them (/proc/self/mountinfo, fstype "fuse.weir"), and
 * the dead ones a killed weir-node leaves behind. A dead mount must be detached before a new
 * one goes at the same path, or the new one stacks on it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* True when mountinfo lists a fuse.weir mount (alive or dead) at the absolute path mp. */
bool fuse_mounts_is_weir(const char *mp);

/* Lazily unmounts every dead weir mount stacked at mp, top first. A mount is dead when its
 * connection is gone: statfs, which always asks the daemon (stat may answer from cached
 * attributes and succeed), fails with ENOTCONN. Blocks until a daemon that is still exiting has
 * closed its /dev/fuse: hold no lock over it. Returns the number detached (>= 0), -EBUSY when a
 * live weir mount (another daemon's) is at mp, or -errno. */
int fuse_mounts_clear_dead(const char *mp);

/* Lazily unmounts the FUSE mount on top of mp (alive or dead), reaching it through mp's parent
 * directory held first: -EINVAL when what is there is not a FUSE mount. Returns 0 or -errno. */
int fuse_mounts_detach(const char *mp);

/* The topmost mount at the absolute path mp, whatever its type: returns 1 with its device
 * (the st_dev its files have) in *ret_dev and whether it is fuse.weir in *ret_weir (either may be
 * NULL), 0 when nothing is mounted there, or -errno. */
int fuse_mounts_at(const char *mp, unsigned long *ret_dev, bool *ret_weir);

/* The root of the topmost mount at the absolute path mp: the directory of its file system it
 * shows ("/" for a whole file system, "/a/b" for a bind mount of that directory). Returns 1 with
 * it in ret_root (len bytes), 0 when nothing is mounted there, or -errno. */
int fuse_mounts_root(const char *mp, char *ret_root, size_t len);

/* How many mounts show device dev (a view and its bind mounts share it). Returns >= 0 or
 * -errno. */
int fuse_mounts_count_dev(unsigned long dev);
