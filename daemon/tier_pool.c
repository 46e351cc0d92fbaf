// SPDX-License-Identifier: Apache-2.0
// Tier pools: a registry keyed by the directory's (device, inode), byte counts as atomics so that
// stores update them under their own locks, and a reclaim loop that calls into one store at a
// time with no pool lock held.
#include "tier_pool.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "log.h"
#include "strmap.h"

struct tier_pool {
	char key[48]; /* "<dev>:<ino>" in the registry */
	uint64_t quota, high, low;
	_Atomic uint64_t used;
	/* Guards members, each member's busy and skip, nmembers and reclaiming. Taken after the
	 * registry's lock, never while a store's lock is held, and never held across a call into
	 * a member (which does tier I/O). */
	pthread_mutex_t lock;
	pthread_cond_t idle; /* a reclaim finished, or a member stopped being busy */
	LIST_HEAD(, tier_pool_member) members;
	unsigned nmembers;
	bool reclaiming;
};

struct tier_pools {
	/* Guards map: joins and leaves only; no I/O and no wait on a reclaim under it. */
	pthread_mutex_t lock;
	struct strmap *map; /* key -> struct tier_pool */
};

int tier_pools_new(struct tier_pools **ret)
{
	struct tier_pools *ps = calloc(1, sizeof(*ps));

	if (!ps)
		return -ENOMEM;
	ps->map = strmap_new();
	if (!ps->map) {
		free(ps);
		return -ENOMEM;
	}
	pthread_mutex_init(&ps->lock, NULL);
	*ret = ps;
	return 0;
}

void tier_pools_free(struct tier_pools *ps)
{
	if (!ps)
		return;
	if (strmap_size(ps->map) > 0)
		log_debug("tier pools: %zu still joined at exit", strmap_size(ps->map));
	strmap_free(ps->map, NULL);
	pthread_mutex_destroy(&ps->lock);
	free(ps);
}

int tier_pool_join(struct tier_pools *ps, int dirfd, uint64_t quota, double high, double low,
		   struct tier_pool_member *m, struct tier_pool **ret)
{
	struct tier_pool *p;
	char key[48];
	struct stat st;
	int r = 0;

	if (fstat(dirfd, &st) < 0)
		return -errno;
	snprintf(key, sizeof(key), "%" PRIu64 ":%" PRIu64, (uint64_t)st.st_dev,
		 (uint64_t)st.st_ino);
	pthread_mutex_lock(&ps->lock);
	p = strmap_get(ps->map, key);
	if (!p) {
		int err;

		p = calloc(1, sizeof(*p));
		if (!p) {
			r = -ENOMEM;
			goto unlock;
		}
		snprintf(p->key, sizeof(p->key), "%s", key);
		p->quota = quota;
		p->high = (uint64_t)((double)quota * high);
		p->low = (uint64_t)((double)quota * low);
		pthread_mutex_init(&p->lock, NULL);
		pthread_cond_init(&p->idle, NULL);
		LIST_INIT(&p->members);
		strmap_put(ps->map, key, p, &err);
		if (err < 0) {
			pthread_cond_destroy(&p->idle);
			pthread_mutex_destroy(&p->lock);
			free(p);
			r = err;
			goto unlock;
		}
	} else if (p->quota != quota || p->high != (uint64_t)((double)quota * high) ||
		   p->low != (uint64_t)((double)quota * low)) {
		r = 1;
	}
	pthread_mutex_lock(&p->lock);
	m->busy = 0;
	m->skip = false;
	LIST_INSERT_HEAD(&p->members, m, link);
	p->nmembers++;
	pthread_mutex_unlock(&p->lock);
	*ret = p;
unlock:
	pthread_mutex_unlock(&ps->lock);
	return r;
}

void tier_pool_leave(struct tier_pools *ps, struct tier_pool *p, struct tier_pool_member *m)
{
	bool last;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	while (m->busy > 0)
		pthread_cond_wait(&p->idle, &p->lock);
	LIST_REMOVE(m, link);
	p->nmembers--;
	pthread_mutex_unlock(&p->lock);

	/* A join may have come in between: only an empty pool goes. */
	pthread_mutex_lock(&ps->lock);
	pthread_mutex_lock(&p->lock);
	last = p->nmembers == 0 && !p->reclaiming;
	pthread_mutex_unlock(&p->lock);
	if (last)
		strmap_remove(ps->map, p->key);
	pthread_mutex_unlock(&ps->lock);
	if (last) {
		pthread_cond_destroy(&p->idle);
		pthread_mutex_destroy(&p->lock);
		free(p);
	}
}

uint64_t tier_pool_quota(const struct tier_pool *p)
{
	return p->quota;
}

uint64_t tier_pool_high(const struct tier_pool *p)
{
	return p->high;
}

uint64_t tier_pool_low(const struct tier_pool *p)
{
	return p->low;
}

uint64_t tier_pool_used(const struct tier_pool *p)
{
	return atomic_load(&p->used);
}

void tier_pool_add(struct tier_pool *p, uint64_t bytes)
{
	atomic_fetch_add(&p->used, bytes);
}

void tier_pool_sub(struct tier_pool *p, uint64_t bytes)
{
	atomic_fetch_sub(&p->used, bytes);
}

uint64_t tier_pool_reclaim(struct tier_pool *p, uint64_t target)
{
	struct tier_pool_member *m;
	uint64_t total = 0;

	pthread_mutex_lock(&p->lock);
	/* Two at once would both evict for the same overshoot. */
	while (p->reclaiming)
		pthread_cond_wait(&p->idle, &p->lock);
	p->reclaiming = true;
	LIST_FOREACH(m, &p->members, link)
	m->skip = false;
	while (atomic_load(&p->used) > target) {
		struct tier_pool_member *best = NULL;
		uint64_t best_at = UINT64_MAX, next_at = UINT64_MAX, freed;

		LIST_FOREACH(m, &p->members, link)
		{
			uint64_t at = atomic_load(&m->oldest);

			if (m->skip)
				continue;
			if (!best || at < best_at) {
				next_at = best ? best_at : next_at;
				best = m;
				best_at = at;
			} else if (at < next_at) {
				next_at = at;
			}
		}
		if (!best)
			break;
		best->busy++;
		pthread_mutex_unlock(&p->lock);
		freed = best->reclaim(best, target, next_at);
		pthread_mutex_lock(&p->lock);
		best->busy--;
		if (freed == 0)
			best->skip = true;
		total += freed;
	}
	p->reclaiming = false;
	pthread_cond_broadcast(&p->idle);
	pthread_mutex_unlock(&p->lock);
	return total;
}
