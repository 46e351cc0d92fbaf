// SPDX-License-Identifier: Apache-2.0
// Source lifetime: open (one open per id, shared by the requests that want it), references,
// close, purge of a deleted Dataset's cache and the reaping of what closed, and key rotation.
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "cluster.h"
#include "loader.h"
#include "log.h"
#include "meta_cache.h"
#include "mount_plan.h"
#include "source.h"
#include "strmap.h"
#include "tier_budget.h"
#include "ufs.h"

/* One number for a set of keys (0: none), to tell a rotated Secret from the one a source was
 * opened with. FNV-1a: kept in memory only, never shown. */
static uint64_t keys_sig(const Weir__S3Keys *k)
{
	if (!k || !k->access_key_id || !*k->access_key_id)
		return 0;
	uint64_t h = MOUNT_PLAN_SIG_SEED;
	const char *const v[] = {k->access_key_id, k->secret_access_key ? k->secret_access_key : "",
				 k->session_token ? k->session_token : ""};
	for (size_t i = 0; i < 3; i++)
		h = mount_plan_sig_add(h, v[i], strlen(v[i]) + 1);
	return h ? h : 1;
}

static int parse_tiers(const struct source_params *p, struct source_config *sc, char *err,
		       size_t errlen)
{
	if (p->ntiers == 0 || p->ntiers > BLOCK_STORE_MAX_TIERS) {
		snprintf(err, errlen, "between 1 and %d tiers are needed, got %zu",
			 BLOCK_STORE_MAX_TIERS, p->ntiers);
		return -EINVAL;
	}
	for (size_t i = 0; i < p->ntiers; i++) {
		struct tier_config *t = &sc->tiers[i];
		snprintf(t->medium, sizeof(t->medium), "%s", p->tiers[i]->medium);
		snprintf(t->path, sizeof(t->path), "%s", p->tiers[i]->path);
		t->quota = p->tiers[i]->quota;
	}
	sc->ntiers = p->ntiers;
	return 0;
}

struct node_source *node_find_source_locked(struct node *n, const char *id)
{
	struct node_source *s;
	LIST_FOREACH(s, &n->sources, link)
	if (strcmp(s->source->id, id) == 0)
		return s;
	return NULL;
}

/* Drops a reference. A source nobody uses stays open (its index loaded and verified, so the
 * next view of it is warm at once) until a controller closes it or the node stops. */
void node_close_source_locked(struct node *n, struct source *src)
{
	struct node_source *s;
	LIST_FOREACH(s, &n->sources, link)
	if (s->source == src) {
		LIST_REMOVE(s, link);
		if (n->tier_budget)
			tier_budget_release(n->tier_budget, src->id); /* gives its tiers back */
		/* Freed by node_reap() once the lock is released: freeing waits for fetches in
		 * flight and joins the source's threads. */
		LIST_INSERT_HEAD(&n->closing, s, link);
		return;
	}
}

/* True while a closed source of this id is not freed yet or its cache is being purged: an
 * open of the id waits (the index is locked, the cache half gone). */
static bool id_settling_locked(const struct node *n, const char *id)
{
	const struct node_source *s;
	const struct node_purge *p;
	LIST_FOREACH(s, &n->closing, link)
	if (strcmp(s->source->id, id) == 0)
		return true;
	LIST_FOREACH(p, &n->purges, link)
	if (strcmp(p->id, id) == 0)
		return true;
	return false;
}

bool node_source_closing_locked(const struct node *n, const char *id)
{
	const struct node_source *s;
	LIST_FOREACH(s, &n->closing, link)
	if (strcmp(s->source->id, id) == 0)
		return true;
	return false;
}

/* A stopped load still runs on its source until load_free joins it. */
static bool dead_load_uses_locked(const struct node *n, const struct source *src)
{
	const struct node_load *nl;
	LIST_FOREACH(nl, &n->dead_loads, link)
	if (nl->source == src)
		return true;
	return false;
}

/* Deletes the cache of p (listed, marked running by the caller) without the lock, then
 * forgets p. Called and returns with lock held. Returns source_purge's result. */
int node_purge_locked(struct node *n, struct node_purge *p)
{
	pthread_mutex_unlock(&n->lock);
	int r = source_purge(n->cfg.state_dir, p->id, p->tiers, p->ntiers);
	pthread_mutex_lock(&n->lock);
	LIST_REMOVE(p, link);
	free(p);
	pthread_cond_broadcast(&n->changed);
	return r;
}

