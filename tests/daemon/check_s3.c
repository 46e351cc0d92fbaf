// SPDX-License-Identifier: Apache-2.0
// S3's wire formats: ListObjectsV2 pages and error bodies (well-formed, truncated, hostile), the
// URL encoding of keys and list queries that SigV4 signs as sent, and the signed requests
// themselves checked against botocore (tests/helpers/sigv4_botocore.py).
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>

#include "s3_url.h"
#include "s3_xml.h"
#include "suites.h"
#include "ufs.h"

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

static int parse(const char *xml, struct s3_list_page *p)
{
	return s3_xml_parse_list(xml, strlen(xml), p);
}

START_TEST(list_page_objects_and_prefixes)
{
	const char *xml =
	    HEAD "<ListBucketResult " NS "><Name>b</Name><Prefix>d/</Prefix>"
		 "<KeyCount>3</KeyCount><IsTruncated>false</IsTruncated>"
		 "<Contents><Key>d/a b+c%41.txt</Key><LastModified>2026-12-02T18:53:43.000Z"
		 "</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>"
		 "<Size>4194305</Size><StorageClass>STANDARD</StorageClass></Contents>"
		 "<Contents><Key>d/\xc3\xa9t\xc3\xa9 &amp; &#26085;~</Key><Size>0</Size>"
		 "<ETag></ETag></Contents>"
		 "<CommonPrefixes><Prefix>d/sub dir/</Prefix></CommonPrefixes>"
		 "<CommonPrefixes><Prefix>d/x+y/</Prefix></CommonPrefixes>"
		 "</ListBucketResult>";
	struct s3_list_page p;
	ck_assert_int_eq(parse(xml, &p), 0);
	ck_assert_uint_eq(p.n_objects, 2);
	ck_assert_str_eq(p.objects[0].key, "d/a b+c%41.txt"); /* no decoding beyond XML's */
	ck_assert_uint_eq(p.objects[0].size, 4194305);
	ck_assert_str_eq(p.objects[0].etag, "\"9b2cf535f27731c974343645a3985328\"");
	ck_assert_int_eq(p.objects[0].mtime, 1796237623);
	ck_assert_str_eq(p.objects[1].key, "d/\xc3\xa9t\xc3\xa9 & \xe6\x97\xa5~");
	ck_assert_int_eq(p.objects[1].mtime, 0);
	ck_assert_uint_eq(p.n_prefixes, 2);
	ck_assert_str_eq(p.prefixes[0], "d/sub dir/");
	ck_assert_str_eq(p.prefixes[1], "d/x+y/");
	ck_assert(!p.truncated);
	ck_assert_ptr_null(p.next_token);
	s3_list_page_clear(&p);
}
END_TEST

START_TEST(list_page_continuation)
{
	struct s3_list_page p;
	ck_assert_int_eq(parse(HEAD "<ListBucketResult><IsTruncated>true</IsTruncated>"
				    "<NextContinuationToken>1/a+b=</NextContinuationToken>"
				    "<Contents><Key>k</Key><Size>1</Size></Contents>"
				    "</ListBucketResult>",
			       &p),
			 0);
	ck_assert(p.truncated);
	ck_assert_str_eq(p.next_token, "1/a+b=");
	s3_list_page_clear(&p);
	/* truncated with no way on: the listing would silently stop short */
	ck_assert_int_eq(parse("<ListBucketResult><IsTruncated>true</IsTruncated>"
			       "</ListBucketResult>",
			       &p),
			 -EBADMSG);
	ck_assert_int_eq(parse("<ListBucketResult><IsTruncated>true</IsTruncated>"
			       "<NextContinuationToken></NextContinuationToken></ListBucketResult>",
			       &p),
			 -EBADMSG);
	/* xsd:boolean's other spellings are read as such; anything else is no answer, not "false"
	 * (which would end the listing early, silently) */
	static const char *const yes[] = {"1", " true "};
	for (size_t i = 0; i < 2; i++) {
		char xml[200];
		snprintf(xml, sizeof(xml),
			 "<ListBucketResult><IsTruncated>%s</IsTruncated><NextContinuationToken>t"
			 "</NextContinuationToken></ListBucketResult>",
			 yes[i]);
		ck_assert_int_eq(parse(xml, &p), 0);
		ck_assert_msg(p.truncated, "\"%s\" read as false", yes[i]);
		s3_list_page_clear(&p);
	}
	static const char *const bad[] = {"True", "yes", ""};
	for (size_t i = 0; i < 3; i++) {
		char xml[200];
		snprintf(xml, sizeof(xml),
			 "<ListBucketResult><IsTruncated>%s</IsTruncated><NextContinuationToken>t"
			 "</NextContinuationToken></ListBucketResult>",
			 bad[i]);
		ck_assert_msg(parse(xml, &p) == -EBADMSG, "IsTruncated \"%s\" accepted", bad[i]);
	}
}
END_TEST

