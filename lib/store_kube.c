// SPDX-License-Identifier: Apache-2.0
// The store on kube-apiserver: a cache fed by list + watch, and a writer thread that turns
// queued puts and deletes into REST calls (status through /status, 409 -> read again, retry).
// The cache lock is never held across a request; each thread has its own kube_client.
#include "store_kube.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "kube_client.h"
#include "log.h"
#include "objmodel.h"
#include "redact.h"
#include "strmap.h"
#include "timed_wait.h"

#define FLUID "/apis/data.fluid.io/v1alpha1"
#define WATCH_TIMEOUT_S 60
#define WRITE_TRIES 6
#define SYNC_TIMEOUT_S 30
#define LIST_PAGE 500 /* objects per list page */

/* One watched resource. store_kind is what the store calls it (objmodel_kind_name). */
static const struct resource {
	const char *kind;
	const char *store_kind;
	const char *api_version;
	const char *group_path;
	const char *plural;
	bool namespaced;
	bool required;	      /* open fails without it */
	bool finalized;	      /* carries weir's finalizer */
	const char *selector; /* a label selector (URL-encoded); its objects are not the store's */
	bool cluster_wide;    /* with selector: listed in every namespace, not report_ns only */
	bool pods;	      /* watched only when opened with STORE_KUBE_PODS */
	bool node_pods;	      /* watched only when opened with STORE_KUBE_NODE_PODS */
} resources[] = {
    {"Namespace", "Namespace", "v1", "/api/v1", "namespaces", false, true, false, NULL, false,
     false, false},
    {"Dataset", "Dataset", OBJMODEL_API_FLUID, FLUID, "datasets", true, true, true, NULL, false,
     false, false},
    {"AlluxioRuntime", "Runtime", OBJMODEL_API_FLUID, FLUID, "alluxioruntimes", true, false, true,
     NULL, false, false, false},
    {"Runtime", "Runtime", OBJMODEL_API_FLUID, FLUID, "runtimes", true, false, true, NULL, false,
     false, false},
    {"DataLoad", "DataLoad", OBJMODEL_API_FLUID, FLUID, "dataloads", true, false, false, NULL,
     false, false, false},
    /* weir-nodes' figures (node/node_report.h), in the weir namespace only: read by
     * store_kube_node_usage, never listed */
    {"Lease", "weir:NodeReport", "coordination.k8s.io/v1", "/apis/coordination.k8s.io/v1", "leases",
     true, true, false, "labelSelector=app.kubernetes.io%2Fname%3Dweir-node", false, false, false},
    /* the pods scheduled to a node, for weir-controller's view grants (store_kube_pod_claims),
     * trimmed to what those need (pod_trim) */
    {"Pod", "weir:Pod", "v1", "/api/v1", "pods", true, false, false,
     "fieldSelector=spec.nodeName%21%3D", true, true, false},
    /* the weir-nodes' own pods (the chart's DaemonSet), in the weir namespace: a Lease is a
     * member only while one runs on its node at its peer address (store_kube_peers) */
    {"Pod", "weir:NodePod", "v1", "/api/v1", "pods", true, false, false,
     "labelSelector=app.kubernetes.io%2Fname%3Dweir%2Capp.kubernetes.io%2Fcomponent%3Dnode", false,
     false, true},
};
#define N_RESOURCES (sizeof(resources) / sizeof(resources[0]))

static const struct resource *resource_of(const char *kind_name)
{
	for (size_t i = 0; i < N_RESOURCES; i++)
		if (!strcmp(resources[i].kind, kind_name))
			return &resources[i];
	return NULL;
}

int store_kube_path(const char *kind_name, const char *ns, const char *name, bool status, char *buf,
		    size_t len)
{
	const struct resource *res = resource_of(kind_name);
	if (!res)
		return -ENOENT;
	int n;
	if (res->namespaced && ns && *ns)
		n = snprintf(buf, len, "%s/namespaces/%s/%s%s%s%s", res->group_path, ns,
			     res->plural, name ? "/" : "", name ? name : "",
			     name && status ? "/status" : "");
	else
		n = snprintf(buf, len, "%s/%s%s%s%s", res->group_path, res->plural, name ? "/" : "",
			     name ? name : "", name && status ? "/status" : "");
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* A cached object. */
struct entry {
	const struct resource *res;
	char *ns;
	char *name;
	char *json;
	int64_t created;
	bool deleting;
	bool has_finalizer;
	char *uid;
	char *invalid; /* why objmodel refuses it (NULL = valid); hidden from the controller */
};

enum op_type {
	OP_PUT,		  /* json: the store's object */
	OP_DEL,		  /* DELETE, or drop our finalizer once deleting */
	OP_FINALIZER_ADD, /* add our finalizer */
	OP_POST,	  /* path: a collection; json: an object to create there (Events) */
	OP_ENSURE,	  /* path: a collection; json: an object to create when absent */
	OP_REMOVE,	  /* path: an object to delete, absent is fine */
	OP_RELEASE,	  /* ns/name: a PVC of ours; path: its PV. Delete both and, as
			   * kube-controller-manager would, drop their protection finalizers
			   * once no pod uses the claim */
};

struct op {
	TAILQ_ENTRY(op) link;
	enum op_type type;
	const struct resource *res;
	char *ns;
	char *name;
	char *json;
	char *path;
	bool create;	   /* OP_PUT of an object the cache did not hold: POST when absent */
	bool meta_changed; /* OP_PUT that changes spec, labels or annotations, not only status */
	double not_before; /* CLOCK_MONOTONIC seconds: a release waiting for a pod to go */
	unsigned waits;	   /* how often it waited */
};
TAILQ_HEAD(op_queue, op);

/* Undo record of a transaction: the entry a key held before (NULL = absent). */
struct undo {
	TAILQ_ENTRY(undo) link;
	char *key;
	struct entry *prev;
};
TAILQ_HEAD(undo_list, undo);

struct store_kube;

struct watcher {
	struct store_kube *sk;
	const struct resource *res;
	pthread_t thread;
	bool started;
	/* under sk->lock */
	bool synced;  /* listed at least once */
	bool missing; /* its CRD is not installed */
	int list_err;
	char err[512];
};

struct store_kube {
	struct store base;
	struct kubeconfig kc; /* for the clients of our threads; blobs owned */
	store_kube_changed_fn changed;
	void *changed_arg;
	char report_ns[64]; /* where weir-nodes keep their Leases */
	atomic_bool stop;
	/* Guards everything below and the watchers' synced/missing. Held for map and queue
	 * updates only: never across a request, a sleep on the network or a join. */
	pthread_mutex_t lock;
	pthread_cond_t cond;  /* queue grew, a watcher synced, active or stop changed */
	struct strmap *cache; /* "store_kind\x1fns\x1fname" -> struct entry */
	struct op_queue queue;
	struct op_queue txn_ops;
	struct undo_list undo;
	bool in_txn;
	bool active;
	struct watcher watchers[N_RESOURCES];
	pthread_t writer;
	bool writer_started;
};

static struct store_kube *sk_of(struct store *st)
{
	return (struct store_kube *)st;
}

static char *key_of(const char *store_kind, const char *ns, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s\x1f%s\x1f%s", store_kind, ns ? ns : "", name);
	return buf;
}

static void entry_free(void *p)
{
	struct entry *e = p;
	if (!e)
		return;
	free(e->ns);
	free(e->name);
	free(e->json);
	free(e->uid);
	free(e->invalid);
	free(e);
}

static void op_free(struct op *o)
{
	if (!o)
		return;
	free(o->ns);
	free(o->name);
	free(o->json);
	free(o->path);
	free(o);
}

/* ---- conversion ---- */

static json_object *jget(json_object *o, const char *k)
{
	json_object *v = NULL;
	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, k, &v))
		return NULL;
	return v;
}

