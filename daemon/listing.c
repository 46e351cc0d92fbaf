// SPDX-License-Identifier: Apache-2.0
// HTTP directory listing parsers: nginx autoindex (HTML, JSON) and Apache mod_autoindex.
// Every href is resolved against the directory URL; only direct children survive, by name.
#include "listing.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"

/* The directory being listed, decoded once. */
struct dir_ctx {
	const char *url;   /* as given, for messages */
	char *origin;	   /* "scheme://authority", no trailing slash */
	char *authority;   /* "host[:port]" */
	char *path;	   /* decoded path, starts and ends with "/" */
	char *parent_path; /* decoded parent of path ("/" for "/") */
};

struct ents {
	struct ufs_dirent *v;
	size_t n, cap;
};

/* What resolve_href() decided. */
enum href_verdict {
	HREF_CHILD,   /* a direct child, *ret_name set */
	HREF_SKIP,    /* the listing's own furniture: parent, self, sort links */
	HREF_HOSTILE, /* would leave the tree or is not a child: warn */
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes n bytes of s into a new string; malformed escapes stay literal. The result
 * may contain NUL bytes; *ret_len is its real length. */
static char *pct_decode(const char *s, size_t n, size_t *ret_len)
{
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < n && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	if (ret_len)
		*ret_len = o;
	return out;
}

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
	free(d->origin);
	free(d->authority);
	free(d->path);
	free(d->parent_path);
}

static int dir_ctx_init(struct dir_ctx *d, const char *url)
{
	*d = (struct dir_ctx){.url = url};
	const char *sep = strstr(url, "://");
	if (!sep)
		goto bad;
	const char *auth = sep + 3;
	const char *slash = strchr(auth, '/');
	if (!slash)
		slash = auth + strlen(auth);
	const char *q = strpbrk(slash, "?#");
	size_t plen = q ? (size_t)(q - slash) : strlen(slash);
	d->origin = strndup(url, slash - url);
	d->authority = strndup(auth, slash - auth);
	if (!d->origin || !d->authority)
		goto nomem;
	size_t dlen;
	char *p = pct_decode(slash, plen, &dlen);
	if (!p)
		goto nomem;
	/* room for a "/" at both ends */
	d->path = malloc(dlen + 3);
	if (!d->path) {
		free(p);
		goto nomem;
	}
	snprintf(d->path, dlen + 3, "%s%s", p[0] == '/' ? "" : "/", p);
	free(p);
	size_t l = strlen(d->path);
	if (d->path[l - 1] != '/')
		strcat(d->path, "/");
	d->parent_path = strdup(d->path);
	if (!d->parent_path)
		goto nomem;
	l = strlen(d->parent_path);
	if (l > 1) {
		d->parent_path[l - 1] = '\0';
		*(strrchr(d->parent_path, '/') + 1) = '\0';
	}
	return 0;
nomem:
	dir_ctx_fini(d);
	return -ENOMEM;
bad:
	dir_ctx_fini(d);
	return -EINVAL;
}

/* A decoded name is a child only if it is one component. */
static bool name_is_component(const char *name, size_t len)
{
	if (len == 0 || memchr(name, '\0', len) || memchr(name, '/', len))
		return false;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	return true;
}

