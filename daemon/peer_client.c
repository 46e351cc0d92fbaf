// SPDX-License-Identifier: Apache-2.0
// Peer block client: a queue of requests (sys/queue.h) served by worker threads, each owning a
// curl easy handle. The queue's lock is never held across a transfer.
#include "peer_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>
#include <xxhash.h>

#include "block_sum.h"
#include "log.h"
#include "peer_wire.h"
#include "thread_class.h"

#define PEER_CLIENT_MAX_THREADS 32

/* A block transfer that moves fewer bytes a second than this for stall_s is given up (its
 * peer marked down, the block read from the UFS). The owner has the whole block before its
 * first byte (peer_server.c), so a healthy one sends at link speed: at 64 KiB/s a 4 MiB block
 * would take longer than the 60 s timeout, and a 128 KiB one 2 s. The floor is raised to what
 * the block needs to arrive within timeout_ms when that is more. */
#define PEER_CLIENT_MIN_RATE (64L << 10)

/* Lanes a client keeps at once: one per peer name with requests queued or in flight (members
 * of the views in use: a view has at most CLUSTER_MAX_NODES). */
#define PEER_CLIENT_LANES (2 * CLUSTER_MAX_NODES)

struct peer_lane;

struct peer_req {
	TAILQ_ENTRY(peer_req) all;	/* pc->queue, while queued */
	STAILQ_ENTRY(peer_req) in_lane; /* lane->queue, while queued */
	struct peer_lane *lane;	   /* its peer's, from queuing until it ends (held counts it) */
	uint64_t seq;		   /* the order queued, over every lane */
	struct cluster_view *view; /* referenced: the member set idx is an index of */
	int idx;
	char *source, *path;
	struct ufs_attr attr;
	uint64_t block;
	uint32_t len;
	char *buf;
	peer_done_fn done;
	void *userdata;
	uint64_t queued_ms; /* CLOCK_MONOTONIC, when it was queued: it fails past timeout_ms */
};

TAILQ_HEAD(peer_queue, peer_req);

/* One peer's requests, under pc->lock: those queued, in order, and how many are in flight.
 * Keyed by the peer's name, which outlives views. A dequeue looks at the first request of each
 * lane with requests queued (at most a few dozen: the members), never along the queue: with
 * hundreds queued for a peer at its share, a scan past them for each block of another peer cost
 * 25-32 us at 256 queued and 89-214 us at 1024, under this lock (a micro benchmark of dequeues;
 * 0.1-0.9 us per block with lanes, whatever the queue's length). */
struct peer_lane {
	char name[CLUSTER_NAME_MAX]; /* "": free */
	STAILQ_HEAD(, peer_req) queue;
	unsigned held; /* requests to it in flight */
	/* the requests queued before this seq were queued before the peer failed one of them
	 * (and was marked down for it): they are not sent */
	uint64_t failed_before;
	LIST_ENTRY(peer_lane) link; /* pc->waiting, while queue is not empty */
};

