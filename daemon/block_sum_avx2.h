/* SPDX-License-Identifier: Apache-2.0 */
/* XXH3-64 built for AVX2 (the file is compiled with -mavx2): call only on a CPU that has it
 * (block_sum checks). */
#pragma once

#include <stddef.h>
#include <stdint.h>

uint64_t block_sum_avx2(const void *buf, size_t len);

/* The running form (block_sum_state): an XXH3 state of this build's own, used only with these. */
void *block_sum_avx2_new(void);
void block_sum_avx2_update(void *s, const void *buf, size_t len);
uint64_t block_sum_avx2_digest(const void *s);
void block_sum_avx2_free(void *s);