static const char *jstr_get(json_object *o, const char *k)
{
	json_object *v = jget(o, k);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

int store_kube_from_kube(json_object *kobj, char **ret_json)
{
	json_object *meta = jget(kobj, "metadata");
	if (!meta || !jstr_get(meta, "name") || !jstr_get(kobj, "kind"))
		return -EINVAL;
	json_object *copy = NULL;
	if (json_object_deep_copy(kobj, &copy, NULL) < 0)
		return -ENOMEM;
	/* the apiserver's bookkeeping of who wrote which field: large, and no use to us */
	json_object_object_del(jget(copy, "metadata"), "managedFields");
	char *s = strdup(json_object_to_json_string_ext(copy, JSON_C_TO_STRING_PLAIN));
	json_object_put(copy);
	if (!s)
		return -ENOMEM;
	*ret_json = s;
	return 0;
}

int store_kube_to_kube(const char *json, bool for_create, json_object **ret)
{
	json_object *o = json_tokener_parse(json);
	if (!o || !jget(o, "metadata")) {
		json_object_put(o);
		return -EINVAL;
	}
	json_object *meta = jget(o, "metadata");
	static const char *const owned[] = {"resourceVersion", "uid",	     "creationTimestamp",
					    "managedFields",   "generation", "deletionTimestamp"};
	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
		json_object_object_del(meta, owned[i]);
	if (for_create)
		json_object_object_del(o, "status");
	*ret = o;
	return 0;
}

static bool has_finalizer(json_object *meta)
{
	json_object *f = jget(meta, "finalizers");
	if (!f || !json_object_is_type(f, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(f); i++)
		if (!strcmp(json_object_get_string(json_object_array_get_idx(f, i)),
			    STORE_KUBE_FINALIZER))
			return true;
	return false;
}

/* Adds (add) or removes our finalizer in meta. Returns true when meta changed. */
static bool set_finalizer(json_object *meta, bool add)
{
	json_object *f = jget(meta, "finalizers");
	if (add) {
		if (has_finalizer(meta))
			return false;
		if (!f || !json_object_is_type(f, json_type_array)) {
			f = json_object_new_array();
			json_object_object_add(meta, "finalizers", f);
		}
		json_object_array_add(f, json_object_new_string(STORE_KUBE_FINALIZER));
		return true;
	}
	if (!has_finalizer(meta))
		return false;
	json_object *nf = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(f); i++) {
		json_object *v = json_object_array_get_idx(f, i);
		if (strcmp(json_object_get_string(v), STORE_KUBE_FINALIZER))
			json_object_array_add(nf, json_object_get(v));
	}
	json_object_object_add(meta, "finalizers", nf);
	return true;
}

/* A pod as the view grants need it (store_kube_pod_claims): its name, namespace and node, the
 * claims its volumes name, and whether it ended; a weir-node's own pod (node_pod) as the members
 * need it (store_kube_peers): its node, whether it runs, its IPs and the port of its container
 * port named "peer" (0: none). The rest (containers, environment, status) is not kept: a
 * controller of a large cluster holds every scheduled pod, and a change of what is not kept is no
 * change (no pass). NULL on ENOMEM. */
static json_object *pod_trim(json_object *pod, bool node_pod)
{
	json_object *meta = jget(pod, "metadata"), *spec = jget(pod, "spec");
	json_object *status = jget(pod, "status");
	json_object *o = json_object_new_object(), *m = json_object_new_object();
	json_object *list = json_object_new_array(); /* claims, or a node pod's IPs */
	if (!o || !m || !list) {
		json_object_put(o);
		json_object_put(m);
		json_object_put(list);
		return NULL;
	}
	const char *keep[] = {"name", "namespace", "uid", "creationTimestamp", "deletionTimestamp"};
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (jstr_get(meta, keep[i]))
			json_object_object_add(m, keep[i],
					       json_object_new_string(jstr_get(meta, keep[i])));
	json_object_object_add(o, "metadata", m);
	const char *node = jstr_get(spec, "nodeName");
	json_object_object_add(o, "nodeName", json_object_new_string(node ? node : ""));
	const char *phase = jstr_get(status, "phase");
	if (node_pod) {
		/* Running, on a node that is not lost, with its weir-node container ready. The node
		 * controller marks the pods of a node it lost not Ready and leaves ContainersReady
		 * as it was (True): Ready not True with ContainersReady True is such a pod. Ready
		 * not True because a container is not ready counts only if that container is
		 * weir-node (weir-csi restarting does not take the node out). No conditions (a pod
		 * no kubelet reported on): running. */
		const char *ready = NULL, *containers_ready = NULL;
		json_object *conds = jget(status, "conditions");
		for (size_t k = 0; conds && json_object_is_type(conds, json_type_array) &&
				   k < json_object_array_length(conds);
		     k++) {
			json_object *c = json_object_array_get_idx(conds, k);
			const char *type = jstr_get(c, "type"), *st = jstr_get(c, "status");
			if (type && st && !strcmp(type, "Ready"))
				ready = st;
			else if (type && st && !strcmp(type, "ContainersReady"))
				containers_ready = st;
		}
		bool weir_node_ready = true;
		json_object *cstat = jget(status, "containerStatuses");
		for (size_t k = 0; cstat && json_object_is_type(cstat, json_type_array) &&
				   k < json_object_array_length(cstat);
		     k++) {
			json_object *c = json_object_array_get_idx(cstat, k), *r = jget(c, "ready");
			const char *cname = jstr_get(c, "name");
			if (cname && !strcmp(cname, "weir-node") && r &&
			    json_object_is_type(r, json_type_boolean))
				weir_node_ready = json_object_get_boolean(r);
		}
		bool lost = ready && strcmp(ready, "True") && containers_ready &&
			    !strcmp(containers_ready, "True");
		bool ok = !lost && weir_node_ready;
		json_object_object_add(
		    o, "running",
		    json_object_new_boolean(phase && !strcmp(phase, "Running") && ok));
		const char *ip = jstr_get(status, "podIP");
		if (ip && *ip)
			json_object_array_add(list, json_object_new_string(ip));
		json_object *ips = jget(status, "podIPs");
		for (size_t k = 0; ips && json_object_is_type(ips, json_type_array) &&
				   k < json_object_array_length(ips);
		     k++) {
			const char *x = jstr_get(json_object_array_get_idx(ips, k), "ip");
			if (x && *x && (!ip || strcmp(x, ip)))
				json_object_array_add(list, json_object_new_string(x));
		}
		json_object_object_add(o, "ips", list);
		int64_t port = 0;
		json_object *cs = jget(spec, "containers");
		for (size_t c = 0; cs && json_object_is_type(cs, json_type_array) &&
				   c < json_object_array_length(cs) && !port;
		     c++) {
			json_object *ports = jget(json_object_array_get_idx(cs, c), "ports");
			for (size_t k = 0; ports && json_object_is_type(ports, json_type_array) &&
					   k < json_object_array_length(ports) && !port;
			     k++) {
				json_object *pt = json_object_array_get_idx(ports, k);
				const char *name = jstr_get(pt, "name");
				json_object *cp = jget(pt, "containerPort");
				if (name && !strcmp(name, "peer") && cp)
					port = json_object_get_int64(cp);
			}
		}
		json_object_object_add(o, "peerPort", json_object_new_int64(port));
		return o;
	}
	json_object *vols = jget(spec, "volumes");
	for (size_t k = 0; vols && json_object_is_type(vols, json_type_array) &&
			   k < json_object_array_length(vols);
	     k++) {
		const char *cn = jstr_get(
		    jget(json_object_array_get_idx(vols, k), "persistentVolumeClaim"), "claimName");
		if (cn)
			json_object_array_add(list, json_object_new_string(cn));
	}
	json_object_object_add(o, "claims", list);
	json_object_object_add(o, "ended",
			       json_object_new_boolean(phase && (!strcmp(phase, "Succeeded") ||
								 !strcmp(phase, "Failed"))));
	return o;
}

/* An entry for the apiserver's object kobj. */
static int entry_new(const struct resource *res, json_object *kobj, struct entry **ret)
{
	json_object *meta = jget(kobj, "metadata");
	struct entry *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->res = res;
	int r;
	if (res->pods || res->node_pods) {
		json_object *t = pod_trim(kobj, res->node_pods);
		const char *s =
		    t ? json_object_to_json_string_ext(t, JSON_C_TO_STRING_PLAIN) : NULL;
		e->json = s ? strdup(s) : NULL;
		json_object_put(t);
		r = e->json ? 0 : -ENOMEM;
	} else {
		r = store_kube_from_kube(kobj, &e->json);
	}
	if (r < 0)
		goto fail;
	const char *ns = res->namespaced ? jstr_get(meta, "namespace") : "";
	const char *uid = jstr_get(meta, "uid");
	const char *ct = jstr_get(meta, "creationTimestamp");
	e->ns = strdup(ns ? ns : "");
	e->name = strdup(jstr_get(meta, "name"));
	e->uid = uid ? strdup(uid) : NULL;
	if (!e->ns || !e->name || (uid && !e->uid)) {
		r = -ENOMEM;
		goto fail;
	}
	if (ct)
		objmodel_parse_time(ct, &e->created);
	e->deleting = jget(meta, "deletionTimestamp") != NULL;
	e->has_finalizer = has_finalizer(meta);
	if (strcmp(res->kind, "Namespace") && !res->selector) {
		/* kubectl accepted it, the CRD's schema too; weir's rules may still refuse it */
		struct objmodel *o = NULL;
		char err[1024];
		int v = objmodel_from_json(e->json, &o, err, sizeof(err));
		if (v >= 0)
			v = objmodel_validate(o, err, sizeof(err));
		objmodel_free(o);
		/* the reason goes to status: a mountPoint it quotes keeps no password */
		if (v < 0)
			redact_text(err, sizeof(err));
		if (v < 0 && !(e->invalid = strdup(err))) {
			r = -ENOMEM;
			goto fail;
		}
	}
	*ret = e;
	return 0;
fail:
	entry_free(e);
	return r;
}

/* Is e a weir-node's Lease (node_report.h), which the report scans read? Not a pod: those are
 * the view grants' (store_kube_pod_claims). */
static bool is_node_report(const struct entry *e)
{
	return e->res->selector && !e->res->pods && !e->res->node_pods;
}

/* ---- the cache, under sk->lock ---- */

static void cache_set(struct store_kube *sk, struct entry *e)
{
	char key[600];
	key_of(e->res->store_kind, e->ns, e->name, key, sizeof(key));
	int err = 0;
	struct entry *old = strmap_put(sk->cache, key, e, &err);
	if (err < 0)
		entry_free(e);
	else
		entry_free(old);
}

static void cache_del(struct store_kube *sk, const struct resource *res, const char *ns,
		      const char *name)
{
	char key[600];
	entry_free(strmap_remove(sk->cache, key_of(res->store_kind, ns, name, key, sizeof(key))));
}

struct collect {
	const struct resource *res;
	char **keys;
	size_t n, cap;
};

static int collect_res(const char *key, void *value, void *arg)
{
	struct collect *c = arg;
	struct entry *e = value;
	if (e->res != c->res)
		return 0;
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 32;
		char **k = realloc(c->keys, nc * sizeof(*k));
		if (!k)
			return -ENOMEM;
		c->keys = k;
		c->cap = nc;
	}
	if (!(c->keys[c->n] = strdup(key)))
		return -ENOMEM;
	c->n++;
	return 0;
}

static void report_invalid(struct store_kube *sk, const struct entry *e);

/* Replaces every cached object of res with the listed items. */
/* A list's entries as its pages come in. */
struct fresh_list {
	struct entry **v;
	size_t n, cap;
};

static void fresh_clear(struct fresh_list *f)
{
	for (size_t i = 0; i < f->n; i++)
		entry_free(f->v[i]);
	free(f->v);
	*f = (struct fresh_list){0};
}

/* Appends an entry for each of a list page's items. Returns 0 or -ENOMEM. */
static int fresh_add(struct fresh_list *f, const struct resource *res, json_object *items)
{
	size_t n = items ? json_object_array_length(items) : 0;
	if (f->n + n > f->cap) {
		size_t cap = f->cap ? f->cap : 64;
		while (cap < f->n + n)
			cap *= 2;
		struct entry **v = realloc(f->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		f->v = v;
		f->cap = cap;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *it = json_object_array_get_idx(items, i);
		/* a list's items carry no kind/apiVersion */
		json_object_object_add(it, "kind", json_object_new_string(res->kind));
		json_object_object_add(it, "apiVersion", json_object_new_string(res->api_version));
		int r = entry_new(res, it, &f->v[f->n]);
		if (r < 0)
			return r;
		f->n++;
	}
	return 0;
}

/* Replaces res's entries in the cache with the list's (taken from *fl, which is left empty). */
static int cache_replace(struct store_kube *sk, const struct resource *res, struct fresh_list *fl)
{
	struct collect c = {res, NULL, 0, 0};
	size_t n = fl->n;
	struct entry **fresh = fl->v;
	pthread_mutex_lock(&sk->lock);
	int r = strmap_each(sk->cache, collect_res, &c);
	if (r >= 0) {
		for (size_t i = 0; i < c.n; i++)
			entry_free(strmap_remove(sk->cache, c.keys[i]));
		for (size_t i = 0; i < n; i++) {
			if (fresh[i]->invalid)
				report_invalid(sk, fresh[i]);
			cache_set(sk, fresh[i]);
			fresh[i] = NULL;
		}
	}
	pthread_mutex_unlock(&sk->lock);
	for (size_t i = 0; i < n && fresh; i++)
		entry_free(fresh[i]);
	free(fresh);
	*fl = (struct fresh_list){0};
	for (size_t i = 0; i < c.n; i++)
		free(c.keys[i]);
	free(c.keys);
	return r;
}

/* ---- queue, under sk->lock ---- */

static struct op *op_new(enum op_type type, const struct resource *res, const char *ns,
			 const char *name, const char *json, const char *path)
{
	struct op *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->type = type;
	o->res = res;
	o->ns = ns ? strdup(ns) : NULL;
	o->name = name ? strdup(name) : NULL;
	o->json = json ? strdup(json) : NULL;
	o->path = path ? strdup(path) : NULL;
	if ((ns && !o->ns) || (name && !o->name) || (json && !o->json) || (path && !o->path)) {
		op_free(o);
		return NULL;
	}
	return o;
}

/* Queues o; a queued put or delete of the same object is superseded by it. */
static void enqueue(struct store_kube *sk, struct op_queue *q, struct op *o)
{
	if (o->type == OP_PUT || o->type == OP_DEL) {
		struct op *it = TAILQ_FIRST(q), *tmp;
		for (; it; it = tmp) {
			tmp = TAILQ_NEXT(it, link); /* glibc's sys/queue.h has no _SAFE */
			if ((it->type == OP_PUT || it->type == OP_DEL) && it->res == o->res &&
			    !strcmp(it->ns, o->ns) && !strcmp(it->name, o->name)) {
				/* an update superseding a pending create still creates */
				if (it->type == OP_PUT && o->type == OP_PUT) {
					o->create |= it->create;
					o->meta_changed |= it->meta_changed;
				}
				TAILQ_REMOVE(q, it, link);
				op_free(it);
			}
		}
	}
	TAILQ_INSERT_TAIL(q, o, link);
	pthread_cond_broadcast(&sk->cond);
}

/* An object weir refuses gets phase Failed and condition Ready=False InvalidSpec with the reason,
 * once per reason (our own status write comes back through the watch); the reconciler never sees
 * it. One being deleted loses our finalizer: there is nothing of it to purge. Under sk->lock. */
static void report_invalid(struct store_kube *sk, const struct entry *e)
{
	struct op *op = NULL;
	if (e->deleting) {
		if (e->has_finalizer && (op = op_new(OP_DEL, e->res, e->ns, e->name, NULL, NULL)))
			enqueue(sk, &sk->queue, op);
		return;
	}
	json_object *o = json_tokener_parse(e->json);
	json_object *cs = jget(jget(o, "status"), "conditions");
	for (size_t i = 0;
	     cs && json_object_is_type(cs, json_type_array) && i < json_object_array_length(cs);
	     i++) {
		json_object *c = json_object_array_get_idx(cs, i);
		const char *reason = jstr_get(c, "reason"), *msg = jstr_get(c, "message");
		if (reason && msg && !strcmp(reason, "InvalidSpec") && !strcmp(msg, e->invalid)) {
			json_object_put(o);
			return;
		}
	}
	char ts[40];
	objmodel_format_time(time(NULL), ts, sizeof(ts));
	json_object *st = json_object_new_object(), *arr = json_object_new_array(),
		    *c = json_object_new_object();
	json_object_object_add(c, "type", json_object_new_string("Ready"));
	json_object_object_add(c, "status", json_object_new_string("False"));
	json_object_object_add(c, "reason", json_object_new_string("InvalidSpec"));
	json_object_object_add(c, "message", json_object_new_string(e->invalid));
	json_object_object_add(c, "lastTransitionTime", json_object_new_string(ts));
	json_object_array_add(arr, c);
	json_object_object_add(st, "phase", json_object_new_string("Failed"));
	json_object_object_add(st, "conditions", arr);
	json_object_object_add(o, "status", st);
	op = op_new(OP_PUT, e->res, e->ns, e->name,
		    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), NULL);
	json_object_put(o);
	if (!op)
		return;
	log_warn("%s %s/%s: %s", e->res->kind, e->ns, e->name, e->invalid);
	enqueue(sk, &sk->queue, op);
}