struct peer_client {
	struct cluster *cluster;
	const struct peer_key *key;
	const struct node_id *id; /* NULL: requests not signed by an identity */
	unsigned connect_timeout_ms, timeout_ms, stall_s;
	/* Guards queue, lanes, waiting, next_seq, stopping and share. Held to push or pop a
	 * request only: never across a transfer or a done callback. */
	pthread_mutex_t lock;
	/* a request was queued, a worker ended one (its peer may be under its share again), or
	 * stopping (CLOCK_MONOTONIC: a worker waits at most until the first request expires) */
	pthread_cond_t cond;
	struct peer_queue queue; /* under lock, in the order queued (so the first expires first) */
	struct peer_lane lanes[PEER_CLIENT_LANES]; /* under lock */
	LIST_HEAD(, peer_lane) waiting;		   /* under lock: the lanes with requests queued */
	uint64_t next_seq;			   /* under lock */
	/* under lock: how many workers any one peer may hold at once, the same for every peer
	 * and request: the workers over the other live members (rounded up), as of the newest
	 * view a request was queued with */
	unsigned share;
	bool stopping; /* under lock */
	unsigned nthreads;
	unsigned workers; /* how many workers there are to be: set before the first starts */
	pthread_t threads[PEER_CLIENT_MAX_THREADS];
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* What a worker does with the request pop_locked took. */
enum pop_what {
	POP_SEND,     /* send it */
	POP_EXPIRED,  /* it waited timeout_ms in the queue: fail it unsent */
	POP_PEER_DOWN /* its peer failed another request since it was queued: fail it unsent */
};

static void client_queue_init(struct peer_client *pc)
{
	TAILQ_INIT(&pc->queue);
	LIST_INIT(&pc->waiting);
	for (unsigned i = 0; i < PEER_CLIENT_LANES; i++)
		STAILQ_INIT(&pc->lanes[i].queue);
}

/* Under pc->lock: peer's lane, made if it has none, or NULL when every lane is in use. */
static struct peer_lane *lane_get_locked(struct peer_client *pc, const char *peer)
{
	struct peer_lane *free_lane = NULL;
	for (unsigned i = 0; i < PEER_CLIENT_LANES; i++) {
		struct peer_lane *l = &pc->lanes[i];
		if (!l->name[0])
			free_lane = free_lane ? free_lane : l;
		else if (!strcmp(l->name, peer))
			return l;
	}
	if (free_lane) {
		snprintf(free_lane->name, sizeof(free_lane->name), "%s", peer);
		free_lane->failed_before = 0;
	}
	return free_lane;
}

/* Under pc->lock: frees l once nothing is queued or in flight for it. */
static void lane_release_locked(struct peer_lane *l)
{
	if (STAILQ_EMPTY(&l->queue) && l->held == 0)
		l->name[0] = '\0';
}

/* Under pc->lock: rq, the first queued of its lane, leaves the queue. */
static void take_locked(struct peer_client *pc, struct peer_req *rq)
{
	TAILQ_REMOVE(&pc->queue, rq, all);
	STAILQ_REMOVE_HEAD(&rq->lane->queue, in_lane);
	if (STAILQ_EMPTY(&rq->lane->queue))
		LIST_REMOVE(rq->lane, link);
}

/* Under pc->lock: rq, taken, is being sent; then it has ended. */
static void inflight_begin_locked(struct peer_client *pc, struct peer_req *rq)
{
	rq->lane->held++;
}

static void inflight_end_locked(struct peer_client *pc, struct peer_req *rq)
{
	rq->lane->held--;
	lane_release_locked(rq->lane);
}

/* Under pc->lock: the first queued request if it waited timeout_ms (POP_EXPIRED), else the
 * first queued before its peer failed another request (POP_PEER_DOWN: it must not wait its turn
 * behind a peer that is given up, nor be sent to it) or whose peer has fewer than pc->share in
 * flight (POP_SEND), removed from the queue; or NULL. The share is the same for every request to
 * a peer, so those wait in the order queued, and only for that peer's slots: the first such
 * request is the first of one lane, the one queued first of those eligible. */
static struct peer_req *pop_locked(struct peer_client *pc, enum pop_what *what)
{
	struct peer_req *rq = TAILQ_FIRST(&pc->queue);
	*what = POP_SEND;
	if (rq && !pc->stopping && mono_ms() - rq->queued_ms >= pc->timeout_ms) {
		*what = POP_EXPIRED;
	} else if (rq && !pc->stopping) {
		rq = NULL;
		struct peer_lane *l;
		LIST_FOREACH(l, &pc->waiting, link)
		{
			struct peer_req *head = STAILQ_FIRST(&l->queue);
			if (rq && rq->seq < head->seq)
				continue;
			if (head->seq < l->failed_before) {
				rq = head;
				*what = POP_PEER_DOWN;
			} else if (l->held < pc->share) {
				rq = head;
				*what = POP_SEND;
			}
		}
	}
	if (!rq)
		return NULL;
	take_locked(pc, rq);
	if (*what != POP_SEND)
		lane_release_locked(rq->lane);
	return rq;
}

/* What one transfer collects. */
struct transfer {
	struct peer_req *rq;
	CURL *easy;
	const struct peer_key *key;
	const char *req_mac;
	size_t got;
	bool overflow;
	/* the reply's MAC, fed as the body streams in (while its bytes are in the cache), started
	 * at the first byte of a 200; bad_mac when it cannot start (no nonce, no XXH3) */
	bool mac_started, bad_mac;
	struct peer_reply_mac mac;
	/* the body's XXH3, fed beside the MAC while each piece is in the cache (NULL: no memory;
	 * then summed from the block at the end) */
	struct block_sum_state *sum;
	struct peer_wire_reply h;
};

/* Starts t's reply MAC: its headers are in by the first body byte. */
static void transfer_mac_start(struct transfer *t)
{
	uint64_t sum;
	t->mac_started = true;
	/* v3 when the owner says so; an owner of an older build answers v2 (a relay that strips
	 * the header gains nothing: v2 covers every byte as well) */
	bool v3 = !strcmp(t->h.version, "v3");
	if (!peer_wire_declared_sum(&t->h, &sum) || (!v3 && t->h.version[0]) ||
	    (v3 ? peer_auth_reply_begin_v3(&t->mac, t->key, t->req_mac, t->h.nonce, 200, t->rq->len,
					   sum)
		: peer_auth_reply_begin(&t->mac, t->key, t->req_mac, t->h.nonce, 200, t->rq->len,
					sum)) < 0)
		t->bad_mac = true;
}

static size_t body_cb(char *data, size_t size, size_t nitems, void *userdata)
{
	struct transfer *t = userdata;
	size_t n = size * nitems;
	if (t->got + n > t->rq->len) {
		t->overflow = true;
		return 0; /* more than the block: abort */
	}
	if (!t->mac_started) {
		long status = 0;
		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status == 200)
			transfer_mac_start(t);
	}
	if (t->mac.ctx)
		peer_auth_reply_update(&t->mac, data, n);
	if (t->sum)
		block_sum_update(t->sum, data, n);
	memcpy(t->rq->buf + t->got, data, n);
	t->got += n;
	return n;
}

/* CURLOPT_HEADERFUNCTION of block and control replies; userdata is a struct peer_wire_reply. */
static size_t header_cb(char *data, size_t size, size_t nitems, void *userdata)
{
	size_t n = size * nitems;
	peer_wire_reply_header(userdata, data, n);
	return n;
}

