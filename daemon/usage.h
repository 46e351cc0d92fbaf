/* SPDX-License-Identifier: Apache-2.0 */
/* Sizes of a source's tree, for Dataset status: a walk in a background thread records every
 * file and its size; totals for any subtree, cached bytes included, are answered from it
 * without blocking. Thread-safe. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "block_store.h"
#include "meta_cache.h"

struct usage;

struct usage_totals {
	uint64_t ufs_total; /* bytes of the files under the subpath */
	uint64_t file_num;
	uint64_t cached; /* bytes of those files in the tiers */
	bool complete;	 /* a walk has finished (else: totals so far) */
	int error;	 /* the last walk's error, 0 if none */
};

/* Borrowed mc and bs must outlive the usage. */
int usage_new(struct meta_cache *mc, struct block_store *bs, unsigned ttl_ms, struct usage **ret);
/* Stops a running walk, waits for it, frees. NULL is fine. */
void usage_free(struct usage *u);
/* Starts a walk unless one runs, or one finished and refresh is false. */
void usage_start(struct usage *u, bool refresh);
/* Totals under subpath ("" or "/" = everything) from the latest walk. */
void usage_get(struct usage *u, const char *subpath, struct usage_totals *ret);
