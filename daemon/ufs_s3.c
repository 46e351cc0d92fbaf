// SPDX-License-Identifier: Apache-2.0
// s3://[KEY:SECRET@]bucket[/prefix][?endpoint=URL&region=R&path-style=true&anonymous=true]
// on ufs_http.c's engine: reads are its ranged GETs of the object URLs (bound to the opened
// version like any http read), list is ListObjectsV2 and stat HeadObject, all signed with
// SigV4 by libcurl. What must stay true: the keys live only in the engine's curl options and
// in no URL, message or log; u->url is the credential-free http(s) URL of the objects' root.
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws_config.h"
#include "http_transfer.h"
#include "log.h"
#include "s3_url.h"
#include "s3_xml.h"
#include "strmap.h"
#include "ufs.h"

#define S3_LIST_MAX_ENTRIES (10u << 20) /* one directory larger than this is refused */
/* Pages in a row that neither add a name nor go past the greatest key listed before a listing is
 * called stuck: a server that answers with the same page or tokens in a cycle would otherwise
 * be asked forever. Real servers never send one such page (keys come in order, and a common
 * prefix is not repeated on the next page). */
#define S3_LIST_STUCK_PAGES 100
/* The largest ListObjectsV2 page parsed. S3 sends at most 1,000 keys of at most 1,024 bytes a
 * page (under 3 MiB); libxml2's tree of a 60 MiB page of tiny keys took 1 GiB. */
#define S3_LIST_PAGE_MAX (8u << 20)

struct s3 {
	char *bucket;
	char *prefix;	/* "" or "a/b/": every key this UFS sees starts with it */
	char *list_url; /* the bucket's URL, to which "?list-type=2..." is appended */
	char region[64];
	bool anonymous;	  /* never signs, whatever keys it is given */
	char cainfo[512]; /* the CA bundle for https ("": the system's) */
};

/* The longest keys this client signs with (as lib/aws_config.h holds them). */
#define S3_KEY_MAX 127
#define S3_TOKEN_MAX 2047

/* The options of an s3:// URL's query, and where they go. */
struct s3_params {
	char endpoint[512];
	char region[64];
	char token[2048];
	char ca_bundle[512];
	int path_style; /* -1: not given */
	bool anonymous;
};

enum param_kind { P_STRING, P_BOOL };
static const struct s3_param_def {
	const char *name;
	enum param_kind kind;
	size_t off, len;
} param_defs[] = {
    {"endpoint", P_STRING, offsetof(struct s3_params, endpoint), 512},
    {"region", P_STRING, offsetof(struct s3_params, region), 64},
    {"X-Amz-Security-Token", P_STRING, offsetof(struct s3_params, token), 2048},
    {"ca-bundle", P_STRING, offsetof(struct s3_params, ca_bundle), 512},
    {"path-style", P_BOOL, offsetof(struct s3_params, path_style), 0},
    {"anonymous", P_BOOL, offsetof(struct s3_params, anonymous), 0},
};

