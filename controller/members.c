// SPDX-License-Identifier: Apache-2.0
// Membership from heartbeats: a node is in from its first heartbeat and out once none came for
// the timeout. Every answer lists the members that are in at that moment, so a node's view of the
// cluster is at most one member period behind the controller's.
#include "members.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node_id.h"
#include "node_name.h"
#include "strmap.h"

struct member {
	char node[254];
	char url[256];
	char id[NODE_ID_PUB_HEX];      /* its identity, pinned while it beats */
	char refused[NODE_ID_PUB_HEX]; /* the other identity last refused for its name: said once */
	double seen; /* CLOCK_MONOTONIC seconds of the last heartbeat */
	Weir__NodeTraffic traffic;
};

/* A controller that just started knows no member yet: it answers only once every live node has
 * had this long to beat, so that no node takes a partial set for the cluster. */
#define MEMBERS_LEARN_S 1.0

struct members {
	double timeout;
	double first_beat; /* CLOCK_MONOTONIC seconds of the first heartbeat taken, 0: none yet */
	struct strmap *by_node; /* node -> struct member */
	/* the last answer's arrays (members_answer) */
	Weir__Member *out;
	Weir__Member **outp;
	Weir__NodeTraffic total;
};

int members_new(double timeout_s, struct members **ret)
{
	struct members *m = calloc(1, sizeof(*m));
	if (!m || !(m->by_node = strmap_new()) ||
	    !(m->out = calloc(MEMBERS_MAX, sizeof(*m->out))) ||
	    !(m->outp = calloc(MEMBERS_MAX, sizeof(*m->outp)))) {
		members_free(m);
		return -ENOMEM;
	}
	m->timeout = timeout_s;
	*ret = m;
	return 0;
}

void members_free(struct members *m)
{
	if (!m)
		return;
	strmap_free(m->by_node, free);
	free(m->out);
	free(m->outp);
	free(m);
}

static bool url_ok(const char *s)
{
	return strlen(s) < sizeof(((struct member *)0)->url) &&
	       (!strncmp(s, "http://", 7) || !strncmp(s, "https://", 8));
}

static int credit_one(const char *key, void *value, void *arg)
{
	struct member *e = value;
	(void)key;
	e->seen += *(double *)arg;
	return 0;
}

void members_credit(struct members *m, double seconds)
{
	if (seconds > 0)
		strmap_each(m->by_node, credit_one, &seconds);
}

