/* SPDX-License-Identifier: Apache-2.0 */
/* The URLs of S3 requests, encoded the way SigV4 canonicalizes them: libcurl (7.88) signs the
 * path and query exactly as sent, so what is sent must already be canonical. Pure functions. */
#pragma once

#include <stdbool.h>

/* AWS's URI encoding of s: everything but A-Z a-z 0-9 - . _ ~ becomes %XX (upper-case hex);
 * keep_slash leaves '/' (object paths), else it is %2F (query values). Returns an owned string
 * or NULL (ENOMEM). */
char *s3_url_escape(const char *s, bool keep_slash);

/* bucket_url + "?continuation-token=T&delimiter=%2F&list-type=2&max-keys=N&prefix=P": the
 * parameters in the sorted order of the canonical query, token and max_keys only when given
 * (token NULL, max_keys 0). Returns an owned string or NULL (ENOMEM). */
char *s3_url_list(const char *bucket_url, const char *prefix, const char *token, unsigned max_keys);
