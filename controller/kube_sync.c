// SPDX-License-Identifier: Apache-2.0
// The controller's duties that exist only on Kubernetes, run after each reconcile pass:
// finalizers on Datasets and Runtimes (a delete completes only once no reference needs it, the
// same check and message as `weir delete`, and no node's Lease still reports the cache), and a
// PersistentVolume plus a pre-bound PersistentVolumeClaim per Bound Dataset, as Fluid makes them,
// for the CSI driver; they go with the Dataset, protection finalizers included.
#include "controller.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apply.h"
#include "log.h"
#include "reconcile.h"
#include "kube_client.h"
#include "store_kube.h"
#include "view_nodes.h"

#define CSI_DRIVER "weir.csi.io"
#define STORAGE_CLASS "weir"
/* A Dataset has no fixed size; Fluid asks for 100Pi too, so any request fits. */
#define VOLUME_SIZE "100Pi"

/* PersistentVolumes are cluster-wide: one name per (namespace, Dataset), never another's.
 * "weir-<ns>-<name>" alone is not (team-a/spark and team/a-spark), so each '-' of the namespace
 * is doubled: the first single '-' after "weir-" ends the namespace, whose labels cannot end
 * with '-', nor can a name start with one. Namespaces without '-' keep "weir-<ns>-<name>". */
static const char *pv_name(const char *ns, const char *name, char *buf, size_t len)
{
	size_t o = 0;
	int n = snprintf(buf, len, "weir-");
	if (n < 0 || (size_t)n >= len)
		return NULL;
	o = (size_t)n;
	for (const char *c = ns; *c; c++) {
		if (o + 2 >= len)
			return NULL;
		buf[o++] = *c;
		if (*c == '-')
			buf[o++] = '-';
	}
	n = snprintf(buf + o, len - o, "-%s", name);
	if (n < 0 || (size_t)n >= len - o)
		return NULL;
	return o + (size_t)n <= 253 ? buf : NULL;
}

static json_object *jobj(json_object *parent, const char *key)
{
	json_object *o = json_object_new_object();
	json_object_object_add(parent, key, o);
	return o;
}

static void jset(json_object *o, const char *key, const char *val)
{
	json_object_object_add(o, key, json_object_new_string(val));
}

static json_object *access_modes(bool rw)
{
	json_object *a = json_object_new_array();
	json_object_array_add(a, json_object_new_string(rw ? "ReadWriteMany" : "ReadOnlyMany"));
	return a;
}

/* The PV for Dataset ns/name served as plan says. volumeAttributes name the Dataset (the CSI
 * driver asks weir for its view) and, for people reading it, what that view is. */
static json_object *pv_json(const char *pvn, const char *ns, const char *name,
			    const struct mount_plan *plan)
{
	json_object *pv = json_object_new_object();
	jset(pv, "apiVersion", "v1");
	jset(pv, "kind", "PersistentVolume");
	json_object *meta = jobj(pv, "metadata");
	jset(meta, "name", pvn);
	json_object *labels = jobj(meta, "labels");
	jset(labels, "data.fluid.io/dataset-namespace", ns);
	jset(labels, "data.fluid.io/dataset", name);
	json_object *spec = jobj(pv, "spec");
	jset(jobj(spec, "capacity"), "storage", VOLUME_SIZE);
	json_object_object_add(spec, "accessModes", access_modes(plan->read_write));
	jset(spec, "persistentVolumeReclaimPolicy", "Retain");
	jset(spec, "storageClassName", STORAGE_CLASS);
	jset(spec, "volumeMode", "Filesystem");
	json_object *claim = jobj(spec, "claimRef");
	jset(claim, "apiVersion", "v1");
	jset(claim, "kind", "PersistentVolumeClaim");
	jset(claim, "namespace", ns);
	jset(claim, "name", name);
	json_object *csi = jobj(spec, "csi");
	char handle[400];
	snprintf(handle, sizeof(handle), "%s/%s", ns, name);
	jset(csi, "driver", CSI_DRIVER);
	jset(csi, "volumeHandle", handle);
	json_object *attrs = jobj(csi, "volumeAttributes");
	jset(attrs, "namespace", ns);
	jset(attrs, "dataset", name);
	jset(attrs, "subpath", plan->subpath[0] ? plan->subpath : "/");
	jset(attrs, "readOnly", plan->read_write ? "false" : "true");
	jset(attrs, "sourceNamespace", plan->source_ns);
	jset(attrs, "sourceDataset", plan->source_name);
	return pv;
}

