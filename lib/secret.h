/* SPDX-License-Identifier: Apache-2.0 */
/* The data of a v1 Secret (kind: Secret, `weir create secret generic`): keys and their values,
 * decoded from `data` (base64) and `stringData` (plain) with hard limits, so hostile manifests
 * fail with a message naming the key. What must stay true: a value never appears in a message,
 * and an object read back from weir-controller is redacted (its values are NULL). Pure logic, no
 * global state, reentrant. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "yamltree.h"

#define SECRET_MAX_BYTES (1u << 20) /* Kubernetes' limit on a Secret's data, all keys together */
#define SECRET_MAX_KEY 253
#define SECRET_TYPE_OPAQUE "Opaque"

struct secret_item {
	char *key;
	unsigned char *value; /* NUL-terminated for convenience; NULL: redacted (not shown) */
	size_t len;	      /* bytes of value, the NUL not counted */
};

struct secret {
	char *type; /* "Opaque" unless given */
	bool immutable;
	size_t n_items;
	struct secret_item *items; /* in the order written; stringData overrides data */
};

/* Decodes a Secret's `data` and `stringData` nodes (either may be NULL, not both) into *s
 * (zeroed by the caller). data values are strict base64 (RFC 4648 alphabet, padded) or null
 * (a redacted value, as weir-controller answers); stringData values are scalars. Keys are
 * [-._a-zA-Z0-9]{1,253}. Returns 0, or -EINVAL / -E2BIG (over SECRET_MAX_BYTES) / -ENOMEM with
 * errbuf naming the field ("data.access-key: not base64"), never a value. */
int secret_decode(const struct yamltree_node *data, const struct yamltree_node *string_data,
		  struct secret *s, char *errbuf, size_t errlen);

/* `data` as JSON: base64 values, or null for redacted ones. Returns a new object or NULL. */
json_object *secret_data_json(const struct secret *s);

/* The item named key (borrowed), or NULL. */
const struct secret_item *secret_find(const struct secret *s, const char *key);

/* True when some value is redacted (a Secret read back from weir-controller). */
bool secret_is_redacted(const struct secret *s);

/* Wipes the values (explicit_bzero) and frees everything in s; accepts a zeroed one. */
void secret_clear(struct secret *s);

/* Adds or replaces key with a copy of len bytes of value. Returns 0, -EINVAL (bad key; errbuf
 * says why) or -E2BIG (the Secret would pass SECRET_MAX_BYTES) or -ENOMEM. */
int secret_set(struct secret *s, const char *key, const void *value, size_t len, char *errbuf,
	       size_t errlen);

/* Is key a valid data key? */
bool secret_key_ok(const char *key);
