// SPDX-License-Identifier: Apache-2.0
// The node agent: one thread that, on every change the watches see (and every second), brings
// this weir-node's sources and DataLoad shares in line with the cluster. Its requests go to the
// node's own control socket with the agent's lock released; the lock guards only the slots the
// reporter reads and the store calls.
#include "node_agent.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <limits.h>
#include <time.h>

#include "control.h"
#include "kube_client.h"
#include "kube_secret.h"
#include "kubeconfig.h"
#include "load_share.h"
#include "member_sync.h"
#include "log.h"
#include "redact.h"
#include "store_kube.h"
#include "tier_roots.h"
#include "timed_wait.h"
#include "ufs_policy.h"
#include "view_grants.h"

/* A source this agent asked its node to open. */
struct src_slot {
	LIST_ENTRY(src_slot) link;
	char id[320];
	uint64_t sig;		 /* hash of what was asked: URL, tiers, watermarks */
	bool ok;		 /* the node opened it */
	bool seen;		 /* in the current pass: its Dataset still wants a cache */
	double retry_at;	 /* CLOCK_MONOTONIC seconds, after a failure */
	double backoff;		 /* 2, 4, .. 60 s */
	char error[900];	 /* why the node could not open it ("" when ok) */
	struct mount_plan *plan; /* what was asked, for the close (tiers) */
	/* agent thread only: the resourceVersions of the Secrets its keys come from, as one
	 * number, and when to ask the apiserver again */
	uint64_t secrets_sig;
	double secrets_at;
};

/* How often the Secrets an s3:// source's keys come from are asked for their resourceVersion:
 * a rotated Secret reaches the node's open source within this (no watch on Secrets: a node
 * reads only the few its sources name). */
#define AGENT_SECRET_RECHECK_S 5.0

/* This node's share of one DataLoad run. */
struct load_slot {
	LIST_ENTRY(load_slot) link;
	char uid[128];
	uint64_t load_id; /* on this weir-node; 0 = not started */
	bool seen;
	struct load_share share; /* what the Lease reports */
};

struct node_agent {
	struct node_agent_config cfg; /* strings copied below */
	char node_name[254];
	char ns[64];
	char node_socket[4200];
	char s3_node_keys[1024];
	struct ufs_policy *ufs_roots;  /* NULL: any UFS; immutable, read by any thread */
	struct tier_roots *tier_roots; /* NULL: any tier path and quota; immutable */
	struct kubeconfig kc;
	struct store *store;
	struct member_sync *members; /* NULL unless cfg.cluster takes its members from Leases */
	struct member_sync_kube members_src; /* its source: the store and the key */
	char pins_path[PATH_MAX];	     /* members_src.pins_path's */
	pthread_t thread;
	atomic_bool stop;
	/* Guards the slot lists (the agent thread writes them, the reporter reads them), store
	 * calls, and changed. Never held across a control call, a sleep or a join. */
	pthread_mutex_t lock;
	pthread_cond_t wake; /* changed set, or stop */
	bool changed;
	LIST_HEAD(, src_slot) sources;
	LIST_HEAD(, load_slot) loads;
};

/* Is ns listed in list ("a,b", "*" for any)? */
static bool ns_listed(const char *list, const char *ns)
{
	size_t n = strlen(ns);
	for (const char *c = list; *c;) {
		c += strspn(c, ", ");
		size_t l = strcspn(c, ", ");
		if ((l == 1 && *c == '*') || (l == n && l && !strncmp(c, ns, n)))
			return true;
		c += l;
	}
	return false;
}

/* weir-node's own S3 keys (its environment, its AWS profile) are the administrator's, and in a
 * cluster any namespace can write a Dataset: a source with no keys of its own (a Secret, or
 * KEY:SECRET@ in its URL) is read anonymously unless s3-node-keys lists its namespace, so a
 * tenant cannot read what only the node's keys open. Returns 1 when it made p anonymous, 0 when
 * p stays as it was, or -ENAMETOOLONG. */
