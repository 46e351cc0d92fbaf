// SPDX-License-Identifier: Apache-2.0
// Peer block server: checks who asks (MAC, time, membership), then what for (path, version,
// block within the object), then answers from the source's fetcher with no peer behind it.
#include "peer_server.h"
#include "peer_memo.h"
#include "peer_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "block_sum.h"
#include "load_share.h"
#include "loader.h"
#include "log.h"
#include "member_prove.h"
#include "node_id.h"
#include "timed_wait.h"

/* At most this many pushed blocks are taken in at once (each a block-sized buffer: 32 MiB at
 * 4 MiB blocks); one more is answered 503 with Retry-After, and the pusher tries again
 * (peer_client_put). Pushes come from DataLoad plans only, a few per node at a time. */
#define PEER_SERVER_MAX_PUSHES 8
/* How long a request from a name this node does not know waits for the members to be fetched
 * again (members from the controller or the Leases) before it is refused. */
#define IDENTITY_REFRESH_MS 1500u
#define PEER_SERVER_PUSH_RETRY_AFTER "1"
/* At most this many connections at once (a thread each): libmicrohttpd takes no more until
 * one ends. */
#define PEER_SERVER_MAX_CONNECTIONS 256
/* At most this many of them from one address: a host that holds its connections open without
 * a key (slow headers, a slow body) takes a quarter of the slots, never all, so the other
 * nodes' block reads still get in. A node's own client opens fewer to one peer: at most
 * PEER_CLIENT_MAX_THREADS (32) block requests plus a load's LOAD_WORKERS pushes and its
 * control requests. */
#define PEER_SERVER_MAX_CONNECTIONS_PER_IP 64
/* At most this many shares of other nodes' loads run here at once. */
#define PEER_SERVER_MAX_LOADS 16
/* A share its asker has not asked about for this long is stopped and forgotten (the asker
 * died or gave up). */
#define PEER_SERVER_LOAD_IDLE_MS 60000
#define PEER_SERVER_ENDED_MAX 64 /* ended loads remembered, so a replayed start is refused */

/* A share of another node's spread load, run here. */
struct remote_load {
	LIST_ENTRY(remote_load) link; /* under ps->lock */
	char node[CLUSTER_NAME_MAX];  /* who asked */
	uint64_t id;		      /* its id there */
	struct source *src;	      /* acquired until the load is freed */
	struct load *load;
	struct load_share report; /* run, nodes: fixed at start */
	int64_t seen_ms;	  /* under ps->lock: last asked about */
};

/* A load that ended here (cancelled or idle): a START with its id, replayed from a captured
 * request within the MAC's time window, must not run it again. */
struct ended_load {
	char node[CLUSTER_NAME_MAX];
	uint64_t id;
	int64_t at_ms;
};