/* ---- store ops (called under the controller's lock; take sk->lock briefly) ---- */

static int sk_begin(struct store *st)
{
	struct store_kube *sk = sk_of(st);
	pthread_mutex_lock(&sk->lock);
	sk->in_txn = true;
	pthread_mutex_unlock(&sk->lock);
	return 0;
}

static void undo_drop(struct store_kube *sk, bool restore)
{
	struct undo *u;
	while ((u = TAILQ_LAST(&sk->undo, undo_list))) {
		TAILQ_REMOVE(&sk->undo, u, link);
		if (restore) {
			if (u->prev) {
				int err = 0;
				entry_free(strmap_put(sk->cache, u->key, u->prev, &err));
			} else {
				entry_free(strmap_remove(sk->cache, u->key));
			}
		} else {
			entry_free(u->prev);
		}
		free(u->key);
		free(u);
	}
}

/* Ends a transaction: its operations join the queue (commit) or are dropped and the cache
 * restored (rollback). */
static void txn_end(struct store_kube *sk, bool commit)
{
	pthread_mutex_lock(&sk->lock);
	struct op *o;
	while ((o = TAILQ_FIRST(&sk->txn_ops))) {
		TAILQ_REMOVE(&sk->txn_ops, o, link);
		if (commit)
			enqueue(sk, &sk->queue, o);
		else
			op_free(o);
	}
	undo_drop(sk, !commit);
	sk->in_txn = false;
	pthread_mutex_unlock(&sk->lock);
}

static int sk_commit(struct store *st)
{
	txn_end(sk_of(st), true);
	return 0;
}

static void sk_rollback(struct store *st)
{
	txn_end(sk_of(st), false);
}

static int sk_get(struct store *st, const char *kind, const char *ns, const char *name,
		  char **ret_json)
{
	struct store_kube *sk = sk_of(st);
	char key[600];
	int r = -ENOENT;
	pthread_mutex_lock(&sk->lock);
	struct entry *e = strmap_get(sk->cache, key_of(kind, ns, name, key, sizeof(key)));
	if (e && !e->invalid && !e->res->selector) {
		char *j = strdup(e->json);
		r = j ? 0 : -ENOMEM;
		if (j)
			*ret_json = j;
	}
	pthread_mutex_unlock(&sk->lock);
	return r;
}

/* Saves the entry under key for a rollback, once per transaction. Under sk->lock. */
static int undo_save(struct store_kube *sk, const char *key)
{
	struct undo *u;
	TAILQ_FOREACH(u, &sk->undo, link)
	if (!strcmp(u->key, key))
		return 0;
	u = calloc(1, sizeof(*u));
	if (!u || !(u->key = strdup(key))) {
		free(u);
		return -ENOMEM;
	}
	struct entry *cur = strmap_get(sk->cache, key);
	if (cur) {
		u->prev = calloc(1, sizeof(*u->prev));
		if (!u->prev) {
			free(u->key);
			free(u);
			return -ENOMEM;
		}
		*u->prev = *cur;
		u->prev->ns = strdup(cur->ns);
		u->prev->name = strdup(cur->name);
		u->prev->json = strdup(cur->json);
		u->prev->uid = cur->uid ? strdup(cur->uid) : NULL;
	}
	TAILQ_INSERT_TAIL(&sk->undo, u, link);
	return 0;
}

/* Do the object as cached (text) and obj have the same spec, labels and annotations? */
static bool same_meta(const char *cached, json_object *obj)
{
	json_object *c = json_tokener_parse(cached);
	bool same = c && json_object_equal(jget(c, "spec"), jget(obj, "spec")) &&
		    json_object_equal(jget(jget(c, "metadata"), "labels"),
				      jget(jget(obj, "metadata"), "labels")) &&
		    json_object_equal(jget(jget(c, "metadata"), "annotations"),
				      jget(jget(obj, "metadata"), "annotations"));
	json_object_put(c);
	return same;
}

static int sk_put(struct store *st, const char *kind, const char *ns, const char *name,
		  const char *json, int64_t now)
{
	struct store_kube *sk = sk_of(st);
	json_object *o = json_tokener_parse(json);
	const char *kn = jstr_get(o, "kind");
	const struct resource *res = kn ? resource_of(kn) : NULL;
	int r = 0;
	if (!res || strcmp(res->store_kind, kind)) {
		json_object_put(o);
		return -EINVAL;
	}
	struct entry *e = calloc(1, sizeof(*e));
	struct op *op = op_new(OP_PUT, res, ns, name, json, NULL);
	char key[600];
	key_of(kind, ns, name, key, sizeof(key));
	if (!e || !op || !(e->ns = strdup(ns)) || !(e->name = strdup(name)) ||
	    !(e->json = strdup(json))) {
		r = -ENOMEM;
		goto fail;
	}
	e->res = res;
	pthread_mutex_lock(&sk->lock);
	struct entry *old = strmap_get(sk->cache, key);
	json_object *meta = jget(o, "metadata");
	if (old && old->uid && meta && !jstr_get(meta, "uid")) {
		/* a manifest applied over it names no uid: the cache keeps the object's (what
		 * tells a later put of a deleted object from a create, below) */
		json_object_object_add(meta, "uid", json_object_new_string(old->uid));
		char *withuid = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		if (!withuid) {
			pthread_mutex_unlock(&sk->lock);
			r = -ENOMEM;
			goto fail;
		}
		free(e->json);
		e->json = withuid;
	}
	if (!old && jstr_get(meta, "uid")) {
		/* read from the apiserver once (it has a uid) and gone from the cache since:
		 * deleted meanwhile (a status write from a pass that read it before its delete):
		 * -ENOENT. Not put back, neither here (the next pass would see it as it was, not
		 * deleting) nor there (a create would revive it) */
		pthread_mutex_unlock(&sk->lock);
		r = -ENOENT;
		goto fail;
	}
	/* only a new object is created: an update of one deleted since must not revive it */
	op->create = !old;
	/* a status write must not put back a spec the user changed since we read it */
	op->meta_changed = !old || !same_meta(old->json, o);
	e->created = old ? old->created : now;
	e->deleting = old && old->deleting;
	e->has_finalizer = old && old->has_finalizer;
	if (old && old->uid)
		e->uid = strdup(old->uid);
	if (sk->in_txn)
		r = undo_save(sk, key);
	if (r >= 0) {
		cache_set(sk, e);
		e = NULL;
		enqueue(sk, sk->in_txn ? &sk->txn_ops : &sk->queue, op);
		op = NULL;
	}
	pthread_mutex_unlock(&sk->lock);
fail:
	entry_free(e);
	op_free(op);
	json_object_put(o);
	return r;
}

static int sk_del(struct store *st, const char *kind, const char *ns, const char *name)
{
	struct store_kube *sk = sk_of(st);
	char key[600];
	int r = 0;
	key_of(kind, ns, name, key, sizeof(key));
	pthread_mutex_lock(&sk->lock);
	struct entry *e = strmap_get(sk->cache, key);
	struct op *op = e ? op_new(OP_DEL, e->res, ns, name, NULL, NULL) : NULL;
	if (!e)
		r = -ENOENT;
	else if (!op)
		r = -ENOMEM;
	else if (sk->in_txn)
		r = undo_save(sk, key);
	if (r >= 0) {
		entry_free(strmap_remove(sk->cache, key));
		enqueue(sk, sk->in_txn ? &sk->txn_ops : &sk->queue, op);
		op = NULL;
	}
	pthread_mutex_unlock(&sk->lock);
	op_free(op);
	return r;
}

struct lister {
	const char *kind;
	const char *ns;
	struct store_list l;
	size_t cap;
};

static int list_one(const char *key, void *value, void *arg)
{
	struct lister *ls = arg;
	struct entry *e = value;
	if ((ls->kind && strcmp(ls->kind, e->res->store_kind)) ||
	    (ls->ns && strcmp(ls->ns, e->ns)) || e->invalid || e->res->selector)
		return 0;
	if (ls->l.n == ls->cap) {
		size_t nc = ls->cap ? ls->cap * 2 : 16;
		struct store_object *it = realloc(ls->l.items, nc * sizeof(*it));
		if (!it)
			return -ENOMEM;
		ls->l.items = it;
		ls->cap = nc;
	}
	struct store_object *o = &ls->l.items[ls->l.n++];
	o->kind = strdup(e->res->store_kind);
	o->namespace = strdup(e->ns);
	o->name = strdup(e->name);
	o->json = strdup(e->json);
	o->created = e->created;
	return o->kind && o->namespace && o->name && o->json ? 0 : -ENOMEM;
}

static int obj_cmp(const void *a, const void *b)
{
	const struct store_object *x = a, *y = b;
	int c = strcmp(x->kind, y->kind);
	if (!c)
		c = strcmp(x->namespace, y->namespace);
	return c ? c : strcmp(x->name, y->name);
}

