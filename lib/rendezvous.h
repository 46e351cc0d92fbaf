/* SPDX-License-Identifier: Apache-2.0 */
/* Rendezvous (highest random weight) hashing: which of a set of nodes owns a key. Every node and
 * the controller compute the same answer from the same set, with no coordination; removing a
 * node moves only the keys it owned, each to the node that ranked second for it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The weight of (node, key): a 64-bit hash of both, well mixed. */
uint64_t rendezvous_weight(const char *node, const char *key);

/* The index in nodes[0..n) of the node that owns key (highest weight; ties go to the smaller
 * name, so the order of nodes does not matter), or -1 when n is 0. NULL entries are skipped. */
int rendezvous_owner(const char *key, const char *const *nodes, size_t n);
