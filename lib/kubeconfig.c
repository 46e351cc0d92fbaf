// SPDX-License-Identifier: Apache-2.0
// kubeconfig and in-cluster configuration. Parsed with yamltree (its limits make hostile files
// fail cleanly); only what a client needs is kept: server, CA, token or client certificate.
#include "kubeconfig.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "yamltree.h"

#define KUBECONFIG_MAX_FILE (1u << 20) /* a certificate, key or token file larger is refused */
#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

void kubeconfig_clear(struct kubeconfig *kc)
{
	free(kc->ca_pem);
	free(kc->token);
	free(kc->cert_pem);
	if (kc->key_pem)
		explicit_bzero(kc->key_pem, kc->key_len);
	free(kc->key_pem);
	memset(kc, 0, sizeof(*kc));
}

int kubeconfig_base64_decode(const char *in, char **ret, size_t *ret_len)
{
	size_t n = strlen(in);
	unsigned char *out = malloc(n / 4 * 3 + 4);
	if (!out)
		return -ENOMEM;
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	if (!ctx) {
		free(out);
		return -ENOMEM;
	}
	int len = 0, fin = 0, r = 0;
	EVP_DecodeInit(ctx);
	/* EVP_DecodeUpdate skips newlines but not blanks; kubeconfigs may fold either */
	char *clean = malloc(n + 1);
	size_t k = 0;
	if (!clean) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (in[i] != ' ' && in[i] != '\t' && in[i] != '\n' && in[i] != '\r')
			clean[k++] = in[i];
	if (k == 0 || k % 4 != 0 ||
	    EVP_DecodeUpdate(ctx, out, &len, (const unsigned char *)clean, (int)k) < 0 ||
	    EVP_DecodeFinal(ctx, out + len, &fin) < 0) {
		r = -EINVAL;
		goto out;
	}
	len += fin;
	out[len] = '\0';
	*ret = (char *)out;
	*ret_len = (size_t)len;
	out = NULL;
out:
	free(clean);
	free(out);
	EVP_ENCODE_CTX_free(ctx);
	return r;
}

/* Reads a small file whole. Returns 0 and an owned NUL-terminated *ret. */
static int read_small(const char *path, char **ret, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat sb;
	int r = 0;
	char *buf = NULL;
	if (fstat(fd, &sb) < 0) {
		r = -errno;
		goto out;
	}
	if (sb.st_size > KUBECONFIG_MAX_FILE) {
		r = -E2BIG;
		goto out;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	size_t got = 0;
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*ret = buf;
	*ret_len = got;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return r;
}

struct kctx {
	const char *name;
	const char *base_dir;
	char *err;
	size_t errlen;
};

/* A scalar field of map, or NULL (absent or null). -EINVAL in *r when present but not a
 * scalar. */
static const char *scalar(struct kctx *c, const struct yamltree_node *map, const char *key,
			  const char *where, int *r)
{
	const struct yamltree_node *v = yamltree_get(map, key);
	if (!v || yamltree_is_null(v))
		return NULL;
	if (v->type != YAMLTREE_SCALAR) {
		snprintf(c->err, c->errlen, "%s: %s.%s: expected a string", c->name, where, key);
		*r = -EINVAL;
		return NULL;
	}
	return v->scalar;
}

/* Finds the entry named name in a list of {name: .., <field>: {...}} and returns its field. */
static const struct yamltree_node *named(struct kctx *c, const struct yamltree_node *root,
					 const char *list, const char *field, const char *name,
					 int *r)
{
	const struct yamltree_node *seq = yamltree_get(root, list);
	if (!seq || seq->type != YAMLTREE_SEQ) {
		snprintf(c->err, c->errlen, "%s: no %s list", c->name, list);
		*r = -EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < seq->n; i++) {
		const struct yamltree_node *e = seq->items[i];
		const struct yamltree_node *n = yamltree_get(e, "name");
		if (e->type != YAMLTREE_MAP || !n || n->type != YAMLTREE_SCALAR ||
		    strcmp(n->scalar, name))
			continue;
		const struct yamltree_node *f = yamltree_get(e, field);
		if (!f || f->type != YAMLTREE_MAP) {
			snprintf(c->err, c->errlen, "%s: %s \"%s\" has no %s map", c->name, list,
				 name, field);
			*r = -EINVAL;
			return NULL;
		}
		return f;
	}
	snprintf(c->err, c->errlen, "%s: %s \"%s\" not found", c->name, list, name);
	*r = -EINVAL;
	return NULL;
}

/* Loads field (a path, relative to the kubeconfig's directory) or field-data (base64) of map
 * into *ret. Absent: 0 with *ret untouched. */
static int material(struct kctx *c, const struct yamltree_node *map, const char *field,
		    const char *where, char **ret, size_t *ret_len)
{
	char key[64], path[4200];
	int r = 0;
	snprintf(key, sizeof(key), "%s-data", field);
	const char *data = scalar(c, map, key, where, &r);
	const char *file = scalar(c, map, field, where, &r);
	if (r < 0)
		return r;
	if (data) {
		r = kubeconfig_base64_decode(data, ret, ret_len);
		if (r == -EINVAL)
			snprintf(c->err, c->errlen, "%s: %s.%s: not valid base64", c->name, where,
				 key);
		return r;
	}
	if (!file)
		return 0;
	if (file[0] == '/' || !c->base_dir)
		snprintf(path, sizeof(path), "%s", file);
	else
		snprintf(path, sizeof(path), "%s/%s", c->base_dir, file);
	r = read_small(path, ret, ret_len);
	if (r < 0)
		snprintf(c->err, c->errlen, "%s: %s.%s: cannot read \"%s\": %s", c->name, where,
			 field, path, strerror(-r));
	return r;
}

/* Checks and normalizes the server URL with curl_url(): http(s) with a host, no trailing "/". */
static int set_server(struct kctx *c, const char *server, struct kubeconfig *kc)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int r = -EINVAL;
	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, server, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    (strcmp(scheme, "https") && strcmp(scheme, "http")) ||
	    strlen(server) >= sizeof(kc->server)) {
		snprintf(c->err, c->errlen, "%s: cluster server \"%.200s\" is not an http(s) URL",
			 c->name, server);
		goto out;
	}
	snprintf(kc->server, sizeof(kc->server), "%s", server);
	size_t n = strlen(kc->server);
	while (n > 0 && kc->server[n - 1] == '/')
		kc->server[--n] = '\0';
	r = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

