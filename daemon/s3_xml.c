// SPDX-License-Identifier: Apache-2.0
// S3's XML answers through libxml2. What must stay true: nothing from the network is fetched
// and no entity is expanded (no XML_PARSE_NOENT/DTDLOAD, and a DOCTYPE is refused outright);
// a malformed page fails the listing rather than yielding a partial tree.
#include "s3_xml.h"

#include <errno.h>
#include <inttypes.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "percent.h"

/* S3 keys are at most 1024 bytes: anything longer is not from an S3 server. */
#define S3_KEY_MAX 1024
/* ... and URL-encoded (encoding-type=url) at most three times that */
#define S3_KEY_ENCODED_MAX (3 * S3_KEY_MAX)

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init_once(void)
{
	xmlInitParser(); /* once, before threads parse concurrently */
}

static xmlDocPtr parse(const char *body, size_t len)
{
	pthread_once(&xml_once, xml_init_once);
	if (!body || len == 0 || len > INT32_MAX)
		return NULL;
	if (memmem(body, len, "<!DOCTYPE", 9))
		return NULL;
	xmlDocPtr doc = xmlReadMemory(body, (int)len, NULL, NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc && doc->intSubset) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

static bool named(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* The element's text, owned by the caller (xmlFree), or NULL. */
static char *text_of(xmlNodePtr n)
{
	return (char *)xmlNodeGetContent(n);
}

static void copy_text(xmlNodePtr n, char *out, size_t len)
{
	char *t = text_of(n);
	snprintf(out, len, "%s", t ? t : "");
	xmlFree(t);
}

static char *dup_text(xmlNodePtr n)
{
	char *t = text_of(n);
	char *d = t ? strdup(t) : NULL;
	xmlFree(t);
	return d;
}

int s3_xml_parse_time(const char *s, int64_t *ret)
{
	struct tm tm = {0};
	int consumed = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6)
		return -EINVAL;
	const char *rest = s + consumed;
	if (*rest == '.')
		rest += 1 + strspn(rest + 1, "0123456789");
	if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0)
		return -EINVAL;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*ret = (int64_t)timegm(&tm);
	return 0;
}

static int parse_contents(xmlNodePtr c, struct s3_object *o)
{
	bool have_size = false;
	*o = (struct s3_object){0};
	for (xmlNodePtr n = c->children; n; n = n->next) {
		if (named(n, "Key")) {
			free(o->key);
			o->key = dup_text(n);
			if (!o->key)
				return -ENOMEM;
		} else if (named(n, "Size")) {
			char v[32], *end;
			copy_text(n, v, sizeof(v));
			errno = 0;
			unsigned long long sz = strtoull(v, &end, 10);
			/* digits only, and a size a file can have (off_t): no sign, no blank */
			if (errno || end == v || *end || v[0] < '0' || v[0] > '9' || sz > INT64_MAX)
				return -EBADMSG;
			o->size = sz;
			have_size = true;
		} else if (named(n, "LastModified")) {
			char v[64];
			copy_text(n, v, sizeof(v));
			if (s3_xml_parse_time(v, &o->mtime) < 0)
				o->mtime = 0;
		} else if (named(n, "ETag")) {
			/* cut short, it would never match in If-Match: none, then */
			char *t = text_of(n);
			if (t && strlen(t) < sizeof(o->etag))
				snprintf(o->etag, sizeof(o->etag), "%s", t);
			xmlFree(t);
		}
	}
	return o->key && o->key[0] && strlen(o->key) <= S3_KEY_ENCODED_MAX && have_size ? 0
											: -EBADMSG;
}

static int grow(void **arr, size_t n, size_t *cap, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 64;
	void *a = realloc(*arr, nc * elem);
	if (!a)
		return -ENOMEM;
	*arr = a;
	*cap = nc;
	return 0;
}

/* Are p's keys and prefixes (decoded) of a length S3 allows? */
static bool lengths_ok(const struct s3_list_page *p)
{
	for (size_t i = 0; i < p->n_objects; i++)
		if (strlen(p->objects[i].key) > S3_KEY_MAX && !p->objects[i].bad_key)
			return false;
	for (size_t i = 0; i < p->n_prefixes; i++)
		if (strlen(p->prefixes[i]) > S3_KEY_MAX)
			return false;
	return true;
}

/* Decodes p's keys and prefixes (an encoding-type=url answer). */
static void decode_page(struct s3_list_page *p)
{
	for (size_t i = 0; i < p->n_objects; i++) {
		struct s3_object *o = &p->objects[i];
		char *raw = strdup(o->key);
		size_t n = percent_decode(o->key, true);
		if (n != strlen(o->key) || n == 0) {
			/* a NUL inside: cut there it would be another key's name; keep it as
			 * sent, with no name */
			if (raw) {
				free(o->key);
				o->key = raw;
				raw = NULL;
			}
			o->bad_key = true;
		}
		free(raw);
	}
	for (size_t i = 0; i < p->n_prefixes; i++)
		percent_decode(p->prefixes[i], true);
}

