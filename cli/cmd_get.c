// SPDX-License-Identifier: Apache-2.0
// weir get / weir describe: objects from weir-controller as kubectl shows them (tables from
// lib/table.h, -o yaml|json|wide, -w).
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "controller_client.h"
#include "dataload_watch.h"
#include "describe.h"
#include "objmodel.h"
#include "redact.h"
#include "table.h"
#include "yamltree.h"

enum output {
	OUT_TABLE,
	OUT_WIDE,
	OUT_YAML,
	OUT_JSON,
};

struct get_opts {
	const char *kind;
	bool only_alluxio;
	const char *name;
	const char *ns;
	bool all_ns;
	enum output out;
	bool watch;
};

static const char get_usage_text[] =
    "usage: weir get KIND [NAME] [-n NAMESPACE | -A] [-o wide|yaml|json] [-w]\n"
    "  KIND: dataset, runtime, alluxioruntime, dataload, namespace (plurals too)\n"
    "  -w: follow changes; for dataloads, follow running loads until they end\n";

static int parse_get(const char *cmd, int argc, char **argv, struct get_opts *o)
{
	memset(o, 0, sizeof(*o));
	const char *pos[3];
	int npos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-n") || !strcmp(a, "--namespace")) {
			if (++i >= argc)
				return -EINVAL;
			o->ns = argv[i];
		} else if (!strncmp(a, "--namespace=", 12)) {
			o->ns = a + 12;
		} else if (!strncmp(a, "-n", 2) && a[2]) {
			o->ns = a + 2;
		} else if (!strcmp(a, "-A") || !strcmp(a, "--all-namespaces")) {
			o->all_ns = true;
		} else if (!strcmp(a, "-w") || !strcmp(a, "--watch")) {
			o->watch = true;
		} else if (!strcmp(a, "-o") || !strcmp(a, "--output") || !strncmp(a, "-o", 2) ||
			   !strncmp(a, "--output=", 9)) {
			const char *v;
			if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
				if (++i >= argc)
					return -EINVAL;
				v = argv[i];
			} else {
				v = a[1] == 'o' ? a + 2 : a + 9;
			}
			if (!strcmp(v, "wide"))
				o->out = OUT_WIDE;
			else if (!strcmp(v, "yaml"))
				o->out = OUT_YAML;
			else if (!strcmp(v, "json"))
				o->out = OUT_JSON;
			else {
				fprintf(stderr,
					"weir %s: output format \"%s\" is not wide, yaml or "
					"json\n",
					cmd, v);
				return -EINVAL;
			}
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "weir %s: unknown option \"%s\"\n", cmd, a);
			return -EINVAL;
		} else if (npos < 2) {
			pos[npos++] = a;
		} else {
			fprintf(stderr, "weir %s: too many arguments\n", cmd);
			return -EINVAL;
		}
	}
	if (npos < 1) {
		fprintf(stderr, "weir %s: which kind? (dataset, runtime, dataload, namespace)\n",
			cmd);
		return -EINVAL;
	}
	o->kind = controller_client_kind(pos[0], &o->only_alluxio);
	if (!o->kind) {
		fprintf(stderr, "weir %s: unknown kind \"%s\"\n", cmd, pos[0]);
		return -EINVAL;
	}
	o->name = npos > 1 ? pos[1] : NULL;
	if (o->all_ns && o->name) {
		fprintf(stderr, "weir %s: a NAME needs a namespace, not -A\n", cmd);
		return -EINVAL;
	}
	if (!o->ns)
		o->ns = OBJMODEL_DEFAULT_NAMESPACE;
	if (!strcmp(o->kind, "Namespace"))
		o->all_ns = false;
	return 0;
}

/* Drops AlluxioRuntime-only mismatches in place. */
static void filter_alluxio(struct objmodel_list *l, bool only_alluxio)
{
	if (!only_alluxio)
		return;
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (!strcmp(l->items[i]->kind_name, "AlluxioRuntime"))
			l->items[k++] = l->items[i];
		else
			objmodel_free(l->items[i]);
	}
	l->n = k;
}

static int table_namespaces(struct objmodel *const *objs, size_t n, int64_t now, char **ret)
{
	static const char *const headers[] = {"NAME", "STATUS", "AGE"};
	struct table *t = table_new(3, headers);
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		char age[32];
		const char *cells[] = {
		    objs[i]->meta.name, "Active",
		    table_format_age(now - objs[i]->meta.creation_timestamp, age, sizeof(age))};
		table_add_row(t, cells);
	}
	int r = n ? table_render(t, ret) : ((*ret = strdup("")) ? 0 : -ENOMEM);
	table_free(t);
	return r;
}

