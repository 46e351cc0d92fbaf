// SPDX-License-Identifier: Apache-2.0
// The kube store against a scripted apiserver (libmicrohttpd on loopback): the first list fills
// the cache, a status write that meets 409 Conflict reads again and retries without writing the
// object itself, a watch that answers 410 Gone makes the store list again, and a create the
// apiserver refuses leaves the cache.
#include <errno.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kube_lease.h"
#include "store_kube.h"
#include "suites.h"

#define DS_PATH "/apis/data.fluid.io/v1alpha1/datasets"
#define SPARK_PATH "/apis/data.fluid.io/v1alpha1/namespaces/development/datasets/spark"
#define SPARK                                                                                      \
	"{\"apiVersion\":\"data.fluid.io/v1alpha1\",\"kind\":\"Dataset\",\"metadata\":{\"name\":"  \
	"\"spark\",\"namespace\":\"development\",\"uid\":\"u1\",\"resourceVersion\":\"5\","        \
	"\"finalizers\":[\"data.fluid.io/weir-cache\"],\"creationTimestamp\":"                     \
	"\"2026-12-02T10:00:00Z\"},\"spec\":{\"mounts\":[{\"mountPoint\":\"https://h/\"}]},"       \
	"\"status\":{\"phase\":\"NotBound\"}}"

/* The items of the weir-nodes' LeaseList the fake answers (set before the store opens). */
static const char *lease_items = "";
/* Set: the DatasetList comes in two pages (spark, then other), the second asked for with the
 * first's continue token; and the pods the fake lists (/api/v1/pods). */
static bool paged;
static const char *pod_items = "";
static const char *pod_events; /* the pods' first watch stream (NULL: none) */
#define OTHER                                                                                      \
	"{\"apiVersion\":\"data.fluid.io/v1alpha1\",\"kind\":\"Dataset\",\"metadata\":{\"name\":"  \
	"\"other\",\"namespace\":\"development\",\"uid\":\"u2\",\"resourceVersion\":\"6\"},"       \
	"\"spec\":{\"mounts\":[{\"mountPoint\":\"https://h/\"}]}}"

/* What the fake apiserver saw; its threads write, the test polls. */
static struct {
	atomic_int dataset_lists;
	atomic_int dataset_watches;
	atomic_int status_puts;
	atomic_int object_puts;
	atomic_int events;
	atomic_int continues; /* second pages asked for */
	atomic_int pod_watches;
	atomic_int changes; /* store changed callbacks (count_change) */
	atomic_int creates; /* Dataset POSTs */
	char last_status[4096];
} seen;

struct upload {
	size_t len;
	char data[8192];
};

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned code, const char *body)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

/* Gathers a request body across calls; returns the upload once it is whole, NULL before. */
static struct upload *gather(void **con_cls, const char *data, size_t *size)
{
	struct upload *u = *con_cls;
	if (!u) {
		*con_cls = calloc(1, sizeof(struct upload));
		return NULL;
	}
	if (*size) {
		size_t n =
		    *size < sizeof(u->data) - 1 - u->len ? *size : sizeof(u->data) - 1 - u->len;
		memcpy(u->data + u->len, data, n);
		u->len += n;
		*size = 0;
		return NULL;
	}
	u->data[u->len] = '\0';
	return u;
}

