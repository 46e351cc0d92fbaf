/* SPDX-License-Identifier: Apache-2.0 */
#include "peer_memo.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "block_sum.h"
#include "htable.h"

struct memo_entry {
	struct htable_node node;
	TAILQ_ENTRY(memo_entry) lru; /* most recently used first */
	uint64_t hash;		     /* of (source, path, block) */
	uint64_t block, size, xxh3;
	int64_t mtime;
	unsigned char body_hash[PEER_AUTH_BODY_HASH];
	char *path, *etag; /* point into source's allocation */
	char source[];	   /* source, NUL, path, NUL, etag, NUL */
};

struct peer_memo {
	/* Guards table, lru and n. Held for lookups and list moves only: no I/O, no hashing of
	 * a body, no reply under it. */
	pthread_mutex_t lock;
	struct htable table;
	TAILQ_HEAD(memo_lru, memo_entry) lru;
	size_t n, max;
};

struct where {
	const char *source, *path;
	uint64_t block;
};

static uint64_t where_hash(const char *source, const char *path, uint64_t block)
{
	return htable_hash_u64_pair(
	    htable_hash_str(source) ^ htable_hash_u64(htable_hash_str(path)), block);
}

static uint64_t entry_hash(const struct htable_node *n)
{
	return htable_entry(n, struct memo_entry, node)->hash;
}

static bool entry_eq(const struct htable_node *n, const void *key)
{
	const struct memo_entry *e = htable_entry(n, struct memo_entry, node);
	const struct where *w = key;
	return e->block == w->block && !strcmp(e->source, w->source) && !strcmp(e->path, w->path);
}

struct peer_memo *peer_memo_new(size_t max)
{
	struct peer_memo *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->max = max ? max : PEER_MEMO_MAX;
	if (htable_init(&m->table, 1024, entry_hash) < 0) {
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	TAILQ_INIT(&m->lru);
	return m;
}

void peer_memo_free(struct peer_memo *m)
{
	if (!m)
		return;
	struct memo_entry *e;
	while ((e = TAILQ_FIRST(&m->lru))) {
		TAILQ_REMOVE(&m->lru, e, lru);
		free(e);
	}
	htable_fini(&m->table);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* The entry of (source, path, block), or NULL; under m->lock. */
static struct memo_entry *find_locked(struct peer_memo *m, const char *source, const char *path,
				      uint64_t block)
{
	struct where w = {source ? source : "", path ? path : "", block};
	struct htable_node *n =
	    htable_find(&m->table, where_hash(w.source, w.path, block), entry_eq, &w);
	return n ? htable_entry(n, struct memo_entry, node) : NULL;
}

static void drop_locked(struct peer_memo *m, struct memo_entry *e)
{
	htable_remove(&m->table, &e->node);
	TAILQ_REMOVE(&m->lru, e, lru);
	m->n--;
	free(e);
}

bool peer_memo_get(struct peer_memo *m, const struct peer_memo_key *k,
		   unsigned char out[PEER_AUTH_BODY_HASH])
{
	bool hit = false;
	pthread_mutex_lock(&m->lock);
	struct memo_entry *e = find_locked(m, k->source, k->path, k->block);
	if (e && e->size == k->size && e->mtime == k->mtime && e->xxh3 == k->xxh3 &&
	    !strcmp(e->etag, k->etag ? k->etag : "")) {
		memcpy(out, e->body_hash, PEER_AUTH_BODY_HASH);
		TAILQ_REMOVE(&m->lru, e, lru);
		TAILQ_INSERT_HEAD(&m->lru, e, lru);
		hit = true;
	}
	pthread_mutex_unlock(&m->lock);
	return hit;
}

void peer_memo_put(struct peer_memo *m, const struct peer_memo_key *k,
		   const unsigned char hash[PEER_AUTH_BODY_HASH])
{
	const char *source = k->source ? k->source : "", *path = k->path ? k->path : "",
		   *etag = k->etag ? k->etag : "";
	size_t ls = strlen(source) + 1, lp = strlen(path) + 1, le = strlen(etag) + 1;
	struct memo_entry *e = malloc(sizeof(*e) + ls + lp + le);
	if (!e)
		return;
	memcpy(e->source, source, ls);
	e->path = e->source + ls;
	memcpy(e->path, path, lp);
	e->etag = e->path + lp;
	memcpy(e->etag, etag, le);
	e->hash = where_hash(source, path, k->block);
	e->block = k->block;
	e->size = k->size;
	e->mtime = k->mtime;
	e->xxh3 = k->xxh3;
	memcpy(e->body_hash, hash, PEER_AUTH_BODY_HASH);
	pthread_mutex_lock(&m->lock);
	struct memo_entry *old = find_locked(m, source, path, k->block);
	if (old)
		drop_locked(m, old);
	while (m->n >= m->max && !TAILQ_EMPTY(&m->lru))
		drop_locked(m, TAILQ_LAST(&m->lru, memo_lru));
	htable_insert(&m->table, &e->node, e->hash);
	TAILQ_INSERT_HEAD(&m->lru, e, lru);
	m->n++;
	pthread_mutex_unlock(&m->lock);
}

void peer_memo_forget(struct peer_memo *m, const char *source, const char *path, uint64_t block)
{
	pthread_mutex_lock(&m->lock);
	struct memo_entry *e = find_locked(m, source, path, block);
	if (e)
		drop_locked(m, e);
	pthread_mutex_unlock(&m->lock);
}

size_t peer_memo_size(struct peer_memo *m)
{
	pthread_mutex_lock(&m->lock);
	size_t n = m->n;
	pthread_mutex_unlock(&m->lock);
	return n;
}

int peer_memo_hash(struct peer_memo *m, const struct peer_key *key, const struct peer_memo_key *k,
		   const void *body, int fd, uint64_t off, size_t len,
		   unsigned char out[PEER_AUTH_BODY_HASH])
{
	if (peer_memo_get(m, k, out))
		return 0;
	struct peer_reply_mac mac;
	int r = peer_auth_body_hash_begin(&mac, key, len);
	if (r < 0)
		return r;
	if (body) {
		peer_auth_reply_update(&mac, body, len);
	} else {
		struct block_sum_state *st = block_sum_new();
		if (!st) {
			peer_auth_reply_abort(&mac);
			return -ENOMEM;
		}
		r = peer_auth_reply_update_fd(&mac, st, fd, off, len);
		uint64_t sum = block_sum_digest(st);
		block_sum_free(st);
		if (r < 0)
			return r;
		if (sum != k->xxh3) {
			peer_auth_reply_abort(&mac);
			return -EBADMSG;
		}
	}
	r = peer_auth_body_hash_final(&mac, out);
	if (r == 0)
		peer_memo_put(m, k, out);
	return r;
}
