// SPDX-License-Identifier: Apache-2.0
// Members from a source (the nodes' Leases, or weir-controller's heartbeat answers). Sources
// answer from a cache or over a local socket; the swap into the cluster is a pointer swap: no
// reader waits on the apiserver or the controller.
#include "member_sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <curl/curl.h>

#include "log.h"
#include "store_kube.h"

_Static_assert(
    sizeof(((struct member_entry *)0)->node) == sizeof(((struct store_kube_peer *)0)->node) &&
	sizeof(((struct member_entry *)0)->url) == sizeof(((struct store_kube_peer *)0)->url) &&
	sizeof(((struct member_entry *)0)->id) == sizeof(((struct store_kube_peer *)0)->id),
    "a Lease's peer fits a member entry");
_Static_assert(sizeof(((struct member_pin *)0)->pod) ==
		   sizeof(((struct store_kube_peer *)0)->pod_uid),
	       "a pin keeps a pod's uid");

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

/* The pin of node, or NULL. */
static struct member_pin *pin_find(struct member_sync_kube *mk, const char *node)
{
	for (size_t i = 0; i < MEMBER_SYNC_PINS; i++)
		if (mk->pins[i].seen && strcmp(mk->pins[i].node, node) == 0)
			return &mk->pins[i];
	return NULL;
}

/* A slot for a new name: a free one, else the longest-unseen one when it has been unseen for
 * more than MEMBER_SYNC_PIN_KEEP_S; NULL when every pin was seen more recently (dropping one
 * then would let a flood of names unpin a live node). */
static struct member_pin *pin_slot(struct member_sync_kube *mk, int64_t now)
{
	struct member_pin *old = NULL;
	for (size_t i = 0; i < MEMBER_SYNC_PINS; i++) {
		if (!mk->pins[i].seen)
			return &mk->pins[i];
		if (!old || mk->pins[i].seen < old->seen)
			old = &mk->pins[i];
	}
	return old && now - old->seen > MEMBER_SYNC_PIN_KEEP_S ? old : NULL;
}

static void name_add(char *list, size_t len, const char *node)
{
	size_t l = strlen(list);
	snprintf(list + l, len - l, "%s\"%.64s\"", l ? ", " : "", node);
}

/* Does url's host name the address ip (compared as addresses where both parse)? */
static bool url_host_is(const char *url, const char *ip)
{
	CURLU *u = curl_url();
	char *host = NULL;
	bool same = false;
	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		size_t l = strlen(host);
		if (l > 2 && host[0] == '[' && host[l - 1] == ']') { /* an IPv6 literal */
			memmove(host, host + 1, l - 2);
			host[l - 2] = '\0';
		}
		unsigned char a[16], b[16];
		int fam = strchr(host, ':') ? AF_INET6 : AF_INET;
		if (inet_pton(fam, host, a) == 1 && inet_pton(fam, ip, b) == 1)
			same = memcmp(a, b, fam == AF_INET6 ? 16 : 4) == 0;
		else
			same = strcmp(host, ip) == 0;
	}
	curl_free(host);
	curl_url_cleanup(u);
	return same;
}

static void entry_set(struct member_entry *e, const char *node, const char *url, const char *id)
{
	snprintf(e->node, sizeof(e->node), "%s", node);
	snprintf(e->url, sizeof(e->url), "%s", url);
	snprintf(e->id, sizeof(e->id), "%s", id);
}

