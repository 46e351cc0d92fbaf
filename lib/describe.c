// SPDX-License-Identifier: Apache-2.0
// kubectl describe's layout for unstructured objects: a line per field, nested maps indented by
// two spaces, and tab-separated values aligned over each run of consecutive value lines.
#include "describe.h"
#include "redact.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct line {
	char *cell;  /* indentation + label + ':' */
	char *value; /* NULL for a line with no value column */
};

struct doc {
	struct line *lines;
	size_t n, cap;
	bool oom;
};

/* Adds a line: "label:" and a value, "label:" alone (a section), or a bare list item. */
static void add_line(struct doc *d, unsigned level, const char *label, bool colon,
		     const char *value)
{
	if (d->oom)
		return;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct line *l = realloc(d->lines, cap * sizeof(*l));
		if (!l) {
			d->oom = true;
			return;
		}
		d->lines = l;
		d->cap = cap;
	}
	struct line *l = &d->lines[d->n];
	l->value = NULL;
	if (asprintf(&l->cell, "%*s%s%s", (int)(level * 2), "", label, colon ? ":" : "") < 0) {
		d->oom = true;
		return;
	}
	if (value && !(l->value = strdup(value))) {
		free(l->cell);
		d->oom = true;
		return;
	}
	d->n++;
}

static void add(struct doc *d, unsigned level, const char *label, const char *value)
{
	add_line(d, level, label, true, value);
}

enum cclass { C_LOWER, C_UPPER, C_DIGIT, C_OTHER };

static enum cclass cls(char c)
{
	return islower((unsigned char)c)   ? C_LOWER
	       : isupper((unsigned char)c) ? C_UPPER
	       : isdigit((unsigned char)c) ? C_DIGIT
					   : C_OTHER;
}

