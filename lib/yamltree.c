// SPDX-License-Identifier: Apache-2.0
// YAML/JSON to a generic tree and back to YAML text, with libyaml's event API; every limit in
// yamltree.h is enforced while parsing so no input can exhaust memory or the stack.
#include "yamltree.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

struct builder {
	struct yamltree_node *stack[YAMLTREE_MAX_DEPTH];
	size_t depth;
	size_t nodes;
	struct yamltree_node *root;
	char *errbuf;
	size_t errlen;
};

static struct yamltree_node *node_new(enum yamltree_type type, unsigned line)
{
	struct yamltree_node *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->type = type;
	n->line = line;
	return n;
}

void yamltree_node_free(struct yamltree_node *node)
{
	if (!node)
		return;
	/* While a map is being built n counts items, afterwards pairs; unused slots are NULL. */
	size_t items = node->type == YAMLTREE_MAP ? node->n * 2 : node->n;
	if (items > node->cap_)
		items = node->cap_;
	for (size_t i = 0; i < items; i++)
		yamltree_node_free(node->items[i]);
	free(node->items);
	free(node->scalar);
	free(node);
}

void yamltree_docs_free(struct yamltree_docs *docs)
{
	if (!docs)
		return;
	for (size_t i = 0; i < docs->n; i++)
		yamltree_node_free(docs->docs[i].root);
	free(docs->docs);
	free(docs);
}

/* Appends a raw item; maps are fixed up to pair counts when closed. */
static int node_append(struct yamltree_node *parent, struct yamltree_node *child)
{
	if (parent->n == parent->cap_) {
		size_t cap = parent->cap_ ? parent->cap_ * 2 : 8;
		struct yamltree_node **items = realloc(parent->items, cap * sizeof(*items));
		if (!items)
			return -ENOMEM;
		/* Unused slots stay NULL so a half-built node can always be freed. */
		memset(items + parent->cap_, 0, (cap - parent->cap_) * sizeof(*items));
		parent->items = items;
		parent->cap_ = cap;
	}
	parent->items[parent->n++] = child;
	return 0;
}

__attribute__((format(printf, 4, 5))) static int set_err(struct builder *b, int err, unsigned line,
							 const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(b->errbuf, b->errlen, "line %u: %s", line, msg);
	return err;
}

static int key_cmp(const void *a, const void *b)
{
	const struct yamltree_node *ka = *(struct yamltree_node *const *)a;
	const struct yamltree_node *kb = *(struct yamltree_node *const *)b;
	return strcmp(ka->scalar, kb->scalar);
}

/* Closes a map: converts the raw item count to pairs and rejects duplicate keys. */
static int map_close(struct builder *b, struct yamltree_node *map)
{
	size_t pairs = map->n / 2;
	map->n = pairs;
	if (pairs < 2)
		return 0;
	struct yamltree_node **keys = malloc(pairs * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < pairs; i++)
		keys[i] = map->items[2 * i];
	qsort(keys, pairs, sizeof(*keys), key_cmp);
	int r = 0;
	for (size_t i = 1; i < pairs; i++) {
		if (strcmp(keys[i - 1]->scalar, keys[i]->scalar) == 0) {
			unsigned line =
			    keys[i]->line > keys[i - 1]->line ? keys[i]->line : keys[i - 1]->line;
			r = set_err(b, -EINVAL, line, "duplicate key \"%s\"", keys[i]->scalar);
			break;
		}
	}
	free(keys);
	return r;
}

static int builder_add(struct builder *b, struct yamltree_node *node)
{
	if (++b->nodes > YAMLTREE_MAX_NODES) {
		unsigned line = node->line;
		yamltree_node_free(node);
		return set_err(b, -E2BIG, line, "more than %d nodes in the file",
			       YAMLTREE_MAX_NODES);
	}
	if (b->depth == 0) {
		b->root = node;
		return 0;
	}
	struct yamltree_node *parent = b->stack[b->depth - 1];
	if (parent->type == YAMLTREE_MAP && parent->n % 2 == 0 && node->type != YAMLTREE_SCALAR) {
		unsigned line = node->line;
		yamltree_node_free(node);
		return set_err(b, -EINVAL, line, "%s", "map keys must be scalars");
	}
	int r = node_append(parent, node);
	if (r < 0) {
		yamltree_node_free(node);
		return r;
	}
	return 0;
}

