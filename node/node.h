// SPDX-License-Identifier: Apache-2.0
// weir-node's private header: struct node, which holds all the daemon's state, and what the
// files of node/ share. Fields under node.lock say so; see that lock's comment for its rules.
#ifndef WEIR_NODE_H
#define WEIR_NODE_H

#include <json-c/json.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "access_tracker.h"
#include "block_store.h"
#include "control.h"
#include "node_id.h"
#include "peer_auth.h"

struct strmap;
struct source;
struct view;
struct view_config;
struct view_source;
struct view_stats;
struct metrics;
struct cluster;
struct peer_client;
struct peer_server;
struct view_grants;
struct tier_pools;
struct node_report;
struct controller_members;
struct node_agent;
struct tier_roots;
struct tier_budget;

struct node_config {
	char state_dir[PATH_MAX];
	char socket_path[PATH_MAX];
	char log_level[16];
	int syslog;
	int bpf;
	char metrics_listen[64];
	char metrics_token_file[PATH_MAX];
	char metrics_timeout[8];
	char prefetch_max[32];
	char eviction[8];
	char namespace_weights[512];
	char namespace_prefetch[512];
	char max_stale[32];
	char open_mode[16];
	char ufs_stall_timeout[16];
	char ufs_retries[8];
	char bpf_max_views[8];
	char keeper_socket[PATH_MAX];
	char kubeconfig[PATH_MAX];
	char node_name[254];
	char kube_namespace[64];
	char report_interval[16];
	int deny_by_default;
	int member_pods; /* on Kubernetes: members need a running weir-node pod (node_agent.h) */
	char s3_node_keys[1024]; /* namespaces whose Datasets may use this node's own S3 keys */
	char ufs_roots[8192];  /* ufs_policy.h syntax: in a cluster, the UFS a namespace may use */
	char tier_roots[2048]; /* tier_roots.h syntax: in a cluster, where tiers may live */
	char controller_socket[PATH_MAX];
	char peers[32768]; /* 64 members of the longest names and URLs with their ;id= fit */
	char peer_listen[64];
	char peer_url[256];
	char peer_stall_timeout[16];
	char peer_key_file[PATH_MAX];
	char peer_key_secret[512];
	char node_id_file[PATH_MAX];
	int print_node_id;
	char cache_replicas[16];
	char near_cache[32];
};

struct node_view {
	struct view *view;
	unsigned refs; /* under node.lock: callbacks using it with the lock dropped */
	uint32_t id;   /* the eBPF tracker's view id */
	struct source *source;
	char *url, *ns, *dataset;
	char open_reason[160]; /* why its open mode (view_open_mode_pick) */
	/* Who counts its reads (heat, streams, weir top): "ebpf", or "weir-node: why" when eBPF
	 * is off or refused the view (then the view counts the READs it answers and its opens).
	 * Under node.lock, with ebpf (counted in node.bpf_views). */
	char tracking[160];
	bool ebpf;
	LIST_ENTRY(node_view) link; /* under node.lock */
};

struct node_source {
	struct source *source;
	bool freeing; /* under node.lock: on the closing list, being freed by node_reap() */
	LIST_ENTRY(node_source) link; /* under node.lock: on sources or closing */
};

/* A cache to delete once its source is freed. Listed until deleted, so that an open of the same
 * id waits for it (source_open would find half a cache). */
struct node_purge {
	char id[320];
	struct tier_config tiers[BLOCK_STORE_MAX_TIERS];
	unsigned ntiers;
	bool running; /* under node.lock: a thread deletes it now */
	bool manual;  /* under node.lock: its requester runs it (purge_run), not node_reap() */
	LIST_ENTRY(node_purge) link; /* under node.lock */
};

struct node_load {
	uint64_t id;
	struct load *load;
	struct source *source;	    /* referenced until the node stops */
	bool freeing;		    /* under node.lock: on dead_loads, being freed by node_reap() */
	LIST_ENTRY(node_load) link; /* under node.lock: on loads or dead_loads */
};

/* A source being opened (node.opening, by id): the requests that want the same source wait for
 * the first one's open and share its result instead of opening it again. */
