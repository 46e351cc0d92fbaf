// SPDX-License-Identifier: Apache-2.0
// HTTP directory listing parsers: nginx autoindex (HTML, JSON) and Apache mod_autoindex.
// Every href is resolved against the directory URL; only direct children survive, by name.
#include "listing.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <limits.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "http_url.h"
#include "log.h"
#include "strmap.h"

/* The directory being listed, parsed once by curl's URL parser. */
struct dir_ctx {
	const char *url;   /* as given, for messages */
	CURLU *base;	   /* the directory URL; hrefs are resolved against it */
	char *scheme;	   /* lower case, as curl returns it */
	char *host;	   /* compared without case */
	char *port;	   /* always set: CURLU_DEFAULT_PORT */
	char *user;	   /* NULL when the URL has none */
	char *path;	   /* decoded path, starts and ends with "/" */
	char *parent_path; /* decoded parent of path ("/" for "/") */
};

struct ents {
	struct ufs_dirent *v;
	size_t n, cap;
	struct strmap *seen; /* names already listed; a later duplicate is dropped */
	size_t dups;	     /* how many were dropped, logged once */
	size_t hostile;	     /* entries that are no child of the directory, logged once */
	char first_hostile[256]; /* the first of them, cut short */
};

/* Counts an entry that is no child of the directory; keeps the first for the one warning. */
static void note_hostile(struct ents *e, const char *name, size_t len)
{
	if (e->hostile++ != 0)
		return;
	snprintf(e->first_hostile, sizeof(e->first_hostile), "%.*s", (int)(len > 255 ? 255 : len),
		 name);
	for (char *c = e->first_hostile; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f) /* no line of its own in the log */
			*c = '?';
}

/* What resolve_href() decided. */
enum href_verdict {
	HREF_CHILD,   /* a direct child, *ret_name set */
	HREF_SKIP,    /* the listing's own furniture: parent, self, sort links */
	HREF_HOSTILE, /* would leave the tree or is not a child: warn */
};

/* Hrefs in listings are what a browser accepts: spaces happen (Apache with odd names), any
 * scheme may appear (and is then refused by comparison), and ".." must stay visible to us
 * rather than be folded away by curl, so a path that climbs is refused, not resolved. */
#define HREF_FLAGS (CURLU_NON_SUPPORT_SCHEME | CURLU_PATH_AS_IS | CURLU_ALLOW_SPACE)

static void utf8_put(char **p, unsigned cp)
{
	unsigned char *o = (unsigned char *)*p;
	if (cp < 0x80) {
		*o++ = cp;
	} else if (cp < 0x800) {
		*o++ = 0xc0 | cp >> 6;
		*o++ = 0x80 | (cp & 0x3f);
	} else if (cp < 0x10000) {
		*o++ = 0xe0 | cp >> 12;
		*o++ = 0x80 | (cp >> 6 & 0x3f);
		*o++ = 0x80 | (cp & 0x3f);
	} else {
		*o++ = 0xf0 | cp >> 18;
		*o++ = 0x80 | (cp >> 12 & 0x3f);
		*o++ = 0x80 | (cp >> 6 & 0x3f);
		*o++ = 0x80 | (cp & 0x3f);
	}
	*p = (char *)o;
}
/* Decodes HTML character references in place (the few that appear in hrefs and cells).
 * Never grows the string: every reference is longer than its UTF-8 encoding. */
static void html_unescape(char *s)
{
	static const struct {
		const char *name;
		unsigned cp;
	} named[] = {{"amp;", '&'},  {"lt;", '<'},    {"gt;", '>'},
		     {"quot;", '"'}, {"apos;", '\''}, {"nbsp;", ' '}};
	char *o = s;
	for (char *p = s; *p;) {
		if (*p != '&') {
			*o++ = *p++;
			continue;
		}
		bool done = false;
		if (p[1] == '#') {
			char *end;
			unsigned long cp;
			if (p[2] == 'x' || p[2] == 'X')
				cp = strtoul(p + 3, &end, 16);
			else
				cp = strtoul(p + 2, &end, 10);
			if (*end == ';' && end > p + 2 && cp > 0 && cp < 0x110000 &&
			    (size_t)(end + 1 - p) >= 4) {
				utf8_put(&o, (unsigned)cp);
				p = end + 1;
				done = true;
			}
		} else {
			for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
				size_t l = strlen(named[i].name);
				if (strncmp(p + 1, named[i].name, l) == 0) {
					*o++ = (char)named[i].cp;
					p += 1 + l;
					done = true;
					break;
				}
			}
		}
		if (!done)
			*o++ = *p++;
	}
	*o = '\0';
}

