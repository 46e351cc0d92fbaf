// SPDX-License-Identifier: Apache-2.0
// Cron schedules of DataLoads: parsing (fields, ranges, steps, macros, errors) and the next
// matching minute, including the day-of-month/day-of-week OR rule.
#include <errno.h>
#include <string.h>

#include "cron.h"
#include "objmodel.h"
#include "suites.h"

static int64_t at(const char *rfc3339)
{
	int64_t t;
	ck_assert_int_eq(objmodel_parse_time(rfc3339, &t), 0);
	return t;
}

static int64_t next_of(const char *spec, const char *after)
{
	struct cron c;
	char err[256] = "";
	ck_assert_msg(cron_parse(spec, &c, err, sizeof(err)) == 0, "%s", err);
	return cron_next(&c, at(after));
}

START_TEST(next_times)
{
	ck_assert_int_eq(next_of("* * * * *", "2026-11-29T20:13:36Z"), at("2026-11-29T20:14:00Z"));
	ck_assert_int_eq(next_of("*/15 * * * *", "2026-11-29T20:13:36Z"),
			 at("2026-11-29T20:15:00Z"));
	ck_assert_int_eq(next_of("0 2 * * *", "2026-11-29T20:13:36Z"), at("2026-11-30T02:00:00Z"));
	ck_assert_int_eq(next_of("@hourly", "2026-11-29T20:00:00Z"), at("2026-11-29T21:00:00Z"));
	ck_assert_int_eq(next_of("30 4 1,15 * *", "2026-11-29T20:13:36Z"),
			 at("2026-12-01T04:30:00Z"));
	/* 2026-11-29 is a Sunday; Monday to Friday at 9 */
	ck_assert_int_eq(next_of("0 9 * * 1-5", "2026-11-29T20:13:36Z"),
			 at("2026-11-30T09:00:00Z"));
	/* 7 is Sunday too */
	ck_assert_int_eq(next_of("0 0 * * 7", "2026-11-29T20:13:36Z"), at("2026-12-06T00:00:00Z"));
	/* both day fields restricted: either matches (the 1st, or a Wednesday) */
	ck_assert_int_eq(next_of("0 0 1 * 3", "2026-11-29T20:13:36Z"), at("2026-12-01T00:00:00Z"));
	ck_assert_int_eq(next_of("0 0 1 12 *", "2026-11-29T20:13:36Z"), at("2026-12-01T00:00:00Z"));
}
END_TEST

START_TEST(never_and_errors)
{
	struct cron c;
	char err[256] = "";
	ck_assert_int_eq(cron_parse("0 0 31 2 *", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(cron_next(&c, at("2026-11-29T20:13:36Z")), -1);
	ck_assert_int_eq(cron_parse("0 0 * *", &c, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "five fields"), "%s", err);
	ck_assert_int_eq(cron_parse("61 * * * *", &c, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "minute field \"61\""), "%s", err);
	ck_assert_int_eq(cron_parse("* * * 0 *", &c, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(cron_parse("*/0 * * * *", &c, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(cron_parse("5-1 * * * *", &c, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(cron_parse("a * * * *", &c, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(cron_parse("", &c, err, sizeof(err)), -EINVAL);
	/* found by fuzz_cron: a step near LONG_MAX overflowed the field's loop (UBSan) */
	ck_assert_int_eq(cron_parse("0 1/9223372036854775807 * * *", &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.hour, 1u << 1);
	ck_assert_int_eq(cron_parse("*/9223372036854775807 * * * *", &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.minute, 1);
}
END_TEST

Suite *cron_suite(void)
{
	Suite *s = suite_create("cron");
	TCase *tc = tcase_create("cron");
	tcase_add_test(tc, next_times);
	tcase_add_test(tc, never_and_errors);
	suite_add_tcase(s, tc);
	return s;
}
