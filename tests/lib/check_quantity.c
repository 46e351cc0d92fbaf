// SPDX-License-Identifier: Apache-2.0
// Quantities and fractions as manifests and flags write them.
#include <errno.h>
#include <stdint.h>

#include "quantity.h"
#include "suites.h"

START_TEST(parses_kubernetes_and_human_suffixes)
{
	uint64_t v;
	ck_assert_int_eq(quantity_parse("4Gi", &v), 0);
	ck_assert_uint_eq(v, 4ULL << 30);
	ck_assert_int_eq(quantity_parse("4GiB", &v), 0);
	ck_assert_uint_eq(v, 4ULL << 30);
	ck_assert_int_eq(quantity_parse("100G", &v), 0);
	ck_assert_uint_eq(v, 100000000000ULL);
	ck_assert_int_eq(quantity_parse("1048576", &v), 0);
	ck_assert_uint_eq(v, 1048576);
	ck_assert_int_eq(quantity_parse("1.5Ki", &v), 0);
	ck_assert_uint_eq(v, 1536);
	ck_assert_int_eq(quantity_parse("512MiB", &v), 0);
	ck_assert_uint_eq(v, 512ULL << 20);
}
END_TEST

START_TEST(rejects_bad_quantities)
{
	uint64_t v = 7;
	ck_assert_int_eq(quantity_parse("4Gx", &v), -EINVAL);
	ck_assert_int_eq(quantity_parse("", &v), -EINVAL);
	ck_assert_int_eq(quantity_parse("-1", &v), -EINVAL);
	ck_assert_int_eq(quantity_parse("1.5.3", &v), -EINVAL);
	ck_assert_int_eq(quantity_parse("Gi", &v), -EINVAL);
	ck_assert_int_eq(quantity_parse("99999999999999999999", &v), -ERANGE);
	ck_assert_int_eq(quantity_parse("20000000Pi", &v), -ERANGE);
	ck_assert_uint_eq(v, 7);
}
END_TEST

START_TEST(formats_like_the_walkthrough)
{
	char buf[32];
	ck_assert_str_eq(quantity_format(0, buf, sizeof(buf)), "0.00B");
	ck_assert_str_eq(quantity_format(4ULL << 30, buf, sizeof(buf)), "4.00GiB");
	ck_assert_str_eq(quantity_format(3661337788ULL, buf, sizeof(buf)), "3.41GiB");
	ck_assert_str_eq(quantity_format(356352, buf, sizeof(buf)), "348.00KiB");
}
END_TEST

START_TEST(fractions_in_unit_interval)
{
	double d;
	ck_assert_int_eq(fraction_parse("0.95", &d), 0);
	ck_assert(d > 0.949 && d < 0.951);
	ck_assert_int_eq(fraction_parse("1", &d), 0);
	ck_assert_int_eq(fraction_parse("1.2", &d), -ERANGE);
	ck_assert_int_eq(fraction_parse("-0.1", &d), -ERANGE);
	ck_assert_int_eq(fraction_parse("abc", &d), -EINVAL);
	ck_assert_int_eq(fraction_parse("", &d), -EINVAL);
}
END_TEST

Suite *quantity_suite(void)
{
	Suite *s = suite_create("quantity");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, parses_kubernetes_and_human_suffixes);
	tcase_add_test(tc, rejects_bad_quantities);
	tcase_add_test(tc, formats_like_the_walkthrough);
	tcase_add_test(tc, fractions_in_unit_interval);
	suite_add_tcase(s, tc);
	return s;
}
