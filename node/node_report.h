/* SPDX-License-Identifier: Apache-2.0 */
/* How a weir-node tells a cluster its cache figures without being dialled: every few seconds it
 * renews Lease weir-node-<node> (label app.kubernetes.io/name=weir-node) in the weir namespace,
 * its figures in annotation weir.io/sources and, when it serves blocks to peers, the URL it
 * serves them on in weir.io/peer and its identity in weir.io/node-id; the renewal is its
 * heartbeat. The controller watches those
 * Leases and adds the figures up per source; the other weir-nodes take their members from them
 * (node_agent.h). See docs/kubernetes.md. */
#pragma once

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"

#define NODE_REPORT_ANNOTATION "weir.io/sources"
/* A Lease lasts this many report intervals: a node that missed that many renewals is gone, and its
 * DataLoad shares move to the others. */
#define NODE_REPORT_LEASE_INTERVALS 6

/* Fills *ret_sources (owned) with {"<source id>": {"ufsTotalBytes": n, "fileNum": n, "complete":
 * b, "cachedBytes": n, "capacityBytes": n, "hitBytes": n, "missBytes": n} or {"error": ".."} for
 * a source the node could not open, ...}, *ret_traffic (owned, may be left NULL) with the node's
 * traffic (STORE_KUBE_TRAFFIC_ANNOTATION, lib/store_kube.h) and *ret_loads (owned, may be left
 * NULL) with the
 * DataLoad shares it runs (load_share.h). Must not block on I/O: it runs on the reporter thread,
 * and may take the daemon's lock briefly. Returns 0 or -errno. */
typedef int (*node_report_collect_fn)(void *arg, json_object **ret_sources,
				      json_object **ret_traffic, json_object **ret_loads);

struct node_report;

/* Starts the reporter for node node_name into namespace ns (NULL or "" = the kubeconfig's;
 * kubeconfig NULL or "" = the pod's service account) every interval_s seconds, the Lease lasting
 * NODE_REPORT_LEASE_INTERVALS of them; peer_url (NULL or "": none) is copied into the Lease
 * with node_id (this node's identity's public key, node_id_public: weir.io/node-id) and
 * peer_mac, the key's proof for the name, URL and identity (peer_auth_member_mac).
 * Returns 0 and an owned *ret, or -errno with a message. */
int node_report_start(const char *kubeconfig, const char *node_name, const char *ns,
		      const char *peer_url, const char *peer_mac, const char *node_id,
		      double interval_s, node_report_collect_fn fn, void *arg,
		      struct node_report **ret, char *errbuf, size_t errlen);

/* Stops and joins the reporter; accepts NULL. */
void node_report_stop(struct node_report *r);

/* The traffic annotation's object (owned; NULL on ENOMEM): ufs, hit and miss bytes as given,
 * peer bytes from c's counters (0 when c is NULL). */
json_object *node_report_traffic(struct cluster *c, uint64_t ufs_bytes, uint64_t hit_bytes,
				 uint64_t miss_bytes);

/* Puts the report into lease (a Lease read from the apiserver, or an empty object): name,
 * labels, the figures, traffic (NULL: none), loads (NULL: {}) and peer, peer-mac and node-id
 * (NULL or "": removed; all three go with peer_url) annotations, holder,
 * leaseDurationSeconds and renewTime now. Other fields stay. Returns 0. Exposed for tests. */
int node_report_fill(json_object *lease, const char *node_name, const char *ns,
		     const char *peer_url, const char *peer_mac, const char *node_id,
		     json_object *sources, json_object *traffic, json_object *loads, int lease_s,
		     int64_t now);
