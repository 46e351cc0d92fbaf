// SPDX-License-Identifier: Apache-2.0
// UFS-root policy (see ufs_policy.h). URLs are compared in one normal form: scheme, host and
// port lowercased/explicit, the path decoded and its dot segments resolved the way the UFS
// that serves it resolves them, so a path that looks inside a root is inside it.
#include "ufs_policy.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One URL in normal form. */
struct ufs_url {
	char scheme[16];
	char host[256];
	char port[8];
	char path[4096]; /* decoded, dot segments resolved, no trailing '/' ("" = the root) */
	/* s3: the endpoint requests go to, as "scheme://host:port" ("": none given, the AWS
	 * endpoint of the region or weir-node's own profile's) */
	char endpoint[300];
};

struct ufs_root {
	char ns[64]; /* "*" = every namespace */
	char text[512];
	struct ufs_url url;
};

struct ufs_policy {
	size_t n;
	struct ufs_root *roots;
};

/* Resolves "." and ".." segments in place, as the kernel does for local:// (".." at the root
 * stays there), and drops empty segments and a trailing '/'. */
static void path_normalize(char *path)
{
	char out[4096];
	size_t o = 0;
	for (char *seg = path; *seg;) {
		size_t len = strcspn(seg, "/");
		if ((len == 1 && seg[0] == '.') || len == 0) {
			/* nothing */
		} else if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* the '/' before the dropped segment */
		} else if (o + 1 + len < sizeof(out)) {
			out[o++] = '/';
			memcpy(out + o, seg, len);
			o += len;
		}
		seg += len;
		if (*seg == '/')
			seg++;
	}
	out[o] = '\0';
	memcpy(path, out, o + 1);
}

static int url_parse(const char *text, struct ufs_url *u, char *err, size_t errlen);

/* The endpoint an s3 URL's query names (its last endpoint=, as ufs_s3 reads it), in normal
 * form into u->endpoint; none leaves it "". */
static int s3_endpoint(const char *text, char *query, struct ufs_url *u, char *err, size_t errlen)
{
	char *save = NULL, *last = NULL;
	for (char *kv = strtok_r(query, "&", &save); kv; kv = strtok_r(NULL, "&", &save))
		if (strncmp(kv, "endpoint=", 9) == 0)
			last = kv + 9;
	if (!last)
		return 0;
	char *ep = curl_easy_unescape(NULL, last, 0, NULL);
	if (!ep)
		return -ENOMEM;
	struct ufs_url e;
	char why[400];
	int r = url_parse(ep, &e, why, sizeof(why));
	if (r == 0 && strcmp(e.scheme, "http") && strcmp(e.scheme, "https")) {
		snprintf(why, sizeof(why), "not an http(s) URL");
		r = -EINVAL;
	}
	if (r < 0)
		snprintf(err, errlen, "\"%s\": its endpoint \"%s\": %s", text, ep, why);
	else
		snprintf(u->endpoint, sizeof(u->endpoint), "%s://%s:%s", e.scheme, e.host, e.port);
	curl_free(ep);
	return r;
}

/* s3://bucket[/prefix][?endpoint=URL&...]: the bucket as host, the key prefix as path, taken
 * the way ufs_s3 takes them (curl's parse, then decoded; a key's "." and ".." are literal at
 * S3, so none is resolved after decoding), and the endpoint. */