static json_object *pvc_json(const char *pvn, const char *ns, const char *name, bool rw)
{
	json_object *pvc = json_object_new_object();
	jset(pvc, "apiVersion", "v1");
	jset(pvc, "kind", "PersistentVolumeClaim");
	json_object *meta = jobj(pvc, "metadata");
	jset(meta, "name", name);
	jset(meta, "namespace", ns);
	json_object *labels = jobj(meta, "labels");
	jset(labels, "data.fluid.io/dataset-namespace", ns);
	jset(labels, "data.fluid.io/dataset", name);
	json_object *spec = jobj(pvc, "spec");
	json_object_object_add(spec, "accessModes", access_modes(rw));
	jset(jobj(jobj(spec, "resources"), "requests"), "storage", VOLUME_SIZE);
	jset(spec, "storageClassName", STORAGE_CLASS);
	jset(spec, "volumeMode", "Filesystem");
	/* pre-bound: no kube-controller-manager binding needed, none to race */
	jset(spec, "volumeName", pvn);
	return pvc;
}

/* Asks for the PV and PVC of a Bound Dataset, once per process and view. */
static void volumes_ensure(struct controller *ctl, const struct objmodel_list *l,
			   const struct objmodel *ds)
{
	const char *ns = ds->meta.namespace, *name = ds->meta.name;
	struct mount_plan plan;
	char err[1024], key[400], sig[4200], pvn[400], path[600];
	if (mount_plan_make(l, ns, name, ctl->cfg.deny_by_default, &plan, err, sizeof(err)) < 0)
		return;
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	snprintf(sig, sizeof(sig), "%s|%d", plan.subpath, plan.read_write);
	const char *had = strmap_get(ctl->volumes, key);
	if (had && !strcmp(had, sig))
		return;
	if (!pv_name(ns, name, pvn, sizeof(pvn))) {
		log_warn("dataset %s/%s: its PersistentVolume name would exceed 253 characters", ns,
			 name);
		return;
	}
	json_object *pv = pv_json(pvn, ns, name, &plan);
	json_object *pvc = pvc_json(pvn, ns, name, plan.read_write);
	pthread_mutex_lock(&ctl->lock);
	int r = store_kube_ensure(ctl->store, "/api/v1/persistentvolumes", pv);
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/persistentvolumeclaims", ns);
	if (r >= 0)
		r = store_kube_ensure(ctl->store, path, pvc);
	pthread_mutex_unlock(&ctl->lock);
	json_object_put(pv);
	json_object_put(pvc);
	char *v = strdup(sig);
	int err2 = 0;
	if (r >= 0 && v) {
		free(strmap_put(ctl->volumes, key, v, &err2));
		if (err2 < 0)
			free(v);
		log_info("dataset %s/%s: PersistentVolume \"%s\" and claim \"%s\" (%s)", ns, name,
			 pvn, name, plan.read_write ? "ReadWriteMany" : "ReadOnlyMany");
	} else {
		free(v);
	}
}

/* The PVC and PV go with their Dataset, protection finalizers included once no pod uses them
 * (store_kube_release_volume): no kube-controller-manager is needed for them to leave
 * Terminating. */
static void volumes_remove(struct controller *ctl, const char *ns, const char *name)
{
	char key[400], pvn[400], path[700];
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	free(strmap_remove(ctl->volumes, key));
	if (!pv_name(ns, name, pvn, sizeof(pvn)))
		return;
	snprintf(path, sizeof(path), "/api/v1/persistentvolumes/%s", pvn);
	pthread_mutex_lock(&ctl->lock);
	int r = store_kube_release_volume(ctl->store, ns, name, path);
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0)
		log_warn("dataset %s/%s: cannot queue the release of its volume: %s", ns, name,
			 strerror(-r));
}

/* Do fresh node Leases still report the cache of source ns/name? Its finalizer waits for every
 * node to purge it (each weir-node does once it sees the Dataset or Runtime deleting). */
static size_t nodes_holding(struct controller *ctl, const char *ns, const char *name)
{
	char sid[320];
	char(*nodes)[254] = calloc(LOAD_SHARE_MAX_NODES, sizeof(*nodes));
	if (!nodes)
		return 0;
	mount_plan_source_id(ns, name, sid, sizeof(sid));
	pthread_mutex_lock(&ctl->lock);
	size_t n = store_kube_source_nodes(ctl->store, sid, time(NULL), nodes, LOAD_SHARE_MAX_NODES,
					   NULL, 0);
	pthread_mutex_unlock(&ctl->lock);
	free(nodes);
	return n;
}

/* A Dataset or Runtime the apiserver marked deleting: finish the delete when weir allows it,
 * else say why in an Event (once per reason). */
