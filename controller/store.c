// SPDX-License-Identifier: Apache-2.0
// Backend-independent parts of the store: closing and freeing listings.
#include "store.h"

#include <stdlib.h>

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
