// SPDX-License-Identifier: Apache-2.0
// The URLs of a UFS through libcurl: curl_url() parses both ends of a redirect the way the
// transfer will, so the origin check and the request cannot disagree; curl_easy_escape is the
// one percent-encoder. What must stay true: a redirect never leaves the root's scheme, host and
// port (nor carries someone else's userinfo), and an encoded path reaches the server unchanged.
#include "http_url.h"

#include <curl/curl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A URL parsed with curl_url: NULL if it does not parse. Relative to base when base is given. */
static CURLU *parse(const char *base, const char *url)
{
	CURLU *h = curl_url();
	if (!h)
		return NULL;
	if ((base && curl_url_set(h, CURLUPART_URL, base, 0) != CURLUE_OK) ||
	    curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK) {
		curl_url_cleanup(h);
		return NULL;
	}
	return h;
}

/* part of a and b: both absent, or both present and equal (case-insensitively if nocase). */
static bool same_part(CURLU *a, CURLU *b, CURLUPart part, unsigned flags, bool nocase)
{
	char *x = NULL, *y = NULL;
	CURLUcode ca = curl_url_get(a, part, &x, flags), cb = curl_url_get(b, part, &y, flags);
	bool same;
	if (ca != CURLUE_OK || cb != CURLUE_OK)
		same = ca != CURLUE_OK && cb != CURLUE_OK && ca == cb; /* both missing */
	else
		same = nocase ? strcasecmp(x, y) == 0 : strcmp(x, y) == 0;
	curl_free(x);
	curl_free(y);
	return same;
}

/* No user, password or login options in u. */
static bool no_userinfo(CURLU *u)
{
	static const CURLUPart parts[] = {CURLUPART_USER, CURLUPART_PASSWORD, CURLUPART_OPTIONS};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		char *v = NULL;
		if (curl_url_get(u, parts[i], &v, 0) == CURLUE_OK) {
			curl_free(v);
			return false;
		}
	}
	return true;
}

char *http_url_redirect(const char *root, const char *base, const char *location)
{
	CURLU *r = parse(NULL, root), *l = r ? parse(base ? base : root, location) : NULL;
	char *out = NULL;
	bool ok = l && same_part(r, l, CURLUPART_SCHEME, 0, true) &&
		  same_part(r, l, CURLUPART_HOST, 0, true) &&
		  same_part(r, l, CURLUPART_ZONEID, 0, false) &&
		  same_part(r, l, CURLUPART_PORT, CURLU_DEFAULT_PORT, false) &&
		  (no_userinfo(l) || (same_part(r, l, CURLUPART_USER, 0, false) &&
				      same_part(r, l, CURLUPART_PASSWORD, 0, false) &&
				      same_part(r, l, CURLUPART_OPTIONS, 0, false)));
	if (ok) {
		char *s = NULL;
		if (curl_url_get(l, CURLUPART_URL, &s, 0) == CURLUE_OK) {
			out = strdup(s); /* owned by malloc, like every string of the daemon */
			curl_free(s);
		}
	}
	curl_url_cleanup(l);
	curl_url_cleanup(r);
	return out;
}

char *http_url_escape(const char *s, bool keep_slash)
{
	size_t n = strlen(s), cap = 3 * n + 1, len = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	for (;;) {
		size_t cl = keep_slash ? strcspn(s, "/") : strlen(s);
		if (cl > INT_MAX) {
			free(out);
			return NULL;
		}
		if (cl) {
			char *e = curl_easy_escape(NULL, s, (int)cl);
			if (!e) {
				free(out);
				return NULL;
			}
			size_t el = strlen(e);
			memcpy(out + len, e, el); /* el <= 3 * cl: fits */
			len += el;
			curl_free(e);
		}
		s += cl;
		if (!*s)
			break;
		out[len++] = *s++; /* the '/' */
	}
	out[len] = '\0';
	return out;
}

char *http_url_unescape(const char *s, size_t n, size_t *outlen)
{
	if (n > INT_MAX)
		return NULL;
	int len = 0;
	char *c = curl_easy_unescape(NULL, s, (int)n, &len);
	if (!c)
		return NULL;
	char *out = malloc((size_t)len + 1);
	if (out) {
		memcpy(out, c, (size_t)len + 1);
		if (outlen)
			*outlen = (size_t)len;
	}
	curl_free(c);
	return out;
}
