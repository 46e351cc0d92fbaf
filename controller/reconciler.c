// SPDX-License-Identifier: Apache-2.0
// The reconciler thread: brings Datasets, Runtimes and DataLoads to their state on weir-node
// and writes their status. The store lock is held only to read and to write back; node calls
// happen without it, and a write-back replaces only status, so specs applied meanwhile stay.
#include "controller.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "cron.h"
#include "log.h"
#include "reconcile.h"
#include "redact.h"
#include "store_kube.h"
#include "secrets.h"
#include "timed_wait.h"

void controller_changed(struct controller *ctl)
{
	ctl->changes++;
	pthread_cond_signal(&ctl->wake);
}

/* A wedged weir-node stalls one pass, not the reconciler: a SourceRequest waits for the UFS to
 * answer, hence the generous deadline. */
#define NODE_CALL_TIMEOUT_MS 60000u
/* A DataLoad in a cluster waits at most this long for every weir-node to report its source
 * open: see dataload_nodes_settled(). */
#define DATALOAD_SETTLE_S 30

/* Calls weir-node (lib/control.h): -EHOSTDOWN when there is none. */
static int node_call(struct controller *ctl, const Weir__Request *req, Weir__Response **ret,
		     char *err, size_t errlen)
{
	return control_call_checked(ctl->cfg.node_socket, "weir-node", req, NODE_CALL_TIMEOUT_MS,
				    ret, err, errlen);
}

/* Sets a condition only when its status, reason or message changes (conditions_set keeps the
 * transition time, but not copying is cheaper and keeps writes rare). Returns true when it
 * changed. */
static bool cond_set(struct conditions *c, const char *type, const char *status, const char *reason,
		     const char *message, int64_t now)
{
	for (size_t i = 0; i < c->n; i++) {
		struct condition *cd = &c->items[i];
		if (strcmp(cd->type, type))
			continue;
		if (cd->status && !strcmp(cd->status, status) && cd->reason &&
		    !strcmp(cd->reason, reason) && cd->message && !strcmp(cd->message, message))
			return false;
	}
	return conditions_set(c, type, status, reason, message, now) == 0;
}

static void cond_del(struct conditions *c, const char *type)
{
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->items[i].type, type))
			continue;
		free(c->items[i].type);
		free(c->items[i].status);
		free(c->items[i].reason);
		free(c->items[i].message);
		memmove(&c->items[i], &c->items[i + 1], (c->n - i - 1) * sizeof(c->items[0]));
		c->n--;
		return;
	}
}

static void fill_tiers(const struct mount_plan *p, Weir__TierSpec *tiers, Weir__TierSpec **tierp)
{
	for (size_t i = 0; i < p->n_tiers; i++) {
		weir__tier_spec__init(&tiers[i]);
		tiers[i].medium = (char *)p->tiers[i].medium;
		tiers[i].path = (char *)p->tiers[i].path;
		tiers[i].quota = p->tiers[i].quota;
		tierp[i] = &tiers[i];
	}
}

static int usage_call(struct controller *ctl, const char *source_id, const char *subpath,
		      Weir__Usage *ret, int64_t *ret_pid, char *err, size_t errlen)
{
	Weir__UsageRequest u = WEIR__USAGE_REQUEST__INIT;
	u.source_id = (char *)source_id;
	u.subpath = (char *)subpath;
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_USAGE;
	req.usage = &u;
	Weir__Response *resp;
	int r = node_call(ctl, &req, &resp, err, errlen);
	if (r < 0)
		return r;
	if (!resp->usage) {
		snprintf(err, errlen, "weir-node answered a UsageRequest without usage");
		weir__response__free_unpacked(resp, NULL);
		return -EPROTO;
	}
	*ret = *resp->usage;
	ret->base.descriptor = NULL;
	if (ret_pid)
		*ret_pid = resp->pid;
	weir__response__free_unpacked(resp, NULL);
	return 0;
}

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct source_slot *source_slot_get(struct controller *ctl, const char *source_id)
{
	for (size_t i = 0; i < ctl->n_sources; i++)
		if (!strcmp(ctl->sources[i].source_id, source_id))
			return &ctl->sources[i];
	struct source_slot *s = realloc(ctl->sources, (ctl->n_sources + 1) * sizeof(*s));
	if (!s)
		return NULL;
	ctl->sources = s;
	s = &ctl->sources[ctl->n_sources++];
	memset(s, 0, sizeof(*s));
	snprintf(s->source_id, sizeof(s->source_id), "%s", source_id);
	return s;
}

static void node_unavailable(struct objmodel *ds, const char *err, int64_t now)
{
	struct dataset_status *st = &ds->dataset.status;
	if (st->phase == DATASET_PHASE_NONE)
		st->phase = DATASET_PHASE_NOT_BOUND;
	if (cond_set(&st->conditions, "Ready", "False", "NodeUnavailable", err, now))
		log_warn("dataset %s/%s: %s", ds->meta.namespace, ds->meta.name, err);
}

/* A source Dataset in a cluster: Bound once a weir-node whose Lease is fresh reports it open,
 * with the figures summed over the nodes; Failed when nodes report only errors opening it. */
static void source_from_nodes(struct controller *ctl, struct objmodel *ds, struct objmodel *rt,
			      const char *source_id, int64_t now)
{
	struct dataset_status *st = &ds->dataset.status;
	char(*nodes)[254] = calloc(LOAD_SHARE_MAX_NODES, sizeof(*nodes));
	char err[1024], msg[800];
	if (!nodes)
		return;
	pthread_mutex_lock(&ctl->lock);
	size_t n = store_kube_source_nodes(ctl->store, source_id, now, nodes, LOAD_SHARE_MAX_NODES,
					   err, sizeof(err));
	pthread_mutex_unlock(&ctl->lock);
	free(nodes);
	if (n == 0 && err[0]) {
		if (st->phase != DATASET_PHASE_FAILED)
			log_warn("dataset %s/%s: %s", ds->meta.namespace, ds->meta.name, err);
		dataset_status_fail(st, "SourceFailed", err, now);
		return;
	}
	if (n == 0) {
		if (st->phase == DATASET_PHASE_NONE || st->phase == DATASET_PHASE_FAILED)
			st->phase = DATASET_PHASE_NOT_BOUND;
		cond_set(&st->conditions, "Ready", "False", "NoNode",
			 "waiting for a weir-node to open its source (no fresh node Lease reports "
			 "it)",
			 now);
		return;
	}
	st->phase = DATASET_PHASE_BOUND;
	snprintf(msg, sizeof(msg), "served by runtime %s/%s", ds->meta.namespace, ds->meta.name);
	cond_set(&st->conditions, "Ready", "True", "Bound", msg, now);
	st->cache_known = true;
	st->cache_capacity = rt ? runtime_capacity(&rt->runtime) : 0;
	kube_sync_usage(ctl, source_id, st, now);
	if (rt) {
		rt->runtime.status.phase = RUNTIME_PHASE_READY;
		rt->runtime.status.cache_capacity = st->cache_capacity;
		rt->runtime.status.cached = st->cached;
	}
}

