// SPDX-License-Identifier: Apache-2.0
// Members from a source (the nodes' Leases, or weir-controller's heartbeat answers). Sources
// answer from a cache or over a local socket; the swap into the cluster is a pointer swap: no
// reader waits on the apiserver or the controller.
#include "member_sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store_kube.h"

_Static_assert(sizeof(((struct member_entry *)0)->node) ==
		       sizeof(((struct store_kube_peer *)0)->node) &&
		   sizeof(((struct member_entry *)0)->url) ==
		       sizeof(((struct store_kube_peer *)0)->url),
	       "a Lease's peer fits a member entry");

/* Rounds asked for by cluster_refresh come at most this often. */
#define MEMBER_SYNC_MIN_GAP_MS 200L

struct member_sync {
	member_fetch_fn fetch;
	void *arg;
	struct cluster *c;
	unsigned period_ms;
	atomic_bool stop;
	pthread_t thread;
};

int member_sync_kube_fetch(void *arg, int64_t now, struct member_entry *ret, size_t max, char *err,
			   size_t errlen)
{
	struct member_sync_kube *mk = arg;
	struct store_kube_peer *peers = calloc(max ? max : 1, sizeof(*peers));
	if (!peers) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	size_t n = store_kube_peers(mk->st, now, peers, max);
	if (n > max) {
		/* the bound the controller and every node keep (lib/node_name.h): refused whole,
		 * as a heartbeat answer past it is, and the members stay as they were */
		snprintf(err, errlen,
			 "%zu fresh Leases name peers; a cluster has at most %zu members "
			 "(CLUSTER_MAX_NODES): members kept as they were",
			 n, max);
		free(peers);
		return -E2BIG;
	}
	size_t kept = 0;
	char refused[sizeof(mk->refused)] = "";
	for (size_t i = 0; i < n; i++) {
		if (peer_auth_member_check(mk->key, peers[i].node, peers[i].url, peers[i].mac) <
		    0) {
			size_t l = strlen(refused);
			snprintf(refused + l, sizeof(refused) - l, "%s\"%.64s\"", l ? ", " : "",
				 peers[i].node);
			continue;
		}
		memcpy(ret[kept].node, peers[i].node, sizeof(ret[kept].node));
		memcpy(ret[kept].url, peers[i].url, sizeof(ret[kept].url));
		ret[kept].id[0] = '\0';
		kept++;
	}
	if (strcmp(refused, mk->refused) != 0 && refused[0])
		log_warn("cluster: Lease(s) of %s: no %s annotation that this node's peer key "
			 "signs for their node and URL (written by a node without the key, or by "
			 "hand): not members",
			 refused, STORE_KUBE_PEER_MAC_ANNOTATION);
	snprintf(mk->refused, sizeof(mk->refused), "%s", refused);
	free(peers);
	return (int)kept;
}

int member_sync_once(member_fetch_fn fetch, void *arg, struct cluster *c, int64_t now, char *err,
		     size_t errlen)
{
	struct member_entry *e = calloc(CLUSTER_MAX_NODES, sizeof(*e));
	struct cluster_member *m = calloc(CLUSTER_MAX_NODES, sizeof(*m));
	int r = -ENOMEM;
	snprintf(err, errlen, "out of memory");
	if (e && m && (r = fetch(arg, now, e, CLUSTER_MAX_NODES, err, errlen)) >= 0) {
		size_t n = (size_t)r;
		for (size_t i = 0; i < n; i++)
			m[i] = (struct cluster_member){e[i].node, e[i].url, e[i].id};
		r = cluster_set_members(c, m, n);
		if (r < 0)
			snprintf(err, errlen, "%s", strerror(-r));
	}
	free(e);
	free(m);
	return r;
}

static void *sync_main(void *arg)
{
	struct member_sync *ms = arg;
	char err[1024], said[1024] = "";
	while (!atomic_load(&ms->stop)) {
		struct timespec began;
		clock_gettime(CLOCK_MONOTONIC, &began);
		cluster_round_start(ms->c);
		int r = member_sync_once(ms->fetch, ms->arg, ms->c, (int64_t)time(NULL), err,
					 sizeof(err));
		cluster_round_done(ms->c);
		/* said once when it starts failing (or fails otherwise), once when it works again
		 */
		if (r < 0 && strcmp(said, err)) {
			log_warn("cluster: cannot update the members (keeping them): %s", err);
			snprintf(said, sizeof(said), "%s", err);
		} else if (r >= 0 && said[0]) {
			log_notice("cluster: members updated again");
			said[0] = '\0';
		}
		/* the next round a period from now, or sooner when a server asks for one
		 * (cluster_refresh: a name it does not know), but never sooner than
		 * MEMBER_SYNC_MIN_GAP_MS after this one began: asks cannot make rounds back to
		 * back */
		for (unsigned t = 0; t < ms->period_ms && !atomic_load(&ms->stop); t += 100) {
			unsigned step = ms->period_ms - t < 100 ? ms->period_ms - t : 100;
			if (cluster_round_wait(ms->c, step)) {
				struct timespec now;
				clock_gettime(CLOCK_MONOTONIC, &now);
				long spent = (now.tv_sec - began.tv_sec) * 1000L +
					     (now.tv_nsec - began.tv_nsec) / 1000000L;
				if (spent < MEMBER_SYNC_MIN_GAP_MS)
					nanosleep(&(struct timespec){0, (MEMBER_SYNC_MIN_GAP_MS - spent) *
									    1000000L},
						  NULL);
				break;
			}
		}
	}
	cluster_rounds_end(ms->c);
	return NULL;
}

int member_sync_start(member_fetch_fn fetch, void *arg, struct cluster *c, unsigned period_ms,
		      struct member_sync **ret)
{
	struct member_sync *ms = calloc(1, sizeof(*ms));
	if (!ms)
		return -ENOMEM;
	ms->fetch = fetch;
	ms->arg = arg;
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
