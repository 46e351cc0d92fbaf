/* SPDX-License-Identifier: Apache-2.0 */
/* One quota per tier path: every block store with a tier in the same directory joins that
 * directory's pool, counts its bytes there, and when the pool must shrink the least recently
 * used blocks go first whichever store holds them. The first store on a path sets its quota and
 * watermarks; later ones share them (and are told when they asked for others) until the last
 * leaves. Bytes of a source no store has open are not counted. Thread-safe. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

struct tier_pools; /* the registry: one per process, owned by whoever owns the stores */
struct tier_pool;

/* A store's tier in a pool. The store fills reclaim and keeps oldest current; the pool owns the
 * rest. */
struct tier_pool_member {
	/* Evicts (or demotes) the member's blocks while the pool uses more than target, at least
	 * one, stopping at blocks used later than until (CLOCK_REALTIME ns). Returns the bytes it
	 * took out of the pool; 0 when nothing could go. Called with no pool lock held. */
	uint64_t (*reclaim)(struct tier_pool_member *m, uint64_t target, uint64_t until);
	_Atomic uint64_t oldest; /* last use of its least recently used block; UINT64_MAX: none */
	LIST_ENTRY(tier_pool_member) link; /* under the pool's lock, like the two below */
	unsigned busy;			   /* reclaims running on it: leave waits for none */
	bool skip;			   /* nothing more to take during this reclaim */
};

int tier_pools_new(struct tier_pools **ret);
/* Every pool must have been left. NULL is fine. */
void tier_pools_free(struct tier_pools *ps);

/* Joins m to the pool of the directory dirfd refers to (by device and inode, however the path
 * was spelled), creating it with quota and watermarks (0 < low <= high <= 1) if it is the first.
 * Returns 0, or 1 when the pool existed with another quota or watermarks (the pool's win), or
 * -errno. */
int tier_pool_join(struct tier_pools *ps, int dirfd, uint64_t quota, double high, double low,
		   struct tier_pool_member *m, struct tier_pool **ret);
/* Waits for reclaims running on m, takes it out (and frees the pool with its last member). The
 * caller has already subtracted its bytes. */
void tier_pool_leave(struct tier_pools *ps, struct tier_pool *p, struct tier_pool_member *m);

/* The pool's quota and watermarks in bytes: fixed while it exists. */
uint64_t tier_pool_quota(const struct tier_pool *p);
uint64_t tier_pool_high(const struct tier_pool *p);
uint64_t tier_pool_low(const struct tier_pool *p);
/* Bytes every member counts there now. */
uint64_t tier_pool_used(const struct tier_pool *p);
void tier_pool_add(struct tier_pool *p, uint64_t bytes);
void tier_pool_sub(struct tier_pool *p, uint64_t bytes);
/* Takes bytes out of the members, least recently used first, until the pool uses at most target
 * or nothing more can go. One reclaim runs at a time per pool (a second waits, then finds less
 * to do). The caller holds no store lock. Returns the bytes freed. */
uint64_t tier_pool_reclaim(struct tier_pool *p, uint64_t target);