static void dir_ctx_fini(struct dir_ctx *d)
{
	curl_url_cleanup(d->base);
	curl_free(d->scheme);
	curl_free(d->host);
	curl_free(d->port);
	curl_free(d->user);
	free(d->path);
	free(d->parent_path);
}

/* Gets one part of u; a part the URL lacks is NULL, not an error. */
static int url_part(CURLU *u, CURLUPart what, unsigned flags, char **ret)
{
	*ret = NULL;
	CURLUcode rc = curl_url_get(u, what, ret, flags);
	if (rc == CURLUE_OK || rc == CURLUE_NO_USER || rc == CURLUE_NO_PORT)
		return 0;
	return rc == CURLUE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
}

static int dir_ctx_init(struct dir_ctx *d, const char *url)
{
	*d = (struct dir_ctx){.url = url};
	char *raw = NULL;
	int r = -ENOMEM;
	d->base = curl_url();
	if (!d->base)
		goto fail;
	r = -EINVAL;
	if (curl_url_set(d->base, CURLUPART_URL, url, HREF_FLAGS) != CURLUE_OK)
		goto fail;
	if ((r = url_part(d->base, CURLUPART_SCHEME, 0, &d->scheme)) < 0 ||
	    (r = url_part(d->base, CURLUPART_HOST, 0, &d->host)) < 0 ||
	    (r = url_part(d->base, CURLUPART_PORT, CURLU_DEFAULT_PORT, &d->port)) < 0 ||
	    (r = url_part(d->base, CURLUPART_USER, 0, &d->user)) < 0 ||
	    (r = url_part(d->base, CURLUPART_PATH, 0, &raw)) < 0)
		goto fail;
	r = -EINVAL;
	if (!d->scheme || !d->host || !raw)
		goto fail;
	size_t dlen;
	char *p = http_url_unescape(raw, strlen(raw), &dlen);
	r = -ENOMEM;
	if (!p)
		goto fail;
	/* room for a "/" at both ends */
	d->path = malloc(dlen + 3);
	if (!d->path) {
		free(p);
		goto fail;
	}
	snprintf(d->path, dlen + 3, "%s%s", p[0] == '/' ? "" : "/", p);
	free(p);
	size_t l = strlen(d->path);
	if (d->path[l - 1] != '/')
		strcat(d->path, "/");
	/* hrefs resolve against the directory itself, not its parent: the raw path gets its "/" */
	size_t rl = strlen(raw);
	if (rl == 0 || raw[rl - 1] != '/') {
		char *slashed = malloc(rl + 2);
		if (!slashed)
			goto fail;
		snprintf(slashed, rl + 2, "%s/", raw);
		CURLUcode rc = curl_url_set(d->base, CURLUPART_PATH, slashed, 0);
		free(slashed);
		r = rc == CURLUE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
		if (rc != CURLUE_OK)
			goto fail;
		r = -ENOMEM;
	}
	d->parent_path = strdup(d->path);
	if (!d->parent_path)
		goto fail;
	l = strlen(d->parent_path);
	if (l > 1) {
		d->parent_path[l - 1] = '\0';
		*(strrchr(d->parent_path, '/') + 1) = '\0';
	}
	curl_free(raw);
	return 0;
fail:
	curl_free(raw);
	dir_ctx_fini(d);
	*d = (struct dir_ctx){.url = url};
	return r;
}

/* A decoded name is a child only if it is one component the kernel accepts: a name longer than
 * NAME_MAX would make the whole readdir of a FUSE view fail, not just that entry. */
static bool name_is_component(const char *name, size_t len)
{
	if (len == 0 || len > NAME_MAX || memchr(name, '\0', len) || memchr(name, '/', len))
		return false;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	return true;
}