static void finalize(struct controller *ctl, const struct objmodel *o)
{
	const char *kind = objmodel_kind_name(o->kind), *ns = o->meta.namespace,
		   *name = o->meta.name;
	char line[512], msg[2048], key[400];
	snprintf(key, sizeof(key), "%s/%s/%s", kind, ns, name);
	pthread_mutex_lock(&ctl->lock);
	int r = apply_delete_check(ctl->store, kind, ns, name, ctl->cfg.deny_by_default, msg,
				   sizeof(msg));
	pthread_mutex_unlock(&ctl->lock);
	bool source = o->kind == OBJMODEL_RUNTIME || !dataset_is_reference(o);
	size_t holding = r >= 0 && source ? nodes_holding(ctl, ns, name) : 0;
	if (holding) {
		snprintf(msg, sizeof(msg), "waiting for %zu weir-node(s) to purge the cache",
			 holding);
		if (!strmap_get(ctl->refused, key) || strcmp(strmap_get(ctl->refused, key), msg)) {
			char *v = strdup(msg);
			int e = 0;
			if (v) {
				free(strmap_put(ctl->refused, key, v, &e));
				if (e < 0)
					free(v);
			}
			log_info("delete of %s %s/%s: %s", kind, ns, name, msg);
		}
		return;
	}
	pthread_mutex_lock(&ctl->lock);
	if (r >= 0)
		r = apply_delete(ctl->store, kind, ns, name, ctl->cfg.deny_by_default, line,
				 sizeof(line), msg, sizeof(msg));
	if (r == -EBUSY) {
		const char *had = strmap_get(ctl->refused, key);
		if (!had || strcmp(had, msg)) {
			store_kube_event(ctl->store, kind, ns, name, "Warning", "DeleteRefused",
					 msg);
			char *v = strdup(msg);
			int e = 0;
			if (v) {
				free(strmap_put(ctl->refused, key, v, &e));
				if (e < 0)
					free(v);
			}
			log_notice("delete of %s %s/%s waits: %s", kind, ns, name, msg);
		}
	} else if (r >= 0) {
		controller_changed(ctl);
	}
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0) {
		if (r != -EBUSY)
			log_warn("delete of %s %s/%s: %s", kind, ns, name, msg);
		return;
	}
	free(strmap_remove(ctl->refused, key));
	log_info("%s%s", line, source ? " (cache purged on every node)" : "");
	if (o->kind == OBJMODEL_DATASET)
		volumes_remove(ctl, ns, name);
}

/* The cluster Lease lasts this long without renewal; the leader renews it at least every third
 * of it, and at once when the sum changes. */
#define CLUSTER_LEASE_S 15

/* Writes the cluster Lease (store_kube.h) with annotation text: renews it, or creates it. */
static int cluster_lease_put(struct controller *ctl, const char *ns, const char *text, int64_t now,
			     char *err, size_t errlen)
{
	char path[512], ts[48];
	json_object *lease = NULL;
	snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", ns,
		 STORE_KUBE_CLUSTER_LEASE);
	int r = kube_request(ctl->kube_secrets, "GET", path, NULL, &lease, err, errlen);
	bool create = r == -ENOENT;
	if (r < 0 && !create)
		return r;
	if (create)
		lease = json_object_new_object();
	jset(lease, "apiVersion", "coordination.k8s.io/v1");
	jset(lease, "kind", "Lease");
	json_object *meta = NULL, *labels = NULL, *ann = NULL, *spec = NULL;
	if (!json_object_object_get_ex(lease, "metadata", &meta))
		meta = jobj(lease, "metadata");
	jset(meta, "name", STORE_KUBE_CLUSTER_LEASE);
	jset(meta, "namespace", ns);
	if (!json_object_object_get_ex(meta, "labels", &labels))
		labels = jobj(meta, "labels");
	/* the nodes' label: their watch sees it; it carries none of their annotations */
	jset(labels, "app.kubernetes.io/name", "weir-node");
	jset(labels, "weir.io/role", "cluster");
	if (!json_object_object_get_ex(meta, "annotations", &ann))
		ann = jobj(meta, "annotations");
	jset(ann, STORE_KUBE_CLUSTER_TRAFFIC_ANNOTATION, text);
	if (!json_object_object_get_ex(lease, "spec", &spec))
		spec = jobj(lease, "spec");
	kube_micro_time(now, ts, sizeof(ts));
	jset(spec, "holderIdentity", "weir-controller");
	json_object_object_add(spec, "leaseDurationSeconds", json_object_new_int(CLUSTER_LEASE_S));
	jset(spec, "renewTime", ts);
	if (create)
		snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases",
			 ns);
	/* the resourceVersion read rides along: a conflict is retried next pass */
	r = kube_request(ctl->kube_secrets, create ? "POST" : "PUT", path, lease, NULL, err,
			 errlen);
	json_object_put(lease);
	return r;
}

