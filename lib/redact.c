// SPDX-License-Identifier: Apache-2.0
// Credential redaction (see redact.h). Parsing is curl's (curl_url), so what we mask is what
// the HTTP client would have sent as credentials; only an unparseable URL is scrubbed by hand,
// and then generously: anything that could be userinfo goes.
#include "redact.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Query parameters whose values are secrets (case-insensitive names): presigned S3 and GCS
 * URLs, and the usual token parameters. */
static const char *const secret_params[] = {
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "X-Goog-Signature",
    "X-Goog-Credential",
    "Signature",
    "sig",
    "token",
    "access_token",
    "api_key",
    "apikey",
    "key",
    "password",
    "secret",
    "client_secret",
};

static bool secret_param(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(secret_params) / sizeof(secret_params[0]); i++)
		if (strlen(secret_params[i]) == len &&
		    strncasecmp(secret_params[i], name, len) == 0)
			return true;
	return false;
}

/* The query with the values of secret parameters masked; NULL when nothing changed. */
static char *mask_query(const char *q)
{
	size_t cap = strlen(q) * 2 + 16; /* each masked value grows by at most 3 bytes */
	char *out = malloc(cap);
	if (!out)
		return NULL;
	size_t o = 0;
	bool changed = false;
	for (const char *p = q; *p;) {
		size_t plen = strcspn(p, "&;");
		size_t nlen = strcspn(p, "=&;");
		memcpy(out + o, p, nlen);
		o += nlen;
		if (nlen < plen) {
			if (secret_param(p, nlen)) {
				o += (size_t)snprintf(out + o, cap - o, "=%s", REDACT_MASK);
				changed = true;
			} else {
				memcpy(out + o, p + nlen, plen - nlen);
				o += plen - nlen;
			}
		}
		p += plen;
		if (*p)
			out[o++] = *p++;
	}
	out[o] = '\0';
	if (!changed) {
		free(out);
		return NULL;
	}
	return out;
}

/* By hand, for what curl refuses: mask from "://" to the last '@' of the authority-ish part
 * (up to '?' or '#': a '/' may be inside a badly encoded password), and the query whole. */
static void scrub_by_hand(const char *url, char *buf, size_t len)
{
	const char *sep = strstr(url, "://");
	if (!sep) {
		snprintf(buf, len, "%s", url);
		return;
	}
	const char *auth = sep + 3;
	size_t span = strcspn(auth, "?#");
	const char *at = NULL;
	for (const char *p = auth; p < auth + span; p++)
		if (*p == '@')
			at = p;
	const char *rest = at ? at + 1 : auth;
	size_t restlen = strcspn(rest, "?#");
	snprintf(buf, len, "%.*s%s%.*s%s", (int)(auth - url), url, at ? REDACT_MASK "@" : "",
		 (int)restlen, rest, rest[restlen] == '?' ? "?" REDACT_MASK : "");
}

