// SPDX-License-Identifier: Apache-2.0
// Tier budget (see tier_budget.h): per root, the sum of the owners' charges there, kept equal
// to the sum over the owner list at every unlock.
#include "tier_budget.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "quantity.h"
#include "tier_roots.h"

struct owner {
	LIST_ENTRY(owner) link;
	char *id;
	uint64_t charge[]; /* per root */
};

struct tier_budget {
	const struct tier_roots *roots; /* immutable */
	size_t n;			/* roots */
	/* Guards owners and committed. Held for arithmetic only: no I/O, no other lock taken
	 * under it (callers may hold their own: node.lock). */
	pthread_mutex_t lock;
	LIST_HEAD(, owner) owners;
	uint64_t *committed; /* per root: the sum of the owners' charges */
};

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int tier_budget_new(const struct tier_roots *roots, struct tier_budget **ret)
{
	struct tier_budget *b = calloc(1, sizeof(*b));
	size_t n = tier_roots_n(roots);
	if (!b || !(b->committed = calloc(n ? n : 1, sizeof(uint64_t)))) {
		free(b);
		return -ENOMEM;
	}
	b->roots = roots;
	b->n = n;
	pthread_mutex_init(&b->lock, NULL);
	LIST_INIT(&b->owners);
	*ret = b;
	return 0;
}

void tier_budget_free(struct tier_budget *b)
{
	if (!b)
		return;
	struct owner *o;
	while ((o = LIST_FIRST(&b->owners))) {
		LIST_REMOVE(o, link);
		free(o->id);
		free(o);
	}
	pthread_mutex_destroy(&b->lock);
	free(b->committed);
	free(b);
}

static struct owner *owner_find(struct tier_budget *b, const char *id)
{
	struct owner *o;
	LIST_FOREACH(o, &b->owners, link)
	if (!strcmp(o->id, id))
		return o;
	return NULL;
}

int tier_budget_commit(struct tier_budget *b, const char *owner, const struct tier_share *tiers,
		       size_t n, bool force, char *err, size_t errlen)
{
	if (b->n == 0)
		return 0;
	/* the new charges, computed before the lock (no file system access either way) */
	struct owner *o = calloc(1, sizeof(*o) + b->n * sizeof(uint64_t));
	if (!o || !(o->id = strdup(owner))) {
		free(o);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	bool any = false;
	for (size_t t = 0; t < n; t++)
		for (size_t i = 0; i < b->n; i++)
			if (tier_roots_holds(b->roots, i, tiers[t].path)) {
				o->charge[i] = sat_add(o->charge[i], tiers[t].quota);
				any = true;
			}
	pthread_mutex_lock(&b->lock);
	struct owner *old = owner_find(b, owner);
	for (size_t i = 0; i < b->n && !force; i++) {
		uint64_t others = b->committed[i] - (old ? old->charge[i] : 0);
		uint64_t size = tier_roots_size(b->roots, i);
		if (o->charge[i] == 0 || sat_add(others, o->charge[i]) <= size)
			continue;
		pthread_mutex_unlock(&b->lock);
		char s[32], c[32], w[32];
		snprintf(err, errlen,
			 "tier root %s of weir-node's tier-roots holds %s in all, and the tiers "
			 "open under it on this node already have %s: the %s this source's tiers "
			 "ask there does not fit (it opens once others close)",
			 tier_roots_path(b->roots, i), quantity_format(size, s, sizeof(s)),
			 quantity_format(others, c, sizeof(c)),
			 quantity_format(o->charge[i], w, sizeof(w)));
		free(o->id);
		free(o);
		return -EDQUOT;
	}
	for (size_t i = 0; i < b->n; i++)
		b->committed[i] =
		    sat_add(b->committed[i] - (old ? old->charge[i] : 0), o->charge[i]);
	if (old)
		LIST_REMOVE(old, link);
	if (any)
		LIST_INSERT_HEAD(&b->owners, o, link);
	pthread_mutex_unlock(&b->lock);
	if (old) {
		free(old->id);
		free(old);
	}
	if (!any) {
		free(o->id);
		free(o);
	}
	return 0;
}

void tier_budget_release(struct tier_budget *b, const char *owner)
{
	pthread_mutex_lock(&b->lock);
	struct owner *o = owner_find(b, owner);
	if (o) {
		for (size_t i = 0; i < b->n; i++)
			b->committed[i] -= o->charge[i];
		LIST_REMOVE(o, link);
	}
	pthread_mutex_unlock(&b->lock);
	if (o) {
		free(o->id);
		free(o);
	}
}

uint64_t tier_budget_committed(struct tier_budget *b, size_t i)
{
	pthread_mutex_lock(&b->lock);
	uint64_t c = i < b->n ? b->committed[i] : 0;
	pthread_mutex_unlock(&b->lock);
	return c;
}
