/* SPDX-License-Identifier: Apache-2.0 */
/* On Kubernetes, a cluster's members are the weir-nodes whose Lease is fresh and names the URL
 * they serve blocks on (annotation weir.io/peer, written by node_report.h). A thread reads them
 * from a watching store (lib/store_kube.h) every period and swaps a new member set into the
 * cluster when it differs: a node that stops renewing its Lease is out once the Lease expires
 * (readers meanwhile skip it as soon as one request to it fails: cluster_mark_down), and a node
 * that starts is in as soon as its first Lease is seen. Thread-safe. */
#pragma once

#include <stdint.h>

#include "cluster.h"

struct store;
struct member_sync;

/* One round at wall time now (seconds): returns what cluster_set_members does (1 changed, 0
 * same) or -errno. Exposed for tests; the thread calls it. */
int member_sync_once(struct store *st, struct cluster *c, int64_t now);

/* Starts the thread (period_ms 0: 500). st and c are borrowed and must outlive it. Returns 0
 * and an owned *ret, or -errno. */
int member_sync_start(struct store *st, struct cluster *c, unsigned period_ms,
		      struct member_sync **ret);
/* Stops and joins the thread; NULL is fine. */
void member_sync_stop(struct member_sync *m);
