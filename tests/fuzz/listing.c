// SPDX-License-Identifier: Apache-2.0
// Directory listings from a hostile HTTP server: nginx HTML/JSON and Apache HTML. The first
// byte picks the format; whatever the body, every name handed back is one component.
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "listing.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = {NULL, "text/html", "application/json", "text/html"};
	if (size < 1)
		return 0;
	log_state.max_level = LOG_CRIT; /* a hostile body warns per entry */
	enum listing_format fmt = (enum listing_format)(data[0] & 3);
	struct ufs_dirent *v;
	size_t n;
	if (listing_parse((const char *)data + 1, size - 1, types[data[0] & 3],
			  data[0] & 4 ? "http://m.example:8080/a%20b/c/" : "https://m.example/",
			  fmt, &v, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(v[i].name);
		if (l == 0 || l > 255 || strchr(v[i].name, '/') || !strcmp(v[i].name, ".") ||
		    !strcmp(v[i].name, ".."))
			abort();
		for (size_t j = 0; j < i && n < 64; j++)
			if (!strcmp(v[i].name, v[j].name))
				abort();
	}
	ufs_dirents_free(v, n);
	return 0;
}
