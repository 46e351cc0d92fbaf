// SPDX-License-Identifier: Apache-2.0
// HTTP object versions: Content-Range parsing, the precondition of a range request, and whether
// a response is the version a reader opened.
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http_version.h"
#include "suites.h"

START_TEST(content_range_forms)
{
	struct http_content_range cr;

	ck_assert_int_eq(http_version_parse_content_range("bytes 0-4095/5000", &cr), 0);
	ck_assert(cr.have_range && cr.have_total);
	ck_assert_uint_eq(cr.first, 0);
	ck_assert_uint_eq(cr.last, 4095);
	ck_assert_uint_eq(cr.total, 5000);

	ck_assert_int_eq(http_version_parse_content_range("  bytes 10-19/*\r", &cr), -EBADMSG);
	ck_assert_int_eq(http_version_parse_content_range("  bytes 10-19/* ", &cr), 0);
	ck_assert(cr.have_range && !cr.have_total);
	ck_assert_uint_eq(cr.first, 10);

	ck_assert_int_eq(http_version_parse_content_range("bytes */2097152", &cr), 0);
	ck_assert(!cr.have_range && cr.have_total);
	ck_assert_uint_eq(cr.total, 2097152);

	ck_assert_int_eq(http_version_parse_content_range("BYTES 0-0/1", &cr), 0);
	ck_assert_uint_eq(cr.total, 1);
	ck_assert_int_eq(http_version_parse_content_range(
			     "bytes 0-18446744073709551614/18446744073709551615", &cr),
			 0);
	ck_assert_uint_eq(cr.total, UINT64_MAX);
}
END_TEST

START_TEST(content_range_lies_and_junk)
{
	static const char *const bad[] = {
	    "",
	    "bytes",
	    "bytes */*",		      /* says nothing */
	    "bytes 5-4/10",		      /* ends before it starts */
	    "bytes 0-10/10",		      /* ends past the total */
	    "bytes 0-1/18446744073709551616", /* overflow */
	    "bytes -1-5/10",
	    "bytes 0-5/10 junk",
	    "items 0-5/10",
	    "bytes=0-5/10",
	    "bytes 0-5",
	    "bytes 0-5/",
	};
	struct http_content_range cr = {.total = 42};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(http_version_parse_content_range(bad[i], &cr) == -EBADMSG,
			      "\"%s\" accepted", bad[i]);
	ck_assert_uint_eq(cr.total, 42); /* untouched on failure */
}
END_TEST

START_TEST(precondition_binds_the_version)
{
	char buf[200];
	struct ufs_attr a = {.size = 5000, .mtime = 1700000007, .mtime_exact = true};

	snprintf(a.etag, sizeof(a.etag), "\"6553f1a7-1388\"");
	ck_assert_int_eq(http_version_precondition(&a, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "If-Match: \"6553f1a7-1388\"");

	/* A weak tag never matches If-Match: fall back to the date. */
	snprintf(a.etag, sizeof(a.etag), "W/\"6553f1a7-1388\"");
	ck_assert_int_eq(http_version_precondition(&a, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "If-Unmodified-Since: Tue, 14 Nov 2023 22:13:27 GMT");

	a.etag[0] = '\0';
	ck_assert_int_eq(http_version_precondition(&a, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "If-Unmodified-Since: Tue, 14 Nov 2023 22:13:27 GMT");

	/* Nor a tag with control bytes (a header of its own smuggled in). */
	snprintf(a.etag, sizeof(a.etag), "\"a\"\rX-Evil: 1");
	ck_assert_int_eq(http_version_precondition(&a, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "If-Unmodified-Since: Tue, 14 Nov 2023 22:13:27 GMT");
	a.etag[0] = '\0';

	/* The server's own date that happens to fall on a whole minute is still one (a guess
	 * from the value once sent nothing for it, and such a file mixed two versions). */
	a.mtime = 1700000040;
	ck_assert_int_eq(http_version_precondition(&a, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "If-Unmodified-Since: Tue, 14 Nov 2023 22:14:00 GMT");
	/* Minutes from a listing are no validator. */
	a.mtime_exact = false;
	ck_assert_int_eq(http_version_precondition(&a, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
	a.mtime = 1700000007;
	ck_assert_int_eq(http_version_precondition(&a, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
	a.mtime_exact = true;
	a.mtime = 0;
	ck_assert_int_eq(http_version_precondition(&a, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");

	snprintf(a.etag, sizeof(a.etag), "\"abc\"");
	ck_assert_int_eq(http_version_precondition(&a, buf, 8), -ENAMETOOLONG);
}
END_TEST

START_TEST(response_versions)
{
	struct ufs_attr want = {.size = 5000, .mtime = 1700000007, .mtime_exact = true};
	struct http_version_seen seen = {.etag = "\"x\"", .have_total = true, .total = 5000};

	snprintf(want.etag, sizeof(want.etag), "\"x\"");
	ck_assert(http_version_matches(&seen, &want));
	seen.etag = "W/\"x\"";
	ck_assert(http_version_matches(&seen, &want));
	seen.etag = "\"y\"";
	ck_assert(!http_version_matches(&seen, &want));
	/* the same tag with another size is not the version either */
	seen.etag = "\"x\"";
	seen.total = 4000;
	ck_assert(!http_version_matches(&seen, &want));
	seen.total = 5000;

	/* No ETag: the size, then an exact Last-Modified. */
	seen.etag = "";
	seen.mtime = 1700000007;
	ck_assert(http_version_matches(&seen, &want));
	seen.total = 2500;
	ck_assert(!http_version_matches(&seen, &want));
	seen.total = 5000;
	seen.mtime = 1700000008;
	ck_assert(!http_version_matches(&seen, &want));
	want.mtime = 1700000040; /* the server's, on a whole minute: still compared */
	ck_assert(!http_version_matches(&seen, &want));
	want.mtime_exact = false; /* listing minutes: only the size counts */
	ck_assert(http_version_matches(&seen, &want));
	ck_assert(http_version_same_etag("W/\"q\"", "\"q\""));
	ck_assert(!http_version_same_etag("\"q\"", "\"r\""));
}
END_TEST

Suite *http_version_suite(void)
{
	Suite *s = suite_create("http_version");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, content_range_forms);
	tcase_add_test(tc, content_range_lies_and_junk);
	tcase_add_test(tc, precondition_binds_the_version);
	tcase_add_test(tc, response_versions);
	suite_add_tcase(s, tc);
	return s;
}
