// SPDX-License-Identifier: Apache-2.0
// Bodies an S3 server returns: ListObjectsV2 pages, <Error> documents, their timestamps. A page
// that parses has keys and a token when truncated (libxml2 underneath: no entity expansion).
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "s3_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct s3_list_page p;
	if (s3_xml_parse_list((const char *)data, size, &p) == 0) {
		for (size_t i = 0; i < p.n_objects; i++)
			if (!p.objects[i].key)
				abort();
		if (p.truncated && !p.next_token)
			abort();
		s3_list_page_clear(&p);
	}
	struct s3_error e;
	if (s3_xml_parse_error((const char *)data, size, &e) == 0 &&
	    (strnlen(e.code, sizeof(e.code)) == sizeof(e.code)))
		abort();
	char *s = fuzz_cstr(data, size);
	int64_t t;
	s3_xml_parse_time(s, &t);
	free(s);
	return 0;
}
