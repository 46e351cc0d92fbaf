// SPDX-License-Identifier: Apache-2.0
// Loads stopped with their source or cancelled: freed off the requester's thread and the lock.
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "node.h"
#include "loader.h"

/* Stops and forgets the loads of src, dropping their references. Their threads are joined in
 * node_reap(), which frees no source a stopped load still uses. */
void node_stop_loads_locked(struct node *n, struct source *src)
{
	struct node_load *nl = LIST_FIRST(&n->loads), *next;
	for (; nl; nl = next) {
		next = LIST_NEXT(nl, link);
		if (nl->source != src)
			continue;
		LIST_REMOVE(nl, link);
		LIST_INSERT_HEAD(&n->dead_loads, nl, link);
		node_drop_source_locked(n, src);
	}
}

struct retiring {
	struct node *n;
	struct node_load *nl;
};

/* Frees a cancelled load: its workers finish the blocks they wait for (a throttled UFS may take
 * a while), so not on the requester's thread and not under the lock; its reference keeps the
 * source open until then. */
static void retire_now(struct node *n, struct node_load *nl)
{
	load_free(nl->load);
	pthread_mutex_lock(&n->lock);
	node_drop_source_locked(n, nl->source);
	pthread_mutex_unlock(&n->lock);
	free(nl);
	node_reap(n);
	atomic_fetch_sub(&n->retiring, 1);
}

static void *retire_thread(void *arg)
{
	struct retiring *rt = arg;
	retire_now(rt->n, rt->nl);
	free(rt);
	return NULL;
}

/* Hands an unlinked load to a detached thread that frees it (or frees it here when no thread
 * starts). Call without the lock. shutdown_all waits for n->retiring to drop to 0. */
void node_retire_load(struct node *n, struct node_load *nl)
{
	struct retiring *rt = malloc(sizeof(*rt));
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	atomic_fetch_add(&n->retiring, 1);
	bool started = false;
	if (rt) {
		*rt = (struct retiring){n, nl};
		started = pthread_create(&t, &attr, retire_thread, rt) == 0;
		if (!started)
			free(rt);
	}
	pthread_attr_destroy(&attr);
	if (!started)
		retire_now(n, nl);
}
