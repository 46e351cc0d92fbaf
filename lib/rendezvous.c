// SPDX-License-Identifier: Apache-2.0
// Rendezvous hashing: FNV-1a over "node\0key", then a splitmix64 finalizer so that nodes whose
// names differ in one character still get independent weights.
#include "rendezvous.h"

#include <string.h>

static uint64_t fnv1a(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

uint64_t rendezvous_weight(const char *node, const char *key)
{
	uint64_t h = fnv1a(14695981039346656037ull, node, strlen(node) + 1);
	h = fnv1a(h, key, strlen(key));
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	return h ^ (h >> 31);
}

int rendezvous_owner(const char *key, const char *const *nodes, size_t n)
{
	int best = -1;
	uint64_t best_w = 0;
	for (size_t i = 0; i < n; i++) {
		if (!nodes[i])
			continue;
		uint64_t w = rendezvous_weight(nodes[i], key);
		if (best < 0 || w > best_w || (w == best_w && strcmp(nodes[i], nodes[best]) < 0)) {
			best = (int)i;
			best_w = w;
		}
	}
	return best;
}
