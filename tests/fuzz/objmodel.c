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
			for (size_t i = 0; i < l->n; i++)
				round_trip(l->items[i]);
			objmodel_list_free(l);
		}
	}
	free(text);
	return 0;
}
