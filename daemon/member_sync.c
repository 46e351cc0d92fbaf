// SPDX-License-Identifier: Apache-2.0
// Members from the nodes' Leases. The store answers from its watch cache (its lock held only
// to copy); the swap into the cluster is a pointer swap: nothing here waits on the apiserver.
#include "member_sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store_kube.h"

struct member_sync {
	struct store *st;
	struct cluster *c;
	unsigned period_ms;
	atomic_bool stop;
	pthread_t thread;
};

int member_sync_once(struct store *st, struct cluster *c, int64_t now)
{
	struct store_kube_peer *peers = calloc(CLUSTER_MAX_NODES, sizeof(*peers));
	struct cluster_member *m = calloc(CLUSTER_MAX_NODES, sizeof(*m));
	int r = -ENOMEM;
	if (peers && m) {
		size_t n = store_kube_peers(st, now, peers, CLUSTER_MAX_NODES);
		for (size_t i = 0; i < n; i++)
			m[i] = (struct cluster_member){peers[i].node, peers[i].url};
		r = cluster_set_members(c, m, n);
	}
	free(peers);
	free(m);
	return r;
}

static void *sync_main(void *arg)
{
	struct member_sync *ms = arg;
	while (!atomic_load(&ms->stop)) {
		int r = member_sync_once(ms->st, ms->c, (int64_t)time(NULL));
		if (r < 0)
			log_warn("cluster: cannot update the members: %s", strerror(-r));
		struct timespec ts = {ms->period_ms / 1000,
				      (long)(ms->period_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int member_sync_start(struct store *st, struct cluster *c, unsigned period_ms,
		      struct member_sync **ret)
{
	struct member_sync *ms = calloc(1, sizeof(*ms));
	if (!ms)
		return -ENOMEM;
	ms->st = st;
	ms->c = c;
	ms->period_ms = period_ms ? period_ms : 500;
	int r = -pthread_create(&ms->thread, NULL, sync_main, ms);
	if (r < 0) {
		free(ms);
		return r;
	}
	*ret = ms;
	return 0;
}

void member_sync_stop(struct member_sync *ms)
{
	if (!ms)
		return;
	atomic_store(&ms->stop, true);
	pthread_join(ms->thread, NULL);
	free(ms);
}