/* Decides what href (HTML entities already decoded) points at, relative to d. */
static enum href_verdict resolve_href(const struct dir_ctx *d, const char *href, char **ret_name,
				      bool *ret_is_dir)
{
	size_t n = strcspn(href, "#");
	if (n == 0 || href[0] == '?')
		return HREF_SKIP; /* fragment or sort link: same page */
	if (memchr(href, '?', n))
		return HREF_HOSTILE;

	char *dec = NULL;
	size_t dlen;
	const char *rel; /* decoded, relative to d->path */
	size_t scheme_len = strspn(href, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "0123456789+.-");
	if (scheme_len > 0 && scheme_len < n && href[scheme_len] == ':') {
		size_t ol = strlen(d->origin);
		if (strncasecmp(href, d->origin, ol) != 0 || href[ol] != '/')
			return HREF_HOSTILE;
		href += ol;
		n -= ol;
	} else if (n >= 2 && href[0] == '/' && href[1] == '/') {
		size_t al = strlen(d->authority);
		if (strncasecmp(href + 2, d->authority, al) != 0 || href[2 + al] != '/')
			return HREF_HOSTILE;
		href += 2 + al;
		n -= 2 + al;
	}
	if (href[0] == '/') {
		dec = pct_decode(href, n, &dlen);
		if (!dec)
			return HREF_HOSTILE;
		if (strcmp(dec, d->path) == 0 || strcmp(dec, d->parent_path) == 0) {
			free(dec);
			return HREF_SKIP;
		}
		size_t pl = strlen(d->path);
		if (dlen < pl || strncmp(dec, d->path, pl) != 0) {
			free(dec);
			return HREF_HOSTILE;
		}
		rel = dec + pl;
		dlen -= pl;
	} else {
		if ((n == 3 && strncmp(href, "../", 3) == 0) ||
		    (n == 2 && strncmp(href, "..", 2) == 0) ||
		    (n == 2 && strncmp(href, "./", 2) == 0) || (n == 1 && href[0] == '.'))
			return HREF_SKIP;
		dec = pct_decode(href, n, &dlen);
		if (!dec)
			return HREF_HOSTILE;
		rel = dec;
	}
	bool is_dir = dlen > 0 && rel[dlen - 1] == '/';
	if (is_dir)
		dlen--;
	if (!name_is_component(rel, dlen)) {
		free(dec);
		return HREF_HOSTILE;
	}
	char *name = strndup(rel, dlen);
	free(dec);
	if (!name)
		return HREF_HOSTILE;
	*ret_name = name;
	*ret_is_dir = is_dir;
	return HREF_CHILD;
}

static int ents_add(struct ents *e, char *name, const struct ufs_attr *attr, bool size_known)
{
	/* An icon linking to the same entry (Apache IconsAreLinks) repeats the name. */
	if (e->n > 0 && strcmp(e->v[e->n - 1].name, name) == 0) {
		struct ufs_dirent *last = &e->v[e->n - 1];
		if (size_known || attr->mtime) {
			last->attr = *attr;
			last->size_known = size_known;
		}
		free(name);
		return 0;
	}
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		struct ufs_dirent *v = realloc(e->v, cap * sizeof(*v));
		if (!v) {
			free(name);
			return -ENOMEM;
		}
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n++] = (struct ufs_dirent){.name = name, .attr = *attr, .size_known = size_known};
	return 0;
}

static void ents_free(struct ents *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].name);
	free(e->v);
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

