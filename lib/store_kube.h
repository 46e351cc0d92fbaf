/* SPDX-License-Identifier: Apache-2.0 */
/* The store on kube-apiserver: Datasets, Runtimes and DataLoads as data.fluid.io/v1alpha1
 * custom resources, Namespaces as v1 Namespaces. Reads come from a local cache fed by list +
 * watch (one thread per resource); writes update the cache at once and reach the apiserver from
 * a writer thread, so no store call does network I/O and the controller's lock is never held
 * across a round trip. A transaction is all or nothing in the cache; on the apiserver each
 * object is written on its own (Kubernetes has no multi-object transaction). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "kubeconfig.h"
#include "load_share.h"
#include "node_id.h"
#include "store.h"

/* The finalizer weir puts on Datasets and Runtimes: their cache is purged, and a referenced
 * source refused, before the object goes. */
#define STORE_KUBE_FINALIZER "data.fluid.io/weir-cache"

/* Called (from a watch thread, with no store lock held) when the cache changed. */
typedef void (*store_kube_changed_fn)(void *arg);

/* store_kube_open's flags: also watch the pods scheduled to a node, in every namespace
 * (weir-controller's view grants: store_kube_pod_claims; needs list and watch on pods). */
#define STORE_KUBE_PODS 1u
/* store_kube_open's flags: also watch the weir-nodes' own pods in report_ns (labels
 * app.kubernetes.io/name=weir and app.kubernetes.io/component=node, the chart's DaemonSet), for
 * store_kube_peers' pods (needs list and watch on pods in report_ns). */
#define STORE_KUBE_NODE_PODS 2u

/* Connects, lists every resource once (and the weir-nodes' Leases in report_ns, NULL = the
 * kubeconfig's namespace) and starts the watches and the writer. Resources whose
 * CRD is not installed are skipped with a notice, except Dataset (then -ENOENT: apply the CRDs
 * first). Writes wait until store_kube_set_active(). Returns 0 and an owned *ret (store_close),
 * or -errno with a message in errbuf. */
int store_kube_open(const struct kubeconfig *kc, const char *report_ns, unsigned flags,
		    store_kube_changed_fn changed, void *arg, struct store **ret, char *errbuf,
		    size_t errlen);

/* Calls fn(arg, ns, claim, node) for each PersistentVolumeClaim named in the volumes of each pod
 * scheduled to a node that has not ended (phase Succeeded or Failed), as the watch has them
 * (opened with STORE_KUBE_PODS; none otherwise). fn runs under the store's lock: it must not call
 * the store. Caller holds the controller's lock. */
typedef void (*store_kube_claim_fn)(void *arg, const char *ns, const char *claim, const char *node);
void store_kube_pod_claims(struct store *st, store_kube_claim_fn fn, void *arg);

/* Lets the writer send (the leader) or holds writes back (a passive replica). */
void store_kube_set_active(struct store *st, bool active);

/* Is the stored object being deleted (metadata.deletionTimestamp set)? And does it carry
 * weir's finalizer? Both false when absent. Caller holds the controller's lock. */
bool store_kube_deleting(struct store *st, const char *kind, const char *ns, const char *name,
			 bool *ret_has_finalizer);

/* Queues adding weir's finalizer to kind ns/name. Returns 0 or -ENOENT / -ENOMEM. */
int store_kube_add_finalizer(struct store *st, const char *kind, const char *ns, const char *name);

/* Queues a v1 Event about kind ns/name (type "Normal" or "Warning"). Returns 0 or -errno. */
int store_kube_event(struct store *st, const char *kind, const char *ns, const char *name,
		     const char *type, const char *reason, const char *message);

/* Queues creating (when absent) a cluster-scoped or namespaced core/v1 object given as JSON
 * (PersistentVolume, PersistentVolumeClaim), or deleting one (obj NULL: api path given).
 * Returns 0 or -errno. */
int store_kube_ensure(struct store *st, const char *path, json_object *obj);

/* Queues deleting weir's PersistentVolumeClaim ns/claim and its PersistentVolume (pv_path,
 * "/api/v1/persistentvolumes/<name>"), and then doing for them what kube-controller-manager's
 * pvc- and pv-protection controllers do: the claim's finalizer goes once no pod that has not
 * ended names it, the volume's once the claim is gone. Until then the writer looks again every
 * few seconds. Returns 0 or -ENOMEM. */
int store_kube_release_volume(struct store *st, const char *ns, const char *claim,
			      const char *pv_path);

/* What weir-nodes reported for a source (node/node_report.h: Leases weir-node-<node>), added up
 * over the nodes whose report is at most max_age_s old: cached bytes, capacity and hits summed; UFS
 * totals from any node whose walk completed. */
struct store_kube_usage {
	unsigned nodes;
	bool complete;
	uint64_t ufs_total, file_num;
	uint64_t cached, capacity;
	uint64_t hits, misses;
	uint64_t node_min, node_max; /* the least and most cached bytes one node reports */
};

/* Fills *ret; returns the number of nodes counted (0: none reported). Caller holds the
 * controller's lock. A node that reports an error for the source (it could not open it) is not
 * counted. */
int store_kube_node_usage(struct store *st, const char *source_id, int64_t now, int max_age_s,
			  struct store_kube_usage *ret);

/* The nodes that cache source_id now: their Lease is fresh (renewTime + leaseDurationSeconds not
 * past now) and reports the source open. Writes their names, sorted, to ret[0..max) and returns
 * how many (of more than max, the max smallest names, so every reader picks the same); ret_error
 * (when not NULL) gets the first error a fresh node reports for the source (it could not open it),
 * "" when none. Also the set a DataLoad's shares are hashed over. */