static enum MHD_Result fake(void *cls, struct MHD_Connection *c, const char *url,
			    const char *method, const char *version, const char *data, size_t *size,
			    void **con_cls)
{
	struct upload *u = gather(con_cls, data, size);
	if (!u)
		return MHD_YES; /* more of the request to come */
	const char *watch = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "watch");
	if (!strcmp(method, "GET") && watch) {
		/* hold the stream a moment, as a server with nothing to say does */
		if (!strcmp(url, DS_PATH) && !pod_events &&
		    atomic_fetch_add(&seen.dataset_watches, 1) == 0)
			return send_text(
			    c, 200,
			    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
			    "\"code\":410,\"reason\":\"Expired\",\"message\":\"too old "
			    "resource version\"}}\n");
		/* the pods' first watch: pod a again with only its status changed (nothing the
		 * grants read), then with a claim more */
		if (pod_events && !strcmp(url, "/api/v1/pods") &&
		    atomic_fetch_add(&seen.pod_watches, 1) == 0)
			return send_text(c, 200, pod_events);
		usleep(200000);
		return send_text(c, 200, "");
	}
	const char *cont = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "continue");
	const char *limit = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
	if (paged && !strcmp(method, "GET") && !strcmp(url, DS_PATH)) {
		if (!limit || atoi(limit) <= 0)
			return send_text(c, 400, "{\"kind\":\"Status\",\"code\":400}");
		if (!cont) {
			atomic_fetch_add(&seen.dataset_lists, 1);
			return send_text(
			    c, 200,
			    "{\"kind\":\"DatasetList\",\"metadata\":{\"resourceVersion\":"
			    "\"5\",\"continue\":\"dG9rLTE_-=\"},\"items\":[" SPARK "]}");
		}
		/* a wrong token, and the right one the first time: expired (410), as a token
		 * that outlived the apiserver's compaction is */
		if (strcmp(cont, "dG9rLTE_-=") || atomic_fetch_add(&seen.continues, 1) == 0)
			return send_text(c, 410, "{\"kind\":\"Status\",\"code\":410}");
		return send_text(
		    c, 200,
		    "{\"kind\":\"DatasetList\",\"metadata\":{\"resourceVersion\":\"5\"},"
		    "\"items\":[" OTHER "]}");
	}
	if (!strcmp(method, "GET") && !strcmp(url, "/api/v1/pods")) {
		const char *fs =
		    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "fieldSelector");
		if (!fs || strcmp(fs, "spec.nodeName!="))
			return send_text(c, 400, "{\"kind\":\"Status\",\"code\":400}");
		char list[8192];
		snprintf(list, sizeof(list),
			 "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"5\"},"
			 "\"items\":[%s]}",
			 pod_items);
		return send_text(c, 200, list);
	}
	if (!strcmp(method, "GET") && !strcmp(url, DS_PATH)) {
		atomic_fetch_add(&seen.dataset_lists, 1);
		return send_text(
		    c, 200,
		    "{\"kind\":\"DatasetList\",\"metadata\":{\"resourceVersion\":\"5\"},"
		    "\"items\":[" SPARK "]}");
	}
	if (!strcmp(method, "GET") && !strcmp(url, SPARK_PATH))
		return send_text(c, 200, SPARK);
	if (!strcmp(method, "PUT") && !strcmp(url, SPARK_PATH "/status")) {
		u->data[u->len] = '\0';
		snprintf(seen.last_status, sizeof(seen.last_status), "%.4000s", u->data);
		if (atomic_fetch_add(&seen.status_puts, 1) == 0)
			return send_text(
			    c, 409,
			    "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"code\":409,"
			    "\"message\":\"the object has been modified\"}");
		return send_text(c, 200, u->data);
	}
	if (!strcmp(method, "PUT") && !strcmp(url, SPARK_PATH)) {
		atomic_fetch_add(&seen.object_puts, 1);
		return send_text(c, 200, SPARK);
	}
	if (!strcmp(method, "POST") &&
	    !strcmp(url, "/apis/data.fluid.io/v1alpha1/namespaces/development/datasets") &&
	    atomic_fetch_add(&seen.creates, 1) >= 0)
		return send_text(c, 422,
				 "{\"kind\":\"Status\",\"reason\":\"Invalid\",\"code\":422,"
				 "\"message\":\"spec.mounts: Required value\"}");
	if (!strcmp(method, "POST") && strstr(url, "/events")) {
		atomic_fetch_add(&seen.events, 1);
		return send_text(c, 201, "{}");
	}
	if (!strcmp(method, "GET") && !strncmp(url, "/api", 4) && !strstr(url, "/namespaces/"))
		return send_text(c, 200,
				 "{\"kind\":\"List\",\"metadata\":{\"resourceVersion\":\"5\"},"
				 "\"items\":[]}");
	if (!strcmp(method, "GET") && strstr(url, "/leases")) {
		char list[8192];
		snprintf(list, sizeof(list),
			 "{\"kind\":\"LeaseList\",\"metadata\":{\"resourceVersion\":\"5\"},"
			 "\"items\":[%s]}",
			 lease_items);
		return send_text(c, 200, list);
	}
	return send_text(c, 404, "{\"kind\":\"Status\",\"reason\":\"NotFound\",\"code\":404}");
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls,
		 enum MHD_RequestTerminationCode toe)
{
	free(*con_cls);
	*con_cls = NULL;
}