static int sk_list(struct store *st, const char *kind, const char *ns, struct store_list *ret)
{
	struct store_kube *sk = sk_of(st);
	struct lister ls = {kind, ns, {0}, 0};
	pthread_mutex_lock(&sk->lock);
	int r = strmap_each(sk->cache, list_one, &ls);
	pthread_mutex_unlock(&sk->lock);
	if (r < 0) {
		store_list_free(&ls.l);
		return r;
	}
	if (ls.l.n)
		qsort(ls.l.items, ls.l.n, sizeof(ls.l.items[0]), obj_cmp);
	*ret = ls.l;
	return 0;
}

/* ---- public extras ---- */

void store_kube_set_active(struct store *st, bool active)
{
	struct store_kube *sk = sk_of(st);
	pthread_mutex_lock(&sk->lock);
	sk->active = active;
	pthread_cond_broadcast(&sk->cond);
	pthread_mutex_unlock(&sk->lock);
}

bool store_kube_deleting(struct store *st, const char *kind, const char *ns, const char *name,
			 bool *ret_has_finalizer)
{
	struct store_kube *sk = sk_of(st);
	char key[600];
	pthread_mutex_lock(&sk->lock);
	struct entry *e = strmap_get(sk->cache, key_of(kind, ns, name, key, sizeof(key)));
	bool d = e && e->deleting;
	if (ret_has_finalizer)
		*ret_has_finalizer = e && e->has_finalizer;
	pthread_mutex_unlock(&sk->lock);
	return d;
}

int store_kube_add_finalizer(struct store *st, const char *kind, const char *ns, const char *name)
{
	struct store_kube *sk = sk_of(st);
	char key[600];
	int r = 0;
	pthread_mutex_lock(&sk->lock);
	struct entry *e = strmap_get(sk->cache, key_of(kind, ns, name, key, sizeof(key)));
	struct op *op = e ? op_new(OP_FINALIZER_ADD, e->res, ns, name, NULL, NULL) : NULL;
	if (!e)
		r = -ENOENT;
	else if (!op)
		r = -ENOMEM;
	else {
		/* so the next pass does not queue it again before the watch shows it */
		e->has_finalizer = true;
		enqueue(sk, &sk->queue, op);
	}
	pthread_mutex_unlock(&sk->lock);
	return r;
}

static int enqueue_simple(struct store_kube *sk, enum op_type type, const char *path,
			  json_object *obj)
{
	struct op *op =
	    op_new(type, NULL, NULL, NULL,
		   obj ? json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN) : NULL, path);
	if (!op)
		return -ENOMEM;
	pthread_mutex_lock(&sk->lock);
	enqueue(sk, &sk->queue, op);
	pthread_mutex_unlock(&sk->lock);
	return 0;
}

/* A v1 Event about res ns/name (uid may be NULL). Owned. */
static json_object *event_json(const struct resource *res, const char *ns, const char *name,
			       const char *uid, const char *type, const char *reason,
			       const char *message)
{
	char ts[40], gen[300];
	objmodel_format_time(time(NULL), ts, sizeof(ts));
	snprintf(gen, sizeof(gen), "%s.", name);
	json_object *ev = json_object_new_object(), *meta = json_object_new_object(),
		    *inv = json_object_new_object(), *src = json_object_new_object();
	json_object_object_add(ev, "apiVersion", json_object_new_string("v1"));
	json_object_object_add(ev, "kind", json_object_new_string("Event"));
	json_object_object_add(meta, "generateName", json_object_new_string(gen));
	json_object_object_add(meta, "namespace", json_object_new_string(ns));
	json_object_object_add(ev, "metadata", meta);
	json_object_object_add(inv, "apiVersion", json_object_new_string(res->api_version));
	json_object_object_add(inv, "kind", json_object_new_string(res->kind));
	json_object_object_add(inv, "namespace", json_object_new_string(ns));
	json_object_object_add(inv, "name", json_object_new_string(name));
	if (uid)
		json_object_object_add(inv, "uid", json_object_new_string(uid));
	json_object_object_add(ev, "involvedObject", inv);
	json_object_object_add(ev, "type", json_object_new_string(type));
	json_object_object_add(ev, "reason", json_object_new_string(reason));
	json_object_object_add(ev, "message", json_object_new_string(message));
	json_object_object_add(ev, "firstTimestamp", json_object_new_string(ts));
	json_object_object_add(ev, "lastTimestamp", json_object_new_string(ts));
	json_object_object_add(ev, "count", json_object_new_int(1));
	json_object_object_add(src, "component", json_object_new_string("weir-controller"));
	json_object_object_add(ev, "source", src);
	return ev;
}

int store_kube_event(struct store *st, const char *kind, const char *ns, const char *name,
		     const char *type, const char *reason, const char *message)
{
	struct store_kube *sk = sk_of(st);
	const struct resource *res = NULL;
	char key[600], path[600], *uid = NULL;
	pthread_mutex_lock(&sk->lock);
	struct entry *e = strmap_get(sk->cache, key_of(kind, ns, name, key, sizeof(key)));
	if (e) {
		res = e->res;
		uid = e->uid ? strdup(e->uid) : NULL;
	}
	pthread_mutex_unlock(&sk->lock);
	if (!res)
		return -ENOENT;
	json_object *ev = event_json(res, ns, name, uid, type, reason, message);
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", ns);
	int r = enqueue_simple(sk, OP_POST, path, ev);
	json_object_put(ev);
	free(uid);
	return r;
}

int store_kube_release_volume(struct store *st, const char *ns, const char *claim,
			      const char *pv_path)
{
	struct store_kube *sk = sk_of(st);
	struct op *op = op_new(OP_RELEASE, NULL, ns, claim, NULL, pv_path);
	if (!op)
		return -ENOMEM;
	pthread_mutex_lock(&sk->lock);
	enqueue(sk, &sk->queue, op);
	pthread_mutex_unlock(&sk->lock);
	return 0;
}

int store_kube_ensure(struct store *st, const char *path, json_object *obj)
{
	return enqueue_simple(sk_of(st), obj ? OP_ENSURE : OP_REMOVE, path, obj);
}

struct usage_sum {
	const char *source_id;
	int64_t now;
	int max_age;
	struct store_kube_usage *u;
};

static uint64_t ju64(json_object *o, const char *k)
{
	json_object *v = jget(o, k);
	int64_t n = v ? json_object_get_int64(v) : 0;
	return n > 0 ? (uint64_t)n : 0;
}

static bool lease_fresh(json_object *lease, int64_t now);
static const char *node_lease_holder(const struct entry *e, json_object *lease);

static int add_report(const char *key, void *value, void *arg)
{
	struct usage_sum *s = arg;
	struct entry *e = value;
	if (!is_node_report(e))
		return 0;
	json_object *cm = json_tokener_parse(e->json);
	const char *updated = jstr_get(jget(cm, "spec"), "renewTime");
	const char *text = jstr_get(jget(jget(cm, "metadata"), "annotations"), "weir.io/sources");
	int64_t t = 0;
	json_object *sources = text ? json_tokener_parse(text) : NULL;
	json_object *f = jget(sources, s->source_id);
	/* a node whose Lease expired is gone: its cache no longer counts */
	if (f && !jget(f, "error") && updated && objmodel_parse_time(updated, &t) == 0 &&
	    s->now - t <= s->max_age && lease_fresh(cm, s->now) && node_lease_holder(e, cm)) {
		struct store_kube_usage *u = s->u;
		bool complete = jget(f, "complete") && json_object_get_boolean(jget(f, "complete"));
		/* every node walks the same UFS: take a finished walk's totals; caches add up */
		if (complete && !u->complete) {
			u->complete = true;
			u->ufs_total = ju64(f, "ufsTotalBytes");
			u->file_num = ju64(f, "fileNum");
		}
		uint64_t cached = ju64(f, "cachedBytes");
		if (u->nodes == 0 || cached < u->node_min)
			u->node_min = cached;
		if (cached > u->node_max)
			u->node_max = cached;
		u->cached += cached;
		u->capacity += ju64(f, "capacityBytes");
		u->hits += ju64(f, "hitBytes");
		u->misses += ju64(f, "missBytes");
		u->nodes++;
	}
	json_object_put(sources);
	json_object_put(cm);
	return 0;
}

int store_kube_node_usage(struct store *st, const char *source_id, int64_t now, int max_age_s,
			  struct store_kube_usage *ret)
{
	struct store_kube *sk = sk_of(st);
	struct store_kube_usage u = {0};
	struct usage_sum s = {source_id, now, max_age_s, &u};
	pthread_mutex_lock(&sk->lock);
	strmap_each(sk->cache, add_report, &s);
	pthread_mutex_unlock(&sk->lock);
	*ret = u;
	return (int)u.nodes;
}

/* Is the Lease (its JSON) fresh at now: renewed within its leaseDurationSeconds? */
static bool lease_fresh(json_object *lease, int64_t now)
{
	json_object *spec = jget(lease, "spec");
	const char *renewed = jstr_get(spec, "renewTime");
	json_object *dur = jget(spec, "leaseDurationSeconds");
	int64_t t = 0;
	if (!renewed || !dur || objmodel_parse_time(renewed, &t) != 0)
		return false;
	return now <= t + json_object_get_int64(dur);
}

/* The node a weir-node's Lease speaks for: its holderIdentity, when the Lease is that node's own
 * (named STORE_KUBE_NODE_LEASE_PREFIX + node, as node_report.h writes it); NULL for any other. A
 * second Lease naming an existing node, which anyone who may write Leases in the namespace can
 * make, must not stand for it: it would point the node's blocks at another address (members),
 * or report shares and sources in its name. */
static const char *node_lease_holder(const struct entry *e, json_object *lease)
{
	static const char prefix[] = STORE_KUBE_NODE_LEASE_PREFIX;
	const char *node = jstr_get(jget(lease, "spec"), "holderIdentity");
	if (!node || strncmp(e->name, prefix, sizeof(prefix) - 1) != 0 ||
	    strcmp(e->name + sizeof(prefix) - 1, node) != 0)
		return NULL;
	return node;
}

struct node_scan {
	const char *source_id, *uid;
	int64_t now;
	char (*names)[254];
	size_t n, max;
	char *error;
	size_t errlen;
	struct load_share *shares;
};

static int scan_nodes(const char *key, void *value, void *arg)
{
	struct node_scan *s = arg;
	struct entry *e = value;
	if (!is_node_report(e) || (s->uid && s->n >= s->max))
		return 0;
	json_object *lease = json_tokener_parse(e->json);
	const char *node = node_lease_holder(e, lease);
	json_object *ann = jget(jget(lease, "metadata"), "annotations");
	const char *text = jstr_get(ann, s->uid ? LOAD_SHARE_ANNOTATION : "weir.io/sources");
	json_object *all = text ? json_tokener_parse(text) : NULL;
	json_object *f = jget(all, s->uid ? s->uid : s->source_id);
	if (node && strlen(node) < 254 && f && lease_fresh(lease, s->now)) {
		char err[300];
		if (s->uid) {
			if (load_share_from_json(f, node, &s->shares[s->n], err, sizeof(err)) == 0)
				s->n++;
			else
				log_debug("lease %s: %s", e->name, err);
		} else if (jstr_get(f, "error")) {
			if (s->error && !s->error[0])
				snprintf(s->error, s->errlen, "node %s: %s", node,
					 jstr_get(f, "error"));
		} else if (s->n < s->max) {
			snprintf(s->names[s->n++], 254, "%s", node);
		} else {
			/* more nodes than room: keep the smallest names, whatever the map's order,
			 * so every reader picks the same ones */
			size_t big = 0;
			for (size_t i = 1; i < s->n; i++)
				if (strcmp(s->names[i], s->names[big]) > 0)
					big = i;
			if (s->n && strcmp(node, s->names[big]) < 0)
				snprintf(s->names[big], 254, "%s", node);
		}
	}
	json_object_put(all);
	json_object_put(lease);
	return 0;
}

