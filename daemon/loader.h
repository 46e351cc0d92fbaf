/* SPDX-License-Identifier: Apache-2.0 */
/* Preheating (DataLoad): fetches every block of the files under some paths of a source into
 * its cache, several files at once and several blocks ahead in each, in background threads.
 * Thread-safe. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "source.h"

struct load_progress {
	uint64_t bytes_done, bytes_total;
	uint64_t files_done, files_total;
	uint64_t ufs_bytes; /* fetched from the UFS since the load started */
	int64_t started_ms, finished_ms;
	bool finished;
	int error;	   /* 0 or -errno */
	char message[512]; /* why it failed */
	/* A share's plan fingerprint (loader.c, plan_print: the node set and the files' paths and
	 * sizes), "" before it planned and for a load that is no share */
	char plan[65];
};

struct load;

/* Starts loading paths (files or directories) of src, which must outlive the load.
 * On a source with peers (fetcher_get_route) the load is spread: each live cache node of the
 * source loads the blocks it owns (this one its own; the others asked with a signed
 * peer_client_load and polled), the progress sums theirs (totals: the whole tree), an error of
 * any node fails the load with that node named, and the share of a node that stops answering
 * is loaded by this node through the blocks' next owners. Returns 0 and an owned *ret. */
int load_start(struct source *src, const char *const *paths, size_t npaths, unsigned ttl_ms,
	       struct load **ret);
/* A spread load's nodes must plan over the same tree: each reports its plan's fingerprint and
 * the asking node plans again, every node listing afresh, when one differs (3 tries, then the
 * load fails naming the node); a file whose size changed after it was listed fails the load
 * ("changed during the load"). So a load never completes with blocks no node fetched. */
/* load_start_share: as load_start, loading only the blocks whose rendezvous owner among
 * nodes[0..nnodes) is self (one node's share of a DataLoad, keyed as cluster_owners() keys
 * blocks); bytes_total counts those blocks, files_total the files whose first block is self's, so
 * the shares of all the nodes add up to the tree; the progress carries the plan's fingerprint.
 * fresh: list the tree afresh (the asking node planned again after a disagreement). nnodes 0 is
 * load_start(). The names are copied. */
int load_start_share(struct source *src, const char *const *paths, size_t npaths, unsigned ttl_ms,
		     const char *const *nodes, size_t nnodes, const char *self, bool fresh,
		     struct load **ret);
void load_get_progress(struct load *l, struct load_progress *ret);
/* Stops (if running), waits, frees. NULL is fine. */
void load_free(struct load *l);
