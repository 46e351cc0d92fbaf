// SPDX-License-Identifier: Apache-2.0
// Tables in kubectl's shape. The padding reproduces text/tabwriter as kubectl configures it
// (minwidth 6, padding 3, spaces), so scripts that parse kubectl output parse ours.
#include "table.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantity.h"

#define TABLE_MIN_WIDTH 6
#define TABLE_PADDING 3

struct table {
	size_t ncols;
	size_t nrows; /* header included */
	size_t cap;
	char **cells; /* nrows * ncols */
};

struct table *table_new(size_t ncols, const char *const *headers)
{
	struct table *t = calloc(1, sizeof(*t));
	if (!t || ncols == 0) {
		free(t);
		return NULL;
	}
	t->ncols = ncols;
	if (table_add_row(t, headers) < 0) {
		table_free(t);
		return NULL;
	}
	return t;
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

int table_add_row(struct table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **c = realloc(t->cells, cap * t->ncols * sizeof(*c));
		if (!c)
			return -ENOMEM;
		t->cells = c;
		t->cap = cap;
	}
	char **row = t->cells + t->nrows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		row[i] = strdup(cells[i] ? cells[i] : "");
		if (!row[i]) {
			while (i--)
				free(row[i]);
			return -ENOMEM;
		}
	}
	t->nrows++;
	return 0;
}

/* Display width: count UTF-8 code points, as tabwriter counts runes. */
static size_t width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

int table_render(const struct table *t, char **ret_text)
{
	size_t *w = calloc(t->ncols, sizeof(*w));
	if (!w)
		return -ENOMEM;
	size_t total = 1;
	for (size_t c = 0; c < t->ncols; c++) {
		for (size_t r = 0; r < t->nrows; r++) {
			size_t cw = width(t->cells[r * t->ncols + c]);
			if (cw > w[c])
				w[c] = cw;
		}
		if (c + 1 < t->ncols) {
			w[c] += TABLE_PADDING;
			if (w[c] < TABLE_MIN_WIDTH)
				w[c] = TABLE_MIN_WIDTH;
		}
	}
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++)
			total += w[c] + strlen(t->cells[r * t->ncols + c]) + 1;
	char *out = malloc(total), *p = out;
	if (!out) {
		free(w);
		return -ENOMEM;
	}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			size_t n = strlen(cell);
			memcpy(p, cell, n);
			p += n;
			if (c + 1 < t->ncols)
				for (size_t k = width(cell); k < w[c]; k++)
					*p++ = ' ';
		}
		/* tabwriter trims nothing, but kubectl's last cell is unpadded: so are we. */
		*p++ = '\n';
	}
	*p = '\0';
	free(w);
	*ret_text = out;
	return 0;
}

char *table_format_age(int64_t s, char *buf, size_t len)
{
	if (s < -1) {
		snprintf(buf, len, "<invalid>");
		return buf;
	}
	if (s < 0)
		s = 0;
	int64_t m = s / 60, h = s / 3600, d = h / 24;
	if (s < 120)
		snprintf(buf, len, "%" PRId64 "s", s);
	else if (m < 10 && s % 60)
		snprintf(buf, len, "%" PRId64 "m%" PRId64 "s", m, s % 60);
	else if (m < 180)
		snprintf(buf, len, "%" PRId64 "m", m);
	else if (h < 8 && m % 60)
		snprintf(buf, len, "%" PRId64 "h%" PRId64 "m", h, m % 60);
	else if (h < 48)
		snprintf(buf, len, "%" PRId64 "h", h);
	else if (h < 24 * 8 && h % 24)
		snprintf(buf, len, "%" PRId64 "d%" PRId64 "h", d, h % 24);
	else if (h < 24 * 365 * 2)
		snprintf(buf, len, "%" PRId64 "d", d);
	else if (h < 24 * 365 * 8 && d % 365)
		snprintf(buf, len, "%" PRId64 "y%" PRId64 "d", d / 365, d % 365);
	else
		snprintf(buf, len, "%" PRId64 "y", d / 365);
	return buf;
}

static char *age(const struct objmodel *o, int64_t now, char *buf, size_t len)
{
	if (!o->meta.creation_timestamp)
		return strcpy(buf, "<unknown>");
	return table_format_age(now - o->meta.creation_timestamp, buf, len);
}

#define MAXCOLS 12
#define CELL 256

/* Builds a table from headers (a NULL entry is skipped) and a row callback. */
static int build(struct objmodel *const *objs, size_t n, enum objmodel_kind kind,
		 const char *const *hdr, size_t nh,
		 void (*row)(const struct objmodel *o, int64_t now, char cells[][CELL]),
		 int64_t now, bool all_ns, char **ret_text)
{
	const char *heads[MAXCOLS + 1];
	size_t cols = 0, count = 0;
	int r;
	if (all_ns)
		heads[cols++] = "NAMESPACE";
	for (size_t i = 0; i < nh; i++)
		if (hdr[i])
			heads[cols++] = hdr[i];
	for (size_t i = 0; i < n; i++)
		count += objs[i] && objs[i]->kind == kind;
	if (!count) {
		*ret_text = strdup("");
		return *ret_text ? 0 : -ENOMEM;
	}
	struct table *t = table_new(cols, heads);
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct objmodel *o = objs[i];
		char cells[MAXCOLS][CELL] = {{0}};
		const char *ptrs[MAXCOLS + 1];
		size_t c = 0;
		if (!o || o->kind != kind)
			continue;
		row(o, now, cells);
		if (all_ns)
			ptrs[c++] = o->meta.namespace;
		ptrs[c++] = o->meta.name;
		for (size_t k = 0; k < nh - 1; k++)
			if (hdr[k + 1])
				ptrs[c++] = cells[k];
		if ((r = table_add_row(t, ptrs)) < 0) {
			table_free(t);
			return r;
		}
	}
	r = table_render(t, ret_text);
	table_free(t);
	return r;
}

