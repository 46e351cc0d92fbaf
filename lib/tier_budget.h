/* SPDX-License-Identifier: Apache-2.0 */
/* Each tier root's SIZE (tier_roots.h) as a budget for the sum of the quotas of the tiers open
 * under it, whoever opened them: one root per tenant Runtime would otherwise let a namespace
 * make as many tiers of SIZE as it has Runtimes (node RAM through /dev/shm). A tier under
 * nested roots counts against each of them; a tier under none is not counted. A tier path
 * several owners hold (root's `weir mount` of two sources with one --tier) is one directory
 * with one quota (tier_pool.h: the first opener's, until the last leaves), so it counts once,
 * with that quota; paths are compared with runs of '/' and a trailing '/' dropped. Owners (a
 * source's id) commit their tiers as one share and release it when they close. Thread-safe:
 * a commit's check and its commit are one step under the budget's own lock. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tier_roots;
struct tier_budget;

struct tier_share {
	const char *path;
	uint64_t quota;
};

/* A budget over roots (borrowed: they must outlive it; NULL roots give a budget that allows
 * everything). Returns 0 and an owned *ret, or -ENOMEM. */
int tier_budget_new(const struct tier_roots *roots, struct tier_budget **ret);
void tier_budget_free(struct tier_budget *b);

/* Commits owner's share: tiers[0..n) in place of what owner had committed; ns is the namespace
 * whose Dataset owner is (NULL: none, as root's own `weir mount`s). Refused, when the new share
 * would take any root's committed sum over its SIZE, or what ns's owners hold under a root over
 * its per-namespace size (tier_roots.h: a path they share counted once), unless force (a tier already
 * open, say a view adopted at start: counted, never refused): returns -EDQUOT with err naming
 * the root, its SIZE and what the others have committed there, and owner's previous share stays.
 * Returns 0 otherwise. Takes only the budget's lock; any thread. */
int tier_budget_commit(struct tier_budget *b, const char *owner, const char *ns,
		       const struct tier_share *tiers, size_t n, bool force, char *err,
		       size_t errlen);

/* Gives owner's share back (nothing if it has none). */
void tier_budget_release(struct tier_budget *b, const char *owner);

/* Bytes committed under root i (tier_roots index). */
uint64_t tier_budget_committed(struct tier_budget *b, size_t i);
