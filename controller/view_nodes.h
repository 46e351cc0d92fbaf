/* SPDX-License-Identifier: Apache-2.0 */
/* Which nodes hold a view of which source, on Kubernetes: weir-controller is the attester by
 * which a weir-node serves a source's blocks only to a node that may read them
 * (daemon/view_grants.h). A node holds a view of source S when a pod scheduled to it that has
 * not ended names in its volumes the PersistentVolumeClaim of S's Dataset or of a reference to S
 * that S's sharing allows (S's status.datasetRef, as reconcile_dataset_refs leaves it: weir
 * names each Bound Dataset's claim after it), or when it caches S while a DataLoad of S is
 * Executing (its shares run on the nodes whose Lease reports S open: every weir-node of the
 * cluster opens every source with a Runtime, so during a load every member may read S). The result goes to each source Dataset's
 * status.viewNodes, sorted, which only weir-controller may write. Pure functions over what the
 * caller gives. */
#pragma once

#include <stddef.h>

#include "objmodel.h"

/* Pods' claims: "ns/claim" -> the nodes of the pods that name it. Not locked. */
struct claim_nodes;

struct claim_nodes *claim_nodes_new(void);
void claim_nodes_free(struct claim_nodes *c);
/* Notes that a pod on node names claim in namespace ns. Returns 0 or -ENOMEM. */
int claim_nodes_add(struct claim_nodes *c, const char *ns, const char *claim, const char *node);

/* The nodes that cache source_id (they would run a DataLoad's shares), into ret[0..max); returns
 * how many. */
typedef size_t (*view_nodes_cache_fn)(void *arg, const char *source_id, char (*ret)[254],
				      size_t max);

/* Sets status.viewNodes of every source Dataset of l from claims and, for DataLoads, from
 * cache_nodes (NULL: none). deny_by_default as the controller's. Returns 0 or -ENOMEM. */
int view_nodes_apply(struct objmodel_list *l, const struct claim_nodes *claims,
		     bool deny_by_default, view_nodes_cache_fn cache_nodes, void *arg);
