/* SPDX-License-Identifier: Apache-2.0 */
/* One directory listing as an immutable, reference-counted object with a hash index by name.
 * The metadata cache hands out references, never copies: a stat or lookup in a directory of
 * 50,000 entries costs one hash lookup, and a listing the cache replaces stays valid for the
 * readers still holding it. Never modified after meta_listing_new(); thread-safe to share. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ufs.h"

struct meta_listing;

/* Takes ents (n entries, owned: freed with the listing), sorts them by name and indexes them.
 * fetched_ms: when the UFS gave them (the cache ages the listing by it). Returns 0 and a
 * listing holding one reference, or -ENOMEM (ents are freed then too). */
int meta_listing_new(struct ufs_dirent *ents, size_t n, int64_t fetched_ms,
		     struct meta_listing **ret);
/* Adds a reference; returns l. */
struct meta_listing *meta_listing_ref(struct meta_listing *l);
/* Drops a reference; the last one frees the listing. NULL is fine. Any thread. */
void meta_listing_unref(struct meta_listing *l);

/* Number of entries, and entry i (0 <= i < n) in name order; borrowed from l. */
size_t meta_listing_count(const struct meta_listing *l);
const struct ufs_dirent *meta_listing_at(const struct meta_listing *l, size_t i);
/* The entry called name, or NULL: one hash lookup. Borrowed from l. */
const struct ufs_dirent *meta_listing_find(const struct meta_listing *l, const char *name);
/* When the UFS gave the listing, ms since the epoch. */
int64_t meta_listing_fetched_ms(const struct meta_listing *l);
/* Heap bytes l holds (entries, names, its name map), as malloc counts them. NULL: 0. */
uint64_t meta_listing_bytes(const struct meta_listing *l);
