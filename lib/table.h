/* SPDX-License-Identifier: Apache-2.0 */
/* kubectl-like tables: columns padded as kubectl's tabwriter does (at least 6 wide, 3 spaces
 * after the widest cell, the last column unpadded), ages as kubectl prints them ("2m54s"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objmodel.h"

struct table;

/* Returns a new table with ncols columns and these headers (copied), or NULL on ENOMEM. */
struct table *table_new(size_t ncols, const char *const *headers);

/* Frees the table; accepts NULL. */
void table_free(struct table *t);

/* Appends a row of ncols cells (copied; NULL prints as ""). Returns 0 or -ENOMEM. */
int table_add_row(struct table *t, const char *const *cells);

/* Renders header and rows, one line each with "\n". Returns 0 and an owned *ret_text (free()),
 * or -ENOMEM. */
int table_render(const struct table *t, char **ret_text);

/* Formats a duration as kubectl's AGE column does (HumanDuration): "45s", "2m54s", "79m",
 * "5h3m", "14h", "3d4h", "12d", "2y10d"; "<invalid>" below -1s. Returns buf. */
char *table_format_age(int64_t seconds, char *buf, size_t len);

/* `weir get dataset`: NAME UFS TOTAL SIZE CACHED CACHE CAPACITY CACHED PERCENTAGE PHASE AGE,
 * with NAMESPACE first when all_namespaces and TOTAL FILES, CACHE HIT RATIO before AGE when
 * wide. now is the current epoch time (for AGE). Objects of other kinds are skipped. Returns 0
 * and an owned *ret_text ("" when there is no dataset: the caller says "No resources found"),
 * or -ENOMEM. */
int table_datasets(struct objmodel *const *objs, size_t n, bool all_namespaces, bool wide,
		   int64_t now, char **ret_text);

/* `weir get dataload`: NAME DATASET PHASE AGE DURATION (NAMESPACE first with all_namespaces;
 * PROGRESS with wide). DURATION is "Unfinished" until Complete or Failed, as in Fluid.
 * Same return convention as table_datasets. */
int table_dataloads(struct objmodel *const *objs, size_t n, bool all_namespaces, bool wide,
		    int64_t now, char **ret_text);

/* `weir get runtime`: NAME KIND TIERS CACHE CAPACITY CACHED PHASE AGE (NAMESPACE first with
 * all_namespaces; REPLICAS with wide). TIERS lists the media top-down ("MEM,SSD"), CACHE
 * CAPACITY is the sum of the quotas. Same return convention as table_datasets. */
int table_runtimes(struct objmodel *const *objs, size_t n, bool all_namespaces, bool wide,
		   int64_t now, char **ret_text);
