/* SPDX-License-Identifier: Apache-2.0 */
/* weir-csi's one state struct and the method tables of its three gRPC services (Identity,
 * Node, the kubelet's plugin registration). Everything runs on the gRPC loop's thread. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

#include "grpc_server.h"
#include "strmap.h"

#define CSI_DRIVER_NAME "weir.csi.io"

/* A view no pod uses any more, stopped when its deadline passes (unless published again). */
struct csi_idle_view {
	TAILQ_ENTRY(csi_idle_view) link;
	char path[4096];
	long long deadline_ms; /* CLOCK_MONOTONIC */
};

struct csi_plugin {
	/* configuration, fixed after start */
	char driver_name[128];
	char node_id[256];
	char endpoint[4096];	/* the CSI socket path (what GetInfo tells the kubelet) */
	char node_socket[4200]; /* weir-node's control socket */
	char views_dir[4200];	/* <state>/csi/views, root-only: the views pods bind */
	char state_dir[4200];	/* weir's state directory, canonical: no target in or above it */
	char targets_dir[4200]; /* <state>/csi/targets: a record of each published target */
	unsigned grace_ms;	/* how long an unused view stays up */
	bool allow_no_pod_info; /* tests only: publish without the pod's namespace */
	/* deadlines of the daemon calls (ms): a hung daemon costs one call, not a worker for good
	 */
	unsigned probe_timeout_ms, call_timeout_ms, mount_timeout_ms;
	/* state: handlers run on several workers at once */
	pthread_mutex_t lock;		  /* guards idle and busy; held for list/map updates only,
					   * never across a mount, a daemon call or mountinfo */
	TAILQ_HEAD(, csi_idle_view) idle; /* views waiting out their grace period */
	struct strmap *busy;	 /* targets and views an operation is working on: a second operation
				  * on one of them is ABORTED (the CO retries), as the spec asks */
	_Atomic bool registered; /* the kubelet said so (NotifyRegistrationStatus) */
};

extern const struct grpc_method csi_identity_methods[];
extern const size_t csi_identity_n_methods;
extern const struct grpc_method csi_node_methods[];
extern const size_t csi_node_n_methods;
extern const struct grpc_method csi_registration_methods[];
extern const size_t csi_registration_n_methods;

/* Sets up the state of p and the default deadlines (the rest of its configuration is the
 * caller's). Returns 0 or -ENOMEM. */
int csi_node_init(struct csi_plugin *p);
/* True when weir-node answers a ping on p->node_socket. */
bool csi_node_alive(const struct csi_plugin *p);
/* Stops the idle views whose grace period is over; the loop's tick. */
void csi_node_tick(void *plugin);
/* Drops the records (and marks) in p->targets_dir of targets that went without an unpublish (a
 * crash, a reboot): their target is gone, another directory has their key, or no weir mount is
 * on it. Called at start, before any call is served. */
void csi_node_sweep(const struct csi_plugin *p);
/* Frees the state (the views stay mounted: weir-node keeps serving them). */
void csi_node_cleanup(struct csi_plugin *p);
