/* SPDX-License-Identifier: Apache-2.0 */
/* Which nodes hold a view of which source, as the cluster's attester says: on Kubernetes
 * weir-controller writes each source Dataset's status.viewNodes from the pods scheduled on each
 * node (pod -> PVC -> Dataset -> its source, references included) and from the nodes running a
 * share of one of its DataLoads; the node agent hands them here on every change it sees. The
 * peer server answers a block only to a member the table names for the block's source: a node
 * with the cluster's key and an identity of its own still gets no source none of its pods
 * mounts. A node's own claim (its Lease, its request) proves nothing; the apiserver's pods do,
 * and only weir-controller may write a Dataset's status.
 *
 * A pod's first read comes right after it is scheduled, maybe before the controller's status
 * write reaches this node's watch: view_grants_wait waits for the table to change, up to its
 * timeout, before it says no. Thread-safe. */
#pragma once

#include <stddef.h>

struct view_grants;

/* One source's grant: the node names (borrowed for the call) that may read it. */
struct view_grant {
	const char *source_id;
	const char *const *nodes;
	size_t n_nodes;
};

/* Returns NULL on ENOMEM. A new table grants nothing until view_grants_replace fills it. */
struct view_grants *view_grants_new(void);
/* Refuses every wait from now on and wakes the waiting ones (they return -EPERM): the peer server
 * stops without waiting out their timeouts. Accepts NULL. */
void view_grants_close(struct view_grants *g);
/* Accepts NULL. No waiter may remain (the peer server stops first). */
void view_grants_free(struct view_grants *g);

/* Replaces the whole table with grants[0..n) (copied; a source listed twice takes the union)
 * and wakes every waiter. Returns 0, or -ENOMEM with the old table kept. */
int view_grants_replace(struct view_grants *g, const struct view_grant *grants, size_t n);

/* May node read source_id? 0 at once when the table says so; else waits for the table to be
 * replaced, up to wait_ms in all, and returns 0 as soon as it does, -EPERM when the time is up.
 * Holds the table's lock only while it looks; never across anything else. */
int view_grants_wait(struct view_grants *g, const char *source_id, const char *node,
		     unsigned wait_ms);

/* How many times the table was replaced (for tests and logs). */
unsigned long view_grants_generation(struct view_grants *g);
