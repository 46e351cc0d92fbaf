// SPDX-License-Identifier: Apache-2.0
// Near-cache account: a FIFO of blocks (sys/queue.h) indexed by "obj:block" (strmap), so a block
// stored twice is counted once and the total never passes the bound after an add.
#include "near_cache.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/queue.h>
#include <time.h>

#include "strmap.h"

struct near_entry {
	struct near_block b;
	uint64_t at_ms; /* when it was added (CLOCK_MONOTONIC) */
	TAILQ_ENTRY(near_entry) link;
};

struct near_cache {
	uint64_t max;
	/* Guards everything below; memory only, held across no I/O (the caller evicts after
	 * near_cache_add returns). */
	pthread_mutex_t lock;
	TAILQ_HEAD(, near_entry) fifo; /* under lock: oldest first */
	struct strmap *by_block;       /* under lock: "obj:block" -> entry */
	uint64_t bytes;		       /* under lock */
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void key_of(uint64_t obj, uint64_t block, char *buf, size_t len)
{
	snprintf(buf, len, "%016" PRIx64 ":%" PRIu64, obj, block);
}

int near_cache_new(uint64_t max, struct near_cache **ret)
{
	struct near_cache *nc = calloc(1, sizeof(*nc));
	if (!nc || !(nc->by_block = strmap_new())) {
		free(nc);
		return -ENOMEM;
	}
	nc->max = max;
	pthread_mutex_init(&nc->lock, NULL);
	TAILQ_INIT(&nc->fifo);
	*ret = nc;
	return 0;
}

void near_cache_free(struct near_cache *nc)
{
	if (!nc)
		return;
	strmap_free(nc->by_block, NULL);
	struct near_entry *e;
	while ((e = TAILQ_FIRST(&nc->fifo))) {
		TAILQ_REMOVE(&nc->fifo, e, link);
		free(e);
	}
	pthread_mutex_destroy(&nc->lock);
	free(nc);
}

static void unlink_locked(struct near_cache *nc, struct near_entry *e)
{
	char key[48];
	key_of(e->b.obj, e->b.block, key, sizeof(key));
	strmap_remove(nc->by_block, key);
	TAILQ_REMOVE(&nc->fifo, e, link);
	nc->bytes -= e->b.len;
}

static bool churns_locked(struct near_cache *nc, uint32_t len, uint64_t window_ms)
{
	bool young = false;
	uint64_t since = now_ms();
	since = since > window_ms ? since - window_ms : 0;
	uint64_t over = nc->bytes + len > nc->max ? nc->bytes + len - nc->max : 0;
	struct near_entry *e;
	TAILQ_FOREACH(e, &nc->fifo, link) {
		if (over == 0 || (young = e->at_ms > since))
			break;
		over = over > e->b.len ? over - e->b.len : 0;
	}
	return young;
}

ssize_t near_cache_add(struct near_cache *nc, uint64_t obj, uint64_t block, uint32_t len,
		       uint64_t young_ms, struct near_block *out, size_t cap)
{
	char key[48];
	size_t n = 0;
	key_of(obj, block, key, sizeof(key));
	pthread_mutex_lock(&nc->lock);
	struct near_entry *e = strmap_get(nc->by_block, key);
	if (!e && young_ms && churns_locked(nc, len, young_ms)) {
		pthread_mutex_unlock(&nc->lock);
		return -EBUSY;
	}
	if (e)
		unlink_locked(nc, e);
	else
		e = malloc(sizeof(*e));
	int err = e ? 0 : -ENOMEM;
	if (e) {
		e->b = (struct near_block){obj, block, len};
		e->at_ms = now_ms();
		strmap_put(nc->by_block, key, e, &err);
	}
	if (err < 0) {
		/* out of memory: the block cannot be accounted for, so it leaves at once */
		pthread_mutex_unlock(&nc->lock);
		free(e);
		if (cap == 0)
			return 0;
		out[0] = (struct near_block){obj, block, len};
		return 1;
	}
	TAILQ_INSERT_TAIL(&nc->fifo, e, link);
	nc->bytes += len;
	while (nc->bytes > nc->max && n < cap) {
		struct near_entry *old = TAILQ_FIRST(&nc->fifo);
		unlink_locked(nc, old);
		out[n++] = old->b;
		free(old);
	}
	pthread_mutex_unlock(&nc->lock);
	return (ssize_t)n;
}

void near_cache_keep(struct near_cache *nc, const struct near_block *b)
{
	char key[48];
	key_of(b->obj, b->block, key, sizeof(key));
	pthread_mutex_lock(&nc->lock);
	struct near_entry *e = strmap_get(nc->by_block, key);
	if (!e && (e = malloc(sizeof(*e)))) {
		int err = 0;
		e->b = *b;
		e->at_ms = 0; /* put back as the oldest */
		strmap_put(nc->by_block, key, e, &err);
		if (err < 0) {
			free(e);
		} else {
			TAILQ_INSERT_HEAD(&nc->fifo, e, link);
			nc->bytes += b->len;
		}
	}
	pthread_mutex_unlock(&nc->lock);
}

bool near_cache_churns(struct near_cache *nc, uint32_t len, uint64_t window_ms)
{
	pthread_mutex_lock(&nc->lock);
	bool young = churns_locked(nc, len, window_ms);
	pthread_mutex_unlock(&nc->lock);
	return young;
}

void near_cache_forget(struct near_cache *nc, uint64_t obj, uint64_t block)
{
	char key[48];
	key_of(obj, block, key, sizeof(key));
	pthread_mutex_lock(&nc->lock);
	struct near_entry *e = strmap_get(nc->by_block, key);
	if (e) {
		unlink_locked(nc, e);
		free(e);
	}
	pthread_mutex_unlock(&nc->lock);
}

uint64_t near_cache_bytes(struct near_cache *nc)
{
	pthread_mutex_lock(&nc->lock);
	uint64_t b = nc->bytes;
	pthread_mutex_unlock(&nc->lock);
	return b;
}