/* Starts the fake apiserver on a loopback port and points kc at it (namespace "default"). */
static struct MHD_Daemon *fake_start(struct kubeconfig *kc)
{
	struct MHD_Daemon *d = MHD_start_daemon(
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, fake,
	    NULL, MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_END);
	ck_assert_ptr_nonnull(d);
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(kc->server, sizeof(kc->server), "http://127.0.0.1:%u", info->port);
	snprintf(kc->namespace, sizeof(kc->namespace), "default");
	return d;
}

/* Opens the kube store on kc (the fake's), its reports in ns; fails the test if it cannot. */
static struct store *kube_open(const struct kubeconfig *kc, const char *ns, unsigned flags,
			       store_kube_changed_fn changed)
{
	struct store *st = NULL;
	char err[1024] = "";
	ck_assert_msg(store_kube_open(kc, ns, flags, changed, NULL, &st, err, sizeof(err)) == 0, "%s",
		      err);
	return st;
}

static bool wait_for(atomic_int *v, int at_least)
{
	for (int i = 0; i < 100; i++) {
		if (atomic_load(v) >= at_least)
			return true;
		usleep(50000);
	}
	return false;
}

START_TEST(conflict_retry_and_gone)
{
	struct kubeconfig kc = {0};
	struct MHD_Daemon *d = fake_start(&kc);
	struct store *st = kube_open(&kc, NULL, 0, NULL);
	/* the first list filled the cache */
	char *json = NULL;
	ck_assert_int_eq(store_get(st, "Dataset", "development", "spark", &json), 0);
	ck_assert(strstr(json, "\"NotBound\""));
	/* a watch answered 410: the store lists again */
	ck_assert_msg(wait_for(&seen.dataset_lists, 2), "no list after 410 (%d lists)",
		      atomic_load(&seen.dataset_lists));
	/* a status write: nothing goes out until active; then 409 once, re-read, retry */
	char *bound = strdup(json);
	char *p = strstr(bound, "\"NotBound\"");
	memcpy(p, "\"Bound\"   ", 10);
	json_object *o = json_tokener_parse(bound);
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(
	    store_put(st, "Dataset", "development", "spark", json_object_to_json_string(o), 0), 0);
	usleep(300000);
	ck_assert_int_eq(atomic_load(&seen.status_puts), 0);
	store_kube_set_active(st, true);
	ck_assert_msg(wait_for(&seen.status_puts, 2), "%d status PUTs",
		      atomic_load(&seen.status_puts));
	ck_assert_msg(strstr(seen.last_status, "\"phase\":\"Bound\""), "%s", seen.last_status);
	/* only the status changed: the object itself is not written (a spec edited meanwhile
	 * would be put back) */
	ck_assert_int_eq(atomic_load(&seen.object_puts), 0);
	/* the cache shows our write at once; the phase change became an Event */
	free(json);
	ck_assert_int_eq(store_get(st, "Dataset", "development", "spark", &json), 0);
	ck_assert(strstr(json, "Bound"));
	ck_assert(wait_for(&seen.events, 1));
	free(json);
	/* a create the apiserver refuses (422) leaves the cache: the server has no such object */
	const char *rejected = "{\"apiVersion\":\"data.fluid.io/v1alpha1\",\"kind\":\"Dataset\","
			       "\"metadata\":{\"name\":\"rejected\",\"namespace\":\"development\"},"
			       "\"spec\":{}}";
	ck_assert_int_eq(store_put(st, "Dataset", "development", "rejected", rejected, 0), 0);
	int r = 0;
	for (int i = 0; i < 100; i++) {
		r = store_get(st, "Dataset", "development", "rejected", &json);
		if (r == -ENOENT)
			break;
		free(json);
		usleep(50000);
	}
	ck_assert_int_eq(r, -ENOENT);
	/* a manifest put over a stored object without its uid (weir apply): the cache keeps the
	 * object's uid */
	ck_assert_int_eq(store_get(st, "Dataset", "development", "spark", &json), 0);
	json_object *nouid = json_tokener_parse(json);
	free(json);
	ck_assert_ptr_nonnull(nouid);
	json_object *m = NULL, *u = NULL;
	ck_assert(json_object_object_get_ex(nouid, "metadata", &m));
	ck_assert(json_object_object_get_ex(m, "uid", &u));
	char *uid = strdup(json_object_get_string(u));
	json_object_object_del(m, "uid");
	ck_assert_int_eq(
	    store_put(st, "Dataset", "development", "spark", json_object_to_json_string(nouid), 0),
	    0);
	json_object_put(nouid);
	ck_assert_int_eq(store_get(st, "Dataset", "development", "spark", &json), 0);
	ck_assert_msg(strstr(json, uid), "the cache lost the uid %s: %s", uid, json);
	free(json);
	free(uid);
	/* a status write of an object read from the apiserver (it has a uid) that left the cache
	 * since (deleted meanwhile) is refused, not created anew: a create would revive it */
	const char *gone = "{\"apiVersion\":\"data.fluid.io/v1alpha1\",\"kind\":\"Dataset\","
			   "\"metadata\":{\"name\":\"gone\",\"namespace\":\"development\","
			   "\"uid\":\"0b1c2d3e-0000-4000-8000-00000000beef\"},\"spec\":{},"
			   "\"status\":{\"phase\":\"Bound\"}}";
	int posts = atomic_load(&seen.creates);
	ck_assert_int_eq(store_put(st, "Dataset", "development", "gone", gone, 0), -ENOENT);
	ck_assert_int_eq(store_get(st, "Dataset", "development", "gone", &json), -ENOENT);
	usleep(300000);
	ck_assert_int_eq(atomic_load(&seen.creates), posts);
	free(bound);
	json_object_put(o);
	store_close(st);
	MHD_stop_daemon(d);
}
END_TEST