/* Two URL parts agree: both absent, or equal (without case when icase). */
static bool part_eq(const char *a, const char *b, bool icase)
{
	if (!a || !b)
		return a == b;
	return icase ? strcasecmp(a, b) == 0 : strcmp(a, b) == 0;
}

/* Decides what href (HTML entities already decoded) points at, relative to d: curl resolves it
 * against the directory URL (dot segments kept), then the result must have the directory's
 * scheme, host, port and user, and its decoded path must name one component below d->path. */
static enum href_verdict resolve_href(const struct dir_ctx *d, const char *href, char **ret_name,
				      bool *ret_is_dir)
{
	size_t n = strcspn(href, "#");
	if (n == 0 || href[0] == '?')
		return HREF_SKIP; /* fragment or sort link: same page */
	if (memchr(href, '?', n))
		return HREF_HOSTILE;
	if ((n == 3 && strncmp(href, "../", 3) == 0) || (n == 2 && strncmp(href, "..", 2) == 0) ||
	    (n == 2 && strncmp(href, "./", 2) == 0) || (n == 1 && href[0] == '.'))
		return HREF_SKIP;

	enum href_verdict v = HREF_HOSTILE;
	char *rel_url = strndup(href, n), *scheme = NULL, *host = NULL, *port = NULL, *user = NULL,
	     *raw = NULL, *dec = NULL;
	CURLU *u = curl_url_dup(d->base);
	if (!rel_url || !u || curl_url_set(u, CURLUPART_URL, rel_url, HREF_FLAGS) != CURLUE_OK)
		goto out;
	if (url_part(u, CURLUPART_SCHEME, 0, &scheme) < 0 ||
	    url_part(u, CURLUPART_HOST, 0, &host) < 0 ||
	    url_part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT, &port) < 0 ||
	    url_part(u, CURLUPART_USER, 0, &user) < 0 || url_part(u, CURLUPART_PATH, 0, &raw) < 0 ||
	    !raw)
		goto out;
	if (!part_eq(scheme, d->scheme, true) || !part_eq(host, d->host, true) ||
	    !part_eq(port, d->port, false) || !part_eq(user, d->user, false))
		goto out;
	size_t dlen;
	dec = http_url_unescape(raw, strlen(raw), &dlen);
	if (!dec)
		goto out;
	if (strcmp(dec, d->path) == 0 || strcmp(dec, d->parent_path) == 0) {
		v = HREF_SKIP;
		goto out;
	}
	size_t pl = strlen(d->path);
	if (dlen < pl || strncmp(dec, d->path, pl) != 0)
		goto out;
	const char *rel = dec + pl;
	dlen -= pl;
	bool is_dir = dlen > 0 && rel[dlen - 1] == '/';
	if (is_dir)
		dlen--;
	if (!name_is_component(rel, dlen))
		goto out;
	char *name = strndup(rel, dlen);
	if (!name)
		goto out;
	*ret_name = name;
	*ret_is_dir = is_dir;
	v = HREF_CHILD;
out:
	free(dec);
	curl_free(raw);
	curl_free(user);
	curl_free(port);
	curl_free(host);
	curl_free(scheme);
	curl_url_cleanup(u);
	free(rel_url);
	return v;
}

/* Adds an entry, taking name. merge_repeat: a link right after one to the same entry is that
 * entry again (HTML: Apache's IconsAreLinks) and refines it; anything else named like an earlier
 * entry is dropped. */
static int ents_add(struct ents *e, char *name, const struct ufs_attr *attr, bool size_known,
		    bool merge_repeat)
{
	if (merge_repeat && e->n > 0 && e->v[e->n - 1].attr.is_dir == attr->is_dir &&
	    strcmp(e->v[e->n - 1].name, name) == 0) {
		struct ufs_dirent *last = &e->v[e->n - 1];
		if (size_known || attr->mtime) {
			last->attr = *attr;
			last->size_known = size_known;
		}
		free(name);
		return 0;
	}
	/* Any other repeat would give a view two entries of one name: the first one stands. */
	if (!e->seen && !(e->seen = strmap_new()))
		goto nomem;
	if (strmap_get(e->seen, name)) {
		e->dups++;
		free(name);
		return 0;
	}
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		struct ufs_dirent *v = realloc(e->v, cap * sizeof(*v));
		if (!v)
			goto nomem;
		e->v = v;
		e->cap = cap;
	}
	int err;
	strmap_put(e->seen, name, e, &err);
	if (err < 0)
		goto nomem;
	e->v[e->n++] = (struct ufs_dirent){.name = name, .attr = *attr, .size_known = size_known};
	return 0;
