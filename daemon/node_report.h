/* SPDX-License-Identifier: Apache-2.0 */
/* How a weir-node tells a cluster its cache figures without being dialled: it writes them, every
 * few seconds, into ConfigMap weir-node-<node> (label app.kubernetes.io/name=weir-node) of the
 * weir namespace; the controller watches those ConfigMaps and adds them up per source. See
 * docs/kubernetes.md. */
#pragma once

#include <json-c/json.h>
#include <stddef.h>

/* Fills *ret (owned) with {"<source id>": {"ufsTotalBytes": n, "fileNum": n, "complete": b,
 * "cachedBytes": n, "capacityBytes": n, "hitBytes": n, "missBytes": n}, ...}. Must not block on
 * I/O: it runs on the reporter thread, and may take the daemon's lock briefly. Returns 0 or
 * -errno. */
typedef int (*node_report_collect_fn)(void *arg, json_object **ret);

struct node_report;

/* Starts the reporter for node node_name into namespace ns (NULL or "" = the kubeconfig's)
 * every interval_s seconds. Returns 0 and an owned *ret, or -errno with a message. */
int node_report_start(const char *kubeconfig, const char *node_name, const char *ns,
		      double interval_s, node_report_collect_fn fn, void *arg,
		      struct node_report **ret, char *errbuf, size_t errlen);

/* Stops and joins the reporter; accepts NULL. */
void node_report_stop(struct node_report *r);

/* The ConfigMap that carries figures (owned), as written. Exposed for tests. */
json_object *node_report_configmap(const char *node_name, const char *ns, json_object *sources,
				   const char *updated);
