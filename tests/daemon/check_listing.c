// SPDX-License-Identifier: Apache-2.0
// Listing parsers on listings as nginx and Apache serve them (hostile entries included), and the
// local:// UFS backend against a temporary directory.
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "listing.h"
#include "suites.h"
#include "ufs.h"

#define DIR_URL "http://mirror.example/pub/data/"

/* The hostile rows every HTML fixture carries; none may survive. */
#define HOSTILE_NGINX_ROWS                                                                         \
	"<a href=\"../etc/passwd\">../etc/passwd</a>      29-Nov-2026 20:00       10\r\n"          \
	"<a href=\"/abs/elsewhere\">elsewhere</a>         29-Nov-2026 20:00       10\r\n"          \
	"<a href=\"http://evil.example/x\">x</a>          29-Nov-2026 20:00       10\r\n"          \
	"<a href=\"//evil/x\">x</a>                       29-Nov-2026 20:00       10\r\n"          \
	"<a href=\"a/../../b\">b</a>                      29-Nov-2026 20:00       10\r\n"          \
	"<a href=\"%2e%2e/\">..</a>                       29-Nov-2026 20:00        -\r\n"          \
	"<a href=\"x%2Fy\">x/y</a>                        29-Nov-2026 20:00       10\r\n"          \
	"<a href=\"https://mirror.example/pub/data/x\">x</a> 29-Nov-2026 20:00    10\r\n"          \
	"<a href=\"?C=M;O=A\">sort</a>\r\n"

static const char nginx_html_exact[] =
    "<html>\r\n<head><title>Index of /pub/data/</title></head>\r\n<body>\r\n"
    "<h1>Index of /pub/data/</h1><hr><pre><a href=\"../\">../</a>\r\n"
    "<a href=\"sub%20dir/\">sub dir/</a>                                          "
    "29-Nov-2026 20:00                   -\r\n"
    "<a href=\"a%20b.txt\">a b.txt</a>                                            "
    "29-Nov-2026 20:01                 123\r\n"
    "<a href=\"donn%C3%A9es.bin\">donn\xc3\xa9"
    "es.bin</a>                                 "
    "29-Nov-2026 20:02             5000000\r\n"
    "<a href=\"raw-\xc3\xa9t\xc3\xa9.txt\">raw-\xc3\xa9t\xc3\xa9.txt</a>                   "
    "01-Jan-2025 00:00                   0\r\n"
    "<a href=\"amp%26and.txt\">amp&amp;and.txt</a>                                "
    "29-Nov-2026 20:03                  42\r\n"
    "<a href=\"a-very-long-file-name-that-nginx-truncates-in-the-text.bin\">"
    "a-very-long-file-name-that-nginx-truncates-in-..&gt;</a> "
    "29-Nov-2026 20:04          1099511627776\r\n" HOSTILE_NGINX_ROWS
    "</pre><hr></body>\r\n</html>\r\n";

static const char nginx_html_rounded[] =
    "<html>\r\n<head><title>Index of /pub/data/</title></head>\r\n<body>\r\n"
    "<h1>Index of /pub/data/</h1><hr><pre><a href=\"../\">../</a>\r\n"
    "<a href=\"sub/\">sub/</a>                                               "
    "29-Nov-2026 20:00       -\r\n"
    "<a href=\"big.iso\">big.iso</a>                                         "
    "29-Nov-2026 20:00     12M\r\n"
    "<a href=\"mid.bin\">mid.bin</a>                                         "
    "29-Nov-2026 20:00      4K\r\n"
    "<a href=\"huge.tar\">huge.tar</a>                                       "
    "29-Nov-2026 20:00      3G\r\n"
    "<a href=\"small.txt\">small.txt</a>                                     "
    "29-Nov-2026 20:00     532\r\n" HOSTILE_NGINX_ROWS "</pre><hr></body>\r\n</html>\r\n";

static const char nginx_json[] =
    "[\n"
    "{ \"name\":\"sub dir\", \"type\":\"directory\", \"mtime\":\"Sun, 29 Nov 2026 20:00:00 GMT\" "
    "},\n"
    "{ \"name\":\"a b.txt\", \"type\":\"file\", \"mtime\":\"Sun, 29 Nov 2026 20:01:02 GMT\", "
    "\"size\":123 },\n"
    "{ \"name\":\"donn\xc3\xa9"
    "es.bin\", \"type\":\"file\", \"mtime\":\"Sun, 29 Nov 2026 "
    "20:02:00 GMT\", \"size\":5000000 },\n"
    "{ \"name\":\"esc\\u00e9\\\"q\\\\\", \"type\":\"file\", \"mtime\":\"Sun, 29 Nov 2026 "
    "20:02:00 GMT\", \"size\":1 },\n"
    "{ \"name\":\"a%20literal\", \"type\":\"file\", \"mtime\":\"Sun, 29 Nov 2026 20:02:00 "
    "GMT\", \"size\":7 },\n"
    "{ \"name\":\"dangling\", \"type\":\"other\", \"mtime\":\"Sun, 29 Nov 2026 20:02:00 GMT\" "
    "},\n"
    "{ \"name\":\"..\", \"type\":\"directory\", \"mtime\":\"Sun, 29 Nov 2026 20:02:00 GMT\" },\n"
    "{ \"name\":\"../etc/passwd\", \"type\":\"file\", \"mtime\":\"Sun, 29 Nov 2026 20:02:00 "
    "GMT\", \"size\":10 },\n"
    "{ \"name\":\"a/../../b\", \"type\":\"file\", \"mtime\":\"Sun, 29 Nov 2026 20:02:00 GMT\", "
    "\"size\":10 }\n"
    "]\n";