size_t store_kube_source_nodes(struct store *st, const char *source_id, int64_t now,
			       char (*ret)[254], size_t max, char *ret_error, size_t errlen)
{
	struct store_kube *sk = sk_of(st);
	struct node_scan s = {.source_id = source_id,
			      .now = now,
			      .names = ret,
			      .max = max,
			      .error = ret_error,
			      .errlen = errlen};
	if (ret_error && errlen)
		ret_error[0] = '\0';
	pthread_mutex_lock(&sk->lock);
	strmap_each(sk->cache, scan_nodes, &s);
	pthread_mutex_unlock(&sk->lock);
	return load_share_sort_nodes(ret, s.n);
}

size_t store_kube_load_shares(struct store *st, const char *uid, int64_t now,
			      struct load_share *ret, size_t max)
{
	struct store_kube *sk = sk_of(st);
	struct node_scan s = {.uid = uid, .now = now, .max = max, .shares = ret};
	pthread_mutex_lock(&sk->lock);
	strmap_each(sk->cache, scan_nodes, &s);
	pthread_mutex_unlock(&sk->lock);
	return s.n;
}

struct traffic_scan {
	int64_t now;
	struct store_kube_traffic *t;
};

static int add_traffic(const char *key, void *value, void *arg)
{
	struct traffic_scan *s = arg;
	struct entry *e = value;
	if (!is_node_report(e))
		return 0;
	json_object *lease = json_tokener_parse(e->json);
	const char *text =
	    jstr_get(jget(jget(lease, "metadata"), "annotations"), STORE_KUBE_TRAFFIC_ANNOTATION);
	json_object *t = text ? json_tokener_parse(text) : NULL;
	if (t && json_object_is_type(t, json_type_object) && lease_fresh(lease, s->now) &&
	    node_lease_holder(e, lease)) {
		s->t->nodes++;
		s->t->ufs_bytes += ju64(t, "ufsBytes");
		s->t->peer_in_bytes += ju64(t, "peerInBytes");
		s->t->peer_out_bytes += ju64(t, "peerOutBytes");
		s->t->hit_bytes += ju64(t, "hitBytes");
		s->t->miss_bytes += ju64(t, "missBytes");
	}
	json_object_put(t);
	json_object_put(lease);
	return 0;
}

unsigned store_kube_traffic(struct store *st, int64_t now, struct store_kube_traffic *ret)
{
	struct store_kube *sk = sk_of(st);
	struct store_kube_traffic t = {0};
	struct traffic_scan s = {now, &t};
	pthread_mutex_lock(&sk->lock);
	strmap_each(sk->cache, add_traffic, &s);
	pthread_mutex_unlock(&sk->lock);
	*ret = t;
	return t.nodes;
}

struct peer_scan {
	int64_t now;
	struct store_kube_peer *out; /* grown as peers are found */
	size_t n, cap;
	bool nomem;
};

static int scan_peers(const char *key, void *value, void *arg)
{
	struct peer_scan *s = arg;
	struct entry *e = value;
	if (!is_node_report(e) || s->nomem)
		return 0;
	json_object *lease = json_tokener_parse(e->json);
	const char *node = node_lease_holder(e, lease);
	const char *url =
	    jstr_get(jget(jget(lease, "metadata"), "annotations"), STORE_KUBE_PEER_ANNOTATION);
	if (node && url && *node && strlen(node) < sizeof(s->out->node) &&
	    strlen(url) < sizeof(s->out->url) && lease_fresh(lease, s->now)) {
		if (s->n == s->cap) {
			size_t cap = s->cap ? 2 * s->cap : 64;
			struct store_kube_peer *o = realloc(s->out, cap * sizeof(*o));
			if (!o) {
				s->nomem = true;
				json_object_put(lease);
				return 0;
			}
			s->out = o;
			s->cap = cap;
		}
		snprintf(s->out[s->n].node, sizeof(s->out->node), "%s", node);
		snprintf(s->out[s->n].url, sizeof(s->out->url), "%s", url);
		const char *mac = jstr_get(jget(jget(lease, "metadata"), "annotations"),
					   STORE_KUBE_PEER_MAC_ANNOTATION);
		snprintf(s->out[s->n].mac, sizeof(s->out->mac), "%s",
			 mac && strlen(mac) < sizeof(s->out->mac) ? mac : "");
		const char *id = jstr_get(jget(jget(lease, "metadata"), "annotations"),
					  STORE_KUBE_NODE_ID_ANNOTATION);
		snprintf(s->out[s->n].id, sizeof(s->out->id), "%s",
			 id && node_id_pub_valid(id) ? id : "");
		int64_t renewed = 0;
		objmodel_parse_time(jstr_get(jget(lease, "spec"), "renewTime"), &renewed);
		s->out[s->n].renewed = renewed;
		s->out[s->n].npods = 0;
		s->n++;
	}
	json_object_put(lease);
	return 0;
}

static int peer_cmp(const void *a, const void *b)
{
	return strcmp(((const struct store_kube_peer *)a)->node,
		      ((const struct store_kube_peer *)b)->node);
}

/* A weir-node pod (weir:NodePod) that runs on a node with a Lease: the peer of that node
 * (s->out sorted by node) gets each of its IPs, as far as there is room. */
static int scan_node_pods(const char *key, void *value, void *arg)
{
	(void)key;
	struct peer_scan *s = arg;
	const struct entry *e = value;
	if (!e->res->node_pods || e->deleting || !e->uid)
		return 0;
	json_object *o = json_tokener_parse(e->json);
	const char *node = jstr_get(o, "nodeName");
	json_object *running = jget(o, "running"), *ips = jget(o, "ips");
	struct store_kube_peer probe, *p = NULL;
	if (node && running && json_object_get_boolean(running) && ips &&
	    json_object_is_type(ips, json_type_array) && strlen(node) < sizeof(probe.node)) {
		snprintf(probe.node, sizeof(probe.node), "%s", node);
		p = bsearch(&probe, s->out, s->n, sizeof(*s->out), peer_cmp);
	}
	for (size_t k = 0;
	     p && k < json_object_array_length(ips) && p->npods < STORE_KUBE_PEER_PODS; k++) {
		const char *ip = json_object_get_string(json_object_array_get_idx(ips, k));
		struct store_kube_peer_pod *pp = &p->pods[p->npods];
		if (!ip || strlen(ip) >= sizeof(pp->ip) || strlen(e->uid) >= sizeof(pp->uid))
			continue;
		snprintf(pp->uid, sizeof(pp->uid), "%s", e->uid);
		snprintf(pp->ip, sizeof(pp->ip), "%s", ip);
		json_object *port = jget(o, "peerPort");
		pp->port = port ? (int)json_object_get_int64(port) : 0;
		pp->created = e->created;
		p->npods++;
	}
	json_object_put(o);
	return 0;
}

size_t store_kube_peers(struct store *st, int64_t now, struct store_kube_peer *ret, size_t max)
{
	struct store_kube *sk = sk_of(st);
	struct peer_scan s = {.now = now};
	pthread_mutex_lock(&sk->lock);
	strmap_each(sk->cache, scan_peers, &s);
	/* sorted before the cut: of more than max, every node keeps the same max */
	if (s.n)
		qsort(s.out, s.n, sizeof(*s.out), peer_cmp);
	if (s.n)
		strmap_each(sk->cache, scan_node_pods, &s);
	pthread_mutex_unlock(&sk->lock);
	if (s.n)
		memcpy(ret, s.out, (s.n < max ? s.n : max) * sizeof(*ret));
	free(s.out);
	return s.n;
}

struct claim_scan {
	store_kube_claim_fn fn;
	void *arg;
};

static int scan_claims(const char *key, void *value, void *arg)
{
	(void)key;
	const struct entry *e = value;
	const struct claim_scan *s = arg;
	if (!e->res->pods)
		return 0;
	json_object *o = json_tokener_parse(e->json);
	const char *node = jstr_get(o, "nodeName");
	json_object *ended = jget(o, "ended"), *claims = jget(o, "claims");
	if (node && *node && !(ended && json_object_get_boolean(ended)) && claims &&
	    json_object_is_type(claims, json_type_array))
		for (size_t i = 0; i < json_object_array_length(claims); i++) {
			json_object *c = json_object_array_get_idx(claims, i);
			if (json_object_is_type(c, json_type_string))
				s->fn(s->arg, e->ns, json_object_get_string(c), node);
		}
	json_object_put(o);
	return 0;
}

void store_kube_pod_claims(struct store *st, store_kube_claim_fn fn, void *arg)
{
	struct store_kube *sk = sk_of(st);
	struct claim_scan s = {fn, arg};
	pthread_mutex_lock(&sk->lock);
	strmap_each(sk->cache, scan_claims, &s);
	pthread_mutex_unlock(&sk->lock);
}

const char *store_kube_report_ns(struct store *st)
{
	return sk_of(st)->report_ns;
}

/* The traffic fields of weir.io/traffic and weir.io/cluster-traffic, in one order. */
static const char *const traffic_keys[] = {"ufsBytes", "peerInBytes", "peerOutBytes", "hitBytes",
					   "missBytes"};

static uint64_t *traffic_field(struct store_kube_traffic *t, size_t i)
{
	uint64_t *f[] = {&t->ufs_bytes, &t->peer_in_bytes, &t->peer_out_bytes, &t->hit_bytes,
			 &t->miss_bytes};
	return f[i];
}

json_object *store_kube_traffic_json(const struct store_kube_traffic *t)
{
	json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	struct store_kube_traffic c = *t;
	json_object_object_add(o, "nodes", json_object_new_int64(c.nodes));
	for (size_t i = 0; i < sizeof(traffic_keys) / sizeof(traffic_keys[0]); i++)
		json_object_object_add(o, traffic_keys[i],
				       json_object_new_int64((int64_t)*traffic_field(&c, i)));
	return o;
}

unsigned store_kube_cluster_traffic(struct store *st, int64_t now, struct store_kube_traffic *ret)
{
	struct store_kube *sk = sk_of(st);
	char key[600];
	struct store_kube_traffic t = {0};
	key_of(resource_of("Lease")->store_kind, sk->report_ns, STORE_KUBE_CLUSTER_LEASE, key,
	       sizeof(key));
	pthread_mutex_lock(&sk->lock);
	struct entry *e = strmap_get(sk->cache, key);
	json_object *lease = e ? json_tokener_parse(e->json) : NULL;
	pthread_mutex_unlock(&sk->lock);
	const char *text = jstr_get(jget(jget(lease, "metadata"), "annotations"),
				    STORE_KUBE_CLUSTER_TRAFFIC_ANNOTATION);
	json_object *o = text ? json_tokener_parse(text) : NULL;
	if (o && json_object_is_type(o, json_type_object) && lease_fresh(lease, now)) {
		t.nodes = (unsigned)ju64(o, "nodes");
		for (size_t i = 0; i < sizeof(traffic_keys) / sizeof(traffic_keys[0]); i++)
			*traffic_field(&t, i) = ju64(o, traffic_keys[i]);
	}
	json_object_put(o);
	json_object_put(lease);
	if (t.nodes)
		*ret = t;
	return t.nodes;
}

