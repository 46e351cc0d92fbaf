/* SPDX-License-Identifier: Apache-2.0 */
/* weir bench's arguments that are more than a string: workloads, counts and data-set specs
 * ("files:100000x110KiB"). Pure parsing, no I/O, so the unit tests cover every rejection. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Workloads as bits, so "all" is their union and they always run in this order. */
enum bench_workload {
	BENCH_FILES = 1u << 0,
	BENCH_SHARDS = 1u << 1,
	BENCH_CHECKPOINT = 1u << 2,
	BENCH_ALL = BENCH_FILES | BENCH_SHARDS | BENCH_CHECKPOINT,
};

/* The name of one workload bit ("files"), or "?" for anything else. */
const char *bench_args_workload_name(unsigned workload);

/* Parses "files", "shards", "checkpoint" or "all" into *ret_mask. Returns 0 or -EINVAL. */
int bench_args_workload(const char *s, unsigned *ret_mask);

/* Parses a whole number from 1 to max ("8") into *ret. Returns 0, -EINVAL for anything else
 * ("", "0", "-1", "8x", " 8") or -ERANGE above max. */
int bench_args_count(const char *s, unsigned max, unsigned *ret);

/* What --generate writes: count files under DIR/<kind name>/, of size bytes each, or with
 * size_max > size, of sizes spread over [size, size_max] (each file's drawn from its index, so a
 * regenerated set is the same). */
struct bench_gen_spec {
	unsigned kind; /* one enum bench_workload bit */
	uint64_t count;
	uint64_t size;
	uint64_t size_max; /* == size for one size */
};

#define BENCH_GEN_MAX_COUNT 10000000ull
#define BENCH_GEN_MAX_SIZE (1ull << 40)

/* Parses "KIND:COUNTxSIZE" ("files:100000x110KiB", "shards:32x256MiB", "checkpoint:1x2GiB";
 * SIZE as weir's quantities, at least 1 byte and at most 1 TiB, or a range MIN-MAX of them,
 * "files:20000x4KiB-16KiB"; COUNT 1 to 10 million).
 * Returns 0 with *ret set, or -EINVAL / -ERANGE with a sentence in err naming the bad part. */
int bench_args_generate(const char *s, struct bench_gen_spec *ret, char *err, size_t errlen);
