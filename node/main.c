// SPDX-License-Identifier: Apache-2.0
// weir-node: the node daemon. Owns the sources and views of this machine and answers the
// control socket; one struct node holds all its state.
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "fdstore.h"
#include "fuse_mounts.h"
#include "redact.h"
#include "safe_dir.h"
#include "access_tracker.h"
#include "loader.h"
#include "memory.h"
#include "metrics.h"
#include "quantity.h"
#include "log.h"
#include "node_agent.h"
#include "node_report.h"
#include "source.h"
#include "strmap.h"
#include "tier_pool.h"
#include "view.h"
#include "cluster.h"
#include "peer_auth.h"
#include "peer_client.h"
#include "peer_server.h"

struct node_config {
	char state_dir[PATH_MAX];
	char socket_path[PATH_MAX];
	char log_level[16];
	int syslog;
	int bpf;
	char metrics_listen[64];
	char prefetch_max[32];
	char eviction[8];
	char namespace_weights[512];
	char namespace_prefetch[512];
	char max_stale[32];
	char ufs_stall_timeout[16];
	char ufs_retries[8];
	char keeper_socket[PATH_MAX];
	char kubeconfig[PATH_MAX];
	char node_name[254];
	char kube_namespace[64];
	char report_interval[16];
	int deny_by_default;
	char controller_socket[PATH_MAX];
	char peers[4096];
	char peer_listen[64];
	char peer_key_file[PATH_MAX];
	char cache_replicas[16];
	int near_cache;
};

enum cfg_type { CFG_STR, CFG_BOOL };

/* The descriptor table: config file first, then flags over it. */
static const struct cfg_desc {
	const char *name;
	enum cfg_type type;
	size_t offset, size;
	const char *def;
	const char *help;
} cfg_table[] = {
    {"state-dir", CFG_STR, offsetof(struct node_config, state_dir), PATH_MAX, "/var/lib/weir",
     "where the index, metadata and socket live"},
    {"socket", CFG_STR, offsetof(struct node_config, socket_path), PATH_MAX, "",
     "control socket (default <state-dir>/node.sock)"},
    {"log-level", CFG_STR, offsetof(struct node_config, log_level), 16, "info",
     "debug, info, notice, warning, err"},
    {"syslog", CFG_BOOL, offsetof(struct node_config, syslog), sizeof(int), "0",
     "log to syslog instead of stderr"},
    {"bpf", CFG_BOOL, offsetof(struct node_config, bpf), sizeof(int), "1",
     "track reads with eBPF (0: only the READs weir sees)"},
    {"metrics-listen", CFG_STR, offsetof(struct node_config, metrics_listen), 64, "127.0.0.1:9477",
     "HOST:PORT of /metrics (\"\" = off)"},
    {"eviction", CFG_STR, offsetof(struct node_config, eviction), 8, "heat",
     "heat (eBPF-ranked, page-cache hits included) or lru"},
    {"namespace-weights", CFG_STR, offsetof(struct node_config, namespace_weights), 512, "",
     "NS=W,... heat multipliers per namespace (default 1)"},
    {"namespace-prefetch-max", CFG_STR, offsetof(struct node_config, namespace_prefetch), 512, "",
     "NS=SIZE,... prefetch-max per namespace"},
    {"prefetch-max", CFG_STR, offsetof(struct node_config, prefetch_max), 32, "128MiB",
     "largest window a stream prefetches ahead, per view"},
    {"max-stale", CFG_STR, offsetof(struct node_config, max_stale), 32, "1d",
     "how long past the metadata TTL to serve cached metadata while a UFS is unreachable"},
    {"ufs-stall-timeout", CFG_STR, offsetof(struct node_config, ufs_stall_timeout), 16, "30",
     "seconds a UFS transfer may stay under 1 KiB/s before it is abandoned (then retried)"},
    {"keeper-socket", CFG_STR, offsetof(struct node_config, keeper_socket), PATH_MAX, "",
     "a weir-keeper --listen socket holding the views' descriptors, when this process runs "
     "under no keeper of its own (a DaemonSet whose image changes: SIGTERM then leaves the "
     "views to it for the next weir-node instead of unmounting them)"},
    {"ufs-retries", CFG_STR, offsetof(struct node_config, ufs_retries), 8, "4",
     "attempts after the first on a reset, stall, 5xx or short body (a reader waits at most "
     "(ufs-retries + 1) x ufs-stall-timeout plus backoff for a block)"},
    {"kubeconfig", CFG_STR, offsetof(struct node_config, kubeconfig), PATH_MAX, "",
     "report cache figures to this cluster (Lease weir-node-<node-name>); in a pod with "
     "--node-name, its service account"},
    {"node-name", CFG_STR, offsetof(struct node_config, node_name), 254, "",
     "this node's name in the cluster (default: the host name)"},
    {"kube-namespace", CFG_STR, offsetof(struct node_config, kube_namespace), 64, "",
     "namespace of the figures Lease (default: the kubeconfig's or the pod's)"},
    {"report-interval", CFG_STR, offsetof(struct node_config, report_interval), 16, "5",
     "seconds between Lease renewals; the Lease lasts 6 of them"},
    {"deny-by-default", CFG_BOOL, offsetof(struct node_config, deny_by_default), sizeof(int), "0",
     "in a cluster, plan references as weir-controller --deny-by-default does"},
    {"controller-socket", CFG_STR, offsetof(struct node_config, controller_socket), PATH_MAX, "",
     "without a cluster, where mount plans come from (default <state-dir>/controller.sock)"},
    {"peers", CFG_STR, offsetof(struct node_config, peers), 4096, "",
     "NAME=http://IP:PORT,... every weir-node sharing one cache, this one (node-name) included "
     "(\"\" = this node caches alone)"},
    {"peer-listen", CFG_STR, offsetof(struct node_config, peer_listen), 64, "",
     "IPv4:PORT where this node serves its blocks to peers (with peers)"},
    {"peer-key-file", CFG_STR, offsetof(struct node_config, peer_key_file), PATH_MAX, "",
     "the cluster's shared key, mode 0600 (default <state-dir>/peer.key)"},
    {"cache-replicas", CFG_STR, offsetof(struct node_config, cache_replicas), 16, "0",
     "how many of the peers cache each source (a Runtime's replicas; 0 = all); the others read "
     "through them"},
    {"near-cache", CFG_BOOL, offsetof(struct node_config, near_cache), sizeof(int), "1",
     "keep blocks read from peers in this node's tiers too"},
};

#define NCFG (sizeof(cfg_table) / sizeof(cfg_table[0]))

struct node_view {
	struct view *view;
	unsigned refs; /* under node.lock: callbacks using it with the lock dropped */
	uint32_t id;   /* the eBPF tracker's view id */
	struct source *source;
	char *url, *ns, *dataset;
	LIST_ENTRY(node_view) link; /* under node.lock */
};

struct node_source {
	struct source *source;
	bool freeing; /* under node.lock: on the closing list, being freed by reap() */
	LIST_ENTRY(node_source) link; /* under node.lock: on sources or closing */
};

/* A cache to delete once its source is freed. Listed until deleted, so that an open of the same
 * id waits for it (source_open would find half a cache). */
struct node_purge {
	char id[320];
	struct tier_config tiers[BLOCK_STORE_MAX_TIERS];
	unsigned ntiers;
	bool running; /* under node.lock: a thread deletes it now */
	bool manual;  /* under node.lock: its requester runs it (purge_run), not reap() */
	LIST_ENTRY(node_purge) link; /* under node.lock */
};

