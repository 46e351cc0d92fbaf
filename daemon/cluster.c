// SPDX-License-Identifier: Apache-2.0
// Membership and placement. A view (a member set) is immutable once published, but for which
// members are up, an atomic deadline per member, so placement reads take no lock; a new member
// set is a new view swapped in under a lock held only for the swap or to take a reference.
#include "cluster.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "node_id.h"
#include "node_name.h"
#include "rendezvous.h"
#include "timed_wait.h"

struct member {
	char name[CLUSTER_NAME_MAX];
	char url[256];
	char id[NODE_ID_PUB_HEX]; /* its identity's public key; "" when a peers list gives none */
	atomic_uint_fast64_t down_until_ms; /* 0: up */
};

struct cluster_view {
	atomic_uint refs;
	size_t n;
	int self;
	unsigned replicas;
	unsigned down_ms;
	struct member nodes[CLUSTER_MAX_NODES];
};

struct cluster {
	char self[CLUSTER_NAME_MAX];
	char self_url[256];
	char self_id[NODE_ID_PUB_HEX];
	bool dynamic;
	unsigned replicas, down_ms;
	/* Guards cur: held to swap it or to load it and take a reference, nothing else (no
	 * allocation, no free, no logging under it). */
	pthread_mutex_t lock;
	struct cluster_view *cur; /* under lock; holds one reference of its own */
	/* Serializes cluster_set_members (builds a view from the current one) and guards
	 * skipped; never taken by readers. */
	pthread_mutex_t set_lock;
	char skipped[512]; /* under set_lock: why the last member was skipped, said once */
	/* Guards the member rounds' counts and the kick (cluster_refresh): held to read or change
	 * them and to wait on round_cond, nothing else. */
	pthread_mutex_t round_lock;
	pthread_cond_t round_cond;
	uint64_t rounds_started, rounds_done; /* under round_lock */
	bool kicked, has_rounds;	      /* under round_lock */
	struct cluster_stats stats;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Normalizes url into out as scheme://host:port; -EINVAL unless it is http(s) with a host, a
 * port and no path, query, credentials or fragment. An unspecified address (0.0.0.0, [::]) is
 * refused: a peer dialling it would reach itself. */
static int member_url(const char *url, char *out, size_t len)
{
	CURLU *u = curl_url();
	if (!u)
		return -ENOMEM;
	int r = -EINVAL;
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL, *user = NULL,
	     *frag = NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
		goto out;
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK)
		goto out;
	if ((strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) ||
	    (path && strcmp(path, "/") != 0) || strcmp(host, "0.0.0.0") == 0 ||
	    strcmp(host, "[::]") == 0)
		goto out;
	if (snprintf(out, len, "%s://%s:%s", scheme, host, port) < (int)len)
		r = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_free(user);
	curl_free(frag);
	curl_url_cleanup(u);
	return r;
}

static struct cluster_view *view_new(const struct cluster *c)
{
	struct cluster_view *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	atomic_init(&v->refs, 1);
	v->self = -1;
	v->replicas = c->replicas;
	v->down_ms = c->down_ms;
	return v;
}

/* Adds name=url (identity id: a public key, or "" or NULL for none) to v; on failure errbuf says
 * why (when errbuf is not NULL). */
