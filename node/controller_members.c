// SPDX-License-Identifier: Apache-2.0
// Heartbeats to weir-controller as the member source of the embedded default. The call is made
// on the member-sync thread with no lock held; the answer's totals are copied under cm->lock.
#include "controller_members.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "log.h"
#include "member_sync.h"
#include "node.h"

/* A heartbeat waits this long for the controller; the next one comes a member period later. */
#define HEARTBEAT_TIMEOUT_MS 2000u

struct controller_members {
	struct node *n;
	char sock[PATH_MAX + 32];
	struct member_sync *sync;
	/* Guards total and nodes only; held to copy them, nothing else is done under it. */
	pthread_mutex_t lock;
	Weir__NodeTraffic total;
	unsigned nodes;
};

static int heartbeat(void *arg, int64_t now, struct member_entry *ret, size_t max, char *err,
		     size_t errlen)
{
	struct controller_members *cm = arg;
	struct node *n = cm->n;
	(void)now;
	Weir__NodeTraffic t = WEIR__NODE_TRAFFIC__INIT;
	node_traffic_get(n, &t);
	Weir__MemberHeartbeat hb = WEIR__MEMBER_HEARTBEAT__INIT;
	hb.node = n->cfg.node_name;
	hb.peer_url = n->cfg.peer_url;
	hb.node_id = (char *)node_id_public(n->node_id);
	hb.traffic = &t;
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_MEMBER_HEARTBEAT;
	req.member_heartbeat = &hb;
	Weir__Response *resp = NULL;
	int r = control_call_checked(cm->sock, "weir-controller", &req, HEARTBEAT_TIMEOUT_MS, &resp,
				     err, errlen);
	if (r < 0)
		return r;
	/* The controller keeps the bounds this node keeps (lib/node_name.h); an answer past them
	 * is refused whole, naming what is wrong, and the members stay as they were: a member
	 * dropped here but kept by the others would make the nodes disagree on blocks' owners. */
	const char *names[CLUSTER_MAX_NODES];
	size_t nm = resp->n_members;
	for (size_t i = 0; i < nm && i < CLUSTER_MAX_NODES; i++)
		names[i] = resp->members[i]->node;
	r = node_name_check_members("the controller's member list", names, nm, err, errlen);
	if (r == 0 && nm > max) {
		snprintf(err, errlen,
			 "the controller's member list has %zu members; this node keeps %zu", nm,
			 max);
		r = -E2BIG;
	}
	for (size_t i = 0; r == 0 && i < nm; i++) {
		const Weir__Member *m = resp->members[i];
		if (!m->peer_url || strlen(m->peer_url) >= sizeof(ret->url)) {
			snprintf(
			    err, errlen,
			    "the controller's member list: member \"%s\" has no peer_url of at "
			    "most %zu bytes",
			    m->node, sizeof(ret->url) - 1);
			r = -EINVAL;
		} else if (!node_id_pub_valid(m->node_id)) {
			/* every member has one: requests under its name are checked against it */
			snprintf(err, errlen,
				 "the controller's member list: member \"%s\" has no node_id (an "
				 "older weir-controller? upgrade it with the nodes)",
				 m->node);
			r = -EINVAL;
		}
	}
	if (r < 0) {
		weir__response__free_unpacked(resp, NULL);
		return r;
	}
	size_t k = 0;
	for (size_t i = 0; i < nm; i++, k++) {
		snprintf(ret[k].node, sizeof(ret[k].node), "%s", resp->members[i]->node);
		snprintf(ret[k].url, sizeof(ret[k].url), "%s", resp->members[i]->peer_url);
		snprintf(ret[k].id, sizeof(ret[k].id), "%s", resp->members[i]->node_id);
	}
	pthread_mutex_lock(&cm->lock);
	if (resp->cluster_traffic) {
		cm->total.ufs_bytes = resp->cluster_traffic->ufs_bytes;
		cm->total.peer_in_bytes = resp->cluster_traffic->peer_in_bytes;
		cm->total.peer_out_bytes = resp->cluster_traffic->peer_out_bytes;
		cm->total.hit_bytes = resp->cluster_traffic->hit_bytes;
		cm->total.miss_bytes = resp->cluster_traffic->miss_bytes;
		cm->nodes = (unsigned)resp->n_members;
	}
	pthread_mutex_unlock(&cm->lock);
	weir__response__free_unpacked(resp, NULL);
	return (int)k;
}

int controller_members_start(struct node *n, struct controller_members **ret)
{
	struct controller_members *cm = calloc(1, sizeof(*cm));
	if (!cm)
		return -ENOMEM;
	cm->n = n;
	weir__node_traffic__init(&cm->total);
	pthread_mutex_init(&cm->lock, NULL);
	if (n->cfg.controller_socket[0])
		snprintf(cm->sock, sizeof(cm->sock), "%s", n->cfg.controller_socket);
	else
		snprintf(cm->sock, sizeof(cm->sock), "%.4000s/controller.sock", n->cfg.state_dir);
	int r = member_sync_start(heartbeat, cm, n->cluster, 0, &cm->sync);
	if (r < 0) {
		pthread_mutex_destroy(&cm->lock);
		free(cm);
		return r;
	}
	log_info("cluster: members from weir-controller on \"%s\" (heartbeats with this node's "
		 "peer URL %s)",
		 cm->sock, n->cfg.peer_url);
	*ret = cm;
	return 0;
}

void controller_members_stop(struct controller_members *cm)
{
	if (!cm)
		return;
	member_sync_stop(cm->sync);
	pthread_mutex_destroy(&cm->lock);
	free(cm);
}

unsigned controller_members_traffic(struct controller_members *cm, Weir__NodeTraffic *ret)
{
	pthread_mutex_lock(&cm->lock);
	unsigned nodes = cm->nodes;
	if (nodes)
		*ret = cm->total;
	pthread_mutex_unlock(&cm->lock);
	return nodes;
}