static void trim_token(char *t)
{
	size_t n = strlen(t);
	while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' '))
		t[--n] = '\0';
}

static int parse_doc(struct kctx *c, const struct yamltree_node *root, struct kubeconfig *kc)
{
	int r = 0;
	if (root->type != YAMLTREE_MAP) {
		snprintf(c->err, c->errlen, "%s: expected a map (apiVersion: v1, kind: Config)",
			 c->name);
		return -EINVAL;
	}
	const char *cur = scalar(c, root, "current-context", "", &r);
	if (r < 0)
		return r;
	if (!cur || !*cur) {
		snprintf(c->err, c->errlen,
			 "%s: no current-context; set one with `kubectl config use-context`",
			 c->name);
		return -EINVAL;
	}
	const struct yamltree_node *ctx = named(c, root, "contexts", "context", cur, &r);
	if (!ctx)
		return r;
	const char *cluster = scalar(c, ctx, "cluster", "context", &r);
	const char *user = scalar(c, ctx, "user", "context", &r);
	const char *ns = scalar(c, ctx, "namespace", "context", &r);
	if (r < 0)
		return r;
	if (!cluster) {
		snprintf(c->err, c->errlen, "%s: context \"%s\" names no cluster", c->name, cur);
		return -EINVAL;
	}
	snprintf(kc->namespace, sizeof(kc->namespace), "%s", ns && *ns ? ns : "default");
	const struct yamltree_node *cl = named(c, root, "clusters", "cluster", cluster, &r);
	if (!cl)
		return r;
	const char *server = scalar(c, cl, "server", "cluster", &r);
	const char *insecure = scalar(c, cl, "insecure-skip-tls-verify", "cluster", &r);
	if (r < 0)
		return r;
	if (!server) {
		snprintf(c->err, c->errlen, "%s: cluster \"%s\" has no server", c->name, cluster);
		return -EINVAL;
	}
	if ((r = set_server(c, server, kc)) < 0)
		return r;
	kc->insecure = insecure && !strcmp(insecure, "true");
	r = material(c, cl, "certificate-authority", "cluster", &kc->ca_pem, &kc->ca_len);
	if (r < 0 || !user)
		return r;
	const struct yamltree_node *us = named(c, root, "users", "user", user, &r);
	if (!us)
		return r;
	static const char *const unsupported[] = {"exec", "auth-provider", "username"};
	for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
		if (yamltree_get(us, unsupported[i])) {
			snprintf(c->err, c->errlen,
				 "%s: user \"%s\": \"%s\" authentication is not supported; use a "
				 "token or a client certificate",
				 c->name, user, unsupported[i]);
			return -EINVAL;
		}
	}
	const char *token = scalar(c, us, "token", "user", &r);
	const char *token_file = scalar(c, us, "tokenFile", "user", &r);
	if (r < 0)
		return r;
	size_t tlen;
	if (token) {
		if (!(kc->token = strdup(token)))
			return -ENOMEM;
	} else if (token_file) {
		char path[4200];
		if (token_file[0] == '/' || !c->base_dir)
			snprintf(path, sizeof(path), "%s", token_file);
		else
			snprintf(path, sizeof(path), "%s/%s", c->base_dir, token_file);
		r = read_small(path, &kc->token, &tlen);
		if (r < 0) {
			snprintf(c->err, c->errlen, "%s: user.tokenFile: cannot read \"%s\": %s",
				 c->name, path, strerror(-r));
			return r;
		}
	}
	if (kc->token)
		trim_token(kc->token);
	r = material(c, us, "client-certificate", "user", &kc->cert_pem, &kc->cert_len);
	if (r >= 0)
		r = material(c, us, "client-key", "user", &kc->key_pem, &kc->key_len);
	if (r >= 0 && !kc->cert_pem != !kc->key_pem) {
		snprintf(c->err, c->errlen,
			 "%s: user \"%s\": a client certificate needs its key, and a key its "
			 "certificate",
			 c->name, user);
		r = -EINVAL;
	}
	return r;
}

