// SPDX-License-Identifier: Apache-2.0
// Tier budget (see tier_budget.h): per root, the sum of the quotas of the distinct tier paths
// the owners hold under it (a path several owners share counted once), kept equal to that sum
// over the path list at every unlock.
#include "tier_budget.h"

#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "quantity.h"
#include "tier_roots.h"

/* A tier path some owners have open: one quota however many share it, as tier_pool.h keeps one
 * pool per directory (the first opener's quota holds until the last leaves). */
struct tpath {
	LIST_ENTRY(tpath) link;
	char *path; /* normalized: tier_budget_norm */
	uint64_t quota;
	unsigned refs; /* owners holding it */
};

struct owner {
	LIST_ENTRY(owner) link;
	char *id;
	char *ns; /* NULL: no namespace's (root's own mounts) */
	size_t n;
	struct tpath *paths[]; /* the tier paths it holds, each once */
};

struct tier_budget {
	const struct tier_roots *roots; /* immutable */
	size_t n;			/* roots */
	/* Guards owners, paths and committed. Held for arithmetic only: no I/O, no other lock
	 * taken under it (callers may hold their own: node.lock). */
	pthread_mutex_t lock;
	LIST_HEAD(, owner) owners;
	LIST_HEAD(, tpath) paths;
	uint64_t *committed; /* per root: the sum of the quotas of the paths held under it */
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
	LIST_INIT(&b->paths);
	*ret = b;
	return 0;
}

static void tpath_put(struct tpath *p)
{
	if (--p->refs == 0) {
		LIST_REMOVE(p, link);
		free(p->path);
		free(p);
	}
}