int s3_xml_parse_list(const char *body, size_t len, struct s3_list_page *ret)
{
	bool url_encoded = false;
	struct s3_list_page p = {0};
	size_t ocap = 0, pcap = 0;
	int r = -EBADMSG;
	xmlDocPtr doc = parse(body, len);
	if (!doc)
		return -EBADMSG;
	xmlNodePtr root = xmlDocGetRootElement(doc);
	if (!root || !named(root, "ListBucketResult"))
		goto fail;
	for (xmlNodePtr n = root->children; n; n = n->next) {
		if (named(n, "Contents")) {
			r = grow((void **)&p.objects, p.n_objects, &ocap, sizeof(*p.objects));
			if (r < 0)
				goto fail;
			r = parse_contents(n, &p.objects[p.n_objects]);
			if (r < 0) {
				free(p.objects[p.n_objects].key);
				goto fail;
			}
			p.n_objects++;
		} else if (named(n, "CommonPrefixes")) {
			for (xmlNodePtr c = n->children; c; c = c->next) {
				if (!named(c, "Prefix"))
					continue;
				r = grow((void **)&p.prefixes, p.n_prefixes, &pcap,
					 sizeof(*p.prefixes));
				if (r < 0)
					goto fail;
				char *s = dup_text(c);
				if (!s) {
					r = -ENOMEM;
					goto fail;
				}
				if (strlen(s) > S3_KEY_ENCODED_MAX) {
					free(s);
					r = -EBADMSG;
					goto fail;
				}
				p.prefixes[p.n_prefixes++] = s;
			}
		} else if (named(n, "IsTruncated")) {
			/* xsd:boolean; anything else is no answer, not "false", which would end
			 * the listing early without a word */
			char v[16];
			copy_text(n, v, sizeof(v));
			const char *t = v + strspn(v, " \t\r\n");
			size_t tl = strcspn(t, " \t\r\n");
			if (t[tl + strspn(t + tl, " \t\r\n")] != '\0')
				goto fail;
			if ((tl == 4 && !strncmp(t, "true", 4)) || (tl == 1 && t[0] == '1'))
				p.truncated = true;
			else if ((tl == 5 && !strncmp(t, "false", 5)) || (tl == 1 && t[0] == '0'))
				p.truncated = false;
			else
				goto fail;
		} else if (named(n, "EncodingType")) {
			char v[16];
			copy_text(n, v, sizeof(v));
			url_encoded = strcmp(v, "url") == 0;
		} else if (named(n, "NextContinuationToken")) {
			free(p.next_token);
			p.next_token = dup_text(n);
			if (!p.next_token) {
				r = -ENOMEM;
				goto fail;
			}
		}
	}
	/* a truncated page without a way on would silently end the listing */
	if (p.truncated && (!p.next_token || !p.next_token[0])) {
		r = -EBADMSG;
		goto fail;
	}
	if (url_encoded)
		decode_page(&p);
	if (!lengths_ok(&p))
		goto fail;
	xmlFreeDoc(doc);
	*ret = p;
	return 0;
fail:
	if (r >= 0)
		r = -EBADMSG;
	xmlFreeDoc(doc);
	s3_list_page_clear(&p);
	return r;
}

void s3_list_page_clear(struct s3_list_page *p)
{
	for (size_t i = 0; i < p->n_objects; i++)
		free(p->objects[i].key);
	for (size_t i = 0; i < p->n_prefixes; i++)
		free(p->prefixes[i]);
	free(p->objects);
	free(p->prefixes);
	free(p->next_token);
	*p = (struct s3_list_page){0};
}

int s3_xml_parse_error(const char *body, size_t len, struct s3_error *ret)
{
	xmlDocPtr doc = parse(body, len);
	if (!doc)
		return -EBADMSG;
	xmlNodePtr root = xmlDocGetRootElement(doc);
	if (!root || !named(root, "Error")) {
		xmlFreeDoc(doc);
		return -EBADMSG;
	}
	struct s3_error e = {0};
	for (xmlNodePtr n = root->children; n; n = n->next) {
		if (named(n, "Code"))
			copy_text(n, e.code, sizeof(e.code));
		else if (named(n, "Message"))
			copy_text(n, e.message, sizeof(e.message));
		else if (named(n, "Region"))
			copy_text(n, e.region, sizeof(e.region));
	}
	xmlFreeDoc(doc);
	*ret = e;
	return 0;
}