struct node_load {
	uint64_t id;
	struct load *load;
	struct source *source;	    /* referenced until the node stops */
	bool freeing;		    /* under node.lock: on dead_loads, being freed by reap() */
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
	LIST_HEAD(, node_load) dead_loads; /* under lock: stopped, freed (joined) by reap */
	LIST_HEAD(, node_source) closing;  /* under lock: closed, freed by reap */
	LIST_HEAD(, node_purge) purges;	   /* under lock: deferred and running purges */
	bool draining;			   /* under lock: shutting down, no new change */
	uint64_t next_load_id;		   /* under lock */
	uint32_t next_view_id;		   /* under lock */
	struct access_tracker *tracker;	   /* NULL when eBPF is off or could not load */
	char bpf_status[512];
	pthread_t tracker_thread;
	uint64_t prefetch_max;		       /* bytes */
	uint64_t max_stale_ms;		       /* a source's max-stale unless a mount sets it */
	unsigned stall_timeout_s, ufs_retries; /* every source's UFS client (ufs_options) */
	struct metrics *metrics;
	/* With peers: the cluster's members, this node's client and server of blocks; set up
	 * before the first source opens, freed after the last closes. NULL: caching alone. */
	struct cluster *cluster;
	struct peer_key peer_key;
	struct peer_client *peers;
	struct peer_server *peer_server;
	struct tier_pools *pools;   /* one quota per tier path, shared by the sources on it */
	atomic_int retiring;	    /* cancelled loads still being freed (retire_load) */
	struct node_report *report; /* NULL without --kubeconfig */
	struct node_agent *agent; /* NULL without --kubeconfig: in a cluster, takes its own work */
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

static int keep_view(void *arg, int fuse_fd, int journal_fd)
{
	struct node_keep *k = arg;
	size_t len = weir__mount_request__get_packed_size(k->req);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	weir__mount_request__pack(k->req, buf);
	int fds[2] = {fuse_fd, journal_fd};
	int r = fdstore_send(k->node->keeper_fd, FDSTORE_PUT, k->mountpoint, buf, len, fds, 2);
	free(buf);
	return r;
}

/* Connects to a weir-keeper --listen at path. Returns the socket or -errno. */
static int keeper_connect(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* A decimal count in [min, max] (the whole string). */
static int parse_count(const char *s, unsigned min, unsigned max, unsigned *ret)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

static int cfg_set(struct node_config *c, const char *name, const char *value)
{
	for (size_t i = 0; i < NCFG; i++) {
		const struct cfg_desc *d = &cfg_table[i];
		if (strcmp(d->name, name) != 0)
			continue;
		char *field = (char *)c + d->offset;
		if (d->type == CFG_STR) {
			if (strlen(value) >= d->size)
				return -ENAMETOOLONG;
			strcpy(field, value);
		} else {
			int b = strcmp(value, "1") == 0 || strcmp(value, "true") == 0 ||
				strcmp(value, "yes") == 0;
			if (!b && strcmp(value, "0") && strcmp(value, "false") &&
			    strcmp(value, "no"))
				return -EINVAL;
			*(int *)field = b;
		}
		return 0;
	}
	return -ENOENT;
}

static int cfg_load_file(struct node_config *c, const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char line[PATH_MAX + 64];
	int lineno = 0, r = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *p = line + strspn(line, " \t");
		if (*p == '#' || *p == '\n' || !*p)
			continue;
		p[strcspn(p, "\n")] = '\0';
		char *eq = strchr(p, '=');
		if (!eq) {
			fprintf(stderr, "weir-node: %s:%d: expected name = value\n", path, lineno);
			r = -EINVAL;
			break;
		}
		*eq = '\0';
		char *name = p, *value = eq + 1;
		name[strcspn(name, " \t")] = '\0';
		value += strspn(value, " \t");
		int e = cfg_set(c, name, value);
		if (e < 0) {
			fprintf(stderr, "weir-node: %s:%d: %s \"%s\"\n", path, lineno,
				e == -ENOENT ? "unknown setting" : "bad value for", name);
			r = -EINVAL;
			break;
		}
	}
	fclose(f);
	return r;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: weir-node [--config FILE]");
	for (size_t i = 0; i < NCFG; i++)
		fprintf(out, " [--%s%s]", cfg_table[i].name,
			cfg_table[i].type == CFG_STR ? " VALUE" : "");
	fprintf(out, "\n");
	for (size_t i = 0; i < NCFG; i++)
		fprintf(out, "  --%-12s %s (default \"%s\")\n", cfg_table[i].name,
			cfg_table[i].help, cfg_table[i].def);
}

static void set_error(Weir__Response *resp, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static double namespace_weight(const struct node *n, const char *ns);

static void set_error(Weir__Response *resp, int err, const char *fmt, ...)
{
	static __thread char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	redact_text(buf, sizeof(buf)); /* replies reach users and logs: no credentials */
	resp->error = err;
	resp->message = buf;
}

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

/* One number for a set of keys (0: none), to tell a rotated Secret from the one a source was
 * opened with. FNV-1a: kept in memory only, never shown. */
static uint64_t keys_sig(const Weir__S3Keys *k)
{
	if (!k || !k->access_key_id || !*k->access_key_id)
		return 0;
	uint64_t h = 14695981039346656037ull;
	const char *const v[] = {k->access_key_id, k->secret_access_key ? k->secret_access_key : "",
				 k->session_token ? k->session_token : ""};
	for (size_t i = 0; i < 3; i++)
		for (const char *c = v[i];; c++) {
			h = (h ^ (unsigned char)*c) * 1099511628211ull;
			if (!*c)
				break;
		}
	return h ? h : 1;
}

/* A MountRequest and a SourceRequest carry the same source fields under the same names. */
#define SOURCE_PARAMS(m, id_)                                                                      \
	{                                                                                          \
		.id = (id_), .url = (m)->ufs_url, .tiers = (m)->tiers, .ntiers = (m)->n_tiers,     \
		.high = (m)->high, .low = (m)->low, .block_size = (m)->block_size,                 \
		.fetch_concurrency = (m)->fetch_concurrency,                                       \
		.cache_replicas = (m)->cache_replicas,                                             \
	}

static int parse_tiers(const struct source_params *p, struct source_config *sc, char *err,
		       size_t errlen)
{
	if (p->ntiers == 0 || p->ntiers > BLOCK_STORE_MAX_TIERS) {
		snprintf(err, errlen, "between 1 and %d tiers are needed, got %zu",
			 BLOCK_STORE_MAX_TIERS, p->ntiers);
		return -EINVAL;
	}
	for (size_t i = 0; i < p->ntiers; i++) {
		struct tier_config *t = &sc->tiers[i];
		snprintf(t->medium, sizeof(t->medium), "%s", p->tiers[i]->medium);
		snprintf(t->path, sizeof(t->path), "%s", p->tiers[i]->path);
		t->quota = p->tiers[i]->quota;
	}
	sc->ntiers = p->ntiers;
	return 0;
}

static struct node_source *find_source_locked(struct node *n, const char *id)
{
	struct node_source *s;
	LIST_FOREACH(s, &n->sources, link)
	if (strcmp(s->source->id, id) == 0)
		return s;
	return NULL;
}

/* Drops a reference. A source nobody uses stays open (its index loaded and verified, so the
 * next view of it is warm at once) until a controller closes it or the node stops. */
static void close_source_locked(struct node *n, struct source *src)
{
	struct node_source *s;
	LIST_FOREACH(s, &n->sources, link)
	if (s->source == src) {
		LIST_REMOVE(s, link);
		/* Freed by reap() once the lock is released: freeing waits for fetches in
		 * flight and joins the source's threads. */
		LIST_INSERT_HEAD(&n->closing, s, link);
		return;
	}
}

/* True while a closed source of this id is not freed yet or its cache is being purged: an
 * open of the id waits (the index is locked, the cache half gone). */
static bool id_settling_locked(const struct node *n, const char *id)
{
	const struct node_source *s;
	const struct node_purge *p;
	LIST_FOREACH(s, &n->closing, link)
	if (strcmp(s->source->id, id) == 0)
		return true;
	LIST_FOREACH(p, &n->purges, link)
	if (strcmp(p->id, id) == 0)
		return true;
	return false;
}

static bool source_closing_locked(const struct node *n, const char *id)
{
	const struct node_source *s;
	LIST_FOREACH(s, &n->closing, link)
	if (strcmp(s->source->id, id) == 0)
		return true;
	return false;
}

/* A stopped load still runs on its source until load_free joins it. */
static bool dead_load_uses_locked(const struct node *n, const struct source *src)
{
	const struct node_load *nl;
	LIST_FOREACH(nl, &n->dead_loads, link)
	if (nl->source == src)
		return true;
	return false;
}

/* Deletes the cache of p (listed, marked running by the caller) without the lock, then
 * forgets p. Called and returns with lock held. Returns source_purge's result. */
static int purge_locked(struct node *n, struct node_purge *p)
{
	pthread_mutex_unlock(&n->lock);
	int r = source_purge(n->cfg.state_dir, p->id, p->tiers, p->ntiers);
	pthread_mutex_lock(&n->lock);
	LIST_REMOVE(p, link);
	free(p);
	pthread_cond_broadcast(&n->changed);
	return r;
}

/* Frees what the locked paths set aside, one item at a time and each without the lock:
 * stopped loads first (their threads use their sources), then closed sources no stopped load
 * uses, then the purges of caches whose source is freed. Items another thread is freeing are
 * left to it (it loops until nothing is left); callers that need one gone wait on changed.
 * Call without lock. */
static void reap(struct node *n)
{
	pthread_mutex_lock(&n->lock);
	for (;;) {
		struct node_load *nl;
		LIST_FOREACH(nl, &n->dead_loads, link)
		if (!nl->freeing)
			break;
		if (nl) {
			nl->freeing = true;
			pthread_mutex_unlock(&n->lock);
			load_free(nl->load);
			pthread_mutex_lock(&n->lock);
			LIST_REMOVE(nl, link);
			free(nl);
			pthread_cond_broadcast(&n->changed);
			continue;
		}
		struct node_source *dead;
		LIST_FOREACH(dead, &n->closing, link)
		if (!dead->freeing && !dead_load_uses_locked(n, dead->source))
			break;
		if (dead) {
			dead->freeing = true;
			pthread_mutex_unlock(&n->lock);
			log_info("closing source %s (%s)", dead->source->id, dead->source->url);
			source_free(dead->source);
			pthread_mutex_lock(&n->lock);
			LIST_REMOVE(dead, link);
			free(dead);
			pthread_cond_broadcast(&n->changed);
			continue;
		}
		struct node_purge *p;
		LIST_FOREACH(p, &n->purges, link)
		if (!p->running && !p->manual && !source_closing_locked(n, p->id))
			break;
		if (!p)
			break;
		p->running = true;
		char id[sizeof(p->id)];
		snprintf(id, sizeof(id), "%s", p->id);
		int r = purge_locked(n, p);
		if (r < 0)
			log_warn("purging the cache of source %s (its Dataset was deleted): %s", id,
				 strerror(-r));
		else
			log_info("purged the cache of source %s: its Dataset was deleted and its "
				 "last view is gone",
				 id);
	}
	pthread_mutex_unlock(&n->lock);
}

static struct node_purge *purge_add_locked(struct node *n, const char *id,
					   const struct tier_config *tiers, unsigned ntiers,
					   bool manual)
{
	struct node_purge *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	snprintf(p->id, sizeof(p->id), "%s", id);
	memcpy(p->tiers, tiers, sizeof(p->tiers));
	p->ntiers = ntiers;
	p->manual = manual;
	LIST_INSERT_HEAD(&n->purges, p, link);
	return p;
}

static void drop_source_locked(struct node *n, struct source *src)
{
	if (src->refs > 0)
		src->refs--;
	if (src->refs > 0 || !src->purge_pending)
		return;
	/* Its Dataset was deleted while mounted and the last view just went: close it now and
	 * purge its cache once it is freed (reap). */
	if (!purge_add_locked(n, src->id, src->tiers, src->ntiers, false))
		log_warn("out of memory: the cache of source %s stays on disk", src->id);
	close_source_locked(n, src);
}

/* Waits until no closed source of id is left unfreed and no purge of its cache runs, helping
 * with reap(). Called and returns with lock held. */
static void wait_id_settled_locked(struct node *n, const char *id)
{
	while (id_settling_locked(n, id)) {
		pthread_mutex_unlock(&n->lock);
		reap(n);
		pthread_mutex_lock(&n->lock);
		if (id_settling_locked(n, id))
			pthread_cond_wait(&n->changed, &n->lock);
	}
}

/* Waits for an open of id under way, if any. Returns its result: 0 (or no open was under way)
 * or its -errno with its message in err. Called and returns with lock held. */
static int wait_opening_locked(struct node *n, const char *id, char *err, size_t errlen)
{
	struct node_opening *op = strmap_get(n->opening, id);
	if (!op)
		return 0;
	op->waiters++;
	while (!op->done)
		pthread_cond_wait(&n->changed, &n->lock);
	int r = op->err;
	if (r < 0)
		snprintf(err, errlen, "%s", op->msg);
	if (--op->waiters == 0)
		free(op);
	return r;
}

static void node_view_free(struct node_view *nv)
{
	free(nv->url);
	free(nv->ns);
	free(nv->dataset);
	free(nv);
}

static bool same_tiers(const struct source *src, const struct source_params *p)
{
	if (src->ntiers != p->ntiers)
		return false;
	for (size_t i = 0; i < p->ntiers; i++)
		if (strcmp(src->tiers[i].path, p->tiers[i]->path) != 0 ||
		    strcmp(src->tiers[i].medium, p->tiers[i]->medium) != 0 ||
		    src->tiers[i].quota != p->tiers[i]->quota)
			return false;
	return true;
}

/* The Secret of an open source changed (rotated keys): checks the new keys with a client of
 * their own (a listing of the root, as an open does), then signs the source's requests with them
 * from now on, while its views read on: no remount, no reader error. Called and returns with
 * lock held; the check runs without it, the source's id claimed (as an open claims it: requests
 * for the id wait, then look again) and the source referenced. The source may be gone when it
 * returns: look it up again. Returns 0, or -errno with err naming the bucket and the server's
 * answer, never a key; the previous keys then stay. */
static int rotate_keys_locked(struct node *n, struct source *src, const struct source_params *p,
			      uint64_t ksig, char *err, size_t errlen)
{
	const Weir__S3Keys *k = p->keys;
	struct ufs_options uo = {.max_connections = 1,
				 .s3_access_key = k->access_key_id,
				 .s3_secret_key = k->secret_access_key,
				 .s3_session_token = k->session_token};
	unsigned views = src->refs - (src->held ? 1u : 0u);
	char msg[512] = "";
	struct ufs *check = NULL;
	struct node_opening *op = calloc(1, sizeof(*op));
	int perr = op ? 0 : -ENOMEM;
	if (perr == 0)
		strmap_put(n->opening, p->id, op, &perr);
	if (perr < 0) {
		free(op);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	src->refs++;
	pthread_mutex_unlock(&n->lock);
	int r = ufs_new(src->url, &uo, &check, msg, sizeof(msg));
	if (r == 0)
		r = ufs_probe(check, msg, sizeof(msg));
	ufs_free(check);
	if (r == 0) {
		r = ufs_set_keys(src->ufs, k->access_key_id, k->secret_access_key,
				 k->session_token);
		if (r < 0)
			snprintf(msg, sizeof(msg), "%s",
				 src->ufs->last_error[0] ? src->ufs->last_error : strerror(-r));
	}
	pthread_mutex_lock(&n->lock);
	/* the requests that waited for the id look again (their keys may differ from these) */
	strmap_remove(n->opening, p->id);
	op->done = true;
	pthread_cond_broadcast(&n->changed);
	if (op->waiters == 0)
		free(op);
	if (r == 0)
		src->keys_sig = ksig;
	drop_source_locked(n, src);
	if (r < 0) {
		snprintf(
		    err, errlen,
		    "source %s: the keys of its changed Secret do not work (its views keep the "
		    "previous ones): %s",
		    p->id, msg[0] ? msg : strerror(-r));
		return r;
	}
	log_notice("source %s: its Secret changed; its requests are signed with the new keys from "
		   "now on (%u view(s) read on)",
		   p->id, views);
	return 0;
}

/* Finds the source with p->id or opens it; either way takes a reference (drop it with
 * drop_source_locked). Called and returns with lock held; the open runs without it. While one
 * request opens an id, the others that want it wait for that open and share its result. Returns
 * 0, or -errno with a message in err. */
static int get_source_locked(struct node *n, const struct source_params *p, struct source **ret,
			     bool *ret_created, char *err, size_t errlen)
{
	int r;
	/* (looped: opened and closed again meanwhile, another request may reopen it) */
	while (strmap_get(n->opening, p->id))
		if ((r = wait_opening_locked(n, p->id, err, errlen)) < 0)
			return r;
	struct node_source *ns = find_source_locked(n, p->id);
	uint64_t ksig = keys_sig(p->keys);
	if (ns && ksig && ns->source->keys_sig != ksig && strcmp(ns->source->url, p->url) == 0) {
		r = rotate_keys_locked(n, ns->source, p, ksig, err, errlen);
		if (r < 0)
			return r;
		ns = find_source_locked(n, p->id); /* the lock was dropped: it may have gone */
	}
	if (ns && ns->source->refs == 0 && !same_tiers(ns->source, p)) {
		/* Idle, and asked for with other tiers: reopen it with those. */
		close_source_locked(n, ns->source);
		ns = NULL;
	}
	if (ns) {
		if (strcmp(ns->source->url, p->url) != 0) {
			snprintf(err, errlen, "source id \"%s\" is already used by %s", p->id,
				 ns->source->url);
			return -EEXIST;
		}
		ns->source->refs++;
		*ret = ns->source;
		*ret_created = false;
		return 0;
	}
	struct source_config sc = {
	    .id = p->id,
	    .url = p->url,
	    .state_dir = n->cfg.state_dir,
	    .block_size = p->block_size ? p->block_size : 4u << 20,
	    .high = p->high > 0 ? p->high : 0.95,
	    .low = p->low > 0 ? p->low : 0.7,
	    .fetch_concurrency = p->fetch_concurrency,
	    .lru = strcmp(n->cfg.eviction, "lru") == 0,
	    .pools = n->pools,
	    .s3_access_key = p->keys ? p->keys->access_key_id : NULL,
	    .s3_secret_key = p->keys ? p->keys->secret_access_key : NULL,
	    .s3_session_token = p->keys ? p->keys->session_token : NULL,
	    .keys_sig = ksig,
	    .stall_timeout_s = n->stall_timeout_s,
	    .retries = n->ufs_retries,
	    .cluster = n->cluster,
	    .peers = n->peers,
	    .near_cache = n->cfg.near_cache,
	    .cache_replicas = p->cache_replicas,
	};
	err[0] = '\0';
	r = parse_tiers(p, &sc, err, errlen);
	if (r < 0)
		return r;
	/* Claim the id: requests for it wait for this open (wait_opening_locked). */
	struct node_opening *op = calloc(1, sizeof(*op));
	ns = calloc(1, sizeof(*ns));
	int perr = op && ns ? 0 : -ENOMEM;
	if (perr == 0)
		strmap_put(n->opening, p->id, op, &perr);
	if (perr < 0) {
		free(op);
		free(ns);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* A source of this id closed just now must be gone first (its index is locked), and
	 * its purge done. */
	wait_id_settled_locked(n, p->id);
	struct source *src = NULL;
	pthread_mutex_unlock(&n->lock);
	r = source_open(&sc, &src, err, errlen);
	pthread_mutex_lock(&n->lock);
	if (r < 0 && !err[0])
		snprintf(err, errlen, "%s", strerror(-r));
	strmap_remove(n->opening, p->id);
	op->done = true;
	op->err = r;
	snprintf(op->msg, sizeof(op->msg), "%s", r < 0 ? err : "");
	pthread_cond_broadcast(&n->changed);
	if (op->waiters == 0)
		free(op);
	if (r < 0) {
		free(ns);
		return r;
	}
	ns->source = src;
	LIST_INSERT_HEAD(&n->sources, ns, link);
	src->refs = 1;
	meta_cache_set_max_stale(src->meta, n->max_stale_ms);
	log_info("opened source %s (%s), block size %u, %zu tier(s)", p->id, p->url, sc.block_size,
		 p->ntiers);
	if (n->cluster)
		log_info("source %s: this node is %s", p->id,
			 cluster_is_cache_node(n->cluster, p->id, p->cache_replicas,
					       cluster_self(n->cluster))
			     ? "one of its cache nodes"
			     : "a client of it only (cache-replicas): its blocks live on peers");
	*ret = src;
	*ret_created = true;
	return 0;
}

/* True when url carries credentials: user[:password]@ in its authority. */
static bool url_has_credentials(const char *url)
{
	const char *a = strstr(url, "://");
	if (!a)
		return false;
	a += 3;
	return memchr(a, '@', strcspn(a, "/")) != NULL;
}

/* Where the view of Dataset ns/name that pods bind-mount lives: <state>/views/<ns>_<name>.
 * views/ is root's, mode 0700, so the view is reachable only through the pods' bind mounts
 * (and by root). Creates what is missing. Returns 0 or -errno with a message in errbuf. */
static int dataset_view_path(const struct node *n, const char *ns, const char *name, char *buf,
			     size_t len, char *errbuf, size_t errlen)
{
	if (!*ns || !*name || strchr(ns, '/') || strchr(name, '/') || ns[0] == '.' ||
	    name[0] == '.') {
		snprintf(errbuf, errlen, "dataset \"%s/%s\" is not a namespace and a name", ns,
			 name);
		return -EINVAL;
	}
	char dir[PATH_MAX];
	if (snprintf(dir, sizeof(dir), "%.4000s/views", n->cfg.state_dir) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	int r = safe_dir_ensure(dir, errbuf, errlen);
	if (r < 0)
		return r;
	if (snprintf(buf, len, "%s/%s_%s", dir, ns, name) >= (int)len)
		return -ENAMETOOLONG;
	if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(errbuf, errlen, "cannot create \"%.900s\": %s", buf, strerror(-r));
		return r;
	}
	return 0;
}

/* Claims mountpoint mp for one mount or unmount, waiting while another request holds it.
 * Returns 0, -ESHUTDOWN once the node stops, or -ENOMEM. Called and returns with lock held. */
static int mp_claim_locked(struct node *n, const char *mp)
{
	while (!n->draining && strmap_get(n->busy, mp))
		pthread_cond_wait(&n->changed, &n->lock);
	if (n->draining)
		return -ESHUTDOWN;
	int err = 0;
	strmap_put(n->busy, mp, n, &err);
	return err;
}

static void mp_release_locked(struct node *n, const char *mp)
{
	strmap_remove(n->busy, mp);
	pthread_cond_broadcast(&n->changed);
}

static struct node_view *find_view_locked(struct node *n, const char *mp)
{
	struct node_view *v;
	LIST_FOREACH(v, &n->views, link)
	if (strcmp(view_mountpoint(v->view), mp) == 0)
		return v;
	return NULL;
}

static bool passthrough_hold(void *data, bool hold, dev_t dev, uint64_t ino, int tier_fd);

static void handle_mount(struct node *n, const Weir__MountRequest *m, Weir__Response *resp,
			 const struct node_adopt *ad)
{
	char err[1024] = "";
	static __thread char mp[PATH_MAX];
	bool pod_view = (!m->mountpoint || !*m->mountpoint) && m->dataset && *m->dataset;
	if (ad) {
		/* Resolving the path would stat the mount, which waits for us. */
		snprintf(mp, sizeof(mp), "%s", ad->mountpoint);
	} else if (pod_view) {
		int r = dataset_view_path(n, m->namespace_ ? m->namespace_ : "", m->dataset, mp,
					  sizeof(mp), err, sizeof(err));
		if (r < 0) {
			set_error(resp, r, "%s", err);
			return;
		}
	} else if (!m->mountpoint || m->mountpoint[0] != '/' || !m->ufs_url || !*m->ufs_url) {
		set_error(resp, -EINVAL, "mount needs a UFS URL and an absolute mountpoint");
		return;
	} else if (!realpath(m->mountpoint, mp)) {
		snprintf(mp, sizeof(mp), "%s", m->mountpoint);
	}
	if (!m->ufs_url || !*m->ufs_url) {
		set_error(resp, -EINVAL, "mount needs a UFS URL");
		return;
	}
	/* One request per mountpoint at a time; other mountpoints go on meanwhile. A mount of a
	 * mountpoint being unmounted waits for that, and the other way round. */
	pthread_mutex_lock(&n->lock);
	int r = mp_claim_locked(n, mp);
	if (r < 0) {
		pthread_mutex_unlock(&n->lock);
		set_error(resp, r, "cannot mount \"%s\": %s", mp,
			  r == -ESHUTDOWN ? "weir-node is stopping" : strerror(-r));
		return;
	}
	struct node_view *v = find_view_locked(n, mp);
	if (v) {
		/* Every pod of a Dataset bind-mounts its one view. */
		if (pod_view && strcmp(v->url, m->ufs_url) == 0)
			resp->mountpoint = mp;
		else
			set_error(resp, -EBUSY, "\"%s\" is already a weir view (of %s)", mp,
				  v->url);
		goto out;
	}
	/* A weir-node killed with its views up leaves dead mounts; a new one stacked on them
	 * would hide them, not replace them. Without the lock: it waits for a dying daemon. */
	pthread_mutex_unlock(&n->lock);
	int cleared = ad ? 0 : fuse_mounts_clear_dead(mp);
	pthread_mutex_lock(&n->lock);
	if (cleared < 0) {
		if (cleared == -EBUSY)
			set_error(resp, cleared,
				  "\"%s\" is already a live weir mount of another weir-node "
				  "(another --state-dir); weir umount it there first",
				  mp);
		else
			set_error(resp, cleared, "cannot clear the dead mount at \"%s\": %s", mp,
				  strerror(-cleared));
		goto out;
	}
	/* The URL as users may see it: mount source (mountinfo is world-readable), stat. */
	char shown_url[4096];
	redact_url(m->ufs_url, shown_url, sizeof(shown_url));
	char idbuf[17];
	const char *id = m->source_id && *m->source_id ? m->source_id : NULL;
	if (!id) {
		source_id_for_url(m->ufs_url, idbuf);
		id = idbuf;
	}
	struct source_params sp = SOURCE_PARAMS(m, id);
	/* an open of it under way (weir-controller's, say) decides whether it is open */
	while (m->credentials && strmap_get(n->opening, id))
		wait_opening_locked(n, id, err, sizeof(err));
	err[0] = '\0';
	if (m->credentials && !strncmp(m->ufs_url, "s3://", 5) && !find_source_locked(n, id)) {
		/* its keys come from its Dataset's Secret, which only weir-controller reads: a
		 * view opening it here would read with this node's own keys instead */
		set_error(resp, -EAGAIN,
			  "source \"%s\" reads with its Dataset's Secret and is not open on this "
			  "node yet: weir-controller opens it when the Dataset is Bound; try again "
			  "in a moment",
			  id);
		goto out;
	}
	struct source *src;
	bool created;
	r = get_source_locked(n, &sp, &src, &created, err, sizeof(err));
	if (r < 0) {
		set_error(resp, r, "%s", err);
		goto out;
	}
	if (created && err[0])
		set_error(resp, 0, "%s",
			  err); /* the store's notes: a shared quota, a healed index */
	if (m->max_stale_set)
		meta_cache_set_max_stale(src->meta, m->max_stale_s * 1000ull);
	struct view_source vs = {
	    .ufs = src->ufs, .store = src->store, .fetcher = src->fetcher, .meta = src->meta};
	struct view_config vc = {
	    .mountpoint = mp,
	    .subpath = m->subpath,
	    .fsname = shown_url,
	    .metadata_ttl_ms = m->metadata_ttl_ms ? m->metadata_ttl_ms : 300000,
	    .readahead_blocks = src->fetch_concurrency,
	    .read_ahead_kb = 16384,
	    .no_prefetch = m->no_prefetch,
	    .no_passthrough = m->no_passthrough,
	    .read_streams = n->tracker == NULL,
	    .passthrough_unseen = !n->tracker,
	    .passthrough_hold = n->tracker ? passthrough_hold : NULL,
	    .passthrough_hold_data = n,
	    .read_write = m->read_write && ufs_writable(src->ufs),
	    .heat_weight = namespace_weight(n, m->namespace_ ? m->namespace_ : ""),
	    .owner = {.uid = m->uid, .gid = m->gid, .mode = m->mode & 07777},
	    .private_source = m->credentials || url_has_credentials(m->ufs_url),
	};
	struct node_keep keep = {.node = n, .mountpoint = mp, .req = m};
	if (ad) {
		vc.adopt = true;
		vc.adopt_fuse_fd = ad->fuse_fd;
		vc.adopt_journal_fd = ad->journal_fd;
	} else if (n->keeper_fd >= 0) {
		vc.keep = keep_view;
		vc.keep_arg = &keep;
	}
	if (m->read_write && !vc.read_write) {
		/* A grant can say rw; an HTTP tree still cannot be written. Serve it read-only and
		 * say so, rather than refuse the reader. */
		set_error(resp, 0,
			  "%s cannot be written (only local:// sources can): \"%s\" is "
			  "read-only",
			  m->ufs_url, mp);
		log_notice("%s", resp->message);
	} else if ((m->uid || m->gid || m->mode) && ufs_has_owners(src->ufs)) {
		/* The source's own owners win: an owner given for a view of them would hand its
		 * files to someone the source does not. */
		set_error(resp, 0,
			  "%s has owners of its own: \"%s\" shows them, not the owner and mode "
			  "given (those apply to HTTP sources)",
			  m->ufs_url, mp);
		log_notice("%s", resp->message);
	}
	struct node_view *nv = calloc(1, sizeof(*nv));
	r = nv ? 0 : -ENOMEM;
	if (nv) {
		nv->url = strdup(shown_url);
		nv->ns = strdup(m->namespace_ ? m->namespace_ : "");
		nv->dataset = strdup(m->dataset ? m->dataset : "");
		if (!nv->url || !nv->ns || !nv->dataset)
			r = -ENOMEM;
	}
	if (r == 0) {
		/* The FUSE mount, without the lock: readers of the node go on meanwhile. */
		pthread_mutex_unlock(&n->lock);
		r = view_start(&vc, &vs, &nv->view, err, sizeof(err));
		pthread_mutex_lock(&n->lock);
	}
	if (r < 0) {
		set_error(resp, r, "%s", err[0] ? err : strerror(-r));
		if (nv)
			node_view_free(nv);
		drop_source_locked(n, src);
		goto out;
	}
	nv->source = src;
	resp->mountpoint = mp;
	nv->id = ++n->next_view_id;
	LIST_INSERT_HEAD(&n->views, nv, link);
	if (n->tracker) {
		r = access_tracker_add_view(n->tracker, view_dev(nv->view), nv->id);
		if (r < 0)
			log_warn("eBPF will not see \"%s\": %s", mp, strerror(-r));
	}
	log_info("%s %s%s at \"%s\" %s (metadata TTL %u ms)%s", ad ? "took over" : "mounted",
		 m->ufs_url, m->subpath && *m->subpath ? m->subpath : "", mp,
		 vc.read_write ? "read-write" : "read-only", vc.metadata_ttl_ms,
		 created ? "" : ", sharing the source's cache");
out:
	mp_release_locked(n, mp);
	pthread_mutex_unlock(&n->lock);
	reap(n);
}

/* Stops and forgets the loads of src, dropping their references. Their threads are joined in
 * reap(), which frees no source a stopped load still uses. */
static void stop_loads_locked(struct node *n, struct source *src)
{
	struct node_load *nl = LIST_FIRST(&n->loads), *next;
	for (; nl; nl = next) {
		next = LIST_NEXT(nl, link);
		if (nl->source != src)
			continue;
		LIST_REMOVE(nl, link);
		LIST_INSERT_HEAD(&n->dead_loads, nl, link);
		drop_source_locked(n, src);
	}
}

static void handle_source(struct node *n, const Weir__SourceRequest *m, Weir__Response *resp)
{
	char err[1024] = "";
	if (!m->source_id || !*m->source_id) {
		set_error(resp, -EINVAL, "a source request needs a source id");
		return;
	}
	const char *id = m->source_id;
	struct node_purge *purge = NULL;
	pthread_mutex_lock(&n->lock);
	if (n->draining) {
		set_error(resp, -ESHUTDOWN, "source \"%s\": weir-node is stopping", id);
		goto out;
	}
	/* An open of the id under way finishes first: a close or a new URL applies to it. */
	while (strmap_get(n->opening, id))
		wait_opening_locked(n, id, err, sizeof(err));
	err[0] = '\0';
	if (m->close) {
		/* and a purge of its cache under way, so that two purges do not race */
		wait_id_settled_locked(n, id);
		struct node_source *ns = find_source_locked(n, m->source_id);
		if (ns && ns->source->held) {
			ns->source->held = false;
			drop_source_locked(n, ns->source);
		}
		if (ns && m->purge)
			stop_loads_locked(n, ns->source); /* a purged cache is not worth filling */
		if (ns && ns->source->refs > 0) {
			/* Mounted: the views keep reading; the cache goes with the last of them
			 * (drop_source_locked). */
			if (m->purge) {
				ns->source->purge_pending = true;
				log_info(
				    "source %s is still mounted: its cache will be purged when "
				    "its last view is unmounted",
				    m->source_id);
			}
			goto out;
		}
		struct tier_config tiers[BLOCK_STORE_MAX_TIERS];
		unsigned ntiers = 0;
		if (ns) {
			ntiers = ns->source->ntiers;
			memcpy(tiers, ns->source->tiers, sizeof(tiers));
			close_source_locked(n, ns->source);
		} else {
			/* Not open (e.g. after a restart): the request names the tiers. */
			for (size_t i = 0; i < m->n_tiers && i < BLOCK_STORE_MAX_TIERS; i++) {
				snprintf(tiers[i].path, sizeof(tiers[i].path), "%s",
					 m->tiers[i]->path);
				ntiers++;
			}
		}
		/* Listed at once, so that an open of the id waits for it; run below once the
		 * source is freed, without the lock. */
		if (m->purge && !(purge = purge_add_locked(n, id, tiers, ntiers, true)))
			set_error(resp, -ENOMEM, "purging the cache of \"%s\": out of memory", id);
		goto out;
	}
	if (!m->ufs_url || !*m->ufs_url) {
		set_error(resp, -EINVAL, "source \"%s\" needs a UFS URL", m->source_id);
		goto out;
	}
	/* The controller names a source by its Dataset: a new URL under the same id is a
	 * changed mountPoint. The old source goes (and source_open drops its cache) unless views
	 * still read it. */
	struct node_source *old = find_source_locked(n, m->source_id);
	if (old && strcmp(old->source->url, m->ufs_url) != 0) {
		struct source *os = old->source;
		/* source_open purges the old cache; dropping the last reference here must not
		 * close it under us */
		os->purge_pending = false;
		stop_loads_locked(n, os);
		if (os->held) {
			os->held = false;
			drop_source_locked(n, os);
		}
		if (os->refs > 0) {
			set_error(resp, -EBUSY,
				  "source \"%s\" changed its URL from %s to %s, but views of the "
				  "old one are mounted; unmount them and it switches",
				  m->source_id, os->url, m->ufs_url);
			goto out;
		}
		close_source_locked(n, os);
	}
	struct source_params sp = SOURCE_PARAMS(m, m->source_id);
	sp.keys = m->s3_keys;
	struct source *src;
	bool created;
	int r = get_source_locked(n, &sp, &src, &created, err, sizeof(err));
	if (r < 0) {
		set_error(resp, r, "%s", err);
		goto out;
	}
	src->purge_pending = false; /* its Dataset is back before its views went */
	if (src->held)
		drop_source_locked(n, src); /* already held: one hold per source */
	else
		src->held = true;
	usage_start(src->usage, false);
out:
	pthread_mutex_unlock(&n->lock);
	reap(n);
	if (!purge)
		return;
	pthread_mutex_lock(&n->lock);
	while (source_closing_locked(n, id)) {
		/* another request's reap() frees it: wait for that */
		pthread_mutex_unlock(&n->lock);
		reap(n);
		pthread_mutex_lock(&n->lock);
		if (source_closing_locked(n, id))
			pthread_cond_wait(&n->changed, &n->lock);
	}
	purge->running = true;
	int pr = purge_locked(n, purge);
	pthread_mutex_unlock(&n->lock);
	if (pr < 0)
		set_error(resp, pr, "purging the cache of \"%s\": %s", id, strerror(-pr));
	else
		log_info("purged the cache of source %s", id);
}

/* A view is about to pass an open through (hold) or released one: the tracker maps the tier file
 * to the view file, and counts reads of a tmpfs one only while it holds its sys_exit program
 * attached. Refusing the open when it cannot keeps that file's reads counted (through the
 * view). View threads, no lock held. */
static bool passthrough_hold(void *data, bool hold, dev_t dev, uint64_t ino, int tier_fd)
{
	struct node *n = data;
	int r = access_tracker_passthrough_hold(n->tracker, hold, dev, ino, tier_fd);
	if (r < 0 && hold) {
		log_warn("cannot count passthrough reads with eBPF (%s): opening without "
			 "passthrough",
			 strerror(-r));
		return false;
	}
	if (r < 0)
		log_debug("forgetting a passthrough open for eBPF: %s", strerror(-r));
	return true;
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

static void view_reads_get(struct node *n, const struct node_view *v, const struct view_stats *st,
			   struct view_reads *ret)
{
	struct view_reads r = {.passthrough = st->passthrough_bytes};
	if (n->tracker && access_tracker_view_counters(n->tracker, v->id, &r.ac) == 0) {
		r.have_ac = true;
		uint64_t kernel = r.ac.bytes_read - r.ac.bytes_passthrough;
		/* What readers got through the page cache that weir did not answer came from it.
		 * Read-ahead weir answered but nobody read makes this an underestimate, never an
		 * over-. */
		r.page_cache = kernel > st->read_bytes ? kernel - st->read_bytes : 0;
		/* every passthrough open was registered with the tracker, or refused */
		r.passthrough = r.ac.bytes_passthrough;
		r.measured = true;
	}
	*ret = r;
}

static void handle_usage(struct node *n, const Weir__UsageRequest *m, Weir__Response *resp,
			 Weir__Usage *u)
{
	pthread_mutex_lock(&n->lock);
	struct node_source *ns = m->source_id ? find_source_locked(n, m->source_id) : NULL;
	if (!ns) {
		set_error(resp, -ENOENT, "no source \"%s\" is open on this node",
			  m->source_id ? m->source_id : "");
		goto out;
	}
	struct source *src = ns->source;
	usage_start(src->usage, m->refresh);
	struct usage_totals t;
	usage_get(src->usage, m->subpath, &t);
	struct block_store_stats bs;
	block_store_get_stats(src->store, &bs);
	u->ufs_total = t.ufs_total;
	u->file_num = t.file_num;
	u->cached = t.cached;
	u->complete = t.complete;
	for (unsigned i = 0; i < bs.ntiers; i++)
		u->capacity += bs.tiers[i].quota;
	/* Bytes readers got from the cache (page cache, as eBPF sees it, and tiers) and bytes
	 * they waited on the UFS for, over every view of the source. */
	struct node_view *v;
	LIST_FOREACH(v, &n->views, link)
	{
		if (v->source != src)
			continue;
		struct view_stats st;
		struct view_reads vr;
		view_get_stats(v->view, &st);
		view_reads_get(n, v, &st, &vr);
		u->hits += st.tier_bytes + vr.page_cache + vr.passthrough;
		u->misses += st.ufs_bytes;
	}
	resp->usage = u;
	if (t.error && !t.complete)
		set_error(resp, t.error, "walking %s failed: %s", src->url, strerror(-t.error));
out:
	pthread_mutex_unlock(&n->lock);
}

static void handle_load(struct node *n, const Weir__LoadRequest *m, Weir__Response *resp)
{
	pthread_mutex_lock(&n->lock);
	struct node_source *ns = m->source_id ? find_source_locked(n, m->source_id) : NULL;
	struct node_load *nl = NULL;
	if (!ns) {
		set_error(resp, -ENOENT, "no source \"%s\" is open on this node",
			  m->source_id ? m->source_id : "");
		goto out;
	}
	if (m->n_paths == 0) {
		set_error(resp, -EINVAL, "a load needs at least one path");
		goto out;
	}
	if (m->n_share_nodes && (!m->share_self || !*m->share_self)) {
		set_error(resp, -EINVAL, "a shared load needs share_self, this node's name");
		goto out;
	}
	nl = calloc(1, sizeof(*nl));
	int r = nl ? load_start_share(ns->source, (const char *const *)m->paths, m->n_paths, 300000,
				      (const char *const *)m->share_nodes, m->n_share_nodes,
				      m->share_self, &nl->load)
		   : -ENOMEM;
	if (r < 0) {
		free(nl);
		set_error(resp, r, "cannot start the load: %s", strerror(-r));
		goto out;
	}
	nl->id = ++n->next_load_id;
	nl->source = ns->source;
	ns->source->refs++;
	LIST_INSERT_HEAD(&n->loads, nl, link);
	resp->load_id = nl->id;
	if (m->n_share_nodes)
		log_info(
		    "load %llu of %zu path(s) of %s started: the share of %s among %zu node(s)",
		    (unsigned long long)nl->id, m->n_paths, ns->source->url, m->share_self,
		    m->n_share_nodes);
	else
		log_info("load %llu of %zu path(s) of %s started", (unsigned long long)nl->id,
			 m->n_paths, ns->source->url);
out:
	pthread_mutex_unlock(&n->lock);
}

struct retiring {
	struct node *n;
	struct node_load *nl;
};

/* Frees a cancelled load: its workers finish the blocks they wait for (a throttled UFS may take
 * a while), so not on the requester's thread and not under the lock; its reference keeps the
 * source open until then. */
static void retire_now(struct node *n, struct node_load *nl)
{
	load_free(nl->load);
	pthread_mutex_lock(&n->lock);
	drop_source_locked(n, nl->source);
	pthread_mutex_unlock(&n->lock);
	free(nl);
	reap(n);
	atomic_fetch_sub(&n->retiring, 1);
}

static void *retire_thread(void *arg)
{
	struct retiring *rt = arg;
	retire_now(rt->n, rt->nl);
	free(rt);
	return NULL;
}

/* Hands an unlinked load to a detached thread that frees it (or frees it here when no thread
 * starts). Call without the lock. shutdown_all waits for n->retiring to drop to 0. */
static void retire_load(struct node *n, struct node_load *nl)
{
	struct retiring *rt = malloc(sizeof(*rt));
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	atomic_fetch_add(&n->retiring, 1);
	bool started = false;
	if (rt) {
		*rt = (struct retiring){n, nl};
		started = pthread_create(&t, &attr, retire_thread, rt) == 0;
		if (!started)
			free(rt);
	}
	pthread_attr_destroy(&attr);
	if (!started)
		retire_now(n, nl);
}

static void handle_load_status(struct node *n, const Weir__LoadStatusRequest *m,
			       Weir__Response *resp, Weir__LoadProgress *lp)
{
	static __thread char msg[512];
	pthread_mutex_lock(&n->lock);
	struct node_load *nl;
	LIST_FOREACH(nl, &n->loads, link)
	if (nl->id == m->load_id)
		break;
	if (!nl) {
		set_error(resp, -ENOENT, "no load %llu on this node (did weir-node restart?)",
			  (unsigned long long)m->load_id);
		goto out;
	}
	if (m->cancel) {
		LIST_REMOVE(nl, link);
		log_info("load %llu cancelled", (unsigned long long)nl->id);
		pthread_mutex_unlock(&n->lock);
		retire_load(n, nl);
		return;
	}
	struct load_progress p;
	load_get_progress(nl->load, &p);
	lp->bytes_done = p.bytes_done;
	lp->bytes_total = p.bytes_total;
	lp->files_done = p.files_done;
	lp->files_total = p.files_total;
	lp->finished = p.finished;
	lp->error = p.error;
	snprintf(msg, sizeof(msg), "%s", p.message);
	lp->message = msg;
	lp->started_ms = (uint64_t)p.started_ms;
	lp->finished_ms = (uint64_t)p.finished_ms;
	lp->ufs_bytes = p.ufs_bytes;
	resp->load = lp;
out:
	pthread_mutex_unlock(&n->lock);
}

/* Stops a view already taken out of n->views, whose mountpoint the caller claimed (busy): waits
 * for the callbacks still using it, unmounts it and joins its thread without the lock, then drops
 * its source and releases the mountpoint. Called without the lock. */
static void stop_view(struct node *n, struct node_view *nv)
{
	pthread_mutex_lock(&n->lock);
	while (nv->refs > 0)
		pthread_cond_wait(&n->view_idle, &n->lock);
	pthread_mutex_unlock(&n->lock);
	char mp[PATH_MAX];
	snprintf(mp, sizeof(mp), "%s", view_mountpoint(nv->view));
	log_info("unmounting \"%s\"", mp);
	if (n->tracker)
		access_tracker_remove_view(n->tracker, view_dev(nv->view));
	view_stop(nv->view);
	/* Unmounted: the keeper lets go of its connection too. */
	if (n->keeper_fd >= 0) {
		int r = fdstore_send(n->keeper_fd, FDSTORE_DEL, mp, NULL, 0, NULL, 0);
		if (r < 0)
			log_warn("telling the keeper \"%s\" is gone: %s", mp, strerror(-r));
	}
	pthread_mutex_lock(&n->lock);
	drop_source_locked(n, nv->source);
	mp_release_locked(n, mp);
	pthread_mutex_unlock(&n->lock);
	node_view_free(nv);
}

/* A view for a callback to use with the lock dropped (put it back with view_put), or NULL. */
static struct node_view *view_get_locked(struct node *n, uint32_t id)
{
	struct node_view *nv;
	LIST_FOREACH(nv, &n->views, link)
	if (nv->id == id) {
		nv->refs++;
		return nv;
	}
	return NULL;
}

static void view_put(struct node *n, struct node_view *nv)
{
	pthread_mutex_lock(&n->lock);
	if (--nv->refs == 0)
		pthread_cond_broadcast(&n->view_idle);
	pthread_mutex_unlock(&n->lock);
}

/* An unmount of a mountpoint being mounted waits for that mount, then unmounts what it made (or
 * answers ENOENT when it failed); a mount of a mountpoint being unmounted waits likewise. */
static void handle_umount(struct node *n, const Weir__UmountRequest *u, Weir__Response *resp)
{
	char mp[PATH_MAX];
	const char *want = u->mountpoint ? u->mountpoint : "";
	/* realpath of a dead mount fails; compare the path as given then. */
	if (!realpath(want, mp))
		snprintf(mp, sizeof(mp), "%s", want);
	pthread_mutex_lock(&n->lock);
	int r = mp_claim_locked(n, mp);
	if (r < 0) {
		pthread_mutex_unlock(&n->lock);
		set_error(resp, r, "cannot unmount \"%s\": %s", want,
			  r == -ESHUTDOWN ? "weir-node is stopping" : strerror(-r));
		return;
	}
	struct node_view *nv = find_view_locked(n, mp);
	if (!nv) {
		mp_release_locked(n, mp);
		pthread_mutex_unlock(&n->lock);
		set_error(resp, -ENOENT, "\"%s\" is not a view of this weir-node", want);
		return;
	}
	pthread_mutex_unlock(&n->lock);
	/* A plain unmount first: it fails while files are open, which the user should hear
	 * about rather than have their readers cut off. nv stays listed meanwhile (the claim: no
	 * other change removes it). */
	if (!u->force && view_umount(nv->view, 0) == -EBUSY) {
		set_error(resp, -EBUSY,
			  "\"%s\" is busy: files are open in it; close them, or weir "
			  "umount --force (their readers get errors)",
			  mp);
		pthread_mutex_lock(&n->lock);
		mp_release_locked(n, mp);
		pthread_mutex_unlock(&n->lock);
		return;
	}
	pthread_mutex_lock(&n->lock);
	LIST_REMOVE(nv, link);
	pthread_mutex_unlock(&n->lock);
	stop_view(n, nv);
	reap(n);
}

struct cgroup_collect {
	Weir__CgroupStat **items;
	size_t n, cap;
	size_t page;
};

static int collect_cgroup(void *userdata, const struct access_cgroup_counters *c)
{
	struct cgroup_collect *cc = userdata;
	if (cc->n == cc->cap) {
		size_t cap = cc->cap ? cc->cap * 2 : 8;
		Weir__CgroupStat **ni = realloc(cc->items, cap * sizeof(*ni));
		if (!ni)
			return -ENOMEM;
		cc->items = ni;
		cc->cap = cap;
	}
	Weir__CgroupStat *cs = malloc(sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	weir__cgroup_stat__init(cs);
	cs->cgroup_id = c->cgroup_id;
	cs->read_bytes = c->pages_read * cc->page;
	cs->read_calls = c->read_calls;
	cs->mmap_bytes = (c->pages_faulted + c->pages_mapped) * cc->page;
	cc->items[cc->n++] = cs;
	return 0;
}

/* A copy for a reply sent after the lock is released (the view may go meanwhile). */
static char *reply_str(const char *s)
{
	char *d = strdup(s ? s : "");
	return d ? d : (char *)protobuf_c_empty_string;
}

static void reply_str_free(char *s)
{
	if (s != protobuf_c_empty_string)
		free(s);
}

/* Frees what fill_view_stat allocated for vs. */
static void view_stat_release(Weir__ViewStat *vs)
{
	reply_str_free(vs->mountpoint);
	reply_str_free(vs->ufs_url);
	reply_str_free(vs->namespace_);
	reply_str_free(vs->dataset);
	reply_str_free(vs->source_id);
	for (size_t i = 0; i < vs->n_tiers; i++) {
		reply_str_free(vs->tiers[i]->medium);
		reply_str_free(vs->tiers[i]->path);
	}
	for (size_t i = 0; i < vs->n_cgroups; i++)
		free(vs->cgroups[i]);
	free(vs->cgroups);
	vs->cgroups = NULL;
	vs->n_cgroups = 0;
	free(vs->ufs_error);
	vs->ufs_error = NULL;
}

static void fill_view_stat(struct node *n, struct node_view *nv, Weir__ViewStat *vs,
			   Weir__TierStat *ts, Weir__TierStat **tsp)
{
	struct view_stats st;
	struct block_store_stats bs;
	struct source *src = nv->source;
	view_get_stats(nv->view, &st);
	block_store_get_stats(src->store, &bs);
	vs->mountpoint = reply_str(view_mountpoint(nv->view));
	vs->ufs_url = reply_str(nv->url);
	vs->namespace_ = reply_str(nv->ns);
	vs->dataset = reply_str(nv->dataset);
	vs->source_id = reply_str(src->id);
	vs->ufs_bytes = atomic_load(&src->ufs->stats.bytes);
	vs->ufs_requests = atomic_load(&src->ufs->stats.requests);
	vs->hits = st.hits;
	vs->misses = st.misses;
	vs->read_bytes = st.read_bytes;
	vs->evictions = bs.evictions;
	vs->tier_bytes = st.tier_bytes;
	vs->view_ufs_bytes = st.ufs_bytes;
	vs->prefetch_bytes = st.prefetch_bytes;
	vs->streams = st.streams;
	vs->passthrough_opens = st.passthrough_opens;
	struct view_memory vm;
	view_get_memory(nv->view, &vm);
	vs->memory_bytes = vm.bytes;
	vs->inodes = vm.inodes;
	vs->open_files = vm.open_files;
	vs->inflight = fetcher_inflight(src->fetcher);
	struct meta_cache_health h;
	meta_cache_get_health(src->meta, &h);
	vs->ufs_down_since_ms = (uint64_t)h.down_since_ms;
	vs->stale_served = h.stale_served;
	vs->stale_refused = h.stale_refused;
	vs->stale_age_ms = (uint64_t)h.stale_age_ms;
	vs->max_stale_ms = h.max_stale_ms;
	/* the cause comes without the URL; a redirect's target could still name one */
	redact_text(h.cause, sizeof(h.cause));
	vs->ufs_error = strdup(h.down_since_ms ? h.cause : "");
	struct view_reads vr;
	view_reads_get(n, nv, &st, &vr);
	vs->passthrough_read_bytes = vr.measured ? vr.passthrough : 0;
	if (vr.have_ac) {
		vs->page_cache_bytes = vr.page_cache;
		vs->kernel_read_bytes = vr.ac.bytes_read;
		vs->mmap_bytes = (vr.ac.pages_faulted + vr.ac.pages_mapped) *
				 access_tracker_page_size(n->tracker);
		struct cgroup_collect cc = {.page = access_tracker_page_size(n->tracker)};
		access_tracker_foreach_cgroup(n->tracker, nv->id, collect_cgroup, &cc);
		vs->cgroups = cc.items;
		vs->n_cgroups = cc.n;
	}
	uint64_t cached = 0;
	for (unsigned i = 0; i < bs.ntiers; i++) {
		weir__tier_stat__init(&ts[i]);
		ts[i].medium = reply_str(i < src->ntiers ? src->tiers[i].medium : "");
		ts[i].path = reply_str(i < src->ntiers ? src->tiers[i].path : "");
		ts[i].quota = bs.tiers[i].quota;
		ts[i].used = bs.tiers[i].used;
		ts[i].blocks = bs.tiers[i].blocks;
		tsp[i] = &ts[i];
		cached += bs.tiers[i].used;
	}
	vs->cached_bytes = cached;
	vs->state_warning = bs.index_full ? "the state directory is full: files are served "
					    "uncached until space is freed"
					  : "";
	vs->n_tiers = bs.ntiers;
	vs->tiers = tsp;
}

/* Views whose loop ended (unmounted from outside with umount(8)) are closed. One a mount or an
 * unmount works on is left to that request, or to the next round. */
static void reap_exited(struct node *n)
{
	for (;;) {
		pthread_mutex_lock(&n->lock);
		if (n->draining) {
			/* shutdown_all stops every view, and frees busy after */
			pthread_mutex_unlock(&n->lock);
			return;
		}
		struct node_view *nv;
		int err = -1;
		LIST_FOREACH(nv, &n->views, link)
		if (view_exited(nv->view) && !strmap_get(n->busy, view_mountpoint(nv->view))) {
			strmap_put(n->busy, view_mountpoint(nv->view), n, &err);
			break;
		}
		if (nv && err == 0) {
			log_notice("\"%s\" was unmounted from outside", view_mountpoint(nv->view));
			LIST_REMOVE(nv, link);
		}
		pthread_mutex_unlock(&n->lock);
		if (!nv || err < 0)
			break;
		stop_view(n, nv);
	}
	reap(n);
}

/* Takes over the views a dead weir-node left with the keeper, before any client is served. A
 * view that cannot be taken over is dropped from the keeper: its connection ends, and its
 * readers get ENOTCONN rather than wait for ever. */
static void adopt_views(struct node *n)
{
	if (n->keeper_fd < 0)
		return;
	int r = fdstore_send(n->keeper_fd, FDSTORE_LIST, NULL, NULL, 0, NULL, 0);
	unsigned ok = 0, failed = 0;
	while (r == 0) {
		struct fdstore_msg m;
		r = fdstore_recv(n->keeper_fd, &m);
		if (r < 0 || m.op == FDSTORE_END) {
			if (r == 0)
				fdstore_msg_clear(&m);
			break;
		}
		Weir__MountRequest *req =
		    m.op == FDSTORE_ENTRY && m.nfds == 2
			? weir__mount_request__unpack(NULL, m.blob_len, m.blob)
			: NULL;
		Weir__Response resp = WEIR__RESPONSE__INIT;
		if (req) {
			struct node_adopt ad = {m.name, m.fds[0], m.fds[1]};
			handle_mount(n, req, &resp, &ad);
			weir__mount_request__free_unpacked(req, NULL);
		} else {
			resp.error = -EBADMSG;
			resp.message = "the keeper's entry is not a view";
		}
		if (resp.error < 0) {
			failed++;
			log_err(
			    "cannot take the view at \"%s\" over: %s; dropping it (its readers get "
			    "ENOTCONN; weir mount it again)",
			    m.name, resp.message ? resp.message : strerror(-resp.error));
			fdstore_send(n->keeper_fd, FDSTORE_DEL, m.name, NULL, 0, NULL, 0);
		} else {
			ok++;
		}
		fdstore_msg_clear(&m);
	}
	if (r < 0)
		log_err("the keeper's list of views: %s", strerror(-r));
	if (ok || failed)
		log_notice("took over %u views a previous weir-node left%s", ok,
			   failed ? " (some could not be: see above)" : "");
}

/* Hands the views taken over before eBPF loaded to the tracker, which sees their reads from
 * now on instead of their READs. */
static void track_adopted(struct node *n)
{
	if (!n->tracker)
		return;
	pthread_mutex_lock(&n->lock);
	struct node_view *nv;
	LIST_FOREACH(nv, &n->views, link)
	{
		int r = access_tracker_add_view(n->tracker, view_dev(nv->view), nv->id);
		if (r < 0)
			log_warn("eBPF will not see \"%s\": %s", view_mountpoint(nv->view),
				 strerror(-r));
		else {
			view_set_read_streams(nv->view, false);
			view_track_passthrough(nv->view, passthrough_hold, n);
		}
	}
	pthread_mutex_unlock(&n->lock);
}

/* weir-node's memory: the process's counts and every source's and view's tables (all of them,
 * whatever view the stat asked about). Under the node's lock. */
static void fill_memory(struct node *n, Weir__MemoryStat *m)
{
	struct memory_stats ms;
	if (memory_get(&ms) < 0)
		return; /* the fields stay 0: no breakdown rather than a made-up one */
	m->rss = ms.rss;
	m->rss_anon = ms.rss_anon;
	m->rss_file = ms.rss_file;
	m->rss_shmem = ms.rss_shmem;
	m->threads = ms.threads;
	m->malloc_in_use = ms.malloc_in_use;
	m->malloc_free = ms.malloc_free;
	m->sqlite = ms.sqlite;
	m->curl = ms.curl;
	m->allocator = (char *)ms.allocator; /* a literal, never freed */
	struct node_source *s;
	LIST_FOREACH(s, &n->sources, link) {
		m->block_index += block_store_memory(s->source->store);
		m->metadata += meta_cache_memory(s->source->meta);
	}
	struct node_view *v;
	LIST_FOREACH(v, &n->views, link) {
		struct view_memory vm;
		view_get_memory(v->view, &vm);
		m->views += vm.bytes;
	}
	uint64_t known = m->block_index + m->metadata + m->views + m->sqlite + m->curl;
	m->malloc_other = m->malloc_in_use > known ? m->malloc_in_use - known : 0;
}

static void handle_stat(struct node *n, int fd, const Weir__StatRequest *s)
{
	Weir__Response resp = WEIR__RESPONSE__INIT;
	Weir__MemoryStat mem = WEIR__MEMORY_STAT__INIT;
	resp.pid = getpid();
	resp.bpf_status = n->bpf_status;
	Weir__PeerStat ps = WEIR__PEER_STAT__INIT;
	if (n->cluster) {
		struct cluster_stats *cs = cluster_get_stats(n->cluster);
		ps.node = n->cfg.node_name;
		ps.members = (uint32_t)cluster_size(n->cluster);
		ps.in_bytes = atomic_load(&cs->bytes_in);
		ps.out_bytes = atomic_load(&cs->bytes_out);
		ps.failed = atomic_load(&cs->failed);
		ps.refused = atomic_load(&cs->refused);
		ps.refused_by_peers = atomic_load(&cs->refused_by_peer);
		pthread_mutex_lock(&n->lock);
		struct node_source *ns;
		LIST_FOREACH(ns, &n->sources, link)
		ps.ufs_bytes += atomic_load(&ns->source->ufs->stats.bytes);
		pthread_mutex_unlock(&n->lock);
		resp.peers = &ps;
	}
	char mp[PATH_MAX] = "";
	if (s->mountpoint && *s->mountpoint && !realpath(s->mountpoint, mp))
		snprintf(mp, sizeof(mp), "%s", s->mountpoint);
	reap_exited(n);
	pthread_mutex_lock(&n->lock);
	size_t cnt = 0;
	struct node_view *v;
	LIST_FOREACH(v, &n->views, link)
	cnt++;
	Weir__ViewStat *vs = calloc(cnt + 1, sizeof(*vs));
	Weir__ViewStat **vsp = calloc(cnt + 1, sizeof(*vsp));
	Weir__TierStat *ts = calloc((cnt + 1) * BLOCK_STORE_MAX_TIERS, sizeof(*ts));
	Weir__TierStat **tsp = calloc((cnt + 1) * BLOCK_STORE_MAX_TIERS, sizeof(*tsp));
	size_t k = 0;
	if (vs && vsp && ts && tsp) {
		LIST_FOREACH(v, &n->views, link)
		{
			if (mp[0] && strcmp(view_mountpoint(v->view), mp) != 0)
				continue;
			weir__view_stat__init(&vs[k]);
			fill_view_stat(n, v, &vs[k], &ts[k * BLOCK_STORE_MAX_TIERS],
				       &tsp[k * BLOCK_STORE_MAX_TIERS]);
			vsp[k] = &vs[k];
			k++;
		}
		resp.views = vsp;
		resp.n_views = k;
		fill_memory(n, &mem);
		resp.memory = &mem;
		if (mp[0] && k == 0)
			set_error(&resp, -ENOENT, "\"%s\" is not a view of this weir-node", mp);
	} else {
		set_error(&resp, -ENOMEM, "out of memory");
	}
	pthread_mutex_unlock(&n->lock);
	/* Every string in resp is a copy: the reply goes without the lock. */
	int r = control_send(fd, &resp.base);
	if (r < 0)
		log_debug("stat reply: %s", strerror(-r));
	for (size_t i = 0; i < k; i++)
		view_stat_release(&vs[i]);
	free(vs);
	free(vsp);
	free(ts);
	free(tsp);
}

/* How to mount a Dataset (weir-csi's question): in a cluster answered from what the node agent
 * sees, with the same grant check as the controller; otherwise relayed to weir-controller, which
 * keeps the objects. Sends the reply itself. */
static void handle_dataset_mount(struct node *n, int fd, const Weir__Request *req)
{
	const Weir__DatasetMountRequest *m = req->dataset_mount;
	Weir__Response resp = WEIR__RESPONSE__INIT;
	resp.pid = getpid();
	if (!n->agent) {
		char sock[PATH_MAX + 32];
		if (n->cfg.controller_socket[0])
			snprintf(sock, sizeof(sock), "%s", n->cfg.controller_socket);
		else
			snprintf(sock, sizeof(sock), "%.4000s/controller.sock", n->cfg.state_dir);
		Weir__Response *cresp = NULL;
		int r = control_call_timeout(sock, req, 10000, &cresp);
		if (r < 0) {
			set_error(&resp, -EHOSTDOWN,
				  "weir-controller does not answer on \"%s\": %s", sock,
				  strerror(-r));
			control_send(fd, &resp.base);
			return;
		}
		control_send(fd, &cresp->base);
		weir__response__free_unpacked(cresp, NULL);
		return;
	}
	struct mount_plan *p = calloc(1, sizeof(*p));
	char *err = malloc(2048);
	Weir__MountRequest mr = WEIR__MOUNT_REQUEST__INIT;
	Weir__TierSpec tiers[MOUNT_PLAN_MAX_TIERS], *tierp[MOUNT_PLAN_MAX_TIERS];
	int r = p && err ? 0 : -ENOMEM;
	if (r == 0 && (!m->namespace_ || !*m->namespace_ || !m->dataset || !*m->dataset)) {
		snprintf(err, 2048, "a mount plan request needs a namespace and a dataset");
		r = -EINVAL;
	}
	if (r == 0)
		r = node_agent_plan(n->agent, m->namespace_, m->dataset, p, err, 2048);
	if (r < 0) {
		if (err)
			redact_text(err, 2048);
		set_error(&resp, r, "%s", err ? err : "out of memory");
		log_info("mount plan for %s/%s refused: %s", m->namespace_ ? m->namespace_ : "",
			 m->dataset ? m->dataset : "", resp.message);
	} else {
		for (size_t i = 0; i < p->n_tiers; i++) {
			weir__tier_spec__init(&tiers[i]);
			tiers[i].medium = p->tiers[i].medium;
			tiers[i].path = p->tiers[i].path;
			tiers[i].quota = p->tiers[i].quota;
			tierp[i] = &tiers[i];
		}
		mr.tiers = tierp;
		mr.n_tiers = p->n_tiers;
		mr.ufs_url = p->ufs_url;
		mr.source_id = p->source_id;
		mr.subpath = p->subpath;
		mr.read_write = p->read_write;
		mr.uid = p->uid;
		mr.gid = p->gid;
		mr.credentials = p->credentials;
		mr.high = p->high;
		mr.cache_replicas = p->cache_replicas;
		mr.low = p->low;
		mr.namespace_ = m->namespace_;
		mr.dataset = m->dataset;
		resp.mount = &mr;
	}
	control_send(fd, &resp.base);
	free(p);
	free(err);
}

struct conn {
	struct node *node;
	int fd;
};

static void *conn_thread(void *arg)
{
	struct conn *c = arg;
	struct node *n = c->node;
	ProtobufCMessage *m = NULL;
	int r = control_recv(c->fd, &weir__request__descriptor, &m);
	if (r < 0) {
		log_debug("control: bad request: %s", strerror(-r));
		goto out;
	}
	Weir__Request *req = (Weir__Request *)m;
	Weir__Response resp = WEIR__RESPONSE__INIT;
	Weir__Usage usage = WEIR__USAGE__INIT;
	Weir__LoadProgress progress = WEIR__LOAD_PROGRESS__INIT;
	resp.pid = getpid();
	switch (req->body_case) {
	case WEIR__REQUEST__BODY_MOUNT:
		handle_mount(n, req->mount, &resp, NULL);
		break;
	case WEIR__REQUEST__BODY_UMOUNT:
		handle_umount(n, req->umount, &resp);
		break;
	case WEIR__REQUEST__BODY_STAT:
		handle_stat(n, c->fd, req->stat);
		goto out;
	case WEIR__REQUEST__BODY_PING:
		break;
	case WEIR__REQUEST__BODY_DATASET_MOUNT:
		handle_dataset_mount(n, c->fd, req);
		goto out;
	case WEIR__REQUEST__BODY_SOURCE:
		handle_source(n, req->source, &resp);
		break;
	case WEIR__REQUEST__BODY_USAGE:
		handle_usage(n, req->usage, &resp, &usage);
		break;
	case WEIR__REQUEST__BODY_LOAD:
		handle_load(n, req->load, &resp);
		break;
	case WEIR__REQUEST__BODY_LOAD_STATUS:
		handle_load_status(n, req->load_status, &resp, &progress);
		break;
	case WEIR__REQUEST__BODY_SHUTDOWN:
		n->stopping = 1;
		kill(getpid(), SIGTERM);
		break;
	default:
		set_error(&resp, -EOPNOTSUPP, "this weir-node does not know that request");
		break;
	}
	if (resp.error)
		log_notice("request failed: %s", resp.message);
	control_send(c->fd, &resp.base);
out:
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	close(c->fd);
	free(c);
	return NULL;
}

static int take_lock(struct node *n)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/node.lock", n->cfg.state_dir);
	n->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (n->lock_fd < 0)
		return -errno;
	if (flock(n->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return -errno;
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	snprintf(path, sizeof(path), "%s/node.pid", n->cfg.state_dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (write(fd, pid, len) != len)
			log_warn("cannot write \"%s\"", path);
		close(fd);
	}
	return 0;
}

/* The value for ns in a "team-a=4,team-b=0.5" list (scanned per event: lists are short), or
 * NULL. */
static const char *namespace_setting(const char *list, const char *ns, char *buf, size_t len)
{
	const char *p = list;
	size_t nlen = strlen(ns);
	while (*p) {
		const char *eq = strchr(p, '='), *comma = strchr(p, ',');
		if (!eq)
			break;
		if ((size_t)(eq - p) == nlen && strncmp(p, ns, nlen) == 0) {
			size_t vlen = comma ? (size_t)(comma - eq - 1) : strlen(eq + 1);
			snprintf(buf, len, "%.*s", (int)vlen, eq + 1);
			return buf;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	return NULL;
}

static uint64_t namespace_prefetch_max(const struct node *n, const char *ns)
{
	char buf[64];
	uint64_t v;
	const char *s = namespace_setting(n->cfg.namespace_prefetch, ns, buf, sizeof(buf));
	if (s && quantity_parse(s, &v) == 0)
		return v;
	return n->prefetch_max;
}

static double namespace_weight(const struct node *n, const char *ns)
{
	char buf[64];
	const char *s = namespace_setting(n->cfg.namespace_weights, ns, buf, sizeof(buf));
	return s ? atof(s) : 1.0;
}

/* The pages read of a file (page-cache hits and passthrough reads included) since its last
 * report add to its object's heat, scaled by the view's namespace weight; the store decays it.
 * Adding, not setting: an object read through several views (a source and its dataset://
 * references) sums their reads. Runs on the tracker thread. */
static void on_heat(void *userdata, const struct access_heat_event *ev)
{
	struct node *n = userdata;
	if (!ev->pages_since)
		return;
	pthread_mutex_lock(&n->lock);
	struct node_view *nv = view_get_locked(n, ev->view_id);
	pthread_mutex_unlock(&n->lock);
	if (!nv)
		return;
	char path[4096];
	uint64_t obj;
	if (view_ino_path(nv->view, ev->ino, path, sizeof(path)) == 0 &&
	    block_store_object_find(nv->source->store, path, &obj) == 0)
		block_store_add_heat(nv->source->store, obj,
				     (double)ev->pages_since * namespace_weight(n, nv->ns));
	view_put(n, nv);
}

/* A sequential stream seen by eBPF (page-cache hits included): fetch ahead of it, four seconds
 * of its speed, at least four blocks, at most prefetch-max. Runs on the tracker thread. */
static void on_stream(void *userdata, const struct access_stream_event *ev)
{
	struct node *n = userdata;
	if (ev->kind == ACCESS_STREAM_END)
		return;
	size_t page = access_tracker_page_size(n->tracker);
	pthread_mutex_lock(&n->lock);
	struct node_view *nv = view_get_locked(n, ev->view_id);
	pthread_mutex_unlock(&n->lock);
	/* view_stream may revalidate the file over the network: not under the lock. */
	if (nv) {
		uint64_t block = nv->source->block_size;
		double secs =
		    ev->ts_ns > ev->run_start_ns ? (ev->ts_ns - ev->run_start_ns) / 1e9 : 0;
		double speed = secs > 0 ? ev->run_pages * (double)page / secs : 0;
		/* Four seconds of the stream's speed: a block from a UFS that caps each
		 * connection takes long to arrive, and only blocks in flight add throughput. */
		uint64_t window = speed > 0 ? (uint64_t)(speed * 4) : n->prefetch_max;
		if (window < 4 * block)
			window = 4 * block;
		uint64_t cap = namespace_prefetch_max(n, nv->ns);
		if (window > cap)
			window = cap;
		view_stream(nv->view, ev->ino, ev->next_page * page, window,
			    ev->kind == ACCESS_STREAM_START);
		view_put(n, nv);
	}
}

static void *tracker_thread(void *arg)
{
	struct node *n = arg;
	struct pollfd pfd = {.fd = access_tracker_fd(n->tracker), .events = POLLIN};
	while (!n->stopping) {
		int r = poll(&pfd, 1, 500);
		if (r > 0)
			access_tracker_consume(n->tracker);
		/* two seconds with no passthrough open: stop taxing every syscall of the node */
		access_tracker_passthrough_expire(n->tracker, 2000);
	}
	return NULL;
}

static void start_tracker(struct node *n)
{
	if (!n->cfg.bpf) {
		snprintf(n->bpf_status, sizeof(n->bpf_status),
			 "off (bpf = 0): tracking uses the READs weir sees");
		log_info("eBPF access tracking is off; tracking uses the READs weir sees");
		return;
	}
	struct access_tracker_opts o = {.on_stream = on_stream, .on_heat = on_heat, .userdata = n};
	char err[400] = "";
	int r = access_tracker_new(&o, &n->tracker, err, sizeof(err));
	if (r < 0) {
		n->tracker = NULL;
		snprintf(n->bpf_status, sizeof(n->bpf_status),
			 "unavailable: %s; tracking uses the READs weir sees", err);
		log_warn("eBPF access tracking unavailable: %s; falling back to the READs weir "
			 "sees",
			 err);
		return;
	}
	unsigned progs = access_tracker_programs(n->tracker);
	snprintf(n->bpf_status, sizeof(n->bpf_status), "attached (%s%s%s%s%s%s, %s)",
		 progs & ACCESS_PROG_READ ? "read" : "", progs & ACCESS_PROG_FAULT ? " fault" : "",
		 progs & ACCESS_PROG_MAP_PAGES ? " map_pages" : "",
		 progs & ACCESS_PROG_PAGE_CACHE_ADD ? " page_cache_add" : "",
		 progs & ACCESS_PROG_PASSTHROUGH ? " passthrough" : "",
		 progs & ACCESS_PROG_URING ? " io_uring" : "",
		 progs & ACCESS_PROG_BTF ? "tp_btf" : "raw_tp");
	if (pthread_create(&n->tracker_thread, NULL, tracker_thread, n) != 0) {
		access_tracker_free(n->tracker);
		n->tracker = NULL;
		snprintf(n->bpf_status, sizeof(n->bpf_status), "unavailable: no thread");
		return;
	}
	log_info("eBPF access tracking %s", n->bpf_status);
}

struct textbuf {
	char *p;
	size_t len, cap;
};

static void tb_printf(struct textbuf *tb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tb_printf(struct textbuf *tb, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int k = tb->p ? vsnprintf(tb->p + tb->len, tb->cap - tb->len, fmt, ap) : -1;
		va_end(ap);
		if (k >= 0 && tb->len + (size_t)k < tb->cap) {
			tb->len += k;
			return;
		}
		size_t cap = tb->cap ? tb->cap * 2 : 4096;
		while (k >= 0 && cap < tb->len + (size_t)k + 1)
			cap *= 2;
		char *np = realloc(tb->p, cap);
		if (!np)
			return;
		tb->p = np;
		tb->cap = cap;
	}
}

/* Label values escaped as the exposition format wants. */
static const char *esc(const char *s, char *buf, size_t len)
{
	size_t j = 0;
	for (; *s && j + 2 < len; s++) {
		if (*s == '"' || *s == '\\' || *s == '\n')
			buf[j++] = '\\';
		buf[j++] = *s == '\n' ? 'n' : *s;
	}
	buf[j] = '\0';
	return buf;
}

static char *render_metrics(void *userdata)
{
	struct node *n = userdata;
	struct textbuf tb = {0};
	static const struct {
		const char *name, *help;
		size_t off;
	} fields[] = {
	    {"weir_view_page_cache_bytes_total", "bytes read from the page cache (eBPF)",
	     offsetof(Weir__ViewStat, page_cache_bytes)},
	    {"weir_view_passthrough_bytes_total",
	     "bytes read from files open in passthrough, straight from a tier (eBPF)",
	     offsetof(Weir__ViewStat, passthrough_read_bytes)},
	    {"weir_view_mmap_bytes_total",
	     "bytes mapped by mmap faults, fault-around windows included (eBPF)",
	     offsetof(Weir__ViewStat, mmap_bytes)},
	    {"weir_view_tier_bytes_total", "bytes of READs answered from a tier",
	     offsetof(Weir__ViewStat, tier_bytes)},
	    {"weir_view_ufs_bytes_total", "bytes of READs that waited for the UFS",
	     offsetof(Weir__ViewStat, view_ufs_bytes)},
	    {"weir_view_prefetch_bytes_total", "bytes fetched ahead of sequential readers",
	     offsetof(Weir__ViewStat, prefetch_bytes)},
	    {"weir_view_streams_total", "sequential streams seen",
	     offsetof(Weir__ViewStat, streams)},
	    {"weir_view_read_bytes_total", "bytes returned to READs",
	     offsetof(Weir__ViewStat, read_bytes)},
	    {"weir_view_block_hits_total", "block reads served from a tier",
	     offsetof(Weir__ViewStat, hits)},
	    {"weir_view_block_misses_total", "block reads that waited for the UFS",
	     offsetof(Weir__ViewStat, misses)},
	    {"weir_source_ufs_fetched_bytes_total", "bytes fetched from the UFS by the source",
	     offsetof(Weir__ViewStat, ufs_bytes)},
	    {"weir_source_cached_bytes", "bytes held in the source's tiers",
	     offsetof(Weir__ViewStat, cached_bytes)},
	};
	pthread_mutex_lock(&n->lock);
	size_t cnt = 0;
	struct node_view *v;
	LIST_FOREACH(v, &n->views, link)
	cnt++;
	Weir__ViewStat *vs = calloc(cnt + 1, sizeof(*vs));
	Weir__TierStat *ts = calloc((cnt + 1) * BLOCK_STORE_MAX_TIERS, sizeof(*ts));
	Weir__TierStat **tsp = calloc((cnt + 1) * BLOCK_STORE_MAX_TIERS, sizeof(*tsp));
	size_t k = 0;
	if (vs && ts && tsp)
		LIST_FOREACH(v, &n->views, link)
		{
			weir__view_stat__init(&vs[k]);
			fill_view_stat(n, v, &vs[k], &ts[k * BLOCK_STORE_MAX_TIERS],
				       &tsp[k * BLOCK_STORE_MAX_TIERS]);
			k++;
		}
	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		bool gauge = strstr(fields[f].name, "_total") == NULL;
		tb_printf(&tb, "# HELP %s %s\n# TYPE %s %s\n", fields[f].name, fields[f].help,
			  fields[f].name, gauge ? "gauge" : "counter");
		for (size_t i = 0; i < k; i++) {
			char a[256], b[256], c[1024];
			uint64_t val = *(const uint64_t *)((const char *)&vs[i] + fields[f].off);
			tb_printf(&tb,
				  "%s{namespace=\"%s\",dataset=\"%s\",mountpoint=\"%s\"} %llu\n",
				  fields[f].name, esc(vs[i].namespace_, a, sizeof(a)),
				  esc(vs[i].dataset, b, sizeof(b)),
				  esc(vs[i].mountpoint, c, sizeof(c)), (unsigned long long)val);
		}
	}
	if (n->cluster) {
		struct cluster_stats *cs = cluster_get_stats(n->cluster);
		static const struct {
			const char *name, *help;
			size_t off;
		} peer_fields[] = {
		    {"weir_peer_in_bytes_total", "block bytes received from peers, checked",
		     offsetof(struct cluster_stats, bytes_in)},
		    {"weir_peer_out_bytes_total", "block bytes served to peers",
		     offsetof(struct cluster_stats, bytes_out)},
		    {"weir_peer_in_blocks_total", "blocks received from peers",
		     offsetof(struct cluster_stats, blocks_in)},
		    {"weir_peer_out_blocks_total", "blocks served to peers",
		     offsetof(struct cluster_stats, blocks_out)},
		    {"weir_peer_failed_total",
		     "requests to peers that failed (the block was read from the UFS)",
		     offsetof(struct cluster_stats, failed)},
		    {"weir_peer_bad_replies_total",
		     "peer replies whose bytes failed their checksum or MAC",
		     offsetof(struct cluster_stats, bad_bytes)},
		    {"weir_peer_refused_total", "peer requests this node refused (MAC, time)",
		     offsetof(struct cluster_stats, refused)},
		    {"weir_peer_refused_by_peers_total", "requests of this node that peers refused",
		     offsetof(struct cluster_stats, refused_by_peer)},
		};
		char nn[256];
		esc(n->cfg.node_name, nn, sizeof(nn));
		for (size_t f = 0; f < sizeof(peer_fields) / sizeof(peer_fields[0]); f++)
			tb_printf(&tb, "# HELP %s %s\n# TYPE %s counter\n%s{node=\"%s\"} %llu\n",
				  peer_fields[f].name, peer_fields[f].help, peer_fields[f].name,
				  peer_fields[f].name, nn,
				  (unsigned long long)atomic_load(
				      (const atomic_uint_fast64_t *)((const char *)cs +
								     peer_fields[f].off)));
	}
	tb_printf(&tb,
		  "# HELP weir_bpf_attached 1 when eBPF access tracking runs\n"
		  "# TYPE weir_bpf_attached gauge\nweir_bpf_attached %d\n",
		  n->tracker ? 1 : 0);
	pthread_mutex_unlock(&n->lock);
	for (size_t i = 0; i < k; i++)
		view_stat_release(&vs[i]);
	free(vs);
	free(ts);
	free(tsp);
	return tb.p;
}

/* A source request's purge of a closed source is under way. */
static bool manual_purges_locked(const struct node *n)
{
	const struct node_purge *p;
	LIST_FOREACH(p, &n->purges, link)
	if (p->manual)
		return true;
	return false;
}

static void shutdown_all(struct node *n)
{
	/* cancelled loads still hold their sources: let them go first */
	while (atomic_load(&n->retiring) > 0)
		nanosleep(&(struct timespec){0, 10000000L}, NULL);
	/* No change starts from now on; those under way finish first. */
	pthread_mutex_lock(&n->lock);
	n->draining = true;
	pthread_cond_broadcast(&n->changed);
	while (strmap_size(n->busy) > 0 || strmap_size(n->opening) > 0 || manual_purges_locked(n))
		pthread_cond_wait(&n->changed, &n->lock);
	for (;;) {
		struct node_view *nv = LIST_FIRST(&n->views);
		int err = -1;
		if (nv)
			strmap_put(n->busy, view_mountpoint(nv->view), n, &err);
		if (!nv || err < 0)
			break;
		LIST_REMOVE(nv, link);
		pthread_mutex_unlock(&n->lock);
		stop_view(n, nv);
		pthread_mutex_lock(&n->lock);
	}
	struct node_load *nl;
	while ((nl = LIST_FIRST(&n->loads))) {
		LIST_REMOVE(nl, link);
		LIST_INSERT_HEAD(&n->dead_loads, nl, link);
		drop_source_locked(n, nl->source);
	}
	while (!LIST_EMPTY(&n->sources))
		close_source_locked(n, LIST_FIRST(&n->sources)->source);
	pthread_mutex_unlock(&n->lock);
	reap(n);
}

/* The figures of every open source, for the cluster (node_report.h). */
static int report_collect(void *arg, json_object **ret, json_object **ret_loads)
{
	struct node *n = arg;
	json_object *all = json_object_new_object();
	if (!all)
		return -ENOMEM;
	pthread_mutex_lock(&n->lock);
	struct node_source *ns;
	LIST_FOREACH(ns, &n->sources, link)
	{
		struct source *src = ns->source;
		struct usage_totals t;
		struct block_store_stats bs;
		uint64_t cap = 0, hits = 0, misses = 0;
		usage_start(src->usage, false);
		usage_get(src->usage, "", &t);
		block_store_get_stats(src->store, &bs);
		for (unsigned i = 0; i < bs.ntiers; i++)
			cap += bs.tiers[i].quota;
		struct node_view *v;
		LIST_FOREACH(v, &n->views, link)
		{
			if (v->source != src)
				continue;
			struct view_stats st;
			struct view_reads vr;
			view_get_stats(v->view, &st);
			view_reads_get(n, v, &st, &vr);
			hits += st.tier_bytes + vr.page_cache + vr.passthrough;
			misses += st.ufs_bytes;
		}
		json_object *o = json_object_new_object();
		json_object_object_add(o, "ufsTotalBytes",
				       json_object_new_int64((int64_t)t.ufs_total));
		json_object_object_add(o, "fileNum", json_object_new_int64((int64_t)t.file_num));
		json_object_object_add(o, "complete", json_object_new_boolean(t.complete));
		json_object_object_add(o, "cachedBytes", json_object_new_int64((int64_t)t.cached));
		json_object_object_add(o, "capacityBytes", json_object_new_int64((int64_t)cap));
		json_object_object_add(o, "hitBytes", json_object_new_int64((int64_t)hits));
		json_object_object_add(o, "missBytes", json_object_new_int64((int64_t)misses));
		json_object_object_add(all, src->id, o);
	}
	pthread_mutex_unlock(&n->lock);
	if (n->agent && node_agent_report(n->agent, all, ret_loads) < 0) {
		json_object_put(all);
		return -ENOMEM;
	}
	*ret = all;
	return 0;
}

/* The peer server's view of the open sources (peer_server.h): a reference like a view's. */
static int peer_source_acquire(void *userdata, const char *id, struct source **ret)
{
	struct node *n = userdata;
	pthread_mutex_lock(&n->lock);
	struct node_source *ns = find_source_locked(n, id);
	if (ns)
		ns->source->refs++;
	pthread_mutex_unlock(&n->lock);
	if (!ns)
		return -ENOENT;
	*ret = ns->source;
	return 0;
}

static void peer_source_release(void *userdata, struct source *src)
{
	struct node *n = userdata;
	pthread_mutex_lock(&n->lock);
	drop_source_locked(n, src);
	bool closing = !LIST_EMPTY(&n->closing);
	pthread_mutex_unlock(&n->lock);
	if (closing) /* its Dataset went while a peer read it: the last reference was ours */
		reap(n);
}

/* With peers: loads the key, starts the block client and server. Returns 0 or -errno, logged. */
static int start_cluster(struct node *n)
{
	char err[1024];
	if (!n->cfg.node_name[0]) {
		log_err(
		    "peers are set but node-name is not: name this node as the peers list does");
		return -EINVAL;
	}
	char *end = NULL;
	unsigned long replicas = strtoul(n->cfg.cache_replicas, &end, 10);
	if (!end || *end || end == n->cfg.cache_replicas || replicas > CLUSTER_MAX_NODES) {
		log_err("cache-replicas \"%s\" is not a number from 0 to %d", n->cfg.cache_replicas,
			CLUSTER_MAX_NODES);
		return -EINVAL;
	}
	struct cluster_config cc = {
	    .self = n->cfg.node_name, .peers = n->cfg.peers, .replicas = (unsigned)replicas};
	int r = cluster_new(&cc, &n->cluster, err, sizeof(err));
	if (r < 0) {
		log_err("%s", err);
		return r;
	}
	char keypath[PATH_MAX + 16];
	if (n->cfg.peer_key_file[0])
		snprintf(keypath, sizeof(keypath), "%s", n->cfg.peer_key_file);
	else
		snprintf(keypath, sizeof(keypath), "%.4000s/peer.key", n->cfg.state_dir);
	r = peer_auth_load_key(keypath, &n->peer_key, err, sizeof(err));
	if (r < 0) {
		log_err("%s; every weir-node of the cluster needs the same key", err);
		return r;
	}
	struct peer_client_config pcc = {.cluster = n->cluster, .key = &n->peer_key};
	r = peer_client_new(&pcc, &n->peers);
	if (r < 0) {
		log_err("cannot start the peer client: %s", strerror(-r));
		return r;
	}
	if (!n->cfg.peer_listen[0]) {
		log_err("peers are set but peer-listen is not: this node must serve its blocks");
		return -EINVAL;
	}
	struct peer_server_config psc = {
	    .listen = n->cfg.peer_listen,
	    .cluster = n->cluster,
	    .key = &n->peer_key,
	    .sources = {peer_source_acquire, peer_source_release, n},
	};
	r = peer_server_start(&psc, &n->peer_server, err, sizeof(err));
	if (r < 0) {
		log_err("%s", err);
		return r;
	}
	log_info("cluster: node %s of %zu, serving blocks on %s, %s cache node(s) per source",
		 n->cfg.node_name, cluster_size(n->cluster), n->cfg.peer_listen,
		 replicas ? n->cfg.cache_replicas : "all");
	return 0;
}

int main(int argc, char **argv)
{
	struct node n = {.listen_fd = -1, .lock_fd = -1, .keeper_fd = fdstore_env_socket()};
	for (size_t i = 0; i < NCFG; i++)
		cfg_set(&n.cfg, cfg_table[i].name, cfg_table[i].def);
	const char *config_file = getenv("WEIR_NODE_CONFIG");
	const char *state_env = getenv("WEIR_STATE_DIR");
	if (state_env && *state_env)
		cfg_set(&n.cfg, "state-dir", state_env);

	struct option longopts[NCFG + 3];
	for (size_t i = 0; i < NCFG; i++)
		longopts[i] =
		    (struct option){cfg_table[i].name, required_argument, NULL, 256 + (int)i};
	longopts[NCFG] = (struct option){"config", required_argument, NULL, 'c'};
	longopts[NCFG + 1] = (struct option){"help", no_argument, NULL, 'h'};
	longopts[NCFG + 2] = (struct option){0};
	/* Two passes: the file first, then flags over it. */
	int c;
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		if (c == 'c')
			config_file = optarg;
		else if (c == 256 && cfg_set(&n.cfg, "state-dir", optarg) < 0)
			return 2;
		else if (c == 'h') {
			usage(stdout);
			return 0;
		} else if (c == '?') {
			usage(stderr);
			return 2;
		}
	}
	/* Without --config, <state-dir>/node.conf is read when it exists. */
	char default_conf[PATH_MAX + 16];
	snprintf(default_conf, sizeof(default_conf), "%.4000s/node.conf", n.cfg.state_dir);
	if (!config_file && access(default_conf, R_OK) == 0)
		config_file = default_conf;
	if (config_file && cfg_load_file(&n.cfg, config_file) < 0)
		return 2;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		if (c >= 256 && cfg_set(&n.cfg, cfg_table[c - 256].name, optarg) < 0) {
			fprintf(stderr, "weir-node: bad value \"%s\" for --%s\n", optarg,
				cfg_table[c - 256].name);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "weir-node: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	int level = log_level_parse(n.cfg.log_level);
	if (level < 0) {
		fprintf(stderr, "weir-node: unknown log level \"%s\"\n", n.cfg.log_level);
		return 2;
	}
	log_init("weir-node", level, n.cfg.syslog);
	if (!n.cfg.socket_path[0] &&
	    snprintf(n.cfg.socket_path, sizeof(n.cfg.socket_path), "%.4000s/node.sock",
		     n.cfg.state_dir) >= (int)sizeof(n.cfg.socket_path)) {
		fprintf(stderr, "weir-node: state directory path too long\n");
		return 2;
	}
	/* It holds the sources' URLs with their credentials, and root writes into it. */
	char derr[512];
	if (safe_dir_ensure(n.cfg.state_dir, derr, sizeof(derr)) < 0) {
		log_err("state directory: %s", derr);
		return 1;
	}
	/* node.log (our stderr when weir started us) may predate 0600 logs. */
	struct stat est;
	if (fstat(STDERR_FILENO, &est) == 0 && S_ISREG(est.st_mode))
		fchmod(STDERR_FILENO, 0600);
	int r = take_lock(&n);
	if (r < 0) {
		log_err("another weir-node holds \"%s/node.lock\" (%s); stop it or use another "
			"--state-dir",
			n.cfg.state_dir, strerror(-r));
		return 1;
	}
	for (size_t i = 0; i < NCFG; i++) {
		const char *field = (const char *)&n.cfg + cfg_table[i].offset;
		if (cfg_table[i].type == CFG_STR)
			log_info("config %s = \"%s\"", cfg_table[i].name, field);
		else
			log_info("config %s = %d", cfg_table[i].name, *(const int *)field);
	}
	/* Many tier files and sockets are open at once. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	pthread_mutex_init(&n.lock, NULL);
	pthread_cond_init(&n.view_idle, NULL);
	pthread_cond_init(&n.changed, NULL);
	LIST_INIT(&n.sources);
	LIST_INIT(&n.views);
	LIST_INIT(&n.loads);
	LIST_INIT(&n.dead_loads);
	LIST_INIT(&n.closing);
	LIST_INIT(&n.purges);
	n.busy = strmap_new();
	n.opening = strmap_new();
	if (!n.busy || !n.opening) {
		log_err("out of memory");
		return 1;
	}
	if (tier_pools_new(&n.pools) < 0) {
		log_err("out of memory");
		return 1;
	}
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	n.listen_fd = control_listen(n.cfg.socket_path);
	if (n.listen_fd < 0 || sfd < 0) {
		log_err("cannot listen on \"%s\": %s", n.cfg.socket_path,
			strerror(n.listen_fd < 0 ? -n.listen_fd : errno));
		return 1;
	}
	if (strcmp(n.cfg.eviction, "heat") != 0 && strcmp(n.cfg.eviction, "lru") != 0) {
		log_err("eviction \"%s\" is neither heat nor lru", n.cfg.eviction);
		return 2;
	}
	if (quantity_parse(n.cfg.prefetch_max, &n.prefetch_max) < 0 || n.prefetch_max == 0) {
		log_err("prefetch-max \"%s\" is not a size like 64MiB", n.cfg.prefetch_max);
		return 2;
	}
	if (duration_parse_ms(n.cfg.max_stale, &n.max_stale_ms) < 0) {
		log_err("max-stale \"%s\" is not a duration like 1d, 12h or 600s", n.cfg.max_stale);
		return 2;
	}
	if (parse_count(n.cfg.ufs_stall_timeout, 1, 3600, &n.stall_timeout_s) < 0) {
		log_err("ufs-stall-timeout \"%s\" is not a number of seconds from 1 to 3600",
			n.cfg.ufs_stall_timeout);
		return 2;
	}
	if (parse_count(n.cfg.ufs_retries, 1, 100, &n.ufs_retries) < 0) {
		log_err("ufs-retries \"%s\" is not a number from 1 to 100", n.cfg.ufs_retries);
		return 2;
	}
	if (n.keeper_fd < 0 && n.cfg.keeper_socket[0]) {
		n.keeper_fd = keeper_connect(n.cfg.keeper_socket);
		if (n.keeper_fd < 0) {
			log_err("keeper-socket \"%s\": %s; is weir-keeper --listen running there?",
				n.cfg.keeper_socket, strerror(-n.keeper_fd));
			return 1;
		}
		n.keeper_external = true;
		log_info("views kept by the weir-keeper on \"%s\"", n.cfg.keeper_socket);
	}
	/* Before any source opens (an adopted view opens one): sources take their route at open. */
	if (n.cfg.peers[0] && start_cluster(&n) < 0)
		return 1;
	/* The views first: their readers are paused until then, and loading eBPF takes a while. */
	adopt_views(&n);
	start_tracker(&n);
	track_adopted(&n);
	if (n.cfg.metrics_listen[0]) {
		char merr[256];
		if (metrics_start(n.cfg.metrics_listen, render_metrics, &n, &n.metrics, merr,
				  sizeof(merr)) < 0)
			log_warn("%s; /metrics is off (set metrics-listen)", merr);
		else
			log_info("metrics on http://%s/metrics", n.cfg.metrics_listen);
	}
	if (n.cfg.kubeconfig[0] || (n.cfg.node_name[0] && getenv("KUBERNETES_SERVICE_HOST"))) {
		char rerr[1024], host[254] = "";
		if (!n.cfg.node_name[0]) {
			gethostname(host, sizeof(host) - 1);
			snprintf(n.cfg.node_name, sizeof(n.cfg.node_name), "%s", host);
		}
		char *end = NULL;
		double interval = strtod(n.cfg.report_interval, &end);
		if (!end || *end || end == n.cfg.report_interval || interval < 0.5 ||
		    interval > 300) {
			log_err("report-interval \"%s\" is not a number of seconds in [0.5, 300]",
				n.cfg.report_interval);
			return 2;
		}
		struct node_agent_config ac = {
		    .kubeconfig = n.cfg.kubeconfig,
		    .node_name = n.cfg.node_name,
		    .ns = n.cfg.kube_namespace,
		    .node_socket = n.cfg.socket_path,
		    .deny_by_default = n.cfg.deny_by_default,
		};
		/* a node that cannot read the cluster has no work: that is fatal, not a warning */
		if (node_agent_start(&ac, &n.agent, rerr, sizeof(rerr)) < 0) {
			log_err("%s", rerr);
			return 1;
		}
		if (node_report_start(n.cfg.kubeconfig, n.cfg.node_name, n.cfg.kube_namespace,
				      interval, report_collect, &n, &n.report, rerr,
				      sizeof(rerr)) < 0)
			log_warn("%s; this node's figures will not reach the cluster", rerr);
	}
	log_info("weir-node %d ready on \"%s\"", (int)getpid(), n.cfg.socket_path);
	if (n.keeper_fd >= 0)
		fdstore_send(n.keeper_fd, FDSTORE_READY, NULL, NULL, 0, NULL, 0);

	bool handoff = false;
	while (!n.stopping) {
		struct pollfd pfd[2] = {{.fd = n.listen_fd, .events = POLLIN},
					{.fd = sfd, .events = POLLIN}};
		int pr = poll(pfd, 2, 2000);
		if (pr < 0 && errno != EINTR)
			break;
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				log_info("signal %u: shutting down", si.ssi_signo);
			if (n.keeper_external && si.ssi_signo == SIGTERM)
				handoff = true;
			break;
		}
		if (pfd[0].revents & POLLIN) {
			int cfd = control_accept(n.listen_fd, "weir-node");
			if (cfd < 0)
				continue;
			struct conn *cn = malloc(sizeof(*cn));
			pthread_t t;
			if (!cn) {
				close(cfd);
				continue;
			}
			cn->node = &n;
			cn->fd = cfd;
			pthread_attr_t attr;
			pthread_attr_init(&attr);
			pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
			if (pthread_create(&t, &attr, conn_thread, cn) != 0) {
				close(cfd);
				free(cn);
			}
			pthread_attr_destroy(&attr);
		}
		if (pr == 0)
			reap_exited(&n);
	}
	close(n.listen_fd);
	unlink(n.cfg.socket_path);
	if (handoff) {
		/* Like a crash, which the next weir-node recovers from (tests/crash/): the views
		 * stay mounted, their connections with the keeper; requests read but not answered
		 * are resent to the next one. Nothing is unmounted nor taken from the keeper. */
		char pidpath[PATH_MAX + 16];
		snprintf(pidpath, sizeof(pidpath), "%s/node.pid", n.cfg.state_dir);
		unlink(pidpath);
		log_notice("leaving the views to the weir-keeper on \"%s\" for the next weir-node",
			   n.cfg.keeper_socket);
		_exit(0);
	}
	n.stopping = 1;
	node_agent_stop(n.agent);
	node_report_stop(n.report);
	metrics_stop(n.metrics);
	/* no peer may hold a source while they close; the client goes after the last source */
	peer_server_stop(n.peer_server);
	if (n.tracker)
		pthread_join(n.tracker_thread, NULL);
	shutdown_all(&n);
	/* Every request that arrives from now on sees draining before it touches them. */
	pthread_mutex_lock(&n.lock);
	strmap_free(n.busy, NULL);
	strmap_free(n.opening, NULL);
	n.busy = n.opening = NULL;
	pthread_mutex_unlock(&n.lock);
	peer_client_free(n.peers);
	cluster_free(n.cluster);
	tier_pools_free(n.pools);
	access_tracker_free(n.tracker);
	char pidpath[PATH_MAX + 16];
	snprintf(pidpath, sizeof(pidpath), "%s/node.pid", n.cfg.state_dir);
	unlink(pidpath);
	log_info("weir-node stopped");
	return 0;
}
