/* SPDX-License-Identifier: Apache-2.0 */
/* How weir-nodes of one cluster prove to each other that they hold the cluster's key: an
 * HMAC-SHA256 over the request's method, endpoint, the node it is addressed to, fields, a fresh
 * nonce, body digest (SHA-256, for a request with a body) and a timestamp (requests older or
 * newer than the allowed skew are refused); and a Poly1305 tag over every reply's status, length, checksum and body bytes, under
 * a one-time key derived from the cluster key, the request's MAC (so its nonce) and the reply's
 * own nonce (v2), or over those fields and a keyed Poly1305 hash of the body that an owner can
 * keep (v3, below). So a host without the key can neither ask for blocks, nor push bytes, nor answer
 * as a peer (not even with bytes whose XXH3 it fixed up), a signed GET cannot be replayed as a
 * PUT, and a recorded reply answers no other request. Pure functions apart from
 * peer_auth_load_key, peer_auth_reply_update_fd (reads) and the nonces' randomness. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PEER_AUTH_KEY_MIN 16
#define PEER_AUTH_KEY_MAX 256
#define PEER_AUTH_MAC_HEX 65   /* 64 hex digits and the NUL */
#define PEER_AUTH_NONCE_HEX 33 /* 128 random bits as 32 hex digits and the NUL */
#define PEER_AUTH_TAG_HEX 33   /* a reply's Poly1305 tag: 32 hex digits and the NUL */

/* The fields a request is signed over. */
struct peer_request {
	const char *method;   /* "GET", "PUT" or "POST": never NULL */
	const char *endpoint; /* "/v1/block" or "/v1/load": never NULL */
	/* A request with a body (a pushed block): the body's SHA-256 as peer_auth_body_digest
	 * writes it, so the MAC covers every byte (XXH3 would let a crafted collision through);
	 * NULL or "" for a request without one. */
	const char *body_sha256;
	const char *node; /* the asking node's name */
	/* The name of the member it is addressed to: a node checks it is its own, so a request
	 * sent to a member's address that leads elsewhere (a relay without the key, pointed at by
	 * a Lease or a peers list) or captured on its way to one node passes at no other. */
	const char *to;
	int64_t time; /* its clock, seconds since the epoch */
	/* Fresh for each request (peer_auth_nonce, PEER_AUTH_NONCE_HEX - 1 hex digits): the reply's
	 * key derives from the request's MAC, so a reply recorded for one request fails every
	 * other one, even one for the same block a second later. */
	const char *nonce;
	const char *source, *path;
	uint64_t block, size;
	int64_t mtime;
	const char *etag;
};

/* A DataLoad share request (POST /v1/load) is signed over the same fields: source, path = the
 * share's JSON spec for a start ({"paths":[..],"nodes":[..]}, and "fresh":true when the asker
 * plans again after a disagreement; never a "/" path, so it cannot pass for a block request)
 * or "" otherwise, block = the asker's load id, size = the op below,
 * mtime = 0, etag = PEER_LOAD_TAG. */
#define PEER_LOAD_TAG "weir-load"
enum peer_load_op {
	PEER_LOAD_START = 1,  /* start this node's share (again: the same load, not a second) */
	PEER_LOAD_STATUS = 2, /* its progress */
	PEER_LOAD_CANCEL = 3, /* stop it and forget it */
};

struct peer_key {
	unsigned char bytes[PEER_AUTH_KEY_MAX];
	size_t len;
};

/* Reads the key from path: a file of root's that nobody else can read (mode 0600 or
 * stricter), holding PEER_AUTH_KEY_MIN to PEER_AUTH_KEY_MAX bytes (a trailing newline is
 * dropped). Returns 0, or -errno with errbuf naming the file and what is wrong with it. */
int peer_auth_load_key(const char *path, struct peer_key *ret, char *errbuf, size_t errlen);

/* The key from bytes[0..len) (a trailing newline is dropped), as peer_auth_load_key checks it;
 * what names where the bytes came from goes into errbuf's message. Returns 0 or -EINVAL. */
int peer_auth_key_from(const void *bytes, size_t len, const char *what, struct peer_key *ret,
		       char *errbuf, size_t errlen);

/* The SHA-256 of buf[0..len), as lower-case hex into out (PEER_AUTH_MAC_HEX bytes): a pushed
 * body's digest for peer_request.body_sha256. */
void peer_auth_body_digest(const void *buf, size_t len, char *out);

/* The MAC of a request, as lower-case hex into out (PEER_AUTH_MAC_HEX bytes). Returns 0 or
 * -EINVAL (no method or endpoint, or a field holds a newline, which would make two requests
 * sign alike) or -ENOMEM (OpenSSL could not compute it). */
int peer_auth_sign_request(const struct peer_key *k, const struct peer_request *rq, char *out);

/* Checks mac against the request at time now: 0, -EACCES (wrong MAC) or -ETIME (the request's
 * time is more than skew_s seconds away from now). Constant time in the MAC. */
int peer_auth_verify_request(const struct peer_key *k, const struct peer_request *rq,
			     const char *mac, int64_t now, int64_t skew_s);

/* A member's proof that it holds the key, for where members are listed by others (a node's
 * Lease, annotation weir.io/peer-mac): HMAC-SHA256 of "weir-peer-member-v2\n<node>\n<url>\n<id>"
 * (id: its identity's public key, node_id.h) as lower-case hex into out (PEER_AUTH_MAC_HEX
 * bytes). So whoever may write Leases but holds no key can neither add a member, nor move one's
 * blocks to another address, nor give it another identity; v1 (node and URL only) passes for no
 * v2. Returns 0, -EINVAL (a newline in node, url or id) or -ENOMEM. */