const char *redact_url(const char *url, char *buf, size_t len)
{
	if (!len)
		return buf;
	/* Nothing to hide without userinfo or a query; and curl would rewrite what it does not
	 * need to (local:///a comes back as local://a). */
	const char *sep = strstr(url, "://");
	if (sep && !strpbrk(sep, "@?;")) {
		snprintf(buf, len, "%s", url);
		return buf;
	}
	CURLU *h = curl_url();
	char *out = NULL, *user = NULL, *pass = NULL, *query = NULL;
	const unsigned flags = CURLU_NON_SUPPORT_SCHEME | CURLU_PATH_AS_IS;
	if (!h || curl_url_set(h, CURLUPART_URL, url, flags) != CURLUE_OK)
		goto by_hand;
	/* a password, or a user alone (a token) */
	if (curl_url_get(h, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK) {
		if (curl_url_set(h, CURLUPART_PASSWORD, REDACT_MASK, 0) != CURLUE_OK)
			goto by_hand;
	} else if (curl_url_get(h, CURLUPART_USER, &user, 0) == CURLUE_OK && *user) {
		if (curl_url_set(h, CURLUPART_USER, REDACT_MASK, 0) != CURLUE_OK)
			goto by_hand;
	}
	/* also "options" (IMAP-style ";opt" after the user) can carry auth: drop it */
	curl_url_set(h, CURLUPART_OPTIONS, NULL, 0);
	if (curl_url_get(h, CURLUPART_QUERY, &query, 0) == CURLUE_OK) {
		char *masked = mask_query(query);
		if (masked) {
			CURLUcode rc = curl_url_set(h, CURLUPART_QUERY, masked, 0);
			free(masked);
			if (rc != CURLUE_OK)
				goto by_hand;
		}
	}
	if (curl_url_get(h, CURLUPART_URL, &out, 0) != CURLUE_OK)
		goto by_hand;
	snprintf(buf, len, "%s", out);
	goto done;
by_hand:
	scrub_by_hand(url, buf, len);
done:
	curl_free(out);
	curl_free(user);
	curl_free(pass);
	curl_free(query);
	curl_url_cleanup(h);
	return buf;
}

static bool scheme_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '-' || c == '.';
}

/* Where a URL in free text ends: at white space, a quote or a bracket around it. */
static size_t url_token_len(const char *p)
{
	return strcspn(p, " \t\r\n\"'<>()[]{}`,");
}

void redact_text(char *s, size_t cap)
{
	if (!cap || !strstr(s, "://"))
		return;
	size_t slen = strlen(s);
	char *out = malloc(cap);
	if (!out) {
		/* cannot rewrite: lose the message rather than risk a secret */
		snprintf(s, cap, "(message dropped: out of memory while redacting it)");
		return;
	}
	size_t o = 0;
	const char *p = s;
	while (*p && o + 1 < cap) {
		const char *sep = strstr(p, "://");
		if (!sep) {
			o += (size_t)snprintf(out + o, cap - o, "%s", p);
			break;
		}
		const char *start = sep;
		while (start > p && scheme_char(start[-1]))
			start--;
		/* the authority may hold characters url_token_len stops at ("[::1]" , quotes in a
		 * hostile password): the URL runs to the end of its token after the last '@' */
		size_t tlen = (size_t)(sep - start) + 3 + url_token_len(sep + 3);
		const char *at = memchr(sep + 3, '@', (size_t)(s + slen - (sep + 3)));
		if (at) {
			const char *tok_end = at + 1 + url_token_len(at + 1);
			const char *ws = sep + 3 + strcspn(sep + 3, " \t\r\n");
			/* a password with a raw space ("u:pa ss@h/"): curl refuses the URL and
			 * its error quotes it whole; the '@' still comes before the authority
			 * ends, on the same line and before any other URL */
			const char *auth_end = sep + 3 + strcspn(sep + 3, "/?#\r\n");
			const char *next = strstr(sep + 3, "://");
			if (at < ws || (at < auth_end && (!next || at < next)))
				tlen = (size_t)(tok_end - start);
		}
		o += (size_t)snprintf(out + o, cap - o, "%.*s", (int)(start - p), p);
		if (o + 1 >= cap)
			break;
		char *tok = strndup(start, tlen);
		if (!tok) {
			o = (size_t)snprintf(out, cap,
					     "(message dropped: out of memory while "
					     "redacting it)");
			break;
		}
		if (strpbrk(tok, "@?;")) {
			char red[4096];
			redact_url(tok, red, sizeof(red));
			o += (size_t)snprintf(out + o, cap - o, "%s", red);
		} else {
			o += (size_t)snprintf(out + o, cap - o, "%s", tok);
		}
		free(tok);
		p = start + tlen;
	}
	if (o >= cap)
		o = cap - 1;
	out[o] = '\0';
	memcpy(s, out, o + 1);
	free(out);
}