START_TEST(list_page_malformed)
{
	struct s3_list_page p;
	static const char *const bad[] = {
	    "",
	    "not xml at all",
	    "<ListBucketResult><Contents><Key>a</Key><Size>1</Size></Contents>", /* cut short */
	    "<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>", /* no size */
	    "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>", /* no key */
	    "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
	    "<ListBucketResult><Contents><Key>a</Key><Size>1x</Size></Contents></ListBucketResult>",
	    "<ListBucketResult><Contents><Key>a</Key><Size>99999999999999999999999</Size>"
	    "</Contents></ListBucketResult>",
	    /* sizes no file can have (off_t), and a sign strtoull would wrap: " -5" is 2^64 - 5 */
	    "<ListBucketResult><Contents><Key>a</Key><Size>18446744073709551615</Size>"
	    "</Contents></ListBucketResult>",
	    "<ListBucketResult><Contents><Key>a</Key><Size>9223372036854775808</Size>"
	    "</Contents></ListBucketResult>",
	    "<ListBucketResult><Contents><Key>a</Key><Size> -5</Size></Contents></ListBucketResult>",
	    "<ListBucketResult><Contents><Key>a</Key><Size>+5</Size></Contents></ListBucketResult>",
	    "<Error><Code>AccessDenied</Code></Error>", /* not a listing */
	    "<ListBucketResult><Contents><Key>a\x01</Key><Size>1</Size></Contents>"
	    "</ListBucketResult>", /* a control byte is not XML */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse(bad[i], &p) == -EBADMSG, "accepted: %s", bad[i]);
}
END_TEST

START_TEST(list_page_hostile)
{
	struct s3_list_page p;
	/* entity expansion (a billion laughs) and external entities: any DOCTYPE is refused */
	const char *bomb =
	    "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\">"
	    "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\">"
	    "<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">]>"
	    "<ListBucketResult><Contents><Key>&d;</Key><Size>1</Size></Contents>"
	    "</ListBucketResult>";
	ck_assert_int_eq(parse(bomb, &p), -EBADMSG);
	const char *xxe = "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY x SYSTEM "
			  "\"file:///etc/passwd\">]><ListBucketResult><Contents><Key>&x;</Key>"
			  "<Size>1</Size></Contents></ListBucketResult>";
	ck_assert_int_eq(parse(xxe, &p), -EBADMSG);
	/* an undeclared entity is not well-formed */
	ck_assert_int_eq(parse("<ListBucketResult><Contents><Key>&x;</Key><Size>1</Size>"
			       "</Contents></ListBucketResult>",
			       &p),
			 -EBADMSG);

	/* nesting far deeper than any S3 answer: refused by libxml2's depth limit, no crash */
	size_t depth = 100000;
	char *deep = malloc(depth * 7 + 64), *o = deep;
	o += sprintf(o, "<ListBucketResult>");
	for (size_t i = 0; i < depth; i++)
		o += sprintf(o, "<a>");
	*o = '\0';
	ck_assert_int_eq(parse(deep, &p), -EBADMSG);
	free(deep);

	/* an ETag too long to keep is none: cut short, it would never match in If-Match */
	char tag[400];
	o = tag + sprintf(tag, "<ListBucketResult><Contents><Key>k</Key><Size>1</Size><ETag>\"");
	memset(o, 't', 200);
	sprintf(o + 200, "\"</ETag></Contents></ListBucketResult>");
	ck_assert_int_eq(parse(tag, &p), 0);
	ck_assert_str_eq(p.objects[0].etag, "");
	s3_list_page_clear(&p);

	/* a key far beyond S3's 1024 bytes */
	size_t big = 12u << 20;
	char *huge = malloc(big + 128);
	o = huge + sprintf(huge, "<ListBucketResult><Contents><Key>");
	memset(o, 'k', big);
	o += big;
	sprintf(o, "</Key><Size>1</Size></Contents></ListBucketResult>");
	ck_assert_int_eq(parse(huge, &p), -EBADMSG);
	o = huge + sprintf(huge, "<ListBucketResult><CommonPrefixes><Prefix>");
	memset(o, 'k', 1025);
	sprintf(o + 1025, "/</Prefix></CommonPrefixes></ListBucketResult>");
	ck_assert_int_eq(parse(huge, &p), -EBADMSG);
	free(huge);
}
END_TEST

/* encoding-type=url: keys as S3 encodes them (a space '+', a '+' %2B), a byte XML 1.0 cannot
 * carry among them; decoded only where the answer says it encoded them */
START_TEST(list_page_url_encoded)
{
	struct s3_list_page p;
	const char *page = "<ListBucketResult><EncodingType>url</EncodingType>"
			   "<Contents><Key>d/a+b%2Bc%25</Key><Size>1</Size></Contents>"
			   "<Contents><Key>d/%E2%82%AC%01x</Key><Size>2</Size></Contents>"
			   "<Contents><Key>d/a%00b</Key><Size>3</Size></Contents>"
			   "<Contents><Key>d/100%</Key><Size>4</Size></Contents>"
			   "<CommonPrefixes><Prefix>d/x%20y%2F</Prefix></CommonPrefixes>"
			   "<IsTruncated>false</IsTruncated></ListBucketResult>";
	ck_assert_int_eq(parse(page, &p), 0);
	ck_assert_uint_eq(p.n_objects, 4);
	ck_assert_str_eq(p.objects[0].key, "d/a b+c%");
	ck_assert(!p.objects[0].bad_key);
	ck_assert_str_eq(p.objects[1].key, "d/\xe2\x82\xac\x01x");
	/* cut at its NUL it would be "d/a": kept as sent, with no name */
	ck_assert_str_eq(p.objects[2].key, "d/a%00b");
	ck_assert(p.objects[2].bad_key);
	ck_assert_str_eq(p.objects[3].key, "d/100%");
	ck_assert_uint_eq(p.n_prefixes, 1);
	ck_assert_str_eq(p.prefixes[0], "d/x y/");
	s3_list_page_clear(&p);

	/* not said to be encoded: as sent */
	ck_assert_int_eq(parse("<ListBucketResult><Contents><Key>a+b%41</Key><Size>1</Size>"
			       "</Contents></ListBucketResult>",
			       &p),
			 0);
	ck_assert_str_eq(p.objects[0].key, "a+b%41");
	s3_list_page_clear(&p);

	/* a key of S3's 1,024 bytes, all two-byte UTF-8: 3,072 bytes encoded; 1,026 fails */
	for (size_t len = 1024; len <= 1026; len += 2) {
		char *b = malloc(len / 2 * 6 + 256), *o = b;
		o += sprintf(o, "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>");
		for (size_t i = 0; i < len / 2; i++)
			o += sprintf(o, "%%C3%%A9");
		sprintf(o, "</Key><Size>1</Size></Contents></ListBucketResult>");
		int r = parse(b, &p);
		free(b);
		if (len == 1024) {
			ck_assert_int_eq(r, 0);
			ck_assert_uint_eq(strlen(p.objects[0].key), 1024);
			s3_list_page_clear(&p);
		} else {
			ck_assert_int_eq(r, -EBADMSG);
		}
	}
}
END_TEST