/* An S3 source's keys, read from its Secrets (in memory only; wiped by keys_clear). */
struct source_keys {
	char *access_key, *secret_key, *session_token;
};

static void keys_clear(struct source_keys *k)
{
	char **v[] = {&k->access_key, &k->secret_key, &k->session_token};
	for (size_t i = 0; i < 3; i++) {
		if (*v[i]) {
			explicit_bzero(*v[i], strlen(*v[i]));
			free(*v[i]);
		}
		*v[i] = NULL;
	}
}

/* Reads the keys plan names from the Secrets of its source's namespace. Returns 0 (nothing
 * named: *k stays empty), or -errno with err naming the option, Secret and key. No lock held
 * (a Kubernetes Secret is a round trip). */
static int read_keys(struct controller *ctl, const struct mount_plan *p, struct source_keys *k,
		     char *err, size_t errlen)
{
	const struct plan_key_ref *refs[] = {&p->access_key, &p->secret_key, &p->session_token};
	static const char *const names[] = {"aws.accessKeyId", "aws.secretKey", "aws.sessionToken"};
	char **outs[] = {&k->access_key, &k->secret_key, &k->session_token};
	struct secrets_source src = {.store = ctl->store,
				     .box = ctl->secret_box,
				     .lock = &ctl->lock,
				     .kc = ctl->kube_secrets};
	for (size_t i = 0; i < 3; i++) {
		if (!refs[i]->secret[0])
			continue;
		char msg[1024];
		long r = secrets_value(&src, p->source_ns, refs[i]->secret, refs[i]->key, outs[i],
				       msg, sizeof(msg));
		if (r < 0) {
			snprintf(err, errlen, "encryptOptions %s: %s", names[i], msg);
			keys_clear(k);
			return (int)r;
		}
	}
	return 0;
}

/* A source Dataset: open its cache on the node (once, see struct source_slot), then read its
 * usage. */
