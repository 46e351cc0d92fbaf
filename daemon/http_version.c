// SPDX-License-Identifier: Apache-2.0
// HTTP object versions: a reader is bound to the version it opened, so every range request says
// which version it wants and every response is checked against it; a mismatch is ESTALE upstream.
#include "http_version.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Decimal digits into *ret; advances *p. False on no digits or overflow. */
static bool parse_u64(const char **p, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;
	if (!isdigit((unsigned char)*s))
		return false;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*p = s;
	*ret = v;
	return true;
}

static const char *skip_blanks(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

int http_version_parse_content_range(const char *value, struct http_content_range *ret)
{
	struct http_content_range cr = {0};
	const char *p = skip_blanks(value);
	if (strncasecmp(p, "bytes", 5) != 0 || (p[5] != ' ' && p[5] != '\t'))
		return -EBADMSG;
	p = skip_blanks(p + 5);
	if (*p == '*') {
		p++;
	} else {
		if (!parse_u64(&p, &cr.first) || *p++ != '-' || !parse_u64(&p, &cr.last) ||
		    cr.last < cr.first)
			return -EBADMSG;
		cr.have_range = true;
	}
	if (*p++ != '/')
		return -EBADMSG;
	if (*p == '*') {
		p++;
	} else {
		if (!parse_u64(&p, &cr.total))
			return -EBADMSG;
		cr.have_total = true;
	}
	if (*skip_blanks(p) != '\0')
		return -EBADMSG;
	/* a star for both says nothing; a range ending past the total is a lie */
	if (!cr.have_range && !cr.have_total)
		return -EBADMSG;
	if (cr.have_range && cr.have_total && cr.last >= cr.total)
		return -EBADMSG;
	*ret = cr;
	return 0;
}

/* Weak and strong forms of one ETag are the same version for our purpose. */
static const char *etag_core(const char *e)
{
	return strncmp(e, "W/", 2) == 0 ? e + 2 : e;
}

/* HTML listings give minutes only; a validator needs the server's own Last-Modified. (A guess
 * from the value, such as "not a whole minute", sends no validator for the one file in sixty
 * whose real mtime is one: such a file could then mix two versions.) */
static bool mtime_exact(const struct ufs_attr *a)
{
	return a->mtime > 0 && a->mtime_exact;
}

/* A strong tag that can go back into a header line as it is (no control bytes from a hostile
 * server smuggling in a header of its own). */
static bool etag_sendable(const char *e)
{
	/* If-Match compares strongly: a weak tag never matches and would fail every request. */
	if (!e[0] || strncmp(e, "W/", 2) == 0)
		return false;
	for (const unsigned char *p = (const unsigned char *)e; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

int http_version_precondition(const struct ufs_attr *want, char *buf, size_t len)
{
	int n = 0;
	if (etag_sendable(want->etag)) {
		n = snprintf(buf, len, "If-Match: %s", want->etag);
	} else if (mtime_exact(want)) {
		time_t t = (time_t)want->mtime;
		struct tm tm;
		char date[64];
		gmtime_r(&t, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		n = snprintf(buf, len, "If-Unmodified-Since: %s", date);
	} else if (len > 0) {
		buf[0] = '\0';
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

bool http_version_same_etag(const char *a, const char *b)
{
	return strcmp(etag_core(a), etag_core(b)) == 0;
}

bool http_version_matches(const struct http_version_seen *seen, const struct ufs_attr *want)
{
	/* one version has one size, whatever its tag: an S3 listing that gave a tag's object a
	 * smaller size had its readers take that many bytes of it as the whole, without a word */
	if (seen->have_total && seen->total != want->size)
		return false;
	if (want->etag[0] && seen->etag[0])
		return http_version_same_etag(want->etag, seen->etag);
	if (mtime_exact(want) && seen->mtime)
		return want->mtime == seen->mtime;
	return true;
}