/* ---- the writer thread ---- */

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(struct store_kube *sk, double seconds)
{
	struct timespec ts = deadline_in(seconds);
	pthread_mutex_lock(&sk->lock);
	while (!atomic_load(&sk->stop))
		if (cond_wait_until(&sk->cond, &sk->lock, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&sk->lock);
}

/* The Ready condition's (else the last condition's) reason and message. */
static void why(json_object *status, const char **ret_reason, const char **ret_msg)
{
	json_object *cs = jget(status, "conditions");
	*ret_reason = "PhaseChanged";
	*ret_msg = "";
	if (!cs || !json_object_is_type(cs, json_type_array) || !json_object_array_length(cs))
		return;
	size_t n = json_object_array_length(cs);
	json_object *pick = json_object_array_get_idx(cs, n - 1);
	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(cs, i);
		const char *t = jstr_get(c, "type");
		if (t && !strcmp(t, "Ready"))
			pick = c;
	}
	if (jstr_get(pick, "reason"))
		*ret_reason = jstr_get(pick, "reason");
	if (jstr_get(pick, "message"))
		*ret_msg = jstr_get(pick, "message");
}

/* A phase change becomes an Event, so `kubectl describe` says why. */
static void phase_event(struct kube_client *kc, const struct op *op, json_object *cur_status,
			json_object *new_status, const char *uid)
{
	const char *was = jstr_get(cur_status, "phase"), *now = jstr_get(new_status, "phase");
	if (!now || (was && !strcmp(was, now)))
		return;
	const char *reason, *msg;
	why(new_status, &reason, &msg);
	char text[1200], path[400], err[512];
	snprintf(text, sizeof(text), "%s -> %s%s%s", was && *was ? was : "(none)", now,
		 *msg ? ": " : "", msg);
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", op->ns);
	json_object *ev = event_json(op->res, op->ns, op->name, uid,
				     !strcmp(now, "Failed") ? "Warning" : "Normal", reason, text);
	if (kube_request(kc, "POST", path, ev, NULL, err, sizeof(err)) < 0)
		log_debug("event on %s %s/%s: %s", op->res->kind, op->ns, op->name, err);
	json_object_put(ev);
}

/* Replaces key of dst with a copy of src's (or removes it when src lacks it). */
static void copy_field(json_object *dst, json_object *src, const char *key)
{
	json_object *v = jget(src, key), *c = NULL;
	if (!v) {
		json_object_object_del(dst, key);
		return;
	}
	if (json_object_deep_copy(v, &c, NULL) == 0)
		json_object_object_add(dst, key, c);
}

/* One try of a put: create, update spec and metadata, then status. -EAGAIN on a conflict. */
static int put_once(struct kube_client *kc, const struct op *op, char *err, size_t errlen)
{
	char path[600], spath[620];
	json_object *ours = NULL, *cur = NULL, *want = NULL;
	int r = store_kube_to_kube(op->json, false, &ours);
	if (r < 0) {
		snprintf(err, errlen, "cannot read the stored object");
		return r;
	}
	store_kube_path(op->res->kind, op->ns, op->name, false, path, sizeof(path));
	store_kube_path(op->res->kind, op->ns, op->name, true, spath, sizeof(spath));
	r = kube_request(kc, "GET", path, NULL, &cur, err, errlen);
	if (r == -ENOENT && !op->create) {
		log_debug("%s %s/%s is gone; dropping the write", op->res->kind, op->ns, op->name);
		r = 0;
		goto out;
	}
	if (r == -ENOENT) {
		char coll[600];
		json_object *create = NULL;
		store_kube_path(op->res->kind, op->ns, NULL, false, coll, sizeof(coll));
		r = store_kube_to_kube(op->json, true, &create);
		if (r < 0)
			goto out;
		if (op->res->finalized)
			set_finalizer(jget(create, "metadata"), true);
		r = kube_request(kc, "POST", coll, create, &cur, err, errlen);
		json_object_put(create);
	}
	if (r < 0)
		goto out;
	json_object *cmeta = jget(cur, "metadata");
	if (op->meta_changed && (op->res->finalized || op->res->namespaced)) {
		if (json_object_deep_copy(cur, &want, NULL) < 0) {
			r = -ENOMEM;
			goto out;
		}
		json_object *wmeta = jget(want, "metadata"), *ometa = jget(ours, "metadata");
		copy_field(want, ours, "spec");
		copy_field(wmeta, ometa, "labels");
		copy_field(wmeta, ometa, "annotations");
		if (op->res->finalized && !jget(cmeta, "deletionTimestamp"))
			set_finalizer(wmeta, true);
		json_object_object_del(want, "status");
		json_object *cmp = NULL;
		json_object_deep_copy(cur, &cmp, NULL);
		json_object_object_del(cmp, "status");
		bool same = json_object_equal(cmp, want);
		json_object_put(cmp);
		if (!same) {
			json_object *st = jget(cur, "status");
			if (st)
				json_object_object_add(want, "status", json_object_get(st));
			json_object *next = NULL;
			r = kube_request(kc, "PUT", path, want, &next, err, errlen);
			if (r < 0)
				goto out;
			json_object_put(cur);
			cur = next;
		}
	}
	json_object *ostatus = jget(ours, "status"), *cstatus = jget(cur, "status");
	if (ostatus && !json_object_equal(ostatus, cstatus)) {
		json_object *next = NULL;
		json_object *cs = NULL;
		if (cstatus)
			json_object_deep_copy(cstatus, &cs, NULL);
		json_object_object_add(cur, "status", json_object_get(ostatus));
		r = kube_request(kc, "PUT", spath, cur, &next, err, errlen);
		if (r >= 0)
			phase_event(kc, op, cs, ostatus, jstr_get(jget(cur, "metadata"), "uid"));
		json_object_put(cs);
		json_object_put(next);
	}
out:
	json_object_put(want);
	json_object_put(cur);
	json_object_put(ours);
	return r;
}

/* A delete: DELETE, or, once the apiserver marked the object deleting, drop our finalizer
 * (the caller checked that it may go). */
static int del_once(struct kube_client *kc, const struct op *op, bool add_finalizer, char *err,
		    size_t errlen)
{
	char path[600];
	json_object *cur = NULL;
	store_kube_path(op->res->kind, op->ns, op->name, false, path, sizeof(path));
	int r = kube_request(kc, "GET", path, NULL, &cur, err, errlen);
	if (r == -ENOENT)
		return add_finalizer ? r : 0;
	if (r < 0)
		return r;
	json_object *meta = jget(cur, "metadata");
	bool deleting = jget(meta, "deletionTimestamp") != NULL;
	if (add_finalizer) {
		if (!deleting && set_finalizer(meta, true))
			r = kube_request(kc, "PUT", path, cur, NULL, err, errlen);
	} else if (deleting) {
		if (set_finalizer(meta, false))
			r = kube_request(kc, "PUT", path, cur, NULL, err, errlen);
	} else {
		r = kube_request(kc, "DELETE", path, NULL, NULL, err, errlen);
		if (r == -ENOENT)
			r = 0;
	}
	json_object_put(cur);
	return r;
}

/* A claim weir pre-binds (spec.volumeName) that already existed: when it is not bound to weir's
 * volume it is the user's own, made before the Dataset, and pods naming it do not read the
 * Dataset: say so on the Dataset (its name and namespace are the claim's), once per ensure. */
static void claim_check_ours(struct kube_client *kc, const char *path, json_object *want)
{
	const char *vn = jstr_get(jget(want, "spec"), "volumeName");
	const char *ns = jstr_get(jget(want, "metadata"), "namespace");
	const char *name = jstr_get(jget(want, "metadata"), "name");
	if (!vn || !ns || !name || !strstr(path, "/persistentvolumeclaims"))
		return;
	char p[700], err[512], msg[700];
	json_object *cur = NULL;
	snprintf(p, sizeof(p), "%s/%s", path, name);
	if (kube_request(kc, "GET", p, NULL, &cur, err, sizeof(err)) < 0)
		return;
	const char *have = jstr_get(jget(cur, "spec"), "volumeName");
	if (!have || strcmp(have, vn)) {
		snprintf(msg, sizeof(msg),
			 "PersistentVolumeClaim %s/%s already exists and is not weir's (bound to "
			 "\"%s\", not \"%s\"): pods naming it do not read this Dataset; rename "
			 "the Dataset or that claim",
			 ns, name, have ? have : "nothing yet", vn);
		log_warn("dataset %s/%s: %s", ns, name, msg);
		json_object *ev = event_json(resource_of("Dataset"), ns, name, NULL, "Warning",
					     "ClaimNotWeirs", msg);
		snprintf(p, sizeof(p), "/api/v1/namespaces/%s/events", ns);
		kube_request(kc, "POST", p, ev, NULL, err, sizeof(err));
		json_object_put(ev);
	}
	json_object_put(cur);
}

static int ensure_once(struct kube_client *kc, const struct op *op, char *err, size_t errlen)
{
	if (op->type == OP_REMOVE) {
		int r = kube_request(kc, "DELETE", op->path, NULL, NULL, err, errlen);
		return r == -ENOENT ? 0 : r;
	}
	json_object *obj = json_tokener_parse(op->json);
	if (!obj)
		return -EINVAL;
	int r = kube_request(kc, "POST", op->path, obj, NULL, err, errlen);
	if (r == -EEXIST && op->type == OP_ENSURE) {
		r = 0;
		claim_check_ours(kc, op->path, obj);
	}
	json_object_put(obj);
	return r;
}

#define PVC_PROTECTION "kubernetes.io/pvc-protection"
#define PV_PROTECTION "kubernetes.io/pv-protection"

/* Removes finalizer fin from the object at path (read as cur), by PUT with its resourceVersion:
 * a conflict gives -EAGAIN and the writer reads again. */
static int drop_finalizer(struct kube_client *kc, const char *path, json_object *cur,
			  const char *fin, char *err, size_t errlen)
{
	json_object *meta = jget(cur, "metadata"), *f = jget(meta, "finalizers");
	if (!f || !json_object_is_type(f, json_type_array))
		return 0;
	json_object *nf = json_object_new_array();
	bool had = false;
	for (size_t i = 0; i < json_object_array_length(f); i++) {
		json_object *v = json_object_array_get_idx(f, i);
		if (!strcmp(json_object_get_string(v), fin))
			had = true;
		else
			json_object_array_add(nf, json_object_get(v));
	}
	json_object_object_add(meta, "finalizers", nf);
	int r = had ? kube_request(kc, "PUT", path, cur, NULL, err, errlen) : 0;
	return r == -ENOENT ? 0 : r;
}

/* Does a pod in ns that has not ended name claim in its volumes? Returns 1 (the pod's name in
 * ret_pod), 0, or -errno. */