/* A signed request's URL: <member><endpoint>?source=..&path=..&block=..&size=..&mtime=..&etag=..
 * (the fields sig is signed over). */
static char *request_url(const struct cluster_view *v, int idx, const char *endpoint,
			 const struct peer_request *sig)
{
	CURLU *u = curl_url();
	if (!u)
		return NULL;
	char base[300];
	char *out = NULL, *field = NULL;
	snprintf(base, sizeof(base), "%s%s", cluster_node_url(v, idx), endpoint);
	if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK)
		goto done;
	char block[24], size[24], mtime[24];
	snprintf(block, sizeof(block), "%" PRIu64, sig->block);
	snprintf(size, sizeof(size), "%" PRIu64, sig->size);
	snprintf(mtime, sizeof(mtime), "%" PRId64, sig->mtime);
	const char *const q[][2] = {
	    {"source", sig->source}, {"path", sig->path}, {"block", block},
	    {"size", size},	     {"mtime", mtime},	  {"etag", sig->etag},
	};
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		free(field);
		if (asprintf(&field, "%s=%s", q[i][0], q[i][1]) < 0) {
			field = NULL;
			goto done;
		}
		if (curl_url_set(u, CURLUPART_QUERY, field, CURLU_APPENDQUERY | CURLU_URLENCODE) !=
		    CURLUE_OK)
			goto done;
	}
	char *url = NULL;
	if (curl_url_get(u, CURLUPART_URL, &url, 0) == CURLUE_OK) {
		out = strdup(url);
		curl_free(url);
	}
done:
	free(field);
	curl_url_cleanup(u);
	return out;
}

/* The X-Weir-Node, -Time, -Nonce and -Auth headers of a request signed as mac, and with this
 * node's identity (id, NULL for none) X-Weir-Id-Sig: its signature of the MAC, so the owner
 * knows which member asks, not only that some holder of the key does. Returns NULL when out of
 * memory or the signature could not be made. */
static struct curl_slist *auth_headers(const struct node_id *id, const struct peer_request *sig,
				       const char *mac)
{
	char h_node[128], h_time[64], h_nonce[64], h_auth[128], h_id[NODE_ID_SIG_HEX + 32] = "";
	snprintf(h_node, sizeof(h_node), "X-Weir-Node: %s", sig->node);
	snprintf(h_time, sizeof(h_time), "X-Weir-Time: %" PRId64, sig->time);
	snprintf(h_nonce, sizeof(h_nonce), "X-Weir-Nonce: %s", sig->nonce);
	snprintf(h_auth, sizeof(h_auth), "X-Weir-Auth: %s", mac);
	if (id) {
		char idsig[NODE_ID_SIG_HEX];
		if (node_id_sign(id, NODE_ID_LABEL_REQUEST, mac, strlen(mac), idsig) < 0)
			return NULL;
		snprintf(h_id, sizeof(h_id), "X-Weir-Id-Sig: %s", idsig);
	}
	struct curl_slist *hdrs = NULL, *tmp;
	const char *lines[] = {h_node, h_time, h_nonce, h_auth, h_id};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (!lines[i][0])
			continue;
		tmp = curl_slist_append(hdrs, lines[i]);
		if (!tmp) {
			curl_slist_free_all(hdrs);
			return NULL;
		}
		hdrs = tmp;
	}
	return hdrs;
}

/* One request, on a worker thread: returns 0 when rq->buf holds the verified block (its XXH3
 * in *ret_sum). */
/* The options every request to a peer shares: no redirects, no signals, errors into errbuf
 * (CURL_ERROR_SIZE), given up after timeout_ms. min_rate (bytes a second; 0: none), for a
 * transfer, also gives up on a peer that stops answering (stopped, wedged) or trickles: one
 * that moves fewer bytes a second than that for stall_s (curl's low-speed check). */
static void easy_common(const struct peer_client *pc, CURL *e, const char *url,
			struct curl_slist *hdrs, char *errbuf, long timeout_ms, long min_rate)
{
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)pc->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, min_rate);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, min_rate ? (long)pc->stall_s : 0L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
}

/* Judges what transfer() got: 0 when rq->buf holds the block, every byte under the reply's
 * MAC (its XXH3 in *ret_sum). */
static int transfer_check(struct transfer *t, CURLcode cc, long status, const char *errbuf,
			  uint64_t *ret_sum)
{
	struct peer_req *rq = t->rq;
	const char *peer = cluster_node_name(rq->view, rq->idx);
	if (cc != CURLE_OK && !t->overflow) {
		log_debug("peer %s, block %" PRIu64 " of \"%s\": %s", peer, rq->block, rq->path,
			  errbuf[0] ? errbuf : curl_easy_strerror(cc));
		return cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
	}
	switch (status) {
	case 200:
		break;
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case PEER_STATUS_NO_VIEW:
		return -ENOKEY;
	case 412:
		return -ESTALE;
	case 503:
		return -EAGAIN;
	default:
		log_debug("peer %s, block %" PRIu64 " of \"%s\": HTTP %ld", peer, rq->block,
			  rq->path, status);
		return -EIO;
	}
	uint64_t want_sum;
	if (t->overflow || t->got != rq->len || t->bad_mac ||
	    !peer_wire_declared_sum(&t->h, &want_sum))
		return -EBADMSG;
	/* the MAC first: it covers every byte, whatever XXH3 a relay wrote beside them */
	if (peer_auth_reply_check(&t->mac, t->h.mac) < 0)
		return -EBADMSG;
	uint64_t sum = t->sum ? block_sum_digest(t->sum) : block_sum(rq->buf, rq->len);
	if (sum != want_sum)
		return -EBADMSG;
	*ret_sum = sum;
	return 0;
}

