/* SPDX-License-Identifier: Apache-2.0 */
/* What a cluster member may be: the one check of a node's name and the one bound on a cluster's
 * size, kept alike by weir-controller's member table, the readers of the nodes' Leases and each
 * node's cluster view, so that none of them keeps a member another drops. What passes must be
 * safe in a URL, a header and a log line. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* A cluster has at most this many members (a heartbeat from one more is refused; a node refuses
 * a member set larger than this and keeps the one it has). */
#define CLUSTER_MAX_NODES 64
/* A member's name is 1 to this many characters (a DNS label's length). */
#define NODE_NAME_MAX 63

/* True when the len bytes at s are 1..max characters, each a letter, digit, '-', '.' or '_'.
 * s need not be NUL-terminated. */
bool node_name_ok(const char *s, size_t len, size_t max);

/* Checks a member set as a source reports it (what names the source in the message: "the
 * controller's heartbeat answer", "the nodes' Leases"): 0, -E2BIG (more than
 * CLUSTER_MAX_NODES names) or -EINVAL (a name that is not 1 to NODE_NAME_MAX letters, digits,
 * '.', '-' or '_'), with err naming the field, the value and the limit. */
int node_name_check_members(const char *what, const char *const *names, size_t n, char *err,
			    size_t errlen);
