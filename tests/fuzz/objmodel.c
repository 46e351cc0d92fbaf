// SPDX-License-Identifier: Apache-2.0
// Manifests a user applies (YAML: Dataset, Runtime, DataLoad, Namespace, any kind) and the
// objects kube-apiserver returns (JSON). An object that parses validates, serializes and parses
// back to the same JSON: what is stored is what was applied.
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "objmodel.h"

static void round_trip(const struct objmodel *o)
{
	char err[512], *a = NULL, *b = NULL;
	struct objmodel *back = NULL;
	if (objmodel_to_json_string(o, false, &a) < 0)
		abort();
	if (objmodel_from_json(a, &back, err, sizeof(err)) < 0)
		abort(); /* we could not read what we wrote */
	if (objmodel_to_json_string(back, false, &b) < 0 || strcmp(a, b) != 0)
		abort();
	char *y = NULL;
	if (objmodel_to_yaml(o, &y) == 0)
		free(y);
	objmodel_free(back);
	free(a);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	log_state.max_level = LOG_CRIT;
	if (size < 1)
		return 0;
	char *text = fuzz_cstr(data + 1, size - 1);
	if (data[0] & 1) {
		struct objmodel *o = NULL;
		if (objmodel_from_json(text, &o, err, sizeof(err)) == 0) {
			objmodel_validate(o, err, sizeof(err));
			objmodel_free(o);
		}
	} else {
		struct objmodel_list *l = NULL;
		if (objmodel_parse_buffer("fuzz.yaml", text, size - 1, &l, err, sizeof(err)) >= 0) {
			for (size_t i = 0; i < l->n; i++) {
				/* A manifest without metadata.namespace gets one from `-n` (here the
				 * default) and is validated again where it is read back, the namespace
				 * then known (a DataLoad must name a Dataset of its own namespace): an
				 * object refused there is never stored, so it has no round trip. */
				struct objmodel *o = l->items[i];
				if (!o->meta.namespace_set) {
					o->meta.namespace_set = true;
					if (objmodel_validate(o, err, sizeof(err)) < 0)
						continue;
				}
				round_trip(o);
			}
			objmodel_list_free(l);
		}
	}
	free(text);
	return 0;
}
