/* SPDX-License-Identifier: Apache-2.0 */
/* The controller's decisions that need no node: loading the stored objects, resolving
 * references and grants, datasetRef bookkeeping, delete refusal, and how a Dataset is served
 * (lib/mount_plan.h). Pure functions over a list the caller owns. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grant.h"
#include "mount_plan.h"
#include "objmodel.h"
#include "store.h"

/* Resolves the reference Dataset ds against l (grant_resolve with deny_by_default). On failure
 * puts ds in phase Failed with a condition giving the reason (changing it only when the reason
 * changed) and returns grant_resolve's -errno; 0 and *ret on success. */
int reconcile_reference(struct objmodel *ds, const struct objmodel_list *l, bool deny_by_default,
			struct grant_result *ret, int64_t now);

/* Rebuilds status.datasetRef of every source Dataset in l from the references in l that resolve
 * to it. Returns 0 or -ENOMEM. */
int reconcile_dataset_refs(struct objmodel_list *l, bool deny_by_default);

/* May Dataset target be deleted? Computes its references from l (not from its possibly stale
 * status). Returns 0, or -EBUSY with a message naming them, or -ENOMEM. */
int reconcile_delete_check(const struct objmodel_list *l, const struct objmodel *target,
			   bool deny_by_default, char *errbuf, size_t errlen);
