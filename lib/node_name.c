// SPDX-License-Identifier: Apache-2.0
// Node name validation and the member bound (see node_name.h).
#include "node_name.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

bool node_name_ok(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_'))
			return false;
	}
	return true;
}

int node_name_check_members(const char *what, const char *const *names, size_t n, char *err,
			    size_t errlen)
{
	if (n > CLUSTER_MAX_NODES) {
		snprintf(err, errlen, "%s lists %zu members; a cluster has at most %d", what, n,
			 CLUSTER_MAX_NODES);
		return -E2BIG;
	}
	for (size_t i = 0; i < n; i++) {
		const char *s = names[i] ? names[i] : "";
		if (!node_name_ok(s, strlen(s), NODE_NAME_MAX)) {
			snprintf(
			    err, errlen,
			    "%s: member %zu's node \"%.100s%s\" (%zu bytes) is not a name of 1 "
			    "to %d letters, digits, '.', '-' or '_'",
			    what, i, s, strlen(s) > 100 ? "..." : "", strlen(s), NODE_NAME_MAX);
			return -EINVAL;
		}
	}
	return 0;
}
