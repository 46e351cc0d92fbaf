// SPDX-License-Identifier: Apache-2.0
// Redirect Locations and paths: a followed redirect has the root's origin (its normal form
// passes the check again, to itself), and decode(encode(path)) gives the path back.
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http_url.h"

static const char *const roots[] = {"http://good.example/data/", "https://u:p@good.example:8443/d/",
				    "http://[2001:db8::1]:8080/d/"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	char *s = fuzz_cstr(data + 1, size - 1);
	const char *root = roots[data[0] % 3];
	char *got = http_url_redirect(root, root, s);
	if (got) {
		char *again = http_url_redirect(root, got, got);
		if (!again)
			abort(); /* what was followed must still be on the origin */
		free(again);
		free(got);
	}
	char *e = http_url_escape(s, data[0] & 4);
	if (!e)
		abort();
	size_t n = 0, sl = strlen(s);
	char *d = http_url_unescape(e, strlen(e), &n);
	if (!d || n != sl || memcmp(d, s, sl) != 0)
		abort();
	free(d);
	free(e);
	free(s);
	return 0;
}
