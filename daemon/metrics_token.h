/* SPDX-License-Identifier: Apache-2.0 */
/* The bearer token /metrics asks for. /metrics names every namespace, Dataset and mountpoint of
 * the node: on a node several tenants share, whoever may connect to its port would learn the
 * others' datasets. The token lives in a file only root reads (mode 0600 or 0400, of this
 * process's uid); a request passes when its "Authorization: Bearer <token>" matches, compared
 * in constant time (the SHA-256 of each, CRYPTO_memcmp), so neither the token nor its length
 * leaks through timing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define METRICS_TOKEN_MIN 16  /* bytes: shorter is refused as guessable */
#define METRICS_TOKEN_MAX 512 /* bytes */

/* Creates path with a random token (64 hex digits, mode 0600, O_EXCL, no link followed) unless a
 * file is there already. Returns 1 when it made one, 0 when one existed, -errno with a message in
 * err otherwise. For the default file in the state directory, which only root can write. */
int metrics_token_ensure(const char *path, char *err, size_t errlen);

/* Reads the token from path (a link is followed: a Kubernetes Secret volume's file is one; the
 * file reached must be regular, of this process's uid, and readable by nobody else), trailing
 * white space dropped. Returns 0 and its SHA-256 in ret_digest, or -errno with a message naming
 * path (never the token) in err. Reads the file system; no lock. */
int metrics_token_load(const char *path, unsigned char ret_digest[32], char *err, size_t errlen);

/* Does the Authorization header value (NULL: none sent) carry the token whose SHA-256 is
 * digest? Constant time in the token's bytes. */
bool metrics_token_matches(const unsigned char digest[32], const char *authorization);