static const char apache_html[] =
    "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n<html>\n <head>\n"
    "  <title>Index of /pub/data</title>\n </head>\n <body>\n<h1>Index of /pub/data</h1>\n"
    "  <table>\n"
    "   <tr><th valign=\"top\"><img src=\"/icons/blank.gif\" alt=\"[ICO]\"></th>"
    "<th><a href=\"?C=N;O=D\">Name</a></th><th><a href=\"?C=M;O=A\">Last modified</a></th>"
    "<th><a href=\"?C=S;O=A\">Size</a></th><th><a href=\"?C=D;O=A\">Description</a></th></tr>\n"
    "   <tr><th colspan=\"5\"><hr></th></tr>\n"
    "<tr><td valign=\"top\"><img src=\"/icons/back.gif\" alt=\"[PARENTDIR]\"></td>"
    "<td><a href=\"/pub/\">Parent Directory</a></td><td>&nbsp;</td>"
    "<td align=\"right\">  - </td><td>&nbsp;</td></tr>\n"
    "<tr><td valign=\"top\"><img src=\"/icons/folder.gif\" alt=\"[DIR]\"></td>"
    "<td><a href=\"sub%20dir/\">sub dir/</a></td><td align=\"right\">2026-11-29 20:00  </td>"
    "<td align=\"right\">  - </td><td>&nbsp;</td></tr>\n"
    "<tr><td valign=\"top\"><img src=\"/icons/text.gif\" alt=\"[TXT]\"></td>"
    "<td><a href=\"a%20b.txt\">a b.txt</a></td><td align=\"right\">2026-11-29 20:01  </td>"
    "<td align=\"right\">123 </td><td>&nbsp;</td></tr>\n"
    "<tr><td valign=\"top\"><img src=\"/icons/unknown.gif\" alt=\"[   ]\"></td>"
    "<td><a href=\"donn%c3%a9es.bin\">donn&eacute;es.bin</a></td>"
    "<td align=\"right\">2026-11-29 20:02  </td><td align=\"right\">4.8M</td>"
    "<td>&nbsp;</td></tr>\n"
    "<tr><td valign=\"top\"><img src=\"/icons/unknown.gif\" alt=\"[   ]\"></td>"
    "<td><a href=\"/pub/data/abs%20same.bin\">abs same.bin</a></td>"
    "<td align=\"right\">2026-11-29 20:03  </td><td align=\"right\">  0 </td>"
    "<td>&nbsp;</td></tr>\n"
    "<tr><td valign=\"top\"><img src=\"/icons/unknown.gif\" alt=\"[   ]\"></td>"
    "<td><a href=\"../etc/passwd\">passwd</a></td><td align=\"right\">2026-11-29 20:03  </td>"
    "<td align=\"right\">10 </td><td>&nbsp;</td></tr>\n"
    "<tr><td valign=\"top\"><img src=\"/icons/unknown.gif\" alt=\"[   ]\"></td>"
    "<td><a href=\"/abs/elsewhere\">elsewhere</a></td><td align=\"right\">2026-11-29 20:03  "
    "</td><td align=\"right\">10 </td><td>&nbsp;</td></tr>\n"
    "<tr><td valign=\"top\"><img src=\"/icons/unknown.gif\" alt=\"[   ]\"></td>"
    "<td><a href=\"http://evil.example/x\">x</a></td><td align=\"right\">2026-11-29 20:03  "
    "</td><td align=\"right\">10 </td><td>&nbsp;</td></tr>\n"
    "<tr><td valign=\"top\"><img src=\"/icons/unknown.gif\" alt=\"[   ]\"></td>"
    "<td><a href=\"//evil/x\">x</a></td><td align=\"right\">2026-11-29 20:03  </td>"
    "<td align=\"right\">10 </td><td>&nbsp;</td></tr>\n"
    "<tr><td valign=\"top\"><img src=\"/icons/unknown.gif\" alt=\"[   ]\"></td>"
    "<td><a href='a/../../b'>b</a></td><td align=\"right\">2026-11-29 20:03  </td>"
    "<td align=\"right\">10 </td><td>&nbsp;</td></tr>\n"
    "   <tr><th colspan=\"5\"><hr></th></tr>\n</table>\n"
    "<address>Apache/2.4.57 (Debian) Server at mirror.example Port 80</address>\n"
    "</body></html>\n";

static const struct ufs_dirent *find(const struct ufs_dirent *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

static int64_t utc(int y, int mon, int d, int h, int mi, int s)
{
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mon - 1,
			.tm_mday = d,
			.tm_hour = h,
			.tm_min = mi,
			.tm_sec = s};
	return (int64_t)timegm(&tm);
}

/* No entry may carry a separator or a dot name, whatever the fixture. */
static void assert_all_safe(const struct ufs_dirent *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ck_assert_ptr_null(strchr(v[i].name, '/'));
		ck_assert_str_ne(v[i].name, "..");
		ck_assert_str_ne(v[i].name, ".");
		ck_assert_ptr_null(strstr(v[i].name, "passwd"));
		ck_assert_ptr_null(strstr(v[i].name, "elsewhere"));
	}
}