char *describe_label(const char *field, char *buf, size_t len)
{
	static const char *const acronyms[] = {"API", "URL", "UID", "OSB", "GUID"};
	char parts[32][64];
	size_t np = 0, o = 0;

	for (const char *p = field; *p; p++)
		if (!isalpha((unsigned char)*p) && *p != '-')
			goto raw;
	/* Runs of one character class, then an upper run gives its last letter to a lower run
	 * that follows ("HTTPServer" → "HTTP" "Server"), as fatih/camelcase does. */
	for (const char *p = field; *p;) {
		const char *s = p;
		while (*p && cls(*p) == cls(*s))
			p++;
		if (np == 32 || (size_t)(p - s) >= sizeof(parts[0]))
			goto raw;
		snprintf(parts[np++], sizeof(parts[0]), "%.*s", (int)(p - s), s);
	}
	for (size_t i = 0; i + 1 < np; i++) {
		size_t l = strlen(parts[i]);
		if (l && cls(parts[i][0]) == C_UPPER && cls(parts[i + 1][0]) == C_LOWER &&
		    strlen(parts[i + 1]) + 1 < sizeof(parts[0])) {
			memmove(parts[i + 1] + 1, parts[i + 1], strlen(parts[i + 1]) + 1);
			parts[i + 1][0] = parts[i][l - 1];
			parts[i][l - 1] = '\0';
		}
	}
	buf[0] = '\0';
	for (size_t i = 0; i < np && o < len; i++) {
		char w[64];
		if (!parts[i][0] || !strcmp(parts[i], "_"))
			continue;
		memcpy(w, parts[i], sizeof(w));
		bool acr = false;
		for (size_t a = 0; a < sizeof(acronyms) / sizeof(acronyms[0]); a++)
			acr |= !strcasecmp(w, acronyms[a]);
		for (char *c = w; *c; c++)
			if (acr || c == w)
				*c = toupper((unsigned char)*c);
		o += snprintf(buf + o, len - o, "%s%s", o ? " " : "", w);
	}
	return buf;
raw:
	snprintf(buf, len, "%s", field);
	return buf;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void value_text(json_object *v, char *buf, size_t len)
{
	snprintf(buf, len, "%s", json_object_get_string(v) ? json_object_get_string(v) : "<nil>");
	redact_text(buf, len); /* a mountPoint or a status message may hold a URL's password */
}

static bool is_secret(json_object *obj)
{
	json_object *k = json_object_object_get(obj, "kind");
	return k && json_object_get_string(k) && !strcmp(json_object_get_string(k), "Secret");
}

/* A Secret's data, as kubectl shows it: each key as it is (a user's name, not a field's) with
 * the size of its value, never the value; a value the controller withheld shows as such. */
static void secret_data_lines(struct doc *d, unsigned level, json_object *data)
{
	size_t n = json_object_object_length(data), i = 0;
	const char **keys = calloc(n ? n : 1, sizeof(*keys));
	if (!keys) {
		d->oom = true;
		return;
	}
	json_object_object_foreach(data, k, v0)
	{
		(void)v0;
		keys[i++] = k;
	}
	qsort(keys, n, sizeof(*keys), key_cmp);
	for (i = 0; i < n; i++) {
		json_object *v = json_object_object_get(data, keys[i]);
		const char *b64 = json_object_get_string(v);
		char val[64];
		if (!v || !b64) {
			snprintf(val, sizeof(val), "<hidden>");
		} else { /* base64: 3 bytes per 4 characters, less its padding */
			size_t bl = strlen(b64), pad = 0;
			while (pad < 2 && bl > pad && b64[bl - 1 - pad] == '=')
				pad++;
			snprintf(val, sizeof(val), "%zu bytes", bl / 4 * 3 - pad);
		}
		add(d, level, keys[i], val);
	}
	free(keys);
}

static void content(struct doc *d, unsigned level, json_object *obj, bool top)
{
	size_t n = json_object_object_length(obj), i = 0;
	const char **keys = calloc(n ? n : 1, sizeof(*keys));
	char label[256], val[1024];
	if (!keys) {
		d->oom = true;
		return;
	}
	json_object_object_foreach(obj, k, v0)
	{
		(void)v0;
		keys[i++] = k;
	}
	qsort(keys, n, sizeof(*keys), key_cmp);
	for (i = 0; i < n; i++) {
		json_object *v = json_object_object_get(obj, keys[i]);
		describe_label(keys[i], label, sizeof(label));
		if (json_object_is_type(v, json_type_object)) {
			if (top && !strcmp(keys[i], "data") && is_secret(obj)) {
				add(d, level, label, NULL);
				secret_data_lines(d, level + 1, v);
				continue;
			}
			if (top && !strcmp(keys[i], "metadata")) {
				/* Shown above, as kubectl does: name, namespace, labels,
				 * annotations. */
				json_object *m = json_object_new_object();
				json_object_object_foreach(v, mk, mv)
				{
					if (strcmp(mk, "name") && strcmp(mk, "namespace") &&
					    strcmp(mk, "labels") && strcmp(mk, "annotations"))
						json_object_object_add(m, mk, json_object_get(mv));
				}
				add(d, level, label, NULL);
				if (m)
					content(d, level + 1, m, false);
				json_object_put(m);
				continue;
			}
			add(d, level, label, NULL);
			content(d, level + 1, v, false);
		} else if (json_object_is_type(v, json_type_array)) {
			add(d, level, label, NULL);
			for (size_t j = 0; j < json_object_array_length(v); j++) {
				json_object *c = json_object_array_get_idx(v, j);
				if (json_object_is_type(c, json_type_object)) {
					content(d, level + 1, c, false);
				} else {
					value_text(c, val, sizeof(val));
					add_line(d, level + 1, val, false, NULL);
				}
			}
		} else {
			value_text(v, val, sizeof(val));
			add(d, level, label, val);
		}
	}
	free(keys);
}

static void map_lines(struct doc *d, const char *label, const struct kvmap *m)
{
	if (!m->n) {
		add(d, 0, label, "<none>");
		return;
	}
	const char **keys = calloc(m->n, sizeof(*keys));
	if (!keys) {
		d->oom = true;
		return;
	}
	for (size_t i = 0; i < m->n; i++)
		keys[i] = m->items[i].key;
	qsort(keys, m->n, sizeof(*keys), key_cmp);
	for (size_t i = 0; i < m->n; i++) {
		const char *v = "";
		char *kv = NULL;
		for (size_t j = 0; j < m->n; j++)
			if (!strcmp(m->items[j].key, keys[i]))
				v = m->items[j].value;
		if (asprintf(&kv, "%s%s%s", keys[i], label[0] == 'L' ? "=" : ": ", v) < 0) {
			d->oom = true;
			break;
		}
		add(d, 0, i == 0 ? label : "", kv);
		if (i > 0 && !d->oom)
			d->lines[d->n - 1].cell[0] =
			    '\0'; /* a continuation line: no label, no ':' */
		free(kv);
	}
	free(keys);
}

int describe_object(const struct objmodel *obj, char **ret_text)
{
	struct doc d = {0};
	json_object *j = NULL;
	int r = objmodel_to_json(obj, &j);
	if (r < 0)
		return r;
	add(&d, 0, "Name", obj->meta.name);
	if (obj->kind != OBJMODEL_NAMESPACE)
		add(&d, 0, "Namespace", obj->meta.namespace);
	map_lines(&d, "Labels", &obj->meta.labels);
	map_lines(&d, "Annotations", &obj->meta.annotations);
	content(&d, 0, j, true);
	add(&d, 0, "Events", "<none>");
	json_object_put(j);

	/* Align each run of consecutive value lines, as tabwriter does (padding 2). */
	size_t total = 1;
	for (size_t i = 0; i < d.n; i++)
		total +=
		    strlen(d.lines[i].cell) + (d.lines[i].value ? strlen(d.lines[i].value) : 0);
	char *out = d.oom ? NULL : malloc(total + d.n * 260);
	char *p = out;
	for (size_t i = 0; out && i < d.n;) {
		size_t end = i, w = 0;
		while (end < d.n && d.lines[end].value) {
			if (strlen(d.lines[end].cell) > w)
				w = strlen(d.lines[end].cell);
			end++;
		}
		if (end == i) {
			p += sprintf(p, "%s\n", d.lines[i].cell);
			i++;
			continue;
		}
		if (w > 256)
			w = 256;
		for (; i < end; i++)
			p += sprintf(p, "%-*s%s\n", (int)w + 2, d.lines[i].cell, d.lines[i].value);
	}
	for (size_t i = 0; i < d.n; i++) {
		free(d.lines[i].cell);
		free(d.lines[i].value);
	}
	free(d.lines);
	if (!out)
		return -ENOMEM;
	*ret_text = out;
	return 0;
}
