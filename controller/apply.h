/* SPDX-License-Identifier: Apache-2.0 */
/* Writes to the store as `weir create|apply|delete` asks: validated again, all or nothing,
 * namespaces checked, status kept across updates, references guarding their sources.
 * The caller serializes calls (the controller's lock). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Lines for the user, kubectl's way: "dataset.data.fluid.io/spark created". */
struct apply_result {
	size_t n;
	char **lines;
};

void apply_result_free(struct apply_result *res);

/* Stores the n objects (JSON as objmodel_to_json_string writes it) in one transaction. create:
 * an existing object is an error (weir create); else its spec is replaced and its status and
 * creation time kept (weir apply). source names the file in messages. Returns 0 and fills *ret;
 * -EINVAL (an object does not validate), -EEXIST, -ENOENT (its namespace does not exist) or
 * another -errno, with errbuf naming the file, document and object; nothing is stored then. */
int apply_objects(struct store *st, const char *const *jsons, size_t n, bool create,
		  const char *source, int64_t now, struct apply_result *ret, char *errbuf,
		  size_t errlen);

/* Deletes kind ("Dataset", "Runtime", "DataLoad", "Namespace") ns/name. A source Dataset that
 * references name is refused (-EBUSY), so are "default" and a namespace still holding objects.
 * Returns 0 with kubectl's line in result (`dataset.data.fluid.io "spark" deleted`), or -errno
 * with a message. */
int apply_delete(struct store *st, const char *kind, const char *ns, const char *name,
		 bool deny_by_default, char *result, size_t rlen, char *errbuf, size_t errlen);

/* apply_delete's refusals without the delete (the admission webhook asks before Kubernetes
 * deletes): 0 when kind ns/name may go, -ENOENT when it is not stored, -EBUSY/-EPERM with the
 * same message as apply_delete. */
int apply_delete_check(struct store *st, const char *kind, const char *ns, const char *name,
		       bool deny_by_default, char *errbuf, size_t errlen);

/* Stores the Namespace "default" unless it exists (at start: it always exists, as in
 * Kubernetes). Returns 0 or -errno. */
int apply_default_namespace(struct store *st, int64_t now);

/* kubectl's resource name of a kind: "datasets.data.fluid.io" (plural), "namespaces". Writes
 * buf. kind_name is as written ("AlluxioRuntime"). */
char *apply_resource_name(const char *kind_name, bool plural, char *buf, size_t len);
