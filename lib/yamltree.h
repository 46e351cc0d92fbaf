/* SPDX-License-Identifier: Apache-2.0 */
/* A small generic tree of YAML (or JSON) documents, built with hard limits so hostile input fails
 * cleanly: size, document count, node count and depth are capped and aliases are rejected. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#define YAMLTREE_MAX_BYTES (4u << 20) /* a manifest file larger than this is rejected */
#define YAMLTREE_MAX_DOCS 256	      /* documents per file */
#define YAMLTREE_MAX_DEPTH 64	      /* nested maps/sequences */
#define YAMLTREE_MAX_NODES 200000     /* nodes per file */

enum yamltree_type {
	YAMLTREE_SCALAR,
	YAMLTREE_MAP,
	YAMLTREE_SEQ,
};

/* One node. A map stores its n pairs as items[2i] (key, always a scalar) and items[2i + 1]
 * (value); a sequence stores its n elements as items[i]. */
struct yamltree_node {
	enum yamltree_type type;
	unsigned line; /* 1-based line in the source, 0 when built from JSON */
	bool plain;    /* scalar written unquoted: may be null, a number or a bool */
	char *scalar;  /* scalar text, NUL-terminated, never NULL for a scalar */
	size_t n;      /* pairs (map) or elements (sequence) */
	struct yamltree_node **items;
	size_t cap_; /* private: allocated slots in items */
};

/* One document of a multi-document stream. index is 1-based and counts every document as
 * written, empty ones included (empty documents are not returned). */
struct yamltree_doc {
	unsigned index;
	unsigned line;
	struct yamltree_node *root;
};

struct yamltree_docs {
	size_t n;
	struct yamltree_doc *docs;
};

/* Parses a YAML stream of one or more documents. Returns 0 and an owned *ret_docs (free with
 * yamltree_docs_free), or -EINVAL (syntax, non-UTF-8, alias, duplicate key, non-scalar key),
 * -E2BIG (a limit above was passed) or -ENOMEM, with a message in errbuf that names the line. */
int yamltree_parse(const char *buf, size_t len, struct yamltree_docs **ret_docs, char *errbuf,
		   size_t errlen);

/* Frees the documents and their trees; accepts NULL. */
void yamltree_docs_free(struct yamltree_docs *docs);

/* Builds a tree from a json-c value (strings become quoted scalars, numbers, bools and null
 * plain ones). Returns 0 and an owned *ret (free with yamltree_node_free), -E2BIG when deeper
 * than YAMLTREE_MAX_DEPTH, or -ENOMEM. */
int yamltree_from_json(json_object *obj, struct yamltree_node **ret);

/* Frees a node and its children; accepts NULL. */
void yamltree_node_free(struct yamltree_node *node);

/* Looks a key up in a map node; returns the borrowed value or NULL (also when node is not a
 * map). */
const struct yamltree_node *yamltree_get(const struct yamltree_node *map, const char *key);

/* True for a plain scalar that YAML reads as null: "", "~", "null", "Null", "NULL". */
bool yamltree_is_null(const struct yamltree_node *node);

/* Renders a json-c value as block-style YAML text (the form `-o yaml` prints). Strings that
 * would read back as something else ("0.95", "true", "") are quoted. Returns 0 and an owned
 * NUL-terminated *ret_text (free()), or -ENOMEM / -EINVAL. */
int yamltree_emit_json(json_object *obj, char **ret_text);
