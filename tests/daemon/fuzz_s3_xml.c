// SPDX-License-Identifier: Apache-2.0
// A bounded mutation fuzzer for S3's XML parsers: seeds (a listing, an error, hostile bodies) are
// flipped, cut, spliced and repeated for N rounds (argv[1], default 20000; seed argv[2]); every
// answer must be 0 with a consistent page or -EBADMSG/-ENOMEM, never a crash (ASan finds more).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3_xml.h"

static const char *const seeds[] = {
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/"
    "doc/2006-03-01/\"><Name>b</Name><IsTruncated>true</IsTruncated><NextContinuationToken>t"
    "</NextContinuationToken><Contents><Key>d/a b+c%.txt</Key><LastModified>2026-12-02T18:53:"
    "43.000Z</LastModified><ETag>&quot;e&quot;</ETag><Size>42</Size></Contents><CommonPrefixes>"
    "<Prefix>d/\xc3\xa9/</Prefix></CommonPrefixes></ListBucketResult>",
    "<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region &#34;x&#34; is wrong"
    "</Message><Region>us-east-1</Region></Error>",
    "<!DOCTYPE l [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]><ListBucketResult><Contents>"
    "<Key>&b;</Key><Size>1</Size></Contents></ListBucketResult>",
    "<ListBucketResult><Contents><Key>k</Key><Size>18446744073709551615</Size></Contents>"
    "</ListBucketResult>",
};

/* Fragments spliced in: markup that exercises the parser's odd corners. */
static const char *const frags[] = {
    "<",
    ">",
    "&",
    "&amp;",
    "&#0;",
    "&#x10FFFF;",
    "<![CDATA[x]]>",
    "<!--c-->",
    "<?pi x?>",
    "<Contents>",
    "</Contents>",
    "<Key>",
    "</Key>",
    "<Size>",
    "-1",
    "\xff\xfe",
    "\xc3",
    "<!ENTITY",
    "SYSTEM \"file:///etc/passwd\"",
    "xmlns:a=\"u\"",
    "<a:Key>",
    "]]>",
    "\0",
};

static unsigned long long rng;

static unsigned rnd(unsigned n)
{
	rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return n ? (unsigned)((rng >> 33) % n) : 0;
}

static size_t mutate(char *buf, size_t len, size_t cap)
{
	unsigned rounds = 1 + rnd(8);
	for (unsigned i = 0; i < rounds; i++) {
		switch (rnd(5)) {
		case 0: /* flip a byte */
			if (len)
				buf[rnd(len)] ^= (char)(1u << rnd(8));
			break;
		case 1: /* cut */
			if (len)
				len = rnd(len);
			break;
		case 2: { /* splice a fragment */
			const char *f = frags[rnd(sizeof(frags) / sizeof(frags[0]))];
			size_t fl = strlen(f) ? strlen(f) : 1, at = rnd(len + 1);
			if (len + fl < cap) {
				memmove(buf + at + fl, buf + at, len - at);
				memcpy(buf + at, f, fl);
				len += fl;
			}
			break;
		}
		case 3: { /* repeat a span */
			if (!len)
				break;
			size_t a = rnd(len), l = 1 + rnd(len - a);
			unsigned times = 1 + rnd(64);
			for (unsigned t = 0; t < times && len + l < cap; t++) {
				memmove(buf + a + l, buf + a, len - a);
				len += l;
			}
			break;
		}
		default: /* drop a span */
			if (len) {
				size_t a = rnd(len), l = rnd(len - a + 1);
				memmove(buf + a, buf + a + l, len - a - l);
				len -= l;
			}
		}
	}
	return len;
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
	rng = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
	size_t cap = 1u << 20;
	char *buf = malloc(cap);
	unsigned long accepted = 0;
	for (unsigned long i = 0; i < n; i++) {
		const char *s = seeds[rnd(sizeof(seeds) / sizeof(seeds[0]))];
		size_t len = strlen(s);
		memcpy(buf, s, len);
		len = mutate(buf, len, cap);
		struct s3_list_page p;
		int r = s3_xml_parse_list(buf, len, &p);
		if (r == 0) {
			accepted++;
			for (size_t k = 0; k < p.n_objects; k++)
				if (!p.objects[k].key || strlen(p.objects[k].key) > 1024) {
					fprintf(stderr, "round %lu: a bad key was accepted\n", i);
					return 1;
				}
			if (p.truncated && !p.next_token) {
				fprintf(stderr, "round %lu: truncated page without a token\n", i);
				return 1;
			}
			s3_list_page_clear(&p);
		} else if (r != -EBADMSG && r != -ENOMEM) {
			fprintf(stderr, "round %lu: s3_xml_parse_list returned %d\n", i, r);
			return 1;
		}
		struct s3_error e;
		r = s3_xml_parse_error(buf, len, &e);
		if (r != 0 && r != -EBADMSG) {
			fprintf(stderr, "round %lu: s3_xml_parse_error returned %d\n", i, r);
			return 1;
		}
	}
	printf("fuzz_s3_xml: %lu rounds, %lu pages accepted, no crash\n", n, accepted);
	free(buf);
	return 0;
}