/* A list in pages is read whole: every page's objects, asked for with the previous page's
 * continue token; a token that expired between the pages (410) makes the store list again from
 * the first page, and the open still succeeds. */
START_TEST(lists_come_in_pages)
{
	paged = true;
	struct kubeconfig kc = {0};
	struct MHD_Daemon *d = fake_start(&kc);
	struct store *st = kube_open(&kc, NULL, 0, NULL);
	char *json = NULL;
	ck_assert_int_eq(store_get(st, "Dataset", "development", "spark", &json), 0);
	free(json);
	ck_assert_int_eq(store_get(st, "Dataset", "development", "other", &json), 0);
	free(json);
	ck_assert_int_eq(atomic_load(&seen.continues), 2);
	ck_assert_int_ge(atomic_load(&seen.dataset_lists), 2);
	store_close(st);
	MHD_stop_daemon(d);
	paged = false;
}
END_TEST

/* A pod as the apiserver lists it: NAME in NS on NODE, PHASE, its volumes VOLS (JSON). */
#define POD(name, ns, node, phase, vols)                                                           \
	"{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"" ns "\",\"uid\":\"" name "\"},"     \
	"\"spec\":{\"nodeName\":\"" node "\",\"containers\":[{\"name\":\"c\",\"image\":\"x\","     \
	"\"env\":[{\"name\":\"BIG\",\"value\":\"not kept\"}]}],\"volumes\":" vols "},"             \
	"\"status\":{\"phase\":\"" phase "\"}}"

struct claims_seen {
	char text[1024];
};

static void claim_cb(void *arg, const char *ns, const char *claim, const char *node)
{
	struct claims_seen *s = arg;
	size_t n = strlen(s->text);
	snprintf(s->text + n, sizeof(s->text) - n, "%s/%s@%s;", ns, claim, node);
}

/* a: running, two claims and an emptyDir; b: ended; c: pending on node-3; d: no node; e: a
 * claim without a name; f: failed */
#define VOL_SPARK "[{\"name\":\"d\",\"persistentVolumeClaim\":{\"claimName\":\"spark\"}}]"
#define VOLS_A                                                                                     \
	"[{\"name\":\"d\",\"persistentVolumeClaim\":{\"claimName\":\"spark\"}},{\"name\":\"e\","     \
	"\"emptyDir\":{}},{\"name\":\"f\",\"persistentVolumeClaim\":{\"claimName\":\"other\"}}]"