static int transfer(struct peer_client *pc, CURL *e, struct peer_req *rq, uint64_t *ret_sum)
{
	const char *self = cluster_node_name(rq->view, cluster_self(rq->view));
	char nonce[PEER_AUTH_NONCE_HEX];
	if (peer_auth_nonce(nonce) < 0) {
		/* this node's failure: nothing is sent, and the peer is not marked down for it
		 * (finish() leaves a peer that is "busy" up) */
		log_warn("no randomness for a peer request's nonce: block %" PRIu64
			 " of \"%s\" is read from the UFS",
			 rq->block, rq->path);
		return -EAGAIN;
	}
	struct peer_request sig = {
	    .nonce = nonce,
	    .method = "GET",
	    .endpoint = "/v1/block",
	    .node = self,
	    .to = cluster_node_name(rq->view, rq->idx),
	    .time = (int64_t)time(NULL),
	    .source = rq->source,
	    .path = rq->path,
	    .block = rq->block,
	    .size = rq->attr.size,
	    .mtime = rq->attr.mtime,
	    .etag = rq->attr.etag,
	};
	char mac[PEER_AUTH_MAC_HEX];
	if (peer_auth_sign_request(pc->key, &sig, mac) < 0)
		return -EINVAL;
	char *url = request_url(rq->view, rq->idx, "/v1/block", &sig);
	struct curl_slist *hdrs = url ? auth_headers(pc->id, &sig, mac) : NULL, *tmp;
	/* reply MAC v3: the owner may tag from a kept body hash, without reading the block */
	tmp = hdrs ? curl_slist_append(hdrs, "X-Weir-Reply-Mac: v3") : NULL;
	if (!tmp)
		curl_slist_free_all(hdrs);
	hdrs = tmp;
	if (!hdrs) {
		free(url);
		return -ENOMEM;
	}
	struct transfer t = {.rq = rq, .easy = e, .key = pc->key, .req_mac = mac};
	t.sum = block_sum_new();
	char errbuf[CURL_ERROR_SIZE] = "";
	/* No curl_easy_reset(): every option below is set again, and a reset handle would
	 * allocate a fresh receive buffer (its pages faulted and zeroed) for each block. */
	/* A peer that sends slower than its block needs (or than any healthy owner does) holds a
	 * worker and its readers for stall_s, not until the timeout (tests/e2e/slowpeer.sh). */
	long need = (long)((uint64_t)rq->len * 1000 / pc->timeout_ms) + 1;
	easy_common(pc, e, url, hdrs, errbuf, (long)pc->timeout_ms,
		    need > PEER_CLIENT_MIN_RATE ? need : PEER_CLIENT_MIN_RATE);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, &t.h);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 512L * 1024); /* a block is MiBs: fewer callbacks */
	CURLcode cc = curl_easy_perform(e);
	long status = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	free(url);
	if (status == 200 && !t.mac_started && cc == CURLE_OK)
		transfer_mac_start(&t); /* an empty body */
	int r = transfer_check(&t, cc, status, errbuf, ret_sum);
	peer_auth_reply_abort(&t.mac);
	block_sum_free(t.sum);
	return r;
}

/* Whether a request that ended with err marks its peer down (finish). expired: see there. */
static bool gives_up_peer(int err, bool expired)
{
	return err == -EBADMSG || err == -EACCES || err == -ECONNREFUSED ||
	       (err == -ETIMEDOUT && !expired) || err == -EIO;
}

/* expired: err is -ETIMEDOUT for a request that waited its whole timeout in the queue, never
 * sent (its peer is not marked down: it is busy, not gone); -EHOSTDOWN is one never sent
 * because its peer was marked down meanwhile */
static void finish(struct peer_client *pc, struct peer_req *rq, int err, uint64_t sum, bool expired)
{
	struct cluster_stats *st = cluster_get_stats(pc->cluster);
	if (err == 0) {
		atomic_fetch_add(&st->bytes_in, rq->len);
		atomic_fetch_add(&st->blocks_in, 1);
	} else if (err != -ECANCELED) {
		atomic_fetch_add(&st->failed, 1);
		const char *peer = cluster_node_name(rq->view, rq->idx);
		/* A peer that is gone, refuses us or lies is skipped for a while; one that has
		 * no such source, another version or is busy is asked again next time. */
		if (err == -EBADMSG) {
			atomic_fetch_add(&st->bad_bytes, 1);
			log_warn("peer %s sent block %" PRIu64 " of \"%s\" with bytes that fail "
				 "their checksum or MAC; reading the UFS instead",
				 peer, rq->block, rq->path);
		} else if (err == -ENOKEY) {
			atomic_fetch_add(&st->no_view_by_peer, 1);
			/* the fetcher says so, once a spell */
			log_debug("peer %s: no view of source %s granted to this node", peer,
				  rq->source);
		} else if (err == -EACCES) {
			atomic_fetch_add(&st->refused_by_peer, 1);
			log_warn("peer %s refused this node's request (is the peer key the same on "
				 "both, and is this node a member there under its identity, %.16s...: "
				 "its log says why); reading the UFS instead",
				 peer, pc->id ? node_id_public(pc->id) : "none");
		}
		if (gives_up_peer(err, expired))
			cluster_mark_down(rq->view, rq->idx);
	}
	rq->done(rq->userdata, err, sum);
	cluster_view_put(rq->view);
	free(rq->source);
	free(rq->path);
	free(rq);
}