void kube_sync_traffic(struct controller *ctl, int64_t now)
{
	struct store_kube_traffic t = {0};
	char ns[64], err[1024];
	pthread_mutex_lock(&ctl->lock);
	store_kube_traffic(ctl->store, now, &t);
	snprintf(ns, sizeof(ns), "%s", store_kube_report_ns(ctl->store));
	pthread_mutex_unlock(&ctl->lock);
	json_object *o = store_kube_traffic_json(&t);
	const char *text = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : NULL;
	if (!text || !ctl->kube_secrets) {
		json_object_put(o);
		return;
	}
	/* no round trip while the sum holds and the Lease is young */
	if (ctl->traffic_text && !strcmp(ctl->traffic_text, text) &&
	    now - ctl->traffic_written < CLUSTER_LEASE_S / 3) {
		json_object_put(o);
		return;
	}
	int r = cluster_lease_put(ctl, ns, text, now, err, sizeof(err));
	if (r < 0) {
		log_warn("cannot write the cluster's traffic to Lease %s/%s: %s", ns,
			 STORE_KUBE_CLUSTER_LEASE, err);
	} else {
		free(ctl->traffic_text);
		ctl->traffic_text = strdup(text);
		ctl->traffic_written = now;
	}
	json_object_put(o);
}

void kube_sync_pass(struct controller *ctl, const struct objmodel_list *l)
{
	if (!ctl->volumes)
		ctl->volumes = strmap_new();
	if (!ctl->refused)
		ctl->refused = strmap_new();
	if (!ctl->volumes || !ctl->refused)
		return;
	for (size_t i = 0; i < l->n; i++) {
		const struct objmodel *o = l->items[i];
		if (o->kind != OBJMODEL_DATASET && o->kind != OBJMODEL_RUNTIME)
			continue;
		const char *kind = objmodel_kind_name(o->kind);
		bool has_fin = false;
		pthread_mutex_lock(&ctl->lock);
		bool deleting = store_kube_deleting(ctl->store, kind, o->meta.namespace,
						    o->meta.name, &has_fin);
		if (!deleting && !has_fin)
			store_kube_add_finalizer(ctl->store, kind, o->meta.namespace, o->meta.name);
		pthread_mutex_unlock(&ctl->lock);
		if (deleting) {
			finalize(ctl, o);
			continue;
		}
		if (o->kind == OBJMODEL_DATASET && o->dataset.status.phase == DATASET_PHASE_BOUND)
			volumes_ensure(ctl, l, o);
	}
}

void kube_sync_usage(struct controller *ctl, const char *source_id, struct dataset_status *st,
		     int64_t now)
{
	struct store_kube_usage u;
	pthread_mutex_lock(&ctl->lock);
	int nodes = store_kube_node_usage(ctl->store, source_id, now, 60, &u);
	pthread_mutex_unlock(&ctl->lock);
	if (nodes <= 0)
		return;
	if (u.complete) {
		st->ufs_total_known = st->file_num_known = true;
		st->ufs_total = u.ufs_total;
		st->file_num = u.file_num;
	}
	st->cached = u.cached;
	st->spread_known = true;
	st->cache_nodes = u.nodes;
	st->node_cached_min = u.node_min;
	st->node_cached_max = u.node_max;
	/* the cache is the nodes' tiers together: each node reports its own capacity */
	if (u.capacity > 0)
		st->cache_capacity = u.capacity;
	if (u.hits + u.misses > 0) {
		st->hit_ratio_known = true;
		st->cache_hit_ratio = (double)u.hits / (double)(u.hits + u.misses);
	}
}

static void claim_seen(void *arg, const char *ns, const char *claim, const char *node)
{
	if (claim_nodes_add(arg, ns, claim, node) < 0)
		log_warn("view grants: out of memory noting a pod's claim");
}

struct cache_nodes_arg {
	struct controller *ctl;
	int64_t now;
};

static size_t cache_nodes(void *arg, const char *source_id, char (*ret)[254], size_t max)
{
	struct cache_nodes_arg *a = arg;
	pthread_mutex_lock(&a->ctl->lock);
	size_t n = store_kube_source_nodes(a->ctl->store, source_id, a->now, ret, max, NULL, 0);
	pthread_mutex_unlock(&a->ctl->lock);
	return n;
}

void kube_sync_view_nodes(struct controller *ctl, struct objmodel_list *l, int64_t now)
{
	struct claim_nodes *c = claim_nodes_new();
	if (!c) {
		log_warn("view grants: out of memory; status.viewNodes not updated this pass");
		return;
	}
	pthread_mutex_lock(&ctl->lock);
	store_kube_pod_claims(ctl->store, claim_seen, c);
	pthread_mutex_unlock(&ctl->lock);
	struct cache_nodes_arg a = {ctl, now};
	if (view_nodes_apply(l, c, ctl->cfg.deny_by_default, cache_nodes, &a) < 0)
		log_warn("view grants: out of memory; status.viewNodes not updated this pass");
	claim_nodes_free(c);
}
