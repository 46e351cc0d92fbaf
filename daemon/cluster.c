// SPDX-License-Identifier: Apache-2.0
// Membership and placement. The member list is fixed at start; what changes is which members
// are up, an atomic deadline per member, so placement reads take no lock.
#include "cluster.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "rendezvous.h"

struct member {
	char name[CLUSTER_NAME_MAX];
	char url[256];
	atomic_uint_fast64_t down_until_ms; /* 0: up */
};

struct cluster {
	struct member nodes[CLUSTER_MAX_NODES];
	size_t n;
	int self;
	unsigned replicas;
	unsigned down_ms;
	struct cluster_stats stats;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool name_ok(const char *s, size_t len)
{
	if (len == 0 || len >= CLUSTER_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_'))
			return false;
	}
	return true;
}

/* Normalizes url into out as scheme://host:port; -EINVAL unless it is http(s) with a host, a
 * port and no path, query, credentials or fragment. */
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
	    (path && strcmp(path, "/") != 0))
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

int cluster_new(const struct cluster_config *cfg, struct cluster **ret, char *errbuf, size_t errlen)
{
	struct cluster *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->self = -1;
	c->replicas = cfg->replicas;
	c->down_ms = cfg->down_ms ? cfg->down_ms : 10000;
	const char *p = cfg->peers ? cfg->peers : "";
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		if (len == 0) {
			p += end ? 1 : 0;
			continue;
		}
		if (c->n == CLUSTER_MAX_NODES) {
			snprintf(errbuf, errlen, "peers: more than %d members", CLUSTER_MAX_NODES);
			goto bad;
		}
		struct member *m = &c->nodes[c->n];
		if (!eq || !name_ok(p, (size_t)(eq - p))) {
			snprintf(errbuf, errlen,
				 "peers: \"%.*s\" is not NAME=URL (NAME of letters, digits, '-', "
				 "'.', '_', under %d characters)",
				 (int)len, p, CLUSTER_NAME_MAX);
			goto bad;
		}
		memcpy(m->name, p, (size_t)(eq - p));
		char url[512];
		snprintf(url, sizeof(url), "%.*s", (int)(len - (size_t)(eq - p) - 1), eq + 1);
		if (member_url(url, m->url, sizeof(m->url)) < 0) {
			snprintf(errbuf, errlen,
				 "peers: the URL of \"%s\", \"%s\", is not http://HOST:PORT",
				 m->name, url);
			goto bad;
		}
		if (cluster_find(c, m->name) >= 0) {
			snprintf(errbuf, errlen, "peers: \"%s\" is listed twice", m->name);
			goto bad;
		}
		if (cfg->self && strcmp(cfg->self, m->name) == 0)
			c->self = (int)c->n;
		c->n++;
		p += len + (end ? 1 : 0);
	}
	if (c->self < 0) {
		snprintf(errbuf, errlen, "peers: this node, \"%s\", is not among them",
			 cfg->self ? cfg->self : "");
		goto bad;
	}
	*ret = c;
	return 0;
bad:
	free(c);
	return -EINVAL;
}

void cluster_free(struct cluster *c)
{
	free(c);
}

size_t cluster_size(const struct cluster *c)
{
	return c->n;
}

int cluster_self(const struct cluster *c)
{
	return c->self;
}

const char *cluster_node_name(const struct cluster *c, int idx)
{
	return c->nodes[idx].name;
}

const char *cluster_node_url(const struct cluster *c, int idx)
{
	return c->nodes[idx].url;
}

int cluster_find(const struct cluster *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->nodes[i].name, name) == 0)
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

static size_t rank(const struct cluster *c, const char *key, struct ranked *out)
{
	for (size_t i = 0; i < c->n; i++)
		out[i] = (struct ranked){rendezvous_weight(c->nodes[i].name, key), (int)i,
					 c->nodes[i].name};
	qsort(out, c->n, sizeof(*out), ranked_cmp);
	return c->n;
}

/* The cache nodes of source: a mask over the members. */
static uint64_t cache_mask(const struct cluster *c, const char *source, unsigned replicas)
{
	if (replicas == 0)
		replicas = c->replicas;
	if (replicas == 0 || replicas >= c->n)
		return c->n == 64 ? ~0ull : (1ull << c->n) - 1;
	struct ranked r[CLUSTER_MAX_NODES];
	rank(c, source, r);
	uint64_t mask = 0;
	for (unsigned i = 0; i < replicas; i++)
		mask |= 1ull << r[i].idx;
	return mask;
}

bool cluster_is_cache_node(const struct cluster *c, const char *source, unsigned replicas, int idx)
{
	return idx >= 0 && (size_t)idx < c->n && (cache_mask(c, source, replicas) >> idx & 1);
}

size_t cluster_owners(const struct cluster *c, const char *source, unsigned replicas,
		      const char *path, uint64_t block, int *out, size_t max)
{
	size_t klen = strlen(source) + strlen(path) + 32;
	char *key = malloc(klen);
	if (!key)
		return 0;
	snprintf(key, klen, "%s\n%s\n%llu", source, path, (unsigned long long)block);
	uint64_t mask = cache_mask(c, source, replicas);
	struct ranked r[CLUSTER_MAX_NODES];
	rank(c, key, r);
	free(key);
	size_t n = 0;
	for (size_t i = 0; i < c->n && n < max; i++)
		if ((mask >> r[i].idx & 1) && cluster_is_up(c, r[i].idx))
			out[n++] = r[i].idx;
	return n;
}

void cluster_mark_down(struct cluster *c, int idx)
{
	if (idx < 0 || (size_t)idx >= c->n || idx == c->self)
		return;
	uint64_t was = atomic_exchange(&c->nodes[idx].down_until_ms, now_ms() + c->down_ms);
	if (was == 0 || was < now_ms())
		log_notice("peer %s (%s) failed: its blocks go to the next node for %u ms",
			   c->nodes[idx].name, c->nodes[idx].url, c->down_ms);
}

bool cluster_is_up(const struct cluster *c, int idx)
{
	uint64_t until = atomic_load(&c->nodes[idx].down_until_ms);
	return until == 0 || until <= now_ms();
}

struct cluster_stats *cluster_get_stats(struct cluster *c)
{
	return &c->stats;
}
