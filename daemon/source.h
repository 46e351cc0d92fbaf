/* SPDX-License-Identifier: Apache-2.0 */
/* A source: one UFS tree and everything that caches it (block store, metadata cache, fetch
 * scheduler). Views of one source share it: the cache is per source, not per view. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "block_store.h"
#include "fetcher.h"
#include "meta_cache.h"
#include "ufs.h"
#include "usage.h"

struct source_config {
	const char *id; /* directory name under <state>/stores and each tier path */
	const char *url;
	const char *state_dir;
	struct tier_config tiers[BLOCK_STORE_MAX_TIERS];
	unsigned ntiers;
	uint32_t block_size;
	double high, low;
	unsigned fetch_concurrency;
	bool lru;		  /* evict least recently used first, not coldest by heat */
	struct tier_pools *pools; /* the daemon's: one quota per tier path across sources */
	/* An s3:// source's keys from its Dataset's Secret (NULL: none): kept by the UFS only,
	 * never written to the state directory. keys_sig tells one set of keys from another. */
	const char *s3_access_key, *s3_secret_key, *s3_session_token;
	uint64_t keys_sig;
	/* The UFS client's stall timeout (s) and retry count; 0: the client's defaults. */
	unsigned stall_timeout_s, retries;
	/* In a cluster (cluster.h): where misses go first, and whether blocks read from peers
	 * are kept in this node's tiers too. NULL: every miss goes to the UFS. Borrowed. */
	struct cluster *cluster;
	struct peer_client *peers;
	uint64_t near_cache; /* bytes of peers' blocks kept in this node's tiers (0: none) */
	uint64_t prefetch_max; /* bytes a stream is fetched ahead at most (prefetch-max); 0: unknown */
	unsigned cache_replicas; /* cache nodes of this source; 0: the cluster's default */
};

struct source {
	char *id;
	char *url;
	struct ufs *ufs;
	struct block_store *store;
	struct meta_cache *meta;
	struct fetcher *fetcher;
	struct usage *usage;
	unsigned refs; /* under the node's lock: views, loads, a controller's hold */
	bool held;     /* under the node's lock: a controller holds it (SourceRequest) */
	/* under the node's lock: its Dataset was deleted while mounted; the cache is purged
	 * when the last view goes */
	bool purge_pending;
	uint32_t block_size;
	unsigned fetch_concurrency;
	struct tier_config tiers[BLOCK_STORE_MAX_TIERS];
	unsigned ntiers;
	uint64_t keys_sig; /* of the Secret's keys it was opened with; 0: none */
};

/* Opens a source: checks the UFS answers and the tiers are usable, loads the persisted index
 * and metadata. A cache left under the same id by another URL (a Dataset whose mountPoint
 * changed) is purged first: it holds another tree's blocks. Returns 0 and an owned *ret (errbuf
 * then empty or holding the block store's notes for the user), or -errno with a message for the
 * user in errbuf naming the URL or tier and the cause. */
int source_open(const struct source_config *cfg, struct source **ret, char *errbuf, size_t errlen);
/* Waits for fetches in flight, persists, frees. NULL is fine. */
void source_free(struct source *s);
/* Deletes everything a closed source kept on disk: its tier directories, block index and
 * metadata cache. Call after source_free() with the same config. Returns 0 or the first -errno. */
int source_purge(const char *state_dir, const char *id, const struct tier_config *tiers,
		 unsigned ntiers);
/* The default id of a URL: 16 hex digits of its hash. buf must hold 17 bytes. */
void source_id_for_url(const char *url, char *buf);