static int view_add(struct cluster_view *v, const char *name, size_t namelen, const char *url,
		    const char *id, char *errbuf, size_t errlen)
{
	if (v->n == CLUSTER_MAX_NODES) {
		snprintf(errbuf, errlen, "peers: more than %d members", CLUSTER_MAX_NODES);
		return -E2BIG;
	}
	struct member *m = &v->nodes[v->n];
	if (!node_name_ok(name, namelen, CLUSTER_NAME_MAX - 1)) {
		snprintf(errbuf, errlen,
			 "peers: \"%.*s\" is not a member name (letters, digits, '-', '.', '_', "
			 "under %d characters)",
			 (int)(namelen > 200 ? 200 : namelen), name, CLUSTER_NAME_MAX);
		return -EINVAL;
	}
	memset(m, 0, sizeof(*m));
	memcpy(m->name, name, namelen);
	if (member_url(url, m->url, sizeof(m->url)) < 0) {
		snprintf(errbuf, errlen,
			 "peers: the URL of \"%s\", \"%.300s\", is not http://HOST:PORT", m->name,
			 url);
		return -EINVAL;
	}
	/* NULL: none given; given (";id=" in a list), it must be one: an empty one (an unset
	 * shell variable) would turn the member's check off without a word */
	if (id && !node_id_pub_valid(id)) {
		snprintf(errbuf, errlen,
			 "peers: the id of \"%s\", \"%.80s\", is not a node identity (64 "
			 "lower-case hex digits: weir-node --print-node-id on that node)",
			 m->name, id);
		return -EINVAL;
	}
	snprintf(m->id, sizeof(m->id), "%s", id ? id : "");
	if (cluster_find(v, m->name) >= 0) {
		snprintf(errbuf, errlen, "peers: \"%s\" is listed twice", m->name);
		return -EEXIST;
	}
	v->n++;
	return 0;
}

static int member_cmp(const void *a, const void *b)
{
	return strcmp(((const struct member *)a)->name, ((const struct member *)b)->name);
}

/* Sorts v's members by name (placement does not depend on order; comparing two views and
 * describing one does) and finds this node. */
static void view_seal(struct cluster_view *v, const char *self)
{
	qsort(v->nodes, v->n, sizeof(v->nodes[0]), member_cmp);
	v->self = cluster_find(v, self);
}

int cluster_new(const struct cluster_config *cfg, struct cluster **ret, char *errbuf, size_t errlen)
{
	struct cluster *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->replicas = cfg->replicas;
	c->down_ms = cfg->down_ms ? cfg->down_ms : 10000;
	const char *self = cfg->self ? cfg->self : "";
	if (!node_name_ok(self, strlen(self), CLUSTER_NAME_MAX - 1)) {
		snprintf(errbuf, errlen,
			 "node-name \"%.200s\" is not a member name (letters, digits, "
			 "'-', '.', '_', under %d characters)",
			 self, CLUSTER_NAME_MAX);
		free(c);
		return -EINVAL;
	}
	snprintf(c->self, sizeof(c->self), "%s", self);
	snprintf(c->self_id, sizeof(c->self_id), "%s", cfg->self_id ? cfg->self_id : "");
	struct cluster_view *v = view_new(c);
	if (!v) {
		free(c);
		return -ENOMEM;
	}
	const char *p = cfg->peers ? cfg->peers : "";
	c->dynamic = !*p;
	if (c->dynamic) {
		const char *url = cfg->self_url ? cfg->self_url : "";
		if (view_add(v, self, strlen(self), url, c->self_id[0] ? c->self_id : NULL, errbuf,
			     errlen) < 0) {
			snprintf(errbuf, errlen,
				 "this node's peer URL \"%.300s\" is not http://HOST:PORT with an "
				 "address peers can dial (set peer-url)",
				 url);
			goto bad;
		}
		snprintf(c->self_url, sizeof(c->self_url), "%s", v->nodes[0].url);
	}
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		if (len == 0) {
			p += end ? 1 : 0;
			continue;
		}
		if (!eq) {
			snprintf(errbuf, errlen, "peers: \"%.*s\" is not NAME=URL", (int)len, p);
			goto bad;
		}
		/* NAME=URL, or NAME=URL;id=KEY with the member's identity key */
		char url[512], *id = NULL;
		snprintf(url, sizeof(url), "%.*s", (int)(len - (size_t)(eq - p) - 1), eq + 1);
		size_t ul = strlen(url);
		while (ul > 0 && (url[ul - 1] == ' ' || url[ul - 1] == '\t' || url[ul - 1] == '\r'))
			url[--ul] = '\0';
		char *semi = strchr(url, ';');
		if (semi) {
			*semi = '\0';
			if (strncmp(semi + 1, "id=", 3) != 0) {
				snprintf(errbuf, errlen,
					 "peers: \"%.*s\": after the URL only ;id=KEY may follow",
					 (int)(len > 300 ? 300 : len), p);
				goto bad;
			}
			id = semi + 4;
		}
		if (view_add(v, p, (size_t)(eq - p), url, id, errbuf, errlen) < 0)
			goto bad;
		p += len + (end ? 1 : 0);
	}
	view_seal(v, self);
	if (v->self < 0) {
		snprintf(errbuf, errlen, "peers: this node, \"%s\", is not among them", self);
		goto bad;
	}
	if (v->nodes[v->self].id[0] && strcmp(v->nodes[v->self].id, c->self_id) != 0) {
		snprintf(errbuf, errlen,
			 "peers: this node's id, %.16s..., is not the public key of its own "
			 "identity (%.16s..., weir-node --print-node-id)",
			 v->nodes[v->self].id, c->self_id[0] ? c->self_id : "none");
		goto bad;
	}
	/* this node knows its own identity whatever the list says: a request under its name
	 * (never one of its own) is checked against it */
	snprintf(v->nodes[v->self].id, sizeof(v->nodes[v->self].id), "%s", c->self_id);
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->set_lock, NULL);
	pthread_mutex_init(&c->round_lock, NULL);
	pthread_cond_init(&c->round_cond, NULL);
	c->cur = v;
	*ret = c;
	return 0;
