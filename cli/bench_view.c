// SPDX-License-Identifier: Apache-2.0
// weir bench's link to weir-node: finding the view a directory is in, and its UFS counter.
#include "bench_view.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuse_mounts.h"
#include "node_client.h"

int bench_view_find(const char *dir, char ret_mp[PATH_MAX])
{
	char path[PATH_MAX];
	struct stat st;
	if (!realpath(dir, path) || stat(path, &st) < 0)
		return -errno;
	dev_t dev = st.st_dev;
	/* climb while the parent is on the same device: the last such directory is the root of
	 * the mount (a view's root is its mount point; a bind of its subdirectory is not a view) */
	for (;;) {
		char *slash = strrchr(path, '/');
		if (!slash || slash == path) {
			if (strcmp(path, "/") == 0 || stat("/", &st) < 0 || st.st_dev != dev)
				break;
			snprintf(path, sizeof(path), "/");
			break;
		}
		*slash = '\0';
		if (stat(path, &st) < 0 || st.st_dev != dev) {
			*slash = '/';
			break;
		}
	}
	if (!fuse_mounts_is_weir(path))
		return 0;
	snprintf(ret_mp, PATH_MAX, "%s", path);
	return 1;
}

int bench_view_ufs_bytes(const char *state_dir, const char *mp, uint64_t *ret_bytes)
{
	struct node_client nc;
	node_client_init(&nc, state_dir);
	Weir__StatRequest s = WEIR__STAT_REQUEST__INIT;
	s.mountpoint = (char *)mp;
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_STAT;
	req.stat = &s;
	Weir__Response *resp = NULL;
	int r = node_client_call(&nc, &req, &resp);
	if (r < 0)
		return r;
	if (resp->error || resp->n_views != 1)
		r = -ENOENT;
	else
		*ret_bytes = resp->views[0]->ufs_bytes;
	weir__response__free_unpacked(resp, NULL);
	return r;
}
