// SPDX-License-Identifier: Apache-2.0
// Content-Range headers of range responses: what parses is consistent (first <= last < total).
#include <stdlib.h>

#include "fuzz.h"
#include "http_version.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	struct http_content_range r;
	if (http_version_parse_content_range(s, &r) == 0) {
		if (r.have_range && r.last < r.first)
			abort();
		if (r.have_range && r.have_total && r.last >= r.total)
			abort();
	}
	free(s);
	return 0;
}
