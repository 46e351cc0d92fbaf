/* SPDX-License-Identifier: Apache-2.0 */
/* How weir-nodes of one cluster prove to each other that they hold the cluster's key: an
 * HMAC-SHA256 over the request's method, endpoint, fields, body digest (SHA-256, for a request
 * with a body) and a timestamp (requests older or newer than the allowed skew are refused), and
 * one over the reply's checksum bound to the request's, so that a host without the key can
 * neither ask for blocks, nor push bytes, nor answer as a peer, and a signed GET cannot be
 * replayed as a PUT. Pure functions apart from peer_auth_load_key. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define PEER_AUTH_KEY_MIN 16
#define PEER_AUTH_KEY_MAX 256
#define PEER_AUTH_MAC_HEX 65 /* 64 hex digits and the NUL */

/* The fields a request is signed over. */
struct peer_request {
	const char *method;   /* "GET", "PUT" or "POST": never NULL */
	const char *endpoint; /* "/v1/block" or "/v1/load": never NULL */
	/* A request with a body (a pushed block): the body's SHA-256 as peer_auth_body_digest
	 * writes it, so the MAC covers every byte (XXH3 would let a crafted collision through);
	 * NULL or "" for a request without one. */
	const char *body_sha256;
	const char *node; /* the asking node's name */
	int64_t time;	  /* its clock, seconds since the epoch */
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
 * sign alike). */
int peer_auth_sign_request(const struct peer_key *k, const struct peer_request *rq, char *out);

/* Checks mac against the request at time now: 0, -EACCES (wrong MAC) or -ETIME (the request's
 * time is more than skew_s seconds away from now). Constant time in the MAC. */
int peer_auth_verify_request(const struct peer_key *k, const struct peer_request *rq,
			     const char *mac, int64_t now, int64_t skew_s);

/* The MAC of a reply to the request whose MAC is req_mac: binds the body's length and
 * checksum to that request. out as above. */
void peer_auth_sign_reply(const struct peer_key *k, const char *req_mac, uint64_t len,
			  uint64_t xxh3, char *out);
/* 0 when mac is the reply's MAC, else -EACCES. */
int peer_auth_verify_reply(const struct peer_key *k, const char *req_mac, uint64_t len,
			   uint64_t xxh3, const char *mac);
