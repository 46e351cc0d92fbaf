// SPDX-License-Identifier: Apache-2.0
// A kube-apiserver watch stream, cut into reads at the places the input's first bytes choose:
// whatever arrives, events reach the callback whole and typed, or the parser says why not.
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kube_client.h"

static int on_event(void *arg, const char *type, json_object *obj)
{
	if (!type || !obj)
		abort();
	(*(unsigned long *)arg)++;
	/* touch the object as the store would */
	json_object *meta;
	if (json_object_object_get_ex(obj, "metadata", &meta))
		json_object_to_json_string(meta);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned long events = 0;
	struct kube_watch_parser p;
	if (kube_watch_parser_init(&p, "", on_event, &events) < 0)
		abort();
	size_t chunk = 1 + data[0] % 64, off = 2;
	int r = 0;
	while (off < size && r >= 0) {
		size_t n = size - off < chunk ? size - off : chunk;
		r = kube_watch_parser_feed(&p, (const char *)data + off, n);
		off += n;
		chunk = 1 + (chunk * 7 + data[1]) % 256;
	}
	if (strnlen(p.resource_version, sizeof(p.resource_version)) == sizeof(p.resource_version))
		abort();
	kube_watch_parser_clear(&p);
	return 0;
}