static void reconcile_source(struct controller *ctl, struct objmodel_list *l, struct objmodel *ds,
			     int64_t now)
{
	struct dataset_status *st = &ds->dataset.status;
	struct mount_plan plan;
	char err[4096];
	/* plan as if not Failed: a source that failed is tried again, the node may accept it now */
	enum dataset_phase saved = st->phase;
	st->phase = DATASET_PHASE_NOT_BOUND;
	int r = mount_plan_make(l, ds->meta.namespace, ds->meta.name, ctl->cfg.deny_by_default,
				&plan, err, sizeof(err));
	st->phase = saved;
	struct objmodel *rt =
	    objmodel_list_find(l, OBJMODEL_RUNTIME, ds->meta.namespace, ds->meta.name);
	if (r == -ENOENT && !rt) {
		st->phase = DATASET_PHASE_NOT_BOUND;
		st->cache_known = false;
		cond_set(&st->conditions, "Ready", "False", "NoRuntime", err, now);
		return;
	}
	if (r < 0) {
		dataset_status_fail(st, "InvalidDataset", err, now);
		return;
	}
	pthread_mutex_lock(&ctl->lock);
	r = ufs_policy_check(ctl->policy, ds->meta.namespace, plan.ufs_url, err, sizeof(err));
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0) {
		redact_text(err, sizeof(err));
		if (st->phase != DATASET_PHASE_FAILED)
			log_warn("dataset %s/%s: %s", ds->meta.namespace, ds->meta.name, err);
		dataset_status_fail(st, "UFSRootDenied", err, now);
		st->cache_known = st->ufs_total_known = st->hit_ratio_known = false;
		st->file_num_known = false;
		return;
	}
	/* in a cluster the nodes open sources themselves and say so in their Leases */
	if (ctl->kube) {
		source_from_nodes(ctl, ds, rt, plan.source_id, now);
		return;
	}
	struct source_keys keys = {0};
	r = read_keys(ctl, &plan, &keys, err, sizeof(err));
	if (r < 0) {
		if (st->phase != DATASET_PHASE_FAILED)
			log_warn("dataset %s/%s: %s", ds->meta.namespace, ds->meta.name, err);
		dataset_status_fail(st, "SecretUnavailable", err, now);
		st->cache_known = st->ufs_total_known = st->hit_ratio_known = false;
		st->file_num_known = false;
		return;
	}
	struct source_slot *slot = source_slot_get(ctl, plan.source_id);
	if (!slot) {
		keys_clear(&keys);
		return;
	}
	/* a rotated Secret reopens the source: the keys count in what was asked */
	uint64_t sig = mount_plan_sig(&plan);
	char *const kv[] = {keys.access_key, keys.secret_key, keys.session_token};
	for (size_t i = 0; i < 3; i++)
		if (kv[i])
			sig = mount_plan_sig_add(sig, kv[i], strlen(kv[i]) + 1);
	bool need_open = !(slot->ok && slot->sig == sig), have_usage = false;
	Weir__Usage u;
	if (!need_open) {
		int64_t pid = 0;
		r = usage_call(ctl, plan.source_id, "", &u, &pid, err, sizeof(err));
		if (r == -EHOSTDOWN) {
			keys_clear(&keys);
			node_unavailable(ds, err, now);
			return;
		}
		if (r < 0 || pid != slot->node_pid)
			need_open = true; /* the node restarted or forgot the source */
		else
			have_usage = true;
	}
	if (need_open) {
		double mono = mono_now();
		if (!slot->ok && slot->sig == sig && mono < slot->retry_at) {
			keys_clear(&keys);
			return; /* failed a moment ago: the status says why; retry later */
		}
		Weir__TierSpec tiers[MOUNT_PLAN_MAX_TIERS], *tierp[MOUNT_PLAN_MAX_TIERS];
		fill_tiers(&plan, tiers, tierp);
		Weir__SourceRequest s = WEIR__SOURCE_REQUEST__INIT;
		s.source_id = plan.source_id;
		s.ufs_url = plan.ufs_url;
		s.tiers = tierp;
		s.n_tiers = plan.n_tiers;
		s.high = plan.high;
		s.cache_replicas = plan.cache_replicas;
		s.low = plan.low;
		Weir__S3Keys sk = WEIR__S3_KEYS__INIT;
		if (keys.access_key) {
			sk.access_key_id = keys.access_key;
			sk.secret_access_key = keys.secret_key;
			sk.session_token = keys.session_token ? keys.session_token : "";
			s.s3_keys = &sk;
		}
		Weir__Request req = WEIR__REQUEST__INIT;
		req.body_case = WEIR__REQUEST__BODY_SOURCE;
		req.source = &s;
		Weir__Response *resp;
		r = node_call(ctl, &req, &resp, err, sizeof(err));
		keys_clear(&keys);
		if (r == -EHOSTDOWN) {
			node_unavailable(ds, err, now);
			return;
		}
		slot->sig = sig;
		if (r < 0) {
			char msg[8400];
			snprintf(msg, sizeof(msg), "weir-node cannot open \"%s\": %s", plan.ufs_url,
				 err);
			redact_text(msg, sizeof(msg)); /* status is shown by get -o yaml */
			slot->ok = false;
			slot->backoff = slot->backoff > 0 ? slot->backoff * 2 : 2;
			if (slot->backoff > 60)
				slot->backoff = 60;
			slot->retry_at = mono + slot->backoff;
			if (st->phase != DATASET_PHASE_FAILED)
				log_warn("dataset %s/%s: %s; retrying with a backoff up to %.0f s",
					 ds->meta.namespace, ds->meta.name, msg, 60.0);
			dataset_status_fail(st, "SourceFailed", msg, now);
			return;
		}
		slot->ok = true;
		slot->node_pid = resp->pid;
		slot->backoff = 0;
		weir__response__free_unpacked(resp, NULL);
	}
	keys_clear(&keys);
	st->phase = DATASET_PHASE_BOUND;
	char msg[600];
	snprintf(msg, sizeof(msg), "served by runtime %s/%s", ds->meta.namespace, ds->meta.name);
	cond_set(&st->conditions, "Ready", "True", "Bound", msg, now);
	st->cache_known = true;
	st->cache_capacity = rt ? runtime_capacity(&rt->runtime) : 0;
	if (!have_usage) {
		r = usage_call(ctl, plan.source_id, "", &u, NULL, err, sizeof(err));
		if (r < 0)
			log_debug("dataset %s/%s: usage: %s", ds->meta.namespace, ds->meta.name,
				  err);
		have_usage = r == 0;
	}
	if (have_usage) {
		if (u.complete) {
			st->ufs_total_known = true;
			st->ufs_total = u.ufs_total;
			st->file_num_known = true;
			st->file_num = u.file_num;
		}
		st->cached = u.cached;
		if (u.hits + u.misses > 0) {
			st->hit_ratio_known = true;
			st->cache_hit_ratio = (double)u.hits / (double)(u.hits + u.misses);
		}
	}
	if (rt) {
		rt->runtime.status.phase = RUNTIME_PHASE_READY;
		rt->runtime.status.cache_capacity = runtime_capacity(&rt->runtime);
		rt->runtime.status.cached = st->cached;
	}
}

static void reconcile_ref(struct controller *ctl, struct objmodel_list *l, struct objmodel *ds,
			  int64_t now)
{
	struct dataset_status *st = &ds->dataset.status;
	struct grant_result gr;
	if (reconcile_reference(ds, l, ctl->cfg.deny_by_default, &gr, now) < 0) {
		/* a failed reference shows nothing of its source */
		st->ufs_total_known = st->cache_known = st->hit_ratio_known = false;
		st->file_num_known = false;
		st->ufs_total = st->cached = st->cache_capacity = st->file_num = 0;
		st->cache_hit_ratio = 0;
		return;
	}
	const struct objmodel *src = gr.source;
	struct subtree_totals sub = {0};
	bool have_sub = false;
	if (gr.ref.subpath[0] && src->dataset.status.phase == DATASET_PHASE_BOUND && !ctl->kube) {
		char sid[320], err[4096];
		Weir__Usage u;
		mount_plan_source_id(src->meta.namespace, src->meta.name, sid, sizeof(sid));
		if (usage_call(ctl, sid, gr.ref.subpath, &u, NULL, err, sizeof(err)) == 0) {
			sub.ufs_total_known = u.complete;
			sub.ufs_total = u.ufs_total;
			sub.cached = u.cached;
			sub.file_num_known = u.complete;
			sub.file_num = u.file_num;
		}
		have_sub = true;
	} else if (gr.ref.subpath[0]) {
		have_sub = true;
	}
	dataset_status_mirror(st, &src->dataset.status, have_sub ? &sub : NULL);
	char msg[4800];
	snprintf(msg, sizeof(msg), "reads the cache of dataset %s/%s%s (%s)", src->meta.namespace,
		 src->meta.name, gr.ref.subpath, gr.rw ? "read-write" : "read-only");
	if (st->phase == DATASET_PHASE_BOUND)
		cond_set(&st->conditions, "Ready", "True", "Bound", msg, now);
	else
		cond_set(&st->conditions, "Ready", "False", "SourceNotBound", msg, now);
}

static struct load_slot *load_slot_find(struct controller *ctl, const char *key)
{
	for (size_t i = 0; i < ctl->n_loads; i++)
		if (!strcmp(ctl->loads[i].key, key))
			return &ctl->loads[i];
	return NULL;
}

