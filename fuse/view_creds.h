/* SPDX-License-Identifier: Apache-2.0 */
/* The reader's filesystem rights on the calling thread. weir-node runs as root and the kernel
 * checks a view's access against the attributes it cached, which a user who can write part of
 * a local:// source can make stale by swapping a name for a link (to a file or directory of
 * root's inside the source). So what a non-root reader asks of such a source is done (or first
 * looked up) with the reader's fsuid, fsgid and groups: the source's own permissions decide, on
 * the objects actually reached. Per thread: the FUSE worker that answers the request. */
#pragma once

/* includers define FUSE_USE_VERSION, as view.c does */

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <sys/types.h>

#define VIEW_CREDS_MAX_GROUPS 64

struct view_creds {
	bool on; /* switched to the reader's rights: view_creds_leave switches back */
	uid_t uid;
	gid_t gid;
	int ngroups; /* the reader's supplementary groups (at most VIEW_CREDS_MAX_GROUPS) */
	gid_t groups[VIEW_CREDS_MAX_GROUPS];
	int nsaved; /* ours, restored on leave */
	gid_t saved[VIEW_CREDS_MAX_GROUPS];
};

/* Switches this thread's fsuid, fsgid and supplementary groups to those of the process that
 * sent req; nothing for a request of root (c->on stays false). Returns 0, or -EACCES when the
 * switch could not be made (then nothing changed): the caller must refuse the request. */
int view_creds_enter(fuse_req_t req, struct view_creds *c);

/* Switches back to the daemon's own rights (nothing when c->on is false). */
void view_creds_leave(struct view_creds *c);

/* Whether the reader c stands for may access (want: R_OK, W_OK, X_OK or'ed) an object of owner
 * uid, group gid and mode, by its permission bits, as the kernel's default_permissions judges
 * them. c must have been entered (a root reader, c->on false, may). */
bool view_creds_may(const struct view_creds *c, uid_t uid, gid_t gid, unsigned mode, int want);