static int plan_node_keys(const struct node_agent *a, struct mount_plan *p)
{
	if (strncmp(p->ufs_url, "s3://", 5) != 0 || p->credentials ||
	    ns_listed(a->cfg.s3_node_keys, p->source_ns))
		return 0;
	/* curl's parser, as the S3 client's: the query goes where that reads it (a '#' in the
	 * mountPoint must not carry it into a fragment) */
	CURLU *h = curl_url();
	char *user = NULL, *out = NULL;
	int r = -ENOMEM;
	if (!h)
		return r;
	if (curl_url_set(h, CURLUPART_URL, p->ufs_url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
		r = -EINVAL;
		goto out;
	}
	if (curl_url_get(h, CURLUPART_USER, &user, 0) == CURLUE_OK && user && *user) {
		r = 0; /* the URL's own keys */
		goto out;
	}
	if (curl_url_set(h, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
	    curl_url_set(h, CURLUPART_QUERY, "anonymous=true", CURLU_APPENDQUERY) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_URL, &out, 0) != CURLUE_OK)
		goto out;
	r = strlen(out) < sizeof(p->ufs_url) ? 1 : -ENAMETOOLONG;
	if (r == 1)
		snprintf(p->ufs_url, sizeof(p->ufs_url), "%s", out);
out:
	curl_free(user);
	curl_free(out);
	curl_url_cleanup(h);
	return r;
}

/* The administrator's policies over what a plan makes this root process do: open the UFS
 * (ufs-roots, the same check as weir-controller's, which in a cluster only writes a verdict the
 * node would see too late) and create and fill its tiers (tier-roots). Returns 0, or -EACCES
 * with the reason for the user in err. No lock, no I/O but lstat of tier paths. */
static int plan_allowed(const struct node_agent *a, const struct mount_plan *p, char *err,
			size_t errlen)
{
	int r = ufs_policy_check(a->ufs_roots, p->source_ns, p->ufs_url, err, errlen);
	for (size_t i = 0; i < p->n_tiers && r == 0; i++)
		r = tier_roots_check(a->tier_roots, p->tiers[i].path, p->tiers[i].quota, err,
				     errlen);
	return r;
}

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_change(void *arg)
{
	struct node_agent *a = arg;
	pthread_mutex_lock(&a->lock);
	a->changed = true;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
}

/* Calls this weir-node (lib/control.h). */
static int node_call(struct node_agent *a, const Weir__Request *req, Weir__Response **ret,
		     char *err, size_t errlen)
{
	return control_call_checked(a->node_socket, "weir-node", req, 60000, ret, err, errlen);
}

/* The Secrets plan's keys come from, as one number that changes when any of them changes (its
 * resourceVersion) or cannot be read; 0 when plan names none. Asked of the apiserver at most
 * every AGENT_SECRET_RECHECK_S seconds per source. A round trip: called with no lock held. */
static uint64_t secrets_sig(struct node_agent *a, struct src_slot *s, const struct mount_plan *p,
			    double now)
{
	const struct plan_key_ref *refs[] = {&p->access_key, &p->secret_key, &p->session_token};
	if (!refs[0]->secret[0] && !refs[1]->secret[0] && !refs[2]->secret[0])
		return 0;
	if (now < s->secrets_at)
		return s->secrets_sig;
	struct kube_client *kc = NULL;
	uint64_t h = MOUNT_PLAN_SIG_SEED;
	int r = kube_client_new(&a->kc, &kc);
	for (size_t i = 0; i < 3 && r == 0; i++) {
		bool dup = false;
		for (size_t j = 0; j < i; j++)
			dup |= !strcmp(refs[i]->secret, refs[j]->secret);
		if (!refs[i]->secret[0] || dup)
			continue;
		char rv[128], msg[600];
		int v = kube_secret_version(kc, p->source_ns, refs[i]->secret, rv, sizeof(rv), msg,
					    sizeof(msg));
		h = mount_plan_sig_add(h, refs[i]->secret, strlen(refs[i]->secret) + 1);
		if (v < 0) {
			/* unreadable: a number of its own, so the next open says why */
			log_debug("source %s: %s", s->id, msg);
			h = mount_plan_sig_add(h, &v, sizeof(v));
		} else {
			h = mount_plan_sig_add(h, rv, strlen(rv) + 1);
		}
	}
	kube_client_free(kc);
	if (r < 0)
		return s->secrets_sig; /* the apiserver cannot be asked: nothing learnt */
	s->secrets_sig = h;
	s->secrets_at = now + AGENT_SECRET_RECHECK_S;
	return h;
}

/* Reads the keys plan names (access key, secret key, session token) from the apiserver into
 * ret[0..2] (NULL where none is named). Returns 0, or -errno with err naming the option, Secret
 * and key, never a value. A round trip: called with no lock held. */
static int read_keys(struct node_agent *a, const struct mount_plan *p, char *ret[3], char *err,
		     size_t errlen)
{
	const struct plan_key_ref *refs[] = {&p->access_key, &p->secret_key, &p->session_token};
	static const char *const names[] = {"aws.accessKeyId", "aws.secretKey", "aws.sessionToken"};
	if (!refs[0]->secret[0] && !refs[1]->secret[0] && !refs[2]->secret[0])
		return 0;
	struct kube_client *kc = NULL;
	int r = kube_client_new(&a->kc, &kc);
	if (r < 0) {
		snprintf(err, errlen, "cannot reach the apiserver to read the source's Secrets: %s",
			 strerror(-r));
		return r;
	}
	for (size_t i = 0; i < 3 && r == 0; i++) {
		if (!refs[i]->secret[0])
			continue;
		char msg[1024];
		long v = kube_secret_value(kc, p->source_ns, refs[i]->secret, refs[i]->key, &ret[i],
					   msg, sizeof(msg));
		if (v < 0) {
			snprintf(err, errlen, "encryptOptions %s: %s", names[i], msg);
			r = (int)v;
		} else if (v == 0 && i < 2) {
			/* an empty key would leave the S3 client to weir-node's own keys */
			snprintf(err, errlen,
				 "encryptOptions %s: key \"%s\" of secret \"%s\" in namespace "
				 "\"%s\" is empty",
				 names[i], refs[i]->key, refs[i]->secret, p->source_ns);
			r = -EINVAL;
		}
	}
	kube_client_free(kc);
	return r;
}

/* Asks the node to open (close false) or to close and purge (close true) the source of plan. */
static int source_call(struct node_agent *a, const struct mount_plan *p, bool close, char *err,
		       size_t errlen)
{
	Weir__TierSpec tiers[MOUNT_PLAN_MAX_TIERS], *tierp[MOUNT_PLAN_MAX_TIERS];
	for (size_t i = 0; i < p->n_tiers; i++) {
		weir__tier_spec__init(&tiers[i]);
		tiers[i].medium = (char *)p->tiers[i].medium;
		tiers[i].path = (char *)p->tiers[i].path;
		tiers[i].quota = p->tiers[i].quota;
		tierp[i] = &tiers[i];
	}
	Weir__SourceRequest s = WEIR__SOURCE_REQUEST__INIT;
	s.source_id = (char *)p->source_id;
	s.ufs_url = (char *)p->ufs_url;
	s.tiers = tierp;
	s.n_tiers = p->n_tiers;
	s.high = p->high;
	s.cache_replicas = p->cache_replicas;
	s.low = p->low;
	s.close = s.purge = close;
	/* An s3:// source's keys from the Secrets its encryptOptions name, in the source's
	 * namespace: read here, when the source opens, and passed over the node's own socket only;
	 * never kept, logged or reported. */
	char *keys[3] = {NULL, NULL, NULL};
	Weir__S3Keys sk = WEIR__S3_KEYS__INIT;
	int r = close ? 0 : read_keys(a, p, keys, err, errlen);
	if (r == 0 && keys[0]) {
		sk.access_key_id = keys[0];
		sk.secret_access_key = keys[1];
		sk.session_token = keys[2] ? keys[2] : "";
		s.s3_keys = &sk;
	}
	if (r == 0) {
		Weir__Request req = WEIR__REQUEST__INIT;
		req.body_case = WEIR__REQUEST__BODY_SOURCE;
		req.source = &s;
		Weir__Response *resp = NULL;
		r = node_call(a, &req, &resp, err, errlen);
		if (r >= 0)
			weir__response__free_unpacked(resp, NULL);
	}
	for (size_t i = 0; i < 3; i++)
		if (keys[i]) {
			explicit_bzero(keys[i], strlen(keys[i]));
			free(keys[i]);
		}
	return r;
}

static struct src_slot *src_slot_find(struct node_agent *a, const char *id)
{
	struct src_slot *s;
	LIST_FOREACH(s, &a->sources, link)
	if (!strcmp(s->id, id))
		return s;
	return NULL;
}

static struct src_slot *src_slot_get(struct node_agent *a, const char *id)
{
	struct src_slot *s = src_slot_find(a, id);
	if (s)
		return s;
	if (!(s = calloc(1, sizeof(*s))) || !(s->plan = calloc(1, sizeof(*s->plan)))) {
		free(s);
		return NULL;
	}
	snprintf(s->id, sizeof(s->id), "%s", id);
	pthread_mutex_lock(&a->lock);
	LIST_INSERT_HEAD(&a->sources, s, link);
	pthread_mutex_unlock(&a->lock);
	return s;
}

/* Does a Dataset in l reference ds (dataset://<its ns>/<its name>...)? */
static bool referenced(const struct objmodel_list *l, const struct objmodel *ds)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct objmodel *o = l->items[i];
		struct dataset_ref ref;
		if (o->kind != OBJMODEL_DATASET || !dataset_is_reference(o) ||
		    dataset_ref_parse(o->dataset.spec.mounts[0].mount_point, &ref, NULL, 0) < 0)
			continue;
		if (!strcmp(ref.namespace, ds->meta.namespace) && !strcmp(ref.name, ds->meta.name))
			return true;
	}
	return false;
}

