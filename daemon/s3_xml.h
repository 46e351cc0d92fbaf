/* SPDX-License-Identifier: Apache-2.0 */
/* The XML bodies an S3 server answers with: a ListObjectsV2 page and an error. Parsed by
 * libxml2 with the network, DTDs and entity substitution off; a body with a DOCTYPE is refused,
 * since S3 never sends one and it is where entity bombs live. Pure functions, no I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ufs.h"

struct s3_object {
	char *key; /* the full key, decoded (XML text is UTF-8; &amp; etc. resolved) */
	uint64_t size;
	int64_t mtime; /* LastModified, seconds since the epoch; 0 when absent */
	char etag[UFS_ETAG_MAX];
	bool bad_key; /* its URL-encoded key decodes to one with a NUL: key is as sent, no name */
};

/* One page of ListObjectsV2. */
struct s3_list_page {
	struct s3_object *objects;
	size_t n_objects;
	char **prefixes; /* CommonPrefixes, full, each ending with the delimiter (decoded; one
			  * with a NUL is cut there, so it no longer ends with the delimiter) */
	size_t n_prefixes;
	bool truncated;
	char *next_token; /* NextContinuationToken; NULL when none */
};

/* Parses a ListObjectsV2 result; with <EncodingType>url</EncodingType> its keys and prefixes
 * are decoded (%XX, and '+' for a space, as S3 encodes them). Returns 0 and fills *ret (owned:
 * s3_list_page_clear), or
 * -EBADMSG (not well-formed, a DOCTYPE, not a ListBucketResult, a truncated page without a
 * token, a Contents without a Key or with a bad Size), -ENOMEM. */
int s3_xml_parse_list(const char *body, size_t len, struct s3_list_page *ret);
void s3_list_page_clear(struct s3_list_page *p);

/* What an S3 error body says; "" for what it does not. */
struct s3_error {
	char code[64]; /* "NoSuchBucket", "AccessDenied", "SignatureDoesNotMatch", ... */
	char message[160];
	char region[32]; /* Region: the bucket's, on a wrong-region answer */
};

/* Parses an <Error> body. Returns 0 with *ret set, or -EBADMSG (not an S3 error). */
int s3_xml_parse_error(const char *body, size_t len, struct s3_error *ret);

/* An ISO 8601 UTC time as S3 writes it ("2026-12-02T18:48:23.000Z") -> seconds since the epoch.
 * Returns 0 or -EINVAL. */
int s3_xml_parse_time(const char *s, int64_t *ret);