START_TEST(list_page_many)
{
	/* 5000 keys in one page parse in order */
	size_t n = 5000;
	char *xml = malloc(n * 64 + 128), *o = xml;
	o += sprintf(o, "<ListBucketResult>");
	for (size_t i = 0; i < n; i++)
		o +=
		    sprintf(o, "<Contents><Key>many/f%05zu</Key><Size>%zu</Size></Contents>", i, i);
	sprintf(o, "</ListBucketResult>");
	struct s3_list_page p;
	ck_assert_int_eq(parse(xml, &p), 0);
	ck_assert_uint_eq(p.n_objects, n);
	ck_assert_str_eq(p.objects[4999].key, "many/f04999");
	ck_assert_uint_eq(p.objects[4999].size, 4999);
	s3_list_page_clear(&p);
	free(xml);
}
END_TEST

START_TEST(error_bodies)
{
	struct s3_error e;
	const char *region =
	    HEAD "<Error><Code>AuthorizationHeaderMalformed</Code><Message>the "
		 "region &#34;eu-west-1&#34; is wrong; expecting &#34;us-east-1"
		 "&#34;</Message><Region>us-east-1</Region><RequestId>X</RequestId>"
		 "</Error>";
	ck_assert_int_eq(s3_xml_parse_error(region, strlen(region), &e), 0);
	ck_assert_str_eq(e.code, "AuthorizationHeaderMalformed");
	ck_assert_str_eq(e.region, "us-east-1");
	ck_assert_str_eq(e.message, "the region \"eu-west-1\" is wrong; expecting \"us-east-1\"");
	const char *nb = "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not "
			 "exist</Message><BucketName>nobkt</BucketName></Error>";
	ck_assert_int_eq(s3_xml_parse_error(nb, strlen(nb), &e), 0);
	ck_assert_str_eq(e.code, "NoSuchBucket");
	ck_assert_str_eq(e.region, "");
	/* a long message is cut, not overflowed */
	char longmsg[4096];
	int l = snprintf(longmsg, sizeof(longmsg), "<Error><Code>SlowDown</Code><Message>");
	memset(longmsg + l, 'm', 3000);
	snprintf(longmsg + l + 3000, sizeof(longmsg) - l - 3000, "</Message></Error>");
	ck_assert_int_eq(s3_xml_parse_error(longmsg, strlen(longmsg), &e), 0);
	ck_assert_uint_eq(strlen(e.message), sizeof(e.message) - 1);
	/* an HTML error page from a proxy, or nothing */
	ck_assert_int_eq(s3_xml_parse_error("<html><body>502</body></html>", 29, &e), -EBADMSG);
	ck_assert_int_eq(s3_xml_parse_error(NULL, 0, &e), -EBADMSG);
	ck_assert_int_eq(s3_xml_parse_error("<Error>", 7, &e), -EBADMSG);
}
END_TEST

START_TEST(times)
{
	int64_t t;
	ck_assert_int_eq(s3_xml_parse_time("1970-01-01T00:00:00Z", &t), 0);
	ck_assert_int_eq(t, 0);
	ck_assert_int_eq(s3_xml_parse_time("2026-12-02T18:53:43.123Z", &t), 0);
	ck_assert_int_eq(t, 1796237623);
	ck_assert_int_eq(s3_xml_parse_time("2026-12-02T18:53:43+00:00", &t), 0);
	ck_assert_int_eq(s3_xml_parse_time("2026-12-02 18:53:43", &t), -EINVAL);
	ck_assert_int_eq(s3_xml_parse_time("2026-13-02T18:53:43Z", &t), -EINVAL);
	ck_assert_int_eq(s3_xml_parse_time("2026-12-02T18:53:43+02:00", &t), -EINVAL);
}
END_TEST

