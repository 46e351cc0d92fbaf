// SPDX-License-Identifier: Apache-2.0
// S3 request URLs in SigV4's canonical form. What must stay true: a key's bytes reach the server
// unchanged (UTF-8 as %XX, '+' as %2B, never a form-encoded space) and the query is sorted.
#include "s3_url.h"

#include "http_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *s3_url_escape(const char *s, bool keep_slash)
{
	return http_url_escape(s, keep_slash); /* curl's unreserved set is SigV4's: check_http_url */
}

char *s3_url_list(const char *bucket_url, const char *prefix, const char *token, unsigned max_keys)
{
	char *ep = s3_url_escape(prefix, false);
	char *et = token ? s3_url_escape(token, false) : NULL;
	char *url = NULL, mk[32] = "";
	if (ep && (!token || et)) {
		if (max_keys)
			snprintf(mk, sizeof(mk), "&max-keys=%u", max_keys);
		/* keys come URL-encoded (EncodingType, s3_xml_parse_list): one with a byte XML
		 * 1.0 cannot carry (U+0001..U+001F but tab, newline, CR) would fail its page */
		if (asprintf(&url,
			     "%s?%s%s%sdelimiter=%%2F&encoding-type=url&list-type=2%s&prefix=%s",
			     bucket_url, et ? "continuation-token=" : "", et ? et : "",
			     et ? "&" : "", mk, ep) < 0)
			url = NULL;
	}
	free(ep);
	free(et);
	return url;
}