#define VOL_NONAME "[{\"name\":\"d\",\"persistentVolumeClaim\":{}}]"
// clang-format off
#define PODS                                                                                       \
	POD("a", "dev", "node-1", "Running", VOLS_A) ","                                           \
	POD("b", "dev", "node-2", "Succeeded", VOL_SPARK) ","                                      \
	POD("c", "qa", "node-3", "Pending", VOL_SPARK) ","                                         \
	POD("d", "qa", "", "Pending", VOL_SPARK) ","                                               \
	POD("e", "qa", "node-4", "Running", VOL_NONAME) ","                                        \
	POD("f", "qa", "node-5", "Failed", VOL_SPARK)
// clang-format on

static void count_change(void *arg)
{
	(void)arg;
	atomic_fetch_add(&seen.changes, 1);
}

/* A watch event of pod a in dev on node-1 (PHASE, its volumes VOLS), as one line. */
#define POD_EVENT(phase, vols) "{\"type\":\"MODIFIED\",\"object\":" POD("a", "dev", "node-1", phase, vols) "}\n"

/* Opens the store with pods against the fake whose pods' first watch sends events (pod a as
 * listed, then these); waits for it and returns how often the store said it changed. */
static int changes_with(struct kubeconfig *kc, const char *events, char *claims, size_t len)
{
	atomic_store(&seen.changes, 0);
	atomic_store(&seen.pod_watches, 0);
	pod_events = events;
	struct store *st = kube_open(kc, NULL, STORE_KUBE_PODS, count_change);
	ck_assert(wait_for(&seen.pod_watches, 2)); /* the first stream's events are in */
	struct claims_seen s = {""};
	store_kube_pod_claims(st, claim_cb, &s);
	snprintf(claims, len, "%s", s.text);
	store_close(st);
	return atomic_load(&seen.changes);
}

/* A pod event that changes nothing the grants read (another status, the same phase) starts no
 * pass; one that adds a claim does. */
START_TEST(unchanged_pods_start_no_pass)
{
	pod_items = POD("a", "dev", "node-1", "Running", VOL_SPARK);
	struct kubeconfig kc = {0};
	struct MHD_Daemon *d = fake_start(&kc);
	char claims[1024];
	int none = changes_with(&kc, "", claims, sizeof(claims));
	int noop = changes_with(&kc, POD_EVENT("Running", VOL_SPARK), claims, sizeof(claims));
	ck_assert_msg(noop == none, "changed callbacks: %d with an event that changes nothing, %d with none",
		      noop, none);
	ck_assert_str_eq(claims, "dev/spark@node-1;");
	int more = changes_with(&kc, POD_EVENT("Running", VOLS_A), claims, sizeof(claims));
	ck_assert_msg(more == none + 1, "changed callbacks: %d with a claim added, %d with none", more,
		      none);
	ck_assert_msg(strstr(claims, "dev/other@node-1;"), "claims: %s", claims);
	MHD_stop_daemon(d);
	pod_items = "";
	pod_events = NULL;
}
END_TEST

/* The pods the view grants read: only with STORE_KUBE_PODS; each claim of each pod bound to a
 * node that has not ended, and nothing of the rest; never in the store's own lists. */
START_TEST(pod_claims_for_the_grants)
{
	pod_items = PODS;
	struct kubeconfig kc = {0};
	struct MHD_Daemon *d = fake_start(&kc);
	/* without the flag, no pod is watched */
	struct store *st = kube_open(&kc, NULL, 0, NULL);
	struct claims_seen s = {""};
	store_kube_pod_claims(st, claim_cb, &s);
	ck_assert_str_eq(s.text, "");
	store_close(st);
	st = kube_open(&kc, NULL, STORE_KUBE_PODS, NULL);
	store_kube_pod_claims(st, claim_cb, &s);
	/* a's two claims (in the map's order), c's; not b (ended), d (no node), e (no claim
	 * name), f (failed) */
	ck_assert_msg(strlen(s.text) ==
			      strlen("dev/spark@node-1;dev/other@node-1;qa/spark@node-3;") &&
			  strstr(s.text, "dev/spark@node-1;dev/other@node-1;") &&
			  strstr(s.text, "qa/spark@node-3;"),
		      "claims: %s", s.text);
	store_close(st);
	MHD_stop_daemon(d);
	pod_items = "";
}
END_TEST

