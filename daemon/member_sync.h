/* SPDX-License-Identifier: Apache-2.0 */
/* A cluster's members, kept up to date by a thread: every period it asks a member source and
 * swaps a new member set into the cluster when it differs (cluster_set_members: a pointer swap,
 * readers keep the view they started with). Two sources: on Kubernetes the weir-nodes whose
 * Lease is fresh and names the URL they serve blocks on (annotation weir.io/peer, written by
 * node_report.h), read from a watching store (lib/store_kube.h); on the embedded default
 * weir-controller, which a node's heartbeat asks (node/controller_members.c). Either way a node
 * that stops renewing is out once its Lease or heartbeat expires (readers meanwhile skip it as
 * soon as one request to it fails: cluster_mark_down), and a node that starts is in as soon as
 * it is seen. A source that fails leaves the members as they were. Thread-safe. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "node_id.h"
#include "peer_auth.h"

struct store;
struct member_sync;

/* One member as a source reports it. */
struct member_entry {
	char node[254];
	char url[256];		  /* as reported: cluster_set_members checks it */
	char id[NODE_ID_PUB_HEX]; /* its identity's public key, as reported (checked there too) */
};

/* A member source: fills ret[0..max) at wall time now (seconds) and returns how many, or -errno
 * with err saying why. Called from the sync thread only. */
typedef int (*member_fetch_fn)(void *arg, int64_t now, struct member_entry *ret, size_t max,
			       char *err, size_t errlen);

/* The Kubernetes source's arg: a watching store_kube and the cluster's key (both borrowed). A
 * Lease whose weir.io/peer-mac is not the key's MAC of its node and URL (peer_auth_member_mac)
 * is no member: whoever may write Leases without holding the key can neither add a member nor
 * move one to another address. */
struct member_sync_kube {
	struct store *st;
	const struct peer_key *key;
	char refused[256]; /* the sync thread's: the names last refused, said once */
};

/* The Kubernetes source: pass a struct member_sync_kube as the arg. */
int member_sync_kube_fetch(void *arg, int64_t now, struct member_entry *ret, size_t max, char *err,
			   size_t errlen);

/* One round at wall time now: returns what cluster_set_members does (1 changed, 0 same) or
 * -errno (err says why). Exposed for tests; the thread calls it. */
int member_sync_once(member_fetch_fn fetch, void *arg, struct cluster *c, int64_t now, char *err,
		     size_t errlen);

/* Starts the thread (period_ms 0: 500). arg and c are borrowed and must outlive it. Returns 0
 * and an owned *ret, or -errno. */
int member_sync_start(member_fetch_fn fetch, void *arg, struct cluster *c, unsigned period_ms,
		      struct member_sync **ret);
/* Stops and joins the thread; NULL is fine. */
void member_sync_stop(struct member_sync *m);