static struct load_slot *load_slot_add(struct controller *ctl, const char *key)
{
	struct load_slot *s = load_slot_find(ctl, key);
	if (s)
		return s;
	s = realloc(ctl->loads, (ctl->n_loads + 1) * sizeof(*s));
	if (!s)
		return NULL;
	ctl->loads = s;
	s = &ctl->loads[ctl->n_loads++];
	memset(s, 0, sizeof(*s));
	snprintf(s->key, sizeof(s->key), "%s", key);
	return s;
}

static void dataload_fail(struct objmodel *dl, const char *reason, const char *msg, int64_t now)
{
	dl->dataload.status.phase = DATALOAD_PHASE_FAILED;
	dl->dataload.status.completion_time = now;
	/* a failed run counts as a run for a Cron schedule */
	if (!dl->dataload.status.start_time)
		dl->dataload.status.start_time = now;
	dl->dataload.status.duration = now - dl->dataload.status.start_time;
	cond_set(&dl->dataload.status.conditions, "Failed", "True", reason, msg, now);
}

/* Starts the load of dl on the node. */
static int dataload_start(struct controller *ctl, struct objmodel_list *l, struct objmodel *dl,
			  struct load_slot *slot, int64_t now)
{
	struct mount_plan plan;
	char err[4096];
	const char *dns = dl->dataload.spec.dataset_namespace,
		   *dname = dl->dataload.spec.dataset_name;
	int r = mount_plan_make(l, dns, dname, ctl->cfg.deny_by_default, &plan, err, sizeof(err));
	if (r < 0) {
		dataload_fail(dl, "DatasetNotReady", err, now);
		return r;
	}
	size_t nt = dl->dataload.spec.n_targets;
	char **paths = calloc(nt ? nt : 1, sizeof(*paths));
	if (!paths)
		return -ENOMEM;
	size_t np = 0;
	for (size_t i = 0; i < (nt ? nt : 1) && r >= 0; i++) {
		char p[4096];
		r = mount_plan_join_path(plan.subpath, nt ? dl->dataload.spec.targets[i].path : "/",
					 p, sizeof(p));
		if (r < 0) {
			snprintf(err, sizeof(err), "target path \"%s\" is not a valid path",
				 dl->dataload.spec.targets[i].path);
			dataload_fail(dl, "BadTarget", err, now);
			break;
		}
		if (!(paths[np] = strdup(p)))
			r = -ENOMEM;
		else
			np++;
	}
	Weir__Response *resp = NULL;
	if (r >= 0) {
		Weir__LoadRequest lr = WEIR__LOAD_REQUEST__INIT;
		lr.source_id = plan.source_id;
		lr.paths = paths;
		lr.n_paths = np;
		Weir__Request req = WEIR__REQUEST__INIT;
		req.body_case = WEIR__REQUEST__BODY_LOAD;
		req.load = &lr;
		r = node_call(ctl, &req, &resp, err, sizeof(err));
		if (r == -EHOSTDOWN) {
			if (cond_set(&dl->dataload.status.conditions, "Waiting", "True",
				     "NodeUnavailable", err, now))
				log_warn("dataload %s/%s: %s", dl->meta.namespace, dl->meta.name,
					 err);
		} else if (r < 0) {
			char msg[8400];
			snprintf(msg, sizeof(msg), "weir-node refused the load: %s", err);
			dataload_fail(dl, "LoadFailed", msg, now);
		} else {
			slot->load_id = resp->load_id;
			slot->node_pid = resp->pid;
			dl->dataload.status.phase = DATALOAD_PHASE_EXECUTING;
			if (!dl->dataload.status.start_time)
				dl->dataload.status.start_time = now;
			cond_del(&dl->dataload.status.conditions, "Waiting");
			log_info("dataload %s/%s: load %llu started on weir-node",
				 dl->meta.namespace, dl->meta.name,
				 (unsigned long long)resp->load_id);
			weir__response__free_unpacked(resp, NULL);
		}
	}
	for (size_t i = 0; i < np; i++)
		free(paths[i]);
	free(paths);
	return r;
}

/* Whether a Pending DataLoad's run may start. Each node hashes its share over the nodes it sees
 * caching the source (their Leases), so a run started while the nodes were still opening the
 * source (a Dataset is Bound with the first node's report) had them hash over different sets: a
 * node that saw two fetched blocks that one that saw three fetched too (nginx sent 1.29-1.36x
 * the tree, tests/k8s/members.sh). So a run starts once every weir-node that serves blocks (a
 * fresh Lease with a peer URL; the SETTLE_MAX_NODES smallest names) is among the nodes that
 * report the source open, or DATALOAD_SETTLE_S after it began to wait (the Waiting condition
 * NodesStarting's transition, kept in the status, so a new leader goes on counting): a node
 * that cannot open the source holds no run up for longer. */