/* kubectl's columns; the values are never in what weir-controller sends. */
static int table_secrets(struct objmodel *const *objs, size_t n, bool all_ns, int64_t now,
			 char **ret)
{
	static const char *const headers[] = {"NAMESPACE", "NAME", "TYPE", "DATA", "AGE"};
	struct table *t = table_new(all_ns ? 5 : 4, all_ns ? headers : headers + 1);
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		char age[32], data[24];
		snprintf(data, sizeof(data), "%zu", objs[i]->secret.n_items);
		const char *cells[] = {
		    objs[i]->meta.namespace, objs[i]->meta.name, objs[i]->secret.type, data,
		    table_format_age(now - objs[i]->meta.creation_timestamp, age, sizeof(age))};
		table_add_row(t, all_ns ? cells : cells + 1);
	}
	int r = n ? table_render(t, ret) : ((*ret = strdup("")) ? 0 : -ENOMEM);
	table_free(t);
	return r;
}

static int render_table(const struct get_opts *o, struct objmodel *const *objs, size_t n,
			char **ret)
{
	int64_t now = time(NULL);
	bool wide = o->out == OUT_WIDE;
	if (!strcmp(o->kind, "Dataset"))
		return table_datasets(objs, n, o->all_ns, wide, now, ret);
	if (!strcmp(o->kind, "DataLoad"))
		return table_dataloads(objs, n, o->all_ns, wide, now, ret);
	if (!strcmp(o->kind, "Runtime"))
		return table_runtimes(objs, n, o->all_ns, wide, now, ret);
	if (!strcmp(o->kind, "Secret"))
		return table_secrets(objs, n, o->all_ns, now, ret);
	return table_namespaces(objs, n, now, ret);
}

/* Prints text with every URL's credentials masked: a mountPoint may carry a password, and what
 * get prints ends up in terminals, CI logs and bug reports. The stored object keeps it. */
static void print_redacted(const char *text)
{
	size_t cap = strlen(text) * 2 + 64; /* a one-letter password grows to "***" */
	char *buf = malloc(cap);
	if (!buf) {
		fputs("weir get: out of memory while masking credentials; nothing printed\n",
		      stderr);
		return;
	}
	snprintf(buf, cap, "%s", text);
	redact_text(buf, cap);
	fputs(buf, stdout);
	free(buf);
}

static int print_objects(const struct get_opts *o, struct objmodel_list *l)
{
	char *text = NULL;
	int r;
	if (o->out == OUT_YAML || o->out == OUT_JSON) {
		json_object *j = NULL;
		if (o->name && l->n == 1)
			r = objmodel_to_json(l->items[0], &j);
		else
			r = objmodel_list_to_json(l->items, l->n, &j);
		if (r < 0)
			return r;
		if (o->out == OUT_JSON) {
			print_redacted(json_object_to_json_string_ext(
			    j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
				   JSON_C_TO_STRING_NOSLASHESCAPE));
			fputc('\n', stdout);
		} else {
			r = yamltree_emit_json(j, &text);
			if (r >= 0)
				print_redacted(text);
		}
		json_object_put(j);
		free(text);
		return r < 0 ? r : 0;
	}
	r = render_table(o, l->items, l->n, &text);
	if (r < 0)
		return r;
	if (!*text) {
		if (o->all_ns || !strcmp(o->kind, "Namespace"))
			fprintf(stderr, "No resources found\n");
		else
			fprintf(stderr, "No resources found in %s namespace.\n", o->ns);
	} else {
		print_redacted(text);
	}
	fflush(stdout);
	free(text);
	return 0;
}

static int fetch(const struct controller_client *cc, const struct get_opts *o,
		 struct objmodel_list **ret)
{
	int r = controller_client_get(cc, "get", o->kind, o->all_ns ? "" : o->ns,
				      o->name ? o->name : "", ret);
	if (r >= 0)
		filter_alluxio(*ret, o->only_alluxio);
	return r;
}

