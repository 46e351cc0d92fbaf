/* SPDX-License-Identifier: Apache-2.0 */
/* What ufs_http.c's transfer engine offers to a client built on it (ufs_s3.c): requests signed
 * on every connection, and blocking requests whose status and body the caller interprets.
 * Internal to daemon/; the engine stays the one curl multi of ufs_http.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ufs.h"

/* How every request of an http UFS authenticates; copied by ufs_http_set_auth. */
struct http_auth {
	const char *sigv4;   /* CURLOPT_AWS_SIGV4 provider, "aws:amz:REGION:s3"; NULL: unsigned */
	const char *userpwd; /* "KEY:SECRET" for sigv4; NULL: anonymous */
	const char *const *headers; /* extra header lines, NULL-terminated, or NULL */
	const char *cainfo;	    /* a CA bundle file for https; NULL: the system's */
};

/* Starts the engine for u, a UFS of another scheme whose objects are read as http(s) URLs under
 * u->url (the caller has set u->url to that root, with no query or fragment). client is the
 * caller's state, returned by ufs_http_client(). Returns 0 or -errno (ufs_error_copy() says why);
 * on failure nothing is left to stop. */
int ufs_http_engine_init(struct ufs *u, const struct ufs_options *opts, void *client);
/* Stops the engine: every read still queued gets its done(-ECANCELED) first. */
void ufs_http_engine_fini(struct ufs *u);
void *ufs_http_client(struct ufs *u);
/* ufs_read_async on the engine: a ranged GET of u->url + path. */
int ufs_http_read_async(struct ufs *u, const char *path, uint64_t off, size_t len, void *buf,
			const struct ufs_attr *expect, ufs_read_done_fn done, void *userdata);

/* ufs_read_segs_async on the engine: one ranged GET for consecutive segments. */
int ufs_http_read_segs_async(struct ufs *u, const char *path, uint64_t off,
			     const struct ufs_seg *segs, unsigned nsegs,
			     const struct ufs_attr *expect);

/* Sets how u's requests authenticate. Call after ufs_http_engine_init; again at any time from
 * any thread (rotated keys): requests that start afterwards, retries of reads included, use the
 * new auth, those in flight finish with the old. Returns 0 or -ENOMEM (the old auth stays). */
int ufs_http_set_auth(struct ufs *u, const struct http_auth *a);

/* Says why a read was refused, from its error answer's status and the start of its body (S3:
 * the <Error>'s Code and Message), into cause. Returns the errno the body says, where it says
 * more than the status (S3: a 400 for an expired session token is -EACCES), else 0. Runs on
 * the engine's thread; must not block. */
typedef int (*http_error_cause_fn)(long status, const char *body, size_t len, char *cause,
				   size_t causelen);
/* Sets u's; call after ufs_http_engine_init, before the first read. Without one a read's cause
 * is "HTTP <status> <reason>". */
void ufs_http_set_error_cause(struct ufs *u, http_error_cause_fn fn);

/* The answer to a blocking request, whatever its status. */
struct http_reply {
	long status;
	char *body; /* owned, NUL-terminated, may be NULL (HEAD); free with http_reply_clear */
	size_t body_len;
	char etag[UFS_ETAG_MAX];
	int64_t mtime; /* Last-Modified, 0 if none */
	bool have_length;
	uint64_t length; /* Content-Length */
	char region[32]; /* x-amz-bucket-region, "" if none */
};

/* GET (or HEAD) url on u's connections with u's auth and retry policy (transport failures,
 * 5xx and 429 with jittered backoff; redirects without a Location are answers). Returns 0 with
 * *ret filled, or -errno with the UFS's error (ufs_set_error) naming url and the cause. Blocking;
 * any thread. */
int ufs_http_request(struct ufs *u, const char *url, bool head, struct http_reply *ret);
void http_reply_clear(struct http_reply *r);