static int s3_parse(const char *text, struct ufs_url *u, char *err, size_t errlen)
{
	CURLU *h = curl_url();
	char *host = NULL, *path = NULL, *query = NULL;
	int r = -EINVAL;
	if (!h)
		return -ENOMEM;
	if (curl_url_set(h, CURLUPART_URL, text, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
		snprintf(err, errlen, "\"%s\" is not s3://bucket[/prefix]", text);
		goto out;
	}
	curl_url_get(h, CURLUPART_PATH, &path, CURLU_URLDECODE);
	curl_url_get(h, CURLUPART_QUERY, &query, 0);
	const char *pp = path ? path + strspn(path, "/") : "";
	size_t pl = strlen(pp);
	while (pl && pp[pl - 1] == '/')
		pl--;
	if (pl + 2 > sizeof(u->path) || strlen(host) >= sizeof(u->host)) {
		snprintf(err, errlen, "\"%s\": too long", text);
		goto out;
	}
	snprintf(u->scheme, sizeof(u->scheme), "s3");
	snprintf(u->host, sizeof(u->host), "%s", host);
	if (pl)
		snprintf(u->path, sizeof(u->path), "/%.*s", (int)pl, pp);
	r = query ? s3_endpoint(text, query, u, err, errlen) : 0;
out:
	curl_free(host);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(h);
	return r;
}

static int url_parse(const char *text, struct ufs_url *u, char *err, size_t errlen)
{
	memset(u, 0, sizeof(*u));
	if (strncasecmp(text, "s3://", 5) == 0)
		return s3_parse(text, u, err, errlen);
	if (strncasecmp(text, "local://", 8) == 0) {
		/* ufs_local takes the path literally (no percent-decoding): so do we */
		const char *p = text + 8;
		if (p[0] != '/') {
			snprintf(err, errlen, "\"%s\" is not local:///absolute/path", text);
			return -EINVAL;
		}
		snprintf(u->scheme, sizeof(u->scheme), "local");
		if (snprintf(u->path, sizeof(u->path), "%s", p) >= (int)sizeof(u->path))
			return -ENAMETOOLONG;
		path_normalize(u->path);
		return 0;
	}
	CURLU *h = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	int r = -EINVAL;
	if (!h)
		return -ENOMEM;
	if (curl_url_set(h, CURLUPART_URL, text, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_PATH, &path, CURLU_URLDECODE) != CURLUE_OK) {
		snprintf(err, errlen, "\"%s\" is not a URL weir can check", text);
		goto out;
	}
	if (strcasecmp(scheme, "http") && strcasecmp(scheme, "https")) {
		snprintf(err, errlen, "\"%s\": scheme \"%s\" is not local, http, https or s3",
			 text, scheme);
		goto out;
	}
	/* Decoding may reveal dot segments ("%2e%2e") that a server resolves after curl did
	 * its own: path_normalize resolves them too. (curl refuses to decode a %00.) */
	if (strlen(path) >= sizeof(u->path)) {
		snprintf(err, errlen, "\"%s\": path too long", text);
		goto out;
	}
	snprintf(u->scheme, sizeof(u->scheme), "%s", scheme);
	for (char *c = u->scheme; *c; c++)
		*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
	snprintf(u->host, sizeof(u->host), "%s", host);
	for (char *c = u->host; *c; c++)
		*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
	snprintf(u->port, sizeof(u->port), "%s", port);
	snprintf(u->path, sizeof(u->path), "%s", path);
	path_normalize(u->path);
	r = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(h);
	return r;
}

static bool under(const struct ufs_url *root, const struct ufs_url *u)
{
	if (strcmp(root->scheme, u->scheme) || strcmp(root->host, u->host) ||
	    strcmp(root->port, u->port) || strcmp(root->endpoint, u->endpoint))
		return false;
	size_t rl = strlen(root->path);
	return strncmp(root->path, u->path, rl) == 0 && (u->path[rl] == '\0' || u->path[rl] == '/');
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

void ufs_policy_free(struct ufs_policy *p)
{
	if (!p)
		return;
	free(p->roots);
	free(p);
}

int ufs_policy_parse(const char *spec, struct ufs_policy **ret, char *err, size_t errlen)
{
	char *copy = strdup(spec ? spec : "");
	struct ufs_policy *p = calloc(1, sizeof(*p));
	char *save = NULL;
	int r = 0;
	if (!copy || !p) {
		r = -ENOMEM;
		goto fail;
	}
	for (char *ent = strtok_r(copy, ";", &save); ent; ent = strtok_r(NULL, ";", &save)) {
		ent = trim(ent);
		if (!*ent)
			continue;
		char *eq = strchr(ent, '=');
		if (!eq) {
			snprintf(err, errlen, "ufs-roots: \"%s\" is not NAMESPACE=URL[,URL...]",
				 ent);
			r = -EINVAL;
			goto fail;
		}
		*eq = '\0';
		char *ns = trim(ent), *save2 = NULL;
		if (!*ns || strlen(ns) >= sizeof(p->roots[0].ns)) {
			snprintf(err, errlen, "ufs-roots: bad namespace \"%s\"", ns);
			r = -EINVAL;
			goto fail;
		}
		for (char *u = strtok_r(eq + 1, ",", &save2); u; u = strtok_r(NULL, ",", &save2)) {
			u = trim(u);
			if (!*u)
				continue;
			struct ufs_root *nr = realloc(p->roots, (p->n + 1) * sizeof(*nr));
			if (!nr) {
				r = -ENOMEM;
				goto fail;
			}
			p->roots = nr;
			struct ufs_root *root = &p->roots[p->n];
			snprintf(root->ns, sizeof(root->ns), "%s", ns);
			snprintf(root->text, sizeof(root->text), "%s", u);
			char why[512];
			r = url_parse(u, &root->url, why, sizeof(why));
			if (r < 0) {
				snprintf(err, errlen, "ufs-roots: %s=%s: %s", ns, u, why);
				goto fail;
			}
			p->n++;
		}
	}
	free(copy);
	if (p->n == 0) {
		ufs_policy_free(p);
		p = NULL;
	}
	*ret = p;
	return 0;
fail:
	free(copy);
	ufs_policy_free(p);
	return r;
}

int ufs_policy_check(const struct ufs_policy *p, const char *ns, const char *url, char *err,
		     size_t errlen)
{
	if (!p)
		return 0;
	struct ufs_url u;
	char why[512] = "";
	bool ok = url_parse(url, &u, why, sizeof(why)) == 0;
	char allowed[2048] = "";
	size_t o = 0;
	for (size_t i = 0; i < p->n; i++) {
		const struct ufs_root *root = &p->roots[i];
		if (strcmp(root->ns, "*") && strcmp(root->ns, ns))
			continue;
		if (ok && under(&root->url, &u))
			return 0;
		if (o < sizeof(allowed))
			o += (size_t)snprintf(allowed + o, sizeof(allowed) - o, "%s%s",
					      o ? ", " : "", root->text);
	}
	snprintf(err, errlen,
		 "namespace \"%s\" may not use the UFS \"%s\"%s%s%s: the administrator's ufs-roots "
		 "allow it %s%s",
		 ns, url, why[0] ? " (" : "", why[0] ? why : "", why[0] ? ")" : "",
		 allowed[0] ? "only under " : "no UFS at all", allowed);
	return -EACCES;
}