bad:
	free(v);
	free(c);
	return -EINVAL;
}

void cluster_free(struct cluster *c)
{
	if (!c)
		return;
	cluster_view_put(c->cur);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->set_lock);
	pthread_mutex_destroy(&c->round_lock);
	pthread_cond_destroy(&c->round_cond);
	free(c);
}

bool cluster_is_dynamic(const struct cluster *c)
{
	return c->dynamic;
}

struct cluster_view *cluster_view_get(struct cluster *c)
{
	pthread_mutex_lock(&c->lock);
	struct cluster_view *v = c->cur;
	atomic_fetch_add(&v->refs, 1);
	pthread_mutex_unlock(&c->lock);
	return v;
}

struct cluster_view *cluster_view_ref(struct cluster_view *v)
{
	atomic_fetch_add(&v->refs, 1);
	return v;
}

void cluster_view_put(struct cluster_view *v)
{
	if (v && atomic_fetch_sub(&v->refs, 1) == 1)
		free(v);
}

static bool same_members(const struct cluster_view *a, const struct cluster_view *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->nodes[i].name, b->nodes[i].name) != 0 ||
		    strcmp(a->nodes[i].url, b->nodes[i].url) != 0 ||
		    strcmp(a->nodes[i].id, b->nodes[i].id) != 0)
			return false;
	return true;
}

