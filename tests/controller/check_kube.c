// SPDX-License-Identifier: Apache-2.0
// The Kubernetes pieces that need no apiserver: kubeconfig parsing (hostile input included),
// HTTP status mapping, the watch stream parser fed in split chunks, resource paths, and the
// mapping between apiserver objects and the store's JSON for every kind.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "controller.h"
#include "kube_client.h"
#include "kubeconfig.h"
#include "store_kube.h"
#include "suites.h"
#include "webhook.h"

/* "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n" in base64 */
#define CA_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="

static int parse(const char *text, struct kubeconfig *kc, char *err, size_t errlen)
{
	return kubeconfig_parse("kc.yaml", text, strlen(text), "/nonexistent-dir", kc, err, errlen);
}

START_TEST(kubeconfig_token_and_ca_data)
{
	const char *y =
	    "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
	    "clusters:\n- name: other\n  cluster: {server: 'https://10.0.0.1'}\n"
	    "- name: c\n  cluster:\n    server: https://127.0.0.1:6443/\n"
	    "    certificate-authority-data: " CA_B64 "\n"
	    "contexts:\n- name: test\n  context: {cluster: c, user: u, namespace: dev}\n"
	    "users:\n- name: u\n  user:\n    token: \"abc.def\"\n";
	struct kubeconfig kc;
	char err[512] = "";
	ck_assert_msg(parse(y, &kc, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(kc.server, "https://127.0.0.1:6443");
	ck_assert_str_eq(kc.namespace, "dev");
	ck_assert_str_eq(kc.token, "abc.def");
	ck_assert_ptr_nonnull(kc.ca_pem);
	ck_assert(strstr(kc.ca_pem, "BEGIN CERTIFICATE"));
	ck_assert_ptr_null(kc.cert_pem);
	kubeconfig_clear(&kc);
	ck_assert_ptr_null(kc.token);
}
END_TEST

START_TEST(kubeconfig_client_cert_files)
{
	char dir[] = "/tmp/weir-check-kc.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char p[300];
	const char *names[] = {"ca.crt", "client.crt", "client.key", "token"};
	const char *bodies[] = {"CA-PEM\n", "CERT-PEM\n", "KEY-PEM\n", "tok-from-file\n"};
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		FILE *f = fopen(p, "w");
		ck_assert_ptr_nonnull(f);
		fputs(bodies[i], f);
		fclose(f);
	}
	snprintf(p, sizeof(p), "%s/kubeconfig", dir);
	FILE *f = fopen(p, "w");
	fprintf(f,
		"current-context: x\n"
		"clusters: [{name: c, cluster: {server: 'https://h:1', certificate-authority: "
		"ca.crt}}]\n"
		"contexts: [{name: x, context: {cluster: c, user: u}}]\n"
		"users: [{name: u, user: {client-certificate: client.crt, client-key: "
		"%s/client.key, tokenFile: token}}]\n",
		dir);
	fclose(f);
	struct kubeconfig kc;
	char err[512] = "";
	ck_assert_msg(kubeconfig_load(p, &kc, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(kc.ca_pem, "CA-PEM\n");
	ck_assert_str_eq(kc.cert_pem, "CERT-PEM\n");
	ck_assert_str_eq(kc.key_pem, "KEY-PEM\n");
	ck_assert_str_eq(kc.token, "tok-from-file"); /* newline trimmed */
	ck_assert_str_eq(kc.namespace, "default");
	kubeconfig_clear(&kc);
	/* a certificate without its key */
	f = fopen(p, "w");
	fprintf(f, "current-context: x\nclusters: [{name: c, cluster: {server: 'https://h'}}]\n"
		   "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
		   "users: [{name: u, user: {client-certificate: client.crt}}]\n");
	fclose(f);
	ck_assert_int_eq(kubeconfig_load(p, &kc, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "needs its key"), "%s", err);
	/* a missing file is named */
	f = fopen(p, "w");
	fprintf(f, "current-context: x\nclusters: [{name: c, cluster: {server: 'https://h', "
		   "certificate-authority: nope.crt}}]\n"
		   "contexts: [{name: x, context: {cluster: c}}]\n");
	fclose(f);
	ck_assert_int_eq(kubeconfig_load(p, &kc, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "nope.crt"), "%s", err);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(kubeconfig_hostile)
{
	static const struct {
		const char *yaml;
		const char *want;
	} cases[] = {
	    {"", "expected one YAML document"},
	    {"- a\n- b\n", "expected a map"},
	    {"clusters: []\n", "no current-context"},
	    {"current-context: [a]\n", "expected a string"},
	    {"current-context: x\n", "no contexts list"},
	    {"current-context: x\ncontexts: [{name: y, context: {cluster: c}}]\n",
	     "contexts \"x\" not found"},
	    {"current-context: x\ncontexts: [{name: x, context: 3}]\n", "has no context map"},
	    {"current-context: x\ncontexts: [{name: x, context: {user: u}}]\n", "names no cluster"},
	    {"current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
	     "clusters: [{name: c, cluster: {}}]\n",
	     "has no server"},
	    {"current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
	     "clusters: [{name: c, cluster: {server: 'ftp://h'}}]\n",
	     "is not an http(s) URL"},
	    {"current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
	     "clusters: [{name: c, cluster: {server: 'not a url at all'}}]\n",
	     "is not an http(s) URL"},
	    {"current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
	     "clusters: [{name: c, cluster: {server: 'https://h', "
	     "certificate-authority-data: '!!notbase64!!'}}]\n",
	     "not valid base64"},
	    {"current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
	     "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
	     "users: [{name: u, user: {exec: {command: aws}}}]\n",
	     "\"exec\" authentication is not supported"},
	    {"a: &x [1]\nb: *x\n", "alias"},
	    {"current-context: x\ncurrent-context: y\n", "duplicate"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kubeconfig kc;
		char err[512] = "";
		int r = parse(cases[i].yaml, &kc, err, sizeof(err));
		ck_assert_msg(r < 0, "case %zu parsed", i);
		ck_assert_msg(strstr(err, cases[i].want), "case %zu: %s", i, err);
	}
	/* deep nesting fails cleanly */
	char deep[4000];
	size_t n = 0;
	for (int i = 0; i < 1000 && n + 2 < sizeof(deep); i++)
		deep[n++] = '[';
	deep[n] = '\0';
	struct kubeconfig kc;
	char err[512];
	ck_assert_int_lt(parse(deep, &kc, err, sizeof(err)), 0);
}
END_TEST

START_TEST(base64)
{
	char *out;
	size_t len;
	ck_assert_int_eq(kubeconfig_base64_decode("aGVs\nbG8=", &out, &len), 0);
	ck_assert_uint_eq(len, 5);
	ck_assert_str_eq(out, "hello");
	free(out);
	ck_assert_int_eq(kubeconfig_base64_decode("aGVsbG8", &out, &len), -EINVAL);
	ck_assert_int_eq(kubeconfig_base64_decode("", &out, &len), -EINVAL);
	ck_assert_int_eq(kubeconfig_base64_decode("a$==", &out, &len), -EINVAL);
}
END_TEST

START_TEST(in_cluster)
{
	char dir[] = "/tmp/weir-check-sa.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	struct kubeconfig kc;
	char err[512] = "", p[300];
	unsetenv("KUBERNETES_SERVICE_HOST");
	ck_assert_int_eq(kubeconfig_in_cluster(dir, &kc, err, sizeof(err)), -ENOENT);
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
	ck_assert_int_eq(kubeconfig_in_cluster(dir, &kc, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "/token"), "%s", err);
	const char *names[] = {"token", "ca.crt", "namespace"};
	const char *bodies[] = {"sa-token\n", "CA\n", "weir-system\n"};
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		FILE *f = fopen(p, "w");
		fputs(bodies[i], f);
		fclose(f);
	}
	ck_assert_msg(kubeconfig_in_cluster(dir, &kc, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(kc.server, "https://[fd00::1]:6443");
	ck_assert_str_eq(kc.token, "sa-token");
	ck_assert_str_eq(kc.namespace, "weir-system");
	ck_assert_str_eq(kc.ca_pem, "CA\n");
	kubeconfig_clear(&kc);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(status_mapping)
{
	ck_assert_int_eq(kube_status_errno(200, NULL), 0);
	ck_assert_int_eq(kube_status_errno(201, NULL), 0);
	ck_assert_int_eq(kube_status_errno(404, "NotFound"), -ENOENT);
	ck_assert_int_eq(kube_status_errno(409, "AlreadyExists"), -EEXIST);
	ck_assert_int_eq(kube_status_errno(409, "Conflict"), -EAGAIN);
	ck_assert_int_eq(kube_status_errno(410, "Expired"), -KUBE_EGONE);
	ck_assert_int_eq(kube_status_errno(422, "Invalid"), -EINVAL);
	ck_assert_int_eq(kube_status_errno(403, NULL), -EPERM);
	ck_assert_int_eq(kube_status_errno(401, NULL), -EACCES);
	ck_assert_int_eq(kube_status_errno(500, NULL), -EIO);
	ck_assert_int_eq(kube_status_errno(503, NULL), -EAGAIN);
	ck_assert_int_eq(kube_status_errno(302, NULL), -EPROTO);
}
END_TEST

struct seen {
	int n;
	char types[8][16];
	char names[8][64];
};

static int record(void *arg, const char *type, json_object *obj)
{
	struct seen *s = arg;
	json_object *meta, *name;
	ck_assert(json_object_object_get_ex(obj, "metadata", &meta));
	ck_assert(json_object_object_get_ex(meta, "name", &name));
	ck_assert_int_lt(s->n, 8);
	snprintf(s->types[s->n], sizeof(s->types[0]), "%s", type);
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", json_object_get_string(name));
	s->n++;
	return 0;
}

static const char stream[] =
    "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Dataset\",\"metadata\":{\"name\":\"spark\","
    "\"resourceVersion\":\"10\"},\"spec\":{\"mounts\":[{\"mountPoint\":\"https://x/{}\\\"\"}]}}}\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Dataset\",\"metadata\":{\"resourceVersion\":"
    "\"15\"}}}\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"spark\",\"resourceVersion\":"
    "\"17\"}}}\n{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"hbase\","
    "\"resourceVersion\":\"18\"}}}\n";

START_TEST(watch_split_everywhere)
{
	/* every split point of the stream into two reads, and byte-at-a-time */
	size_t len = strlen(stream);
	for (size_t cut = 0; cut <= len; cut++) {
		struct kube_watch_parser p;
		struct seen s = {0};
		ck_assert_int_eq(kube_watch_parser_init(&p, "5", record, &s), 0);
		ck_assert_int_eq(kube_watch_parser_feed(&p, stream, cut), 0);
		ck_assert_int_eq(kube_watch_parser_feed(&p, stream + cut, len - cut), 0);
		ck_assert_int_eq(s.n, 3);
		ck_assert_str_eq(s.types[0], "ADDED");
		ck_assert_str_eq(s.types[1], "MODIFIED");
		ck_assert_str_eq(s.types[2], "DELETED");
		ck_assert_str_eq(s.names[2], "hbase");
		ck_assert_str_eq(p.resource_version, "18");
		kube_watch_parser_clear(&p);
	}
	struct kube_watch_parser p;
	struct seen s = {0};
	ck_assert_int_eq(kube_watch_parser_init(&p, "", record, &s), 0);
	for (size_t i = 0; i < len; i++)
		ck_assert_int_eq(kube_watch_parser_feed(&p, stream + i, 1), 0);
	ck_assert_int_eq(s.n, 3);
	kube_watch_parser_clear(&p);
}
END_TEST

START_TEST(watch_bookmark_moves_rv)
{
	struct kube_watch_parser p;
	struct seen s = {0};
	const char *bm = "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":"
			 "\"99\"}}}\n";
	ck_assert_int_eq(kube_watch_parser_init(&p, "1", record, &s), 0);
	ck_assert_int_eq(kube_watch_parser_feed(&p, bm, strlen(bm)), 0);
	ck_assert_int_eq(s.n, 0);
	ck_assert_str_eq(p.resource_version, "99");
	kube_watch_parser_clear(&p);
}
END_TEST

START_TEST(watch_gone_and_errors)
{
	struct kube_watch_parser p;
	struct seen s = {0};
	const char *gone = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":"
			   "\"v1\",\"status\":\"Failure\",\"message\":\"too old resource version: "
			   "5 (90)\",\"reason\":\"Expired\",\"code\":410}}\n";
	ck_assert_int_eq(kube_watch_parser_init(&p, "5", record, &s), 0);
	/* split in the middle of the error event */
	ck_assert_int_eq(kube_watch_parser_feed(&p, gone, 30), 0);
	ck_assert_int_eq(kube_watch_parser_feed(&p, gone + 30, strlen(gone) - 30), -KUBE_EGONE);
	ck_assert_msg(strstr(p.message, "too old"), "%s", p.message);
	kube_watch_parser_clear(&p);

	const char *other = "{\"type\":\"ERROR\",\"object\":{\"code\":500,\"message\":\"boom\"}}";
	ck_assert_int_eq(kube_watch_parser_init(&p, "", record, &s), 0);
	ck_assert_int_eq(kube_watch_parser_feed(&p, other, strlen(other)), -EIO);
	kube_watch_parser_clear(&p);

	static const char *const bad[] = {
	    "{\"type\":\"ADDED\"}\n",
	    "{\"type\":\"WHAT\",\"object\":{}}\n",
	    "[1,2]\n",
	    "{\"type\":\"ADDED\",\"object\":{}}}\n",
	    "nonsense\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(kube_watch_parser_init(&p, "", NULL, NULL), 0);
		ck_assert_msg(kube_watch_parser_feed(&p, bad[i], strlen(bad[i])) == -EPROTO,
			      "case %zu", i);
		kube_watch_parser_clear(&p);
	}
}
END_TEST

START_TEST(paths)
{
	char b[300];
	ck_assert_int_eq(store_kube_path("Dataset", "development", NULL, false, b, sizeof(b)), 0);
	ck_assert_str_eq(b, "/apis/data.fluid.io/v1alpha1/namespaces/development/datasets");
	ck_assert_int_eq(store_kube_path("AlluxioRuntime", "dev", "spark", true, b, sizeof(b)), 0);
	ck_assert_str_eq(
	    b, "/apis/data.fluid.io/v1alpha1/namespaces/dev/alluxioruntimes/spark/status");
	ck_assert_int_eq(store_kube_path("DataLoad", "dev", "l", false, b, sizeof(b)), 0);
	ck_assert_str_eq(b, "/apis/data.fluid.io/v1alpha1/namespaces/dev/dataloads/l");
	ck_assert_int_eq(store_kube_path("Namespace", "", "production", false, b, sizeof(b)), 0);
	ck_assert_str_eq(b, "/api/v1/namespaces/production");
	ck_assert_int_eq(store_kube_path("Dataset", NULL, NULL, false, b, sizeof(b)), 0);
	ck_assert_str_eq(b, "/apis/data.fluid.io/v1alpha1/datasets");
	ck_assert_int_eq(store_kube_path("ConfigMap", "dev", "x", false, b, sizeof(b)), -ENOENT);
	ck_assert_int_eq(store_kube_path("Dataset", "dev", "x", false, b, 10), -ENAMETOOLONG);
}
END_TEST

/* What the apiserver returns for each kind: server-owned metadata, Fluid's status as weir
 * writes it. Each must read with objmodel, write back with nothing of the server's lost. */
static const char *const from_server[] = {
    "{\"apiVersion\":\"data.fluid.io/v1alpha1\",\"kind\":\"Dataset\",\"metadata\":{"
    "\"name\":\"spark\",\"namespace\":\"development\",\"uid\":\"u-1\",\"resourceVersion\":"
    "\"42\",\"generation\":3,\"creationTimestamp\":\"2026-12-02T10:00:00Z\",\"finalizers\":["
    "\"data.fluid.io/weir-cache\"],\"managedFields\":[{\"manager\":\"kubectl\"}]},\"spec\":{"
    "\"mounts\":[{\"mountPoint\":\"https://mirrors.bit.edu.cn/apache/spark/\",\"name\":"
    "\"spark\",\"path\":\"/\"}]},\"status\":{\"phase\":\"Bound\",\"ufsTotal\":\"3.41GiB\","
    "\"ufsTotalBytes\":3661479936,\"cacheStates\":{\"cached\":\"0.00B\",\"cachedBytes\":0,"
    "\"cacheCapacity\":\"4.00GiB\",\"cacheCapacityBytes\":4294967296,\"cachedPercentage\":"
    "\"0.0%\"},\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"Bound\","
    "\"message\":\"served\",\"lastTransitionTime\":\"2026-12-02T10:00:01Z\"}]}}",
    "{\"apiVersion\":\"data.fluid.io/v1alpha1\",\"kind\":\"AlluxioRuntime\",\"metadata\":{"
    "\"name\":\"spark\",\"namespace\":\"development\",\"uid\":\"u-2\",\"resourceVersion\":"
    "\"43\",\"creationTimestamp\":\"2026-12-02T10:00:00Z\"},\"spec\":{\"replicas\":1,"
    "\"tieredstore\":{\"levels\":[{\"mediumtype\":\"MEM\",\"path\":\"/dev/shm\",\"quota\":"
    "\"4Gi\",\"high\":\"0.95\",\"low\":\"0.7\"}]}},\"status\":{\"phase\":\"Ready\"}}",
    "{\"apiVersion\":\"data.fluid.io/v1alpha1\",\"kind\":\"DataLoad\",\"metadata\":{"
    "\"name\":\"spark\",\"namespace\":\"development\",\"uid\":\"u-3\",\"resourceVersion\":"
    "\"44\",\"creationTimestamp\":\"2026-12-02T10:00:00Z\"},\"spec\":{\"dataset\":{\"name\":"
    "\"spark\",\"namespace\":\"development\"},\"target\":[{\"path\":\"/spark-3.3.1\"}]}}",
    "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"production\","
    "\"uid\":\"u-4\",\"resourceVersion\":\"45\",\"creationTimestamp\":\"2026-12-02T10:00:00Z\","
    "\"labels\":{\"kubernetes.io/metadata.name\":\"production\"}},\"spec\":{\"finalizers\":["
    "\"kubernetes\"]},\"status\":{\"phase\":\"Active\"}}",
};

START_TEST(mapping_every_kind)
{
	for (size_t i = 0; i < sizeof(from_server) / sizeof(from_server[0]); i++) {
		json_object *k = json_tokener_parse(from_server[i]);
		ck_assert_ptr_nonnull(k);
		char *json = NULL;
		ck_assert_int_eq(store_kube_from_kube(k, &json), 0);
		ck_assert_msg(!strstr(json, "managedFields"), "%s", json);
		/* the controller reads it... */
		struct objmodel *o = NULL;
		char err[512] = "";
		ck_assert_msg(objmodel_from_json(json, &o, err, sizeof(err)) == 0, "%zu: %s", i,
			      err);
		ck_assert_int_eq(o->meta.creation_timestamp, 1796205600);
		ck_assert_ptr_nonnull(o->meta.resource_version);
		/* ...and what it writes back keeps the server's fields (finalizers) */
		char *back = NULL;
		ck_assert_int_eq(objmodel_to_json_string(o, false, &back), 0);
		json_object *sent = NULL;
		ck_assert_int_eq(store_kube_to_kube(back, false, &sent), 0);
		json_object *meta, *v, *orig_spec, *sent_spec;
		ck_assert(json_object_object_get_ex(sent, "metadata", &meta));
		ck_assert(!json_object_object_get_ex(meta, "resourceVersion", &v));
		ck_assert(!json_object_object_get_ex(meta, "uid", &v));
		if (i == 0) {
			ck_assert(json_object_object_get_ex(meta, "finalizers", &v));
			ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(v, 0)),
					 STORE_KUBE_FINALIZER);
		}
		if (o->kind != OBJMODEL_NAMESPACE) {
			/* spec survives the round trip (objmodel may add defaults, never drop) */
			ck_assert(json_object_object_get_ex(k, "spec", &orig_spec));
			ck_assert(json_object_object_get_ex(sent, "spec", &sent_spec));
			json_object_object_foreach(orig_spec, key, val)
			{
				json_object *sv;
				ck_assert_msg(json_object_object_get_ex(sent_spec, key, &sv),
					      "%zu: spec.%s lost", i, key);
				ck_assert_msg(json_object_equal(val, sv),
					      "%zu: spec.%s changed: %s", i, key,
					      json_object_get_string(sv));
			}
		}
		/* status of a Dataset round-trips exactly: no spurious writes */
		if (i == 0) {
			json_object *s1, *s2;
			ck_assert(json_object_object_get_ex(k, "status", &s1));
			ck_assert(json_object_object_get_ex(sent, "status", &s2));
			ck_assert_msg(json_object_equal(s1, s2), "%s", json_object_get_string(s2));
		}
		json_object *created = NULL;
		ck_assert_int_eq(store_kube_to_kube(back, true, &created), 0);
		ck_assert(!json_object_object_get_ex(created, "status", &v));
		json_object_put(created);
		json_object_put(sent);
		free(back);
		objmodel_free(o);
		free(json);
		json_object_put(k);
	}
}
END_TEST

static const char *review(const char *kind, const char *ns, const char *name)
{
	static char buf[1024];
	snprintf(
	    buf, sizeof(buf),
	    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
	    "\"uid\":\"rev-1\",\"kind\":{\"group\":\"data.fluid.io\",\"version\":\"v1alpha1\","
	    "\"kind\":\"%s\"},\"operation\":\"DELETE\",\"namespace\":\"%s\",\"name\":\"%s\"}}",
	    kind, ns, name);
	return buf;
}

/* The webhook answers AdmissionReviews from the store: a referenced source's delete is refused
 * with apply_delete's message, anything else allowed, garbage rejected. The message names the
 * references of the deleted object's namespace and only counts the others: anyone reaching the
 * webhook can forge a review, and must not learn other tenants' Dataset names from it. */
START_TEST(webhook_reviews)
{
	char *dir = NULL, err[1024] = "";
	struct controller ctl = {0};
	pthread_mutex_init(&ctl.lock, NULL);
	ctl.store = test_store_new(&dir);
	const char *yaml =
	    "apiVersion: v1\nkind: Namespace\nmetadata: {name: development}\n---\n"
	    "apiVersion: v1\nkind: Namespace\nmetadata: {name: production}\n---\n"
	    "apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: "
	    "spark, namespace: development}\nspec:\n  mounts:\n  - mountPoint: "
	    "http://127.0.0.1:1/\n---\n"
	    "apiVersion: data.fluid.io/v1alpha1\nkind: AlluxioRuntime\nmetadata: {name: "
	    "spark, namespace: development}\nspec:\n  tieredstore:\n    levels:\n    - "
	    "mediumtype: MEM\n      path: /dev/shm\n      quota: 1Gi\n---\n"
	    "apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: spark, "
	    "namespace: production}\nspec:\n  mounts:\n  - mountPoint: "
	    "dataset://development/spark\n---\n"
	    "apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: mirror, "
	    "namespace: development}\nspec:\n  mounts:\n  - mountPoint: "
	    "dataset://development/spark\n";
	struct objmodel_list *l = test_parse(yaml);
	const char *texts[8];
	for (size_t i = 0; i < l->n; i++)
		texts[i] = test_json(l->items[i]);
	struct apply_result res = {0};
	ck_assert_msg(apply_objects(ctl.store, texts, l->n, true, "t.yaml", 1000, &res, err,
				    sizeof(err)) == 0,
		      "%s", err);
	apply_result_free(&res);
	for (size_t i = 0; i < l->n; i++)
		free((char *)texts[i]);
	objmodel_list_free(l);
	static const struct {
		const char *kind, *ns, *name;
		bool allowed;
	} cases[] = {
	    {"Dataset", "development", "spark", false},
	    {"AlluxioRuntime", "development", "spark", false},
	    {"Dataset", "production", "spark", true},
	    {"Dataset", "development", "absent", true},
	    {"DataLoad", "development", "spark", true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *in = review(cases[i].kind, cases[i].ns, cases[i].name);
		char *out = NULL;
		ck_assert_int_eq(webhook_review(&ctl, in, strlen(in), &out), 0);
		json_object *o = json_tokener_parse(out), *resp, *v;
		ck_assert(json_object_object_get_ex(o, "response", &resp));
		ck_assert(json_object_object_get_ex(resp, "uid", &v));
		ck_assert_str_eq(json_object_get_string(v), "rev-1");
		ck_assert(json_object_object_get_ex(resp, "allowed", &v));
		ck_assert_msg(json_object_get_boolean(v) == cases[i].allowed, "case %zu: %s", i,
			      out);
		if (!cases[i].allowed) {
			json_object *st, *msg;
			ck_assert(json_object_object_get_ex(resp, "status", &st));
			ck_assert(json_object_object_get_ex(st, "message", &msg));
			const char *m = json_object_get_string(msg);
			ck_assert_msg(strstr(m, "development/mirror and 1 dataset of another "
						"namespace;"),
				      "%s", out);
			ck_assert_msg(!strstr(m, "production"), "names another namespace: %s", out);
		}
		json_object_put(o);
		free(out);
	}
	char *out = NULL;
	ck_assert_int_eq(webhook_review(&ctl, "{\"nope\":1}", 10, &out), -EINVAL);
	ck_assert_int_eq(webhook_review(&ctl, "not json", 8, &out), -EINVAL);
	test_store_free(ctl.store, dir);
}
END_TEST

/* The names of the webhook entries in cfg, joined by spaces, and the caBundle of entry name. */
static void hook_names(json_object *cfg, char *buf, size_t len, const char *name, char *ca,
		       size_t calen)
{
	json_object *hooks = NULL;
	buf[0] = ca[0] = '\0';
	ck_assert(json_object_object_get_ex(cfg, "webhooks", &hooks));
	for (size_t i = 0; i < json_object_array_length(hooks); i++) {
		json_object *h = json_object_array_get_idx(hooks, i), *n, *cc, *b;
		ck_assert(json_object_object_get_ex(h, "name", &n));
		size_t l = strlen(buf);
		snprintf(buf + l, len - l, "%s%s", l ? " " : "", json_object_get_string(n));
		if (!strcmp(json_object_get_string(n), name) &&
		    json_object_object_get_ex(h, "clientConfig", &cc) &&
		    json_object_object_get_ex(cc, "caBundle", &b))
			snprintf(ca, calen, "%s", json_object_get_string(b));
	}
}

/* Replicas share one ValidatingWebhookConfiguration, one entry each: a registration replaces
 * only its own entry (its CA), so no replica's CA is overwritten by another's. */
START_TEST(webhook_config_shared)
{
	json_object *a = NULL, *b = NULL, *c = NULL, *d = NULL;
	char names[512], ca[64];
	ck_assert_int_eq(
	    webhook_config_merge(NULL, "replica-1", "https://10.0.0.1:9443/validate", "CA1", &a),
	    0);
	hook_names(a, names, sizeof(names), "replica-1.delete.weir.data.fluid.io", ca, sizeof(ca));
	ck_assert_str_eq(names, "replica-1.delete.weir.data.fluid.io");
	ck_assert_str_eq(ca, "CA1");
	/* the apiserver's copy carries a resourceVersion, which the next write keeps */
	json_object *meta;
	ck_assert(json_object_object_get_ex(a, "metadata", &meta));
	json_object_object_add(meta, "resourceVersion", json_object_new_string("42"));
	ck_assert_int_eq(
	    webhook_config_merge(a, "Replica_2/x", "https://10.0.0.2:9443/validate", "CA2", &b), 0);
	hook_names(b, names, sizeof(names), "replica-1.delete.weir.data.fluid.io", ca, sizeof(ca));
	ck_assert_str_eq(names, "replica-1.delete.weir.data.fluid.io "
				"replica-2-x.delete.weir.data.fluid.io");
	ck_assert_str_eq(ca, "CA1"); /* replica-1's CA untouched */
	ck_assert(json_object_object_get_ex(b, "metadata", &meta));
	json_object *rv;
	ck_assert(json_object_object_get_ex(meta, "resourceVersion", &rv));
	ck_assert_str_eq(json_object_get_string(rv), "42");
	/* replica-1 restarts with a new CA: its entry is replaced, not duplicated */
	ck_assert_int_eq(
	    webhook_config_merge(b, "replica-1", "https://10.0.0.1:9443/validate", "CA1b", &c), 0);
	hook_names(c, names, sizeof(names), "replica-2-x.delete.weir.data.fluid.io", ca,
		   sizeof(ca));
	ck_assert_str_eq(ca, "CA2");
	ck_assert_int_eq(json_object_array_length(json_object_object_get(c, "webhooks")), 2);
	hook_names(c, names, sizeof(names), "replica-1.delete.weir.data.fluid.io", ca, sizeof(ca));
	ck_assert_str_eq(ca, "CA1b");
	/* replica-1 stops: only its entry goes */
	ck_assert_int_eq(webhook_config_merge(c, "replica-1", NULL, NULL, &d), 0);
	hook_names(d, names, sizeof(names), "x", ca, sizeof(ca));
	ck_assert_str_eq(names, "replica-2-x.delete.weir.data.fluid.io");
	json_object_put(a);
	json_object_put(b);
	json_object_put(c);
	json_object_put(d);
}
END_TEST

Suite *kube_suite(void)
{
	Suite *s = suite_create("kube");
	TCase *tc = tcase_create("kubeconfig");
	tcase_add_test(tc, kubeconfig_token_and_ca_data);
	tcase_add_test(tc, kubeconfig_client_cert_files);
	tcase_add_test(tc, kubeconfig_hostile);
	tcase_add_test(tc, base64);
	tcase_add_test(tc, in_cluster);
	suite_add_tcase(s, tc);
	tc = tcase_create("client");
	tcase_add_test(tc, status_mapping);
	tcase_add_test(tc, watch_split_everywhere);
	tcase_add_test(tc, watch_bookmark_moves_rv);
	tcase_add_test(tc, watch_gone_and_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("store");
	tcase_add_test(tc, paths);
	tcase_add_test(tc, mapping_every_kind);
	tcase_add_test(tc, webhook_reviews);
	tcase_add_test(tc, webhook_config_shared);
	suite_add_tcase(s, tc);
	return s;
}