int peer_auth_member_mac(const struct peer_key *k, const char *node, const char *url,
			 const char *id, char *out);
/* 0 when mac is peer_auth_member_mac of node, url and id, else -EACCES. Constant time in the
 * MAC. */
int peer_auth_member_check(const struct peer_key *k, const char *node, const char *url,
			   const char *id, const char *mac);

/* A fresh nonce, as lower-case hex into out (PEER_AUTH_NONCE_HEX bytes). Returns 0, or -EIO
 * when the system has no randomness to give. */
int peer_auth_nonce(char *out);

/* A reply's MAC: Poly1305 (OpenSSL EVP_MAC) under a one-time key, HMAC-SHA256 of the cluster
 * key over the request's MAC (which covers its nonce, block, path and version) and the reply's
 * own nonce, so no key ever tags two messages; the tagged message is the reply's status,
 * length, XXH3 and then every body byte. Fed in pieces as the body streams by (begin, update,
 * then final or check); a reply whose body is wrong in any byte, cut short, or recorded for
 * another request fails. One struct per reply, on one thread. */
struct peer_reply_mac {
	void *ctx;	    /* EVP_MAC_CTX, NULL once finished */
	uint64_t want, got; /* the length signed and the bytes fed */
	/* v3 (peer_auth_reply_begin_v3): ctx hashes the body under the body key; final tags
	 * head and that hash under otk */
	bool v3;
	unsigned char otk[32];
	char head[96];
	size_t headlen;
};

/* Starts the MAC of a reply with status (200, 409, ...) and a body of len bytes whose XXH3 is
 * xxh3, to the request whose MAC is req_mac, under reply_nonce (32 hex digits). Returns 0 or
 * -EINVAL (a nonce or request MAC of the wrong form) or -ENOMEM; on error nothing is held. */
int peer_auth_reply_begin(struct peer_reply_mac *m, const struct peer_key *k, const char *req_mac,
			  const char *reply_nonce, unsigned status, uint64_t len, uint64_t xxh3);
/* Feeds the next n body bytes. */
void peer_auth_reply_update(struct peer_reply_mac *m, const void *buf, size_t n);
/* The tag, as lower-case hex into out (PEER_AUTH_TAG_HEX bytes); frees m's state. Returns 0, or
 * -EBADMSG when more or fewer than len bytes were fed. */
int peer_auth_reply_final(struct peer_reply_mac *m, char *out);
/* Compares the tag with mac (constant time) and frees m's state: 0, or -EACCES. */
int peer_auth_reply_check(struct peer_reply_mac *m, const char *mac);
/* Frees m's state without a tag (a transfer that failed). Safe on a finished or zeroed m. */
void peer_auth_reply_abort(struct peer_reply_mac *m);
/* Feeds len bytes at off of fd (a tier file) through a small buffer, and into st too unless
 * NULL (the bytes' XXH3, block_sum.h). On a failed or short read aborts m and returns -errno
 * (-EIO for a file shorter than its block); else 0. The one function here that does I/O. */
struct block_sum_state;
int peer_auth_reply_update_fd(struct peer_reply_mac *m, struct block_sum_state *st, int fd,
			      uint64_t off, size_t len);

/* Reply MAC v3, asked for by a block request's header "X-Weir-Reply-Mac: v3" and named by the
 * reply's same header (an owner of an older build ignores the ask and answers v2; a requester
 * of an older build does not ask and gets v2). The body is first hashed on its own: Poly1305
 * under a body key, HMAC-SHA256 of the cluster key over "weir-peer-body-key-v3", the same for
 * every reply, so an owner can keep a block's hash (peer_memo.h) and serve it again without
 * reading it; that hash never leaves the node in the clear. The reply's tag is then Poly1305
 * under the one-time key, HMAC-SHA256 of the cluster key over "weir-peer-reply-key-v3\n" +
 * req_mac + "\n" + reply_nonce, of "weir-peer-reply-v3\n<status>\n<len>\n<xxh3 hex>\n" and
 * the 16 bytes of the body's hash. begin_v3 starts the same streaming MAC as begin (update,
 * final, check and abort as above). */
#define PEER_AUTH_BODY_HASH 16
int peer_auth_reply_begin_v3(struct peer_reply_mac *m, const struct peer_key *k,
			     const char *req_mac, const char *reply_nonce, unsigned status,
			     uint64_t len, uint64_t xxh3);
/* The body hash alone, streamed: begin, then peer_auth_reply_update, then this final (which
 * frees m's state; -EBADMSG when more or fewer than len bytes were fed). */
int peer_auth_body_hash_begin(struct peer_reply_mac *m, const struct peer_key *k, uint64_t len);
int peer_auth_body_hash_final(struct peer_reply_mac *m, unsigned char out[PEER_AUTH_BODY_HASH]);
/* A v3 reply's tag from a body's hash (kept, or just computed), as hex into out. 0 or -errno. */
int peer_auth_reply_tag_v3(const struct peer_key *k, const char *req_mac, const char *reply_nonce,
			   unsigned status, uint64_t len, uint64_t xxh3,
			   const unsigned char body_hash[PEER_AUTH_BODY_HASH], char *out);

/* The whole-body forms of the above. sign: 0 or -errno; verify: 0 when mac is the reply's MAC,
 * else -EACCES. */
int peer_auth_sign_reply(const struct peer_key *k, const char *req_mac, const char *reply_nonce,
			 unsigned status, const void *body, uint64_t len, uint64_t xxh3, char *out);
int peer_auth_verify_reply(const struct peer_key *k, const char *req_mac, const char *reply_nonce,
			   unsigned status, const void *body, uint64_t len, uint64_t xxh3,
			   const char *mac);