static const char *ready_reason(const struct objmodel *ds)
{
	const struct conditions *c = &ds->dataset.status.conditions;
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->items[i].type, "Ready") && c->items[i].reason)
			return c->items[i].reason;
	return "";
}

/* The administrator's policy refuses s's plan (why): nothing is opened, and what an earlier
 * plan of the Dataset opened is closed and purged (its mountPoint or Runtime changed to what
 * the policy refuses); the reason goes to the node's Lease, hence the Dataset's status. */
static void source_refused(struct node_agent *a, struct src_slot *s, const char *ns,
			   const char *name, const char *why)
{
	char err[1024];
	if (s->sig) {
		snprintf(s->plan->source_id, sizeof(s->plan->source_id), "%s", s->id);
		if (source_call(a, s->plan, true, err, sizeof(err)) < 0) {
			log_warn("dataset %s/%s: closing its source, now refused: %s", ns, name,
				 err);
			return; /* tried again next pass */
		}
		log_info("dataset %s/%s: source %s closed and purged: its plan is now refused", ns,
			 name, s->id);
	}
	pthread_mutex_lock(&a->lock);
	bool same = !strncmp(s->error, why, sizeof(s->error) - 1);
	s->sig = 0; /* nothing open */
	s->ok = false;
	snprintf(s->error, sizeof(s->error), "%.899s", why);
	redact_text(s->error, sizeof(s->error)); /* the Lease is readable: no passwords */
	pthread_mutex_unlock(&a->lock);
	if (!same)
		log_warn("dataset %s/%s: not opened on this node: %s", ns, name, s->error);
}