static int claim_in_use(struct kube_client *kc, const char *ns, const char *claim, char *ret_pod,
			size_t podlen, char *err, size_t errlen)
{
	char path[400];
	json_object *list = NULL;
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods", ns);
	int r = kube_request(kc, "GET", path, NULL, &list, err, errlen);
	if (r < 0)
		return r;
	json_object *items = jget(list, "items");
	int used = 0;
	for (size_t i = 0; items && json_object_is_type(items, json_type_array) &&
			   i < json_object_array_length(items) && !used;
	     i++) {
		json_object *pod = json_object_array_get_idx(items, i);
		const char *phase = jstr_get(jget(pod, "status"), "phase");
		if (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")))
			continue;
		json_object *vols = jget(jget(pod, "spec"), "volumes");
		for (size_t k = 0; vols && json_object_is_type(vols, json_type_array) &&
				   k < json_object_array_length(vols);
		     k++) {
			const char *cn = jstr_get(
			    jget(json_object_array_get_idx(vols, k), "persistentVolumeClaim"),
			    "claimName");
			if (cn && !strcmp(cn, claim)) {
				snprintf(ret_pod, podlen, "%s",
					 jstr_get(jget(pod, "metadata"), "name")
					     ? jstr_get(jget(pod, "metadata"), "name")
					     : "?");
				used = 1;
				break;
			}
		}
	}
	json_object_put(list);
	return used;
}

/* Is the claim cur the one weir made for the PV at pv_path (pre-bound to it by name)? A claim
 * of the Dataset's name that is not (the user's own, made before the Dataset) is not ours to
 * delete. */
static bool claim_is_ours(json_object *cur, const char *pv_path)
{
	const char *vn = jstr_get(jget(cur, "spec"), "volumeName");
	const char *pvn = strrchr(pv_path, '/');
	return vn && pvn && !strcmp(vn, pvn + 1);
}

/* One try of a release: DELETE the claim and its volume, then drop pvc-protection once no pod
 * uses the claim, and pv-protection once the claim is gone (what kube-controller-manager's
 * protection controllers do; none runs for weir's volumes otherwise). -EINPROGRESS: a pod still
 * uses the claim, try later. */
static int release_once(struct kube_client *kc, const struct op *op, char *err, size_t errlen)
{
	char pvc_path[600], pod[254];
	json_object *cur = NULL;
	snprintf(pvc_path, sizeof(pvc_path), "/api/v1/namespaces/%s/persistentvolumeclaims/%s",
		 op->ns, op->name);
	int r = kube_request(kc, "GET", pvc_path, NULL, &cur, err, errlen);
	if (r < 0 && r != -ENOENT)
		return r;
	bool foreign = r >= 0 && !claim_is_ours(cur, op->path);
	json_object_put(cur);
	cur = NULL;
	if (foreign)
		log_notice("PersistentVolumeClaim %s/%s is not the claim of weir's volume \"%s\": "
			   "left alone",
			   op->ns, op->name, strrchr(op->path, '/') + 1);
	r = foreign ? 0 : kube_request(kc, "DELETE", pvc_path, NULL, NULL, err, errlen);
	if (r < 0 && r != -ENOENT)
		return r;
	r = foreign ? -ENOENT : kube_request(kc, "GET", pvc_path, NULL, &cur, err, errlen);
	bool claim_gone = r == -ENOENT;
	if (r >= 0) {
		r = claim_in_use(kc, op->ns, op->name, pod, sizeof(pod), err, errlen);
		if (r == 1) {
			snprintf(err, errlen,
				 "PersistentVolumeClaim %s/%s stays until pod %s/%s stops using it",
				 op->ns, op->name, op->ns, pod);
			r = -EINPROGRESS;
		} else if (r == 0) {
			r = drop_finalizer(kc, pvc_path, cur, PVC_PROTECTION, err, errlen);
			if (r >= 0) {
				/* the volume's turn once the claim is gone */
				snprintf(err, errlen,
					 "waiting for PersistentVolumeClaim %s/%s to go", op->ns,
					 op->name);
				r = -EINPROGRESS;
			}
		}
	} else if (!claim_gone) {
		return r;
	}
	json_object_put(cur);
	if (!claim_gone)
		return r;
	cur = NULL;
	r = kube_request(kc, "DELETE", op->path, NULL, NULL, err, errlen);
	if (r < 0 && r != -ENOENT)
		return r;
	r = kube_request(kc, "GET", op->path, NULL, &cur, err, errlen);
	if (r == -ENOENT)
		return 0;
	if (r >= 0)
		r = drop_finalizer(kc, op->path, cur, PV_PROTECTION, err, errlen);
	json_object_put(cur);
	return r;
}

/* A write the apiserver refused (a schema's 422, say) left the cache ahead of it: put the
 * server's object back (or drop ours when it has none) so the controller sees what is true. */
static void resync_one(struct store_kube *sk, struct kube_client *kc, const struct op *op)
{
	char path[600], err[512];
	json_object *cur = NULL;
	struct entry *e = NULL;
	store_kube_path(op->res->kind, op->ns, op->name, false, path, sizeof(path));
	int r = kube_request(kc, "GET", path, NULL, &cur, err, sizeof(err));
	if (r < 0 && r != -ENOENT)
		return; /* unreachable: the next list after the watch fails corrects it */
	if (r >= 0 && entry_new(op->res, cur, &e) < 0) {
		json_object_put(cur);
		return;
	}
	pthread_mutex_lock(&sk->lock);
	if (e)
		cache_set(sk, e);
	else
		cache_del(sk, op->res, op->ns, op->name);
	pthread_mutex_unlock(&sk->lock);
	json_object_put(cur);
	if (sk->changed)
		sk->changed(sk->changed_arg);
}

static void *writer_main(void *arg)
{
	struct store_kube *sk = arg;
	struct kube_client *kc = NULL;
	if (kube_client_new(&sk->kc, &kc) < 0) {
		log_err("kube writer: out of memory");
		return NULL;
	}
	for (;;) {
		struct op *op = NULL;
		pthread_mutex_lock(&sk->lock);
		while (!atomic_load(&sk->stop)) {
			double now = mono_now(), soonest = 0;
			if (sk->active)
				TAILQ_FOREACH(op, &sk->queue, link)
				{
					if (op->not_before <= now)
						break;
					if (!soonest || op->not_before < soonest)
						soonest = op->not_before;
				}
			if (op)
				break;
			if (!soonest) {
				pthread_cond_wait(&sk->cond, &sk->lock);
				continue;
			}
			/* only releases waiting for pods: sleep until the first is due */
			struct timespec ts = deadline_in(soonest - now);
			cond_wait_until(&sk->cond, &sk->lock, &ts);
		}
		if (atomic_load(&sk->stop)) {
			pthread_mutex_unlock(&sk->lock);
			break;
		}
		TAILQ_REMOVE(&sk->queue, op, link);
		pthread_mutex_unlock(&sk->lock);
		char err[1024] = "";
		int r = 0;
		for (int i = 0; i < WRITE_TRIES && !atomic_load(&sk->stop); i++) {
			switch (op->type) {
			case OP_PUT:
				r = put_once(kc, op, err, sizeof(err));
				break;
			case OP_DEL:
			case OP_FINALIZER_ADD:
				r = del_once(kc, op, op->type == OP_FINALIZER_ADD, err,
					     sizeof(err));
				break;
			case OP_POST:
			case OP_ENSURE:
			case OP_REMOVE:
				r = ensure_once(kc, op, err, sizeof(err));
				break;
			case OP_RELEASE:
				r = release_once(kc, op, err, sizeof(err));
				break;
			}
			if (r == -EINPROGRESS)
				break;
			/* a conflict: someone wrote in between; read again and retry at once */
			if (r == -EAGAIN)
				continue;
			if (r == -ECONNREFUSED || r == -ETIMEDOUT || r == -EIO || r == -EBUSY) {
				log_notice("writing %s %s/%s%s: %s; retrying in %.1f s",
					   op->res ? op->res->kind : "", op->ns ? op->ns : "",
					   op->name ? op->name : "", op->path ? op->path : "", err,
					   0.5 * (1 << i));
				nap(sk, 0.5 * (1 << i));
				continue;
			}
			break;
		}
		if (r == -EINPROGRESS) {
			/* a pod still uses the claim: look again later, as kcm's pvc-protection
			 * controller does on pod changes */
			if (!op->waits++)
				log_notice("%s", err);
			op->not_before = mono_now() + (op->waits < 10 ? 1.0 : 5.0);
			pthread_mutex_lock(&sk->lock);
			TAILQ_INSERT_TAIL(&sk->queue, op, link);
			pthread_mutex_unlock(&sk->lock);
			continue;
		}
		if (r < 0) {
			if (op->res)
				log_warn("cannot write %s %s/%s to the apiserver: %s",
					 op->res->kind, op->ns, op->name, err);
			else
				log_warn("cannot write \"%s\": %s", op->path, err);
			if (op->res && !atomic_load(&sk->stop))
				resync_one(sk, kc, op);
		}
		op_free(op);
	}
	kube_client_free(kc);
	return NULL;
}

/* ---- the watch threads ---- */

/* An event may predate a status write still queued: the cache keeps the server's object with the
 * queued status, so the reconciler does not see (and write back) an older phase. Under sk->lock. */
static void keep_pending_status(struct store_kube *sk, struct entry *e)
{
	struct op *op;
	TAILQ_FOREACH(op, &sk->queue, link)
	{
		if (op->type != OP_PUT || op->res != e->res || strcmp(op->ns, e->ns) ||
		    strcmp(op->name, e->name))
			continue;
		json_object *ours = json_tokener_parse(op->json),
			    *srv = json_tokener_parse(e->json);
		json_object *st = jget(ours, "status");
		if (srv && st) {
			json_object_object_add(srv, "status", json_object_get(st));
			char *j =
			    strdup(json_object_to_json_string_ext(srv, JSON_C_TO_STRING_PLAIN));
			if (j) {
				free(e->json);
				e->json = j;
			}
		}
		json_object_put(ours);
		json_object_put(srv);
		return;
	}
}

static int on_event(void *arg, const char *type, json_object *obj)
{
	struct watcher *w = arg;
	struct store_kube *sk = w->sk;
	json_object *meta = jget(obj, "metadata");
	const char *name = jstr_get(meta, "name");
	const char *ns = w->res->namespaced ? jstr_get(meta, "namespace") : "";
	if (!name || !ns)
		return 0;
	if (!strcmp(type, "DELETED")) {
		pthread_mutex_lock(&sk->lock);
		cache_del(sk, w->res, ns, name);
		pthread_mutex_unlock(&sk->lock);
	} else {
		struct entry *e = NULL;
		if (!jget(obj, "kind"))
			json_object_object_add(obj, "kind", json_object_new_string(w->res->kind));
		if (!jget(obj, "apiVersion"))
			json_object_object_add(obj, "apiVersion",
					       json_object_new_string(w->res->api_version));
		int r = entry_new(w->res, obj, &e);
		if (r < 0)
			return r == -ENOMEM ? r : 0;
		pthread_mutex_lock(&sk->lock);
		/* a pod's status changes often; what the grants read of it (pod_trim) seldom: the
		 * same trimmed pod again is no change, and no pass */
		bool same = false;
		if (w->res->pods || w->res->node_pods) {
			char key[600];
			key_of(e->res->store_kind, e->ns, e->name, key, sizeof(key));
			const struct entry *old = strmap_get(sk->cache, key);
			same = old && !strcmp(old->json, e->json);
		}
		if (same) {
			entry_free(e);
		} else {
			if (e->invalid)
				report_invalid(sk, e);
			keep_pending_status(sk, e);
			cache_set(sk, e);
		}
		pthread_mutex_unlock(&sk->lock);
		if (same)
			return 0;
	}
	if (sk->changed)
		sk->changed(sk->changed_arg);
	return 0;
}

/* What w lists and watches: every namespace, or the weir namespace for the nodes' reports. */
static void collection_path(const struct watcher *w, char *buf, size_t len)
{
	if (w->res->selector && w->res->cluster_wide)
		snprintf(buf, len, "%s/%s?%s", w->res->group_path, w->res->plural,
			 w->res->selector);
	else if (w->res->selector)
		snprintf(buf, len, "%s/namespaces/%s/%s?%s", w->res->group_path, w->sk->report_ns,
			 w->res->plural, w->res->selector);
	else
		snprintf(buf, len, "%s/%s", w->res->group_path, w->res->plural);
}

/* Lists res: fills the cache and returns the list's resourceVersion. */
/* Lists res a page of LIST_PAGE objects at a time (a cluster's pods would otherwise come as
 * one reply of every pod whole, however many): fills the cache once every page is in and
 * returns the list's resourceVersion. An expired continue token (410) fails the list: the
 * watcher lists again. */
static int list_resource(struct watcher *w, struct kube_client *kc, char *rv, size_t rvlen,
			 char *err, size_t errlen)
{
	char path[400], page[2048], cont[1024] = "";
	struct fresh_list fl = {0};
	collection_path(w, path, sizeof(path));
	int r;
	do {
		json_object *reply = NULL;
		int n = snprintf(page, sizeof(page), "%s%climit=%d%s%s", path,
				 strchr(path, '?') ? '&' : '?', LIST_PAGE,
				 cont[0] ? "&continue=" : "", cont);
		if (n < 0 || (size_t)n >= sizeof(page)) {
			snprintf(err, errlen, "list %s: its continue token is too long", path);
			r = -EPROTO;
			break;
		}
		r = kube_request(kc, "GET", page, NULL, &reply, err, errlen);
		if (r < 0)
			break;
		json_object *meta = jget(reply, "metadata");
		const char *v = jstr_get(meta, "resourceVersion"), *next = jstr_get(meta, "continue");
		json_object *items = jget(reply, "items");
		if (!v || (items && !json_object_is_type(items, json_type_array))) {
			snprintf(err, errlen, "list %s: not a list", path);
			json_object_put(reply);
			r = -EPROTO;
			break;
		}
		snprintf(rv, rvlen, "%s", v);
		/* the token is base64url; anything else is not put in a URL */
		cont[0] = '\0';
		if (next && *next) {
			if (strlen(next) >= sizeof(cont) ||
			    strspn(next, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					 "0123456789-_=") != strlen(next)) {
				snprintf(err, errlen, "list %s: a continue token that is not base64url",
					 path);
				json_object_put(reply);
				r = -EPROTO;
				break;
			}
			snprintf(cont, sizeof(cont), "%s", next);
		}
		r = fresh_add(&fl, w->res, items);
		json_object_put(reply);
	} while (r >= 0 && cont[0]);
	if (r >= 0)
		r = cache_replace(w->sk, w->res, &fl);
	fresh_clear(&fl);
	return r;
}

static void *watcher_main(void *arg)
{
	struct watcher *w = arg;
	struct store_kube *sk = w->sk;
	struct kube_client *kc = NULL;
	char path[400], rv[64], err[1024];
	double backoff = 1;
	collection_path(w, path, sizeof(path));
	int r = kube_client_new(&sk->kc, &kc);
	while (r >= 0 && !atomic_load(&sk->stop)) {
		r = list_resource(w, kc, rv, sizeof(rv), err, sizeof(err));
		/* a busy or starting apiserver is retried; open() waits for it */
		/* ... and a list whose continue token expired between its pages (410): listed
		 * again from the start */
		bool transient = r == -EAGAIN || r == -EBUSY || r == -EIO || r == -ECONNREFUSED ||
				 r == -ETIMEDOUT || r == -KUBE_EGONE;
		pthread_mutex_lock(&sk->lock);
		if (!w->synced && !transient) {
			w->list_err = r;
			snprintf(w->err, sizeof(w->err), "%.500s", err);
			if (r == -ENOENT)
				w->missing = true;
			w->synced = true;
			pthread_cond_broadcast(&sk->cond);
		}
		pthread_mutex_unlock(&sk->lock);
		if (r == -ENOENT && w->missing)
			break; /* its CRD is not installed */
		if (r < 0) {
			log_warn("list %s: %s; retrying in %.0f s", path, err, backoff);
			nap(sk, backoff);
			backoff = backoff < 30 ? backoff * 2 : 30;
			r = 0;
			continue;
		}
		if (sk->changed)
			sk->changed(sk->changed_arg);
		struct kube_watch_parser p;
		if ((r = kube_watch_parser_init(&p, rv, on_event, w)) < 0)
			break;
		for (;;) {
			struct timespec t0, t1;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			r = kube_watch(kc, path, &p, WATCH_TIMEOUT_S, &sk->stop, err, sizeof(err));
			if (r != 0)
				break;
			/* the server ended the stream: watch on, but not in a tight loop when
			 * something between us ends every stream at once */
			clock_gettime(CLOCK_MONOTONIC, &t1);
			if (t1.tv_sec - t0.tv_sec < 1)
				nap(sk, 1);
			backoff = 1;
		}
		kube_watch_parser_clear(&p);
		if (r == -ECANCELED)
			break;
		if (r == -KUBE_EGONE) {
			log_info("watch %s: resourceVersion too old; listing again", path);
		} else {
			log_warn("watch %s: %s; listing again in %.0f s", path, err, backoff);
			nap(sk, backoff);
			backoff = backoff < 30 ? backoff * 2 : 30;
		}
		r = 0;
	}
	kube_client_free(kc);
	return NULL;
}

/* ---- open and close ---- */

static void sk_close(struct store *st)
{
	struct store_kube *sk = sk_of(st);
	pthread_mutex_lock(&sk->lock);
	atomic_store(&sk->stop, true);
	pthread_cond_broadcast(&sk->cond);
	pthread_mutex_unlock(&sk->lock);
	for (size_t i = 0; i < N_RESOURCES; i++)
		if (sk->watchers[i].started)
			pthread_join(sk->watchers[i].thread, NULL);
	if (sk->writer_started)
		pthread_join(sk->writer, NULL);
	struct op *o;
	while ((o = TAILQ_FIRST(&sk->queue))) {
		TAILQ_REMOVE(&sk->queue, o, link);
		op_free(o);
	}
	while ((o = TAILQ_FIRST(&sk->txn_ops))) {
		TAILQ_REMOVE(&sk->txn_ops, o, link);
		op_free(o);
	}
	undo_drop(sk, false);
	strmap_free(sk->cache, entry_free);
	kubeconfig_clear(&sk->kc);
	pthread_mutex_destroy(&sk->lock);
	pthread_cond_destroy(&sk->cond);
	free(sk);
}

static const struct store_ops kube_ops = {
    .name = "kube",
    .begin = sk_begin,
    .commit = sk_commit,
    .rollback = sk_rollback,
    .get = sk_get,
    .put = sk_put,
    .del = sk_del,
    .list = sk_list,
    .close = sk_close,
};

static int kc_copy(const struct kubeconfig *src, struct kubeconfig *dst)
{
	*dst = *src;
	dst->ca_pem = src->ca_pem ? malloc(src->ca_len + 1) : NULL;
	dst->cert_pem = src->cert_pem ? malloc(src->cert_len + 1) : NULL;
	dst->key_pem = src->key_pem ? malloc(src->key_len + 1) : NULL;
	dst->token = src->token ? strdup(src->token) : NULL;
	if ((src->ca_pem && !dst->ca_pem) || (src->cert_pem && !dst->cert_pem) ||
	    (src->key_pem && !dst->key_pem) || (src->token && !dst->token)) {
		kubeconfig_clear(dst);
		return -ENOMEM;
	}
	if (dst->ca_pem)
		memcpy(dst->ca_pem, src->ca_pem, src->ca_len + 1);
	if (dst->cert_pem)
		memcpy(dst->cert_pem, src->cert_pem, src->cert_len + 1);
	if (dst->key_pem)
		memcpy(dst->key_pem, src->key_pem, src->key_len + 1);
	return 0;
}

int store_kube_open(const struct kubeconfig *kc, const char *report_ns, unsigned flags,
		    store_kube_changed_fn changed, void *arg, struct store **ret, char *errbuf,
		    size_t errlen)
{
	struct store_kube *sk = calloc(1, sizeof(*sk));
	if (!sk)
		return -ENOMEM;
	snprintf(sk->report_ns, sizeof(sk->report_ns), "%s",
		 report_ns && *report_ns ? report_ns : kc->namespace);
	sk->base.ops = &kube_ops;
	sk->changed = changed;
	sk->changed_arg = arg;
	pthread_mutex_init(&sk->lock, NULL);
	pthread_cond_init(&sk->cond, NULL);
	TAILQ_INIT(&sk->queue);
	TAILQ_INIT(&sk->txn_ops);
	TAILQ_INIT(&sk->undo);
	int r = kc_copy(kc, &sk->kc);
	if (r < 0 || !(sk->cache = strmap_new())) {
		snprintf(errbuf, errlen, "out of memory");
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < N_RESOURCES; i++) {
		struct watcher *w = &sk->watchers[i];
		w->sk = sk;
		w->res = &resources[i];
		if ((w->res->pods && !(flags & STORE_KUBE_PODS)) ||
		    (w->res->node_pods && !(flags & STORE_KUBE_NODE_PODS))) {
			w->synced = true; /* not watched: nothing to wait for */
			continue;
		}
		r = -pthread_create(&w->thread, NULL, watcher_main, w);
		if (r < 0) {
			snprintf(errbuf, errlen, "cannot start a watch thread: %s", strerror(-r));
			goto fail;
		}
		w->started = true;
	}
	r = -pthread_create(&sk->writer, NULL, writer_main, sk);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot start the writer thread: %s", strerror(-r));
		goto fail;
	}
	sk->writer_started = true;
	/* wait for every first list, so the controller never reconciles half a cluster */
	struct timespec ts = deadline_in(SYNC_TIMEOUT_S);
	pthread_mutex_lock(&sk->lock);
	for (;;) {
		size_t done = 0;
		for (size_t i = 0; i < N_RESOURCES; i++)
			done += sk->watchers[i].synced;
		if (done == N_RESOURCES)
			break;
		if (cond_wait_until(&sk->cond, &sk->lock, &ts) == ETIMEDOUT)
			break;
	}
	r = 0;
	for (size_t i = 0; i < N_RESOURCES && r == 0; i++) {
		struct watcher *w = &sk->watchers[i];
		if (!w->synced) {
			snprintf(errbuf, errlen, "%s: no answer from the apiserver in %d s",
				 kc->server, SYNC_TIMEOUT_S);
			r = -ETIMEDOUT;
		} else if (w->missing && w->res->required) {
			snprintf(errbuf, errlen,
				 "the %s resource is not installed (%s); apply the CRDs first: "
				 "`kubectl apply -f deploy/crds/`",
				 w->res->kind, w->err);
			r = -ENOENT;
		} else if (w->missing) {
			log_notice("kube store: %s is not installed; not watching it",
				   w->res->plural);
		} else if (w->list_err < 0) {
			snprintf(errbuf, errlen, "%s", w->err);
			r = w->list_err;
		}
	}
	pthread_mutex_unlock(&sk->lock);
	if (r < 0)
		goto fail;
	*ret = &sk->base;
	return 0;
fail:
	sk_close(&sk->base);
	return r;
}