void tier_budget_free(struct tier_budget *b)
{
	if (!b)
		return;
	struct owner *o;
	while ((o = LIST_FIRST(&b->owners))) {
		LIST_REMOVE(o, link);
		for (size_t k = 0; k < o->n; k++)
			tpath_put(o->paths[k]);
		free(o->id);
		free(o->ns);
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

static struct tpath *tpath_find(struct tier_budget *b, const char *path)
{
	struct tpath *p;
	LIST_FOREACH(p, &b->paths, link)
	if (!strcmp(p->path, path))
		return p;
	return NULL;
}

static bool owner_holds(const struct owner *o, const struct tpath *p)
{
	for (size_t k = 0; o && k < o->n; k++)
		if (o->paths[k] == p)
			return true;
	return false;
}

static bool in(struct tpath *const *set, size_t n, const struct tpath *p)
{
	for (size_t k = 0; k < n; k++)
		if (set[k] == p)
			return true;
	return false;
}

/* Under b->lock: the bytes the owners of ns other than skip hold under root i (a path counted
 * once), and those paths in set (room for every path). */
static uint64_t ns_held(struct tier_budget *b, size_t i, const char *ns, const struct owner *skip,
			struct tpath **set, size_t *ret_n)
{
	uint64_t sum = 0;
	size_t n = 0;
	struct owner *o;
	LIST_FOREACH(o, &b->owners, link)
	{
		if (o == skip || !o->ns || strcmp(o->ns, ns))
			continue;
		for (size_t k = 0; k < o->n; k++) {
			struct tpath *p = o->paths[k];
			if (in(set, n, p) || !tier_roots_holds(b->roots, i, p->path))
				continue;
			set[n++] = p;
			sum = sat_add(sum, p->quota);
		}
	}
	*ret_n = n;
	return sum;
}

/* path with runs of '/' made one and no trailing '/': "/dev/shm//weir/" and "/dev/shm/weir" are
 * one tier directory (tier_roots refuses "." and ".." segments and links below a root, so the
 * spelling is all that can differ). An owned string or NULL. */
static char *tier_budget_norm(const char *path)
{
	size_t len = strlen(path);
	char *out = malloc(len + 1), *w = out;
	if (!out)
		return NULL;
	for (const char *r = path; *r; r++)
		if (*r != '/' || w == out || w[-1] != '/')
			*w++ = *r;
	if (w - out > 1 && w[-1] == '/')
		w--;
	*w = '\0';
	return out;
}

int tier_budget_commit(struct tier_budget *b, const char *owner, const char *ns,
		       const struct tier_share *tiers, size_t n, bool force, char *err,
		       size_t errlen)
{
	if (b->n == 0)
		return 0;
	/* the new share's paths, normalized and each once, before the lock (no file system
	 * access either way); those under no root are not counted */
	char **norm = calloc(n ? n : 1, sizeof(*norm));
	uint64_t *quota = calloc(n ? n : 1, sizeof(*quota));
	struct tpath **fresh = calloc(n ? n : 1, sizeof(*fresh));
	struct owner *o = calloc(1, sizeof(*o) + n * sizeof(struct tpath *));
	uint64_t *added = calloc(b->n, sizeof(uint64_t)), *removed = calloc(b->n, sizeof(uint64_t));
	size_t m = 0;
	int r = 0;
	if (!norm || !quota || !fresh || !o || !added || !removed || !(o->id = strdup(owner)) ||
	    (ns && !(o->ns = strdup(ns))))
		goto nomem;
	for (size_t t = 0; t < n; t++) {
		char *p = tier_budget_norm(tiers[t].path);
		if (!p)
			goto nomem;
		bool counted = false, dup = false;
		for (size_t i = 0; i < b->n; i++)
			counted |= tier_roots_holds(b->roots, i, p);
		for (size_t k = 0; k < m; k++)
			dup |= !strcmp(norm[k], p);
		if (!counted || dup) {
			free(p);
			continue;
		}
		norm[m] = p;
		quota[m] = tiers[t].quota;
		/* an entry in case the path is new: made before the lock, freed if unused */
		if (!(fresh[m] = calloc(1, sizeof(**fresh))) || !(fresh[m]->path = strdup(p))) {
			m++;
			goto nomem;
		}
		fresh[m]->quota = quota[m];
		m++;
	}
	pthread_mutex_lock(&b->lock);
	struct owner *old = owner_find(b, owner);
	/* What changes per root: a path only old holds and the new share drops (or asks again:
	 * its quota may differ) goes; a path nobody else holds comes with the new quota; a path
	 * others hold costs nothing more: one quota for all of them. */
	for (size_t k = 0; old && k < old->n; k++) {
		struct tpath *p = old->paths[k];
		if (p->refs > 1)
			continue;
		for (size_t i = 0; i < b->n; i++)
			if (tier_roots_holds(b->roots, i, p->path))
				removed[i] = sat_add(removed[i], p->quota);
	}
	for (size_t k = 0; k < m; k++) {
		struct tpath *p = tpath_find(b, norm[k]);
		if (p && p->refs > (owner_holds(old, p) ? 1u : 0u))
			continue;
		for (size_t i = 0; i < b->n; i++)
			if (tier_roots_holds(b->roots, i, norm[k]))
				added[i] = sat_add(added[i], quota[k]);
	}
	for (size_t i = 0; i < b->n && !force; i++) {
		uint64_t others = b->committed[i] - removed[i];
		uint64_t size = tier_roots_size(b->roots, i);
		if (added[i] == 0 || sat_add(others, added[i]) <= size)
			continue;
		pthread_mutex_unlock(&b->lock);
		char s[32], c[32], w[32];
		snprintf(err, errlen,
			 "tier root %s of weir-node's tier-roots holds %s in all, and the tiers "
			 "open under it on this node already have %s: the %s this source's tiers "
			 "ask there does not fit (it opens once others close)",
			 tier_roots_path(b->roots, i), quantity_format(size, s, sizeof(s)),
			 quantity_format(others, c, sizeof(c)),
			 quantity_format(added[i], w, sizeof(w)));
		r = -EDQUOT;
		goto out;
	}
	/* A root's per-namespace size: what ns's other sources hold there and what this share
	 * adds (a path they hold already: nothing) may not pass it. */
	for (size_t i = 0; i < b->n && ns && !force; i++) {
		uint64_t cap = tier_roots_ns_size(b->roots, i);
		if (!cap)
			continue;
		size_t cnt = 0, setn = 0;
		struct tpath *p;
		LIST_FOREACH(p, &b->paths, link)
		cnt++;
		struct tpath **set = calloc(cnt ? cnt : 1, sizeof(*set));
		if (!set) {
			pthread_mutex_unlock(&b->lock);
			goto nomem;
		}
		uint64_t held = ns_held(b, i, ns, old, set, &setn), adds = 0;
		for (size_t k = 0; k < m; k++) {
			if (!tier_roots_holds(b->roots, i, norm[k]))
				continue;
			p = tpath_find(b, norm[k]);
			if (p && in(set, setn, p))
				continue;
			/* a path other owners hold keeps its quota; else this share's */
			adds = sat_add(adds, p && p->refs > (owner_holds(old, p) ? 1u : 0u)
						 ? p->quota
						 : quota[k]);
		}
		free(set);
		if (adds == 0 || sat_add(held, adds) <= cap)
			continue;
		pthread_mutex_unlock(&b->lock);
		char s[32], c[32], w[32];
		snprintf(err, errlen,
			 "tier root %s of weir-node's tier-roots gives each namespace at most %s, "
			 "and namespace %s's tiers open under it on this node already have %s: the "
			 "%s this source's tiers ask there does not fit (it opens once others of "
			 "%s close)",
			 tier_roots_path(b->roots, i), quantity_format(cap, s, sizeof(s)), ns,
			 quantity_format(held, c, sizeof(c)), quantity_format(adds, w, sizeof(w)),
			 ns);
		r = -EDQUOT;
		goto out;
	}
	for (size_t i = 0; i < b->n; i++)
		b->committed[i] = sat_add(b->committed[i] - removed[i], added[i]);
	/* the new share's references first, so that a path old and new share is never freed */
	for (size_t k = 0; k < m; k++) {
		struct tpath *p = tpath_find(b, norm[k]);
		if (p && p->refs == (owner_holds(old, p) ? 1u : 0u))
			p->quota = quota[k]; /* held by old alone: its new quota */
		if (!p) {
			p = fresh[k];
			fresh[k] = NULL;
			LIST_INSERT_HEAD(&b->paths, p, link);
		}
		p->refs++;
		o->paths[o->n++] = p;
	}
	if (old) {
		LIST_REMOVE(old, link);
		for (size_t k = 0; k < old->n; k++)
			tpath_put(old->paths[k]);
	}
	if (o->n) {
		LIST_INSERT_HEAD(&b->owners, o, link);
		o = NULL;
	}
	pthread_mutex_unlock(&b->lock);
	if (old) {
		free(old->id);
		free(old->ns);
		free(old);
	}
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
	r = -ENOMEM;
out:
	for (size_t k = 0; k < m; k++) {
		free(norm[k]);
		if (fresh[k])
			free(fresh[k]->path);
		free(fresh[k]);
	}
	free(norm);
	free(quota);
	free(fresh);
	free(added);
	free(removed);
	if (o) {
		free(o->id);
		free(o->ns);
	}
	free(o);
	return r;
}

void tier_budget_release(struct tier_budget *b, const char *owner)
{
	pthread_mutex_lock(&b->lock);
	struct owner *o = owner_find(b, owner);
	if (o) {
		for (size_t k = 0; k < o->n; k++) {
			struct tpath *p = o->paths[k];
			if (p->refs == 1)
				for (size_t i = 0; i < b->n; i++)
					if (tier_roots_holds(b->roots, i, p->path))
						b->committed[i] -= p->quota;
			tpath_put(p);
		}
		LIST_REMOVE(o, link);
	}
	pthread_mutex_unlock(&b->lock);
	if (o) {
		free(o->id);
		free(o->ns);
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