/* One source Dataset: open its cache here unless it is being deleted (then it is left unseen,
 * and closed and purged after the pass). */
static void sync_source(struct node_agent *a, const struct objmodel_list *l, struct objmodel *ds)
{
	const char *ns = ds->meta.namespace, *name = ds->meta.name;
	const struct objmodel *rt = objmodel_list_find(l, OBJMODEL_RUNTIME, ns, name);
	pthread_mutex_lock(&a->lock);
	bool ds_del = store_kube_deleting(a->store, "Dataset", ns, name, NULL);
	bool rt_del = rt && store_kube_deleting(a->store, "Runtime", ns, name, NULL);
	pthread_mutex_unlock(&a->lock);
	/* the Dataset or its Runtime goes: so does the cache (a referenced Dataset stays: the
	 * controller refuses its delete) */
	if (!rt || rt_del || (ds_del && !referenced(l, ds)))
		return;
	char id[320], err[4096];
	mount_plan_source_id(ns, name, id, sizeof(id));
	struct src_slot *s = src_slot_get(a, id);
	if (!s)
		return;
	s->seen = true;
	struct mount_plan *p = calloc(1, sizeof(*p));
	if (!p)
		return;
	enum dataset_phase saved = ds->dataset.status.phase;
	ds->dataset.status.phase = DATASET_PHASE_NOT_BOUND;
	int r = mount_plan_make(l, ns, name, a->cfg.deny_by_default, p, err, sizeof(err));
	ds->dataset.status.phase = saved;
	/* this node's own policy first: a Dataset the controller failed for the same reason
	 * before this node's pass saw it is still refused here, in its log and its Lease */
	if (r == 0 && plan_allowed(a, p, err, sizeof(err)) < 0) {
		source_refused(a, s, ns, name, err);
		free(p);
		return;
	}
	/* Failed for a reason of the controller's (a UFS root denied, an invalid spec): not
	 * opened; Failed because nodes could not open it: tried again */
	if (ds->dataset.status.phase == DATASET_PHASE_FAILED &&
	    strcmp(ready_reason(ds), "SourceFailed")) {
		free(p);
		return;
	}
	int anon = r == 0 ? plan_node_keys(a, p) : 0;
	if (anon < 0)
		r = anon;
	double now = mono_now();
	uint64_t sig = 0;
	if (r == 0) {
		/* a rotated Secret (a new resourceVersion) asks again: the node signs with the
		 * new keys from then on, its views reading on */
		uint64_t ss = secrets_sig(a, s, p, now);
		sig = mount_plan_sig(p);
		if (ss)
			sig = mount_plan_sig_add(sig, &ss, sizeof(ss));
	}
	if (r < 0 || (s->sig == sig && (s->ok || now < s->retry_at))) {
		free(p);
		return;
	}
	r = source_call(a, p, false, err, sizeof(err));
	pthread_mutex_lock(&a->lock);
	s->sig = sig;
	s->ok = r >= 0;
	*s->plan = *p;
	bool logged = false; /* this refusal was said already */
	if (r >= 0) {
		s->error[0] = '\0';
		s->backoff = 0;
	} else if (r == -EDQUOT) {
		/* the tier-roots budget (node's tier_budget): a refusal like plan_allowed's,
		 * logged when it changes; tried again, it opens once other tiers close */
		char was[sizeof(s->error)];
		snprintf(was, sizeof(was), "%s", s->error);
		snprintf(s->error, sizeof(s->error), "%.899s", err);
		redact_text(s->error, sizeof(s->error));
		logged = !strcmp(was, s->error);
		s->backoff = s->backoff > 0 ? (s->backoff < 5 ? s->backoff * 2 : 10) : 2;
		s->retry_at = now + s->backoff;
	} else {
		snprintf(s->error, sizeof(s->error), "cannot open \"%.180s\": %.400s%s%.63s%s",
			 p->ufs_url, err,
			 anon > 0 ? " (read anonymously: the Dataset has no keys of its own, "
				    "encryptOptions, and weir-node's s3-node-keys does not list "
				    "namespace \""
				  : "",
			 anon > 0 ? p->source_ns : "", anon > 0 ? "\")" : "");
		redact_text(s->error, sizeof(s->error)); /* the Lease is readable: no passwords */
		s->backoff = s->backoff > 0 ? (s->backoff < 30 ? s->backoff * 2 : 60) : 2;
		s->retry_at = now + s->backoff;
	}
	pthread_mutex_unlock(&a->lock);
	if (r >= 0)
		log_info("dataset %s/%s: source %s open on this node", ns, name, id);
	else if (r == -EDQUOT && !logged)
		log_warn("dataset %s/%s: not opened on this node: %s", ns, name, s->error);
	else if (r != -EDQUOT)
		log_warn("dataset %s/%s: %s; retrying in %.0f s", ns, name, s->error, s->backoff);
	free(p);
}

/* Sources whose Dataset or Runtime went: closed and their cache purged, so the node's Lease stops
 * reporting them and the controller's finalizer may let the object go. */
