// SPDX-License-Identifier: Apache-2.0
// kube-apiserver REST over libcurl. HTTP statuses become -errno here and nowhere else; a watch
// is parsed with json-c's incremental tokener, so an event split across reads needs no line
// buffer of ours.
#include "kube_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define KUBE_MAX_BODY (64u << 20)  /* a reply (a list) larger than this is refused */
#define KUBE_MAX_EVENT (16u << 20) /* one watch event */

struct kube_client {
	struct kubeconfig kc; /* copies of the blobs: the client owns them */
	CURL *curl;
	struct curl_slist *headers;
};

static char *dup_blob(const char *p, size_t n)
{
	if (!p)
		return NULL;
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

int kube_client_new(const struct kubeconfig *kc, struct kube_client **ret)
{
	struct kube_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->kc = *kc;
	c->kc.ca_pem = dup_blob(kc->ca_pem, kc->ca_len);
	c->kc.cert_pem = dup_blob(kc->cert_pem, kc->cert_len);
	c->kc.key_pem = dup_blob(kc->key_pem, kc->key_len);
	c->kc.token = kc->token ? strdup(kc->token) : NULL;
	c->curl = curl_easy_init();
	c->headers = curl_slist_append(NULL, "Accept: application/json");
	if (c->kc.token) {
		char *h = NULL;
		if (asprintf(&h, "Authorization: Bearer %s", c->kc.token) >= 0) {
			struct curl_slist *n = curl_slist_append(c->headers, h);
			explicit_bzero(h, strlen(h));
			free(h);
			c->headers = n;
		} else {
			c->headers = NULL;
		}
	}
	if (!c->curl || !c->headers || (kc->ca_pem && !c->kc.ca_pem) ||
	    (kc->cert_pem && !c->kc.cert_pem) || (kc->key_pem && !c->kc.key_pem) ||
	    (kc->token && !c->kc.token)) {
		kube_client_free(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

void kube_client_free(struct kube_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	kubeconfig_clear(&c->kc);
	free(c);
}

int kube_status_errno(long http, const char *reason)
{
	static const struct {
		long http;
		int err;
	} table[] = {
	    {400, -EINVAL},	{401, -EACCES},	    {403, -EPERM},  {404, -ENOENT},
	    {405, -EOPNOTSUPP}, {410, -KUBE_EGONE}, {413, -E2BIG},  {415, -EPROTO},
	    {422, -EINVAL},	{429, -EBUSY},	    {503, -EAGAIN}, {504, -ETIMEDOUT},
	};
	if (http >= 200 && http < 300)
		return 0;
	if (http == 409)
		return reason && !strcmp(reason, "AlreadyExists") ? -EEXIST : -EAGAIN;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].http == http)
			return table[i].err;
	return http >= 500 ? -EIO : -EPROTO;
}

static int curl_errno(CURLcode cc)
{
	switch (cc) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_ABORTED_BY_CALLBACK:
	case CURLE_WRITE_ERROR:
		return -ECANCELED;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EPROTO;
	}
}

/* Sets what every request shares: URL, TLS material, headers. */
static int setup(struct kube_client *c, const char *method, const char *path)
{
	char url[4096];
	if ((size_t)snprintf(url, sizeof(url), "%s%s", c->kc.server, path) >= sizeof(url))
		return -ENAMETOOLONG;
	CURL *h = c->curl;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (!strcmp(method, "GET"))
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	if (c->kc.ca_pem) {
		struct curl_blob b = {c->kc.ca_pem, c->kc.ca_len, CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
	}
	if (c->kc.cert_pem && c->kc.key_pem) {
		struct curl_blob cb = {c->kc.cert_pem, c->kc.cert_len, CURL_BLOB_COPY};
		struct curl_blob kb = {c->kc.key_pem, c->kc.key_len, CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cb);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &kb);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (c->kc.insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	return 0;
}

/* A reply body, gathered in libc's growable memory stream. */
struct body {
	FILE *f;
	char *data; /* NUL-terminated once f is closed */
	size_t len;
	size_t written;
};

static size_t body_write(char *p, size_t sz, size_t n, void *arg)
{
	struct body *b = arg;
	size_t len = sz * n;
	if (b->written + len > KUBE_MAX_BODY || fwrite(p, 1, len, b->f) != len)
		return 0;
	b->written += len;
	return len;
}

/* The message and reason of a Status object, when reply is one. */
static void status_message(json_object *reply, const char **ret_msg, const char **ret_reason)
{
	json_object *v;
	*ret_msg = *ret_reason = NULL;
	if (!reply || !json_object_is_type(reply, json_type_object))
		return;
	if (json_object_object_get_ex(reply, "message", &v))
		*ret_msg = json_object_get_string(v);
	if (json_object_object_get_ex(reply, "reason", &v))
		*ret_reason = json_object_get_string(v);
}

int kube_request(struct kube_client *c, const char *method, const char *path, json_object *body,
		 json_object **ret, char *errbuf, size_t errlen)
{
	struct body b = {0};
	struct curl_slist *hdrs = c->headers, *extra = NULL;
	int r = setup(c, method, path);
	if (r < 0) {
		snprintf(errbuf, errlen, "%s %.200s: path too long", method, path);
		return r;
	}
	if (!(b.f = open_memstream(&b.data, &b.len))) {
		snprintf(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	CURL *h = c->curl;
	if (body) {
		const char *ct = !strcmp(method, "PATCH")
				     ? "Content-Type: application/merge-patch+json"
				     : "Content-Type: application/json";
		/* a private copy of the shared list, with our Content-Type appended */
		for (struct curl_slist *s = c->headers; s; s = s->next)
			extra = curl_slist_append(extra, s->data);
		extra = extra ? curl_slist_append(extra, ct) : NULL;
		if (!extra) {
			snprintf(errbuf, errlen, "out of memory");
			r = -ENOMEM;
			goto out;
		}
		hdrs = extra;
		curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS,
				 json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN));
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	CURLcode cc = curl_easy_perform(h);
	long http = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);
	curl_slist_free_all(extra);
	extra = NULL;
	fclose(b.f);
	b.f = NULL;
	if (cc != CURLE_OK) {
		r = curl_errno(cc);
		snprintf(errbuf, errlen, "%s %s%.300s: %s", method, c->kc.server, path,
			 curl_easy_strerror(cc));
		goto out;
	}
	json_object *reply = b.len ? json_tokener_parse(b.data) : NULL;
	const char *msg, *reason;
	status_message(reply, &msg, &reason);
	r = kube_status_errno(http, reason);
	if (r < 0) {
		snprintf(errbuf, errlen, "%s", msg ? msg : "");
		if (!msg)
			snprintf(errbuf, errlen, "%s %.300s: HTTP %ld", method, path, http);
		json_object_put(reply);
		goto out;
	}
	if (ret)
		*ret = reply;
	else
		json_object_put(reply);
out:
	curl_slist_free_all(extra);
	if (b.f)
		fclose(b.f);
	free(b.data);
	return r;
}

void kube_micro_time(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;
	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
}

/* ---- watch ---- */

int kube_watch_parser_init(struct kube_watch_parser *p, const char *rv, kube_event_fn fn, void *arg)
{
	memset(p, 0, sizeof(*p));
	p->fn = fn;
	p->arg = arg;
	snprintf(p->resource_version, sizeof(p->resource_version), "%s", rv ? rv : "");
	p->tok = json_tokener_new();
	return p->tok ? 0 : -ENOMEM;
}

void kube_watch_parser_clear(struct kube_watch_parser *p)
{
	if (p->tok)
		json_tokener_free(p->tok);
	p->tok = NULL;
}

static void take_rv(struct kube_watch_parser *p, json_object *obj)
{
	json_object *meta, *rv;
	if (json_object_object_get_ex(obj, "metadata", &meta) &&
	    json_object_object_get_ex(meta, "resourceVersion", &rv) &&
	    json_object_is_type(rv, json_type_string))
		snprintf(p->resource_version, sizeof(p->resource_version), "%s",
			 json_object_get_string(rv));
}

/* One complete event. */
static int event(struct kube_watch_parser *p, json_object *ev)
{
	json_object *type, *obj;
	if (!json_object_is_type(ev, json_type_object) ||
	    !json_object_object_get_ex(ev, "type", &type) ||
	    !json_object_object_get_ex(ev, "object", &obj) ||
	    !json_object_is_type(obj, json_type_object))
		return -EPROTO;
	const char *t = json_object_get_string(type);
	if (!strcmp(t, "ERROR")) {
		json_object *code, *msg;
		long http = json_object_object_get_ex(obj, "code", &code)
				? (long)json_object_get_int64(code)
				: 500;
		snprintf(p->message, sizeof(p->message), "%s",
			 json_object_object_get_ex(obj, "message", &msg)
			     ? json_object_get_string(msg)
			     : "watch error");
		return http == 410 ? -KUBE_EGONE : -EIO;
	}
	take_rv(p, obj);
	if (!strcmp(t, "BOOKMARK"))
		return 0;
	if (strcmp(t, "ADDED") && strcmp(t, "MODIFIED") && strcmp(t, "DELETED"))
		return -EPROTO;
	return p->fn ? p->fn(p->arg, t, obj) : 0;
}

int kube_watch_parser_feed(struct kube_watch_parser *p, const char *data, size_t len)
{
	while (len > 0) {
		/* skip the newlines between events: the tokener wants a value to start */
		if (p->pending == 0 && (*data == '\n' || *data == '\r' || *data == ' ')) {
			data++;
			len--;
			continue;
		}
		json_object *ev = json_tokener_parse_ex(p->tok, data, (int)len);
		enum json_tokener_error e = json_tokener_get_error(p->tok);
		size_t used = json_tokener_get_parse_end(p->tok);
		if (e == json_tokener_continue) {
			p->pending += len;
			if (p->pending > KUBE_MAX_EVENT)
				return -E2BIG;
			return 0;
		}
		if (e != json_tokener_success || !ev) {
			json_object_put(ev);
			json_tokener_reset(p->tok);
			return -EPROTO;
		}
		json_tokener_reset(p->tok);
		p->pending = 0;
		int r = event(p, ev);
		json_object_put(ev);
		if (r < 0)
			return r;
		data += used;
		len -= used;
	}
	return 0;
}

struct watch_ctx {
	CURL *h;
	struct kube_watch_parser *p;
	atomic_bool *stop;
	int err;
};

static size_t watch_write(char *data, size_t sz, size_t n, void *arg)
{
	struct watch_ctx *w = arg;
	long http = 0;
	/* an error reply is a Status, not an event: map its HTTP status instead */
	curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &http);
	int r = http >= 300 ? kube_status_errno(http, NULL)
			    : kube_watch_parser_feed(w->p, data, sz * n);
	if (r < 0) {
		w->err = r;
		return 0;
	}
	return sz * n;
}

static int watch_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct watch_ctx *w = arg;
	return w->stop && atomic_load(w->stop) ? 1 : 0;
}

int kube_watch(struct kube_client *c, const char *path, struct kube_watch_parser *p, int timeout_s,
	       atomic_bool *stop, char *errbuf, size_t errlen)
{
	char full[4096];
	snprintf(full, sizeof(full), "%s%cwatch=1&allowWatchBookmarks=true&timeoutSeconds=%d%s%s",
		 path, strchr(path, '?') ? '&' : '?', timeout_s,
		 p->resource_version[0] ? "&resourceVersion=" : "", p->resource_version);
	int r = setup(c, "GET", full);
	if (r < 0) {
		snprintf(errbuf, errlen, "watch %.200s: path too long", path);
		return r;
	}
	CURL *h = c->curl;
	struct watch_ctx w = {h, p, stop, 0};
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, watch_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &w);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)timeout_s + 15);
	json_tokener_reset(p->tok);
	p->pending = 0;
	CURLcode cc = curl_easy_perform(h);
	long http = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);
	if (w.err) {
		snprintf(errbuf, errlen, "watch %.300s: %s", path,
			 p->message[0] ? p->message : strerror(-w.err));
		return w.err;
	}
	if (cc == CURLE_ABORTED_BY_CALLBACK)
		return -ECANCELED;
	if (cc != CURLE_OK && cc != CURLE_OPERATION_TIMEDOUT) {
		snprintf(errbuf, errlen, "watch %s%.300s: %s", c->kc.server, path,
			 curl_easy_strerror(cc));
		return curl_errno(cc);
	}
	r = kube_status_errno(http, NULL);
	if (r < 0)
		snprintf(errbuf, errlen, "watch %.300s: HTTP %ld", path, http);
	return r;
}
