/* SPDX-License-Identifier: Apache-2.0 */
/* Whether a directory weir bench reads is in a weir view, and how many bytes that view's
 * source has fetched from its UFS so far (weir-node's stat request), so the checkpoint
 * workload can show 1x the file, not one copy per reader. */
#pragma once

#include <limits.h>
#include <stdint.h>

/* Finds the mount point that holds dir (the topmost ancestor on the same device). Returns 1
 * with ret_mp set when it is a weir view (fuse.weir), 0 when it is not, or -errno. */
int bench_view_find(const char *dir, char ret_mp[PATH_MAX]);

/* The UFS bytes fetched by the source of the view at mp, asked of the weir-node of state_dir
 * (NULL: $WEIR_STATE_DIR or the default). Returns 0 with *ret_bytes, or -errno (-ECONNREFUSED,
 * -ENOENT: no daemon answers, or it serves no view at mp). */
int bench_view_ufs_bytes(const char *state_dir, const char *mp, uint64_t *ret_bytes);