static bool tag_is_str(const yaml_char_t *tag)
{
	return tag && (strcmp((const char *)tag, YAML_STR_TAG) == 0 ||
		       strcmp((const char *)tag, "!!str") == 0);
}

static int handle_event(struct builder *b, yaml_event_t *ev)
{
	unsigned line = ev->start_mark.line + 1;
	struct yamltree_node *n;
	int r;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		return set_err(b, -EINVAL, line, "aliases (*%s) are not supported",
			       (const char *)ev->data.alias.anchor);
	case YAML_SCALAR_EVENT:
		n = node_new(YAMLTREE_SCALAR, line);
		if (!n)
			return -ENOMEM;
		if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length)) {
			free(n);
			return set_err(b, -EINVAL, line, "%s", "NUL character in a scalar");
		}
		n->scalar = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
		if (!n->scalar) {
			free(n);
			return -ENOMEM;
		}
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
			   !tag_is_str(ev->data.scalar.tag);
		return builder_add(b, n);
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT:
		if (b->depth >= YAMLTREE_MAX_DEPTH)
			return set_err(b, -E2BIG, line, "nested deeper than %d levels",
				       YAMLTREE_MAX_DEPTH);
		n = node_new(ev->type == YAML_MAPPING_START_EVENT ? YAMLTREE_MAP : YAMLTREE_SEQ,
			     line);
		if (!n)
			return -ENOMEM;
		r = builder_add(b, n);
		if (r < 0)
			return r;
		b->stack[b->depth++] = n;
		return 0;
	case YAML_MAPPING_END_EVENT:
		r = map_close(b, b->stack[b->depth - 1]);
		b->depth--;
		return r;
	case YAML_SEQUENCE_END_EVENT:
		b->depth--;
		return 0;
	default:
		return 0;
	}
}

int yamltree_parse(const char *buf, size_t len, struct yamltree_docs **ret_docs, char *errbuf,
		   size_t errlen)
{
	struct builder b = {.errbuf = errbuf, .errlen = errlen};
	struct yamltree_docs *docs = NULL;
	yaml_parser_t parser;
	yaml_event_t ev;
	unsigned index = 0, doc_line = 0;
	bool done = false;
	int r = 0;

	if (len > YAMLTREE_MAX_BYTES) {
		snprintf(errbuf, errlen, "%zu bytes is more than the limit of %u", len,
			 YAMLTREE_MAX_BYTES);
		return -E2BIG;
	}
	docs = calloc(1, sizeof(*docs));
	if (!docs)
		return -ENOMEM;
	if (!yaml_parser_initialize(&parser)) {
		free(docs);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			snprintf(errbuf, errlen, "line %zu: %s%s%s", parser.problem_mark.line + 1,
				 parser.problem ? parser.problem : "syntax error",
				 parser.context ? " " : "", parser.context ? parser.context : "");
			r = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
			goto fail;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++index > YAMLTREE_MAX_DOCS) {
				r = set_err(&b, -E2BIG, ev.start_mark.line + 1,
					    "more than %d documents in the file",
					    YAMLTREE_MAX_DOCS);
				yaml_event_delete(&ev);
				goto fail;
			}
			doc_line = ev.start_mark.line + 1;
			break;
		case YAML_DOCUMENT_END_EVENT:
			if (b.root && !yamltree_is_null(b.root)) {
				struct yamltree_doc *d =
				    realloc(docs->docs, (docs->n + 1) * sizeof(*d));
				if (!d) {
					r = -ENOMEM;
					yaml_event_delete(&ev);
					goto fail;
				}
				docs->docs = d;
				d[docs->n++] = (struct yamltree_doc){index, doc_line, b.root};
			} else {
				yamltree_node_free(b.root);
			}
			b.root = NULL;
			break;
		default:
			r = handle_event(&b, &ev);
			break;
		}
		yaml_event_delete(&ev);
		if (r < 0)
			goto fail;
	}
	yaml_parser_delete(&parser);
	*ret_docs = docs;
	return 0;

