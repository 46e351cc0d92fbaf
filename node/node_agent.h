/* SPDX-License-Identifier: Apache-2.0 */
/* weir-node's side of the control plane in a cluster: it watches Datasets, Runtimes, DataLoads
 * and the nodes' Leases itself (lib/store_kube.h, read only), opens the sources whose Dataset has
 * a Runtime, purges those deleted, runs its share of each Executing DataLoad (files hashed over
 * the nodes that cache the source, lib/rendezvous.h) and answers weir-csi's plan requests from
 * what it sees (lib/mount_plan.h). It drives its own weir-node through the control socket, as
 * any client would; the controller never dials it. Progress leaves through the node's Lease
 * (node_report.h, node_agent_report). See docs/kubernetes.md. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "cluster.h"
#include "mount_plan.h"
#include "store_kube.h"

struct node_agent_config {
	const char *kubeconfig;	 /* NULL or "": the pod's service account */
	const char *node_name;	 /* this node's name, as its Lease holder */
	const char *ns;		 /* where the nodes' Leases live (NULL or "": the kubeconfig's) */
	const char *node_socket; /* this weir-node's control socket */
	bool deny_by_default;	 /* as weir-controller's: references need an allow-list entry */
	/* Namespaces ("a,b", "*": all; NULL or "": none) whose s3:// Datasets without keys of
	 * their own may be read with this node's (environment, AWS profile); others' are read
	 * anonymously: any namespace can write a Dataset, the node's keys are the admin's. */
	const char *s3_node_keys;
	/* The administrator's policies (NULL or "": none), parsed at start: which UFS a namespace
	 * may use (lib/ufs_policy.h, weir-controller's ufs-roots), and where a Runtime's tiers may
	 * live and how large (lib/tier_roots.h). A plan that breaks one is neither opened nor
	 * answered: any namespace can write a Dataset or Runtime, weir-node runs as root. */
	const char *ufs_roots;
	const char *tier_roots;
	struct cluster *cluster; /* borrowed, NULL: no peers; with no fixed peers list its members
				  * follow the nodes' Leases (member_sync.h) */
	const struct peer_key *peer_key; /* borrowed, with cluster: what a Lease's member proves */
	/* with cluster: a Lease is a member only while a weir-node pod of the chart runs on its
	 * node at its peer address (member_sync_kube's attest); 0: the Lease and the key alone */
	int member_pods;
	/* with member_pods: the state directory, where the pinned member identities are kept
	 * across restarts (member-pins) */
	const char *state_dir;
	/* borrowed, NULL: none. Replaced on every pass with each source Dataset's
	 * status.viewNodes (weir-controller's attestation of which node holds a view of it):
	 * the peer server serves a source's blocks to those nodes only. */
	struct view_grants *grants;
};

struct node_agent;
struct peer_key;
struct view_grants;

/* Lists the cluster (waits for every first list, up to 30 s) and starts the agent's thread.
 * Returns 0 and an owned *ret, or -errno with a message in errbuf (a bad ufs-roots or
 * tier-roots: -EINVAL). */
int node_agent_start(const struct node_agent_config *cfg, struct node_agent **ret, char *errbuf,
		     size_t errlen);

/* Stops the thread and closes the watches; accepts NULL. Does not close the sources it opened:
 * the node's shutdown does. */
void node_agent_stop(struct node_agent *a);

/* For the node's Lease (reporter thread; takes the agent's lock briefly, no I/O): adds
 * {"error": ".."} to sources for each source the agent could not open, and sets *ret_loads
 * (owned) to this node's DataLoad shares keyed by DataLoad uid (lib/load_share.h). Returns 0 or
 * -ENOMEM. */
int node_agent_report(struct node_agent *a, json_object *sources, json_object **ret_loads);

/* The cluster's traffic as weir-controller added it up over the nodes' fresh Leases (the cluster
 * Lease, store_kube_cluster_traffic). Returns the number of nodes counted, 0 while no controller
 * renews it. Any thread; no I/O. */
unsigned node_agent_traffic(struct node_agent *a, struct store_kube_traffic *ret);

/* How the view of Dataset ns/name is served, as this node sees the cluster: the grant check of a
 * reference and mount_plan_make. Returns 0 and *ret, or -errno with a message for the user in
 * errbuf. Any thread. */
int node_agent_plan(struct node_agent *a, const char *ns, const char *name, struct mount_plan *ret,
		    char *errbuf, size_t errlen);
