// SPDX-License-Identifier: Apache-2.0
// The delete webhook over libmicrohttpd with TLS. A review reads the store's cache under the
// controller's lock and answers at once: no I/O under the lock, none to the apiserver at all.
#include "webhook.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "conn_share.h"
#include "controller.h"
#include "kube_client.h"
#include "kubeconfig.h"
#include "log.h"

#define WEBHOOK_MAX_BODY (1u << 20) /* an AdmissionReview of a delete is small */
/* Connections of one client (a uid on this host, else an address: conn_share.h) and in all. A
 * client holding connections (an idle one goes after 10 s; one that sends a byte now and then
 * stays: the timeout is for silence) takes only its share; the apiserver, a client of its own,
 * keeps the rest. A connection that completed no request for 5 s (CONN_SHARE_STALE_MS: a
 * dribbling one too) is taken over first by a newcomer, of its own client as well; else, with all
 * held, the newcomer takes a connection (one not mid-review first) of the client holding the
 * most: only 128 clients each holding one that keeps completing requests lock it out. Past its
 * share the apiserver's review fails and the failurePolicy (Ignore: the finalizer still holds the
 * delete) applies. */
#define WEBHOOK_PER_CLIENT 32
#define WEBHOOK_TOTAL 128

struct webhook {
	struct controller *ctl;
	struct MHD_Daemon *d;
	char path[256];
	char *cert;
	char *key;
	char *client_ca; /* NULL: any client; else a client certificate it signed is required */
	struct conn_share *share; /* each client's share of the connections; MHD's thread only */
};

/* The request body being received. */
struct upload {
	char *data;
	size_t len;
	bool too_big;
};

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;
	return o && json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
		   ? json_object_get_string(v)
		   : NULL;
}

/* The store's kind of an admitted resource: AlluxioRuntime is a Runtime. */
static const char *store_kind(const char *kind)
{
	static const struct {
		const char *kind, *store;
	} kinds[] = {{"Dataset", "Dataset"}, {"AlluxioRuntime", "Runtime"}, {"Runtime", "Runtime"}};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kind && !strcmp(kinds[i].kind, kind))
			return kinds[i].store;
	return NULL;
}

int webhook_review(struct controller *ctl, const char *body, size_t len, char **ret_json)
{
	json_object *in = json_tokener_parse(body), *req = NULL, *k = NULL;
	if (!in || !json_object_object_get_ex(in, "request", &req) || !jstr(req, "uid")) {
		json_object_put(in);
		return -EINVAL;
	}
	json_object_object_get_ex(req, "kind", &k);
	const char *op = jstr(req, "operation"), *kind = store_kind(jstr(k, "kind"));
	const char *ns = jstr(req, "namespace"), *name = jstr(req, "name");
	char msg[2048] = "";
	int r = 0;
	if (op && !strcmp(op, "DELETE") && kind && ns && name) {
		pthread_mutex_lock(&ctl->lock);
		r = apply_delete_check(ctl->store, kind, ns, name, ctl->cfg.deny_by_default, msg,
				       sizeof(msg));
		pthread_mutex_unlock(&ctl->lock);
	}
	/* only a refusal refuses: an object the cache does not hold is Kubernetes' business */
	bool allowed = !(r == -EBUSY || r == -EPERM);
	json_object *out = json_object_new_object(), *resp = json_object_new_object();
	json_object_object_add(out, "apiVersion", json_object_new_string("admission.k8s.io/v1"));
	json_object_object_add(out, "kind", json_object_new_string("AdmissionReview"));
	json_object_object_add(resp, "uid", json_object_new_string(jstr(req, "uid")));
	json_object_object_add(resp, "allowed", json_object_new_boolean(allowed));
	if (!allowed) {
		json_object *st = json_object_new_object();
		json_object_object_add(st, "code", json_object_new_int(403));
		json_object_object_add(st, "reason", json_object_new_string("Forbidden"));
		json_object_object_add(st, "message", json_object_new_string(msg));
		json_object_object_add(resp, "status", st);
		log_info("webhook: refused deleting %s %s/%s: %s", kind, ns, name, msg);
	}
	json_object_object_add(out, "response", resp);
	char *text = strdup(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
	json_object_put(out);
	json_object_put(in);
	if (!text)
		return -ENOMEM;
	*ret_json = text;
	return 0;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, char *body, bool json)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", json ? "application/json" : "text/plain");
	enum MHD_Result r = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return r;
}