static void *worker(void *arg)
{
	struct peer_client *pc = arg;
	pthread_setname_np(pthread_self(), "weir-peer"); /* top -H, perf */
	thread_class_set(THREAD_CLASS_BULK); /* transfers: never ahead of a hit (thread_class.h) */
	CURL *e = curl_easy_init();
	pthread_mutex_lock(&pc->lock);
	for (;;) {
		struct peer_req *rq;
		enum pop_what what;
		/* nothing queued, or only requests to peers at their share: wait for a slot, a
		 * request, or the first queued one's timeout */
		while (!(rq = pop_locked(pc, &what)) && !pc->stopping) {
			const struct peer_req *first = TAILQ_FIRST(&pc->queue);
			if (!first) {
				pthread_cond_wait(&pc->cond, &pc->lock);
				continue;
			}
			uint64_t at = first->queued_ms + pc->timeout_ms;
			struct timespec ts = {.tv_sec = (time_t)(at / 1000),
					      .tv_nsec = (long)(at % 1000) * 1000000};
			pthread_cond_timedwait(&pc->cond, &pc->lock, &ts);
		}
		if (!rq)
			break;
		if (what != POP_SEND) {
			pthread_mutex_unlock(&pc->lock);
			if (what == POP_EXPIRED)
				log_debug(
				    "peer %s, block %" PRIu64 " of \"%s\": queued for %u ms "
				    "behind the peer's other requests; reading the UFS instead",
				    cluster_node_name(rq->view, rq->idx), rq->block, rq->path,
				    pc->timeout_ms);
			else
				log_debug(
				    "peer %s, block %" PRIu64 " of \"%s\": the peer was given "
				    "up while this waited its turn; reading the UFS instead",
				    cluster_node_name(rq->view, rq->idx), rq->block, rq->path);
			finish(pc, rq, what == POP_EXPIRED ? -ETIMEDOUT : -EHOSTDOWN, 0,
			       what == POP_EXPIRED);
			pthread_mutex_lock(&pc->lock);
			continue;
		}
		bool cancel = pc->stopping;
		inflight_begin_locked(pc, rq);
		pthread_mutex_unlock(&pc->lock);
		uint64_t sum = 0;
		int err = cancel ? -ECANCELED : e ? transfer(pc, e, rq, &sum) : -ENOMEM;
		pthread_mutex_lock(&pc->lock);
		/* the requests queued for this peer so far are not sent to it (finish marks it
		 * down for the ones asked from now on) */
		if (gives_up_peer(err, false))
			rq->lane->failed_before = pc->next_seq;
		inflight_end_locked(pc, rq);
		/* a request to this peer may have waited for the slot: an idle worker takes it (or
		 * this one, after finish) */
		pthread_cond_signal(&pc->cond);
		pthread_mutex_unlock(&pc->lock);
		finish(pc, rq, err, sum, false);
		pthread_mutex_lock(&pc->lock);
	}
	pthread_mutex_unlock(&pc->lock);
	curl_easy_cleanup(e);
	return NULL;
}