struct peer_server {
	struct MHD_Daemon *d;
	struct peer_server_config cfg;
	/* this node's member name, fixed at start: a request must be addressed to it */
	char self[CLUSTER_NAME_MAX];
	/* Guards loads, dead, ended, stop and each entry's seen_ms. Held for list updates only:
	 * never across a load's start or free (a walk, a join) nor a reply's I/O. */
	pthread_mutex_t lock;
	LIST_HEAD(, remote_load) loads; /* under lock */
	unsigned nloads;		/* under lock */
	/* Under lock: loads taken out (cancelled, idle, a duplicate start), freed by the reaper
	 * thread: freeing joins a load's workers, which may wait for the UFS, so never on a
	 * request's thread (a peer's block request would wait behind it and mark us down). */
	LIST_HEAD(, remote_load) dead;
	struct ended_load ended[PEER_SERVER_ENDED_MAX]; /* under lock, a ring */
	unsigned ended_next;				/* under lock */
	pthread_cond_t reap_cond;			/* under lock: dead grew, or stop */
	bool stop;					/* under lock */
	pthread_t reaper;
	/* Pushed blocks being taken in (each holds a block-sized buffer): at most
	 * PEER_SERVER_MAX_PUSHES; one more is answered 503 with Retry-After. */
	atomic_uint pushes;
	/* The v3 body hashes of blocks served (thread-safe on its own): a block served again is
	 * tagged without reading it. */
	struct peer_memo *memo;
	/* Refusals are logged at most once a second, with how many went unlogged since: a host
	 * without the key sending forged requests must not fill the log's disk. */
	atomic_int_fast64_t refused_logged_s; /* CLOCK_MONOTONIC second of the last line */
	atomic_uint_fast64_t refused_quiet;   /* refusals since then, not logged */
};

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	if (LOG_DEBUG <= log_state.max_level)
		log_emitv(LOG_DEBUG, __FILE__, __LINE__, fmt, ap);
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(strlen(msg), (void *)msg, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	enum MHD_Result ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* peer_wire_get_fn over a libmicrohttpd connection */
static const char *conn_field(void *conn, bool is_header, const char *name)
{
	return MHD_lookup_connection_value(conn, is_header ? MHD_HEADER_KIND : MHD_GET_ARGUMENT_KIND,
					   name);
}

static const char *header(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* A block being sent: the source and, for a tier range, the pin, both held until the
 * response is done (request_done) so eviction cannot punch the range while it is sent. */
struct serving {
	int kind; /* 0: a block (this); 1: a load request (struct ctl_state) */
	struct peer_server *ps;
	struct source *src;
	uint64_t obj, block;
	bool pinned;
};

static void serving_end(struct serving *sv)
{
	if (sv->pinned)
		block_store_release(sv->src->store, sv->obj, sv->block);
	if (sv->src)
		sv->ps->cfg.sources.release(sv->ps->cfg.sources.userdata, sv->src);
	free(sv);
}

/* A load request between its calls. */
struct ctl_state {
	int kind; /* 1 */
	struct peer_server *ps;
};

static void remote_load_free(struct peer_server *ps, struct remote_load *rl)
{
	load_free(rl->load);
	ps->cfg.sources.release(ps->cfg.sources.userdata, rl->src);
	free(rl);
}

/* A refusal: its HTTP status and text. */
struct refusal {
	unsigned status;
	const char *msg;
};

/* What a failed block request (GET or push) answers for an errno: the handler's own
 * cases first, then those both share; NULL for one neither knows (the caller's default). */
struct errno_refusal {
	int err;
	struct refusal no;
};

static const struct refusal *block_refusal(int err, const struct errno_refusal *own, size_t n)
{
	static const struct errno_refusal shared[] = {
	    {-ESTALE, {MHD_HTTP_PRECONDITION_FAILED, "other version\n"}},
	    {-ENOENT, {MHD_HTTP_NOT_FOUND, "no such object\n"}},
	};
	for (size_t i = 0; i < n; i++)
		if (own[i].err == err)
			return &own[i].no;
	for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++)
		if (shared[i].err == err)
			return &shared[i].no;
	return NULL;
}

/* A block being pushed to this node, its owner (PUT /v1/block), between its calls: allocated
 * only once its headers are authenticated and an upload slot is taken (ps->pushes). */
struct pushing {
	int kind; /* 2 */
	struct peer_server *ps;
	struct source *src;
	char *buf;
	uint32_t len, got;
	bool overflow;
};

/* A PUT refused at its headers: answered once its body is in (dropped as it comes: a client
 * that sends its body before reading cannot see an early answer). Static, so a refused push
 * costs no memory however many there are. */
struct push_refused {
	int kind; /* 3 */
	struct refusal no;
};

enum push_no {
	PUSH_NO_FIELDS,
	PUSH_NO_AUTH,
	PUSH_NO_PATH,
	PUSH_NO_LENGTH_HEADER,
	PUSH_NO_SOURCE,
	PUSH_NO_BLOCK,
	PUSH_NO_OWNER,
	PUSH_NO_LENGTH,
	PUSH_NO_ROOM,
	PUSH_NO_VIEW,
};

static const struct push_refused push_refusals[] = {
    [PUSH_NO_FIELDS] =
	{3,
	 {MHD_HTTP_BAD_REQUEST,
	  "a pushed block needs X-Weir-Node, X-Weir-Time, X-Weir-Nonce, X-Weir-Auth, "
	  "X-Weir-Body-Sha256 and source, path, block, size, mtime, etag\n"}},
    [PUSH_NO_AUTH] = {3, {MHD_HTTP_FORBIDDEN, "refused\n"}},
    [PUSH_NO_PATH] = {3, {MHD_HTTP_BAD_REQUEST, "bad path or etag\n"}},
    [PUSH_NO_LENGTH_HEADER] = {3, {MHD_HTTP_BAD_REQUEST, "a pushed block needs Content-Length\n"}},
    [PUSH_NO_SOURCE] = {3, {MHD_HTTP_NOT_FOUND, "no such source open here\n"}},
    [PUSH_NO_BLOCK] = {3, {MHD_HTTP_RANGE_NOT_SATISFIABLE, "no such block\n"}},
    [PUSH_NO_OWNER] = {3, {421, "this node does not own that block\n"}},
    [PUSH_NO_LENGTH] = {3, {MHD_HTTP_BAD_REQUEST, "the body is not the block's length\n"}},
    [PUSH_NO_ROOM] = {3,
		      {MHD_HTTP_SERVICE_UNAVAILABLE,
		       "this node takes as many pushed blocks as it has room for; try again\n"}},
    [PUSH_NO_VIEW] = {3,
		      {PEER_STATUS_NO_VIEW,
		       "no view of this source is granted to the pushing node\n"}},
};

static void pushing_end(struct pushing *pu)
{
	if (pu->src)
		pu->ps->cfg.sources.release(pu->ps->cfg.sources.userdata, pu->src);
	free(pu->buf);
	atomic_fetch_sub(&pu->ps->pushes, 1);
	free(pu);
}

static void request_done(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	if (*con_cls && *(int *)*con_cls == 1) {
		free(*con_cls);
	} else if (*con_cls && *(int *)*con_cls == 2) {
		pushing_end(*con_cls);
	} else if (*con_cls && *(int *)*con_cls == 3) {
		/* static */
	} else if (*con_cls) {
		serving_end(*con_cls);
	}
	*con_cls = NULL;
}

/* Takes rl out of the running loads into dead (the reaper frees it) and remembers its id as
 * ended. Under ps->lock. */
static void load_end_locked(struct peer_server *ps, struct remote_load *rl)
{
	LIST_REMOVE(rl, link);
	ps->nloads--;
	struct ended_load *e = &ps->ended[ps->ended_next++ % PEER_SERVER_ENDED_MAX];
	snprintf(e->node, sizeof(e->node), "%s", rl->node);
	e->id = rl->id;
	e->at_ms = meta_cache_now_ms();
	LIST_INSERT_HEAD(&ps->dead, rl, link);
	pthread_cond_signal(&ps->reap_cond);
}

/* True when node's load id ended here within twice the MAC's time window: a start with it is
 * a replay (a new load has a new id). Under ps->lock. */
static bool load_ended_locked(const struct peer_server *ps, const char *node, uint64_t id)
{
	int64_t now = meta_cache_now_ms();
	for (unsigned i = 0; i < PEER_SERVER_ENDED_MAX; i++) {
		const struct ended_load *e = &ps->ended[i];
		if (e->at_ms && e->id == id && !strcmp(e->node, node) &&
		    now - e->at_ms <= 2000LL * ps->cfg.skew_s)
			return true;
	}
	return false;
}

/* Once a second, and whenever a load is taken out: ends the shares nobody asked about for
 * PEER_SERVER_LOAD_IDLE_MS (their asker went away) and frees the dead ones, off the request
 * threads. */
static void *reaper_thread(void *arg)
{
	struct peer_server *ps = arg;
	pthread_mutex_lock(&ps->lock);
	for (;;) {
		int64_t now = meta_cache_now_ms();
		struct remote_load *rl, *next;
		for (rl = LIST_FIRST(&ps->loads); rl; rl = next) {
			next = LIST_NEXT(rl, link);
			if (now - rl->seen_ms > PEER_SERVER_LOAD_IDLE_MS) {
				log_warn("load %016" PRIx64
					 " of node %s: not asked about for %d s; "
					 "stopped",
					 rl->id, rl->node, PEER_SERVER_LOAD_IDLE_MS / 1000);
				load_end_locked(ps, rl);
			}
		}
		while ((rl = LIST_FIRST(&ps->dead))) {
			LIST_REMOVE(rl, link);
			pthread_mutex_unlock(&ps->lock);
			remote_load_free(ps, rl);
			pthread_mutex_lock(&ps->lock);
		}
		if (ps->stop)
			break;
		struct timespec ts = deadline_in(1);
		cond_wait_until(&ps->reap_cond, &ps->lock, &ts);
	}
	pthread_mutex_unlock(&ps->lock);
	return NULL;
}

static struct remote_load *load_find_locked(struct peer_server *ps, const char *node, uint64_t id)
{
	struct remote_load *rl;
	LIST_FOREACH(rl, &ps->loads, link)
	if (rl->id == id && !strcmp(rl->node, node))
		return rl;
	return NULL;
}

/* A reply's signature (peer_auth.h): its nonce and tag, made before its headers go out. */
struct reply_sig {
	bool v3; /* tagged as reply MAC v3 (the asker's X-Weir-Reply-Mac: v3) */
	char nonce[PEER_AUTH_NONCE_HEX];
	char tag[PEER_AUTH_TAG_HEX];
};

/* Signs a reply with status whose len body bytes (summing to sum) are at body, for the
 * request whose MAC is mac. Returns 0 or -errno. */
static int sign_bytes(const struct peer_server *ps, const char *mac, unsigned status,
		      const void *body, size_t len, uint64_t sum, struct reply_sig *ret)
{
	ret->v3 = false;
	int r = peer_auth_nonce(ret->nonce);
	return r < 0 ? r
		     : peer_auth_sign_reply(ps->cfg.key, mac, ret->nonce, status, body, len, sum,
					    ret->tag);
}

/* Signs a 200 (as sign_bytes) whose body of len bytes is at off in the tier file fd (pinned by
 * the caller, so nothing punches it meanwhile), read in pieces through a small buffer that stays
 * in the CPU's cache; sendfile then sends the same bytes from the page cache. (Mapping the range
 * instead costs as much here, and its munmap interrupts every CPU running one of weir-node's
 * threads.) */
static int sign_range(const struct peer_server *ps, const char *mac, int fd, uint64_t off,
		      size_t len, uint64_t sum, struct reply_sig *ret)
{
	struct peer_reply_mac m;
	ret->v3 = false;
	int r = peer_auth_nonce(ret->nonce);
	if (r == 0)
		r = peer_auth_reply_begin(&m, ps->cfg.key, mac, ret->nonce, MHD_HTTP_OK, len, sum);
	if (r < 0)
		return r;
	r = peer_auth_reply_update_fd(&m, NULL, fd, off, len);
	return r < 0 ? r : peer_auth_reply_final(&m, ret->tag);
}

/* A v3 signature (peer_auth.h) of a 200 whose len body bytes (summing to sum) are at body, or
 * when body is NULL at off in the tier file fd (pinned by the caller); the body's hash from the
 * memo or computed and kept (peer_memo_hash: -EBADMSG for tier bytes that do not sum to the
 * index's XXH3). Returns 0 or -errno. */
static int sign_v3(const struct peer_server *ps, const char *mac, const struct peer_memo_key *mk,
		   const void *body, int fd, uint64_t off, size_t len, uint64_t sum,
		   struct reply_sig *ret)
{
	unsigned char h[PEER_AUTH_BODY_HASH];
	ret->v3 = true;
	int r = peer_auth_nonce(ret->nonce);
	if (r < 0)
		return r;
	r = peer_memo_hash(ps->memo, ps->cfg.key, mk, body, fd, off, len, h);
	if (r < 0)
		return r;
	return peer_auth_reply_tag_v3(ps->cfg.key, mac, ret->nonce, MHD_HTTP_OK, len, sum, h,
				      ret->tag);
}

/* Queues resp (status, Content-Type type, its body summing to sum) under sig; resp is
 * destroyed either way. */
static enum MHD_Result queue_signed(struct MHD_Connection *conn, struct MHD_Response *resp,
				    unsigned status, const char *type, uint64_t sum,
				    const struct reply_sig *sig)
{
	char sumhex[24];
	snprintf(sumhex, sizeof(sumhex), "%016" PRIx64, sum);
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "X-Weir-Xxh3", sumhex);
	MHD_add_response_header(resp, "X-Weir-Reply-Nonce", sig->nonce);
	MHD_add_response_header(resp, "X-Weir-Auth", sig->tag);
	if (sig->v3)
		MHD_add_response_header(resp, "X-Weir-Reply-Mac", "v3");
	enum MHD_Result ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* A short text reply (status, msg) signed for the request whose MAC is mac: what a push's
 * sender believes (a forged "kept" must fail). */
static enum MHD_Result reply_signed_text(struct peer_server *ps, struct MHD_Connection *conn,
					 const char *mac, unsigned status, const char *msg)
{
	size_t len = strlen(msg);
	uint64_t sum = XXH3_64bits(msg, len);
	struct reply_sig sig = {0};
	if (!mac || sign_bytes(ps, mac, status, msg, len, sum, &sig) < 0)
		return reply_text(conn, status, msg); /* unsigned: the sender believes nothing */
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, (void *)msg, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	return queue_signed(conn, resp, status, "text/plain", sum, &sig);
}

/* Replies with rl's report (under ps->lock: rl cannot be freed meanwhile), signed for the
 * request whose MAC is mac. */
static enum MHD_Result reply_report_locked(struct peer_server *ps, struct MHD_Connection *conn,
					   struct remote_load *rl, const char *mac)
{
	struct load_progress p;
	load_get_progress(rl->load, &p);
	struct load_share *r = &rl->report;
	r->bytes_done = p.bytes_done;
	r->bytes_total = p.bytes_total;
	r->files_done = p.files_done;
	r->files_total = p.files_total;
	r->ufs_bytes = p.ufs_bytes;
	r->finished = p.finished;
	snprintf(r->error, sizeof(r->error), "%s", p.error ? p.message : "");
	snprintf(r->plan, sizeof(r->plan), "%s", p.plan);
	json_object *o = load_share_to_json(r);
	const char *js = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : NULL;
	size_t len = js ? strlen(js) : 0;
	uint64_t sum = js ? XXH3_64bits(js, len) : 0;
	struct reply_sig sig = {0};
	struct MHD_Response *resp =
	    js && sign_bytes(ps, mac, MHD_HTTP_OK, js, len, sum, &sig) == 0
		? MHD_create_response_from_buffer(len, (void *)js, MHD_RESPMEM_MUST_COPY)
		: NULL;
	json_object_put(o);
	if (!resp)
		return MHD_NO;
	return queue_signed(conn, resp, MHD_HTTP_OK, "application/json", sum, &sig);
}

static bool granted(struct peer_server *ps, struct MHD_Connection *conn, const char *what,
		    const char *source, const char *node);

/* POST /v1/load from a member whose MAC checked: start, report or cancel its share. Every
 * answer is signed for the request: the asker drops a share it is told is gone (404). */
static enum MHD_Result load_request(struct peer_server *ps, struct MHD_Connection *conn,
				    const struct peer_request *rq, const char *mac,
				    struct ctl_state *cs)
{
	char self[CLUSTER_NAME_MAX];
	struct cluster_view *v = cluster_view_get(ps->cfg.cluster);
	snprintf(self, sizeof(self), "%s", cluster_node_name(v, cluster_self(v)));
	cluster_view_put(v);
	struct remote_load *rl;
	enum MHD_Result ret;
	pthread_mutex_lock(&ps->lock);
	rl = load_find_locked(ps, rq->node, rq->block);
	if (rl) {
		rl->seen_ms = meta_cache_now_ms();
		if (rq->size == PEER_LOAD_CANCEL) {
			/* reported below under the lock, freed by the reaper after */
			load_end_locked(ps, rl);
			log_info("load %016" PRIx64 " of node %s: cancelled", rl->id, rl->node);
		}
		ret = reply_report_locked(ps, conn, rl, mac);
		pthread_mutex_unlock(&ps->lock);
		return ret;
	}
	bool full = ps->nloads >= PEER_SERVER_MAX_LOADS;
	bool ended = load_ended_locked(ps, rq->node, rq->block);
	pthread_mutex_unlock(&ps->lock);
	if (rq->size != PEER_LOAD_START)
		return reply_signed_text(ps, conn, mac, MHD_HTTP_NOT_FOUND, "no such load here\n");
	if (ended)
		return reply_signed_text(
		    ps, conn, mac, MHD_HTTP_CONFLICT,
		    "this load ended here: a start with its id again is a replay\n");
	if (full)
		return reply_signed_text(ps, conn, mac, MHD_HTTP_SERVICE_UNAVAILABLE,
					 "too many loads\n");
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return MHD_NO;
	snprintf(rl->node, sizeof(rl->node), "%s", rq->node);
	rl->id = rq->block;
	snprintf(rl->report.node, sizeof(rl->report.node), "%s", self);
	snprintf(rl->report.run, sizeof(rl->report.run), "%016" PRIx64, rl->id);
	json_object *spec = NULL;
	const char **paths = NULL, *why = "";
	size_t np = 0;
	bool fresh = false;
	int r = peer_wire_load_spec(rq->path, self, &rl->report, &spec, &paths, &np, &fresh, &why);
	if (r < 0) {
		free(rl);
		if (r == -EINVAL) {
			char msg[160];
			snprintf(msg, sizeof(msg), "bad load request: %s\n", why);
			return reply_signed_text(ps, conn, mac, MHD_HTTP_BAD_REQUEST, msg);
		}
		return MHD_NO;
	}
	/* A load makes this node fetch and hand blocks over to the nodes of its spec: the asker
	 * and each of them must hold a view of the source (a spec naming a node without one
	 * would have this node push that node the source's blocks). */
	bool ok = granted(ps, conn, "load", rq->source, rq->node);
	for (size_t i = 0; ok && i < rl->report.n_nodes; i++)
		ok = !strcmp(rl->report.nodes[i], self) ||
		     granted(ps, conn, "load", rq->source, rl->report.nodes[i]);
	if (!ok) {
		json_object_put(spec);
		free(paths);
		free(rl);
		return reply_signed_text(ps, conn, mac, PEER_STATUS_NO_VIEW,
					 "no view of this source is granted to the asking node or "
					 "to a node of its load\n");
	}
	if (ps->cfg.sources.acquire(ps->cfg.sources.userdata, rq->source, &rl->src) < 0) {
		json_object_put(spec);
		free(paths);
		free(rl);
		return reply_signed_text(ps, conn, mac, MHD_HTTP_NOT_FOUND,
					 "no such source open here\n");
	}
	const char *nodes[LOAD_SHARE_MAX_NODES];
	for (size_t i = 0; i < rl->report.n_nodes; i++)
		nodes[i] = rl->report.nodes[i];
	r = load_start_share(rl->src, paths, np, 300000, nodes, rl->report.n_nodes, self, fresh,
			     &rl->load);
	json_object_put(spec);
	free(paths);
	if (r < 0) {
		ps->cfg.sources.release(ps->cfg.sources.userdata, rl->src);
		free(rl);
		return reply_signed_text(ps, conn, mac, MHD_HTTP_SERVICE_UNAVAILABLE,
					 "cannot start the load\n");
	}
	rl->seen_ms = meta_cache_now_ms();
	pthread_mutex_lock(&ps->lock);
	struct remote_load *twin = load_find_locked(ps, rq->node, rq->block);
	if (twin || ps->nloads >= PEER_SERVER_MAX_LOADS || load_ended_locked(ps, rq->node, rq->block)) {
		/* the same start twice at once (keep the first), or the room went meanwhile, or
		 * it was cancelled meanwhile: this one is freed by the reaper */
		LIST_INSERT_HEAD(&ps->dead, rl, link);
		pthread_cond_signal(&ps->reap_cond);
		if (!twin) {
			pthread_mutex_unlock(&ps->lock);
			return reply_signed_text(ps, conn, mac, MHD_HTTP_SERVICE_UNAVAILABLE,
						 "too many loads, or this load ended\n");
		}
		twin->seen_ms = meta_cache_now_ms();
		rl = twin;
	} else {
		LIST_INSERT_HEAD(&ps->loads, rl, link);
		ps->nloads++;
		log_info("load %016" PRIx64 " of node %s: this node's share of %zu path(s) of %s "
			 "among %zu node(s)",
			 rl->id, rl->node, np, rl->src->url, rl->report.n_nodes);
	}
	ret = reply_report_locked(ps, conn, rl, mac);
	pthread_mutex_unlock(&ps->lock);
	return ret;
}

/* Finds the block: a pinned tier range (sv->pinned; sent straight from the tier file, its
 * checksum from the index) or bytes in memory (*ret_mem, owned). Returns 0 or -errno. */
static int block_get(struct serving *sv, const struct peer_request *rq, struct fetch_result *ret)
{
	struct source *src = sv->src;
	struct ufs_attr attr = {.size = rq->size, .mtime = rq->mtime};
	snprintf(attr.etag, sizeof(attr.etag), "%s", rq->etag ? rq->etag : "");
	uint64_t nblocks = (rq->size + src->block_size - 1) / src->block_size;
	if (rq->block >= nblocks)
		return -ERANGE;
	/* The version asked for must be the one this node knows (validated within a minute):
	 * a stale asker must not make it drop a newer version's blocks, nor a newer one fetch
	 * over its own. Either way the asker reads the UFS, which settles who is stale. */
	struct ufs_attr cur;
	bool changed;
	int r = meta_cache_validate(src->meta, rq->path, 60000, false, &cur, &changed);
	if (r < 0)
		return r;
	if (cur.is_dir)
		return -ENOENT;
	if (!ufs_attr_same_version(&cur, &attr))
		return -ESTALE;
	r = block_store_object_sync(src->store, rq->path, &attr, &sv->obj);
	if (r < 0)
		return r;
	r = fetcher_get_local(src->fetcher, sv->obj, rq->path, &attr, rq->block, ret);
	if (r < 0)
		return r;
	sv->block = rq->block;
	sv->pinned = !ret->mem;
	return 0;
}

/* Who signed a request whose MAC checked: a member (with members from the controller or the
 * Leases, one this node does not know yet is looked up again, at most IDENTITY_REFRESH_MS, so a
 * node that just joined is not refused), and, when the member list gives its identity, one
 * that holds that identity's private key (X-Weir-Id-Sig over the request's MAC): the shared key
 * alone no longer lets a node ask under another's name. 0, or -EPERM with *why set. */
static int identity_check(struct peer_server *ps, struct MHD_Connection *conn, const char *node,
			  const char *mac, const char **why)
{
	struct cluster *cl = ps->cfg.cluster;
	struct cluster_view *v = cluster_view_get(cl);
	int idx = cluster_find(v, node);
	/* a round re-reads the Leases as the watch has them (or asks the controller): the one
	 * that names the new member may be a few rounds away, each at most every 200 ms */
	struct timespec until = deadline_in(IDENTITY_REFRESH_MS / 1000.0), now;
	while (idx < 0 && cluster_is_dynamic(cl)) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left = (until.tv_sec - now.tv_sec) * 1000L +
			    (until.tv_nsec - now.tv_nsec) / 1000000L;
		if (left <= 0)
			break;
		cluster_view_put(v);
		int rr = cluster_refresh(cl, (unsigned)left);
		v = cluster_view_get(cl);
		idx = cluster_find(v, node);
		if (rr == -ENOTSUP)
			break;
	}
	char id[NODE_ID_PUB_HEX] = "";
	if (idx >= 0)
		snprintf(id, sizeof(id), "%s", cluster_node_id(v, idx));
	cluster_view_put(v);
	if (idx < 0) {
		*why = "not a member";
		return -EPERM;
	}
	if (!id[0])
		return 0; /* a peers list entry without ;id=: the key alone, as before */
	const char *sig = header(conn, "X-Weir-Id-Sig");
	if (!sig) {
		*why = "no X-Weir-Id-Sig: the member list gives its identity, and a request under "
		       "its name must be signed by it";
		return -EPERM;
	}
	if (node_id_verify(id, NODE_ID_LABEL_REQUEST, mac, strlen(mac), sig) != 0) {
		*why = "its X-Weir-Id-Sig is not that member's identity's signature (another node "
		       "claiming its name, or its node-id.key replaced)";
		return -EPERM;
	}
	return 0;
}

