/* SPDX-License-Identifier: Apache-2.0 */
/* XXH3-64 built for AVX2 (the file is compiled with -mavx2): call only on a CPU that has it
 * (block_sum checks). */
#pragma once

#include <stddef.h>
#include <stdint.h>

uint64_t block_sum_avx2(const void *buf, size_t len);
