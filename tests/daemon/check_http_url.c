// SPDX-License-Identifier: Apache-2.0
// daemon/http_url.c: which redirects stay on a UFS root's origin (hostile ones do not), and the
// one percent-encoder of HTTP paths and S3 keys (equal to SigV4's UriEncode for every byte).
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_url.h"
#include "s3_url.h"
#include "suites.h"

struct redir {
	const char *root, *base, *location;
	const char *want; /* the URL followed, or NULL: refused */
};

#define R "http://good.example/data/"
#define RB "http://good.example/data/dir/f"

static const struct redir hostile[] = {
    {R, RB, "http://evil.example/data/x", NULL},
    {R, RB, "http://good.example@evil.example/data/x", NULL},
    {R, RB, "http://good.example:80@evil.example/data/x", NULL},
    {R, RB, "http://evil.example#@good.example/data/x", NULL},
    {R, RB, "http://evil.example?@good.example/data/x", NULL},
    {R, RB, "http://evil.example\\@good.example/data/x", NULL},
    {R, RB, "http://user:pw@good.example/data/x", NULL},
    {R, RB, "http://user@good.example/data/x", NULL},
    {R, RB, "http://good.example.evil.example/data/x", NULL},
    {R, RB, "http://good.example:8080/data/x", NULL},
    {R, RB, "http://good.example:0/data/x", NULL},
    {R, RB, "http://good.example:65536/data/x", NULL},
    {R, RB, "http://good.example:-1/data/x", NULL},
    {R, RB, "http://good.example:443/data/x", NULL},
    {R, RB, "https://good.example/data/x", NULL},
    {"https://good.example/data/", RB, "http://good.example/data/x", NULL},
    {"https://good.example/data/", RB, "http://good.example:443/data/x", NULL},
    {R, RB, "ftp://good.example/data/x", NULL},
    {R, RB, "file:///etc/passwd", NULL},
    {R, RB, "gopher://good.example/data/x", NULL},
    {R, RB, "//evil.example/data/x", NULL},
    {R, RB, "http:\\\\evil.example\\data\\x", NULL},
    {R, RB, "http://good.example%2Eevil.example/data/x", NULL},
    {R, RB, "http://evil%2Eexample/data/x", NULL},
    {R, RB, "http://[::1]/data/x", NULL},
    {R, RB, "http://127.0.0.1/data/x", NULL},
    {R, RB, "http://good.example /data/x", NULL},
    {R, RB, "http://good.example\t.evil/data/x", NULL},
    {"http://[2001:db8::1]:8080/d/", "http://[2001:db8::1]:8080/d/f",
     "http://[2001:db8::2]:8080/d/x", NULL},
    {"http://[2001:db8::1]:8080/d/", "http://[2001:db8::1]:8080/d/f", "http://[2001:db8::1]/d/x",
     NULL},
    {"http://[fe80::1]/d/", "http://[fe80::1]/d/f", "http://[fe80::1%25eth0]/d/x", NULL},
    {"http://u:p@good.example/data/", RB, "http://v:p@good.example/data/x", NULL},
    {"http://u:p@good.example/data/", RB, "http://u:q@good.example/data/x", NULL},
};

static const struct redir allowed[] = {
    {R, RB, "/data/other", "http://good.example/data/other"},
    {R, RB, "other", "http://good.example/data/dir/other"},
    {R, RB, "../x", "http://good.example/data/x"},
    {R, RB, "http://GOOD.EXAMPLE/data/x", "http://GOOD.EXAMPLE/data/x"},
    {R, RB, "HTTP://good.example/data/x", "http://good.example/data/x"},
    {R, RB, "http://good.example:80/data/x", "http://good.example:80/data/x"},
    {"http://good.example:80/data/", RB, "http://good.example/data/x",
     "http://good.example/data/x"},
    {"https://good.example/data/", "https://good.example/data/f",
     "https://good.example:443/data/x", "https://good.example:443/data/x"},
    {"http://[2001:db8::1]:8080/d/", "http://[2001:db8::1]:8080/d/f",
     "http://[2001:DB8::1]:8080/e", "http://[2001:db8::1]:8080/e"},
    {R, RB, "http://good.example/%2E%2E/x", "http://good.example/%2E%2E/x"},
    {R, RB, "http://good.example/data/x?y=1", "http://good.example/data/x?y=1"},
    {"http://u:p@good.example/data/", RB, "http://u:p@good.example/data/x",
     "http://u:p@good.example/data/x"},
    {"http://u:p@good.example/data/", "http://u:p@good.example/data/f", "/data/x",
     "http://u:p@good.example/data/x"},
    /* a browser reads "\\evil" as "//evil"; curl (which sends it) as a path on the origin */
    {R, RB, "\\\\evil.example\\data", "http://good.example/data/dir/\\\\evil.example\\data"},
    {"http://u:p@good.example/data/", RB, "http://good.example/data/x",
     "http://good.example/data/x"},
};

START_TEST(redirect_hostile)
{
	const struct redir *c = &hostile[_i];
	char *got = http_url_redirect(c->root, c->base, c->location);
	ck_assert_msg(!got, "root %s: %s was followed as %s", c->root, c->location, got);
}
END_TEST

