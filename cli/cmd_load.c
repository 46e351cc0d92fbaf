// SPDX-License-Identifier: Apache-2.0
// weir load: creates a DataLoad for paths of a Dataset and follows it to the end.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "controller_client.h"
#include "dataload_watch.h"
#include "objmodel.h"

static const char load_usage[] =
    "usage: weir load [-n NAMESPACE] DATASET [PATH...] [--name NAME] [--no-wait]\n"
    "  preheats PATHs of DATASET (the whole dataset when none is given) through a DataLoad\n"
    "  named NAME (default DATASET-load-N) and follows it until it ends.\n";

/* The next free "<dataset>-load-<n>". */
static int next_name(const struct controller_client *cc, const char *ns, const char *ds, char *buf,
		     size_t len)
{
	struct objmodel_list *l;
	int r = controller_client_get(cc, "load", "DataLoad", ns, "", &l);
	if (r < 0)
		return r;
	char prefix[300];
	snprintf(prefix, sizeof(prefix), "%s-load-", ds);
	long max = 0;
	for (size_t i = 0; i < l->n; i++) {
		const char *n = l->items[i]->meta.name;
		if (strncmp(n, prefix, strlen(prefix)))
			continue;
		char *end;
		long v = strtol(n + strlen(prefix), &end, 10);
		if (!*end && v > max)
			max = v;
	}
	objmodel_list_free(l);
	snprintf(buf, len, "%s%ld", prefix, max + 1);
	return 0;
}

int cmd_load(int argc, char **argv, const struct global_opts *g)
{
	const char *ns = OBJMODEL_DEFAULT_NAMESPACE, *name = NULL, *ds = NULL;
	const char *paths[64];
	size_t np = 0;
	bool wait = true;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if ((!strcmp(a, "-n") || !strcmp(a, "--namespace")) && i + 1 < argc) {
			ns = argv[++i];
		} else if (!strncmp(a, "--namespace=", 12)) {
			ns = a + 12;
		} else if (!strcmp(a, "--name") && i + 1 < argc) {
			name = argv[++i];
		} else if (!strcmp(a, "--no-wait")) {
			wait = false;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(load_usage, stdout);
			return 0;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "weir load: unknown option \"%s\"\n", a);
			fputs(load_usage, stderr);
			return 2;
		} else if (!ds) {
			ds = a;
		} else if (np < sizeof(paths) / sizeof(paths[0])) {
			paths[np++] = a;
		} else {
			fprintf(stderr, "weir load: at most 64 paths\n");
			return 2;
		}
	}
	if (!ds) {
		fprintf(stderr, "weir load: which dataset?\n");
		fputs(load_usage, stderr);
		return 2;
	}
	struct controller_client cc;
	controller_client_init(&cc, g->state_dir);
	struct objmodel_list *dsl;
	if (controller_client_get(&cc, "load", "Dataset", ns, ds, &dsl) < 0)
		return 1;
	enum dataset_phase ph = dsl->n ? dsl->items[0]->dataset.status.phase : DATASET_PHASE_NONE;
	objmodel_list_free(dsl);
	if (ph == DATASET_PHASE_FAILED) {
		fprintf(
		    stderr,
		    "weir load: dataset %s/%s is Failed; `weir describe dataset %s -n %s` tells "
		    "why\n",
		    ns, ds, ds, ns);
		return 1;
	}
	char gen[300];
	int rc = 1;
	for (int attempt = 0; attempt < 5; attempt++) {
		if (!name || attempt > 0) {
			if (next_name(&cc, ns, ds, gen, sizeof(gen)) < 0)
				return 1;
			name = gen;
		}
		struct objmodel *dl = objmodel_new(OBJMODEL_DATALOAD, ns, name);
		if (!dl)
			return 1;
		dl->meta.namespace_set = true;
		dl->dataload.spec.dataset_name = strdup(ds);
		dl->dataload.spec.dataset_namespace = strdup(ns);
		dl->dataload.spec.dataset_namespace_set = true;
		dl->dataload.spec.targets = calloc(np ? np : 1, sizeof(struct dataload_target));
		for (size_t i = 0; i < np && dl->dataload.spec.targets; i++)
			dl->dataload.spec.targets[i].path = strdup(paths[i]);
		dl->dataload.spec.n_targets = np;
		char err[1024];
		if (objmodel_validate(dl, err, sizeof(err)) < 0) {
			fprintf(stderr, "weir load: %s\n", err);
			objmodel_free(dl);
			return 2;
		}
		char *text = NULL;
		objmodel_to_json_string(dl, false, &text);
		objmodel_free(dl);
		if (!text)
			return 1;
		Weir__ApplyRequest a = WEIR__APPLY_REQUEST__INIT;
		a.objects = &text;
		a.n_objects = 1;
		a.create = true;
		a.source = "weir load";
		Weir__Request req = WEIR__REQUEST__INIT;
		req.body_case = WEIR__REQUEST__BODY_APPLY;
		req.apply = &a;
		Weir__Response *resp = NULL;
		int r = controller_client_call(&cc, &req, &resp);
		free(text);
		if (r < 0) {
			fprintf(stderr,
				"weir load: no weir-controller answers on \"%s\" (%s); start one "
				"with `weir up`\n",
				cc.socket_path, strerror(-r));
			return 1;
		}
		if (resp->error == -EEXIST && attempt + 1 < 5 && name == gen) {
			weir__response__free_unpacked(resp, NULL);
			continue;
		}
		if (resp->error) {
			fprintf(stderr, "weir load: %s\n", resp->message);
			weir__response__free_unpacked(resp, NULL);
			return 1;
		}
		for (size_t i = 0; i < resp->n_results; i++)
			printf("%s\n", resp->results[i]);
		fflush(stdout);
		weir__response__free_unpacked(resp, NULL);
		rc = 0;
		break;
	}
	if (rc != 0 || !wait)
		return rc;
	int r = dataload_watch_follow(&cc, "load", ns, name, stdout);
	return r == 0 ? 0 : 1;
}