#define SETTLE_MAX_NODES 256
static bool dataload_nodes_settled(struct controller *ctl, const struct objmodel_list *l,
				   struct objmodel *dl, int64_t now)
{
	struct dataload *d = &dl->dataload;
	struct mount_plan *plan = calloc(1, sizeof(*plan));
	char(*nodes)[254] = calloc(SETTLE_MAX_NODES, sizeof(*nodes));
	struct store_kube_peer *peers = calloc(SETTLE_MAX_NODES, sizeof(*peers));
	char err[4096];
	bool settled = true; /* what it cannot tell does not hold the run up */
	if (!plan || !nodes || !peers)
		goto out;
	if (mount_plan_make(l, d->spec.dataset_namespace, d->spec.dataset_name,
			    ctl->cfg.deny_by_default, plan, err, sizeof(err)) < 0)
		goto out; /* the Executing run fails it with the reason */
	pthread_mutex_lock(&ctl->lock);
	size_t nn = store_kube_source_nodes(ctl->store, plan->source_id, now, nodes,
					    SETTLE_MAX_NODES, NULL, 0);
	size_t np = store_kube_peers(ctl->store, now, peers, SETTLE_MAX_NODES);
	pthread_mutex_unlock(&ctl->lock);
	if (np > SETTLE_MAX_NODES)
		np = SETTLE_MAX_NODES;
	/* both sorted by name: which peers report no open source yet */
	size_t missing = 0, k = 0;
	const char *first_missing = NULL;
	for (size_t i = 0; i < np; i++) {
		while (k < nn && strcmp(nodes[k], peers[i].node) < 0)
			k++;
		if (k < nn && !strcmp(nodes[k], peers[i].node))
			continue;
		if (!missing++)
			first_missing = peers[i].node;
	}
	if (!missing)
		goto out;
	const struct condition *w = NULL;
	for (size_t i = 0; i < d->status.conditions.n; i++)
		if (!strcmp(d->status.conditions.items[i].type, "Waiting"))
			w = &d->status.conditions.items[i];
	int64_t since =
	    w && w->reason && !strcmp(w->reason, "NodesStarting") ? w->last_transition_time : 0;
	if (since && now >= since + DATALOAD_SETTLE_S) {
		log_warn("dataload %s/%s: starting without %zu weir-node(s) that still do not "
			 "report the source open after %d s (%s first)",
			 dl->meta.namespace, dl->meta.name, missing, DATALOAD_SETTLE_S,
			 first_missing);
		goto out;
	}
	settled = false;
	snprintf(err, sizeof(err),
		 "%zu of %zu weir-nodes report dataset %s/%s open (%s does not yet); the load "
		 "starts when all do, or after %d s",
		 np - missing, np, d->spec.dataset_namespace, d->spec.dataset_name, first_missing,
		 DATALOAD_SETTLE_S);
	if (!since)
		cond_del(&d->status.conditions, "Waiting"); /* the wait's start is its transition */
	if (cond_set(&d->status.conditions, "Waiting", "True", "NodesStarting", err, now))
		log_info("dataload %s/%s: %s", dl->meta.namespace, dl->meta.name, err);
out:
	free(plan);
	free(nodes);
	free(peers);
	return settled;
}

/* A DataLoad in a cluster: Executing (with its run's startTime) once its Dataset is Bound; the
 * nodes caching the source each load their share and report it in their Lease; the shares add up
 * here (lib/load_share.h). Whoever leads reads the same Leases, so a new leader just goes on. */
static void dataload_from_shares(struct controller *ctl, struct objmodel_list *l,
				 struct objmodel *dl, int64_t now)
{
	struct dataload *d = &dl->dataload;
	char err[4096], run[48];
	if (d->status.phase == DATALOAD_PHASE_PENDING) {
		if (!dataload_nodes_settled(ctl, l, dl, now))
			return;
		d->status.phase = DATALOAD_PHASE_EXECUTING;
		d->status.start_time = now;
		cond_del(&d->status.conditions, "Waiting");
		log_info("dataload %s/%s: Executing; the nodes caching %s/%s load their shares",
			 dl->meta.namespace, dl->meta.name, d->spec.dataset_namespace,
			 d->spec.dataset_name);
		return;
	}
	struct mount_plan *plan = calloc(1, sizeof(*plan));
	char(*nodes)[254] = calloc(LOAD_SHARE_MAX_NODES, sizeof(*nodes));
	struct load_share *shares = calloc(LOAD_SHARE_MAX_NODES, sizeof(*shares));
	if (!plan || !nodes || !shares || !dl->meta.uid)
		goto out;
	if (mount_plan_make(l, d->spec.dataset_namespace, d->spec.dataset_name,
			    ctl->cfg.deny_by_default, plan, err, sizeof(err)) < 0) {
		dataload_fail(dl, "DatasetNotReady", err, now);
		goto out;
	}
	objmodel_format_time(d->status.start_time, run, sizeof(run));
	pthread_mutex_lock(&ctl->lock);
	size_t nn = store_kube_source_nodes(ctl->store, plan->source_id, now, nodes,
					    LOAD_SHARE_MAX_NODES, NULL, 0);
	size_t ns =
	    store_kube_load_shares(ctl->store, dl->meta.uid, now, shares, LOAD_SHARE_MAX_NODES);
	pthread_mutex_unlock(&ctl->lock);
	struct load_share_total t;
	load_share_total(run, (const char(*)[254])nodes, nn, shares, ns, &t);
	if (nn == 0) {
		cond_set(&d->status.conditions, "Waiting", "True", "NoNode",
			 "no weir-node caching the dataset reports in; its shares wait for one",
			 now);
		goto out;
	}
	cond_del(&d->status.conditions, "Waiting");
	d->status.bytes_done = t.bytes_done;
	d->status.bytes_total = t.bytes_total;
	d->status.files_done = t.files_done;
	d->status.files_total = t.files_total;
	if (t.state == LOAD_SHARE_FAILED) {
		dataload_fail(dl, "LoadFailed", t.error, now);
		log_warn("dataload %s/%s: Failed: %s", dl->meta.namespace, dl->meta.name, t.error);
	} else if (t.state == LOAD_SHARE_COMPLETE) {
		d->status.phase = DATALOAD_PHASE_COMPLETE;
		d->status.completion_time = now;
		d->status.duration = now - d->status.start_time;
		snprintf(err, sizeof(err), "loaded %llu files on %zu node(s)",
			 (unsigned long long)t.files_done, nn);
		cond_set(&d->status.conditions, "Complete", "True", "DataLoadComplete", err, now);
		log_info("dataload %s/%s: Complete in %llds: %s", dl->meta.namespace, dl->meta.name,
			 (long long)d->status.duration, err);
	}
out:
	free(plan);
	free(nodes);
	free(shares);
}

/* A Cron DataLoad: is a run due or under way? Starts a new run (back to Pending, progress
 * cleared) when the schedule's next time after the last run has come. */
