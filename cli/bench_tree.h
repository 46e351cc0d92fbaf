/* SPDX-License-Identifier: Apache-2.0 */
/* The regular files under a directory, as weir bench reads them: paths sorted by name so two
 * copies of a tree list their files in the same order (and a seeded shuffle visits the same
 * names in both), sizes from stat. Listing is not timed: a training job lists its data set
 * once, before its first epoch. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct bench_file {
	char *path; /* absolute (root + relative name) */
	uint64_t size;
};

struct bench_tree {
	char *root;
	struct bench_file *files; /* sorted by path */
	size_t n;
	uint64_t bytes; /* sum of the sizes */
};

/* Lists every regular file under root (recursively, symlinks not followed, at most 2^32 - 1
 * files). Returns 0 and an owned *ret (bench_tree_free), or -errno; on failure err names the
 * path that failed. */
int bench_tree_list(const char *root, struct bench_tree **ret, char *err, size_t errlen);

/* The index of the largest file (the first by name among equals); the tree must not be empty. */
size_t bench_tree_largest(const struct bench_tree *t);

/* Frees t; accepts NULL. */
void bench_tree_free(struct bench_tree *t);