static void dataset_row(const struct objmodel *o, int64_t now, char cells[][CELL])
{
	const struct dataset_status *st = &o->dataset.status;
	if (st->ufs_total_known)
		quantity_format(st->ufs_total, cells[0], CELL);
	else if (st->phase == DATASET_PHASE_BOUND)
		strcpy(cells[0], "[Calculating]");
	if (st->cache_known) {
		quantity_format(st->cached, cells[1], CELL);
		quantity_format(st->cache_capacity, cells[2], CELL);
		if (st->ufs_total_known)
			dataset_cached_percentage(st, cells[3], CELL);
	}
	strcpy(cells[4], dataset_phase_name(st->phase));
	if (st->file_num_known)
		snprintf(cells[5], CELL, "%" PRIu64, st->file_num);
	if (st->hit_ratio_known)
		snprintf(cells[6], CELL, "%.1f%%", st->cache_hit_ratio * 100.0);
	/* how the cache is spread: nodes holding it, and the least and most one of them holds */
	if (st->spread_known) {
		char lo[16], hi[16];
		snprintf(cells[7], CELL, "%" PRIu32 " (%s-%s)", st->cache_nodes,
			 quantity_format(st->node_cached_min, lo, sizeof(lo)),
			 quantity_format(st->node_cached_max, hi, sizeof(hi)));
	}
	age(o, now, cells[8], CELL);
}

int table_datasets(struct objmodel *const *objs, size_t n, bool all_namespaces, bool wide,
		   int64_t now, char **ret_text)
{
	const char *hdr[] = {"NAME",
			     "UFS TOTAL SIZE",
			     "CACHED",
			     "CACHE CAPACITY",
			     "CACHED PERCENTAGE",
			     "PHASE",
			     wide ? "TOTAL FILES" : NULL,
			     wide ? "CACHE HIT RATIO" : NULL,
			     wide ? "CACHE NODES" : NULL,
			     "AGE"};
	return build(objs, n, OBJMODEL_DATASET, hdr, sizeof(hdr) / sizeof(hdr[0]), dataset_row, now,
		     all_namespaces, ret_text);
}

static void dataload_row(const struct objmodel *o, int64_t now, char cells[][CELL])
{
	const struct dataload *dl = &o->dataload;
	char b1[32], b2[32];
	snprintf(cells[0], CELL, "%s", dl->spec.dataset_name);
	strcpy(cells[1], dataload_phase_name(dl->status.phase));
	age(o, now, cells[2], CELL);
	if (dl->status.phase == DATALOAD_PHASE_COMPLETE ||
	    dl->status.phase == DATALOAD_PHASE_FAILED)
		table_format_age(dl->status.duration, cells[3], CELL);
	else
		strcpy(cells[3], "Unfinished");
	snprintf(cells[4], CELL, "%s/%s", quantity_format(dl->status.bytes_done, b1, sizeof(b1)),
		 quantity_format(dl->status.bytes_total, b2, sizeof(b2)));
}

int table_dataloads(struct objmodel *const *objs, size_t n, bool all_namespaces, bool wide,
		    int64_t now, char **ret_text)
{
	const char *hdr[] = {"NAME", "DATASET",	 "PHASE",
			     "AGE",  "DURATION", wide ? "PROGRESS" : NULL};
	return build(objs, n, OBJMODEL_DATALOAD, hdr, sizeof(hdr) / sizeof(hdr[0]), dataload_row,
		     now, all_namespaces, ret_text);
}

static void runtime_row(const struct objmodel *o, int64_t now, char cells[][CELL])
{
	const struct runtime *rt = &o->runtime;
	uint64_t cap = runtime_capacity(rt);
	size_t off = 0;
	snprintf(cells[0], CELL, "%s", o->kind_name);
	for (size_t i = 0; i < rt->n_levels; i++) {
		if (off < CELL - 8)
			off += snprintf(cells[1] + off, CELL - off, "%s%s", i ? "," : "",
					medium_type_name(rt->levels[i].medium));
	}
	quantity_format(cap, cells[2], CELL);
	if (rt->status.phase != RUNTIME_PHASE_NONE)
		quantity_format(rt->status.cached, cells[3], CELL);
	strcpy(cells[4], runtime_phase_name(rt->status.phase));
	snprintf(cells[5], CELL, "%" PRId32, rt->replicas);
	age(o, now, cells[6], CELL);
}

int table_runtimes(struct objmodel *const *objs, size_t n, bool all_namespaces, bool wide,
		   int64_t now, char **ret_text)
{
	const char *hdr[] = {
	    "NAME", "KIND", "TIERS", "CACHE CAPACITY", "CACHED", "PHASE", wide ? "REPLICAS" : NULL,
	    "AGE"};
	return build(objs, n, OBJMODEL_RUNTIME, hdr, sizeof(hdr) / sizeof(hdr[0]), runtime_row, now,
		     all_namespaces, ret_text);
}
