/* SPDX-License-Identifier: Apache-2.0 */
/* The weir-nodes of one cluster and where each block lives. The members come either from the
 * node's configuration (peers = name=url,..., fixed) or, on Kubernetes, from the nodes' Leases
 * (cluster_set_members, called whenever they change). Readers never see a member set change
 * under them: they take a reference to an immutable view (cluster_view_get) and compute on it;
 * a new member set is a new view swapped in, and the old one is freed by its last reader. Of a
 * view's members, the cache nodes of a source are the `replicas` with the highest rendezvous
 * weight for the source (all when replicas is 0), and the owner of a block is the live cache
 * node with the highest weight for (source, object, block): a member joining or leaving moves
 * only its own share. A member that failed a request is skipped for down-ms, so its blocks go
 * to the next node in rendezvous order. All functions are thread-safe. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node_name.h" /* CLUSTER_MAX_NODES, NODE_NAME_MAX: the bounds every side keeps */

#define CLUSTER_NAME_MAX (NODE_NAME_MAX + 1) /* a name and its NUL */

struct cluster_config {
	const char *self;     /* this node's name */
	const char *peers;    /* "name=http://host:port,...": every member, this node included,
			       * each with ";id=KEY" (its identity's public key) or not;
			       * NULL or "": the members come from cluster_set_members */
	const char *self_url; /* with no peers: this node's URL, its only member until then */
	const char *self_id;  /* this node's identity (node_id_public); NULL or "": none */
	unsigned replicas;    /* cache nodes per source; 0: every member */
	unsigned down_ms;     /* how long a member that failed is skipped (default 10000) */
};

/* Counters of the node's peer traffic, updated atomically. */
struct cluster_stats {
	atomic_uint_fast64_t bytes_in;	/* block bytes received from peers (verified) */
	atomic_uint_fast64_t bytes_out; /* block bytes served to peers */
	atomic_uint_fast64_t blocks_in, blocks_out;
	atomic_uint_fast64_t failed;	/* requests to peers that failed (then: next node or UFS) */
	atomic_uint_fast64_t bad_bytes; /* replies whose bytes failed their checksum or MAC */
	atomic_uint_fast64_t refused;	/* requests this node refused (bad MAC, stale time) */
	atomic_uint_fast64_t refused_by_peer; /* requests peers refused (403) */
	/* requests peers refused for want of a view of the source (451, view_grants.h) */
	atomic_uint_fast64_t no_view_by_peer;
	atomic_uint_fast64_t changes;	      /* member sets swapped in after the first */
};

/* One member as cluster_set_members takes it. */
struct cluster_member {
	const char *name;
	const char *url; /* http(s)://host:port */
	const char *id;	 /* its identity's public key (node_id.h); NULL or "": none */
};

struct cluster;
struct cluster_view;

/* Parses the members. Returns 0 and an owned *ret, or -EINVAL with errbuf naming the entry and
 * what is wrong with it (a name twice, a URL that is not http(s)://host:port, self missing). */
int cluster_new(const struct cluster_config *cfg, struct cluster **ret, char *errbuf,
		size_t errlen);
/* Frees c and its current view; views readers still hold stay valid until they put them. */
void cluster_free(struct cluster *c);

/* True when the members come from cluster_set_members, not from a fixed list. */
bool cluster_is_dynamic(const struct cluster *c);

/* Replaces the member set with m[0..n) (this node is added if missing, with its own URL; an
 * entry whose name or URL is not valid is skipped, logged at warning). Members that stay keep
 * their down state. Returns 1 when the set changed (a new view is in), 0 when it is the same,
 * -EPERM for a cluster with a fixed peers list, -errno on failure. Readers are never blocked for
 * longer than a pointer swap. */
int cluster_set_members(struct cluster *c, const struct cluster_member *m, size_t n);

/* The current view, referenced: put it with cluster_view_put when done. Never NULL. */
struct cluster_view *cluster_view_get(struct cluster *c);
/* Another reference to v (for a request that outlives its caller's). Returns v. */
struct cluster_view *cluster_view_ref(struct cluster_view *v);
/* Drops a reference; the last frees the view. NULL is fine. */
void cluster_view_put(struct cluster_view *v);

/* The number of members of the current view. */
size_t cluster_count(struct cluster *c);
/* Writes the current members' names, sorted, comma-separated, into out. */
void cluster_describe(struct cluster *c, char *out, size_t len);

size_t cluster_size(const struct cluster_view *v);
/* This node's index. */
int cluster_self(const struct cluster_view *v);
const char *cluster_node_name(const struct cluster_view *v, int idx);
/* The member's base URL, "http://host:port" with no trailing slash. */
const char *cluster_node_url(const struct cluster_view *v, int idx);
/* The member's identity (node_id.h's public key), or "" when its peers list entry gives none:
 * a request that names it must then be signed by that key. */
const char *cluster_node_id(const struct cluster_view *v, int idx);
/* The index of the member called name, or -1. */
int cluster_find(const struct cluster_view *v, const char *name);
/* True when idx is one of the cache nodes of source: the replicas members that rank highest
 * for it (0: the cluster's replicas). */
bool cluster_is_cache_node(const struct cluster_view *v, const char *source, unsigned replicas,
			   int idx);

/* Writes into out[0..max) the live cache nodes of source (replicas as above) in rendezvous
 * order for (source, path, block), best first; the first is the block's owner. Returns how
 * many. */
size_t cluster_owners(const struct cluster_view *v, const char *source, unsigned replicas,
		      const char *path, uint64_t block, int *out, size_t max);

/* Marks a member as failed for down-ms from now (never this node). A view swapped in later
 * carries the mark over for members that stay. */
void cluster_mark_down(struct cluster_view *v, int idx);
bool cluster_is_up(const struct cluster_view *v, int idx);

struct cluster_stats *cluster_get_stats(struct cluster *c);

/* Member rounds (member_sync.h), so a server that meets a name it does not know yet can ask for
 * the members again rather than refuse a node that just joined. cluster_refresh wakes the round
 * thread and waits, at most timeout_ms, for a round that started after the call: 0 when one
 * ended, -ETIMEDOUT, or -ENOTSUP with no round thread (a fixed peers list). The round thread
 * calls round_start and round_done around each fetch, round_wait to sleep up to ms (true when
 * woken by cluster_refresh), and rounds_end when it stops (waiters then return at once, with
 * -ETIMEDOUT). No lock is held across a fetch. The cluster must outlive every caller of
 * cluster_refresh (the peer server is stopped before cluster_free). */
int cluster_refresh(struct cluster *c, unsigned timeout_ms);
void cluster_round_start(struct cluster *c);
void cluster_round_done(struct cluster *c);
bool cluster_round_wait(struct cluster *c, unsigned ms);
void cluster_rounds_end(struct cluster *c);