/* Logs a refused request, at most one line a second (the others are counted in that line and in
 * weir_peer_refused_total): a flood of refusals must not flood the log. */
static void refusal_log(struct peer_server *ps, struct MHD_Connection *conn, const char *what,
			const char *node, const char *why)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int_fast64_t last = atomic_load(&ps->refused_logged_s);
	if (last == now.tv_sec ||
	    !atomic_compare_exchange_strong(&ps->refused_logged_s, &last, now.tv_sec)) {
		atomic_fetch_add(&ps->refused_quiet, 1);
		return;
	}
	uint64_t quiet = atomic_exchange(&ps->refused_quiet, 0);
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char addr[64] = "?";
	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, addr,
			  sizeof(addr));
	char more[160] = "";
	if (quiet)
		snprintf(more, sizeof(more),
			 " (and %" PRIu64 " more refused since the last such line, not "
			 "logged: weir_peer_refused_total counts them all)",
			 quiet);
	log_warn("refused a %s request from %s claiming to be node \"%.64s\": %s%s", what, addr,
		 node, why, more);
}

/* May node read (or write) source's blocks here? Always without grants (no attester); with them,
 * when node is listed for source, after up to PEER_GRANT_WAIT_MS for a grant on its way. A
 * refusal is counted and logged (what: the request's kind). */