/* Frees what the locked paths set aside, one item at a time and each without the lock:
 * stopped loads first (their threads use their sources), then closed sources no stopped load
 * uses, then the purges of caches whose source is freed. Items another thread is freeing are
 * left to it (it loops until nothing is left); callers that need one gone wait on changed.
 * Call without lock. */
void node_reap(struct node *n)
{
	pthread_mutex_lock(&n->lock);
	for (;;) {
		struct node_load *nl;
		LIST_FOREACH(nl, &n->dead_loads, link)
		if (!nl->freeing)
			break;
		if (nl) {
			nl->freeing = true;
			pthread_mutex_unlock(&n->lock);
			load_free(nl->load);
			pthread_mutex_lock(&n->lock);
			LIST_REMOVE(nl, link);
			free(nl);
			pthread_cond_broadcast(&n->changed);
			continue;
		}
		struct node_source *dead;
		LIST_FOREACH(dead, &n->closing, link)
		if (!dead->freeing && !dead_load_uses_locked(n, dead->source))
			break;
		if (dead) {
			dead->freeing = true;
			pthread_mutex_unlock(&n->lock);
			log_info("closing source %s (%s)", dead->source->id, dead->source->url);
			source_free(dead->source);
			pthread_mutex_lock(&n->lock);
			LIST_REMOVE(dead, link);
			free(dead);
			pthread_cond_broadcast(&n->changed);
			continue;
		}
		struct node_purge *p;
		LIST_FOREACH(p, &n->purges, link)
		if (!p->running && !p->manual && !node_source_closing_locked(n, p->id))
			break;
		if (!p)
			break;
		p->running = true;
		char id[sizeof(p->id)];
		snprintf(id, sizeof(id), "%s", p->id);
		int r = node_purge_locked(n, p);
		if (r < 0)
			log_warn("purging the cache of source %s (its Dataset was deleted): %s", id,
				 strerror(-r));
		else
			log_info("purged the cache of source %s: its Dataset was deleted and its "
				 "last view is gone",
				 id);
	}
	pthread_mutex_unlock(&n->lock);
}

struct node_purge *node_purge_add_locked(struct node *n, const char *id,
					 const struct tier_config *tiers, unsigned ntiers,
					 bool manual)
{
	struct node_purge *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	snprintf(p->id, sizeof(p->id), "%s", id);
	memcpy(p->tiers, tiers, sizeof(p->tiers));
	p->ntiers = ntiers;
	p->manual = manual;
	LIST_INSERT_HEAD(&n->purges, p, link);
	return p;
}

void node_drop_source_locked(struct node *n, struct source *src)
{
	if (src->refs > 0)
		src->refs--;
	if (src->refs > 0 || !src->purge_pending)
		return;
	/* Its Dataset was deleted while mounted and the last view just went: close it now and
	 * purge its cache once it is freed (node_reap). */
	if (!node_purge_add_locked(n, src->id, src->tiers, src->ntiers, false))
		log_warn("out of memory: the cache of source %s stays on disk", src->id);
	node_close_source_locked(n, src);
}

void node_close_idle_plain_locked(struct node *n, struct source *src)
{
	char nsb[64];
	if (!n->tier_budget || src->refs > 0 || src->held ||
	    mount_plan_source_ns(src->id, nsb, sizeof(nsb)))
		return;
	/* (gone already when its drop closed it for a purge) */
	struct node_source *ns = node_find_source_locked(n, src->id);
	if (ns && ns->source == src) {
		log_info("source %s has no view left: closed, its tiers' share of tier-roots given "
			 "back",
			 src->id);
		node_close_source_locked(n, src);
	}
}

/* Waits until no closed source of id is left unfreed and no purge of its cache runs, helping
 * with node_reap(). Called and returns with lock held. */
void node_wait_id_settled_locked(struct node *n, const char *id)
{
	while (id_settling_locked(n, id)) {
		pthread_mutex_unlock(&n->lock);
		node_reap(n);
		pthread_mutex_lock(&n->lock);
		if (id_settling_locked(n, id))
			pthread_cond_wait(&n->changed, &n->lock);
	}
}

/* Waits for an open of id under way, if any. Returns its result: 0 (or no open was under way)
 * or its -errno with its message in err. Called and returns with lock held. */
int node_wait_opening_locked(struct node *n, const char *id, char *err, size_t errlen)
{
	struct node_opening *op = strmap_get(n->opening, id);
	if (!op)
		return 0;
	op->waiters++;
	while (!op->done)
		pthread_cond_wait(&n->changed, &n->lock);
	int r = op->err;
	if (r < 0)
		snprintf(err, errlen, "%s", op->msg);
	if (--op->waiters == 0)
		free(op);
	return r;
}