struct node_opening {
	unsigned waiters; /* under node.lock; the last of them frees it once done */
	bool done;	  /* under node.lock */
	int err;	  /* under node.lock once done: 0 or the open's -errno */
	char msg[1024];	  /* under node.lock once done: the open's message */
};

struct node {
	struct node_config cfg;
	int listen_fd;
	int lock_fd;
	/* Guards the lists, maps and counters below and each view's refs. Held for memory
	 * updates only: never across I/O, a network round trip (a source's open, a revalidation),
	 * a thread join, a source close, a mount or unmount, a purge, or a reply to a client.
	 * Slow changes claim their key instead (busy: a mountpoint; opening: a source id), do
	 * their I/O without the lock and wait on changed for a key another request holds, so
	 * changes of different keys run in parallel. The only lock of struct node. */
	pthread_mutex_t lock;
	pthread_cond_t view_idle; /* a view's refs went to 0 */
	/* broadcast whenever a claim ends: a mountpoint or a source id is released, an open
	 * finished, a closed source or a load was freed, a purge ran */
	pthread_cond_t changed;
	/* under lock: mountpoints a mount or an unmount works on (value: the node). A request
	 * for a busy mountpoint waits until it is released, then looks again. */
	struct strmap *busy;
	struct strmap *opening;		   /* under lock: id -> struct node_opening */
	LIST_HEAD(, node_source) sources;  /* under lock */
	LIST_HEAD(, node_view) views;	   /* under lock */
	LIST_HEAD(, node_load) loads;	   /* under lock */
	LIST_HEAD(, node_load) dead_loads; /* under lock: stopped, freed (joined) by node_reap */
	LIST_HEAD(, node_source) closing;  /* under lock: closed, freed by node_reap */
	LIST_HEAD(, node_purge) purges;	   /* under lock: deferred and running purges */
	bool draining;			   /* under lock: shutting down, no new change */
	uint64_t next_load_id;		   /* under lock */
	uint32_t next_view_id;		   /* under lock */
	struct access_tracker *tracker;	   /* NULL when eBPF is off or could not load */
	char bpf_status[512];
	pthread_t tracker_thread;
	uint64_t prefetch_max;		       /* bytes */
	uint64_t near_cache;		       /* bytes */
	uint64_t max_stale_ms;		       /* a source's max-stale unless a mount sets it */
	unsigned stall_timeout_s, ufs_retries; /* every source's UFS client (ufs_options) */
	unsigned peer_stall_s;		       /* the peer client's (peer-stall-timeout) */
	unsigned bpf_max_views;		       /* views eBPF watches at once (bpf-max-views) */
	unsigned bpf_views;		       /* under lock: views eBPF watches now */
	unsigned metrics_timeout_s;
	struct metrics *metrics;
	/* With peers: the cluster's members, this node's client and server of blocks; set up
	 * before the first source opens, freed after the last closes. NULL: caching alone. */
	struct cluster *cluster;
	struct peer_key peer_key;
	struct node_id *node_id; /* this node's identity, with peers */
	struct peer_client *peers;
	struct peer_server *peer_server;
	/* On Kubernetes with peers: which members hold a view of which source (the source
	 * Datasets' status.viewNodes, filled by the node agent); the peer server serves a block
	 * only to those. NULL: no attester (a peers list without Kubernetes, the embedded default).
	 */
	struct view_grants *grants;
	struct tier_pools *pools;   /* one quota per tier path, shared by the sources on it */
	atomic_int retiring;	    /* cancelled loads still being freed (node_retire_load) */
	struct node_report *report; /* NULL without --kubeconfig */
	struct node_agent *agent; /* NULL without --kubeconfig: in a cluster, takes its own work */
	/* In a cluster with tier-roots: each root's size bounds the sum of the quotas of the
	 * tiers of the open sources (the closing included) under it, committed per source id
	 * when it opens and released when it closes; its own lock, taken under node.lock. NULL:
	 * no bound. The roots are immutable. */
	struct tier_roots *tier_roots;
	struct tier_budget *tier_budget;
	/* embedded default with peer-listen and no peers: members from weir-controller */
	struct controller_members *cmembers;
	/* The store socket of the weir-keeper this process runs under (-1: none, and views die
	 * with the process). Written by any thread: one message each, no lock. */
	int keeper_fd;
	/* keeper_fd is a weir-keeper --listen reached through keeper-socket, outside our
	 * container: SIGTERM (a pod replaced) leaves the views to it for the next weir-node */
	bool keeper_external;
	atomic_int
	    stopping; /* set by a Shutdown request or the signalfd loop; other threads poll it */
};

