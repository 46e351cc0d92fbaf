/* SPDX-License-Identifier: Apache-2.0 */
/* How a weir-node tells a cluster its cache figures without being dialled: every few seconds it
 * renews Lease weir-node-<node> (label app.kubernetes.io/name=weir-node) in the weir namespace,
 * its figures in annotation weir.io/sources; the renewal is its heartbeat. The controller
 * watches those Leases and adds the figures up per source. See docs/kubernetes.md. */
#pragma once

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#define NODE_REPORT_ANNOTATION "weir.io/sources"
/* A Lease lasts this many report intervals: a node that missed that many renewals is gone, and its
 * DataLoad shares move to the others. */
#define NODE_REPORT_LEASE_INTERVALS 6

/* Fills *ret_sources (owned) with {"<source id>": {"ufsTotalBytes": n, "fileNum": n, "complete":
 * b, "cachedBytes": n, "capacityBytes": n, "hitBytes": n, "missBytes": n} or {"error": ".."} for
 * a source the node could not open, ...} and *ret_loads (owned, may be left NULL) with the
 * DataLoad shares it runs (load_share.h). Must not block on I/O: it runs on the reporter thread,
 * and may take the daemon's lock briefly. Returns 0 or -errno. */
typedef int (*node_report_collect_fn)(void *arg, json_object **ret_sources,
				      json_object **ret_loads);

struct node_report;

/* Starts the reporter for node node_name into namespace ns (NULL or "" = the kubeconfig's;
 * kubeconfig NULL or "" = the pod's service account) every interval_s seconds, the Lease lasting
 * NODE_REPORT_LEASE_INTERVALS of them. Returns 0 and an owned *ret, or -errno with a message. */
int node_report_start(const char *kubeconfig, const char *node_name, const char *ns,
		      double interval_s, node_report_collect_fn fn, void *arg,
		      struct node_report **ret, char *errbuf, size_t errlen);

/* Stops and joins the reporter; accepts NULL. */
void node_report_stop(struct node_report *r);

/* Puts the report into lease (a Lease read from the apiserver, or an empty object): name,
 * labels, the figures and loads annotations (loads NULL: {}), holder, leaseDurationSeconds and
 * renewTime now. Other fields stay. Returns 0. Exposed for tests. */
int node_report_fill(json_object *lease, const char *node_name, const char *ns,
		     json_object *sources, json_object *loads, int lease_s, int64_t now);
