// SPDX-License-Identifier: Apache-2.0
// block_sum must be XXH3-64 bit for bit (the index and other nodes hold sums libxxhash made):
// checked against libxxhash, a second build of the same function, over lengths on each side of
// XXH3's internal boundaries (16, 128, 240 bytes, its 1 KiB stripes and 64-byte blocks), at
// every alignment of a stripe, and over a whole block; the AVX2 path directly as well where the
// CPU has it, so a dispatch that picked the baseline would not hide a wrong AVX2 build.
#include <stdint.h>
#include <stdlib.h>
#include <xxhash.h>

#include "block_sum.h"
#include "suites.h"
#ifdef WEIR_BLOCK_SUM_AVX2
#include "block_sum_avx2.h"
#endif

#define BUF (4u << 20)

static unsigned char *bytes(size_t n)
{
	unsigned char *b = malloc(n + 64);
	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < n + 64; i++)
		b[i] = (unsigned char)((i * 2654435761u + 7) >> 11);
	return b;
}

static void same_at(const unsigned char *p, size_t len)
{
	uint64_t want = XXH3_64bits(p, len);
	ck_assert_msg(block_sum(p, len) == want, "block_sum of %zu bytes at +%zu differs", len,
		      (size_t)((uintptr_t)p % 64));
#ifdef WEIR_BLOCK_SUM_AVX2
	if (__builtin_cpu_supports("avx2"))
		ck_assert_msg(block_sum_avx2(p, len) == want,
			      "block_sum_avx2 of %zu bytes at +%zu differs", len,
			      (size_t)((uintptr_t)p % 64));
#endif
}

START_TEST(block_sum_is_xxh3)
{
	unsigned char *b = bytes(BUF);
	for (size_t len = 0; len <= 2100; len++)
		same_at(b, len);
	for (size_t off = 1; off < 64; off++)
		for (size_t len = 0; len < 1100; len += 97)
			same_at(b + off, len);
	const size_t big[] = {4095, 4096, 65536 + 3, (1u << 20) + 12345, BUF - 1, BUF};
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		same_at(b, big[i]);
		same_at(b + 3, big[i]);
	}
	free(b);
}
END_TEST

/* The running form over the same bytes in pieces of every size, cut anywhere: the same value. */
START_TEST(a_running_sum_is_the_sum_of_its_pieces)
{
	unsigned char *b = bytes(BUF);
	const size_t cuts[] = {1, 7, 64, 100, 255, 256, 1024, 4096, 65536, 1u << 20};
	for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
		const size_t lens[] = {0, 1, 1000, 1u << 20, BUF};
		for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
			size_t len = lens[k];
			struct block_sum_state *s = block_sum_new();
			ck_assert_ptr_nonnull(s);
			for (size_t off = 0; off < len; off += cuts[c])
				block_sum_update(s, b + off,
						 len - off < cuts[c] ? len - off : cuts[c]);
			ck_assert_msg(block_sum_digest(s) == XXH3_64bits(b, len),
				      "%zu bytes in pieces of %zu: the running sum differs", len,
				      cuts[c]);
			block_sum_free(s);
		}
	}
	block_sum_free(NULL);
	free(b);
}
END_TEST

Suite *block_sum_suite(void)
{
	Suite *s = suite_create("block_sum");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, block_sum_is_xxh3);
	tcase_add_test(tc, a_running_sum_is_the_sum_of_its_pieces);
	suite_add_tcase(s, tc);
	return s;
}