/* A view a dead weir-node left with the keeper: its mountpoint and descriptors (borrowed). */
struct node_adopt {
	const char *mountpoint;
	int fuse_fd, journal_fd;
};

/* What a view hands the keeper (view_config.keep): its mount request, so that the next
 * weir-node can make the same view again, and its descriptors. */
struct node_keep {
	struct node *node;
	const char *mountpoint;
	const Weir__MountRequest *req;
};

/* What opens a source; a MountRequest and a SourceRequest both carry it. */
struct source_params {
	const char *id, *url;
	Weir__TierSpec **tiers;
	size_t ntiers;
	double high, low;
	uint32_t block_size;
	unsigned fetch_concurrency;
	unsigned cache_replicas;
	const Weir__S3Keys *keys; /* a SourceRequest's: the Dataset's Secret's; NULL: none */
};

/* A MountRequest and a SourceRequest carry the same source fields under the same names. */
#define SOURCE_PARAMS(m, id_)                                                                      \
	{                                                                                          \
		.id = (id_), .url = (m)->ufs_url, .tiers = (m)->tiers, .ntiers = (m)->n_tiers,     \
		.high = (m)->high, .low = (m)->low, .block_size = (m)->block_size,                 \
		.fetch_concurrency = (m)->fetch_concurrency,                                       \
		.cache_replicas = (m)->cache_replicas,                                             \
	}

/* Where the bytes readers of view v got came from, beyond the READs weir answered: the view's
 * page cache and passthrough opens (straight from a tier file). eBPF measures both; without it
 * page-cache bytes are unknown (0) and each passthrough open counts as a read of its whole
 * file. */
struct view_reads {
	uint64_t page_cache;
	uint64_t passthrough;
	bool measured; /* passthrough is what eBPF counted, not the file-size guess */
	struct access_view_counters ac;
	bool have_ac;
};

struct conn {
	struct node *node;
	int fd;
};

/* config.c */
/* Fills c from its defaults, WEIR_STATE_DIR, the config file (--config, WEIR_NODE_CONFIG or
 * <state-dir>/node.conf) and the flags over it; says what is wrong on stderr. Returns 0 to run,
 * 1 when --help was printed (exit 0), or -EINVAL (exit 2). */
int node_config_parse(struct node_config *c, int argc, char **argv);
/* Logs the effective configuration, one line per setting. */
void node_config_log(const struct node_config *c);
int node_parse_count(const char *s, unsigned min, unsigned max, unsigned *ret);
uint64_t node_namespace_prefetch_max(const struct node *n, const char *ns);
double node_namespace_weight(const struct node *n, const char *ns);

/* sources.c: the _locked ones are called and return with node.lock held */
struct node_source *node_find_source_locked(struct node *n, const char *id);
void node_close_source_locked(struct node *n, struct source *src);
bool node_source_closing_locked(const struct node *n, const char *id);
int node_purge_locked(struct node *n, struct node_purge *p);
void node_reap(struct node *n);
struct node_purge *node_purge_add_locked(struct node *n, const char *id,
					 const struct tier_config *tiers, unsigned ntiers,
					 bool manual);
void node_drop_source_locked(struct node *n, struct source *src);
/* After a view of src went: a plain mount's source (no Dataset, no controller hold) left with no
 * view is closed on a node with tier-roots, giving its tiers' share of the roots back at
 * `weir umount` (its cache stays on disk; the next mount of its URL reopens it). Elsewhere it
 * stays open, warm. Called with lock held; node_reap() frees it. */