/* A weir-node's Lease as node_report writes it: NAME, holderIdentity NODE, weir.io/peer URL,
 * weir.io/node-id ID. */
#define NODE_LEASE_ID(name, node, url, id)                                                         \
	"{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":{\"name\":"    \
	"\"" name "\",\"namespace\":\"default\",\"resourceVersion\":\"5\",\"labels\":{"            \
	"\"app.kubernetes.io/name\":\"weir-node\"},\"annotations\":{\"weir.io/peer\":\"" url       \
	"\",\"weir.io/node-id\":\"" id "\"}},\"spec\":{\"holderIdentity\":\"" node "\","           \
	"\"leaseDurationSeconds\":3600,\"renewTime\":\"2026-12-04T10:00:00.000000Z\"}}"
#define NODE_LEASE(name, node, url) NODE_LEASE_ID(name, node, url, "")
#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* The members a node takes from the Leases: each node's own Lease (weir-node-<node>) only. A
 * Lease of another name that claims an existing node (anyone who may write Leases in the
 * namespace can make one) must not point that node's blocks at its own address. */
START_TEST(peers_only_from_a_nodes_own_lease)
{
	lease_items = NODE_LEASE_ID(
	    "weir-node-n1", "n1", "http://10.0.0.1:7070",
	    ID_A) "," NODE_LEASE_ID("weir-node-n2", "n2", "http://10.0.0.2:7070",
				    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
				    "AA") "," NODE_LEASE("weir-node-a", "n2",
							 "http://10.6.6.6:7070") "," NODE_LEASE("we"
												"ir"
												"-n"
												"od"
												"e-"
												"z"
												"z",
												"n"
												"2",
												"ht"
												"tp"
												":/"
												"/1"
												"0."
												"6."
												"6."
												"6:"
												"70"
												"7"
												"0") "," NODE_LEASE("weir-node-n3",
														    "n4",
														    "http://10.6.6.6:7070");
	struct kubeconfig kc = {0};
	struct MHD_Daemon *d = fake_start(&kc);
	struct store *st = kube_open(&kc, "default", 0, NULL);
	struct store_kube_peer peers[8];
	int64_t now = 1796378400 + 10; /* 2026-12-04T10:00:10Z: every Lease is fresh */
	size_t n = store_kube_peers(st, now, peers, 8);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(peers[0].node, "n1");
	ck_assert_str_eq(peers[0].url, "http://10.0.0.1:7070");
	ck_assert_str_eq(peers[1].node, "n2");
	ck_assert_str_eq(peers[1].url, "http://10.0.0.2:7070");
	/* weir.io/node-id as written when it is an identity's form, else "" (upper case here) */
	ck_assert_str_eq(peers[0].id, ID_A);
	ck_assert_str_eq(peers[1].id, "");
	store_close(st);
	MHD_stop_daemon(d);
	lease_items = "";
}
END_TEST

/* A weir-node's Lease NAME for NODE reporting 100 cached bytes of source "src1" and 100 UFS
 * bytes of traffic. */
#define USAGE_LEASE(name, node)                                                                    \
	"{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":{\"name\":"    \
	"\"" name "\",\"namespace\":\"default\",\"resourceVersion\":\"5\",\"labels\":{"            \
	"\"app.kubernetes.io/name\":\"weir-node\"},\"annotations\":{\"weir.io/sources\":"          \
	"\"{\\\"src1\\\":{\\\"cachedBytes\\\":100}}\",\"weir.io/traffic\":"                        \
	"\"{\\\"ufsBytes\\\":100}\"}},\"spec\":{\"holderIdentity\":\"" node "\","                  \
	"\"leaseDurationSeconds\":3600,\"renewTime\":\"2026-12-04T10:00:00.000000Z\"}}"

/* A Dataset's cached bytes and the cluster's traffic add up each node's own Lease once: a second
 * Lease claiming a node does not count it twice. */
START_TEST(usage_only_from_a_nodes_own_lease)
{
	lease_items = USAGE_LEASE("weir-node-n1", "n1") "," USAGE_LEASE(
	    "weir-node-x", "n1") "," USAGE_LEASE("weir-node-n2", "n2");
	struct kubeconfig kc = {0};
	struct MHD_Daemon *d = fake_start(&kc);
	struct store *st = kube_open(&kc, "default", 0, NULL);
	int64_t now = 1796378400 + 10;
	struct store_kube_usage u;
	ck_assert_int_eq(store_kube_node_usage(st, "src1", now, 3600, &u), 2);
	ck_assert_uint_eq(u.cached, 200);
	struct store_kube_traffic t;
	ck_assert_uint_eq(store_kube_traffic(st, now, &t), 2);
	ck_assert_uint_eq(t.ufs_bytes, 200);
	store_close(st);
	MHD_stop_daemon(d);
	lease_items = "";
}
END_TEST

/* ---- leader election against a fake Lease endpoint ---- */

#define LEASE_PATH "/apis/coordination.k8s.io/v1/namespaces/default/leases/weir-controller"

/* The one Lease the fake holds; its threads write, under lease_lock. */
static pthread_mutex_t lease_lock = PTHREAD_MUTEX_INITIALIZER;
static json_object *lease_obj; /* NULL = absent */
static int lease_rv;
static bool lease_conflict_next; /* the next PUT meets 409, as if another replica wrote first */

static enum MHD_Result fake_lease(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **con_cls)
{
	struct upload *u = gather(con_cls, data, size);
	if (!u)
		return MHD_YES; /* more of the request to come */
	u->data[u->len] = '\0';
	char out[8192];
	unsigned code = 200;
	pthread_mutex_lock(&lease_lock);
	if (!strcmp(method, "GET") && !strcmp(url, LEASE_PATH)) {
		if (lease_obj)
			snprintf(out, sizeof(out), "%s", json_object_to_json_string(lease_obj));
		else
			code = 404,
			snprintf(out, sizeof(out), "{\"kind\":\"Status\",\"code\":404}");
	} else if (!strcmp(method, "POST")) {
		if (lease_obj) {
			code = 409;
			snprintf(out, sizeof(out),
				 "{\"kind\":\"Status\",\"reason\":\"AlreadyExists\"}");
		} else {
			lease_obj = json_tokener_parse(u->data);
			json_object *meta;
			json_object_object_get_ex(lease_obj, "metadata", &meta);
			char rv[16];
			snprintf(rv, sizeof(rv), "%d", ++lease_rv);
			json_object_object_add(meta, "resourceVersion", json_object_new_string(rv));
			code = 201;
			snprintf(out, sizeof(out), "%s", json_object_to_json_string(lease_obj));
		}
	} else if (!strcmp(method, "PUT") && !strcmp(url, LEASE_PATH)) {
		json_object *in = json_tokener_parse(u->data), *meta, *rv;
		json_object_object_get_ex(in, "metadata", &meta);
		char want[16];
		snprintf(want, sizeof(want), "%d", lease_rv);
		if (lease_conflict_next ||
		    !json_object_object_get_ex(meta, "resourceVersion", &rv) ||
		    strcmp(json_object_get_string(rv), want)) {
			lease_conflict_next = false;
			/* the other writer's version */
			json_object *smeta;
			snprintf(want, sizeof(want), "%d", ++lease_rv);
			if (json_object_object_get_ex(lease_obj, "metadata", &smeta))
				json_object_object_add(smeta, "resourceVersion",
						       json_object_new_string(want));
			json_object_put(in);
			code = 409;
			snprintf(out, sizeof(out), "{\"kind\":\"Status\",\"reason\":\"Conflict\"}");
		} else {
			snprintf(want, sizeof(want), "%d", ++lease_rv);
			json_object_object_add(meta, "resourceVersion",
					       json_object_new_string(want));
			json_object_put(lease_obj);
			lease_obj = in;
			snprintf(out, sizeof(out), "%s", json_object_to_json_string(lease_obj));
		}
	} else {
		code = 404;
		snprintf(out, sizeof(out), "{}");
	}
	pthread_mutex_unlock(&lease_lock);
	return send_text(c, code, out);
}

static const char *holder_of(void)
{
	static char h[64];
	json_object *spec, *v;
	pthread_mutex_lock(&lease_lock);
	h[0] = '\0';
	if (lease_obj && json_object_object_get_ex(lease_obj, "spec", &spec) &&
	    json_object_object_get_ex(spec, "holderIdentity", &v))
		snprintf(h, sizeof(h), "%s", json_object_get_string(v));
	pthread_mutex_unlock(&lease_lock);
	return h;
}

START_TEST(lease_election)
{
	struct MHD_Daemon *d = MHD_start_daemon(
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
	    fake_lease, NULL, MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_END);
	ck_assert_ptr_nonnull(d);
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	struct kubeconfig kc = {0};
	snprintf(kc.server, sizeof(kc.server), "http://127.0.0.1:%u", info->port);
	struct kube_client *c = NULL;
	ck_assert_int_eq(kube_client_new(&kc, &c), 0);
	char holder[64] = "", err[512] = "";
	int64_t t = 1796205600; /* renewTime is written in whole seconds */
	/* no Lease: a creates it */
	ck_assert_int_eq(kube_lease_try(c, "default", "weir-controller", "a", 15, t, holder,
					sizeof(holder), err, sizeof(err)),
			 1);
	ck_assert_str_eq(holder_of(), "a");
	/* b waits while a's lease is fresh, and learns who holds it */
	ck_assert_int_eq(kube_lease_try(c, "default", "weir-controller", "b", 15, t + 5, holder,
					sizeof(holder), err, sizeof(err)),
			 0);
	ck_assert_str_eq(holder, "a");
	/* a renews */
	ck_assert_int_eq(kube_lease_try(c, "default", "weir-controller", "a", 15, t + 10, holder,
					sizeof(holder), err, sizeof(err)),
			 1);
	ck_assert_int_eq(kube_lease_try(c, "default", "weir-controller", "b", 15, t + 24, holder,
					sizeof(holder), err, sizeof(err)),
			 0);
	/* a stopped renewing at t+10: at t+26 b takes over */
	ck_assert_int_eq(kube_lease_try(c, "default", "weir-controller", "b", 15, t + 26, holder,
					sizeof(holder), err, sizeof(err)),
			 1);
	ck_assert_str_eq(holder_of(), "b");
	/* a, back, sees b */
	ck_assert_int_eq(kube_lease_try(c, "default", "weir-controller", "a", 15, t + 27, holder,
					sizeof(holder), err, sizeof(err)),
			 0);
	ck_assert_str_eq(holder, "b");
	/* racing for an expired lease: the writer that meets 409 does not lead */
	lease_conflict_next = true;
	ck_assert_int_eq(kube_lease_try(c, "default", "weir-controller", "a", 15, t + 60, holder,
					sizeof(holder), err, sizeof(err)),
			 0);
	ck_assert_str_eq(holder_of(), "b");
	/* b gives it up: a takes it at once */
	ck_assert_int_eq(kube_lease_release(c, "default", "weir-controller", "b", err, sizeof(err)),
			 0);
	ck_assert_int_eq(kube_lease_try(c, "default", "weir-controller", "a", 15, t + 61, holder,
					sizeof(holder), err, sizeof(err)),
			 1);
	ck_assert_str_eq(holder_of(), "a");
	kube_client_free(c);
	MHD_stop_daemon(d);
}
END_TEST

Suite *store_kube_suite(void)
{
	Suite *s = suite_create("store_kube");
	TCase *tc = tcase_create("fake apiserver");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, conflict_retry_and_gone);
	tcase_add_test(tc, lease_election);
	tcase_add_test(tc, peers_only_from_a_nodes_own_lease);
	tcase_add_test(tc, usage_only_from_a_nodes_own_lease);
	tcase_add_test(tc, lists_come_in_pages);
	tcase_add_test(tc, pod_claims_for_the_grants);
	tcase_add_test(tc, unchanged_pods_start_no_pass);
	suite_add_tcase(s, tc);
	return s;
}
