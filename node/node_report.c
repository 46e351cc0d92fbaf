// SPDX-License-Identifier: Apache-2.0
// weir-node's figures into its Lease. Collection takes the daemon's lock briefly; the
// request happens after, on this thread, with nothing held.
#include "node_report.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube_client.h"
#include "kubeconfig.h"
#include "load_share.h"
#include "log.h"
#include "store_kube.h"

struct node_report {
	struct kube_client *kc;
	char name[300]; /* the Lease's: weir-node-<node> */
	char node[254];
	char ns[64];
	char peer_url[256]; /* "" when this node serves no blocks */
	char peer_mac[72];  /* its proof for peer_url and node_id (peer_auth_member_mac) */
	char node_id[NODE_ID_PUB_HEX]; /* its identity's public key; "" with no peer_url */
	double interval;
	node_report_collect_fn fn;
	void *arg;
	atomic_bool stop;
	pthread_t thread;
};

json_object *node_report_traffic(struct cluster *c, uint64_t ufs_bytes, uint64_t hit_bytes,
				 uint64_t miss_bytes)
{
	json_object *t = json_object_new_object();
	if (!t)
		return NULL;
	struct cluster_stats *cs = c ? cluster_get_stats(c) : NULL;
	const struct {
		const char *name;
		uint64_t v;
	} f[] = {
	    {"ufsBytes", ufs_bytes},
	    {"peerInBytes", cs ? atomic_load(&cs->bytes_in) : 0},
	    {"peerOutBytes", cs ? atomic_load(&cs->bytes_out) : 0},
	    {"hitBytes", hit_bytes},
	    {"missBytes", miss_bytes},
	};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		json_object_object_add(t, f[i].name, json_object_new_int64((int64_t)f[i].v));
	return t;
}

int node_report_fill(json_object *lease, const char *node_name, const char *ns,
		     const char *peer_url, const char *peer_mac, const char *node_id,
		     json_object *sources, json_object *traffic, json_object *loads, int lease_s,
		     int64_t now)
{
	char name[300], ts[48];
	json_object *meta, *labels, *ann, *spec;
	snprintf(name, sizeof(name), STORE_KUBE_NODE_LEASE_PREFIX "%s", node_name);
	kube_micro_time(now, ts, sizeof(ts));
	json_object_object_add(lease, "apiVersion",
			       json_object_new_string("coordination.k8s.io/v1"));
	json_object_object_add(lease, "kind", json_object_new_string("Lease"));
	if (!json_object_object_get_ex(lease, "metadata", &meta)) {
		meta = json_object_new_object();
		json_object_object_add(lease, "metadata", meta);
	}
	json_object_object_add(meta, "name", json_object_new_string(name));
	json_object_object_add(meta, "namespace", json_object_new_string(ns));
	if (!json_object_object_get_ex(meta, "labels", &labels) ||
	    !json_object_is_type(labels, json_type_object)) {
		labels = json_object_new_object();
		json_object_object_add(meta, "labels", labels);
	}
	json_object_object_add(labels, "app.kubernetes.io/name",
			       json_object_new_string("weir-node"));
	json_object_object_add(labels, "weir.io/node", json_object_new_string(node_name));
	if (!json_object_object_get_ex(meta, "annotations", &ann) ||
	    !json_object_is_type(ann, json_type_object)) {
		ann = json_object_new_object();
		json_object_object_add(meta, "annotations", ann);
	}
	json_object_object_add(ann, NODE_REPORT_ANNOTATION,
			       json_object_new_string(json_object_to_json_string_ext(
				   sources, JSON_C_TO_STRING_PLAIN)));
	if (traffic)
		json_object_object_add(ann, STORE_KUBE_TRAFFIC_ANNOTATION,
				       json_object_new_string(json_object_to_json_string_ext(
					   traffic, JSON_C_TO_STRING_PLAIN)));
	if (peer_url && *peer_url)
		json_object_object_add(ann, STORE_KUBE_PEER_ANNOTATION,
				       json_object_new_string(peer_url));
	else
		json_object_object_del(ann, STORE_KUBE_PEER_ANNOTATION);
	if (peer_url && *peer_url && peer_mac && *peer_mac)
		json_object_object_add(ann, STORE_KUBE_PEER_MAC_ANNOTATION,
				       json_object_new_string(peer_mac));
	else
		json_object_object_del(ann, STORE_KUBE_PEER_MAC_ANNOTATION);
	if (peer_url && *peer_url && node_id && *node_id)
		json_object_object_add(ann, STORE_KUBE_NODE_ID_ANNOTATION,
				       json_object_new_string(node_id));
	else
		json_object_object_del(ann, STORE_KUBE_NODE_ID_ANNOTATION);
	json_object_object_add(
	    ann, LOAD_SHARE_ANNOTATION,
	    json_object_new_string(
		loads ? json_object_to_json_string_ext(loads, JSON_C_TO_STRING_PLAIN) : "{}"));
	if (!json_object_object_get_ex(lease, "spec", &spec)) {
		spec = json_object_new_object();
		json_object_object_add(lease, "spec", spec);
	}
	json_object_object_add(spec, "holderIdentity", json_object_new_string(node_name));
	json_object_object_add(spec, "leaseDurationSeconds", json_object_new_int(lease_s));
	json_object_object_add(spec, "renewTime", json_object_new_string(ts));
	return 0;
}

