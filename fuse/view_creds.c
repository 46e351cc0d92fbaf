// SPDX-License-Identifier: Apache-2.0
// Per-thread switches to a FUSE reader's filesystem rights (fsuid, fsgid, groups) and back.
// Raw syscalls: glibc's setgroups() changes every thread of the process, not this one.
#define FUSE_USE_VERSION 312
#include "view_creds.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

/* Returns false when the groups could not be set (then the thread keeps ours). */
static bool set_ids(uid_t uid, gid_t gid, int n, const gid_t *groups)
{
	/* groups and gid first: once fsuid is not 0 the thread may no longer change them */
	if (syscall(SYS_setgroups, (size_t)n, groups) < 0)
		return false;
	syscall(SYS_setfsgid, gid);
	syscall(SYS_setfsuid, uid);
	return true;
}

int view_creds_enter(fuse_req_t req, struct view_creds *c)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	c->on = false;
	c->uid = ctx->uid;
	c->gid = ctx->gid;
	c->ngroups = 0;
	if (ctx->uid == 0)
		return 0;
	int n = fuse_req_getgroups(req, VIEW_CREDS_MAX_GROUPS, c->groups);
	/* a reader gone or out of sight, or more groups than we keep: fewer rights, never more */
	c->ngroups = n < 0 ? 0 : n > VIEW_CREDS_MAX_GROUPS ? VIEW_CREDS_MAX_GROUPS : n;
	static atomic_bool said;
	if (n < 0 && ctx->pid == 0 && !atomic_exchange(&said, true))
		log_notice("a reader of uid %u is in a pid namespace weir-node cannot see: its "
			   "supplementary groups count for nothing at local:// sources (run "
			   "weir-node in the host's pid namespace)",
			   (unsigned)ctx->uid);
	c->nsaved = (int)syscall(SYS_getgroups, VIEW_CREDS_MAX_GROUPS, c->saved);
	if (c->nsaved < 0) {
		log_warn("cannot read weir-node's groups: %s; refusing a request of uid %u",
			 strerror(errno), (unsigned)ctx->uid);
		return -EACCES;
	}
	bool grouped = set_ids(ctx->uid, ctx->gid, c->ngroups, c->groups);
	c->on = true;
	/* setfsuid says nothing of a failure: ask which ids hold now */
	if (!grouped || (uid_t)syscall(SYS_setfsuid, -1) != ctx->uid ||
	    (gid_t)syscall(SYS_setfsgid, -1) != ctx->gid) {
		view_creds_leave(c);
		log_warn("cannot take the rights of uid %u gid %u (is weir-node root?): refusing "
			 "its request",
			 (unsigned)ctx->uid, (unsigned)ctx->gid);
		return -EACCES;
	}
	return 0;
}

void view_creds_leave(struct view_creds *c)
{
	if (!c->on)
		return;
	/* fsuid first: back to root, which may set the rest */
	syscall(SYS_setfsuid, geteuid());
	syscall(SYS_setfsgid, getegid());
	syscall(SYS_setgroups, (size_t)c->nsaved, c->saved);
	c->on = false;
}

bool view_creds_may(const struct view_creds *c, uid_t uid, gid_t gid, unsigned mode, int want)
{
	if (c->uid == 0)
		return true; /* root: as the kernel lets it (exec aside, which no caller asks) */
	unsigned bits;
	if (c->uid == uid) {
		bits = mode >> 6;
	} else {
		bool in_group = c->gid == gid;
		for (int i = 0; !in_group && i < c->ngroups; i++)
			in_group = c->groups[i] == gid;
		bits = in_group ? mode >> 3 : mode;
	}
	unsigned need = ((want & R_OK) ? 4 : 0) | ((want & W_OK) ? 2 : 0) | ((want & X_OK) ? 1 : 0);
	return (bits & need) == need;
}
