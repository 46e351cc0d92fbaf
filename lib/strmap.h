/* SPDX-License-Identifier: Apache-2.0 */
/* A string-keyed map of borrowed pointers, on the tree's hash table (htable.h). Not locked:
 * its owner's lock guards it. Keys are copied; values are not owned. */
#pragma once

#include <stddef.h>

struct strmap;

struct strmap *strmap_new(void);
/* Frees the map and its key copies; calls free_value on each value if not NULL. */
void strmap_free(struct strmap *m, void (*free_value)(void *));
void *strmap_get(const struct strmap *m, const char *key);
/* Sets key to value; returns the previous value (or NULL). On allocation failure the map is
 * unchanged and *ret_err (if not NULL) is -ENOMEM; otherwise it is 0. */
void *strmap_put(struct strmap *m, const char *key, void *value, int *ret_err);
/* Removes key; returns its value (or NULL). */
void *strmap_remove(struct strmap *m, const char *key);
size_t strmap_size(const struct strmap *m);
/* Heap bytes the map itself holds (buckets, entries, key copies; not the values), as malloc
 * counts them (malloc_usable_size). NULL: 0. For weir stat's memory breakdown. */
size_t strmap_bytes(const struct strmap *m);
/* Calls fn for each entry; stops when fn returns non-zero and returns that. */
int strmap_each(const struct strmap *m, int (*fn)(const char *key, void *value, void *arg),
		void *arg);