static bool granted(struct peer_server *ps, struct MHD_Connection *conn, const char *what,
		    const char *source, const char *node)
{
	if (!ps->cfg.grants ||
	    view_grants_wait(ps->cfg.grants, source, node, PEER_GRANT_WAIT_MS) == 0)
		return true;
	atomic_fetch_add(&cluster_get_stats(ps->cfg.cluster)->refused, 1);
	char why[400];
	snprintf(why, sizeof(why),
		 "no view of its source %.80s is granted to it (no pod on that node mounts a "
		 "Dataset of that source, and it runs no share of a DataLoad of it: the source "
		 "Dataset's status.viewNodes)",
		 source);
	refusal_log(ps, conn, what, node, why);
	return false;
}

/* Reads a signed request's fields (*ret_rq, strings borrowed from conn) and checks who sent it:
 * 0, or -EACCES with *ret_no the answer to give (400, 403). */
static int request_check(struct peer_server *ps, struct MHD_Connection *conn, const char *what,
			 const char *method, const char *endpoint, bool identity,
			 struct peer_request *ret_rq, const char **ret_mac, struct refusal *ret_no)
{
	struct cluster_stats *st = cluster_get_stats(ps->cfg.cluster);
	struct peer_request rq;
	const char *mac, *why;
	if (peer_wire_request(conn_field, conn, method, endpoint, &rq, &mac, &why) < 0) {
		*ret_no = (struct refusal){MHD_HTTP_BAD_REQUEST, why};
		return -EACCES;
	}
	/* signed by the asker for the member it meant: a request addressed to another member
	 * (passed on by a relay at that member's address) fails its MAC here */
	rq.to = ps->self;
	int r = peer_auth_verify_request(ps->cfg.key, &rq, mac, (int64_t)time(NULL),
					 ps->cfg.skew_s);
	why = r == -ETIME ? "its time is too far from ours" : "its MAC does not match our peer key";
	if (r == 0 && identity)
		r = identity_check(ps, conn, rq.node, mac, &why);
	if (r < 0) {
		atomic_fetch_add(&st->refused, 1);
		refusal_log(ps, conn, what, rq.node, why);
		*ret_no = (struct refusal){MHD_HTTP_FORBIDDEN, "refused\n"};
		return -EACCES;
	}
	*ret_rq = rq;
	*ret_mac = mac;
	return 0;
}

