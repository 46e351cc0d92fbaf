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

/* s3 roots: the bucket, the key prefix segment-wise, and the endpoint the requests go to. A
 * Dataset's endpoint option sends the node's requests wherever it says: a root without one
 * allows no endpoint at all. */
START_TEST(test_s3_roots)
{
	struct ufs_policy *p = policy("team-a=s3://train/imagenet?endpoint=http://S3.lan:8333;"
				      "team-b=s3://public");
	ck_assert_int_eq(check(p, "team-a", "s3://train/imagenet?endpoint=http://s3.lan:8333"), 0);
	ck_assert_int_eq(check(p, "team-a", "s3://train/imagenet/x/?region=us-east-1&endpoint="
					    "http%3A%2F%2Fs3.lan%3A8333&path-style=true"),
			 0);
	ck_assert_int_eq(check(p, "team-a", "s3://train/imagenet2?endpoint=http://s3.lan:8333"),
			 -EACCES);
	ck_assert_int_eq(check(p, "team-a", "s3://train?endpoint=http://s3.lan:8333"), -EACCES);
	ck_assert_int_eq(check(p, "team-a", "s3://other/imagenet?endpoint=http://s3.lan:8333"),
			 -EACCES);
	/* another endpoint, none, or a second one after the allowed (the last one counts) */
	ck_assert_int_eq(check(p, "team-a", "s3://train/imagenet?endpoint=http://169.254.169.254"),
			 -EACCES);
	ck_assert_int_eq(check(p, "team-a", "s3://train/imagenet"), -EACCES);
	ck_assert_int_eq(check(p, "team-a", "s3://train/imagenet?endpoint=http://s3.lan:8333&"
					    "endpoint=http://10.0.0.1"),
			 -EACCES);
	ck_assert_int_eq(check(p, "team-a", "s3://train/imagenet?endpoint=https://s3.lan:8333"),
			 -EACCES);
	/* a root without an endpoint: the bucket at AWS (or the node's own profile) only */
	ck_assert_int_eq(check(p, "team-b", "s3://public/any/key?region=eu-west-1"), 0);
	ck_assert_int_eq(check(p, "team-b", "s3://public?endpoint=http://127.0.0.1:9000"),
			 -EACCES);
	ck_assert_int_eq(check(p, "team-b", "http://public/"), -EACCES);
	ck_assert_int_eq(check(p, "team-a", "local:///train/imagenet"), -EACCES);
	ufs_policy_free(p);
	struct ufs_policy *bad = NULL;
	char err[512] = "";
	ck_assert_int_eq(ufs_policy_parse("x=s3://b?endpoint=ftp://h", &bad, err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, "its endpoint \"ftp://h\"") && strstr(err, "scheme \"ftp\""), "%s", err);
}
END_TEST

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
	tcase_add_test(tc, test_s3_roots);
	tcase_add_test(tc, test_http_roots);
	tcase_add_test(tc, test_no_policy_and_errors);
	suite_add_tcase(s, tc);
	return s;
}