int cluster_set_members(struct cluster *c, const struct cluster_member *m, size_t n)
{
	if (!c->dynamic)
		return -EPERM; /* a fixed peers list is fixed */
	struct cluster_view *v = view_new(c);
	if (!v)
		return -ENOMEM;
	char err[512], skipped[512] = "";
	for (size_t i = 0; i < n; i++) {
		if (!m[i].name || !m[i].url || strcmp(m[i].name, c->self) == 0)
			continue; /* this node is added below, with the URL it serves on */
		if (view_add(v, m[i].name, strlen(m[i].name), m[i].url,
			     m[i].id && m[i].id[0] ? m[i].id : NULL, err, sizeof(err)) < 0 &&
		    !skipped[0])
			snprintf(skipped, sizeof(skipped), "%s", err);
	}
	if (v->n == CLUSTER_MAX_NODES)
		v->n--; /* room for this node, whatever else */
	view_add(v, c->self, strlen(c->self), c->self_url, c->self_id[0] ? c->self_id : NULL, err,
		 sizeof(err)); /* checked at new */
	view_seal(v, c->self);
	pthread_mutex_lock(&c->set_lock);
	/* called again and again with the same Leases: a bad entry is said once */
	bool say = skipped[0] && strcmp(skipped, c->skipped) != 0;
	snprintf(c->skipped, sizeof(c->skipped), "%s", skipped);
	struct cluster_view *old = cluster_view_get(c);
	int r = 0;
	if (!same_members(old, v)) {
		/* the marks of members that stay carry over; one set on old from here on is
		 * lost, and set again by the next failure */
		for (size_t i = 0; i < v->n; i++) {
			int j = cluster_find(old, v->nodes[i].name);
			if (j >= 0)
				atomic_store(&v->nodes[i].down_until_ms,
					     atomic_load(&old->nodes[j].down_until_ms));
		}
		pthread_mutex_lock(&c->lock);
		struct cluster_view *was = c->cur;
		c->cur = v;
		pthread_mutex_unlock(&c->lock);
		cluster_view_put(was); /* the cluster's own reference */
		atomic_fetch_add(&c->stats.changes, 1);
		v = NULL;
		r = 1;
	}
	pthread_mutex_unlock(&c->set_lock);
	if (say)
		log_warn("cluster: a member skipped: %s", skipped);
	if (r == 1) {
		char now[CLUSTER_MAX_NODES * (CLUSTER_NAME_MAX + 1)];
		cluster_describe(c, now, sizeof(now));
		log_notice("cluster: members now %s (were %zu)", now, old->n);
	}
	cluster_view_put(old);
	cluster_view_put(v);
	return r;
}

size_t cluster_count(struct cluster *c)
{
	struct cluster_view *v = cluster_view_get(c);
	size_t n = v->n;
	cluster_view_put(v);
	return n;
}

void cluster_describe(struct cluster *c, char *out, size_t len)
{
	struct cluster_view *v = cluster_view_get(c);
	size_t at = 0;
	if (len)
		out[0] = '\0';
	for (size_t i = 0; i < v->n && at < len; i++) {
		int w = snprintf(out + at, len - at, "%s%s", i ? "," : "", v->nodes[i].name);
		if (w < 0)
			break;
		at += (size_t)w;
	}
	cluster_view_put(v);
}

size_t cluster_size(const struct cluster_view *v)
{
	return v->n;
}

int cluster_self(const struct cluster_view *v)
{
	return v->self;
}

const char *cluster_node_name(const struct cluster_view *v, int idx)
{
	return v->nodes[idx].name;
}

const char *cluster_node_url(const struct cluster_view *v, int idx)
{
	return v->nodes[idx].url;
}

const char *cluster_node_id(const struct cluster_view *v, int idx)
{
	return v->nodes[idx].id;
}

int cluster_find(const struct cluster_view *v, const char *name)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->nodes[i].name, name) == 0)
			return (int)i;
	return -1;
}

struct ranked {
	uint64_t w;
	int idx;
	const char *name;
};

/* Highest weight first; ties to the smaller name, as rendezvous_owner() breaks them. */
static int ranked_cmp(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	if (x->w != y->w)
		return x->w > y->w ? -1 : 1;
	return strcmp(x->name, y->name);
}

static size_t rank(const struct cluster_view *v, const char *key, struct ranked *out)
{
	for (size_t i = 0; i < v->n; i++)
		out[i] = (struct ranked){rendezvous_weight(v->nodes[i].name, key), (int)i,
					 v->nodes[i].name};
	qsort(out, v->n, sizeof(*out), ranked_cmp);
	return v->n;
}

/* The cache nodes of source: a mask over the members. */
static uint64_t cache_mask(const struct cluster_view *v, const char *source, unsigned replicas)
{
	if (replicas == 0)
		replicas = v->replicas;
	if (replicas == 0 || replicas >= v->n)
		return v->n == 64 ? ~0ull : (1ull << v->n) - 1;
	struct ranked r[CLUSTER_MAX_NODES];
	rank(v, source, r);
	uint64_t mask = 0;
	for (unsigned i = 0; i < replicas; i++)
		mask |= 1ull << r[i].idx;
	return mask;
}

