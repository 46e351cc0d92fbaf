// SPDX-License-Identifier: Apache-2.0
// Range arithmetic: block coverage of reads and merging of reply segments.
#include "ranges.h"
#include "suites.h"

#define MiB (1024u * 1024u)

START_TEST(blocks_cover_read)
{
	uint64_t first;
	size_t len;
	/* a read inside one block */
	ck_assert_uint_eq(ranges_blocks(100, 4096, 10 * MiB, 4 * MiB, &first, &len), 1);
	ck_assert_uint_eq(first, 0);
	ck_assert_uint_eq(len, 4096);
	/* a read straddling a block boundary */
	ck_assert_uint_eq(ranges_blocks(4 * MiB - 10, 20, 10 * MiB, 4 * MiB, &first, &len), 2);
	ck_assert_uint_eq(first, 0);
	/* a read past EOF is clipped */
	ck_assert_uint_eq(ranges_blocks(9 * MiB, 4 * MiB, 10 * MiB, 4 * MiB, &first, &len), 1);
	ck_assert_uint_eq(first, 2);
	ck_assert_uint_eq(len, 1 * MiB);
	/* at or beyond EOF: nothing */
	ck_assert_uint_eq(ranges_blocks(10 * MiB, 10, 10 * MiB, 4 * MiB, &first, &len), 0);
	ck_assert_uint_eq(ranges_blocks(0, 0, 10 * MiB, 4 * MiB, &first, &len), 0);
	/* exactly one whole block */
	ck_assert_uint_eq(ranges_blocks(4 * MiB, 4 * MiB, 12 * MiB, 4 * MiB, &first, &len), 1);
	ck_assert_uint_eq(first, 1);
}
END_TEST

START_TEST(segments_merge_when_contiguous)
{
	struct range_seg segs[4];
	size_t n = 0;
	n = ranges_append(segs, n, &(struct range_seg){.fd = 5, .off = 0, .len = 100});
	n = ranges_append(segs, n, &(struct range_seg){.fd = 5, .off = 100, .len = 50});
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(segs[0].len, 150);
	/* a gap in the same file starts a new segment */
	n = ranges_append(segs, n, &(struct range_seg){.fd = 5, .off = 200, .len = 10});
	ck_assert_uint_eq(n, 2);
	/* another file (another tier) too */
	n = ranges_append(segs, n, &(struct range_seg){.fd = 6, .off = 210, .len = 10});
	ck_assert_uint_eq(n, 3);
	/* empty pieces vanish */
	n = ranges_append(segs, n, &(struct range_seg){.fd = 6, .off = 220, .len = 0});
	ck_assert_uint_eq(n, 3);
}
END_TEST

START_TEST(memory_segments_merge_only_when_adjacent)
{
	static char buf[64];
	struct range_seg segs[3];
	size_t n = 0;
	n = ranges_append(segs, n, &(struct range_seg){.fd = -1, .mem = buf, .len = 16});
	n = ranges_append(segs, n, &(struct range_seg){.fd = -1, .mem = buf + 16, .len = 16});
	ck_assert_uint_eq(n, 1);
	n = ranges_append(segs, n, &(struct range_seg){.fd = -1, .mem = buf + 40, .len = 8});
	ck_assert_uint_eq(n, 2);
	/* a file piece never merges into memory */
	n = ranges_append(segs, n, &(struct range_seg){.fd = 3, .off = 48, .len = 8});
	ck_assert_uint_eq(n, 3);
}
END_TEST

Suite *ranges_suite(void)
{
	Suite *s = suite_create("ranges");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, blocks_cover_read);
	tcase_add_test(tc, segments_merge_when_contiguous);
	tcase_add_test(tc, memory_segments_merge_only_when_adjacent);
	suite_add_tcase(s, tc);
	return s;
}