int members_beat(struct members *m, const char *node, const char *url, const char *id,
		 const Weir__NodeTraffic *traffic, double now, char *err, size_t errlen)
{
	node = node ? node : "";
	url = url ? url : "";
	id = id ? id : "";
	if (!node_name_ok(node, strlen(node), NODE_NAME_MAX)) {
		snprintf(err, errlen,
			 "member heartbeat: node \"%.300s\" (%zu bytes) is not a name of 1 to %d "
			 "letters, digits, '.', '-' or '_' (the bound every weir-node keeps)",
			 node, strlen(node), NODE_NAME_MAX);
		return -EINVAL;
	}
	if (!url_ok(url)) {
		snprintf(
		    err, errlen,
		    "member heartbeat of node \"%s\": peer_url \"%.300s\" is not an http(s):// "
		    "URL of at most 255 bytes",
		    node, url);
		return -EINVAL;
	}
	if (!node_id_pub_valid(id)) {
		snprintf(err, errlen,
			 "member heartbeat of node \"%s\": node_id \"%.80s\" is not an identity "
			 "(64 lower-case hex digits): a weir-node of an older build? Upgrade a "
			 "cluster's nodes together",
			 node, id);
		return -EINVAL;
	}
	struct member *e = strmap_get(m->by_node, node);
	if (e && strcmp(e->id, id) != 0 && now - e->seen <= m->timeout) {
		/* A second node with this name, or one holding the cluster key that wants to be
		 * asked for this node's blocks and to ask under its name: the member that beats
		 * keeps it. A node whose node-id.key was replaced is taken once its old identity
		 * has been silent for the timeout. */
		snprintf(err, errlen,
			 "member heartbeat of node \"%s\": it is a member with another identity "
			 "(%.16s..., heard %.1f s ago; this one %.16s...): a second node with this "
			 "name, or its node-id.key replaced (then it is taken once the other has "
			 "been silent for %.0f s)",
			 node, e->id, now - e->seen, id, m->timeout);
		if (strcmp(e->refused, id) != 0)
			log_warn("cluster: refused a heartbeat for node %s with identity %.16s...: "
				 "it is a member with identity %.16s..., heard %.1f s ago",
				 node, id, e->id, now - e->seen);
		snprintf(e->refused, sizeof(e->refused), "%s", id);
		return -EPERM;
	}
	if (m->first_beat == 0)
		m->first_beat = now;
	if (!e) {
		if (strmap_size(m->by_node) >= MEMBERS_MAX) {
			snprintf(err, errlen,
				 "member heartbeat of node \"%s\": the cluster has %d members "
				 "already, the most a cluster has (CLUSTER_MAX_NODES)",
				 node, MEMBERS_MAX);
			return -ENOSPC;
		}
		int r = 0;
		if (!(e = calloc(1, sizeof(*e))))
			return -ENOMEM;
		snprintf(e->node, sizeof(e->node), "%s", node);
		strmap_put(m->by_node, node, e, &r);
		if (r < 0) {
			free(e);
			return r;
		}
		log_notice("cluster: node %s joined, serving blocks on %s", node, url);
	} else if (strcmp(e->id, id)) {
		log_notice("cluster: node %s has a new identity %.16s... (its old one, %.16s..., "
			   "silent for %.1f s)",
			   node, id, e->id, now - e->seen);
		e->refused[0] = '\0';
	} else if (strcmp(e->url, url)) {
		log_notice("cluster: node %s now serves blocks on %s (was %s)", node, url, e->url);
	}
	snprintf(e->url, sizeof(e->url), "%s", url);
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->seen = now;
	weir__node_traffic__init(&e->traffic);
	if (traffic) {
		e->traffic.ufs_bytes = traffic->ufs_bytes;
		e->traffic.peer_in_bytes = traffic->peer_in_bytes;
		e->traffic.peer_out_bytes = traffic->peer_out_bytes;
		e->traffic.hit_bytes = traffic->hit_bytes;
		e->traffic.miss_bytes = traffic->miss_bytes;
	}
	return 0;
}

struct scan {
	struct members *m;
	double now;
	char (*gone)[254];
	size_t n_gone, n;
};

static int scan_one(const char *key, void *value, void *arg)
{
	struct scan *s = arg;
	struct member *e = value;
	(void)key;
	if (s->now - e->seen > s->m->timeout) {
		snprintf(s->gone[s->n_gone++], 254, "%s", e->node);
		return 0;
	}
	Weir__Member *o = &s->m->out[s->n];
	weir__member__init(o);
	o->node = e->node;
	o->peer_url = e->url;
	o->node_id = e->id;
	s->m->outp[s->n++] = o;
	Weir__NodeTraffic *t = &s->m->total;
	t->ufs_bytes += e->traffic.ufs_bytes;
	t->peer_in_bytes += e->traffic.peer_in_bytes;
	t->peer_out_bytes += e->traffic.peer_out_bytes;
	t->hit_bytes += e->traffic.hit_bytes;
	t->miss_bytes += e->traffic.miss_bytes;
	return 0;
}

static int by_node(const void *a, const void *b)
{
	return strcmp((*(Weir__Member *const *)a)->node, (*(Weir__Member *const *)b)->node);
}

int members_answer(struct members *m, double now, Weir__Response *resp)
{
	if (m->first_beat == 0 || now - m->first_beat < MEMBERS_LEARN_S)
		return -EAGAIN;
	char(*gone)[254] = calloc(MEMBERS_MAX, sizeof(*gone));
	if (!gone)
		return -ENOMEM;
	struct scan s = {.m = m, .now = now, .gone = gone};
	weir__node_traffic__init(&m->total);
	strmap_each(m->by_node, scan_one, &s);
	for (size_t i = 0; i < s.n_gone; i++) {
		struct member *e = strmap_remove(m->by_node, gone[i]);
		if (e)
			log_notice("cluster: node %s left: no heartbeat for %.1f s", e->node,
				   now - e->seen);
		free(e);
	}
	free(gone); /* the answer names only entries that stay */
	qsort(m->outp, s.n, sizeof(*m->outp), by_node);
	resp->members = m->outp;
	resp->n_members = s.n;
	resp->cluster_traffic = &m->total;
	return (int)s.n;
}