static void close_unseen(struct node_agent *a)
{
	struct src_slot *s = LIST_FIRST(&a->sources), *next;
	for (; s; s = next) {
		next = LIST_NEXT(s, link);
		if (s->seen)
			continue;
		char err[1024];
		if (!s->sig) {
			/* never asked for: nothing to close */
			pthread_mutex_lock(&a->lock);
			LIST_REMOVE(s, link);
			pthread_mutex_unlock(&a->lock);
			free(s->plan);
			free(s);
			continue;
		}
		snprintf(s->plan->source_id, sizeof(s->plan->source_id), "%s", s->id);
		int r = source_call(a, s->plan, true, err, sizeof(err));
		if (r < 0) {
			log_warn("closing source %s (its Dataset or Runtime was deleted): %s",
				 s->id, err);
			continue; /* tried again next pass */
		}
		log_info("source %s closed and purged: its Dataset or Runtime was deleted", s->id);
		pthread_mutex_lock(&a->lock);
		LIST_REMOVE(s, link);
		pthread_mutex_unlock(&a->lock);
		free(s->plan);
		free(s);
	}
}

static struct load_slot *load_slot_find(struct node_agent *a, const char *uid)
{
	struct load_slot *s;
	LIST_FOREACH(s, &a->loads, link)
	if (!strcmp(s->uid, uid))
		return s;
	return NULL;
}

static struct load_slot *load_slot_get(struct node_agent *a, const char *uid)
{
	struct load_slot *s = load_slot_find(a, uid);
	if (s)
		return s;
	if (!(s = calloc(1, sizeof(*s))))
		return NULL;
	snprintf(s->uid, sizeof(s->uid), "%s", uid);
	pthread_mutex_lock(&a->lock);
	LIST_INSERT_HEAD(&a->loads, s, link);
	pthread_mutex_unlock(&a->lock);
	return s;
}

static void share_cancel(struct node_agent *a, uint64_t id)
{
	Weir__LoadStatusRequest ls = WEIR__LOAD_STATUS_REQUEST__INIT;
	ls.load_id = id;
	ls.cancel = true;
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_LOAD_STATUS;
	req.load_status = &ls;
	Weir__Response *resp = NULL;
	char err[512];
	if (node_call(a, &req, &resp, err, sizeof(err)) >= 0)
		weir__response__free_unpacked(resp, NULL);
}

/* Starts this node's share of dl over nodes (sorted). */
static int share_start(struct node_agent *a, const struct objmodel *dl, const struct mount_plan *p,
		       struct load_slot *s, const struct load_share *want, char *err, size_t errlen)
{
	const struct dataload *d = &dl->dataload;
	size_t nt = d->spec.n_targets ? d->spec.n_targets : 1;
	char **paths = calloc(nt, sizeof(char *));
	char *nodes[LOAD_SHARE_MAX_NODES];
	int r = paths ? 0 : -ENOMEM;
	for (size_t i = 0; i < nt && r >= 0; i++) {
		char buf[4096];
		const char *t = d->spec.n_targets ? d->spec.targets[i].path : "/";
		r = mount_plan_join_path(p->subpath, t, buf, sizeof(buf));
		if (r < 0)
			snprintf(err, errlen, "target path \"%s\" is not a valid path", t);
		else if (!(paths[i] = strdup(buf)))
			r = -ENOMEM;
	}
	for (size_t i = 0; i < want->n_nodes; i++)
		nodes[i] = (char *)want->nodes[i];
	Weir__Response *resp = NULL;
	if (r >= 0) {
		Weir__LoadRequest lr = WEIR__LOAD_REQUEST__INIT;
		lr.source_id = (char *)p->source_id;
		lr.paths = paths;
		lr.n_paths = nt;
		lr.share_nodes = nodes;
		lr.n_share_nodes = want->n_nodes;
		lr.share_self = a->node_name;
		Weir__Request req = WEIR__REQUEST__INIT;
		req.body_case = WEIR__REQUEST__BODY_LOAD;
		req.load = &lr;
		r = node_call(a, &req, &resp, err, errlen);
	}
	for (size_t i = 0; paths && i < nt; i++)
		free(paths[i]);
	free(paths);
	if (r < 0)
		return r;
	pthread_mutex_lock(&a->lock);
	s->load_id = resp->load_id;
	s->share = *want;
	pthread_mutex_unlock(&a->lock);
	weir__response__free_unpacked(resp, NULL);
	log_info("dataload %s/%s: load %llu runs this node's share among %zu node(s)",
		 dl->meta.namespace, dl->meta.name, (unsigned long long)s->load_id, want->n_nodes);
	return 0;
}

