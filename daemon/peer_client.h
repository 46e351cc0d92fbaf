/* SPDX-License-Identifier: Apache-2.0 */
/* Asks other weir-nodes for blocks: one signed GET per block (peer_auth.h), answered with the
 * block's bytes, their XXH3 and a MAC binding both to the request. What arrives is checked
 * before anyone sees it; a peer that does not answer, refuses, or sends bytes that fail the
 * check is marked down in the cluster (its blocks go to the next node for a while) and the
 * caller gets an error, on which it reads the UFS instead. A few worker threads, each with its
 * own curl handle (kept-alive connections), take requests from one queue. Thread-safe. */
#pragma once

#include <stdint.h>

#include "cluster.h"
#include "peer_auth.h"
#include "ufs.h"

struct peer_client_config {
	struct cluster *cluster;     /* borrowed: outlives the client */
	const struct peer_key *key;  /* borrowed */
	unsigned threads;	     /* requests in flight at once (default 16) */
	unsigned connect_timeout_ms; /* default 2000 */
	unsigned timeout_ms;	     /* a whole request (default 60000) */
	unsigned stall_s; /* give up on a peer that sends nothing for this long (default 10) */
};

/* Called once per request on a worker thread: 0 when buf holds exactly len verified bytes, or
 * -errno (-ECONNREFUSED, -ETIMEDOUT, -EACCES refused, -EBADMSG wrong bytes, -ESTALE the peer
 * holds another version, -ENOENT the peer has no such source or object, -EAGAIN busy). */
typedef void (*peer_done_fn)(void *userdata, int err);

struct peer_client;

int peer_client_new(const struct peer_client_config *cfg, struct peer_client **ret);
/* Fails what is queued with -ECANCELED, waits for the requests in flight, frees. NULL is
 * fine. */
void peer_client_free(struct peer_client *pc);

/* Queues a request to member idx of view (the request takes its own reference) for block of
 * path (version attr) of source, len bytes into buf (kept alive by the caller until done runs).
 * Returns 0 (done will run) or -errno (it will not). */
int peer_client_get_async(struct peer_client *pc, struct cluster_view *view, int idx,
			  const char *source, const char *path,
			  const struct ufs_attr *attr, uint64_t block, uint32_t len, void *buf,
			  peer_done_fn done, void *userdata);