size_t store_kube_source_nodes(struct store *st, const char *source_id, int64_t now,
			       char (*ret)[254], size_t max, char *ret_error, size_t errlen);

/* A weir-node's traffic, in its Lease (daemon/node_report.h): {"ufsBytes", "peerInBytes",
 * "peerOutBytes", "hitBytes", "missBytes"}, totals since it started. */
#define STORE_KUBE_TRAFFIC_ANNOTATION "weir.io/traffic"

struct store_kube_traffic {
	unsigned nodes; /* fresh Leases that carry the annotation */
	uint64_t ufs_bytes, peer_in_bytes, peer_out_bytes, hit_bytes, miss_bytes;
};

/* Adds up the traffic the weir-nodes with a fresh Lease report. Returns the number of nodes
 * counted. Takes the store's lock briefly; no I/O. */
unsigned store_kube_traffic(struct store *st, int64_t now, struct store_kube_traffic *ret);

/* The whole cluster's traffic as weir-controller adds it up: Lease STORE_KUBE_CLUSTER_LEASE in the
 * nodes' namespace (labelled as theirs, so every node's watch sees it; it has none of their
 * annotations, so it is no node), annotation STORE_KUBE_CLUSTER_TRAFFIC_ANNOTATION: {"nodes",
 * "ufsBytes", "peerInBytes", "peerOutBytes", "hitBytes", "missBytes"}, the sum over the fresh
 * node Leases, renewed by the leading controller. */
#define STORE_KUBE_CLUSTER_LEASE "weir-cluster"
#define STORE_KUBE_CLUSTER_TRAFFIC_ANNOTATION "weir.io/cluster-traffic"

/* The namespace of the nodes' Leases this store watches. */
const char *store_kube_report_ns(struct store *st);
/* t as the annotation's JSON (owned), or NULL without memory. */
json_object *store_kube_traffic_json(const struct store_kube_traffic *t);
/* The controller's sum from the cluster Lease when it is fresh: fills *ret and returns its node
 * count; 0 (ret untouched) when there is none. Takes the store's lock briefly; no I/O. */
unsigned store_kube_cluster_traffic(struct store *st, int64_t now, struct store_kube_traffic *ret);

/* A weir-node's Lease is named this and its node name (node/node_report.h); a Lease of any other
 * name does not speak for the node its holderIdentity names. */
#define STORE_KUBE_NODE_LEASE_PREFIX "weir-node-"

/* The peer URL a weir-node serves its blocks on, in its Lease (daemon/node_report.h), its
 * identity's public key (lib/node_id.h), and the node's proof that it holds the cluster's key
 * for that name, URL and identity (peer_auth_member_mac). */
#define STORE_KUBE_PEER_ANNOTATION "weir.io/peer"
#define STORE_KUBE_PEER_MAC_ANNOTATION "weir.io/peer-mac"
#define STORE_KUBE_NODE_ID_ANNOTATION "weir.io/node-id"

/* One IP of a weir-node pod running on a peer's node (store_kube_peers). */
#define STORE_KUBE_PEER_PODS 4
struct store_kube_peer_pod {
	char uid[64];
	char ip[64];
	int port;	 /* its container port named "peer" (0: none) */
	int64_t created; /* its creationTimestamp, wall seconds */
};

struct store_kube_peer {
	char node[254]; /* the Lease's holderIdentity (of Lease weir-node-<node> only) */
	char url[256];	/* its weir.io/peer annotation, as written (the caller checks it) */
	char mac[72];	/* its weir.io/peer-mac annotation ("" when none or too long) */
	char id[NODE_ID_PUB_HEX]; /* its weir.io/node-id ("" when none or not node_id_pub_valid) */
	int64_t renewed;	  /* its spec.renewTime, wall seconds (0: none) */
	/* Opened with STORE_KUBE_NODE_PODS: the weir-node pods running on the node (phase Running,
	 * not being deleted), one entry per IP of each (status.podIPs), at most
	 * STORE_KUBE_PEER_PODS; none when the store does not watch them. */
	struct store_kube_peer_pod pods[STORE_KUBE_PEER_PODS];
	unsigned npods;
};

/* The weir-nodes that serve blocks now: their Lease is fresh (as store_kube_source_nodes) and
 * carries a weir.io/peer annotation. Writes the max with the smallest names into ret, sorted by
 * node, and returns how many there are (more than max: the caller says so). Takes the store's
 * lock briefly; no I/O. */
size_t store_kube_peers(struct store *st, int64_t now, struct store_kube_peer *ret, size_t max);

/* The reports of DataLoad uid (annotation weir.io/loads) in the fresh Leases, up to max, into
 * ret; returns how many. A report that does not parse is skipped (logged at debug). */
size_t store_kube_load_shares(struct store *st, const char *uid, int64_t now,
			      struct load_share *ret, size_t max);

/* Converts between the apiserver's object and the store's JSON text (what objmodel reads):
 * managedFields dropped, everything else kept. Returns 0 and owned results, or -ENOMEM /
 * -EINVAL. Exposed for tests. */
int store_kube_from_kube(json_object *kobj, char **ret_json);
/* The object to send: the store's JSON minus what the apiserver owns (resourceVersion, uid,
 * creationTimestamp, status when for_create). */
int store_kube_to_kube(const char *json, bool for_create, json_object **ret);

/* The resource path of kind ("Dataset", "AlluxioRuntime", "Runtime", "DataLoad", "Namespace"
 * as written in an object) in ns, with name and "/status" when given: e.g.
 * "/apis/data.fluid.io/v1alpha1/namespaces/development/datasets/spark/status". Returns 0 or
 * -ENOENT (unknown kind) / -ENAMETOOLONG. */
int store_kube_path(const char *kind_name, const char *ns, const char *name, bool status, char *buf,
		    size_t len);
