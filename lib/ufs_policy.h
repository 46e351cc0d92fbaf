/* SPDX-License-Identifier: Apache-2.0 */
/* The administrator's policy of which UFS roots a namespace may use (the controller's
 * ufs-roots setting), so that a namespace cannot make its own Dataset over someone else's
 * local path (or local:///). Syntax: "NS=URL[,URL...][;NS=...]", NS "*" for every namespace:
 *   team-a=local:///data/a,http://mirror/apache/;*=https://public.example/
 * A URL is allowed when a root of its namespace (or of "*") has the same scheme, host and port
 * and its path is the root's path or below it, segment-wise: local:///data/a allows
 * local:///data/a/x, not local:///data/ab nor local:///data/a/../b. An s3 root,
 * s3://bucket[/prefix][?endpoint=URL], allows that bucket's keys under the prefix at that
 * endpoint only (scheme, host and port); one without an endpoint allows only URLs without one
 * (the region's AWS endpoint, or weir-node's own profile's), so a Dataset cannot send the
 * node's requests elsewhere by its endpoint option. No policy (an empty
 * setting) allows everything: the embedded control plane's CLI is root's alone. Pure
 * functions; a policy is immutable once parsed. */
#pragma once

#include <stddef.h>

struct ufs_policy;

/* Parses spec. "" gives NULL (no policy: everything allowed). Returns 0 and an owned *ret
 * (ufs_policy_free), or -EINVAL with a message naming the bad part in err. */
int ufs_policy_parse(const char *spec, struct ufs_policy **ret, char *err, size_t errlen);

void ufs_policy_free(struct ufs_policy *p);

/* May namespace ns use url? Returns 0 (allowed; always with a NULL policy), or -EACCES with a
 * message for the user in err saying which roots ns may use. */
int ufs_policy_check(const struct ufs_policy *p, const char *ns, const char *url, char *err,
		     size_t errlen);
