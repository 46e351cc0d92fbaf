/* SPDX-License-Identifier: Apache-2.0 */
/* The tree's one hash table: intrusive (a struct htable_node lives inside each element, so an
 * entry costs one pointer and no allocation), chained, keys and hashes the caller's. It grows
 * by doubling, all at once, when the entries pass the buckets; it never shrinks. A bucket is
 * chosen by the caller's 64-bit hash mixed with a random seed of the table's: names a server
 * chose to share their low bits (FNV-1a is no secret) still spread. Not locked: its owner's
 * lock guards it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct htable_node {
	struct htable_node *next; /* the bucket's chain; NULL at its end */
};

/* The element that holds node ptr as its field member. */
#define htable_entry(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Recomputes an element's hash from the element (for growth and removal): must return what
 * its insert was given. */
typedef uint64_t (*htable_hash_fn)(const struct htable_node *n);
/* True when element n has the key a lookup was given. */
typedef bool (*htable_eq_fn)(const struct htable_node *n, const void *key);

struct htable {
	struct htable_node **buckets;
	size_t mask;   /* buckets - 1 (a power of two) */
	size_t size;   /* elements */
	uint64_t seed; /* random, per table: mixed into every bucket choice */
	htable_hash_fn hash;
};

struct htable_iter {
	const struct htable *t;
	size_t bucket;		  /* the next bucket to look at */
	struct htable_node *next; /* the element after the one last returned */
};

/* An empty table of at least initial buckets (rounded up to a power of two, at least 8); hash is
 * kept for growth and removal. Returns 0 or -ENOMEM (t is then empty and needs no fini). */
int htable_init(struct htable *t, size_t initial, htable_hash_fn hash);
/* Frees the buckets, not the elements (free them first, e.g. through an iterator). */
void htable_fini(struct htable *t);

/* Adds n, whose hash is hash (the caller knows it is not there yet: duplicates are kept and a
 * lookup finds one of them). Never fails: when doubling the buckets cannot be allocated the
 * table stays at its size, correct but with longer chains, and tries again at the next insert. */
void htable_insert(struct htable *t, struct htable_node *n, uint64_t hash);
/* Takes n out of t (n must be in t); does not free it. */
void htable_remove(struct htable *t, struct htable_node *n);

static inline uint64_t htable_hash_u64(uint64_t x);

/* The bucket of hash in t. */
static inline size_t htable_bucket(const struct htable *t, uint64_t hash)
{
	return htable_hash_u64(hash ^ t->seed) & t->mask;
}

/* The element with key (eq) whose hash is hash, or NULL. Inline: with a constant eq the
 * compiler inlines the comparison, so a lookup on a hot path costs no indirect call. */
static inline struct htable_node *htable_find(const struct htable *t, uint64_t hash,
					      htable_eq_fn eq, const void *key)
{
	for (struct htable_node *n = t->buckets[htable_bucket(t, hash)]; n; n = n->next)
		if (eq(n, key))
			return n;
	return NULL;
}

static inline size_t htable_size(const struct htable *t)
{
	return t->size;
}

/* Heap bytes of the table itself (its buckets), as malloc counts them; not the elements. */
size_t htable_bytes(const struct htable *t);

/* Iteration in no order. The element just returned may be removed (and freed) before the next
 * call; nothing may be inserted, nor any other element removed, until the iteration ends. */
void htable_iter_init(struct htable_iter *it, const struct htable *t);
/* The next element, or NULL at the end. */
struct htable_node *htable_iter_next(struct htable_iter *it);

/* Hashes for callers' keys. */
static inline uint64_t htable_hash_u64(uint64_t x)
{
	/* murmur3's finaliser: every bit of x reaches every bit of the hash, so ids that differ
	 * in high bits only (block numbers, counters) still spread over the low bits the mask
	 * keeps. */
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static inline uint64_t htable_hash_u64_pair(uint64_t a, uint64_t b)
{
	return htable_hash_u64(a ^ htable_hash_u64(b + 1));
}

/* FNV-1a of a NUL-terminated string. */
static inline uint64_t htable_hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}