/* Reads the progress of s's load into its share. */
static void share_poll(struct node_agent *a, struct load_slot *s)
{
	Weir__LoadStatusRequest ls = WEIR__LOAD_STATUS_REQUEST__INIT;
	ls.load_id = s->load_id;
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_LOAD_STATUS;
	req.load_status = &ls;
	Weir__Response *resp = NULL;
	char err[1024];
	int r = node_call(a, &req, &resp, err, sizeof(err));
	pthread_mutex_lock(&a->lock);
	if (r < 0 || !resp->load) {
		s->load_id = 0; /* forgotten: started again next pass */
	} else {
		const Weir__LoadProgress *lp = resp->load;
		s->share.bytes_done = lp->bytes_done;
		s->share.bytes_total = lp->bytes_total;
		s->share.files_done = lp->files_done;
		s->share.files_total = lp->files_total;
		s->share.ufs_bytes = lp->ufs_bytes;
		s->share.finished = lp->finished;
		snprintf(s->share.plan, sizeof(s->share.plan), "%s", lp->plan ? lp->plan : "");
		if (lp->error)
			snprintf(s->share.error, sizeof(s->share.error), "%s",
				 lp->message && *lp->message ? lp->message : strerror(-lp->error));
	}
	pthread_mutex_unlock(&a->lock);
	if (resp)
		weir__response__free_unpacked(resp, NULL);
}

/* One Executing DataLoad: run this node's share over the nodes caching its source now; a new
 * set (a node came or went) cancels the old share and starts the new one. */
static void sync_load(struct node_agent *a, const struct objmodel_list *l,
		      const struct objmodel *dl, int64_t now)
{
	const struct dataload *d = &dl->dataload;
	if (!dl->meta.uid)
		return;
	if (d->status.phase != DATALOAD_PHASE_EXECUTING) {
		/* Complete or Failed: a finished share stays in the Lease while its DataLoad
		 * exists, so what each node did can still be read; one still running is
		 * cancelled (another node's share failed the load) */
		struct load_slot *done = load_slot_find(a, dl->meta.uid);
		if (done && done->share.finished)
			done->seen = true;
		return;
	}
	struct mount_plan *p = calloc(1, sizeof(*p));
	struct load_share *want = calloc(1, sizeof(*want));
	char err[4096];
	if (!p || !want ||
	    mount_plan_make(l, d->spec.dataset_namespace, d->spec.dataset_name,
			    a->cfg.deny_by_default, p, err, sizeof(err)) < 0)
		goto out;
	struct src_slot *src = src_slot_find(a, p->source_id);
	if (!src || !src->ok)
		goto out; /* not cached here: no share */
	struct load_slot *s = load_slot_get(a, dl->meta.uid);
	if (!s)
		goto out;
	s->seen = true;
	snprintf(want->node, sizeof(want->node), "%s", a->node_name);
	objmodel_format_time(d->status.start_time, want->run, sizeof(want->run));
	pthread_mutex_lock(&a->lock);
	want->n_nodes = store_kube_source_nodes(a->store, p->source_id, now, want->nodes,
						LOAD_SHARE_MAX_NODES, NULL, 0);
	pthread_mutex_unlock(&a->lock);
	bool listed = false;
	for (size_t i = 0; i < want->n_nodes; i++)
		listed |= !strcmp(want->nodes[i], a->node_name);
	if (!listed && want->n_nodes == LOAD_SHARE_MAX_NODES)
		goto out; /* spread over the first LOAD_SHARE_MAX_NODES names: not this one */
	/* this node caches it, whether or not its Lease says so yet */
	if (!listed)
		snprintf(want->nodes[want->n_nodes++], sizeof(want->nodes[0]), "%s", a->node_name);
	want->n_nodes = load_share_sort_nodes(want->nodes, want->n_nodes);
	bool same = s->load_id && !strcmp(s->share.run, want->run) &&
		    s->share.n_nodes == want->n_nodes &&
		    !memcmp(s->share.nodes, want->nodes, want->n_nodes * sizeof(want->nodes[0]));
	if (same) {
		if (!s->share.finished)
			share_poll(a, s);
		goto out;
	}
	if (s->load_id) {
		log_info("dataload %s/%s: the nodes caching it changed (%zu now); redoing this "
			 "node's share",
			 dl->meta.namespace, dl->meta.name, want->n_nodes);
		share_cancel(a, s->load_id);
		pthread_mutex_lock(&a->lock);
		s->load_id = 0;
		pthread_mutex_unlock(&a->lock);
	}
	if (share_start(a, dl, p, s, want, err, sizeof(err)) < 0) {
		/* reported as a failed share: the controller fails the DataLoad with it */
		pthread_mutex_lock(&a->lock);
		s->share = *want;
		s->share.finished = true;
		snprintf(s->share.error, sizeof(s->share.error), "%.500s", err);
		pthread_mutex_unlock(&a->lock);
		log_warn("dataload %s/%s: %s", dl->meta.namespace, dl->meta.name, err);
	}
out:
	free(p);
	free(want);
}

/* Hands each source Dataset's status.viewNodes to the peer server (view_grants.h). */
static void grants_update(struct node_agent *a, const struct objmodel_list *l)
{
	struct view_grant *g = calloc(l->n ? l->n : 1, sizeof(*g));
	char(*ids)[320] = calloc(l->n ? l->n : 1, sizeof(*ids));
	size_t n = 0;
	if (g && ids)
		for (size_t i = 0; i < l->n; i++) {
			const struct objmodel *ds = l->items[i];
			if (ds->kind != OBJMODEL_DATASET || dataset_is_reference(ds))
				continue;
			mount_plan_source_id(ds->meta.namespace, ds->meta.name, ids[n],
					     sizeof(ids[n]));
			g[n] = (struct view_grant){
			    ids[n], (const char *const *)ds->dataset.status.view_nodes,
			    ds->dataset.status.n_view_nodes};
			n++;
		}
	if (!g || !ids || view_grants_replace(a->cfg.grants, g, n) < 0)
		log_warn("node agent: out of memory: the view grants were not updated");
	free(g);
	free(ids);
}

