// SPDX-License-Identifier: Apache-2.0
// ufs_policy: which UFS roots a namespace may use; paths that only look inside a root are not.
#include <check.h>
#include <errno.h>
#include <string.h>

#include "suites.h"
#include "ufs_policy.h"

static struct ufs_policy *policy(const char *spec)
{
	struct ufs_policy *p = NULL;
	char err[512] = "";
	ck_assert_msg(ufs_policy_parse(spec, &p, err, sizeof(err)) == 0, "parse \"%s\": %s", spec,
		      err);
	return p;
}

static int check(const struct ufs_policy *p, const char *ns, const char *url)
{
	char err[1024];
	return ufs_policy_check(p, ns, url, err, sizeof(err));
}

START_TEST(test_local_roots)
{
	struct ufs_policy *p = policy(" team-a = local:///data/a , http://Mirror.example/apache/ ;"
				      "*=https://public.example/");
	ck_assert_int_eq(check(p, "team-a", "local:///data/a"), 0);
	ck_assert_int_eq(check(p, "team-a", "local:///data/a/"), 0);
	ck_assert_int_eq(check(p, "team-a", "local:///data/a/x/y"), 0);
	ck_assert_int_eq(check(p, "team-a", "local:///data/a/x/../y"), 0);
	ck_assert_int_eq(check(p, "team-a", "local:///data/ab"), -EACCES);
	ck_assert_int_eq(check(p, "team-a", "local:///data/a/../b"), -EACCES);
	ck_assert_int_eq(check(p, "team-a", "local:///data/a/../../etc"), -EACCES);
	ck_assert_int_eq(check(p, "team-a", "local:///data/a/x/../../b"), -EACCES);
	ck_assert_int_eq(check(p, "team-a", "local:///data/./a/./x"), 0);
	ck_assert_int_eq(check(p, "team-a", "local:///"), -EACCES);
	ck_assert_int_eq(check(p, "team-a", "local://"), -EACCES);
	ck_assert_int_eq(check(p, "team-a", "local:///data"), -EACCES);
	ck_assert_int_eq(check(p, "team-b", "local:///data/a"), -EACCES);
	ufs_policy_free(p);
}
END_TEST

START_TEST(test_http_roots)
{
	struct ufs_policy *p =
	    policy("team-a=http://mirror.example/apache/;*=https://public.example/");
	ck_assert_int_eq(check(p, "team-a", "http://mirror.example/apache/spark/"), 0);
	ck_assert_int_eq(check(p, "team-a", "HTTP://MIRROR.example:80/apache/spark/"), 0);
	ck_assert_int_eq(check(p, "team-a", "http://user:pw@mirror.example/apache/"), 0);
	ck_assert_int_eq(check(p, "team-a", "http://mirror.example/apache2/"), -EACCES);
	ck_assert_int_eq(check(p, "team-a", "http://mirror.example/apache/../secret/"), -EACCES);
	ck_assert_int_eq(check(p, "team-a", "http://mirror.example/apache/%2e%2e/secret/"),
			 -EACCES);
	ck_assert_int_eq(check(p, "team-a", "http://mirror.example/apache%2f..%2fsecret/"),
			 -EACCES);
	ck_assert_int_eq(check(p, "team-a", "http://mirror.example:8080/apache/"), -EACCES);
	ck_assert_int_eq(check(p, "team-a", "https://mirror.example/apache/"), -EACCES);
	ck_assert_int_eq(check(p, "team-a", "http://mirror.example.evil/apache/"), -EACCES);
	ck_assert_int_eq(check(p, "team-a", "http://mirror.example@evil/apache/"), -EACCES);
	/* "*" applies to every namespace */
	ck_assert_int_eq(check(p, "team-a", "https://public.example/x/"), 0);
	ck_assert_int_eq(check(p, "anyone", "https://public.example/"), 0);
	ck_assert_int_eq(check(p, "anyone", "http://mirror.example/apache/"), -EACCES);
	ck_assert_int_eq(check(p, "anyone", "ftp://public.example/"), -EACCES);
	ufs_policy_free(p);
}
END_TEST

START_TEST(test_no_policy_and_errors)
{
	struct ufs_policy *p = policy("");
	ck_assert_ptr_null(p);
	ck_assert_int_eq(check(NULL, "x", "local:///"), 0);
	char err[512] = "";
	ck_assert_int_eq(ufs_policy_parse("team-a", &p, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "\"team-a\""), "%s", err);
	ck_assert_int_eq(ufs_policy_parse("team-a=local://relative", &p, err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(ufs_policy_parse("team-a=ftp://x/", &p, err, sizeof(err)), -EINVAL);
	p = policy("team-a=local:///data/a");
	char msg[1024];
	ck_assert_int_eq(ufs_policy_check(p, "team-b", "local:///etc", msg, sizeof(msg)), -EACCES);
	ck_assert_msg(strstr(msg, "\"team-b\"") && strstr(msg, "no UFS at all"), "%s", msg);
	ck_assert_int_eq(ufs_policy_check(p, "team-a", "local:///etc", msg, sizeof(msg)), -EACCES);
	ck_assert_msg(strstr(msg, "only under local:///data/a"), "%s", msg);
	ufs_policy_free(p);
}
END_TEST

Suite *ufs_policy_suite(void)
{
	Suite *s = suite_create("ufs_policy");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_local_roots);
	tcase_add_test(tc, test_http_roots);
	tcase_add_test(tc, test_no_policy_and_errors);
	suite_add_tcase(s, tc);
	return s;
}