fail:
	if (r == -ENOMEM)
		snprintf(errbuf, errlen, "out of memory");
	/* Nodes still on the stack are owned by b.root (or by a document already saved). */
	yamltree_node_free(b.root);
	yamltree_docs_free(docs);
	yaml_parser_delete(&parser);
	return r;
}

const struct yamltree_node *yamltree_get(const struct yamltree_node *map, const char *key)
{
	if (!map || map->type != YAMLTREE_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->items[2 * i]->scalar, key) == 0)
			return map->items[2 * i + 1];
	return NULL;
}

bool yamltree_is_null(const struct yamltree_node *node)
{
	if (!node || node->type != YAMLTREE_SCALAR || !node->plain)
		return false;
	const char *s = node->scalar;
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

static int from_json(json_object *obj, unsigned depth, struct yamltree_node **ret)
{
	struct yamltree_node *n;
	int r;

	if (depth > YAMLTREE_MAX_DEPTH)
		return -E2BIG;
	switch (json_object_get_type(obj)) {
	case json_type_object:
		n = node_new(YAMLTREE_MAP, 0);
		if (!n)
			return -ENOMEM;
		json_object_object_foreach(obj, key, val)
		{
			struct yamltree_node *k = node_new(YAMLTREE_SCALAR, 0), *v = NULL;
			if (!k || !(k->scalar = strdup(key))) {
				free(k);
				r = -ENOMEM;
				goto fail;
			}
			r = node_append(n, k);
			if (r < 0) {
				yamltree_node_free(k);
				goto fail;
			}
			r = from_json(val, depth + 1, &v);
			if (r < 0)
				goto fail;
			r = node_append(n, v);
			if (r < 0) {
				yamltree_node_free(v);
				goto fail;
			}
		}
		n->n /= 2;
		break;
	case json_type_array:
		n = node_new(YAMLTREE_SEQ, 0);
		if (!n)
			return -ENOMEM;
		for (size_t i = 0; i < json_object_array_length(obj); i++) {
			struct yamltree_node *v = NULL;
			r = from_json(json_object_array_get_idx(obj, i), depth + 1, &v);
			if (r < 0)
				goto fail;
			r = node_append(n, v);
			if (r < 0) {
				yamltree_node_free(v);
				goto fail;
			}
		}
		break;
	default:
		n = node_new(YAMLTREE_SCALAR, 0);
		if (!n)
			return -ENOMEM;
		n->plain = json_object_get_type(obj) != json_type_string;
		n->scalar = strdup(obj ? json_object_get_string(obj) : "null");
		if (!n->scalar) {
			free(n);
			return -ENOMEM;
		}
		break;
	}
	*ret = n;
	return 0;
fail:
	yamltree_node_free(n);
	return r;
}

int yamltree_from_json(json_object *obj, struct yamltree_node **ret)
{
	return from_json(obj, 0, ret);
}

/* ---- emitting ---- */

struct outbuf {
	char *data;
	size_t len, cap;
	bool oom;
};

static int out_write(void *data, unsigned char *buffer, size_t size)
{
	struct outbuf *o = data;
	if (o->len + size + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 1024;
		while (o->len + size + 1 > cap)
			cap *= 2;
		char *d = realloc(o->data, cap);
		if (!d) {
			o->oom = true;
			return 0;
		}
		o->data = d;
		o->cap = cap;
	}
	memcpy(o->data + o->len, buffer, size);
	o->len += size;
	o->data[o->len] = '\0';
	return 1;
}

/* A string that a YAML reader would resolve to null, a bool or a number must be quoted. */
static bool needs_quotes(const char *s)
{
	static const char *const words[] = {
	    "~",     "null", "Null",  "NULL",  "true", "True", "TRUE", "false", "False",
	    "FALSE", "y",    "Y",     "yes",   "Yes",  "YES",  "n",    "N",	"no",
	    "No",    "NO",   "on",    "On",    "ON",   "off",  "Off",  "OFF",	".inf",
	    ".Inf",  ".INF", "-.inf", "+.inf", ".nan", ".NaN", ".NAN", "=",	"<<",
	};
	if (!*s)
		return true;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(s, words[i]) == 0)
			return true;
	/* Numbers in any YAML 1.1/1.2 spelling (1_000, 1:20, 1e5, 0x1f, 0o17) and timestamps. */
	bool digit = false, numeric = true;
	for (const char *p = s; *p; p++) {
		digit |= *p >= '0' && *p <= '9';
		numeric &= !!strchr("0123456789_.:eE+-", *p);
	}
	if (digit && numeric)
		return true;
	const char *p = *s == '-' || *s == '+' ? s + 1 : s;
	if (p[0] == '0' && p[1] && strchr("xXoObB", p[1]))
		return true;
	return strlen(s) >= 5 && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
	       isdigit((unsigned char)s[2]) && isdigit((unsigned char)s[3]) && s[4] == '-';
}

