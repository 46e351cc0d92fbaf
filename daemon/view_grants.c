// SPDX-License-Identifier: Apache-2.0
// The table of sources and the nodes that hold a view of them (view_grants.h).
#include "view_grants.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"
#include "timed_wait.h"

/* One source's nodes: a "\0"-separated list, ended by an empty name. */
struct grant_nodes {
	size_t len;
	char names[];
};

struct view_grants {
	/* Guards table and generation; waiters sleep on changed. Held only to look a name up or
	 * to swap the table in: never across I/O, a reply or a free of a whole table. */
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct strmap *table; /* source id -> struct grant_nodes (owned) */
	unsigned long generation;
	bool closed;
};

struct view_grants *view_grants_new(void)
{
	struct view_grants *g = calloc(1, sizeof(*g));
	if (!g || !(g->table = strmap_new())) {
		free(g);
		return NULL;
	}
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->changed, NULL);
	return g;
}

void view_grants_free(struct view_grants *g)
{
	if (!g)
		return;
	strmap_free(g->table, free);
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->changed);
	free(g);
}

void view_grants_close(struct view_grants *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->closed = true;
	pthread_cond_broadcast(&g->changed);
	pthread_mutex_unlock(&g->lock);
}

static bool nodes_have(const struct grant_nodes *gn, const char *node)
{
	for (const char *p = gn->names; *p; p += strlen(p) + 1)
		if (!strcmp(p, node))
			return true;
	return false;
}

/* gn with the names of gr added that it does not have yet (gn may be NULL); NULL on ENOMEM. */
static struct grant_nodes *nodes_add(struct grant_nodes *gn, const struct view_grant *gr)
{
	size_t add = 0;
	for (size_t i = 0; i < gr->n_nodes; i++)
		add += strlen(gr->nodes[i]) + 1;
	size_t len = gn ? gn->len : 0;
	struct grant_nodes *n = malloc(sizeof(*n) + len + add + 1);
	if (!n)
		return NULL;
	if (gn)
		memcpy(n->names, gn->names, len);
	n->names[len] = '\0';
	n->len = len;
	for (size_t i = 0; i < gr->n_nodes; i++) {
		const char *name = gr->nodes[i];
		if (!*name || nodes_have(n, name))
			continue;
		size_t l = strlen(name) + 1;
		memcpy(n->names + n->len, name, l);
		n->len += l;
		n->names[n->len] = '\0';
	}
	return n;
}

int view_grants_replace(struct view_grants *g, const struct view_grant *grants, size_t n)
{
	struct strmap *t = strmap_new();
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct grant_nodes *had = strmap_get(t, grants[i].source_id);
		struct grant_nodes *gn = nodes_add(had, &grants[i]);
		int err = 0;
		if (gn)
			strmap_put(t, grants[i].source_id, gn, &err);
		if (!gn || err < 0) {
			free(gn);
			strmap_free(t, free);
			return -ENOMEM;
		}
		free(had);
	}
	pthread_mutex_lock(&g->lock);
	struct strmap *old = g->table;
	g->table = t;
	g->generation++;
	pthread_cond_broadcast(&g->changed);
	pthread_mutex_unlock(&g->lock);
	strmap_free(old, free);
	return 0;
}

int view_grants_wait(struct view_grants *g, const char *source_id, const char *node,
		     unsigned wait_ms)
{
	struct timespec until = deadline_in(wait_ms / 1000.0);
	int r = -EPERM;
	pthread_mutex_lock(&g->lock);
	for (;;) {
		const struct grant_nodes *gn = strmap_get(g->table, source_id);
		if (gn && nodes_have(gn, node)) {
			r = 0;
			break;
		}
		if (g->closed || cond_wait_until(&g->changed, &g->lock, &until) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&g->lock);
	return r;
}

unsigned long view_grants_generation(struct view_grants *g)
{
	pthread_mutex_lock(&g->lock);
	unsigned long v = g->generation;
	pthread_mutex_unlock(&g->lock);
	return v;
}
