/* SPDX-License-Identifier: Apache-2.0 */
/* The weir-nodes of one cluster and where each block lives: the members come from the node's
 * configuration (peers = name=url,...); of them, the cache nodes of a source are the
 * `replicas` with the highest rendezvous weight for the source (all when replicas is 0), and
 * the owner of a block is the live cache node with the highest weight for (source, object,
 * block). A member that failed a request is skipped for down-ms, so its blocks go to the next
 * node in rendezvous order. All functions are thread-safe. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLUSTER_MAX_NODES 64
#define CLUSTER_NAME_MAX 64

struct cluster_config {
	const char *self;  /* this node's name */
	const char *peers; /* "name=http://host:port,...": every member, this node included */
	unsigned replicas; /* cache nodes per source; 0: every member */
	unsigned down_ms;  /* how long a member that failed is skipped (default 10000) */
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
};

struct cluster;

/* Parses the members. Returns 0 and an owned *ret, or -EINVAL with errbuf naming the entry and
 * what is wrong with it (a name twice, a URL that is not http(s)://host:port, self missing). */
int cluster_new(const struct cluster_config *cfg, struct cluster **ret, char *errbuf,
		size_t errlen);
void cluster_free(struct cluster *c);

size_t cluster_size(const struct cluster *c);
/* This node's index. */
int cluster_self(const struct cluster *c);
const char *cluster_node_name(const struct cluster *c, int idx);
/* The member's base URL, "http://host:port" with no trailing slash. */
const char *cluster_node_url(const struct cluster *c, int idx);
/* The index of the member called name, or -1. */
int cluster_find(const struct cluster *c, const char *name);
/* True when idx is one of the cache nodes of source: the replicas members that rank highest
 * for it (0: the cluster's replicas). */
bool cluster_is_cache_node(const struct cluster *c, const char *source, unsigned replicas, int idx);

/* Writes into out[0..max) the live cache nodes of source (replicas as above) in rendezvous
 * order for (source, path, block), best first; the first is the block's owner. Returns how
 * many. */
size_t cluster_owners(const struct cluster *c, const char *source, unsigned replicas,
		      const char *path, uint64_t block, int *out, size_t max);

/* Marks a member as failed for down-ms from now (never this node). */
void cluster_mark_down(struct cluster *c, int idx);
bool cluster_is_up(const struct cluster *c, int idx);

struct cluster_stats *cluster_get_stats(struct cluster *c);