/* Answers a push refused at its headers, once its body is in; a busy owner says when to try
 * again. A refusal after the sender proved the key (not its fields' nor its MAC's) is signed for
 * its request, as every answer the sender acts on is. */
static enum MHD_Result push_refuse(struct peer_server *ps, struct MHD_Connection *conn,
				   const struct push_refused *pr)
{
	size_t len = strlen(pr->no.msg);
	uint64_t sum = XXH3_64bits(pr->no.msg, len);
	struct reply_sig sig = {0};
	bool sign = pr != &push_refusals[PUSH_NO_AUTH] && pr != &push_refusals[PUSH_NO_FIELDS] &&
		    sign_bytes(ps, header(conn, "X-Weir-Auth"), pr->no.status, pr->no.msg, len, sum,
			       &sig) == 0;
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, (void *)pr->no.msg, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	if (pr == &push_refusals[PUSH_NO_ROOM])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER,
					PEER_SERVER_PUSH_RETRY_AFTER);
	if (sign)
		return queue_signed(conn, resp, pr->no.status, "text/plain", sum, &sig);
	enum MHD_Result ret = MHD_queue_response(conn, pr->no.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* The headers of a PUT /v1/block: who sends it (request_check, before anything is allocated),
 * that this node owns the block, its length, an upload slot; then the body is taken in
 * (*con_cls a struct pushing). A refusal is *con_cls = one of push_refusals, answered once the
 * body is in. */
static enum MHD_Result push_begin(struct peer_server *ps, struct MHD_Connection *conn,
				  void **con_cls)
{
	struct peer_request rq;
	const char *mac;
	struct refusal no;
	uint64_t clen;
	enum push_no refused;
	struct source *src = NULL;
	if (request_check(ps, conn, "push", "PUT", "/v1/block", true, &rq, &mac, &no) < 0) {
		refused = no.status == MHD_HTTP_FORBIDDEN ? PUSH_NO_AUTH : PUSH_NO_FIELDS;
		goto refuse;
	}
	refused = PUSH_NO_PATH;
	if (!peer_wire_path_ok(rq.path) || strlen(rq.etag) >= UFS_ETAG_MAX)
		goto refuse;
	/* a node with no view of the source writes none of its blocks here either */
	refused = PUSH_NO_VIEW;
	if (!granted(ps, conn, "push", rq.source, rq.node))
		goto refuse;
	refused = PUSH_NO_LENGTH_HEADER;
	if (!peer_wire_u64(header(conn, "Content-Length"), &clen))
		goto refuse;
	refused = PUSH_NO_SOURCE;
	if (ps->cfg.sources.acquire(ps->cfg.sources.userdata, rq.source, &src) < 0) {
		src = NULL;
		goto refuse;
	}
	const struct fetcher_route *rt = fetcher_get_route(src->fetcher);
	uint64_t bs = src->block_size, nblocks = (rq.size + bs - 1) / bs;
	refused = PUSH_NO_BLOCK;
	if (rq.block >= nblocks)
		goto refuse;
	/* Only the owner keeps a pushed block: readers look for it there, and a node that
	 * does not own it must not be made to fill its tiers with it. */
	int owner[1];
	struct cluster_view *v = cluster_view_get(ps->cfg.cluster);
	bool owned = rt &&
		     cluster_owners(v, rq.source, rt->replicas, rq.path, rq.block, owner, 1) &&
		     owner[0] == cluster_self(v);
	cluster_view_put(v);
	refused = PUSH_NO_OWNER;
	if (!owned)
		goto refuse;
	uint64_t len = rq.block + 1 < nblocks ? bs : rq.size - rq.block * bs;
	refused = PUSH_NO_LENGTH;
	if (clen != len)
		goto refuse;
	/* a slot, then the buffer: at most PEER_SERVER_MAX_PUSHES blocks in memory here */
	refused = PUSH_NO_ROOM;
	if (atomic_fetch_add(&ps->pushes, 1) >= PEER_SERVER_MAX_PUSHES) {
		atomic_fetch_sub(&ps->pushes, 1);
		goto refuse;
	}
	struct pushing *pu = calloc(1, sizeof(*pu));
	char *buf = pu ? malloc(len) : NULL;
	if (!buf) {
		free(pu);
		atomic_fetch_sub(&ps->pushes, 1);
		ps->cfg.sources.release(ps->cfg.sources.userdata, src);
		return MHD_NO;
	}
	*pu = (struct pushing){.kind = 2, .ps = ps, .src = src, .buf = buf, .len = (uint32_t)len};
	*con_cls = pu; /* request_done lets go of it from here */
	return MHD_YES;
refuse:
	if (src)
		ps->cfg.sources.release(ps->cfg.sources.userdata, src);
	*con_cls = (void *)&push_refusals[refused];
	return MHD_YES;
}

/* The whole body is in: checked against the SHA-256 its MAC covers, then the version, then
 * stored. */
static enum MHD_Result push_end(struct peer_server *ps, struct MHD_Connection *conn,
				struct pushing *pu)
{
	struct cluster_stats *st = cluster_get_stats(ps->cfg.cluster);
	struct peer_request rq;
	const char *mac;
	struct refusal no;
	/* the fields again (the same headers: push_begin checked the sender's identity, which
	 * would cost a second signature check and perhaps a second member round) */
	int r = request_check(ps, conn, "push", "PUT", "/v1/block", false, &rq, &mac, &no);
	if (r < 0) /* as at the start: the request's fields are the same */
		return reply_text(conn, no.status, no.msg);
	char digest[PEER_AUTH_MAC_HEX];
	if (!pu->overflow && pu->got == pu->len)
		peer_auth_body_digest(pu->buf, pu->len, digest);
	if (pu->overflow || pu->got != pu->len || strcmp(digest, rq.body_sha256) != 0) {
		atomic_fetch_add(&st->bad_bytes, 1);
		log_warn("peer %.64s pushed block %" PRIu64 " of \"%s\" with bytes that fail their "
			 "length or the SHA-256 its MAC covers; dropped",
			 rq.node, rq.block, rq.path);
		return reply_signed_text(ps, conn, mac, MHD_HTTP_BAD_REQUEST,
					 "the bytes fail their check\n");
	}
	uint64_t sum = block_sum(pu->buf, pu->len); /* the index's checksum of the block */
	struct ufs_attr attr = {.size = rq.size, .mtime = rq.mtime}, cur;
	snprintf(attr.etag, sizeof(attr.etag), "%s", rq.etag);
	bool changed;
	uint64_t obj;
	r = meta_cache_validate(pu->src->meta, rq.path, 60000, false, &cur, &changed);
	if (r == 0 && (cur.is_dir || !ufs_attr_same_version(&cur, &attr)))
		r = -ESTALE;
	if (r == 0)
		r = block_store_object_sync(pu->src->store, rq.path, &attr, &obj);
	if (r == 0)
		r = fetcher_put(pu->src->fetcher, obj, rq.block, pu->buf, pu->len, sum);
	static const struct errno_refusal own[] = {
	    {-EEXIST, {MHD_HTTP_CONFLICT, "this node fetches that block itself\n"}},
	};
	if (r == 0) {
		/* a hash kept for bytes this block had before must not tag its new ones */
		peer_memo_forget(ps->memo, rq.source, rq.path, rq.block);
		return reply_signed_text(ps, conn, mac, MHD_HTTP_OK, "kept\n");
	}
	const struct refusal *nr = block_refusal(r, own, sizeof(own) / sizeof(own[0]));
	if (nr)
		return reply_signed_text(ps, conn, mac, nr->status, nr->msg);
	log_debug("push of block %" PRIu64 " of \"%s\" from %.64s not kept: %s", rq.block, rq.path,
		  rq.node, strerror(-r));
	return reply_signed_text(ps, conn, mac, MHD_HTTP_SERVICE_UNAVAILABLE,
				 "cannot keep it now\n");
}

/* PUT /v1/block: a block of this node's that another node fetched for it (a DataLoad's plan). */
static enum MHD_Result push_request(struct peer_server *ps, struct MHD_Connection *conn,
				    const char *upload, size_t *upload_size, void **con_cls)
{
	if (!*con_cls)
		return push_begin(ps, conn, con_cls);
	if (*(int *)*con_cls == 3) {
		if (*upload_size) {
			*upload_size = 0; /* refused at its headers: the body is dropped */
			return MHD_YES;
		}
		return push_refuse(ps, conn, *con_cls);
	}
	struct pushing *pu = *con_cls;
	if (*upload_size) {
		if (*upload_size > pu->len - pu->got) {
			pu->overflow = true;
		} else {
			memcpy(pu->buf + pu->got, upload, *upload_size);
			pu->got += (uint32_t)*upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	return push_end(ps, conn, pu);
}

/* GET /v1/prove: this node's signature of the asker's nonce (member_prove.h). Anyone may ask:
 * the signature is under a label of its own, for this node's name and a nonce the asker chose. */
static enum MHD_Result prove_request(struct peer_server *ps, struct MHD_Connection *conn)
{
	char sig[NODE_ID_SIG_HEX];
	if (!ps->cfg.id)
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "no identity to prove here\n");
	if (member_prove_answer(ps->cfg.id, ps->self, header(conn, "X-Weir-Prove-Nonce"), sig) < 0)
		return reply_text(conn, MHD_HTTP_BAD_REQUEST,
				  "X-Weir-Prove-Nonce: 64 hex digits, please\n");
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "X-Weir-Prove-Sig", sig);
	enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct peer_server *ps = cls;
	struct cluster_stats *st = cluster_get_stats(ps->cfg.cluster);
	if (!strcmp(method, "GET") && !strcmp(url, "/v1/prove"))
		return prove_request(ps, conn);
	bool is_load = !strcmp(method, "POST") && !strcmp(url, "/v1/load");
	if (!strcmp(method, "PUT") && !strcmp(url, "/v1/block"))
		return push_request(ps, conn, upload, upload_size, con_cls);
	if (!is_load && (strcmp(method, "GET") != 0 || strcmp(url, "/v1/block") != 0))
		return reply_text(conn, MHD_HTTP_NOT_FOUND,
				  "weir-node serves GET and PUT /v1/block, "
				  "POST /v1/load and GET /v1/prove\n");
	if (is_load && !*con_cls) {
		/* the headers: answered once the (empty) body is in */
		struct ctl_state *cs = calloc(1, sizeof(*cs));
		if (!cs)
			return MHD_NO;
		*cs = (struct ctl_state){.kind = 1, .ps = ps};
		*con_cls = cs;
		return MHD_YES;
	}
	if (is_load && *upload_size) {
		*upload_size = 0; /* a load request has no body: ignored */
		return MHD_YES;
	}
	struct peer_request rq;
	const char *mac;
	struct refusal no;
	int r = request_check(ps, conn, is_load ? "load" : "block", method, url, true, &rq, &mac,
			      &no);
	if (r < 0)
		return reply_text(conn, no.status, no.msg);
	if (is_load) {
		/* signed as peer_auth.h says, and never a block request's fields */
		bool start = rq.size == PEER_LOAD_START;
		if (strcmp(rq.etag, PEER_LOAD_TAG) || rq.mtime != 0 ||
		    (rq.size != PEER_LOAD_START && rq.size != PEER_LOAD_STATUS &&
		     rq.size != PEER_LOAD_CANCEL) ||
		    (start ? rq.path[0] != '{' : rq.path[0] != '\0'))
			return reply_signed_text(ps, conn, mac, MHD_HTTP_BAD_REQUEST,
						 "bad load request\n");
		return load_request(ps, conn, &rq, mac, *con_cls);
	}
	if (!peer_wire_path_ok(rq.path) || strlen(rq.etag) >= UFS_ETAG_MAX)
		return reply_text(conn, MHD_HTTP_BAD_REQUEST, "bad path or etag\n");
	/* The asker proved who it is; does it hold a view of the source? Refused with a status of
	 * its own (PEER_STATUS_NO_VIEW): the asker reads this source from the UFS for a while and
	 * keeps asking this node for the sources it may read (a 403 would mark this node down
	 * for all of them). */
	if (!granted(ps, conn, "block", rq.source, rq.node))
		return reply_text(conn, PEER_STATUS_NO_VIEW,
				  "no view of this source is granted to the asking node\n");
	struct serving *sv = calloc(1, sizeof(*sv));
	if (!sv)
		return MHD_NO;
	sv->ps = ps;
	if (ps->cfg.sources.acquire(ps->cfg.sources.userdata, rq.source, &sv->src) < 0) {
		free(sv);
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "no such source open here\n");
	}
	*con_cls = sv; /* request_done lets go of it, whatever happens from here */
	struct fetch_result fr;
	r = block_get(sv, &rq, &fr);
	if (r < 0) {
		log_debug("peer %s: block %" PRIu64 " of \"%s\" in source %s: %s", rq.node,
			  rq.block, rq.path, rq.source, strerror(-r));
		static const struct errno_refusal own[] = {
		    {-ERANGE, {MHD_HTTP_RANGE_NOT_SATISFIABLE, "no such block\n"}},
		    {-EAGAIN, {MHD_HTTP_SERVICE_UNAVAILABLE, "busy\n"}},
		};
		const struct refusal *nr = block_refusal(r, own, sizeof(own) / sizeof(own[0]));
		if (nr)
			return reply_text(conn, nr->status, nr->msg);
		return reply_text(conn, MHD_HTTP_BAD_GATEWAY, "cannot read the block\n");
	}
	uint32_t len = fr.len;
	uint64_t sum;
	struct MHD_Response *resp = NULL;
	struct reply_sig sig = {0};
	/* an asker of this build asks for reply MAC v3 (its body hash may be kept); an older
	 * one is answered v2 */
	const char *ver = header(conn, "X-Weir-Reply-Mac");
	bool v3 = ver && !strcmp(ver, "v3");
	struct peer_memo_key mk = {.source = rq.source,
				   .path = rq.path,
				   .block = rq.block,
				   .size = rq.size,
				   .mtime = rq.mtime,
				   .etag = rq.etag};
	/* every byte under the reply's MAC, computed before the headers go out */
	if (fr.mem) {
		sum = block_sum(fr.mem, len);
		mk.xxh3 = sum;
		if ((v3 ? sign_v3(ps, mac, &mk, fr.mem, -1, 0, len, sum, &sig)
			: sign_bytes(ps, mac, MHD_HTTP_OK, fr.mem, len, sum, &sig)) == 0)
			resp = MHD_create_response_from_buffer(len, fr.mem, MHD_RESPMEM_MUST_FREE);
		if (!resp)
			free(fr.mem);
	} else {
		/* Straight from the tier file (sendfile), pinned until request_done; the
		 * response closes its own descriptor. */
		sum = fr.ref.csum;
		int fd = -1;
		mk.xxh3 = sum;
		r = v3 ? sign_v3(ps, mac, &mk, NULL, fr.ref.fd, fr.ref.off, len, sum, &sig)
		       : sign_range(ps, mac, fr.ref.fd, fr.ref.off, len, sum, &sig);
		if (r < 0)
			log_warn("block %" PRIu64 " of \"%s\": cannot read it from its tier to "
				 "sign it: %s",
				 rq.block, rq.path, strerror(-r));
		else
			fd = fcntl(fr.ref.fd, F_DUPFD_CLOEXEC, 0);
		resp =
		    fd >= 0 ? MHD_create_response_from_fd_at_offset64(len, fd, fr.ref.off) : NULL;
		if (!resp && fd >= 0)
			close(fd);
	}
	if (!resp)
		return MHD_NO;
	enum MHD_Result ret =
	    queue_signed(conn, resp, MHD_HTTP_OK, "application/octet-stream", sum, &sig);
	atomic_fetch_add(&st->bytes_out, len);
	atomic_fetch_add(&st->blocks_out, 1);
	return ret;
}