START_TEST(test_nginx_html_exact)
{
	struct ufs_dirent *v;
	size_t n;
	ck_assert_int_eq(listing_parse(nginx_html_exact, strlen(nginx_html_exact), "text/html",
				       DIR_URL, LISTING_AUTO, &v, &n),
			 0);
	assert_all_safe(v, n);
	ck_assert_uint_eq(n, 6);

	const struct ufs_dirent *e = find(v, n, "sub dir");
	ck_assert_ptr_nonnull(e);
	ck_assert(e->attr.is_dir);
	ck_assert_int_eq(e->attr.mtime, utc(2026, 11, 29, 20, 0, 0));

	e = find(v, n, "a b.txt");
	ck_assert_ptr_nonnull(e);
	ck_assert(!e->attr.is_dir);
	ck_assert(e->size_known);
	ck_assert_uint_eq(e->attr.size, 123);
	ck_assert_int_eq(e->attr.mtime, utc(2026, 11, 29, 20, 1, 0));

	e = find(v, n,
		 "donn\xc3\xa9"
		 "es.bin");
	ck_assert_ptr_nonnull(e);
	ck_assert(e->size_known);
	ck_assert_uint_eq(e->attr.size, 5000000);

	e = find(v, n, "raw-\xc3\xa9t\xc3\xa9.txt");
	ck_assert_ptr_nonnull(e);
	ck_assert(e->size_known);
	ck_assert_uint_eq(e->attr.size, 0);
	ck_assert_int_eq(e->attr.mtime, utc(2025, 1, 1, 0, 0, 0));

	e = find(v, n, "amp&and.txt");
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->attr.size, 42);

	e = find(v, n, "a-very-long-file-name-that-nginx-truncates-in-the-text.bin");
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->attr.size, 1099511627776ull);
	ufs_dirents_free(v, n);
}
END_TEST

START_TEST(test_nginx_html_rounded)
{
	struct ufs_dirent *v;
	size_t n;
	ck_assert_int_eq(listing_parse(nginx_html_rounded, strlen(nginx_html_rounded), NULL,
				       DIR_URL, LISTING_NGINX_HTML, &v, &n),
			 0);
	assert_all_safe(v, n);
	ck_assert_uint_eq(n, 5);
	const struct ufs_dirent *e = find(v, n, "sub");
	ck_assert_ptr_nonnull(e);
	ck_assert(e->attr.is_dir);
	const char *rounded[] = {"big.iso", "mid.bin", "huge.tar"};
	for (int i = 0; i < 3; i++) {
		e = find(v, n, rounded[i]);
		ck_assert_ptr_nonnull(e);
		ck_assert(!e->attr.is_dir);
		ck_assert_msg(!e->size_known, "%s has a rounded size", rounded[i]);
		ck_assert_int_eq(e->attr.mtime, utc(2026, 11, 29, 20, 0, 0));
	}
	e = find(v, n, "small.txt");
	ck_assert_ptr_nonnull(e);
	ck_assert(e->size_known);
	ck_assert_uint_eq(e->attr.size, 532);
	ufs_dirents_free(v, n);
}
END_TEST

START_TEST(test_nginx_json)
{
	struct ufs_dirent *v;
	size_t n;
	/* sniffed from the body even without a JSON content type */
	ck_assert_int_eq(listing_parse(nginx_json, strlen(nginx_json), "text/plain", DIR_URL,
				       LISTING_AUTO, &v, &n),
			 0);
	assert_all_safe(v, n);
	ck_assert_uint_eq(n, 5);
	const struct ufs_dirent *e = find(v, n, "sub dir");
	ck_assert_ptr_nonnull(e);
	ck_assert(e->attr.is_dir);
	ck_assert_int_eq(e->attr.mtime, utc(2026, 11, 29, 20, 0, 0));
	e = find(v, n, "a b.txt");
	ck_assert_ptr_nonnull(e);
	ck_assert(e->size_known);
	ck_assert_uint_eq(e->attr.size, 123);
	ck_assert_int_eq(e->attr.mtime, utc(2026, 11, 29, 20, 1, 2));
	e = find(v, n,
		 "donn\xc3\xa9"
		 "es.bin");
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->attr.size, 5000000);
	ck_assert_ptr_nonnull(find(v, n, "esc\xc3\xa9\"q\\"));
	/* JSON names are not URLs: no percent-decoding */
	ck_assert_ptr_nonnull(find(v, n, "a%20literal"));
	ck_assert_ptr_null(find(v, n, "dangling"));
	ufs_dirents_free(v, n);
}
END_TEST

/* Sizes no file can have (above 2^63, off_t's limit) are no sizes: the object's HEAD gives
 * the size, as for a rounded one. */
