/* SPDX-License-Identifier: Apache-2.0 */
/* An owner's memo of the v3 body hashes (peer_auth.h) of the blocks it served: a block served
 * again is tagged from its kept hash, with no read of its tier range, and goes out by sendfile.
 * Keyed by (source, object path, block); an entry holds the version (size, mtime, ETag) and the
 * index's XXH3 it was hashed at and a hit needs all of them equal, so a block of another
 * version, or refetched with other bytes, is hashed again. At most PEER_MEMO_MAX entries, the
 * least recently used dropped first. Thread-safe. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "peer_auth.h"

#define PEER_MEMO_MAX 16384

struct peer_memo;

/* What a block's hash was computed for. */
struct peer_memo_key {
	const char *source, *path;
	uint64_t block, size;
	int64_t mtime;
	const char *etag;
	uint64_t xxh3; /* the index's checksum of the block's bytes */
};

/* A memo of at most max entries (0: PEER_MEMO_MAX). NULL when out of memory. */
struct peer_memo *peer_memo_new(size_t max);
void peer_memo_free(struct peer_memo *m);

/* True, with the hash in out, when k's block was kept at k's version and XXH3. */
bool peer_memo_get(struct peer_memo *m, const struct peer_memo_key *k,
		   unsigned char out[PEER_AUTH_BODY_HASH]);
/* Keeps hash for k (replacing what the block had), dropping the least recently used entry at
 * capacity. Out of memory: nothing is kept. */
void peer_memo_put(struct peer_memo *m, const struct peer_memo_key *k,
		   const unsigned char hash[PEER_AUTH_BODY_HASH]);
/* The v3 body hash (peer_auth.h, under k) of k's block of len bytes: from the memo, else
 * computed from body, or when body is NULL read at off in the tier file fd (pinned by the
 * caller), and kept. Bytes read from fd are kept only when their XXH3 is k->xxh3 (the index's):
 * the hash of bytes changed under the index would fail every later reply of the block, even
 * after it is fetched again right. Returns 0, -EBADMSG for such bytes (nothing kept), or
 * -errno (a failed read, no memory). */
int peer_memo_hash(struct peer_memo *m, const struct peer_key *key, const struct peer_memo_key *k,
		   const void *body, int fd, uint64_t off, size_t len,
		   unsigned char out[PEER_AUTH_BODY_HASH]);
/* Forgets the block (source, path, block) at every version: its bytes were replaced. */
void peer_memo_forget(struct peer_memo *m, const char *source, const char *path, uint64_t block);
size_t peer_memo_size(struct peer_memo *m);
