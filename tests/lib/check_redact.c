// SPDX-License-Identifier: Apache-2.0
// redact_url/redact_text against hostile URLs: no secret survives, the rest of the URL does.
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "redact.h"
#include "suites.h"

#define SECRET "hunter2"

static void no_secret(const char *in, const char *out, const char *secret)
{
	ck_assert_msg(strstr(out, secret) == NULL, "\"%s\" redacted to \"%s\" still holds \"%s\"",
		      in, out, secret);
}

START_TEST(test_password)
{
	static const char *const urls[] = {
	    "http://user:" SECRET "@host/dir/",
	    "HTTPS://USER:" SECRET "@HOST:8443/dir/?a=1",
	    "http://:" SECRET "@host/",
	    "http://user:" SECRET "@evil@host/",  /* two '@' */
	    "http://user:%68unter2@host/",	  /* percent-encoded */
	    "http://user:" SECRET "@[::1]:80/x",  /* IPv6 */
	    "http://user:" SECRET "@[::1/broken", /* curl refuses it */
	    "http://us%40er:" SECRET "@host/",
	    "s3://AKIA:" SECRET "@bucket/prefix/", /* a scheme curl does not know */
	    "local://root:" SECRET "@/data",
	};
	char buf[512];
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		redact_url(urls[i], buf, sizeof(buf));
		no_secret(urls[i], buf, SECRET);
		no_secret(urls[i], buf, "%68unter2");
		ck_assert_msg(strstr(buf, REDACT_MASK), "\"%s\" -> \"%s\": no mask", urls[i], buf);
	}
	redact_url("http://user:" SECRET "@host/dir/", buf, sizeof(buf));
	ck_assert_str_eq(buf, "http://user:***@host/dir/");
}
END_TEST

START_TEST(test_token_as_user)
{
	char buf[256];
	redact_url("https://ghp_" SECRET "@github.example/x", buf, sizeof(buf));
	no_secret("token", buf, SECRET);
	ck_assert_str_eq(buf, "https://***@github.example/x");
}
END_TEST

START_TEST(test_query_secrets)
{
	char buf[512];
	const char *u =
	    "https://b.s3.example/o?X-Amz-Credential=AKIA%2F" SECRET "&X-Amz-Signature=" SECRET
	    "&x-amz-security-token=" SECRET "&keep=1&TOKEN=" SECRET;
	redact_url(u, buf, sizeof(buf));
	no_secret(u, buf, SECRET);
	ck_assert_msg(strstr(buf, "keep=1"), "\"%s\" lost keep=1", buf);
	ck_assert_msg(strstr(buf, "X-Amz-Signature=***"), "\"%s\"", buf);
}
END_TEST

START_TEST(test_clean_urls_unchanged)
{
	static const char *const urls[] = {
	    "http://127.0.0.1:8080/spark/",
	    "local:///data/a",
	    "https://mirror.example/apache/spark/?C=M;O=A",
	};
	char buf[256];
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++)
		ck_assert_str_eq(redact_url(urls[i], buf, sizeof(buf)), urls[i]);
	char text[256] = "mounted local:///data/a at \"/mnt/x\"";
	redact_text(text, sizeof(text));
	ck_assert_str_eq(text, "mounted local:///data/a at \"/mnt/x\"");
}
END_TEST

START_TEST(test_text)
{
	char text[512] = "opened source 1f (http://u:" SECRET "@h:80/d/), and \"https://ghp_" SECRET
			 "@x/\" then s3://k:" SECRET "@b/p: done";
	redact_text(text, sizeof(text));
	no_secret("text", text, SECRET);
	ck_assert_msg(strstr(text, "opened source 1f (http://u:***@h:80/d/), and \"https://"), "%s",
		      text);
	ck_assert_msg(strstr(text, ": done"), "%s", text);
	/* a password with a raw space (not a valid URL, so the error quotes it whole) */
	char spaced[256] = "request failed: http://user:pa ss-" SECRET "@127.0.0.1:1/: URL using "
			   "bad/illegal format";
	redact_text(spaced, sizeof(spaced));
	no_secret("spaced", spaced, SECRET);
	ck_assert_msg(strstr(spaced, "@127.0.0.1:1/: URL using bad/illegal format"), "%s", spaced);
	/* but a URL and a later address on the line stay as they are */
	char mail[128] = "see http://host/docs or write to ops@example.com";
	redact_text(mail, sizeof(mail));
	ck_assert_str_eq(mail, "see http://host/docs or write to ops@example.com");
	/* a short buffer truncates but never brings a secret back */
	char small[40] = "x http://user:" SECRET "@host/";
	redact_text(small, sizeof(small));
	no_secret("small", small, SECRET);
	no_secret("small", small, "hunt");
}
END_TEST

Suite *redact_suite(void)
{
	Suite *s = suite_create("redact");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_password);
	tcase_add_test(tc, test_token_as_user);
	tcase_add_test(tc, test_query_secrets);
	tcase_add_test(tc, test_clean_urls_unchanged);
	tcase_add_test(tc, test_text);
	suite_add_tcase(s, tc);
	return s;
}