int kubeconfig_parse(const char *name, const char *buf, size_t len, const char *base_dir,
		     struct kubeconfig *ret, char *errbuf, size_t errlen)
{
	struct yamltree_docs *docs = NULL;
	char perr[512];
	int r = yamltree_parse(buf, len, &docs, perr, sizeof(perr));
	if (r < 0) {
		snprintf(errbuf, errlen, "%s: %s", name, perr);
		return r;
	}
	struct kubeconfig kc = {0};
	struct kctx c = {name, base_dir, errbuf, errlen};
	if (docs->n != 1) {
		snprintf(errbuf, errlen, "%s: expected one YAML document, got %zu", name, docs->n);
		r = -EINVAL;
	} else {
		r = parse_doc(&c, docs->docs[0].root, &kc);
	}
	yamltree_docs_free(docs);
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(errbuf, errlen, "%s: out of memory", name);
		kubeconfig_clear(&kc);
		return r;
	}
	*ret = kc;
	return 0;
}

int kubeconfig_load(const char *path, struct kubeconfig *ret, char *errbuf, size_t errlen)
{
	char *buf = NULL, dir[4096];
	size_t len;
	int r = read_small(path, &buf, &len);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot read kubeconfig \"%s\": %s", path, strerror(-r));
		return r;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	r = kubeconfig_parse(path, buf, len, dir, ret, errbuf, errlen);
	free(buf);
	return r;
}

int kubeconfig_in_cluster(const char *sa_dir, struct kubeconfig *ret, char *errbuf, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char path[4200];
	struct kubeconfig kc = {0};
	size_t len;
	int r;
	if (!sa_dir)
		sa_dir = SA_DIR;
	if (!host || !*host) {
		snprintf(errbuf, errlen, "not in a pod: KUBERNETES_SERVICE_HOST is not set");
		return -ENOENT;
	}
	/* an IPv6 service address needs brackets in a URL */
	bool v6 = strchr(host, ':') != NULL;
	char url[600];
	snprintf(url, sizeof(url), "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "",
		 port && *port ? port : "443");
	struct kctx c = {"in-cluster", NULL, errbuf, errlen};
	if ((r = set_server(&c, url, &kc)) < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/token", sa_dir);
	if ((r = read_small(path, &kc.token, &len)) < 0) {
		snprintf(errbuf, errlen, "in-cluster: cannot read \"%s\": %s", path, strerror(-r));
		goto fail;
	}
	trim_token(kc.token);
	snprintf(path, sizeof(path), "%s/ca.crt", sa_dir);
	if ((r = read_small(path, &kc.ca_pem, &kc.ca_len)) < 0) {
		snprintf(errbuf, errlen, "in-cluster: cannot read \"%s\": %s", path, strerror(-r));
		goto fail;
	}
	char *ns = NULL;
	snprintf(path, sizeof(path), "%s/namespace", sa_dir);
	if (read_small(path, &ns, &len) == 0) {
		trim_token(ns);
		snprintf(kc.namespace, sizeof(kc.namespace), "%s", ns);
		free(ns);
	}
	if (!kc.namespace[0])
		snprintf(kc.namespace, sizeof(kc.namespace), "default");
	*ret = kc;
	return 0;
fail:
	kubeconfig_clear(&kc);
	return r;
}