int peer_client_new(const struct peer_client_config *cfg, struct peer_client **ret)
{
	struct peer_client *pc = calloc(1, sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	pc->cluster = cfg->cluster;
	pc->key = cfg->key;
	pc->id = cfg->id;
	pc->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 2000;
	pc->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 60000;
	pc->stall_s = cfg->stall_s ? cfg->stall_s : 10;
	unsigned n = cfg->threads ? cfg->threads : 16;
	if (n > PEER_CLIENT_MAX_THREADS)
		n = PEER_CLIENT_MAX_THREADS;
	pc->workers = n;
	pc->share = n;
	client_queue_init(pc);
	pthread_mutex_init(&pc->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pc->cond, &ca);
	pthread_condattr_destroy(&ca);
	for (unsigned i = 0; i < n; i++) {
		int r = pthread_create(&pc->threads[i], NULL, worker, pc);
		if (r != 0) {
			peer_client_free(pc);
			return -r;
		}
		pc->nthreads++;
	}
	*ret = pc;
	return 0;
}

void peer_client_free(struct peer_client *pc)
{
	if (!pc)
		return;
	pthread_mutex_lock(&pc->lock);
	pc->stopping = true;
	pthread_cond_broadcast(&pc->cond);
	pthread_mutex_unlock(&pc->lock);
	for (unsigned i = 0; i < pc->nthreads; i++)
		pthread_join(pc->threads[i], NULL);
	pthread_mutex_destroy(&pc->lock);
	pthread_cond_destroy(&pc->cond);
	free(pc);
}

int peer_client_get_async(struct peer_client *pc, struct cluster_view *view, int idx,
			  const char *source, const char *path, const struct ufs_attr *attr,
			  uint64_t block, uint32_t len, void *buf, peer_done_fn done,
			  void *userdata)
{
	struct peer_req *rq = calloc(1, sizeof(*rq));
	if (!rq)
		return -ENOMEM;
	rq->source = strdup(source);
	rq->path = strdup(path);
	if (!rq->source || !rq->path) {
		free(rq->source);
		free(rq->path);
		free(rq);
		return -ENOMEM;
	}
	rq->view = cluster_view_ref(view);
	rq->idx = idx;
	rq->attr = *attr;
	rq->block = block;
	rq->len = len;
	rq->buf = buf;
	rq->done = done;
	rq->userdata = userdata;
	/* a fair share, one for every peer: the workers over the other live members (rounded
	 * up). A peer that trickles its replies holds its share for as long as it likes, never
	 * the workers other owners' blocks need: a request to a peer at its share stays queued
	 * for that peer's next free slot while the workers take the requests behind it
	 * (pop_locked), and fails after timeout_ms there. */
	unsigned peers = 0;
	for (size_t i = 0; i < cluster_size(view); i++)
		peers += (int)i != cluster_self(view) && cluster_is_up(view, (int)i);
	if (peers == 0)
		peers = 1;
	rq->queued_ms = mono_ms();
	pthread_mutex_lock(&pc->lock);
	pc->share = (pc->workers + peers - 1) / peers;
	rq->lane = pc->stopping ? NULL : lane_get_locked(pc, cluster_node_name(view, idx));
	if (!rq->lane) {
		/* stopping, or more peers with requests than lanes (views of many members at once,
		 * never in practice): the caller reads the UFS */
		int r = pc->stopping ? -ECANCELED : -EAGAIN;
		pthread_mutex_unlock(&pc->lock);
		cluster_view_put(rq->view);
		free(rq->source);
		free(rq->path);
		free(rq);
		return r;
	}
	rq->seq = pc->next_seq++;
	TAILQ_INSERT_TAIL(&pc->queue, rq, all);
	if (STAILQ_EMPTY(&rq->lane->queue))
		LIST_INSERT_HEAD(&pc->waiting, rq->lane, link);
	STAILQ_INSERT_TAIL(&rq->lane->queue, rq, in_lane);
	pthread_cond_signal(&pc->cond);
	pthread_mutex_unlock(&pc->lock);
	return 0;
}

/* A control reply's body and headers. */
struct ctl_reply {
	char body[PEER_LOAD_REPLY_MAX];
	size_t got;
	bool overflow;
	struct peer_wire_reply h;
};

static size_t ctl_body_cb(char *data, size_t size, size_t nitems, void *userdata)
{
	struct ctl_reply *c = userdata;
	size_t n = size * nitems;
	if (c->got + n >= sizeof(c->body)) {
		c->overflow = true;
		return 0;
	}
	memcpy(c->body + c->got, data, n);
	c->got += n;
	c->body[c->got] = '\0';
	return n;
}

bool peer_client_load_spec_fits(const char *spec)
{
	/* the rest of the request: method, URL base, source id and the other fields, the
	 * X-Weir-* headers, Host; with room to spare */
	static const size_t rest = 2048;
	size_t n = sizeof(",\"fresh\":true") * 3;
	for (const char *c = spec; *c; c++)
		n += (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			     (*c >= '0' && *c <= '9') || *c == '-' || *c == '.' || *c == '_' ||
			     *c == '~'
			 ? 1
			 : 3;
	return n + rest <= PEER_LOAD_REQUEST_MAX;
}

int peer_client_load(struct peer_client *pc, struct cluster_view *view, int idx,
		     enum peer_load_op op, const char *source, const char *spec, uint64_t id,
		     struct load_share *ret)
{
	const char *self = cluster_node_name(view, cluster_self(view));
	const char *peer = cluster_node_name(view, idx);
	char nonce[PEER_AUTH_NONCE_HEX];
	if (peer_auth_nonce(nonce) < 0)
		return -EIO;
	struct peer_request sig = {
	    .nonce = nonce,
	    .method = "POST",
	    .endpoint = "/v1/load",
	    .node = self,
	    .to = peer,
	    .time = (int64_t)time(NULL),
	    .source = source,
	    .path = op == PEER_LOAD_START && spec ? spec : "",
	    .block = id,
	    .size = (uint64_t)op,
	    .mtime = 0,
	    .etag = PEER_LOAD_TAG,
	};
	char mac[PEER_AUTH_MAC_HEX];
	if (peer_auth_sign_request(pc->key, &sig, mac) < 0)
		return -EINVAL;
	struct ctl_reply *c = calloc(1, sizeof(*c));
	char *url = c ? request_url(view, idx, "/v1/load", &sig) : NULL;
	struct curl_slist *hdrs = url ? auth_headers(pc->id, &sig, mac) : NULL;
	CURL *e = hdrs ? curl_easy_init() : NULL;
	int r = -ENOMEM;
	if (!e)
		goto out;
	char errbuf[CURL_ERROR_SIZE] = "";
	/* a control request does no I/O on the peer: one that takes long is a peer in trouble */
	easy_common(pc, e, url, hdrs, errbuf, (long)pc->connect_timeout_ms * 2, 0);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, ctl_body_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, &c->h);
	CURLcode cc = curl_easy_perform(e);
	long status = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK && !c->overflow) {
		log_debug("peer %s, load %" PRIx64 ": %s", peer, id,
			  errbuf[0] ? errbuf : curl_easy_strerror(cc));
		r = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
		goto out;
	}
	/* 403 and 400 come before the peer knows who asks: unsigned, and believed only as far as
	 * "refused". Every other answer must carry the peer's MAC for this request: a relay's 404
	 * must not make this node give up the peer's share, mark it down and redo its blocks. */
	uint64_t want_sum = 0;
	uint64_t sum = XXH3_64bits(c->body, c->got);
	if (status != 403 && status != 400 &&
	    (c->overflow || !peer_wire_declared_sum(&c->h, &want_sum) || sum != want_sum ||
	     peer_auth_verify_reply(pc->key, mac, c->h.nonce, (unsigned)status, c->body, c->got,
				    sum, c->h.mac) < 0)) {
		log_warn("peer %s answered load %" PRIx64 " with HTTP %ld that fails its checksum "
			 "or MAC",
			 peer, id, status);
		r = -EBADMSG;
		goto out;
	}
	switch (status) {
	case 200:
		break;
	case 403:
		r = -EACCES;
		goto out;
	case 404:
		r = -ENOENT;
		goto out;
	case PEER_STATUS_NO_VIEW:
		r = -ENOKEY; /* no grant for the source here: the peer is not down */
		goto out;
	case 503:
		r = -EAGAIN;
		goto out;
	default:
		log_debug("peer %s, load %" PRIx64 ": HTTP %ld", peer, id, status);
		r = -EIO;
		goto out;
	}
	json_object *o = json_tokener_parse(c->body);
	char why[256];
	r = load_share_from_json(o, peer, ret, why, sizeof(why));
	json_object_put(o);
	if (r < 0) {
		log_warn("peer %s answered load %" PRIx64 " with a report weir cannot read: %s",
			 peer, id, why);
		r = -EBADMSG;
	}
out:
	if (e)
		curl_easy_cleanup(e);
	curl_slist_free_all(hdrs);
	free(url);
	free(c);
	return r;
}