size_t member_sync_kube_take(struct member_sync_kube *mk, int64_t now,
			     const struct store_kube_peer *peers, size_t n,
			     struct member_entry *ret)
{
	size_t kept = 0;
	char refused[sizeof(mk->refused)] = "", unpinned[sizeof(mk->unpinned)] = "";
	char unattested[sizeof(mk->unattested)] = "";
	for (size_t i = 0; i < n; i++) {
		const struct store_kube_peer *p = &peers[i];
		if (!p->id[0] ||
		    peer_auth_member_check(mk->key, p->node, p->url, p->id, p->mac) < 0) {
			name_add(refused, sizeof(refused), p->node);
			continue;
		}
		if (mk->attest && (!p->pod_uid[0] || !url_host_is(p->url, p->pod_ip))) {
			name_add(unattested, sizeof(unattested), p->node);
			continue;
		}
		struct member_pin *pin = pin_find(mk, p->node);
		if (pin && strcmp(pin->id, p->id) != 0) {
			long long ago = (long long)(now - pin->seen);
			/* with pods: kept while the pod it came with runs; else for a while */
			bool keep = mk->attest ? strcmp(pin->pod, p->pod_uid) == 0
					       : ago <= MEMBER_SYNC_PIN_KEEP_S;
			if (keep) {
				if (strcmp(pin->warned, p->id) != 0 && mk->attest)
					log_warn(
					    "cluster: node \"%.64s\"'s Lease names another "
					    "identity (%.16s...) than the one it had under the "
					    "same "
					    "weir-node pod (%.40s): kept the old one; a second "
					    "writer of this node's Lease (its node-id.key is taken "
					    "anew only with a new weir-node pod)",
					    p->node, p->id, p->pod_uid);
				else if (strcmp(pin->warned, p->id) != 0)
					log_warn(
					    "cluster: node \"%.64s\"'s Lease names another "
					    "identity (%.16s...) than the one it had until %lld s "
					    "ago: kept the old one; a second node with this name, "
					    "or \"%.64s\"'s node-id.key replaced (then it is "
					    "accepted once the old identity has been unseen for "
					    "%d s)",
					    p->node, p->id, ago, p->node, MEMBER_SYNC_PIN_KEEP_S);
				snprintf(pin->warned, sizeof(pin->warned), "%s", p->id);
				entry_set(&ret[kept++], pin->node, pin->url, pin->id);
				continue;
			}
			if (mk->attest)
				log_notice("cluster: node \"%.64s\"'s Lease names a new identity "
					   "(%.16s...) with a new weir-node pod (%.40s): taken",
					   p->node, p->id, p->pod_uid);
			else
				log_notice("cluster: node \"%.64s\"'s Lease names a new identity "
					   "(%.16s...); the one it had was last seen %lld s ago: "
					   "taken",
					   p->node, p->id, ago);
		}
		if (!pin && !(pin = pin_slot(mk, now))) {
			name_add(unpinned, sizeof(unpinned), p->node);
			continue;
		}
		if (strcmp(pin->node, p->node) != 0 || strcmp(pin->id, p->id) != 0)
			pin->warned[0] = '\0';
		if (mk->attest &&
		    (strcmp(pin->node, p->node) != 0 || strcmp(pin->pod, p->pod_uid) != 0))
			log_info("cluster: node \"%.64s\"'s Lease taken with its weir-node pod "
				 "(%.40s at %.63s)",
				 p->node, p->pod_uid, p->pod_ip);
		snprintf(pin->node, sizeof(pin->node), "%s", p->node);
		snprintf(pin->url, sizeof(pin->url), "%s", p->url);
		snprintf(pin->id, sizeof(pin->id), "%s", p->id);
		snprintf(pin->pod, sizeof(pin->pod), "%s", p->pod_uid);
		pin->seen = now;
		entry_set(&ret[kept++], p->node, p->url, p->id);
	}
	if (strcmp(refused, mk->refused) != 0 && refused[0])
		log_warn("cluster: Lease(s) of %s: no %s annotation that this node's peer key "
			 "signs for their node, URL and %s (written by a node without the key, by "
			 "a weir-node older than node identities, or by hand): not members",
			 refused, STORE_KUBE_PEER_MAC_ANNOTATION, STORE_KUBE_NODE_ID_ANNOTATION);
	snprintf(mk->refused, sizeof(mk->refused), "%s", refused);
	if (strcmp(unpinned, mk->unpinned) != 0 && unpinned[0])
		log_warn("cluster: Lease(s) of %s: not members, for now: %d other node names were "
			 "seen in the last %d s, and their identities stay pinned that long",
			 unpinned, MEMBER_SYNC_PINS, MEMBER_SYNC_PIN_KEEP_S);
	snprintf(mk->unpinned, sizeof(mk->unpinned), "%s", unpinned);
	if (strcmp(unattested, mk->unattested) != 0 && unattested[0])
		log_warn(
		    "cluster: Lease(s) of %s: no weir-node pod (labels "
		    "app.kubernetes.io/name=weir, app.kubernetes.io/component=node, in the "
		    "Leases' namespace) runs on their node at the address of their peer URL: not "
		    "members (a weir-node run outside the chart's pods needs member-pods = 0)",
		    unattested);
	snprintf(mk->unattested, sizeof(mk->unattested), "%s", unattested);
	return kept;
}

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
	size_t kept = member_sync_kube_take(mk, now, peers, n, ret);
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
