// SPDX-License-Identifier: Apache-2.0
// The intrusive chained hash table: buckets double when the elements pass them (load factor at
// most 1 unless an allocation failed); an element's hash is recomputed by the caller's hash.
#include "htable.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#define HTABLE_MIN 8

int htable_init(struct htable *t, size_t initial, htable_hash_fn hash)
{
	size_t n = HTABLE_MIN;

	while (n < initial && n < (SIZE_MAX >> 1) / sizeof(*t->buckets))
		n <<= 1;
	t->buckets = calloc(n, sizeof(*t->buckets));
	t->mask = t->buckets ? n - 1 : 0;
	t->size = 0;
	t->hash = hash;
	if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != sizeof(t->seed)) {
		/* no entropy yet (early boot): unpredictable enough to an outside server */
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		t->seed = htable_hash_u64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
					  (uint64_t)(uintptr_t)t);
	}
	return t->buckets ? 0 : -ENOMEM;
}

void htable_fini(struct htable *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->mask = 0;
	t->size = 0;
}

static void grow(struct htable *t)
{
	size_t n = (t->mask + 1) * 2;
	struct htable_node **b;

	if (n > (SIZE_MAX >> 1) / sizeof(*b))
		return;
	b = calloc(n, sizeof(*b));
	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i <= t->mask; i++) {
		struct htable_node *e, *next;

		for (e = t->buckets[i]; e; e = next) {
			size_t h = htable_hash_u64(t->hash(e) ^ t->seed) & (n - 1);

			next = e->next;
			e->next = b[h];
			b[h] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->mask = n - 1;
}

void htable_insert(struct htable *t, struct htable_node *n, uint64_t hash)
{
	struct htable_node **head;

	if (t->size > t->mask)
		grow(t);
	head = &t->buckets[htable_bucket(t, hash)];
	n->next = *head;
	*head = n;
	t->size++;
}

void htable_remove(struct htable *t, struct htable_node *n)
{
	struct htable_node **pp = &t->buckets[htable_bucket(t, t->hash(n))];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			t->size--;
			return;
		}
	}
}

size_t htable_bytes(const struct htable *t)
{
	return t->buckets ? malloc_usable_size(t->buckets) : 0;
}

void htable_iter_init(struct htable_iter *it, const struct htable *t)
{
	it->t = t;
	it->bucket = 0;
	it->next = NULL;
}

struct htable_node *htable_iter_next(struct htable_iter *it)
{
	struct htable_node *n = it->next;

	while (!n) {
		if (!it->t->buckets || it->bucket > it->t->mask)
			return NULL;
		n = it->t->buckets[it->bucket++];
	}
	it->next = n->next;
	return n;
}