static bool dataload_cron_due(struct objmodel *dl, int64_t now)
{
	struct dataload *d = &dl->dataload;
	char err[1024], ts[40];
	struct cron c;
	if (d->status.phase == DATALOAD_PHASE_EXECUTING)
		return true;
	if (cron_parse(d->spec.schedule ? d->spec.schedule : "", &c, err, sizeof(err)) < 0) {
		if (d->status.phase != DATALOAD_PHASE_FAILED)
			dataload_fail(dl, "BadSchedule", err, now);
		return false;
	}
	bool ran =
	    d->status.phase == DATALOAD_PHASE_COMPLETE || d->status.phase == DATALOAD_PHASE_FAILED;
	int64_t last =
	    ran && d->status.start_time ? d->status.start_time : dl->meta.creation_timestamp;
	int64_t next = cron_next(&c, last);
	if (next < 0) {
		snprintf(err, sizeof(err), "schedule \"%s\" never matches", d->spec.schedule);
		if (d->status.phase != DATALOAD_PHASE_FAILED)
			dataload_fail(dl, "BadSchedule", err, now);
		return false;
	}
	if (now < next) {
		if (d->status.phase == DATALOAD_PHASE_NONE)
			d->status.phase = DATALOAD_PHASE_PENDING;
		snprintf(err, sizeof(err), "schedule \"%s\": next run at %s", d->spec.schedule,
			 objmodel_format_time(next, ts, sizeof(ts)));
		cond_set(&d->status.conditions, "Scheduled", "True", "CronScheduled", err, now);
		return false;
	}
	if (ran) {
		d->status.phase = DATALOAD_PHASE_PENDING;
		d->status.start_time = 0;
		d->status.completion_time = 0;
		d->status.duration = 0;
		d->status.bytes_done = d->status.bytes_total = 0;
		d->status.files_done = d->status.files_total = 0;
		cond_del(&d->status.conditions, "Complete");
		cond_del(&d->status.conditions, "Failed");
		log_info("dataload %s/%s: scheduled run (\"%s\")", dl->meta.namespace,
			 dl->meta.name, d->spec.schedule);
	}
	cond_del(&d->status.conditions, "Scheduled");
	return true;
}

static void reconcile_dataload(struct controller *ctl, struct objmodel_list *l, struct objmodel *dl,
			       int64_t now)
{
	struct dataload *d = &dl->dataload;
	char key[400], err[1024], ts[40];
	snprintf(key, sizeof(key), "%s/%s@%s", dl->meta.namespace, dl->meta.name,
		 objmodel_format_time(dl->meta.creation_timestamp, ts, sizeof(ts)));
	if (d->spec.policy == DATALOAD_CRON) {
		if (!dataload_cron_due(dl, now))
			return;
	} else if (d->status.phase == DATALOAD_PHASE_COMPLETE ||
		   d->status.phase == DATALOAD_PHASE_FAILED) {
		return;
	}
	if (d->status.phase == DATALOAD_PHASE_NONE)
		d->status.phase = DATALOAD_PHASE_PENDING;
	const struct objmodel *ds = objmodel_list_find(
	    l, OBJMODEL_DATASET, d->spec.dataset_namespace, d->spec.dataset_name);
	if (d->status.phase == DATALOAD_PHASE_PENDING) {
		if (!ds) {
			snprintf(err, sizeof(err), "waiting for dataset %s/%s to exist",
				 d->spec.dataset_namespace, d->spec.dataset_name);
			cond_set(&d->status.conditions, "Waiting", "True", "DatasetNotFound", err,
				 now);
			return;
		}
		if (ds->dataset.status.phase == DATASET_PHASE_FAILED) {
			snprintf(err, sizeof(err), "dataset %s/%s is Failed",
				 d->spec.dataset_namespace, d->spec.dataset_name);
			dataload_fail(dl, "DatasetFailed", err, now);
			return;
		}
		if (ds->dataset.status.phase != DATASET_PHASE_BOUND) {
			snprintf(err, sizeof(err), "waiting for dataset %s/%s to be Bound",
				 d->spec.dataset_namespace, d->spec.dataset_name);
			cond_set(&d->status.conditions, "Waiting", "True", "DatasetNotBound", err,
				 now);
			return;
		}
	}
	if (ctl->kube) {
		dataload_from_shares(ctl, l, dl, now);
		return;
	}
	struct load_slot *slot = load_slot_add(ctl, key);
	if (!slot)
		return;
	if (!slot->load_id) {
		dataload_start(ctl, l, dl, slot, now);
		return;
	}
	Weir__LoadStatusRequest ls = WEIR__LOAD_STATUS_REQUEST__INIT;
	ls.load_id = slot->load_id;
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_LOAD_STATUS;
	req.load_status = &ls;
	Weir__Response *resp;
	int r = node_call(ctl, &req, &resp, err, sizeof(err));
	if (r == -EHOSTDOWN)
		return;
	if (r < 0 || !resp->load || (slot->node_pid && resp->pid && resp->pid != slot->node_pid)) {
		/* The node forgot the load (it restarted): start it again; cached blocks stay. */
		log_info("dataload %s/%s: weir-node lost load %llu (%s); starting it again",
			 dl->meta.namespace, dl->meta.name, (unsigned long long)slot->load_id,
			 r < 0 ? err : "node restarted");
		if (r >= 0)
			weir__response__free_unpacked(resp, NULL);
		slot->load_id = 0;
		dataload_start(ctl, l, dl, slot, now);
		return;
	}
	const Weir__LoadProgress *p = resp->load;
	d->status.bytes_done = p->bytes_done;
	d->status.bytes_total = p->bytes_total;
	d->status.files_done = p->files_done;
	d->status.files_total = p->files_total;
	if (p->started_ms)
		d->status.start_time = (int64_t)(p->started_ms / 1000);
	/* a load the node runs is Executing, whatever an older status said */
	if (!p->finished)
		d->status.phase = DATALOAD_PHASE_EXECUTING;
	if (p->finished) {
		int64_t dur_ms =
		    p->finished_ms > p->started_ms ? (int64_t)(p->finished_ms - p->started_ms) : 0;
		d->status.duration = (dur_ms + 500) / 1000;
		d->status.completion_time = p->finished_ms ? (int64_t)(p->finished_ms / 1000) : now;
		if (p->error) {
			d->status.phase = DATALOAD_PHASE_FAILED;
			snprintf(err, sizeof(err), "%s",
				 p->message && *p->message ? p->message : strerror(-p->error));
			cond_set(&d->status.conditions, "Failed", "True", "LoadFailed", err, now);
		} else {
			d->status.phase = DATALOAD_PHASE_COMPLETE;
			snprintf(err, sizeof(err), "loaded %llu files",
				 (unsigned long long)p->files_done);
			cond_set(&d->status.conditions, "Complete", "True", "DataLoadComplete", err,
				 now);
		}
		log_info("dataload %s/%s: %s in %llds", dl->meta.namespace, dl->meta.name,
			 dataload_phase_name(d->status.phase), (long long)d->status.duration);
		slot->key[0] = '\0';
	}
	weir__response__free_unpacked(resp, NULL);
}