bool cluster_is_cache_node(const struct cluster_view *v, const char *source, unsigned replicas,
			   int idx)
{
	return idx >= 0 && (size_t)idx < v->n && (cache_mask(v, source, replicas) >> idx & 1);
}

size_t cluster_owners(const struct cluster_view *v, const char *source, unsigned replicas,
		      const char *path, uint64_t block, int *out, size_t max)
{
	size_t klen = strlen(source) + strlen(path) + 32;
	char *key = malloc(klen);
	if (!key)
		return 0;
	snprintf(key, klen, "%s\n%s\n%llu", source, path, (unsigned long long)block);
	uint64_t mask = cache_mask(v, source, replicas);
	struct ranked r[CLUSTER_MAX_NODES];
	rank(v, key, r);
	free(key);
	size_t n = 0;
	for (size_t i = 0; i < v->n && n < max; i++)
		if ((mask >> r[i].idx & 1) && cluster_is_up(v, r[i].idx))
			out[n++] = r[i].idx;
	return n;
}

void cluster_mark_down(struct cluster_view *v, int idx)
{
	if (idx < 0 || (size_t)idx >= v->n || idx == v->self)
		return;
	uint64_t was = atomic_exchange(&v->nodes[idx].down_until_ms, now_ms() + v->down_ms);
	if (was == 0 || was < now_ms())
		log_notice("peer %s (%s) failed: its blocks go to the next node for %u ms",
			   v->nodes[idx].name, v->nodes[idx].url, v->down_ms);
}

bool cluster_is_up(const struct cluster_view *v, int idx)
{
	uint64_t until = atomic_load(&v->nodes[idx].down_until_ms);
	return until == 0 || until <= now_ms();
}

struct cluster_stats *cluster_get_stats(struct cluster *c)
{
	return &c->stats;
}

int cluster_refresh(struct cluster *c, unsigned timeout_ms)
{
	struct timespec until = deadline_in(timeout_ms / 1000.0);
	pthread_mutex_lock(&c->round_lock);
	if (!c->has_rounds) {
		pthread_mutex_unlock(&c->round_lock);
		return -ENOTSUP;
	}
	/* a round that starts from now on: one under way may have fetched before the change */
	uint64_t want = c->rounds_started + 1;
	c->kicked = true;
	pthread_cond_broadcast(&c->round_cond);
	int r = 0;
	while (c->has_rounds && c->rounds_done < want && r == 0)
		r = cond_wait_until(&c->round_cond, &c->round_lock, &until);
	bool done = c->rounds_done >= want;
	pthread_mutex_unlock(&c->round_lock);
	return done ? 0 : -ETIMEDOUT;
}

void cluster_round_start(struct cluster *c)
{
	pthread_mutex_lock(&c->round_lock);
	c->has_rounds = true;
	c->kicked = false;
	c->rounds_started++;
	pthread_mutex_unlock(&c->round_lock);
}

void cluster_round_done(struct cluster *c)
{
	pthread_mutex_lock(&c->round_lock);
	c->rounds_done = c->rounds_started;
	pthread_cond_broadcast(&c->round_cond);
	pthread_mutex_unlock(&c->round_lock);
}

bool cluster_round_wait(struct cluster *c, unsigned ms)
{
	struct timespec until = deadline_in(ms / 1000.0);
	pthread_mutex_lock(&c->round_lock);
	int r = 0;
	while (!c->kicked && r == 0)
		r = cond_wait_until(&c->round_cond, &c->round_lock, &until);
	bool kicked = c->kicked;
	pthread_mutex_unlock(&c->round_lock);
	return kicked;
}

void cluster_rounds_end(struct cluster *c)
{
	pthread_mutex_lock(&c->round_lock);
	c->has_rounds = false;
	c->rounds_done = c->rounds_started;
	pthread_cond_broadcast(&c->round_cond);
	pthread_mutex_unlock(&c->round_lock);
}