bool node_source_same_tiers(const struct source *src, const struct source_params *p)
{
	if (src->ntiers != p->ntiers)
		return false;
	for (size_t i = 0; i < p->ntiers; i++)
		if (strcmp(src->tiers[i].path, p->tiers[i]->path) != 0 ||
		    strcmp(src->tiers[i].medium, p->tiers[i]->medium) != 0 ||
		    src->tiers[i].quota != p->tiers[i]->quota)
			return false;
	return true;
}

/* The Secret of an open source changed (rotated keys): checks the new keys with a client of
 * their own (a listing of the root, as an open does), then signs the source's requests with them
 * from now on, while its views read on: no remount, no reader error. Called and returns with
 * lock held; the check runs without it, the source's id claimed (as an open claims it: requests
 * for the id wait, then look again) and the source referenced. The source may be gone when it
 * returns: look it up again. Returns 0, or -errno with err naming the bucket and the server's
 * answer, never a key; the previous keys then stay. */
static int rotate_keys_locked(struct node *n, struct source *src, const struct source_params *p,
			      uint64_t ksig, char *err, size_t errlen)
{
	const Weir__S3Keys *k = p->keys;
	struct ufs_options uo = {.max_connections = 1,
				 .s3_access_key = k->access_key_id,
				 .s3_secret_key = k->secret_access_key,
				 .s3_session_token = k->session_token};
	unsigned views = src->refs - (src->held ? 1u : 0u);
	char msg[512] = "";
	struct ufs *check = NULL;
	struct node_opening *op = calloc(1, sizeof(*op));
	int perr = op ? 0 : -ENOMEM;
	if (perr == 0)
		strmap_put(n->opening, p->id, op, &perr);
	if (perr < 0) {
		free(op);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	src->refs++;
	pthread_mutex_unlock(&n->lock);
	int r = ufs_new(src->url, &uo, &check, msg, sizeof(msg));
	if (r == 0)
		r = ufs_probe(check, msg, sizeof(msg));
	ufs_free(check);
	if (r == 0) {
		r = ufs_set_keys(src->ufs, k->access_key_id, k->secret_access_key,
				 k->session_token);
		if (r == 0 && src->fetcher)
			fetcher_keys_changed(src->fetcher);
		if (r < 0 && !ufs_error_copy(src->ufs, msg, sizeof(msg))[0])
			snprintf(msg, sizeof(msg), "%s", strerror(-r));
	}
	pthread_mutex_lock(&n->lock);
	/* the requests that waited for the id look again (their keys may differ from these) */
	strmap_remove(n->opening, p->id);
	op->done = true;
	pthread_cond_broadcast(&n->changed);
	if (op->waiters == 0)
		free(op);
	if (r == 0)
		src->keys_sig = ksig;
	node_drop_source_locked(n, src);
	if (r < 0) {
		snprintf(
		    err, errlen,
		    "source %s: the keys of its changed Secret do not work (its views keep the "
		    "previous ones): %s",
		    p->id, msg[0] ? msg : strerror(-r));
		return r;
	}
	log_notice("source %s: its Secret changed; its requests are signed with the new keys from "
		   "now on (%u view(s) read on)",
		   p->id, views);
	return 0;
}

/* Finds the source with p->id or opens it; either way takes a reference (drop it with
 * node_drop_source_locked). Called and returns with lock held; the open runs without it. While one
 * request opens an id, the others that want it wait for that open and share its result. Returns
 * 0, or -errno with a message in err. */
int node_get_source_locked(struct node *n, const struct source_params *p, struct source **ret,
			   bool *ret_created, char *err, size_t errlen)
{
	int r;
	/* (looped: opened and closed again meanwhile, another request may reopen it) */
	while (strmap_get(n->opening, p->id))
		if ((r = node_wait_opening_locked(n, p->id, err, errlen)) < 0)
			return r;
	struct node_source *ns = node_find_source_locked(n, p->id);
	uint64_t ksig = keys_sig(p->keys);
	if (ns && ksig && ns->source->keys_sig != ksig && strcmp(ns->source->url, p->url) == 0) {
		r = rotate_keys_locked(n, ns->source, p, ksig, err, errlen);
		if (r < 0)
			return r;
		ns = node_find_source_locked(n, p->id); /* the lock was dropped: it may have gone */
	}
	if (ns && ns->source->refs == 0 &&
	    (!node_source_same_tiers(ns->source, p) ||
	     (p->block_size && p->block_size != ns->source->block_size) ||
	     (p->fetch_concurrency && p->fetch_concurrency != ns->source->fetch_concurrency))) {
		/* Idle, and asked for with other tiers, block size or fetch concurrency: reopen it
		 * with those (a new block size drops the cached blocks: db_check_block_size). Kept,
		 * a --block-size or --fetch-concurrency was ignored without a word. */
		node_close_source_locked(n, ns->source);
		ns = NULL;
	}
	if (ns) {
		if (strcmp(ns->source->url, p->url) != 0) {
			snprintf(err, errlen, "source id \"%s\" is already used by %s", p->id,
				 ns->source->url);
			return -EEXIST;
		}
		ns->source->refs++;
		*ret = ns->source;
		*ret_created = false;
		return 0;
	}
	struct source_config sc = {
	    .id = p->id,
	    .url = p->url,
	    .state_dir = n->cfg.state_dir,
	    .block_size = p->block_size ? p->block_size : 4u << 20,
	    .high = p->high > 0 ? p->high : 0.95,
	    .low = p->low > 0 ? p->low : 0.7,
	    .fetch_concurrency = p->fetch_concurrency,
	    .lru = strcmp(n->cfg.eviction, "lru") == 0,
	    .pools = n->pools,
	    .s3_access_key = p->keys ? p->keys->access_key_id : NULL,
	    .s3_secret_key = p->keys ? p->keys->secret_access_key : NULL,
	    .s3_session_token = p->keys ? p->keys->session_token : NULL,
	    .keys_sig = ksig,
	    .stall_timeout_s = n->stall_timeout_s,
	    .retries = n->ufs_retries,
	    .cluster = n->cluster,
	    .peers = n->peers,
	    .near_cache = n->near_cache,
	    .prefetch_max = n->prefetch_max,
	    .cache_replicas = p->cache_replicas,
	};
	err[0] = '\0';
	r = parse_tiers(p, &sc, err, errlen);
	if (r < 0)
		return r;
	/* Its tiers' share of the tier roots, checked and committed in one step (no I/O): two
	 * opens of other ids cannot both take the last of a root. Released by the close, or
	 * below when the open fails. */
	if (n->tier_budget) {
		struct tier_share sh[BLOCK_STORE_MAX_TIERS];
		for (size_t i = 0; i < sc.ntiers; i++)
			sh[i] = (struct tier_share){.path = sc.tiers[i].path,
						    .quota = sc.tiers[i].quota};
		char why[600];
		char nsb[64];
		r = tier_budget_commit(n->tier_budget, p->id,
				       mount_plan_source_ns(p->id, nsb, sizeof(nsb)), sh, sc.ntiers,
				       false, why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen, "source \"%s\": %s", p->id, why);
			return r;
		}
	}
	/* Claim the id: requests for it wait for this open (node_wait_opening_locked). */
	struct node_opening *op = calloc(1, sizeof(*op));
	ns = calloc(1, sizeof(*ns));
	int perr = op && ns ? 0 : -ENOMEM;
	if (perr == 0)
		strmap_put(n->opening, p->id, op, &perr);
	if (perr < 0) {
		free(op);
		free(ns);
		if (n->tier_budget)
			tier_budget_release(n->tier_budget, p->id);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* A source of this id closed just now must be gone first (its index is locked), and
	 * its purge done. */
	node_wait_id_settled_locked(n, p->id);
	struct source *src = NULL;
	pthread_mutex_unlock(&n->lock);
	r = source_open(&sc, &src, err, errlen);
	pthread_mutex_lock(&n->lock);
	if (r < 0 && !err[0])
		snprintf(err, errlen, "%s", strerror(-r));
	strmap_remove(n->opening, p->id);
	op->done = true;
	op->err = r;
	snprintf(op->msg, sizeof(op->msg), "%s", r < 0 ? err : "");
	pthread_cond_broadcast(&n->changed);
	if (op->waiters == 0)
		free(op);
	if (r < 0) {
		free(ns);
		if (n->tier_budget)
			tier_budget_release(n->tier_budget, p->id);
		return r;
	}
	ns->source = src;
	LIST_INSERT_HEAD(&n->sources, ns, link);
	src->refs = 1;
	meta_cache_set_max_stale(src->meta, n->max_stale_ms);
	log_info("opened source %s (%s), block size %u, %zu tier(s)", p->id, p->url, sc.block_size,
		 p->ntiers);
	if (n->cluster) {
		struct cluster_view *cv = cluster_view_get(n->cluster);
		log_info("source %s: this node is %s", p->id,
			 cluster_is_cache_node(cv, p->id, p->cache_replicas, cluster_self(cv))
			     ? "one of its cache nodes"
			     : "a client of it only (cache-replicas): its blocks live on peers");
		cluster_view_put(cv);
	}
	*ret = src;
	*ret_created = true;
	return 0;
}