static void pass(struct node_agent *a)
{
	struct objmodel_list *l = NULL;
	char err[1024];
	pthread_mutex_lock(&a->lock);
	int r = store_load_models(a->store, NULL, &l, err, sizeof(err));
	pthread_mutex_unlock(&a->lock);
	if (r < 0) {
		log_warn("node agent: %s", err);
		return;
	}
	int64_t now = time(NULL);
	struct src_slot *s;
	struct load_slot *ls, *next;
	if (a->cfg.grants)
		grants_update(a, l);
	LIST_FOREACH(s, &a->sources, link)
	s->seen = false;
	for (size_t i = 0; i < l->n && !atomic_load(&a->stop); i++)
		if (l->items[i]->kind == OBJMODEL_DATASET && !dataset_is_reference(l->items[i]))
			sync_source(a, l, l->items[i]);
	if (!atomic_load(&a->stop))
		close_unseen(a);
	LIST_FOREACH(ls, &a->loads, link)
	ls->seen = false;
	for (size_t i = 0; i < l->n && !atomic_load(&a->stop); i++)
		if (l->items[i]->kind == OBJMODEL_DATALOAD)
			sync_load(a, l, l->items[i], now);
	/* DataLoads deleted, or ended while this share ran: forgotten */
	for (ls = LIST_FIRST(&a->loads); ls && !atomic_load(&a->stop); ls = next) {
		next = LIST_NEXT(ls, link);
		if (ls->seen)
			continue;
		if (ls->load_id && !ls->share.finished)
			share_cancel(a, ls->load_id);
		pthread_mutex_lock(&a->lock);
		LIST_REMOVE(ls, link);
		pthread_mutex_unlock(&a->lock);
		free(ls);
	}
	objmodel_list_free(l);
}

static void *agent_main(void *arg)
{
	struct node_agent *a = arg;
	while (!atomic_load(&a->stop)) {
		pass(a);
		struct timespec ts = deadline_in(1);
		pthread_mutex_lock(&a->lock);
		while (!a->changed && !atomic_load(&a->stop))
			if (cond_wait_until(&a->wake, &a->lock, &ts) == ETIMEDOUT)
				break;
		a->changed = false;
		pthread_mutex_unlock(&a->lock);
	}
	return NULL;
}

int node_agent_start(const struct node_agent_config *cfg, struct node_agent **ret, char *errbuf,
		     size_t errlen)
{
	struct node_agent *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->cfg = *cfg;
	snprintf(a->node_name, sizeof(a->node_name), "%s", cfg->node_name);
	snprintf(a->node_socket, sizeof(a->node_socket), "%s", cfg->node_socket);
	a->cfg.node_name = a->node_name;
	a->cfg.node_socket = a->node_socket;
	snprintf(a->s3_node_keys, sizeof(a->s3_node_keys), "%s",
		 cfg->s3_node_keys ? cfg->s3_node_keys : "");
	a->cfg.s3_node_keys = a->s3_node_keys;
	a->cfg.kubeconfig = NULL;
	a->cfg.ufs_roots = a->cfg.tier_roots = NULL;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->wake, NULL);
	LIST_INIT(&a->sources);
	LIST_INIT(&a->loads);
	int r = ufs_policy_parse(cfg->ufs_roots, &a->ufs_roots, errbuf, errlen);
	if (r == 0)
		r = tier_roots_parse(cfg->tier_roots, &a->tier_roots, errbuf, errlen);
	if (r < 0)
		goto fail;
	if (a->ufs_roots)
		log_info("node agent: ufs-roots = \"%s\"", cfg->ufs_roots);
	if (a->tier_roots)
		log_info("node agent: tier-roots = \"%s\"", cfg->tier_roots);
	r = cfg->kubeconfig && *cfg->kubeconfig
		    ? kubeconfig_load(cfg->kubeconfig, &a->kc, errbuf, errlen)
		    : kubeconfig_in_cluster(NULL, &a->kc, errbuf, errlen);
	if (r < 0)
		goto fail;
	snprintf(a->ns, sizeof(a->ns), "%s", cfg->ns && *cfg->ns ? cfg->ns : a->kc.namespace);
	a->cfg.ns = a->ns;
	/* read only: the writer stays inactive, nothing of ours reaches the apiserver this way */
	bool members = cfg->cluster && cluster_is_dynamic(cfg->cluster);
	r = store_kube_open(&a->kc, a->ns, members && cfg->member_pods ? STORE_KUBE_NODE_PODS : 0,
			    on_change, a, &a->store, errbuf, errlen);
	if (r == -EPERM && members && cfg->member_pods) {
		/* no right to watch the pods (a Role of an older chart, a weir-node outside the
		 * chart's pods): the views still serve, alone; no Lease is a member (none can be
		 * attested) until it restarts with the right, or with member-pods = 0 */
		log_err(
		    "cluster: cannot watch the weir-node pods of namespace \"%s\" (%s): no "
		    "Lease is a member, this node reads its UFS alone; give weir-node list and "
		    "watch on pods there (the chart's node role has them), or member-pods = 0 for "
		    "a weir-node run outside the chart's pods",
		    a->ns, errbuf);
		r = store_kube_open(&a->kc, a->ns, 0, on_change, a, &a->store, errbuf, errlen);
	}
	if (r < 0)
		goto fail;
	if (members) {
		/* a is zeroed (calloc): so are the source's pins */
		a->members_src.st = a->store;
		a->members_src.key = cfg->peer_key;
		a->members_src.attest = cfg->member_pods;
		if (cfg->member_pods && cfg->state_dir &&
		    snprintf(a->pins_path, sizeof(a->pins_path), "%s/member-pins", cfg->state_dir) <
			(int)sizeof(a->pins_path)) {
			a->members_src.pins_path = a->pins_path;
			r = member_sync_kube_load(&a->members_src, (int64_t)time(NULL));
			if (r < 0)
				log_warn(
				    "cluster: the pinned member identities in %s are not read: "
				    "%s (the first Lease seen of each node pins it again)",
				    a->pins_path, strerror(-r));
			else if (r > 0)
				log_info("cluster: %d pinned member identities read from %s", r,
					 a->pins_path);
		}
		r = member_sync_start(member_sync_kube_fetch, &a->members_src, cfg->cluster, 0,
				      &a->members);
		if (r < 0) {
			snprintf(errbuf, errlen, "cannot follow the cluster's members: %s",
				 strerror(-r));
			goto fail;
		}
	}
	r = -pthread_create(&a->thread, NULL, agent_main, a);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot start the node agent: %s", strerror(-r));
		goto fail;
	}
	log_info("node agent: node \"%s\" takes its work from %s (Leases in \"%s\")", a->node_name,
		 a->kc.server, a->ns);
	*ret = a;
	return 0;