void node_close_idle_plain_locked(struct node *n, struct source *src);
void node_wait_id_settled_locked(struct node *n, const char *id);
int node_wait_opening_locked(struct node *n, const char *id, char *err, size_t errlen);
int node_get_source_locked(struct node *n, const struct source_params *p, struct source **ret,
			   bool *ret_created, char *err, size_t errlen);
/* Does src have the tiers p asks (paths, media and quotas, in order)? */
bool node_source_same_tiers(const struct source *src, const struct source_params *p);

/* views.c */
int node_keep_view(void *arg, int fuse_fd, int journal_fd);
void node_view_free(struct node_view *nv);
int node_mp_claim_locked(struct node *n, const char *mp);
void node_mp_release_locked(struct node *n, const char *mp);
struct node_view *node_find_view_locked(struct node *n, const char *mp);
void node_stop_view(struct node *n, struct node_view *nv);
struct node_view *node_view_get_locked(struct node *n, uint32_t id);
void node_view_put(struct node *n, struct node_view *nv);
void node_reap_exited(struct node *n);
void node_adopt_views(struct node *n);
/* Hands the views taken over before eBPF loaded to it (node_track_view_locked). */
void node_track_adopted(struct node *n);
/* The open mode of view vc (its source's metadata in vs): the mount's, else node.conf's; auto
 * may list the source, so no lock may be held. Returns 0 with vc->no_open and why set, or
 * -errno with a message in err. */
int node_open_mode(struct node *n, const Weir__MountRequest *m, struct view_config *vc,
		   const struct view_source *vs, char *why, size_t whylen, char *err,
		   size_t errlen);

/* loads.c */
void node_stop_loads_locked(struct node *n, struct source *src);
void node_retire_load(struct node *n, struct node_load *nl);

/* rpc.c */
void node_handle_mount(struct node *n, const Weir__MountRequest *m, Weir__Response *resp,
		       const struct node_adopt *ad);
/* A connection's thread (detached): reads one request, answers it, closes c->fd, frees c. */
void *node_conn_thread(void *arg);

/* stat.c */
void node_view_reads_get(struct node *n, const struct node_view *v, const struct view_stats *st,
			 struct view_reads *ret);
/* Adds to *hits what the views of src read from the node's cache (page cache, passthrough,
 * tier) and to *misses what they waited on the UFS for. Under n->lock. */
void node_source_reads_locked(struct node *n, const struct source *src, uint64_t *hits,
			      uint64_t *misses);
void node_view_stat_release(Weir__ViewStat *vs);
void node_fill_view_stat(struct node *n, struct node_view *nv, Weir__ViewStat *vs,
			 Weir__TierStat *ts, Weir__TierStat **tsp);
void node_fill_memory(struct node *n, Weir__MemoryStat *m);
/* This node's traffic since it started (what a Lease's weir.io/traffic or a MemberHeartbeat
 * reports): UFS bytes of every open source, peer bytes, its views' hits and misses. Takes
 * n->lock briefly. */
void node_traffic_get(struct node *n, Weir__NodeTraffic *ret);
int node_collect_figures(void *arg, json_object **ret, json_object **ret_traffic,
			 json_object **ret_loads);

/* tracker.c */
bool node_passthrough_hold(void *data, bool hold, dev_t dev, uint64_t ino, uint64_t cgroup_id,
			   int tier_fd);
/* Hands a listed view to eBPF (add_view), or, when eBPF is off, not loaded yet, or refuses it
 * (bpf-max-views views watched, its map full), has the view count its own reads
 * (view_count_own_reads); sets nv->tracking. Returns 0 when eBPF watches it. Under lock. */
int node_track_view_locked(struct node *n, struct node_view *nv);
/* Loads the eBPF tracker unless bpf = 0 and starts its thread; sets n->bpf_status. */
void node_start_tracker(struct node *n);

/* metrics_text.c: the /metrics page (metrics_render_fn), malloc'd */
char *node_render_metrics(void *userdata);

/* cluster_start.c */
int node_start_cluster(struct node *n, bool kube);
/* Where this node's identity key is: node-id-file, else <state-dir>/node-id.key. */
void node_id_path(const struct node_config *cfg, char *out, size_t len);

#endif
