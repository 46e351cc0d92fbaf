// SPDX-License-Identifier: Apache-2.0
// http:// and https:// UFS (being written).
#include <errno.h>

#include "ufs.h"

static int http_init(struct ufs *u, const struct ufs_options *opts)
{
	return -EPROTONOSUPPORT;
}

static void http_fini(struct ufs *u)
{
}

const struct ufs_ops ufs_http_ops = {
	.scheme = "http",
	.init = http_init,
	.fini = http_fini,
};
