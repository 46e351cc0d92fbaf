// SPDX-License-Identifier: Apache-2.0
// gRPC framing: a frame split across reads, bad flag bytes, compressed and oversize frames,
// truncation and trailing bytes; grpc-message escaping; the -errno -> status table.
#include <check.h>
#include <errno.h>
#include <string.h>

#include "grpc_frame.h"
#include "suites.h"

START_TEST(split_across_reads)
{
	uint8_t f[5 + 3];
	grpc_frame_header(f, 3);
	memcpy(f + 5, "abc", 3);
	/* every prefix short of the whole frame asks for more */
	for (size_t n = 0; n < sizeof(f); n++)
		ck_assert_int_eq(grpc_frame_check(f, n, 100), 0);
	ck_assert_int_eq(grpc_frame_check(f, sizeof(f), 100), 8);
	const uint8_t *m;
	size_t ml;
	ck_assert_int_eq(grpc_frame_decode(f, sizeof(f), 100, &m, &ml), 0);
	ck_assert_uint_eq(ml, 3);
	ck_assert(memcmp(m, "abc", 3) == 0);
}
END_TEST

START_TEST(empty_message)
{
	uint8_t f[5];
	grpc_frame_header(f, 0);
	const uint8_t *m;
	size_t ml = 99;
	ck_assert_int_eq(grpc_frame_decode(f, 5, 100, &m, &ml), 0);
	ck_assert_uint_eq(ml, 0);
}
END_TEST

START_TEST(bad_prefix)
{
	uint8_t f[6] = {2, 0, 0, 0, 1, 'x'};
	ck_assert_int_eq(grpc_frame_check(f, 1, 100), -EBADMSG);
	f[0] = 0xff;
	ck_assert_int_eq(grpc_frame_check(f, 6, 100), -EBADMSG);
	f[0] = 1; /* compressed, never negotiated */
	ck_assert_int_eq(grpc_frame_check(f, 1, 100), -ENOTSUP);
	const uint8_t *m;
	size_t ml;
	ck_assert_int_eq(grpc_frame_decode(f, 6, 100, &m, &ml), -ENOTSUP);
	/* a body shorter than a header is no frame */
	ck_assert_int_eq(grpc_frame_decode((const uint8_t *)"\0\0", 2, 100, &m, &ml), -EBADMSG);
	ck_assert_int_eq(grpc_frame_decode(f, 0, 100, &m, &ml), -EBADMSG);
}
END_TEST

START_TEST(oversize)
{
	uint8_t f[5];
	grpc_frame_header(f, 101);
	/* decided on the header alone, before any of the 101 bytes */
	ck_assert_int_eq(grpc_frame_check(f, 5, 100), -EMSGSIZE);
	grpc_frame_header(f, 0xffffffffu);
	ck_assert_int_eq(grpc_frame_check(f, 5, GRPC_MAX_MESSAGE), -EMSGSIZE);
}
END_TEST

START_TEST(truncated_and_trailing)
{
	uint8_t f[5 + 4];
	grpc_frame_header(f, 3);
	memcpy(f + 5, "abcd", 4);
	const uint8_t *m;
	size_t ml;
	ck_assert_int_eq(grpc_frame_decode(f, 7, 100, &m, &ml), -EBADMSG);
	/* a second message (or junk) after the first: unary calls carry exactly one */
	ck_assert_int_eq(grpc_frame_decode(f, 9, 100, &m, &ml), -EBADMSG);
}
END_TEST

START_TEST(percent_encoding)
{
	char out[64];
	ck_assert_str_eq(grpc_percent_encode("path \"a\" 100%\n\xc3\xa9", out, sizeof(out)),
			 "path \"a\" 100%25%0A%C3%A9");
	char in[64];
	strcpy(in, out);
	grpc_percent_decode(in);
	ck_assert_str_eq(in, "path \"a\" 100%\n\xc3\xa9");
	/* cut at a whole escape, always terminated */
	ck_assert_str_eq(grpc_percent_encode("ab\n", out, 5), "ab");
	strcpy(in, "bad %zz %4");
	grpc_percent_decode(in);
	ck_assert_str_eq(in, "bad %zz %4");
}
END_TEST

START_TEST(status_table)
{
	ck_assert_int_eq(grpc_status_from_errno(0), GRPC_OK);
	ck_assert_int_eq(grpc_status_from_errno(-EINVAL), GRPC_INVALID_ARGUMENT);
	ck_assert_int_eq(grpc_status_from_errno(-ENOENT), GRPC_NOT_FOUND);
	ck_assert_int_eq(grpc_status_from_errno(-EEXIST), GRPC_ALREADY_EXISTS);
	ck_assert_int_eq(grpc_status_from_errno(-EPERM), GRPC_PERMISSION_DENIED);
	ck_assert_int_eq(grpc_status_from_errno(-EACCES), GRPC_PERMISSION_DENIED);
	ck_assert_int_eq(grpc_status_from_errno(-ENOSYS), GRPC_UNIMPLEMENTED);
	ck_assert_int_eq(grpc_status_from_errno(-EAGAIN), GRPC_UNAVAILABLE);
	ck_assert_int_eq(grpc_status_from_errno(-EMSGSIZE), GRPC_RESOURCE_EXHAUSTED);
	ck_assert_int_eq(grpc_status_from_errno(-EIO), GRPC_INTERNAL);
	ck_assert_str_eq(grpc_code_name(GRPC_PERMISSION_DENIED), "PERMISSION_DENIED");
	ck_assert_str_eq(grpc_code_name(99), "?");
}
END_TEST

Suite *grpc_frame_suite(void)
{
	Suite *s = suite_create("grpc_frame");
	TCase *tc = tcase_create("frame");
	tcase_add_test(tc, split_across_reads);
	tcase_add_test(tc, empty_message);
	tcase_add_test(tc, bad_prefix);
	tcase_add_test(tc, oversize);
	tcase_add_test(tc, truncated_and_trailing);
	tcase_add_test(tc, percent_encoding);
	tcase_add_test(tc, status_table);
	suite_add_tcase(s, tc);
	return s;
}
