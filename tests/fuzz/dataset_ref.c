// SPDX-License-Identifier: Apache-2.0
// dataset://<namespace>/<name>[/<subpath>] references and the subpaths grants name: whatever
// is accepted is a DNS-shaped namespace and name and a subpath with no "." or ".." component.
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "objmodel.h"

static void check_subpath(const char *p)
{
	if (p[0] && p[0] != '/')
		abort();
	if (strstr(p, "/../") || strstr(p, "/./") || strstr(p, "//"))
		abort();
	size_t l = strlen(p);
	if ((l >= 3 && !strcmp(p + l - 3, "/..")) || (l >= 2 && !strcmp(p + l - 2, "/.")) ||
	    (l >= 1 && p[l - 1] == '/'))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	struct dataset_ref ref;
	char err[256];
	if (dataset_ref_parse(s, &ref, err, sizeof(err)) == 0) {
		if (!ref.namespace[0] || !ref.name[0] || strchr(ref.namespace, '/') ||
		    strchr(ref.name, '/') || strstr(ref.name, ".."))
			abort();
		check_subpath(ref.subpath);
	}
	char norm[4096];
	if (objmodel_subpath_normalize(s, norm, sizeof(norm)) == 0) {
		check_subpath(norm);
		/* normalizing is idempotent */
		char again[4096];
		if (objmodel_subpath_normalize(norm, again, sizeof(again)) != 0 ||
		    strcmp(norm, again))
			abort();
	}
	free(s);
	return 0;
}
