/* SPDX-License-Identifier: Apache-2.0 */
/* Serves this node's blocks to the other weir-nodes of its cluster: GET /v1/block with the
 * fields of peer_auth.h's request as query arguments and X-Weir-Node, X-Weir-Time and
 * X-Weir-Auth headers. A request from a member of the cluster with a valid MAC, for a source
 * this node has open, is answered with the block's bytes (from a tier, or fetched from the UFS
 * once however many ask: the source's fetcher coalesces), X-Weir-Xxh3 and a reply MAC. Anything
 * else gets 400, 403, 404, 412, 451 (no view: grants below) or 503 and no bytes. libmicrohttpd, a thread per connection (a
 * request may wait for the UFS). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "peer_auth.h"
#include "source.h"
#include "view_grants.h"

/* How the server finds an open source: acquire takes a reference (0, or -ENOENT when this node
 * has no source of that id open), release drops it. Called on server threads, concurrently. */
struct peer_server_sources {
	int (*acquire)(void *userdata, const char *id, struct source **ret);
	void (*release)(void *userdata, struct source *src);
	void *userdata;
};

struct peer_server_config {
	const char *listen;	    /* "IPv4:PORT" */
	struct cluster *cluster;    /* borrowed */
	const struct peer_key *key; /* borrowed */
	struct peer_server_sources sources;
	int64_t skew_s; /* how far a request's time may be from ours (default 60) */
	/* Borrowed; NULL: every member may read every source (a peers list, the embedded
	 * default: no attester). Set (Kubernetes): a block is answered only to a member that
	 * grants names for its source (view_grants.h), after up to PEER_GRANT_WAIT_MS for a
	 * grant on its way; others get PEER_STATUS_NO_VIEW (451), and so does a push or a load
	 * (whose asker and every node of whose spec must be listed). */
	struct view_grants *grants;
	/* Borrowed; this node's identity, with which it answers GET /v1/prove (member_prove.h):
	 * a node about to pin this node's identity from its Lease asks. NULL: 404. */
	const struct node_id *id;
};

/* How long a block request waits for its asker's grant to arrive (a pod's first read comes right
 * after it is scheduled, and the controller's status write reaches this node's watch a moment
 * later) before it is refused. */
#define PEER_GRANT_WAIT_MS 1500

struct peer_server;

/* Listens and serves. Returns 0 and an owned *ret, or -errno with errbuf naming the address. */
int peer_server_start(const struct peer_server_config *cfg, struct peer_server **ret, char *errbuf,
		      size_t errlen);
/* Stops listening, waits for the requests being served, frees. NULL is fine. */
void peer_server_stop(struct peer_server *ps);