START_TEST(redirect_allowed)
{
	const struct redir *c = &allowed[_i];
	char *got = http_url_redirect(c->root, c->base, c->location);
	ck_assert_msg(got, "root %s: %s was refused", c->root, c->location);
	/* curl may lower-case a host or an IPv6 literal: compare the origins case-insensitively */
	ck_assert_msg(strcasecmp(got, c->want) == 0, "%s: got %s, want %s", c->location, got,
		      c->want);
	free(got);
}
END_TEST

/* Very long: a host of 10k letters elsewhere is refused, a 64 KiB path on the origin followed. */
START_TEST(redirect_long)
{
	size_t n = 64 << 10;
	char *loc = malloc(n + 64);
	ck_assert_ptr_nonnull(loc);
	strcpy(loc, "http://");
	memset(loc + 7, 'a', 10000);
	strcpy(loc + 7 + 10000, ".evil.example/x");
	ck_assert_ptr_null(http_url_redirect(R, RB, loc));
	strcpy(loc, "http://good.example/");
	memset(loc + 20, 'p', n);
	loc[20 + n] = '\0';
	char *got = http_url_redirect(R, RB, loc);
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, loc);
	free(got);
	free(loc);
}
END_TEST

struct enc {
	const char *in, *path, *query; /* keep_slash true, false */
};

static const struct enc encodings[] = {
    {"a b", "a%20b", "a%20b"},
    {"100%", "100%25", "100%25"},
    {"x+y", "x%2By", "x%2By"},
    {"~_-.", "~_-.", "~_-."},
    {"\xc3\xa9t\xc3\xa9/\xe6\x97\xa5", "%C3%A9t%C3%A9/%E6%97%A5", "%C3%A9t%C3%A9%2F%E6%97%A5"},
    {"q?x", "q%3Fx", "q%3Fx"},
    {"h#s", "h%23s", "h%23s"},
    {"s;c", "s%3Bc", "s%3Bc"},
    {"a//b", "a//b", "a%2F%2Fb"},
    {"/a/", "/a/", "%2Fa%2F"},
    {"..", "..", ".."},
    {"a/../b/.", "a/../b/.", "a%2F..%2Fb%2F."},
    {"", "", ""},
    {"/", "/", "%2F"},
    {":@!*'()=&,$", "%3A%40%21%2A%27%28%29%3D%26%2C%24", "%3A%40%21%2A%27%28%29%3D%26%2C%24"},
};

START_TEST(escape_cases)
{
	const struct enc *c = &encodings[_i];
	char *p = http_url_escape(c->in, true), *q = http_url_escape(c->in, false);
	ck_assert_str_eq(p, c->path);
	ck_assert_str_eq(q, c->query);
	free(p);
	free(q);
}
END_TEST

/* SigV4's UriEncode, written out from AWS's rule: the one encoder must equal it for every byte. */
static void sigv4_encode(unsigned char c, bool keep_slash, char *out)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/'))
		snprintf(out, 4, "%c", c);
	else
		snprintf(out, 4, "%%%02X", c);
}

START_TEST(escape_is_sigv4)
{
	for (int keep = 0; keep < 2; keep++) {
		for (int b = 1; b < 256; b++) {
			char in[4] = {'x', (char)b, 'y', '\0'}, want[8] = "x", one[4];
			sigv4_encode((unsigned char)b, keep, one);
			strcat(want, one);
			strcat(want, "y");
			char *got = http_url_escape(in, keep), *s3 = s3_url_escape(in, keep);
			ck_assert_msg(strcmp(got, want) == 0, "byte %02x: %s, SigV4 %s", b, got, want);
			ck_assert_str_eq(s3, got);
			free(got);
			free(s3);
		}
	}
}
END_TEST

START_TEST(unescape_cases)
{
	size_t n = 0;
	char *s = http_url_unescape("%41%2b+%zz%", 11, &n);
	ck_assert_str_eq(s, "A++%zz%");
	ck_assert_uint_eq(n, 7);
	free(s);
	s = http_url_unescape("a%00b", 5, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(memcmp(s, "a\0b", 3), 0);
	free(s);
	/* decode(encode(x)) == x for every byte */
	char all[256];
	for (int b = 1; b < 256; b++)
		all[b - 1] = (char)b;
	all[255] = '\0';
	char *e = http_url_escape(all, false);
	s = http_url_unescape(e, strlen(e), &n);
	ck_assert_uint_eq(n, 255);
	ck_assert_int_eq(memcmp(s, all, 255), 0);
	free(s);
	free(e);
}
END_TEST

Suite *http_url_suite(void)
{
	Suite *s = suite_create("http_url");
	TCase *tc = tcase_create("redirect");
	tcase_add_loop_test(tc, redirect_hostile, 0, sizeof(hostile) / sizeof(hostile[0]));
	tcase_add_loop_test(tc, redirect_allowed, 0, sizeof(allowed) / sizeof(allowed[0]));
	tcase_add_test(tc, redirect_long);
	suite_add_tcase(s, tc);
	tc = tcase_create("escape");
	tcase_add_loop_test(tc, escape_cases, 0, sizeof(encodings) / sizeof(encodings[0]));
	tcase_add_test(tc, escape_is_sigv4);
	tcase_add_test(tc, unescape_cases);
	suite_add_tcase(s, tc);
	return s;
}
