/* SPDX-License-Identifier: Apache-2.0 */
/* Which version of an HTTP object a response carries: Content-Range parsing, the precondition a
 * range request sends (If-Match, else If-Unmodified-Since) and whether a response still is the
 * version a reader opened. Pure functions, no I/O; the HTTP client (ufs_http.c) uses them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ufs.h"

/* A Content-Range value: "bytes A-B/T", "bytes A-B/" then "*" (total unknown), or "bytes *" then
 * "/T" (an unsatisfiable range: the total only). */
struct http_content_range {
	bool have_range, have_total;
	uint64_t first, last; /* inclusive, when have_range */
	uint64_t total;	      /* when have_total */
};

/* Parses a Content-Range header value (surrounding blanks allowed). Returns 0 with *ret set, or
 * -EBADMSG for anything else: other units, last < first, last >= total, overflow, junk. */
int http_version_parse_content_range(const char *value, struct http_content_range *ret);

/* The precondition header line that binds a range request to version want: "If-Match: <etag>"
 * for a strong ETag, else "If-Unmodified-Since: <date>" for an exact Last-Modified, else ""
 * (nothing can bind it; the response's validators are still checked). Returns 0, or
 * -ENAMETOOLONG when buf is too small. */
int http_version_precondition(const struct ufs_attr *want, char *buf, size_t len);

/* What a response said about the object it carries. */
struct http_version_seen {
	const char *etag; /* "" when none */
	int64_t mtime;	  /* Last-Modified, 0 when none */
	bool have_total;
	uint64_t total; /* the object's size (Content-Range total, or a 200's Content-Length) */
};

/* Is the response the version want? Its size where it gives one, then ETags when both have one
 * (weak and strong forms of one tag are the same), else an exact Last-Modified. A whole-minute mtime most likely came
 * from an HTML listing (minutes, in the server's zone): not a validator, only the size counts. */
bool http_version_matches(const struct http_version_seen *seen, const struct ufs_attr *want);

/* Are two ETags the same version (W/ ignored)? */
bool http_version_same_etag(const char *a, const char *b);