static int emit_scalar(yaml_emitter_t *em, const char *s, bool is_string)
{
	yaml_event_t ev;
	yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
	if (is_string && needs_quotes(s))
		style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s),
					  !is_string || style == YAML_ANY_SCALAR_STYLE, 1, style))
		return -ENOMEM;
	return yaml_emitter_emit(em, &ev) ? 0 : -EINVAL;
}

static int emit_json(yaml_emitter_t *em, json_object *obj, unsigned depth)
{
	yaml_event_t ev;
	int r;

	if (depth > YAMLTREE_MAX_DEPTH)
		return -E2BIG;
	switch (json_object_get_type(obj)) {
	case json_type_object:
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
		if (!yaml_emitter_emit(em, &ev))
			return -EINVAL;
		json_object_object_foreach(obj, key, val)
		{
			r = emit_scalar(em, key, true);
			if (r < 0)
				return r;
			r = emit_json(em, val, depth + 1);
			if (r < 0)
				return r;
		}
		yaml_mapping_end_event_initialize(&ev);
		return yaml_emitter_emit(em, &ev) ? 0 : -EINVAL;
	case json_type_array:
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
		if (!yaml_emitter_emit(em, &ev))
			return -EINVAL;
		for (size_t i = 0; i < json_object_array_length(obj); i++) {
			r = emit_json(em, json_object_array_get_idx(obj, i), depth + 1);
			if (r < 0)
				return r;
		}
		yaml_sequence_end_event_initialize(&ev);
		return yaml_emitter_emit(em, &ev) ? 0 : -EINVAL;
	case json_type_string:
		return emit_scalar(em, json_object_get_string(obj), true);
	case json_type_null:
		return emit_scalar(em, "null", false);
	default:
		return emit_scalar(em, json_object_get_string(obj), false);
	}
}

int yamltree_emit_json(json_object *obj, char **ret_text)
{
	struct outbuf out = {0};
	yaml_emitter_t em;
	yaml_event_t ev;
	int r = -EINVAL;

	if (!yaml_emitter_initialize(&em))
		return -ENOMEM;
	yaml_emitter_set_output(&em, out_write, &out);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1);
	yaml_emitter_set_indent(&em, 2);

	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	if (!yaml_emitter_emit(&em, &ev))
		goto out;
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	if (!yaml_emitter_emit(&em, &ev))
		goto out;
	r = emit_json(&em, obj, 0);
	if (r < 0)
		goto out;
	r = -EINVAL;
	yaml_document_end_event_initialize(&ev, 1);
	if (!yaml_emitter_emit(&em, &ev))
		goto out;
	yaml_stream_end_event_initialize(&ev);
	if (!yaml_emitter_emit(&em, &ev) || !yaml_emitter_flush(&em))
		goto out;
	r = 0;
out:
	yaml_emitter_delete(&em);
	if (out.oom)
		r = -ENOMEM;
	if (r < 0) {
		free(out.data);
		return r;
	}
	*ret_text = out.data ? out.data : strdup("");
	return *ret_text ? 0 : -ENOMEM;
}