/* Did the client present a certificate that chains to webhook-client-ca (microhttpd gave GnuTLS
 * that CA as the trust list and asked for a certificate; asking is all it does)? */
static bool client_verified(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	unsigned status = 0;
	if (!ci || !ci->tls_session)
		return false;
	int e = gnutls_certificate_verify_peers2((gnutls_session_t)ci->tls_session, &status);
	if (e < 0 || status) {
		log_info("webhook: refused a client without a certificate of webhook-client-ca "
			 "(%s)",
			 e < 0 ? gnutls_strerror(e) : "certificate not trusted");
		return false;
	}
	return true;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *data_size, void **con_cls)
{
	struct webhook *w = cls;
	struct upload *u = *con_cls;
	if (!u) {
		conn_share_mhd_request(w->share, c, true); /* not stale while it is answered */
		/* a forged review must not even be read: anyone reaching the port could ask
		 * about any Dataset */
		if (w->client_ca && !client_verified(c))
			return reply(c, MHD_HTTP_UNAUTHORIZED,
				     strdup("a client certificate signed by webhook-client-ca is "
					    "required\n"),
				     false);
		if (!(u = calloc(1, sizeof(*u))))
			return MHD_NO;
		*con_cls = u;
		return MHD_YES;
	}
	if (*data_size) {
		if (u->len + *data_size > WEBHOOK_MAX_BODY) {
			u->too_big = true;
		} else {
			char *d = realloc(u->data, u->len + *data_size + 1);
			if (!d)
				return MHD_NO;
			memcpy(d + u->len, data, *data_size);
			u->data = d;
			u->len += *data_size;
			d[u->len] = '\0';
		}
		*data_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "POST") || strcmp(url, w->path))
		return reply(c, MHD_HTTP_NOT_FOUND, strdup("not found\n"), false);
	if (u->too_big || !u->data)
		return reply(c, MHD_HTTP_BAD_REQUEST, strdup("no AdmissionReview\n"), false);
	char *out = NULL;
	if (webhook_review(w->ctl, u->data, u->len, &out) < 0)
		return reply(c, MHD_HTTP_BAD_REQUEST, strdup("not an AdmissionReview\n"), false);
	return reply(c, MHD_HTTP_OK, out, true);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct webhook *w = cls;
	struct upload *u = *con_cls;
	conn_share_mhd_request(w->share, c, false); /* stale if no other request comes in time */
	if (u) {
		free(u->data);
		free(u);
	}
	*con_cls = NULL;
}

static void mhd_log(void *arg, const char *fmt, va_list ap)
{
	char buf[512];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_debug("webhook: %s", buf);
}

static int read_pem(const char *path, char **ret, char *errbuf, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int r = -errno;
		snprintf(errbuf, errlen, "webhook: cannot read \"%s\": %s", path, strerror(-r));
		return r;
	}
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&buf, &cap, '\0', f);
	fclose(f);
	if (n <= 0) {
		free(buf);
		snprintf(errbuf, errlen, "webhook: \"%s\" is empty", path);
		return -EINVAL;
	}
	*ret = buf;
	return 0;
}

int webhook_start(struct controller *ctl, const char *listen, const char *cert_file,
		  const char *key_file, const char *path, struct webhook **ret, char *errbuf,
		  size_t errlen)
{
	char *cert = NULL, *key = NULL;
	int r = read_pem(cert_file, &cert, errbuf, errlen);
	if (r >= 0)
		r = read_pem(key_file, &key, errbuf, errlen);
	if (r >= 0)
		r = webhook_start_pem(ctl, listen, cert, key, path, ret, errbuf, errlen);
	free(cert);
	if (key)
		explicit_bzero(key, strlen(key));
	free(key);
	return r;
}

