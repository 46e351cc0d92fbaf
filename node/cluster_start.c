// SPDX-License-Identifier: Apache-2.0
// Start-up of a node sharing one cache with peers: the key, the block client and server, and
// the server's references to open sources.
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "cluster.h"
#include "log.h"
#include "peer_auth.h"
#include "peer_client.h"
#include "peer_secret.h"
#include "peer_server.h"
#include "source.h"

/* The peer server's view of the open sources (peer_server.h): a reference like a view's. */
static int peer_source_acquire(void *userdata, const char *id, struct source **ret)
{
	struct node *n = userdata;
	pthread_mutex_lock(&n->lock);
	struct node_source *ns = node_find_source_locked(n, id);
	if (ns)
		ns->source->refs++;
	pthread_mutex_unlock(&n->lock);
	if (!ns)
		return -ENOENT;
	*ret = ns->source;
	return 0;
}

static void peer_source_release(void *userdata, struct source *src)
{
	struct node *n = userdata;
	pthread_mutex_lock(&n->lock);
	node_drop_source_locked(n, src);
	bool closing = !LIST_EMPTY(&n->closing);
	pthread_mutex_unlock(&n->lock);
	if (closing) /* its Dataset went while a peer read it: the last reference was ours */
		node_reap(n);
}

void node_id_path(const struct node_config *cfg, char *out, size_t len)
{
	if (cfg->node_id_file[0])
		snprintf(out, len, "%s", cfg->node_id_file);
	else
		snprintf(out, len, "%.4000s/node-id.key", cfg->state_dir);
}

/* With peers (a list, or peer-listen: members from the Leases on Kubernetes, from
 * weir-controller's heartbeat answers otherwise): loads the key (a
 * file, or a Secret), starts the block client and server. Returns 0 or -errno, logged. */
int node_start_cluster(struct node *n, bool kube)
{
	char err[1024];
	if (!n->cfg.node_name[0]) {
		log_err("a cluster (peers, or peer-listen: members from the Leases on Kubernetes, "
			"from weir-controller otherwise) needs node-name: name this node as its "
			"peers know it");
		return -EINVAL;
	}
	char *end = NULL;
	int r;
	unsigned long replicas = strtoul(n->cfg.cache_replicas, &end, 10);
	if (!end || *end || end == n->cfg.cache_replicas || replicas > CLUSTER_MAX_NODES) {
		log_err("cache-replicas \"%s\" is not a number from 0 to %d", n->cfg.cache_replicas,
			CLUSTER_MAX_NODES);
		return -EINVAL;
	}
	if (!n->cfg.peer_url[0])
		snprintf(n->cfg.peer_url, sizeof(n->cfg.peer_url), "http://%s", n->cfg.peer_listen);
	char idpath[PATH_MAX + 16];
	node_id_path(&n->cfg, idpath, sizeof(idpath));
	r = node_id_load(idpath, &n->node_id, err, sizeof(err));
	if (r < 0) {
		log_err("%s", err);
		return r;
	}
	log_info("cluster: this node's identity is %s (%s): its peers know it by this key",
		 node_id_public(n->node_id), idpath);
	struct cluster_config cc = {.self = n->cfg.node_name,
				    .peers = n->cfg.peers,
				    .self_url = n->cfg.peer_url,
				    .self_id = node_id_public(n->node_id),
				    .replicas = (unsigned)replicas};
	r = cluster_new(&cc, &n->cluster, err, sizeof(err));
	if (r < 0) {
		log_err("%s", err);
		return r;
	}
	char keypath[PATH_MAX + 16];
	if (n->cfg.peer_key_file[0])
		snprintf(keypath, sizeof(keypath), "%s", n->cfg.peer_key_file);
	else
		snprintf(keypath, sizeof(keypath), "%.4000s/peer.key", n->cfg.state_dir);
	r = n->cfg.peer_key_secret[0]
		? peer_secret_load(n->cfg.kubeconfig, n->cfg.kube_namespace, n->cfg.peer_key_secret,
				   &n->peer_key, err, sizeof(err))
		: peer_auth_load_key(keypath, &n->peer_key, err, sizeof(err));
	if (r < 0) {
		log_err("%s; every weir-node of the cluster needs the same key", err);
		return r;
	}
	struct peer_client_config pcc = {
	    .cluster = n->cluster,
	    .key = &n->peer_key,
	    .id = n->node_id,
	    .stall_s = n->peer_stall_s};
	r = peer_client_new(&pcc, &n->peers);
	if (r < 0) {
		log_err("cannot start the peer client: %s", strerror(-r));
		return r;
	}
	if (!n->cfg.peer_listen[0]) {
		log_err("peers are set but peer-listen is not: this node must serve its blocks");
		return -EINVAL;
	}
	/* On Kubernetes the pods attest which node holds a view of which source (view_grants.h):
	 * a member is served only the sources its pods mount */
	if (kube && !(n->grants = view_grants_new())) {
		log_err("cannot start the peer server: out of memory");
		return -ENOMEM;
	}
	struct peer_server_config psc = {
	    .listen = n->cfg.peer_listen,
	    .cluster = n->cluster,
	    .key = &n->peer_key,
	    .sources = {peer_source_acquire, peer_source_release, n},
	    .grants = n->grants,
	    .id = n->node_id,
	};
	r = peer_server_start(&psc, &n->peer_server, err, sizeof(err));
	if (r < 0) {
		log_err("%s", err);
		return r;
	}
	log_info("cluster: node %s of %zu, serving blocks on %s, %s cache node(s) per source",
		 n->cfg.node_name, cluster_count(n->cluster), n->cfg.peer_listen,
		 replicas ? n->cfg.cache_replicas : "all");
	return 0;
}