static json_object *status_of(const struct objmodel *o)
{
	json_object *j = NULL, *st = NULL;
	if (objmodel_to_json(o, &j) < 0)
		return NULL;
	if (json_object_object_get_ex(j, "status", &st))
		json_object_get(st);
	json_object_put(j);
	return st;
}

/* Writes back the status of every object whose status changed; specs stay as stored. */
static int write_back(struct controller *ctl, struct objmodel_list *l, json_object **before)
{
	int r = 0, writes = 0;
	pthread_mutex_lock(&ctl->lock);
	bool txn = false;
	for (size_t i = 0; i < l->n; i++) {
		struct objmodel *o = l->items[i];
		json_object *after = status_of(o);
		if ((!after && !before[i]) ||
		    (after && before[i] && json_object_equal(after, before[i]))) {
			json_object_put(after);
			continue;
		}
		const char *kind = objmodel_kind_name(o->kind);
		const char *ns = o->kind == OBJMODEL_NAMESPACE ? "" : o->meta.namespace;
		char *cur = NULL;
		if (store_get(ctl->store, kind, ns, o->meta.name, &cur) < 0) {
			json_object_put(after);
			continue; /* deleted meanwhile */
		}
		json_object *tree = json_tokener_parse(cur);
		free(cur);
		if (!tree) {
			json_object_put(after);
			continue;
		}
		json_object_object_del(tree, "status");
		if (after)
			json_object_object_add(tree, "status", after);
		if (!txn) {
			r = store_begin(ctl->store);
			if (r < 0) {
				json_object_put(tree);
				break;
			}
			txn = true;
		}
		r = store_put(ctl->store, kind, ns, o->meta.name,
			      json_object_to_json_string_ext(tree, JSON_C_TO_STRING_PLAIN), 0);
		json_object_put(tree);
		if (r == -ENOENT) {
			r = 0; /* deleted since it was read (store_kube): nothing to write */
			continue;
		}
		if (r < 0)
			break;
		writes++;
	}
	if (txn) {
		if (r < 0)
			store_rollback(ctl->store);
		else
			r = store_commit(ctl->store);
	}
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0)
		log_err("cannot write status back to the store: %s", strerror(-r));
	else if (writes)
		log_debug("reconcile: %d status updates", writes);
	return r;
}

/* Re-reads ufs-roots when the config file changed (checked every pass, so a change takes effect
 * within one resync interval). A bad new value is logged and the old policy kept. */
static void policy_refresh(struct controller *ctl)
{
	char path[8300], err[1024];
	struct stat st;
	struct timespec m = {0, 0};
	if (stat(config_file_path(&ctl->cfg, path, sizeof(path)), &st) == 0)
		m = st.st_mtim;
	if (m.tv_sec == ctl->conf_mtime.tv_sec && m.tv_nsec == ctl->conf_mtime.tv_nsec)
		return;
	ctl->conf_mtime = m;
	char *spec = malloc(sizeof(ctl->cfg.ufs_roots));
	struct ufs_policy *p = NULL;
	if (!spec)
		return;
	int r = config_reread(&ctl->cfg, "ufs-roots", spec, sizeof(ctl->cfg.ufs_roots), err,
			      sizeof(err));
	if (r == 0 && strcmp(spec, ctl->cfg.ufs_roots) != 0)
		r = ufs_policy_parse(spec, &p, err, sizeof(err));
	else if (r == 0)
		r = 1; /* unchanged */
	if (r < 0)
		log_err("%s: %s; keeping ufs-roots = \"%s\"", path, err, ctl->cfg.ufs_roots);
	if (r != 0) {
		free(spec);
		return;
	}
	pthread_mutex_lock(&ctl->lock);
	struct ufs_policy *old = ctl->policy;
	ctl->policy = p;
	snprintf(ctl->cfg.ufs_roots, sizeof(ctl->cfg.ufs_roots), "%s", spec);
	pthread_mutex_unlock(&ctl->lock);
	ufs_policy_free(old);
	log_notice("ufs-roots is now \"%s\"", spec);
	free(spec);
}

/* Is the view of dataset ns/name still allowed? -EACCES (with why) when its reference grant or
 * its source's UFS root was withdrawn; 0 otherwise, also when the Dataset is gone or cannot be
 * planned for another reason (that is not a withdrawal). */
static int view_allowed(struct controller *ctl, const struct objmodel_list *l, const char *ns,
			const char *name, char *why, size_t whylen)
{
	struct objmodel *ds = objmodel_list_find(l, OBJMODEL_DATASET, ns, name);
	struct mount_plan *plan = calloc(1, sizeof(*plan));
	if (!ds || !plan) {
		free(plan);
		return 0;
	}
	/* plan as if not Failed: a source Failed for its UFS root is what we look for */
	enum dataset_phase saved = ds->dataset.status.phase;
	ds->dataset.status.phase = DATASET_PHASE_NOT_BOUND;
	int r = mount_plan_make(l, ns, name, ctl->cfg.deny_by_default, plan, why, whylen);
	ds->dataset.status.phase = saved;
	if (r == 0) {
		pthread_mutex_lock(&ctl->lock);
		r = ufs_policy_check(ctl->policy, plan->source_ns, plan->ufs_url, why, whylen);
		pthread_mutex_unlock(&ctl->lock);
	}
	free(plan);
	return r == -EACCES ? r : 0;
}

/* Views (weir mount -n NS DATASET) whose grant or UFS root was withdrawn are unmounted at once
 * (--force: their readers get errors), so a withdrawal takes effect within one pass. */