int webhook_start_pem(struct controller *ctl, const char *listen, const char *cert_pem,
		      const char *key_pem, const char *path, struct webhook **ret, char *errbuf,
		      size_t errlen)
{
	char host[64];
	const char *colon = strrchr(listen, ':');
	char *end;
	long port = colon ? strtol(colon + 1, &end, 10) : 0;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (!colon || (size_t)(colon - listen) >= sizeof(host) || *end || port <= 0 ||
	    port > 65535) {
		snprintf(errbuf, errlen, "webhook-listen \"%s\" is not IPv4-HOST:PORT", listen);
		return -EINVAL;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		snprintf(errbuf, errlen, "webhook-listen \"%s\" is not IPv4-HOST:PORT", listen);
		return -EINVAL;
	}
	struct webhook *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->ctl = ctl;
	snprintf(w->path, sizeof(w->path), "%s", path && *path ? path : "/validate");
	int r = -ENOMEM;
	if (!(w->cert = strdup(cert_pem)) || !(w->key = strdup(key_pem)) ||
	    conn_share_new(WEBHOOK_PER_CLIENT, WEBHOOK_TOTAL, &w->share) < 0)
		goto fail;
	struct MHD_OptionItem trust[] = {{MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}};
	if (ctl->cfg.webhook_client_ca[0]) {
		if ((r = read_pem(ctl->cfg.webhook_client_ca, &w->client_ca, errbuf, errlen)) < 0)
			goto fail;
		trust[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, w->client_ca};
	}
	w->d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	    answer, w, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_HTTPS_MEM_CERT,
	    w->cert, MHD_OPTION_HTTPS_MEM_KEY, w->key, MHD_OPTION_NOTIFY_COMPLETED, completed, w,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_NOTIFY_CONNECTION,
	    conn_share_notify, w->share, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)CONN_SHARE_MHD_LIMIT(WEBHOOK_TOTAL), MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
	    NULL, MHD_OPTION_ARRAY, trust, MHD_OPTION_END);
	if (!w->d) {
		snprintf(errbuf, errlen,
			 "webhook: cannot serve HTTPS on %s (address in use, or a bad certificate "
			 "or key)",
			 listen);
		r = -EADDRINUSE;
		goto fail;
	}
	log_notice("webhook: serving https://%s%s%s", listen, w->path,
		   w->client_ca ? " to clients with a certificate of webhook-client-ca" : "");
	*ret = w;
	return 0;
fail:
	conn_share_free(w->share);
	free(w->cert);
	free(w->key);
	free(w->client_ca);
	free(w);
	return r;
}

void webhook_stop(struct webhook *w)
{
	if (!w)
		return;
	MHD_stop_daemon(w->d);
	conn_share_free(w->share);
	free(w->cert);
	if (w->key)
		explicit_bzero(w->key, strlen(w->key));
	free(w->key);
	free(w->client_ca);
	free(w);
}

