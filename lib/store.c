// SPDX-License-Identifier: Apache-2.0
// Backend-independent parts of the store: closing, freeing listings, loading the objects.
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void store_close(struct store *st)
{
	if (st)
		st->ops->close(st);
}

void store_list_free(struct store_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].kind);
		free(l->items[i].namespace);
		free(l->items[i].name);
		free(l->items[i].json);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

int store_load_models(struct store *st, const char *kind, struct objmodel_list **ret, char *errbuf,
		      size_t errlen)
{
	struct store_list sl = {0};
	int r = store_list(st, kind, NULL, &sl);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot list the store: %s", strerror(-r));
		return r;
	}
	struct objmodel_list *l = calloc(1, sizeof(*l));
	if (!l || (sl.n && !(l->items = calloc(sl.n, sizeof(*l->items))))) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < sl.n; i++) {
		char err[512];
		struct objmodel *o;
		r = objmodel_from_json(sl.items[i].json, &o, err, sizeof(err));
		if (r < 0) {
			snprintf(errbuf, errlen, "stored %s %s/%s does not parse: %s",
				 sl.items[i].kind, sl.items[i].namespace, sl.items[i].name, err);
			goto fail;
		}
		l->items[l->n++] = o;
	}
	store_list_free(&sl);
	*ret = l;
	return 0;
fail:
	if (r == -ENOMEM)
		snprintf(errbuf, errlen, "out of memory");
	store_list_free(&sl);
	objmodel_list_free(l);
	return r;
}