/* "Sun, 29 Nov 2026 20:00:00 GMT" (RFC 1123, nginx JSON). 0 when unparsable. */
static int64_t parse_rfc1123(const char *s)
{
	const char *c = strchr(s, ',');
	int d, y, h, mi, sec;
	char mon[4];
	if (!c || sscanf(c + 1, " %d %3s %d %d:%d:%d", &d, mon, &y, &h, &mi, &sec) != 6)
		return 0;
	return make_time(y, month_of(mon), d, h, mi, sec);
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
	unsigned long long v = strtoull(tok, &end, 10);
	if (*end != '\0')
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
			log_warn(
			    "listing %s: ignoring entry \"%s\": it is not inside the directory",
			    d->url, href);
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
		r = ents_add(e, name, &attr, size_known);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A minimal JSON reader, enough for nginx's autoindex_format json. */
struct json {
	const char *p, *end;
};

static void json_ws(struct json *j)
{
	while (j->p < j->end && isspace((unsigned char)*j->p))
		j->p++;
}

static bool json_eat(struct json *j, char c)
{
	json_ws(j);
	if (j->p < j->end && *j->p == c) {
		j->p++;
		return true;
	}
	return false;
}

/* Parses a string; returns owned decoded bytes and their length (may contain NUL). */
static char *json_string(struct json *j, size_t *ret_len)
{
	json_ws(j);
	if (j->p >= j->end || *j->p != '"')
		return NULL;
	j->p++;
	/* the decoded string is never longer than its escaped form */
	const char *q = j->p;
	while (q < j->end && *q != '"')
		q += (*q == '\\' && q + 1 < j->end) ? 2 : 1;
	char *out = malloc(q - j->p + 1);
	if (!out)
		return NULL;
	char *o = out;
	while (j->p < j->end && *j->p != '"') {
		if (*j->p != '\\') {
			*o++ = *j->p++;
			continue;
		}
		if (++j->p >= j->end)
			goto bad;
		char c = *j->p++;
		switch (c) {
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'u': {
			unsigned cp = 0;
			for (int k = 0; k < 4; k++) {
				int h = j->p < j->end ? hexval((unsigned char)*j->p++) : -1;
				if (h < 0)
					goto bad;
				cp = cp << 4 | h;
			}
			if (cp >= 0xd800 && cp < 0xdc00 && j->end - j->p >= 6 && j->p[0] == '\\' &&
			    j->p[1] == 'u') {
				unsigned lo = 0;
				for (int k = 2; k < 6; k++) {
					int h = hexval((unsigned char)j->p[k]);
					if (h < 0)
						goto bad;
					lo = lo << 4 | h;
				}
				if (lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					j->p += 6;
				}
			}
			utf8_put(&o, cp);
			break;
		}
		default:
			*o++ = c;
			break;
		}
	}
	if (j->p >= j->end)
		goto bad;
	j->p++;
	*o = '\0';
	*ret_len = o - out;
	return out;
bad:
	free(out);
	return NULL;
}

/* Skips any value; returns false on malformed input. */
static bool json_skip(struct json *j, int depth)
{
	json_ws(j);
	if (j->p >= j->end || depth > 32)
		return false;
	char c = *j->p;
	if (c == '"') {
		size_t l;
		char *s = json_string(j, &l);
		free(s);
		return s != NULL;
	}
	if (c == '{' || c == '[') {
		char close = c == '{' ? '}' : ']';
		j->p++;
		if (json_eat(j, close))
			return true;
		do {
			if (c == '{') {
				size_t l;
				char *k = json_string(j, &l);
				free(k);
				if (!k || !json_eat(j, ':'))
					return false;
			}
			if (!json_skip(j, depth + 1))
				return false;
		} while (json_eat(j, ','));
		return json_eat(j, close);
	}
	const char *s = j->p;
	while (j->p < j->end && (isalnum((unsigned char)*j->p) || strchr("+-.", *j->p)))
		j->p++;
	return j->p > s;
}

static int parse_json(const char *body, size_t len, const struct dir_ctx *d, struct ents *e)
{
	struct json j = {.p = body, .end = body + len};
	if (!json_eat(&j, '['))
		return -EBADMSG;
	if (json_eat(&j, ']'))
		return 0;
	do {
		if (!json_eat(&j, '{'))
			return -EBADMSG;
		char *name = NULL, *type = NULL;
		size_t name_len = 0;
		struct ufs_attr attr = {0};
		bool size_known = false;
		if (!json_eat(&j, '}')) {
			do {
				size_t kl, vl;
				char *key = json_string(&j, &kl);
				if (!key || !json_eat(&j, ':')) {
					free(key);
					goto bad;
				}
				json_ws(&j);
				if (strcmp(key, "name") == 0 && !name) {
					name = json_string(&j, &name_len);
				} else if (strcmp(key, "type") == 0 && !type) {
					type = json_string(&j, &vl);
				} else if (strcmp(key, "mtime") == 0 && j.p < j.end &&
					   *j.p == '"') {
					char *m = json_string(&j, &vl);
					if (m)
						attr.mtime = parse_rfc1123(m);
					free(m);
				} else if (strcmp(key, "size") == 0 && j.p < j.end &&
					   isdigit((unsigned char)*j.p)) {
					char *endp;
					attr.size = strtoull(j.p, &endp, 10);
					j.p = endp;
					size_known = true;
				} else if (!json_skip(&j, 0)) {
					free(key);
					goto bad;
				}
				free(key);
			} while (json_eat(&j, ','));
			if (!json_eat(&j, '}'))
				goto bad;
		}
		if (!name || !type) {
			log_debug("listing %s: entry without name or type", d->url);
		} else if (!name_is_component(name, name_len)) {
			log_warn(
			    "listing %s: ignoring entry \"%s\": it is not inside the directory",
			    d->url, name);
		} else if (strcmp(type, "directory") == 0 || strcmp(type, "file") == 0) {
			attr.is_dir = type[0] == 'd';
			if (attr.is_dir) {
				attr.size = 0;
				size_known = true;
			}
			int r = ents_add(e, name, &attr, size_known);
			name = NULL;
			if (r < 0) {
				free(type);
				return r;
			}
		} else {
			log_debug("listing %s: skipping \"%s\" of type \"%s\"", d->url, name, type);
		}
		free(name);
		free(type);
		continue;
	bad:
		free(name);
		free(type);
		return -EBADMSG;
	} while (json_eat(&j, ','));
	if (!json_eat(&j, ']'))
		return -EBADMSG;
	return 0;
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
