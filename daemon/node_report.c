// SPDX-License-Identifier: Apache-2.0
// weir-node's figures into its ConfigMap. Collection takes the daemon's lock briefly; the
// request happens after, on this thread, with nothing held.
#include "node_report.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube_client.h"
#include "kubeconfig.h"
#include "log.h"
#include "objmodel.h"

struct node_report {
	struct kube_client *kc;
	char name[300]; /* the ConfigMap's */
	char node[254];
	char ns[64];
	double interval;
	node_report_collect_fn fn;
	void *arg;
	atomic_bool stop;
	pthread_t thread;
};

json_object *node_report_configmap(const char *node_name, const char *ns, json_object *sources,
				   const char *updated)
{
	char name[300];
	snprintf(name, sizeof(name), "weir-node-%s", node_name);
	json_object *cm = json_object_new_object(), *meta = json_object_new_object(),
		    *labels = json_object_new_object(), *data = json_object_new_object();
	json_object_object_add(cm, "apiVersion", json_object_new_string("v1"));
	json_object_object_add(cm, "kind", json_object_new_string("ConfigMap"));
	json_object_object_add(meta, "name", json_object_new_string(name));
	json_object_object_add(meta, "namespace", json_object_new_string(ns));
	json_object_object_add(labels, "app.kubernetes.io/name",
			       json_object_new_string("weir-node"));
	json_object_object_add(labels, "weir.io/node", json_object_new_string(node_name));
	json_object_object_add(meta, "labels", labels);
	json_object_object_add(cm, "metadata", meta);
	json_object_object_add(data, "node", json_object_new_string(node_name));
	json_object_object_add(data, "updated", json_object_new_string(updated));
	json_object_object_add(data, "sources",
			       json_object_new_string(json_object_to_json_string_ext(
				   sources, JSON_C_TO_STRING_PLAIN)));
	json_object_object_add(cm, "data", data);
	return cm;
}

/* One report: PUT (a ConfigMap takes an unconditional update), POST when absent. */
static int report_once(struct node_report *r, char *err, size_t errlen)
{
	json_object *sources = NULL;
	int rc = r->fn(r->arg, &sources);
	if (rc < 0) {
		snprintf(err, errlen, "collecting figures: %s", strerror(-rc));
		return rc;
	}
	char ts[40], path[512];
	objmodel_format_time(time(NULL), ts, sizeof(ts));
	json_object *cm = node_report_configmap(r->node, r->ns, sources, ts);
	json_object_put(sources);
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps/%s", r->ns, r->name);
	rc = kube_request(r->kc, "PUT", path, cm, NULL, err, errlen);
	if (rc == -ENOENT) {
		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps", r->ns);
		rc = kube_request(r->kc, "POST", path, cm, NULL, err, errlen);
	}
	json_object_put(cm);
	return rc;
}

static void *report_main(void *arg)
{
	struct node_report *r = arg;
	char err[1024];
	int last = 0;
	while (!atomic_load(&r->stop)) {
		int rc = report_once(r, err, sizeof(err));
		/* say it once when it starts failing and once when it works again */
		if (rc < 0 && last >= 0)
			log_warn("cannot report figures to ConfigMap %s/%s: %s", r->ns, r->name,
				 err);
		else if (rc >= 0 && last < 0)
			log_notice("reporting figures to ConfigMap %s/%s again", r->ns, r->name);
		last = rc;
		for (double t = 0; t < r->interval && !atomic_load(&r->stop); t += 0.1)
			nanosleep(&(struct timespec){0, 100000000L}, NULL);
	}
	return NULL;
}

int node_report_start(const char *kubeconfig, const char *node_name, const char *ns,
		      double interval_s, node_report_collect_fn fn, void *arg,
		      struct node_report **ret, char *errbuf, size_t errlen)
{
	struct kubeconfig kc = {0};
	int rc = kubeconfig_load(kubeconfig, &kc, errbuf, errlen);
	if (rc < 0)
		return rc;
	struct node_report *r = calloc(1, sizeof(*r));
	if (!r) {
		kubeconfig_clear(&kc);
		return -ENOMEM;
	}
	rc = kube_client_new(&kc, &r->kc);
	snprintf(r->node, sizeof(r->node), "%s", node_name);
	snprintf(r->name, sizeof(r->name), "weir-node-%s", node_name);
	snprintf(r->ns, sizeof(r->ns), "%s", ns && *ns ? ns : kc.namespace);
	kubeconfig_clear(&kc);
	r->interval = interval_s;
	r->fn = fn;
	r->arg = arg;
	if (rc >= 0)
		rc = -pthread_create(&r->thread, NULL, report_main, r);
	if (rc < 0) {
		snprintf(errbuf, errlen, "cannot start the reporter: %s", strerror(-rc));
		kube_client_free(r->kc);
		free(r);
		return rc;
	}
	log_info("reporting cache figures to ConfigMap %s/%s every %.0f s", r->ns, r->name,
		 interval_s);
	*ret = r;
	return 0;
}

void node_report_stop(struct node_report *r)
{
	if (!r)
		return;
	atomic_store(&r->stop, true);
	pthread_join(r->thread, NULL);
	kube_client_free(r->kc);
	free(r);
}