/* The webhook entry name of replica identity: "<identity, DNS-safe>.delete.weir.data.fluid.io". */
static void entry_name(const char *identity, char *buf, size_t len)
{
	char id[64];
	size_t k = 0;
	for (size_t i = 0; identity[i] && k < sizeof(id) - 1; i++) {
		char c = identity[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		id[k++] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? c : '-';
	}
	while (k && id[k - 1] == '-')
		k--;
	id[k] = '\0';
	snprintf(buf, len, "%s.delete.weir.data.fluid.io", k ? id : "replica");
}

int webhook_config_merge(json_object *cur, const char *identity, const char *url,
			 const char *ca_b64, json_object **ret)
{
	char name[128];
	entry_name(identity, name, sizeof(name));
	json_object *cfg = json_tokener_parse(
	    "{\"apiVersion\":\"admissionregistration.k8s.io/v1\",\"kind\":"
	    "\"ValidatingWebhookConfiguration\",\"metadata\":{\"name\":\"" WEBHOOK_CONFIG_NAME
	    "\"},\"webhooks\":[]}");
	json_object *hooks = json_object_new_array(), *meta, *old;
	if (!cfg || !hooks) {
		json_object_put(cfg);
		json_object_put(hooks);
		return -ENOMEM;
	}
	/* keep the resourceVersion read: a racing replica gets 409 and merges again */
	if (cur && json_object_object_get_ex(cur, "metadata", &meta))
		json_object_object_add(cfg, "metadata", json_object_get(meta));
	if (cur && json_object_object_get_ex(cur, "webhooks", &old) &&
	    json_object_is_type(old, json_type_array))
		for (size_t i = 0; i < json_object_array_length(old); i++) {
			json_object *h = json_object_array_get_idx(old, i), *n;
			if (json_object_object_get_ex(h, "name", &n) &&
			    !strcmp(json_object_get_string(n), name))
				continue; /* ours: replaced (or dropped) below */
			json_object_array_add(hooks, json_object_get(h));
		}
	if (url) {
		json_object *h = json_tokener_parse(
		    "{\"admissionReviewVersions\":[\"v1\"],\"sideEffects\":\"None\","
		    "\"failurePolicy\":\"Ignore\",\"timeoutSeconds\":5,\"rules\":[{"
		    "\"apiGroups\":[\"data.fluid.io\"],\"apiVersions\":[\"v1alpha1\"],"
		    "\"operations\":[\"DELETE\"],\"resources\":[\"datasets\","
		    "\"alluxioruntimes\",\"runtimes\"],\"scope\":\"Namespaced\"}]}");
		json_object *cc = json_object_new_object();
		json_object_object_add(h, "name", json_object_new_string(name));
		json_object_object_add(cc, "url", json_object_new_string(url));
		json_object_object_add(cc, "caBundle", json_object_new_string(ca_b64));
		json_object_object_add(h, "clientConfig", cc);
		json_object_array_add(hooks, h);
	}
	json_object_object_add(cfg, "webhooks", hooks);
	*ret = cfg;
	return 0;
}

/* Reads the shared configuration, merges this replica's entry in (url) or out (url NULL) and
 * writes it back; a conflict (another replica wrote meanwhile) reads again. */
static int config_update(const struct kubeconfig *kc, const char *identity, const char *url,
			 const char *ca_pem, char *errbuf, size_t errlen)
{
	struct kube_client *c = NULL;
	char *b64 = NULL;
	if (ca_pem) {
		size_t n = strlen(ca_pem);
		if (!(b64 = malloc(4 * ((n + 2) / 3) + 1))) {
			snprintf(errbuf, errlen, "out of memory");
			return -ENOMEM;
		}
		EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)ca_pem, (int)n);
	}
	int r = kube_client_new(kc, &c);
	const char *path = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations";
	char one[300];
	snprintf(one, sizeof(one), "%s/%s", path, WEBHOOK_CONFIG_NAME);
	for (int tries = 0; r >= 0 && tries < 8; tries++) {
		json_object *cur = NULL, *cfg = NULL;
		r = kube_request(c, "GET", one, NULL, &cur, errbuf, errlen);
		if (r == -ENOENT && !url) {
			r = 0; /* nothing to take ours out of */
			break;
		}
		if (r < 0 && r != -ENOENT)
			break;
		bool exists = r >= 0;
		r = webhook_config_merge(exists ? cur : NULL, identity, url, b64, &cfg);
		if (r >= 0)
			r = exists ? kube_request(c, "PUT", one, cfg, NULL, errbuf, errlen)
				   : kube_request(c, "POST", path, cfg, NULL, errbuf, errlen);
		json_object_put(cur);
		json_object_put(cfg);
		if (r != -EAGAIN && r != -EEXIST)
			break;
	}
	kube_client_free(c);
	free(b64);
	return r;
}

int webhook_register(const struct kubeconfig *kc, const char *identity, const char *url,
		     const char *ca_pem, char *errbuf, size_t errlen)
{
	return config_update(kc, identity, url, ca_pem, errbuf, errlen);
}

int webhook_unregister(const struct kubeconfig *kc, const char *identity, char *errbuf,
		       size_t errlen)
{
	return config_update(kc, identity, NULL, NULL, errbuf, errlen);
}