int peer_server_start(const struct peer_server_config *cfg, struct peer_server **ret, char *errbuf,
		      size_t errlen)
{
	char host[64];
	const char *colon = strrchr(cfg->listen, ':');
	char *end = NULL;
	long port = colon ? strtol(colon + 1, &end, 10) : 0;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (!colon || (size_t)(colon - cfg->listen) >= sizeof(host) || !end || *end || port <= 0 ||
	    port > 65535) {
		snprintf(errbuf, errlen, "peer-listen \"%s\" is not IPv4:PORT", cfg->listen);
		return -EINVAL;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - cfg->listen), cfg->listen);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		snprintf(errbuf, errlen, "peer-listen \"%s\" is not IPv4:PORT", cfg->listen);
		return -EINVAL;
	}
	struct peer_server *ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	ps->cfg = *cfg;
	struct cluster_view *v = cluster_view_get(cfg->cluster);
	snprintf(ps->self, sizeof(ps->self), "%s", cluster_node_name(v, cluster_self(v)));
	cluster_view_put(v);
	pthread_mutex_init(&ps->lock, NULL);
	pthread_cond_init(&ps->reap_cond, NULL);
	LIST_INIT(&ps->loads);
	LIST_INIT(&ps->dead);
	if (ps->cfg.skew_s <= 0)
		ps->cfg.skew_s = 60;
	ps->memo = peer_memo_new(PEER_MEMO_MAX);
	if (!ps->memo) {
		pthread_cond_destroy(&ps->reap_cond);
		pthread_mutex_destroy(&ps->lock);
		free(ps);
		return -ENOMEM;
	}
	ps->d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
		MHD_USE_ERROR_LOG,
	    0, NULL, NULL, answer, ps, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)PEER_LOAD_REQUEST_MAX, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)PEER_SERVER_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned)PEER_SERVER_MAX_CONNECTIONS_PER_IP, MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
	if (!ps->d) {
		snprintf(errbuf, errlen,
			 "cannot listen on %s for peers (in use, or not an address "
			 "of this host?)",
			 cfg->listen);
		pthread_cond_destroy(&ps->reap_cond);
		pthread_mutex_destroy(&ps->lock);
		peer_memo_free(ps->memo);
		free(ps);
		return -EADDRINUSE;
	}
	int r = pthread_create(&ps->reaper, NULL, reaper_thread, ps);
	if (r) {
		MHD_stop_daemon(ps->d);
		pthread_cond_destroy(&ps->reap_cond);
		pthread_mutex_destroy(&ps->lock);
		peer_memo_free(ps->memo);
		free(ps);
		snprintf(errbuf, errlen, "cannot start the peer server's reaper thread: %s",
			 strerror(r));
		return -r;
	}
	*ret = ps;
	return 0;
}

void peer_server_stop(struct peer_server *ps)
{
	if (!ps)
		return;
	MHD_stop_daemon(ps->d);
	pthread_mutex_lock(&ps->lock);
	ps->stop = true;
	pthread_cond_signal(&ps->reap_cond);
	pthread_mutex_unlock(&ps->lock);
	pthread_join(ps->reaper, NULL); /* frees the dead ones */
	struct remote_load *rl;
	while ((rl = LIST_FIRST(&ps->loads))) {
		LIST_REMOVE(rl, link);
		remote_load_free(ps, rl);
	}
	pthread_cond_destroy(&ps->reap_cond);
	pthread_mutex_destroy(&ps->lock);
	peer_memo_free(ps->memo);
	free(ps);
}