/* One report: renew Lease weir-node-<node> with the figures, or create it. */
static int report_once(struct node_report *r, char *err, size_t errlen)
{
	json_object *sources = NULL, *traffic = NULL, *loads = NULL, *lease = NULL;
	int rc = r->fn(r->arg, &sources, &traffic, &loads);
	int lease_s = (int)(r->interval * NODE_REPORT_LEASE_INTERVALS + 0.5);
	if (rc < 0) {
		snprintf(err, errlen, "collecting figures: %s", strerror(-rc));
		return rc;
	}
	char path[512];
	snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", r->ns,
		 r->name);
	rc = kube_request(r->kc, "GET", path, NULL, &lease, err, errlen);
	if (rc == -ENOENT) {
		lease = json_object_new_object();
		node_report_fill(lease, r->node, r->ns, r->peer_url, r->peer_mac, r->node_id,
				 sources, traffic, loads, lease_s, time(NULL));
		snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases",
			 r->ns);
		rc = kube_request(r->kc, "POST", path, lease, NULL, err, errlen);
	} else if (rc >= 0) {
		/* the resourceVersion read rides along; a conflict is retried next round */
		node_report_fill(lease, r->node, r->ns, r->peer_url, r->peer_mac, r->node_id,
				 sources, traffic, loads, lease_s, time(NULL));
		rc = kube_request(r->kc, "PUT", path, lease, NULL, err, errlen);
	}
	json_object_put(lease);
	json_object_put(sources);
	json_object_put(traffic);
	json_object_put(loads);
	return rc;
}

static void *report_main(void *arg)
{
	struct node_report *r = arg;
	char err[1024];
	int last = 0;
	while (!atomic_load(&r->stop)) {
		int rc = report_once(r, err, sizeof(err));
		/* say it once when it starts failing and once when it works again */
		if (rc < 0 && last >= 0)
			log_warn("cannot report figures to Lease %s/%s: %s", r->ns, r->name, err);
		else if (rc >= 0 && last < 0)
			log_notice("reporting figures to Lease %s/%s again", r->ns, r->name);
		last = rc;
		for (double t = 0; t < r->interval && !atomic_load(&r->stop); t += 0.1)
			nanosleep(&(struct timespec){0, 100000000L}, NULL);
	}
	return NULL;
}

int node_report_start(const char *kubeconfig, const char *node_name, const char *ns,
		      const char *peer_url, const char *peer_mac, const char *node_id,
		      double interval_s, node_report_collect_fn fn, void *arg,
		      struct node_report **ret, char *errbuf, size_t errlen)
{
	struct kubeconfig kc = {0};
	int rc = kubeconfig && *kubeconfig ? kubeconfig_load(kubeconfig, &kc, errbuf, errlen)
					   : kubeconfig_in_cluster(NULL, &kc, errbuf, errlen);
	if (rc < 0)
		return rc;
	struct node_report *r = calloc(1, sizeof(*r));
	if (!r) {
		kubeconfig_clear(&kc);
		return -ENOMEM;
	}
	rc = kube_client_new(&kc, &r->kc);
	snprintf(r->node, sizeof(r->node), "%s", node_name);
	snprintf(r->name, sizeof(r->name), STORE_KUBE_NODE_LEASE_PREFIX "%s", node_name);
	snprintf(r->ns, sizeof(r->ns), "%s", ns && *ns ? ns : kc.namespace);
	snprintf(r->peer_url, sizeof(r->peer_url), "%s", peer_url ? peer_url : "");
	snprintf(r->peer_mac, sizeof(r->peer_mac), "%s", peer_mac ? peer_mac : "");
	snprintf(r->node_id, sizeof(r->node_id), "%s", node_id ? node_id : "");
	kubeconfig_clear(&kc);
	r->interval = interval_s;
	r->fn = fn;
	r->arg = arg;
	if (rc >= 0)
		rc = -pthread_create(&r->thread, NULL, report_main, r);
	if (rc < 0) {
		snprintf(errbuf, errlen, "cannot start the reporter: %s", strerror(-rc));
		kube_client_free(r->kc);
		free(r);
		return rc;
	}
	log_info("reporting cache figures to Lease %s/%s every %.0f s", r->ns, r->name, interval_s);
	*ret = r;
	return 0;
}

void node_report_stop(struct node_report *r)
{
	if (!r)
		return;
	atomic_store(&r->stop, true);
	pthread_join(r->thread, NULL);
	kube_client_free(r->kc);
	free(r);
}