nomem:
	free(name);
	return -ENOMEM;
}

static void ents_free(struct ents *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].name);
	free(e->v);
	strmap_free(e->seen, NULL);
}

static int month_of(const char *s)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	for (int i = 0; i < 12; i++)
		if (strncasecmp(s, months + 3 * i, 3) == 0)
			return i;
	return -1;
}

static int64_t make_time(int y, int mon, int d, int h, int mi, int s)
{
	if (y < 1970 || mon < 0 || mon > 11 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
		return 0;
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mon,
			.tm_mday = d,
			.tm_hour = h,
			.tm_min = mi,
			.tm_sec = s};
	return (int64_t)timegm(&tm);
}

/* "Sun, 29 Nov 2026 20:00:00 GMT" (RFC 1123, nginx JSON), read by curl. 0 when unparsable. */
static int64_t parse_http_date(const char *s)
{
	time_t t = curl_getdate(s, NULL);
	return t > 0 ? (int64_t)t : 0;
}

/* Date then time tokens: "29-Nov-2026" "20:00" (nginx, old Apache) or "2026-11-29" "20:00"
 * (Apache). Listings show the server's zone; nginx's default is GMT, so read them as UTC. */
static int64_t parse_listing_time(const char *date, const char *tod)
{
	int d, y, mo, h, mi, s = 0;
	char mon[4];
	if (sscanf(tod, "%d:%d:%d", &h, &mi, &s) < 2)
		return 0;
	if (sscanf(date, "%4d-%2d-%2d", &y, &mo, &d) == 3 && strlen(date) == 10)
		return make_time(y, mo - 1, d, h, mi, s);
	if (sscanf(date, "%2d-%3[A-Za-z]-%4d", &d, mon, &y) == 3)
		return make_time(y, month_of(mon), d, h, mi, s);
	return 0;
}

/* A size cell: bare digits are bytes; "1.2M", "12K" are rounded (size unknown). */
static bool parse_size(const char *tok, uint64_t *ret_size)
{
	if (!isdigit((unsigned char)tok[0]))
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(tok, &end, 10);
	/* above 2^63 is no file's size (off_t): unknown, the object's HEAD gives it */
	if (*end != '\0' || errno || v > INT64_MAX)
		return false;
	*ret_size = v;
	return true;
}

static bool looks_like_date(const char *tok)
{
	int a, b, c;
	char mon[4];
	return (sscanf(tok, "%4d-%2d-%2d", &a, &b, &c) == 3 && strlen(tok) == 10) ||
	       sscanf(tok, "%2d-%3[A-Za-z]-%4d", &a, mon, &c) == 3;
}

/* Reads mtime and size from the text after an entry's link, up to the next entry. */
static void parse_row_rest(const char *s, const char *end, struct ufs_attr *attr, bool *size_known)
{
	char text[512];
	size_t t = 0;
	/* keep text, drop tags; cells become spaces */
	for (const char *p = s; p < end && t < sizeof(text) - 1;) {
		if (*p == '<') {
			const char *gt = memchr(p, '>', end - p);
			if (!gt)
				break;
			text[t++] = ' ';
			p = gt + 1;
		} else {
			text[t++] = *p++;
		}
	}
	text[t] = '\0';
	html_unescape(text);

	char *toks[8];
	int nt = 0;
	char *save;
	for (char *tok = strtok_r(text, " \t\r\n", &save); tok && nt < 8;
	     tok = strtok_r(NULL, " \t\r\n", &save))
		toks[nt++] = tok;
	for (int i = 0; i + 1 < nt; i++) {
		if (!looks_like_date(toks[i]))
			continue;
		attr->mtime = parse_listing_time(toks[i], toks[i + 1]);
		if (!attr->is_dir && i + 2 < nt)
			*size_known = parse_size(toks[i + 2], &attr->size);
		break;
	}
}

