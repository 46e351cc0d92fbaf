// SPDX-License-Identifier: Apache-2.0
// Node-free reconcile decisions: references, grants, datasetRef, delete refusal (mount plans are
// lib/mount_plan.c).
// Everything here works on an objmodel_list the caller loaded and owns.
#include "reconcile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct objmodel *lookup_dataset(void *userdata, const char *ns, const char *name)
{
	return objmodel_list_find(userdata, OBJMODEL_DATASET, ns, name);
}

static const char *resolve_reason_word(int r)
{
	switch (r) {
	case -ENOENT:
		return "ReferenceNotFound";
	case -ELOOP:
		return "ReferenceToReference";
	case -EACCES:
		return "ReferenceDenied";
	default:
		return "ReferenceInvalid";
	}
}

int reconcile_reference(struct objmodel *ds, const struct objmodel_list *l, bool deny_by_default,
			struct grant_result *ret, int64_t now)
{
	char reason[1024];
	struct grant_result gr;
	int r = grant_resolve(ds, lookup_dataset, (void *)l, deny_by_default, &gr, reason,
			      sizeof(reason));
	if (r < 0) {
		int f =
		    dataset_status_fail(&ds->dataset.status, resolve_reason_word(r), reason, now);
		return f < 0 ? f : r;
	}
	*ret = gr;
	return 0;
}

int reconcile_dataset_refs(struct objmodel_list *l, bool deny_by_default)
{
	for (size_t i = 0; i < l->n; i++) {
		struct dataset_status *st = &l->items[i]->dataset.status;
		if (l->items[i]->kind != OBJMODEL_DATASET || dataset_is_reference(l->items[i]))
			continue;
		for (size_t k = 0; k < st->n_dataset_ref; k++)
			free(st->dataset_ref[k]);
		free(st->dataset_ref);
		st->dataset_ref = NULL;
		st->n_dataset_ref = 0;
	}
	for (size_t i = 0; i < l->n; i++) {
		struct objmodel *ds = l->items[i];
		if (ds->kind != OBJMODEL_DATASET || !dataset_is_reference(ds))
			continue;
		struct grant_result gr;
		if (grant_resolve(ds, lookup_dataset, l, deny_by_default, &gr, NULL, 0) < 0)
			continue;
		struct objmodel *src = (struct objmodel *)gr.source;
		int r =
		    dataset_status_add_ref(&src->dataset.status, ds->meta.namespace, ds->meta.name);
		if (r < 0)
			return r;
	}
	return 0;
}

int reconcile_delete_check(const struct objmodel_list *l, const struct objmodel *target,
			   bool deny_by_default, char *errbuf, size_t errlen)
{
	if (target->kind != OBJMODEL_DATASET || dataset_is_reference(target))
		return 0;
	struct objmodel *copy;
	int r = objmodel_dup(target, &copy);
	if (r < 0)
		return r;
	struct dataset_status *st = &copy->dataset.status;
	for (size_t k = 0; k < st->n_dataset_ref; k++)
		free(st->dataset_ref[k]);
	free(st->dataset_ref);
	st->dataset_ref = NULL;
	st->n_dataset_ref = 0;
	/* Only references the target grants count. Any namespace can write a reference to any
	 * Dataset, and the owner cannot delete it: counting denied ones would let a stranger keep
	 * the owner from deleting its own Dataset. A denied reference binds to a later Dataset of
	 * the name only if that one grants it, which is its owner's call. */
	for (size_t i = 0; i < l->n && r >= 0; i++) {
		struct objmodel *ds = l->items[i];
		struct grant_result gr;
		if (ds->kind != OBJMODEL_DATASET || !dataset_is_reference(ds))
			continue;
		if (grant_resolve(ds, lookup_dataset, (void *)l, deny_by_default, &gr, NULL, 0) <
			0 ||
		    strcmp(gr.source->meta.namespace, target->meta.namespace) ||
		    strcmp(gr.source->meta.name, target->meta.name))
			continue;
		r = dataset_status_add_ref(st, ds->meta.namespace, ds->meta.name);
	}
	if (r >= 0)
		r = grant_delete_check(copy, errbuf, errlen);
	objmodel_free(copy);
	return r;
}
