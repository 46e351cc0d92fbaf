// SPDX-License-Identifier: Apache-2.0
// String-keyed chained hash map; FNV-1a hashing; load factor kept under 1.
#include "strmap.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct node {
	struct node *next;
	uint64_t hash;
	void *value;
	char key[];
};

struct strmap {
	struct node **buckets;
	size_t nbuckets;
	size_t size;
	size_t node_bytes; /* malloc_usable_size of the nodes (keys included) */
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

struct strmap *strmap_new(void)
{
	struct strmap *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->nbuckets = 64;
	m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
	if (!m->buckets) {
		free(m);
		return NULL;
	}
	return m;
}

void strmap_free(struct strmap *m, void (*free_value)(void *))
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct node *n = m->buckets[i];
		while (n) {
			struct node *next = n->next;
			if (free_value)
				free_value(n->value);
			free(n);
			n = next;
		}
	}
	free(m->buckets);
	free(m);
}

static struct node **find(const struct strmap *m, const char *key, uint64_t h)
{
	struct node **pp = &m->buckets[h & (m->nbuckets - 1)];
	while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
		pp = &(*pp)->next;
	return pp;
}

void *strmap_get(const struct strmap *m, const char *key)
{
	struct node **pp = find(m, key, hash_str(key));
	return *pp ? (*pp)->value : NULL;
}

static void grow(struct strmap *m)
{
	size_t nb = m->nbuckets * 2;
	struct node **b = calloc(nb, sizeof(*b));
	if (!b)
		return; /* stay at the current size; still correct, only slower */
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct node *n = m->buckets[i];
		while (n) {
			struct node *next = n->next;
			n->next = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
			n = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = nb;
}

void *strmap_put(struct strmap *m, const char *key, void *value, int *ret_err)
{
	uint64_t h = hash_str(key);
	struct node **pp = find(m, key, h);
	if (*pp) {
		void *old = (*pp)->value;
		(*pp)->value = value;
		if (ret_err)
			*ret_err = 0;
		return old;
	}
	size_t klen = strlen(key);
	struct node *n = malloc(sizeof(*n) + klen + 1);
	if (!n) {
		if (ret_err)
			*ret_err = -ENOMEM;
		return NULL;
	}
	memcpy(n->key, key, klen + 1);
	m->node_bytes += malloc_usable_size(n);
	n->hash = h;
	n->value = value;
	n->next = NULL;
	*pp = n;
	m->size++;
	if (m->size > m->nbuckets)
		grow(m);
	if (ret_err)
		*ret_err = 0;
	return NULL;
}

void *strmap_remove(struct strmap *m, const char *key)
{
	struct node **pp = find(m, key, hash_str(key));
	struct node *n = *pp;
	if (!n)
		return NULL;
	*pp = n->next;
	void *v = n->value;
	m->node_bytes -= malloc_usable_size(n);
	free(n);
	m->size--;
	return v;
}

size_t strmap_size(const struct strmap *m)
{
	return m->size;
}

size_t strmap_bytes(const struct strmap *m)
{
	return m ? malloc_usable_size((void *)m) + malloc_usable_size(m->buckets) + m->node_bytes
		 : 0;
}

int strmap_each(const struct strmap *m, int (*fn)(const char *key, void *value, void *arg),
		void *arg)
{
	for (size_t i = 0; i < m->nbuckets; i++)
		for (struct node *n = m->buckets[i]; n; n = n->next) {
			int r = fn(n->key, n->value, arg);
			if (r)
				return r;
		}
	return 0;
}