/* CURLOPT_READFUNCTION of a push: the block's bytes. */
struct push_body {
	const char *buf;
	size_t len, off;
};

static size_t push_read_cb(char *out, size_t size, size_t nitems, void *userdata)
{
	struct push_body *b = userdata;
	size_t n = size * nitems;
	if (n > b->len - b->off)
		n = b->len - b->off;
	memcpy(out, b->buf + b->off, n);
	b->off += n;
	return n;
}

/* A push's reply: its few bytes of text and its signed headers. */
struct push_reply {
	char body[512];
	size_t got;
	bool overflow;
	struct peer_wire_reply h;
};

static size_t push_reply_cb(char *data, size_t size, size_t nitems, void *userdata)
{
	struct push_reply *p = userdata;
	size_t n = size * nitems;
	if (p->got + n > sizeof(p->body)) {
		p->overflow = true;
		return 0;
	}
	memcpy(p->body + p->got, data, n);
	p->got += n;
	return n;
}

/* CURLOPT_XFERINFOFUNCTION of a push: ends the transfer once the caller's load halts. */
static int push_progress_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
			    curl_off_t ultotal, curl_off_t ulnow)
{
	const struct peer_halt *halt = userdata;
	return halt && halt->halted && halt->halted(halt->arg) ? 1 : 0;
}

/* One try of peer_client_put, signed now; digest is the body's SHA-256. On 503, *ret_wait_s
 * is the Retry-After the owner sent (0 when none). Believes an answer (200: kept, 409, 412,
 * 421, 503) only under the owner's MAC for this request: a forged 200 must not make this node
 * think the owner keeps a block it never got. */
