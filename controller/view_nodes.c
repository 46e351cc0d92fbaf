// SPDX-License-Identifier: Apache-2.0
// Each source Dataset's status.viewNodes, from the pods' claims and the running DataLoads
// (view_nodes.h).
#include "view_nodes.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load_share.h"
#include "mount_plan.h"
#include "strmap.h"

struct claim_nodes {
	struct strmap *m; /* "ns/claim" -> struct node_set */
};

/* Node names, sorted (strv_add_sorted). */
struct node_set {
	size_t n;
	char **v;
};

static void node_set_free(void *p)
{
	struct node_set *s = p;
	if (s)
		strv_free(s->v, s->n);
	free(s);
}

static int node_set_union(struct node_set *s, const struct node_set *from)
{
	for (size_t i = 0; from && i < from->n; i++)
		if (strv_add_sorted(&s->v, &s->n, from->v[i]) < 0)
			return -ENOMEM;
	return 0;
}

struct claim_nodes *claim_nodes_new(void)
{
	struct claim_nodes *c = calloc(1, sizeof(*c));
	if (c && !(c->m = strmap_new())) {
		free(c);
		return NULL;
	}
	return c;
}

void claim_nodes_free(struct claim_nodes *c)
{
	if (!c)
		return;
	strmap_free(c->m, node_set_free);
	free(c);
}

int claim_nodes_add(struct claim_nodes *c, const char *ns, const char *claim, const char *node)
{
	char key[600];
	if (!*node || snprintf(key, sizeof(key), "%s/%s", ns, claim) >= (int)sizeof(key))
		return 0; /* no Dataset has such a name */
	struct node_set *s = strmap_get(c->m, key);
	if (!s) {
		int err = 0;
		if (!(s = calloc(1, sizeof(*s))))
			return -ENOMEM;
		strmap_put(c->m, key, s, &err);
		if (err < 0) {
			free(s);
			return err;
		}
	}
	return strv_add_sorted(&s->v, &s->n, node);
}

static const struct node_set *claim_get(const struct claim_nodes *c, const char *ns,
					const char *name)
{
	char key[600];
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	return strmap_get(c->m, key);
}

/* Adds to *s the nodes that run shares of the DataLoads of l that are Executing and load
 * source_id (through a reference or not). */
static int loads_add(struct objmodel_list *l, const char *source_id, bool deny_by_default,
		     view_nodes_cache_fn cache_nodes, void *arg, struct node_set *s)
{
	struct mount_plan *plan = malloc(sizeof(*plan));
	char(*nodes)[254] = calloc(LOAD_SHARE_MAX_NODES, sizeof(*nodes));
	char err[512];
	int r = plan && nodes ? 0 : -ENOMEM;
	bool cached = false; /* nodes holds source_id's cache nodes */
	size_t n = 0;
	for (size_t i = 0; i < l->n && r == 0; i++) {
		const struct objmodel *d = l->items[i];
		if (d->kind != OBJMODEL_DATALOAD ||
		    d->dataload.status.phase != DATALOAD_PHASE_EXECUTING)
			continue;
		const char *dns = d->dataload.spec.dataset_namespace
				      ? d->dataload.spec.dataset_namespace
				      : d->meta.namespace;
		if (!d->dataload.spec.dataset_name ||
		    mount_plan_make(l, dns, d->dataload.spec.dataset_name, deny_by_default, plan,
				    err, sizeof(err)) < 0 ||
		    strcmp(plan->source_id, source_id))
			continue;
		if (!cached) {
			n = cache_nodes(arg, source_id, nodes, LOAD_SHARE_MAX_NODES);
			n = n < LOAD_SHARE_MAX_NODES ? n : LOAD_SHARE_MAX_NODES;
			cached = true;
		}
		for (size_t k = 0; k < n && r == 0; k++)
			r = strv_add_sorted(&s->v, &s->n, nodes[k]);
		break; /* one load of the source names them all */
	}
	free(plan);
	free(nodes);
	return r;
}

int view_nodes_apply(struct objmodel_list *l, const struct claim_nodes *claims,
		     bool deny_by_default, view_nodes_cache_fn cache_nodes, void *arg)
{
	for (size_t i = 0; i < l->n; i++) {
		struct objmodel *ds = l->items[i];
		if (ds->kind != OBJMODEL_DATASET || dataset_is_reference(ds))
			continue;
		struct dataset_status *st = &ds->dataset.status;
		struct node_set s = {0};
		int r = node_set_union(&s, claim_get(claims, ds->meta.namespace, ds->meta.name));
		for (size_t k = 0; k < st->n_dataset_ref && r == 0; k++) {
			/* "ns/name" of a reference the source's sharing allows */
			const char *ref = st->dataset_ref[k], *slash = strchr(ref, '/');
			char rns[254];
			if (!slash || (size_t)(slash - ref) >= sizeof(rns))
				continue;
			snprintf(rns, sizeof(rns), "%.*s", (int)(slash - ref), ref);
			r = node_set_union(&s, claim_get(claims, rns, slash + 1));
		}
		if (r == 0 && cache_nodes) {
			char sid[320];
			mount_plan_source_id(ds->meta.namespace, ds->meta.name, sid, sizeof(sid));
			r = loads_add(l, sid, deny_by_default, cache_nodes, arg, &s);
		}
		if (r < 0) {
			strv_free(s.v, s.n);
			return r;
		}
		strv_free(st->view_nodes, st->n_view_nodes);
		st->view_nodes = s.v;
		st->n_view_nodes = s.n;
	}
	return 0;
}