START_TEST(test_size_beyond_off_t)
{
	static const char json[] =
	    "[{\"name\":\"max.bin\",\"type\":\"file\",\"size\":18446744073709551615},"
	    "{\"name\":\"half.bin\",\"type\":\"file\",\"size\":9223372036854775808},"
	    "{\"name\":\"ok.bin\",\"type\":\"file\",\"size\":9223372036854775807}]";
	static const char html[] =
	    "<html><body><h1>Index of /pub/data/</h1><hr><pre><a href=\"../\">../</a>\r\n"
	    "<a href=\"max.bin\">max.bin</a>   29-Nov-2026 20:00   18446744073709551615\r\n"
	    "<a href=\"over.bin\">over.bin</a>   29-Nov-2026 20:00   99999999999999999999999\r\n"
	    "<a href=\"ok.bin\">ok.bin</a>   29-Nov-2026 20:00   9223372036854775807\r\n"
	    "</pre><hr></body></html>\r\n";
	const struct {
		const char *body;
		enum listing_format fmt;
		const char *bad[2];
	} cases[] = {{json, LISTING_NGINX_JSON, {"max.bin", "half.bin"}},
		     {html, LISTING_NGINX_HTML, {"max.bin", "over.bin"}}};
	for (size_t c = 0; c < 2; c++) {
		struct ufs_dirent *v;
		size_t n;
		ck_assert_int_eq(listing_parse(cases[c].body, strlen(cases[c].body), NULL, DIR_URL,
					       cases[c].fmt, &v, &n),
				 0);
		ck_assert_uint_eq(n, 3);
		for (int i = 0; i < 2; i++) {
			const struct ufs_dirent *e = find(v, n, cases[c].bad[i]);
			ck_assert_ptr_nonnull(e);
			ck_assert_msg(!e->size_known, "%s: %s has size %" PRIu64, cases[c].bad[i],
				      c ? "html" : "json", e->attr.size);
		}
		const struct ufs_dirent *e = find(v, n, "ok.bin");
		ck_assert_ptr_nonnull(e);
		ck_assert(e->size_known);
		ck_assert_uint_eq(e->attr.size, 9223372036854775807ull);
		ufs_dirents_free(v, n);
	}
}
END_TEST

START_TEST(test_apache_html)
{
	struct ufs_dirent *v;
	size_t n;
	ck_assert_int_eq(listing_parse(apache_html, strlen(apache_html), "text/html;charset=UTF-8",
				       DIR_URL, LISTING_AUTO, &v, &n),
			 0);
	assert_all_safe(v, n);
	ck_assert_uint_eq(n, 4);
	ck_assert_ptr_null(find(v, n, "Parent Directory"));
	ck_assert_ptr_null(find(v, n, "pub"));
	const struct ufs_dirent *e = find(v, n, "sub dir");
	ck_assert_ptr_nonnull(e);
	ck_assert(e->attr.is_dir);
	ck_assert_int_eq(e->attr.mtime, utc(2026, 11, 29, 20, 0, 0));
	e = find(v, n, "a b.txt");
	ck_assert_ptr_nonnull(e);
	ck_assert(e->size_known);
	ck_assert_uint_eq(e->attr.size, 123);
	e = find(v, n,
		 "donn\xc3\xa9"
		 "es.bin");
	ck_assert_ptr_nonnull(e);
	ck_assert(!e->size_known);
	ck_assert_int_eq(e->attr.mtime, utc(2026, 11, 29, 20, 2, 0));
	e = find(v, n, "abs same.bin");
	ck_assert_ptr_nonnull(e);
	ck_assert(e->size_known);
	ck_assert_uint_eq(e->attr.size, 0);
	ufs_dirents_free(v, n);
}
END_TEST