static int push_once(struct peer_client *pc, struct cluster_view *view, int idx, const char *source,
		     const char *path, const struct ufs_attr *attr, uint64_t block, const void *buf,
		     uint32_t len, const char *digest, const struct peer_halt *halt,
		     long *ret_wait_s)
{
	const char *peer = cluster_node_name(view, idx);
	char h_digest[128];
	char nonce[PEER_AUTH_NONCE_HEX];
	if (peer_auth_nonce(nonce) < 0)
		return -EIO;
	struct peer_request sig = {
	    .nonce = nonce,
	    .method = "PUT",
	    .endpoint = "/v1/block",
	    .body_sha256 = digest,
	    .node = cluster_node_name(view, cluster_self(view)),
	    .to = peer,
	    .time = (int64_t)time(NULL),
	    .source = source,
	    .path = path,
	    .block = block,
	    .size = attr->size,
	    .mtime = attr->mtime,
	    .etag = attr->etag,
	};
	char mac[PEER_AUTH_MAC_HEX];
	if (peer_auth_sign_request(pc->key, &sig, mac) < 0)
		return -EINVAL;
	snprintf(h_digest, sizeof(h_digest), "X-Weir-Body-Sha256: %s", digest);
	char *url = request_url(view, idx, "/v1/block", &sig);
	struct curl_slist *hdrs = url ? auth_headers(pc->id, &sig, mac) : NULL, *tmp;
	const char *more[] = {h_digest, "Expect:", "Content-Type: application/octet-stream"};
	for (size_t i = 0; hdrs && i < sizeof(more) / sizeof(more[0]); i++) {
		tmp = curl_slist_append(hdrs, more[i]);
		if (!tmp) {
			curl_slist_free_all(hdrs);
			hdrs = NULL;
		}
		hdrs = tmp;
	}
	CURL *e = hdrs ? curl_easy_init() : NULL;
	struct push_reply *rep = NULL;
	int r = -ENOMEM;
	if (!e)
		goto out;
	struct push_body body = {.buf = buf, .len = len};
	rep = calloc(1, sizeof(*rep));
	if (!rep)
		goto out;
	char errbuf[CURL_ERROR_SIZE] = "";
	easy_common(pc, e, url, hdrs, errbuf, (long)pc->timeout_ms, 1024);
	curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(e, CURLOPT_READFUNCTION, push_read_cb);
	curl_easy_setopt(e, CURLOPT_READDATA, &body);
	curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, push_reply_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, rep);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, &rep->h);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, push_progress_cb);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, (void *)halt);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	CURLcode cc = curl_easy_perform(e);
	long status = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		r = -ECANCELED;
		goto out;
	}
	if (cc != CURLE_OK) {
		log_debug("peer %s, push of block %" PRIu64 " of \"%s\": %s", peer, block, path,
			  errbuf[0] ? errbuf : curl_easy_strerror(cc));
		r = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
		goto out;
	}
	/* 403 and 400 come before the owner knows who asks: unsigned, and believed only as far
	 * as "not kept". Every other answer must carry the owner's MAC over its status and text. */
	uint64_t sum = 0;
	if (status != 403 && status != 400 &&
	    (rep->overflow || !peer_wire_declared_sum(&rep->h, &sum) ||
	     sum != block_sum(rep->body, rep->got) ||
	     peer_auth_verify_reply(pc->key, mac, rep->h.nonce, (unsigned)status, rep->body,
				    rep->got, sum, rep->h.mac) < 0)) {
		log_warn("peer %s answered the push of block %" PRIu64 " of \"%s\" with HTTP %ld "
			 "that fails its MAC: not counted as kept",
			 peer, block, path, status);
		r = -EBADMSG;
		goto out;
	}
	switch (status) {
	case 200:
		r = 0;
		break;
	case 409:
		r = -EEXIST;
		break;
	case 403:
		r = -EACCES;
		break;
	case 404:
		r = -ENOENT;
		break;
	case 412:
		r = -ESTALE;
		break;
	case 421:
		r = -EXDEV;
		break;
	case PEER_STATUS_NO_VIEW:
		r = -ENOKEY; /* no grant for the source here: the peer is not down */
		break;
	case 503: {
		curl_off_t wait_s = 0;
		curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &wait_s);
		*ret_wait_s = (long)wait_s;
		r = -EAGAIN;
		break;
	}
	default:
		log_debug("peer %s, push of block %" PRIu64 " of \"%s\": HTTP %ld", peer, block,
			  path, status);
		r = -EIO;
	}
out:
	if (e)
		curl_easy_cleanup(e);
	curl_slist_free_all(hdrs);
	free(url);
	free(rep);
	return r;
}

/* Sleeps wait_s seconds, or less when halt says so: false then. */
static bool wait_unless_halted(const struct peer_halt *halt, long wait_s)
{
	for (long slept_ms = 0; slept_ms < wait_s * 1000; slept_ms += 50) {
		if (halt && halt->halted && halt->halted(halt->arg))
			return false;
		nanosleep(&(struct timespec){.tv_nsec = 50 * 1000000L}, NULL);
	}
	return !(halt && halt->halted && halt->halted(halt->arg));
}

int peer_client_put(struct peer_client *pc, struct cluster_view *view, int idx, const char *source,
		    const char *path, const struct ufs_attr *attr, uint64_t block, const void *buf,
		    uint32_t len, const struct peer_halt *halt)
{
	/* the body is bound by its SHA-256 among the signed fields: the MAC covers every byte */
	char digest[PEER_AUTH_MAC_HEX];
	peer_auth_body_digest(buf, len, digest);
	int r = -EAGAIN;
	/* An owner taking as many pushes as it has room for answers 503 with Retry-After: the
	 * push waits that long (at most PEER_PUT_WAIT_MAX_S) and tries again, signed anew. */
	for (unsigned try = 0; try < PEER_PUT_TRIES && r == -EAGAIN; try++) {
		long wait_s = 0;
		if (halt && halt->halted && halt->halted(halt->arg))
			return -ECANCELED; /* called off before this try: nothing is sent */
		r = push_once(pc, view, idx, source, path, attr, block, buf, len, digest, halt,
			      &wait_s);
		if (r == -EAGAIN && try + 1 < PEER_PUT_TRIES) {
			if (wait_s <= 0)
				wait_s = 1;
			if (wait_s > PEER_PUT_WAIT_MAX_S)
				wait_s = PEER_PUT_WAIT_MAX_S;
			log_debug("peer %s busy taking pushes: block %" PRIu64
				  " of \"%s\" again in "
				  "%ld s",
				  cluster_node_name(view, idx), block, path, wait_s);
			if (!wait_unless_halted(halt, wait_s))
				return -ECANCELED;
		}
	}
	return r;
}
