/* SPDX-License-Identifier: Apache-2.0 */
/* The URLs of a UFS, through libcurl's URL API (curl_url) and escaper: whether a redirect stays
 * on the root's origin, and the one percent-encoder of paths and keys (HTTP and S3). Pure
 * functions; thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Resolves location (absolute, or relative to base) with curl_url and returns it, normalized
 * (owned), if it has root's origin: the same scheme (no change, so no downgrade), the same host
 * (case-insensitively; an IPv6 literal with its zone), the same port with the default ports
 * filled in, and no userinfo unless it is root's own. NULL if it leaves the origin, does not
 * parse (port 0 or > 65535, a bad host) or on ENOMEM. */
char *http_url_redirect(const char *root, const char *base, const char *location);

/* The percent-encoding of s by curl_easy_escape: every byte but A-Z a-z 0-9 - . _ ~ becomes
 * %XX (upper-case hex), which is also SigV4's UriEncode; keep_slash leaves '/' between the
 * components (paths, object keys), else it is %2F (query values). "." and ".." components stay
 * as they are (listings never yield them). Returns an owned string or NULL (ENOMEM). */
char *http_url_escape(const char *s, bool keep_slash);

/* The percent-decoding of n bytes of s by curl_easy_unescape (malformed escapes stay literal,
 * '+' stays '+'); *outlen gets the length (the result may hold NUL bytes). Owned or NULL. */
char *http_url_unescape(const char *s, size_t n, size_t *outlen);