START_TEST(key_encoding)
{
	static const struct {
		const char *in, *path, *query;
	} cases[] = {
	    {"a b/c.txt", "a%20b/c.txt", "a%20b%2Fc.txt"},
	    {"x+y=z&w", "x%2By%3Dz%26w", "x%2By%3Dz%26w"},
	    {"100%/~_-.", "100%25/~_-.", "100%25%2F~_-."},
	    {"\xc3\xa9t\xc3\xa9/\xe6\x97\xa5", "%C3%A9t%C3%A9/%E6%97%A5",
	     "%C3%A9t%C3%A9%2F%E6%97%A5"},
	    {"q?h#s;c:@!*'()", "q%3Fh%23s%3Bc%3A%40%21%2A%27%28%29",
	     "q%3Fh%23s%3Bc%3A%40%21%2A%27%28%29"},
	    {"", "", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *p = s3_url_escape(cases[i].in, true), *q = s3_url_escape(cases[i].in, false);
		ck_assert_str_eq(p, cases[i].path);
		ck_assert_str_eq(q, cases[i].query);
		free(p);
		free(q);
	}
}
END_TEST

START_TEST(list_query_sorted)
{
	char *u = s3_url_list("http://h:1/b", "d/a b/", NULL, 0);
	ck_assert_str_eq(u, "http://h:1/b?delimiter=%2F&encoding-type=url&list-type=2"
			    "&prefix=d%2Fa%20b%2F");
	free(u);
	u = s3_url_list("https://b.s3.example/", "", "1/x+y=", 1);
	ck_assert_str_eq(u, "https://b.s3.example/?continuation-token=1%2Fx%2By%3D&delimiter=%2F"
			    "&encoding-type=url&list-type=2&max-keys=1&prefix=");
	free(u);
}
END_TEST

/* ufs_new(url) must give the objects' root base; the engine starts, nothing is requested. */
static void root_is(const char *url, const char *want)
{
	struct ufs *u = NULL;
	char err[256] = "";
	int r = ufs_new(url, NULL, &u, err, sizeof(err));
	ck_assert_msg(r == 0, "%s: %d %s", url, r, err);
	ck_assert_str_eq(u->url, want);
	ufs_free(u);
}

START_TEST(bucket_urls)
{
	/* no AWS setting of the machine may leak into the answers */
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_S3");
	unsetenv("AWS_PROFILE");
	setenv("AWS_CONFIG_FILE", "/dev/null", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null", 1);
	root_is("s3://bkt", "https://bkt.s3.us-east-1.amazonaws.com");
	root_is("s3://bkt/a%20b/c/?region=eu-west-1",
		"https://bkt.s3.eu-west-1.amazonaws.com/a%20b/c");
	root_is("s3://bkt/p?endpoint=https%3A%2F%2Fs3.example.com", "https://bkt.s3.example.com/p");
	root_is("s3://bkt/p?endpoint=https://s3.example.com:8443&path-style=true",
		"https://s3.example.com:8443/bkt/p");
	/* an address, or a bucket with dots, cannot be a host name: path-style by itself */
	root_is("s3://bkt/p+q?endpoint=http://127.0.0.1:7070", "http://127.0.0.1:7070/bkt/p%2Bq");
	root_is("s3://my.bkt?endpoint=https://s3.example.com", "https://s3.example.com/my.bkt");
	root_is("s3://KEY:SEC%2FRET@bkt?endpoint=http://localhost:1", "http://localhost:1/bkt");

	static const struct {
		const char *url, *msg;
	} bad[] = {
	    {"s3://bkt?colour=blue", "unknown s3 option \"colour\""},
	    {"s3://bkt?path-style=maybe", "not true or false"},
	    {"s3://bkt?endpoint=ftp://h", "not an http(s):// URL"},
	    {"s3://bkt?endpoint=http://h/x", "has a path"},
	    {"s3://bkt?endpoint=http://127.0.0.1:1&path-style=false", "use path-style"},
	    {"s3://KEY@bkt", "needs both KEY:SECRET@"},
	    /* the region names the AWS endpoint's host: it must not name another host */
	    {"s3://bkt?region=x%40evil.example%3F", "is not a region name"},
	    {"s3://bkt?region=evil.example%2Fx%23", "is not a region name"},
	    {"s3://bkt?region=EU-West-1", "is not a region name"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ufs *u = NULL;
		char err[256] = "";
		ck_assert_int_eq(ufs_new(bad[i].url, NULL, &u, err, sizeof(err)), -EINVAL);
		ck_assert_msg(strstr(err, bad[i].msg), "%s: \"%s\" lacks \"%s\"", bad[i].url, err,
			      bad[i].msg);
	}
}
END_TEST

/* HTTP requests captured on loopback, one per connection: the listener answers a HEAD with 200,
 * a GET with the 5 bytes of a 206 (a list: one page of LIST_DIR, its first one truncated), and
 * keeps each request's header block as the server would see it. */
#define CAPTURE_MAX 24
/* The listed directory, its prefix as the page encodes it, and the continuation token of its
 * first page (S3 does not URL-encode tokens). */
#define LIST_DIR "d \xc3\xa9+/"
#define LIST_DIR_URL "d%20%C3%A9%2B/"
#define LIST_TOKEN "1/x+y= ~*\xc3\xa9&z"
#define LIST_TOKEN_XML "1/x+y= ~*\xc3\xa9&amp;z"
#define LIST_PAGE(truncated, next, key)                                                        \
	"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nConnection: close\r\n\r\n" HEAD     \
	"<ListBucketResult " NS "><Name>bkt</Name><Prefix>" LIST_DIR_URL "</Prefix>"             \
	"<Delimiter>/</Delimiter><EncodingType>url</EncodingType><IsTruncated>" truncated         \
	"</IsTruncated>" next "<Contents><Key>" LIST_DIR_URL key "</Key>"                         \
	"<LastModified>2026-12-02T10:00:00.000Z</LastModified><ETag>\"e1\"</ETag><Size>5</Size>"  \
	"</Contents></ListBucketResult>"

struct capture {
	int fd;
	int n; /* connections to answer */
	/* set: a request signed with AKIABEFORE rotates this client's keys (to AKIAAFTER) and is
	 * refused, as a server that revoked them meanwhile would */
	struct ufs *rotate;
	pthread_t thread;
	char req[CAPTURE_MAX][8192];
};

static void *capture_main(void *arg)
{
	struct capture *c = arg;
	for (int i = 0; i < c->n; i++) {
		int s = accept(c->fd, NULL, NULL);
		if (s < 0)
			return NULL;
		char *req = c->req[i];
		size_t n = 0;
		while (n < sizeof(c->req[i]) - 1 && !strstr(req, "\r\n\r\n")) {
			ssize_t got = read(s, req + n, sizeof(c->req[i]) - 1 - n);
			if (got <= 0)
				break;
			n += (size_t)got;
			req[n] = '\0';
		}
		static const char head[] =
		    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"e1\"\r\n"
		    "Last-Modified: Wed, 02 Dec 2026 10:00:00 GMT\r\n"
		    "Connection: close\r\n\r\n";
		static const char get[] = "HTTP/1.1 206 Partial Content\r\nContent-Length: 5\r\n"
					  "Content-Range: bytes 0-4/5\r\nETag: \"e1\"\r\n"
					  "Last-Modified: Wed, 02 Dec 2026 10:00:00 GMT\r\n"
					  "Connection: close\r\n\r\nhello";
		static const char denied[] =
		    "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\n"
		    "Content-Length: 169\r\nConnection: close\r\n\r\n"
		    "<?xml version=\"1.0\" "
		    "encoding=\"UTF-8\"?>\n<Error><Code>InvalidAccessKeyId</Code>"
		    "<Message>The AWS Access Key Id you provided does not exist in our records."
		    "</Message></Error>";
		static const char page1[] =
		    LIST_PAGE("true", "<NextContinuationToken>" LIST_TOKEN_XML "</NextContinuationToken>",
			      "k1");
		static const char page2[] = LIST_PAGE("false", "", "k2");
		bool is_get = strncmp(req, "GET ", 4) == 0;
		bool revoked = c->rotate && strstr(req, "Credential=AKIABEFORE/");
		if (revoked)
			ck_assert_int_eq(ufs_set_keys(c->rotate, "AKIAAFTER", "after-secret", NULL),
					 0);
		const char *line_end = strstr(req, " HTTP/1.1\r\n");
		bool list = is_get && line_end && memmem(req, (size_t)(line_end - req), "list-type=2",
							  11);
		const char *reply = strstr(req, "/denied ") || revoked ? denied
				    : list && strstr(req, "continuation-token=") ? page2
				    : list					  ? page1
				    : is_get					  ? get
										  : head;
		size_t rl = strlen(reply);
		if (write(s, reply, rl) < 0)
			n = 0;
		close(s);
	}
	return NULL;
}

/* Starts a listener answering n connections; returns an s3:// URL of bucket bkt on it. */
static void capture_start(struct capture *c, int n, char *url, size_t len)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	memset(c, 0, sizeof(*c));
	c->n = n;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(c->fd, 0);
	ck_assert_int_eq(bind(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(c->fd, 4), 0);
	ck_assert_int_eq(getsockname(c->fd, (struct sockaddr *)&a, &al), 0);
	ck_assert_int_eq(pthread_create(&c->thread, NULL, capture_main, c), 0);
	snprintf(url, len, "s3://bkt?endpoint=http://127.0.0.1:%d&region=eu-west-3",
		 ntohs(a.sin_port));
}

static void capture_stop(struct capture *c)
{
	pthread_join(c->thread, NULL);
	close(c->fd);
}

/* Stats /obj of s3://bkt on a capturing listener with opts; returns the request's headers. */
static void capture_stat(const struct ufs_options *opts, char *ret, size_t len)
{
	struct capture c;
	char url[200], err[512] = "";
	capture_start(&c, 1, url, sizeof(url));
	struct ufs *u = NULL;
	ck_assert_msg(ufs_new(url, opts, &u, err, sizeof(err)) == 0, "%s", err);
	struct ufs_attr at;
	int r = ufs_stat(u, "/obj", &at);
	ck_assert_msg(r == 0, "stat: %d", r);
	ck_assert_uint_eq(at.size, 5);
	ufs_free(u);
	capture_stop(&c);
	snprintf(ret, len, "%s", c.req[0]);
}

/* Case-insensitive: is "name: value" a header line of req? */
static bool has_header(const char *req, const char *line)
{
	for (const char *p = strstr(req, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n"))
		if (strncasecmp(p + 2, line, strlen(line)) == 0 && (p[2 + strlen(line)] == '\r'))
			return true;
	return false;
}

START_TEST(signed_request_keys_and_token)
{
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_SESSION_TOKEN");
	setenv("AWS_CONFIG_FILE", "/dev/null", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null", 1);
	setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
	char req[8192];
	/* the Dataset's Secret first, its session token signed along */
	struct ufs_options o = {.s3_access_key = "AKIAFROMSECRET",
				.s3_secret_key = "secret-secret",
				.s3_session_token = "FwoGZXIvYXdzEJr//token+with/slashes=="};
	capture_stat(&o, req, sizeof(req));
	ck_assert_msg(strncmp(req, "HEAD /bkt/obj HTTP/1.1\r\n", 24) == 0, "%s", req);
	ck_assert_msg(
	    has_header(req, "x-amz-security-token: FwoGZXIvYXdzEJr//token+with/slashes=="), "%s",
	    req);
	ck_assert_msg(has_header(req, "x-amz-content-sha256: UNSIGNED-PAYLOAD"), "%s", req);
	const char *auth = strcasestr(req, "\r\nAuthorization: AWS4-HMAC-SHA256 ");
	ck_assert_msg(auth, "%s", req);
	ck_assert_msg(strstr(auth, "Credential=AKIAFROMSECRET/"), "%s", req);
	ck_assert_msg(strstr(auth, "/eu-west-3/s3/aws4_request"), "%s", req);
	const char *sh = strstr(auth, "SignedHeaders=");
	ck_assert_ptr_nonnull(sh);
	char signed_headers[300];
	snprintf(signed_headers, sizeof(signed_headers), "%.*s", (int)strcspn(sh, ",\r"), sh);
	ck_assert_msg(strstr(signed_headers, "x-amz-security-token") &&
			  strstr(signed_headers, "x-amz-content-sha256") &&
			  strstr(signed_headers, "x-amz-date") && strstr(signed_headers, "host"),
		      "%s", signed_headers);
	ck_assert_msg(!strstr(req, "secret-secret") && !strstr(req, "env-secret"), "%s", req);
	/* no Secret: the environment's keys, and no token header */
	capture_stat(NULL, req, sizeof(req));
	ck_assert_msg(strstr(req, "Credential=AKIAFROMENV/"), "%s", req);
	ck_assert_msg(!strcasestr(req, "x-amz-security-token"), "%s", req);
	/* the environment's session token goes along with the environment's keys */
	setenv("AWS_SESSION_TOKEN", "env-token", 1);
	capture_stat(NULL, req, sizeof(req));
	ck_assert_msg(has_header(req, "x-amz-security-token: env-token"), "%s", req);
	/* a Secret without a token does not borrow the environment's */
	struct ufs_options o2 = {.s3_access_key = "AKIAFROMSECRET", .s3_secret_key = "s"};
	capture_stat(&o2, req, sizeof(req));
	ck_assert_msg(strstr(req, "Credential=AKIAFROMSECRET/"), "%s", req);
	ck_assert_msg(!strcasestr(req, "x-amz-security-token"), "%s", req);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
}
END_TEST

/* A rotated Secret: the requests that start after ufs_set_keys carry the new keys, a ranged
 * read's If-Match along with them; the token goes when the new keys have none. */
START_TEST(rotated_keys_sign_new_requests)
{
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	setenv("AWS_CONFIG_FILE", "/dev/null", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null", 1);
	struct capture c;
	char url[200], err[512] = "";
	capture_start(&c, 5, url, sizeof(url));
	struct ufs_options o = {.s3_access_key = "AKIAOLDKEY", .s3_secret_key = "old-secret"};
	struct ufs *u = NULL;
	ck_assert_msg(ufs_new(url, &o, &u, err, sizeof(err)) == 0, "%s", err);
	struct ufs_attr at;
	ck_assert_int_eq(ufs_stat(u, "/obj", &at), 0);
	ck_assert_int_eq(ufs_set_keys(u, "AKIANEWKEY", "new-secret", "tok/en+1=="), 0);
	ck_assert_int_eq(ufs_stat(u, "/obj", &at), 0);
	char buf[8] = "";
	ck_assert_int_eq(ufs_read(u, "/obj", 0, 5, buf, &at), 5);
	ck_assert_mem_eq(buf, "hello", 5);
	ck_assert_int_eq(ufs_set_keys(u, "AKIATHIRDKEY", "third-secret", NULL), 0);
	ck_assert_int_eq(ufs_stat(u, "/obj", &at), 0);
	/* refused: what is not a pair of keys, or longer than S3 takes; the keys stay */
	ck_assert_int_eq(ufs_set_keys(u, "AKIAX", "", NULL), -EINVAL);
	ck_assert_int_eq(ufs_set_keys(u, NULL, "s", NULL), -EINVAL);
	char longkey[200];
	memset(longkey, 'K', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	ck_assert_int_eq(ufs_set_keys(u, longkey, "s", NULL), -EINVAL);
	char cause[sizeof(u->last_error)];
	ufs_error_copy(u, cause, sizeof(cause));
	ck_assert_msg(!strstr(cause, longkey), "%s", cause);
	/* a refused read says why, naming the object and the server's Code */
	struct ufs_attr da = {.size = 5};
	snprintf(da.etag, sizeof(da.etag), "\"e1\"");
	ck_assert_int_eq(ufs_read(u, "/denied", 0, 5, buf, &da), -EACCES);
	ufs_error_copy(u, cause, sizeof(cause));
	ck_assert_msg(strstr(cause, "/bkt/denied: InvalidAccessKeyId: The AWS Access Key Id "
				    "you provided does not exist in our records. (HTTP 403)"),
		      "%s", cause);
	ufs_free(u);
	capture_stop(&c);
	ck_assert_msg(strstr(c.req[0], "Credential=AKIAOLDKEY/"), "%s", c.req[0]);
	ck_assert_msg(!strcasestr(c.req[0], "x-amz-security-token"), "%s", c.req[0]);
	ck_assert_msg(strncmp(c.req[1], "HEAD ", 5) == 0, "%s", c.req[1]);
	ck_assert_msg(strstr(c.req[1], "Credential=AKIANEWKEY/"), "%s", c.req[1]);
	ck_assert_msg(has_header(c.req[1], "x-amz-security-token: tok/en+1=="), "%s", c.req[1]);
	ck_assert_msg(strncmp(c.req[2], "GET /bkt/obj ", 13) == 0, "%s", c.req[2]);
	ck_assert_msg(strstr(c.req[2], "Credential=AKIANEWKEY/"), "%s", c.req[2]);
	ck_assert_msg(has_header(c.req[2], "If-Match: \"e1\""), "%s", c.req[2]);
	ck_assert_msg(has_header(c.req[2], "x-amz-security-token: tok/en+1=="), "%s", c.req[2]);
	ck_assert_msg(has_header(c.req[2], "x-amz-content-sha256: UNSIGNED-PAYLOAD"), "%s",
		      c.req[2]);
	ck_assert_msg(strstr(c.req[3], "Credential=AKIATHIRDKEY/"), "%s", c.req[3]);
	ck_assert_msg(!strcasestr(c.req[3], "x-amz-security-token"), "%s", c.req[3]);
	ck_assert_msg(strstr(c.req[4], "Credential=AKIATHIRDKEY/"), "%s", c.req[4]);
	for (int i = 0; i < 5; i++)
		ck_assert_msg(!strstr(c.req[i], "secret"), "request %d shows a secret key: %s", i,
			      c.req[i]);
	/* a backend that signs nothing has no keys to rotate */
	ck_assert_int_eq(ufs_new("local:///tmp", NULL, &u, err, sizeof(err)), 0);
	ck_assert_int_eq(ufs_set_keys(u, "AKIAX", "s", NULL), -EOPNOTSUPP);
	ufs_free(u);
}
END_TEST

/* One captured request for sigv4_botocore.py: as a JSON line, with what was asked of it. */
struct asked {
	const char *key;		 /* an object request's key; NULL for a list */
	const char *prefix, *token;	 /* a list's, token NULL on its first page */
};

static void record_write(FILE *f, const char *req, const struct ufs_options *keys,
			 const struct asked *a)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "req", json_object_new_string(req));
	json_object_object_add(o, "access_key", json_object_new_string(keys->s3_access_key));
	json_object_object_add(o, "secret", json_object_new_string(keys->s3_secret_key));
	json_object_object_add(
	    o, "token",
	    keys->s3_session_token ? json_object_new_string(keys->s3_session_token) : NULL);
	json_object_object_add(o, "region", json_object_new_string("eu-west-3"));
	json_object_object_add(o, "bucket", json_object_new_string("bkt"));
	if (a->key) {
		json_object_object_add(o, "key", json_object_new_string(a->key));
	} else {
		json_object_object_add(o, "prefix", json_object_new_string(a->prefix));
		json_object_object_add(o, "page_token",
				       a->token ? json_object_new_string(a->token) : NULL);
	}
	fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

/* Runs sigv4_botocore.py on n records of the requests reqs; returns its exit status, its
 * output in out. */
static int botocore_check(char (*reqs)[8192], const struct asked *asked, int n,
			  const struct ufs_options *keys, char *out, size_t outlen)
{
	const char *script = getenv("WEIR_SIGV4_CHECK");
	ck_assert_msg(script && *script, "WEIR_SIGV4_CHECK (the path of "
					 "tests/helpers/sigv4_botocore.py) is not set: run the "
					 "suite with meson test");
	char path[] = "/tmp/weir-sigv4-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < n; i++)
		record_write(f, reqs[i], keys, &asked[i]);
	ck_assert_int_eq(fclose(f), 0);
	char cmd[PATH_MAX * 2];
	snprintf(cmd, sizeof(cmd), "python3 '%s' '%s' 2>&1", script, path);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	size_t len = fread(out, 1, outlen - 1, p);
	out[len] = '\0';
	int st = pclose(p);
	unlink(path);
	ck_assert_msg(WIFEXITED(st), "%s: %d", cmd, st);
	return WEXITSTATUS(st);
}

/* Keys S3 allows that URL encoding gets wrong one way or another: spaces (leading, trailing,
 * double), UTF-8, '~' (unreserved: never encoded), '+' (a space in forms, not here), '%', and
 * every reserved character of RFC 3986. */
static const char *const signed_keys[] = {
    "a b/c.txt",
    " lead/trail /two  spaces",
    "x+y=z&w",
    "100%/~_-.",
    "\xc3\xa9t\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.bin",
    "q?h#s;c:@!*'()[]$,",
    "tilde~/plus+/star*/%41",
};

/* Every request weir signs (a stat, a ranged read with its If-Match, both pages of a list, with
 * a session token) has the path, the query and the signature that botocore, AWS's Python
 * implementation, computes for the same request (tests/helpers/sigv4_botocore.py). The same
 * requests with another secret, or another key named, must differ there. */
START_TEST(signatures_agree_with_botocore)
{
	unsetenv("AWS_PROFILE");
	setenv("AWS_CONFIG_FILE", "/dev/null", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null", 1);
	enum { NKEYS = sizeof(signed_keys) / sizeof(signed_keys[0]), N = NKEYS * 2 + 2 };
	_Static_assert(N <= CAPTURE_MAX, "more requests than the capture holds");
	struct capture c;
	char url[200], err[512] = "";
	capture_start(&c, N, url, sizeof(url));
	struct ufs_options o = {.s3_access_key = "AKIAEXAMPLEKEY",
				.s3_secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
				.s3_session_token = "FwoGZXIvYXdzEJr//token+with/slashes=="};
	struct ufs *u = NULL;
	ck_assert_msg(ufs_new(url, &o, &u, err, sizeof(err)) == 0, "%s", err);
	struct asked asked[N];
	for (int i = 0; i < NKEYS; i++) {
		char path[256];
		snprintf(path, sizeof(path), "/%s", signed_keys[i]);
		struct ufs_attr at;
		ck_assert_msg(ufs_stat(u, path, &at) == 0, "stat of %s", path);
		char buf[8];
		ck_assert_int_eq(ufs_read(u, path, 0, 5, buf, &at), 5);
		asked[2 * i] = asked[2 * i + 1] = (struct asked){.key = signed_keys[i]};
	}
	struct ufs_dirent *ents = NULL;
	size_t nents = 0;
	ck_assert_int_eq(ufs_list(u, "/d \xc3\xa9+", &ents, &nents), 0);
	ck_assert_uint_eq(nents, 2);
	ufs_dirents_free(ents, nents);
	asked[N - 2] = (struct asked){.prefix = LIST_DIR};
	asked[N - 1] = (struct asked){.prefix = LIST_DIR, .token = LIST_TOKEN};
	ufs_free(u);
	capture_stop(&c);

	char out[16384];
	int st = botocore_check(c.req, asked, N, &o, out, sizeof(out));
	ck_assert_msg(st == 0, "botocore disagrees (exit %d):\n%s", st, out);
	char agree[64];
	snprintf(agree, sizeof(agree), "%d of %d requests agree with botocore", N, N);
	ck_assert_msg(strstr(out, agree), "%s", out);

	/* the check can fail: another secret, another key named for a request, another token asked
	 * for, a session token sent unsigned, a list query out of canonical order */
	struct ufs_options other = o;
	other.s3_secret_key = "not-the-secret";
	asked[0].key = "a+b/c.txt";
	asked[N - 1].token = "1/x y= ~*\xc3\xa9&z";
	static char bad[N][8192];
	memcpy(bad, c.req, sizeof(bad));
	char *sh = strstr(bad[1], ";x-amz-security-token,");
	ck_assert_msg(sh, "%s", bad[1]);
	memmove(sh, sh + strlen(";x-amz-security-token"),
		strlen(sh + strlen(";x-amz-security-token")) + 1);
	char *q = strstr(bad[N - 2], "?delimiter=%2F&encoding-type=url");
	ck_assert_msg(q, "%s", bad[N - 2]);
	memcpy(q, "?encoding-type=url&delimiter=%2F", strlen("?encoding-type=url&delimiter=%2F"));
	st = botocore_check(bad, asked, N, &other, out, sizeof(out));
	ck_assert_msg(st == 1, "exit %d:\n%s", st, out);
	snprintf(agree, sizeof(agree), "0 of %d requests agree with botocore", N);
	ck_assert_msg(strstr(out, agree) && strstr(out, "botocore's '/bkt/a%2Bb/c.txt'"), "%s", out);
	ck_assert_msg(strstr(out, "'continuation-token': '1/x+y= ~*"), "%s", out);
	ck_assert_msg(strstr(out, "['x-amz-security-token'] sent but not signed"), "%s", out);
	ck_assert_msg(strstr(out, "query 'encoding-type=url&delimiter=%2F&list-type=2"), "%s", out);
}
END_TEST

/* Keys rotated while a request was on its way, which the server then refuses (401/403): it is
 * asked again, once, with the new keys, a stat and a read alike; no reader sees the refusal. */
START_TEST(keys_rotated_mid_request_asked_again)
{
	unsetenv("AWS_PROFILE");
	setenv("AWS_CONFIG_FILE", "/dev/null", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null", 1);
	struct capture c;
	char url[200], err[512] = "";
	struct ufs_options o = {.s3_access_key = "AKIABEFORE", .s3_secret_key = "before-secret"};
	struct ufs *u = NULL;
	capture_start(&c, 4, url, sizeof(url));
	ck_assert_msg(ufs_new(url, &o, &u, err, sizeof(err)) == 0, "%s", err);
	c.rotate = u;
	struct ufs_attr at;
	ck_assert_int_eq(ufs_stat(u, "/obj", &at), 0);
	ck_assert_uint_eq(at.size, 5);
	/* back to the old keys: the server rotates them again under the read */
	ck_assert_int_eq(ufs_set_keys(u, "AKIABEFORE", "before-secret", NULL), 0);
	char buf[8] = "";
	ck_assert_int_eq(ufs_read(u, "/obj", 0, 5, buf, &at), 5);
	ck_assert_mem_eq(buf, "hello", 5);
	ufs_free(u);
	capture_stop(&c);
	for (int i = 0; i < 4; i++)
		ck_assert_msg(
		    strstr(c.req[i], i % 2 ? "Credential=AKIAAFTER/" : "Credential=AKIABEFORE/"),
		    "request %d: %s", i, c.req[i]);
	ck_assert_msg(strncmp(c.req[2], "GET ", 4) == 0 && strncmp(c.req[3], "GET ", 4) == 0,
		      "%s\n%s", c.req[2], c.req[3]);
}
END_TEST

Suite *s3_suite(void)
{
	Suite *s = suite_create("s3");
	TCase *tc = tcase_create("xml");
	tcase_add_test(tc, list_page_objects_and_prefixes);
	tcase_add_test(tc, list_page_continuation);
	tcase_add_test(tc, list_page_malformed);
	tcase_add_test(tc, list_page_hostile);
	tcase_add_test(tc, list_page_url_encoded);
	tcase_add_test(tc, list_page_many);
	tcase_add_test(tc, error_bodies);
	tcase_add_test(tc, times);
	suite_add_tcase(s, tc);
	TCase *tu = tcase_create("url");
	tcase_add_test(tu, key_encoding);
	tcase_add_test(tu, list_query_sorted);
	tcase_add_test(tu, bucket_urls);
	tcase_add_test(tu, signed_request_keys_and_token);
	tcase_add_test(tu, rotated_keys_sign_new_requests);
	tcase_add_test(tu, keys_rotated_mid_request_asked_again);
	tcase_add_test(tu, signatures_agree_with_botocore);
	suite_add_tcase(s, tu);
	return s;
}
