/* SPDX-License-Identifier: Apache-2.0 */
/* Reference resolution and access grants for dataset:// references. Pure functions over
 * objects the caller owns; the store is reached only through the lookup callback.
 *
 * Rules (spec.sharing.allow on the source, see objmodel.h):
 * - The source's own namespace may always reference it (read-only unless a grant says rw).
 * - No allow-list: every namespace may reference the whole dataset read-only, unless the
 *   controller denies by default, in which case nobody else may.
 * - An allow-list: a namespace must match an entry (its name or "*"); an entry without subPaths
 *   covers the whole dataset, one with subPaths only those subtrees. The view is rw when a
 *   covering entry says rw and the referencing mount is not readOnly. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "objmodel.h"

/* Returns the Dataset ns/name (borrowed, valid until the caller's next store change), or NULL
 * when there is none. */
typedef const struct objmodel *(*grant_lookup_fn)(void *userdata, const char *ns, const char *name);

struct grant_result {
	const struct objmodel *source; /* borrowed from the lookup */
	struct dataset_ref ref;	       /* the parsed dataset:// mount point */
	bool rw;		       /* the view may be written */
};

/* May a Dataset in namespace ref_ns reference source at subpath ("" or "/" = the whole
 * dataset)? Returns 0 when allowed, with *ret_rw telling whether writes are granted; -EACCES
 * when denied, with the reason in reason (e.g. `namespace "qa" is not in the sharing.allow list
 * of dataset development/spark`); -EINVAL when source is not a Dataset, is itself a reference or
 * subpath is malformed. reason may be NULL. */
int grant_check(const struct objmodel *source, const char *ref_ns, const char *subpath,
		bool deny_by_default, bool *ret_rw, char *reason, size_t len);

/* Resolves a referencing Dataset: parses its dataset:// mount, looks the target up, checks the
 * target is not itself a reference, then the grant. Returns 0 and fills *ret; or, with the
 * reason in reason: -EINVAL (ref is not a valid reference), -ENOENT (the target does not
 * exist), -ELOOP (the target is itself a reference), -EACCES (denied by the grant). The caller
 * puts the referencing Dataset in phase Failed with that reason. */
int grant_resolve(const struct objmodel *ref, grant_lookup_fn lookup, void *userdata,
		  bool deny_by_default, struct grant_result *ret, char *reason, size_t len);

/* Is subpath (normalized, "" = the whole dataset) equal to or below prefix (normalized)? */
bool grant_subpath_within(const char *subpath, const char *prefix);

/* May source be deleted? Returns 0 when no Dataset references it, or -EBUSY with a message
 * naming the references (from status.datasetRef) of source's own namespace and counting the
 * others: `dataset development/spark is referenced by development/b and 1 dataset of another
 * namespace; delete those datasets first (names of ...)`. The message goes to whoever asks to
 * delete (webhook, Event): it never names another namespace's Dataset. */
int grant_delete_check(const struct objmodel *source, char *errbuf, size_t errlen);