static void enforce_views(struct controller *ctl, const struct objmodel_list *l)
{
	Weir__StatRequest s = WEIR__STAT_REQUEST__INIT;
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_STAT;
	req.stat = &s;
	Weir__Response *resp = NULL;
	char err[4096];
	if (node_call(ctl, &req, &resp, err, sizeof(err)) < 0)
		return; /* no node: no views to cut */
	for (size_t i = 0; i < resp->n_views; i++) {
		const Weir__ViewStat *v = resp->views[i];
		if (!v->namespace_ || !*v->namespace_ || !v->dataset || !*v->dataset)
			continue;
		if (view_allowed(ctl, l, v->namespace_, v->dataset, err, sizeof(err)) == 0)
			continue;
		Weir__UmountRequest u = WEIR__UMOUNT_REQUEST__INIT;
		u.mountpoint = v->mountpoint;
		u.force = true;
		Weir__Request ureq = WEIR__REQUEST__INIT;
		ureq.body_case = WEIR__REQUEST__BODY_UMOUNT;
		ureq.umount = &u;
		Weir__Response *uresp = NULL;
		char uerr[1024];
		if (node_call(ctl, &ureq, &uresp, uerr, sizeof(uerr)) < 0) {
			log_warn(
			    "cannot unmount \"%s\" (dataset %s/%s), whose access was withdrawn: "
			    "%s",
			    v->mountpoint, v->namespace_, v->dataset, uerr);
			continue;
		}
		weir__response__free_unpacked(uresp, NULL);
		log_notice("unmounted \"%s\" (dataset %s/%s): %s", v->mountpoint, v->namespace_,
			   v->dataset, err);
	}
	weir__response__free_unpacked(resp, NULL);
}

int reconciler_pass(struct controller *ctl)
{
	policy_refresh(ctl);
	struct objmodel_list *l = NULL;
	char err[4096];
	pthread_mutex_lock(&ctl->lock);
	int r = store_load_models(ctl->store, NULL, &l, err, sizeof(err));
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0) {
		log_err("reconcile: %s", err);
		return r;
	}
	int64_t now = time(NULL);
	json_object **before = calloc(l->n ? l->n : 1, sizeof(*before));
	if (!before) {
		objmodel_list_free(l);
		return -ENOMEM;
	}
	for (size_t i = 0; i < l->n; i++)
		before[i] = status_of(l->items[i]);
	for (size_t i = 0; i < l->n; i++)
		if (l->items[i]->kind == OBJMODEL_DATASET && !dataset_is_reference(l->items[i]))
			reconcile_source(ctl, l, l->items[i], now);
	for (size_t i = 0; i < l->n; i++)
		if (l->items[i]->kind == OBJMODEL_DATASET && dataset_is_reference(l->items[i]))
			reconcile_ref(ctl, l, l->items[i], now);
	reconcile_dataset_refs(l, ctl->cfg.deny_by_default);
	if (!ctl->kube) /* in a cluster, every plan request is checked on its node */
		enforce_views(ctl, l);
	for (size_t i = 0; i < l->n; i++)
		if (l->items[i]->kind == OBJMODEL_DATALOAD)
			reconcile_dataload(ctl, l, l->items[i], now);
	/* the nodes that may read each source's blocks from their peers: after the loads, so a
	 * load that starts this pass grants its nodes in the same status write */
	if (ctl->kube)
		kube_sync_view_nodes(ctl, l, now);
	for (size_t i = 0; i < l->n; i++) {
		struct objmodel *o = l->items[i];
		if (o->kind != OBJMODEL_RUNTIME)
			continue;
		const struct objmodel *ds =
		    objmodel_list_find(l, OBJMODEL_DATASET, o->meta.namespace, o->meta.name);
		char why[512];
		int b = runtime_bind_check(o, ds, why, sizeof(why));
		enum runtime_phase want =
		    b == -EINVAL ? RUNTIME_PHASE_FAILED : RUNTIME_PHASE_NOT_READY;
		if (b < 0 && o->runtime.status.phase != want) {
			if (b == -EINVAL)
				log_warn("runtime %s/%s: %s", o->meta.namespace, o->meta.name, why);
			o->runtime.status.phase = want;
			o->runtime.status.cached = 0;
		} else if (b == 0 && o->runtime.status.phase == RUNTIME_PHASE_NONE) {
			o->runtime.status.phase = RUNTIME_PHASE_NOT_READY;
		}
	}
	/* forget finished loads */
	size_t k = 0;
	for (size_t i = 0; i < ctl->n_loads; i++)
		if (ctl->loads[i].key[0])
			ctl->loads[k++] = ctl->loads[i];
	ctl->n_loads = k;
	r = write_back(ctl, l, before);
	if (ctl->kube) {
		kube_sync_pass(ctl, l);
		kube_sync_traffic(ctl, now);
	}
	for (size_t i = 0; i < l->n; i++)
		json_object_put(before[i]);
	free(before);
	objmodel_list_free(l);
	return r;
}

static void *reconciler_main(void *arg)
{
	struct controller *ctl = arg;
	unsigned seen = (unsigned)-1;
	pthread_mutex_lock(&ctl->lock);
	while (!ctl->stopping) {
		seen = ctl->changes;
		pthread_mutex_unlock(&ctl->lock);
		reconciler_pass(ctl);
		pthread_mutex_lock(&ctl->lock);
		if (ctl->stopping || ctl->changes != seen)
			continue;
		struct timespec ts = deadline_in(ctl->cfg.resync_interval);
		while (!ctl->stopping && ctl->changes == seen) {
			if (cond_wait_until(&ctl->wake, &ctl->lock, &ts) == ETIMEDOUT)
				break;
		}
	}
	pthread_mutex_unlock(&ctl->lock);
	return NULL;
}

int reconciler_start(struct controller *ctl)
{
	int r = pthread_create(&ctl->reconciler, NULL, reconciler_main, ctl);
	return -r;
}

void reconciler_stop(struct controller *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	ctl->stopping = true;
	pthread_cond_signal(&ctl->wake);
	pthread_mutex_unlock(&ctl->lock);
	pthread_join(ctl->reconciler, NULL);
}