static const char *find_ci(const char *s, const char *end, const char *needle)
{
	size_t nl = strlen(needle);
	for (const char *p = s; p + nl <= end; p++)
		if (strncasecmp(p, needle, nl) == 0)
			return p;
	return NULL;
}

/* Extracts the href value of the tag starting at tag (just past "<a"), up to tag_end. */
static char *tag_href(const char *tag, const char *tag_end)
{
	for (const char *p = tag; p < tag_end; p++) {
		if (strncasecmp(p, "href", 4) != 0 || !isspace((unsigned char)p[-1]))
			continue;
		const char *v = p + 4;
		while (v < tag_end && isspace((unsigned char)*v))
			v++;
		if (v >= tag_end || *v != '=')
			continue;
		v++;
		while (v < tag_end && isspace((unsigned char)*v))
			v++;
		const char *ve;
		if (*v == '"' || *v == '\'') {
			ve = memchr(v + 1, *v, tag_end - v - 1);
			v++;
			if (!ve)
				return NULL;
		} else {
			ve = v;
			while (ve < tag_end && !isspace((unsigned char)*ve))
				ve++;
		}
		char *href = strndup(v, ve - v);
		if (href)
			html_unescape(href);
		return href;
	}
	return NULL;
}

static int parse_html(const char *body, const struct dir_ctx *d, struct ents *e)
{
	const char *end = body + strlen(body);
	const char *p = body;
	int r = 0;
	while ((p = find_ci(p, end, "<a")) != NULL) {
		if (!isspace((unsigned char)p[2])) {
			p += 2;
			continue;
		}
		const char *tag_end = memchr(p, '>', end - p);
		if (!tag_end)
			break;
		char *href = tag_href(p + 2, tag_end);
		const char *close = find_ci(tag_end, end, "</a>");
		const char *rest = close ? close + 4 : tag_end + 1;
		p = rest;
		if (!href)
			continue;

		char *name = NULL;
		bool is_dir = false;
		enum href_verdict v = resolve_href(d, href, &name, &is_dir);
		if (v == HREF_SKIP) {
			log_debug("listing %s: skipping link \"%s\"", d->url, href);
			free(href);
			continue;
		}
		if (v == HREF_HOSTILE) {
			note_hostile(e, href, strlen(href));
			free(href);
			continue;
		}
		free(href);

		const char *row_end = end;
		const char *c;
		if ((c = find_ci(rest, end, "<a ")) && c < row_end)
			row_end = c;
		if ((c = memchr(rest, '\n', row_end - rest)))
			row_end = c;
		if ((c = find_ci(rest, row_end, "</tr")))
			row_end = c;
		struct ufs_attr attr = {.is_dir = is_dir};
		bool size_known = is_dir;
		parse_row_rest(rest, row_end, &attr, &size_known);
		if (is_dir) {
			attr.size = 0;
			size_known = true;
		}
		r = ents_add(e, name, &attr, size_known, true);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The string value of key in o, with its length (json-c keeps embedded NULs), or NULL. */
static const char *jstr(json_object *o, const char *key, size_t *ret_len)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	if (ret_len)
		*ret_len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

/* One element of nginx's autoindex_format json: {"name", "type", "mtime", "size"}. */
static int json_entry(json_object *o, const struct dir_ctx *d, struct ents *e)
{
	size_t name_len = 0;
	const char *name = jstr(o, "name", &name_len), *type = jstr(o, "type", NULL);
	const char *mtime = jstr(o, "mtime", NULL);
	if (!name || !type) {
		log_debug("listing %s: entry without name or type", d->url);
		return 0;
	}
	if (!name_is_component(name, name_len)) {
		note_hostile(e, name, name_len);
		return 0;
	}
	bool is_dir = strcmp(type, "directory") == 0;
	if (!is_dir && strcmp(type, "file") != 0) {
		log_debug("listing %s: skipping \"%s\" of type \"%s\"", d->url, name, type);
		return 0;
	}
	struct ufs_attr attr = {.is_dir = is_dir, .mtime = mtime ? parse_http_date(mtime) : 0};
	attr.mtime_exact = attr.mtime > 0; /* nginx's JSON gives an HTTP date, to the second */
	bool size_known = is_dir;
	json_object *size;
	/* a size is exact bytes or nothing: strings, fractions, negatives and sizes above 2^63
	 * (no file's: off_t) are not sizes */
	if (!is_dir && json_object_object_get_ex(o, "size", &size) &&
	    json_object_is_type(size, json_type_int) && json_object_get_int64(size) >= 0 &&
	    json_object_get_uint64(size) <= INT64_MAX) {
		attr.size = json_object_get_uint64(size);
		size_known = true;
	}
	char *copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	return ents_add(e, copy, &attr, size_known, false);
}

static int parse_json(const char *body, size_t len, const struct dir_ctx *d, struct ents *e)
{
	if (len > INT_MAX)
		return -EBADMSG;
	/* nginx nests nothing: depth 4 is plenty and bounds a hostile body's recursion */
	json_tokener *tok = json_tokener_new_ex(4);
	if (!tok)
		return -ENOMEM;
	json_object *root = json_tokener_parse_ex(tok, body, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	json_tokener_free(tok);
	int r = 0;
	if (!root || jerr != json_tokener_success || !json_object_is_type(root, json_type_array)) {
		log_debug("listing %s: not a JSON array (%s)", d->url,
			  root ? "another JSON value" : json_tokener_error_desc(jerr));
		r = -EBADMSG;
		goto out;
	}
	size_t n = json_object_array_length(root);
	for (size_t i = 0; i < n && r >= 0; i++) {
		json_object *o = json_object_array_get_idx(root, i);
		if (!json_object_is_type(o, json_type_object)) {
			r = -EBADMSG;
			break;
		}
		r = json_entry(o, d, e);
	}
out:
	json_object_put(root);
	return r;
}

static enum listing_format sniff(const char *body, size_t len, const char *content_type)
{
	if (content_type && strcasestr(content_type, "json"))
		return LISTING_NGINX_JSON;
	size_t i = 0;
	while (i < len && isspace((unsigned char)body[i]))
		i++;
	if (i < len && body[i] == '[')
		return LISTING_NGINX_JSON;
	if (find_ci(body, body + len, "?C=N;O=") || find_ci(body, body + len, "<table"))
		return LISTING_APACHE_HTML;
	return LISTING_NGINX_HTML;
}

int listing_parse(const char *body, size_t len, const char *content_type, const char *dir_url,
		  enum listing_format fmt, struct ufs_dirent **ret_ents, size_t *ret_n)
{
	struct dir_ctx d;
	struct ents e = {0};
	int r = dir_ctx_init(&d, dir_url);
	if (r < 0)
		return r;
	/* HTML parsing wants a C string; a NUL inside the body just ends it */
	char *copy = malloc(len + 1);
	if (!copy) {
		r = -ENOMEM;
		goto out_ctx;
	}
	memcpy(copy, body, len);
	copy[len] = '\0';

	if (fmt == LISTING_AUTO)
		fmt = sniff(copy, len, content_type);
	if (fmt == LISTING_NGINX_JSON)
		r = parse_json(copy, len, &d, &e);
	else
		r = parse_html(copy, &d, &e);
	if (r < 0)
		goto out_ents;
	if (e.dups)
		log_warn(
		    "listing %s: %zu entries repeat an earlier name; the first of each is kept",
		    dir_url, e.dups);
	/* once a listing, not once an entry: a server cannot flood the log with them */
	if (e.hostile)
		log_warn("listing %s: ignoring %zu entries that are not inside the directory (the "
			 "first: \"%s\")",
			 dir_url, e.hostile, e.first_hostile);
	strmap_free(e.seen, NULL);
	*ret_ents = e.v;
	*ret_n = e.n;
	e = (struct ents){0};
out_ents:
	ents_free(&e);
	free(copy);
out_ctx:
	dir_ctx_fini(&d);
	return r;
}