static int parse_bool(const char *v, bool *ret)
{
	static const char *const yes[] = {"true", "1", "yes"}, *const no[] = {"false", "0", "no"};
	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(v, yes[i]) == 0 || strcasecmp(v, no[i]) == 0) {
			*ret = strcasecmp(v, yes[i]) == 0;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_query(struct ufs *u, char *query, struct s3_params *p)
{
	char *save = NULL;
	for (char *kv = strtok_r(query, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		char *v = eq ? curl_easy_unescape(NULL, eq + 1, 0, NULL) : strdup("true");
		if (eq)
			*eq = '\0';
		if (!v)
			return -ENOMEM;
		const struct s3_param_def *d = NULL;
		for (size_t i = 0; i < sizeof(param_defs) / sizeof(param_defs[0]); i++)
			if (strcmp(param_defs[i].name, kv) == 0)
				d = &param_defs[i];
		int r = 0;
		if (!d) {
			ufs_set_error(
			    u,
			    "unknown s3 option \"%.40s\" (endpoint, region, path-style, ca-bundle, "
			    "anonymous)",
			    kv);
			r = -EINVAL;
		} else if (d->kind == P_STRING) {
			if (strlen(v) >= d->len) {
				ufs_set_error(u, "s3 option \"%s\" is too long", d->name);
				r = -EINVAL;
			} else {
				snprintf((char *)p + d->off, d->len, "%s", v);
			}
		} else {
			bool b;
			r = parse_bool(v, &b);
			if (r < 0)
				ufs_set_error(u, "s3 option \"%s\" is \"%.40s\", not true or false",
					      d->name, v);
			else if (d->off == offsetof(struct s3_params, path_style))
				p->path_style = b;
			else
				p->anonymous = b;
		}
		explicit_bzero(v, strlen(v));
		curl_free(v);
		if (r < 0)
			return r;
	}
	return 0;
}

/* An endpoint on an IP address or localhost has no per-bucket host names. */
static bool host_is_literal(const char *host)
{
	return strcmp(host, "localhost") == 0 || host[0] == '[' ||
	       strspn(host, "0123456789.") == strlen(host);
}

static void s3_free_state(struct s3 *s)
{
	if (!s)
		return;
	free(s->bucket);
	free(s->prefix);
	free(s->list_url);
	free(s);
}

/* Builds s's URLs and u->url (the objects' root) from the endpoint. */
static int s3_urls(struct ufs *u, struct s3 *s, const char *endpoint, bool path_style)
{
	CURLU *h = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *epath = NULL, *pfx = NULL;
	int r = -EINVAL;
	if (!h)
		return -ENOMEM;
	if (curl_url_set(h, CURLUPART_URL, endpoint, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") && strcmp(scheme, "https"))) {
		ufs_set_error(u, "s3 endpoint \"%.100s\" is not an http(s):// URL", endpoint);
		goto out;
	}
	curl_url_get(h, CURLUPART_PORT, &port, 0);
	curl_url_get(h, CURLUPART_PATH, &epath, 0);
	if (epath && strcmp(epath, "/") != 0) {
		ufs_set_error(u, "s3 endpoint \"%.100s\" has a path; give scheme://host[:port]",
			      endpoint);
		goto out;
	}
	if (!path_style && host_is_literal(host)) {
		ufs_set_error(
		    u,
		    "s3 endpoint \"%.100s\" is an address: bucket host names need a DNS name; "
		    "use path-style",
		    endpoint);
		goto out;
	}
	r = -ENOMEM;
	pfx = s3_url_escape(s->prefix, true);
	if (!pfx)
		goto out;
	char portpart[16] = "";
	if (port)
		snprintf(portpart, sizeof(portpart), ":%s", port);
	char *root = NULL, *list = NULL;
	/* the prefix keeps its trailing '/' out of the root: paths come with their leading one */
	size_t pl = strlen(pfx);
	if (pl && pfx[pl - 1] == '/')
		pfx[--pl] = '\0';
	if (path_style) {
		if (asprintf(&list, "%s://%s%s/%s", scheme, host, portpart, s->bucket) < 0)
			list = NULL;
		if (asprintf(&root, "%s://%s%s/%s%s%s", scheme, host, portpart, s->bucket,
			     pl ? "/" : "", pfx) < 0)
			root = NULL;
	} else {
		if (asprintf(&list, "%s://%s.%s%s/", scheme, s->bucket, host, portpart) < 0)
			list = NULL;
		if (asprintf(&root, "%s://%s.%s%s%s%s", scheme, s->bucket, host, portpart,
			     pl ? "/" : "", pfx) < 0)
			root = NULL;
	}
	if (!list || !root) {
		free(list);
		free(root);
		goto out;
	}
	s->list_url = list;
	free(u->url);
	u->url = root;
	r = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(epath);
	free(pfx);
	curl_url_cleanup(h);
	return r;
}

/* Signs u's requests with these keys from now on (ak NULL or "", or an anonymous source:
 * unsigned). Returns 0 or -ENOMEM. */
static int s3_apply_keys(struct ufs *u, const struct s3 *s, const char *ak, const char *sk,
			 const char *tok)
{
	/* signed requests say their payload is not hashed (servers refuse a signed request without
	 * it); an anonymous one must not claim it, or its empty payload's hash mismatches */
	const char *headers[3] = {"x-amz-content-sha256: UNSIGNED-PAYLOAD", NULL, NULL};
	struct http_auth auth = {.cainfo = s->cainfo[0] ? s->cainfo : NULL};
	char sigv4[128], *userpwd = NULL, *tokhdr = NULL;
	int r = -ENOMEM;
	if (!s->anonymous && ak && *ak) {
		auth.headers = headers;
		snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:s3", s->region);
		if (asprintf(&userpwd, "%s:%s", ak, sk ? sk : "") < 0) {
			userpwd = NULL;
			goto out;
		}
		if (tok && *tok) {
			if (asprintf(&tokhdr, "x-amz-security-token: %s", tok) < 0) {
				tokhdr = NULL;
				goto out;
			}
			headers[1] = tokhdr;
		}
		auth.sigv4 = sigv4;
		auth.userpwd = userpwd;
	}
	r = ufs_http_set_auth(u, &auth);
out:
	if (userpwd)
		explicit_bzero(userpwd, strlen(userpwd));
	if (tokhdr)
		explicit_bzero(tokhdr, strlen(tokhdr));
	free(userpwd);
	free(tokhdr);
	return r;
}

/* The words for a Secret's key that holds a control byte (a file's newline, kept by
 * --from-file): said, rather than S3's SignatureDoesNotMatch or a broken header. */
#define S3_SECRET_CONTROL                                                                          \
	"a value of the Dataset's Secret's keys holds a control byte (a newline at its end, from "  \
	"--from-file?); keys are used as given"

static int s3_set_keys(struct ufs *u, const char *ak, const char *sk, const char *tok)
{
	struct s3 *s = ufs_http_client(u);
	if (strlen(ak) > S3_KEY_MAX || strlen(sk) > S3_KEY_MAX || strlen(tok) > S3_TOKEN_MAX) {
		ufs_set_error(u, "a key in the Dataset's Secret is too long for S3");
		return -EINVAL;
	}
	if (!aws_config_value_ok(ak) || !aws_config_value_ok(sk) || !aws_config_value_ok(tok)) {
		ufs_set_error(u, S3_SECRET_CONTROL);
		return -EINVAL;
	}
	int r = s3_apply_keys(u, s, ak, sk, tok);
	if (r == 0)
		log_debug("s3 bucket \"%s\": requests from now on signed with new keys%s",
			  s->bucket, s->anonymous ? " (none: the source is anonymous)" : "");
	return r;
}

/* S3's codes for a session token it no longer takes, sent with HTTP 400: refused keys, as a 403
 * is (EACCES), not a broken request. */
static const char *const token_codes[] = {"ExpiredToken", "InvalidToken", "TokenRefreshRequired"};

static bool token_refused(const struct s3_error *e)
{
	for (size_t i = 0; i < sizeof(token_codes) / sizeof(token_codes[0]); i++)
		if (strcmp(e->code, token_codes[i]) == 0)
			return true;
	return false;
}

/* A read's error answer: the <Error>'s Code and Message, as s3_error words them; -EACCES for a
 * session token refused. */
static int s3_read_cause(long status, const char *body, size_t len, char *cause, size_t clen)
{
	struct s3_error e = {0};
	if (len)
		s3_xml_parse_error(body, len, &e);
	int err = token_refused(&e) ? -EACCES : 0;
	if (!e.code[0])
		snprintf(e.code, sizeof(e.code), "%s",
			 status == 403	 ? "AccessDenied"
			 : status == 404 ? "NoSuchKey"
					 : "error");
	snprintf(cause, clen, "%s%s%s (HTTP %ld)", e.code, e.message[0] ? ": " : "", e.message,
		 status);
	return err;
}

static int s3_init(struct ufs *u, const struct ufs_options *opts)
{
	struct s3_params p = {.path_style = -1};
	struct aws_config ac = {0};
	char *user = NULL, *pass = NULL, *host = NULL, *path = NULL, *query = NULL;
	char errbuf[256];
	bool engine = false;
	int r = -ENOMEM;
	struct s3 *s = calloc(1, sizeof(*s));
	CURLU *h = curl_url();
	if (!s || !h)
		goto out;
	r = -EINVAL;
	const unsigned f = CURLU_NON_SUPPORT_SCHEME;
	if (curl_url_set(h, CURLUPART_URL, u->url, f) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
		ufs_set_error(
		    u, "expected s3://bucket[/prefix][?endpoint=URL&region=R&path-style=true]");
		goto out;
	}
	curl_url_get(h, CURLUPART_USER, &user, CURLU_URLDECODE);
	curl_url_get(h, CURLUPART_PASSWORD, &pass, CURLU_URLDECODE);
	curl_url_get(h, CURLUPART_PATH, &path, CURLU_URLDECODE);
	curl_url_get(h, CURLUPART_QUERY, &query, 0);
	if (query && (r = parse_query(u, query, &p)) < 0)
		goto out;
	r = -ENOMEM;
	s->bucket = strdup(host);
	/* "/a/b/" -> "a/b/": the keys' prefix; "" for the whole bucket */
	const char *pp = path ? path + strspn(path, "/") : "";
	size_t pl = strlen(pp);
	while (pl && pp[pl - 1] == '/')
		pl--;
	if (!s->bucket || asprintf(&s->prefix, "%.*s%s", (int)pl, pp, pl ? "/" : "") < 0) {
		s->prefix = NULL;
		goto out;
	}
	if ((user && *user) != (pass && *pass)) {
		ufs_set_error(u, "an s3 URL with keys needs both KEY:SECRET@");
		r = -EINVAL;
		goto out;
	}
	/* the Dataset's Secret's keys, else the URL's, else the environment's and the profile's
	 * (which also give region and endpoint) */
	bool secret_keys = opts && opts->s3_access_key && *opts->s3_access_key;
	if (secret_keys && (!opts->s3_secret_key || !*opts->s3_secret_key)) {
		ufs_set_error(u,
			      "the Dataset's Secret gives aws.accessKeyId without aws.secretKey");
		r = -EINVAL;
		goto out;
	}
	r = aws_config_load(&ac, errbuf, sizeof(errbuf));
	if (r < 0 && !(user && *user) && !p.anonymous && !secret_keys) {
		ufs_set_error(u, "%s", errbuf);
		goto out;
	}
	if (r < 0) /* a broken profile does not matter to a URL that brings its keys */
		ac = (struct aws_config){0};
	if (user && *user) {
		snprintf(ac.access_key, sizeof(ac.access_key), "%s", user);
		snprintf(ac.secret_key, sizeof(ac.secret_key), "%s", pass);
		snprintf(ac.session_token, sizeof(ac.session_token), "%s", p.token);
	}
	if (secret_keys) {
		if (strlen(opts->s3_access_key) >= sizeof(ac.access_key) ||
		    strlen(opts->s3_secret_key) >= sizeof(ac.secret_key) ||
		    (opts->s3_session_token &&
		     strlen(opts->s3_session_token) >= sizeof(ac.session_token))) {
			ufs_set_error(u, "a key in the Dataset's Secret is too long for S3");
			r = -EINVAL;
			goto out;
		}
		if (!aws_config_value_ok(opts->s3_access_key) ||
		    !aws_config_value_ok(opts->s3_secret_key) ||
		    (opts->s3_session_token && !aws_config_value_ok(opts->s3_session_token))) {
			ufs_set_error(u, S3_SECRET_CONTROL);
			r = -EINVAL;
			goto out;
		}
		snprintf(ac.access_key, sizeof(ac.access_key), "%s", opts->s3_access_key);
		snprintf(ac.secret_key, sizeof(ac.secret_key), "%s", opts->s3_secret_key);
		snprintf(ac.session_token, sizeof(ac.session_token), "%s",
			 opts->s3_session_token ? opts->s3_session_token : "");
	}
	const char *region = p.region[0] ? p.region : ac.region[0] ? ac.region : "us-east-1";
	/* it becomes part of the AWS endpoint's host name (and of the signature's scope): a
	 * region such as "x@evil.example?" would send the requests to another host */
	if (region[strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-")] != '\0') {
		ufs_set_error(u, "s3 region \"%.40s\" is not a region name (a-z, 0-9 and -)",
			      region);
		r = -EINVAL;
		goto out;
	}
	snprintf(s->region, sizeof(s->region), "%s", region);
	s->anonymous = p.anonymous;
	const char *ca = p.ca_bundle[0] ? p.ca_bundle : ac.ca_bundle;
	if (strlen(ca) >= sizeof(s->cainfo)) {
		ufs_set_error(u, "the CA bundle's path is too long");
		r = -EINVAL;
		goto out;
	}
	snprintf(s->cainfo, sizeof(s->cainfo), "%s", ca);
	char endpoint[600];
	if (p.endpoint[0] || ac.endpoint[0])
		snprintf(endpoint, sizeof(endpoint), "%s",
			 p.endpoint[0] ? p.endpoint : ac.endpoint);
	else
		snprintf(endpoint, sizeof(endpoint), "https://s3.%s.amazonaws.com", region);
	bool path_style = p.path_style >= 0 ? p.path_style : false;
	if (p.path_style < 0) {
		/* an address cannot carry the bucket in its name */
		CURLU *eh = curl_url();
		char *ehost = NULL;
		if (eh && curl_url_set(eh, CURLUPART_URL, endpoint, 0) == CURLUE_OK &&
		    curl_url_get(eh, CURLUPART_HOST, &ehost, 0) == CURLUE_OK)
			path_style = host_is_literal(ehost) || strchr(s->bucket, '.');
		curl_free(ehost);
		curl_url_cleanup(eh);
	}
	r = s3_urls(u, s, endpoint, path_style);
	if (r < 0)
		goto out;
	r = ufs_http_engine_init(u, opts, s);
	if (r < 0)
		goto out;
	engine = true;
	ufs_http_set_error_cause(u, s3_read_cause);

	r = s3_apply_keys(u, s, ac.access_key, ac.secret_key, ac.session_token);
	if (r < 0)
		goto out;
	log_debug("s3 bucket \"%s\" prefix \"%s\" region %s, %s, %s", s->bucket, s->prefix,
		  s->region, path_style ? "path-style" : "virtual-hosted",
		  !p.anonymous && ac.access_key[0] ? "signed" : "anonymous");
	r = 0;
out:
	if (r < 0) {
		if (engine)
			ufs_http_engine_fini(u);
		s3_free_state(s);
	}
	aws_config_wipe(&ac);
	explicit_bzero(&p, sizeof(p));
	if (pass)
		explicit_bzero(pass, strlen(pass));
	curl_free(user);
	curl_free(pass);
	curl_free(host);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(h);
	return r;
}

static void s3_fini(struct ufs *u)
{
	if (!u->priv)
		return;
	struct s3 *s = ufs_http_client(u);
	ufs_http_engine_fini(u);
	s3_free_state(s);
}

/* The one place S3 answers become errnos and messages: "<what>: <Code>: <Message> (HTTP n)",
 * with the bucket's region on a wrong-region answer. */
static int s3_error(struct ufs *u, const char *what, const struct http_reply *rep)
{
	struct s3 *s = ufs_http_client(u);
	struct s3_error e = {0};
	if (rep->body)
		s3_xml_parse_error(rep->body, rep->body_len, &e);
	const char *region = e.region[0] ? e.region : rep->region;
	int err;
	switch (rep->status) {
	case 404:
		err = -ENOENT;
		break;
	case 401:
	case 403:
		err = -EACCES;
		break;
	case 412:
		err = -ESTALE;
		break;
	default:
		err = token_refused(&e) ? -EACCES : -EIO;
	}
	/* formatted here, so the log says this request's cause, not another thread's */
	char msg[sizeof(u->last_error)];
	if (region[0] && strcmp(region, s->region) != 0) {
		snprintf(msg, sizeof(msg),
			 "%s: bucket \"%s\" is in region \"%s\", not \"%s\": give that region "
			 "(--s3-region %s)",
			 what, s->bucket, region, s->region, region);
		err = -EIO;
	} else {
		if (!e.code[0] && rep->status == 404)
			snprintf(e.code, sizeof(e.code), "NotFound");
		if (!e.code[0] && rep->status == 403)
			snprintf(e.code, sizeof(e.code), "AccessDenied");
		snprintf(msg, sizeof(msg), "%s: %s%s%s (HTTP %ld)", what,
			 e.code[0] ? e.code : "error", e.message[0] ? ": " : "", e.message,
			 rep->status);
	}
	ufs_set_error(u, "%s", msg);
	log_debug("%s", msg);
	return err;
}

/* The keys' prefix of a directory path: "" for the root of a bucket, else "pfx/a/b/". */
static char *dir_prefix(struct s3 *s, const char *path)
{
	char *p;
	bool root = strcmp(path, "/") == 0;
	if (asprintf(&p, "%s%s%s", s->prefix, root ? "" : path + 1, root ? "" : "/") < 0)
		return NULL;
	return p;
}

/* A name a directory may hold: one component the kernel accepts (a name longer than NAME_MAX
 * fails the whole readdir of a view, not just that entry), not "." or "..". */
static bool name_ok(const char *n, size_t len)
{
	return len && len <= NAME_MAX && !memchr(n, '/', len) && !(len == 1 && n[0] == '.') &&
	       !(len == 2 && n[0] == '.' && n[1] == '.');
}

static int add_ent(struct ufs_dirent **ents, size_t *n, size_t *cap, const char *name, size_t len,
		   const struct ufs_attr *a)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		struct ufs_dirent *e = realloc(*ents, nc * sizeof(*e));
		if (!e)
			return -ENOMEM;
		*ents = e;
		*cap = nc;
	}
	struct ufs_dirent *d = &(*ents)[*n];
	*d = (struct ufs_dirent){.attr = *a, .size_known = !a->is_dir};
	d->name = strndup(name, len);
	if (!d->name)
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* Does page list a key or prefix greater than *last (the greatest so far)? Moves *last up to
 * the page's greatest. Sets *r to -ENOMEM when it cannot. */
static bool page_goes_past(const struct s3_list_page *page, char **last, int *r)
{
	const char *max = NULL;
	for (size_t i = 0; i < page->n_objects; i++)
		if (!max || strcmp(page->objects[i].key, max) > 0)
			max = page->objects[i].key;
	for (size_t i = 0; i < page->n_prefixes; i++)
		if (!max || strcmp(page->prefixes[i], max) > 0)
			max = page->prefixes[i];
	if (!max || (*last && strcmp(max, *last) <= 0))
		return false;
	char *d = strdup(max);
	if (!d) {
		*r = -ENOMEM;
		return false;
	}
	free(*last);
	*last = d;
	return true;
}

/* Counts a key that is no name in the directory listed; keeps the first (cut to 255 bytes). */
static void note_skipped(const char *key, char first[256], size_t *n)
{
	if ((*n)++ != 0)
		return;
	snprintf(first, 256, "%s", key);
	for (char *c = first; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f) /* no line of its own in the log */
			*c = '?';
}

/* Is name (a directory's with its '/') listed for the first time? Records it; counts a repeat
 * in *dups. Sets *r to -ENOMEM when it cannot record it. */
static bool first_time(struct strmap *seen, const char *name, size_t *dups, int *r)
{
	if (strmap_get(seen, name)) {
		(*dups)++;
		return false;
	}
	strmap_put(seen, name, (void *)1, r);
	return *r == 0;
}

/* Lists prefix page by page into *ret_ents (or, with max_keys, only asks whether it has
 * anything). *ret_any: some key lies beneath, named or not (a zero-byte "folder" object
 * "prefix" itself, what the S3 console's "Create folder" makes, or a name no file can have), so
 * the directory exists even with no entry. Returns 0, or -errno with the cause set
 * (ufs_set_error). */
static int list_prefix(struct ufs *u, const char *prefix, unsigned max_keys,
		       struct ufs_dirent **ret_ents, size_t *ret_n, bool *ret_any)
{
	bool any = false;
	struct s3 *s = ufs_http_client(u);
	struct ufs_dirent *ents = NULL;
	size_t n = 0, cap = 0, pl = strlen(prefix);
	char *token = NULL, what[300];
	unsigned stuck = 0; /* pages in a row that added no name and went no further */
	char *last = NULL;  /* the greatest key or prefix listed so far */
	size_t dups = 0;    /* names listed again (logged once, at the end) */
	/* keys and prefixes that are no name here: counted, logged once with the first, so a
	 * server cannot flood the log with them on every listing */
	size_t n_skipped = 0;
	char skipped[256] = "";
	/* names listed so far, a directory's with its '/': a key listed twice keeps its first */
	struct strmap *seen = strmap_new();
	int r = 0;
	if (!seen)
		return -ENOMEM;
	snprintf(what, sizeof(what), "s3://%s/%s", s->bucket, prefix);
	do {
		struct http_reply rep;
		struct s3_list_page page;
		char *url = s3_url_list(s->list_url, prefix, token, max_keys);
		if (!url) {
			r = -ENOMEM;
			break;
		}
		r = ufs_http_request(u, url, false, &rep);
		free(url);
		if (r < 0)
			break;
		if (rep.status != 200) {
			r = s3_error(u, what, &rep);
			http_reply_clear(&rep);
			break;
		}
		size_t before = n;
		if (rep.body_len > S3_LIST_PAGE_MAX) {
			char msg[300];
			snprintf(msg, sizeof(msg),
				 "%.150s: a ListObjectsV2 page of %zu bytes (S3 sends under 3 MiB)",
				 what, rep.body_len);
			http_reply_clear(&rep);
			ufs_set_error(u, "%s", msg);
			log_warn("%s", msg);
			r = -EFBIG;
			break;
		}
		r = s3_xml_parse_list(rep.body, rep.body_len, &page);
		http_reply_clear(&rep);
		if (r < 0) {
			ufs_set_error(
			    u,
			    "%.150s: the server's ListObjectsV2 answer is not one this client "
			    "can read",
			    what);
			log_warn("%.150s: the server's ListObjectsV2 answer is not one this "
				 "client can read (%s)",
				 what, strerror(-r));
			break;
		}
		for (size_t i = 0; i < page.n_objects && r == 0; i++) {
			const struct s3_object *o = &page.objects[i];
			if (strncmp(o->key, prefix, pl) != 0)
				continue;
			any = true;
			const char *nm = o->key + pl;
			if (o->bad_key || !name_ok(nm, strlen(nm))) {
				if (*nm) /* "" is the directory's own marker */
					note_skipped(o->key, skipped, &n_skipped);
				continue;
			}
			if (!first_time(seen, nm, &dups, &r))
				continue;
			struct ufs_attr a = {
			    .size = o->size, .mtime = o->mtime, .mtime_exact = o->mtime > 0};
			snprintf(a.etag, sizeof(a.etag), "%s", o->etag);
			r = add_ent(&ents, &n, &cap, nm, strlen(nm), &a);
		}
		for (size_t i = 0; i < page.n_prefixes && r == 0; i++) {
			const char *cp = page.prefixes[i];
			size_t cl = strlen(cp);
			if (strncmp(cp, prefix, pl) != 0 || cl < pl + 1 || cp[cl - 1] != '/')
				continue;
			any = true;
			if (!name_ok(cp + pl, cl - pl - 1)) {
				note_skipped(cp, skipped, &n_skipped);
				continue;
			}
			if (!first_time(seen, cp + pl, &dups, &r))
				continue;
			struct ufs_attr a = {.is_dir = true};
			r = add_ent(&ents, &n, &cap, cp + pl, cl - pl - 1, &a);
		}
		bool more = page.truncated && !max_keys;
		/* the token that asked for this page, or pages that add nothing: never ends */
		bool again = more && token && strcmp(token, page.next_token) == 0;
		bool further = page_goes_past(&page, &last, &r);
		stuck = n > before || further ? 0 : stuck + 1;
		free(token);
		token = more ? strdup(page.next_token) : NULL;
		s3_list_page_clear(&page);
		if (r == 0 && more && !token)
			r = -ENOMEM;
		if (r == 0 && more && (again || stuck >= S3_LIST_STUCK_PAGES)) {
			/* a server's fault, not a lookup's: logged here, with its cause */
			char msg[400];
			snprintf(msg, sizeof(msg),
				 "%.200s: the server's ListObjectsV2 listing does not advance (%s)",
				 what,
				 again ? "a page gives back the token that asked for it"
				       : "pages in a row repeat what it listed");
			ufs_set_error(u, "%s", msg);
			log_warn("%s", msg);
			r = -EBADMSG;
		}
		if (r == 0 && n > S3_LIST_MAX_ENTRIES) {
			ufs_set_error(u, "%.200s: more than %u entries in one directory", what,
				      S3_LIST_MAX_ENTRIES);
			r = -EFBIG;
		}
	} while (r == 0 && token);
	free(token);
	strmap_free(seen, NULL);
	free(last);
	if (r == 0 && dups)
		log_warn("%s: the server listed %zu names more than once; the first of each stands",
			 what, dups);
	if (r == 0 && n_skipped)
		log_warn(
		    "%s: %zu keys skipped: not file or directory names here (the first: \"%s\"%s)",
		    what, n_skipped, skipped, strlen(skipped) == sizeof(skipped) - 1 ? "..." : "");
	if (r < 0) {
		ufs_dirents_free(ents, n);
		return r;
	}
	*ret_ents = ents;
	*ret_n = n;
	*ret_any = any;
	return 0;
}

static int s3_stat(struct ufs *u, const char *path, struct ufs_attr *ret_attr)
{
	struct s3 *s = ufs_http_client(u);
	if (strcmp(path, "/") == 0) {
		*ret_attr = (struct ufs_attr){.is_dir = true};
		return 0;
	}
	char what[300];
	snprintf(what, sizeof(what), "s3://%s/%s%s", s->bucket, s->prefix, path + 1);
	char *ep = s3_url_escape(path, true), *url = NULL;
	if (!ep || asprintf(&url, "%s%s", u->url, ep) < 0) {
		free(ep);
		return -ENOMEM;
	}
	free(ep);
	struct http_reply rep;
	int r = ufs_http_request(u, url, true, &rep);
	free(url);
	if (r < 0)
		return r;
	if (rep.status == 200 && !rep.have_length) {
		/* no size is not size 0: the file would read as empty */
		http_reply_clear(&rep);
		ufs_set_error(u, "%.200s: HeadObject gives no Content-Length", what);
		log_warn("%.200s: HeadObject gives no Content-Length", what);
		return -EIO;
	}
	if (rep.status == 200) {
		struct ufs_attr a = {
		    .mtime = rep.mtime, .mtime_exact = rep.mtime > 0, .size = rep.length};
		snprintf(a.etag, sizeof(a.etag), "%s", rep.etag);
		http_reply_clear(&rep);
		*ret_attr = a;
		return 0;
	}
	if (rep.status != 404) {
		r = s3_error(u, what, &rep);
		http_reply_clear(&rep);
		return r;
	}
	http_reply_clear(&rep);
	/* no such object: a directory if any key lies beneath */
	char *prefix = dir_prefix(s, path);
	struct ufs_dirent *ents = NULL;
	size_t n = 0;
	bool any = false;
	if (!prefix)
		return -ENOMEM;
	/* one key is enough, though it may be the directory's own marker object */
	r = list_prefix(u, prefix, 1, &ents, &n, &any);
	free(prefix);
	if (r < 0)
		return r;
	ufs_dirents_free(ents, n);
	if (!any) {
		ufs_set_error(u, "%.200s: no such key", what);
		return -ENOENT;
	}
	*ret_attr = (struct ufs_attr){.is_dir = true};
	return 0;
}

/* A key "x" next to keys under "x/": one name, two meanings. The directory wins (it holds the
 * rest of the tree); the objects dropped are logged once a listing, with the first (a bucket an
 * old tool gave a "dir" object per directory would log one line per directory each listing).
 * Returns the new count or -ENOMEM. */
static long drop_shadowed(const char *path, struct ufs_dirent *ents, size_t n)
{
	struct strmap *dirs = strmap_new();
	size_t k = 0, hidden = 0;
	char first[256] = "";
	int err = 0;
	if (!dirs)
		return -ENOMEM;
	for (size_t i = 0; i < n && err == 0; i++)
		if (ents[i].attr.is_dir)
			strmap_put(dirs, ents[i].name, &ents[i], &err);
	for (size_t i = 0; i < n; i++) {
		if (err == 0 && !ents[i].attr.is_dir && strmap_get(dirs, ents[i].name)) {
			if (hidden++ == 0)
				snprintf(first, sizeof(first), "%s", ents[i].name);
			free(ents[i].name);
			continue;
		}
		ents[k++] = ents[i];
	}
	strmap_free(dirs, NULL);
	if (hidden)
		log_warn("s3 listing of \"%s\": %zu object(s) hidden by the directory of the same "
			 "name (the first: object \"%s\" hidden by the directory)",
			 path, hidden, first);
	return err < 0 ? err : (long)k;
}

static int s3_list(struct ufs *u, const char *path, struct ufs_dirent **ret_ents, size_t *ret_n)
{
	struct s3 *s = ufs_http_client(u);
	char *prefix = dir_prefix(s, path);
	if (!prefix)
		return -ENOMEM;
	struct ufs_dirent *ents = NULL;
	size_t n = 0;
	bool any = false;
	int r = list_prefix(u, prefix, 0, &ents, &n, &any);
	free(prefix);
	if (r < 0)
		return r;
	if (!any && strcmp(path, "/") != 0) {
		/* no key beneath, not even a marker: a file or nothing */
		struct ufs_attr a;
		ufs_dirents_free(ents, n);
		r = s3_stat(u, path, &a);
		return r < 0 ? r : a.is_dir ? -ENOENT : -ENOTDIR;
	}
	long kept = drop_shadowed(path, ents, n);
	if (kept < 0) {
		ufs_dirents_free(ents, n);
		return (int)kept;
	}
	*ret_ents = ents;
	*ret_n = (size_t)kept;
	return 0;
}

const struct ufs_ops ufs_s3_ops = {
    .scheme = "s3",
    .listing_versions = true,
    /* AWS's advice for ranged GETs (8 or 16 MB); measured on versitygw: a 4 MiB range costs
     * its server as much CPU as 3 MiB of bytes (bench/s3.sh, the server's own limit) */
    .min_request = 8u << 20,
    .init = s3_init,
    .fini = s3_fini,
    .list = s3_list,
    .stat = s3_stat,
    .read_async = ufs_http_read_async,
    .read_segs_async = ufs_http_read_segs_async,
    .set_keys = s3_set_keys,
};