fail:
	member_sync_stop(a->members);
	store_close(a->store);
	kubeconfig_clear(&a->kc);
	ufs_policy_free(a->ufs_roots);
	tier_roots_free(a->tier_roots);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->wake);
	free(a);
	return r;
}

void node_agent_stop(struct node_agent *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	atomic_store(&a->stop, true);
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	member_sync_stop(a->members);
	store_close(a->store);
	struct src_slot *s;
	while ((s = LIST_FIRST(&a->sources))) {
		LIST_REMOVE(s, link);
		free(s->plan);
		free(s);
	}
	struct load_slot *ls;
	while ((ls = LIST_FIRST(&a->loads))) {
		LIST_REMOVE(ls, link);
		free(ls);
	}
	kubeconfig_clear(&a->kc);
	ufs_policy_free(a->ufs_roots);
	tier_roots_free(a->tier_roots);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->wake);
	free(a);
}

int node_agent_report(struct node_agent *a, json_object *sources, json_object **ret_loads)
{
	json_object *loads = json_object_new_object();
	if (!loads)
		return -ENOMEM;
	pthread_mutex_lock(&a->lock);
	struct src_slot *s;
	LIST_FOREACH(s, &a->sources, link)
	{
		if (s->ok || !s->error[0] || json_object_object_get_ex(sources, s->id, NULL))
			continue;
		json_object *e = json_object_new_object();
		json_object_object_add(e, "error", json_object_new_string(s->error));
		json_object_object_add(sources, s->id, e);
	}
	struct load_slot *ls;
	LIST_FOREACH(ls, &a->loads, link)
	{
		if (!ls->share.run[0])
			continue;
		json_object *o = load_share_to_json(&ls->share);
		if (o)
			json_object_object_add(loads, ls->uid, o);
	}
	pthread_mutex_unlock(&a->lock);
	*ret_loads = loads;
	return 0;
}

unsigned node_agent_traffic(struct node_agent *a, struct store_kube_traffic *ret)
{
	return store_kube_cluster_traffic(a->store, (int64_t)time(NULL), ret);
}

int node_agent_plan(struct node_agent *a, const char *ns, const char *name, struct mount_plan *ret,
		    char *errbuf, size_t errlen)
{
	struct objmodel_list *l = NULL;
	pthread_mutex_lock(&a->lock);
	int r = store_load_models(a->store, NULL, &l, errbuf, errlen);
	pthread_mutex_unlock(&a->lock);
	if (r < 0)
		return r;
	r = mount_plan_make(l, ns, name, a->cfg.deny_by_default, ret, errbuf, errlen);
	if (r == 0)
		r = plan_allowed(a, ret, errbuf, errlen);
	int k = r == 0 ? plan_node_keys(a, ret) : 0;
	if (k < 0) {
		snprintf(errbuf, errlen, "dataset %s/%s: its s3 URL %s", ns, name,
			 k == -ENAMETOOLONG ? "is too long" : "cannot be parsed");
		r = k;
	}
	objmodel_list_free(l);
	return r;
}
