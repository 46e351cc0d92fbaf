/* SPDX-License-Identifier: Apache-2.0 */
/* Credentials are never shown: the one place that turns a URL (or a message holding URLs) into
 * something safe to put in a log, a mount source, `weir stat`, describe or metrics. A URL's
 * password, a user name given alone (often a token), and query values that are known to carry
 * secrets (X-Amz-Signature, token=, ...) become "***". The stored, usable URL is never changed. */
#pragma once

#include <stddef.h>

/* The placeholder that replaces a secret. */
#define REDACT_MASK "***"

/* Writes url with its credentials replaced by REDACT_MASK into buf (len > 0; truncated to fit,
 * always NUL-terminated) and returns buf. A URL that curl cannot parse is scrubbed by hand:
 * everything between "://" and its last '@' goes. Thread-safe; allocates. */
const char *redact_url(const char *url, char *buf, size_t len);

/* Redacts, in place, every URL inside the free text s (a NUL-terminated string in a buffer of
 * cap bytes; the result is truncated to fit). Text without "://" is left as it is, and so is a
 * URL that holds neither userinfo nor a query. Used on every log line and error message. */
void redact_text(char *s, size_t cap);