/* -w for dataloads: follow every running one until it ends, then print the table again. */
static int watch_dataloads(const struct controller_client *cc, const struct get_opts *o,
			   struct objmodel_list *l)
{
	int rc = 0;
	size_t followed = 0;
	for (size_t i = 0; i < l->n; i++) {
		enum dataload_phase p = l->items[i]->dataload.status.phase;
		if (p == DATALOAD_PHASE_COMPLETE || p == DATALOAD_PHASE_FAILED)
			continue;
		followed++;
		int r = dataload_watch_follow(cc, "get", l->items[i]->meta.namespace,
					      l->items[i]->meta.name, stdout);
		if (r < 0)
			return 1;
		if (r > 0)
			rc = 1;
	}
	if (!followed)
		return rc;
	struct objmodel_list *again;
	if (fetch(cc, o, &again) < 0)
		return 1;
	print_objects(o, again);
	objmodel_list_free(again);
	return rc;
}

/* -w for other kinds: print a row again whenever its object changes, until interrupted. */
static int watch_rows(const struct controller_client *cc, const struct get_opts *o,
		      struct objmodel_list *first)
{
	size_t nprev = 0;
	char **prev = NULL;
	struct objmodel_list *l = first;
	for (bool initial = true;; initial = false) {
		char **cur = calloc(l->n + 1, sizeof(char *));
		for (size_t i = 0; cur && i < l->n; i++) {
			json_object *j = NULL;
			objmodel_to_json(l->items[i], &j);
			cur[i] = j ? strdup(json_object_to_json_string(j)) : NULL;
			json_object_put(j);
			bool same = false;
			for (size_t k = 0; k < nprev && !same; k++)
				same = prev[k] && cur[i] && !strcmp(prev[k], cur[i]);
			if (same || initial)
				continue;
			char *text = NULL;
			if (render_table(o, &l->items[i], 1, &text) >= 0 && text) {
				const char *nl = strchr(text, '\n');
				fputs(nl ? nl + 1 : text, stdout);
				fflush(stdout);
			}
			free(text);
		}
		for (size_t k = 0; k < nprev; k++)
			free(prev[k]);
		free(prev);
		prev = cur;
		nprev = cur ? l->n : 0;
		if (l != first)
			objmodel_list_free(l);
		sleep(1);
		if (fetch(cc, o, &l) < 0)
			return 1;
	}
}

int cmd_get(int argc, char **argv, const struct global_opts *g)
{
	struct get_opts o;
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(get_usage_text, stdout);
		return 0;
	}
	if (parse_get("get", argc, argv, &o) < 0) {
		fputs(get_usage_text, stderr);
		return 2;
	}
	struct controller_client cc;
	controller_client_init(&cc, g->state_dir);
	struct objmodel_list *l;
	if (fetch(&cc, &o, &l) < 0)
		return 1;
	int rc = print_objects(&o, l) < 0 ? 1 : 0;
	if (rc == 0 && o.watch) {
		if (!strcmp(o.kind, "DataLoad"))
			rc = watch_dataloads(&cc, &o, l);
		else
			rc = watch_rows(&cc, &o, l);
	}
	objmodel_list_free(l);
	return rc;
}

int cmd_describe(int argc, char **argv, const struct global_opts *g)
{
	struct get_opts o;
	static const char usage[] = "usage: weir describe KIND [NAME] [-n NAMESPACE | -A]\n";
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(usage, stdout);
		return 0;
	}
	if (parse_get("describe", argc, argv, &o) < 0 || o.watch || o.out != OUT_TABLE) {
		fputs(usage, stderr);
		return 2;
	}
	struct controller_client cc;
	controller_client_init(&cc, g->state_dir);
	struct objmodel_list *l;
	if (controller_client_get(&cc, "describe", o.kind, o.all_ns ? "" : o.ns,
				  o.name ? o.name : "", &l) < 0)
		return 1;
	filter_alluxio(l, o.only_alluxio);
	if (l->n == 0) {
		if (o.all_ns)
			fprintf(stderr, "No resources found\n");
		else
			fprintf(stderr, "No resources found in %s namespace.\n", o.ns);
	}
	int rc = 0;
	for (size_t i = 0; i < l->n; i++) {
		char *text = NULL;
		if (describe_object(l->items[i], &text) < 0) {
			rc = 1;
			continue;
		}
		fputs(text, stdout);
		if (i + 1 < l->n)
			fputs("\n\n", stdout);
		free(text);
	}
	objmodel_list_free(l);
	return rc;
}
