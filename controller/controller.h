/* SPDX-License-Identifier: Apache-2.0 */
/* weir-controller's one state struct, shared by the request server (main thread) and the
 * reconciler thread. Fields under lock say so; the reconciler's own fields are touched by it
 * alone. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <time.h>

#include "config.h"
#include "objmodel.h"
#include "strmap.h"
#include "store.h"
#include "ufs_policy.h"

struct load_slot {
	char key[400];	  /* "ns/name@creationTimestamp" of the DataLoad */
	uint64_t load_id; /* weir-node's id */
	int64_t node_pid; /* the weir-node that knows the id */
};

/* What the reconciler knows of a source on weir-node, so it sends a SourceRequest only when the
 * source is new, changed, forgotten by a restarted node, or due for a retry after failing. */
struct source_slot {
	char source_id[320];
	uint64_t sig;	  /* hash of what was asked: URL, tiers, watermarks */
	int64_t node_pid; /* the weir-node that accepted it */
	bool ok;	  /* accepted */
	double retry_at;  /* CLOCK_MONOTONIC seconds; after a failure */
	double backoff;	  /* seconds until the next retry after a failure: 2, 4, .. 60 */
};

struct controller {
	struct config cfg;
	int64_t started; /* epoch seconds */
	/* Guards store (and is held around every store call), changes, stopping and policy; the
	 * request server and the reconciler take it. Never held across a call to a weir-node, a
	 * request to the apiserver (store_kube queues its writes and answers reads from its
	 * cache) or a join. Known exception: on the embedded store (store_sqlite) a store call is
	 * an SQLite statement, disk I/O under this lock. */
	pthread_mutex_t lock;
	pthread_cond_t wake; /* changes bumped or stopping set: the reconciler waits on it */
	bool kube;	     /* the store is store_kube: finalizers, volumes, a Lease */
	struct store *store; /* under lock */
	unsigned changes;    /* under lock: bumped by every write, wakes the reconciler */
	bool stopping;	     /* under lock */
	/* ufs-roots parsed (NULL: any UFS); replaced by the reconciler when the config file
	 * changes. Under lock; checks are pure, nothing blocks under it. */
	struct ufs_policy *policy;
	/* Secrets: sealed at rest in the embedded store with this key (NULL on Kubernetes), read
	 * from the apiserver through kube_secrets (GET only, reconciler thread, no lock held). */
	struct secret_box *secret_box;
	struct kube_client *kube_secrets;
	/* Members of the cluster on the embedded default (members.h): request server (main
	 * thread) only, no lock. NULL on Kubernetes, where the nodes' Leases are the members. */
	struct members *members;
	pthread_t reconciler;
	/* reconciler thread only */
	struct load_slot *loads;
	size_t n_loads;
	struct source_slot *sources;
	size_t n_sources;
	struct timespec conf_mtime; /* of the config file when ufs-roots was last read */
	struct strmap *volumes;	    /* "ns/name" of Datasets whose PV/PVC were asked for -> sig */
	struct strmap *refused;	    /* "kind/ns/name" -> the refusal last reported in an Event */
	char *traffic_text;	    /* the cluster's traffic last written to the cluster Lease */
	int64_t traffic_written;    /* epoch seconds of that write */
};

/* Closes and purges the cache of source ns/name on weir-node (the Dataset or its Runtime is
 * gone). Logs failures. Any thread; no lock held. */
void controller_close_source(struct controller *ctl, const char *ns, const char *name);

/* What only a Kubernetes store needs after a pass: finalizers added, deletions completed or
 * refused (with an Event), a PV and a pre-bound PVC per Bound Dataset. Reconciler thread; no
 * lock held (takes it to touch the store). */
void kube_sync_pass(struct controller *ctl, const struct objmodel_list *l);

/* Puts the figures weir-nodes reported for source_id (Leases weir-node-<node>, renewed at most 60 s
 * ago) into a source Dataset's status: cached bytes, capacity and hits summed over the nodes, the spread (nodes, least and most one holds), UFS totals
 * from a node that finished its walk. Leaves st alone when no node reported. Reconciler thread;
 * no lock held. */
void kube_sync_usage(struct controller *ctl, const char *source_id, struct dataset_status *st,
		     int64_t now);

/* Sets each source Dataset's status.viewNodes in l from the pods the watch has and the running
 * DataLoads (view_nodes.h). Reconciler thread; takes the lock to read the store. */
void kube_sync_view_nodes(struct controller *ctl, struct objmodel_list *l, int64_t now);

/* Adds up the traffic of the nodes whose Lease is fresh and writes it to the cluster Lease
 * (store_kube.h) when it changed or a third of the Lease's duration passed, so that `weir top` on
 * any node shows the controller's sum. Reconciler thread of the leader; no lock held across the
 * request. Logs failures (tried again next pass). */
void kube_sync_traffic(struct controller *ctl, int64_t now);

/* Marks a change and wakes the reconciler. Call with lock held. */
void controller_changed(struct controller *ctl);

/* Starts the reconciler thread. Returns 0 or -errno. */
int reconciler_start(struct controller *ctl);

/* Asks the reconciler to stop and joins it. */
void reconciler_stop(struct controller *ctl);

/* One reconcile pass (the thread runs it on every change and every resync interval). Returns
 * 0 or -errno; logs what failed. Reconciler thread only (or a test without one). */
int reconciler_pass(struct controller *ctl);

/* Serves control requests on listen_fd until a Shutdown request or a signal on sig_fd.
 * Returns 0 or -errno. Main thread. */
int server_run(struct controller *ctl, int listen_fd, int sig_fd);
