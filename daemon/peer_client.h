/* SPDX-License-Identifier: Apache-2.0 */
/* Asks other weir-nodes for blocks: one signed GET per block (peer_auth.h), answered with the
 * block's bytes, their XXH3 and a MAC over every byte bound to the request and its nonce
 * (peer_auth.h: Poly1305 under a one-time key). What arrives is checked
 * before anyone sees it; a peer that does not answer, refuses, or sends bytes that fail the
 * check is marked down in the cluster (its blocks go to the next node for a while) and the
 * caller gets an error, on which it reads the UFS instead. A few worker threads, each with its
 * own curl handle (kept-alive connections), take requests from one queue; a peer holds at most
 * its fair share of them (the workers over the other live members), so a slow one never holds the
 * workers that other peers' requests need. Thread-safe. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"
#include "node_id.h"
#include "load_share.h"
#include "peer_auth.h"
#include "ufs.h"

struct peer_client_config {
	struct cluster *cluster;     /* borrowed: outlives the client */
	const struct peer_key *key;  /* borrowed */
	const struct node_id *id;    /* borrowed: this node's identity (NULL: requests unsigned by it) */
	unsigned threads;	     /* requests in flight at once (default 16) */
	unsigned connect_timeout_ms; /* default 2000 */
	unsigned timeout_ms;	     /* a whole request (default 60000) */
	/* give up on a peer that sends a block slower than max(64 KiB/s, the block's length over
	 * timeout_ms) for this long: silent, wedged or trickling (default 10) */
	unsigned stall_s;
};

/* Called once per request on a worker thread: 0 when buf holds exactly len verified bytes, or
 * -errno (-ECONNREFUSED, -ETIMEDOUT, -EACCES refused, -EBADMSG wrong bytes, -ESTALE the peer
 * holds another version, -ENOENT the peer has no such source or object, -EAGAIN busy,
 * -EHOSTDOWN never sent: another request to the peer failed, marking it down, while this one
 * waited its turn). */
typedef void (*peer_done_fn)(void *userdata, int err, uint64_t xxh3); /* xxh3: buf's, on 0 */

struct peer_client;

int peer_client_new(const struct peer_client_config *cfg, struct peer_client **ret);
/* Fails what is queued with -ECANCELED, waits for the requests in flight, frees. NULL is
 * fine. */
void peer_client_free(struct peer_client *pc);

/* Queues a request to member idx of view (the request takes its own reference) for block of
 * path (version attr) of source, len bytes into buf (kept alive by the caller until done runs).
 * Each member holds at most threads/peers (rounded up) of the workers at once, peers being
 * the other live members of the newest view queued; a request past that waits for one of its
 * member's slots, in the order queued. One queued for timeout_ms fails with -ETIMEDOUT
 * without being sent (its member is not marked down), and one queued before another request to
 * its member failed (marking the member down) with -EHOSTDOWN, at once. Returns 0 (done will
 * run) or -errno (it will not; -EAGAIN: more members with requests than the client keeps
 * apart, 128). */
int peer_client_get_async(struct peer_client *pc, struct cluster_view *view, int idx,
			  const char *source, const char *path, const struct ufs_attr *attr,
			  uint64_t block, uint32_t len, void *buf, peer_done_fn done,
			  void *userdata);

/* A reply to a load request is at most this long (a load_share's JSON). */
#define PEER_LOAD_REPLY_MAX 65536

/* Whether a load start with spec (and the "fresh" a second plan adds) fits one request to a
 * peer: its spec travels URL-encoded in the query, and a peer takes at most
 * PEER_LOAD_REQUEST_MAX bytes of request line and headers (libmicrohttpd's memory per
 * connection); a request past it is refused before it is read, unsigned, as if the peer were
 * gone. Counts every byte outside [A-Za-z0-9-._~] as encoded (3 bytes). */
#define PEER_LOAD_REQUEST_MAX 32768
bool peer_client_load_spec_fits(const char *spec);

/* Asks member idx of view about this node's DataLoad id on source (peer_auth.h, PEER_LOAD_*): start
 * its share (spec: {"paths":[..],"nodes":[..]}), its progress, or cancel it. Runs on the caller's
 * thread and waits (at most twice the connect timeout): call it without locks. Returns 0 with
 * *ret the share's report (run, nodes, figures; node is the member's name), or -errno:
 * -ENOENT (no such source or load there), -EACCES (refused), -ECONNREFUSED/-ETIMEDOUT,
 * -EAGAIN (busy), -EBADMSG (the reply fails its checksum, MAC or parse), -EIO. */
int peer_client_load(struct peer_client *pc, struct cluster_view *view, int idx,
		     enum peer_load_op op, const char *source, const char *spec, uint64_t id,
		     struct load_share *ret);

/* A push refused as busy (503) is tried this many times in all, waiting the owner's
 * Retry-After (at most PEER_PUT_WAIT_MAX_S seconds) between tries. */
#define PEER_PUT_TRIES 4
#define PEER_PUT_WAIT_MAX_S 5

/* Asks whether the caller's work was called off (a DataLoad cancelled or planned again): a
 * push then stops waiting and sending. halted runs on the pushing thread, often: cheap, no
 * lock held across I/O. */
struct peer_halt {
	bool (*halted)(const void *arg);
	const void *arg;
};

/* Hands member idx of view, the owner of block `block` of path (version attr) of source, the
 * block's len bytes from buf, which this node fetched for it (a DataLoad whose plan gave this
 * node part of a busier owner's blocks): a signed PUT /v1/block whose body's SHA-256 is among
 * the signed fields (peer_auth.h). An owner that answers 503 (as many pushes coming in as it
 * has room for) is tried again after its Retry-After, PEER_PUT_TRIES times in all. An answer is
 * believed only under the owner's MAC for this request (a forged 200 is no "kept"). halt (NULL:
 * never) ends the waits and the transfer early. Runs on the caller's thread and waits: call it
 * without locks. Returns 0 (the owner keeps it), -ECANCELED (halted), -EBADMSG (an answer that
 * fails its MAC), -EEXIST
 * (the owner fetches it itself), -ESTALE (it knows another version), -EXDEV (it does not own
 * the block), -ENOENT (no such source there), -EACCES (refused), -ECONNREFUSED/-ETIMEDOUT,
 * -EAGAIN, -EIO. */
int peer_client_put(struct peer_client *pc, struct cluster_view *view, int idx, const char *source,
		    const char *path, const struct ufs_attr *attr, uint64_t block, const void *buf,
		    uint32_t len, const struct peer_halt *halt);
