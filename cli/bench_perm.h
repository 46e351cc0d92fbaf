/* SPDX-License-Identifier: Apache-2.0 */
/* weir bench's random orders: a seeded generator (splitmix64), shuffles, and how one epoch's
 * order is split among workers. The same seed gives the same order on every machine, so runs
 * on two directories read their files in the same order. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The next 64 random bits of the stream in *state (any value is a valid state). */
uint64_t bench_perm_next(uint64_t *state);

/* A uniform random integer in [0, bound), bound > 0. */
uint64_t bench_perm_below(uint64_t *state, uint64_t bound);

/* Fills idx[0..n) with a uniformly random permutation of 0..n-1 (Fisher-Yates) drawn from seed. */
void bench_perm_fill(uint32_t *idx, size_t n, uint64_t seed);

/* The seed of an epoch's order: a function of the run's seed and the epoch only, so the
 * directories compared in one run read the same order in each epoch and a new one next epoch. */
uint64_t bench_perm_epoch_seed(uint64_t seed, unsigned epoch);

/* Worker w (0-based) of workers takes positions [*ret_begin, *ret_end) of an n-long order:
 * contiguous slices whose lengths differ by at most one and that cover 0..n exactly once. */
void bench_perm_slice(size_t n, unsigned workers, unsigned w, size_t *ret_begin, size_t *ret_end);