START_TEST(test_root_and_bad_input)
{
	static const char root_listing[] = "<pre><a href=\"../\">../</a>\n"
					   "<a href=\"/\">/</a>\n"
					   "<a href=\"/x.bin\">x.bin</a> 29-Nov-2026 20:00 5\n"
					   "<a href=\"http://mirror.example/y/\">y/</a>\n</pre>";
	struct ufs_dirent *v;
	size_t n;
	ck_assert_int_eq(listing_parse(root_listing, strlen(root_listing), "text/html",
				       "http://mirror.example/", LISTING_AUTO, &v, &n),
			 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_ptr_nonnull(find(v, n, "x.bin"));
	ck_assert(find(v, n, "y")->attr.is_dir);
	ufs_dirents_free(v, n);

	static const char bad_json[] = "[ { \"name\": \"x\", \"type\": ";
	ck_assert_int_eq(listing_parse(bad_json, strlen(bad_json), "application/json", DIR_URL,
				       LISTING_AUTO, &v, &n),
			 -EBADMSG);
	ck_assert_int_eq(listing_parse("[]", 2, NULL, DIR_URL, LISTING_NGINX_JSON, &v, &n), 0);
	ck_assert_uint_eq(n, 0);
	ufs_dirents_free(v, n);
	/* the body need not be NUL-terminated */
	char unterminated[] = {'<', 'a', ' ', 'h', 'r', 'e', 'f', '=',
			       'z', '>', 'z', '<', '/', 'a', '>', 'X'};
	ck_assert_int_eq(listing_parse(unterminated, sizeof(unterminated) - 1, NULL, DIR_URL,
				       LISTING_AUTO, &v, &n),
			 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(v[0].name, "z");
	ufs_dirents_free(v, n);
}
END_TEST

START_TEST(test_big_listings)
{
	/* large directories must parse in linear time (the tcase timeout is the check) */
	enum { N = 20000 };
	size_t cap = (size_t)N * 128 + 16, len = 0;
	char *json = malloc(cap), *html = malloc(cap);
	ck_assert_ptr_nonnull(json);
	ck_assert_ptr_nonnull(html);
	len += snprintf(json + len, cap - len, "[");
	for (int i = 0; i < N; i++)
		len += snprintf(json + len, cap - len,
				"%s{ \"name\":\"f%06d\", \"type\":\"file\", \"size\":%d }\n",
				i ? "," : "", i, i);
	len += snprintf(json + len, cap - len, "]");
	struct ufs_dirent *v;
	size_t n;
	ck_assert_int_eq(
	    listing_parse(json, len, "application/json", DIR_URL, LISTING_AUTO, &v, &n), 0);
	ck_assert_uint_eq(n, N);
	ck_assert_str_eq(v[N - 1].name, "f019999");
	ck_assert_uint_eq(v[N - 1].attr.size, N - 1);
	ufs_dirents_free(v, n);

	len = snprintf(html, cap, "<pre><a href=\"../\">../</a>\n");
	for (int i = 0; i < N; i++)
		len += snprintf(html + len, cap - len,
				"<a href=\"f%06d\">f%06d</a>   29-Nov-2026 20:00   %d\n", i, i, i);
	ck_assert_int_eq(listing_parse(html, len, "text/html", DIR_URL, LISTING_AUTO, &v, &n), 0);
	ck_assert_uint_eq(n, N);
	ck_assert_uint_eq(v[12345].attr.size, 12345);
	ufs_dirents_free(v, n);
	free(json);
	free(html);
}
END_TEST

START_TEST(test_odd_escapes)
{
	static const char body[] = "<a href=\"bad%zz%\">x</a> 29-Nov-2026 20:00 1\n"
				   "<a href=\"trail%4\">x</a>\n"
				   "<a href=\"nul%00byte\">x</a>\n"
				   "<a href=\"frag#x\">x</a>\n"
				   "<a href=\"#top\">x</a>\n"
				   "<A HREF=\"UPPER.TXT\">UPPER.TXT</A>\n"
				   "<a href=\"mailto:root@example\">mail</a>\n"
				   "<a href=\"x?download=1\">x</a>\n";
	struct ufs_dirent *v;
	size_t n;
	ck_assert_int_eq(
	    listing_parse(body, strlen(body), "text/html", DIR_URL, LISTING_AUTO, &v, &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_ptr_nonnull(find(v, n, "bad%zz%"));
	ck_assert(find(v, n, "bad%zz%")->size_known);
	ck_assert_ptr_nonnull(find(v, n, "trail%4"));
	ck_assert_ptr_nonnull(find(v, n, "frag"));
	ck_assert_ptr_nonnull(find(v, n, "UPPER.TXT"));
	ufs_dirents_free(v, n);
}
END_TEST

/* Hostile HTML listings: every name that reaches a view is one safe component, once. */
START_TEST(test_hostile_html)
{
	char big[600];
	memset(big, 'n', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	char body[4096];
	snprintf(body, sizeof(body),
		 "<a href=\"%.255s\">max</a> 29-Nov-2026 20:00 1\n" /* NAME_MAX: kept */
		 "<a href=\"%s\">huge</a> 29-Nov-2026 20:00 1\n"    /* > NAME_MAX: dropped */
		 "<a href=\"a/../b\">b</a>\n"			    /* climbs inside: refused */
		 "<a href=\"sub/x\">nested</a>\n"		    /* a grandchild */
		 "<a href=\"%%2e%%2E\">dots</a>\n"
		 "<a href=\"%%2F\">slash</a>\n"
		 "<a href=\"x%%00y\">nul</a>\n"
		 "<a href=\"bad%%ff%%c3utf8\">bad</a> 29-Nov-2026 20:00 7\n" /* kept, bytes as-is */
		 "<a href=\"dup\">dup</a> 29-Nov-2026 20:00 1\n"
		 "<a href=\"other\">other</a> 29-Nov-2026 20:00 2\n"
		 "<a href=\"dup/\">dup/</a> 29-Nov-2026 20:00 -\n" /* same name later: dropped */
		 "<a href=\"http://mirror.example:80/pub/data/port\">p</a>\n" /* default port */
		 "<a href=\"http://mirror.example:8080/pub/data/p8080\">p</a>\n"
		 "<a href=\"http://user@mirror.example/pub/data/userinfo\">u</a>\n"
		 "<a href=\"HTTP://MIRROR.EXAMPLE/pub/data/upper\">u</a>\n"
		 "<a href=\"file:///etc/passwd\">f</a>\n"
		 "<a href=\"javascript:alert(1)\">j</a>\n"
		 "<a href=\"/pub/data/../data/dotted\">d</a>\n"
		 "<a href=\"\\\\evil\\x\">bs</a>\n",
		 big, big);
	struct ufs_dirent *v;
	size_t n;
	ck_assert_int_eq(
	    listing_parse(body, strlen(body), "text/html", DIR_URL, LISTING_AUTO, &v, &n), 0);
	assert_all_safe(v, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_le(strlen(v[i].name), 255);
	ck_assert_ptr_nonnull(find(v, n, big + sizeof(big) - 1 - 255));
	ck_assert_ptr_nonnull(find(v, n, "bad\xff\xc3utf8"));
	ck_assert_uint_eq(find(v, n, "bad\xff\xc3utf8")->attr.size, 7);
	const struct ufs_dirent *d = find(v, n, "dup");
	ck_assert_ptr_nonnull(d);
	ck_assert(!d->attr.is_dir);
	ck_assert_uint_eq(d->attr.size, 1);
	ck_assert_ptr_nonnull(find(v, n, "other"));
	ck_assert_ptr_nonnull(find(v, n, "port"));
	ck_assert_ptr_nonnull(find(v, n, "upper"));
	ck_assert_ptr_null(find(v, n, "p8080"));
	ck_assert_ptr_null(find(v, n, "userinfo"));
	ck_assert_ptr_null(find(v, n, "dotted"));
	ck_assert_ptr_null(find(v, n, "b"));
	ck_assert_ptr_null(find(v, n, "x"));
	/* a backslash is an ordinary byte of a POSIX name, not a separator */
	ck_assert_ptr_nonnull(find(v, n, "\\\\evil\\x"));
	/* max, bad, dup, other, port, upper, the backslashes: nothing else */
	ck_assert_uint_eq(n, 7);
	ufs_dirents_free(v, n);
}
END_TEST

/* Hostile JSON listings: the same rules, plus what only JSON can say. */
START_TEST(test_hostile_json)
{
	char big[400];
	memset(big, 'j', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	char body[4096];
	snprintf(body, sizeof(body),
		 "[{\"name\":\"%s\",\"type\":\"file\",\"size\":1},"
		 "{\"name\":\"nul\\u0000hidden\",\"type\":\"file\",\"size\":1},"
		 "{\"name\":\"/etc/passwd\",\"type\":\"file\",\"size\":1},"
		 "{\"name\":\".\",\"type\":\"directory\"},"
		 "{\"name\":\"\",\"type\":\"file\"},"
		 "{\"name\":\"bad\xff\xfe\",\"type\":\"file\",\"size\":3},"
		 "{\"name\":\"twice\",\"type\":\"file\",\"size\":5},"
		 "{\"name\":\"twice\",\"type\":\"directory\"},"
		 "{\"name\":\"sneaky\",\"type\":\"file\",\"size\":9},"
		 "{\"name\":\"twice\",\"type\":\"file\",\"size\":6},"
		 "{\"name\":\"max\",\"type\":\"file\",\"size\":18446744073709551615},"
		 "{\"name\":\"neg\",\"type\":\"file\",\"size\":-5},"
		 "{\"name\":\"str\",\"type\":\"file\",\"size\":\"12\",\"mtime\":\"yesterday\"},"
		 "{\"name\":7,\"type\":\"file\"},"
		 "{\"name\":\"link\",\"type\":\"symlink\"}]",
		 big);
	struct ufs_dirent *v;
	size_t n;
	ck_assert_int_eq(
	    listing_parse(body, strlen(body), "application/json", DIR_URL, LISTING_AUTO, &v, &n),
	    0);
	assert_all_safe(v, n);
	ck_assert_ptr_null(find(v, n, big));
	ck_assert_ptr_null(find(v, n, "nul"));
	ck_assert_ptr_nonnull(find(v, n, "bad\xff\xfe"));
	const struct ufs_dirent *d = find(v, n, "twice");
	ck_assert_ptr_nonnull(d);
	ck_assert(!d->attr.is_dir);
	ck_assert_uint_eq(d->attr.size, 5);
	/* above 2^63: no file's size (off_t), so unknown (the view's stat of it would fail) */
	ck_assert(!find(v, n, "max")->size_known);
	ck_assert(!find(v, n, "neg")->size_known);
	ck_assert(!find(v, n, "str")->size_known);
	ck_assert_int_eq(find(v, n, "str")->attr.mtime, 0);
	/* bad, twice, sneaky, max, neg, str */
	ck_assert_uint_eq(n, 6);
	ufs_dirents_free(v, n);

	/* not an array of objects, or nested past any listing's depth: refused whole */
	static const char *const bad[] = {"{\"name\":\"x\"}",
					  "[1,2]",
					  "[[[[[[[[[[[]]]]]]]]]]]",
					  "[{\"name\":\"x\",\"type\":\"file\"}",
					  "\"[]\"",
					  "[{\"a\":{\"b\":{\"c\":{\"d\":{}}}}}]"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(listing_parse(bad[i], strlen(bad[i]), "application/json", DIR_URL,
					    LISTING_NGINX_JSON, &v, &n) == -EBADMSG,
			      "accepted %s", bad[i]);
}
END_TEST

/* local:// backend */

static char tmpdir[] = "/tmp/weir-check-local-XXXXXX";

static void write_file(const char *rel, const char *data, size_t len)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void local_setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	char p[512];
	snprintf(p, sizeof(p), "%s/root", tmpdir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/root/sub dir", tmpdir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	write_file("outside.txt", "secret", 6);
	write_file("root/hello.txt", "hello, world", 12);
	write_file("root/sub dir/donn\xc3\xa9"
		   "es.bin",
		   "0123456789", 10);
	snprintf(p, sizeof(p), "%s/root/out", tmpdir);
	ck_assert_int_eq(symlink("../outside.txt", p), 0);
	snprintf(p, sizeof(p), "%s/root/in", tmpdir);
	ck_assert_int_eq(symlink("hello.txt", p), 0);
	snprintf(p, sizeof(p), "%s/root/fifo", tmpdir);
	ck_assert_int_eq(mkfifo(p, 0644), 0);
}

static void local_teardown(void)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct ufs *local_open(void)
{
	char url[600], err[256];
	struct ufs *u = NULL;
	snprintf(url, sizeof(url), "local://%s/root/", tmpdir);
	ck_assert_int_eq(ufs_new(url, NULL, &u, err, sizeof(err)), 0);
	return u;
}

START_TEST(test_local_list_stat_read)
{
	struct ufs *u = local_open();
	char err[256];
	ck_assert_int_eq(ufs_probe(u, err, sizeof(err)), 0);

	struct ufs_dirent *v;
	size_t n;
	ck_assert_int_eq(ufs_list(u, "/", &v, &n), 0);
	/* hello.txt, sub dir, in (symlink inside); not out (leaves the root), not the fifo */
	ck_assert_uint_eq(n, 3);
	ck_assert_ptr_nonnull(find(v, n, "hello.txt"));
	ck_assert_uint_eq(find(v, n, "hello.txt")->attr.size, 12);
	ck_assert(find(v, n, "hello.txt")->size_known);
	ck_assert(find(v, n, "sub dir")->attr.is_dir);
	ck_assert_uint_eq(find(v, n, "in")->attr.size, 12);
	ufs_dirents_free(v, n);

	ck_assert_int_eq(ufs_list(u, "/sub dir", &v, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(v[0].name, "donn\xc3\xa9"
				    "es.bin");
	ufs_dirents_free(v, n);
	ck_assert_int_eq(ufs_list(u, "/hello.txt", &v, &n), -ENOTDIR);
	ck_assert_int_eq(ufs_list(u, "/nope", &v, &n), -ENOENT);

	struct ufs_attr a;
	ck_assert_int_eq(ufs_stat(u, "/hello.txt", &a), 0);
	ck_assert_uint_eq(a.size, 12);
	ck_assert(!a.is_dir);
	ck_assert(a.mtime > 0);
	ck_assert_int_eq(ufs_stat(u, "/", &a), 0);
	ck_assert(a.is_dir);
	ck_assert_int_eq(ufs_stat(u, "/missing", &a), -ENOENT);

	char buf[64] = {0};
	ck_assert_int_eq(ufs_stat(u,
				  "/sub dir/donn\xc3\xa9"
				  "es.bin",
				  &a),
			 0);
	ck_assert_int_eq(ufs_read(u,
				  "/sub dir/donn\xc3\xa9"
				  "es.bin",
				  3, 4, buf, &a),
			 4);
	ck_assert_int_eq(memcmp(buf, "3456", 4), 0);
	/* past the end: short */
	ck_assert_int_eq(ufs_read(u,
				  "/sub dir/donn\xc3\xa9"
				  "es.bin",
				  8, 10, buf, NULL),
			 2);
	ck_assert_int_eq(memcmp(buf, "89", 2), 0);
	ck_assert_int_eq(ufs_read(u, "/hello.txt", 100, 10, buf, NULL), 0);
	ck_assert_int_eq(ufs_read(u, "/missing", 0, 10, buf, NULL), -ENOENT);

	/* a changed object no longer matches */
	struct ufs_attr old;
	ck_assert_int_eq(ufs_stat(u, "/hello.txt", &old), 0);
	write_file("root/hello.txt", "hello, there, world", 19);
	ck_assert_int_eq(ufs_read(u, "/hello.txt", 0, 5, buf, &old), -ESTALE);
	ck_assert_uint_ge(atomic_load(&u->stats.bytes), 6);
	ck_assert_uint_ge(atomic_load(&u->stats.errors), 2);
	ufs_free(u);
}
END_TEST

START_TEST(test_local_escapes)
{
	struct ufs *u = local_open();
	struct ufs_attr a;
	char buf[16];
	struct ufs_dirent *v;
	size_t n;
	ck_assert_int_eq(ufs_stat(u, "/../outside.txt", &a), -EINVAL);
	ck_assert_int_eq(ufs_stat(u, "/sub dir/../../outside.txt", &a), -EINVAL);
	ck_assert_int_eq(ufs_stat(u, "relative", &a), -EINVAL);
	ck_assert_int_eq(ufs_stat(u, "/./hello.txt", &a), -EINVAL);
	ck_assert_int_eq(ufs_stat(u, "//hello.txt", &a), -EINVAL);
	ck_assert_int_eq(ufs_list(u, "/..", &v, &n), -EINVAL);
	ck_assert_int_eq(ufs_read(u, "/../outside.txt", 0, 6, buf, NULL), -EINVAL);
	/* a symlink that leads out of the root is refused, not followed */
	ck_assert_int_eq(ufs_stat(u, "/out", &a), -EACCES);
	ck_assert_int_eq(ufs_read(u, "/out", 0, 6, buf, NULL), -EACCES);
	char cause[sizeof(u->last_error)];
	ck_assert_ptr_nonnull(strstr(ufs_error_copy(u, cause, sizeof(cause)), "/out"));
	ck_assert_int_eq(ufs_read(u, "/in", 0, 5, buf, NULL), 5);
	ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
	ufs_free(u);
}
END_TEST

/* Threads that fail stats on their own missing path and read the UFS's last error back: every
 * copy must be one whole message (some thread's), never two messages torn together. */
#define ERR_THREADS 4
#define ERR_ROUNDS 3000

struct err_thread {
	struct ufs *u;
	char path[300];
	const char (*expect)[sizeof(((struct ufs *)0)->last_error)]; /* ERR_THREADS messages */
	unsigned bad;						     /* copies matching none */
	char first_bad[sizeof(((struct ufs *)0)->last_error)];
};

static void *err_thread_run(void *arg)
{
	struct err_thread *t = arg;
	struct ufs_attr a;
	char cause[sizeof(t->u->last_error)];
	for (int i = 0; i < ERR_ROUNDS; i++) {
		if (ufs_stat(t->u, t->path, &a) != -ENOENT) {
			t->bad++;
			snprintf(t->first_bad, sizeof(t->first_bad), "stat of %s", t->path);
			continue;
		}
		ufs_error_copy(t->u, cause, sizeof(cause));
		bool whole = false;
		for (int k = 0; k < ERR_THREADS; k++)
			whole |= strcmp(cause, t->expect[k]) == 0;
		if (!whole && t->bad++ == 0)
			memcpy(t->first_bad, cause, sizeof(cause));
	}
	return NULL;
}

START_TEST(test_local_error_threads)
{
	struct ufs *u = local_open();
	static char expect[ERR_THREADS][sizeof(u->last_error)];
	struct err_thread t[ERR_THREADS];
	pthread_t tid[ERR_THREADS];
	for (int k = 0; k < ERR_THREADS; k++) {
		/* lengths 1, 61, 121, 181: a shorter message over a longer one would show the
		 * longer one's tail */
		t[k] = (struct err_thread){.u = u, .expect = expect};
		int n = snprintf(t[k].path, sizeof(t[k].path), "/missing-");
		memset(t[k].path + n, 'a' + k, 1 + 60 * k);
		t[k].path[n + 1 + 60 * k] = '\0';
		snprintf(expect[k], sizeof(expect[k]), "%s%s: %s", u->url, t[k].path,
			 strerror(ENOENT));
	}
	for (int k = 0; k < ERR_THREADS; k++)
		ck_assert_int_eq(pthread_create(&tid[k], NULL, err_thread_run, &t[k]), 0);
	for (int k = 0; k < ERR_THREADS; k++)
		pthread_join(tid[k], NULL);
	for (int k = 0; k < ERR_THREADS; k++)
		ck_assert_msg(t[k].bad == 0, "thread %d: %u copies not one whole message: \"%s\"",
			      k, t[k].bad, t[k].first_bad);

	/* the copy is truncated to the buffer and NUL-terminated; a 0-byte buffer is untouched */
	char small[8] = "xxxxxxx";
	ck_assert_int_eq(ufs_stat(u, t[0].path, &(struct ufs_attr){0}), -ENOENT);
	ck_assert_str_eq(ufs_error_copy(u, small, sizeof(small)), "local:/");
	ck_assert_ptr_eq(ufs_error_copy(u, small, 0), small);
	ck_assert_str_eq(small, "local:/");
	/* a probe that succeeds leaves no stale cause behind */
	char err[64];
	ck_assert_int_eq(ufs_probe(u, err, sizeof(err)), 0);
	ck_assert_str_eq(ufs_error_copy(u, small, sizeof(small)), "");
	ufs_free(u);
}
END_TEST

static int async_hits;
static void count_done(void *userdata, int err, size_t nread)
{
	if (err == 0 && nread == 1)
		__atomic_add_fetch((int *)userdata, 1, __ATOMIC_SEQ_CST);
}

START_TEST(test_local_async_and_urls)
{
	struct ufs *u = local_open();
	static char bufs[200];
	for (int i = 0; i < 200; i++)
		ck_assert_int_eq(ufs_read_async(u, "/hello.txt", i % 12, 1, &bufs[i], NULL,
						count_done, &async_hits),
				 0);
	ufs_free(u); /* drains: every done ran */
	ck_assert_int_eq(async_hits, 200);
	ck_assert_int_eq(bufs[13], 'e');

	char err[256];
	ck_assert_int_eq(ufs_new("local://relative/path", NULL, &u, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(ufs_new("ftp://x/", NULL, &u, err, sizeof(err)), -EPROTONOSUPPORT);
	ck_assert_ptr_nonnull(strstr(err, "ftp://x/"));
	ck_assert_int_eq(ufs_new("nonsense", NULL, &u, err, sizeof(err)), -EINVAL);
	ck_assert_int_lt(ufs_new("local:///nonexistent/weir/root", NULL, &u, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/weir/root"));
}
END_TEST

Suite *listing_suite(void)
{
	Suite *s = suite_create("listing");
	TCase *tc = tcase_create("parse");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_nginx_html_exact);
	tcase_add_test(tc, test_nginx_html_rounded);
	tcase_add_test(tc, test_nginx_json);
	tcase_add_test(tc, test_size_beyond_off_t);
	tcase_add_test(tc, test_apache_html);
	tcase_add_test(tc, test_root_and_bad_input);
	tcase_add_test(tc, test_big_listings);
	tcase_add_test(tc, test_odd_escapes);
	tcase_add_test(tc, test_hostile_html);
	tcase_add_test(tc, test_hostile_json);
	suite_add_tcase(s, tc);

	tc = tcase_create("ufs_local");
	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, local_setup, local_teardown);
	tcase_add_test(tc, test_local_list_stat_read);
	tcase_add_test(tc, test_local_escapes);
	tcase_add_test(tc, test_local_async_and_urls);
	tcase_add_test(tc, test_local_error_threads);
	suite_add_tcase(s, tc);
	return s;
}
